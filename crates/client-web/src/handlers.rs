//! Request handlers: one per page or form.

// Handlers return `Result<Response, Response>` so that `?` can short-circuit to a redirect or
// refusal page; a response is large, but it is built once per request.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use renkei_client::api::{MessageId, RejectReason};
use renkei_client::{ClientError, Credentials, Home, Office, SendStage, UnitFile};
use serde::Deserialize;

use crate::pages::{self, error_list, frame, message, short_time};
use crate::{secret_cookie, Job, Shared};

pub(crate) type Page = Result<Response, Response>;

/// The unlocked office, or a redirect to the unlock page.
pub(crate) async fn office(app: &Shared) -> Result<Arc<Office>, Response> {
    app.office
        .read()
        .await
        .clone()
        .ok_or_else(|| Redirect::to("/unlock").into_response())
}

pub(crate) fn name_of(o: &Office) -> String {
    format!("{}（{}）", o.office_name(), o.office())
}

/// An error shown inside the normal frame.
pub(crate) fn error_page(o: &Office, active: &str, title: &str, e: &ClientError) -> Response {
    let body = match e {
        ClientError::Invalid(lines) => {
            error_list("ファイルに誤りがあるため送信しませんでした。", lines)
        }
        ClientError::NoCredentials => html! {
            (message("err", "ログインが必要です。"))
            a.btn href="/unlock" { "ログインする" }
        },
        other => message("err", &other.to_string()),
    };
    (
        StatusCode::OK,
        frame(
            title,
            Some(&name_of(o)),
            active,
            html! { h1 { (title) } (body) },
        ),
    )
        .into_response()
}

#[derive(Deserialize)]
pub(crate) struct RootQuery {
    token: Option<String>,
}

/// `/?token=…`: set the cookie, then go to the first useful page.
pub(crate) async fn root(State(app): State<Shared>, Query(q): Query<RootQuery>) -> Response {
    let target = if app.office.read().await.is_some() {
        "/inbox"
    } else if app.home.read().await.is_none() {
        "/setup"
    } else {
        "/unlock"
    };
    if q.token.is_some() {
        return (
            [(header::SET_COOKIE, secret_cookie(&app))],
            Redirect::to(target),
        )
            .into_response();
    }
    Redirect::to(target).into_response()
}

pub(crate) async fn style() -> Response {
    pages::style()
}

fn unlock_form(app: &Shared, remembered: Option<String>, error: Option<&str>) -> Response {
    unlock_form_with(app, remembered, None, error)
}

