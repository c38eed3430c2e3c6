use super::*;

#[test]
fn scopes_split_on_commas_and_spaces() {
    assert_eq!(
        scopes_of("openid, email calendar.readonly,,"),
        ["openid", "email", "calendar.readonly"]
    );
    assert!(scopes_of(" , ").is_empty());
}
