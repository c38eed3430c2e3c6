//! docker-compose.yml as Compose reads it: YAML merge keys applied, `${VAR}` interpolated, then the few
//! fields the checks need.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use serde::Deserialize;
use serde_norway::Value;

/// The parts of a compose file the checks look at; everything else is ignored.
#[derive(Debug, Deserialize)]
pub struct ComposeFile {
    pub services: BTreeMap<String, ComposeService>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<Value>>,
    /// Top-level secrets: where each one's file is, relative to the compose file.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretFile>,
}

#[derive(Debug, Deserialize)]
pub struct SecretFile {
    pub file: String,
}

/// A service's use of a secret: its name (mounted at /run/secrets/<name>), or its name and where.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SecretMount {
    Short(String),
    Long { source: String, target: Option<String> },
}

impl SecretMount {
    pub fn source(&self) -> &str {
        match self {
            Self::Short(source) | Self::Long { source, .. } => source,
        }
    }

    /// Where the container sees it: an absolute target, else /run/secrets/<target or name>.
    pub fn path(&self) -> String {
        match self {
            Self::Long {
                target: Some(target), ..
            } if target.starts_with('/') => target.clone(),
            Self::Long {
                target: Some(target), ..
            } => format!("/run/secrets/{target}"),
            _ => format!("/run/secrets/{}", self.source()),
        }
    }
}

/// One service. Only the exec (list) form of `command` and the mapping forms of `environment` and
/// `depends_on` are accepted: the checks need unambiguous values.
#[derive(Debug, Deserialize)]
pub struct ComposeService {
    pub image: Option<String>,
    pub build: Option<Build>,
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub depends_on: BTreeMap<String, Dependency>,
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<SecretMount>,
}

#[derive(Debug, Deserialize)]
pub struct Build {
    pub context: String,
    pub dockerfile: String,
}

#[derive(Debug, Deserialize)]
pub struct Dependency {
    pub condition: String,
}

#[derive(Debug, Deserialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
}

impl ComposeService {
    /// The healthcheck's command as one string, for looking into what it probes.
    pub fn healthcheck_text(&self) -> Option<String> {
        self.healthcheck.as_ref().map(|check| check.test.join(" "))
    }
}

/// Loads a compose file with `vars` as the shell environment Compose would interpolate from.
pub fn load(path: &Path, vars: &BTreeMap<&str, &str>) -> Result<ComposeFile, Box<dyn Error>> {
    let mut value = merged(path)?;
    interpolate_all(&mut value, vars)?;
    Ok(serde_norway::from_value(value)?)
}

/// Loads a compose file without interpolation, to see what the file itself spells out.
pub fn load_raw(path: &Path) -> Result<ComposeFile, Box<dyn Error>> {
    Ok(serde_norway::from_value(merged(path)?)?)
}

fn merged(path: &Path) -> Result<Value, Box<dyn Error>> {
    let mut value: Value = serde_norway::from_str(&std::fs::read_to_string(path)?)?;
    value.apply_merge()?;
    Ok(value)
}

fn interpolate_all(value: &mut Value, vars: &BTreeMap<&str, &str>) -> Result<(), String> {
    match value {
        Value::String(text) => *text = interpolate(text, vars)?,
        Value::Sequence(items) => items.iter_mut().try_for_each(|item| interpolate_all(item, vars))?,
        Value::Mapping(mapping) => mapping.values_mut().try_for_each(|item| interpolate_all(item, vars))?,
        _ => {}
    }
    Ok(())
}

/// Substitutes `$$`, `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}` and
/// `${NAME?message}` as Compose does; a lone `$` is an error there too, and so (stricter than Compose)
/// is a variable without a default that `vars` does not set.
pub fn interpolate(raw: &str, vars: &BTreeMap<&str, &str>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(|| format!("unclosed ${{ in {raw:?}"))?;
            out.push_str(&expand(&braced[..end], vars)?);
            rest = &braced[end + 1..];
        } else {
            let name_len = name_length(after);
            if name_len == 0 {
                return Err(format!("a lone $ in {raw:?}: write $$ for a literal dollar"));
            }
            out.push_str(&expand(&after[..name_len], vars)?);
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn expand(body: &str, vars: &BTreeMap<&str, &str>) -> Result<String, String> {
    let (name, modifier) = body.split_at(name_length(body));
    let value = vars.get(name).copied();
    let set_and_non_empty = value.filter(|value| !value.is_empty());
    let expanded = if modifier.is_empty() {
        // Compose would warn and substitute nothing: almost always an unescaped shell `$` meant for
        // the container, so it is an error here.
        value.ok_or_else(|| format!("${name} is not set: write $${name} if the container should expand it"))?
    } else if let Some(default) = modifier.strip_prefix(":-") {
        set_and_non_empty.unwrap_or(default)
    } else if let Some(default) = modifier.strip_prefix('-') {
        value.unwrap_or(default)
    } else if let Some(message) = modifier.strip_prefix(":?") {
        set_and_non_empty.ok_or_else(|| format!("required variable {name} is missing: {message}"))?
    } else if let Some(message) = modifier.strip_prefix('?') {
        value.ok_or_else(|| format!("required variable {name} is missing: {message}"))?
    } else {
        return Err(format!("unsupported substitution ${{{body}}}"));
    };
    Ok(expanded.to_owned())
}

fn name_length(text: &str) -> usize {
    text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len())
}

/// Splits `scheme://[user[:password]@]host:port[/path]` into host and port.
pub fn host_and_port(url: &str) -> Option<(&str, u16)> {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = authority.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = authority.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

/// The path of a URL after its authority (`/latchkey_audit` → `latchkey_audit`).
pub fn url_path(url: &str) -> Option<&str> {
    let after_scheme = url.split_once("://")?.1;
    let path = after_scheme.split_once('/')?.1;
    Some(path.split('?').next().unwrap_or(path))
}
