use async_nats::jetstream::context::{PublishError, PublishErrorKind};

use super::*;

#[test]
fn only_what_the_message_itself_causes_counts_as_a_refusal() {
    let refused = [
        PublishError::new(PublishErrorKind::MaxPayloadExceeded),
        PublishError::with_source(
            PublishErrorKind::Other,
            async_nats::subject::SubjectError::InvalidFormat,
        ),
    ];
    for err in &refused {
        assert!(refuses_the_message(err), "{err}");
    }
    let outages = [
        PublishError::new(PublishErrorKind::TimedOut),
        PublishError::new(PublishErrorKind::BrokenPipe),
        PublishError::new(PublishErrorKind::StreamNotFound),
        PublishError::new(PublishErrorKind::MaxAckPending),
        PublishError::new(PublishErrorKind::Other),
        PublishError::with_source(PublishErrorKind::Other, std::io::Error::other("connection reset")),
    ];
    for err in &outages {
        assert!(!refuses_the_message(err), "{err}");
    }
}
