use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Params {
    limit: Option<u32>,
    order: Option<Order>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Order {
    Asc,
    Desc,
}

fn field_at_fault(query: &str) -> Option<String> {
    let problem = parse::<Params>(query).err()?;
    problem.0.errors.into_iter().next().map(|e| e.field)
}

#[test]
fn bad_parameters_are_named() {
    assert!(parse::<Params>("limit=5&order=asc").is_ok());
    assert!(parse::<Params>("").is_ok());
    assert_eq!(field_at_fault("limit=many").as_deref(), Some("limit"));
    assert_eq!(field_at_fault("limit=-1").as_deref(), Some("limit"));
    assert_eq!(field_at_fault("order=sideways").as_deref(), Some("order"));
    assert_eq!(field_at_fault("colour=red").as_deref(), Some("colour"));
}
