//! What is benchmarked: one request, repeated. Each scenario prepares what its request needs on a
//! fresh `latchkey dev` (keys to list, an agent and a token to verify, certificate JWTs, an OAuth
//! connection, a provider to proxy to) and names the issue targets its figures are judged against.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::Method;
use hyper::header::{HeaderName, HeaderValue};

use crate::config::BenchConfig;
use crate::latchkey::Latchkey;

/// A benchmarked request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Issue 2: an authenticated `GET /v1/api-keys` listing six keys: every layer of a read.
    ApiKeys,
    /// Issue 3: `POST /v1/tokens/verify` of a valid token with a required scope: the gateway's
    /// offline verification.
    Verify,
    /// Issue 17: `POST /v1/tokens/verify` of tokens the gateway has not seen before: each request
    /// sends the next of [`FRESH_TOKENS`] distinct tokens, more than the bench lets the gateway
    /// remember ([`FRESH_CACHE_ENTRIES`]), so every verification checks the Ed25519 signature.
    VerifyFresh,
    /// Issue 3: `POST /v1/tokens` with one active allow policy matching the request: agent lookup,
    /// the policy service's decision over gRPC (compiled policies in memory), signing, and the
    /// `token.issued` outbox write. On `latchkey dev` this is the SQLite figure.
    Issue,
    /// Issue 4: `POST /tokens/fetch` of a valid stored OAuth token: the connection row, the vault
    /// opening the token set, the expiry check; no provider call.
    TokensFetch,
    /// Issue 17: `api_keys`' `GET /v1/api-keys`, authenticated by a certificate JWT instead of the
    /// API key. A JWT is single-use (its `jti` is recorded and a second use refused), so each
    /// request sends the next of a set signed up front ([`cert_jwts`]): every request costs
    /// agent-token a certificate lookup, a signature check and the `jti` insert, which nothing
    /// caches. Target: throughput within 25% of `api_keys`' in the same run.
    CertRead,
    /// Issue 17: `GET /ai/context/summary` for an account with an OAuth connection: the catalogue,
    /// the account's connections and its stored keys (oauth and vault over gRPC), summarised.
    ContextSummary,
    /// Issue 17: an MCP `tools/call` of `fetch_token` on `/mcp` (stateless streamable HTTP: no
    /// session, one JSON-RPC POST answered with JSON): rmcp's transport and the tool calling
    /// `POST /tokens/fetch` in the gateway's process, answering the OAuth connection's token.
    McpFetchToken,
    /// Issue 17: the credential proxy's added latency: `GET /proxy/{provider}/{service}/{path}` to a
    /// provider the bench runs itself, with a stored API key added on the way, beside the same
    /// provider called directly (this scenario's floor) at the same open-loop rate. Target: p99
    /// at most 1 ms above the direct call's at 2,000 requests/s.
    Proxy,
}

/// What one scenario's figures must reach (reported, never enforced).
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// Latchkey's closed-loop throughput at least this share of the floor's.
    pub throughput_percent_of_floor: Option<f64>,
    /// Latchkey's closed-loop throughput at least this share of another scenario's in the same
    /// run (judged only when both ran).
    pub throughput_percent_of_scenario: Option<(Scenario, f64)>,
    /// Open-loop p99 at most this, at [`Self::p99_rate`]; `None`: no target, the p99 is reported.
    pub p99_ms: Option<f64>,
    /// The rate the p99 is judged at, and the scenario's default open-loop rate.
    pub p99_rate: u64,
    /// Whether [`Self::p99_ms`] bounds what Latchkey adds to the floor's p99 (Latchkey's open-loop
    /// p99 minus the floor's at the same rate) rather than Latchkey's own p99.
    pub p99_added: bool,
}

