use super::*;

fn settings(pairs: &[(&str, &str)]) -> Settings {
    let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Settings::load(None, env).expect("settings")
}

fn address(settings: &Settings, service: Service, listen: Option<&str>) -> String {
    let listen = listen.map(|address| address.parse().expect("HOST:PORT"));
    listen_address(settings, service, listen, &mesh_urls(settings))
        .expect("an address")
        .to_string()
}

#[test]
fn serve_listens_on_loopback_unless_told_otherwise() {
    let defaults = settings(&[]);
    assert_eq!(address(&defaults, Service::Gateway, None), "127.0.0.1:8080");
    assert_eq!(address(&defaults, Service::Audit, None), "127.0.0.1:7102");
    assert_eq!(address(&defaults, Service::Directory, None), "127.0.0.1:7107");
    // The port follows the service's own mesh URL, the address stays loopback.
    let moved = settings(&[("LATCHKEY__MESH__POLICY_URL", "http://policy.internal:9103")]);
    assert_eq!(address(&moved, Service::Policy, None), "127.0.0.1:9103");
}

#[test]
fn an_explicit_address_wins_and_the_command_line_wins_over_the_settings() {
    let configured = settings(&[("LATCHKEY__SERVER__LISTEN", "0.0.0.0:7101")]);
    assert_eq!(address(&configured, Service::AgentToken, None), "0.0.0.0:7101");
    assert_eq!(address(&configured, Service::Gateway, None), "0.0.0.0:7101");
    assert_eq!(
        address(&configured, Service::AgentToken, Some("[::]:7201")),
        "[::]:7201"
    );
    assert_eq!(
        address(&settings(&[]), Service::Gateway, Some("0.0.0.0:8080")),
        "0.0.0.0:8080"
    );
    let bad = settings(&[("LATCHKEY__SERVER__LISTEN", "everywhere")]);
    let listen = listen_address(&bad, Service::Gateway, None, &mesh_urls(&bad));
    assert!(listen.unwrap_err().to_string().contains("server.listen"));
}
