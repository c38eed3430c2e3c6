//! Envelope encryption with AES-256-GCM. A root key wraps each account's data key; the data key
//! seals the account's secrets. Every seal takes a fresh random 96-bit nonce, and its associated data
//! (AAD) binds the ciphertext to where it belongs:
//!
//! - a secret: `"latchkey.vault.secret.v1" 0x00 | len(account) | account | len(secret id) | secret id
//!   | version (u64, big-endian)`;
//! - a wrapped data key: `"latchkey.vault.data-key.v1" 0x00 | len(account) | account | root version
//!   (u32, big-endian)`;
//!
//! where `len` is a big-endian u32. Lengths keep the fields unambiguous, so a ciphertext copied to
//! another row, account or version fails authentication instead of opening.

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Generate, Nonce, Payload},
};
use zeroize::Zeroizing;

use crate::keys::{KEY_LEN, RootKey};

/// Bytes of a nonce.
pub const NONCE_LEN: usize = 12;

/// The AEAD failed: wrong key, wrong AAD or altered bytes. Deliberately without detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the ciphertext does not open with this key and binding")]
pub struct OpenFailed;

/// An account's data key, ready to seal and open. Its key schedule is wiped on drop (the aes-gcm
/// `zeroize` feature), its raw bytes too.
pub struct DataKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A sealed secret: the nonce and the ciphertext with its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::RngExt::fill(&mut rand::rng(), bytes.as_mut_slice());
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let cipher = Aes256Gcm::new(&(*bytes).into());
        Self { bytes, cipher }
    }

    /// Seals `plaintext` as version `version` of `secret_id` in `account_id`.
    pub fn seal(&self, account_id: &str, secret_id: &str, version: u64, plaintext: &[u8]) -> Sealed {
        seal_with(&self.cipher, &secret_aad(account_id, secret_id, version), plaintext)
    }

    /// Opens what [`seal`](Self::seal) sealed with the same account, id and version.
    pub fn open(
        &self,
        account_id: &str,
        secret_id: &str,
        version: u64,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
        open_with(&self.cipher, &secret_aad(account_id, secret_id, version), sealed)
    }

    /// Wraps this key under `root` for `account_id`: nonce followed by ciphertext and tag.
    pub fn wrap(&self, root: &RootKey, account_id: &str) -> Vec<u8> {
        let cipher = Aes256Gcm::new(&(*root.bytes).into());
        let sealed = seal_with(&cipher, &data_key_aad(account_id, root.version), self.bytes.as_slice());
        let mut wrapped = sealed.nonce;
        wrapped.extend_from_slice(&sealed.ciphertext);
        wrapped
    }

    /// Unwraps what [`wrap`](Self::wrap) produced under the same root key for the same account.
    pub fn unwrap(root: &RootKey, account_id: &str, wrapped: &[u8]) -> Result<Self, OpenFailed> {
        if wrapped.len() < NONCE_LEN {
            return Err(OpenFailed);
        }
        let (nonce, ciphertext) = wrapped.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new(&(*root.bytes).into());
        let sealed = Sealed {
            nonce: nonce.to_vec(),
            ciphertext: ciphertext.to_vec(),
        };
        let opened = open_with(&cipher, &data_key_aad(account_id, root.version), &sealed)?;
        let bytes: [u8; KEY_LEN] = opened.as_slice().try_into().map_err(|_| OpenFailed)?;
        Ok(Self::from_bytes(Zeroizing::new(bytes)))
    }
}

fn seal_with(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Sealed {
    let nonce = Nonce::<Aes256Gcm>::generate();
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        // Only a plaintext over 64 GiB fails; the vault caps secrets far below.
        .expect("AES-GCM seals any plaintext under 64 GiB");
    Sealed {
        nonce: nonce.to_vec(),
        ciphertext,
    }
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, OpenFailed> {
    let nonce = Nonce::<Aes256Gcm>::try_from(sealed.nonce.as_slice()).map_err(|_| OpenFailed)?;
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &sealed.ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| OpenFailed)
}

fn push_field(aad: &mut Vec<u8>, field: &str) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    aad.extend_from_slice(&len.to_be_bytes());
    aad.extend_from_slice(field.as_bytes());
}

/// The AAD of a secret's version.
pub fn secret_aad(account_id: &str, secret_id: &str, version: u64) -> Vec<u8> {
    let mut aad = b"latchkey.vault.secret.v1\0".to_vec();
    push_field(&mut aad, account_id);
    push_field(&mut aad, secret_id);
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// The AAD of an account's data key wrapped under a root key version.
pub fn data_key_aad(account_id: &str, root_version: u32) -> Vec<u8> {
    let mut aad = b"latchkey.vault.data-key.v1\0".to_vec();
    push_field(&mut aad, account_id);
    aad.extend_from_slice(&root_version.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests;
