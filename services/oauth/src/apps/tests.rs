use super::*;

#[test]
fn only_a_long_secret_shows_its_last_four_characters() {
    assert_eq!(last4("short-secret-abcd"), "abcd");
    assert_eq!(last4("elevenchars"), "");
}

#[test]
fn the_stored_json_does_not_end_with_the_secret() {
    let json = serde_json::to_string(&StoredApp {
        client_secret: "very-secret-value",
        client_id: "client-1",
    })
    .unwrap();
    assert!(json.ends_with("\"client-1\"}"), "{json}");
    let back: ClientCredentials = serde_json::from_str(&json).unwrap();
    assert_eq!(back.client_secret, "very-secret-value");
    assert_eq!(back.client_id, "client-1");
}
