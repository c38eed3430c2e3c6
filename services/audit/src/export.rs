//! Verifying an export (`GET /v1/audit/export`, JSON Lines or CSV) one line at a time, with no server
//! and no database: what `latchkey audit verify` runs, on a file or on the live export as it streams.

use serde_json::Value;

use crate::chain::{ChainVerifier, EntryFields, Verification, write_canonical};

/// The CSV export's header row.
pub const CSV_HEADER: &str = "account_id,seq,event_id,type,time,time_ms,actor,subject,decision_id,data,prev_hash,hash";

/// Why an export could not be read (as opposed to read and found broken).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    #[error("line {line}: {reason}")]
    Malformed { line: u64, reason: String },
    #[error("line {line}: an entry of account {found}, in an export of account {expected}")]
    MixedAccounts { line: u64, expected: String, found: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Unknown,
    JsonLines,
    Csv,
}

/// Feeds an export's lines, in order, to a [`ChainVerifier`].
#[derive(Debug)]
pub struct ExportVerifier {
    verifier: ChainVerifier,
    format: Format,
    line: u64,
    account_id: Option<String>,
    data: Vec<u8>,
}

impl ExportVerifier {
    /// `verifier` may carry kept checkpoints ([`ChainVerifier::with_checkpoints`]).
    pub fn new(verifier: ChainVerifier) -> Self {
        Self {
            verifier,
            format: Format::Unknown,
            line: 0,
            account_id: None,
            data: Vec::with_capacity(256),
        }
    }

    /// The account of the entries read so far.
    pub fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }

    /// Reads the next line (without its line ending). Blank lines are skipped; the format is told by
    /// the first line (the CSV header, or a JSON object).
    pub fn push_line(&mut self, line: &str) -> Result<(), ExportError> {
        self.line += 1;
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Ok(());
        }
        if self.format == Format::Unknown {
            if line == CSV_HEADER {
                self.format = Format::Csv;
                return Ok(());
            }
            self.format = Format::JsonLines;
        }
        if !self.verifier.is_intact() {
            // Every entry after a broken one fails too; the first is the one to name.
            return Ok(());
        }
        let malformed = |reason: &str| ExportError::Malformed {
            line: self.line,
            reason: reason.to_owned(),
        };
        let row = match self.format {
            Format::Csv => row_of_csv(line).ok_or_else(|| malformed("not a row of 12 CSV fields"))?,
            _ => row_of_json(line).ok_or_else(|| malformed("not an exported entry object"))?,
        };
        // The data as canonical JSON: what the hash covers, whatever layout the file uses.
        let data: Value = serde_json::from_str(&row.data).map_err(|_| malformed("data is not JSON"))?;
        self.data.clear();
        write_canonical(&data, &mut self.data);
        let data_json = std::str::from_utf8(&self.data).map_err(|_| malformed("data is not UTF-8"))?;
        match &self.account_id {
            None => self.account_id = Some(row.account_id.clone()),
            Some(expected) if *expected != row.account_id => {
                return Err(ExportError::MixedAccounts {
                    line: self.line,
                    expected: expected.clone(),
                    found: row.account_id,
                });
            }
            Some(_) => {}
        }
        // `time` is for people; it must say what `time_ms` (hashed) says, or the row was edited.
        let time_agrees = row.time.as_deref().is_none_or(|time| {
            chrono::DateTime::parse_from_rfc3339(time).is_ok_and(|time| time.timestamp_millis() == row.time_ms)
        });
        let fields = EntryFields {
            account_id: &row.account_id,
            seq: row.seq,
            event_id: &row.event_id,
            event_type: &row.event_type,
            time_ms: row.time_ms,
            actor: &row.actor,
            subject: &row.subject,
            decision_id: &row.decision_id,
            data_json,
        };
        if time_agrees {
            self.verifier.check(&fields, &row.prev_hash, &row.hash);
        } else {
            // Checked with a hash that cannot match, so the row is named as broken.
            self.verifier.check(&fields, &row.prev_hash, "");
        }
        Ok(())
    }

    pub fn finish(self) -> Verification {
        self.verifier.finish()
    }
}

/// One exported entry, owned.
struct Row {
    account_id: String,
    seq: i64,
    event_id: String,
    event_type: String,
    time: Option<String>,
    time_ms: i64,
    actor: String,
    subject: String,
    decision_id: String,
    /// JSON text.
    data: String,
    prev_hash: String,
    hash: String,
}

fn row_of_json(line: &str) -> Option<Row> {
    let value: Value = serde_json::from_str(line).ok()?;
    let text = |name: &str| -> Option<String> {
        match value.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            // The list API writes absent fields as null; an export writes empty strings.
            Some(Value::Null) | None => Some(String::new()),
            Some(_) => None,
        }
    };
    Some(Row {
        account_id: text("account_id")?,
        seq: value.get("seq")?.as_i64()?,
        event_id: text("event_id")?,
        event_type: text("type")?,
        time: value.get("time").and_then(Value::as_str).map(str::to_owned),
        time_ms: value.get("time_ms")?.as_i64()?,
        actor: text("actor")?,
        subject: text("subject")?,
        decision_id: text("decision_id")?,
        data: value.get("data")?.to_string(),
        prev_hash: text("prev_hash")?,
        hash: text("hash")?,
    })
}

fn row_of_csv(line: &str) -> Option<Row> {
    let [
        account_id,
        seq,
        event_id,
        event_type,
        time,
        time_ms,
        actor,
        subject,
        decision_id,
        data,
        prev_hash,
        hash,
    ] = <[String; 12]>::try_from(csv_fields(line)?).ok()?;
    Some(Row {
        account_id,
        seq: seq.parse().ok()?,
        event_id,
        event_type,
        time: Some(time),
        time_ms: time_ms.parse().ok()?,
        actor,
        subject,
        decision_id,
        data,
        prev_hash,
        hash,
    })
}

/// The fields of one RFC 4180 record on one line: quoted fields may hold commas and `""`.
fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::with_capacity(12);
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Some(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Some(fields);
                    }
                    Some(',') => break,
                    Some('"') => return None,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests;
