use super::*;

#[test]
fn a_key_file_round_trips_and_grows_by_one_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.key");
    assert!(create_key_file(&path).unwrap());
    assert!(!create_key_file(&path).unwrap(), "an existing file is reused");
    let first = RootKeySource::File(path.clone()).load().unwrap();
    assert_eq!(first.versions(), vec![1]);
    assert_eq!(add_key_version(&path).unwrap(), 2);
    let second = RootKeySource::File(path.clone()).load().unwrap();
    assert_eq!(second.versions(), vec![1, 2]);
    assert_eq!(*second.get(1).unwrap().bytes, *first.get(1).unwrap().bytes);
    assert_ne!(*second.get(2).unwrap().bytes, *second.get(1).unwrap().bytes);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_bad_line_is_named_without_quoting_it() {
    let secretish = "1:bm90LWEtMzItYnl0ZS1rZXk=";
    let error = Keyring::parse(secretish).unwrap_err().to_string();
    assert!(error.contains("line 1"), "{error}");
    assert!(!error.contains("bm90"), "{error}");
    assert!(Keyring::parse("0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_err());
}

#[test]
fn inline_keys_are_separated_by_commas_and_the_highest_wraps() {
    let k = STANDARD.encode([7u8; KEY_LEN]);
    let source = RootKeySource::Inline(SecretString::from(format!("1:{k}, 3:{k}")));
    let keyring = source.load().unwrap();
    assert_eq!(keyring.versions(), vec![1, 3]);
    assert_eq!(keyring.newest().unwrap().version, 3);
    assert!(!format!("{source:?} {keyring:?}").contains(&k));
    assert!(RootKeySource::Inline(SecretString::from(String::new())).load().is_err());
}
