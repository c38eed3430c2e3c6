//! The policy service's settings (`[policy]` in the settings file).

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Seconds a pending approval waits for a decision; an approved one can then be redeemed for
    /// as long again. At least one second.
    pub approval_ttl_secs: u64,
    /// Seconds an account's compiled policies are used from memory after they were loaded. Events
    /// drop them at once when a policy or the settings change; this bounds how long a change whose
    /// event was missed unnoticed can go unenforced. 0 turns the cache off (every evaluation reads
    /// the database). Default 60.
    pub cache_ttl_secs: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            approval_ttl_secs: crate::DEFAULT_APPROVAL_TTL_SECS,
            cache_ttl_secs: crate::DEFAULT_CACHE_TTL_SECS,
        }
    }
}
