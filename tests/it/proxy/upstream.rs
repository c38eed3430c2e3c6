//! A provider's API the tests run themselves: it records every request it gets (so a test can see
//! what the proxy sent) and answers as a provider might, including badly: an echo of the request
//! (credential and all), cookies and credential-like headers, a body past the proxy's limit.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

/// One request as the provider got it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|value| value.to_str().unwrap().to_owned())
    }
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

pub(crate) struct Upstream {
    port: u16,
    log: Log,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(State(log): State<Log>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    log.0.lock().unwrap().push(seen.clone());
    let last = seen.path.rsplit('/').next().unwrap_or_default();
    match last {
        // Quotes every header it got, as a debugging endpoint would.
        "echo" => {
            let echoed: String = seen
                .headers
                .iter()
                .map(|(name, value)| format!("{name}: {}\n", value.to_str().unwrap_or("?")))
                .collect();
            echoed.into_response()
        }
        "big" => Bytes::from(vec![b'y'; 8192]).into_response(),
        "missing" => (StatusCode::NOT_FOUND, r#"{"error":"no such thing"}"#).into_response(),
        _ => (
            [
                ("content-type", "application/json"),
                ("set-cookie", "session=provider-session"),
                ("x-api-key", "provider-echoed-key"),
                ("x-provider", "acme-upstream"),
            ],
            format!(r#"{{"ok":true,"path":"{}"}}"#, seen.path),
        )
            .into_response(),
    }
}

impl Upstream {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Log::default();
        let app = Router::new().fallback(answer).with_state(log.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { port, log, server }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn last(&self) -> Seen {
        self.log
            .0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the provider got a request")
    }

    pub(crate) fn count(&self) -> usize {
        self.log.0.lock().unwrap().len()
    }
}
