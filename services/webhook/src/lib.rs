//! The webhook service.
