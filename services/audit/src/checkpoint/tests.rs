use super::*;

#[test]
fn a_signed_checkpoint_verifies_with_the_published_key_and_fails_when_edited() {
    let key = CheckpointKey::generate();
    let checkpoint = key.sign("acct_1", 7, &"ab".repeat(32), 1_700_000_000_000);
    let keys = [key.public_jwk()];
    assert_eq!(checkpoint.verify_signature(&keys), Ok(()));
    let mut edited = checkpoint.clone();
    edited.seq = 8;
    assert_eq!(edited.verify_signature(&keys), Err(CheckpointError::BadSignature));
    let other = CheckpointKey::generate();
    assert!(checkpoint.verify_signature(&[other.public_jwk()]).is_err());
}

#[test]
fn a_key_comes_back_from_its_seed_with_its_kid_and_prints_no_secret() {
    let key = CheckpointKey::generate();
    let again = CheckpointKey::from_seed(&key.seed()[..]).unwrap();
    assert_eq!(again.kid(), key.kid());
    assert!(key.kid().starts_with(KID_PREFIX));
    let printed = format!("{key:?}");
    assert!(!printed.contains(&hex::encode(&key.seed()[..])));
}
