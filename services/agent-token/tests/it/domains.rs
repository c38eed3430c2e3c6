//! Verified domains against a real DNS server (dnsmasq on loopback): a claim verifies once its TXT
//! record holds its value, and not before; a verified domain lapses when its record goes (the
//! re-check round driven directly, no waiting); a pending one expires; every bad name is refused;
//! another account sees nothing of a claim and must publish its own record for the same name; a
//! verified domain vouches for agent owners and hosts on it.

use std::time::Duration;

use latchkey_agent_token::{DomainRound, DomainsConfig};
use latchkey_errors::{ApiError, ErrorCode};
use latchkey_events::{Envelope, EventFilter, Step};
use latchkey_proto::agent_token::v1::{
    self as pb, CreateAgentRequest, GetAgentRequest, ListAgentsRequest, domain_service_client::DomainServiceClient,
};
use latchkey_server::MeshChannel;
use latchkey_storage::{Backend, now_ms};
use latchkey_test_support::{BACKENDS, DnsServer, TxtRecord, mesh::as_account, read_until};
use tonic::{Code, Status};

use crate::support::TestAgentToken;

const HOUR_MS: i64 = 3_600_000;

fn config(dns: &DnsServer) -> DomainsConfig {
    DomainsConfig {
        nameservers: dns.address(),
        ..DomainsConfig::default()
    }
}

/// A service asking `dns`, with a DNS server holding no record yet.
async fn start(backend: Backend) -> (TestAgentToken, DnsServer) {
    let dns = DnsServer::start(&[]).await;
    (TestAgentToken::start_with_domains(backend, &config(&dns)).await, dns)
}

async fn create(client: &mut DomainServiceClient<MeshChannel>, account: &str, domain: &str) -> pb::Domain {
    client
        .create_domain(as_account(
            account,
            pb::CreateDomainRequest {
                domain: domain.to_owned(),
            },
        ))
        .await
        .unwrap_or_else(|status| panic!("claim {domain}: {status:?}"))
        .into_inner()
}

async fn verify(client: &mut DomainServiceClient<MeshChannel>, account: &str, id: &str) -> pb::Domain {
    client
        .verify_domain(as_account(account, pb::VerifyDomainRequest { id: id.to_owned() }))
        .await
        .expect("verify")
        .into_inner()
}

async fn get(client: &mut DomainServiceClient<MeshChannel>, account: &str, id: &str) -> Result<pb::Domain, Status> {
    client
        .get_domain(as_account(account, pb::GetDomainRequest { id: id.to_owned() }))
        .await
        .map(tonic::Response::into_inner)
}

