//! The policy service.
