//! `latchkey audit verify`: recomputes an account's audit chain outside the service: from an
//! exported file (JSON Lines, CSV or the JSON document) with no server at all, or from the live export of a running deployment, streamed
//! through the verifier a line at a time. A kept checkpoint (JSON, as `GET
//! /v1/audit/checkpoints/latest` answers it) is checked too: its signature against the audit
//! checkpoint keys (`GET /v1/audit/checkpoints/jwks.json`, never the token JWKS), and its hash
//! against the chain, which catches a history rewritten with recomputed hashes.

use std::{
    io::{BufRead, Read},
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use latchkey_audit::{ChainVerifier, Checkpoint, ExportVerifier, Verification, export::CSV_HEADER, verify_json_export};
use serde::Serialize;

/// Where a deployment publishes the keys that sign audit checkpoints (apart from the token JWKS).
pub const CHECKPOINT_KEYS_PATH: &str = "/v1/audit/checkpoints/jwks.json";

/// Where the chain comes from, and what to hold it against.
#[derive(Debug, Default)]
pub struct VerifyOptions {
    /// An export file: JSON Lines, CSV, or the JSON document (`format=json`).
    pub file: Option<PathBuf>,
    /// The base URL of a running deployment's REST API.
    pub url: Option<String>,
    /// The account API key for `url`.
    pub key: Option<String>,
    /// A checkpoint kept from earlier.
    pub checkpoint: Option<PathBuf>,
    /// The checkpoint keys (a JWKS, as `GET /v1/audit/checkpoints/jwks.json` answers it) to check
    /// the checkpoint's signature with; default: the deployment's, when `url` is given.
    pub jwks: Option<PathBuf>,
}

/// What the verification found, printed as JSON.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub valid: bool,
    pub account_id: Option<String>,
    pub entries_checked: i64,
    /// The first entry whose link or hash does not hold.
    pub first_broken_seq: Option<i64>,
    pub head_seq: i64,
    pub head_hash: String,
    /// The kept checkpoint's seq, when one was given and its signature verified.
    pub checkpoint_seq: Option<i64>,
    /// Whether the chain has the checkpoint's hash at its seq.
    pub checkpoint_matches: Option<bool>,
}

impl VerifyReport {
    fn new(verification: Verification, account_id: Option<String>, checkpoint: Option<&Checkpoint>) -> Self {
        Self {
            valid: verification.is_valid(),
            account_id,
            entries_checked: verification.entries_checked,
            first_broken_seq: verification.first_broken_seq,
            head_seq: verification.head_seq,
            head_hash: verification.head_hash,
            checkpoint_seq: checkpoint.map(|c| c.seq),
            checkpoint_matches: checkpoint.map(|_| verification.first_contradicted_checkpoint.is_none()),
        }
    }
}

/// Runs the verification `options` describe.
pub async fn verify(options: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    let http = reqwest::Client::new();
    let base = options.url.as_deref().map(|url| url.trim_end_matches('/').to_owned());
    let checkpoint = match &options.checkpoint {
        None => None,
        Some(path) => {
            let checkpoint = read_checkpoint(path)?;
            let keys = match (&options.jwks, &base) {
                (Some(jwks), _) => jwks_keys(&read_json(jwks)?)?,
                (None, Some(base)) => {
                    let jwks = http
                        .get(format!("{base}{CHECKPOINT_KEYS_PATH}"))
                        .send()
                        .await
                        .context("fetching the checkpoint keys")?
                        .error_for_status()?
                        .json()
                        .await
                        .context("reading the checkpoint keys")?;
                    jwks_keys(&jwks)?
                }
                (None, None) => bail!(
                    "checking a checkpoint offline needs the checkpoint keys ({CHECKPOINT_KEYS_PATH}): pass --jwks FILE"
                ),
            };
            checkpoint
                .verify_signature(&keys)
                .context("the checkpoint's signature does not verify: it is not one the audit service signed")?;
            Some(checkpoint)
        }
    };
    let chain = match &checkpoint {
        Some(checkpoint) => ChainVerifier::new().with_checkpoints([(checkpoint.seq, checkpoint.hash.as_str())]),
        None => ChainVerifier::new(),
    };
    let mut export = ExportVerifier::new(chain);
    match (&options.file, &base) {
        (Some(file), _) => verify_file(file, &mut export)?,
        (None, Some(base)) => {
            let key = options
                .key
                .as_deref()
                .context("verifying the live log needs an API key: pass --key or set LATCHKEY_API_KEY")?;
            let mut response = http
                .get(format!("{base}/v1/audit/export?format=jsonl"))
                .bearer_auth(key)
                .send()
                .await
                .context("requesting the export")?;
            if !response.status().is_success() {
                bail!("the export answered {}", response.status());
            }
            // Lines as they arrive: the export is never held whole.
            let mut pending: Vec<u8> = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(anyhow::Error::from)
                .context("the export stream broke off")?
            {
                pending.extend_from_slice(&chunk);
                // Every complete line so far, read at once (on every core when there are many).
                if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
                    let complete: Vec<u8> = pending.drain(..=end).collect();
                    let text = std::str::from_utf8(&complete).context("the export is not UTF-8")?;
                    export.push_json_lines(&text.split_inclusive('\n').collect::<Vec<_>>())?;
                }
            }
            export.push_line(std::str::from_utf8(&pending).context("the export is not UTF-8")?)?;
        }
        (None, None) => bail!("say what to verify: --file EXPORT, or --url URL with --key KEY"),
    }
    let account_id = export.account_id().map(str::to_owned);
    if let (Some(checkpoint), Some(account)) = (&checkpoint, &account_id)
        && checkpoint.account_id != *account
    {
        bail!(
            "the checkpoint is of account {}, the chain of account {account}",
            checkpoint.account_id
        );
    }
    Ok(VerifyReport::new(export.finish(), account_id, checkpoint.as_ref()))
}

/// Feeds the export in `file` to `export`: a CSV export line by line; JSON Lines as the API writes
/// them many lines at once, checked on every core; anything else (the JSON document, JSON in any
/// layout) as a stream of JSON values. None of them holds the file.
fn verify_file(file: &Path, export: &mut ExportVerifier) -> anyhow::Result<()> {
    let open = || -> anyhow::Result<std::io::BufReader<std::fs::File>> {
        let opened = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        Ok(std::io::BufReader::new(opened))
    };
    // The first bytes tell CSV (its header row) from JSON; a bounded read, whatever the layout.
    let mut head = Vec::new();
    std::io::Read::take(open()?, 64 * 1024)
        .read_to_end(&mut head)
        .context("reading the export")?;
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    let csv = head[start..]
        .strip_prefix(CSV_HEADER.as_bytes())
        .is_some_and(|rest| matches!(rest.first(), None | Some(b'\r' | b'\n')));
    if csv {
        for line in open()?.lines() {
            export.push_line(&line.context("reading the export")?)?;
        }
    } else {
        verify_json_export(open()?, export)?;
    }
    Ok(())
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn read_checkpoint(path: &Path) -> anyhow::Result<Checkpoint> {
    serde_json::from_value(read_json(path)?).with_context(|| {
        format!(
            "{} is not a checkpoint (account_id, seq, hash, time_ms, kid, signature)",
            path.display()
        )
    })
}

fn jwks_keys(jwks: &serde_json::Value) -> anyhow::Result<Vec<serde_json::Value>> {
    jwks.get("keys")
        .and_then(|keys| keys.as_array())
        .cloned()
        .context("the JWKS has no keys array")
}
