//! One module per console section, each a few handlers over the REST routes.

pub(crate) mod agents;
pub(crate) mod api_keys;
pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod certificates;
pub(crate) mod connections;
pub(crate) mod credentials;
pub(crate) mod domains;
pub(crate) mod organizations;
pub(crate) mod overview;
pub(crate) mod policies;
pub(crate) mod sign_in;
pub(crate) mod tokens;
pub(crate) mod webhooks;
