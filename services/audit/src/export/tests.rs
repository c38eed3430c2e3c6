use super::*;
use crate::chain::{ChainEntry, GENESIS_HASH, entry_hash};

fn chain(n: i64) -> Vec<ChainEntry> {
    let mut prev = GENESIS_HASH.to_owned();
    (1..=n)
        .map(|seq| {
            let mut entry = ChainEntry {
                account_id: "acct_a".into(),
                seq,
                event_id: format!("ev{seq}"),
                event_type: "api_key.created".into(),
                time_ms: 1_767_225_600_000 + seq,
                actor: "key_1".into(),
                subject: String::new(),
                decision_id: String::new(),
                data: serde_json::json!({"name": "a, \"b\"", "n": seq}),
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            entry.hash = entry_hash(&entry, &prev);
            prev = entry.hash.clone();
            entry
        })
        .collect()
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn json_line(e: &ChainEntry) -> String {
    serde_json::json!({
        "account_id": e.account_id, "seq": e.seq, "event_id": e.event_id, "type": e.event_type,
        "time": time(e.time_ms), "time_ms": e.time_ms, "actor": e.actor, "subject": e.subject,
        "decision_id": e.decision_id, "data": e.data, "prev_hash": e.prev_hash, "hash": e.hash,
    })
    .to_string()
}

fn csv_line(e: &ChainEntry) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{}",
        e.account_id,
        e.seq,
        e.event_id,
        e.event_type,
        time(e.time_ms),
        e.time_ms,
        e.actor,
        e.subject,
        e.decision_id,
        quote(&e.data.to_string()),
        e.prev_hash,
        e.hash
    )
}

fn verify(lines: &[String]) -> Verification {
    let mut verifier = ExportVerifier::new(ChainVerifier::new());
    for line in lines {
        verifier.push_line(line).unwrap();
    }
    verifier.finish()
}

#[test]
fn a_json_lines_export_verifies_and_an_edited_one_names_the_entry() {
    let entries = chain(4);
    let mut lines: Vec<String> = entries.iter().map(json_line).collect();
    assert!(verify(&lines).is_valid());
    lines[2] = lines[2].replace("\"n\":3", "\"n\":33");
    assert_eq!(verify(&lines).first_broken_seq, Some(3));
}

#[test]
fn a_csv_export_verifies_and_an_edited_time_is_caught() {
    let entries = chain(3);
    let mut lines = vec![CSV_HEADER.to_owned()];
    lines.extend(entries.iter().map(csv_line));
    assert!(verify(&lines).is_valid(), "{:?}", verify(&lines));
    lines[2] = lines[2].replace("T00:00:00.002Z", "T00:00:01.002Z");
    assert_eq!(verify(&lines).first_broken_seq, Some(2));
}

#[test]
fn garbage_is_an_error_naming_the_line() {
    let mut verifier = ExportVerifier::new(ChainVerifier::new());
    assert!(matches!(
        verifier.push_line("not json"),
        Err(ExportError::Malformed {
            at: Position::Line(1),
            ..
        })
    ));
}

fn verify_stream(text: &str) -> Result<Verification, ExportError> {
    let mut verifier = ExportVerifier::new(ChainVerifier::new());
    verify_json_stream(text.as_bytes(), &mut verifier)?;
    Ok(verifier.finish())
}

/// The document of `format=json`, as the gateway writes it: one entry per line inside the array.
fn document(entries: &[ChainEntry]) -> String {
    let lines: Vec<String> = entries.iter().map(json_line).collect();
    format!("{{\"entries\":[\n{}\n]}}\n", lines.join(",\n"))
}

#[test]
fn a_json_document_verifies_in_any_layout_and_an_edit_names_the_entry() {
    let entries = chain(4);
    let written = document(&entries);
    let verification = verify_stream(&written).unwrap();
    assert!(verification.is_valid(), "{verification:?}");
    assert_eq!(verification.entries_checked, 4);

    let value: Value = serde_json::from_str(&written).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    assert!(verify_stream(&pretty).unwrap().is_valid(), "re-indented");
    let bare = serde_json::to_string(&value["entries"]).unwrap();
    assert!(verify_stream(&bare).unwrap().is_valid(), "a bare array");
    let with_more = format!("{{\"exported_at\":\"now\",{}", &written[1..]);
    assert!(
        verify_stream(&with_more).unwrap().is_valid(),
        "other members are ignored"
    );
    let lines: Vec<String> = entries.iter().map(json_line).collect();
    assert!(verify_stream(&lines.join("\n")).unwrap().is_valid(), "JSON Lines too");

    let edited = written.replace("\"n\":3", "\"n\":33");
    assert_eq!(verify_stream(&edited).unwrap().first_broken_seq, Some(3));
    let empty = verify_stream("{\"entries\":[\n]}\n").unwrap();
    assert!(empty.is_valid());
    assert_eq!(empty.entries_checked, 0);
}

