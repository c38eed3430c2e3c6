//! The chain itself. Each entry's hash is SHA-256 over the previous entry's hash (32 raw bytes; 32
//! zero bytes before the first entry) followed by the entry's canonical JSON: the RFC 8785 (JCS)
//! serialisation of the object {account, seq, event_id, type, time_ms, actor, subject,
//! decision_id, data}. Anyone can recompute it from an export without Latchkey's code.
//!
//! This module needs no database: the service, the offline verifier of `latchkey audit verify`
//! and the benchmarks all use it.

use std::io::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The hash before the first entry: 32 zero bytes, hex.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry of an account's chain, as stored and exported.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainEntry {
    pub account_id: String,
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub time_ms: i64,
    pub actor: String,
    pub subject: String,
    pub decision_id: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The hashed fields of an entry, borrowed; `data_json` is the data as JSON text (canonical or not:
/// hashing canonicalises it when it is not already).
#[derive(Clone, Copy, Debug)]
pub struct EntryFields<'a> {
    pub account_id: &'a str,
    pub seq: i64,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub time_ms: i64,
    pub actor: &'a str,
    pub subject: &'a str,
    pub decision_id: &'a str,
    pub data_json: &'a str,
}

/// The hash of an entry whose fields are these and whose predecessor's hash is `prev_hash`.
pub fn entry_hash(entry: &ChainEntry, prev_hash: &str) -> String {
    let mut prev = [0u8; 32];
    // A malformed predecessor hash hashes as zeros: the entry then fails its link check anyway.
    let _ = hex::decode_to_slice(prev_hash, &mut prev);
    let mut data = Vec::with_capacity(128);
    write_canonical(&entry.data, &mut data);
    let mut buf = Vec::with_capacity(256);
    hex::encode(hash_canonical_data(&prev, &fields_of(entry, ""), &data, &mut buf))
}

fn fields_of<'a>(entry: &'a ChainEntry, data_json: &'a str) -> EntryFields<'a> {
    EntryFields {
        account_id: &entry.account_id,
        seq: entry.seq,
        event_id: &entry.event_id,
        event_type: &entry.event_type,
        time_ms: entry.time_ms,
        actor: &entry.actor,
        subject: &entry.subject,
        decision_id: &entry.decision_id,
        data_json,
    }
}

/// SHA-256(prev ‖ JCS(entry)), with `data` already canonical JSON bytes (`fields.data_json` is
/// ignored). `buf` is scratch space, reused across calls so a long verification allocates nothing
/// per entry.
pub fn hash_canonical_data(prev: &[u8; 32], fields: &EntryFields<'_>, data: &[u8], buf: &mut Vec<u8>) -> [u8; 32] {
    buf.clear();
    // The members in JCS order (keys sorted by UTF-16 code units, all ASCII here).
    buf.extend_from_slice(b"{\"account\":");
    write_string(fields.account_id, buf);
    buf.extend_from_slice(b",\"actor\":");
    write_string(fields.actor, buf);
    buf.extend_from_slice(b",\"data\":");
    buf.extend_from_slice(data);
    buf.extend_from_slice(b",\"decision_id\":");
    write_string(fields.decision_id, buf);
    buf.extend_from_slice(b",\"event_id\":");
    write_string(fields.event_id, buf);
    buf.extend_from_slice(b",\"seq\":");
    let _ = write!(buf, "{}", fields.seq);
    buf.extend_from_slice(b",\"subject\":");
    write_string(fields.subject, buf);
    buf.extend_from_slice(b",\"time_ms\":");
    let _ = write!(buf, "{}", fields.time_ms);
    buf.extend_from_slice(b",\"type\":");
    write_string(fields.event_type, buf);
    buf.push(b'}');
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(&buf[..]);
    hasher.finalize().into()
}

/// The data as canonical JSON, or `None` when it is not JSON at all.
pub fn canonical_data(data_json: &str) -> Option<Vec<u8>> {
    let value: Value = serde_json::from_str(data_json).ok()?;
    let mut out = Vec::with_capacity(data_json.len());
    write_canonical(&value, &mut out);
    Some(out)
}

