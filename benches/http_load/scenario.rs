//! What is benchmarked: one request, repeated. Each scenario prepares what its request needs on a
//! fresh `latchkey dev` (keys to list, an agent and a token to verify) and names the issue targets
//! its figures are judged against.

use bytes::Bytes;
use hyper::Method;

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
}

/// What one scenario's figures must reach (reported, never enforced).
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// Latchkey's closed-loop throughput at least this share of the floor's.
    pub throughput_percent_of_floor: Option<f64>,
    /// Open-loop p99 at most this, at [`Self::p99_rate`].
    pub p99_ms: f64,
    pub p99_rate: u64,
}

/// The request a scenario repeats, identical for Latchkey and the floor.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    /// Empty for a GET; JSON otherwise.
    pub body: Bytes,
    /// When not empty, the bodies requests take in turn instead of `body` (`body` is the first).
    pub rotating: Vec<Bytes>,
}

/// The distinct tokens `verify_fresh` cycles through.
pub const FRESH_TOKENS: usize = 2_000;

/// The authentic-token cache the bench gives the gateway (`gateway.verified_token_cache`): fewer
/// entries than [`FRESH_TOKENS`], so going round them never finds one (the cache is emptied when
/// full), while `verify`'s single token is always found.
pub const FRESH_CACHE_ENTRIES: usize = 1_000;

impl Scenario {
    pub const ALL: [Self; 5] = [
        Self::ApiKeys,
        Self::Verify,
        Self::VerifyFresh,
        Self::Issue,
        Self::TokensFetch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ApiKeys => "api_keys",
            Self::Verify => "verify",
            Self::VerifyFresh => "verify_fresh",
            Self::Issue => "issue",
            Self::TokensFetch => "tokens_fetch",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scenario| scenario.name() == name)
    }

    pub fn targets(self) -> Targets {
        match self {
            Self::ApiKeys => Targets {
                throughput_percent_of_floor: Some(50.0),
                p99_ms: 2.0,
                p99_rate: 5000,
            },
            Self::Verify => Targets {
                throughput_percent_of_floor: None,
                p99_ms: 1.0,
                p99_rate: 10_000,
            },
            // Issue 17 asks ≥ 80% of raw `verify_strict` on the same cores, which this run does not
            // measure (the `verify` criterion bench does); the p99 is reported at a rate those cores
            // can verify.
            Self::VerifyFresh => Targets {
                throughput_percent_of_floor: None,
                p99_ms: 1.0,
                p99_rate: 5_000,
            },
            Self::Issue => Targets {
                throughput_percent_of_floor: None,
                p99_ms: 5.0,
                p99_rate: 5000,
            },
            Self::TokensFetch => Targets {
                throughput_percent_of_floor: None,
                p99_ms: 2.0,
                p99_rate: 5000,
            },
        }
    }

    /// Creates what the request needs and answers it.
    pub async fn prepare(self, latchkey: &Latchkey) -> anyhow::Result<Request> {
        match self {
            Self::ApiKeys => {
                latchkey.create_keys(5).await?;
                Ok(Request {
                    method: Method::GET,
                    path: "/v1/api-keys".to_owned(),
                    body: Bytes::new(),
                    rotating: Vec::new(),
                })
            }
            Self::Verify => {
                let token = latchkey.issue_token(&["bench.read"]).await?;
                let body = serde_json::json!({ "token": token, "required_scope": ["bench.read"] });
                Ok(Request {
                    method: Method::POST,
                    path: "/v1/tokens/verify".to_owned(),
                    body: Bytes::from(serde_json::to_vec(&body)?),
                    rotating: Vec::new(),
                })
            }
            Self::VerifyFresh => {
                let mut rotating = Vec::with_capacity(FRESH_TOKENS);
                for token in latchkey.issue_tokens(&["bench.read"], FRESH_TOKENS).await? {
                    let body = serde_json::json!({ "token": token, "required_scope": ["bench.read"] });
                    rotating.push(Bytes::from(serde_json::to_vec(&body)?));
                }
                Ok(Request {
                    method: Method::POST,
                    path: "/v1/tokens/verify".to_owned(),
                    body: rotating[0].clone(),
                    rotating,
                })
            }
            Self::Issue => {
                let agent_id = latchkey.agent_with_allow_policy("bench.*").await?;
                let body = serde_json::json!({ "agent_id": agent_id, "scope": ["bench.read"], "ttl": 300 });
                Ok(Request {
                    method: Method::POST,
                    path: "/v1/tokens".to_owned(),
                    body: Bytes::from(serde_json::to_vec(&body)?),
                    rotating: Vec::new(),
                })
            }
            Self::TokensFetch => {
                latchkey.connect_oidc().await?;
                let body = serde_json::json!({ "provider": "oidc" });
                Ok(Request {
                    method: Method::POST,
                    path: "/tokens/fetch".to_owned(),
                    body: Bytes::from(serde_json::to_vec(&body)?),
                    rotating: Vec::new(),
                })
            }
        }
    }
}
