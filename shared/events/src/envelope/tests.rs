use super::*;

/// Found by the `event_envelope` fuzz target: a number past `u64` (so a float) in the data came
/// back one ulp off after an encode and decode, because serde_json's default float parsing is
/// not correctly rounded. The relay, the buses and the audit chain's canonical JSON all move
/// data through that round trip.
#[test]
fn an_envelope_with_a_huge_number_in_its_data_decodes_back_to_itself() {
    let huge = format!("178999999{}18446744066623952614", "0".repeat(85));
    let json = format!(
        r#"{{"specversion":"1.0","id":"01","source":"/latchkey/agent-token","type":"agent.revoked",
            "time":"2026-07-01T14:00:00.123456Z","account":"acct_1","datacontenttype":"application/json",
            "data":{{"at_ms":{huge}}}}}"#
    );
    let envelope = Envelope::from_json(json.as_bytes()).expect("decodes");
    let again = Envelope::from_json(&envelope.to_json()).expect("decodes again");
    assert_eq!(again, envelope);
}
