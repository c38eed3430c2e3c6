use super::*;

#[test]
fn a_throttled_caller_sees_rate_limited_with_its_wait() {
    let error = InfraError::Throttled {
        message: "too many token requests; retry after 3 s".to_owned(),
        retry_after_secs: Some(3),
    };
    let status = tonic::Status::from(error.to_api_error("test"));
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let seen = ApiError::from_status(&status);
    assert_eq!(seen.code, ErrorCode::RateLimited);
    assert_eq!(seen.retry_after_secs, Some(3));
    assert_eq!(seen.message, "too many token requests; retry after 3 s");
}

#[test]
fn an_unavailable_peer_is_unavailable_and_an_internal_failure_says_nothing_of_its_cause() {
    let unavailable = tonic::Status::from(InfraError::Unavailable("policy").to_api_error("test"));
    assert_eq!(unavailable.code(), tonic::Code::Unavailable);
    assert_eq!(ApiError::from_status(&unavailable), ApiError::unavailable());

    let internal = tonic::Status::from(InfraError::Internal("no key signs").to_api_error("test"));
    assert_eq!(internal.code(), tonic::Code::Internal);
    assert!(!internal.message().contains("no key signs"));
    assert_eq!(ApiError::from_status(&internal), ApiError::internal());
}

#[test]
fn a_database_out_of_reach_is_unavailable_and_a_failing_query_is_internal() {
    for out_of_reach in [
        InfraError::Database(SqlxError::PoolTimedOut),
        InfraError::Storage(StorageError::Database(SqlxError::PoolClosed)),
        InfraError::Database(SqlxError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        ))),
    ] {
        let status = tonic::Status::from(out_of_reach.to_api_error("test"));
        assert_eq!(status.code(), tonic::Code::Unavailable, "{out_of_reach}");
    }
    let failing = InfraError::Database(SqlxError::RowNotFound);
    assert_eq!(
        tonic::Status::from(failing.to_api_error("test")).code(),
        tonic::Code::Internal
    );
}
