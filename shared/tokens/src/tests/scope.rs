//! The scope relations, by example and against an independent matcher over every short scope.

use proptest::prelude::*;

use crate::scope::{
    MAX_PATTERN_LEN, MAX_SCOPE_LEN, ScopeError, check_rule_pattern, check_scope, contains, first_uncovered, overlaps,
};

#[test]
fn a_scope_matches_only_itself() {
    assert!(contains("secrets.read", "secrets.read"));
    assert!(!contains("secrets.read", "secrets.write"));
    assert!(!contains("secrets.read", "secrets"));
    assert!(!contains("secrets.read", "secrets.read.all"));
    assert!(!contains("secrets.read", "Secrets.read"));
    assert!(!contains("secrets.read", "secrets.*"));
}

#[test]
fn a_trailing_star_is_everything_below_its_prefix() {
    assert!(contains("secrets.*", "secrets.read"));
    assert!(contains("secrets.*", "secrets.db.read"));
    assert!(contains("secrets.*", "secrets.db.*"));
    assert!(contains("secrets.*", "secrets.*"));
    assert!(!contains("secrets.*", "secrets"));
    assert!(!contains("secrets.*", "secrets."));
    assert!(!contains("secrets.*", "secrets..read"));
    assert!(!contains("secrets.*", "secretsx.read"));
    assert!(!contains("secrets.*", "*"));
    assert!(!contains("secrets.read.*", "secrets.*"));
}

#[test]
fn an_inner_star_is_exactly_one_segment() {
    assert!(contains("*.read", "db.read"));
    assert!(!contains("*.read", "read"));
    assert!(!contains("*.read", ".read"));
    assert!(!contains("*.read", "db.x.read"));
    assert!(contains("db.*.write", "db.orders.write"));
    assert!(!contains("db.*.write", "db.write"));
    assert!(!contains("db.*.write", "db.*"));
    assert!(contains("*.*", "a.b.c"));
    assert!(!contains("*.*", "a"));
}

#[test]
fn the_lone_star_is_every_scope() {
    for inner in ["secrets", "secrets.read", "db.*", "*", "*.read"] {
        assert!(contains("*", inner), "{inner}");
    }
    assert!(!contains("*", ""));
}

#[test]
fn wildcard_requests_overlap_the_scopes_they_could_be_used_for() {
    // The review's findings: `*` and `secrets.*` both reach `secrets.read`.
    assert!(overlaps("secrets.*", "*"));
    assert!(overlaps("secrets.read", "*"));
    assert!(overlaps("secrets.read", "secrets.*"));
    assert!(overlaps("*.read", "secrets.*"));
    assert!(overlaps("db.*.write", "db.*"));
    assert!(!overlaps("secrets.*", "db.*"));
    assert!(!overlaps("secrets.*", "secrets"));
    assert!(!overlaps("*.read", "db.write"));
    assert!(!overlaps("a.b", "a.b.*"));
}

#[test]
fn the_first_uncovered_scope_is_named() {
    let granted = ["secrets.read", "db.*"];
    assert_eq!(first_uncovered(&granted, &["db.write", "secrets.read"]), None);
    assert_eq!(
        first_uncovered(&granted, &["db.write", "secrets.write"]),
        Some("secrets.write")
    );
    assert_eq!(first_uncovered(&granted, &[] as &[&str]), None);
    assert_eq!(first_uncovered(&[] as &[&str], &["db.write"]), Some("db.write"));
}

