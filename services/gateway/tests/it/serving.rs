//! Serving over TCP with graceful shutdown, `/metrics` on the public port or on a listener of its
//! own, and the trace crossing from HTTP into gRPC.

use std::net::SocketAddr;

use axum::body::Body;
use http::Method;
use opentelemetry::trace::TracerProvider as _;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};
use tracing_subscriber::layer::SubscriberExt;

use crate::harness::TestGateway;

#[tokio::test]
async fn serves_http_until_shutdown() {
    let gw = TestGateway::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(gw.gateway.serve(listener, async {
        let _ = stopped.await;
    }));

    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-request-id:"), "{answer}");
    assert!(answer.ends_with(r#"{"status":"ok"}"#), "{answer}");

    let _ = stop.send(());
    served.await.expect("serve task").expect("serve ends cleanly");
}

/// `GET path` over a fresh connection; answers the whole response, head and body.
async fn get(address: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}

/// Serves `gateway` on a fresh port until the answer's sender is used or dropped.
fn serve(
    gateway: latchkey_gateway::Gateway,
    listener: TcpListener,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        gateway
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve ends cleanly");
    });
    (stop, served)
}

#[tokio::test]
async fn without_a_metrics_listener_metrics_are_on_the_public_port() {
    let gw = TestGateway::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, served) = serve(gw.gateway, listener);

    let metrics = get(address, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("text/plain; version=0.0.4"), "{metrics}");

    let _ = stop.send(());
    served.await.expect("serve task");
}

#[tokio::test]
async fn with_a_metrics_listener_metrics_are_served_there_only() {
    let gw = TestGateway::start().await;
    let public = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let public_address = public.local_addr().expect("address");
    let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let metrics_address = metrics.local_addr().expect("address");
    let gateway = gw.gateway.with_metrics_listener(metrics);
    let (stop, served) = serve(gateway, public);

    // A request on the public port is counted, and shows on the metrics port.
    let health = get(public_address, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let scraped = get(metrics_address, "/metrics").await;
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(scraped.contains("text/plain; version=0.0.4"), "{scraped}");
    assert!(
        scraped
            .lines()
            .any(|line| line.starts_with("latchkey_http_requests_total{") && line.contains(r#"route="/healthz""#)),
        "{scraped}"
    );
    let probe = get(metrics_address, "/healthz").await;
    assert!(probe.starts_with("HTTP/1.1 200"), "{probe}");

    // The public port no longer has it.
    let hidden = get(public_address, "/metrics").await;
    assert!(hidden.starts_with("HTTP/1.1 404"), "{hidden}");
    assert!(hidden.contains("application/problem+json"), "{hidden}");
    assert!(!hidden.contains("latchkey_http_requests_total"), "{hidden}");
    let document = get(public_address, "/openapi.json").await;
    assert!(
        !document.contains("\"/metrics\""),
        "the public document lists what it serves"
    );

    let _ = stop.send(());
    served.await.expect("serve task");
}

#[tokio::test]
async fn the_callers_trace_continues_into_the_grpc_call() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    // This test's thread only: the current-thread runtime runs the gateway and the fake service here.
    // With exactly one scoped subscriber alive, tracing-core computes the interest of a callsite
    // first hit on another test's thread from that thread's (empty) default alone and caches
    // "never"; a second live dispatcher makes it consult every registered one instead.
    let _second_dispatcher = tracing::Dispatch::new(tracing_subscriber::registry());
    let _guard = tracing::subscriber::set_default(subscriber);

    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let incoming = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let bearer = format!("Bearer {}", me.secret);
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
        ("traceparent", incoming.as_str()),
    ];
    let answer = gw.send(Method::POST, "/v1/api-keys", &headers, Body::from("{}")).await;
    assert_eq!(answer.status, 201);

    let outgoing = gw
        .agent_token
        .last_traceparent
        .lock()
        .unwrap()
        .clone()
        .expect("traceparent on the gRPC call");
    let parts: Vec<&str> = outgoing.split('-').collect();
    assert_eq!(parts.get(1), Some(&trace_id), "{outgoing}");
    assert_ne!(
        parts.get(2),
        Some(&"00f067aa0ba902b7"),
        "the gateway's own span is the parent: {outgoing}"
    );
}
