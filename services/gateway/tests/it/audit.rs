//! GET /v1/audit (shapes, pagination, order, filters, scoping) and the export's formats. The
//! checkpoint keys' own JWKS is tested end to end (tests/it/audit.rs, tests/it/sealed_keys.rs).

use latchkey_test_support::read_until;

use crate::harness::TestGateway;

async fn gateway_with_entries(count: usize) -> (TestGateway, String) {
    let gw = TestGateway::start().await;
    let me = gw.agent_token.add_key("acct_a", "bootstrap");
    for i in 0..count {
        let (event_type, actor) = if i % 2 == 0 {
            ("api_key.created", "key_0000")
        } else {
            ("api_key.deleted", "")
        };
        gw.audit.append(
            "acct_a",
            event_type,
            actor,
            &format!(r#"{{"key_id":"key_{i}","name":"n{i}"}}"#),
        );
    }
    gw.audit
        .append("acct_b", "api_key.created", "key_9", r#"{"key_id":"key_9"}"#);
    (gw, me.secret)
}

#[tokio::test]
async fn entries_come_newest_first_with_their_chain_hashes() {
    let (gw, secret) = gateway_with_entries(3).await;
    let page = gw.get("/v1/audit", &secret).await;
    assert_eq!(page.status, 200);
    let body = page.json();
    let data = body["data"].as_array().expect("data");
    assert_eq!(
        data.iter().map(|e| e["seq"].as_i64().unwrap_or(0)).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert!(body["next_cursor"].is_null());

    let first = &data[2];
    assert_eq!(first["event_id"], "evt_1");
    assert_eq!(first["type"], "api_key.created");
    assert!(
        first["time"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
    );
    assert_eq!(first["actor"], "key_0000");
    assert_eq!(first["subject"], "key_1");
    assert!(first["decision_id"].is_null(), "empty strings become null");
    assert_eq!(first["data"], serde_json::json!({"key_id": "key_0", "name": "n0"}));
    assert_eq!(first["prev_hash"], "0".repeat(64));
    assert_eq!(data[1]["prev_hash"], first["hash"]);
    assert!(data[1]["actor"].is_null());
}

#[tokio::test]
async fn pages_follow_the_cursor_in_either_order() {
    let (gw, secret) = gateway_with_entries(5).await;

    let mut seen = Vec::new();
    let mut path = "/v1/audit?limit=2".to_owned();
    loop {
        let body = gw.get(&path, &secret).await.json();
        seen.extend(
            body["data"]
                .as_array()
                .expect("data")
                .iter()
                .map(|e| e["seq"].as_i64().unwrap_or(0)),
        );
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/audit?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [5, 4, 3, 2, 1]);

    let body = gw.get("/v1/audit?order=asc&limit=3", &secret).await.json();
    let seqs: Vec<_> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| e["seq"].as_i64())
        .collect();
    assert_eq!(seqs, [Some(1), Some(2), Some(3)]);
    let cursor = body["next_cursor"].as_str().expect("a next page");
    let rest = gw
        .get(&format!("/v1/audit?order=asc&limit=3&cursor={cursor}"), &secret)
        .await
        .json();
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(2));
    assert!(rest["next_cursor"].is_null());
}

#[tokio::test]
async fn the_type_filter_selects_one_event_type() {
    let (gw, secret) = gateway_with_entries(4).await;
    let body = gw.get("/v1/audit?type=api_key.deleted", &secret).await.json();
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert!(data.iter().all(|e| e["type"] == "api_key.deleted"));
}

#[tokio::test]
async fn an_account_sees_only_its_own_entries() {
    let (gw, _) = gateway_with_entries(2).await;
    let other = gw.agent_token.add_key("acct_b", "theirs");
    let body = gw.get("/v1/audit", &other.secret).await.json();
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["actor"], "key_9");
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let (gw, secret) = gateway_with_entries(1).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("limit=-3", "limit"),
        ("order=sideways", "order"),
        ("cursor=abc", "cursor"),
        ("cursor=-5", "cursor"),
        ("type=nope.never", "type"),
        ("type=nope.*", "type"),
        ("type=*", "type"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("colour=red", "colour"),
    ] {
        let answer = gw.get(&format!("/v1/audit?{query}"), &secret).await;
        answer.assert_problem(400, "VALIDATION_ERROR");
        assert_eq!(answer.first_error_field(), field, "{query}");
    }
    // Boundaries are accepted.
    for query in [
        "limit=1",
        "limit=500",
        "order=asc",
        "order=desc",
        "type=api_key.created",
        "type=api_key.*",
        "order=oldest",
        "order=newest",
        "actor=key_1&subject=key_2&agent=agent_1",
        "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00%2B01:00",
        "cursor=",
    ] {
        assert_eq!(
            gw.get(&format!("/v1/audit?{query}"), &secret).await.status,
            200,
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_export_streams_json_lines_a_json_document_and_csv_with_the_hashes() {
    let (gw, secret) = gateway_with_entries(3).await;
    let lines = gw.get("/v1/audit/export", &secret).await;
    assert_eq!(lines.status, 200);
    assert_eq!(lines.header("content-type"), Some("application/x-ndjson"));
    let text = String::from_utf8(lines.body.to_vec()).unwrap();
    let jsonl = gw.get("/v1/audit/export?format=jsonl", &secret).await;
    assert_eq!(jsonl.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(jsonl.body, lines.body, "JSON Lines is the default");
    let rows: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();

    // One JSON document: the same entries, in the same order.
    let document = gw.get("/v1/audit/export?format=json", &secret).await;
    assert_eq!(document.status, 200);
    assert_eq!(document.header("content-type"), Some("application/json"));
    assert!(
        document
            .header("content-disposition")
            .is_some_and(|value| value.ends_with(".json\"")),
        "{:?}",
        document.header("content-disposition")
    );
    let parsed: serde_json::Value = serde_json::from_slice(&document.body).expect("one JSON document");
    assert_eq!(
        parsed["entries"].as_array(),
        Some(&rows),
        "the document holds the lines' entries"
    );
    assert!(rows.len() >= 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["seq"], i as i64 + 1);
        for member in [
            "account_id",
            "event_id",
            "type",
            "time",
            "time_ms",
            "actor",
            "subject",
            "decision_id",
            "data",
            "prev_hash",
            "hash",
        ] {
            assert!(!row[member].is_null(), "{member} in {row}");
        }
    }

    let csv = gw.get("/v1/audit/export?format=csv", &secret).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    let mut csv_lines = text.split("\r\n");
    assert_eq!(
        csv_lines.next(),
        Some("account_id,seq,event_id,type,time,time_ms,actor,subject,decision_id,data,prev_hash,hash")
    );
    assert_eq!(csv_lines.filter(|line| !line.is_empty()).count(), rows.len());

    let bad = gw.get("/v1/audit/export?format=xml", &secret).await;
    bad.assert_problem(400, "VALIDATION_ERROR");
    assert_eq!(bad.first_error_field(), "format");
}

#[tokio::test]
async fn checkpoint_keys_are_published_apart_from_the_token_jwks() {
    let mut gw = TestGateway::start().await;
    let tokens = gw.get_public("/.well-known/jwks.json").await;
    assert_eq!(tokens.status, 200);
    let token_kids: Vec<String> = tokens.json()["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(token_kids, ["token-fake"], "agent-token's keys, and no checkpoint key");

    // No credential needed: the keys are public, the same for every account.
    let checkpoints = gw.get_public("/v1/audit/checkpoints/jwks.json").await;
    assert_eq!(checkpoints.status, 200);
    assert_eq!(checkpoints.header("content-type"), Some("application/json"));
    assert_eq!(checkpoints.header("cache-control"), Some("public, max-age=300"));
    let keys = checkpoints.json();
    assert_eq!(keys["keys"][0]["kid"], "audit-fake");
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(1));

    // Without the audit service there is no key set to serve, rather than an empty one. The
    // stopped server closes its connections on its own schedule: poll until calls fail.
    gw.stop_services();
    let answer = read_until(
        std::time::Duration::from_secs(10),
        || gw.get_public("/v1/audit/checkpoints/jwks.json"),
        |answer| answer.status == 503,
    )
    .await;
    answer.assert_problem(503, "SERVICE_UNAVAILABLE");
}
