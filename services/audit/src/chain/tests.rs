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
                data: serde_json::json!({"name": "ci \"quoted\"\n\u{1}é", "n": seq}),
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
        &serde_json::json!({"b": [1, "x\n\u{1f}"], "a": {"d": true, "c": null}}),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"a":{"c":null,"d":true},"b":[1,"x\n\u001f"]}"#
    );
}

#[test]
fn the_hand_written_entry_object_is_the_jcs_of_the_documented_object() {
    let entry = &chain(1)[0];
    let object = serde_json::json!({
        "account": entry.account_id, "seq": entry.seq, "event_id": entry.event_id,
        "type": entry.event_type, "time_ms": entry.time_ms, "actor": entry.actor,
        "subject": entry.subject, "decision_id": entry.decision_id, "data": entry.data,
    });
    let mut expected = Vec::new();
    write_canonical(&object, &mut expected);
    let mut hasher = Sha256::new();
    hasher.update([0u8; 32]);
    hasher.update(&expected);
    assert_eq!(entry.hash, hex::encode(hasher.finalize()));
}

#[test]
fn an_intact_chain_verifies_to_its_head() {
    let entries = chain(5);
    let verification = verify_entries(&entries);
    assert_eq!(verification.first_broken_seq, None);
    assert_eq!(verification.entries_checked, 5);
    assert_eq!(verification.head_seq, 5);
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

#[test]
fn stored_data_in_another_json_layout_still_verifies_by_its_canonical_form() {
    let entries = chain(2);
    let mut verifier = ChainVerifier::new();
    for entry in &entries {
        let pretty = serde_json::to_string_pretty(&entry.data).unwrap();
        let fields = fields_of(entry, &pretty);
        assert!(verifier.check(&fields, &entry.prev_hash, &entry.hash));
    }
    assert!(verifier.finish().is_valid());
}

#[test]
fn a_rewritten_tail_verifies_alone_but_contradicts_a_kept_checkpoint() {
    let original = chain(5);
    let kept = (4, original[3].hash.clone());
    // Rewrite entries 3..5 and recompute every hash after the edit.
    let mut rewritten = original.clone();
    rewritten[2].data = serde_json::json!({"name": "forged"});
    for i in 2..5 {
        let prev = rewritten[i - 1].hash.clone();
        rewritten[i].prev_hash = prev.clone();
        rewritten[i].hash = entry_hash(&rewritten[i], &prev);
    }
    assert!(
        verify_entries(&rewritten).is_valid(),
        "the recomputed chain verifies on its own"
    );
    let mut verifier = ChainVerifier::new().with_checkpoints([(kept.0, kept.1.as_str())]);
    for entry in &rewritten {
        verifier.check_entry(entry);
    }
    let verification = verifier.finish();
    assert_eq!(verification.first_broken_seq, None);
    assert_eq!(verification.first_contradicted_checkpoint, Some(4));
}

#[test]
fn a_chain_cut_short_of_a_kept_checkpoint_contradicts_it() {
    let entries = chain(5);
    let mut verifier = ChainVerifier::new().with_checkpoints([(5, entries[4].hash.as_str())]);
    for entry in &entries[..3] {
        verifier.check_entry(entry);
    }
    assert_eq!(verifier.finish().first_contradicted_checkpoint, Some(5));
}

/// The links of a long chain computed on every core say what checking it one entry at a time says,
/// whatever was done to it: intact, an entry edited, one removed, a link forged to skip an entry.
#[test]
fn links_hashed_on_every_core_agree_with_checking_in_order() {
    let intact = chain(3000);
    let mut edited = intact.clone();
    edited[1700].subject = "someone else".into();
    let mut removed = intact.clone();
    removed.remove(2500);
    let mut forged = intact.clone();
    forged.remove(900);
    // The entry after the gap claims the removed one's predecessor and is rehashed to hold alone.
    forged[900].prev_hash = forged[899].hash.clone();
    forged[900].hash = entry_hash(&forged[900], &forged[899].hash);

    for (name, entries) in [
        ("intact", intact),
        ("edited", edited),
        ("removed", removed),
        ("forged", forged),
    ] {
        let canonical: Vec<String> = entries
            .iter()
            .map(|entry| {
                let mut data = Vec::new();
                write_canonical(&entry.data, &mut data);
                String::from_utf8(data).unwrap()
            })
            .collect();
        let links = links_of(
            &entries.iter().zip(&canonical).collect::<Vec<_>>(),
            |(entry, data), buf| Link::of(&fields_of(entry, data), &entry.prev_hash, &entry.hash, buf),
        );
        let mut verifier = ChainVerifier::new();
        verifier.check_links(&links);
        assert_eq!(verifier.finish(), verify_entries(&entries), "{name}");
    }
}
