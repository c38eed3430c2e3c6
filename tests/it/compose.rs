//! docker-compose.yml, deploy/Dockerfile and the Kubernetes manifests of deploy/k8s against what
//! `latchkey serve` really accepts. No Docker engine or cluster runs here, so the mesh's wiring is
//! checked by reading the files the way Compose and kustomize do, mounting the secret files
//! deploy/make-secrets writes where they say, and handing each service's command and environment
//! to the real CLI parser, settings loader and listen-address rules.

mod file;
mod fixture;
mod image;
mod k8s;

use std::collections::{BTreeMap, BTreeSet};

use clap::Parser;
use latchkey::cli::{Cli, Service};
use latchkey::serve::mesh_urls;
use latchkey::settings::Settings;

use file::{host_and_port, url_path};
use fixture::{DOCKERFILE, IMAGE, TestResult, compose, mesh_processes, repo_file};

const ALL_SERVICES: [Service; 8] = [
    Service::Gateway,
    Service::AgentToken,
    Service::Audit,
    Service::Policy,
    Service::Vault,
    Service::Oauth,
    Service::Webhook,
    Service::Directory,
];

#[test]
fn every_service_runs_from_the_one_image_with_a_command_serve_accepts() -> TestResult {
    assert!(
        Cli::try_parse_from(["latchkey", "serve", "no-such-service"]).is_err(),
        "the parser must reject"
    );
    let compose = compose()?;
    let processes = mesh_processes(&compose)?;

    let names: BTreeSet<&str> = processes.keys().copied().collect();
    assert_eq!(names, ALL_SERVICES.iter().map(|service| service.name()).collect());
    for (name, process) in &processes {
        // Compose names double as the hostnames in the mesh URLs, so they must be the service names.
        assert_eq!(*name, process.service.name(), "{name} runs another service");
        assert_eq!(process.compose.image.as_deref(), Some(IMAGE), "{name}: image");
        let build = process
            .compose
            .build
            .as_ref()
            .ok_or_else(|| format!("{name}: no build section"))?;
        assert_eq!(
            (build.context.as_str(), build.dockerfile.as_str()),
            (".", DOCKERFILE),
            "{name}: build"
        );
    }
    Ok(())
}

#[test]
fn every_variable_names_a_real_setting() -> TestResult {
    let unknown = [("LATCHKEY__NO_SUCH_SECTION__KEY".to_owned(), "1".to_owned())];
    assert!(
        Settings::load(None, unknown).is_err(),
        "the loader must reject unknown settings"
    );
    let compose = compose()?;
    for (name, process) in mesh_processes(&compose)? {
        // The loader ignores variables without the prefix, so a misspelt prefix would pass unseen.
        let stray: Vec<_> = process
            .compose
            .environment
            .keys()
            .filter(|key| !key.starts_with("LATCHKEY__"))
            .collect();
        assert!(stray.is_empty(), "{name}: variables that are no setting: {stray:?}");
    }
    Ok(())
}

