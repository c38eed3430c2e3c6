//! Root keys: versioned 256-bit keys that wrap the per-account data keys. They come from
//! configuration (a list) or a key file, one `VERSION:BASE64` per line; the highest version wraps
//! new data keys, older ones are kept only to unwrap what has not been re-wrapped yet.
//!
//! Key bytes live in [`Zeroizing`] buffers and the types' `Debug` never shows them.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    time::SystemTime,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::VaultError;

/// Length of every key: AES-256.
pub const KEY_LEN: usize = 32;

/// One root key and its version.
pub struct RootKey {
    pub version: u32,
    pub(crate) bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Every root key the vault knows, by version.
#[derive(Debug, Default)]
pub struct Keyring {
    keys: BTreeMap<u32, RootKey>,
}

impl Keyring {
    /// The key that wraps new data keys: the highest version.
    pub fn newest(&self) -> Option<&RootKey> {
        self.keys.values().next_back()
    }

    pub fn get(&self, version: u32) -> Option<&RootKey> {
        self.keys.get(&version)
    }

    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Reads `VERSION:BASE64` lines; blank lines and `#` comments are skipped. The error never
    /// quotes a line (it could be a key).
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let mut keyring = Self::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = parse_line(line).ok_or_else(|| {
                VaultError::RootKeys(format!(
                    "line {}: expected VERSION:BASE64 with a version of at least 1 and a 32-byte key",
                    index + 1
                ))
            })?;
            if keyring.keys.insert(key.version, key).is_some() {
                return Err(VaultError::RootKeys(format!(
                    "line {}: a version is given twice",
                    index + 1
                )));
            }
        }
        Ok(keyring)
    }

    /// The keyring with one more version, one above the newest, of fresh random bytes.
    fn with_new_version(mut self) -> (Self, u32) {
        let version = self.newest().map_or(1, |key| key.version + 1);
        self.keys.insert(version, generate(version));
        (self, version)
    }

    /// The file form: one `VERSION:BASE64` line per key, oldest first.
    fn to_file_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from(
            "# Latchkey vault root keys, one VERSION:BASE64 per line; the highest version wraps.\n\
             # Keep a copy somewhere safe: without it, nothing the vault holds can be opened.\n",
        ));
        for key in self.keys.values() {
            let encoded = Zeroizing::new(STANDARD.encode(key.bytes.as_slice()));
            text.push_str(&format!("{}:{}\n", key.version, encoded.as_str()));
        }
        text
    }
}

fn parse_line(line: &str) -> Option<RootKey> {
    let (version, encoded) = line.split_once(':')?;
    let version: u32 = version.trim().parse().ok().filter(|v| *v >= 1)?;
    let decoded = Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    if decoded.len() != KEY_LEN {
        return None;
    }
    bytes.copy_from_slice(&decoded);
    Some(RootKey { version, bytes })
}

fn generate(version: u32) -> RootKey {
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    rand::rng().fill(bytes.as_mut_slice());
    RootKey { version, bytes }
}

/// Where the root keys come from.
#[derive(Clone)]
pub enum RootKeySource {
    /// Given in configuration: `VERSION:BASE64` entries separated by commas or newlines. Reloading
    /// needs a restart.
    Inline(SecretString),
    /// A file of `VERSION:BASE64` lines, re-read when it changes (so a version added by
    /// `latchkey vault rotate` reaches running instances without a restart).
    File(PathBuf),
}

impl std::fmt::Debug for RootKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

impl RootKeySource {
    /// Reads the keys; an empty keyring is an error (the vault could seal nothing).
    pub fn load(&self) -> Result<Keyring, VaultError> {
        let keyring = match self {
            Self::Inline(list) => Keyring::parse(&list.expose_secret().replace(',', "\n"))?,
            Self::File(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|error| {
                    VaultError::RootKeys(format!("cannot read the root key file {}: {error}", path.display()))
                })?);
                Keyring::parse(&text)
                    .map_err(|error| VaultError::RootKeys(format!("root key file {}: {error}", path.display())))?
            }
        };
        if keyring.is_empty() {
            return Err(VaultError::RootKeys("no root key is configured".to_owned()));
        }
        Ok(keyring)
    }

    /// When the source last changed, for sources that can change while the vault runs.
    pub(crate) fn modified(&self) -> Option<SystemTime> {
        match self {
            Self::Inline(_) => None,
            Self::File(path) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        }
    }
}

/// Creates a key file holding one fresh version-1 key, readable by its owner only. Answers false
/// (and leaves the file alone) when it already exists.
pub fn create_key_file(path: &Path) -> Result<bool, VaultError> {
    if path.exists() {
        return Ok(false);
    }
    let (keyring, _) = Keyring::default().with_new_version();
    write_key_file(path, &keyring, true)?;
    Ok(true)
}

/// Adds a fresh key to the key file at `path`, one version above its newest; answers the version.
/// The file is replaced atomically (a sibling temporary file renamed over it), so a vault re-reading
/// it sees either the old or the new set, never half of one.
pub fn add_key_version(path: &Path) -> Result<u32, VaultError> {
    let keyring = RootKeySource::File(path.to_owned()).load()?;
    let (keyring, version) = keyring.with_new_version();
    write_key_file(path, &keyring, false)?;
    Ok(version)
}

fn write_key_file(path: &Path, keyring: &Keyring, create_new: bool) -> Result<(), VaultError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io_error = |error: std::io::Error| VaultError::RootKeys(format!("cannot write {}: {error}", path.display()));
    let target = if create_new {
        path.to_owned()
    } else {
        path.with_extension(format!("tmp{}", std::process::id()))
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(io_error)?;
    file.write_all(keyring.to_file_text().as_bytes()).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    if !create_new {
        std::fs::rename(&target, path).map_err(io_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
