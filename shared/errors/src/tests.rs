use super::*;

#[test]
fn an_error_survives_the_trip_through_a_grpc_status() {
    let sent = ApiError::validation(vec![FieldError::new("name", "must not be empty")]);
    let status = tonic::Status::from(sent.clone());
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(ApiError::from_status(&status), sent);
}

#[test]
fn a_foreign_status_maps_by_its_code_without_leaking_its_message() {
    let status = tonic::Status::internal("connection to db at 10.0.0.3 refused");
    let error = ApiError::from_status(&status);
    assert_eq!(error.code, ErrorCode::InternalError);
    assert!(!error.message.contains("10.0.0.3"));
}

#[test]
fn every_documented_code_has_its_documented_status() {
    for (code, status) in [
        (ErrorCode::ValidationError, 400),
        (ErrorCode::TokenExpired, 400),
        (ErrorCode::SessionExpired, 400),
        (ErrorCode::Unauthorized, 401),
        (ErrorCode::PlanLimit, 402),
        (ErrorCode::Forbidden, 403),
        (ErrorCode::NotFound, 404),
        (ErrorCode::IntegrationNotFound, 404),
        (ErrorCode::Unprocessable, 422),
        (ErrorCode::RateLimited, 429),
        (ErrorCode::UpstreamError, 502),
    ] {
        assert_eq!(code.http_status(), status, "{}", code.as_str());
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{}\"", code.as_str()));
    }
}

#[test]
fn a_plan_limit_names_the_plan_the_resource_the_limit_and_the_usage_across_grpc() {
    let sent = ApiError::plan_limit(PlanLimitReached {
        plan: "free".to_owned(),
        resource: "api_keys".to_owned(),
        limit: 2,
        usage: 2,
    });
    assert_eq!(sent.code, ErrorCode::PlanLimit);
    assert!(
        sent.message.contains("`free`") && sent.message.contains("2 api keys"),
        "{}",
        sent.message
    );
    let status = tonic::Status::from(sent.clone());
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(ApiError::from_status(&status), sent);
}
