//! The chain itself. Each entry's hash is SHA-256 over the previous entry's hash (32 raw bytes; 32
//! zero bytes before the first entry) followed by the entry's canonical JSON: the RFC 8785 (JCS)
//! serialisation of the object {account, seq, event_id, type, time_ms, actor, subject,
//! decision_id, data}. Anyone can recompute it from an export without Latchkey's code.

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

/// The hash of an entry whose fields are these and whose predecessor's hash is `prev_hash`.
pub fn entry_hash(entry: &ChainEntry, prev_hash: &str) -> String {
    let canonical = serde_json::json!({
        "account": entry.account_id,
        "seq": entry.seq,
        "event_id": entry.event_id,
        "type": entry.event_type,
        "time_ms": entry.time_ms,
        "actor": entry.actor,
        "subject": entry.subject,
        "decision_id": entry.decision_id,
        "data": entry.data,
    });
    let mut hasher = Sha256::new();
    hasher.update(hex::decode(prev_hash).unwrap_or_default());
    let mut bytes = Vec::with_capacity(256);
    write_canonical(&canonical, &mut bytes);
    hasher.update(&bytes);
    hex::encode(hasher.finalize())
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
        // Integers print identically in JCS; Latchkey's event data holds no fractional numbers.
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes exactly the characters JCS requires, with the same short forms.
    out.extend_from_slice(Value::String(s.to_owned()).to_string().as_bytes());
}

/// The outcome of recomputing a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub entries_checked: i64,
    /// The first entry whose link or hash does not hold.
    pub first_broken_seq: Option<i64>,
    pub head_hash: String,
}

/// Recomputes a chain from its first entry, in order.
pub fn verify_entries<'a>(entries: impl IntoIterator<Item = &'a ChainEntry>) -> Verification {
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut checked = 0;
    for (expected_seq, entry) in (1..).zip(entries) {
        checked += 1;
        let intact = entry.seq == expected_seq
            && entry.prev_hash == expected_prev
            && entry_hash(entry, &entry.prev_hash) == entry.hash;
        if !intact {
            return Verification {
                entries_checked: checked,
                first_broken_seq: Some(entry.seq),
                head_hash: expected_prev,
            };
        }
        expected_prev = entry.hash.clone();
    }
    Verification {
        entries_checked: checked,
        first_broken_seq: None,
        head_hash: expected_prev,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainEntry> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let mut entry = ChainEntry {
                    account_id: "acct_a".into(),
                    seq,
                    event_id: format!("ev{seq}"),
                    event_type: "api_key.created".into(),
                    time_ms: 1_700_000_000_000 + seq,
                    actor: "key_1".into(),
                    subject: "key_2".into(),
                    decision_id: String::new(),
                    data: serde_json::json!({"name": "ci", "n": seq}),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                entry.hash = entry_hash(&entry, &prev);
                prev = entry.hash.clone();
                entry
            })
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let mut out = Vec::new();
        write_canonical(
            &serde_json::json!({"b": [1, "x\n"], "a": {"d": true, "c": null}}),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":null,"d":true},"b":[1,"x\n"]}"#
        );
    }

    #[test]
    fn an_intact_chain_verifies_to_its_head() {
        let entries = chain(5);
        let verification = verify_entries(&entries);
        assert_eq!(verification.first_broken_seq, None);
        assert_eq!(verification.entries_checked, 5);
        assert_eq!(verification.head_hash, entries[4].hash);
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut entries = chain(5);
        entries[2].data = serde_json::json!({"name": "edited"});
        assert_eq!(verify_entries(&entries).first_broken_seq, Some(3));
    }

    #[test]
    fn a_removed_entry_is_named_by_the_one_after_the_gap() {
        let mut entries = chain(5);
        entries.remove(1);
        assert_eq!(verify_entries(&entries).first_broken_seq, Some(3));
    }
}
