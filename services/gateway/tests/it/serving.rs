//! Serving over TCP with graceful shutdown, and the trace crossing from HTTP into gRPC.

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
