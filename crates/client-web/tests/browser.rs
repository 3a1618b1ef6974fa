//! The care manager's day in a real headless Chromium: unlock, send a 予定 batch, see it arrive
//! at the partner, import it, open the printable form, get the 実績 back and import it, follow
//! the receipt chain and export the evidence — on SQLite and PostgreSQL. Screenshots go to docs/images with
//! RENKEI_UPDATE_SCREENSHOTS=1 (they illustrate docs/USER_GUIDE.ja.md).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{unit, world, write_unit, Backend, TestOffice, World};
use renkei_client::Home;
use renkei_format::FileKind;
use renkei_testkit::Browser;

const WAIT: Duration = Duration::from_secs(20);

fn screenshot_dir(tmp: &Path) -> PathBuf {
    if std::env::var("RENKEI_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/images")
    } else {
        tmp.join("screenshots")
    }
}

struct Ui {
    url: String,
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_ui(office: &TestOffice) -> Ui {
    let home = Home::open(&office.home_dir).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let secret = renkei_client_web::new_secret();
    let url = renkei_client_web::launch_url(addr, &secret);
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(renkei_client_web::serve(
        home,
        listener,
        secret,
        async move {
            let _ = rx.await;
        },
    ));
    Ui {
        url,
        base: format!("http://{addr}"),
        stop,
    }
}

async fn unlock(b: &Browser, ui: &Ui, office: &TestOffice, remember: bool, shot: Option<&Path>) {
    b.goto(&ui.url).await.unwrap();
    b.wait_for("#passphrase", WAIT).await.unwrap();
    b.fill("#passphrase", common::PASSPHRASE).await.unwrap();
    b.fill("#user_id", office.creds.user_id.as_str())
        .await
        .unwrap();
    b.fill("#user_password", &office.creds.user_password)
        .await
        .unwrap();
    b.fill("#kj_id", office.creds.kj_id.as_str()).await.unwrap();
    b.fill("#kj_password", &office.creds.kj_password)
        .await
        .unwrap();
    if !remember {
        b.click_css("input[name=remember]").await.unwrap();
    }
    if let Some(p) = shot {
        b.screenshot(p).await.unwrap();
    }
    b.click_css("#unlock").await.unwrap();
    b.wait_for_text("新しいファイル", WAIT).await.unwrap();
}

/// Open the send page of `ui` and fill in the partner and the files (not yet sent).
async fn fill_send_form(b: &Browser, ui: &Ui, to: &str, paths: &[PathBuf]) {
    b.goto(&format!("{}/send", ui.base)).await.unwrap();
    b.wait_for("#files", WAIT).await.unwrap();
    b.fill("#to", to).await.unwrap();
    let joined = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    b.upload("#files", Path::new(&joined)).await.unwrap();
}

async fn browser_day(w: World) {
    let shots = screenshot_dir(w.dir.path());
    std::fs::create_dir_all(&shots).unwrap();
    let cm_ui = start_ui(&w.cm).await;
    let provider_ui = start_ui(&w.provider).await;
    let b = Browser::start().await.expect("headless chromium");

    // The care manager unlocks and logs in (credentials remembered for next time).
    unlock(
        &b,
        &cm_ui,
        &w.cm,
        true,
        Some(&shots.join("client-unlock.png")),
    )
    .await;
    b.watch_errors().await.unwrap();
    b.screenshot(&shots.join("client-inbox-empty.png"))
        .await
        .unwrap();

    // Favourite partner from the directory.
    b.goto(&format!("{}/directory?q={}", cm_ui.base, w.provider.number))
        .await
        .unwrap();
    b.wait_for_text(w.provider.name, WAIT).await.unwrap();
    b.click_css("button.fav").await.unwrap();
    b.wait_for_text("お気に入りに追加しました", WAIT)
        .await
        .unwrap();
    b.screenshot(&shots.join("client-directory.png"))
        .await
        .unwrap();

    // Send a 予定 batch (第6表 + 第7表 + 利用者補足情報).
    let plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    let paths = write_unit(&w.dir.path().join("export"), &plan);
    fill_send_form(&b, &cm_ui, w.provider.number.as_str(), &paths).await;
    b.screenshot(&shots.join("client-send.png")).await.unwrap();
    b.click_css("#send").await.unwrap();
    b.wait_for("#to-history", WAIT).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(text.contains("送信しました"), "{text}");
    b.screenshot(&shots.join("client-send-done.png"))
        .await
        .unwrap();

    // The provider sees it arrive, unread, and imports it.
    unlock(&b, &provider_ui, &w.provider, false, None).await;
    let text = b.text().await.unwrap();
    assert!(text.contains("未読"), "{text}");
    assert!(text.contains(w.cm.name), "{text}");
    assert!(text.contains("2025年5月"), "{text}");
    b.screenshot(&shots.join("client-inbox-new.png"))
        .await
        .unwrap();
    b.click_css("button.import").await.unwrap();
    b.wait_for_text("取り込みました", WAIT).await.unwrap();
    b.screenshot(&shots.join("client-inbox-imported.png"))
        .await
        .unwrap();
    let import_dir = Home::open(&w.provider.home_dir).unwrap().import_dir();
    for f in &plan {
        assert_eq!(std::fs::read(import_dir.join(&f.name)).unwrap(), f.bytes);
    }

    // The printable form of the imported 第6表.
    let link = b.find("a.view").await.unwrap();
    let href = b
        .execute("return document.querySelector('a.view').getAttribute('href')")
        .await
        .unwrap();
    let _ = link;
    b.goto(&format!("{}{}", provider_ui.base, href.as_str().unwrap()))
        .await
        .unwrap();
    b.wait_for_text("印刷する", WAIT).await.unwrap();
    b.screenshot(&shots.join("client-form-view.png"))
        .await
        .unwrap();
    let pdf = b.print_pdf().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"));

    // 実績 back: the provider sends what it delivered from its own send page.
    let results = unit(FileKind::Upjsk, &w.provider, &w.cm, "20250601100000");
    let paths = write_unit(&w.dir.path().join("provider-export"), &results);
    fill_send_form(&b, &provider_ui, w.cm.number.as_str(), &paths).await;
    b.click_css("#send").await.unwrap();
    b.wait_for("#to-history", WAIT).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(text.contains("送信しました"), "{text}");

    // Back at the care manager: the 実績 has arrived and is imported; the receipt chain of
    // the 予定 shows the partner's import; the certificate verifies.
    b.goto(&cm_ui.url).await.unwrap();
    b.wait_for_text("新しいファイル", WAIT).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        text.contains("未読") && text.contains(w.provider.name),
        "{text}"
    );
    b.click_css("button.import").await.unwrap();
    b.wait_for_text("取り込みました", WAIT).await.unwrap();
    let cm_import = Home::open(&w.cm.home_dir).unwrap().import_dir();
    for f in &results {
        assert_eq!(std::fs::read(cm_import.join(&f.name)).unwrap(), f.bytes);
    }
    b.goto(&format!("{}/history", cm_ui.base)).await.unwrap();
    b.wait_for("#history", WAIT).await.unwrap();
    b.screenshot(&shots.join("client-history.png"))
        .await
        .unwrap();
    // The search covers what was received too: the 実績 by its file name.
    b.goto(&format!("{}/history?q=UPJSK_", cm_ui.base))
        .await
        .unwrap();
    b.wait_for("#received", WAIT).await.unwrap();
    assert_eq!(b.find_all("#received tr").await.unwrap().len(), 2);
    assert!(b.find_all("#history").await.unwrap().is_empty());
    b.goto(&format!("{}/history/1", cm_ui.base)).await.unwrap();
    b.click_css("#refresh").await.unwrap();
    b.wait_for_text("最新の状態にしました", WAIT).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(text.contains("相手が取込完了"), "{text}");
    b.screenshot(&shots.join("client-receipts.png"))
        .await
        .unwrap();
    b.goto(&format!("{}/history/1/certificate", cm_ui.base))
        .await
        .unwrap();
    b.wait_for_text("送 信 証 明 書", WAIT).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(!text.contains("✘"), "certificate verifies: {text}");
    b.screenshot(&shots.join("client-certificate.png"))
        .await
        .unwrap();
    assert!(b.print_pdf().await.unwrap().starts_with(b"%PDF"));
    b.goto(&format!("{}/evidence/audit", cm_ui.base))
        .await
        .unwrap();
    b.wait_for_text("印刷する", WAIT).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(
        text.contains("検証済み") && !text.contains("✘"),
        "audit trail verifies: {text}"
    );
    b.screenshot(&shots.join("client-audit.png")).await.unwrap();

