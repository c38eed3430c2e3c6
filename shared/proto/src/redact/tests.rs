//! Holds every message of the descriptor set to the redaction rule: built with a canary in each
//! secret field (nested messages too), neither `{:?}` nor `{:#?}` shows it, while every other text
//! field still prints. And no field named like a secret escapes `SECRET_FIELDS` unless the
//! allow-list below says why it holds none.

use std::collections::BTreeMap;

use prost::{
    Message as _,
    encoding::{WireType, encode_key, encode_varint},
};
use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet, field_descriptor_proto,
};

use super::debug_of;
use crate::{FILE_DESCRIPTOR_SET, SECRET_FIELDS};

const CANARY: &str = "canary-7d1f3b-do-not-print";

/// Fields whose name looks like a secret's but which hold none, as `package.Message.field`.
const NOT_SECRETS: &[&str] = &[
    // An API key's name and id, never the key.
    "latchkey.agent_token.v1.CreateAccountRequest.key_name",
    "latchkey.agent_token.v1.Principal.api_key_id",
    // A service API key's id (`skey_…`), never the key.
    "latchkey.directory.v1.DeleteServiceKeyRequest.key_id",
    "latchkey.directory.v1.ServiceKeyPrincipal.key_id",
    // A certificate's public key (SPKI PEM), published without authentication.
    "latchkey.agent_token.v1.Certificate.public_key",
    "latchkey.agent_token.v1.CertificatePublicKey.public_key",
    // The names in a certificate's metadata map (`environment`, `team`): labels, never credentials.
    "latchkey.agent_token.v1.CreateCertificateRequest.MetadataEntry.key",
    "latchkey.agent_token.v1.Certificate.MetadataEntry.key",
    // Which vault secret, never its value.
    "latchkey.vault.v1.PutSecretRequest.secret_id",
    "latchkey.vault.v1.GetSecretRequest.secret_id",
    "latchkey.vault.v1.DeleteSecretRequest.secret_id",
    "latchkey.vault.v1.SecretMetadata.secret_id",
    // The last four characters of a secret of at least 12, listed by design.
    "latchkey.oauth.v1.OauthApp.client_secret_last4",
    "latchkey.oauth.v1.MtprotoSession.api_hash_last4",
    // Catalogue codes (`google`, `gmail`), not authorization codes.
    "latchkey.oauth.v1.Provider.code",
    "latchkey.oauth.v1.ProviderService.code",
    // The audit chain's hashes are public: anyone verifying the chain recomputes them.
    "latchkey.audit.v1.AuditEntry.prev_hash",
    "latchkey.audit.v1.AuditEntry.hash",
    "latchkey.audit.v1.VerifyChainResponse.head_hash",
    "latchkey.audit.v1.Checkpoint.hash",
    // Public verifying keys (a JWKS document).
    "latchkey.audit.v1.GetCheckpointKeysResponse.keys_json",
    // A token's id (`jti`) and the scopes it holds, never the token.
    "latchkey.agent_token.v1.AuthorizedTokenUse.token_id",
    "latchkey.agent_token.v1.AuthorizedTokenUse.token_scope",
    // The name of the header the proxy's credential goes in (`authorization`, `x-api-key`).
    "latchkey.oauth.v1.ProxyCredential.header_name",
    // The name of a throttle counter (`agent:agent_…`).
    "latchkey.policy.v1.EvaluateResponse.throttle_key",
];

/// Substrings of a field name that say "secret".
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "passw",
    "passphrase",
    "plaintext",
    "ciphertext",
    "verifier",
    "credential",
    "private",
    "cookie",
    "jwt",
    "apikey",
];

/// Whole words of a snake-case field name that say "secret" (as substrings they match too much).
const SECRET_SEGMENTS: &[&str] = &["key", "keys", "code", "state", "hash", "otp", "pin"];

fn looks_secret(field: &str) -> bool {
    let field = field.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|word| field.contains(word)) || field.split('_').any(|part| SECRET_SEGMENTS.contains(&part))
}

fn descriptors() -> FileDescriptorSet {
    FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("the crate's descriptor set decodes")
}