async fn list(client: &mut DomainServiceClient<MeshChannel>, account: &str, status: &str) -> Vec<pb::Domain> {
    client
        .list_domains(as_account(
            account,
            pb::ListDomainsRequest {
                status: status.to_owned(),
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .domains
}

/// The record proving `domain`'s claim.
fn record(domain: &pb::Domain) -> TxtRecord {
    TxtRecord::new(&domain.txt_record_name, &domain.txt_record_value)
}

/// The events of `event_type` on the service's bus so far (the relay publishes them shortly after
/// the commit: read until `count` are there).
async fn emitted(service: &TestAgentToken, event_type: &str, count: usize) -> Vec<Envelope> {
    let read = || async {
        let mut subscription = service
            .bus
            .replay(EventFilter::event_type(event_type), chrono::DateTime::UNIX_EPOCH)
            .await
            .expect("replay");
        let mut events = Vec::new();
        while let Ok(Some(Ok(Step::Event(delivery)))) =
            tokio::time::timeout(Duration::from_secs(5), subscription.next_step()).await
        {
            events.push(delivery.envelope.clone());
        }
        events
    };
    read_until(Duration::from_secs(30), read, |events| events.len() >= count).await
}

/// The documented code of a refusal.
fn code(status: &Status) -> ErrorCode {
    ApiError::from_status(status).code
}

async fn claims_verify_once_their_record_holds_their_value(backend: Backend) {
    let (service, mut dns) = start(backend).await;
    let account = service.account_id.clone();
    let mut client = service.domains();

    let claim = create(&mut client, &account, "Example.TEST.").await;
    assert!(claim.id.starts_with("dom_"), "{}", claim.id);
    assert_eq!(claim.domain, "example.test", "lowercased, without the trailing dot");
    assert_eq!(claim.status, "pending");
    assert_eq!(claim.txt_record_name, "_latchkey-challenge.example.test");
    assert!(claim.txt_record_value.starts_with("latchkey-domain-verification="));
    assert_eq!((claim.verified_at_ms, claim.last_checked_at_ms), (0, 0));
    assert_eq!(claim.reason, "");

    // No record at all: still pending, and why.
    let checked = verify(&mut client, &account, &claim.id).await;
    assert_eq!(
        (checked.status.as_str(), checked.reason.as_str()),
        ("pending", "no_record")
    );
    assert!(checked.last_checked_at_ms > 0);
    assert_eq!(checked.verified_at_ms, 0);

    // A record whose value is not the claim's.
    dns.serve(&[TxtRecord::new(
        &claim.txt_record_name,
        "latchkey-domain-verification=someone-else",
    )])
    .await;
    let checked = verify(&mut client, &account, &claim.id).await;
    assert_eq!(
        (checked.status.as_str(), checked.reason.as_str()),
        ("pending", "value_mismatch")
    );

    // The claim's value, beside another record at the same name and split in two strings.
    let value = claim.txt_record_value.as_str();
    let (head, tail) = value.split_at(10);
    dns.serve(&[
        TxtRecord::new(&claim.txt_record_name, "v=spf1 -all"),
        TxtRecord::split(&claim.txt_record_name, &[head, tail]),
    ])
    .await;
    let verified = verify(&mut client, &account, &claim.id).await;
    assert_eq!(verified.status, "verified", "{verified:?}");
    assert_eq!(verified.reason, "");
    assert!(verified.verified_at_ms > 0);
    assert_eq!(get(&mut client, &account, &claim.id).await.expect("get"), verified);

    // Verifying again changes nothing but the check's time, and announces nothing new.
    let again = verify(&mut client, &account, &claim.id).await;
    assert_eq!(
        (again.status.as_str(), again.verified_at_ms),
        ("verified", verified.verified_at_ms)
    );

    let created = emitted(&service, "domain.created", 1).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].subject.as_deref(), Some(claim.id.as_str()));
    assert_eq!(created[0].account, account);
    assert_eq!(created[0].data["domain"], "example.test");
    assert_eq!(created[0].data["txt_record_name"], "_latchkey-challenge.example.test");
    let verified_events = emitted(&service, "domain.verified", 1).await;
    assert_eq!(verified_events.len(), 1, "one domain.verified for one change");
    assert_eq!(verified_events[0].data["verified_at_ms"], verified.verified_at_ms);
}

#[tokio::test]
async fn claims_verify_once_their_record_holds_their_value_on_each_backend() {
    for backend in BACKENDS {
        claims_verify_once_their_record_holds_their_value(backend).await;
    }
}

async fn a_verified_domain_lapses_when_its_record_goes(backend: Backend) {
    let (service, mut dns) = start(backend).await;
    let account = service.account_id.clone();
    let mut client = service.domains();
    let claim = create(&mut client, &account, "lapse.example.test").await;
    dns.serve(&[record(&claim)]).await;
    assert_eq!(verify(&mut client, &account, &claim.id).await.status, "verified");

    // Just checked: nothing is due yet, even though the record is gone.
    dns.serve(&[]).await;
    let round = service.service.run_domain_checks(now_ms()).await.expect("round");
    assert_eq!(round, DomainRound::default());
    assert_eq!(get(&mut client, &account, &claim.id).await.unwrap().status, "verified");

    // An hour on (the default interval), the round checks it and it lapses.
    let round = service
        .service
        .run_domain_checks(now_ms() + HOUR_MS)
        .await
        .expect("round");
    assert_eq!(
        round,
        DomainRound {
            checked: 1,
            lapsed: 1,
            expired: 0
        }
    );
    let lapsed = get(&mut client, &account, &claim.id).await.unwrap();
    assert_eq!(
        (lapsed.status.as_str(), lapsed.reason.as_str()),
        ("failed", "no_record")
    );
    assert_eq!(lapsed.verified_at_ms, 0);
    let failed = emitted(&service, "domain.failed", 1).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].data["reason"], "no_record");
    assert_eq!(failed[0].data["previous_status"], "verified");
    assert_eq!(failed[0].actor.as_deref(), Some("system"));

    // A failed domain is not re-checked by the round: a verify that finds the record brings it back.
    let round = service
        .service
        .run_domain_checks(now_ms() + 3 * HOUR_MS)
        .await
        .expect("round");
    assert_eq!(round, DomainRound::default());
    dns.serve(&[record(&claim)]).await;
    assert_eq!(verify(&mut client, &account, &claim.id).await.status, "verified");
    assert_eq!(emitted(&service, "domain.verified", 2).await.len(), 2);

    // A record whose value changed lapses it too.
    dns.serve(&[TxtRecord::new(
        &claim.txt_record_name,
        "latchkey-domain-verification=changed",
    )])
    .await;
    let round = service
        .service
        .run_domain_checks(now_ms() + 5 * HOUR_MS)
        .await
        .expect("round");
    assert_eq!(round.lapsed, 1);
    let lapsed = get(&mut client, &account, &claim.id).await.unwrap();
    assert_eq!(
        (lapsed.status.as_str(), lapsed.reason.as_str()),
        ("failed", "value_mismatch")
    );
}

