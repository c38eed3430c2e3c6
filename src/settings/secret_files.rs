//! Secrets read from files: each secret setting has a `…_file` setting beside it naming a file that
//! holds the secret, as Kubernetes Secrets and Docker secrets are mounted, so a secret need not pass
//! through the environment (inherited by child processes, shown by `docker inspect`).
//!
//! Files are read once, while the settings load, on the raw settings tree: the file's content takes
//! the place of the secret setting and the `…_file` key goes, so the rest of the code sees the
//! value as if it had been given directly. Settings that exist only as a file (`nats.nkey_seed_file`,
//! `nats.credentials_file`) keep their path and are read by [`read_named`] and [`read_named_whole`]
//! once the settings are deserialized. Errors name the setting and the path, never the content.

use std::path::{Path, PathBuf};

use config::{Map, Value, ValueKind};

/// Secret settings that may come from a file, as (section, key); the file is named by `<key>_file`
/// in the same section.
const SECRETS: [(&[&str], &str); 3] = [
    (&["mesh"], "service_token"),
    (&["database"], "url"),
    (&["nats"], "password"),
];

/// The section of the deployment's OAuth apps: each app's `client_secret` may come from its
/// `client_secret_file`.
const OAUTH_CLIENTS: [&str; 2] = ["oauth", "clients"];

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error(
        "both {value} ({}) and {file} ({}) are set: give the secret one way",
        variable(value),
        variable(file)
    )]
    BothSet { value: String, file: String },
    #[error("{setting}: cannot read {}: {source}", path.display())]
    Unreadable {
        setting: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{setting}: {} is empty", path.display())]
    Empty { setting: String, path: PathBuf },
    #[error("{setting} must be a path")]
    NotAPath { setting: String },
}

impl SecretFileError {
    /// The error for a secret given both inline (`value`) and as a file (`file`), dotted names.
    pub fn both_set(value: &str, file: &str) -> Self {
        Self::BothSet {
            value: value.to_owned(),
            file: file.to_owned(),
        }
    }
}

/// The environment variable of a dotted setting: `mesh.service_token` is LATCHKEY__MESH__SERVICE_TOKEN.
fn variable(setting: &str) -> String {
    format!("LATCHKEY__{}", setting.replace('.', "__").to_uppercase())
}

/// Replaces every secret named by a `…_file` setting in `root` with the file's content.
pub(super) fn resolve(root: &mut Value) -> Result<(), SecretFileError> {
    for (section, key) in SECRETS {
        if let Some(table) = table_at(root, section) {
            resolve_in(table, &section.join("."), key)?;
        }
    }
    if let Some(clients) = table_at(root, &OAUTH_CLIENTS) {
        for (name, client) in clients.iter_mut() {
            if let ValueKind::Table(client) = &mut client.kind {
                resolve_in(client, &format!("{}.{name}", OAUTH_CLIENTS.join(".")), "client_secret")?;
            }
        }
    }
    Ok(())
}

fn table_at<'a>(root: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut table = match &mut root.kind {
        ValueKind::Table(table) => table,
        _ => return None,
    };
    for key in path {
        table = match &mut table.get_mut(*key)?.kind {
            ValueKind::Table(inner) => inner,
            _ => return None,
        };
    }
    Some(table)
}

/// `key` of `table` (in `section`) from the file `<key>_file` names, if it names one.
fn resolve_in(table: &mut Map<String, Value>, section: &str, key: &str) -> Result<(), SecretFileError> {
    let file_key = format!("{key}_file");
    // Removed whether set or not: the settings structs know only the secret itself.
    let Some(file) = table.remove(&file_key) else {
        return Ok(());
    };
    let setting = format!("{section}.{file_key}");
    let path = match &file.kind {
        ValueKind::Nil => return Ok(()),
        ValueKind::String(path) if path.is_empty() => return Ok(()),
        ValueKind::String(path) => PathBuf::from(path),
        _ => return Err(SecretFileError::NotAPath { setting }),
    };
    let given = table.get(key).is_some_and(|value| match &value.kind {
        ValueKind::Nil => false,
        ValueKind::String(value) => !value.is_empty(),
        _ => true,
    });
    if given {
        return Err(SecretFileError::both_set(&format!("{section}.{key}"), &setting));
    }
    let secret = read(&setting, &path)?;
    let origin = file.origin().map(|origin| format!("{origin}, via {setting}"));
    table.insert(key.to_owned(), Value::new(origin.as_ref(), ValueKind::String(secret)));
    Ok(())
}

/// The secret in the file `setting` names (`path`), for a setting that takes only a file (an nkey
/// seed): `None` when `path` is empty.
pub(super) fn read_named(setting: &str, path: &str) -> Result<Option<String>, SecretFileError> {
    if path.is_empty() {
        return Ok(None);
    }
    read(setting, Path::new(path)).map(Some)
}

/// The whole of the file `setting` names, for a file whose format has its own line structure (a
/// `.creds` file's blocks end in newlines): `None` when `path` is empty. Empty files are refused.
pub(super) fn read_named_whole(setting: &str, path: &str) -> Result<Option<String>, SecretFileError> {
    if path.is_empty() {
        return Ok(None);
    }
    let content = std::fs::read_to_string(path).map_err(|source| SecretFileError::Unreadable {
        setting: setting.to_owned(),
        path: path.into(),
        source,
    })?;
    if content.trim().is_empty() {
        return Err(SecretFileError::Empty {
            setting: setting.to_owned(),
            path: path.into(),
        });
    }
    Ok(Some(content))
}

/// The secret in the file at `path`, less one trailing newline (`\n` or `\r\n`: `echo` and editors
/// add one, Kubernetes keeps whatever the Secret held). Other whitespace is kept: it may be part of
/// the secret. An empty secret is refused: naming a file says a secret is wanted.
fn read(setting: &str, path: &Path) -> Result<String, SecretFileError> {
    let mut secret = std::fs::read_to_string(path).map_err(|source| SecretFileError::Unreadable {
        setting: setting.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    if secret.ends_with('\n') {
        secret.pop();
        if secret.ends_with('\r') {
            secret.pop();
        }
    }
    if secret.is_empty() {
        return Err(SecretFileError::Empty {
            setting: setting.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(secret)
}
