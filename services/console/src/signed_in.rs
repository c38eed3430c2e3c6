//! A signed-in request as the pages see it: the session, and the CSRF token its forms carry. How a
//! request becomes one (the cookie, agent-token's answer) is `session`'s business; this is apart
//! from it so the layout can draw a page for one without depending on the extractors.

use crate::backend::ConsoleSession;

/// The form field every POST carries.
pub(crate) const CSRF_FIELD: &str = "csrf";

pub(crate) struct SignedIn {
    pub(crate) session: ConsoleSession,
    token: String,
    pub(crate) csrf: String,
}

impl SignedIn {
    pub(crate) fn new(session: ConsoleSession, token: String, csrf: String) -> Self {
        Self { session, token, csrf }
    }

    /// The session's secret (the cookie's value): for ending it.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}
