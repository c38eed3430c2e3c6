use super::*;
use crate::keys::Keyring;

fn root(version: u32, byte: u8) -> RootKey {
    use base64::Engine;
    let line = format!(
        "{version}:{}",
        base64::engine::general_purpose::STANDARD.encode([byte; KEY_LEN])
    );
    let keyring = Keyring::parse(&line).unwrap();
    let key = keyring.get(version).unwrap();
    RootKey {
        version,
        bytes: key.bytes.clone(),
    }
}

#[test]
fn a_sealed_secret_opens_only_where_it_was_sealed() {
    let key = DataKey::generate();
    let sealed = key.seal("acc_a", "credential/openai", 3, b"sk-live-1234");
    assert_eq!(
        key.open("acc_a", "credential/openai", 3, &sealed).unwrap().as_slice(),
        b"sk-live-1234"
    );
    assert_eq!(key.open("acc_b", "credential/openai", 3, &sealed), Err(OpenFailed));
    assert_eq!(key.open("acc_a", "credential/stripe", 3, &sealed), Err(OpenFailed));
    assert_eq!(key.open("acc_a", "credential/openai", 2, &sealed), Err(OpenFailed));
    let other = DataKey::generate();
    assert_eq!(other.open("acc_a", "credential/openai", 3, &sealed), Err(OpenFailed));
    let mut altered = sealed.clone();
    altered.ciphertext[0] ^= 1;
    assert_eq!(key.open("acc_a", "credential/openai", 3, &altered), Err(OpenFailed));
}

#[test]
fn fields_cannot_shift_into_each_other() {
    assert_ne!(secret_aad("ab", "c/d", 1), secret_aad("a", "bc/d", 1));
}

#[test]
fn every_seal_takes_a_fresh_nonce() {
    let key = DataKey::generate();
    let a = key.seal("acc", "credential/x", 1, b"same");
    let b = key.seal("acc", "credential/x", 1, b"same");
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[test]
fn a_wrapped_data_key_unwraps_only_for_its_account_and_root_version() {
    let (v1, v2) = (root(1, 1), root(2, 2));
    let key = DataKey::generate();
    let sealed = key.seal("acc", "credential/x", 1, b"value");
    let wrapped = key.wrap(&v1, "acc");
    let unwrapped = DataKey::unwrap(&v1, "acc", &wrapped).unwrap();
    assert_eq!(
        unwrapped.open("acc", "credential/x", 1, &sealed).unwrap().as_slice(),
        b"value"
    );
    assert!(DataKey::unwrap(&v1, "other", &wrapped).is_err());
    assert!(DataKey::unwrap(&v2, "acc", &wrapped).is_err());
    // The same bytes under another version number fail too: the version is in the AAD.
    let v1_as_v2 = RootKey {
        version: 2,
        bytes: v1.bytes.clone(),
    };
    assert!(DataKey::unwrap(&v1_as_v2, "acc", &wrapped).is_err());
    assert!(format!("{unwrapped:?}").contains("redacted"));
}
