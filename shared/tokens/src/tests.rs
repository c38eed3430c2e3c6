//! The crate's unit tests, one module per concern; their fixtures are in `testing`.

mod authentic_cache;
mod delegation;
mod interop;
mod scope;
mod verify;
mod verify_claims;
