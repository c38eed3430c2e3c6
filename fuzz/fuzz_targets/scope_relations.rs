//! Scope patterns (`latchkey_tokens::scope`): the checks and both relations never panic on any text,
//! the relations keep their algebra (overlap symmetric, containment transitive and reflexive on
//! valid patterns, containment implying overlap), and on valid rule patterns they agree with a plain
//! model: "the concrete scopes a pattern stands for", enumerated over the patterns' own segments
//! plus one fresh segment, which is enough to hold a witness whenever the answer is "no".
//!
//! Input: one mode byte, then three patterns separated by `\n`. An even mode byte maps every byte to
//! a small alphabet (`a b . *` …) so patterns collide often; an odd one reads the text as it is.
#![no_main]

use latchkey_tokens::scope::{check_rule_pattern, check_scope, contains, overlaps};
use libfuzzer_sys::fuzz_target;

const ALPHABET: &[u8] = b"ab.*.a*b.x";
/// The model enumerates scopes of up to this many segments; longer patterns skip the model.
const MODEL_SEGMENTS: usize = 4;
/// And at most this many scopes, so one input stays fast.
const MODEL_SCOPES: usize = 2_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let mut next = || -> String {
        let part = parts.next().unwrap_or_default();
        if mode % 2 == 0 {
            part.iter()
                .map(|&b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
                .collect()
        } else {
            String::from_utf8_lossy(part).into_owned()
        }
    };
    let (a, b, c) = (next(), next(), next());

    for pattern in [&a, &b, &c] {
        let scope_ok = check_scope(pattern).is_ok();
        let rule_ok = check_rule_pattern(pattern).is_ok();
        assert!(
            !scope_ok || rule_ok,
            "{pattern:?} is a valid token scope but not a valid rule pattern"
        );
    }
    for (x, y) in [(&a, &b), (&b, &c), (&a, &c)] {
        assert_eq!(
            overlaps(x, y),
            overlaps(y, x),
            "overlaps is not symmetric on {x:?}, {y:?}"
        );
    }
    if contains(&a, &b) && contains(&b, &c) {
        assert!(contains(&a, &c), "contains is not transitive: {a:?} ⊇ {b:?} ⊇ {c:?}");
    }
    for (x, y) in [(&a, &b), (&b, &c), (&a, &c), (&b, &a)] {
        if contains(x, y) && check_rule_pattern(y).is_ok() {
            assert!(
                overlaps(x, y),
                "{x:?} contains the valid pattern {y:?} but does not overlap it"
            );
        }
    }
    for x in [&a, &b, &c] {
        if check_rule_pattern(x).is_ok() {
            assert!(contains(x, x), "the valid pattern {x:?} does not contain itself");
        }
    }
    model_agrees(&a, &b);
});

/// On two valid rule patterns of a few segments, `contains` and `overlaps` answer what the
/// enumerated model answers.
fn model_agrees(a: &str, b: &str) {
    if check_rule_pattern(a).is_err() || check_rule_pattern(b).is_err() {
        return;
    }
    let longest = a.split('.').count().max(b.split('.').count());
    if longest > MODEL_SEGMENTS {
        return;
    }
    let mut literals: Vec<&str> = a.split('.').chain(b.split('.')).filter(|s| *s != "*").collect();
    literals.sort_unstable();
    literals.dedup();
    let fresh = (0..)
        .map(|n| format!("fresh{n}"))
        .find(|f| !literals.contains(&f.as_str()));
    let fresh = fresh.unwrap_or_default();
    literals.push(&fresh);
    let count: usize = (1..=longest + 1).map(|n| literals.len().pow(n as u32)).sum();
    if count > MODEL_SCOPES {
        return;
    }

    let (mut b_not_a, mut both) = (false, false);
    for scope in scopes(&literals, longest + 1) {
        let (in_a, in_b) = (stands_for(a, &scope), stands_for(b, &scope));
        b_not_a |= in_b && !in_a;
        both |= in_a && in_b;
    }
    assert_eq!(
        contains(a, b),
        !b_not_a,
        "contains({a:?}, {b:?}) disagrees with the model"
    );
    assert_eq!(overlaps(a, b), both, "overlaps({a:?}, {b:?}) disagrees with the model");
}

/// Every dotted scope of 1..=`max` segments drawn from `segments`.
fn scopes(segments: &[&str], max: usize) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    let mut layer: Vec<Vec<String>> = vec![Vec::new()];
    for _ in 0..max {
        layer = layer
            .iter()
            .flat_map(|prefix| {
                segments.iter().map(move |segment| {
                    let mut scope = prefix.clone();
                    scope.push((*segment).to_owned());
                    scope
                })
            })
            .collect();
        all.extend(layer.iter().cloned());
    }
    all
}

/// The model: a trailing `*` is one or more segments, any other `*` exactly one, literals equal.
fn stands_for(pattern: &str, scope: &[String]) -> bool {
    let segments: Vec<&str> = pattern.split('.').collect();
    let (fixed, open) = match segments.split_last() {
        Some((&"*", fixed)) => (fixed, true),
        _ => (&segments[..], false),
    };
    let length_fits = if open {
        scope.len() > fixed.len()
    } else {
        scope.len() == fixed.len()
    };
    length_fits
        && fixed
            .iter()
            .zip(scope)
            .all(|(wanted, given)| *wanted == "*" || wanted == given)
}
