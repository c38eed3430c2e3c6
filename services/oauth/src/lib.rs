//! The oauth service.
