//! `[nats]`: where the event bus is, how its stream is kept, and who this process is to the broker.
//!
//! A process connects as one NATS user: a user name with a password, an nkey (its seed in a file),
//! or a `.creds` file (a user JWT and its seed, for a server in operator mode). The broker's
//! authorization then allows that user only its own service's subjects (`latchkey nats-config`,
//! docs/operations.md).
//! Nothing set: no credentials, for a broker without authorization.

use std::io;

use serde::Deserialize;

use super::secret_files::{self, SecretFileError};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSettings {
    pub url: String,
    pub prefix: String,
    /// The NATS user this process connects as, with `password` (which may come from `password_file`).
    pub user: String,
    pub password: String,
    /// A file holding the nkey seed (`SU…`) this process authenticates with.
    pub nkey_seed_file: String,
    /// A NATS `.creds` file (user JWT and nkey seed) this process authenticates with.
    pub credentials_file: String,
    /// Copies of the event stream across a NATS cluster.
    pub stream_replicas: usize,
    /// How long events are kept; 0: for ever (or until `stream_max_bytes`).
    pub stream_max_age_secs: u64,
    /// The most bytes of events kept, oldest dropped first; 0: no limit.
    pub stream_max_bytes: u64,
    /// How long message ids are remembered for deduplication.
    pub stream_duplicate_window_secs: u64,
    /// What `nkey_seed_file` or `credentials_file` holds, read while the settings load.
    #[serde(skip)]
    key: Option<NatsKey>,
}

/// A secret read from one of the file-only settings.
#[derive(Clone)]
enum NatsKey {
    Seed(String),
    Credentials(String),
}

/// How this process authenticates to NATS, for messages: never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatsIdentity {
    Anonymous,
    User(String),
    Nkey { public_key: String },
    Credentials { file: String },
}

impl std::fmt::Display for NatsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("no credentials"),
            Self::User(user) => write!(f, "user {user:?} (nats.user, nats.password)"),
            Self::Nkey { public_key } => write!(f, "nkey {public_key} (nats.nkey_seed_file)"),
            Self::Credentials { file } => write!(f, "the credentials in {file} (nats.credentials_file)"),
        }
    }
}

impl NatsSettings {
    /// How the event stream is kept.
    pub fn stream(&self) -> latchkey_events::StreamSettings {
        latchkey_events::StreamSettings {
            replicas: self.stream_replicas,
            max_age: std::time::Duration::from_secs(self.stream_max_age_secs),
            max_bytes: (self.stream_max_bytes > 0).then_some(self.stream_max_bytes),
            duplicate_window: std::time::Duration::from_secs(self.stream_duplicate_window_secs),
        }
    }

    /// The servers of `url`, comma-separated: the client tries each, and learns the rest of the
    /// cluster from the one it reaches.
    pub fn servers(&self) -> Vec<&str> {
        self.url.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
    }

    /// Reads the file-only secrets (`nkey_seed_file`, `credentials_file`); errors name the setting
    /// and the path, never the content.
    pub(super) fn read_key_files(&mut self) -> Result<(), SecretFileError> {
        let seed = secret_files::read_named("nats.nkey_seed_file", &self.nkey_seed_file)?;
        let credentials = secret_files::read_named_whole("nats.credentials_file", &self.credentials_file)?;
        self.key = seed.map(NatsKey::Seed).or(credentials.map(NatsKey::Credentials));
        Ok(())
    }

    /// Why these settings cannot connect, if they cannot: one way to authenticate at most, a user
    /// with a password, keys that parse, and no credentials in the URL (which async-nats ignores).
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.servers().iter().any(|server| carries_credentials(server)) {
            // The URL is not repeated: it holds a password.
            return Err(
                "url must not carry a user or password (the client ignores them): set user with \
                        password or password_file (LATCHKEY__NATS__USER, LATCHKEY__NATS__PASSWORD_FILE)"
                    .to_owned(),
            );
        }
        let ways = [
            ("user/password", !self.user.is_empty() || !self.password.is_empty()),
            ("nkey_seed_file", !self.nkey_seed_file.is_empty()),
            ("credentials_file", !self.credentials_file.is_empty()),
        ];
        let given: Vec<&str> = ways.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect();
        if given.len() > 1 {
            return Err(format!("{} are set: give one way to authenticate", given.join(" and ")));
        }
        if self.user.is_empty() != self.password.is_empty() {
            return Err("user and password go together: set both (password or password_file) or neither".to_owned());
        }
        match &self.key {
            Some(NatsKey::Seed(seed)) => {
                user_key(seed).map_err(|why| format!("nkey_seed_file ({}) {why}", self.nkey_seed_file))?;
            }
            Some(NatsKey::Credentials(credentials)) => {
                async_nats::ConnectOptions::new()
                    .credentials(credentials)
                    .map_err(|error| {
                        format!(
                            "credentials_file ({}) is not a NATS credentials file (a user JWT and its nkey seed): {error}",
                            self.credentials_file
                        )
                    })?;
            }
            None => {}
        }
        Ok(())
    }

    /// Who this process is to the broker, for messages.
    pub fn identity(&self) -> NatsIdentity {
        match &self.key {
            Some(NatsKey::Seed(seed)) => NatsIdentity::Nkey {
                public_key: user_key(seed).map(|key| key.public_key()).unwrap_or_default(),
            },
            Some(NatsKey::Credentials(_)) => NatsIdentity::Credentials {
                file: self.credentials_file.clone(),
            },
            None if !self.user.is_empty() => NatsIdentity::User(self.user.clone()),
            None => NatsIdentity::Anonymous,
        }
    }

    /// `options` with this process's credentials, if it has any.
    pub fn authenticate(&self, options: async_nats::ConnectOptions) -> io::Result<async_nats::ConnectOptions> {
        match &self.key {
            Some(NatsKey::Seed(seed)) => Ok(options.nkey(seed.clone())),
            Some(NatsKey::Credentials(credentials)) => options.credentials(credentials),
            None if !self.user.is_empty() => Ok(options.user_and_password(self.user.clone(), self.password.clone())),
            None => Ok(options),
        }
    }
}

/// The key pair of a user nkey seed (`SU…`); why not, without the seed.
fn user_key(seed: &str) -> Result<nkeys::KeyPair, String> {
    // The library's reason can quote the seed's first character: it is left out.
    let key = nkeys::KeyPair::from_seed(seed).map_err(|_| "does not hold an nkey seed".to_owned())?;
    if key.key_pair_type() != nkeys::KeyPairType::User {
        return Err("holds a seed that is not a user's (a user's starts with SU)".to_owned());
    }
    Ok(key)
}

/// Whether a server address has a user or password in it (`nats://user:pass@host`).
fn carries_credentials(server: &str) -> bool {
    let authority = server.split_once("://").map_or(server, |(_, rest)| rest);
    authority.split('/').next().is_some_and(|host| host.contains('@'))
}

/// Never the password or a key: whether one is set, and the files' paths.
impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |secret: &str| if secret.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("NatsSettings")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("user", &self.user)
            .field("password", &redacted(&self.password))
            .field("nkey_seed_file", &self.nkey_seed_file)
            .field("credentials_file", &self.credentials_file)
            .field("stream", &self.stream())
            .finish()
    }
}

#[cfg(test)]
mod tests;
