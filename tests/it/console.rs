//! The console, as the people behind the agents use it: in a real browser (Debian's chromium) on
//! `latchkey dev`'s mesh (SQLite, the in-process bus), and over plain HTTP where a browser would
//! hide what is checked (cookies, headers, forms posted from elsewhere).

mod browser;

use std::time::Duration;

use latchkey_storage::Backend;
use latchkey_test_support::{eventually, oidc_peer::OidcPeer};
use reqwest::{StatusCode, redirect::Policy};
use serde_json::{Value, json};

use self::browser::Browser;
use crate::{
    binary::{BINARY, Process, free_port, ready},
    support::{Bus, TestMesh, gateway_config},
};

async fn dev_mesh() -> TestMesh {
    TestMesh::start(Backend::Sqlite, Bus::Local).await
}

/// An HTTP client that keeps no cookies and follows no redirects, to see each answer as it is.
fn plain_http() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// Signs in over HTTP as a browser would (the sign-in page's cookie and token, then the form);
/// answers the session cookie's value.
async fn sign_in_over_http(http: &reqwest::Client, base: &str, key: &str) -> String {
    let page = http.get(format!("{base}/console/sign-in")).send().await.unwrap();
    let nonce = cookie_of(&page, "lk_console_signin").expect("the sign-in cookie");
    let signed_in = http
        .post(format!("{base}/console/sign-in"))
        .header("cookie", format!("lk_console_signin={nonce}"))
        .form(&[("csrf", nonce.as_str()), ("credential", key)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    cookie_of(&signed_in, "lk_console").expect("a session cookie")
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| {
            value
                .strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap().to_owned())
        })
        .filter(|value| !value.is_empty())
}

fn set_cookie_line(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .unwrap_or_default()
        .to_owned()
}

/// A console page fetched with the session cookie.
async fn page(http: &reqwest::Client, base: &str, session: &str, path: &str) -> reqwest::Response {
    http.get(format!("{base}{path}"))
        .header("cookie", format!("lk_console={session}"))
        .send()
        .await
        .unwrap()
}

