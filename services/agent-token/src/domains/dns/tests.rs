use super::*;

fn config(nameservers: &str) -> DomainsConfig {
    DomainsConfig {
        nameservers: nameservers.to_owned(),
        ..DomainsConfig::default()
    }
}

#[test]
fn nameservers_are_ips_with_an_optional_port() {
    let listed = config(" 127.0.0.1:5353, 192.0.2.1 ,[::1]:5300,2001:db8::53,")
        .nameserver_addresses()
        .unwrap();
    let expected: Vec<SocketAddr> = ["127.0.0.1:5353", "192.0.2.1:53", "[::1]:5300", "[2001:db8::53]:53"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(listed, expected);
    assert!(config("").nameserver_addresses().unwrap().is_empty());
}

#[test]
fn a_nameserver_that_is_not_an_address_is_refused() {
    for bad in ["dns.example.com", "127.0.0.1:99999", "127.0.0.1:", "1.2.3"] {
        assert!(
            matches!(config(bad).nameserver_addresses(), Err(DomainsConfigError::Nameserver(entry)) if entry == bad),
            "{bad}"
        );
    }
}

#[test]
fn zero_timeouts_and_intervals_are_refused() {
    let zero_timeout = DomainsConfig {
        lookup_timeout_ms: 0,
        ..DomainsConfig::default()
    };
    assert!(DnsChecker::new(&zero_timeout).is_err());
    let zero_interval = DomainsConfig {
        recheck_interval_secs: 0,
        ..DomainsConfig::default()
    };
    assert!(DnsChecker::new(&zero_interval).is_err());
}

#[test]
fn reasons_round_trip_and_only_an_answer_is_definitive() {
    for reason in [
        Reason::NoRecord,
        Reason::ValueMismatch,
        Reason::DnsError,
        Reason::Timeout,
        Reason::Expired,
    ] {
        assert_eq!(Reason::parse(reason.as_str()), Some(reason));
    }
    assert_eq!(Reason::parse("nope"), None);
    assert!(Reason::NoRecord.is_definitive() && Reason::ValueMismatch.is_definitive());
    assert!(!Reason::DnsError.is_definitive() && !Reason::Timeout.is_definitive());
}
