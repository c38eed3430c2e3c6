//! Error text fit to keep beside a dead letter and show an operator. It comes from the broker or a
//! handler, so it should hold no secret; this makes sure of the shapes a secret could take there
//! (credentials in a URL, one of Latchkey's own secrets, a JWT), and keeps it to one bounded line.

/// The prefixes of Latchkey's own secrets: account and service API keys, console sessions, agent
/// secret keys, webhook signing secrets.
const SECRET_PREFIXES: [&str; 5] = ["lk_live_", "lk_svc_", "lk_cs_", "sk_live_", "whsec_"];

/// The most characters kept of an error.
const MAX_CHARS: usize = 500;

/// `text` on one line, at most 500 characters, with URL credentials, Latchkey's secrets (by their
/// prefixes) and JWTs replaced by `***`.
pub fn sanitize_error(text: &str) -> String {
    let mut words = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if !word.is_empty() {
            words.push(redact_word(word));
        }
    }
    let line = words.join(" ");
    match line.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn redact_word(word: &str) -> String {
    for prefix in SECRET_PREFIXES {
        if let Some(start) = word.find(prefix) {
            return format!("{}{prefix}***", &word[..start]);
        }
    }
    if let Some(start) = word.find("eyJ")
        && word[start..].matches('.').count() >= 2
    {
        return format!("{}***", &word[..start]);
    }
    // scheme://user:password@host → scheme://***@host
    if let Some(scheme_end) = word.find("://") {
        let authority = &word[scheme_end + 3..];
        let authority_end = authority.find('/').unwrap_or(authority.len());
        if let Some(at) = authority[..authority_end].rfind('@') {
            return format!("{}://***{}", &word[..scheme_end], &authority[at..]);
        }
    }
    word.to_owned()
}

#[cfg(test)]
mod tests;
