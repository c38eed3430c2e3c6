//! What the compose checks share: docker-compose.yml with the secret files deploy/make-secrets
//! writes, and each compose service turned into what `latchkey serve` would make of it.

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

/// A file of this repository, wherever the test runs from.
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs deploy/make-secrets, as the person deploying does, into `dir` (with `postgres`, the server's
/// URL, or docker-compose.yml's), with this build's binary for `latchkey mesh-certs`.
pub fn make_secrets(dir: &Path, postgres: Option<&str>) -> Result<(), Box<dyn Error>> {
    let made = std::process::Command::new("bash")
        .arg(repo_file("deploy/make-secrets"))
        .arg(dir)
        .args(postgres)
        .env("LATCHKEY", env!("CARGO_BIN_EXE_latchkey"))
        .output()?;
    if !made.status.success() {
        return Err(format!("deploy/make-secrets failed: {}", String::from_utf8_lossy(&made.stderr)).into());
    }
    Ok(())
}

/// docker-compose.yml as Compose would run it, with the secret files deploy/make-secrets writes for
/// it (`.secrets/`) in a directory of the fixture's own that stands for the repository root.
pub struct Compose {
    pub file: ComposeFile,
    root: tempfile::TempDir,
}

impl std::ops::Deref for Compose {
    type Target = ComposeFile;

    fn deref(&self) -> &ComposeFile {
        &self.file
    }
}

impl Compose {
    /// The file the top-level secret `name` is read from.
    pub fn secret_file(&self, name: &str) -> Result<PathBuf, Box<dyn Error>> {
        let secret = self
            .file
            .secrets
            .get(name)
            .ok_or_else(|| format!("secret {name} is not declared"))?;
        Ok(self.root.path().join(secret.file.trim_start_matches("./")))
    }
}

/// docker-compose.yml with its secrets made (see [`Compose`]).
pub fn compose() -> Result<Compose, Box<dyn Error>> {
    let root = tempfile::tempdir()?;
    make_secrets(&root.path().join(".secrets"), None)?;
    let file = file::load(&repo_file("docker-compose.yml"), &BTreeMap::new())?;
    Ok(Compose { file, root })
}

/// A compose service built from the Latchkey image, as `latchkey serve` would run it.
pub struct MeshProcess<'a> {
    pub compose: &'a ComposeService,
    pub service: Service,
    pub settings: Settings,
    /// Where `serve` would bind, computed by the binary's own rules.
    pub listen: SocketAddr,
    /// Its secrets: where the container sees each, and the file mounted there.
    pub mounts: BTreeMap<String, PathBuf>,
}

/// Every compose service built from the Latchkey image, by compose name, through the real CLI parser
/// and settings loader, each reading its secrets from the files mounted where its settings say.
pub fn mesh_processes(compose: &Compose) -> Result<BTreeMap<&str, MeshProcess<'_>>, Box<dyn Error>> {
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
        let mut mounts = BTreeMap::new();
        for mount in &service.secrets {
            let file = compose
                .secret_file(mount.source())
                .map_err(|error| format!("{name}: {error}"))?;
            if !file.is_file() {
                return Err(format!(
                    "{name}: secret {} is no file deploy/make-secrets writes",
                    mount.source()
                )
                .into());
            }
            mounts.insert(mount.path(), file);
        }
        // A setting naming a file reads the secret mounted there; one nothing is mounted at fails.
        let mut environment = Vec::new();
        for (key, value) in &service.environment {
            let value = if key.ends_with("_FILE") {
                let mounted = mounts.get(value);
                let mounted = mounted.ok_or_else(|| format!("{name}: {key}={value}: no secret is mounted there"))?;
                mounted.display().to_string()
            } else {
                value.clone()
            };
            environment.push((key.clone(), value));
        }
        let settings = Settings::load(None, environment).map_err(|error| format!("{name}: {error}"))?;
        let listen = listen_address(&settings, target, listen, &mesh_urls(&settings))?;
        let process = MeshProcess {
            compose: service,
            service: target,
            settings,
            listen,
            mounts,
        };
        processes.insert(name.as_str(), process);
    }
    Ok(processes)
}
