//! What the directory itself enforces for a service key, whatever the gateway in front of it did:
//! the key must exist, be the named service's, and hold the access asked for.

use latchkey_ids::{AccountId, ServiceId, ServiceKeyId};
use latchkey_server::MeshAuth;
use latchkey_storage::Db;
use latchkey_test_support::TestDatabase;

use crate::{Directory, DirectoryError, Permission, ServiceAt, ServiceFields};

async fn directory(database: &TestDatabase) -> Directory {
    let db = Db::connect(database.url()).await.unwrap();
    Directory::open(db, MeshAuth::new("test-mesh-token")).await.unwrap()
}

fn fields() -> ServiceFields {
    ServiceFields {
        name: Some("App".to_owned()),
        ..ServiceFields::default()
    }
}

#[tokio::test]
async fn a_key_is_admitted_only_for_its_service_and_its_access_and_only_while_it_exists() {
    let database = TestDatabase::sqlite();
    let directory = directory(&database).await;
    let account = AccountId::new();
    directory
        .create_organization(&account, None, "acme", "Acme")
        .await
        .unwrap();
    let app = directory
        .create_service(&account, None, "acme", "app", fields())
        .await
        .unwrap();
    let other = directory
        .create_service(&account, None, "acme", "other", fields())
        .await
        .unwrap();
    let at = ServiceAt::Id(&app.id);
    let reader = directory
        .create_service_key(&account, None, at, "reporting", &["service:read".to_owned()])
        .await
        .unwrap();
    let reader_id = reader.key.id.to_string();

    directory
        .admit(&account, &app.id, Some(&reader_id), Permission::Read)
        .await
        .unwrap();
    assert!(matches!(
        directory
            .admit(&account, &app.id, Some(&reader_id), Permission::Write)
            .await,
        Err(DirectoryError::Forbidden(_))
    ));
    assert!(matches!(
        directory
            .admit(&account, &other.id, Some(&reader_id), Permission::Read)
            .await,
        Err(DirectoryError::ServiceNotFound)
    ));
    assert!(matches!(
        directory
            .admit(&AccountId::new(), &app.id, Some(&reader_id), Permission::Read)
            .await,
        Err(DirectoryError::Unauthenticated)
    ));
    // An account credential's actor reaches every service of the account.
    directory
        .admit(&account, &other.id, Some("key_0123456789abcdef"), Permission::Write)
        .await
        .unwrap();

    directory
        .delete_service_key(&account, None, at, &reader.key.id)
        .await
        .unwrap();
    assert!(matches!(
        directory
            .admit(&account, &app.id, Some(&reader_id), Permission::Read)
            .await,
        Err(DirectoryError::Unauthenticated)
    ));
    assert!(matches!(
        directory.authenticate_service_key(&reader.secret).await,
        Err(DirectoryError::Unauthenticated)
    ));
    let unknown = ServiceKeyId::new().to_string();
    assert!(matches!(
        directory
            .admit(&account, &ServiceId::new(), Some(&unknown), Permission::Read)
            .await,
        Err(DirectoryError::Unauthenticated)
    ));
}

#[test]
fn a_created_keys_debug_hides_its_secret() {
    let created = crate::CreatedServiceKey {
        key: crate::ServiceKey {
            id: ServiceKeyId::new(),
            name: "k".to_owned(),
            prefix: "lk_svc_abcd".to_owned(),
            permissions: vec![Permission::Read],
            created_at_ms: 0,
        },
        secret: "lk_svc_abcdEFGHijklMNOPqrstUVWXyz012345".to_owned(),
    };
    assert!(!format!("{created:?}").contains("EFGH"));
}
