use super::*;

const IDLE_MS: i64 = 1_800_000;
const START: i64 = 1_700_000_000_000;

fn settings() -> SessionSettings {
    SessionSettings::new(&AgentTokenConfig::default())
}

fn stored_with_key() -> StoredSession {
    StoredSession {
        id: "cses_a".to_owned(),
        account_id: "acct_a".to_owned(),
        actor_id: "key_a".to_owned(),
        created_at: START,
        last_seen_at: START,
        expires_at: START + 43_200_000,
        plan: None,
        api_key: Some("key_a".to_owned()),
        certificate: None,
    }
}

fn stored_with_certificate(status: &str, until: i64) -> StoredSession {
    StoredSession {
        actor_id: "cert_a".to_owned(),
        api_key: None,
        certificate: Some((status.to_owned(), until)),
        ..stored_with_key()
    }
}

#[test]
fn the_settings_are_the_configured_seconds_in_milliseconds() {
    let settings = settings();
    assert_eq!((settings.idle_ms, settings.max_ms), (IDLE_MS, 43_200_000));
    assert_eq!(settings.touch_after_ms(), 60_000, "a minute, by default");
    let short = SessionSettings::new(&AgentTokenConfig {
        console_session_idle_secs: 2,
        console_session_max_secs: 4,
        ..AgentTokenConfig::default()
    });
    assert_eq!(
        short.touch_after_ms(),
        500,
        "a quarter of a short idle timeout, so use keeps it alive"
    );
}

#[test]
fn a_session_lives_until_idle_or_absolute_expiry_whichever_is_first() {
    let session = stored_with_key();
    assert!(session.is_live(settings(), START));
    assert!(
        session.is_live(settings(), START + IDLE_MS),
        "idle ends after, not at, the timeout"
    );
    assert!(!session.is_live(settings(), START + IDLE_MS + 1));
    let busy = StoredSession {
        last_seen_at: START + 43_000_000,
        ..stored_with_key()
    };
    assert!(busy.is_live(settings(), START + 43_199_999));
    assert!(
        !busy.is_live(settings(), START + 43_200_000),
        "absolute expiry holds however busy"
    );
}

#[test]
fn a_session_dies_with_its_credential() {
    let deleted_key = StoredSession {
        api_key: None,
        ..stored_with_key()
    };
    assert!(!deleted_key.is_live(settings(), START));
    assert!(stored_with_certificate("active", START + 1).is_live(settings(), START));
    assert!(!stored_with_certificate("revoked", START + 1).is_live(settings(), START));
    assert!(
        !stored_with_certificate("active", START).is_live(settings(), START),
        "an expired certificate"
    );
    let deleted_certificate = StoredSession {
        certificate: None,
        ..stored_with_certificate("active", START + 1)
    };
    assert!(!deleted_certificate.is_live(settings(), START));
}

#[test]
fn the_answer_names_the_actor_by_kind_and_runs_the_idle_clock_from_the_last_use() {
    let plans = latchkey_server::Plans::default();
    let session = stored_with_certificate("active", START + 1)
        .into_session(&plans, settings(), START + 5)
        .unwrap();
    assert_eq!(
        session.actor,
        ConsoleActor::Certificate(CertificateId::parse("cert_a").unwrap())
    );
    assert_eq!(session.idle_expires_at_ms, START + 5 + IDLE_MS);
    assert_eq!(session.plan, plans.resolve(None));
    let by_key = stored_with_key().into_session(&plans, settings(), START).unwrap();
    assert_eq!(by_key.actor, ConsoleActor::ApiKey(ApiKeyId::parse("key_a").unwrap()));
}

#[test]
fn a_started_session_never_prints_its_token() {
    let started = StartedConsoleSession {
        token: "lk_cs_do-not-print".to_owned(),
        session: stored_with_key()
            .into_session(&latchkey_server::Plans::default(), settings(), START)
            .unwrap(),
    };
    let shown = format!("{started:?}{started:#?}");
    assert!(!shown.contains("do-not-print"), "{shown}");
    assert!(shown.contains("cses_a"), "{shown}");
}
