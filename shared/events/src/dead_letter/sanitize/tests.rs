use super::*;

#[test]
fn secrets_are_replaced_and_the_rest_kept() {
    let text = "connect postgres://latchkey:s3cret@db:5432/latchkey failed;\n\
                key lk_live_AbCdEfGhIjKlMnOpQrStUvWxYz012345 token eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl";
    let clean = sanitize_error(text);
    assert_eq!(
        clean,
        "connect postgres://***@db:5432/latchkey failed; key lk_live_*** token ***"
    );
    for secret in ["s3cret", "AbCdEf", "eyJzdWIi"] {
        assert!(!clean.contains(secret), "{secret} in {clean}");
    }
}

#[test]
fn long_errors_are_cut_on_a_character_boundary() {
    let clean = sanitize_error(&"é".repeat(2000));
    assert_eq!(clean.chars().count(), MAX_CHARS + 1);
    assert!(clean.ends_with('…'));
    assert_eq!(
        sanitize_error("Payload size limit of 1024 exceeded"),
        "Payload size limit of 1024 exceeded"
    );
}

#[test]
fn every_kind_of_latchkey_secret_is_replaced() {
    let clean = sanitize_error("session=lk_cs_AbCdEf svc lk_svc_GhIjKl agent sk_live_MnOpQr hook whsec_StUvWx");
    assert_eq!(
        clean,
        "session=lk_cs_*** svc lk_svc_*** agent sk_live_*** hook whsec_***"
    );
}
