//! A consumer's handler runs in an `event.consume` span that continues the trace of the request
//! that caused the event, carried in the envelope's `traceparent`; a batch of several events runs
//! in one `event.consume_batch` span linked to each of their traces.

use latchkey_events::{Envelope, EventFilter, run_batch_consumer};
use latchkey_test_support::{BusKind, TestBus, captured};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::SpanData;

use crate::support::{DEADLINE, Recorded, Running, event, spawn_recorder, stop_signal};

fn consume_spans_of(trace_id: TraceId) -> Vec<SpanData> {
    captured::spans_of(trace_id)
        .into_iter()
        .filter(|span| span.name == "event.consume")
        .collect()
}

#[tokio::test]
async fn the_consumer_span_continues_the_envelope_trace() {
    captured::install();
    let test = TestBus::new(BusKind::Local).await;
    let mut traced = event(0);
    traced.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
    test.bus.publish(std::slice::from_ref(&traced)).await.expect("publish");

    let recorded = Recorded::default();
    let consumer = spawn_recorder(&test.bus, "trace-test", EventFilter::all(), &recorded);
    recorded.wait_for(1).await;
    consumer.stop().await;

    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let spans = loop {
        let spans = consume_spans_of(trace_id);
        if !spans.is_empty() {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event.consume span in the trace"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let span = &spans[0];
    assert_eq!(
        span.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").expect("span id")
    );
    let event_id = span
        .attributes
        .iter()
        .find(|attribute| attribute.key.as_str() == "event_id")
        .map(|attribute| attribute.value.to_string());
    assert_eq!(event_id.as_deref(), Some(traced.id.as_str()));
}

#[tokio::test]
async fn a_batch_span_links_each_trace_of_its_events_once() {
    captured::install();
    let test = TestBus::new(BusKind::Local).await;
    let first_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let second_trace = "00-5b8aa5a2d2c872e8321cf37308d69df2-051581bf3cb55c13-01";
    let sent: Vec<Envelope> = [first_trace, first_trace, second_trace]
        .iter()
        .enumerate()
        .map(|(n, traceparent)| {
            let mut traced = event(n);
            traced.traceparent = Some((*traceparent).to_owned());
            traced
        })
        .collect();
    test.bus.publish(&sent).await.expect("publish");

    let recorded = Recorded::default();
    let handler = {
        let recorded = recorded.clone();
        move |events: Vec<Envelope>| {
            for event in events {
                recorded.push(event);
            }
            async { Ok::<(), String>(()) }
        }
    };
    let (stop, stopped) = stop_signal();
    let task = tokio::spawn(run_batch_consumer(
        test.bus.clone(),
        "trace-batch-test".into(),
        EventFilter::all(),
        10,
        handler,
        stopped,
    ));
    recorded.wait_for(3).await;
    Running::new(stop, task).stop().await;

    let linked_to = |span: &SpanData| -> Vec<String> {
        span.links
            .iter()
            .map(|link| link.span_context.trace_id().to_string())
            .collect()
    };
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let span = loop {
        let found = captured::finished_spans().into_iter().find(|span| {
            span.name == "event.consume_batch"
                && linked_to(span).contains(&"0af7651916cd43dd8448eb211c80319c".to_owned())
        });
        if let Some(span) = found {
            break span;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event.consume_batch span linked to the trace"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(
        linked_to(&span),
        ["0af7651916cd43dd8448eb211c80319c", "5b8aa5a2d2c872e8321cf37308d69df2"],
        "each trace once, in the order of the events"
    );
    let events = span
        .attributes
        .iter()
        .find(|attribute| attribute.key.as_str() == "events")
        .map(|attribute| attribute.value.to_string());
    assert_eq!(events.as_deref(), Some("3"));
}