/// The request a scenario repeats, identical for Latchkey and the floor (but for the proxy's,
/// whose floor is its upstream: see [`Request::upstream`]).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    /// Empty for a GET; JSON otherwise.
    pub body: Bytes,
    /// When not empty, the bodies requests take in turn instead of `body` (`body` is the first).
    pub rotating: Vec<Bytes>,
    /// When not empty, the `Authorization` values requests take in turn instead of the account's
    /// API key, each once while they last (certificate JWTs are single-use). The set-up sample
    /// takes the last, which the load reaches only after using up all the others.
    pub authorizations: Arc<[HeaderValue]>,
    /// Headers sent with every request besides `Host`, `Authorization` and `Content-Type`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The proxy's upstream: measured directly as the scenario's floor, instead of a bare server
    /// replaying Latchkey's answer.
    pub upstream: Option<UpstreamCall>,
}

/// A server Latchkey forwards the request to, and the path it asks there.
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    pub addr: SocketAddr,
    pub path: String,
}

impl Request {
    /// `GET path` with the account's API key.
    pub fn get(path: &str) -> Self {
        Self {
            method: Method::GET,
            path: path.to_owned(),
            body: Bytes::new(),
            rotating: Vec::new(),
            authorizations: Arc::from([]),
            headers: Vec::new(),
            upstream: None,
        }
    }

    /// `POST path` with `body` as JSON and the account's API key.
    pub fn post(path: &str, body: &serde_json::Value) -> anyhow::Result<Self> {
        Ok(Self {
            method: Method::POST,
            body: Bytes::from(serde_json::to_vec(body)?),
            ..Self::get(path)
        })
    }

    /// The same request sent straight to its upstream (the proxy's floor), or `None`.
    pub fn direct(&self) -> Option<(SocketAddr, Self)> {
        let upstream = self.upstream.as_ref()?;
        let request = Self {
            path: upstream.path.clone(),
            upstream: None,
            ..self.clone()
        };
        Some((upstream.addr, request))
    }
}

/// The keys `api_keys` and `cert_read` list: the bootstrap key and five more.
pub const API_KEYS_LISTED: usize = 6;

/// The distinct tokens `verify_fresh` cycles through.
pub const FRESH_TOKENS: usize = 2_000;

/// The authentic-token cache the bench gives the gateway (`gateway.verified_token_cache`): fewer
/// entries than [`FRESH_TOKENS`], so going round them never finds one (the cache is emptied when
/// full), while `verify`'s single token is always found.
pub const FRESH_CACHE_ENTRIES: usize = 1_000;

/// More requests per second than `cert_read`'s closed loop reaches on the machines this bench runs
/// on: with the open loop's rate, it sizes the set of single-use JWTs. Should a faster machine go
/// through them, the run says so (and the replays show as 401 errors).
pub const CERT_READ_PEAK_BOUND: u64 = 12_000;

/// How many certificate JWTs `cert_read` signs for a run of `config`: enough for a closed loop at
/// [`CERT_READ_PEAK_BOUND`] and the open loop at its rate, warm-up included, and the sample.
pub fn cert_jwts(config: &BenchConfig) -> usize {
    let seconds = (config.warmup + config.measure).as_secs_f64();
    let per_second = CERT_READ_PEAK_BOUND + config.rate_of(Scenario::CertRead);
    (seconds * per_second as f64).ceil() as usize + 1
}

