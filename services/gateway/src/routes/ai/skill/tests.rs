use std::collections::BTreeSet;

use super::*;
use crate::routes::constraints::catalogue;

/// The catalogue as the oauth service lists it.
fn providers() -> Vec<oa::Provider> {
    catalogue().all().map(|provider| provider.to_message(true)).collect()
}

/// Every path the text names under `base`, with its query dropped.
fn paths_in(text: &str, base: &str) -> BTreeSet<String> {
    text.split(base)
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/._-{}".contains(*c))
                .collect::<String>()
        })
        .filter(|path| path.starts_with('/'))
        .collect()
}

#[test]
fn every_path_the_skill_names_is_served_and_every_provider_is_in_the_catalogue() {
    let base = "https://latchkey.example";
    let skill = render(base, &providers());
    let document = crate::routes::openapi();
    let paths = paths_in(&skill, base);
    assert!(paths.len() >= 8, "{paths:?}");
    for path in &paths {
        // The example provider's context is the templated route with one provider code filled in.
        let templated = match path.strip_prefix("/ai/context/") {
            Some(rest) if catalogue().get(rest).is_some() => "/ai/context/{provider}".to_owned(),
            _ => path.clone(),
        };
        assert!(
            document.paths.paths.contains_key(&templated),
            "the skill names {path}, which the document does not serve"
        );
    }
    let listed: Vec<&str> = skill
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|code| !code.chars().any(|c| c.is_ascii_uppercase()))
        .collect();
    assert_eq!(listed.len(), catalogue().all().count(), "{listed:?}");
    for code in listed {
        assert!(catalogue().get(code).is_some(), "{code} is not in the catalogue");
    }
    for code in ErrorCode::ALL {
        assert!(skill.contains(&format!("`{}`", code.as_str())), "{}", code.as_str());
    }
    assert!(skill.contains("lk_live_"));
    assert!(!skill.contains("{base}"), "every placeholder is filled");
}

#[test]
fn the_commands_keep_the_key_in_the_environment_and_quote_what_they_send() {
    let command = commands::get_token("https://l.example", "google");
    assert!(command.contains("$LATCHKEY_API_KEY"), "{command}");
    assert!(command.contains(r#"-d '{"provider":"google"}'"#), "{command}");
    let awkward = commands::connect("https://l.example", "it's", "api_key", &[]);
    assert!(
        awkward.contains(r"'\''"),
        "a quote in a value cannot end the shell word: {awkward}"
    );
}
