use super::*;

#[test]
fn a_disconnect_opens_a_gap_that_the_reconnect_does_not_close() {
    let mut link = Link::default();
    link.note(&Event::Connected);
    assert_eq!(
        link,
        Link {
            connected: true,
            gaps: 0
        }
    );
    link.note(&Event::Disconnected);
    assert_eq!(
        link,
        Link {
            connected: false,
            gaps: 1
        }
    );
    link.note(&Event::Connected);
    assert_eq!(
        link,
        Link {
            connected: true,
            gaps: 1
        }
    );
}

#[test]
fn a_slow_consumer_is_a_gap_on_a_live_connection() {
    let mut link = Link::default();
    link.note(&Event::Connected);
    link.note(&Event::SlowConsumer(7));
    assert_eq!(
        link,
        Link {
            connected: true,
            gaps: 1
        }
    );
    link.note(&Event::LameDuckMode);
    assert_eq!(
        link,
        Link {
            connected: true,
            gaps: 1
        }
    );
}
