use super::*;

#[test]
fn every_public_operation_is_served_and_no_other_goes_without_a_key() {
    let document = crate::routes::openapi();
    let mut public = Vec::new();
    for (path, item) in &document.paths.paths {
        for (method, operation) in [
            ("get", &item.get),
            ("put", &item.put),
            ("post", &item.post),
            ("delete", &item.delete),
            ("patch", &item.patch),
        ] {
            match operation {
                Some(operation) if operation.security.is_none() => public.push((method, path.as_str())),
                Some(operation) if KEY_OR_LINK.contains(&(method, path.as_str())) => {
                    assert!(operation.security == Some(api_key_or_none()), "{method} {path}");
                }
                Some(operation) if path.starts_with(SERVICE_API) => {
                    assert!(operation.security == Some(service_key_or_api_key()), "{method} {path}");
                    let parameters = operation.parameters.as_deref().unwrap_or_default();
                    assert!(
                        parameters.iter().any(|parameter| matches!(
                            parameter,
                            utoipa::openapi::RefOr::T(parameter) if parameter.name == "X-Latchkey-Service"
                        )),
                        "{method} {path} documents the service header"
                    );
                }
                Some(operation) => assert!(operation.security == Some(api_key_requirement()), "{method} {path}"),
                None => {}
            }
        }
    }
    public.sort_unstable();
    let mut listed = PUBLIC.to_vec();
    listed.sort_unstable();
    assert_eq!(
        public, listed,
        "a public operation that is not served, or one not listed"
    );
}