#[test]
fn a_cut_or_foreign_document_is_an_error() {
    let written = document(&chain(3));
    let cut = &written[..written.len() / 2];
    assert!(matches!(verify_stream(cut), Err(ExportError::Malformed { .. })));
    assert!(matches!(
        verify_stream("{\"entries\":[{\"seq\":1}]}"),
        Err(ExportError::Malformed {
            at: Position::Entry(1),
            ..
        })
    ));
    assert!(verify_stream("{}").is_err());
    assert!(verify_stream("42").is_err());
    let mut other = chain(1);
    other[0].account_id = "acct_b".into();
    let mixed = format!("[{},{}]", json_line(&chain(1)[0]), json_line(&other[0]));
    assert!(matches!(
        verify_stream(&mixed),
        Err(ExportError::MixedAccounts {
            at: Position::Entry(2),
            ..
        })
    ));
}

/// What [`verify_json_export`] says of `text`, and what reading it the older way says: line by line
/// ([`ExportVerifier::push_line`]) when its first line is an entry, else one JSON value at a time.
fn both_readers(text: &str) -> (Result<Verification, ExportError>, Result<Verification, ExportError>) {
    let mut fast = ExportVerifier::new(ChainVerifier::new());
    let fast = verify_json_export(text.as_bytes(), &mut fast).map(|()| fast.finish());
    let first = text.lines().find(|line| !line.trim().is_empty()).unwrap_or_default();
    if serde_json::from_str::<ExportedLine<'_>>(first).is_err() {
        return (fast, verify_stream(text));
    }
    let mut slow = ExportVerifier::new(ChainVerifier::new());
    let slow = text
        .lines()
        .try_for_each(|line| slow.push_line(line))
        .map(|()| slow.finish());
    (fast, slow)
}

/// A long JSON Lines export read many lines at a time on every core reaches the verdict of reading
/// it a line at a time, whatever was done to it.
#[test]
fn json_lines_read_in_batches_on_every_core_agree_with_reading_one_entry_at_a_time() {
    let entries = chain(LINES_AT_ONCE as i64 + 1500);
    let lines: Vec<String> = entries.iter().map(json_line).collect();
    let export = |lines: &[String]| lines.join("\n") + "\n";
    let mut cases: Vec<(&str, String)> = vec![("intact", export(&lines))];

    let mut edited = lines.clone();
    edited[9000] = edited[9000].replace("\"n\":9001", "\"n\":9");
    cases.push(("edited data", export(&edited)));
    let mut retimed = lines.clone();
    retimed[300] = json_line(&entries[300]).replace(&time(entries[300].time_ms), &time(entries[300].time_ms + 1000));
    cases.push(("time contradicting time_ms", export(&retimed)));
    let mut foreign = lines.clone();
    foreign[8500] = foreign[8500].replace("acct_a", "acct_b");
    cases.push(("another account", export(&foreign)));
    let mut garbage = lines.clone();
    garbage[5000] = "{not json".to_owned();
    cases.push(("garbage", export(&garbage)));
    let mut pretty = lines.clone();
    let mut spaced: Value = serde_json::from_str(&pretty[42]).unwrap();
    spaced["data"] = serde_json::json!({"n": 43, "name": "a, \"b\""});
    pretty[42] = serde_json::to_string(&spaced)
        .unwrap()
        .replace("{\"n\":43", "{ \"n\" : 43");
    cases.push(("data in another layout", export(&pretty)));
    cases.push(("blank lines and CRLF", format!("\n\n{}", lines.join("\r\n\n"))));
    cases.push(("no final newline", lines.join("\n")));
    cases.push(("a pretty document", document(&entries[..3])));

    for (name, text) in cases {
        let (fast, one_at_a_time) = both_readers(&text);
        assert_eq!(fast, one_at_a_time, "{name}");
    }
    let (intact, _) = both_readers(&export(&lines));
    assert!(intact.expect("verifies").is_valid());
    let (edited, _) = both_readers(&export(&edited));
    assert_eq!(edited.expect("verifies").first_broken_seq, Some(9001));
}