/// RFC 8785 canonical JSON: object members sorted by key, no insignificant whitespace, strings
/// escaped as ECMAScript does. Sorting is done here rather than trusting the map type, whose order
/// depends on a serde_json feature another crate may switch on.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // JCS orders keys by UTF-16 code units.
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(member, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        // Integers, booleans and null print identically in JCS; Latchkey's event data holds no
        // fractional numbers.
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

/// A JSON string as ECMAScript's `JSON.stringify` writes it (what JCS requires): `"` and `\`
/// escaped, the short forms \b \f \n \r \t, other control characters as `\u00xx` (lowercase hex),
/// everything else as its UTF-8 bytes.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The outcome of recomputing a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub entries_checked: i64,
    /// The first entry whose link or hash does not hold.
    pub first_broken_seq: Option<i64>,
    /// The hash of the last entry that verified (the genesis hash when none did).
    pub head_hash: String,
    /// The seq of the last entry that verified (0 when none did).
    pub head_seq: i64,
    /// The first kept checkpoint the chain contradicts: a different hash at its seq, or a chain
    /// that ends before it.
    pub first_contradicted_checkpoint: Option<i64>,
}

impl Verification {
    /// The chain recomputes and agrees with every checkpoint it was given.
    pub fn is_valid(&self) -> bool {
        self.first_broken_seq.is_none() && self.first_contradicted_checkpoint.is_none()
    }
}

/// Recomputes a chain one entry at a time, from seq 1, without holding it: feed entries in order,
/// then [`finish`](Self::finish). Allocates nothing per entry on the fast path.
#[derive(Debug)]
pub struct ChainVerifier {
    /// The seq and hash every link is checked against; checkpoints sorted by seq.
    checkpoints: Vec<(i64, [u8; 32])>,
    next_checkpoint: usize,
    expected_seq: i64,
    prev: [u8; 32],
    checked: i64,
    broken: Option<i64>,
    contradicted: Option<i64>,
    buf: Vec<u8>,
    data: Vec<u8>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self {
            checkpoints: Vec::new(),
            next_checkpoint: 0,
            expected_seq: 1,
            prev: [0; 32],
            checked: 0,
            broken: None,
            contradicted: None,
            buf: Vec::with_capacity(512),
            data: Vec::with_capacity(256),
        }
    }

    /// Also checks that the chain has `hash` (hex) at `seq`, for each of these kept checkpoints.
    /// A malformed hash contradicts the chain.
    pub fn with_checkpoints<'a>(mut self, checkpoints: impl IntoIterator<Item = (i64, &'a str)>) -> Self {
        self.checkpoints = checkpoints
            .into_iter()
            .map(|(seq, hash)| {
                let mut bytes = [0xff; 32];
                if hex::decode_to_slice(hash, &mut bytes).is_err() {
                    bytes = [0xff; 32];
                }
                (seq, bytes)
            })
            .collect();
        self.checkpoints.sort_by_key(|(seq, _)| *seq);
        self
    }

    /// Whether every entry so far verified.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }

    /// Checks the next entry. Answers false once the chain is broken (later entries are not checked:
    /// every one after a broken link would fail too).
    pub fn check(&mut self, fields: &EntryFields<'_>, prev_hash: &str, hash: &str) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let link = Link::of(fields, prev_hash, hash, &mut self.buf);
        self.join(&link)
    }

    /// Checks the next entries, whose [`Link`]s were computed apart (on every core:
    /// [`links_of`]). The same outcome as [`check`](Self::check) on each in turn.
    pub fn check_links(&mut self, links: &[Link]) -> bool {
        links.iter().all(|link| self.join(link))
    }

    /// [`check`](Self::check) for an entry whose data is a JSON value.
    pub fn check_entry(&mut self, entry: &ChainEntry) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let mut data = std::mem::take(&mut self.data);
        data.clear();
        write_canonical(&entry.data, &mut data);
        let fields = fields_of(entry, std::str::from_utf8(&data).unwrap_or_default());
        let link = Link::of(&fields, &entry.prev_hash, &entry.hash, &mut self.buf);
        self.data = data;
        self.join(&link)
    }

    /// Joins the next link to the chain: it must follow the last one (its seq, and the predecessor
    /// hash it claims is the hash the chain has so far) and hold on its own.
    fn join(&mut self, link: &Link) -> bool {
        if self.broken.is_some() {
            return false;
        }
        self.checked += 1;
        let intact = link.seq == self.expected_seq && link.prev == Some(self.prev) && link.holds;
        self.settle(link.seq, intact, link.hash.unwrap_or_default())
    }

    fn settle(&mut self, seq: i64, intact: bool, hash: [u8; 32]) -> bool {
        if !intact {
            self.broken = Some(seq);
            return false;
        }
        while let Some(&(at, expected)) = self.checkpoints.get(self.next_checkpoint) {
            if at > seq {
                break;
            }
            if at == seq && expected != hash && self.contradicted.is_none() {
                self.contradicted = Some(at);
            }
            self.next_checkpoint += 1;
        }
        self.prev = hash;
        self.expected_seq += 1;
        true
    }

    /// The outcome. Checkpoints beyond the last entry contradict the chain (it was cut short),
    /// unless the chain was already broken before them.
    pub fn finish(self) -> Verification {
        let head_seq = self.expected_seq - 1;
        let contradicted = self.contradicted.or_else(|| {
            self.checkpoints[self.next_checkpoint..]
                .first()
                .filter(|_| self.broken.is_none())
                .map(|(seq, _)| *seq)
        });
        Verification {
            entries_checked: self.checked,
            first_broken_seq: self.broken,
            head_hash: hex::encode(self.prev),
            head_seq,
            first_contradicted_checkpoint: contradicted,
        }
    }
}

