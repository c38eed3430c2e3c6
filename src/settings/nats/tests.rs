use crate::settings::{DEFAULTS, NatsIdentity, Settings, tests::Mounted};

fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
    let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Settings::load(None, env).map_err(|error| error.to_string())
}

const PASSWORD: &str = "canary-nats-password";

/// A user's .creds file ending in its seed block (`nsc` adds a line of stars after it): the JWT's
/// content does not matter to the client.
fn creds(seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}

#[test]
fn the_defaults_name_every_credential_setting_and_connect_without_one() {
    for setting in [
        "user = \"\"",
        "password = \"\"",
        "password_file = \"\"",
        "nkey_seed_file = \"\"",
        "credentials_file = \"\"",
    ] {
        assert!(
            DEFAULTS.contains(setting),
            "latchkey config does not show nats.{setting}"
        );
    }
    let settings = load(&[]).unwrap();
    assert_eq!(settings.nats.identity(), NatsIdentity::Anonymous);
}

#[test]
fn a_user_comes_with_a_password_inline_or_from_a_file_never_printed() {
    let settings = load(&[
        ("LATCHKEY__NATS__USER", "audit"),
        ("LATCHKEY__NATS__PASSWORD", PASSWORD),
    ])
    .unwrap();
    assert_eq!(settings.nats.identity(), NatsIdentity::User("audit".into()));
    assert_eq!(settings.nats.password, PASSWORD);

    let mounted = Mounted::new();
    let file = mounted.secret("password", &format!("{PASSWORD}\n"));
    let settings = load(&[
        ("LATCHKEY__NATS__USER", "audit"),
        ("LATCHKEY__NATS__PASSWORD_FILE", &file),
    ])
    .unwrap();
    assert_eq!(settings.nats.password, PASSWORD, "one trailing newline dropped");
    let printed = format!("{settings:?} {:#?}", settings.nats);
    assert!(!printed.contains("canary"), "{printed}");
    assert!(printed.contains("audit"), "the user is no secret: {printed}");
}

#[test]
fn a_user_without_a_password_or_a_password_without_a_user_is_refused() {
    let error = load(&[("LATCHKEY__NATS__USER", "audit")]).unwrap_err();
    assert!(error.contains("user and password go together"), "{error}");
    let error = load(&[("LATCHKEY__NATS__PASSWORD", PASSWORD)]).unwrap_err();
    assert!(error.contains("user and password go together"), "{error}");
    assert!(!error.contains("canary"), "{error}");
}

#[test]
fn a_password_given_inline_and_as_a_file_is_refused_naming_both() {
    let mounted = Mounted::new();
    let file = mounted.secret("password", "canary-from-file");
    let error = load(&[
        ("LATCHKEY__NATS__USER", "audit"),
        ("LATCHKEY__NATS__PASSWORD", PASSWORD),
        ("LATCHKEY__NATS__PASSWORD_FILE", &file),
    ])
    .unwrap_err();
    for named in [
        "nats.password",
        "nats.password_file",
        "LATCHKEY__NATS__PASSWORD",
        "LATCHKEY__NATS__PASSWORD_FILE",
    ] {
        assert!(error.contains(named), "{error} does not name {named}");
    }
    assert!(!error.contains("canary"), "{error}");
}

#[test]
fn a_missing_or_empty_key_file_is_refused_naming_setting_and_path_never_content() {
    let mounted = Mounted::new();
    let missing = mounted.0.path().join("no-such-file");
    let missing = missing.to_str().unwrap();
    let empty = mounted.secret("empty", "\n");
    for (setting, variable, extra) in [
        (
            "nats.password_file",
            "LATCHKEY__NATS__PASSWORD_FILE",
            Some(("LATCHKEY__NATS__USER", "audit")),
        ),
        ("nats.nkey_seed_file", "LATCHKEY__NATS__NKEY_SEED_FILE", None),
        ("nats.credentials_file", "LATCHKEY__NATS__CREDENTIALS_FILE", None),
    ] {
        for (path, says) in [(missing, "cannot read"), (empty.as_str(), "is empty")] {
            let mut env = vec![(variable, path)];
            env.extend(extra);
            let error = load(&env).unwrap_err();
            assert!(
                error.contains(setting) && error.contains(path) && error.contains(says),
                "{error}"
            );
        }
    }
}

