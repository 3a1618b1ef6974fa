//! `renkei client …` end to end: the two offices of an in-process `renkei demo` exchange a real
//! batch (予定 out, 実績 back) through the CLI, on the demo's client homes, with `--json`
//! output, the receipt chain, evidence export and `renkei verify` — on SQLite and on PostgreSQL.

mod common;

use common::{renkei, start_demo, write_unit, Backend, Office};
use renkei_format::FileKind;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demo_offices_exchange_through_the_cli_on_sqlite() {
    exchange_through_the_cli(Backend::Sqlite).await;
}

/// The same exchange with the relay's and portal's metadata in PostgreSQL
/// (`RENKEI_TEST_POSTGRES_URL`, a fresh schema per run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demo_offices_exchange_through_the_cli_on_postgres() {
    exchange_through_the_cli(Backend::Postgres).await;
}

async fn exchange_through_the_cli(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start_demo(tmp.path(), backend).await;
    let (cm, provider) = (Office::of(&demo, 0), Office::of(&demo, 1));

    // 予定 out: a folder holding one 送信単位 (第6表 + 第7表 + 利用者補足情報).
    let export = tmp.path().join("export");
    let plan = write_unit(&export, FileKind::Upplan, &cm, &provider, "20250425090000");
    let sent = cm
        .json(&["send", "--to", &provider.number, export.to_str().unwrap()])
        .await;
    assert_eq!(sent["sends"][0]["state"], "stored", "{sent}");
    let send_num = sent["sends"][0]["id"].as_i64().unwrap();
    let send_id = send_num.to_string();

    let inbox = provider.json(&["inbox"]).await;
    assert_eq!(inbox.as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox[0]["unread"], true);
    assert_eq!(inbox[0]["sender_name"], demo.file.offices[0].name.as_str());

    let import = tmp.path().join("provider-import");
    let fetched = provider
        .json(&["fetch", "--out", import.to_str().unwrap()])
        .await;
    assert_eq!(fetched[0]["state"], "imported", "{fetched}");
    for (name, bytes) in &plan {
        assert_eq!(&std::fs::read(import.join(name)).unwrap(), bytes);
    }

    // 実績 back.
    let results_dir = tmp.path().join("results");
    let results = write_unit(
        &results_dir,
        FileKind::Upjsk,
        &provider,
        &cm,
        "20250601100000",
    );
    let files: Vec<String> = results
        .iter()
        .map(|(n, _)| results_dir.join(n).display().to_string())
        .collect();
    let mut args = vec!["send", "--to", cm.number.as_str()];
    args.extend(files.iter().map(String::as_str));
    let back = provider.json(&args).await;
    assert_eq!(back["sends"][0]["state"], "stored");
    let cm_import = tmp.path().join("cm-import");
    let fetched = cm
        .json(&["fetch", "--out", cm_import.to_str().unwrap()])
        .await;
    assert_eq!(fetched[0]["state"], "imported");

    // The receipt chain of the first send, and its certificate verified offline.
    let history = cm.json(&["history", "--refresh"]).await;
    let first = history
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["send"]["id"].as_i64() == Some(send_num))
        .unwrap();
    let events: Vec<&str> = first["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["receipt"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["stored", "downloaded", "imported"]);
    // History search by file name (with its underscores) and the received list.
    let upplan = plan.iter().find(|(n, _)| n.starts_with("UPPLAN")).unwrap();
    let by_name = cm.json(&["history", "--search", &upplan.0[..17]]).await;
    assert_eq!(by_name.as_array().unwrap().len(), 1, "{by_name}");
    let received = cm
        .json(&["history", "--received", "--search", "UPJSK_"])
        .await;
    assert_eq!(received.as_array().unwrap().len(), 1, "{received}");
    assert_eq!(received[0]["sender"], provider.number.as_str());
    let ev = tmp.path().join("evidence");
    let written = cm
        .json(&[
            "export-evidence",
            "--send",
            &send_id,
            "--out",
            ev.to_str().unwrap(),
        ])
        .await;
    let json_file = written
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .find(|p| p.ends_with(".json"))
        .unwrap()
        .to_owned();
    let verify = renkei(&[
        "verify".into(),
        json_file,
        "--ca".into(),
        demo.file.ca_cert.clone(),
    ])
    .await;
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // Favourites, directory and the (empty) outbox.
    let favs = cm.json(&["favourites", "--add", &provider.number]).await;
    assert_eq!(favs[0]["office"], provider.number.as_str());
    let found = cm
        .json(&["directory", "search", "--number", &provider.number])
        .await;
    assert_eq!(found[0]["enrolled"], true);
    // By part of the name, and by prefecture + service kind.
    let part: String = provider.name.chars().take(3).collect();
    let by_name = cm.json(&["directory", "search", "--name", &part]).await;
    assert!(
        by_name
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["number"] == provider.number.as_str()),
        "{by_name}"
    );
    let pref = &provider.number[..2];
    let by_kind = cm
        .json(&[
            "directory",
            "search",
            "--prefecture",
            pref,
            "--kind",
            &provider.kind,
        ])
        .await;
    let numbers: Vec<&str> = by_kind
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["number"].as_str().unwrap())
        .collect();
    assert!(numbers.contains(&provider.number.as_str()), "{by_kind}");
    assert!(!numbers.contains(&cm.number.as_str()), "{by_kind}");
    let text = cm
        .run(&["directory", "search", "--number", &provider.number])
        .await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("利用中") && text.contains("受付"), "{text}");
    assert_eq!(cm.json(&["outbox"]).await, serde_json::json!([]));

    // 差し戻し: the provider rejects a second plan with a reason; the care manager sees it.
    let export2 = tmp.path().join("export2");
    write_unit(&export2, FileKind::Upplan, &cm, &provider, "20250426090000");
    let second = cm
        .json(&["send", "--to", &provider.number, export2.to_str().unwrap()])
        .await;
    let second_num = second["sends"][0]["id"].as_i64().unwrap();
    let inbox = provider.json(&["inbox"]).await;
    let mid = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"]["file_seq"] == "20250426090000")
        .map(|e| e["message"]["id"].as_str().unwrap().to_owned())
        .expect("second unit in the inbox");
    let rejected = provider
        .json(&["ack", &mid, "--reject", "利用者の被保険者番号が違います"])
        .await;
    assert_eq!(rejected["state"], "rejected", "{rejected}");
    let history = cm.json(&["history", "--refresh"]).await;
    let h = history
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["send"]["id"].as_i64() == Some(second_num))
        .unwrap();
    let last = h["receipts"].as_array().unwrap().last().unwrap();
    assert_eq!(last["receipt"]["event"], "rejected", "{h}");
    assert!(
        last["receipt"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("被保険者番号が違います"),
        "{h}"
    );

    // Refusals: a wrong passphrase, a file with errors.
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase").unwrap();
    let out = renkei(&[
        "client".into(),
        "--home".into(),
        cm.home.display().to_string(),
        "--passphrase-file".into(),
        wrong.display().to_string(),
        "inbox".into(),
    ])
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("パスフレーズが正しくありません"));
    let bad_dir = tmp.path().join("bad");
    let bad = write_unit(&bad_dir, FileKind::Upplan, &cm, &provider, "20250425090500");
    let (name, bytes) = bad.iter().find(|(n, _)| n.starts_with("UPPLAN")).unwrap();
    std::fs::write(
        bad_dir.join(name),
        String::from_utf8_lossy(bytes).replacen(",\"", ",\"X", 1),
    )
    .unwrap();
    let out = cm
        .run(&["send", "--to", &provider.number, bad_dir.to_str().unwrap()])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("送信しませんでした") && err.contains("行目"),
        "{err}"
    );

    demo.shutdown().await.unwrap();
}

