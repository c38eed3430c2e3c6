use clap::ValueEnum;
use latchkey_events::access::{self, SERVICES};

use super::*;
use crate::cli::Service;

/// The configuration checked in for deployments (deploy/k8s includes it).
const CHECKED_IN: &str = include_str!("../../deploy/nats/authorization.conf");

#[test]
fn the_checked_in_authorization_is_what_the_code_makes() {
    assert!(
        CHECKED_IN == authorization("latchkey", Credential::Password),
        "deploy/nats/authorization.conf is not what the code makes: run \
         `cargo run -- nats-config --prefix latchkey > deploy/nats/authorization.conf`"
    );
}

#[test]
fn the_access_table_names_the_services_their_sources_and_consumers() {
    let served: Vec<&str> = Service::value_variants().iter().map(|service| service.name()).collect();
    let tabled: Vec<&str> = SERVICES.iter().map(|access| access.service).collect();
    assert_eq!(tabled, served, "one entry per `latchkey serve` service, in its order");
    let source = |service: &str| access::of(service).and_then(|access| access.source);
    assert_eq!(source("agent-token"), Some(latchkey_agent_token::EVENT_SOURCE));
    assert_eq!(source("policy"), Some(latchkey_policy::EVENT_SOURCE));
    assert_eq!(source("vault"), Some(latchkey_vault::EVENT_SOURCE));
    assert_eq!(source("oauth"), Some(latchkey_oauth::EVENT_SOURCE));
    assert_eq!(source("webhook"), Some(latchkey_webhook::EVENT_SOURCE));
    assert_eq!(source("directory"), Some(latchkey_directory::EVENT_SOURCE));
    let durables = |service: &str| -> Vec<&str> {
        access::of(service)
            .map(|access| access.durables.iter().map(|durable| durable.name).collect())
            .unwrap_or_default()
    };
    assert_eq!(durables("audit"), [latchkey_audit::CONSUMER]);
    assert_eq!(durables("webhook"), [latchkey_webhook::CONSUMER]);
    assert_eq!(durables("oauth"), [latchkey_oauth::USER_DELETIONS_CONSUMER]);
}

#[test]
fn every_user_has_its_variable_and_only_quoted_subjects() {
    for credential in [Credential::Password, Credential::Nkey] {
        let config = authorization("lk", credential);
        for access in SERVICES {
            assert!(
                config.contains(&format!("${}\n", variable(access.service, credential))),
                "{config}"
            );
        }
        // Quoted, `$JS.…` is a subject; unquoted, `$NAME` is a variable: only the credentials are.
        for line in config
            .lines()
            .map(str::trim_start)
            .filter(|line| !line.starts_with('#'))
        {
            let credential_line = line.starts_with("password: $LATCHKEY_") || line.starts_with("nkey: $LATCHKEY_");
            assert!(!line.contains('$') || line.contains("\"$") || credential_line, "{line}");
        }
    }
    assert_eq!(
        variable("agent-token", Credential::Password),
        "LATCHKEY_AGENT_TOKEN_PASSWORD"
    );
    assert_eq!(variable("audit", Credential::Nkey), "LATCHKEY_AUDIT_NKEY");
    let nkeys = authorization("lk", Credential::Nkey);
    assert!(!nkeys.contains("user:") && !nkeys.contains("password"), "{nkeys}");
}
