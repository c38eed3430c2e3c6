//! The wire types of every Latchkey gRPC service. Generated code stays at the edge: services convert
//! these messages into their own domain types.
//!
//! No `Debug` of a message prints a secret: the fields in [`SECRET_FIELDS`] print as `<redacted>`
//! (build.rs generates those impls; src/redact/tests.rs holds every message to it).

/// The encoded `FileDescriptorSet` of every package, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/latchkey_descriptor.bin"));

mod redact;
mod secrets;

pub use secrets::SECRET_FIELDS;

pub mod agent_token {
    pub mod v1 {
        tonic::include_proto!("latchkey.agent_token.v1");
    }
}

pub mod audit {
    pub mod v1 {
        tonic::include_proto!("latchkey.audit.v1");
    }
}

pub mod policy {
    pub mod v1 {
        tonic::include_proto!("latchkey.policy.v1");
    }
}

pub mod vault {
    pub mod v1 {
        tonic::include_proto!("latchkey.vault.v1");
    }
}

pub mod oauth {
    pub mod v1 {
        tonic::include_proto!("latchkey.oauth.v1");
    }
}

pub mod webhook {
    pub mod v1 {
        tonic::include_proto!("latchkey.webhook.v1");
    }
}

pub mod directory {
    pub mod v1 {
        tonic::include_proto!("latchkey.directory.v1");
    }
}
