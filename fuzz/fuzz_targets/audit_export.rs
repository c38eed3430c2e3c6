//! Audit exports (`latchkey_audit::ExportVerifier`, what `latchkey audit verify` reads a file or a
//! live export with, and `Checkpoint` as it reads a kept one): any bytes, read a line at a time the
//! way the CLI reads them, never panic and give a consistent verdict; a genuine chain written in
//! the documented JSON Lines and CSV forms verifies, agrees with a checkpoint signed at its head,
//! and is caught when cut short of that checkpoint.
//!
//! Input: a mode byte, then
//! - `0` (mod 3): an export file, read with `BufRead::lines` as `--file` does; a first line that is
//!   a checkpoint's JSON is taken as the kept checkpoint;
//! - `1`: the same bytes as a live export stream, split after every `\n` as `--url` does;
//! - `2`: bytes for `arbitrary` to build a genuine chain from.
#![no_main]

use std::io::BufRead;
use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use latchkey_audit::chain::{ChainEntry, GENESIS_HASH, entry_hash};
use latchkey_audit::export::CSV_HEADER;
use latchkey_audit::{ChainVerifier, Checkpoint, CheckpointKey, ExportError, ExportVerifier, Verification};
use libfuzzer_sys::fuzz_target;

/// 9999-12-31T23:59:59.999Z: RFC 3339 writes no later time.
const LAST_MS: i64 = 253_402_300_799_999;

static KEY: LazyLock<CheckpointKey> = LazyLock::new(|| CheckpointKey::from_seed(&[9; 32]).expect("32 bytes"));

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => read_file(rest),
        1 => read_stream(rest),
        _ => {
            let _ = genuine_chain(&mut Unstructured::new(rest));
        }
    }
});

/// `--file`: lines until one is not UTF-8 (the CLI stops there with an error).
fn read_file(bytes: &[u8]) {
    let mut lines = bytes.lines().map_while(Result::ok).peekable();
    let checkpoint = lines.peek().and_then(|first| kept_checkpoint(first));
    if checkpoint.is_some() {
        lines.next();
    }
    let mut export = ExportVerifier::new(chain_verifier(checkpoint.as_ref()));
    for line in lines {
        if export.push_line(&line).is_err() {
            return;
        }
    }
    consistent(&export.finish());
}

/// `--url`: every `\n`-terminated piece, then what is left.
fn read_stream(bytes: &[u8]) {
    let mut export = ExportVerifier::new(ChainVerifier::new());
    for piece in bytes.split_inclusive(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(piece) else {
            return;
        };
        if export.push_line(line).is_err() {
            return;
        }
    }
    consistent(&export.finish());
}

/// A checkpoint as the CLI reads one; its signature is checked against the fixed key's JWKS.
fn kept_checkpoint(line: &str) -> Option<Checkpoint> {
    let checkpoint: Checkpoint = serde_json::from_str(line).ok()?;
    let keys = [
        KEY.public_jwk(),
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "audit-x", "x": "AA"}),
    ];
    let _ = checkpoint.verify_signature(&keys);
    Some(checkpoint)
}

fn chain_verifier(checkpoint: Option<&Checkpoint>) -> ChainVerifier {
    match checkpoint {
        Some(checkpoint) => ChainVerifier::new().with_checkpoints([(checkpoint.seq, checkpoint.hash.as_str())]),
        None => ChainVerifier::new(),
    }
}

/// What any verdict must satisfy.
fn consistent(verification: &Verification) {
    assert!(verification.head_seq >= 0 && verification.head_seq <= verification.entries_checked);
    assert_eq!(verification.head_hash.len(), 64);
    if let Some(broken) = verification.first_broken_seq {
        assert_eq!(
            verification.head_seq,
            verification.entries_checked - 1,
            "{verification:?} at {broken}"
        );
    } else {
        assert_eq!(verification.head_seq, verification.entries_checked, "{verification:?}");
    }
}

/// One entry's fields as the fuzzer makes them; the chain gives them seqs and hashes.
#[derive(Arbitrary, Debug)]
struct Fields {
    event_id: String,
    event_type: String,
    time_ms: i64,
    actor: String,
    subject: String,
    decision_id: String,
    data: Vec<(String, DataValue)>,
}

/// Event data as Latchkey writes it: no fractional numbers.
#[derive(Arbitrary, Debug)]
enum DataValue {
    Text(String),
    Number(i64),
    Flag(bool),
    Nothing,
    List(Vec<String>),
}

impl DataValue {
    fn json(self) -> serde_json::Value {
        match self {
            Self::Text(text) => text.into(),
            Self::Number(n) => n.into(),
            Self::Flag(flag) => flag.into(),
            Self::Nothing => serde_json::Value::Null,
            Self::List(items) => items.into(),
        }
    }
}

