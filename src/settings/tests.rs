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
    // The file stays a path: a running vault re-reads it (docs/vault.md).
    let settings = Settings::load(
        None,
        env(&[("LATCHKEY__VAULT__ROOT_KEY_FILE", "/run/secrets/vault-root.key")]),
    )
    .unwrap();
    assert!(matches!(
        settings.vault.root_key_source(),
        Some(latchkey_vault::RootKeySource::File(path)) if path.ends_with("vault-root.key")
    ));
    let both = Settings::load(
        None,
        env(&[
            ("LATCHKEY__VAULT__ROOT_KEYS", inline),
            ("LATCHKEY__VAULT__ROOT_KEY_FILE", "/run/secrets/vault-root.key"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        both.contains("vault.root_keys") && both.contains("vault.root_key_file"),
        "{both}"
    );
    assert!(!both.contains("AAECAwQF"), "{both}");
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

/// A directory of secret files, as a platform mounts them (the `nats` settings' tests use it too).
pub(super) struct Mounted(pub(super) tempfile::TempDir);

impl Mounted {
    pub(super) fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    /// Writes `content` to the file `name` and answers its path.
    pub(super) fn secret(&self, name: &str, content: &str) -> String {
        let path = self.0.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

const TOKEN: &str = "file-token-0123456789abcdef";

#[test]
fn the_defaults_list_a_file_setting_beside_every_secret() {
    for setting in [
        "service_token_file = \"\"",
        "url_file = \"\"",
        "client_secret_file",
        "root_key_file = \"\"",
    ] {
        assert!(DEFAULTS.contains(setting), "latchkey config does not show {setting}");
    }
    let settings = Settings::load(None, env(&[])).unwrap();
    assert_eq!(settings.mesh.service_token, "");
    assert_eq!(settings.database.url, "");
}

#[test]
fn secrets_come_from_files_less_one_trailing_newline() {
    let mounted = Mounted::new();
    let url = "postgres://latchkey:p%40ss@db:5432/latchkey_audit";
    let settings = Settings::load(
        None,
        env(&[
            (
                "LATCHKEY__MESH__SERVICE_TOKEN_FILE",
                &mounted.secret("token", &format!("{TOKEN}\n")),
            ),
            (
                "LATCHKEY__DATABASE__URL_FILE",
                &mounted.secret("url", &format!("{url}\r\n")),
            ),
            ("LATCHKEY__OAUTH__CLIENTS__GITHUB__CLIENT_ID", "Iv1.0123"),
            (
                "LATCHKEY__OAUTH__CLIENTS__GITHUB__CLIENT_SECRET_FILE",
                &mounted.secret("github", "0012github-secret"),
            ),
        ]),
    )
    .unwrap();
    assert_eq!(settings.mesh.service_token, TOKEN);
    assert_eq!(settings.mesh.auth().token(), TOKEN);
    assert_eq!(settings.database.url, url);
    let github = &settings.oauth.clients["github"];
    assert_eq!(
        (github.client_id.as_str(), github.client_secret.as_str()),
        ("Iv1.0123", "0012github-secret")
    );

    // Only one newline goes; other whitespace may be part of the secret.
    for (content, secret) in [
        (" spaced token\t\n", " spaced token\t"),
        ("two newlines\n\n", "two newlines\n"),
        ("no newline", "no newline"),
    ] {
        let path = mounted.secret("whitespace", content);
        let settings = Settings::load(None, env(&[("LATCHKEY__MESH__SERVICE_TOKEN_FILE", &path)])).unwrap();
        assert_eq!(settings.mesh.service_token, secret, "{content:?}");
    }
}

#[test]
fn a_secret_file_can_be_named_in_the_settings_file() {
    let mounted = Mounted::new();
    let token = mounted.secret("token", TOKEN);
    let github = mounted.secret("github", "github-secret");
    let file = mounted.secret(
        "latchkey.toml",
        &format!(
            "[mesh]\nservice_token_file = {token:?}\n\n\
             [oauth.clients.github]\nclient_id = \"Iv1.0123\"\nclient_secret_file = {github:?}\n"
        ),
    );
    let settings = Settings::load(Some(Path::new(&file)), env(&[])).unwrap();
    assert_eq!(settings.mesh.service_token, TOKEN);
    assert_eq!(settings.oauth.clients["github"].client_secret, "github-secret");

    let not_a_path = mounted.secret("bad.toml", "[mesh]\nservice_token_file = 5\n");
    let error = Settings::load(Some(Path::new(&not_a_path)), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("mesh.service_token_file must be a path"), "{error}");
}

#[test]
fn a_secret_given_both_inline_and_as_a_file_is_refused_naming_both() {
    let mounted = Mounted::new();
    let path = mounted.secret("token", "file-content-0123456789");
    let cases = [
        (
            "LATCHKEY__MESH__SERVICE_TOKEN",
            "LATCHKEY__MESH__SERVICE_TOKEN_FILE",
            "mesh.service_token",
        ),
        (
            "LATCHKEY__DATABASE__URL",
            "LATCHKEY__DATABASE__URL_FILE",
            "database.url",
        ),
        (
            "LATCHKEY__OAUTH__CLIENTS__GOOGLE__CLIENT_SECRET",
            "LATCHKEY__OAUTH__CLIENTS__GOOGLE__CLIENT_SECRET_FILE",
            "oauth.clients.google.client_secret",
        ),
    ];
    for (value, file, setting) in cases {
        let error = Settings::load(None, env(&[(value, "inline-value-0123456789"), (file, &path)]))
            .unwrap_err()
            .to_string();
        for named in [
            setting.to_owned(),
            format!("{setting}_file"),
            value.to_owned(),
            file.to_owned(),
        ] {
            assert!(error.contains(&named), "{error} does not name {named}");
        }
        assert!(
            !error.contains("inline-value") && !error.contains("file-content"),
            "{error}"
        );
    }
    // Across layers too: the value in the settings file, its file in the environment.
    let file = mounted.secret("latchkey.toml", "[mesh]\nservice_token = \"inline-value-0123456789\"\n");
    let error = Settings::load(
        Some(Path::new(&file)),
        env(&[("LATCHKEY__MESH__SERVICE_TOKEN_FILE", &path)]),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("mesh.service_token_file"), "{error}");
}

#[test]
fn a_missing_unreadable_or_empty_secret_file_is_refused_naming_setting_and_path() {
    let mounted = Mounted::new();
    let missing = mounted.0.path().join("no-such-secret");
    let missing = missing.to_str().unwrap();
    let directory = mounted.0.path().to_str().unwrap();
    let empty = mounted.secret("empty", "");
    let only_a_newline = mounted.secret("newline", "\n");
    for (setting, variable) in [
        ("mesh.service_token_file", "LATCHKEY__MESH__SERVICE_TOKEN_FILE"),
        ("database.url_file", "LATCHKEY__DATABASE__URL_FILE"),
        (
            "oauth.clients.google.client_secret_file",
            "LATCHKEY__OAUTH__CLIENTS__GOOGLE__CLIENT_SECRET_FILE",
        ),
    ] {
        for (path, says) in [
            (missing, "cannot read"),
            (directory, "cannot read"),
            (empty.as_str(), "is empty"),
            (only_a_newline.as_str(), "is empty"),
        ] {
            let error = Settings::load(None, env(&[(variable, path)])).unwrap_err().to_string();
            assert!(
                error.contains(setting) && error.contains(path) && error.contains(says),
                "{error}"
            );
        }
    }
}

#[test]
fn a_secret_read_from_a_file_is_never_printed() {
    let mounted = Mounted::new();
    let settings = Settings::load(
        None,
        env(&[
            (
                "LATCHKEY__MESH__SERVICE_TOKEN_FILE",
                &mounted.secret("token", "canary-token-0123456789"),
            ),
            (
                "LATCHKEY__DATABASE__URL_FILE",
                &mounted.secret("url", "postgres://u:canary-password@db/x"),
            ),
            ("LATCHKEY__OAUTH__CLIENTS__GOOGLE__CLIENT_ID", "id"),
            (
                "LATCHKEY__OAUTH__CLIENTS__GOOGLE__CLIENT_SECRET_FILE",
                &mounted.secret("google", "canary-client-secret"),
            ),
        ]),
    )
    .unwrap();
    let printed = format!("{settings:?} {:#?}", settings);
    assert!(!printed.contains("canary"), "{printed}");
}