#[tokio::test]
async fn a_verified_domain_lapses_when_its_record_goes_on_each_backend() {
    for backend in BACKENDS {
        a_verified_domain_lapses_when_its_record_goes(backend).await;
    }
}

/// A DNS server that answers every query SERVFAIL, as a broken upstream would.
async fn failing_dns() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let address = socket.local_addr().expect("address");
    let task = tokio::spawn(async move {
        let mut buffer = [0u8; 1500];
        while let Ok((len, from)) = socket.recv_from(&mut buffer).await {
            if len < 12 {
                continue;
            }
            let mut answer = buffer[..len].to_vec();
            answer[2] |= 0x80; // QR: a response
            answer[3] = (answer[3] & 0xf0) | 2; // RCODE 2: SERVFAIL
            let _ = socket.send_to(&answer, from).await;
        }
    });
    (address, task)
}

#[tokio::test]
async fn a_dns_failure_or_timeout_is_a_reason_and_never_lapses_a_verified_domain() {
    let (service, mut dns) = start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let mut client = service.domains();
    let claim = create(&mut client, &account, "steady.example.test").await;
    dns.serve(&[record(&claim)]).await;
    assert_eq!(verify(&mut client, &account, &claim.id).await.status, "verified");

    // The same database, checked through a name server that fails, then one that never answers.
    let (failing, failing_task) = failing_dns().await;
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a silent socket");
    for (hours, nameserver, reason) in [
        (10, failing.to_string(), "dns_error"),
        (20, silent.local_addr().unwrap().to_string(), "timeout"),
    ] {
        let checker = service
            .service
            .clone()
            .with_domains(&DomainsConfig {
                nameservers: nameserver,
                lookup_timeout_ms: 300,
                ..DomainsConfig::default()
            })
            .expect("settings");
        let round = checker
            .run_domain_checks(now_ms() + hours * HOUR_MS)
            .await
            .expect("round");
        assert_eq!((round.checked, round.lapsed), (1, 0), "{reason}");
        let kept = get(&mut client, &account, &claim.id).await.unwrap();
        assert_eq!((kept.status.as_str(), kept.reason.as_str()), ("verified", reason));
        // A pending claim checked through it stays pending with the same reason.
        let pending = create(
            &mut client,
            &account,
            &format!("{}.example.test", reason.replace('_', "-")),
        )
        .await;
        let id = pending.id.parse().expect("a domain id");
        let checked = checker
            .verify_domain(&account.parse().unwrap(), None, &id)
            .await
            .expect("verify");
        assert_eq!(
            (checked.status.as_str(), checked.reason.map(|r| r.as_str())),
            ("pending", Some(reason))
        );
    }
    failing_task.abort();
}

async fn a_pending_domain_expires(backend: Backend) {
    let (service, mut dns) = start(backend).await;
    let account = service.account_id.clone();
    let mut client = service.domains();
    let claim = create(&mut client, &account, "slow.example.test").await;
    let round = service
        .service
        .run_domain_checks(now_ms() + 6 * 24 * HOUR_MS)
        .await
        .expect("round");
    assert_eq!(round.expired, 0, "a week by default");
    let round = service
        .service
        .run_domain_checks(now_ms() + 7 * 24 * HOUR_MS)
        .await
        .expect("round");
    assert_eq!(round.expired, 1);
    let expired = get(&mut client, &account, &claim.id).await.unwrap();
    assert_eq!(
        (expired.status.as_str(), expired.reason.as_str()),
        ("failed", "expired")
    );
    let failed = emitted(&service, "domain.failed", 1).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].data["reason"], "expired");
    assert_eq!(failed[0].data["previous_status"], "pending");
    // Publishing the record late still verifies it.
    dns.serve(&[record(&claim)]).await;
    assert_eq!(verify(&mut client, &account, &claim.id).await.status, "verified");
}

