use super::*;

fn strict() -> AddressPolicy {
    AddressPolicy::new(false, false)
}

#[test]
fn internal_addresses_are_refused_by_default() {
    for address in [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "0.0.0.0",
        "::",
        "64:ff9b::a9fe:a9fe",
    ] {
        let ip: IpAddr = address.parse().unwrap();
        assert!(strict().check(ip).is_err(), "{address} must be refused");
    }
}

#[test]
fn public_addresses_pass() {
    for address in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
        let ip: IpAddr = address.parse().unwrap();
        assert!(strict().check(ip).is_ok(), "{address} must pass");
    }
}

#[test]
fn configuration_opens_loopback_and_private_ranges_separately() {
    let dev = AddressPolicy::new(true, false);
    assert!(dev.check("127.0.0.1".parse().unwrap()).is_ok());
    assert_eq!(dev.check("10.0.0.1".parse().unwrap()), Err(Refusal::Private));
    assert_eq!(dev.check("169.254.169.254".parse().unwrap()), Err(Refusal::Private));
}

/// Every IPv6 form that carries an IPv4 address, as literal text (so the bit layouts are
/// checked against addresses written by hand, not against the code's own arithmetic).
fn embedding(v4: Ipv4Addr) -> Vec<(&'static str, String)> {
    let [a, b, c, d] = v4.octets();
    vec![
        ("IPv4-mapped", format!("::ffff:{v4}")),
        ("IPv4-translated", format!("::ffff:0:{v4}")),
        ("IPv4-compatible", format!("::{v4}")),
        ("NAT64 64:ff9b::/96", format!("64:ff9b::{v4}")),
        // RFC 6052 /48: a.b in bits 48..64, u (zero) in 64..72, c.d in 72..88, zero suffix.
        (
            "NAT64 64:ff9b:1::/48",
            format!("64:ff9b:1:{a:02x}{b:02x}:{c:02x}:{d:02x}00::"),
        ),
        // The u octet and the suffix do not carry the address: they are ignored.
        (
            "NAT64 64:ff9b:1::/48, u set",
            format!("64:ff9b:1:{a:02x}{b:02x}:ff{c:02x}:{d:02x}ff::1"),
        ),
        ("6to4", format!("2002:{a:02x}{b:02x}:{c:02x}{d:02x}::1")),
    ]
}

#[test]
fn the_ipv4_address_is_found_in_every_form_that_embeds_one() {
    for (text, expected) in [
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("::ffff:0:10.1.2.3", "10.1.2.3"),
        ("::127.0.0.1", "127.0.0.1"),
        ("::7f00:1", "127.0.0.1"),
        ("64:ff9b::c0a8:101", "192.168.1.1"),
        ("64:ff9b:1:a9fe:a9:fe00::", "169.254.169.254"),
        ("64:ff9b:1:7f00:ff00:1ff::", "127.0.0.1"),
        ("2002:a9fe:a9fe::", "169.254.169.254"),
        ("2002:0a00:0001:1234::5", "10.0.0.1"),
    ] {
        let v6: Ipv6Addr = text.parse().unwrap();
        assert_eq!(embedded_v4(v6), Some(expected.parse().unwrap()), "{text}");
    }
    for own in [
        "::",
        "::1",
        "2606:4700:4700::1111",
        "fe80::1",
        "2001:db8::1",
        "64:ff9b:2::1",
    ] {
        let v6: Ipv6Addr = own.parse().unwrap();
        assert_eq!(embedded_v4(v6), None, "{own} carries no IPv4 address");
    }
}

#[test]
fn an_embedded_internal_ipv4_address_is_refused_by_its_ipv4_rule() {
    for (v4, rule) in [
        ("127.0.0.1", Refusal::Loopback),
        ("127.1.2.3", Refusal::Loopback),
        ("10.1.2.3", Refusal::Private),
        ("172.16.0.1", Refusal::Private),
        ("192.168.1.1", Refusal::Private),
        ("169.254.169.254", Refusal::Private),
        ("169.254.0.1", Refusal::Private),
        ("100.64.0.1", Refusal::Private),
        ("0.0.0.0", Refusal::Unroutable),
        ("224.0.0.1", Refusal::Unroutable),
        ("255.255.255.255", Refusal::Unroutable),
    ] {
        for (form, text) in embedding(v4.parse().unwrap()) {
            let ip: IpAddr = text.parse().unwrap_or_else(|_| panic!("{form}: {text}"));
            assert_eq!(strict().check(ip), Err(rule), "{v4} as {form} ({text})");
        }
    }
}

#[test]
fn an_embedded_public_ipv4_address_is_judged_public() {
    for v4 in ["93.184.216.34", "1.1.1.1", "8.8.8.8"] {
        for (form, text) in embedding(v4.parse().unwrap()) {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(strict().check(ip), Ok(()), "{v4} as {form} ({text})");
        }
    }
}

#[test]
fn an_embedded_address_follows_the_configuration_of_its_ipv4_range() {
    let dev = AddressPolicy::new(true, false);
    for (form, text) in embedding(Ipv4Addr::LOCALHOST) {
        assert_eq!(dev.check(text.parse().unwrap()), Ok(()), "{form} ({text})");
    }
    for (form, text) in embedding(Ipv4Addr::new(169, 254, 169, 254)) {
        assert_eq!(
            dev.check(text.parse().unwrap()),
            Err(Refusal::Private),
            "{form} ({text})"
        );
    }
    // IPv6's own loopback stays loopback (not 0.0.0.1), its unspecified address unroutable.
    assert_eq!(dev.check("::1".parse().unwrap()), Ok(()));
    assert_eq!(dev.check("::".parse().unwrap()), Err(Refusal::Unroutable));
    // The rest of 64:ff9b::/32 is assigned to nothing.
    assert_eq!(dev.check("64:ff9b:2::1".parse().unwrap()), Err(Refusal::Unroutable));
}

/// Whether `text` names an IP address anywhere (any run of address characters that parses).
fn names_an_address(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
        .flat_map(|run| {
            // A run may end in a colon ("refused:"); try it with trailing colons trimmed too.
            [run, run.trim_matches(':')]
        })
        .any(|run| run.parse::<IpAddr>().is_ok())
}

#[tokio::test]
async fn a_refused_resolution_names_the_rule_not_the_address() {
    let resolver = VettingResolver { policy: strict() };
    let name: Name = "localhost".parse().unwrap();
    let Err(error) = resolver.resolve(name).await else {
        panic!("localhost must be refused");
    };
    let refusal = error.downcast_ref::<RefusedAddress>().expect("a policy refusal");
    assert_eq!(refusal.0, Refusal::Loopback);
    let text = error.to_string();
    assert_eq!(text, "destination refused: loopback address");
    assert!(!names_an_address(&text), "{text}");
    for refusal in [Refusal::Loopback, Refusal::Private, Refusal::Unroutable] {
        assert!(!names_an_address(&refusal.recorded()), "{}", refusal.recorded());
    }
    assert!(
        names_an_address("refused: 127.0.0.1"),
        "the check itself finds addresses"
    );
    assert!(names_an_address("resolves to ::1"), "the check itself finds addresses");
}
