//! Two enrolled offices on one machine exchange a real batch through the client library against
//! a real relay and portal: 予定 (第6表+第7表+利用者補足情報) out, 実績 back, with the receipt
//! chain, the transmission certificate, tampering, the offline outbox and a watched folder.

mod common;

use common::{unit, world, write_unit, Backend, World};
use renkei_client::watch::FolderScanner;
use renkei_client::{ClientError, SendStage};
use renkei_format::FileKind;

async fn exchange(w: &World) {
    let cm = w.cm.open().await;
    let provider = w.provider.open().await;
    cm.login(Some(w.cm.creds.clone()), true)
        .await
        .expect("cm login");
    provider
        .login(Some(w.provider.creds.clone()), false)
        .await
        .expect("provider login");

    // 予定 out.
    let plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    assert_eq!(plan.len(), 3);
    let mut stages = Vec::new();
    let (ids, report) = cm
        .send_files(plan.clone(), "test", false, |p| {
            stages.push(p.stage.clone())
        })
        .await
        .expect("send");
    assert_eq!(report.stored, ids, "{report:?}");
    assert!(stages.contains(&SendStage::Sealing) && stages.contains(&SendStage::Uploading));

    // The provider sees it unread, with partner name, kinds and month.
    let inbox = provider.inbox(50).await.unwrap();
    assert_eq!(inbox.len(), 1);
    let entry = &inbox[0];
    assert!(entry.unread);
    assert_eq!(entry.sender_name, w.cm.name);
    assert!(
        entry.kinds.iter().any(|k| k.contains("第6表")),
        "{:?}",
        entry.kinds
    );
    assert_eq!(entry.months, vec!["202505".to_owned()]);

    let import_dir = w.dir.path().join("provider-import");
    let out = provider
        .import(entry.message.id, Some(&import_dir))
        .await
        .expect("import");
    assert_eq!(out.state, "imported");
    assert_eq!(out.written.len(), 3);
    for f in &plan {
        assert_eq!(
            std::fs::read(import_dir.join(&f.name)).unwrap(),
            f.bytes,
            "{}",
            f.name
        );
    }
    let inbox = provider.inbox(50).await.unwrap();
    assert!(!inbox[0].unread);
    assert!(inbox[0].clients.is_some(), "client shown once imported");
    // Both histories are searchable by the partner's name, not only its number.
    assert_eq!(
        cm.db()
            .sends(Some(w.provider.name), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        provider
            .db()
            .received_search(w.cm.name, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // 実績 back.
    let results = unit(FileKind::Upjsk, &w.provider, &w.cm, "20250601100000");
    let (back_ids, r) = provider
        .send_files(results.clone(), "test", false, |_| {})
        .await
        .unwrap();
    assert_eq!(r.stored, back_ids);
    let cm_dir = w.dir.path().join("cm-import");
    let outs = cm.import_all(Some(&cm_dir)).await.unwrap();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].as_ref().unwrap().state, "imported");
    for f in &results {
        assert_eq!(std::fs::read(cm_dir.join(&f.name)).unwrap(), f.bytes);
    }

    // The sender's receipt chain grew to the final state; the certificate verifies offline.
    let send = cm.db().send(ids[0]).await.unwrap().unwrap();
    let receipts = cm.refresh_send(&send).await.unwrap();
    let events: Vec<&str> = receipts.iter().map(|r| r.receipt.event.as_str()).collect();
    assert_eq!(events, ["stored", "downloaded", "imported"]);
    assert_eq!(
        cm.db().send(ids[0]).await.unwrap().unwrap().state,
        "imported"
    );
    let (cert, check) = cm.transmission_certificate(ids[0]).await.unwrap();
    let report = check.expect("certificate verifies");
    assert!(report.delivered());
    assert_eq!(cert.receipts.len(), 3);

    for office in [&cm, &provider] {
        let events = office.db().events().await.unwrap();
        assert!(
            events.iter().all(|e| e.1 != "receipt_invalid"),
            "every receipt verified: {events:?}"
        );
    }

    // Evidence files.
    let ev_dir = w.dir.path().join("evidence");
    let written = renkei_client::evidence::export(&cm, &ev_dir, Some(ids[0]), false)
        .await
        .unwrap();
    assert_eq!(written.len(), 2);
    let html = std::fs::read_to_string(&written[1]).unwrap();
    assert!(html.contains("送 信 証 明 書"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_on_sqlite() {
    let w = world(Backend::Sqlite).await;
    exchange(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_on_postgres() {
    let w = world(Backend::Postgres).await;
    exchange(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_files_are_never_sent_unless_overridden() {
    let w = world(Backend::Sqlite).await;
    let cm = w.cm.open().await;
    cm.login(Some(w.cm.creds.clone()), false).await.unwrap();
    let mut plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    let f = plan
        .iter_mut()
        .find(|f| f.name.starts_with("UPPLAN"))
        .unwrap();
    let text = String::from_utf8_lossy(&f.bytes).into_owned();
    f.bytes = text.replacen(",\"", ",\"X", 1).into_bytes();
    let err = cm
        .send_files(plan.clone(), "test", false, |_| {})
        .await
        .unwrap_err();
    match &err {
        ClientError::Invalid(lines) => {
            assert!(lines.iter().any(|l| l.contains("行目")), "{lines:?}")
        }
        other => panic!("{other}"),
    }
    assert!(
        cm.db().sends(None, 10).await.unwrap().is_empty(),
        "nothing recorded or queued"
    );
    // The override sends and is recorded.
    let (ids, r) = cm.send_files(plan, "test", true, |_| {}).await.unwrap();
    assert_eq!(r.stored, ids);
    assert!(
        cm.db()
            .send(ids[0])
            .await
            .unwrap()
            .unwrap()
            .validation_overridden
    );
    let events = cm.db().events().await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, "validation_override");
}

/// A relay that alters the stored ciphertext cannot get anything into the import folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_download_is_refused_and_nothing_written() {
    let w = world(Backend::Sqlite).await;
    let (cm, provider) = both_logged_in(&w).await;
    cm.send_files(
        unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000"),
        "test",
        false,
        |_| {},
    )
    .await
    .unwrap();
    // Flip one byte of the ciphertext in the relay's blob store.
    let mut flipped = 0;
    for entry in walk(&w.dir.path().join("server")) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.starts_with(b"RKE1") {
            let mut b = bytes.clone();
            let i = b.len() - 100;
            b[i] ^= 0x01;
            std::fs::write(&entry, b).unwrap();
            flipped += 1;
        }
    }
    assert_eq!(flipped, 1, "one envelope in the blob store");
    let inbox = provider.inbox(10).await.unwrap();
    let dir = w.dir.path().join("import");
    let err = provider
        .import(inbox[0].message.id, Some(&dir))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Tampered(_)), "{err}");
    assert!(
        !dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing written"
    );
    // A damaged download is not the sender's fault: the message is not rejected for good.
    let status = provider.relay().status(inbox[0].message.id).await.unwrap();
    assert!(
        !status.message.state.is_final(),
        "{:?}",
        status.message.state
    );
}

/// Both offices opened and logged in (the login not remembered).
async fn both_logged_in(w: &World) -> (renkei_client::Office, renkei_client::Office) {
    let cm = w.cm.open().await;
    let provider = w.provider.open().await;
    cm.login(Some(w.cm.creds.clone()), false).await.unwrap();
    provider
        .login(Some(w.provider.creds.clone()), false)
        .await
        .unwrap();
    (cm, provider)
}

/// Both offices logged in, one 予定 unit sent from the care manager and waiting in the
/// provider's inbox.
async fn plan_sent(
    w: &World,
) -> (
    renkei_client::Office,
    renkei_client::Office,
    Vec<renkei_client::UnitFile>,
    renkei_api::MessageId,
) {
    let (cm, provider) = both_logged_in(w).await;
    let plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    cm.send_files(plan.clone(), "test", false, |_| {})
        .await
        .unwrap();
    let id = provider.inbox(10).await.unwrap()[0].message.id;
    (cm, provider, plan, id)
}

/// A different file of the same name in the import folder is never replaced: nothing is
/// written, the message stays waiting, and it imports once the folder is cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_never_overwrites_and_resumes_after_a_lost_ack() {
    let w = world(Backend::Sqlite).await;
    let (_cm, provider, plan, id) = plan_sent(&w).await;
    let dir = w.dir.path().join("import");
    std::fs::create_dir_all(&dir).unwrap();
    let theirs = dir.join(&plan[1].name);
    std::fs::write(&theirs, b"the care software's own file").unwrap();
    let err = provider.import(id, Some(&dir)).await.unwrap_err();
    assert!(matches!(err, ClientError::ImportConflict(_)), "{err}");
    assert_eq!(
        std::fs::read(&theirs).unwrap(),
        b"the care software's own file"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing else");
    let status = provider.relay().status(id).await.unwrap();
    assert!(!status.message.state.is_final(), "not rejected");

    std::fs::remove_file(&theirs).unwrap();
    let out = provider.import(id, Some(&dir)).await.unwrap();
    assert_eq!(out.state, "imported");
    for f in &plan {
        assert_eq!(std::fs::read(dir.join(&f.name)).unwrap(), f.bytes);
    }

    // As if the acknowledgement had been lost after writing: importing again only
    // acknowledges, it does not write the files a second time (the care software took them).
    let mut record = provider
        .db()
        .received(&id.to_string())
        .await
        .unwrap()
        .unwrap();
    record.state = "written".into();
    provider.db().record_received(&record).await.unwrap();
    for f in &plan {
        std::fs::remove_file(dir.join(&f.name)).unwrap();
    }
    let again = provider.import(id, Some(&dir)).await.unwrap();
    assert_eq!(again.state, "imported");
    assert_eq!(again.written.len(), plan.len());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "not written twice"
    );
    assert_eq!(
        provider
            .db()
            .received(&id.to_string())
            .await
            .unwrap()
            .unwrap()
            .state,
        "imported"
    );
}

/// Files written into the import folder whose acknowledgement never reached the relay before
/// the retention limit: the relay (and the sender) say `expired`, and so does the receiver's
/// history after it retries, with a note that the files did arrive — not `imported`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_after_expiry_is_recorded_as_expired() {
    let w = world(Backend::Sqlite).await;
    let (_cm, provider, _plan, id) = plan_sent(&w).await;
    // Downloaded and written, then the acknowledgement is lost.
    provider.relay().download(id).await.unwrap();
    let status = provider.relay().status(id).await.unwrap();
    let dir = w.dir.path().join("import");
    provider
        .db()
        .record_received(&renkei_client::ReceivedRecord {
            message_id: id.to_string(),
            sender: status.message.sender.to_string(),
            file_seq: status.message.file_seq.to_string(),
            files: status.message.files.clone(),
            digest: status.message.digest.clone(),
            state: "written".into(),
            kinds: String::new(),
            months: String::new(),
            clients: String::new(),
            written_to: Some(dir.display().to_string()),
            reasons: None,
            at: "2025-04-25T09:00:00+09:00".into(),
        })
        .await
        .unwrap();
    // Past the unread retention limit the relay expires it.
    let later = w.server.relay.now() + 31 * 86_400_000;
    let report = renkei_relay::run_retention(&w.server.relay, later)
        .await
        .unwrap();
    assert_eq!(report.expired, 1);

    let out = provider.import(id, Some(&dir)).await.unwrap();
    assert_eq!(out.state, "expired");
    assert_eq!(out.reasons.len(), 1);
    assert_eq!(out.reasons[0].code, "acknowledged_too_late");
    let record = provider
        .db()
        .received(&id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.state, "expired");
    assert!(record.reasons.unwrap().contains("期限切れ"));
    // The relay still says expired: no acknowledgement was forced through.
    let status = provider.relay().status(id).await.unwrap();
    assert_eq!(status.message.state, renkei_api::MessageState::Expired);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Log the care manager in with its credentials remembered, then point its home at a port
/// nobody listens on: the client really tries the relay and cannot reach it. Returns the
/// home, to point it back with `update_config`.
async fn remember_login_then_lose_the_relay(w: &World) -> renkei_client::Home {
    let cm = w.cm.open().await;
    cm.login(Some(w.cm.creds.clone()), true).await.unwrap();
    drop(cm);
    let mut home = renkei_client::Home::open(&w.cm.home_dir).unwrap();
    let dead = format!("https://127.0.0.1:{}", renkei_testkit::free_port());
    home.update_config(|c| c.relay_url = dead).unwrap();
    home
}

/// With the relay unreachable, sends wait in the outbox and go out in order later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_outbox_sends_in_order_later() {
    let w = world(Backend::Sqlite).await;
    let real_url = w.server.relay_url.clone();
    let mut home = remember_login_then_lose_the_relay(&w).await;
    let cm = w.cm.open().await;
    let a = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    let b = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090100");
    for u in [a, b] {
        let (ids, r) = cm.send_files(u, "test", false, |_| {}).await.unwrap();
        assert!(ids.iter().all(|id| r.waiting.contains(id)), "{r:?}");
        assert!(r.stored.is_empty() && r.failed.is_empty());
    }
    let pending = cm.db().outbox().await.unwrap();
    let why = pending[0].send.error.clone().unwrap_or_default();
    assert!(
        why.contains("接続できません"),
        "waiting because the relay is unreachable, not for a login: {why}"
    );
    assert_eq!(cm.db().outbox().await.unwrap().len(), 2);
    drop(cm);
    home.update_config(|c| c.relay_url = real_url).unwrap();
    let cm = w.cm.open().await;
    cm.login(Some(w.cm.creds.clone()), false).await.unwrap();
    let r = cm.flush_outbox(|_| {}).await.unwrap();
    assert_eq!(r.stored.len(), 2);
    assert!(r.stored[0] < r.stored[1], "oldest first");
    assert!(cm.db().outbox().await.unwrap().is_empty());
    let sends = cm.db().sends(None, 10).await.unwrap();
    let (newer, older) = (&sends[0], &sends[1]);
    assert!(
        older.message_id.as_deref().unwrap() < newer.message_id.as_deref().unwrap(),
        "relay saw them in order"
    );
}

/// Sends queued while the relay was down go out by themselves while the web UI runs: nobody
/// has to press 「いま送る」.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_retries_the_outbox_in_the_background() {
    let w = world(Backend::Sqlite).await;
    let real_url = w.server.relay_url.clone();
    let mut home = remember_login_then_lose_the_relay(&w).await;
    let cm = w.cm.open().await;
    let plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    let (_, r) = cm.send_files(plan, "test", false, |_| {}).await.unwrap();
    assert_eq!(r.waiting.len(), 1, "{r:?}");
    drop(cm);

    // The relay is back; the UI starts with the office unlocked and a short retry interval.
    home.update_config(|c| c.relay_url = real_url).unwrap();
    let cm = w.cm.open().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ui = tokio::spawn(renkei_client_web::serve_office_with_retry(
        cm,
        listener,
        "s".repeat(32),
        async move {
            let _ = stopped.await;
        },
        std::time::Duration::from_millis(200),
    ));
    let provider = w.provider.open().await;
    provider
        .login(Some(w.provider.creds.clone()), false)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while provider.inbox(10).await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the queued send never went out"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let check = w.cm.open().await;
    assert!(check.db().outbox().await.unwrap().is_empty());
    stop.send(()).unwrap();
    ui.await.unwrap().unwrap();
}