#[test]
fn serve_essentials_point_at_services_that_exist_on_the_ports_they_listen_on() -> TestResult {
    let compose = compose()?;
    let processes = mesh_processes(&compose)?;
    let init_sql = std::fs::read_to_string(repo_file("deploy/postgres/create-databases.sql"))?;
    let listening: BTreeMap<&str, u16> = processes
        .values()
        .map(|p| (p.service.name(), p.listen.port()))
        .collect();
    let mut databases = BTreeSet::new();

    for (name, process) in &processes {
        let settings = &process.settings;
        assert_eq!(
            host_and_port(&settings.nats.url),
            Some(("nats", 4222)),
            "{name}: NATS URL"
        );
        // Mutual TLS between the services (the files mounted from its secrets), each as itself on NATS.
        for setting in ["TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"] {
            let file = process.compose.environment.get(&format!("LATCHKEY__MESH__{setting}"));
            assert!(
                file.is_some_and(|file| process.mounts.contains_key(file)),
                "{name}: the mesh is not over mutual TLS with its mounted certificate"
            );
        }
        assert_eq!(settings.nats.user, *name, "{name}: NATS user");
        let otlp = settings.telemetry.otlp_endpoint.as_deref().unwrap_or_default();
        assert_eq!(host_and_port(otlp), Some(("jaeger", 4317)), "{name}: OTLP endpoint");
        // Loopback inside a container is unreachable from its peers.
        assert!(
            process.listen.ip().is_unspecified(),
            "{name} listens on {} only",
            process.listen
        );

        // Every mesh address names the compose service that serves it, on the port it listens on,
        // over TLS (the certificate's name is the service's, and so is the host's).
        for (target, url) in &mesh_urls(settings).0 {
            assert!(url.starts_with("https://"), "{name}: {target} at {url}");
            let port = listening.get(target).copied();
            assert_eq!(
                host_and_port(url),
                port.map(|port| (*target, port)),
                "{name}: {target} at {url}"
            );
        }

        if process.service == Service::Gateway {
            continue; // stateless: no database
        }
        let url = &settings.database.url;
        assert!(
            url.starts_with("postgres://"),
            "{name}: serve runs on PostgreSQL, not {url:?}"
        );
        assert_eq!(host_and_port(url), Some(("postgres", 5432)), "{name}: database host");
        let database = url_path(url).ok_or_else(|| format!("{name}: no database in its URL"))?;
        assert!(
            init_sql.contains(&format!("CREATE DATABASE {database};")),
            "{database} is never created"
        );
        assert!(
            databases.insert(database.to_owned()),
            "{name} shares database {database}"
        );
    }

    let gateway = processes.get("gateway").ok_or("no gateway service")?;
    assert_eq!(gateway.listen.port(), 8080);
    assert!(
        gateway.compose.ports.iter().any(|port| port == "8080:8080"),
        "gateway not published on 8080"
    );
    let jaeger = compose.services.get("jaeger").ok_or("no jaeger service")?;
    assert!(
        jaeger
            .image
            .as_deref()
            .is_some_and(|image| image.starts_with("jaegertracing/all-in-one:"))
    );
    Ok(())
}

#[test]
fn secrets_are_files_deploy_make_secrets_writes_never_values_in_the_file() -> TestResult {
    let raw = file::load_raw(&repo_file("docker-compose.yml"))?;
    // By the setting's last word: `…__PASSWORD_FILE` names a file, `…__PASSWORD` would be the secret.
    let secret_suffixes = ["TOKEN", "PASSWORD", "SECRET", "KEY", "KEYS", "DATABASE__URL"];
    for (name, service) in &raw.services {
        for key in service.environment.keys() {
            assert!(
                !secret_suffixes.iter().any(|suffix| key.ends_with(suffix)),
                "{name}: {key} puts a secret in the file: name a secret file with {key}_FILE"
            );
        }
    }
    for (name, secret) in &raw.secrets {
        assert!(
            secret.file.starts_with(".secrets/"),
            "secret {name}: {} is outside .secrets/",
            secret.file
        );
    }
    let gitignore = std::fs::read_to_string(repo_file(".gitignore"))?;
    assert!(
        gitignore.lines().any(|line| line.trim() == "/.secrets/"),
        ".gitignore does not keep .secrets/ out of git"
    );

    // deploy/make-secrets writes every file the secrets are read from, and each service mounts
    // only its own: the CA's certificate, its certificate and key, its NATS password and database.
    let compose = compose()?;
    for name in compose.secrets.keys() {
        assert!(
            compose.secret_file(name)?.is_file(),
            "deploy/make-secrets writes no {name}"
        );
    }
    for (name, process) in mesh_processes(&compose)? {
        for mount in &process.compose.secrets {
            let source = mount.source();
            let own = source == "mesh-ca"
                || source.starts_with(&format!("{name}-"))
                || (name == "vault" && source == "vault-root-keys");
            assert!(own, "{name} mounts {source}, which is not its own");
        }
    }
    // PostgreSQL's password is the one in the services' database URLs.
    let postgres = compose.services.get("postgres").ok_or("no postgres service")?;
    assert_eq!(
        postgres.environment.get("POSTGRES_PASSWORD_FILE").map(String::as_str),
        Some("/run/secrets/postgres-password")
    );
    assert!(
        postgres
            .secrets
            .iter()
            .any(|mount| mount.source() == "postgres-password")
    );
    let password = std::fs::read_to_string(compose.secret_file("postgres-password")?)?;
    let processes = mesh_processes(&compose)?;
    let audit = processes.get("audit").ok_or("no audit service")?;
    assert!(
        audit
            .settings
            .database
            .url
            .starts_with(&format!("postgres://latchkey:{}@", password.trim_end())),
        "the database URLs do not carry PostgreSQL's password"
    );
    Ok(())
}

