//! `latchkey nats-config`: nats-server's authorization for the mesh, one user per service allowed
//! only its own subjects, made from the code's own table of who publishes and reads what
//! (`latchkey_events::access`), so it cannot drift from what the services do. The secrets stay out
//! of it: each user's password (or nkey) is a variable the server resolves, from its environment or
//! defined above the block in the same file. `deploy/nats/authorization.conf` is its output for the
//! prefix `latchkey`, kept equal to it by a test.

use std::fmt::Write;

use latchkey_events::access::{self, SERVICES};

/// How the users authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Credential {
    /// `nats.user` and `nats.password`: a password (or its bcrypt hash) per user.
    Password,
    /// `nats.nkey_seed_file`: each user's public nkey (U…).
    Nkey,
}

/// The variable that holds `service`'s password or public nkey, e.g. `LATCHKEY_AGENT_TOKEN_PASSWORD`.
pub fn variable(service: &str, credential: Credential) -> String {
    let what = match credential {
        Credential::Password => "PASSWORD",
        Credential::Nkey => "NKEY",
    };
    format!("LATCHKEY_{}_{what}", service.replace('-', "_").to_uppercase())
}

/// The `authorization` block for the services under `prefix`.
pub fn authorization(prefix: &str, credential: Credential) -> String {
    let (option, what, kind) = match credential {
        Credential::Password => ("", "password (a bcrypt hash works too)", "PASSWORD"),
        Credential::Nkey => (" --credential nkey", "public nkey (U…)", "NKEY"),
    };
    let mut out = String::new();
    for line in [
        format!("nats-server authorization for Latchkey under the prefix {prefix:?}: one user per service,"),
        "allowed only its own subjects (docs/operations.md).".to_owned(),
        format!("Made by `latchkey nats-config --prefix {prefix}{option}` from the code's own table"),
        "(latchkey_events::access): make it again rather than edit it.".to_owned(),
        format!("Each user's {what} is the variable $LATCHKEY_<SERVICE>_{kind}: set"),
        "them in nats-server's environment, or define them above this block in the same file (a secret".to_owned(),
        format!(
            "file of lines {}: \"…\" followed by this file; an including file's",
            variable("audit", credential)
        ),
        "variables do not reach it).".to_owned(),
    ] {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# {line}");
    }
    out.push_str("authorization {\n  users: [\n");
    for service in SERVICES {
        let permissions = access::nats_permissions(service, prefix);
        let _ = writeln!(out, "    {{");
        let _ = match credential {
            Credential::Password => writeln!(
                out,
                "      user: {:?}\n      password: ${}",
                service.service,
                variable(service.service, credential)
            ),
            Credential::Nkey => writeln!(out, "      nkey: ${}", variable(service.service, credential)),
        };
        out.push_str("      permissions: {\n        publish: {\n");
        list(&mut out, "allow", &permissions.publish);
        if !permissions.publish_deny.is_empty() {
            list(&mut out, "deny", &permissions.publish_deny);
        }
        out.push_str("        }\n        subscribe: {\n");
        list(&mut out, "allow", &permissions.subscribe);
        out.push_str("        }\n      }\n    }\n");
    }
    out.push_str("  ]\n}\n");
    out
}

/// `name: [ … ]` with one quoted subject a line: quoted, `$JS.…` is a subject, not a variable.
fn list(out: &mut String, name: &str, subjects: &[String]) {
    let _ = writeln!(out, "          {name}: [");
    for subject in subjects {
        let _ = writeln!(out, "            {subject:?}");
    }
    out.push_str("          ]\n");
}

#[cfg(test)]
mod tests;
