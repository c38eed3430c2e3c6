use super::*;
use crate::SYSTEM_ACCOUNT;

fn mesh_request(token: &str, account: Option<&str>) -> Request<()> {
    let mut request = Request::new(());
    request
        .metadata_mut()
        .insert(SERVICE_TOKEN_HEADER, token.parse().expect("token metadata"));
    if let Some(account) = account {
        request
            .metadata_mut()
            .insert(ACCOUNT_HEADER, account.parse().expect("account metadata"));
    }
    request
}

#[test]
fn a_mesh_call_names_its_account_as_a_typed_id() {
    let mesh = MeshAuth::new("mesh-token");
    let caller = mesh
        .caller(&mesh_request("mesh-token", Some("acct_h8w2m4k6p0z3y7d1")))
        .expect("caller");
    assert_eq!(caller.account, "acct_h8w2m4k6p0z3y7d1");
    let system = mesh
        .caller(&mesh_request("mesh-token", Some(SYSTEM_ACCOUNT)))
        .expect("system caller");
    assert!(system.account.is_system());
}

#[test]
fn a_mesh_call_naming_no_account_or_a_pattern_is_unauthenticated() {
    let mesh = MeshAuth::new("mesh-token");
    for account in [
        None,
        Some(""),
        Some("acct_*"),
        Some("acct_a.>"),
        Some("agent_1"),
        Some("ACCT_A"),
    ] {
        let status = mesh.caller(&mesh_request("mesh-token", account)).expect_err("refused");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{account:?}");
    }
}

#[test]
fn a_call_without_the_service_token_is_unauthenticated() {
    let mesh = MeshAuth::new("mesh-token");
    let status = mesh
        .caller(&mesh_request("another-token", Some("acct_a")))
        .expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[test]
fn a_call_that_waits_on_a_third_party_gets_the_long_deadline_and_any_other_the_short_one() {
    let deadlines = MeshDeadlines {
        call: Duration::from_secs(1),
        long_call: Duration::from_secs(9),
    };
    assert_eq!(
        deadlines.of("latchkey.oauth.v1.OauthService", "FetchToken"),
        deadlines.long_call
    );
    assert_eq!(
        deadlines.of("latchkey.audit.v1.AuditService", "ExportEntries"),
        deadlines.long_call
    );
    assert_eq!(
        deadlines.of("latchkey.oauth.v1.OauthService", "ListConnections"),
        deadlines.call
    );
    // A method of the same name on another service is not a long one.
    assert_eq!(
        deadlines.of("latchkey.policy.v1.PolicyService", "FetchToken"),
        deadlines.call
    );
}

/// A replica that refuses connections costs its callers nothing while another answers: the call
/// goes to the next one.
#[tokio::test]
async fn a_call_a_replica_refuses_goes_to_the_one_that_answers() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let answering = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let answering_address = answering.local_addr().expect("address");
    let (_reporter, health) = tonic_health::server::health_reporter();
    // A test's own server, aborted with the test's runtime: not a task of a service.
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(answering)),
    );
    let refusing_address = closed_port();

    let channel = connect(
        &format!("http://{refusing_address},http://{answering_address}"),
        &MeshAuth::new("mesh-token"),
    )
    .expect("channel");
    let mut client = HealthClient::new(channel);
    for call in 0..10 {
        client
            .check(HealthCheckRequest::default())
            .await
            .unwrap_or_else(|status| panic!("call {call} failed: {status}"));
    }

    let alone = connect(&format!("http://{refusing_address}"), &MeshAuth::new("mesh-token")).expect("channel");
    let refused = HealthClient::new(alone)
        .check(HealthCheckRequest::default())
        .await
        .expect_err("nothing answers");
    assert_eq!(refused.code(), tonic::Code::Unavailable);
}

#[test]
fn an_empty_address_is_refused() {
    assert!(connect(" , ", &MeshAuth::new("mesh-token")).is_err());
}

/// A port nothing listens on: bound, then closed.
fn closed_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// A server this process registered at an address is called there without the network: the port
/// itself is closed, and the call still answers. Once the registration goes, so does the server.
#[tokio::test]
async fn a_server_of_this_process_is_called_without_the_network() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let address = closed_port();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let registration = in_process::register(
        address,
        tower::util::BoxCloneSyncService::new(tonic::service::Routes::new(health)),
    );
    let channel = connect(&format!("http://{address}"), &MeshAuth::new("mesh-token")).expect("channel");
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest::default())
        .await
        .expect("answered in-process");

    drop(registration);
    let refused = client
        .check(HealthCheckRequest::default())
        .await
        .expect_err("nothing answers once the server is gone");
    assert_eq!(refused.code(), tonic::Code::Unavailable);
}

/// An in-process call ends at its deadline as a network call does: CANCELLED, as tonic's channel
/// reports a deadline that passed.
#[tokio::test]
async fn an_in_process_call_ends_at_its_deadline() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let address = closed_port();
    let never_answers = tower::service_fn(|_request: http::Request<tonic::body::Body>| async {
        std::future::pending::<Result<http::Response<tonic::body::Body>, std::convert::Infallible>>().await
    });
    let _registration = in_process::register(address, tower::util::BoxCloneSyncService::new(never_answers));
    let channel = connect(&format!("http://{address}"), &MeshAuth::new("mesh-token")).expect("channel");
    let mut request = Request::new(HealthCheckRequest::default());
    request.set_timeout(Duration::from_millis(50));
    let started = std::time::Instant::now();
    let status = HealthClient::new(channel)
        .check(request)
        .await
        .expect_err("the deadline passes");
    assert_eq!(status.code(), tonic::Code::Cancelled, "{status}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ended at its deadline, not the mesh's default"
    );
}

/// A caller that calls a server of its own process in a loop still lets the other tasks of its
/// thread run, as a call over a socket would: here the task that tells it to stop.
#[tokio::test]
async fn a_caller_calling_in_process_in_a_loop_lets_other_tasks_run() {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let address = closed_port();
    // A server that answers at once, touching nothing of tokio's that would make its caller wait:
    // every call is UNIMPLEMENTED, in the headers alone.
    let answers_at_once = tower::service_fn(|_request: http::Request<tonic::body::Body>| async {
        let response = http::Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "12")
            .body(tonic::body::Body::empty())
            .expect("response");
        Ok::<_, std::convert::Infallible>(response)
    });
    let _registration = in_process::register(address, tower::util::BoxCloneSyncService::new(answers_at_once));
    let mut client =
        HealthClient::new(connect(&format!("http://{address}"), &MeshAuth::new("mesh-token")).expect("channel"));
    let stop = Arc::new(AtomicBool::new(false));
    // A helper of the test on its own runtime's thread, awaited below.
    #[allow(clippy::disallowed_methods)]
    let stopper = tokio::spawn({
        let stop = stop.clone();
        async move { stop.store(true, Ordering::Relaxed) }
    });
    let mut calls = 0;
    while !stop.load(Ordering::Relaxed) {
        let status = client
            .check(HealthCheckRequest::default())
            .await
            .expect_err("unimplemented");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        calls += 1;
        assert!(
            calls < 100_000,
            "the loop kept the thread: the task that stops it never ran"
        );
    }
    stopper.await.expect("stopper");
}
