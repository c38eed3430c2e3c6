//! deploy/k8s as a cluster would run it: every overlay rendered by `kubectl kustomize` with the
//! secret files deploy/make-secrets writes, then every Latchkey container's command parsed by the
//! real CLI and its environment (its ConfigMap and its own variables) loaded by the real settings
//! loader, each setting that names a file reading what the pod's volumes mount there. The schemas
//! are `make k8s-validate`'s (.ci/k8s); this is about what the binary accepts.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use clap::Parser;
use latchkey::cli::{Cli, Command as CliCommand, Service};
use latchkey::serve::{listen_address, mesh_urls};
use latchkey::settings::Settings;
use serde::Deserialize;
use serde_norway::Value;

use super::ALL_SERVICES;
use super::file::host_and_port;
use super::fixture::{TestResult, make_secrets, repo_file};

/// What an overlay's database URLs point at in these checks.
const POSTGRES: &str = "postgres://latchkey:k8s-check@db.example:5432";

#[derive(Debug, Deserialize)]
struct Object {
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    spec: Value,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Workload {
    replicas: Option<u32>,
    template: Template,
}

#[derive(Debug, Deserialize)]
struct Template {
    spec: PodSpec,
}

#[derive(Debug, Deserialize)]
struct PodSpec {
    containers: Vec<Container>,
    #[serde(default)]
    volumes: Vec<Volume>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<EnvVar>,
    #[serde(default)]
    env_from: Vec<EnvFrom>,
    #[serde(default)]
    volume_mounts: Vec<VolumeMount>,
    #[serde(default)]
    ports: Vec<ContainerPort>,
    readiness_probe: Option<Probe>,
    liveness_probe: Option<Probe>,
}

#[derive(Debug, Deserialize)]
struct EnvVar {
    name: String,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvFrom {
    config_map_ref: Option<NameRef>,
}

#[derive(Debug, Deserialize)]
struct NameRef {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeMount {
    name: String,
    mount_path: String,
}

#[derive(Debug, Deserialize)]
struct ContainerPort {
    name: String,
    #[serde(rename = "containerPort")]
    container_port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    http_get: Option<HttpGet>,
}

#[derive(Debug, Deserialize)]
struct HttpGet {
    path: String,
    port: String,
}

#[derive(Debug, Deserialize)]
struct Volume {
    name: String,
    secret: Option<SecretVolume>,
    projected: Option<Projected>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretVolume {
    secret_name: String,
    items: Option<Vec<KeyToPath>>,
}

#[derive(Debug, Deserialize)]
struct Projected {
    sources: Vec<ProjectedSource>,
}

#[derive(Debug, Deserialize)]
struct ProjectedSource {
    secret: Option<ProjectedSecret>,
}

#[derive(Debug, Deserialize)]
struct ProjectedSecret {
    name: String,
    items: Option<Vec<KeyToPath>>,
}

#[derive(Debug, Deserialize)]
struct KeyToPath {
    key: String,
    path: String,
}

/// One overlay as `kubectl kustomize` renders it.
struct Rendered {
    objects: Vec<Object>,
}

impl Rendered {
    fn find(&self, kind: &str, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|object| object.kind == kind && object.metadata.name == name)
    }

    /// A Secret's entries, decoded.
    fn secret(&self, name: &str) -> Result<BTreeMap<String, Vec<u8>>, Box<dyn Error>> {
        let secret = self.find("Secret", name).ok_or_else(|| format!("no Secret {name}"))?;
        let mut entries = BTreeMap::new();
        for (key, encoded) in &secret.data {
            // kustomize folds long values over lines.
            let encoded: String = encoded.split_whitespace().collect();
            entries.insert(key.clone(), base64::engine::general_purpose::STANDARD.decode(encoded)?);
        }
        Ok(entries)
    }