/// The CSRF token in a page's forms.
fn csrf_in(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a form with its CSRF token") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn latchkey_dev_serves_the_console_at_the_root_with_its_security_headers() {
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _dev = Process(
        std::process::Command::new(BINARY)
            .args(["dev", "--data-dir"])
            .arg(data_dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("LATCHKEY__TELEMETRY__LOG_FILTER", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run latchkey dev"),
    );
    let http = plain_http();
    assert!(ready(&http, &base).await, "latchkey dev never became ready");

    let root = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(root.headers()["location"], "/console");
    let console = http.get(format!("{base}/console")).send().await.unwrap();
    assert_eq!(
        console.status(),
        StatusCode::SEE_OTHER,
        "no session: to the sign-in page"
    );
    assert_eq!(console.headers()["location"], "/console/sign-in");

    let sign_in = http.get(format!("{base}/console/sign-in")).send().await.unwrap();
    assert_eq!(sign_in.status(), StatusCode::OK);
    let headers = sign_in.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    let html = sign_in.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style"
    );

    // The bootstrap key `latchkey dev` printed signs in; the page links its assets by content hash.
    let key = std::fs::read_to_string(data_dir.path().join("bootstrap.key")).unwrap();
    let session = sign_in_over_http(&http, &base, key.trim()).await;
    let overview = page(&http, &base, &session, "/console").await;
    assert_eq!(overview.status(), StatusCode::OK);
    let html = overview.text().await.unwrap();
    assert!(html.contains("<h1>Overview</h1>"));
    let stylesheet = html
        .split("href=\"")
        .find(|part| part.starts_with("/console/assets/"))
        .unwrap();
    let stylesheet = stylesheet.split('"').next().unwrap();
    let asset = http.get(format!("{base}{stylesheet}")).send().await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert!(asset.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let stale = http
        .get(format!("{base}/console/assets/0000000000000000/console.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.status(),
        StatusCode::NOT_FOUND,
        "another build's asset is not served"
    );
}

#[tokio::test]
async fn a_person_signs_in_creates_an_agent_and_sees_its_secret_exactly_once() {
    let t = dev_mesh().await;
    let browser = Browser::open(&t.base).await;

    // A wrong key is refused on the sign-in page, saying so.
    browser.goto("/console").await;
    assert_eq!(browser.path().await, "/console/sign-in");
    browser.fill("#credential", "lk_live_not-a-real-key").await;
    browser.click("form button[type=submit]").await;
    assert!(browser.wait_for_text("[role=alert]", "not valid").await);
    browser.screenshot("sign-in").await;

    browser.sign_in(&t.key).await;
    browser.goto("/console/agents").await;
    assert!(browser.has(".empty").await, "an empty list says what to do next");

    // A missing name is the route's error, beside the field.
    browser.fill("#field-owner", "platform").await;
    browser
        .click("form[action='/console/agents'] button[type=submit]")
        .await;
    assert!(browser.wait_for_text("#field-name-note .field-error", "").await);
    assert_eq!(
        browser
            .find("#field-name")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );

    browser.fill("#field-name", "researcher").await;
    browser.fill("#field-owner", "platform").await;
    browser.fill("#field-model_provider", "anthropic").await;
    browser
        .click("form[action='/console/agents'] button[type=submit]")
        .await;
    assert!(browser.wait_for_text(".secret", "shown once").await);
    let secret = browser.text(".secret-value").await;
    assert!(secret.starts_with("sk_live_"), "the agent's secret key: {secret}");
    browser.screenshot("agent-created").await;

    // The secret works: the agent gets a token with it.
    let agents = t.read(&t.key, "/v1/agents").await;
    let agent_id = agents["data"][0]["id"].as_str().unwrap().to_owned();
    let issued = t
        .as_key(reqwest::Method::POST, "/v1/tokens", &secret)
        .json(&json!({"agent_id": agent_id, "scope": ["docs.read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED, "{}", issued.text().await.unwrap());

    // Shown once: a reload of the list no longer has it.
    browser.goto("/console/agents").await;
    assert!(browser.wait_for_text("table", "researcher").await);
    assert!(!browser.source().await.contains(&secret));

    // Pause is immediate; revoke asks first.
    browser
        .click(&format!("form[action='/console/agents/{agent_id}/pause'] button"))
        .await;
    assert!(browser.wait_for_text("table", "paused").await);
    let asked = browser
        .click_and_confirm(&format!("form[action='/console/agents/{agent_id}/revoke'] button"))
        .await;
    assert!(asked.contains("cannot be undone"), "{asked}");
    assert!(browser.wait_for_text("table", "revoked").await);
    let agent = t.read(&t.key, &format!("/v1/agents/{agent_id}")).await;
    assert_eq!(agent["status"], "revoked");
    browser.close().await;
}

#[tokio::test]
async fn a_policy_with_a_bad_rule_shows_the_field_error_and_a_form_without_its_token_is_refused() {
    let t = dev_mesh().await;
    let browser = Browser::open(&t.base).await;
    browser.sign_in(&t.key).await;
    browser.goto("/console/policies").await;

    browser.fill("#field-name", "hold secrets").await;
    browser
        .fill(
            "#field-rules",
            r#"[{"match": {"scopes": ["secrets.*"]}, "effect": "sometimes"}]"#,
        )
        .await;
    browser
        .click("form[action='/console/policies'] button[type=submit]")
        .await;
    assert!(
        browser
            .wait_for_text("#field-rules-note .field-error", "rules[0].effect")
            .await
    );
    assert_eq!(
        browser
            .find("#field-rules")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    // What was typed is still there to fix.
    assert!(
        browser
            .find("#field-rules")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("sometimes")
    );
    browser.screenshot("policy-field-error").await;
    let listed = t.read(&t.key, "/v1/policies").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "nothing half-written");

    browser
        .fill(
            "#field-rules",
            r#"[{"match": {"scopes": ["secrets.*"]}, "effect": "require_approval"}]"#,
        )
        .await;
    browser
        .click("form[action='/console/policies'] button[type=submit]")
        .await;
    assert!(browser.wait_for_text(".notice.ok", "hold secrets").await);
    assert!(browser.wait_for_text("table", "hold secrets").await);

    // Edited in place: the saved form shows what the service stored.
    browser.click("table a").await;
    assert!(browser.wait_for_text("h1", "Edit policy").await);
    browser.fill("#field-priority", "700").await;
    browser.click("main form button[type=submit]").await;
    assert!(browser.wait_for_text(".notice.ok", "Saved.").await);
    let listed = t.read(&t.key, "/v1/policies").await;
    assert_eq!(listed["data"][0]["priority"], 700);
    browser.goto("/console/policies").await;

    // The dry run names the rule that decides.
    let agent = t
        .created(&t.key, "/v1/agents", json!({"name": "planner", "owner": "ops"}))
        .await;
    browser.fill("#field-agent_id", agent["id"].as_str().unwrap()).await;
    browser.fill("#field-scope", "secrets.read").await;
    browser
        .click("form[action='/console/policies/evaluate'] button[type=submit]")
        .await;
    assert!(browser.wait_for_text(".notice.ok", "require_approval").await);
    browser.screenshot("policies").await;

    // A form whose CSRF token was taken out is refused, and nothing is created.
    browser.goto("/console/api-keys").await;
    browser
        .run("document.querySelector(\"form[action='/console/api-keys'] input[name=csrf]\").remove()")
        .await;
    browser.fill("#field-name", "smuggled").await;
    browser
        .click("form[action='/console/api-keys'] button[type=submit]")
        .await;
    assert!(browser.wait_for_text("h1", "The form was refused").await);
    let keys = t.list_keys(&t.key).await;
    assert!(keys.iter().all(|key| key["name"] != "smuggled"));
    browser.close().await;
}

#[tokio::test]
async fn a_held_token_request_appears_live_is_approved_in_the_browser_and_the_agent_redeems_it() {
    let t = dev_mesh().await;
    t.created(
        &t.key,
        "/v1/policies",
        json!({"name": "people decide on secrets", "rules": [{"match": {"scopes": ["secrets.*"]}, "effect": "require_approval"}]}),
    )
    .await;
    let created = t
        .created(&t.key, "/v1/agents", json!({"name": "deployer", "owner": "platform"}))
        .await;
    let agent_id = created["id"].as_str().unwrap().to_owned();
    let agent_secret = created["secret_key"].as_str().unwrap().to_owned();

    let browser = Browser::open(&t.base).await;
    browser.sign_in(&t.key).await;
    browser.goto("/console/approvals").await;
    assert!(browser.wait_for_text("#queue", "Nothing is waiting").await);

    // The agent asks; the open page shows the request without a reload.
    let request = json!({"agent_id": agent_id, "scope": ["secrets.read"], "intent": "rotate the deploy key"});
    let held = t
        .as_key(reqwest::Method::POST, "/v1/tokens", &agent_secret)
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), StatusCode::ACCEPTED);
    let held: Value = held.json().await.unwrap();
    let approval_id = held["approval_id"].as_str().unwrap().to_owned();
    assert!(
        browser.wait_for_text("#queue", "rotate the deploy key").await,
        "the queue did not update by itself"
    );
    browser.screenshot("approvals").await;

    let asked = browser
        .click_and_confirm(&format!(
            "form[action='/console/approvals/{approval_id}/approve'] button"
        ))
        .await;
    assert!(asked.contains(&approval_id));
    assert!(browser.wait_for_text(".notice.ok", "Approved").await);

    // The agent redeems its approval for the token, once.
    let mut redeem = request.clone();
    redeem["approval_id"] = json!(approval_id);
    let issued = t
        .as_key(reqwest::Method::POST, "/v1/tokens", &agent_secret)
        .json(&redeem)
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED);
    let issued: Value = issued.json().await.unwrap();
    assert_eq!(issued["scope"], json!(["secrets.read"]));
    let again = t
        .as_key(reqwest::Method::POST, "/v1/tokens", &agent_secret)
        .json(&redeem)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The decision is the person's, in the audit log: the key the session signed in with.
    let approved = t.audit_entries_of(&t.key, "approval.approved", 1).await;
    assert!(
        approved[0]["actor"].as_str().unwrap().starts_with("key_"),
        "{}",
        approved[0]
    );
    browser.close().await;
}

#[tokio::test]
async fn every_page_renders_the_audit_chain_verifies_and_sign_out_ends_the_session_on_the_server() {
    let t = dev_mesh().await;
    // Something on every page.
    let agent = t
        .created(
            &t.key,
            "/v1/agents",
            json!({"name": "support-bot", "owner": "support", "model_provider": "anthropic"}),
        )
        .await;
    t.created(
        &t.key,
        "/v1/policies",
        json!({"name": "no deletes", "rules": [{"match": {"scopes": ["*.delete"]}, "effect": "deny"}]}),
    )
    .await;
    t.created(
        &t.key,
        "/v1/webhooks",
        json!({"url": "https://hooks.example.com/latchkey", "events": ["token.*"]}),
    )
    .await;
    t.created(&t.key, "/certificates", json!({"name": "ci signer"})).await;
    t.created(&t.key, "/v1/domains", json!({"domain": "example.com"})).await;
    t.created(&t.key, "/api/organizations", json!({"name": "Acme", "slug": "acme"}))
        .await;
    let issued = t
        .created(
            &t.key,
            "/v1/tokens",
            json!({"agent_id": agent["id"], "scope": ["docs.read"]}),
        )
        .await;
    t.audit_entries_at_least(&t.key, 7).await;

    let browser = Browser::open(&t.base).await;
    browser.sign_in(&t.key).await;
    let session = browser.session_cookie().await.expect("the session cookie");
    browser.screenshot("overview").await;
    // Each page with what it must show of the account's things.
    for (path, heading, shows, shot) in [
        (
            "/console/approvals",
            "Approvals",
            "Nothing is waiting",
            "approvals-empty",
        ),
        ("/console/agents", "Agents", "support-bot", "agents"),
        ("/console/tokens", "Tokens", "Issue a token", "tokens"),
        ("/console/policies", "Policies", "no deletes", "policies-list"),
        ("/console/connections", "Connections", "Anthropic", "connections"),
        ("/console/credentials", "Credentials", "openai", "credentials"),
        ("/console/audit", "Audit log", "agent.created", "audit"),
        ("/console/webhooks", "Webhooks", "hooks.example.com", "webhooks"),
        ("/console/api-keys", "API keys", "lk_live_", "api-keys"),
        ("/console/certificates", "Certificates", "ci signer", "certificates"),
        ("/console/domains", "Domains", "example.com", "domains"),
        ("/console/organizations", "Organizations", "Acme", "organizations"),
    ] {
        browser.goto(path).await;
        assert!(browser.wait_for_text("h1", heading).await, "{path}");
        assert!(
            browser.wait_for_text("main", shows).await,
            "{path} does not show {shows}: {}",
            browser.source().await
        );
        assert!(
            !browser.has(".notice.error").await,
            "{path} shows an error: {}",
            browser.source().await
        );
        browser.screenshot(shot).await;
    }

    // An endpoint's page: its deliveries, and a test event sent from it.
    browser.goto("/console/webhooks").await;
    browser.click("table a").await;
    assert!(browser.wait_for_text("h1", "Webhook endpoint").await);
    browser.click("form[action$='/test'] button").await;
    assert!(browser.wait_for_text(".notice.ok", "test event").await);
    browser.screenshot("webhook-endpoint").await;

    // The audit log filtered by type.
    browser.goto("/console/audit?type=agent.*").await;
    assert!(browser.wait_for_text("table.audit", "agent.created").await);
    assert!(
        !browser.source().await.contains("policy.created"),
        "the filter keeps other types out"
    );

    // A service added to an organization.
    browser.goto("/console/organizations").await;
    browser.click("details summary").await;
    browser.fill("#service-name-acme", "Main app").await;
    browser.fill("#service-slug-acme", "main-app").await;
    browser
        .click("form[action='/console/organizations/acme/services'] button")
        .await;
    assert!(browser.wait_for_text(".notice.ok", "Added Main app.").await);
    assert!(browser.wait_for_text("section.organization", "main-app").await);

    // A pasted token is verified.
    browser.goto("/console/tokens").await;
    browser.fill("#field-token", issued["token"].as_str().unwrap()).await;
    browser
        .click("form[action='/console/tokens/verify'] button[type=submit]")
        .await;
    assert!(browser.wait_for_text(".notice.ok", "Valid.").await);

    // The audit page verifies the chain.
    browser.goto("/console/audit").await;
    browser.click("form[action='/console/audit/verify'] button").await;
    assert!(browser.wait_for_text("[data-verified=true]", "The chain holds.").await);
    browser.screenshot("audit-verified").await;

    // On a phone's width the page still reads.
    browser.resize(390, 844).await;
    browser.goto("/console").await;
    browser.screenshot("overview-phone").await;
    browser.resize(1280, 900).await;

    // Sign-out ends the session on the server: the old cookie no longer opens anything.
    browser.goto("/console").await;
    browser.click("form.sign-out button:not([name])").await;
    assert!(browser.wait_for_text("h1", "Sign in").await);
    let http = plain_http();
    let replayed = page(&http, &t.base, &session, "/console/agents").await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert_eq!(replayed.headers()["location"], "/console/sign-in");
    browser.close().await;
}

#[tokio::test]
async fn another_accounts_resources_never_appear_and_cannot_be_touched_from_the_console() {
    let t = dev_mesh().await;
    let mine = t
        .created(
            &t.key,
            "/v1/agents",
            json!({"name": "first-account-agent", "owner": "a"}),
        )
        .await;
    let my_agent = mine["id"].as_str().unwrap().to_owned();
    let (_, other_key) = t.mesh.create_account("Second account").await.unwrap();

    let browser = Browser::open(&t.base).await;
    browser.sign_in(&other_key).await;
    browser.goto("/console/agents").await;
    assert!(browser.wait_for_text("main", "No agents yet").await);
    assert!(!browser.source().await.contains("first-account-agent"));
    browser.goto(&format!("/console/policies/{my_agent}")).await;
    assert!(browser.wait_for_text("h1", "not found").await);
    browser.close().await;

    // The second account posts, with its own valid token, against the first account's agent.
    let http = plain_http();
    let session = sign_in_over_http(&http, &t.base, &other_key).await;
    let agents_page = page(&http, &t.base, &session, "/console/agents")
        .await
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&agents_page);
    let revoke = http
        .post(format!("{}/console/agents/{my_agent}/revoke", t.base))
        .header("cookie", format!("lk_console={session}"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        revoke.status(),
        StatusCode::OK,
        "the agents page again, with the refusal"
    );
    assert!(revoke.text().await.unwrap().contains("not found"));
    let agent = t.read(&t.key, &format!("/v1/agents/{my_agent}")).await;
    assert_eq!(agent["status"], "active", "untouched");
}

#[tokio::test]
async fn connect_runs_the_providers_oauth_flow_and_comes_back_to_the_console() {
    let peer = OidcPeer::start().await;
    let t = TestMesh::start_with_oauth(
        Backend::Sqlite,
        Bus::Local,
        gateway_config(),
        crate::oauth::oauth_config(&peer),
    )
    .await;
    peer.register_client(&[&t.url("/oauth/callback")]).await;
    let issuer = peer.discovery_url().replace("/.well-known/openid-configuration", "");

    let browser = Browser::open(&t.base).await;
    browser.sign_in(&t.key).await;
    browser.goto("/console/connections").await;
    browser
        .click("form[action='/console/connections/oidc/connect'] button")
        .await;
    let at_provider = eventually(Duration::from_secs(20), || async {
        browser.url().await.starts_with(&issuer)
    })
    .await;
    assert!(
        at_provider,
        "Connect did not lead to the provider: {} {}",
        browser.url().await,
        browser.source().await.split("<main").nth(1).unwrap_or_default()
    );

    // The person logs in and consents on the provider's own pages, which send the browser to
    // Latchkey's callback, which sends it back to the console.
    let console_page = t.url("/console/connections");
    for _ in 0..6 {
        if browser.url().await.starts_with(&console_page) {
            break;
        }
        if browser.has("input[name=login]").await {
            browser.fill("input[name=login]", "ada").await;
            browser.fill("input[name=password]", "any").await;
        }
        let before = browser.source().await;
        browser.click("button[type=submit]").await;
        eventually(Duration::from_secs(10), || async { browser.source().await != before }).await;
    }
    assert!(
        browser.wait_for_text(".notice.ok", "Connected to oidc").await,
        "{}",
        browser.source().await
    );
    assert_eq!(browser.path().await, "/console/connections");
    assert!(browser.wait_for_text("table", "active").await);
    let fetched = t
        .as_key(reqwest::Method::POST, "/tokens/fetch", &t.key)
        .json(&json!({"provider": "oidc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), StatusCode::OK, "the connection serves tokens");

    browser
        .click_and_confirm("form[action='/console/connections/oidc/disconnect'] button")
        .await;
    assert!(browser.wait_for_text(".notice.ok", "Disconnected").await);
    assert!(browser.wait_for_text("table", "not connected").await);
    browser.close().await;
}

/// Sessions are agent-token's: a restarted mesh honours one, sign-out everywhere ends them all,
/// deleting the key it signed in with ends it, and its cookie is HttpOnly and SameSite=Strict.
async fn sessions_live_on_the_server(backend: Backend, bus: Bus) {
    let t = TestMesh::start(backend, bus).await;
    let http = plain_http();
    let sign_in = http.get(format!("{}/console/sign-in", t.base)).send().await.unwrap();
    let nonce = cookie_of(&sign_in, "lk_console_signin").unwrap();
    // Signing in without the sign-in page's own token is refused (login CSRF).
    let forged = http
        .post(format!("{}/console/sign-in", t.base))
        .form(&[("csrf", nonce.as_str()), ("credential", t.key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let signed_in = http
        .post(format!("{}/console/sign-in", t.base))
        .header("cookie", format!("lk_console_signin={nonce}"))
        .form(&[("csrf", nonce.as_str()), ("credential", t.key.as_str())])
        .send()
        .await
        .unwrap();
    let line = set_cookie_line(&signed_in, "lk_console");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/console"),
        "{line}"
    );
    assert!(!line.contains("Secure"), "plain http on loopback: {line}");
    let first = cookie_of(&signed_in, "lk_console").unwrap();
    let second = sign_in_over_http(&http, &t.base, &t.key).await;

    // Posted from another origin: refused even with the right token.
    let html = page(&http, &t.base, &first, "/console/api-keys")
        .await
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&html);
    let cross = http
        .post(format!("{}/console/api-keys", t.base))
        .header("cookie", format!("lk_console={first}"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str()), ("name", "cross-site")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    // A made-up session is no session (and its cookie is cleared); an oversize form is refused
    // before anything reads it.
    let forged_session = page(&http, &t.base, "lk_cs_made-up", "/console").await;
    assert_eq!(forged_session.headers()["location"], "/console/sign-in");
    assert!(set_cookie_line(&forged_session, "lk_console").contains("Max-Age=0"));
    let oversize = http
        .post(format!("{}/console/api-keys", t.base))
        .header("cookie", format!("lk_console={first}"))
        .form(&[("csrf", csrf.as_str()), ("name", &"x".repeat(300 * 1024))])
        .send()
        .await
        .unwrap();
    assert_eq!(oversize.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(t.list_keys(&t.key).await.iter().all(|key| key["name"] != "cross-site"));

    // The audit export comes down as a file.
    let export = page(&http, &t.base, &first, "/console/audit/export?format=csv").await;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(
        export.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert!(export.text().await.unwrap().starts_with("account_id,seq,"));

    let t = t.restart().await;
    assert_eq!(
        page(&http, &t.base, &first, "/console").await.status(),
        StatusCode::OK,
        "a restarted gateway honours it"
    );

    // A second gateway honours the session, and a sign-out there ends it here.
    let (second_gateway, _second) = t.another_gateway().await;
    let third = sign_in_over_http(&http, &t.base, &t.key).await;
    let on_second = page(&http, &second_gateway, &third, "/console").await;
    assert_eq!(on_second.status(), StatusCode::OK);
    let html = on_second.text().await.unwrap();
    let signed_out = http
        .post(format!("{second_gateway}/console/sign-out"))
        .header("cookie", format!("lk_console={third}"))
        .form(&[("csrf", csrf_in(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page(&http, &t.base, &third, "/console").await.headers()["location"],
        "/console/sign-in",
        "signed out on one gateway, out on every gateway"
    );

    // Everywhere: both sessions end.
    let html = page(&http, &t.base, &first, "/console").await.text().await.unwrap();
    let out = http
        .post(format!("{}/console/sign-out", t.base))
        .header("cookie", format!("lk_console={first}"))
        .form(&[("csrf", csrf_in(&html).as_str()), ("everywhere", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie_line(&out, "lk_console").contains("Max-Age=0"));
    for session in [&first, &second] {
        let after = page(&http, &t.base, session, "/console").await;
        assert_eq!(after.headers()["location"], "/console/sign-in");
    }

    // A session ends with the key it signed in with.
    let key = t.create_key(&t.key, "short-lived").await;
    let key_secret = key["key"].as_str().unwrap();
    let session = sign_in_over_http(&http, &t.base, key_secret).await;
    assert_eq!(
        page(&http, &t.base, &session, "/console").await.status(),
        StatusCode::OK
    );
    let deleted = t
        .as_key(
            reqwest::Method::DELETE,
            &format!("/v1/api-keys/{}", key["id"].as_str().unwrap()),
            &t.key,
        )
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let gone = eventually(Duration::from_secs(5), || async {
        page(&http, &t.base, &session, "/console").await.status() == StatusCode::SEE_OTHER
    })
    .await;
    assert!(gone, "the deleted key's session still opens the console");
}

#[tokio::test]
async fn console_sessions_live_on_the_server_sqlite() {
    sessions_live_on_the_server(Backend::Sqlite, Bus::Local).await;
}

#[tokio::test]
async fn console_sessions_live_on_the_server_postgres_nats() {
    sessions_live_on_the_server(Backend::Postgres, Bus::Nats).await;
}
