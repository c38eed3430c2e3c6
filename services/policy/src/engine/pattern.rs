//! Wildcard patterns over dot-separated names, used for scopes (`secrets.read`) and target services.
//!
//! A pattern is a dot-separated list of segments; each segment is a literal or `*`:
//! - a `*` that is the **last** segment matches one or more remaining segments, so `secrets.*` covers
//!   `secrets.read` and `secrets.db.read` (an administrator denying `secrets.*` means all of secrets),
//!   and `*` alone matches every name;
//! - a `*` anywhere else matches exactly one segment: `*.read` matches `db.read` but not `db.x.read`;
//! - literals match whole segments exactly (case-sensitive): `secrets.*` never matches `secretsx.read`
//!   nor `secrets` itself.
//!
//! Partial wildcards (`sec*`), empty segments (`a..b`, `.a`) and whitespace are refused when the pattern
//! is compiled, so a typo cannot silently widen or narrow a rule.

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 256;

/// Why a pattern was refused; the text is shown to the API caller next to the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_PATTERN_LEN} bytes")]
    TooLong,
    #[error("must not contain whitespace or control characters")]
    Whitespace,
    #[error("has an empty segment: segments are separated by single dots, with none at either end")]
    EmptySegment,
    #[error("`*` must be a whole segment, as in `secrets.*` or `*.read`")]
    PartialWildcard,
}

/// One compiled segment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    /// `*` before the last segment: exactly one segment.
    One,
}

/// A compiled pattern: matching walks the name's segments once and never allocates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WildcardPattern {
    /// The segments that must each match one segment of the name, in order.
    segments: Box<[Segment]>,
    /// A trailing `*`: one or more further segments, whatever they are.
    rest: bool,
}

impl WildcardPattern {
    /// Compiles `pattern`, refusing the shapes the module documentation excludes.
    pub fn compile(pattern: &str) -> Result<Self, PatternError> {
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong);
        }
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PatternError::Whitespace);
        }
        let mut segments = Vec::new();
        for part in pattern.split('.') {
            segments.push(match part {
                "" => return Err(PatternError::EmptySegment),
                "*" => Segment::One,
                literal if literal.contains('*') => return Err(PatternError::PartialWildcard),
                literal => Segment::Literal(literal.into()),
            });
        }
        let rest = segments.last() == Some(&Segment::One);
        if rest {
            segments.pop();
        }
        Ok(Self {
            segments: segments.into_boxed_slice(),
            rest,
        })
    }

    /// Whether `name` (a requested scope or target service) matches.
    pub fn matches(&self, name: &str) -> bool {
        let mut parts = name.split('.');
        for segment in &self.segments {
            let Some(part) = parts.next() else {
                return false;
            };
            let segment_matches = match segment {
                Segment::Literal(literal) => part == &**literal,
                Segment::One => !part.is_empty(),
            };
            if !segment_matches {
                return false;
            }
        }
        if self.rest {
            // One or more further segments, none of them empty (`secrets.` is not a scope under secrets).
            let mut any = false;
            for part in parts {
                if part.is_empty() {
                    return false;
                }
                any = true;
            }
            any
        } else {
            parts.next().is_none()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> WildcardPattern {
        WildcardPattern::compile(text).expect("a valid pattern")
    }

    #[test]
    fn literal_matches_only_itself() {
        let p = pattern("secrets.read");
        assert!(p.matches("secrets.read"));
        assert!(!p.matches("secrets.write"));
        assert!(!p.matches("secrets"));
        assert!(!p.matches("secrets.read.all"));
        assert!(!p.matches("Secrets.read"));
    }

    #[test]
    fn trailing_star_covers_everything_below_the_prefix() {
        let p = pattern("secrets.*");
        assert!(p.matches("secrets.read"));
        assert!(p.matches("secrets.db.read"));
        assert!(!p.matches("secretsx.read"));
        assert!(!p.matches("secrets"));
        assert!(!p.matches("secrets."));
        assert!(!p.matches("secrets..read"));
        assert!(!p.matches("db.secrets.read"));
    }

    #[test]
    fn leading_star_is_exactly_one_segment() {
        let p = pattern("*.read");
        assert!(p.matches("secrets.read"));
        assert!(p.matches("db.read"));
        assert!(!p.matches("read"));
        assert!(!p.matches(".read"));
        assert!(!p.matches("secrets.db.read"));
        assert!(!p.matches("secrets.write"));
    }

    #[test]
    fn middle_star_is_exactly_one_segment() {
        let p = pattern("db.*.write");
        assert!(p.matches("db.orders.write"));
        assert!(!p.matches("db.write"));
        assert!(!p.matches("db.a.b.write"));
    }

    #[test]
    fn lone_star_matches_every_name() {
        let p = pattern("*");
        assert!(p.matches("secrets"));
        assert!(p.matches("secrets.read"));
        assert!(p.matches("any"));
        assert!(!p.matches(""));
    }

    #[test]
    fn star_star_needs_at_least_two_segments() {
        let p = pattern("*.*");
        assert!(p.matches("a.b"));
        assert!(p.matches("a.b.c"));
        assert!(!p.matches("a"));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        assert_eq!(WildcardPattern::compile(""), Err(PatternError::Empty));
        assert_eq!(
            WildcardPattern::compile("secrets..read"),
            Err(PatternError::EmptySegment)
        );
        assert_eq!(WildcardPattern::compile(".read"), Err(PatternError::EmptySegment));
        assert_eq!(WildcardPattern::compile("secrets."), Err(PatternError::EmptySegment));
        assert_eq!(WildcardPattern::compile("sec*"), Err(PatternError::PartialWildcard));
        assert_eq!(
            WildcardPattern::compile("secrets.**"),
            Err(PatternError::PartialWildcard)
        );
        assert_eq!(WildcardPattern::compile("secrets read"), Err(PatternError::Whitespace));
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert_eq!(WildcardPattern::compile(&long), Err(PatternError::TooLong));
    }
}