#[tokio::test]
async fn a_pending_domain_expires_on_each_backend() {
    for backend in BACKENDS {
        a_pending_domain_expires(backend).await;
    }
}

async fn domains_list_get_and_delete(backend: Backend) {
    let (service, mut dns) = start(backend).await;
    let account = service.account_id.clone();
    let mut client = service.domains();
    let first = create(&mut client, &account, "one.example.test").await;
    let second = create(&mut client, &account, "two.example.test").await;
    dns.serve(&[record(&second)]).await;
    verify(&mut client, &account, &second.id).await;

    // Oldest first, to the millisecond: two claims made in the same one are listed in id order.
    let all: Vec<(i64, String)> = list(&mut client, &account, "")
        .await
        .into_iter()
        .map(|d| (d.created_at_ms, d.id))
        .collect();
    let mut oldest_first = vec![
        (first.created_at_ms, first.id.clone()),
        (second.created_at_ms, second.id.clone()),
    ];
    oldest_first.sort();
    assert_eq!(all, oldest_first);
    assert!(first.created_at_ms <= second.created_at_ms);
    let verified: Vec<String> = list(&mut client, &account, "verified")
        .await
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(verified, [second.id.as_str()]);
    let pending = list(&mut client, &account, "pending").await;
    assert_eq!(pending.len(), 1);
    let bad_filter = client
        .list_domains(as_account(
            &account,
            pb::ListDomainsRequest {
                status: "nope".to_owned(),
            },
        ))
        .await
        .expect_err("an unknown status");
    assert_eq!(code(&bad_filter), ErrorCode::ValidationError);

    client
        .delete_domain(as_account(&account, pb::DeleteDomainRequest { id: second.id.clone() }))
        .await
        .expect("delete");
    let gone = get(&mut client, &account, &second.id).await.expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
    let again = client
        .delete_domain(as_account(&account, pb::DeleteDomainRequest { id: second.id.clone() }))
        .await
        .expect_err("deleted already");
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(list(&mut client, &account, "").await.len(), 1);
    let deleted = emitted(&service, "domain.deleted", 1).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].data["status"], "verified");
    assert_eq!(deleted[0].data["domain"], "two.example.test");

    // Deleted, the name may be claimed again: a new claim, with a new value.
    let reclaimed = create(&mut client, &account, "two.example.test").await;
    assert_ne!(reclaimed.id, second.id);
    assert_ne!(reclaimed.txt_record_value, second.txt_record_value);
    assert_eq!(reclaimed.status, "pending");
}

#[tokio::test]
async fn domains_list_get_and_delete_on_each_backend() {
    for backend in BACKENDS {
        domains_list_get_and_delete(backend).await;
    }
}

#[tokio::test]
async fn every_bad_domain_form_is_refused() {
    let (service, _dns) = start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let mut client = service.domains();
    let label63 = "a".repeat(63);
    let too_long = format!("{label63}.{label63}.{label63}.{}", "b".repeat(62));
    for bad in [
        "",
        "bücher.example",
        "*.example.com",
        "1.2.3.4",
        "::1",
        "example",
        ".example.com",
        "example..com",
        "-example.com",
        "example-.com",
        "exa_mple.com",
        "exa mple.com",
        "https://example.com",
        "localhost",
        "app.localhost",
        &format!("{}.com", "a".repeat(64)),
        &too_long,
    ] {
        let refused = client
            .create_domain(as_account(&account, pb::CreateDomainRequest { domain: bad.to_owned() }))
            .await
            .expect_err(bad);
        let error = ApiError::from_status(&refused);
        assert_eq!(error.code, ErrorCode::ValidationError, "{bad:?}: {error:?}");
        assert_eq!(error.errors[0].field, "domain", "{bad:?}");
    }
    assert!(list(&mut client, &account, "").await.is_empty());

    // The longest name and the longest label are fine.
    let longest = format!("{label63}.{label63}.{label63}.{}", "b".repeat(61));
    create(&mut client, &account, &longest).await;

    // One account claims a name once, however it is written.
    create(&mut client, &account, "dup.example.test").await;
    for again in ["dup.example.test", "DUP.Example.Test.", "dup.example.test."] {
        let refused = client
            .create_domain(as_account(
                &account,
                pb::CreateDomainRequest {
                    domain: again.to_owned(),
                },
            ))
            .await
            .expect_err(again);
        let error = ApiError::from_status(&refused);
        assert_eq!(error.code, ErrorCode::Unprocessable, "{again}: {error:?}");
        assert_eq!(error.errors[0].field, "domain");
    }
}

