//! Scope patterns.
//!
//! A scope is a dotted name such as `db.write`. A granted pattern covers a requested scope when:
//! - they are equal, or
//! - the pattern's last segment is `*` and the requested scope starts with everything before it:
//!   `db.*` covers `db.write`, `db.read.replica` and the narrower pattern `db.read.*`, but not `db`
//!   itself, nor `dbx.write`, nor the wider `*`. The lone pattern `*` covers every scope.
//!
//! A `*` anywhere else (`db.*.read`, `db*`) has no special meaning: such a pattern only covers itself.
//! The same rule answers both "does this token grant `required_scope`?" and "is a delegated pattern
//! narrower than its parent's?", because a requested pattern is just another string to cover.

/// Whether the granted `pattern` covers `requested` (a scope or a narrower pattern).
pub fn pattern_covers(pattern: &str, requested: &str) -> bool {
    if pattern == requested || pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        // `prefix` keeps its trailing dot, so `db.*` needs `db.` + at least one more character.
        Some(prefix) if prefix.ends_with('.') => requested.len() > prefix.len() && requested.starts_with(prefix),
        _ => false,
    }
}

/// Whether some pattern in `granted` covers `requested`.
pub fn granted_covers<S: AsRef<str>>(granted: &[S], requested: &str) -> bool {
    granted
        .iter()
        .any(|pattern| pattern_covers(pattern.as_ref(), requested))
}

/// The first of `requested` that `granted` does not cover, if any.
pub fn first_uncovered<'r, G: AsRef<str>, R: AsRef<str>>(granted: &[G], requested: &'r [R]) -> Option<&'r str> {
    requested
        .iter()
        .map(AsRef::as_ref)
        .find(|wanted| !granted_covers(granted, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_scope_covers_only_itself() {
        assert!(pattern_covers("db.write", "db.write"));
        assert!(!pattern_covers("db.write", "db.read"));
        assert!(!pattern_covers("db.write", "db.write.all"));
        assert!(!pattern_covers("db.write", "db.*"));
    }

    #[test]
    fn a_trailing_wildcard_segment_covers_everything_below_it() {
        assert!(pattern_covers("db.*", "db.write"));
        assert!(pattern_covers("db.*", "db.read.replica"));
        assert!(pattern_covers("db.*", "db.read.*"));
        assert!(pattern_covers("db.*", "db.*"));
        assert!(!pattern_covers("db.*", "db"));
        assert!(!pattern_covers("db.*", "db."));
        assert!(!pattern_covers("db.*", "dbx.write"));
        assert!(!pattern_covers("db.*", "*"));
        assert!(!pattern_covers("db.read.*", "db.*"));
        assert!(!pattern_covers("db.read.*", "db.write"));
    }

    #[test]
    fn the_lone_wildcard_covers_everything() {
        assert!(pattern_covers("*", "db.write"));
        assert!(pattern_covers("*", "db.*"));
        assert!(pattern_covers("*", "*"));
    }

    #[test]
    fn a_star_that_is_not_a_whole_trailing_segment_is_literal() {
        assert!(!pattern_covers("db*", "dbx"));
        assert!(!pattern_covers("db.*.read", "db.x.read"));
        assert!(pattern_covers("db.*.read", "db.*.read"));
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
}
