//! deploy/Dockerfile: the image's entrypoint, default command and baked-in settings.

use clap::Parser;
use latchkey::cli::{Cli, Command};
use latchkey::settings::Settings;

use super::fixture::{DOCKERFILE, TestResult, repo_file};

#[test]
fn the_image_runs_latchkey_with_a_default_command_and_settings_it_accepts() -> TestResult {
    let dockerfile = std::fs::read_to_string(repo_file(DOCKERFILE))?;
    let instruction = |keyword: &str| {
        // The last one wins, as in Docker.
        let mut lines = dockerfile
            .lines()
            .filter_map(|line| line.strip_prefix(keyword))
            .map(str::trim);
        lines.next_back().map(str::to_owned)
    };
    let entrypoint: Vec<String> = serde_json::from_str(&instruction("ENTRYPOINT ").ok_or("no ENTRYPOINT")?)?;
    assert_eq!(entrypoint, ["latchkey"]);
    let command: Vec<String> = serde_json::from_str(&instruction("CMD ").ok_or("no CMD")?)?;
    let cli = Cli::try_parse_from(std::iter::once("latchkey".to_owned()).chain(command))
        .map_err(|error| error.to_string())?;
    // `docker run -p 8080:8080` forwards to the container's interface, not to its loopback.
    let Command::Dev { listen, .. } = cli.command else {
        return Err("the default command is not `latchkey dev`".into());
    };
    assert!(
        listen.ip().is_unspecified() && listen.port() == 8080,
        "latchkey dev listens on {listen}"
    );

    let baked_in = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .filter_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            Some((key.to_owned(), value.trim_matches('"').to_owned()))
        });
    Settings::load(None, baked_in).map_err(|error| format!("the image's ENV: {error}"))?;
    Ok(())
}