/// The care software exports into a folder; complete units go out once, files move to sent/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_folder_round_trip() {
    let w = world(Backend::Sqlite).await;
    let (cm, provider) = both_logged_in(&w).await;
    let watch = w.dir.path().join("export");
    std::fs::create_dir_all(&watch).unwrap();
    let plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    write_unit(&watch, &plan);
    // Files written just now: no quiet time here (the scanner's unit tests cover it).
    let mut scanner = FolderScanner::with_quiet_time(std::time::Duration::ZERO);
    assert!(
        cm.watch_once(&watch, &mut scanner)
            .await
            .unwrap()
            .is_empty(),
        "first scan waits for stability"
    );
    let outs = cm.watch_once(&watch, &mut scanner).await.unwrap();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].result, "sent", "{:?}", outs[0]);
    for f in &plan {
        assert!(watch.join("sent").join(&f.name).exists());
        assert!(!watch.join(&f.name).exists());
    }
    assert!(watch
        .join("sent")
        .join(format!("20250425090000_{}.receipt.json", w.provider.number))
        .exists());

    // The same content exported again is not sent twice.
    write_unit(&watch, &plan);
    cm.watch_once(&watch, &mut scanner).await.unwrap();
    let outs = cm.watch_once(&watch, &mut scanner).await.unwrap();
    assert_eq!(outs[0].result, "duplicate");
    assert_eq!(provider.inbox(10).await.unwrap().len(), 1);

    // A broken unit goes to failed/ and is not sent.
    let mut bad = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090200");
    let f = bad
        .iter_mut()
        .find(|f| f.name.starts_with("UPPLAN"))
        .unwrap();
    f.bytes = String::from_utf8_lossy(&f.bytes)
        .replacen(",\"", ",\"X", 1)
        .into_bytes();
    write_unit(&watch, &bad);
    cm.watch_once(&watch, &mut scanner).await.unwrap();
    let outs = cm.watch_once(&watch, &mut scanner).await.unwrap();
    assert_eq!(outs[0].result, "failed");
    assert!(watch
        .join("failed")
        .join(format!("20250425090200_{}.receipt.json", w.provider.number))
        .exists());
    assert_eq!(provider.inbox(10).await.unwrap().len(), 1);

    // A unit whose files arrive minutes apart: 第6表 alone waits (stays in place, nothing
    // sent) until 第7表 and 補足 are there, then goes as one unit.
    let split = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090300");
    let (first, rest): (Vec<_>, Vec<_>) = split
        .into_iter()
        .partition(|f| f.name.starts_with("UPPLAN"));
    write_unit(&watch, &first);
    cm.watch_once(&watch, &mut scanner).await.unwrap();
    let outs = cm.watch_once(&watch, &mut scanner).await.unwrap();
    assert_eq!(outs[0].result, "incomplete", "{:?}", outs[0]);
    assert!(outs[0].detail.contains("UPSIKYU"), "{:?}", outs[0]);
    assert!(watch.join(&first[0].name).exists(), "left where it is");
    assert_eq!(provider.inbox(10).await.unwrap().len(), 1, "nothing sent");
    write_unit(&watch, &rest);
    cm.watch_once(&watch, &mut scanner).await.unwrap();
    let outs = cm.watch_once(&watch, &mut scanner).await.unwrap();
    assert_eq!(outs[0].result, "sent", "{:?}", outs[0]);
    assert_eq!(outs[0].files.len(), 3);
    assert_eq!(provider.inbox(10).await.unwrap().len(), 2);
    // Past the patience, a unit that never completes goes to failed/ with the reason.
    let mut impatient = FolderScanner::with_quiet_time(std::time::Duration::ZERO)
        .with_incomplete_patience(std::time::Duration::ZERO);
    let lone = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090400");
    let lone: Vec<_> = lone
        .into_iter()
        .filter(|f| f.name.starts_with("UPPLAN"))
        .collect();
    write_unit(&watch, &lone);
    cm.watch_once(&watch, &mut impatient).await.unwrap();
    let outs = cm.watch_once(&watch, &mut impatient).await.unwrap();
    assert_eq!(outs[0].result, "failed", "{:?}", outs[0]);
    assert!(watch.join("failed").join(&lone[0].name).exists());

    // Received units land in the import folder in ファイル連番 order.
    let later = unit(FileKind::Upjsk, &w.provider, &w.cm, "20250601100100");
    let earlier = unit(FileKind::Upjsk, &w.provider, &w.cm, "20250601100000");
    provider
        .send_files(later, "test", false, |_| {})
        .await
        .unwrap();
    provider
        .send_files(earlier, "test", false, |_| {})
        .await
        .unwrap();
    let outs = cm.import_all(None).await.unwrap();
    let seqs: Vec<String> = outs
        .iter()
        .map(|o| o.as_ref().unwrap().file_seq.clone())
        .collect();
    assert_eq!(seqs, ["20250601100000", "20250601100100"]);
}

