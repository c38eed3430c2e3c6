//! Rules travel between the gateway and this service as JSON text, so the engine's own serde types
//! decide what a rule is. A rule that does not fit them is a `VALIDATION_ERROR` naming the field the
//! way the client wrote it (`rules[0].effect`, `rules[1].match.scopes`), like every other field.

use latchkey_errors::FieldError;

use crate::engine::Rule;

/// The longest rules document accepted, in bytes (100 rules of generous size fit many times over).
const MAX_RULES_JSON: usize = 512 * 1024;

/// Reads `json` (a JSON array of rules) into the engine's rules; on failure, the field at fault
/// under `rules`.
pub(crate) fn parse_rules(json: &str) -> Result<Vec<Rule>, FieldError> {
    if json.len() > MAX_RULES_JSON {
        return Err(FieldError::new(
            "rules",
            format!("must be at most {MAX_RULES_JSON} bytes of JSON"),
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let rules: Vec<Rule> = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        field_error(&path, &error.into_inner())
    })?;
    deserializer.end().map_err(|error| field_error(".", &error))?;
    Ok(rules)
}

/// The rules as stored and answered: the engine's normalised form.
pub(crate) fn rules_to_json(rules: &[Rule]) -> String {
    // Serialising plain data structs to a string cannot fail.
    serde_json::to_string(rules).unwrap_or_else(|_| "[]".to_owned())
}

/// A serde error at `path` (`.` for the top level, `[0].effect` below it) as a field under `rules`.
fn field_error(path: &str, error: &serde_json::Error) -> FieldError {
    let message = error.to_string();
    // serde_json appends the position in the text the gateway built; the field name says more.
    let message = message.split(" at line ").next().unwrap_or(&message);
    let at = |path: &str| {
        if path == "." {
            "rules".to_owned()
        } else {
            format!("rules{path}")
        }
    };
    if let Some(field) = quoted_after(message, "missing field `") {
        let parent = at(path);
        return FieldError::new(format!("{parent}.{field}"), "is required");
    }
    if quoted_after(message, "unknown field `").is_some() {
        // The path already ends with the unknown key.
        return FieldError::new(at(path), format!("is not a known field ({message})"));
    }
    FieldError::new(at(path), message)
}

/// The text between `prefix` and the next backtick in `message`.
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    rest.split('`').next()
}

#[cfg(test)]
mod tests;
