//! Webhook signing (`latchkey_webhook::signing`), checked the way a Standard Webhooks receiver
//! checks it: for any secrets, message id, timestamp and body, nothing panics; the
//! `webhook-signature` header holds one `v1,<base64 of 32 bytes>` per usable secret, in order; a
//! receiver holding any one of those secrets accepts the delivery; and it refuses the header for a
//! delivery whose signed content (`{id}.{timestamp}.{body}`) differs. The crate has no receiver
//! side, so the receiver here is written from the specification, like the tests' own.
//!
//! Input: bytes for `arbitrary`.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use latchkey_webhook::signing::{SECRET_PREFIX, sign, signature_header};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

#[derive(Arbitrary, Debug)]
enum Secret {
    /// Any text, as a stored secret could be if something went wrong.
    Text(String),
    /// A well-formed `whsec_` secret of these key bytes.
    Key(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Delivery {
    id: String,
    timestamp: i64,
    body: Vec<u8>,
}

impl Delivery {
    /// The bytes the signature covers.
    fn signed_content(&self) -> Vec<u8> {
        let mut content = format!("{}.{}.", self.id, self.timestamp).into_bytes();
        content.extend_from_slice(&self.body);
        content
    }
}

#[derive(Arbitrary, Debug)]
struct Case {
    secrets: Vec<Secret>,
    delivery: Delivery,
    /// What an attacker replays the header with.
    other: Delivery,
}

fuzz_target!(|case: Case| {
    let secrets: Vec<String> = case
        .secrets
        .into_iter()
        .take(4)
        .map(|secret| match secret {
            Secret::Text(text) => text,
            Secret::Key(bytes) => format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)),
        })
        .collect();
    let Delivery { id, timestamp, body } = &case.delivery;
    let header = signature_header(secrets.iter().map(String::as_str), id, *timestamp, body);
    let each: Vec<String> = secrets.iter().filter_map(|s| sign(s, id, *timestamp, body)).collect();
    assert_eq!(
        header,
        each.join(" "),
        "the header is not one signature per usable secret, in order"
    );
    for signature in &each {
        let encoded = signature.strip_prefix("v1,").expect("a v1 signature");
        assert_eq!(STANDARD.decode(encoded).map(|mac| mac.len()), Ok(32), "{signature:?}");
    }
    let replayed = case.other.signed_content() != case.delivery.signed_content();
    for secret in &secrets {
        let Some(key) = key_of(secret) else {
            assert!(
                sign(secret, id, *timestamp, body).is_none(),
                "an unusable secret signed"
            );
            continue;
        };
        assert!(
            receiver_accepts(&key, &case.delivery, &header),
            "a receiver with {secret:?} refused"
        );
        if replayed {
            assert!(
                !receiver_accepts(&key, &case.other, &header),
                "the header verified another delivery"
            );
        }
    }
});

/// The key a receiver derives from its copy of the secret.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

/// Standard Webhooks verification: any space-separated `v1,` signature equal to the expected one.
fn receiver_accepts(key: &[u8], delivery: &Delivery, header: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&delivery.signed_content());
    let expected = mac.finalize().into_bytes();
    header.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .is_some_and(|given| given.as_slice() == expected.as_slice())
    })
}