/// With the relay down, `send` queues the unit (exit 0, it says so) instead of failing;
/// `outbox` lists it and `outbox --flush` sends it once the relay is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_while_the_relay_is_down_queues_and_flushes_later() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start_demo(tmp.path(), Backend::Sqlite).await;
    let (cm, provider) = (Office::of(&demo, 0), Office::of(&demo, 1));
    // Cache the partner's certificate while online (a real office has sent to it before).
    let o = cm.open().await;
    o.ensure_session().await.unwrap();
    o.recipient_cert(&provider.number.parse().unwrap())
        .await
        .unwrap();
    drop(o);
    let mut home = renkei_client::Home::open(&cm.home).unwrap();
    let real = home.config().relay_url.clone();
    let dead = format!("https://127.0.0.1:{}", renkei_testkit::free_port());
    home.update_config(|c| c.relay_url = dead).unwrap();

    let export = tmp.path().join("export");
    write_unit(&export, FileKind::Upplan, &cm, &provider, "20250425090000");
    let out = cm
        .run(&[
            "--json",
            "send",
            "--to",
            &provider.number,
            export.to_str().unwrap(),
        ])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("接続できません"), "{stderr}");
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sent["waiting"].as_array().unwrap().len(), 1, "{sent}");
    assert!(sent["stored"].as_array().unwrap().is_empty(), "{sent}");
    let pending = cm.json(&["outbox"]).await;
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");

    home.update_config(|c| c.relay_url = real).unwrap();
    let flushed = cm.json(&["outbox", "--flush"]).await;
    assert_eq!(flushed["stored"].as_array().unwrap().len(), 1, "{flushed}");
    assert!(cm.json(&["outbox"]).await.as_array().unwrap().is_empty());
    let inbox = provider.json(&["inbox"]).await;
    assert_eq!(inbox.as_array().unwrap().len(), 1, "{inbox}");
    demo.shutdown().await.unwrap();
}