fn unlock_form_with(
    app: &Shared,
    remembered: Option<String>,
    ok: Option<&str>,
    error: Option<&str>,
) -> Response {
    let enrolled_note = app.home_dir.display().to_string();
    // Before the keystore is open, the (non-secret) config flag says whether the login
    // credentials are remembered; then the passphrase is the only field.
    let remembered = remembered.or_else(|| {
        Home::open(&app.home_dir)
            .ok()
            .filter(|h| h.config().remember_login)
            .map(|_| "記憶済み".to_owned())
    });
    frame(
        "はじめる",
        None,
        "",
        html! {
            h1 { "れんけいを始める" }
            @if let Some(m) = ok { (message("ok", m)) }
            @if let Some(e) = error { (message("err", e)) }
            form.card method="post" action="/unlock" {
                label for="passphrase" { "パスフレーズ" }
                input #passphrase type="password" name="passphrase" autocomplete="current-password" autofocus required;
                p.muted { "この端末の鍵を開けるための合言葉です。" }
                @if let Some(user) = &remembered {
                    p { "記憶しているログイン情報（" (user) "）で自動的にログインします。" }
                } @else {
                    h2 { "ログイン情報" }
                    p.muted { "ポータルで確認できる個人ユーザID（c で始まる）と、お知らせに書かれた介護電子請求用ユーザID（KJ で始まる）です。" }
                    label for="user_id" { "個人ユーザID" }
                    input #user_id type="text" name="user_id" autocomplete="username" placeholder="c0000000001";
                    label for="user_password" { "個人ユーザのパスワード" }
                    input #user_password type="password" name="user_password";
                    label for="kj_id" { "介護電子請求用ユーザID" }
                    input #kj_id type="text" name="kj_id" placeholder="KJ000000000001";
                    label for="kj_password" { "介護電子請求用ユーザIDのパスワード" }
                    input #kj_password type="password" name="kj_password";
                    label.check { input type="checkbox" name="remember" value="1" checked; "次回からパスフレーズだけで始める（ログイン情報を暗号化して記憶）" }
                }
                p { button #unlock type="submit" { "始める" } }
            }
            p.muted { "保存場所: " (enrolled_note) }
        },
    )
    .into_response()
}

/// Remembered user of the home, read by unlocking is impossible before the passphrase: the
/// form asks for credentials unless an unlocked office remembers them.
pub(crate) async fn unlock_page(State(app): State<Shared>, Query(n): Query<Notice>) -> Response {
    if app.home.read().await.is_none() {
        return Redirect::to("/setup").into_response();
    }
    if let Some(o) = app.office.read().await.clone() {
        if o.relay().session().is_some() {
            return Redirect::to("/inbox").into_response();
        }
        return unlock_form_with(&app, o.remembered_user(), n.ok.as_deref(), None);
    }
    unlock_form_with(&app, None, n.ok.as_deref(), None)
}

#[derive(Deserialize)]
pub(crate) struct UnlockForm {
    passphrase: String,
    user_id: Option<String>,
    user_password: Option<String>,
    kj_id: Option<String>,
    kj_password: Option<String>,
    remember: Option<String>,
}

fn parse_creds(f: &UnlockForm) -> Result<Option<Credentials>, String> {
    let filled = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match (filled(&f.user_id), filled(&f.kj_id)) {
        (None, None) => Ok(None),
        (Some(u), Some(k)) => Ok(Some(Credentials {
            user_id: u.parse().map_err(|e: renkei_ids::IdError| e.to_string())?,
            user_password: f.user_password.clone().unwrap_or_default(),
            kj_id: k.parse().map_err(|e: renkei_ids::IdError| e.to_string())?,
            kj_password: f.kj_password.clone().unwrap_or_default(),
        })),
        _ => Err("個人ユーザIDと介護電子請求用ユーザIDの両方を入力してください。".into()),
    }
}

pub(crate) async fn unlock(State(app): State<Shared>, Form(f): Form<UnlockForm>) -> Response {
    let existing = app.office.read().await.clone();
    let Some(home) = app.home.read().await.clone() else {
        return Redirect::to("/setup").into_response();
    };
    let office = match existing {
        // Kept open after a login that failed (wrong password): the passphrase must still be
        // the right one, or the form would let anyone at this screen in.
        Some(o) => match o.home().unlock(&f.passphrase) {
            Ok(_) => o,
            Err(ClientError::WrongPassphrase) => {
                return unlock_form(
                    &app,
                    o.remembered_user(),
                    Some("パスフレーズが違います。もう一度入力してください。"),
                )
            }
            Err(e) => return unlock_form(&app, o.remembered_user(), Some(&e.to_string())),
        },
        None => match Office::unlock(home, &f.passphrase).await {
            Ok(o) => Arc::new(o),
            Err(ClientError::NotEnrolled) => return Redirect::to("/enroll").into_response(),
            Err(ClientError::WrongPassphrase) => {
                return unlock_form(
                    &app,
                    None,
                    Some("パスフレーズが違います。もう一度入力してください。"),
                )
            }
            Err(e) => return unlock_form(&app, None, Some(&e.to_string())),
        },
    };
    let creds = match parse_creds(&f) {
        Ok(c) => c,
        Err(msg) => return unlock_form(&app, office.remembered_user(), Some(&msg)),
    };
    if creds.is_none() && !office.has_remembered_credentials() {
        *app.office.write().await = Some(office.clone());
        return unlock_form(&app, None, Some("ログイン情報を入力してください。"));
    }
    let remember = f.remember.is_some();
    let result = office.login(creds, remember).await;
    *app.office.write().await = Some(office.clone());
    match result {
        Ok(_) => Redirect::to("/inbox").into_response(),
        Err(e) => unlock_form(&app, office.remembered_user(), Some(&e.to_string())),
    }
}

pub(crate) async fn lock(State(app): State<Shared>) -> Response {
    if let Some(o) = app.office.write().await.take() {
        o.relay().forget();
    }
    Redirect::to("/unlock").into_response()
}

#[derive(Deserialize, Default)]
pub(crate) struct Notice {
    pub(crate) ok: Option<String>,
    pub(crate) err: Option<String>,
}

pub(crate) fn notices(n: &Notice) -> Markup {
    html! {
        @if let Some(m) = &n.ok { (message("ok", m)) }
        @if let Some(m) = &n.err { (message("err", m)) }
    }
}

pub(crate) fn back_with(path: &str, kind: &str, text: &str) -> Response {
    let q: String = url_encode(text);
    Redirect::to(&format!("{path}?{kind}={q}")).into_response()
}

pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(crate) async fn inbox(State(app): State<Shared>, Query(n): Query<Notice>) -> Page {
    let o = office(&app).await?;
    let items = match o.inbox(200).await {
        Ok(i) => i,
        Err(e) => return Ok(error_page(&o, "/inbox", "受信箱", &e)),
    };
    let unread = items.iter().filter(|i| i.unread).count();
    let waiting = items.iter().filter(|i| !i.message.state.is_final()).count();
    Ok(frame(
        "受信箱",
        Some(&name_of(&o)),
        "/inbox",
        html! {
            h1 { "受信箱" }
            (notices(&n))
            p { "新しいファイル: " strong #unread-count { (unread) } " 件" }
            @if waiting > 0 {
                form.card method="post" action="/inbox/import-all" {
                    p { "届いたファイルを、ファイル連番の順にまとめて取り込みます。取り込み先: " (o.home().import_dir().display()) }
                    button #import-all type="submit" { "すべて取り込む（" (waiting) "件）" }
                }
            }
            @if items.is_empty() {
                (message("info", "届いているファイルはありません。"))
            } @else {
                table #inbox {
                    tr { th { "状態" } th { "送信元" } th { "帳票" } th { "対象年月" } th { "利用者" } th { "届いた日時" } th { "操作" } }
                    @for i in &items {
                        tr data-message=(i.message.id) {
                            td {
                                @if i.unread { span.badge.new { "未読" } " " }
                                span class={"badge " (state_class(i.message.state.as_str()))} { (i.message.state.label_ja()) }
                                @if i.message.expiring_soon { br; span.badge.bad { "まもなく期限切れ" } }
                            }
                            td { (i.sender_name) br; span.muted { (i.message.sender) } }
                            td { (i.kinds.join("・")) }
                            td { (i.months.iter().map(|m| ym_ja(m)).collect::<Vec<_>>().join("、")) }
                            td { (i.clients.clone().unwrap_or_else(|| "（取り込み後に表示）".into())) }
                            td { (short_time(&rfc3339(i.message.stored_at))) }
                            td.actions {
                                @if !i.message.state.is_final() {
                                    form.inline method="post" action={"/inbox/" (i.message.id) "/import"} {
                                        button.import type="submit" { "取り込む" }
                                    }
                                    details {
                                        summary { "差し戻す" }
                                        form method="post" action={"/inbox/" (i.message.id) "/reject"} {
                                            label { "差し戻す理由" }
                                            textarea name="reason" required rows="2" {}
                                            button.danger type="submit" { "差し戻す" }
                                        }
                                    }
                                } @else {
                                    @for (idx, f) in i.message.files.iter().enumerate() {
                                        @if i.message.state.as_str() == "imported" {
                                            a.view href={"/inbox/" (i.message.id) "/view/" (idx)} target="_blank" { (kind_title(f)) "を表示" } br;
                                        }
                                    }
                                    @for r in &i.message.reasons {
                                        span.muted { (r.message.clone().unwrap_or_else(|| r.code.clone())) } br;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

pub(crate) fn state_class(s: &str) -> &'static str {
    match s {
        "imported" => "ok",
        "rejected" | "expired" | "failed" => "bad",
        _ => "",
    }
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn ym_ja(m: &str) -> String {
    if m.len() == 6 {
        format!("{}年{}月", &m[..4], m[4..].trim_start_matches('0'))
    } else {
        m.to_owned()
    }
}

pub(crate) fn kind_title(file: &str) -> String {
    renkei_format::FileName::parse(file)
        .map(|n| n.kind.title_ja().to_owned())
        .unwrap_or_else(|_| file.to_owned())
}

fn parse_id(id: &str) -> Result<MessageId, Response> {
    id.parse()
        .map_err(|_| pages::refused(StatusCode::NOT_FOUND, "ファイルが見つかりません。"))
}

pub(crate) async fn import_one(State(app): State<Shared>, Path(id): Path<String>) -> Page {
    let o = office(&app).await?;
    let id = parse_id(&id)?;
    Ok(match o.import(id, None).await {
        Ok(out) if out.state == "imported" => back_with(
            "/inbox",
            "ok",
            &format!("{}件のファイルを取り込みました。", out.written.len()),
        ),
        Ok(out) => back_with(
            "/inbox",
            "err",
            &format!(
                "ファイルに誤りがあったため差し戻しました: {}",
                Office::reasons_text(&out.reasons).join(" / ")
            ),
        ),
        Err(e) => back_with("/inbox", "err", &e.to_string()),
    })
}

pub(crate) async fn import_all(State(app): State<Shared>) -> Page {
    let o = office(&app).await?;
    Ok(match o.import_all(None).await {
        Ok(results) => {
            let ok = results
                .iter()
                .filter(|r| matches!(r, Ok(x) if x.state == "imported"))
                .count();
            let bad = results.len() - ok;
            if bad == 0 {
                back_with("/inbox", "ok", &format!("{ok}件を取り込みました。"))
            } else {
                back_with(
                    "/inbox",
                    "err",
                    &format!(
                        "{ok}件を取り込み、{bad}件は取り込めませんでした（差し戻し・エラー）。"
                    ),
                )
            }
        }
        Err(e) => back_with("/inbox", "err", &e.to_string()),
    })
}

#[derive(Deserialize)]
pub(crate) struct RejectForm {
    reason: String,
}

pub(crate) async fn reject_one(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Form(f): Form<RejectForm>,
) -> Page {
    let o = office(&app).await?;
    let id = parse_id(&id)?;
    let reasons = vec![RejectReason {
        file: None,
        line: None,
        item: None,
        code: "rejected_by_user".into(),
        message: Some(f.reason),
    }];
    Ok(match o.reject(id, reasons).await {
        Ok(_) => back_with("/inbox", "ok", "差し戻しました。相手先に理由が届きます。"),
        Err(e) => back_with("/inbox", "err", &e.to_string()),
    })
}

/// Render an imported file as its printed form (read back from the import folder).
pub(crate) async fn view_received(
    State(app): State<Shared>,
    Path((id, index)): Path<(String, usize)>,
) -> Page {
    let o = office(&app).await?;
    let not_found = || {
        pages::refused(
            StatusCode::NOT_FOUND,
            "このファイルは表示できません（取り込み済みのファイルだけ表示できます）。",
        )
    };
    let rec = o
        .db()
        .received(&id)
        .await
        .ok()
        .flatten()
        .ok_or_else(not_found)?;
    let name = rec.files.get(index).ok_or_else(not_found)?;
    let dir = rec.written_to.as_deref().ok_or_else(not_found)?;
    // The name comes from our own record of a verified envelope, but keep to plain names.
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(not_found());
    }
    let bytes = std::fs::read(std::path::Path::new(dir).join(name)).map_err(|_| not_found())?;
    render_file(name, &bytes, "/inbox")
}

pub(crate) fn render_file(name: &str, bytes: &[u8], back: &str) -> Page {
    match renkei_format::read_file(name, bytes) {
        Ok(doc) => Ok(pages::raw(pages::with_print_bar(
            renkei_format::render_html(&doc),
            back,
        ))),
        Err(e) => Err(pages::refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("帳票として読めません: {e}"),
        )),
    }
}

pub(crate) async fn send_page(State(app): State<Shared>, Query(n): Query<SendQuery>) -> Page {
    let o = office(&app).await?;
    let favs = o.db().favourites().await.unwrap_or_default();
    Ok(frame(
        "送信",
        Some(&name_of(&o)),
        "/send",
        html! {
            h1 { "ファイルを送る" }
            @if let Some(m) = &n.err { (message("err", m)) }
            form.card method="post" action="/send" enctype="multipart/form-data" {
                label for="to" { "送信先の事業所" }
                @if !favs.is_empty() {
                    select #to-fav name="to_fav" {
                        option value="" { "お気に入りから選ぶ" }
                        @for f in &favs {
                            option value=(f.office) selected[n.to.as_deref() == Some(f.office.as_str())] { (f.name) "（" (f.office) "）" }
                        }
                    }
                    p.muted { "または事業所番号を入力:" }
                }
                input #to type="text" name="to" inputmode="numeric" placeholder="例: 0300000005" value=[n.to.as_deref()];
                p.muted { "相手先は「相手先」の画面で探せます。ファイル名に書かれた送信先と同じである必要があります。" }
                label for="files" { "送るファイル（複数選べます。予定なら第6表・第7表・利用者補足情報をまとめて）" }
                input #files type="file" name="files" multiple accept=".csv,.CSV,.pdf,.PDF";
                label for="folder" { "または、フォルダごと選ぶ（介護ソフトの出力フォルダ。標準仕様の名前のファイルだけを送ります）" }
                input #folder type="file" name="folder" webkitdirectory multiple;
                label.check { input type="checkbox" name="override" value="1"; "誤りがあっても送る（記録に残ります）" }
                p { button #send type="submit" { "確認して送る" } }
            }
            p.muted { "送る前に、ファイルの中身を標準仕様どおりか確認します。誤りがあれば、行と項目を示して止めます。" }
        },
    )
    .into_response())
}

#[derive(Deserialize, Default)]
pub(crate) struct SendQuery {
    to: Option<String>,
    err: Option<String>,
}

pub(crate) async fn send(State(app): State<Shared>, mut form: Multipart) -> Page {
    let o = office(&app).await?;
    let mut to = String::new();
    let mut to_fav = String::new();
    let mut override_validation = false;
    let mut files = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Ok(back_with(
                    "/send",
                    "err",
                    &format!("ファイルを受け取れませんでした: {e}"),
                ))
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "folder" => {
                // A folder pick sends paths like "出力/UPPLAN_….CSV": keep the folder's own
                // files whose names follow the standard; skip sub-folders (sent/, failed/).
                let path = field.file_name().unwrap_or("").replace('\\', "/");
                let parts: Vec<&str> = path.split('/').collect();
                let fname = parts.last().copied().unwrap_or("").to_owned();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| back_with("/send", "err", &e.to_string()))?;
                if parts.len() <= 2 && renkei_format::FileName::parse(&fname).is_ok() {
                    files.push(UnitFile {
                        name: fname,
                        bytes: bytes.to_vec(),
                    });
                }
            }
            "files" => {
                let fname = field
                    .file_name()
                    .unwrap_or("")
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| back_with("/send", "err", &e.to_string()))?;
                if !fname.is_empty() {
                    files.push(UnitFile {
                        name: fname,
                        bytes: bytes.to_vec(),
                    });
                }
            }
            "to" => to = field.text().await.unwrap_or_default().trim().to_owned(),
            "to_fav" => to_fav = field.text().await.unwrap_or_default().trim().to_owned(),
            "override" => override_validation = true,
            _ => {}
        }
    }
    if to.is_empty() {
        to = to_fav;
    }
    let to_office: renkei_ids::OfficeNumber = match to.parse() {
        Ok(t) => t,
        Err(e) => return Ok(back_with("/send", "err", &format!("送信先: {e}"))),
    };
    if files.is_empty() {
        return Ok(back_with("/send", "err", "送るファイルを選んでください。"));
    }
    let units = match renkei_client::prepare_units(files.clone(), o.office()) {
        Ok(u) => u,
        Err(e) => return Ok(error_page(&o, "/send", "送信", &e)),
    };
    if let Some(u) = units.iter().find(|u| u.recipient != to_office) {
        return Ok(back_with(
            "/send",
            "err",
            &format!(
                "ファイル名の送信先（{}）と選んだ送信先（{}）が違います。",
                u.recipient, to_office
            ),
        ));
    }
    if !override_validation {
        let errors: Vec<_> = units.iter().flat_map(|u| u.errors()).collect();
        if !errors.is_empty() {
            return Ok(error_page(
                &o,
                "/send",
                "送信",
                &ClientError::Invalid(renkei_client::describe_findings(&errors)),
            ));
        }
    }
    let job = {
        let mut n = app
            .next_job
            .lock()
            .map_err(|_| pages::refused(StatusCode::INTERNAL_SERVER_ERROR, "内部エラー"))?;
        *n += 1;
        *n
    };
    if let Ok(mut jobs) = app.jobs.lock() {
        jobs.insert(job, Job::default());
    }
    let app2 = app.clone();
    tokio::spawn(async move {
        let app3 = app2.clone();
        let result = o
            .send_files(files, "ui", override_validation, move |p| {
                if let Ok(mut jobs) = app3.jobs.lock() {
                    if let Some(j) = jobs.get_mut(&job) {
                        let state = stage_text(&p.stage);
                        match j.lines.iter_mut().find(|l| l.0 == p.file_seq) {
                            Some(l) => l.2 = state,
                            None => j
                                .lines
                                .push((p.file_seq.clone(), p.recipient.clone(), state)),
                        }
                    }
                }
            })
            .await;
        if let Ok(mut jobs) = app2.jobs.lock() {
            if let Some(j) = jobs.get_mut(&job) {
                j.done = true;
                match result {
                    Ok((ids, _)) => j.send_ids = ids,
                    Err(e) => j.error = Some(e.to_string()),
                }
            }
        }
    });
    Ok(Redirect::to(&format!("/send/jobs/{job}")).into_response())
}

fn stage_text(s: &SendStage) -> String {
    match s {
        SendStage::Queued => "順番待ち".into(),
        SendStage::Sealing => "暗号化しています…".into(),
        SendStage::Uploading => "送信しています…".into(),
        SendStage::Stored { .. } => "送信しました（中継サーバーが受け付けました）".into(),
        SendStage::Waiting(_) => {
            "接続できないため送信待ちにしました（接続が戻ると自動で送ります）".into()
        }
        SendStage::Failed(why) => format!("送れませんでした: {why}"),
    }
}

/// Progress page: reloads itself every second until the batch is done (no script needed).
pub(crate) async fn send_job(State(app): State<Shared>, Path(job): Path<u64>) -> Page {
    let o = office(&app).await?;
    let j = app
        .jobs
        .lock()
        .ok()
        .and_then(|m| m.get(&job).cloned())
        .ok_or_else(|| {
            pages::refused(
                StatusCode::NOT_FOUND,
                "この送信の進み具合は表示できません。",
            )
        })?;
    let page = frame(
        "送信中",
        Some(&name_of(&o)),
        "/send",
        html! {
            h1 { @if j.done { "送信の結果" } @else { "送信しています…" } }
            @if let Some(e) = &j.error { (message("err", e)) }
            table #progress {
                tr { th { "ファイル連番" } th { "送信先" } th { "状態" } }
                @for (seq, to, state) in &j.lines {
                    tr { td { (seq) } td { (to) } td.state { (state) } }
                }
            }
            @if j.done {
                @if j.error.is_none() { (message("ok", "送信の処理が終わりました。相手が受け取ると「送信履歴」に受領の記録が増えます。")) }
                p.row {
                    a.btn href="/history" id="to-history" { "送信履歴を見る" }
                    a.btn.sub href="/send" { "続けて送る" }
                }
            }
        },
    );
    let mut resp = page.into_response();
    if !j.done {
        resp.headers_mut()
            .insert("refresh", axum::http::HeaderValue::from_static("1"));
    }
    Ok(resp)
}