#[tokio::test]
async fn an_account_claims_at_most_a_hundred_domains() {
    let (service, _dns) = start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let mut client = service.domains();
    for n in 0..100 {
        create(&mut client, &account, &format!("d{n}.example.test")).await;
    }
    let refused = client
        .create_domain(as_account(
            &account,
            pb::CreateDomainRequest {
                domain: "d100.example.test".to_owned(),
            },
        ))
        .await
        .expect_err("the 101st");
    assert_eq!(code(&refused), ErrorCode::Unprocessable);
    // Another account has its own hundred.
    let other = service.create_account("Other").await;
    create(&mut client, &other, "d100.example.test").await;
}

/// The code, message and error details of a refusal, which must not tell one unknown from another.
fn answer(status: Status) -> (Code, String, Vec<u8>) {
    (status.code(), status.message().to_owned(), status.details().to_vec())
}

async fn another_account_sees_nothing_and_proves_its_own_claim(backend: Backend) {
    let (service, mut dns) = start(backend).await;
    let alice = service.account_id.clone();
    let bob = service.create_account("Bob").await;
    let mut client = service.domains();
    let claim = create(&mut client, &alice, "shared.example.test").await;

    // Bob cannot read, verify or delete Alice's claim: each answers as an unknown id does, and as
    // a malformed one does.
    let unknown = "dom_0000000000000000";
    for id in [
        claim.id.as_str(),
        unknown,
        "dom_*",
        "dom_x.y",
        "agent_abc",
        "DOM_ABC",
        "",
    ] {
        let read = get(&mut client, &bob, id).await.expect_err("not Bob's");
        let verified = client
            .verify_domain(as_account(&bob, pb::VerifyDomainRequest { id: id.to_owned() }))
            .await
            .expect_err("not Bob's");
        let deleted = client
            .delete_domain(as_account(&bob, pb::DeleteDomainRequest { id: id.to_owned() }))
            .await
            .expect_err("not Bob's");
        let expected = answer(get(&mut client, &bob, unknown).await.expect_err("unknown"));
        assert_eq!(expected.0, Code::NotFound);
        assert_eq!(answer(read), expected, "{id}");
        assert_eq!(answer(verified), expected, "{id}");
        assert_eq!(answer(deleted), expected, "{id}");
    }
    assert!(list(&mut client, &bob, "").await.is_empty());
    assert_eq!(get(&mut client, &alice, &claim.id).await.unwrap().status, "pending");

    // Bob claims the same name: his own claim, his own value.
    let bobs = create(&mut client, &bob, "shared.example.test").await;
    assert_ne!(bobs.txt_record_value, claim.txt_record_value);
    assert_eq!(bobs.txt_record_name, claim.txt_record_name);

    // Alice's record verifies Alice's claim only.
    dns.serve(&[record(&claim)]).await;
    assert_eq!(verify(&mut client, &alice, &claim.id).await.status, "verified");
    let checked = verify(&mut client, &bob, &bobs.id).await;
    assert_eq!(
        (checked.status.as_str(), checked.reason.as_str()),
        ("pending", "value_mismatch")
    );

    // With both records published, both are verified.
    dns.serve(&[record(&claim), record(&bobs)]).await;
    assert_eq!(verify(&mut client, &bob, &bobs.id).await.status, "verified");
    assert_eq!(get(&mut client, &alice, &claim.id).await.unwrap().status, "verified");
}

#[tokio::test]
async fn another_account_sees_nothing_and_proves_its_own_claim_on_each_backend() {
    for backend in BACKENDS {
        another_account_sees_nothing_and_proves_its_own_claim(backend).await;
    }
}