/// The watch command picks up a complete unit, sends it once, and moves it to sent/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_command_sends_once_and_moves_files() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start_demo(tmp.path(), Backend::Sqlite).await;
    let (cm, provider) = (Office::of(&demo, 0), Office::of(&demo, 1));
    let watch = tmp.path().join("watch");
    let plan = write_unit(&watch, FileKind::Upplan, &cm, &provider, "20250425090000");
    let out = cm
        .run(&[
            "watch",
            "--dir",
            watch.to_str().unwrap(),
            "--interval",
            "1",
            "--scans",
            "5",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, _) in &plan {
        assert!(watch.join("sent").join(name).exists(), "{name}");
    }
    let receipt: Value = serde_json::from_slice(
        &std::fs::read(
            watch
                .join("sent")
                .join(format!("20250425090000_{}.receipt.json", provider.number)),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(receipt["result"], "sent");
    let inbox = provider.json(&["inbox"]).await;
    assert_eq!(inbox.as_array().unwrap().len(), 1);
    demo.shutdown().await.unwrap();
}

/// `init` creates a home (twice is refused); `ui` prints a URL that opens only with its secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_and_ui() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = renkei_client::pki::Ca::generate("Test CA").unwrap();
    let ca_path = tmp.path().join("ca.pem");
    std::fs::write(&ca_path, ca.ca_cert_pem()).unwrap();
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "a long passphrase\n").unwrap();
    let home = tmp.path().join("home");
    let base: Vec<String> = vec![
        "client".into(),
        "--home".into(),
        home.display().to_string(),
        "--passphrase-file".into(),
        pass.display().to_string(),
    ];
    let with = |more: &[&str]| {
        let mut v = base.clone();
        v.extend(more.iter().map(|s| s.to_string()));
        v
    };
    let init = with(&[
        "init",
        "--relay-url",
        "https://127.0.0.1:9",
        "--portal-url",
        "http://127.0.0.1:9",
        "--ca-cert",
        ca_path.to_str().unwrap(),
    ]);
    let out = renkei(&init).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = renkei(&init).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("初期設定済み"));
    // Not enrolled yet: a clear message.
    let inbox = renkei(&with(&["inbox"])).await;
    assert!(String::from_utf8_lossy(&inbox.stderr).contains("証明書を発行していません"));

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_renkei"))
        .args(with(&["--json", "ui"]))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut json = String::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        json.push_str(&l);
        if l.trim() == "}" {
            break;
        }
    }
    let url = serde_json::from_str::<Value>(&json).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("/?token="),
        "{url}"
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base_url = url.split("/?").next().unwrap().to_owned();
    assert_eq!(
        http.get(format!("{base_url}/unlock"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let r = http.get(&url).send().await.unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!("{base_url}/unlock"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("パスフレーズ"));
    child.kill().await.unwrap();
}
