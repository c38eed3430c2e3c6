use std::collections::BTreeMap;

use super::*;

fn limits(agents: Option<u64>, api_keys: Option<u64>) -> PlanLimits {
    PlanLimits {
        agents,
        api_keys,
        ..PlanLimits::default()
    }
}

fn free_and_pro() -> Plans {
    Plans::new(
        "free",
        BTreeMap::from([
            ("free".to_owned(), limits(Some(2), Some(1))),
            ("pro".to_owned(), limits(Some(50), None)),
        ]),
    )
    .expect("valid plans")
}

#[test]
fn the_shipped_default_is_one_unlimited_self_hosted_plan() {
    let plans = Plans::default();
    assert_eq!(plans.default_plan(), "self-hosted");
    for resource in Limited::ALL {
        assert_eq!(plans.limits(None).of(resource), None, "{}", resource.name());
    }
}

#[test]
fn a_default_plan_must_be_defined_and_names_are_plain() {
    assert_eq!(
        Plans::new("gold", BTreeMap::from([("free".to_owned(), PlanLimits::default())])).unwrap_err(),
        PlanError::UnknownDefault("gold".to_owned())
    );
    for bad in ["", "Free", "a b", "x.y", "*", &"p".repeat(33)] {
        let plans = BTreeMap::from([(bad.to_owned(), PlanLimits::default())]);
        assert_eq!(
            Plans::new(bad, plans).unwrap_err(),
            PlanError::BadName(bad.to_owned()),
            "{bad:?}"
        );
    }
}

#[test]
fn an_unknown_or_missing_plan_gets_the_default_plans_limits() {
    let plans = free_and_pro();
    assert_eq!(plans.limits(Some("pro")).agents, Some(50));
    assert_eq!(plans.limits(Some("removed-plan")).agents, Some(2));
    assert_eq!(plans.limits(None).api_keys, Some(1));
    assert_eq!(plans.resolve(Some("removed-plan")), "free");
}

#[test]
fn an_upgrade_allows_at_least_as_much_of_everything_and_more_of_something() {
    let free = limits(Some(2), Some(1));
    let pro = limits(Some(50), None);
    assert!(pro.is_upgrade_from(&free));
    assert!(!free.is_upgrade_from(&pro));
    assert!(!free.is_upgrade_from(&free), "the same limits are no upgrade");
    // More agents but fewer keys: a change, not an upgrade.
    assert!(!limits(Some(10), Some(0)).is_upgrade_from(&free));
    assert!(
        PlanLimits::default().is_upgrade_from(&free),
        "unlimited beats any number"
    );
}

#[test]
fn the_plan_header_carries_only_plan_names() {
    let request = with_plan(tonic::Request::new(()), "pro");
    assert_eq!(plan_of(&request).as_deref(), Some("pro"));
    let mut forged = tonic::Request::new(());
    forged
        .metadata_mut()
        .insert(PLAN_HEADER, tonic::metadata::MetadataValue::from_static("PRO *"));
    assert_eq!(plan_of(&forged), None);
    assert_eq!(plan_of(&tonic::Request::new(())), None);
}