async fn agent_owner(service: &TestAgentToken, account: &str, owner: &str) -> (String, bool) {
    let request = CreateAgentRequest {
        name: "bot".to_owned(),
        owner: owner.to_owned(),
        ..CreateAgentRequest::default()
    };
    let agent = service
        .client
        .clone()
        .create_agent(as_account(account, request))
        .await
        .expect("create the agent")
        .into_inner()
        .agent
        .expect("the agent");
    (agent.id, agent.owner_verified)
}

async fn owner_verified(service: &TestAgentToken, account: &str, id: &str) -> bool {
    service
        .client
        .clone()
        .get_agent(as_account(account, GetAgentRequest { id: id.to_owned() }))
        .await
        .expect("get the agent")
        .into_inner()
        .owner_verified
}

#[tokio::test]
async fn a_verified_domain_vouches_for_agent_owners_and_hosts_on_it() {
    let (service, mut dns) = start(Backend::Sqlite).await;
    let account = service.account_id.clone();
    let other = service.create_account("Other").await;
    let mut client = service.domains();

    let owners = [
        ("bots@example.test", true),
        ("ops@api.example.test", true),
        ("example.test", true),
        ("Build.Example.Test", true),
        ("someone@badexample.test", false),
        ("someone@example.testing", false),
        ("engineering", false),
    ];
    let mut agents = Vec::new();
    for (owner, _) in owners {
        let (id, flagged) = agent_owner(&service, &account, owner).await;
        assert!(!flagged, "{owner}: nothing is verified yet");
        agents.push(id);
    }
    let (other_agent, _) = agent_owner(&service, &other, "bots@example.test").await;

    // Claimed but pending vouches for nothing.
    let claim = create(&mut client, &account, "example.test").await;
    assert!(!owner_verified(&service, &account, &agents[0]).await);

    dns.serve(&[record(&claim)]).await;
    assert_eq!(verify(&mut client, &account, &claim.id).await.status, "verified");
    for ((owner, expected), id) in owners.iter().zip(&agents) {
        assert_eq!(owner_verified(&service, &account, id).await, *expected, "{owner}");
    }
    let listed = service
        .client
        .clone()
        .list_agents(as_account(&account, ListAgentsRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .agents;
    // The list is in creation order to the millisecond (agents made in the same one are in id
    // order), so each flag is matched to its agent by id.
    let flags: Vec<bool> = agents
        .iter()
        .map(|id| {
            listed
                .iter()
                .find(|agent| agent.id == *id)
                .unwrap_or_else(|| panic!("{id} is listed"))
                .owner_verified
        })
        .collect();
    assert_eq!(flags, owners.map(|(_, expected)| expected));
    assert_eq!(listed.len(), agents.len());
    assert!(
        !owner_verified(&service, &other, &other_agent).await,
        "another account's verification vouches for nothing here"
    );
    let (_, new_agent_flagged) = agent_owner(&service, &account, "new@example.test").await;
    assert!(new_agent_flagged, "a new agent is answered flagged");

    // Hosts, as the webhook service asks.
    let hosts = [
        "example.test",
        "hooks.example.test.",
        "EXAMPLE.TEST",
        "badexample.test",
        "127.0.0.1",
        "",
    ];
    let checked = client
        .check_hosts(as_account(
            &account,
            pb::CheckHostsRequest {
                hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            },
        ))
        .await
        .expect("check hosts")
        .into_inner()
        .verified;
    assert_eq!(checked, [true, true, true, false, false, false]);
    let others = client
        .check_hosts(as_account(
            &other,
            pb::CheckHostsRequest {
                hosts: vec!["example.test".to_owned()],
            },
        ))
        .await
        .expect("check hosts")
        .into_inner()
        .verified;
    assert_eq!(others, [false]);
    let too_many = client
        .check_hosts(as_account(
            &account,
            pb::CheckHostsRequest {
                hosts: vec![String::new(); 1001],
            },
        ))
        .await
        .expect_err("1001 hosts");
    assert_eq!(code(&too_many), ErrorCode::ValidationError);

    // Once the record goes and the domain lapses, it vouches for nothing.
    dns.serve(&[]).await;
    service
        .service
        .run_domain_checks(now_ms() + HOUR_MS)
        .await
        .expect("round");
    assert!(!owner_verified(&service, &account, &agents[0]).await);
}
