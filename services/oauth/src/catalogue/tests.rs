use super::*;

#[test]
fn the_builtin_catalogue_has_every_documented_provider() {
    let catalogue = Catalogue::parse(CATALOGUE).unwrap();
    for code in [
        "google",
        "mongodb",
        "supabase",
        "railway",
        "elevenlabs",
        "typefully",
        "openai",
        "twilio",
        "stripe",
        "sendgrid",
        "anthropic",
        "replicate",
        "cloudflare",
        "cohere",
        "postmark",
        "mailgun",
        "pagerduty",
        "vercel",
        "microsoft",
        "github",
        "slack",
        "telegram",
        "oidc",
    ] {
        assert!(catalogue.get(code).is_some(), "{code} is missing");
    }
    assert_eq!(catalogue.get("telegram").unwrap().kind, ProviderKind::Mtproto);
    assert_eq!(catalogue.get("openai").unwrap().kind, ProviderKind::ApiKey);
    let google = catalogue.get("google").unwrap();
    assert!(google.services.iter().any(|s| s.code == "gmail"));
    assert_eq!(
        google.authorize_params.get("access_type").map(String::as_str),
        Some("offline")
    );
}

#[test]
fn an_oauth2_provider_without_endpoints_is_refused() {
    let text = "[[provider]]\ncode = \"x\"\nname = \"X\"\nkind = \"oauth2\"\ndocs_url = \"\"\n";
    assert!(Catalogue::parse(text).unwrap_err().contains("authorize_url"));
}
