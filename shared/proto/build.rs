//! Compiles `proto/` with protox (pure Rust: no `protoc` on the build machines) and generates tonic
//! clients and servers. The descriptor set is written beside the code so reflection serves the
//! exact schema the code was generated from.

use std::{env, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "latchkey/agent_token/v1/agent_token.proto",
    "latchkey/audit/v1/audit.proto",
    "latchkey/policy/v1/policy.proto",
    "latchkey/vault/v1/vault.proto",
    "latchkey/oauth/v1/oauth.proto",
    "latchkey/webhook/v1/webhook.proto",
];

/// Messages whose derived `Debug` would print a secret.
const REDACTED_DEBUG: &[&str] = &[
    ".latchkey.vault.v1.PutSecretRequest",
    ".latchkey.vault.v1.GetSecretResponse",
    ".latchkey.oauth.v1.ExchangeCodeRequest",
    ".latchkey.oauth.v1.SetOauthAppRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());

    let descriptors = protox::compile(PROTOS, [&root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("latchkey_descriptor.bin"), descriptors.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Messages carrying vault plaintext get a hand-written, redacting Debug (src/lib.rs).
        .skip_debug(REDACTED_DEBUG)
        .compile_fds(descriptors)?;
    Ok(())
}
