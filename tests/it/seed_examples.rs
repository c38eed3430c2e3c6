//! Every curl example of the seeds that Latchkey serves (Akhrot 000 and 001, AuthRAI 002, AGNT 003
//! except `/certificates*`), replayed as the seed writes it: the same method and path, and the
//! request body character for character, only the host and the API key substituted. Each asserts
//! the status the seed documents and the response fields it shows. Where an example needs state
//! (a connected provider, an allowed callback URL), the state is made the way a user of the seed
//! would make it, through the API; where a seed's value can only come from a real flow (AGNT's
//! authorization `code`), the example is replayed once as written (refused, as it must be) and
//! once with the code the provider gave. docs/api-testing.md has the table of what is replayed.
//!
//! `google` and `microsoft` are the catalogue's providers, pointed by `oauth.discovery_urls` at a
//! real OpenID Connect provider (npm `oidc-provider`): the flows run end to end on this machine.

use latchkey_oauth::{ClientCredentials, OauthConfig};
use latchkey_storage::Backend;
use latchkey_test_support::oidc_peer::{CLIENT_ID, CLIENT_SECRET, OidcPeer};
use reqwest::{Method, header::HeaderMap};
use serde_json::Value;

use crate::support::{Bus, TestMesh, gateway_config};

/// Seed 000's callback URL.
const YOURAPP_CALLBACK: &str = "https://yourapp.com/callback";
/// Seed 003's callback URL (`POST /auth/exchange`'s `redirectUri`).
const YOUR_APP_CALLBACK: &str = "https://your-app.com/oauth/callback";

/// A provider, and a mesh that knows it as `google` and `microsoft` (and GitHub, whose sessions
/// only need an app to build the provider's URL).
async fn start() -> (OidcPeer, TestMesh) {
    let peer = OidcPeer::start().await;
    let app = || ClientCredentials {
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.to_owned(),
    };
    let config = OauthConfig {
        callback_url: String::new(),
        discovery_urls: [
            ("google".to_owned(), peer.discovery_url()),
            ("microsoft".to_owned(), peer.discovery_url()),
        ]
        .into(),
        clients: [
            ("google".to_owned(), app()),
            ("microsoft".to_owned(), app()),
            (
                "github".to_owned(),
                ClientCredentials {
                    client_id: "Iv1.seedexamples01".to_owned(),
                    client_secret: "github-seed-secret-0123456789".to_owned(),
                },
            ),
        ]
        .into(),
        ..OauthConfig::default()
    };
    let mesh = TestMesh::start_with_oauth(Backend::Sqlite, Bus::Local, gateway_config(), config).await;
    peer.register_client(&[&mesh.url("/oauth/callback"), YOUR_APP_CALLBACK])
        .await;
    (peer, mesh)
}

/// An answer: status, headers and body (JSON when it is JSON).
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }
}

/// `curl [-X method] [-H "Authorization: Bearer <key>"] [-H "Content-Type: application/json" -d
/// body] <base><path>`, redirects not followed (curl does not follow them without -L).
async fn curl(mesh: &TestMesh, method: Method, path: &str, key: Option<&str>, body: Option<&str>) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut request = client.request(method, mesh.url(path));
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    if let Some(body) = body {
        request = request.header("Content-Type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.expect(path);
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.expect("body"),
    }
}

