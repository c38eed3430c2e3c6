//! Scope patterns: the one grammar, and the one reading of it, that token issue, policy rules,
//! delegation and verification share.
//!
//! A scope is a dotted name (`secrets.read`); a pattern is a dotted name whose segments may be `*`:
//! - a `*` that is the **last** segment stands for one or more further segments: `secrets.*` is
//!   `secrets.read` and `secrets.db.read`, never `secrets` itself nor `secretsx.read`; `*` alone is
//!   every scope;
//! - a `*` anywhere else stands for exactly one segment: `*.read` is `db.read`, not `db.x.read`;
//! - literal segments compare exactly (case-sensitive); empty segments and partial wildcards
//!   (`sec*`) are refused when a pattern is checked, so a typo cannot widen or narrow anything.
//!
//! Two relations answer every question the services ask, so they can never disagree:
//! - [`contains`]`(outer, inner)`: every scope `inner` stands for, `outer` stands for too. A token
//!   grants a required scope, a delegated scope stays within its parent's, and an allow rule covers
//!   a request only by containment.
//! - [`overlaps`]`(a, b)`: some scope both stand for. A restricting rule (deny, throttle,
//!   require_approval) catches a request when one of its patterns overlaps a requested one, so a
//!   request for `*` or `secrets.*` is caught by a rule on `secrets.read`: whatever a verifier would
//!   grant under the rule's pattern is never issued past it.
//!
//! What may be written where differs only in the alphabet: a token's scopes ([`check_scope`]) use
//! letters, digits, `_`, `-`, `:` and `*` as a whole **last** segment only (`*.read` in a token would
//! be unusual to verify and is refused); a rule's patterns ([`check_rule_pattern`]) take `*` as any
//! whole segment and any printable literal, since they also name target services.

/// The most scopes one token may carry.
pub const MAX_SCOPES: usize = 50;
/// The longest scope a token may carry, in bytes.
pub const MAX_SCOPE_LEN: usize = 128;
/// The longest pattern a policy rule may hold, in bytes.
pub const MAX_PATTERN_LEN: usize = 256;

/// Why a scope or pattern was refused; the text is shown to the API caller next to the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} bytes")]
    TooLong(usize),
    #[error("must not contain whitespace or control characters")]
    Whitespace,
    #[error("has an empty segment: segments are separated by single dots, with none at either end")]
    EmptySegment,
    #[error("`*` must be a whole segment, as in `secrets.*` or `*.read`")]
    PartialWildcard,
    #[error("`*` may only be the last segment of a token's scope, as in `db.*`")]
    InnerWildcard,
    #[error("segments may only use letters, digits, `_`, `-` and `:`")]
    Character,
}

/// Checks a scope a token may carry (requested at issue or delegation).
pub fn check_scope(scope: &str) -> Result<(), ScopeError> {
    check_shape(scope, MAX_SCOPE_LEN)?;
    let mut segments = scope.split('.').peekable();
    while let Some(segment) = segments.next() {
        if segment == "*" {
            if segments.peek().is_some() {
                return Err(ScopeError::InnerWildcard);
            }
        } else if !segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
        {
            return Err(ScopeError::Character);
        }
    }
    Ok(())
}

/// Checks a pattern a policy rule may hold (over scopes or target services).
pub fn check_rule_pattern(pattern: &str) -> Result<(), ScopeError> {
    check_shape(pattern, MAX_PATTERN_LEN)
}

/// What both grammars refuse: emptiness, length, whitespace, empty segments, partial wildcards.
fn check_shape(text: &str, max_len: usize) -> Result<(), ScopeError> {
    if text.is_empty() {
        return Err(ScopeError::Empty);
    }
    if text.len() > max_len {
        return Err(ScopeError::TooLong(max_len));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ScopeError::Whitespace);
    }
    for segment in text.split('.') {
        if segment.is_empty() {
            return Err(ScopeError::EmptySegment);
        }
        if segment != "*" && segment.contains('*') {
            return Err(ScopeError::PartialWildcard);
        }
    }
    Ok(())
}

/// A policy rule's pattern, checked once when the rule is compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopePattern(Box<str>);

