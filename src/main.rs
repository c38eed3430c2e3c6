//! `latchkey`: parses the command line, loads settings, starts telemetry, and hands over.

use clap::Parser;
use latchkey::{
    cli::{AccountCommand, AuditCommand, Cli, Command, EventsCommand, KeysCommand, VaultCommand},
    settings::{DEFAULTS, Settings},
};

/// mimalloc instead of the system allocator: a request allocates dozens of small short-lived
/// objects across worker threads, where glibc's malloc spent about a tenth of the gateway's CPU
/// on a cached read (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref(), std::env::vars())?;
    if let Command::Config = cli.command {
        print!("{DEFAULTS}");
        return Ok(());
    }
    if let Command::MeshCerts { out, days } = &cli.command {
        for file in latchkey::mesh_certs::write(out, *days)? {
            println!("{}", file.display());
        }
        return Ok(());
    }
    let _telemetry = latchkey_telemetry::init(&settings.telemetry)?;
    let shutdown = latchkey::shutdown_on_signal();
    match cli.command {
        Command::Dev { data_dir, listen } => {
            let http = tokio::net::TcpListener::bind(listen).await?;
            let dev = latchkey::dev::start(&settings, &data_dir, http).await?;
            println!("{}", latchkey::dev::banner(&dev));
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = dev.mesh.shutdown.cancelled() => tracing::error!("a service stopped; shutting down"),
            }
            dev.mesh.stop().await;
        }
        Command::Serve { service, listen } => latchkey::serve::run(settings, service, listen, shutdown).await?,
        Command::Migrate { service } => {
            for (schema, version) in latchkey::migrate::migrate(&settings, service).await? {
                println!("{}: {schema} at version {version}", service.name());
            }
        }
        Command::Account(AccountCommand::Create { name }) => {
            let url = latchkey::serve::mesh_urls(&settings)
                .of(latchkey::cli::Service::AgentToken)?
                .to_owned();
            let auth = settings.mesh.operator_auth()?;
            let (account_id, key) = latchkey::mesh::create_account(&url, &auth, &name).await?;
            println!("account {account_id}\napi key {key}");
        }
        Command::Account(AccountCommand::Plan { account, plan }) => {
            let url = latchkey::serve::mesh_urls(&settings)
                .of(latchkey::cli::Service::AgentToken)?
                .to_owned();
            let auth = settings.mesh.operator_auth()?;
            let moved = latchkey::mesh::set_account_plan(&url, &auth, &account, &plan).await?;
            match moved.event_type {
                Some(event) => println!("account {account}: plan {} -> {plan} ({event})", moved.from_plan),
                None => println!("account {account} is already on plan {plan}"),
            }
        }
        Command::Keys(KeysCommand::Rotate { publish_lead }) => {
            let kid = latchkey::mesh::rotate_signing_key(&settings, publish_lead).await?;
            println!("new signing key {kid}: published now, signing in {publish_lead} s");
        }
        Command::Vault(VaultCommand::Rotate { data_dir, no_new_key }) => {
            let rotated = latchkey::vault::rotate(&settings, data_dir.as_deref(), !no_new_key).await?;
            let report = rotated.report;
            if let Some(version) = rotated.added_version {
                println!("added root key version {version} to the key file");
            }
            println!(
                "every data key is wrapped under root key version {} ({} re-wrapped now, {} in all); before removing \
                 an older version from the key file, run `latchkey vault rotate --no-new-key` once more and see 0 re-wrapped",
                report.root_version, report.rewrapped, report.data_keys
            );
        }
        Command::Audit(AuditCommand::Verify {
            file,
            url,
            key,
            checkpoint,
            jwks,
        }) => {
            let options = latchkey::audit_verify::VerifyOptions {
                file,
                url,
                key,
                checkpoint,
                jwks,
            };
            let report = latchkey::audit_verify::verify(&options).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.valid {
                std::process::exit(1);
            }
        }
        Command::Events(EventsCommand::DeadLetters(command)) => {
            print!("{}", latchkey::dead_letters::run(&settings, command).await?);
        }
        Command::NatsConfig { prefix, credential } => {
            let prefix = prefix.unwrap_or(settings.nats.prefix);
            print!("{}", latchkey::nats_config::authorization(&prefix, credential));
        }
        Command::Mcp { url } => {
            // An account API key, or an agent token for Latchkey; read here so it is never an argument.
            let key = std::env::var("LATCHKEY_API_KEY")
                .or_else(|_| std::env::var("LATCHKEY_AGENT_TOKEN"))
                .map_err(|_| anyhow::anyhow!("set LATCHKEY_API_KEY (or LATCHKEY_AGENT_TOKEN) for `latchkey mcp`"))?;
            let endpoint = format!("{}/mcp", url.trim_end_matches('/'));
            latchkey_mcp::serve_stdio(&endpoint, &key).await?;
        }
        Command::Config | Command::MeshCerts { .. } => {}
    }
    Ok(())
}