/// One installation per office: a second device enrolling for an enrolled office is refused
/// with a clear Japanese message, and its home stays unenrolled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_device_is_refused() {
    let w = world(Backend::Sqlite).await;
    let dir = w.dir.path().join("second-device");
    let (home, mut ks) = renkei_client::Home::create(
        &dir,
        &w.server.relay_url,
        &w.server.portal_url,
        &w.server.ca_cert_pem,
        common::PASSPHRASE,
    )
    .unwrap();
    let err = renkei_client::enroll(
        &home,
        &mut ks,
        &renkei_client::EnrollInput {
            office: w.cm.number.clone(),
            kj_id: w.cm.creds.kj_id.clone(),
            issuance_password: w.cm.issuance_password.clone(),
            cert_type: renkei_client::pki::CertType::Careplan,
            device_label: "second".into(),
        },
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Portal { .. }), "{text}");
    assert!(
        text.contains("別の端末") && text.contains("端末変更"),
        "{text}"
    );
    assert!(
        matches!(err, ClientError::Portal { status: 409, .. }),
        "{text}"
    );
    assert!(ks.certificate_pem().is_none());
    assert!(matches!(
        renkei_client::Office::unlock(renkei_client::Home::open(&dir).unwrap(), common::PASSPHRASE)
            .await,
        Err(ClientError::NotEnrolled)
    ));
}

