//! The committed OpenAPI document (docs/openapi.json) must equal the one generated from the
//! routes. Regenerate with `RENKEI_UPDATE_OPENAPI=1 cargo nextest run -p renkei-relay openapi`.

use std::path::PathBuf;

#[test]
fn openapi_document_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = renkei_relay::openapi_json();
    if std::env::var("RENKEI_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date; regenerate with RENKEI_UPDATE_OPENAPI=1 cargo nextest run -p renkei-relay openapi"
    );
}

#[test]
fn every_route_is_documented_with_problem_responses() {
    let doc: serde_json::Value = serde_json::from_str(&renkei_relay::openapi_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/session/user",
        "/session/office",
        "/session",
        "/messages",
        "/messages/inbox",
        "/messages/outbox",
        "/messages/{id}",
        "/messages/{id}/content",
        "/messages/{id}/ack",
        "/directory",
        "/directory/{number}",
        "/certificates/{serial}",
        "/certificates/revoked",
        "/audit/export",
    ] {
        let item = paths
            .get(p)
            .unwrap_or_else(|| panic!("{p} missing from the OpenAPI document"));
        for (_, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].get("4XX").is_some(),
                "{p} documents no problem response"
            );
        }
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}
