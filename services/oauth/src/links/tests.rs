use super::*;

#[test]
fn a_minted_token_is_well_formed_and_nothing_else_is() {
    let random: [u8; TOKEN_BYTES] = rand::rng().random();
    let token = URL_SAFE_NO_PAD.encode(random);
    assert_eq!(token.len(), TOKEN_LEN);
    assert!(well_formed(&token));
    for bad in [
        "",
        "short",
        "a".repeat(TOKEN_LEN - 1).as_str(),
        "a".repeat(TOKEN_LEN + 1).as_str(),
        format!("{}=", "a".repeat(TOKEN_LEN - 1)).as_str(),
        format!("{}%", "a".repeat(TOKEN_LEN - 1)).as_str(),
        format!("{}é", "a".repeat(TOKEN_LEN - 2)).as_str(),
    ] {
        assert!(!well_formed(bad), "{bad:?}");
    }
}

#[test]
fn a_links_debug_hides_its_token() {
    let link = ConnectLink {
        id: ConnectLinkId::new(),
        token: "the-token-canary-0123456789".to_owned(),
        provider: "google".to_owned(),
        end_user_id: String::new(),
        redirect_uri: String::new(),
        scopes: Vec::new(),
        flow: SessionFlow::Exchange,
        expires_at_ms: 0,
        created_at_ms: 0,
    };
    assert!(!format!("{link:?}").contains("canary"));
}