    // Next morning: lock, then one step — the passphrase alone (credentials remembered).
    b.goto(&format!("{}/inbox", cm_ui.base)).await.unwrap();
    b.click_css("header button").await.unwrap();
    b.wait_for("#passphrase", WAIT).await.unwrap();
    assert!(
        b.find_all("#user_id").await.unwrap().is_empty(),
        "no login fields when remembered"
    );
    b.screenshot(&shots.join("client-unlock-remembered.png"))
        .await
        .unwrap();
    b.fill("#passphrase", common::PASSPHRASE).await.unwrap();
    b.click_css("#unlock").await.unwrap();
    b.wait_for_text("新しいファイル", WAIT).await.unwrap();

    // The outbox page is reachable and empty.
    b.goto(&format!("{}/outbox", cm_ui.base)).await.unwrap();
    b.wait_for_text("送信待ちのファイルはありません", WAIT)
        .await
        .unwrap();

    let errors = b.js_errors().await.unwrap();
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");
    b.quit().await;
    let _ = cm_ui.stop.send(());
    let _ = provider_ui.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_day_on_sqlite() {
    browser_day(world(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_day_on_postgres() {
    browser_day(world(Backend::Postgres).await).await;
}

/// An HTTP client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Open the launch URL (with its per-launch secret); returns its status and the whole
/// `Set-Cookie` value of the session it starts.
async fn launch_cookie(http: &reqwest::Client, ui: &Ui) -> (reqwest::StatusCode, String) {
    let r = http.get(&ui.url).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    (r.status(), cookie)
}

/// POST the unlock form (passphrase and both logins) with the UI's secret cookie `pair`.
async fn post_unlock(
    http: &reqwest::Client,
    ui: &Ui,
    pair: &str,
    c: &renkei_client::Credentials,
    passphrase: &str,
    kj_password: String,
) -> reqwest::Response {
    http.post(format!("{}/unlock", ui.base))
        .header("cookie", pair)
        .form(&[
            ("passphrase", passphrase.to_owned()),
            ("user_id", c.user_id.to_string()),
            ("user_password", c.user_password.clone()),
            ("kj_id", c.kj_id.to_string()),
            ("kj_password", kj_password),
        ])
        .send()
        .await
        .unwrap()
}

/// Without the per-launch secret, or through another host name, nothing is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_and_host_are_required() {
    let w = world(Backend::Sqlite).await;
    let ui = start_ui(&w.cm).await;
    let http = no_redirects();
    for path in ["/", "/inbox", "/unlock", "/style.css", "/?token=wrong"] {
        let r = http.get(format!("{}{path}", ui.base)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let (status, cookie) = launch_cookie(&http, &ui).await;
    assert_eq!(status, 303);
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let ok = http
        .get(format!("{}/unlock", ui.base))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let rebinding = http
        .get(format!("{}/unlock", ui.base))
        .header("cookie", &pair)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403);
    let cross = http
        .post(format!("{}/lock", ui.base))
        .header("cookie", &pair)
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    // A wrong passphrase is a clear message, not a crash.
    let wrong = http
        .post(format!("{}/unlock", ui.base))
        .header("cookie", &pair)
        .form(&[("passphrase", "not the passphrase")])
        .send()
        .await
        .unwrap();
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("パスフレーズが違います"));
    // The right passphrase with a wrong KJ password opens the keys but logs nobody in; the
    // next attempt must still give the right passphrase.
    let c = &w.cm.creds;
    let post = |pass: &'static str, kj_password: String| {
        post_unlock(&http, &ui, &pair, c, pass, kj_password)
    };
    let bad_login = post(common::PASSPHRASE, "wrong KJ password".into()).await;
    assert_eq!(bad_login.status(), 200, "stays on the form");
    let sneaky = post("not the passphrase", c.kj_password.clone()).await;
    assert_eq!(sneaky.status(), 200, "no redirect to the inbox");
    assert!(sneaky
        .text()
        .await
        .unwrap()
        .contains("パスフレーズが違います"));
    let right = post(common::PASSPHRASE, c.kj_password.clone()).await;
    assert_eq!(right.status(), 303, "logged in");
}

/// A device that was never set up, started with `renkei client ui`: the office sets it up and
/// enrolls it in the browser (no terminal), then logs in and reaches its inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_sets_up_and_enrolls_in_the_browser() {
    let w = world(Backend::Sqlite).await;
    let shots = screenshot_dir(w.dir.path());
    std::fs::create_dir_all(&shots).unwrap();
    // A third office registered by the 国保連 (its notice gives the KJ ID and the passwords).
    let now = renkei_store::now_millis();
    let notice = w
        .server
        .portal
        .register_office(
            "admin",
            &renkei_portal::NewOffice {
                number: "1320000018".into(),
                name: "さくら通所介護".into(),
                name_kana: "サクラ".into(),
                kind: "15".into(),
                postal_code: "100-0001".into(),
                address: "東京都千代田区千代田1-1".into(),
                phone: "03-0000-0009".into(),
            },
            now,
        )
        .await
        .unwrap();
    let kj_password = "Pw-new-office-Xy7k2Q9z";
    w.server
        .portal
        .change_kj_password(&notice.kj_id, &notice.temporary_password, kj_password, now)
        .await
        .unwrap();
    let issuance = notice.issuance_password.clone().unwrap();
    let ca_file = w.dir.path().join("download").join("renkei-ca.pem");
    std::fs::create_dir_all(ca_file.parent().unwrap()).unwrap();
    std::fs::write(&ca_file, &w.server.ca_cert_pem).unwrap();

    let dir = w.dir.path().join("new-device");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let secret = renkei_client_web::new_secret();
    let url = renkei_client_web::launch_url(addr, &secret);
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(renkei_client_web::serve_dir(
        dir.clone(),
        listener,
        secret,
        async move {
            let _ = rx.await;
        },
    ));
    let b = Browser::start().await.expect("headless chromium");
    b.goto(&url).await.unwrap();
    b.wait_for("#relay_url", WAIT).await.unwrap();
    b.fill("#relay_url", &w.server.relay_url).await.unwrap();
    b.fill("#portal_url", &w.server.portal_url).await.unwrap();
    b.upload("#ca_file", &ca_file).await.unwrap();
    // Two different passphrases are refused with a plain message, and nothing is created.
    b.fill("#passphrase", common::PASSPHRASE).await.unwrap();
    b.fill("#passphrase2", "something else entirely")
        .await
        .unwrap();
    b.screenshot(&shots.join("client-setup.png")).await.unwrap();
    b.click_css("#setup").await.unwrap();
    b.wait_for_text("一致しません", WAIT).await.unwrap();
    assert!(!dir.join("config.toml").exists());
    b.fill("#relay_url", &w.server.relay_url).await.unwrap();
    b.fill("#portal_url", &w.server.portal_url).await.unwrap();
    b.upload("#ca_file", &ca_file).await.unwrap();
    b.fill("#passphrase", common::PASSPHRASE).await.unwrap();
    b.fill("#passphrase2", common::PASSPHRASE).await.unwrap();
    b.click_css("#setup").await.unwrap();

    // Enrollment: a wrong issuance password is refused; the right one issues the certificate.
    b.wait_for("#issuance_password", WAIT).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(text.contains("初期設定をしました"), "{text}");
    b.fill("#passphrase", common::PASSPHRASE).await.unwrap();
    b.fill("#office", "1320000018").await.unwrap();
    b.fill("#kj_id", notice.kj_id.as_str()).await.unwrap();
    b.fill("#issuance_password", "wrong-issuance-pw")
        .await
        .unwrap();
    b.screenshot(&shots.join("client-enroll.png"))
        .await
        .unwrap();
    b.click_css("#enroll").await.unwrap();
    // The form comes back with the error (waiting for a field would find the old page's).
    b.wait_for_text("証明書発行用パスワードが正しくありません", WAIT)
        .await
        .unwrap();
    let text = b.text().await.unwrap();
    assert!(!text.contains("証明書を発行しました"), "{text}");
    b.fill("#passphrase", common::PASSPHRASE).await.unwrap();
    b.fill("#office", "1320000018").await.unwrap();
    b.fill("#kj_id", notice.kj_id.as_str()).await.unwrap();
    b.fill("#issuance_password", &issuance).await.unwrap();
    b.click_css("#enroll").await.unwrap();
    b.wait_for_text("証明書を発行しました", WAIT).await.unwrap();

    // 利用申請 gives the personal user; the first login then reaches the inbox.
    let outcome = w
        .server
        .portal
        .apply(&notice.kj_id, &common::application("1320000018"), now)
        .await
        .unwrap();
    b.fill("#passphrase", common::PASSPHRASE).await.unwrap();
    b.fill("#user_id", outcome.personal_user_id.as_str())
        .await
        .unwrap();
    b.fill("#user_password", &outcome.personal_password)
        .await
        .unwrap();
    b.fill("#kj_id", notice.kj_id.as_str()).await.unwrap();
    b.fill("#kj_password", kj_password).await.unwrap();
    b.click_css("#unlock").await.unwrap();
    b.wait_for_text("新しいファイル", WAIT).await.unwrap();
    let text = b.text().await.unwrap();
    assert!(text.contains("さくら通所介護"), "{text}");
    let errors = b.js_errors().await.unwrap();
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");
    b.quit().await;
    let _ = stop.send(());
}

/// The viewer compares two versions of one client's plan for one month item by item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_compares_two_versions_of_a_plan() {
    let w = world(Backend::Sqlite).await;
    let ui = start_ui(&w.cm).await;
    let http = no_redirects();
    let (_, cookie) = launch_cookie(&http, &ui).await;
    let pair = cookie.split(';').next().unwrap().to_owned();
    let c = &w.cm.creds;
    let login = post_unlock(
        &http,
        &ui,
        &pair,
        c,
        common::PASSPHRASE,
        c.kj_password.clone(),
    )
    .await;
    assert_eq!(login.status(), 303);
    let plan = unit(FileKind::Upplan, &w.cm, &w.provider, "20250425090000");
    let a = plan.iter().find(|f| f.name.starts_with("UPPLAN")).unwrap();
    // Byte-level edit of the MS932 file: no trail byte of a double-byte character is a digit.
    let at = a
        .bytes
        .windows(6)
        .position(|w| w == b"111111")
        .expect("身体介護 111111 in the plan");
    let mut b_bytes = a.bytes.clone();
    b_bytes[at..at + 6].copy_from_slice(b"111211");
    let boundary = "renkei-test-boundary";
    let mut body = Vec::new();
    for (field, bytes) in [("a", &a.bytes), ("b", &b_bytes)] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{}\"\r\nContent-Type: text/csv\r\n\r\n",
                a.name
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let resp = http
        .post(format!("{}/viewer", ui.base))
        .header("cookie", &pair)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("差分"), "{html}");
    assert!(html.contains("111211") && html.contains("111111"), "{html}");
    let _ = ui.stop.send(());
}
