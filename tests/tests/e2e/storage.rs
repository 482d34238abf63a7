//! What lands in KV.
//! 1. Every fixture (each documented event and each variant) is accepted and
//!    stored under `event/{id}` byte for byte, with its metadata.
//! 2. A re-sent delivery is answered 200 `duplicate` and not stored again.

use qase_edge_e2e::{envelope, fixtures, post, SECRET};
use serde_json::json;

use crate::default_worker;
use qase_edge::engine::layout;

#[tokio::test]
async fn every_event_is_stored_byte_for_byte() {
    let worker = default_worker();
    let fixtures = fixtures();
    assert!(fixtures.len() >= 50, "{}", fixtures.len());
    for (name, body) in fixtures {
        let (status, response) = post(worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{name}: {response}");
        assert_eq!(response["status"], "accepted", "{name}");
        let id = response["id"].as_str().unwrap();
        let (stored, metadata) = worker
            .kv_get(&layout::event_key(id))
            .await
            .unwrap_or_else(|| panic!("{name} not in KV"));
        assert!(stored == body, "{name}: stored bytes differ");
        let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(metadata["event_name"], sent["event_name"], "{name}");
        assert_eq!(metadata["project_code"], sent["project_code"], "{name}");
        assert!(metadata["received_at"].as_u64().unwrap() > 1_700_000_000_000);
    }
}

#[tokio::test]
async fn a_resent_delivery_is_a_duplicate_and_not_stored_again() {
    let worker = default_worker();
    let body = envelope("defect.resolved", "DUP", json!({"id": 991}));
    let (status, first) = post(worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!((status, first["duplicate"].as_bool()), (202, Some(false)));
    let id = first["id"].as_str().unwrap();
    let (_, metadata) = worker.kv_get(&layout::event_key(id)).await.unwrap();

    let (status, second) = post(worker, body, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["status"], "duplicate");
    assert_eq!(second["id"], first["id"]);
    let (_, again) = worker.kv_get(&layout::event_key(id)).await.unwrap();
    assert_eq!(again["received_at"], metadata["received_at"], "rewritten");

    let marker = worker.kv_list(&layout::seen_key(id)).await;
    assert_eq!(marker.len(), 1);
    assert!(marker[0]["expiration"].as_u64().is_some(), "{marker:?}");
}
