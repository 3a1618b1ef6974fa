//! Certificate life cycle, end to end: a real demo server (portal + relay) and the demo offices'
//! clients, driven through `renkei client …` and the client library. A revoked partner, a
//! revoked sender, an expired device certificate and a sender that renewed its certificate
//! between two sends — each with the message the user sees and what lands in the import folder.

mod common;

use std::path::PathBuf;

use common::{empty_dir, start_demo, write_unit, Backend, Office};
use renkei_client::api::{ListQuery, MessageState};
use renkei_format::FileKind;
use renkei_ids::{KjUserId, OfficeNumber};

fn now_ms() -> i64 {
    renkei_client::pki::now_millis()
}

/// The serial of the office's current device certificate.
async fn serial_of(office: &Office) -> String {
    office.open().await.certificate().serial_hex().to_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sending to an office whose certificate the portal revoked is refused before anything is
/// sealed or uploaded, and the user is told that the partner's certificate is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_to_a_revoked_office_is_refused_before_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start_demo(tmp.path(), Backend::Sqlite).await;
    let (cm, provider) = (Office::of(&demo, 0), Office::of(&demo, 1));
    demo.server
        .portal
        .revoke_certificate(
            "admin",
            &serial_of(&provider).await,
            "keyCompromise",
            now_ms(),
        )
        .await
        .unwrap();

    let export = tmp.path().join("export");
    write_unit(&export, FileKind::Upplan, &cm, &provider, "20250425090000");
    let out = cm
        .run(&["send", "--to", &provider.number, export.to_str().unwrap()])
        .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("送信先 {} には送れません", provider.number))
            && err.contains("証明書は失効しています"),
        "{err}"
    );
    // Recorded as failed with that reason; nothing reached the relay.
    let history = cm.json(&["history"]).await;
    assert_eq!(history[0]["send"]["state"], "failed", "{history}");
    assert!(
        history[0]["send"]["error"]
            .as_str()
            .unwrap()
            .contains("失効"),
        "{history}"
    );
    let lib = cm.open().await;
    lib.ensure_session().await.unwrap();
    let sent = lib.relay().outbox(&ListQuery::default()).await.unwrap();
    assert!(sent.items.is_empty(), "{:?}", sent.items);
    demo.shutdown().await.unwrap();
}

/// A message whose sender's certificate was revoked (for a reason other than `superseded`)
/// before the message was created is rejected on import with the reason, and nothing is
/// written into the import folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_from_a_revoked_sender_is_rejected_and_nothing_written_on_sqlite() {
    revoked_sender(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_from_a_revoked_sender_is_rejected_and_nothing_written_on_postgres() {
    revoked_sender(Backend::Postgres).await;
}

async fn revoked_sender(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start_demo(tmp.path(), backend).await;
    let (cm, provider) = (Office::of(&demo, 0), Office::of(&demo, 1));
    let before_send = now_ms();
    let export = tmp.path().join("export");
    write_unit(&export, FileKind::Upplan, &cm, &provider, "20250425090000");
    let sent = cm
        .json(&["send", "--to", &provider.number, export.to_str().unwrap()])
        .await;
    assert_eq!(sent["sends"][0]["state"], "stored", "{sent}");
    let message_id = sent["sends"][0]["message_id"].as_str().unwrap().to_owned();
    // The revocation takes effect from a minute before the message was sealed (the relay
    // took the upload only because the revocation was recorded afterwards).
    demo.server
        .portal
        .revoke_certificate(
            "admin",
            &serial_of(&cm).await,
            "keyCompromise",
            before_send - 60_000,
        )
        .await
        .unwrap();

    let import = tmp.path().join("import");
    let out = provider
        .run(&["fetch", "--out", import.to_str().unwrap()])
        .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("取り込みませんでした") && err.contains("証明書は失効しています"),
        "{err}"
    );
    assert!(empty_dir(&import), "nothing written");
    // Rejected for good (the sender is told why), not left waiting.
    let lib = provider.open().await;
    lib.ensure_session().await.unwrap();
    let status = lib
        .relay()
        .status(message_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(status.message.state, MessageState::Rejected);
    assert!(
        status.message.reasons[0]
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("失効"),
        "{:?}",
        status.message.reasons
    );
    let again = provider
        .json(&["fetch", "--out", import.to_str().unwrap()])
        .await;
    assert_eq!(again, serde_json::json!([]), "nothing left to import");
    demo.shutdown().await.unwrap();
}

/// A device whose own certificate has expired is told so (not "cannot reach the server"),
/// and nothing is queued or sent.
///
/// The server has no clock to move, so the certificate is made expired: the demo CA (its key
/// is in the demo's data directory) issues the office a certificate for the same device keys
/// that ended yesterday, and the device's keystore is given it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_device_certificate_gets_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start_demo(tmp.path(), Backend::Sqlite).await;
    let (cm, provider) = (Office::of(&demo, 0), Office::of(&demo, 1));
    let ca_cert = PathBuf::from(&demo.file.ca_cert);
    let ca = renkei_client::pki::Ca::load(&ca_cert, &ca_cert.with_file_name("ca-key.pem")).unwrap();
    let home = renkei_client::Home::open(&cm.home).unwrap();
    let mut keystore = home.unlock(&cm.passphrase()).unwrap();
    let office: OfficeNumber = cm.number.parse().unwrap();
    let request = keystore
        .device_keys()
        .enrollment_request(&office, &cm.name)
        .unwrap();
    let day = renkei_client::pki::DAY_MS;
    let expired = ca
        .issue_office_cert(
            &request,
            &office,
            &cm.name,
            renkei_client::pki::CertType::Careplan,
            now_ms() - 30 * day,
            now_ms() - day,
        )
        .unwrap();
    keystore.set_certificate(office, expired.pem);
    keystore.save(&home.keystore_path()).unwrap();

    for args in [vec!["inbox"], vec!["login"]] {
        let out = cm.run(&args).await;
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("この端末の証明書は有効期限") && err.contains("ポータルで証明書を更新"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("接続できません"), "{err}");
    }
    let export = tmp.path().join("export");
    write_unit(&export, FileKind::Upplan, &cm, &provider, "20250425090000");
    let out = cm
        .run(&["send", "--to", &provider.number, export.to_str().unwrap()])
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("有効期限"), "{}", stderr(&out));
    assert_eq!(cm.json(&["outbox"]).await, serde_json::json!([]));
    assert_eq!(provider.json(&["inbox"]).await, serde_json::json!([]));
    demo.shutdown().await.unwrap();
}

