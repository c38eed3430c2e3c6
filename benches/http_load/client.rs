//! One keep-alive HTTP/1.1 connection of the load generator, and what one request's outcome was.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A request that has not finished by then counts as an error; it also bounds every loop.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Values a target's requests take in turn (each target counts its own).
#[derive(Debug, Clone)]
struct Turns<T> {
    values: Arc<[T]>,
    /// How many were taken.
    taken: Arc<AtomicUsize>,
}

impl<T> Turns<T> {
    fn new(values: Arc<[T]>) -> Self {
        Self {
            values,
            taken: Arc::default(),
        }
    }

    /// The next value; one alone is taken without counting.
    fn next(&self) -> &T {
        if self.values.len() == 1 {
            return &self.values[0];
        }
        let next = self.taken.fetch_add(1, Ordering::Relaxed);
        &self.values[next % self.values.len()]
    }

    /// Whether every one of several values was taken.
    fn all_taken(&self) -> bool {
        self.values.len() > 1 && self.taken.load(Ordering::Relaxed) >= self.values.len()
    }
}

/// What the generator sends, identical for every target apart from the address.
#[derive(Debug, Clone)]
pub struct Target {
    /// Label in the report: `floor` or `latchkey`, and the scenario.
    pub name: String,
    /// Loopback address of the server.
    pub addr: SocketAddr,
    pub method: Method,
    /// Path (and query) requested.
    pub path: Uri,
    /// Sent as `application/json` unless empty; several are sent in turn.
    bodies: Turns<Bytes>,
    /// `Host` header value.
    pub host: HeaderValue,
    /// `Authorization` header values, sent to the floor too so both see the same request bytes;
    /// several are sent in turn.
    authorizations: Turns<HeaderValue>,
    /// Sent with every request as they are.
    headers: Arc<[(HeaderName, HeaderValue)]>,
}

impl Target {
    /// Describes `request` to `addr`, with `Authorization: Bearer api_key` unless the request
    /// brings its own authorizations.
    pub fn new(
        name: String,
        addr: SocketAddr,
        request: &crate::scenario::Request,
        api_key: &str,
    ) -> anyhow::Result<Self> {
        let authorizations = if request.authorizations.is_empty() {
            let mut authorization = HeaderValue::try_from(format!("Bearer {api_key}"))?;
            authorization.set_sensitive(true);
            Arc::from([authorization])
        } else {
            Arc::clone(&request.authorizations)
        };
        Ok(Self {
            name,
            addr,
            method: request.method.clone(),
            path: Uri::try_from(request.path.as_str())?,
            bodies: Turns::new(if request.rotating.is_empty() {
                Arc::from([request.body.clone()])
            } else {
                Arc::from(request.rotating.as_slice())
            }),
            host: HeaderValue::try_from(addr.to_string())?,
            authorizations: Turns::new(authorizations),
            headers: Arc::from(request.headers.as_slice()),
        })
    }

    /// Whether requests took every one of the request's authorizations, so the last, which the
    /// set-up sample used, was sent again (and a single-use credential refused).
    pub fn used_up_authorizations(&self) -> bool {
        self.authorizations.all_taken()
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx response, body read to the end.
    Success,
    /// A complete response with another status.
    Status(StatusCode),
    /// Connect, write or read failed; the connection is unusable.
    Transport,
    /// No complete response within [`REQUEST_TIMEOUT`]; the connection is abandoned.
    Timeout,
    /// Open loop only: so many requests were outstanding that the generator refused to open
    /// another connection (see `open_loop::MAX_CONNECTIONS`).
    PoolExhausted,
}

impl Outcome {
    /// Whether the connection may carry another request.
    pub fn keeps_connection(self) -> bool {
        matches!(self, Self::Success | Self::Status(_))
    }
}

/// An open HTTP/1.1 connection carrying one request at a time.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects to `target` and completes the HTTP/1.1 handshake.
    pub async fn open(target: &Target) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(target.addr).await?;
        // Requests are tiny and latency is the point: never let Nagle hold one back.
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors surface on the sender.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Sends the target's request, reads the whole body and says how it went.
    pub async fn send(&mut self, target: &Target) -> Outcome {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(target)).await {
            Ok(Ok(status)) if status.is_success() => Outcome::Success,
            Ok(Ok(status)) => Outcome::Status(status),
            Ok(Err(_)) => Outcome::Transport,
            Err(_) => Outcome::Timeout,
        }
    }

    async fn exchange(&mut self, target: &Target) -> Result<StatusCode, hyper::Error> {
        self.sender.ready().await?;
        let body = target.bodies.next().clone();
        let json = !body.is_empty();
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = target.method.clone();
        *request.uri_mut() = target.path.clone();
        if json {
            request
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let headers = request.headers_mut();
        headers.insert(HOST, target.host.clone());
        headers.insert(AUTHORIZATION, target.authorizations.next().clone());
        for (name, value) in target.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        Ok(status)
    }
}
