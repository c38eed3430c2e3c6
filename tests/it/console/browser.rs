//! A real browser for the console's tests: Debian's chromium, headless, driven through its
//! chromedriver (both installed by .ci/peers) with fantoccini. Each test gets its own chromedriver
//! on a free port and its own browser profile, so tests run side by side.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use latchkey_test_support::eventually;
use serde_json::json;

use crate::binary::{Process, free_port};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a page may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

pub(crate) struct Browser {
    client: Client,
    base: String,
    _driver: Process,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A fresh headless chromium at 1280×900, on the console served at `base`.
    pub(crate) async fn open(base: &str) -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the console's browser tests need Debian's chromium and chromium-driver: `bash .ci/peers` installs them"
        );
        let port = free_port();
        let driver = Process(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        assert!(
            eventually(Duration::from_secs(20), || async {
                matches!(http.get(format!("{driver_url}/status")).send().await, Ok(r) if r.status() == 200)
            })
            .await,
            "chromedriver did not start"
        );
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // Confirmation dialogs stay open until a test answers them.
        capabilities.insert("unhandledPromptBehavior".to_owned(), json!("ignore"));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .expect("open a chromium session");
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            _driver: driver,
            _profile: profile,
        }
    }

    pub(crate) async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect(path);
    }

    pub(crate) async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub(crate) async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    pub(crate) async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css} on the page: {error}"))
    }

    /// Whether the page has an element matching `css` right now.
    pub(crate) async fn has(&self, css: &str) -> bool {
        !self.client.find_all(Locator::Css(css)).await.unwrap().is_empty()
    }

    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub(crate) async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Clicks a button whose form asks for confirmation, and confirms.
    pub(crate) async fn click_and_confirm(&self, css: &str) -> String {
        self.click(css).await;
        let asked = eventually(PATIENCE, || async { self.client.get_alert_text().await.is_ok() }).await;
        assert!(asked, "{css} asked for no confirmation");
        let question = self.client.get_alert_text().await.unwrap();
        self.client.accept_alert().await.unwrap();
        question
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// The page's HTML as the browser has it now.
    pub(crate) async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Waits until an element matching `css` contains `needle` (the page may change by itself).
    pub(crate) async fn wait_for_text(&self, css: &str, needle: &str) -> bool {
        eventually(PATIENCE, || async {
            match self.client.find_all(Locator::Css(css)).await {
                Ok(elements) => {
                    for element in elements {
                        if element.text().await.is_ok_and(|text| text.contains(needle)) {
                            return true;
                        }
                    }
                    false
                }
                Err(_) => false,
            }
        })
        .await
    }

    /// Runs `script` in the page.
    pub(crate) async fn run(&self, script: &str) {
        self.client.execute(script, vec![]).await.unwrap();
    }

    /// The session cookie's value (HttpOnly: the page cannot read it, WebDriver can).
    pub(crate) async fn session_cookie(&self) -> Option<String> {
        self.client
            .get_named_cookie("lk_console")
            .await
            .ok()
            .map(|cookie| cookie.value().to_owned())
    }

    pub(crate) async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    /// Signs in with `key` from the sign-in page.
    pub(crate) async fn sign_in(&self, key: &str) {
        self.goto("/console/sign-in").await;
        self.fill("#credential", key).await;
        self.click("form button[type=submit]").await;
        if !self.wait_for_text("h1", "Overview").await {
            panic!(
                "signing in did not reach the overview: {} {}",
                self.path().await,
                self.source().await
            );
        }
    }

    /// A PNG of the page as shown, written as `name`.png to the screenshot directory
    /// (`LATCHKEY_CONSOLE_SCREENSHOTS`, e.g. docs/console via `make screenshots`; a temporary
    /// directory otherwise), after checking it is a real picture.
    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 4096,
            "{name}: not a picture"
        );
        let dir = std::env::var_os("LATCHKEY_CONSOLE_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("latchkey-console-screenshots"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub(crate) async fn close(self) {
        let _ = self.client.close().await;
    }
}