/// Akhrot's timestamp: `2024-01-15T12:00:00.000Z`.
fn assert_akhrot_time(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("a time: {value}"));
    assert!(
        text.len() == 24 && text.ends_with('Z') && text.as_bytes()[19] == b'.',
        "{text}"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// "Take the returned url and redirect the user there": the user authorizes at the provider, which
/// sends the browser to Latchkey's callback; answers Latchkey's answer to the browser.
async fn user_authorizes(peer: &OidcPeer, mesh: &TestMesh, url: &str, user: &str) -> Answer {
    let back = peer.authorize(url, user, true).await;
    assert!(back.starts_with(&mesh.url("/oauth/callback")), "{back}");
    let path = back.trim_start_matches(&mesh.base).to_owned();
    curl(mesh, Method::GET, &path, None, None).await
}

/// Seed 000 (Akhrot's documentation page): the skill's Step 2 and Step 4, the Quick Start's three
/// steps, and its error codes.
#[tokio::test]
async fn akhrot_000_examples_work_as_written() {
    let (peer, mesh) = start().await;
    let key = Some(mesh.key.as_str());

    // Error handling: UNAUTHORIZED without the key, INTEGRATION_NOT_FOUND before connecting.
    let fetch_google = r#"{"provider": "google"}"#;
    let anonymous = curl(&mesh, Method::POST, "/tokens/fetch", None, Some(fetch_google)).await;
    assert_eq!(
        (anonymous.status, anonymous.json()["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    let not_connected = curl(&mesh, Method::POST, "/tokens/fetch", key, Some(fetch_google)).await;
    assert_eq!(
        (not_connected.status, not_connected.json()["code"].as_str()),
        (404, Some("INTEGRATION_NOT_FOUND"))
    );
    let invalid = curl(&mesh, Method::POST, "/tokens/fetch", key, Some(r#"{"provider": 42}"#)).await;
    assert_eq!(
        (invalid.status, invalid.json()["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );

    // Skill, Step 4: "Response includes a `url` - the user MUST visit this URL".
    let step4 = "{\n\"provider\": \"github\",\n\"redirectUri\": \"https://yourapp.com/callback\"\n}";
    let session = curl(&mesh, Method::POST, "/oauth/sessions", key, Some(step4)).await;
    assert_eq!(session.status, 201, "{}", session.text);
    let url = session.json()["url"].as_str().expect("a top-level url").to_owned();
    assert!(url.starts_with("https://github.com/login/oauth/authorize?"), "{url}");
    assert_eq!(
        session.json()["data"]["url"],
        url.as_str(),
        "the first shape still answers it"
    );

    // Quick Start, Step 1: create the session.
    let step1 = r#"{"provider": "google", "redirectUri": "https://yourapp.com/callback"}"#;
    let session = curl(&mesh, Method::POST, "/oauth/sessions", key, Some(step1)).await;
    assert_eq!(session.status, 201, "{}", session.text);
    let url = session.json()["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&peer.issuer), "google, at the test's issuer: {url}");
    // Step 2: redirect the user there; the callback sends them on to the app's callback URL.
    let done = user_authorizes(&peer, &mesh, &url, "alice").await;
    assert_eq!(done.status, 303);
    let location = done.header("location");
    assert!(location.starts_with(YOURAPP_CALLBACK), "{location}");
    assert_eq!(query_of(location)["status"], "connected");

    // Step 3 (and the skill's Step 2): fetch the token.
    let token = curl(&mesh, Method::POST, "/tokens/fetch", key, Some(fetch_google)).await;
    assert_eq!(token.status, 200, "{}", token.text);
    let token = token.json();
    assert_eq!(token["status"], "success");
    assert!(token["data"]["accessToken"].as_str().is_some_and(|t| !t.is_empty()));
    assert_akhrot_time(&token["data"]["expiresAt"]);
    assert!(
        token["data"]["scope"].as_array().is_some_and(|scope| !scope.is_empty()),
        "{token}"
    );
    assert_eq!(token["data"]["providerEmail"], "alice@example.test");
    mesh.stop().await;
}

/// Seed 001 (Akhrot's skill listing): Step 4 without a redirect URI, Step 3, Telegram's MTProto
/// answer and an API-key provider of its table.
#[tokio::test]
async fn akhrot_001_examples_work_as_written() {
    let (peer, mesh) = start().await;
    let key = Some(mesh.key.as_str());

    // Step 4: create an OAuth session; "send the user to that URL ... the provider is connected".
    let step4 = r#"{"provider": "google"}"#;
    let session = curl(&mesh, Method::POST, "/oauth/sessions", key, Some(step4)).await;
    assert_eq!(session.status, 201, "{}", session.text);
    let url = session.json()["url"].as_str().expect("url").to_owned();
    let done = user_authorizes(&peer, &mesh, &url, "carol").await;
    assert_eq!(done.status, 200, "no redirect URI: Latchkey's own answer");
    assert_eq!(done.json()["status"], "connected");

    // Step 3: fetch the token.
    let token = curl(
        &mesh,
        Method::POST,
        "/tokens/fetch",
        key,
        Some(r#"{"provider": "google"}"#),
    )
    .await;
    assert_eq!(token.status, 200, "{}", token.text);
    assert!(
        token.json()["data"]["accessToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(token.json()["data"]["providerEmail"], "carol@example.test");

    // "for Telegram MTProto: apiId, apiHash, type: mtproto"; the session is stored first.
    let stored = curl(
        &mesh,
        Method::PUT,
        "/v1/connections/telegram",
        key,
        Some(r#"{"sessionString": "1BVtsOKABu3nC9xm5JqQ==", "apiId": 123456, "apiHash": "0123456789abcdef0123456789abcdef"}"#),
    )
    .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    let telegram = curl(
        &mesh,
        Method::POST,
        "/tokens/fetch",
        key,
        Some(r#"{"provider": "telegram"}"#),
    )
    .await;
    assert_eq!(telegram.status, 200, "{}", telegram.text);
    let data = &telegram.json()["data"];
    assert_eq!(data["accessToken"], "1BVtsOKABu3nC9xm5JqQ==");
    assert_eq!(data["apiId"], "123456");
    assert_eq!(data["apiHash"], "0123456789abcdef0123456789abcdef");
    assert_eq!(data["type"], "mtproto");

    // An API-key provider of the table, by its code.
    let stored = curl(
        &mesh,
        Method::PUT,
        "/credentials",
        key,
        Some(r#"{"openaiApiKey": "sk-seed-001-openai-key"}"#),
    )
    .await;
    assert_eq!(stored.status, 200);
    let openai = curl(
        &mesh,
        Method::POST,
        "/tokens/fetch",
        key,
        Some(r#"{"provider": "openai"}"#),
    )
    .await;
    assert_eq!(openai.status, 200);
    assert_eq!(openai.json()["data"]["accessToken"], "sk-seed-001-openai-key");
    mesh.stop().await;
}

/// Seed 002 (AuthRAI): "Export audit log as CSV or JSON. Use ?format=csv or ?format=json."
#[tokio::test]
async fn authrai_002_audit_export_works_as_written() {
    let (_peer, mesh) = start().await;
    mesh.create_key(&mesh.key, "seed-002").await;
    mesh.audit_entries_at_least(&mesh.key, 2).await;
    let key = Some(mesh.key.as_str());

    let csv = curl(&mesh, Method::GET, "/v1/audit/export?format=csv", key, None).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    let mut rows = csv.text.split("\r\n");
    assert_eq!(
        rows.next(),
        Some("account_id,seq,event_id,type,time,time_ms,actor,subject,decision_id,data,prev_hash,hash")
    );

    let json = curl(&mesh, Method::GET, "/v1/audit/export?format=json", key, None).await;
    assert_eq!(json.status, 200);
    assert_eq!(json.header("content-type"), "application/json");
    let document = json.json();
    let entries = document["entries"].as_array().expect("entries");
    assert!(entries.len() >= 2, "{document}");
    for (index, entry) in entries.iter().enumerate() {
        assert_eq!(entry["seq"], index as i64 + 1);
        assert_eq!(entry["hash"].as_str().map(str::len), Some(64), "hash-chained: {entry}");
        assert_eq!(entry["prev_hash"].as_str().map(str::len), Some(64));
    }
    assert_eq!(
        crate::support::first_broken_entry(&mesh.account_id, entries),
        None,
        "the JSON export verifies"
    );
    mesh.stop().await;
}

/// Seed 003 (AGNT Connect): the credentials examples, `/auth/google` and `/auth/microsoft` (from a
/// backend with its key, and from a browser without one, through a connect link),
/// `/auth/exchange` and `/oauth-tokens`.
#[tokio::test]
async fn agnt_003_examples_work_as_written() {
    let (peer, mesh) = start().await;
    let key = Some(mesh.key.as_str());

    // Quick Start: configure LLM provider credentials.
    let quick_start = "{\n\"openaiApiKey\": \"sk-...\",\n\"anthropicApiKey\": \"sk-ant-...\"\n}";
    let written = curl(&mesh, Method::PUT, "/credentials", key, Some(quick_start)).await;
    assert_eq!(written.status, 200, "{}", written.text);
    let written = written.json();
    assert_eq!(
        (
            written["hasOpenaiApiKey"].as_bool(),
            written["hasAnthropicApiKey"].as_bool()
        ),
        (Some(true), Some(true))
    );

    // Update Provider Credentials.
    let update = "{\n\"openaiApiKey\": \"sk-new-key-here...\",\n\"anthropicApiKey\": \"sk-ant-new-key...\"\n}";
    let updated = curl(&mesh, Method::PUT, "/credentials", key, Some(update)).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let updated = updated.json();
    assert_eq!(updated["hasOpenaiApiKey"], true);
    assert!(updated["openaiApiKeyLast4"].is_string(), "{updated}");
    assert_eq!(updated["hasAnthropicApiKey"], true);
    assert!(updated["anthropicApiKeyLast4"].is_string(), "{updated}");
    assert!(updated["updatedAt"].is_string(), "{updated}");
    assert!(!updated.to_string().contains("sk-new-key-here"), "never the key");

    // Provider Credentials (Masked).
    let masked = curl(&mesh, Method::GET, "/credentials", key, None).await;
    assert_eq!(masked.status, 200);
    let masked = masked.json();
    assert_eq!(masked["hasOpenaiApiKey"], true);
    assert_eq!(masked["openaiApiKeyLast4"], updated["openaiApiKeyLast4"]);
    assert_eq!(masked["hasAnthropicApiKey"], true);
    assert_eq!(masked["hasGoogleApiKey"], false);
    assert_eq!(masked["googleApiKeyLast4"], Value::Null);

    // Exchange OAuth Code, as written: no authorization is pending, so no session matches.
    let exchange_as_written = "{\n\"code\": \"4/0AX4XfWh...\",\n\"provider\": \"google\",\n\"redirectUri\": \"https://your-app.com/oauth/callback\"\n}";
    let refused = curl(&mesh, Method::POST, "/auth/exchange", key, Some(exchange_as_written)).await;
    assert_eq!(
        (refused.status, refused.json()["code"].as_str()),
        (400, Some("SESSION_EXPIRED"))
    );

    // "the user is redirected to your callback URL": the account names it once (the seed's
    // dashboard setting), so `GET /auth/google` needs no parameter.
    let allowed = curl(
        &mesh,
        Method::PUT,
        "/oauth/redirect-uris",
        key,
        Some(r#"{"redirectUris": ["https://your-app.com/oauth/callback"]}"#),
    )
    .await;
    assert_eq!(allowed.status, 200);

    // "Redirect your user to this URL": a browser holds no key, so it opens a connect link.
    let link = curl(
        &mesh,
        Method::POST,
        "/v1/connect-links",
        key,
        Some(r#"{"provider": "google", "identifierId": "user_456"}"#),
    )
    .await;
    assert_eq!(link.status, 201, "{}", link.text);
    let link_url = link.json()["url"].as_str().expect("url").to_owned();
    assert!(link_url.starts_with(&mesh.url("/auth/google?link=")), "{link_url}");
    let path = link_url.trim_start_matches(&mesh.base).to_owned();
    let opened = curl(&mesh, Method::GET, &path, None, None).await;
    assert_eq!(opened.status, 302, "{}", opened.text);
    let authorization = opened.header("location").to_owned();
    // The user authorizes; the provider sends them to the app's callback with the code.
    let back = peer.authorize(&authorization, "dave", true).await;
    assert!(back.starts_with(YOUR_APP_CALLBACK), "{back}");
    let code = query_of(&back)["code"].clone();

    // Exchange OAuth Code, with the code the provider gave (the seed's body, its code replaced).
    let exchange = exchange_as_written.replace("4/0AX4XfWh...", &code);
    let exchanged = curl(&mesh, Method::POST, "/auth/exchange", key, Some(&exchange)).await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.text);
    let exchanged = exchanged.json();
    assert_eq!(exchanged["success"], true);
    assert_eq!(exchanged["provider"], "google");
    assert!(
        exchanged["scopes"].as_array().is_some_and(|scopes| !scopes.is_empty()),
        "{exchanged}"
    );
    assert_akhrot_time(&exchanged["expiresAt"]);

    // Get OAuth Tokens.
    let tokens = curl(
        &mesh,
        Method::GET,
        "/oauth-tokens?identifierId=user_456&resource=google",
        key,
        None,
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let tokens = tokens.json();
    let listed = tokens["data"].as_array().expect("data");
    assert_eq!(listed.len(), 1, "{tokens}");
    let token = &listed[0];
    assert!(token["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(token["identifierId"], "user_456");
    assert_eq!(token["resource"], "google");
    assert!(token["scopes"].as_array().is_some_and(|scopes| !scopes.is_empty()));
    assert_eq!(token["status"], "active");
    assert_akhrot_time(&token["expiresAt"]);
    assert_akhrot_time(&token["createdAt"]);
    assert!(!tokens.to_string().contains("accessToken"), "metadata, never a token");

    // Initiate Google and Microsoft OAuth from a backend with its key: a redirect to the provider.
    // (After the exchange above: the seed's exchange sends no state, which needs the one pending
    // authorization to be the only one.)
    for provider in ["google", "microsoft"] {
        let started = curl(&mesh, Method::GET, &format!("/auth/{provider}"), key, None).await;
        assert_eq!(started.status, 302, "{provider}: {}", started.text);
        let location = started.header("location");
        assert!(location.starts_with(&peer.issuer), "{location}");
        assert_eq!(query_of(location)["redirect_uri"], YOUR_APP_CALLBACK);
    }

    // Initiate Microsoft OAuth from a browser: "Same flow as Google".
    let link = curl(
        &mesh,
        Method::POST,
        "/v1/connect-links",
        key,
        Some(r#"{"provider": "microsoft"}"#),
    )
    .await;
    assert_eq!(link.status, 201, "{}", link.text);
    let path = link.json()["url"]
        .as_str()
        .expect("url")
        .trim_start_matches(&mesh.base)
        .to_owned();
    assert!(path.starts_with("/auth/microsoft?link="), "{path}");
    let opened = curl(&mesh, Method::GET, &path, None, None).await;
    assert_eq!(opened.status, 302, "{}", opened.text);
    assert!(opened.header("location").starts_with(&peer.issuer));
    mesh.stop().await;
}