/// A watched unit waiting for the relay stays in the folder (not in sent/) and is not taken
/// for a duplicate on the next pass; it moves to sent/ once the relay stored it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_unit_moves_to_sent_only_once_stored() {
    let w = world(Backend::Sqlite).await;
    let real_url = w.server.relay_url.clone();
    let mut home = remember_login_then_lose_the_relay(&w).await;
    let watch = w.dir.path().join("export");
    std::fs::create_dir_all(&watch).unwrap();
    let plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    write_unit(&watch, &plan);
    let mut scanner = FolderScanner::with_quiet_time(std::time::Duration::ZERO);
    let cm = w.cm.open().await;
    assert!(cm
        .watch_once(&watch, &mut scanner)
        .await
        .unwrap()
        .is_empty());
    for _ in 0..2 {
        let outs = cm.watch_once(&watch, &mut scanner).await.unwrap();
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].result, "queued", "{:?}", outs[0]);
        assert!(outs[0].detail.contains("接続できません"), "{:?}", outs[0]);
        for f in &plan {
            assert!(watch.join(&f.name).exists(), "stays until stored");
        }
        assert!(!watch.join("sent").exists());
    }
    assert_eq!(
        cm.db().sends(None, 10).await.unwrap().len(),
        1,
        "queued once"
    );
    drop(cm);
    home.update_config(|c| c.relay_url = real_url).unwrap();
    let cm = w.cm.open().await;
    cm.login(Some(w.cm.creds.clone()), false).await.unwrap();
    let outs = cm.watch_once(&watch, &mut scanner).await.unwrap();
    assert_eq!(outs[0].result, "sent", "{:?}", outs[0]);
    for f in &plan {
        assert!(watch.join("sent").join(&f.name).exists());
        assert!(!watch.join(&f.name).exists());
    }
    assert_eq!(cm.db().sends(None, 10).await.unwrap().len(), 1, "sent once");
}

