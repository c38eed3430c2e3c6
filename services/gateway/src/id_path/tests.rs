use latchkey_errors::ErrorCode;

use super::*;

fn refused<T: PathIds<Text = String>>(text: &str) -> ApiError {
    match T::parse(text.to_owned()) {
        Ok(_) => panic!("{text} parsed"),
        Err(problem) => problem.0,
    }
}

#[test]
fn a_malformed_id_is_not_found_by_the_name_its_service_gives() {
    let long = format!("agent_{}", "a".repeat(65));
    for bad in [
        "agent_*",
        "agent_>",
        "agent_a.b",
        "pol_1",
        "AGENT_1",
        "agent_",
        long.as_str(),
    ] {
        let error = refused::<AgentId>(bad);
        assert_eq!(error.code, ErrorCode::NotFound, "{bad}");
        assert_eq!(error.message, "agent not found", "{bad}");
    }
    assert!(<AgentId as PathIds>::parse("agent_7m2k".to_owned()).is_ok());
    assert_eq!(refused::<ApiKeyId>("key_*").message, "API key not found");
}

#[test]
fn of_two_ids_the_first_at_fault_answers() {
    let both_bad = <(EndpointId, MessageId)>::parse(("whe_*".to_owned(), "msg_*".to_owned()));
    assert_eq!(
        both_bad.err().map(|problem| problem.0.message),
        Some("webhook endpoint not found".to_owned())
    );
    let second_bad = <(EndpointId, MessageId)>::parse(("whe_1".to_owned(), "whe_1".to_owned()));
    assert_eq!(
        second_bad.err().map(|problem| problem.0.message),
        Some("webhook message not found".to_owned())
    );
}
