//! The enrollment portal walked end to end in a real headless Chromium, on SQLite and on
//! PostgreSQL: the operator registers an office, the office logs in, changes its temporary
//! password, issues the free certificate from a request made on its own device, applies for use,
//! sees its personal user ID, and downloads the client. No page may raise a JavaScript error.

mod common;

use std::time::Duration;

use common::{screenshot_dir, start, Backend};
use renkei_ids::OfficeNumber;
use renkei_testkit::Browser;

const T: Duration = Duration::from_secs(15);

async fn shot(b: &Browser, dir: &std::path::Path, name: &str) {
    b.screenshot(&dir.join(format!("portal-{name}.png")))
        .await
        .expect("screenshot");
}

async fn no_js_errors(b: &Browser, page: &str) {
    let errors = b.js_errors().await.expect("read js errors");
    assert!(errors.is_empty(), "JavaScript errors on {page}: {errors:?}");
}

async fn walk(backend: Backend) {
    let server = start(backend).await;
    let portal = &server.running.portal;
    let url = server.running.portal_url.clone();
    let now = renkei_store::now_millis();
    portal
        .create_operator("admin", "国保連 テスト運用者", "Operator-Pass-42", now)
        .await
        .expect("operator");
    let shots = screenshot_dir(server.dir.path());

    let b = Browser::start()
        .await
        .expect("headless Chromium must start");

    // 1. Operator registers an office.
    b.goto(&format!("{url}/operator/login")).await.unwrap();
    b.watch_errors().await.unwrap();
    b.fill("#login", "admin").await.unwrap();
    b.fill("#password", "Operator-Pass-42").await.unwrap();
    b.click_css("#operator-login-button").await.unwrap();
    b.wait_for("#register-link", T)
        .await
        .expect("operator home");
    shot(&b, &shots, "01-operator-offices").await;
    b.click_css("#register-link").await.unwrap();
    b.wait_for("#register-form", T).await.unwrap();
    b.fill("#number", "1310000019").await.unwrap();
    b.fill("#name", "れんけい居宅介護支援センター")
        .await
        .unwrap();
    b.fill("#name_kana", "レンケイキョタクカイゴシエンセンター")
        .await
        .unwrap();
    b.execute("document.getElementById('kind').value = '43'; return true;")
        .await
        .unwrap();
    b.fill("#postal_code", "100-0001").await.unwrap();
    b.fill("#address", "東京都千代田区千代田1-1").await.unwrap();
    b.fill("#phone", "03-0000-0001").await.unwrap();
    b.click_css("#register-button").await.unwrap();
    let kj_el = b
        .wait_for("#notice-kj-id", T)
        .await
        .expect("registration notice");
    let kj_id = b.element_text(&kj_el).await.unwrap();
    let temp_pw = b
        .element_text(&b.find("#notice-temporary-password").await.unwrap())
        .await
        .unwrap();
    let issuance_pw = b
        .element_text(&b.find("#notice-issuance-password").await.unwrap())
        .await
        .unwrap();
    assert!(kj_id.starts_with("KJ") && kj_id.len() == 14, "{kj_id}");
    shot(&b, &shots, "02-registration-notice").await;
    no_js_errors(&b, "registration notice").await;

    // 2. The office logs in with the temporary password and must change it first.
    let b2 = Browser::start().await.expect("second browser");
    b2.goto(&format!("{url}/login")).await.unwrap();
    b2.watch_errors().await.unwrap();
    b2.fill("#kj_id", &kj_id).await.unwrap();
    b2.fill("#password", &temp_pw).await.unwrap();
    b2.click_css("#login-button").await.unwrap();
    b2.wait_for("#password-form", T)
        .await
        .expect("forced password change");
    assert!(b2.find("#temporary-warning").await.is_ok());
    shot(&b2, &shots, "03-change-password").await;
    // Anything else redirects back to the password page until it is changed.
    b2.goto(&format!("{url}/office/apply")).await.unwrap();
    b2.wait_for("#password-form", T)
        .await
        .expect("still forced to change the password");
    b2.fill("#current_password", &temp_pw).await.unwrap();
    b2.fill("#new_password", "Office-Pass-2026!").await.unwrap();
    b2.fill("#new_password_confirm", "Office-Pass-2026!")
        .await
        .unwrap();
    b2.click_css("#change-password-button").await.unwrap();
    b2.wait_for("#need-certificate", T)
        .await
        .expect("office home says a certificate is needed");
    b2.watch_errors().await.unwrap();
    shot(&b2, &shots, "04-office-home").await;

    // 3. Certificates: the free one is recommended; issue it from a request made on the device.
    b2.click_css("#certificates-link").await.unwrap();
    b2.wait_for("#card-careplan", T).await.unwrap();
    let careplan = b2
        .element_text(&b2.find("#card-careplan").await.unwrap())
        .await
        .unwrap();
    assert!(careplan.contains("無料"), "{careplan}");
    let kaigo = b2
        .element_text(&b2.find("#card-kaigo").await.unwrap())
        .await
        .unwrap();
    assert!(kaigo.contains("13,200"), "{kaigo}");
    shot(&b2, &shots, "05-certificates").await;
    let office: OfficeNumber = "1310000019".parse().unwrap();
    let keys = renkei_pki::DeviceKeys::generate().unwrap();
    let request = keys
        .enrollment_request(&office, "れんけい居宅介護支援センター")
        .unwrap();
    let pasted = serde_json::json!({
        "csr_pem": request.csr_pem,
        "encryption_key": base64_std(&request.encryption_key),
        "proof": base64_std(&request.proof),
    })
    .to_string();
    b2.fill("#issuance_password", &issuance_pw).await.unwrap();
    b2.fill("#enrollment_request", &pasted).await.unwrap();
    b2.fill("#device_label", "受付のパソコン").await.unwrap();
    b2.click_css("#issue-certificate-button").await.unwrap();
    b2.wait_for("#issued", T).await.expect("certificate issued");
    let pem = b2
        .execute("return document.getElementById('certificate_pem').value;")
        .await
        .unwrap();
    let cert = renkei_pki::OfficeCert::parse_pem(pem.as_str().unwrap())
        .expect("a real office certificate");
    assert_eq!(cert.office(), &office);
    assert_eq!(cert.encryption_key(), &keys.encryption_public_key());
    cert.verify(
        &server.running.ca_cert_pem,
        renkei_store::now_millis(),
        |_| false,
    )
    .expect("chains to the CA");
    shot(&b2, &shots, "06-certificate-issued").await;
    no_js_errors(&b2, "certificate issued").await;

    // 4. Usage application.
    b2.goto(&format!("{url}/office")).await.unwrap();
    b2.wait_for("#can-apply", T)
        .await
        .expect("利用申請可能です");
    assert!(b2.text().await.unwrap().contains("利用申請可能です"));
    b2.click_css("#apply-link").await.unwrap();
    b2.wait_for("#apply-form", T).await.unwrap();
    b2.watch_errors().await.unwrap();
    b2.fill("#contact_name", "連携 花子").await.unwrap();
    b2.fill("#contact_email", "hanako@example.jp")
        .await
        .unwrap();
    b2.fill("#contact_phone", "03-0000-0001").await.unwrap();
    // Submitting without the agreements is refused with a message.
    b2.click_css("#apply-button").await.unwrap();
    b2.wait_for("#apply-form", T).await.unwrap();
    b2.click_css("#agree_terms").await.unwrap();
    b2.click_css("#agree_privacy").await.unwrap();
    b2.click_css("#confirm_fee").await.unwrap();
    shot(&b2, &shots, "07-apply").await;
    b2.click_css("#apply-button").await.unwrap();
    let uid_el = b2
        .wait_for("#personal-user-id", T)
        .await
        .expect("completion page");
    let user_id = b2.element_text(&uid_el).await.unwrap();
    assert!(user_id.starts_with('c') && user_id.len() == 11, "{user_id}");
    assert!(b2.find("#application-complete").await.is_ok());
    shot(&b2, &shots, "08-application-complete").await;
    no_js_errors(&b2, "application complete").await;
    let user = portal
        .store()
        .personal_user(&user_id.parse().unwrap())
        .await
        .unwrap()
        .expect("the personal user exists");
    assert_eq!(user.office, office);

    // 5. Client download, gated by organisation name + office number.
    b2.click_css("#download-after-apply").await.unwrap();
    b2.wait_for("#download-form", T).await.unwrap();
    shot(&b2, &shots, "09-download").await;
    no_js_errors(&b2, "download").await;
    // A wrong organisation name is refused with a message.
    b2.fill("#organisation", "違う名前").await.unwrap();
    b2.fill("#office_number", "1310000019").await.unwrap();
    b2.click_css("#download-button").await.unwrap();
    b2.wait_for("#error", T)
        .await
        .expect("refused with a message");
    // The right pair downloads the client build (fetched from the page's own form, so the
    // CSRF token and the session cookie are the browser's).
    b2.fill("#organisation", "れんけい居宅介護支援センター")
        .await
        .unwrap();
    b2.fill("#office_number", "1310000019").await.unwrap();
    let result = b2
        .execute_async(
            "const f = document.getElementById('download-form');\
             fetch(f.action, {method: 'POST', body: new URLSearchParams(new FormData(f))})\
               .then(async r => done({status: r.status, disposition: r.headers.get('content-disposition') || '',\
                                       size: (await r.arrayBuffer()).byteLength}))\
               .catch(e => done({error: String(e)}));",
        )
        .await
        .unwrap();
    assert_eq!(result["status"], 200, "{result}");
    assert!(
        result["disposition"]
            .as_str()
            .unwrap_or_default()
            .contains("attachment"),
        "{result}"
    );
    assert!(result["size"].as_u64().unwrap_or(0) > 1000, "{result}");
    no_js_errors(&b2, "download").await;

    b2.quit().await;
    b.quit().await;
    server.running.shutdown().await.unwrap();
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn portal_flow_in_chromium_on_sqlite() {
    walk(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn portal_flow_in_chromium_on_postgres() {
    walk(Backend::Postgres).await;
}