/// `watch --receive` waits on the inbox between rounds: the wait ends when a unit arrives, not
/// after the interval, and only for unread units (an imported one does not end it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_unread_ends_when_a_plan_arrives() {
    use std::time::{Duration, Instant};
    let w = world(Backend::Sqlite).await;
    let (cm, provider) = both_logged_in(&w).await;

    let t0 = Instant::now();
    assert!(!provider
        .wait_for_unread(Duration::from_secs(1))
        .await
        .unwrap());
    assert!(t0.elapsed() >= Duration::from_millis(900), "it did wait");

    let waiting = tokio::spawn(async move {
        let t0 = Instant::now();
        let got = provider.wait_for_unread(Duration::from_secs(20)).await;
        (provider, got, t0.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    cm.send_files(plan, "test", false, |_| {}).await.unwrap();
    let (provider, got, took) = waiting.await.unwrap();
    assert!(got.unwrap(), "the plan is unread");
    assert!(
        took < Duration::from_secs(10),
        "ended by the arrival: {took:?}"
    );

    let import_dir = w.dir.path().join("provider-import");
    let outs = provider.import_all(Some(&import_dir)).await.unwrap();
    assert_eq!(outs.len(), 1);
    assert!(outs[0].is_ok(), "{:?}", outs[0].as_ref().err());
    assert!(!provider
        .wait_for_unread(Duration::from_secs(1))
        .await
        .unwrap());
}
