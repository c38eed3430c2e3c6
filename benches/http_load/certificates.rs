//! Certificate JWTs for the `cert_read` scenario: a certificate of the account with the default
//! algorithm, RS256 (RSA 2048, the cheapest of the five for agent-token to verify), and JWTs signed
//! with its private key as agent-token checks them (services/agent-token/src/certificates/jwt.rs):
//! `kid` in the header, `iss` and `sub` the account, `aud` the deployment's public URL, `iat` now,
//! `exp` an hour on (the longest accepted), and a distinct `jti` each, since agent-token records
//! every `jti` and refuses a second use.
//!
//! They are signed before the run, on every core, with the key parsed once (aws-lc-rs, as
//! agent-token generates it): a quarter of a millisecond each on these cores, so a default run's
//! set takes some seconds.

use std::time::Instant;

use anyhow::{Context, anyhow};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::header::HeaderValue;
use serde::Serialize;

use crate::children;
use crate::latchkey::Latchkey;

/// The certificate's algorithm and every JWT's `alg`.
const ALGORITHM: &str = "RS256";
/// `exp` − `iat`: the most agent-token accepts.
const LIFETIME_SECS: u64 = 3600;

/// A certificate JWT's claims.
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

/// What signing needs.
struct Signer {
    key: RsaKeyPair,
    /// The JWT's first part: its header, base64url.
    header: String,
    account: String,
    audience: String,
    issued_at: u64,
}

impl Latchkey {
    /// Creates a certificate and answers `count` distinct JWTs signed with it, as `Authorization`
    /// values.
    pub async fn certificate_jwts(&self, count: usize) -> anyhow::Result<Vec<HeaderValue>> {
        let body = serde_json::json!({ "name": "bench certificate", "algorithm": ALGORITHM });
        let certificate = self.post("/certificates", body).await?;
        let field = |name: &str| {
            certificate[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("the created certificate has no {name}"))
        };
        let header = serde_json::json!({ "alg": ALGORITHM, "typ": "JWT", "kid": field("kid")? });
        let private_key = pem_der(&field("privateKey")?)?;
        let signer = Signer {
            key: RsaKeyPair::from_pkcs8(&private_key).map_err(|error| anyhow!("the private key: {error}"))?,
            header: URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            account: field("account")?,
            audience: self.public_url().await?,
            issued_at: u64::try_from(chrono::Utc::now().timestamp())?,
        };
        let started = Instant::now();
        let jwts = tokio::task::spawn_blocking(move || signer.sign(count)).await??;
        eprintln!(
            "cert_read: signed {count} certificate JWTs in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(jwts)
    }

    /// The deployment's public URL, which agent-token expects as `aud`, as the MCP metadata names
    /// it (`resource` is `{public_url}/mcp`).
    async fn public_url(&self) -> anyhow::Result<String> {
        let metadata: serde_json::Value = children::setup_client()?
            .get(self.url("/.well-known/oauth-protected-resource"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        metadata["resource"]
            .as_str()
            .and_then(|resource| resource.strip_suffix("/mcp"))
            .map(str::to_owned)
            .context("the protected-resource metadata names no `{public_url}/mcp`")
    }
}

/// The DER inside a PEM block (here PKCS#8, `-----BEGIN PRIVATE KEY-----`).
fn pem_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    let base64: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(base64).context("the private key is not PEM")
}

impl Signer {
    /// `count` JWTs, signed on every core.
    fn sign(&self, count: usize) -> anyhow::Result<Vec<HeaderValue>> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let per_thread = count.div_ceil(threads);
        let chunks: Vec<anyhow::Result<Vec<HeaderValue>>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|thread| {
                    let range = (thread * per_thread).min(count)..((thread + 1) * per_thread).min(count);
                    scope.spawn(move || range.map(|_| self.one()).collect())
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a signing thread panicked")))
                })
                .collect()
        });
        let mut jwts = Vec::with_capacity(count);
        for chunk in chunks {
            jwts.extend(chunk?);
        }
        Ok(jwts)
    }

    fn one(&self) -> anyhow::Result<HeaderValue> {
        let claims = Claims {
            iss: &self.account,
            sub: &self.account,
            aud: &self.audience,
            iat: self.issued_at,
            exp: self.issued_at + LIFETIME_SECS,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let signed = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| anyhow!("signing a JWT failed"))?;
        let mut value = HeaderValue::try_from(format!("Bearer {signed}.{}", URL_SAFE_NO_PAD.encode(signature)))?;
        value.set_sensitive(true);
        Ok(value)
    }
}
