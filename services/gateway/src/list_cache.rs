//! Rendered `GET /v1/api-keys` pages, per account. Listing keys is the hottest authenticated read
//! and its answer changes only when a key is created or deleted, so the gateway keeps the JSON it
//! last rendered and serves it again without a gRPC call or a database query.
//!
//! Freshness follows the key cache's rules (see `ttl_cache`): an account's page is dropped when an
//! `api_key.created` or `api_key.deleted` event for it arrives, or when this gateway creates or
//! deletes one of its keys itself (so the caller's next list already shows the change); the cache is
//! trusted only while that event feed is live (emptied when it goes down and again when it comes
//! back); and an entry lives at most the configured TTL, which bounds how stale `last_used_at`
//! (written by agent-token when it authenticates a key) can be.

use bytes::Bytes;
use latchkey_ids::AccountId;

use crate::ttl_cache::TtlCache;

/// Rendered key lists by account id.
pub(crate) type ListCache = TtlCache<AccountId, Bytes>;
