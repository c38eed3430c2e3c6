use super::*;

#[test]
fn jwts_and_api_keys_are_told_apart_by_shape() {
    assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
    assert!(
        looks_like_jwt("a.b."),
        "an empty signature still goes to the JWT check, which refuses it"
    );
    for not_jwt in ["lk_live_abcdef", "a.b", "a.b.c.d", "a.b.c d", "a.b.c=", "a+b.c.d", ""] {
        assert!(!looks_like_jwt(not_jwt), "{not_jwt}");
    }
}

#[test]
fn refusal_words_never_quote_the_token() {
    use jsonwebtoken::errors::ErrorKind;
    assert_eq!(refusal_word(&ErrorKind::InvalidSignature), "signature");
    assert_eq!(
        refusal_word(&ErrorKind::MissingRequiredClaim("secret-claim".to_owned())),
        "a required claim is missing"
    );
    assert_eq!(
        refusal_word(&ErrorKind::InvalidClaimFormat("exp".to_owned())),
        "a claim is malformed"
    );
}