/// Every message, nested ones (map entries too) included, by full name without the leading dot.
fn all_messages(set: &FileDescriptorSet) -> BTreeMap<String, &DescriptorProto> {
    fn walk<'a>(prefix: &str, message: &'a DescriptorProto, into: &mut BTreeMap<String, &'a DescriptorProto>) {
        let name = format!("{prefix}.{}", message.name());
        for nested in &message.nested_type {
            walk(&name, nested, into);
        }
        into.insert(name, message);
    }
    let mut all = BTreeMap::new();
    for file in &set.file {
        for message in &file.message_type {
            walk(file.package(), message, &mut all);
        }
    }
    all
}

fn is_text(field: &FieldDescriptorProto) -> bool {
    matches!(
        field.r#type(),
        field_descriptor_proto::Type::String | field_descriptor_proto::Type::Bytes
    )
}

/// What a non-secret text field is filled with; it must show in the output.
fn shown(field: &str) -> String {
    format!("shown-{field}")
}

/// A message's encoding with the canary in each secret field, `shown(name)` in every other text
/// field, and nested messages filled the same way (a few levels deep).
fn encode(all: &BTreeMap<String, &DescriptorProto>, name: &str, depth: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for field in &all[name].field {
        let value = if is_text(field) {
            if SECRET_FIELDS.contains(&format!("{name}.{}", field.name()).as_str()) {
                CANARY.as_bytes().to_vec()
            } else {
                shown(field.name()).into_bytes()
            }
        } else if field.r#type() == field_descriptor_proto::Type::Message && depth < 4 {
            encode(all, field.type_name().trim_start_matches('.'), depth + 1)
        } else {
            continue;
        };
        encode_key(field.number() as u32, WireType::LengthDelimited, &mut buf);
        encode_varint(value.len() as u64, &mut buf);
        buf.extend_from_slice(&value);
    }
    buf
}

/// `text` as `Debug` prints a `Vec<u8>`, whitespace removed: `115,104,…` (no brackets, so the
/// compact and the pretty form both match once whitespace is stripped).
fn as_byte_list(text: &str) -> String {
    text.bytes().map(|byte| byte.to_string()).collect::<Vec<_>>().join(",")
}

fn without_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn no_message_prints_a_secret_and_every_other_text_field_prints() {
    let set = descriptors();
    let all = all_messages(&set);
    let top_level = set.file.iter().flat_map(|file| {
        file.message_type
            .iter()
            .map(move |message| format!("{}.{}", file.package(), message.name()))
    });
    let mut with_secrets = 0;
    for name in top_level {
        let bytes = encode(&all, &name, 0);
        let [compact, pretty] = debug_of(&name, &bytes)
            .unwrap_or_else(|| panic!("build.rs generated no debug_of arm for {name}"))
            .expect("the message decodes");
        for output in [&compact, &pretty] {
            let squeezed = without_whitespace(output);
            assert!(
                !output.contains(CANARY) && !squeezed.contains(&as_byte_list(CANARY)),
                "{name} prints a secret:\n{output}"
            );
        }
        let secrets: Vec<&str> = SECRET_FIELDS
            .iter()
            .filter_map(|path| path.strip_prefix(&format!("{name}.")))
            .collect();
        with_secrets += usize::from(!secrets.is_empty());
        for secret in &secrets {
            assert!(
                compact.contains(&format!("{secret}: <redacted>")),
                "{name}.{secret}:\n{compact}"
            );
        }
        for field in all[&name].field.iter().filter(|field| is_text(field)) {
            if secrets.contains(&field.name()) {
                continue;
            }
            let text = shown(field.name());
            assert!(
                compact.contains(&text) || without_whitespace(&compact).contains(&as_byte_list(&text)),
                "{name}.{} no longer prints:\n{compact}",
                field.name()
            );
        }
    }
    let listed: std::collections::BTreeSet<&str> = SECRET_FIELDS
        .iter()
        .filter_map(|path| path.rsplit_once('.').map(|(message, _)| message))
        .collect();
    assert_eq!(with_secrets, listed.len(), "every listed message was checked");
}