/// Recomputes a chain from its first entry, in order.
pub fn verify_entries<'a>(entries: impl IntoIterator<Item = &'a ChainEntry>) -> Verification {
    let mut verifier = ChainVerifier::new();
    for entry in entries {
        if !verifier.check_entry(entry) {
            break;
        }
    }
    verifier.finish()
}

/// What one entry says of itself, checked with nothing but the entry: the predecessor hash and the
/// hash it claims (decoded; `None` when not 64 hex digits), and whether that hash is SHA-256 over the
/// claimed predecessor and the entry's content. An entry's hash depends only on its content and the
/// predecessor hash stored beside it, so the links of a chain can be computed on every core at once
/// and joined in order after ([`ChainVerifier::check_links`]): hashing is the work, joining is a
/// comparison per entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub seq: i64,
    pub prev: Option<[u8; 32]>,
    pub hash: Option<[u8; 32]>,
    /// The claimed hash is the hash of the claimed predecessor and the content.
    pub holds: bool,
}

impl Link {
    /// `buf` is scratch space, reused across entries.
    pub fn of(fields: &EntryFields<'_>, prev_hash: &str, hash: &str, buf: &mut Vec<u8>) -> Self {
        let decode = |text: &str| {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(text, &mut bytes).ok().map(|()| bytes)
        };
        let (prev, claimed) = (decode(prev_hash), decode(hash));
        let holds = match (prev, claimed) {
            (Some(prev), Some(claimed)) => {
                // Fast path: stored data is already canonical. Otherwise canonicalise and hash again.
                hash_canonical_data(&prev, fields, fields.data_json.as_bytes(), buf) == claimed
                    || match canonical_data(fields.data_json) {
                        Some(canonical) if canonical != fields.data_json.as_bytes() => {
                            hash_canonical_data(&prev, fields, &canonical, buf) == claimed
                        }
                        _ => false,
                    }
            }
            _ => false,
        };
        Self {
            seq: fields.seq,
            prev,
            hash: claimed,
            holds,
        }
    }
}

/// Below this many entries the links are computed on the calling thread: starting threads would
/// cost more than it saves.
const PARALLEL_FROM: usize = 512;

/// The [`Link`]s of `entries`, in order, computed on up to every core of the machine. `link` makes
/// one entry's link with the scratch buffer it is given.
pub fn links_of<T: Sync>(entries: &[T], link: impl Fn(&T, &mut Vec<u8>) -> Link + Sync) -> Vec<Link> {
    on_every_core(entries, link)
}

/// `work` applied to every item, in order, on up to every core of the machine (the calling thread
/// takes one share). `work` gets a scratch buffer of its thread's.
pub fn on_every_core<T: Sync, U: Send>(items: &[T], work: impl Fn(&T, &mut Vec<u8>) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let share = |chunk: &[T]| -> Vec<U> {
        let mut buf = Vec::with_capacity(512);
        chunk.iter().map(|item| work(item, &mut buf)).collect()
    };
    if threads == 1 || items.len() < PARALLEL_FROM {
        return share(items);
    }
    let chunk_size = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(chunk_size);
        let first = chunks.next().unwrap_or_default();
        let others: Vec<_> = chunks.map(|chunk| scope.spawn(move || share(chunk))).collect();
        let mut done = share(first);
        for other in others {
            // A panic while hashing is a bug to surface, not a verdict on the chain.
            done.extend(other.join().expect("hashing thread panicked"));
        }
        done
    })
}

#[cfg(test)]
mod tests;
