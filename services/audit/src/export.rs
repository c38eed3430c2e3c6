//! Verifying an export (`GET /v1/audit/export`: JSON Lines, CSV or one JSON document) with no
//! server and no database, an entry at a time: what `latchkey audit verify` runs, on a file or on
//! the live export as it streams. Lines go through [`ExportVerifier::push_line`]; a JSON document
//! (`{"entries": [...]}`, a bare array, or JSON Lines in any layout) through [`verify_json_stream`],
//! which never holds more than one entry. [`verify_json_export`] reads an export as the API writes
//! JSON Lines, one entry a line, many lines at once, checking them on every core; anything else it
//! hands to [`verify_json_stream`].

use std::{
    borrow::Cow,
    fmt,
    io::{BufRead, Read},
};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, value::RawValue};

use crate::chain::{ChainVerifier, EntryFields, Link, Verification, on_every_core, write_canonical};

/// The CSV export's header row.
pub const CSV_HEADER: &str = "account_id,seq,event_id,type,time,time_ms,actor,subject,decision_id,data,prev_hash,hash";

/// Where in an export something was found: a line of a line format, or the n-th entry (from 1) of
/// a JSON document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Line(u64),
    Entry(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(line) => write!(f, "line {line}"),
            Self::Entry(entry) => write!(f, "entry {entry}"),
        }
    }
}