/// The text fields of `set` named like a secret that are neither listed nor allowed.
fn unlisted_secrets(set: &FileDescriptorSet) -> Vec<String> {
    let mut unlisted = Vec::new();
    for (message, descriptor) in all_messages(set) {
        for field in descriptor.field.iter().filter(|field| is_text(field)) {
            let path = format!("{message}.{}", field.name());
            if looks_secret(field.name())
                && !SECRET_FIELDS.contains(&path.as_str())
                && !NOT_SECRETS.contains(&path.as_str())
            {
                unlisted.push(path);
            }
        }
    }
    unlisted
}

#[test]
fn every_field_named_like_a_secret_is_redacted_or_explained() {
    let unlisted = unlisted_secrets(&descriptors());
    assert!(
        unlisted.is_empty(),
        "add these to SECRET_FIELDS (src/secrets.rs), or to NOT_SECRETS with the reason they hold no secret: \
         {unlisted:#?}"
    );
}

#[test]
fn a_new_message_with_a_secret_field_is_caught() {
    let text = |name: &str, number: i32| FieldDescriptorProto {
        name: Some(name.to_owned()),
        number: Some(number),
        r#type: Some(field_descriptor_proto::Type::String.into()),
        ..FieldDescriptorProto::default()
    };
    let set = FileDescriptorSet {
        file: vec![FileDescriptorProto {
            package: Some("latchkey.new.v1".to_owned()),
            message_type: vec![DescriptorProto {
                name: Some("GrantRequest".to_owned()),
                field: vec![
                    text("refresh_token", 1),
                    text("code_verifier", 2),
                    text("client_secret", 3),
                    text("password", 4),
                    text("code", 5),
                    text("display_name", 6),
                    text("access_token_id", 7),
                ],
                ..DescriptorProto::default()
            }],
            ..FileDescriptorProto::default()
        }],
    };
    let caught: Vec<String> = [
        "refresh_token",
        "code_verifier",
        "client_secret",
        "password",
        "code",
        "access_token_id",
    ]
    .iter()
    .map(|field| format!("latchkey.new.v1.GrantRequest.{field}"))
    .collect();
    assert_eq!(unlisted_secrets(&set), caught);
}

#[test]
fn the_lists_name_real_distinct_fields() {
    let set = descriptors();
    let all = all_messages(&set);
    let exists = |path: &str| {
        path.rsplit_once('.')
            .and_then(|(message, field)| all.get(message).map(|m| m.field.iter().any(|f| f.name() == field)))
            .unwrap_or(false)
    };
    for path in NOT_SECRETS {
        assert!(exists(path), "NOT_SECRETS names no field: {path}");
        assert!(!SECRET_FIELDS.contains(path), "{path} is on both lists");
    }
    for path in SECRET_FIELDS {
        assert!(exists(path), "SECRET_FIELDS names no field: {path}");
        assert_eq!(
            SECRET_FIELDS.iter().filter(|p| p == &path).count(),
            1,
            "{path} listed twice"
        );
    }
}

#[test]
fn a_redacted_message_reads_like_a_derived_one() {
    let issued = crate::agent_token::v1::IssueTokenResponse {
        token: CANARY.to_owned(),
        agent_id: "agent_0123".to_owned(),
        scope: vec!["calendar:read".to_owned()],
        expires_at: 1_700_000_000,
        ..Default::default()
    };
    let printed = format!("{issued:?}");
    assert!(
        printed.starts_with(
            "IssueTokenResponse { token: <redacted>, agent_id: \"agent_0123\", scope: [\"calendar:read\"], \
             expires_at: 1700000000,"
        ),
        "{printed}"
    );
    let put = crate::vault::v1::PutSecretRequest {
        secret_id: "credential/openai".to_owned(),
        plaintext: CANARY.as_bytes().to_vec(),
        write_only: true,
        expected_version: Some(3),
    };
    assert_eq!(
        format!("{put:?}"),
        "PutSecretRequest { secret_id: \"credential/openai\", plaintext: <redacted>, write_only: true, \
         expected_version: Some(3) }"
    );
}