    /// The files `volume` shows a container, by their path inside the mount.
    fn files_of(&self, volume: &Volume) -> Result<BTreeMap<String, Vec<u8>>, Box<dyn Error>> {
        let pick = |secret: &str, items: &Option<Vec<KeyToPath>>| -> Result<_, Box<dyn Error>> {
            let entries = self.secret(secret)?;
            Ok(match items {
                None => entries,
                Some(items) => items
                    .iter()
                    .map(|item| {
                        let value = entries.get(&item.key).cloned();
                        let value = value.ok_or_else(|| format!("Secret {secret} has no key {}", item.key))?;
                        Ok((item.path.clone(), value))
                    })
                    .collect::<Result<_, Box<dyn Error>>>()?,
            })
        };
        let mut files = BTreeMap::new();
        if let Some(secret) = &volume.secret {
            files.extend(pick(&secret.secret_name, &secret.items)?);
        }
        if let Some(projected) = &volume.projected {
            for source in projected.sources.iter().filter_map(|source| source.secret.as_ref()) {
                files.extend(pick(&source.name, &source.items)?);
            }
        }
        Ok(files)
    }
}

/// Copies `from` into `to`, leaving out any `secrets` directory (a developer's real ones).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "secrets" {
                copy_tree(&entry.path(), &target)?;
            }
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Every overlay, by name, rendered from a copy of deploy/k8s whose secrets deploy/make-secrets made.
fn render_overlays(work: &Path) -> Result<BTreeMap<String, Rendered>, Box<dyn Error>> {
    copy_tree(&repo_file("deploy/k8s"), &work.join("k8s"))?;
    let mut rendered = BTreeMap::new();
    for overlay in std::fs::read_dir(work.join("k8s/overlays"))? {
        let overlay = overlay?.path();
        let name = overlay
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or("overlay name")?;
        make_secrets(&overlay.join("secrets"), Some(POSTGRES))?;
        let output = Command::new("kubectl")
            .arg("kustomize")
            .arg(&overlay)
            .output()
            .map_err(|error| {
                format!("kubectl (1.27 or later: kustomize v5) is needed to render deploy/k8s: {error}")
            })?;
        if !output.status.success() {
            return Err(format!("kubectl kustomize {name}: {}", String::from_utf8_lossy(&output.stderr)).into());
        }
        let text = String::from_utf8(output.stdout)?;
        let mut objects = Vec::new();
        for document in serde_norway::Deserializer::from_str(&text) {
            objects.push(Object::deserialize(document)?);
        }
        rendered.insert(name.to_owned(), Rendered { objects });
    }
    assert!(rendered.contains_key("production"), "no production overlay");
    Ok(rendered)
}

/// A Latchkey container as the binary sees it.
struct Process {
    command: CliCommand,
    /// Its `…_FILE` settings name the files its volumes mount, written out under a root of the test's.
    settings: Settings,
    /// Its environment as loaded, those file names included.
    environment: BTreeMap<String, String>,
}

/// Parses `container`'s command and loads its settings, with its volumes' files written under
/// `root` and every `…_FILE` setting pointed at them.
fn process_of(
    rendered: &Rendered,
    pod: &PodSpec,
    container: &Container,
    root: &Path,
) -> Result<Process, Box<dyn Error>> {
    let name = &container.name;
    assert!(
        container.command.is_empty(),
        "{name}: the image's entrypoint is latchkey"
    );
    let cli = Cli::try_parse_from(std::iter::once("latchkey").chain(container.args.iter().map(String::as_str)))
        .map_err(|error| format!("{name}: {error}"))?;

    let mut mounted = BTreeMap::new();
    for mount in &container.volume_mounts {
        let volume = pod.volumes.iter().find(|volume| volume.name == mount.name);
        let volume = volume.ok_or_else(|| format!("{name}: no volume {}", mount.name))?;
        for (path, content) in rendered.files_of(volume)? {
            let inside = format!("{}/{path}", mount.mount_path.trim_end_matches('/'));
            let outside: PathBuf = root.join(inside.trim_start_matches('/'));
            std::fs::create_dir_all(outside.parent().ok_or("a parent")?)?;
            std::fs::write(&outside, content)?;
            mounted.insert(inside, outside);
        }
    }

    let mut environment: Vec<(String, String)> = Vec::new();
    for source in &container.env_from {
        let config = source
            .config_map_ref
            .as_ref()
            .ok_or_else(|| format!("{name}: envFrom other than a ConfigMap"))?;
        let config = rendered.find("ConfigMap", &config.name);
        let config = config.ok_or_else(|| format!("{name}: no ConfigMap {:?}", source.config_map_ref))?;
        environment.extend(config.data.iter().map(|(key, value)| (key.clone(), value.clone())));
    }
    for variable in &container.env {
        let value = variable.value.clone();
        let value = value.ok_or_else(|| format!("{name}: {} is not a plain value", variable.name))?;
        environment.push((variable.name.clone(), value));
    }
    let mut resolved = Vec::new();
    for (key, value) in environment {
        // The loader ignores variables without the prefix, so a misspelt prefix would pass unseen.
        assert!(key.starts_with("LATCHKEY__"), "{name}: {key} is no setting");
        let value = if key.ends_with("_FILE") {
            let file = mounted.get(&value);
            let file = file.ok_or_else(|| format!("{name}: {key}={value}: no volume mounts a file there"))?;
            file.display().to_string()
        } else {
            value
        };
        resolved.push((key, value));
    }
    let settings = Settings::load(None, resolved.clone()).map_err(|error| format!("{name}: {error}"))?;
    Ok(Process {
        command: cli.command,
        settings,
        environment: resolved.into_iter().collect(),
    })
}

fn port_named(container: &Container, name: &str) -> Option<u16> {
    container
        .ports
        .iter()
        .find(|port| port.name == name)
        .map(|port| port.container_port)
}

#[test]
fn every_overlay_runs_commands_and_settings_the_binary_accepts() -> TestResult {
    let work = tempfile::tempdir()?;
    let init_sql = std::fs::read_to_string(repo_file("deploy/postgres/create-databases.sql"))?;
    for (overlay, rendered) in render_overlays(work.path())? {
        let services: BTreeMap<&str, u16> = rendered
            .objects
            .iter()
            .filter(|object| object.kind == "Service")
            .filter_map(|object| {
                let port = object.spec.get("ports")?.get(0)?.get("port")?.as_u64()?;
                Some((object.metadata.name.as_str(), u16::try_from(port).ok()?))
            })
            .collect();
        let nats = rendered.find("StatefulSet", "nats").ok_or("no NATS StatefulSet")?;
        let nats_nodes = serde_norway::from_value::<Workload>(nats.spec.clone())?.replicas;
        let (mut served, mut migrated) = (BTreeSet::new(), BTreeSet::new());

        let latchkey = rendered.objects.iter().filter(|object| {
            matches!(object.kind.as_str(), "Deployment" | "Job")
                && object.metadata.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("latchkey")
        });
        for object in latchkey {
            let workload: Workload = serde_norway::from_value(object.spec.clone())?;
            let pod = &workload.template.spec;
            for container in &pod.containers {
                let at = format!("{overlay}: {} {}/{}", object.kind, object.metadata.name, container.name);
                let root = work
                    .path()
                    .join("mounts")
                    .join(&overlay)
                    .join(&object.metadata.name)
                    .join(&container.name);
                let process = process_of(&rendered, pod, container, &root).map_err(|error| format!("{at}: {error}"))?;
                let settings = &process.settings;
                let database = |service: Service| {
                    let url = &settings.database.url;
                    let database = format!("latchkey_{}", service.name().replace('-', "_"));
                    assert!(url.ends_with(&format!("/{database}")), "{at}: database {url}");
                    assert!(
                        init_sql.contains(&format!("CREATE DATABASE {database};")),
                        "{at}: {database} is never created"
                    );
                };
                match process.command {
                    CliCommand::Migrate { service } => {
                        assert_eq!(object.kind, "Job", "{at}: migrations run as a Job");
                        database(service);
                        migrated.insert(service.name());
                    }
                    CliCommand::Serve { service, listen } => {
                        assert_eq!(
                            object.metadata.name,
                            service.name(),
                            "{at}: the Deployment is named after its service"
                        );
                        served.insert(service.name());
                        // Its address is its port, reachable from other pods.
                        let address = listen_address(settings, service, listen, &mesh_urls(settings))?;
                        assert!(address.ip().is_unspecified(), "{at} listens on {address} only");
                        let api_port = if service == Service::Gateway { "http" } else { "grpc" };
                        assert_eq!(
                            Some(address.port()),
                            port_named(container, api_port),
                            "{at}: listen address"
                        );
                        // Every mesh address is the Service of that name on its port, over TLS.
                        for (target, url) in &mesh_urls(settings).0 {
                            assert!(url.starts_with("https://"), "{at}: {target} at {url}");
                            let service_port = services.get(target).copied();
                            assert_eq!(
                                host_and_port(url),
                                service_port.map(|port| (*target, port)),
                                "{at}: {target} at {url}"
                            );
                        }
                        for setting in ["TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"] {
                            let file = process.environment.get(&format!("LATCHKEY__MESH__{setting}"));
                            assert!(
                                file.is_some_and(|file| Path::new(file).is_file()),
                                "{at}: the mesh is not over mutual TLS"
                            );
                        }
                        assert_eq!(settings.nats.user, service.name(), "{at}: its NATS user");
                        assert_eq!(
                            Some(settings.nats.stream_replicas as u32),
                            nats_nodes,
                            "{at}: stream copies"
                        );
                        if service == Service::Gateway {
                            assert_eq!(
                                Some(settings.gateway.rate_limit_replicas),
                                workload.replicas,
                                "{at}: gateway.rate_limit_replicas is not its replica count"
                            );
                        } else {
                            database(service);
                        }
                        if service == Service::Vault {
                            assert!(
                                Path::new(&settings.vault.root_key_file).is_file(),
                                "{at}: the root keys are not a mounted file"
                            );
                        }
                        // The kubelet asks /readyz where it is served: the gateway's port, or a
                        // service's metrics port (it has no mesh certificate for the gRPC health check).
                        let probe = container
                            .readiness_probe
                            .as_ref()
                            .and_then(|probe| probe.http_get.as_ref());
                        let probe = probe.ok_or_else(|| format!("{at}: no HTTP readiness probe"))?;
                        let probed = port_named(container, &probe.port);
                        let serves_readyz = if service == Service::Gateway {
                            Some(address.port())
                        } else {
                            Some(settings.server.metrics_listen.parse::<std::net::SocketAddr>()?.port())
                        };
                        assert_eq!(
                            (probe.path.as_str(), probed),
                            ("/readyz", serves_readyz),
                            "{at}: readiness probe"
                        );
                        let alive = container
                            .liveness_probe
                            .as_ref()
                            .and_then(|probe| probe.http_get.as_ref());
                        assert_eq!(
                            alive.map(|probe| probe.path.as_str()),
                            Some("/healthz"),
                            "{at}: liveness probe"
                        );
                    }
                    other => return Err(format!("{at}: {other:?} is neither serve nor migrate").into()),
                }
            }
        }
        let all: BTreeSet<&str> = ALL_SERVICES.iter().map(|service| service.name()).collect();
        assert_eq!(served, all, "{overlay}: the services served");
        let with_database: BTreeSet<&str> = all.iter().copied().filter(|name| *name != "gateway").collect();
        assert_eq!(migrated, with_database, "{overlay}: the services the Job migrates");
    }
    Ok(())
}