#[test]
fn nats_keeps_jetstream_on_a_volume_and_every_awaited_dependency_has_a_healthcheck() -> TestResult {
    let compose = compose()?;
    let nats = compose.services.get("nats").ok_or("no nats service")?;
    let command = nats.command.as_ref().ok_or("nats: no command")?;
    assert!(
        command.iter().any(|arg| arg == "-js" || arg == "--jetstream"),
        "JetStream is off: {command:?}"
    );
    let store_flag = command
        .iter()
        .position(|arg| arg == "-sd" || arg == "--store_dir")
        .ok_or("no store dir")?;
    let store = command.get(store_flag + 1).ok_or("-sd without a directory")?;
    let mut mounts = nats.volumes.iter().filter_map(|mount| mount.split_once(':'));
    let volume = mounts.find(|(_, target)| target == store).map(|(source, _)| source);
    let volume = volume.ok_or_else(|| format!("the JetStream store {store} is not on a volume"))?;
    assert!(compose.volumes.contains_key(volume), "volume {volume} is not declared");
    // Its users, one per service, from the secret deploy/make-secrets writes.
    let config = command
        .iter()
        .position(|arg| arg == "--config" || arg == "-c")
        .and_then(|flag| command.get(flag + 1))
        .ok_or("nats: no --config")?;
    let users = nats
        .secrets
        .iter()
        .find(|mount| mount.path() == *config)
        .ok_or_else(|| format!("nats: its configuration {config} is no mounted secret"))?;
    let users = std::fs::read_to_string(compose.secret_file(users.source())?)?;
    for service in ALL_SERVICES {
        assert!(
            users.contains(&format!("user: \"{}\"", service.name())),
            "nats has no user {}",
            service.name()
        );
    }

    let postgres = compose.services.get("postgres").ok_or("no postgres service")?;
    assert!(
        postgres
            .image
            .as_deref()
            .is_some_and(|image| image.starts_with("postgres:15"))
    );

    for (name, service) in &compose.services {
        for (dependency, wait) in &service.depends_on {
            let target = compose
                .services
                .get(dependency)
                .ok_or_else(|| format!("{name} needs {dependency}"))?;
            if wait.condition == "service_healthy" {
                assert!(
                    target.healthcheck_text().is_some(),
                    "{name} waits for {dependency}'s missing healthcheck"
                );
            }
        }
    }
    for (name, process) in mesh_processes(&compose)? {
        let probe = process
            .compose
            .healthcheck_text()
            .ok_or_else(|| format!("{name}: no healthcheck"))?;
        // /readyz: the gateway's on its port, a service's on its metrics port.
        let port = match process.service {
            Service::Gateway => process.listen.port(),
            _ => process
                .settings
                .server
                .metrics_listen
                .parse::<std::net::SocketAddr>()?
                .port(),
        };
        assert!(
            probe.contains(&format!("/dev/tcp/127.0.0.1/{port}")) && probe.contains("GET /readyz "),
            "{name} probes something else than /readyz on {port}: {probe}"
        );
        let needs: Vec<&str> = match process.service {
            // The gateway's /readyz asks its peers, so it starts after them.
            Service::Gateway => ALL_SERVICES[1..]
                .iter()
                .map(|service| service.name())
                .chain(["nats"])
                .collect(),
            _ => vec!["postgres", "nats"],
        };
        for peer in needs {
            let wait = process
                .compose
                .depends_on
                .get(peer)
                .map(|dependency| dependency.condition.as_str());
            assert_eq!(wait, Some("service_healthy"), "{name} must wait for a healthy {peer}");
        }
    }
    Ok(())
}