#[test]
fn token_scopes_take_a_trailing_wildcard_at_most() {
    for good in ["secrets.read", "db.write", "db.*", "*", "repo:latchkey.read", "a-b_c"] {
        assert_eq!(check_scope(good), Ok(()), "{good}");
    }
    assert_eq!(check_scope(""), Err(ScopeError::Empty));
    assert_eq!(check_scope("*.read"), Err(ScopeError::InnerWildcard));
    assert_eq!(check_scope("db.*.write"), Err(ScopeError::InnerWildcard));
    assert_eq!(check_scope("sec*"), Err(ScopeError::PartialWildcard));
    assert_eq!(check_scope("db."), Err(ScopeError::EmptySegment));
    assert_eq!(check_scope(".db"), Err(ScopeError::EmptySegment));
    assert_eq!(check_scope("a..b"), Err(ScopeError::EmptySegment));
    assert_eq!(check_scope("db read"), Err(ScopeError::Whitespace));
    assert_eq!(check_scope("db/read"), Err(ScopeError::Character));
    assert_eq!(check_scope(&"a".repeat(MAX_SCOPE_LEN)), Ok(()));
    assert_eq!(
        check_scope(&"a".repeat(MAX_SCOPE_LEN + 1)),
        Err(ScopeError::TooLong(MAX_SCOPE_LEN))
    );
}

#[test]
fn rule_patterns_take_a_wildcard_in_any_whole_segment() {
    for good in [
        "secrets.*",
        "*.read",
        "db.*.write",
        "*",
        "billing",
        "https://api.example.com",
    ] {
        assert_eq!(check_rule_pattern(good), Ok(()), "{good}");
    }
    assert_eq!(check_rule_pattern("secrets.**"), Err(ScopeError::PartialWildcard));
    assert_eq!(check_rule_pattern("secrets..read"), Err(ScopeError::EmptySegment));
    assert_eq!(check_rule_pattern("a\tb"), Err(ScopeError::Whitespace));
    assert_eq!(
        check_rule_pattern(&"a".repeat(MAX_PATTERN_LEN + 1)),
        Err(ScopeError::TooLong(MAX_PATTERN_LEN))
    );
}

/// An independent reading of the grammar: does `pattern` (split on dots) match the scope `name`?
fn oracle(pattern: &[&str], name: &[&str]) -> bool {
    match (pattern, name) {
        ([], []) => true,
        (["*"], rest) => !rest.is_empty(),
        ([want, pattern_rest @ ..], [got, name_rest @ ..]) => {
            (*want == "*" || want == got) && oracle(pattern_rest, name_rest)
        }
        _ => false,
    }
}

/// Every scope of 1 to 6 segments over `a`, `b` and `c`: long enough to witness any difference
/// between patterns of up to 4 segments over `a`, `b` and `*` (`c` is a segment no pattern names).
fn every_short_scope() -> Vec<Vec<&'static str>> {
    let mut all: Vec<Vec<&str>> = vec![vec![]];
    let mut scopes = Vec::new();
    for _ in 0..6 {
        all = all
            .into_iter()
            .flat_map(|prefix| {
                ["a", "b", "c"].into_iter().map(move |segment| {
                    let mut longer = prefix.clone();
                    longer.push(segment);
                    longer
                })
            })
            .collect();
        scopes.extend(all.iter().cloned());
    }
    scopes
}

fn pattern_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "*"]), 1..=4).prop_map(|segments| segments.join("."))
}

proptest! {
    #[test]
    fn contains_means_every_scope_of_the_inner_is_in_the_outer(outer in pattern_strategy(), inner in pattern_strategy()) {
        let (o, i): (Vec<&str>, Vec<&str>) = (outer.split('.').collect(), inner.split('.').collect());
        let expected = every_short_scope().iter().all(|name| !oracle(&i, name) || oracle(&o, name));
        prop_assert_eq!(contains(&outer, &inner), expected, "contains({}, {})", outer, inner);
    }

    #[test]
    fn overlaps_means_some_scope_is_in_both(a in pattern_strategy(), b in pattern_strategy()) {
        let (x, y): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
        let expected = every_short_scope().iter().any(|name| oracle(&x, name) && oracle(&y, name));
        prop_assert_eq!(overlaps(&a, &b), expected, "overlaps({}, {})", a, b);
        prop_assert_eq!(overlaps(&a, &b), overlaps(&b, &a));
    }

    #[test]
    fn a_scope_is_matched_exactly_when_the_independent_reading_says_so(pattern in pattern_strategy(), name in prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=6)) {
        let p: Vec<&str> = pattern.split('.').collect();
        prop_assert_eq!(contains(&pattern, &name.join(".")), oracle(&p, &name));
    }
}