fn genuine_chain(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let account_id = String::arbitrary(u)?;
    let count = u.int_in_range(1..=6)?;
    let mut prev = GENESIS_HASH.to_owned();
    let mut entries = Vec::with_capacity(count);
    for seq in 1..=count as i64 {
        let fields = Fields::arbitrary(u)?;
        let mut entry = ChainEntry {
            account_id: account_id.clone(),
            seq,
            event_id: fields.event_id,
            event_type: fields.event_type,
            // An entry's time is an event's: a clock reading, so within years 0000–9999.
            time_ms: fields.time_ms.rem_euclid(LAST_MS + 1),
            actor: fields.actor,
            subject: fields.subject,
            decision_id: fields.decision_id,
            data: fields.data.into_iter().map(|(k, v)| (k, v.json())).collect(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry, &prev);
        prev = entry.hash.clone();
        entries.push(entry);
    }
    let head = entries.last().expect("at least one entry");
    let at = u.int_in_range(1..=count)?;
    let checkpoint = KEY.sign(&account_id, at as i64, &entries[at - 1].hash, 0);
    assert_eq!(checkpoint.verify_signature(&[KEY.public_jwk()]), Ok(()));

    let json: Vec<String> = entries.iter().map(json_line).collect();
    let whole = verify(&json, Some(&checkpoint)).expect("a genuine JSON Lines export reads");
    assert!(
        whole.is_valid(),
        "a genuine JSON Lines export does not verify: {whole:?}\n{json:#?}"
    );
    assert_eq!(
        (whole.head_seq, whole.head_hash.as_str()),
        (head.seq, head.hash.as_str())
    );
    let cut = verify(&json[..at - 1], Some(&checkpoint)).expect("a cut export reads");
    assert_eq!(
        cut.first_contradicted_checkpoint,
        Some(at as i64),
        "a chain cut before its checkpoint"
    );

    // A row is one line: fields holding line breaks cannot be read back from CSV (nor are they
    // ever written: every text field is a generated id or type name, and data is canonical JSON).
    let one_line = |e: &ChainEntry| {
        [
            &e.account_id,
            &e.event_id,
            &e.event_type,
            &e.actor,
            &e.subject,
            &e.decision_id,
        ]
        .iter()
        .all(|field| !field.contains(['\r', '\n']))
    };
    if entries.iter().all(one_line) {
        let mut csv = vec![CSV_HEADER.to_owned()];
        csv.extend(entries.iter().map(csv_line));
        let whole = verify(&csv, Some(&checkpoint)).expect("a genuine CSV export reads");
        assert!(
            whole.is_valid(),
            "a genuine CSV export does not verify: {whole:?}\n{csv:#?}"
        );
    }
    Ok(())
}

fn verify(lines: &[String], checkpoint: Option<&Checkpoint>) -> Result<Verification, ExportError> {
    let mut export = ExportVerifier::new(chain_verifier(checkpoint));
    for line in lines {
        export.push_line(line)?;
    }
    let verification = export.finish();
    consistent(&verification);
    Ok(verification)
}

// The rows below are written from the format docs/audit.md documents, not with the service's own
// writer (`latchkey_audit::export`): a model of the format, on purpose. A change to the writer that
// strays from the documented rows then fails here instead of verifying against itself.

/// RFC 3339 with milliseconds, as the export writes `time`.
fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("entry times are within chrono's range")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A JSON Lines row as docs/audit.md describes it.
fn json_line(e: &ChainEntry) -> String {
    serde_json::json!({
        "account_id": e.account_id, "seq": e.seq, "event_id": e.event_id, "type": e.event_type,
        "time": time(e.time_ms), "time_ms": e.time_ms, "actor": e.actor, "subject": e.subject,
        "decision_id": e.decision_id, "data": e.data, "prev_hash": e.prev_hash, "hash": e.hash,
    })
    .to_string()
}

/// A CSV row (RFC 4180 quoting) as docs/audit.md describes it.
fn csv_line(e: &ChainEntry) -> String {
    let field = |value: &str| {
        if value.contains([',', '"']) {
            format!("\"{}\"", value.replace('"', "\"\""))
        } else {
            value.to_owned()
        }
    };
    [
        field(&e.account_id),
        e.seq.to_string(),
        field(&e.event_id),
        field(&e.event_type),
        time(e.time_ms),
        e.time_ms.to_string(),
        field(&e.actor),
        field(&e.subject),
        field(&e.decision_id),
        field(&e.data.to_string()),
        e.prev_hash.clone(),
        e.hash.clone(),
    ]
    .join(",")
}
