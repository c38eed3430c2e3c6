//! The audit service's settings (`[audit]` in the settings file).

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Seconds between two passes that sign the head of every chain that moved.
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: crate::DEFAULT_CHECKPOINT_INTERVAL.as_secs(),
        }
    }
}