impl ScopePattern {
    /// Checks `pattern` as a rule pattern ([`check_rule_pattern`]).
    pub fn rule(pattern: &str) -> Result<Self, ScopeError> {
        check_rule_pattern(pattern)?;
        Ok(Self(pattern.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether every scope `inner` stands for, this pattern stands for too.
    pub fn contains(&self, inner: &str) -> bool {
        contains(&self.0, inner)
    }

    /// Whether some scope both this pattern and `other` stand for.
    pub fn overlaps(&self, other: &str) -> bool {
        overlaps(&self.0, other)
    }
}

/// One segment as the relations see it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Literal(&'a str),
    /// A `*` before the last segment: exactly one segment.
    One,
}

/// A pattern read without allocating: its fixed segments and whether a trailing `*` follows.
#[derive(Clone, Copy)]
struct Shape<'a> {
    fixed: &'a str,
    /// A trailing `*`: one or more further segments.
    open: bool,
}

impl<'a> Shape<'a> {
    fn of(text: &'a str) -> Self {
        if text == "*" {
            Self { fixed: "", open: true }
        } else if let Some(fixed) = text.strip_suffix(".*") {
            Self { fixed, open: true }
        } else {
            Self {
                fixed: text,
                open: false,
            }
        }
    }

    fn segments(self) -> impl Iterator<Item = Segment<'a>> {
        (!self.fixed.is_empty())
            .then(|| self.fixed.split('.'))
            .into_iter()
            .flatten()
            .map(|segment| {
                if segment == "*" {
                    Segment::One
                } else {
                    Segment::Literal(segment)
                }
            })
    }
}

/// An empty literal stands for nothing: `a..b` is no scope.
fn stands_for_something(segment: Segment<'_>) -> bool {
    segment != Segment::Literal("")
}

/// Whether every scope `inner` stands for, `outer` stands for too. A plain scope is a pattern that
/// stands for itself, so this is also "does `outer` match the scope `inner`".
pub fn contains(outer: &str, inner: &str) -> bool {
    let (outer, inner) = (Shape::of(outer), Shape::of(inner));
    let mut inner_segments = inner.segments();
    for wanted in outer.segments() {
        let Some(given) = inner_segments.next() else {
            // `inner` may stop here (or, if open, one segment later): shorter than `outer` allows.
            return false;
        };
        let covered = match (wanted, given) {
            (_, Segment::Literal("")) => false,
            (Segment::One, _) => true,
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Literal(_), Segment::One) => false,
        };
        if !covered {
            return false;
        }
    }
    let mut more = inner_segments.peekable();
    let inner_goes_on = more.peek().is_some() || inner.open;
    let rest_is_real = more.all(stands_for_something);
    if outer.open {
        inner_goes_on && rest_is_real
    } else {
        !inner_goes_on
    }
}

/// Whether some scope both `a` and `b` stand for.
pub fn overlaps(a: &str, b: &str) -> bool {
    let (a, b) = (Shape::of(a), Shape::of(b));
    let (mut a_segments, mut b_segments) = (a.segments(), b.segments());
    loop {
        match (a_segments.next(), b_segments.next()) {
            (Some(x), Some(y)) => {
                let compatible = match (x, y) {
                    (Segment::Literal(""), _) | (_, Segment::Literal("")) => false,
                    (Segment::One, _) | (_, Segment::One) => true,
                    (Segment::Literal(x), Segment::Literal(y)) => x == y,
                };
                if !compatible {
                    return false;
                }
            }
            (None, None) => return a.open == b.open,
            // One ran out of fixed segments: only its trailing `*` can stand for the other's rest.
            (None, Some(next)) => {
                return a.open && stands_for_something(next) && b_segments.all(stands_for_something);
            }
            (Some(next), None) => {
                return b.open && stands_for_something(next) && a_segments.all(stands_for_something);
            }
        }
    }
}

/// Whether some pattern in `granted` contains `requested`.
pub fn granted_covers<S: AsRef<str>>(granted: &[S], requested: &str) -> bool {
    granted.iter().any(|pattern| contains(pattern.as_ref(), requested))
}

/// The first of `requested` that no pattern of `granted` contains, if any.
pub fn first_uncovered<'r, G: AsRef<str>, R: AsRef<str>>(granted: &[G], requested: &'r [R]) -> Option<&'r str> {
    requested
        .iter()
        .map(AsRef::as_ref)
        .find(|wanted| !granted_covers(granted, wanted))
}
