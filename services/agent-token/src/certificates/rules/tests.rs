use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use latchkey_errors::{ErrorCode, FieldError};

use super::*;

/// 2026-03-01T10:00:00Z, the seed's creation time.
const NOW: i64 = 1_772_359_200_000;

fn at(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).expect("a time").timestamp_millis()
}

fn seed_request() -> NewCertificate {
    NewCertificate {
        name: "Production API Key".to_owned(),
        algorithm: "RS256".to_owned(),
        expires_at: "2027-03-01T00:00:00.000Z".to_owned(),
        metadata: BTreeMap::from([
            ("environment".to_owned(), "production".to_owned()),
            ("team".to_owned(), "backend".to_owned()),
        ]),
    }
}

/// The field errors of a refused request.
fn refusals(new: NewCertificate) -> Vec<FieldError> {
    match new.validated(NOW) {
        Err(AgentTokenError::Invalid(error)) => {
            assert_eq!(error.code, ErrorCode::ValidationError);
            error.errors
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|error| error.field.as_str()).collect()
}

#[test]
fn the_seeds_request_is_accepted_as_sent() {
    let valid = seed_request().validated(NOW).expect("valid");
    assert_eq!(valid.name, "Production API Key");
    assert_eq!(valid.algorithm, Algorithm::Rs256);
    assert_eq!(valid.expires_at_ms, at("2027-03-01T00:00:00Z"));
    assert_eq!(valid.metadata.len(), 2);
}

#[test]
fn defaults_are_rs256_and_twelve_months() {
    let valid = NewCertificate {
        name: "ci".to_owned(),
        ..NewCertificate::default()
    }
    .validated(NOW)
    .expect("valid");
    assert_eq!(valid.algorithm, Algorithm::Rs256);
    assert_eq!(valid.expires_at_ms, at("2027-03-01T10:00:00Z"));
    assert!(valid.metadata.is_empty());
}

#[test]
fn every_algorithm_of_the_closed_set_and_nothing_else() {
    for algorithm in Algorithm::ALL {
        let new = NewCertificate {
            algorithm: algorithm.as_str().to_owned(),
            ..seed_request()
        };
        assert_eq!(new.validated(NOW).expect("valid").algorithm, algorithm);
    }
    for bad in ["rs256", "HS256", "none", "ES384", "PS256", "Ed25519", "EDDSA", " RS256"] {
        let new = NewCertificate {
            algorithm: bad.to_owned(),
            ..seed_request()
        };
        assert_eq!(fields(&refusals(new)), ["algorithm"], "{bad}");
    }
}

#[test]
fn the_name_is_required_trimmed_and_bounded() {
    let name = |name: &str| NewCertificate {
        name: name.to_owned(),
        ..seed_request()
    };
    assert_eq!(name("  ci  ").validated(NOW).expect("valid").name, "ci");
    assert!(name(&"n".repeat(MAX_NAME_CHARS)).validated(NOW).is_ok());
    assert!(
        name(&"é".repeat(MAX_NAME_CHARS)).validated(NOW).is_ok(),
        "characters, not bytes"
    );
    for bad in [
        String::new(),
        "   ".to_owned(),
        "n".repeat(MAX_NAME_CHARS + 1),
        "a\u{0}b".to_owned(),
        "a\nb".to_owned(),
    ] {
        assert_eq!(fields(&refusals(name(&bad))), ["name"], "{bad:?}");
    }
}

#[test]
fn expires_at_is_rfc3339_in_the_future_and_within_five_years() {
    let expiring = |text: &str| NewCertificate {
        expires_at: text.to_owned(),
        ..seed_request()
    };
    assert_eq!(
        expiring("2031-03-01T10:00:00.000Z")
            .validated(NOW)
            .expect("five years")
            .expires_at_ms,
        at("2031-03-01T10:00:00Z")
    );
    assert_eq!(
        expiring("2026-03-01T12:00:00.001+02:00")
            .validated(NOW)
            .expect("offsets count")
            .expires_at_ms,
        NOW + 1
    );
    for bad in [
        "2031-03-01T10:00:00.001Z",
        "2026-03-01T10:00:00Z",
        "2020-01-01T00:00:00Z",
        "2027-03-01",
        "tomorrow",
        "1767225600",
        "2027-13-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ] {
        assert_eq!(fields(&refusals(expiring(bad))), ["expiresAt"], "{bad}");
    }
}

#[test]
fn metadata_is_bounded_in_entries_names_and_values() {
    let with = |metadata: Vec<(String, String)>| NewCertificate {
        metadata: metadata.into_iter().collect(),
        ..seed_request()
    };
    let most: Vec<_> = (0..MAX_METADATA_ENTRIES)
        .map(|i| (format!("k{i}"), "v".repeat(MAX_METADATA_VALUE_CHARS)))
        .collect();
    assert!(with(most.clone()).validated(NOW).is_ok());
    assert!(
        with(vec![("k".repeat(MAX_METADATA_KEY_CHARS), String::new())])
            .validated(NOW)
            .is_ok()
    );

    let mut too_many = most;
    too_many.push(("one_more".to_owned(), String::new()));
    assert_eq!(fields(&refusals(with(too_many))), ["metadata"]);
    for key in [
        String::new(),
        " ".to_owned(),
        "k".repeat(MAX_METADATA_KEY_CHARS + 1),
        "a\u{7}".to_owned(),
    ] {
        assert_eq!(
            fields(&refusals(with(vec![(key.clone(), "v".to_owned())]))),
            ["metadata"],
            "{key:?}"
        );
    }
    let value = |value: String| with(vec![("team".to_owned(), value)]);
    assert_eq!(
        fields(&refusals(value("v".repeat(MAX_METADATA_VALUE_CHARS + 1)))),
        ["metadata.team"]
    );
    assert_eq!(fields(&refusals(value("a\r\nb".to_owned()))), ["metadata.team"]);
}

#[test]
fn every_field_at_fault_is_named_at_once() {
    let new = NewCertificate {
        name: String::new(),
        algorithm: "HS256".to_owned(),
        expires_at: "yesterday".to_owned(),
        metadata: BTreeMap::from([("team".to_owned(), "x".repeat(MAX_METADATA_VALUE_CHARS + 1))]),
    };
    assert_eq!(
        fields(&refusals(new)),
        ["name", "algorithm", "expiresAt", "metadata.team"]
    );
}

#[test]
fn the_lifetime_bounds_are_calendar_months() {
    let utc = |ms| DateTime::<Utc>::from_timestamp_millis(ms).expect("a time");
    assert_eq!(
        utc(months_after(NOW, MAX_LIFETIME_MONTHS).expect("in range")).to_rfc3339(),
        "2031-03-01T10:00:00+00:00"
    );
}
