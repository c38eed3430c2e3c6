//! The wire types of every Latchkey gRPC service. Generated code stays at the edge: services convert
//! these messages into their own domain types.

/// The encoded `FileDescriptorSet` of every package, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/latchkey_descriptor.bin"));

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

        // Plaintext never reaches Debug output (and so no log or panic message).
        impl std::fmt::Debug for PutSecretRequest {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("PutSecretRequest")
                    .field("secret_id", &self.secret_id)
                    .field("plaintext", &"<redacted>")
                    .field("write_only", &self.write_only)
                    .field("expected_version", &self.expected_version)
                    .finish()
            }
        }

        impl std::fmt::Debug for GetSecretResponse {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("GetSecretResponse")
                    .field("plaintext", &"<redacted>")
                    .field("secret", &self.secret)
                    .finish()
            }
        }
    }
}

pub mod oauth {
    pub mod v1 {
        tonic::include_proto!("latchkey.oauth.v1");

        // An authorization code, its state and a client secret never reach Debug output.
        impl std::fmt::Debug for ExchangeCodeRequest {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("ExchangeCodeRequest")
                    .field("code", &"<redacted>")
                    .field("provider", &self.provider)
                    .field("redirect_uri", &self.redirect_uri)
                    .field("state", &"<redacted>")
                    .finish()
            }
        }

        impl std::fmt::Debug for SetOauthAppRequest {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("SetOauthAppRequest")
                    .field("provider", &self.provider)
                    .field("client_id", &self.client_id)
                    .field("client_secret", &"<redacted>")
                    .finish()
            }
        }
    }
}

pub mod webhook {
    pub mod v1 {
        tonic::include_proto!("latchkey.webhook.v1");
    }
}
