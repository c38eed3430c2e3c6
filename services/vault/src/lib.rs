//! The vault service.
