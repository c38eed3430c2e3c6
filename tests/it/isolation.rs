//! Two accounts on one deployment: neither can see nor touch the other's keys or audit entries.

use latchkey_storage::Backend;
use reqwest::Method;

use crate::support::{Bus, TestMesh};

#[tokio::test]
async fn accounts_cannot_see_or_delete_each_others_keys_or_audit_entries() {
    for (backend, bus) in [(Backend::Sqlite, Bus::Local), (Backend::Postgres, Bus::Nats)] {
        let t = TestMesh::start(backend, bus).await;
        let (_other_account, other_key) = t.mesh.create_account("Second account").await.unwrap();
        let mine = t.create_key(&t.key, "mine").await;
        let mine_id = mine["id"].as_str().unwrap();
        let theirs = t.create_key(&other_key, "theirs").await;
        let theirs_id = theirs["id"].as_str().unwrap();

        // Listing shows only one's own keys.
        let listed: Vec<String> = t
            .list_keys(&t.key)
            .await
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(listed.contains(&mine_id.to_owned()) && !listed.contains(&theirs_id.to_owned()));
        let listed: Vec<String> = t
            .list_keys(&other_key)
            .await
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(listed.contains(&theirs_id.to_owned()) && !listed.contains(&mine_id.to_owned()));

        // Deleting the other account's key is "not found", and the key lives on.
        let response = t
            .as_key(Method::DELETE, &format!("/v1/api-keys/{theirs_id}"), &t.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "NOT_FOUND");
        assert_eq!(t.list_keys(&other_key).await.len(), 2);

        // Audit chains are per account: each sees its own events only.
        let my_entries = t.audit_entries_at_least(&t.key, 3).await;
        let their_entries = t.audit_entries_at_least(&other_key, 3).await;
        let subjects = |entries: &[serde_json::Value]| -> Vec<String> {
            entries
                .iter()
                .filter_map(|e| e["subject"].as_str().map(str::to_owned))
                .collect()
        };
        assert!(subjects(&my_entries).contains(&mine_id.to_owned()));
        assert!(!subjects(&my_entries).contains(&theirs_id.to_owned()));
        assert!(subjects(&their_entries).contains(&theirs_id.to_owned()));
        assert!(!subjects(&their_entries).contains(&mine_id.to_owned()));
        // Both chains start at 1: they are separate chains, not one shared sequence.
        assert_eq!(their_entries[0]["seq"], 1);
        t.stop().await;
    }
}
