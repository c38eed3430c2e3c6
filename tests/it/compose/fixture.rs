//! What the compose checks share: the expected services, the shell environment, and each compose
//! service turned into what `latchkey serve` would make of it.

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use latchkey::cli::{Cli, Command, Service};
use latchkey::serve::{listen_address, mesh_urls};
use latchkey::settings::Settings;

use super::file::{self, ComposeFile, ComposeService};

pub type TestResult = Result<(), Box<dyn Error>>;

/// The tag docker-compose.yml gives the image deploy/Dockerfile builds.
pub const IMAGE: &str = "latchkey:dev";
/// The one Dockerfile, relative to the repository root.
pub const DOCKERFILE: &str = "deploy/Dockerfile";

/// What the person running `docker compose up` puts in the shell or `.env`.
pub fn shell_environment() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("LATCHKEY_SERVICE_TOKEN", "compose-check-service-token-0123456789abcdef"),
        ("LATCHKEY_POSTGRES_PASSWORD", "compose-check-password"),
        (
            "LATCHKEY_VAULT_ROOT_KEYS",
            "1:Y29tcG9zZS1jaGVjay12YXVsdC1yb290LWtleS0zMmI=",
        ),
    ])
}

/// A file of this repository, wherever the test runs from.
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// docker-compose.yml as Compose would run it with [`shell_environment`].
pub fn compose() -> Result<ComposeFile, Box<dyn Error>> {
    file::load(&repo_file("docker-compose.yml"), &shell_environment())
}

/// A compose service built from the Latchkey image, as `latchkey serve` would run it.
pub struct MeshProcess<'a> {
    pub compose: &'a ComposeService,
    pub service: Service,
    pub settings: Settings,
    /// Where `serve` would bind, computed by the binary's own rules.
    pub listen: SocketAddr,
}

/// Every compose service built from the Latchkey image, by compose name, through the real CLI parser
/// and settings loader.
pub fn mesh_processes(compose: &ComposeFile) -> Result<BTreeMap<&str, MeshProcess<'_>>, Box<dyn Error>> {
    let from_our_image = |service: &ComposeService| {
        service.image.as_deref() == Some(IMAGE)
            || service
                .build
                .as_ref()
                .is_some_and(|build| build.dockerfile == DOCKERFILE)
    };
    let mut processes = BTreeMap::new();
    for (name, service) in compose.services.iter().filter(|(_, service)| from_our_image(service)) {
        let command = service.command.as_ref().ok_or_else(|| format!("{name}: no command"))?;
        let argv = std::iter::once("latchkey").chain(command.iter().map(String::as_str));
        let cli = Cli::try_parse_from(argv).map_err(|error| format!("{name}: {error}"))?;
        let Command::Serve {
            service: target,
            listen,
        } = cli.command
        else {
            return Err(format!("{name}: {command:?} is not `serve <service>`").into());
        };
        let environment = service.environment.clone().into_iter();
        let settings = Settings::load(None, environment).map_err(|error| format!("{name}: {error}"))?;
        let listen = listen_address(&settings, target, listen, &mesh_urls(&settings))?;
        let process = MeshProcess {
            compose: service,
            service: target,
            settings,
            listen,
        };
        processes.insert(name.as_str(), process);
    }
    Ok(processes)
}
