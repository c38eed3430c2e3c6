use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_defaults_alone_are_complete() {
    let settings = Settings::load(None, env(&[])).unwrap();
    assert_eq!(settings.nats.prefix, "latchkey");
    assert_eq!(settings.gateway.body_limit_bytes, 1_048_576);
    assert_eq!(settings.telemetry.otlp_endpoint, None);
}

#[test]
fn the_environment_overrides_the_defaults() {
    let settings = Settings::load(
        None,
        env(&[
            ("LATCHKEY__NATS__URL", "nats://nats:4222"),
            ("LATCHKEY__GATEWAY__RATE_LIMIT_PER_SECOND", "7"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(settings.nats.url, "nats://nats:4222");
    assert_eq!(settings.gateway.rate_limit_per_second, 7);
}

#[test]
fn a_secret_that_looks_like_a_number_stays_a_string() {
    let settings = Settings::load(None, env(&[("LATCHKEY__MESH__SERVICE_TOKEN", "0012e45")])).unwrap();
    assert_eq!(settings.mesh.service_token, "0012e45");
    let settings = Settings::load(None, env(&[("LATCHKEY__TELEMETRY__JSON_LOGS", "true")])).unwrap();
    assert!(settings.telemetry.json_logs);
}

#[test]
fn the_vault_root_keys_come_from_a_file_or_a_list_and_are_never_printed() {
    let settings = Settings::load(None, env(&[])).unwrap();
    assert!(settings.vault.root_key_source().is_none());
    let inline = "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let settings = Settings::load(None, env(&[("LATCHKEY__VAULT__ROOT_KEYS", inline)])).unwrap();
    assert!(matches!(
        settings.vault.root_key_source(),
        Some(latchkey_vault::RootKeySource::Inline(_))
    ));
    assert!(!format!("{settings:?}").contains("AAECAwQF"));
    let settings = Settings::load(
        None,
        env(&[
            ("LATCHKEY__VAULT__ROOT_KEYS", inline),
            ("LATCHKEY__VAULT__ROOT_KEY_FILE", "/run/secrets/vault-root.key"),
        ]),
    )
    .unwrap();
    assert!(matches!(
        settings.vault.root_key_source(),
        Some(latchkey_vault::RootKeySource::File(path)) if path.ends_with("vault-root.key")
    ));
}

#[test]
fn webhook_settings_have_safe_defaults_and_come_from_the_environment() {
    let defaults = Settings::load(None, env(&[])).unwrap();
    assert_eq!(defaults.webhook, latchkey_webhook::WebhookConfig::default());
    assert!(!defaults.webhook.allow_loopback && !defaults.webhook.allow_private);
    let settings = Settings::load(
        None,
        env(&[
            ("LATCHKEY__WEBHOOK__ALLOW_LOOPBACK", "true"),
            ("LATCHKEY__WEBHOOK__RETRY_INITIAL_MS", "250"),
        ]),
    )
    .unwrap();
    assert!(settings.webhook.allow_loopback);
    assert_eq!(settings.webhook.retry_initial_ms, 250);
}

#[test]
fn oauth_apps_come_from_the_environment() {
    let settings = Settings::load(
        None,
        env(&[
            (
                "LATCHKEY__OAUTH__CLIENTS__GOOGLE__CLIENT_ID",
                "1234.apps.googleusercontent.com",
            ),
            ("LATCHKEY__OAUTH__CLIENTS__GOOGLE__CLIENT_SECRET", "0012secret"),
        ]),
    )
    .unwrap();
    let google = &settings.oauth.clients["google"];
    assert_eq!(google.client_id, "1234.apps.googleusercontent.com");
    assert_eq!(google.client_secret, "0012secret");
    assert_eq!(settings.oauth.session_ttl_secs, 600);
    assert!(
        !format!("{:?}", settings.oauth).contains("0012secret"),
        "Debug hides the secret"
    );
}

#[test]
fn dead_letter_budgets_default_to_the_events_crate_and_come_from_the_environment() {
    let defaults = Settings::load(None, env(&[])).unwrap();
    assert_eq!(defaults.events, latchkey_events::EventsConfig::default());
    let settings = Settings::load(None, env(&[("LATCHKEY__EVENTS__RELAY_MAX_ATTEMPTS", "3")])).unwrap();
    assert_eq!(settings.events.relay_max_attempts, 3);
}

#[test]
fn an_unknown_setting_is_an_error() {
    assert!(Settings::load(None, env(&[("LATCHKEY__NATS__URLL", "x")])).is_err());
}

#[test]
fn a_file_sits_between_defaults_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latchkey.toml");
    std::fs::write(&path, "[nats]\nprefix = \"fromfile\"\nurl = \"nats://file:4222\"\n").unwrap();
    let settings = Settings::load(Some(&path), env(&[("LATCHKEY__NATS__URL", "nats://env:4222")])).unwrap();
    assert_eq!(settings.nats.prefix, "fromfile");
    assert_eq!(settings.nats.url, "nats://env:4222");
}

#[test]
fn domain_settings_default_to_the_crate_and_come_from_the_environment() {
    let defaults = Settings::load(None, env(&[])).unwrap();
    assert_eq!(defaults.domains, latchkey_agent_token::DomainsConfig::default());
    assert!(
        defaults.domains.nameserver_addresses().unwrap().is_empty(),
        "the system's resolver"
    );
    let settings = Settings::load(
        None,
        env(&[
            ("LATCHKEY__DOMAINS__NAMESERVERS", "127.0.0.1:5353"),
            ("LATCHKEY__DOMAINS__RECHECK_INTERVAL_SECS", "60"),
        ]),
    )
    .unwrap();
    assert_eq!(
        settings.domains.nameserver_addresses().unwrap(),
        ["127.0.0.1:5353".parse().unwrap()]
    );
    assert_eq!(settings.domains.recheck_interval_secs, 60);
    // Two in one variable, IPv4 and IPv6.
    let settings = Settings::load(None, env(&[("LATCHKEY__DOMAINS__NAMESERVERS", "192.0.2.1,[::1]:53")])).unwrap();
    assert_eq!(settings.domains.nameserver_addresses().unwrap().len(), 2);
}

#[test]
fn the_shipped_plan_limits_nothing_and_plans_come_from_the_environment() {
    let plans = Settings::load(None, env(&[])).unwrap().plans().expect("plans");
    assert_eq!(plans.default_plan(), "self-hosted");
    assert_eq!(plans.limits(None), &latchkey_server::PlanLimits::default());

    let settings = Settings::load(
        None,
        env(&[
            ("LATCHKEY__ACCOUNTS__DEFAULT_PLAN", "free"),
            ("LATCHKEY__PLANS__FREE__AGENTS", "2"),
            ("LATCHKEY__PLANS__FREE__TOKENS_PER_MONTH", "1000"),
        ]),
    )
    .unwrap();
    let plans = settings.plans().expect("plans");
    assert_eq!(plans.default_plan(), "free");
    assert_eq!(plans.limits(None).agents, Some(2));
    assert_eq!(plans.limits(None).tokens_per_month, Some(1000));
    assert_eq!(plans.limits(None).api_keys, None);
    assert!(plans.knows("self-hosted"), "the unlimited plan stays available");
}

#[test]
fn a_default_plan_no_table_defines_is_refused() {
    let settings = Settings::load(None, env(&[("LATCHKEY__ACCOUNTS__DEFAULT_PLAN", "gold")])).unwrap();
    assert!(settings.plans().is_err());
    let unknown_limit = Settings::load(None, env(&[("LATCHKEY__PLANS__FREE__SEATS", "2")]));
    assert!(unknown_limit.is_err(), "an unknown limit is a settings error");
}

#[test]
fn console_session_lifetimes_default_to_the_crate_and_come_from_the_environment() {
    let defaults = Settings::load(None, env(&[])).unwrap();
    assert_eq!(defaults.agent_token, latchkey_agent_token::AgentTokenConfig::default());
    let settings = Settings::load(
        None,
        env(&[
            ("LATCHKEY__AGENT_TOKEN__CONSOLE_SESSION_IDLE_SECS", "600"),
            ("LATCHKEY__AGENT_TOKEN__CONSOLE_SESSION_MAX_SECS", "3600"),
        ]),
    )
    .unwrap();
    assert_eq!(settings.agent_token.console_session_idle_secs, 600);
    assert_eq!(settings.agent_token.console_session_max_secs, 3600);
    assert_eq!(settings.agent_token.validate(), Ok(()));
}

#[test]
fn the_event_stream_is_kept_as_the_settings_say_and_nonsense_is_refused() {
    let defaults = Settings::load(None, env(&[])).unwrap();
    assert_eq!(defaults.nats.stream(), latchkey_events::StreamSettings::default());
    let settings = Settings::load(
        None,
        env(&[
            ("LATCHKEY__NATS__STREAM_REPLICAS", "3"),
            ("LATCHKEY__NATS__STREAM_MAX_AGE_SECS", "604800"),
            ("LATCHKEY__NATS__STREAM_MAX_BYTES", "1073741824"),
            ("LATCHKEY__NATS__STREAM_DUPLICATE_WINDOW_SECS", "30"),
        ]),
    )
    .unwrap();
    let stream = settings.nats.stream();
    assert_eq!(stream.replicas, 3);
    assert_eq!(stream.max_age, std::time::Duration::from_secs(604_800));
    assert_eq!(stream.max_bytes, Some(1_073_741_824));
    assert_eq!(stream.duplicate_window, std::time::Duration::from_secs(30));
    for bad in [
        ("LATCHKEY__NATS__STREAM_REPLICAS", "0"),
        ("LATCHKEY__NATS__STREAM_REPLICAS", "7"),
        ("LATCHKEY__NATS__STREAM_DUPLICATE_WINDOW_SECS", "0"),
        ("LATCHKEY__NATS__STREAM_MAX_AGE_SECS", "60"),
    ] {
        let error = Settings::load(None, env(&[bad])).unwrap_err().to_string();
        assert!(error.contains("[nats]"), "{bad:?}: {error}");
    }
}
