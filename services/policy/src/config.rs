//! The policy service's settings (`[policy]` in the settings file).

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Seconds a pending approval waits for a decision; an approved one can then be redeemed for
    /// as long again. At least one second.
    pub approval_ttl_secs: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            approval_ttl_secs: crate::DEFAULT_APPROVAL_TTL_SECS,
        }
    }
}
