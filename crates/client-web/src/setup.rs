//! First start without a terminal: set up this device (`/setup`: the addresses and the CA
//! certificate from the portal's download, and a passphrase), then enroll it (`/enroll`: the
//! device keys are made here, the portal gets only a certificate request signed with the
//! 証明書発行用パスワード). The same steps as `renkei client init` and `renkei client enroll`.

#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use renkei_client::pki::CertType;
use renkei_client::{ClientError, EnrollInput, Home, Office};
use serde::Deserialize;

use crate::handlers::back_with;
use crate::pages::{frame, message};
use crate::Shared;

use renkei_client::MIN_PASSPHRASE_CHARS as MIN_PASSPHRASE;

fn setup_form(app: &Shared, error: Option<&str>) -> Response {
    frame(
        "この端末の初期設定",
        None,
        "",
        html! {
            h1 { "この端末の初期設定" }
            p { "れんけいを初めて使うときに一度だけ行います。ポータルからダウンロードしたときに一緒に届いた「接続先の情報」を入力してください。" }
            @if let Some(e) = error { (message("err", e)) }
            form.card method="post" action="/setup" enctype="multipart/form-data" {
                label for="relay_url" { "中継サーバーのアドレス" }
                input #relay_url type="url" name="relay_url" placeholder="https://relay.example.jp" required;
                label for="portal_url" { "ポータルのアドレス" }
                input #portal_url type="url" name="portal_url" placeholder="https://portal.example.jp" required;
                label for="ca_file" { "認証局の証明書ファイル（renkei-ca.pem）" }
                input #ca_file type="file" name="ca_file" accept=".pem,.crt,.cer" required;
                h2 { "パスフレーズを決める" }
                p.muted { "この端末の鍵を守る合言葉です。毎日の開始時に入力します。"
                    (MIN_PASSPHRASE) "文字以上で、他人に知られないものにしてください。忘れると証明書の再発行（端末変更）が必要です。" }
                label for="passphrase" { "パスフレーズ" }
                input #passphrase type="password" name="passphrase" autocomplete="new-password" required;
                label for="passphrase2" { "パスフレーズ（確認のためもう一度）" }
                input #passphrase2 type="password" name="passphrase2" autocomplete="new-password" required;
                label for="import_dir" { "受け取ったファイルの保存先（介護ソフトの取込フォルダ。空欄なら標準の場所）" }
                input #import_dir type="text" name="import_dir";
                p { button #setup type="submit" { "設定する" } }
            }
            p.muted { "保存場所: " (app.home_dir.display()) }
        },
    )
    .into_response()
}

/// `GET /setup`: the form, unless this device is set up already.
pub(crate) async fn setup_page(State(app): State<Shared>) -> Response {
    if app.home.read().await.is_some() {
        return Redirect::to("/unlock").into_response();
    }
    setup_form(&app, None)
}

/// `POST /setup`: create the home (configuration, CA certificate, device keys locked with the
/// passphrase), then go on to enrollment.
pub(crate) async fn setup(State(app): State<Shared>, mut form: Multipart) -> Response {
    if app.home.read().await.is_some() {
        return Redirect::to("/unlock").into_response();
    }
    let (mut relay, mut portal, mut ca, mut pass, mut pass2, mut import) = (
        String::new(),
        String::new(),
        Vec::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return setup_form(&app, Some(&format!("入力を受け取れませんでした: {e}"))),
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "ca_file" {
            match field.bytes().await {
                Ok(b) => ca = b.to_vec(),
                Err(e) => {
                    return setup_form(&app, Some(&format!("ファイルを受け取れませんでした: {e}")))
                }
            }
            continue;
        }
        let text = field.text().await.unwrap_or_default();
        match name.as_str() {
            "relay_url" => relay = text.trim().to_owned(),
            "portal_url" => portal = text.trim().to_owned(),
            "passphrase" => pass = text,
            "passphrase2" => pass2 = text,
            "import_dir" => import = text.trim().to_owned(),
            _ => {}
        }
    }
    if pass.chars().count() < MIN_PASSPHRASE {
        return setup_form(
            &app,
            Some(&format!(
                "パスフレーズは{MIN_PASSPHRASE}文字以上にしてください。"
            )),
        );
    }
    if pass != pass2 {
        return setup_form(
            &app,
            Some("確認のパスフレーズが一致しません。もう一度入力してください。"),
        );
    }
    let Ok(ca_pem) = String::from_utf8(ca) else {
        return setup_form(
            &app,
            Some("認証局の証明書ファイルが読めません。ダウンロードに含まれる renkei-ca.pem を選んでください。"),
        );
    };
    let mut guard = app.home.write().await;
    if guard.is_some() {
        return Redirect::to("/unlock").into_response();
    }
    let created = Home::create(&app.home_dir, &relay, &portal, &ca_pem, &pass);
    let (mut home, _keystore) = match created {
        Ok(h) => h,
        Err(ClientError::Pki(_)) => {
            return setup_form(
                &app,
                Some("認証局の証明書ファイルとして読めません。ダウンロードに含まれる renkei-ca.pem を選んでください。"),
            )
        }
        Err(e) => return setup_form(&app, Some(&e.to_string())),
    };
    if !import.is_empty() {
        if let Err(e) = home.update_config(|c| c.import_dir = Some(import.into())) {
            return setup_form(&app, Some(&e.to_string()));
        }
    }
    *guard = Some(home);
    back_with(
        "/enroll",
        "ok",
        "初期設定をしました。続けて、この端末の証明書を発行します。",
    )
}

#[derive(Deserialize, Default)]
pub(crate) struct EnrollNotice {
    ok: Option<String>,
}

fn enroll_form(app_dir: &str, ok: Option<&str>, error: Option<&str>) -> Response {
    frame(
        "証明書の発行",
        None,
        "",
        html! {
            h1 { "この端末の証明書を発行する" }
            @if let Some(m) = ok { (message("ok", m)) }
            @if let Some(e) = error { (message("err", e)) }
            p { "国保連からの「お知らせ」（電子請求登録結果に関するお知らせ）に書かれた、介護電子請求用ユーザIDと証明書発行用パスワードを用意してください。" }
            p.muted { "この端末で鍵を作り、ポータルには証明書の申請だけを送ります。鍵がこの端末の外に出ることはありません。" }
            form.card method="post" action="/enroll" {
                label for="passphrase" { "パスフレーズ（初期設定で決めたもの）" }
                input #passphrase type="password" name="passphrase" autocomplete="current-password" required;
                label for="office" { "介護保険事業所番号（半角数字10桁）" }
                input #office type="text" name="office" inputmode="numeric" placeholder="1310000019" required;
                label for="kj_id" { "介護電子請求用ユーザID" }
                input #kj_id type="text" name="kj_id" placeholder="KJ000000000001" required;
                label for="issuance_password" { "証明書発行用パスワード" }
                input #issuance_password type="password" name="issuance_password" required;
                h2 { "証明書の種類" }
                label.check { input type="radio" name="cert_type" value="careplan" checked; "請求委任事業所用ケアプラン証明書（無料・ケアプラン連携専用）" }
                label.check { input type="radio" name="cert_type" value="kaigo"; "介護保険証明書（電子請求にも使う有料の証明書）" }
                label for="device_label" { "この端末の名前（例: 事務所のパソコン）" }
                input #device_label type="text" name="device_label" value="事務所のパソコン";
                p { button #enroll type="submit" { "証明書を発行する" } }
            }
            p.muted { "保存場所: " (app_dir) }
        },
    )
    .into_response()
}

/// `GET /enroll`.
pub(crate) async fn enroll_page(
    State(app): State<Shared>,
    axum::extract::Query(n): axum::extract::Query<EnrollNotice>,
) -> Response {
    if app.home.read().await.is_none() {
        return Redirect::to("/setup").into_response();
    }
    if app.office.read().await.is_some() {
        return Redirect::to("/inbox").into_response();
    }
    enroll_form(&app.home_dir.display().to_string(), n.ok.as_deref(), None)
}

#[derive(Deserialize)]
pub(crate) struct EnrollForm {
    passphrase: String,
    office: String,
    kj_id: String,
    issuance_password: String,
    cert_type: String,
    device_label: Option<String>,
}

/// `POST /enroll`: unlock the keys, request the certificate, then go on to the first login.
pub(crate) async fn enroll(State(app): State<Shared>, Form(f): Form<EnrollForm>) -> Response {
    let dir = app.home_dir.display().to_string();
    let Some(home) = app.home.read().await.clone() else {
        return Redirect::to("/setup").into_response();
    };
    let fail = |e: &str| enroll_form(&dir, None, Some(e));
    let mut keystore = match home.unlock(&f.passphrase) {
        Ok(k) => k,
        Err(ClientError::WrongPassphrase) => {
            return fail("パスフレーズが違います。初期設定で決めたパスフレーズを入力してください。")
        }
        Err(e) => return fail(&e.to_string()),
    };
    let input = match (
        f.office.trim().parse(),
        f.kj_id.trim().parse(),
        f.cert_type.parse::<CertType>(),
    ) {
        (Ok(office), Ok(kj_id), Ok(cert_type)) => EnrollInput {
            office,
            kj_id,
            issuance_password: f.issuance_password.clone(),
            cert_type,
            device_label: f
                .device_label
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or("renkei client")
                .to_owned(),
        },
        (Err(e), _, _) => return fail(&format!("介護保険事業所番号を確かめてください（{e}）。")),
        (_, Err(e), _) => {
            return fail(&format!(
                "介護電子請求用ユーザIDを確かめてください（{e}）。"
            ))
        }
        (_, _, Err(_)) => return fail("証明書の種類を選んでください。"),
    };
    if let Err(e) = renkei_client::enroll(&home, &mut keystore, &input).await {
        return fail(&e.to_string());
    }
    match Office::open(home, keystore).await {
        Ok(o) => {
            *app.office.write().await = Some(Arc::new(o));
            back_with(
                "/unlock",
                "ok",
                "証明書を発行しました。続けてログインしてください。",
            )
        }
        Err(e) => fail(&e.to_string()),
    }
}