impl Scenario {
    pub const ALL: [Self; 9] = [
        Self::ApiKeys,
        Self::Verify,
        Self::VerifyFresh,
        Self::Issue,
        Self::TokensFetch,
        Self::CertRead,
        Self::ContextSummary,
        Self::McpFetchToken,
        Self::Proxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ApiKeys => "api_keys",
            Self::Verify => "verify",
            Self::VerifyFresh => "verify_fresh",
            Self::Issue => "issue",
            Self::TokensFetch => "tokens_fetch",
            Self::CertRead => "cert_read",
            Self::ContextSummary => "context_summary",
            Self::McpFetchToken => "mcp_fetch_token",
            Self::Proxy => "proxy",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scenario| scenario.name() == name)
    }

    pub fn targets(self) -> Targets {
        let judged = |p99_ms: f64, p99_rate: u64| Targets {
            throughput_percent_of_floor: None,
            throughput_percent_of_scenario: None,
            p99_ms: Some(p99_ms),
            p99_rate,
            p99_added: false,
        };
        // Issue 17 sets no latency target for these; their p99 is reported at a rate they serve.
        let reported = |p99_rate: u64| Targets {
            p99_ms: None,
            ..judged(0.0, p99_rate)
        };
        match self {
            Self::ApiKeys => Targets {
                throughput_percent_of_floor: Some(50.0),
                ..judged(2.0, 5000)
            },
            Self::Verify => judged(1.0, 10_000),
            // Issue 17 asks ≥ 80% of raw `verify_strict` on the same cores, which this run does not
            // measure (the `verify` criterion bench does); the p99 is reported at a rate those cores
            // can verify.
            Self::VerifyFresh => judged(1.0, 5_000),
            Self::Issue => judged(5.0, 5000),
            Self::TokensFetch => judged(2.0, 5000),
            // Within 25% of the same read with the API key: at least 75% of its peak. Every request
            // writes its `jti`, so it serves far fewer than api_keys' 5,000/s on SQLite; its p99
            // is taken at under half its peak on the issue-17 machine.
            Self::CertRead => Targets {
                throughput_percent_of_scenario: Some((Self::ApiKeys, 75.0)),
                ..reported(2000)
            },
            // At tokens_fetch's rate: the MCP call is that route behind rmcp, so the p99s compare.
            Self::ContextSummary => reported(5000),
            Self::McpFetchToken => reported(5000),
            Self::Proxy => Targets {
                p99_added: true,
                ..judged(1.0, 2000)
            },
        }
    }

    /// Creates what the request needs and answers it; `config` sizes what a run uses up.
    pub async fn prepare(self, latchkey: &Latchkey, config: &BenchConfig) -> anyhow::Result<Request> {
        match self {
            Self::ApiKeys => {
                latchkey.ensure_keys(API_KEYS_LISTED).await?;
                Ok(Request::get("/v1/api-keys"))
            }
            Self::Verify => {
                let token = latchkey.issue_token(&["bench.read"]).await?;
                let body = serde_json::json!({ "token": token, "required_scope": ["bench.read"] });
                Request::post("/v1/tokens/verify", &body)
            }
            Self::VerifyFresh => {
                let mut rotating = Vec::with_capacity(FRESH_TOKENS);
                for token in latchkey.issue_tokens(&["bench.read"], FRESH_TOKENS).await? {
                    let body = serde_json::json!({ "token": token, "required_scope": ["bench.read"] });
                    rotating.push(Bytes::from(serde_json::to_vec(&body)?));
                }
                Ok(Request {
                    method: Method::POST,
                    body: rotating[0].clone(),
                    rotating,
                    ..Request::get("/v1/tokens/verify")
                })
            }
            Self::Issue => {
                let agent_id = latchkey.agent_with_allow_policy("bench.*").await?;
                let body = serde_json::json!({ "agent_id": agent_id, "scope": ["bench.read"], "ttl": 300 });
                Request::post("/v1/tokens", &body)
            }
            Self::TokensFetch => {
                latchkey.connect_oidc().await?;
                Request::post("/tokens/fetch", &serde_json::json!({ "provider": "oidc" }))
            }
            Self::CertRead => {
                // The same page api_keys lists, whichever of the two runs first.
                latchkey.ensure_keys(API_KEYS_LISTED).await?;
                Ok(Request {
                    authorizations: latchkey.certificate_jwts(cert_jwts(config)).await?.into(),
                    ..Request::get("/v1/api-keys")
                })
            }
            Self::ContextSummary => {
                latchkey.connect_oidc().await?;
                Ok(Request::get("/ai/context/summary"))
            }
            Self::McpFetchToken => latchkey.mcp_fetch_token().await,
            Self::Proxy => latchkey.proxied_request().await,
        }
    }
}
