//! The vault against real databases (SQLite and PostgreSQL) and, where it serves, over real gRPC.

mod support;

mod isolation;
mod rotation;
mod secrets;
mod tampering;
