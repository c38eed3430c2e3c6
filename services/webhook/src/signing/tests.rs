use super::*;

/// The example from the Standard Webhooks specification's reference test suite.
#[test]
fn the_specification_example_signs_as_published() {
    let signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        br#"{"test": 2432232314}"#,
    );
    assert_eq!(
        signature.as_deref(),
        Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    );
}

#[test]
fn new_secrets_are_distinct_and_decode_to_32_bytes() {
    let (a, b) = (new_secret(), new_secret());
    assert_ne!(a, b);
    assert_eq!(key_of(&a).map(|key| key.len()), Some(32));
}

#[test]
fn every_secret_signs_during_a_rotation() {
    let header = signature_header(["whsec_AAAA", "whsec_BBBB"], "msg_1", 1, b"{}");
    assert_eq!(header.split(' ').count(), 2);
    assert!(header.split(' ').all(|part| part.starts_with("v1,")));
}
