//! `latchkey mesh-certs --out DIR`: a development CA and one certificate per mesh identity, for a
//! mesh over mutual TLS (docs/security.md). Production takes any CA's files instead: what matters
//! is that each certificate's DNS name is the identity (`vault`, `operator`) and that it allows
//! both TLS roles, as a service is a server to its callers and a client to its callees.

use std::{
    fs::OpenOptions,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// The file of the CA's certificate (every process's `mesh.tls_ca_file`).
pub const CA_CERT: &str = "ca.pem";
/// The file of the CA's key, kept to issue more certificates; no service reads it.
pub const CA_KEY: &str = "ca.key";

/// The certificate and key files of `identity` in a directory `write` filled.
pub fn files_of(dir: &Path, identity: &str) -> latchkey_server::TlsFiles {
    latchkey_server::TlsFiles {
        ca: dir.join(CA_CERT),
        cert: dir.join(format!("{identity}.pem")),
        key: dir.join(format!("{identity}.key")),
    }
}

/// Writes a new CA and a certificate for every mesh identity into `dir` (created if missing),
/// valid for `days`; keys are readable by their owner only. Refuses a directory that already
/// holds a CA, so a set in use is never overwritten. Answers the files written.
pub fn write(dir: &Path, days: u32) -> anyhow::Result<Vec<PathBuf>> {
    if !(1..=3650).contains(&days) {
        bail!("--days must be 1 to 3650");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if dir.join(CA_CERT).exists() || dir.join(CA_KEY).exists() {
        bail!(
            "{} already holds a mesh CA; choose another directory (rotation: docs/security.md)",
            dir.display()
        );
    }
    let now = OffsetDateTime::now_utc();
    // A little before now: a peer whose clock is slightly behind still accepts the certificates.
    let not_before = now - Duration::minutes(5);
    let not_after = now + Duration::days(i64::from(days));

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    // Named by when it was made, so the CAs of a rotation, trusted side by side, differ by name.
    ca.distinguished_name = name(&format!("Latchkey mesh CA {}", now.unix_timestamp()));
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;
    let mut written = vec![
        write_file(&dir.join(CA_CERT), ca_cert.pem().as_bytes(), 0o644)?,
        write_file(&dir.join(CA_KEY), ca_key.serialize_pem().as_bytes(), 0o600)?,
    ];
    let issuer = Issuer::new(ca, ca_key);

    for identity in latchkey_server::IDENTITIES {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![(*identity).to_owned()])?;
        params.distinguished_name = name(identity);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = not_before;
        params.not_after = not_after;
        params.use_authority_key_identifier_extension = true;
        let certificate = params.signed_by(&key, &issuer)?;
        let files = files_of(dir, identity);
        written.push(write_file(&files.cert, certificate.pem().as_bytes(), 0o644)?);
        written.push(write_file(&files.key, key.serialize_pem().as_bytes(), 0o600)?);
    }
    Ok(written)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// Creates `path` with `mode` (never replacing a file: a key must not be readable before its mode
/// is set, nor an existing one overwritten).
fn write_file(path: &Path, content: &[u8], mode: u32) -> anyhow::Result<PathBuf> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(content)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path.to_owned())
}
