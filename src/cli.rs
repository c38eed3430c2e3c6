//! The command line.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about = "Credentials and identity for AI agents")]
pub struct Cli {
    /// A TOML settings file (see `latchkey config` for every setting and its default).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs every service in one process on the embedded default: SQLite under the data directory,
    /// an in-process event bus, a bootstrap account whose API key is printed.
    Dev {
        /// Where the SQLite databases and the bootstrap key live.
        #[arg(long, default_value = ".latchkey", value_name = "DIR")]
        data_dir: PathBuf,
        /// The REST API's address.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
        listen: SocketAddr,
    },
    /// Runs one service of the mesh, against PostgreSQL and NATS JetStream.
    Serve {
        service: Service,
        /// Overrides `server.listen`.
        #[arg(long, value_name = "HOST:PORT")]
        listen: Option<SocketAddr>,
    },
    /// Serves MCP on stdin/stdout for desktop MCP clients, bridged to a running Latchkey's `/mcp`
    /// (docs/mcp.md). The credential comes from the environment, never the command line.
    Mcp {
        /// The running Latchkey's base URL.
        #[arg(
            long,
            env = "LATCHKEY_URL",
            default_value = "http://127.0.0.1:8080",
            value_name = "URL"
        )]
        url: String,
    },
    /// Brings a service's database (`database.url`) to this build's schema, prints each schema's
    /// version and exits. `serve` migrates at every start as well: this runs it on its own, once,
    /// before new replicas roll out (the Kubernetes Job of deploy/k8s). Safe beside running replicas.
    Migrate {
        /// A service with a database: any but the gateway.
        service: Service,
    },
    /// Prints every setting with its default and meaning.
    Config,
    /// Writes a development CA and a certificate with its key for every mesh identity (each
    /// service, and `operator` for this command line) into DIR, for a mesh over mutual TLS
    /// (`mesh.tls_*`, docs/security.md). Refuses a directory that already holds a CA.
    MeshCerts {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How long the CA and the certificates are valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Manages accounts of a running mesh (uses `mesh.agent_token_url` and `mesh.service_token`).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manages the keys that sign agent tokens in a running mesh.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manages the vault's root keys.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Works with an account's hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Works with the event pipeline's dead letters.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Prints nats-server's authorization for the mesh: one user per service, each allowed only its
    /// own subjects (the event types it publishes, what it reads); passwords or nkeys as variables
    /// the server resolves (docs/operations.md).
    NatsConfig {
        /// The subject prefix (`nats.prefix`); the settings' when not given.
        #[arg(long)]
        prefix: Option<String>,
        /// How the services authenticate: `nats.user` and `nats.password`, or `nats.nkey_seed_file`.
        #[arg(long, value_enum, default_value_t = crate::nats_config::Credential::Password)]
        credential: crate::nats_config::Credential,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// The events a relay or a consumer gave up on after its tries (docs/events.md).
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Lists every dead letter: id, event id, type, account, where it died, tries, when, last error.
    List {
        /// A `latchkey dev` data directory (every service's database and events.db); without it,
        /// `database.url`.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Puts dead letters back: a relay's onto its outbox (its relay publishes it within a second), a
    /// consumer's up for that consumer (it handles it within seconds, then it leaves the list).
    Retry {
        /// The dead letter's id (`dl_…`, from `list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
        /// As for `list`.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recomputes the chain and names the first broken entry: from an export file with no server, or
    /// from a running deployment's live export. Prints a JSON report; exits 1 when the chain does not
    /// verify.
    Verify {
        /// An export (`GET /v1/audit/export`, JSON Lines or CSV) to verify offline.
        #[arg(long, value_name = "FILE", conflicts_with = "url")]
        file: Option<PathBuf>,
        /// The REST API of a running deployment, e.g. http://127.0.0.1:8080.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The account API key for --url.
        #[arg(long, env = "LATCHKEY_API_KEY", hide_env_values = true, value_name = "KEY")]
        key: Option<String>,
        /// A checkpoint kept earlier (JSON from GET /v1/audit/checkpoints/latest): its signature and
        /// its hash must hold.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// The checkpoint keys (GET /v1/audit/checkpoints/jwks.json) to check the checkpoint with; fetched from --url
        /// when not given.
        #[arg(long, value_name = "FILE")]
        jwks: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Adds a new root key version to the key file and re-wraps every account's data key under it,
    /// while the vault keeps serving. With an inline key list (vault.root_keys), add the new version
    /// to every instance's configuration first: rotate then re-wraps under the newest configured.
    Rotate {
        /// The `latchkey dev` data directory whose vault to rotate (its vault-root.key and
        /// vault.db); without it, `database.url` and `vault.root_key_file` / `vault.root_keys`.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Do not add a version: only re-wrap under the newest key already there (e.g. to finish a
        /// rotation that was interrupted).
        #[arg(long)]
        no_new_key: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publishes a new signing key now; it starts signing after the lead, and the current key then
    /// retires (staying in the JWKS until its last token has expired).
    Rotate {
        /// Seconds between publishing the new key and its first signature: longer than any JWKS
        /// cache, so relying services hold the key before its first token reaches them.
        #[arg(long, default_value_t = 600)]
        publish_lead: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Creates an account and prints its id and first API key (shown this once).
    Create {
        /// A name for people to recognise the account by.
        name: String,
    },
    /// Moves an account to another plan of the settings' [plans.*] tables, emitting
    /// billing.plan_upgraded (or billing.plan_changed for any other move).
    Plan {
        /// The account id, e.g. acct_…
        account: String,
        /// The plan's name, e.g. self-hosted or a [plans.<name>] table.
        plan: String,
    },
}

/// A service of the mesh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Service {
    Gateway,
    AgentToken,
    Audit,
    Policy,
    Vault,
    Oauth,
    Webhook,
    Directory,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::AgentToken => "agent-token",
            Self::Audit => "audit",
            Self::Policy => "policy",
            Self::Vault => "vault",
            Self::Oauth => "oauth",
            Self::Webhook => "webhook",
            Self::Directory => "directory",
        }
    }
}
