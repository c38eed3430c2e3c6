//! Slow clients and slow services: the header-read timeout closes a connection whose request head
//! never arrives, the request timeout answers 503 in place of an answer that never comes, and a
//! streamed export outlives the request timeout.

use std::time::Duration;

use axum::body::Body;
use http::{Method, Request};
use http_body_util::BodyExt;
use latchkey_gateway::GatewayConfig;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};
use tower::ServiceExt;

use crate::harness::TestGateway;

/// Far above the 1 s timeouts these tests configure: only a gateway that never times out misses it.
const GENEROUS: Duration = Duration::from_secs(20);

fn short_timeouts() -> GatewayConfig {
    GatewayConfig {
        header_read_timeout_secs: 1,
        request_timeout_secs: 1,
        ..GatewayConfig::default()
    }
}

/// Reads until the server closes the connection (EOF or reset); panics if it has not within
/// [`GENEROUS`]. Answers what was read.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut read = Vec::new();
    let closed = tokio::time::timeout(GENEROUS, stream.read_to_end(&mut read)).await;
    assert!(closed.is_ok(), "the server kept a stalled connection open");
    String::from_utf8_lossy(&read).into_owned()
}

#[tokio::test]
async fn a_client_that_stalls_before_its_headers_end_is_disconnected() {
    let gw = TestGateway::with_config(short_timeouts()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(gw.gateway.serve(listener, async {
        let _ = stopped.await;
    }));

    // Part of a request line, then nothing.
    let mut partial_line = TcpStream::connect(address).await.expect("connect");
    partial_line.write_all(b"GET /heal").await.expect("send");
    // A request line and a header, but never the blank line that ends the head.
    let mut partial_headers = TcpStream::connect(address).await.expect("connect");
    partial_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n")
        .await
        .expect("send");
    // Nothing at all.
    let mut silent = TcpStream::connect(address).await.expect("connect");

    for (what, stream) in [
        ("partial request line", &mut partial_line),
        ("partial headers", &mut partial_headers),
        ("no bytes", &mut silent),
    ] {
        let answer = read_until_closed(stream).await;
        assert!(!answer.contains(" 200 "), "{what}: {answer}");
    }

    // A client that sends its head in time is served; its keep-alive connection, idle after the
    // answer, is closed by the same timeout (what a load balancer's idle timeout must stay under).
    let mut prompt = TcpStream::connect(address).await.expect("connect");
    prompt
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await
        .expect("send");
    let answer = read_until_closed(&mut prompt).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(r#"{"status":"ok"}"#),
        "one answer, then the close: {answer}"
    );

    let _ = stop.send(());
    served.await.expect("serve task").expect("serve ends cleanly");
}

#[tokio::test]
async fn a_request_that_outlasts_the_request_timeout_gets_a_503_problem() {
    let gw = TestGateway::with_config(short_timeouts()).await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    gw.audit.stall_listing.store(true, std::sync::atomic::Ordering::Relaxed);

    let answer = tokio::time::timeout(GENEROUS, gw.get("/v1/audit", &me.secret))
        .await
        .expect("the gateway answers once the request timeout passes");
    let problem = answer.assert_problem(503, "SERVICE_UNAVAILABLE");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("longer than the gateway allows")),
        "{problem}"
    );
}

#[tokio::test]
async fn a_streamed_export_is_not_cut_by_the_request_timeout() {
    let gw = TestGateway::with_config(short_timeouts()).await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    gw.audit.append("acct_a", "token.issued", "key_1", "{}");
    gw.audit.append("acct_a", "token.revoked", "key_1", "{}");
    let resume = gw.audit.pause_next_export();

    let request = Request::builder()
        .method(Method::GET)
        .uri("/v1/audit/export")
        .header("authorization", format!("Bearer {}", me.secret))
        .body(Body::empty())
        .expect("request");
    let response = gw.router().oneshot(request).await.expect("router is infallible");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let first = body
        .frame()
        .await
        .expect("a first chunk")
        .expect("the export streams")
        .into_data()
        .expect("data");
    assert!(String::from_utf8_lossy(&first).contains("token.issued"));

    // The clock: a request that began after the export's head has now been cut by the timeout,
    // so the export has been open longer than the timeout too.
    gw.audit.stall_listing.store(true, std::sync::atomic::Ordering::Relaxed);
    let cut = tokio::time::timeout(GENEROUS, gw.get("/v1/audit", &me.secret))
        .await
        .expect("the stalled listing is cut");
    cut.assert_problem(503, "SERVICE_UNAVAILABLE");

    let _ = resume.send(());
    let rest = tokio::time::timeout(GENEROUS, body.collect())
        .await
        .expect("the export ends")
        .expect("the export ends without an error")
        .to_bytes();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("token.revoked"), "the rest of the chain arrived: {rest}");
}
