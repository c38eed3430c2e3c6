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

#[test]
fn a_deployment_file_adds_providers_and_replaces_built_in_ones_by_code() {
    let dir = std::env::temp_dir().join(format!("latchkey-catalogue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("providers.toml");
    std::fs::write(
        &path,
        r#"
[[provider]]
code = "internal-reports"
name = "Reports API"
kind = "api_key"
docs_url = "https://wiki.example/reports"
services = [{ code = "reports", name = "Reports", api_base_url = "https://reports.internal.example/v1" }]

[[provider]]
code = "openai"
name = "OpenAI (proxy)"
kind = "api_key"
docs_url = "https://proxy.example/openai"
"#,
    )
    .unwrap();
    let catalogue = Catalogue::for_deployment(path.to_str().unwrap()).unwrap();
    let builtin = Catalogue::builtin();
    assert_eq!(catalogue.all().count(), builtin.all().count() + 1);
    assert_eq!(catalogue.get("internal-reports").unwrap().services[0].code, "reports");
    assert_eq!(
        catalogue.get("openai").unwrap().name,
        "OpenAI (proxy)",
        "replaced by code"
    );
    assert!(catalogue.get("google").is_some(), "the rest stays");
    assert_eq!(
        Catalogue::for_deployment("").unwrap().all().count(),
        builtin.all().count()
    );

    for bad in [
        "[[provider]]\ncode = \"Bad Code\"\nname = \"x\"\nkind = \"api_key\"\ndocs_url = \"\"\n",
        "[[provider]]\ncode = \"../x\"\nname = \"x\"\nkind = \"api_key\"\ndocs_url = \"\"\n",
        "[[provider]]\ncode = \"x\"\nname = \"x\"\nkind = \"oauth2\"\ndocs_url = \"\"\n",
        "not toml [",
    ] {
        std::fs::write(&path, bad).unwrap();
        let error = Catalogue::for_deployment(path.to_str().unwrap()).unwrap_err();
        assert!(error.contains("providers.toml"), "the error names the file: {error}");
    }
    let missing = Catalogue::for_deployment("/nonexistent/providers.toml").unwrap_err();
    assert!(missing.contains("/nonexistent/providers.toml"), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_proxy_auth_of_a_provider_is_a_known_style() {
    let with = |auth: &str| {
        Catalogue::parse(&format!(
            "[[provider]]\ncode = \"p\"\nname = \"P\"\nkind = \"api_key\"\ndocs_url = \"https://p.example\"\nproxy_auth = \"{auth}\"\n"
        ))
        .map(|catalogue| catalogue.get("p").unwrap().proxy_auth.clone())
    };
    assert_eq!(with("bearer"), Ok(ProxyAuth::Bearer));
    assert_eq!(with("basic"), Ok(ProxyAuth::Basic));
    assert_eq!(
        with("header:X-Api-Key"),
        Ok(ProxyAuth::Header(http::HeaderName::from_static("x-api-key")))
    );
    for refused in [
        "Bearer",
        "digest",
        "header:",
        "header:bad name",
        "header:host",
        "header:content-length",
    ] {
        assert!(with(refused).is_err(), "{refused}");
    }
    let builtin = Catalogue::builtin();
    assert_eq!(
        builtin.get("anthropic").unwrap().proxy_auth,
        ProxyAuth::Header(http::HeaderName::from_static("x-api-key"))
    );
    assert_eq!(builtin.get("github").unwrap().proxy_auth, ProxyAuth::Bearer);
}
