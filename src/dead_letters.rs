//! `latchkey events dead-letters list|retry`: the events a relay or a consumer gave up on, and
//! putting them back (docs/events.md). Works on the databases directly while the services run, and
//! opens them as `latchkey vault rotate` does: a `latchkey dev` data directory (every service's
//! SQLite file and the bus's `events.db`, where the in-process bus's consumers keep theirs), or
//! `database.url`.

use std::path::Path;

use anyhow::{Context, bail};
use latchkey_events::{DeadLetter, DeadLetters, dead_letter::Retried};
use latchkey_storage::{Db, sqlite_url};

use crate::{cli::DeadLettersCommand, mesh::GRPC_SERVICES, settings::Settings};

/// The file of the `latchkey dev` event bus, whose consumers' dead letters it holds.
const BUS_DATABASE: &str = "events.db";

/// Runs `command`; answers what to print.
pub async fn run(settings: &Settings, command: DeadLettersCommand) -> anyhow::Result<String> {
    match command {
        DeadLettersCommand::List { data_dir } => {
            let mut listed = Vec::new();
            for (_, letters) in open(settings, data_dir.as_deref()).await? {
                listed.extend(letters.list().await.context("cannot list the dead letters")?);
            }
            listed.sort_by(|a, b| (a.dead_at, &a.id).cmp(&(b.dead_at, &b.id)));
            Ok(render(&listed))
        }
        DeadLettersCommand::Retry { id, all, data_dir } => {
            let databases = open(settings, data_dir.as_deref()).await?;
            let retried = retry(&databases, if all { None } else { id.as_deref() }).await?;
            Ok(retried
                .iter()
                .map(|(id, retried)| match retried {
                    Retried::Outbox(source) => format!("{id}: back on the outbox of {source}\n"),
                    Retried::Consumer(name) => format!("{id}: up for consumer {name} to handle again\n"),
                })
                .collect())
        }
    }
}

/// Retries the dead letter `id`, or every one (`None`); answers what each became.
async fn retry(databases: &[(String, DeadLetters)], id: Option<&str>) -> anyhow::Result<Vec<(String, Retried)>> {
    let mut retried = Vec::new();
    for (database, letters) in databases {
        for letter in letters.list().await.context("cannot list the dead letters")? {
            if id.is_none_or(|id| id == letter.id) {
                let outcome = letters
                    .retry(&letter.id)
                    .await
                    .with_context(|| format!("cannot retry {} in {database}", letter.id))?;
                retried.push((letter.id, outcome));
            }
        }
    }
    if let Some(id) = id
        && retried.is_empty()
    {
        bail!("no dead letter {id}");
    }
    Ok(retried)
}

/// The dead letters of every database in play, by a name for each.
async fn open(settings: &Settings, data_dir: Option<&Path>) -> anyhow::Result<Vec<(String, DeadLetters)>> {
    let urls = match data_dir {
        Some(dir) => {
            let files = GRPC_SERVICES
                .iter()
                .map(|service| format!("{}.db", service.name()))
                .chain([BUS_DATABASE.to_owned()]);
            // Only the files there: a service never started has no dead letters, and no file is made.
            let present: Vec<(String, String)> = files
                .map(|file| (dir.join(&file), file))
                .filter(|(path, _)| path.exists())
                .map(|(path, file)| (file, sqlite_url(&path)))
                .collect();
            if present.is_empty() {
                bail!("no Latchkey databases in {}", dir.display());
            }
            present
        }
        None => {
            if settings.database.url.is_empty() {
                bail!(
                    "database.url is not set (LATCHKEY__DATABASE__URL_FILE or LATCHKEY__DATABASE__URL), nor --data-dir for latchkey dev"
                );
            }
            vec![("database.url".to_owned(), settings.database.url.clone())]
        }
    };
    let mut databases = Vec::with_capacity(urls.len());
    for (name, url) in urls {
        let db = Db::connect(&url).await.with_context(|| format!("cannot open {name}"))?;
        let letters = DeadLetters::open(db)
            .await
            .with_context(|| format!("cannot open the dead letters of {name}"))?;
        databases.push((name, letters));
    }
    Ok(databases)
}

/// One line per dead letter under a header, columns aligned; the error last, as it is the longest.
pub fn render(letters: &[DeadLetter]) -> String {
    if letters.is_empty() {
        return "no dead letters\n".to_owned();
    }
    let header = [
        "ID",
        "EVENT",
        "TYPE",
        "ACCOUNT",
        "WHERE",
        "TRIES",
        "DEAD AT",
        "LAST ERROR",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 8]> = letters
        .iter()
        .map(|letter| {
            let tries = if letter.retry_requested {
                format!("{} (retry requested)", letter.tries)
            } else {
                letter.tries.to_string()
            };
            [
                letter.id.clone(),
                letter.event_id.clone(),
                letter.event_type.clone(),
                letter.account.clone(),
                letter.location.clone(),
                tries,
                letter.dead_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                letter.last_error.clone(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if column == 7 {
                    cell.clone()
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