#[test]
fn an_nkey_seed_comes_from_a_file_is_checked_and_never_printed() {
    let mounted = Mounted::new();
    let key = nkeys::KeyPair::new_user();
    let seed = key.seed().unwrap();
    let file = mounted.secret("seed", &format!("{seed}\n"));
    let settings = load(&[("LATCHKEY__NATS__NKEY_SEED_FILE", &file)]).unwrap();
    assert_eq!(
        settings.nats.identity(),
        NatsIdentity::Nkey {
            public_key: key.public_key()
        }
    );
    let printed = format!("{settings:?} {}", settings.nats.identity());
    assert!(!printed.contains(&seed), "{printed}");
    assert!(printed.contains(&file), "the path is no secret: {printed}");

    // Not a seed, or a seed that is not a user's (an account's, SA…): refused without the content.
    let account_seed = nkeys::KeyPair::new_account().seed().unwrap();
    for (content, says) in [
        ("canary-not-a-seed", "does not hold an nkey seed"),
        (key.public_key().as_str(), "does not hold an nkey seed"),
        (account_seed.as_str(), "not a user's"),
    ] {
        let file = mounted.secret("bad-seed", content);
        let error = load(&[("LATCHKEY__NATS__NKEY_SEED_FILE", &file)]).unwrap_err();
        assert!(
            error.contains("nkey_seed_file") && error.contains(&file) && error.contains(says),
            "{error}"
        );
        assert!(!error.contains(content), "{error}");
    }
}

#[test]
fn a_credentials_file_is_checked_and_never_printed() {
    let mounted = Mounted::new();
    let seed = nkeys::KeyPair::new_user().seed().unwrap();
    let file = mounted.secret("latchkey.creds", &creds(&seed));
    let settings = load(&[("LATCHKEY__NATS__CREDENTIALS_FILE", &file)]).unwrap();
    assert_eq!(
        settings.nats.identity(),
        NatsIdentity::Credentials { file: file.clone() }
    );
    assert!(!format!("{settings:?}").contains(&seed));
    assert!(settings.nats.authenticate(async_nats::ConnectOptions::new()).is_ok());

    let file = mounted.secret("bad.creds", "canary: not a creds file");
    let error = load(&[("LATCHKEY__NATS__CREDENTIALS_FILE", &file)]).unwrap_err();
    assert!(
        error.contains("credentials_file") && error.contains(&file) && error.contains("not a NATS credentials file"),
        "{error}"
    );
    assert!(!error.contains("canary"), "{error}");
}

#[test]
fn only_one_way_to_authenticate_may_be_given() {
    let mounted = Mounted::new();
    let seed = mounted.secret("seed", &nkeys::KeyPair::new_user().seed().unwrap());
    let creds = mounted.secret("creds", &creds(&nkeys::KeyPair::new_user().seed().unwrap()));
    let user = [
        ("LATCHKEY__NATS__USER", "audit"),
        ("LATCHKEY__NATS__PASSWORD", PASSWORD),
    ];
    let cases: [Vec<(&str, &str)>; 3] = [
        [&user[..], &[("LATCHKEY__NATS__NKEY_SEED_FILE", seed.as_str())]].concat(),
        [&user[..], &[("LATCHKEY__NATS__CREDENTIALS_FILE", creds.as_str())]].concat(),
        vec![
            ("LATCHKEY__NATS__NKEY_SEED_FILE", seed.as_str()),
            ("LATCHKEY__NATS__CREDENTIALS_FILE", creds.as_str()),
        ],
    ];
    for env in cases {
        let error = load(&env).unwrap_err();
        assert!(error.contains("give one way to authenticate"), "{error}");
        assert!(!error.contains("canary"), "{error}");
    }
}

#[test]
fn credentials_in_the_url_are_refused_without_repeating_it() {
    for url in [
        "nats://audit:canary-pass@nats:4222",
        "nats://nats-0:4222, tls://audit:canary-pass@nats-1:4222",
        "canary-token@nats:4222",
    ] {
        let error = load(&[("LATCHKEY__NATS__URL", url)]).unwrap_err();
        assert!(error.contains("must not carry a user or password"), "{error}");
        assert!(!error.contains("canary"), "{error}");
    }
    // An @ after the host is not a credential.
    let settings = load(&[("LATCHKEY__NATS__URL", "nats://nats:4222/path@x")]).unwrap();
    assert_eq!(settings.nats.servers(), ["nats://nats:4222/path@x"]);
}