/// Why an export could not be read (as opposed to read and found broken).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    #[error("{at}: {reason}")]
    Malformed { at: Position, reason: String },
    #[error("{at}: an entry of account {found}, in an export of account {expected}")]
    MixedAccounts {
        at: Position,
        expected: String,
        found: String,
    },
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
    /// Entries read through [`push_value`](Self::push_value).
    entries: u64,
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
            entries: 0,
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
        let at = Position::Line(self.line);
        let row = match self.format {
            Format::Csv => row_of_csv(line).ok_or_else(|| malformed(at, "not a row of 12 CSV fields"))?,
            _ => serde_json::from_str::<Value>(line)
                .ok()
                .as_ref()
                .and_then(row_of_json)
                .ok_or_else(|| malformed(at, "not an exported entry object"))?,
        };
        self.push_row(row, at)
    }

    /// Reads the next entry of a JSON export, as an object with the members of a JSON Lines line.
    pub fn push_value(&mut self, entry: &Value) -> Result<(), ExportError> {
        self.entries += 1;
        self.format = Format::JsonLines;
        if !self.verifier.is_intact() {
            return Ok(());
        }
        let at = Position::Entry(self.entries);
        let row = row_of_json(entry).ok_or_else(|| malformed(at, "not an exported entry object"))?;
        self.push_row(row, at)
    }

    fn push_row(&mut self, row: Row, at: Position) -> Result<(), ExportError> {
        // The data as canonical JSON: what the hash covers, whatever layout the file uses.
        let data: Value = serde_json::from_str(&row.data).map_err(|_| malformed(at, "data is not JSON"))?;
        self.data.clear();
        write_canonical(&data, &mut self.data);
        let data_json = std::str::from_utf8(&self.data).map_err(|_| malformed(at, "data is not UTF-8"))?;
        match &self.account_id {
            None => self.account_id = Some(row.account_id.clone()),
            Some(expected) if *expected != row.account_id => {
                return Err(ExportError::MixedAccounts {
                    at,
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

    /// Reads the next lines of a JSON Lines export ([`push_line`](Self::push_line) on each, in
    /// order, with the same outcome), parsing and hashing them on every core first. A line that is
    /// not an entry as the API writes it is read as `push_line` reads it.
    pub fn push_json_lines(&mut self, lines: &[&str]) -> Result<(), ExportError> {
        let checks = on_every_core(lines, |line, buf| LineCheck::of(line, buf));
        for (line, check) in lines.iter().zip(checks) {
            match check {
                LineCheck::Entry { link, account } if self.format != Format::Csv => {
                    self.line += 1;
                    self.format = Format::JsonLines;
                    if !self.verifier.is_intact() {
                        continue;
                    }
                    self.same_account(&account, Position::Line(self.line))?;
                    self.verifier.check_links(&[link]);
                }
                _ => self.push_line(line)?,
            }
        }
        Ok(())
    }

    /// Refuses an entry of another account than the ones before.
    fn same_account(&mut self, account: &str, at: Position) -> Result<(), ExportError> {
        match &self.account_id {
            None => self.account_id = Some(account.to_owned()),
            Some(expected) if expected != account => {
                return Err(ExportError::MixedAccounts {
                    at,
                    expected: expected.clone(),
                    found: account.to_owned(),
                });
            }
            Some(_) => {}
        }
        Ok(())
    }

    pub fn finish(self) -> Verification {
        self.verifier.finish()
    }
}

/// One entry as a line of the API's JSON Lines export, borrowed from the line.
#[derive(serde::Deserialize)]
struct ExportedLine<'a> {
    #[serde(borrow)]
    account_id: Cow<'a, str>,
    seq: i64,
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    #[serde(default, borrow)]
    time: Option<Cow<'a, str>>,
    time_ms: i64,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    subject: Cow<'a, str>,
    #[serde(borrow)]
    decision_id: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(borrow)]
    prev_hash: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
}

/// What one line says on its own, worked out on any core.
enum LineCheck<'a> {
    /// An entry: its link (broken when its `time` contradicts its `time_ms`) and account.
    Entry { link: Link, account: Cow<'a, str> },
    /// Anything else (a blank line, a header, an entry in another shape, garbage): read in order by
    /// [`ExportVerifier::push_line`].
    Other,
}

impl<'a> LineCheck<'a> {
    fn of(line: &'a str, buf: &mut Vec<u8>) -> Self {
        let Ok(entry) = serde_json::from_str::<ExportedLine<'a>>(line.trim_end_matches(['\r', '\n'])) else {
            return Self::Other;
        };
        let fields = EntryFields {
            account_id: &entry.account_id,
            seq: entry.seq,
            event_id: &entry.event_id,
            event_type: &entry.event_type,
            time_ms: entry.time_ms,
            actor: &entry.actor,
            subject: &entry.subject,
            decision_id: &entry.decision_id,
            // Hashed as written when it is canonical already (as exported), canonicalised if not.
            data_json: entry.data.get(),
        };
        let mut link = Link::of(&fields, &entry.prev_hash, &entry.hash, buf);
        // `time` is for people; it must say what `time_ms` (hashed) says, or the row was edited.
        let time_agrees = entry.time.as_deref().is_none_or(|time| {
            chrono::DateTime::parse_from_rfc3339(time).is_ok_and(|time| time.timestamp_millis() == entry.time_ms)
        });
        if !time_agrees {
            link.holds = false;
        }
        Self::Entry {
            link,
            account: entry.account_id,
        }
    }
}

/// Lines read and checked at once by [`verify_json_export`].
const LINES_AT_ONCE: usize = 8192;

/// Verifies a JSON export read from `reader`. An export whose first line is one entry, as the
/// API writes JSON Lines, is read many lines at a time and checked on every core
/// ([`ExportVerifier::push_json_lines`]); any other layout goes to [`verify_json_stream`]. Holds at
/// most [`LINES_AT_ONCE`] lines.
pub fn verify_json_export<R: BufRead>(mut reader: R, verifier: &mut ExportVerifier) -> Result<(), ExportError> {
    let read_error = |error: std::io::Error| malformed(Position::Line(0), &format!("cannot read the export: {error}"));
    let mut text = String::new();
    // Up to the first line that is not blank: it tells the layout.
    loop {
        let start = text.len();
        if reader.read_line(&mut text).map_err(read_error)? == 0 || !text[start..].trim().is_empty() {
            let first = text[start..].trim_end_matches(['\r', '\n']);
            if serde_json::from_str::<ExportedLine<'_>>(first).is_err() {
                return verify_json_stream(std::io::Cursor::new(text).chain(reader), verifier);
            }
            break;
        }
    }
    loop {
        let mut ends = Vec::with_capacity(LINES_AT_ONCE);
        let mut start = 0;
        ends.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        while ends.len() < LINES_AT_ONCE {
            let read = reader.read_line(&mut text).map_err(read_error)?;
            if read == 0 {
                break;
            }
            ends.push(text.len());
        }
        let mut lines = Vec::with_capacity(ends.len());
        for end in &ends {
            lines.push(&text[start..*end]);
            start = *end;
        }
        if start < text.len() {
            lines.push(&text[start..]);
        }
        if lines.is_empty() {
            return Ok(());
        }
        let done = lines.len() < LINES_AT_ONCE;
        verifier.push_json_lines(&lines)?;
        if done {
            return Ok(());
        }
        text.clear();
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

fn malformed(at: Position, reason: &str) -> ExportError {
    ExportError::Malformed {
        at,
        reason: reason.to_owned(),
    }
}

fn row_of_json(value: &Value) -> Option<Row> {
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

/// Verifies a JSON export read from `reader`, one entry at a time: the JSON document of
/// `format=json` (`{"entries": [...]}`), a bare array of entries, or JSON Lines (a sequence of entry
/// objects), in whatever layout (pretty-printed, re-indented, on one line). Only the entry being
/// checked is ever held. Members of the document other than `entries` are ignored.
pub fn verify_json_stream<R: Read>(reader: R, verifier: &mut ExportVerifier) -> Result<(), ExportError> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut failure = None;
    loop {
        let value = TopLevel {
            verifier: &mut *verifier,
            failure: &mut failure,
        };
        let read = value.deserialize(&mut deserializer);
        if let Some(error) = failure.take() {
            return Err(error);
        }
        read.map_err(|error| syntax(&error))?;
        // Whitespace to the end: done. Anything else is the next value (JSON Lines).
        if deserializer.end().is_ok() {
            return Ok(());
        }
    }
}

fn syntax(error: &serde_json::Error) -> ExportError {
    let reason = if error.is_eof() {
        "the JSON ends before the document does (a cut export?)".to_owned()
    } else {
        format!("not JSON: {error}")
    };
    malformed(Position::Line(u64::try_from(error.line()).unwrap_or(u64::MAX)), &reason)
}

/// One top-level JSON value: the document, an array of entries, or one entry (JSON Lines).
struct TopLevel<'a> {
    verifier: &'a mut ExportVerifier,
    /// Where an entry's verdict is kept: serde's error type can only carry text.
    failure: &'a mut Option<ExportError>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an audit export: {\"entries\": [...]}, an array of entries, or entry objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Entries {
            verifier: self.verifier,
            failure: self.failure,
        }
        .visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // An `entries` member makes this the document (its other members are ignored); without
        // one, the object is an entry of JSON Lines. Members before `entries` are held until it
        // comes: an entry's own, or the document's few others.
        let mut members = Map::new();
        let mut document = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "entries" && !document {
                document = true;
                members.clear();
                map.next_value_seed(Entries {
                    verifier: &mut *self.verifier,
                    failure: &mut *self.failure,
                })?;
            } else if document {
                map.next_value::<IgnoredAny>()?;
            } else {
                members.insert(key, map.next_value()?);
            }
        }
        if document {
            return Ok(());
        }
        if members.is_empty() {
            return Err(de::Error::custom("an empty object is not an export"));
        }
        check_entry(self.verifier, self.failure, &Value::Object(members))
    }
}

/// The array of entries, handed to the verifier as they are read.
struct Entries<'a> {
    verifier: &'a mut ExportVerifier,
    failure: &'a mut Option<ExportError>,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of audit entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<Value>()? {
            check_entry(&mut *self.verifier, &mut *self.failure, &entry)?;
        }
        Ok(())
    }
}

fn check_entry<E: de::Error>(
    verifier: &mut ExportVerifier,
    failure: &mut Option<ExportError>,
    entry: &Value,
) -> Result<(), E> {
    verifier.push_value(entry).map_err(|error| {
        let message = error.to_string();
        *failure = Some(error);
        E::custom(message)
    })
}

#[cfg(test)]
mod tests;