/// The sender renews its certificate between two sends (the old one revoked as
/// `superseded`): the message sealed with the old certificate still imports (its certificate
/// comes from the relay by serial), and so does the one sealed with the new certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sealed_before_and_after_a_sender_renewal_both_import_on_sqlite() {
    sender_renewal(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sealed_before_and_after_a_sender_renewal_both_import_on_postgres() {
    sender_renewal(Backend::Postgres).await;
}

async fn sender_renewal(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start_demo(tmp.path(), backend).await;
    let (cm, provider) = (Office::of(&demo, 0), Office::of(&demo, 1));
    let first = tmp.path().join("first");
    let plan = write_unit(&first, FileKind::Upplan, &cm, &provider, "20250425090000");
    let sent = cm
        .json(&["send", "--to", &provider.number, first.to_str().unwrap()])
        .await;
    assert_eq!(sent["sends"][0]["state"], "stored", "{sent}");
    let old_serial = serial_of(&cm).await;

    // Renewal: a new 証明書発行用パスワード from the portal, the same device keys ask again.
    let portal = &demo.server.portal;
    let kj: KjUserId = cm.kj_id.parse().unwrap();
    let notice = portal
        .reissue_issuance_password(&kj, &cm.kj_password, now_ms())
        .await
        .unwrap();
    let text = portal
        .open_notice(&kj, &cm.kj_password, &notice, now_ms())
        .await
        .unwrap();
    let issuance = text
        .split_once("証明書発行用パスワード:")
        .map(|(_, p)| p.trim().to_owned())
        .unwrap_or_else(|| panic!("{text}"));
    let home = renkei_client::Home::open(&cm.home).unwrap();
    let mut keystore = home.unlock(&cm.passphrase()).unwrap();
    let renewed = renkei_client::renew(&home, &mut keystore, kj, issuance, "renewed".into())
        .await
        .unwrap();
    assert_ne!(renewed.serial, old_serial);
    // The old certificate is superseded (revoked as such unless the portal did already).
    let office: OfficeNumber = cm.number.parse().unwrap();
    let old = portal
        .certificate_status(&office, now_ms())
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.record.serial.eq_ignore_ascii_case(&old_serial))
        .unwrap();
    if old.record.revoked_at.is_none() {
        portal
            .revoke_certificate("admin", &old_serial, "superseded", now_ms())
            .await
            .unwrap();
    }
    assert_eq!(serial_of(&cm).await, renewed.serial);

    let second = tmp.path().join("second");
    let plan2 = write_unit(&second, FileKind::Upplan, &cm, &provider, "20250426090000");
    let sent2 = cm
        .json(&["send", "--to", &provider.number, second.to_str().unwrap()])
        .await;
    assert_eq!(sent2["sends"][0]["state"], "stored", "{sent2}");

    let import = tmp.path().join("import");
    let fetched = provider
        .json(&["fetch", "--out", import.to_str().unwrap()])
        .await;
    let states: Vec<&str> = fetched
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["imported", "imported"], "{fetched}");
    for (name, bytes) in plan.iter().chain(&plan2) {
        assert_eq!(&std::fs::read(import.join(name)).unwrap(), bytes, "{name}");
    }
    demo.shutdown().await.unwrap();
}
