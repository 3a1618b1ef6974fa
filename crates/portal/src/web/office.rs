//! The office's pages: login, password change, home ("利用申請可能です"), certificates, notices,
//! 端末変更, 利用申請, and the client download.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use renkei_ids::KjUserId;
use renkei_store::{now_millis, KjAccount};

use super::ui::{csrf_field, datetime_ja, page, yen};
use super::{
    check_form, csrf, csrf_refused_page, ensure, error_page, start_session, with_cookie,
    CsrfRefused, Ctx, PortalState,
};
use crate::{ApplicationForm, EnrollRequestJson, PortalError, PortalService};

type FormMap = Form<HashMap<String, String>>;

fn get<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
}

fn err_line(e: Option<&str>) -> Markup {
    html! { @if let Some(e) = e { p class="error" id="error" role="alert" { (e) } } }
}

/// Logged-in office context, or the response that sends the visitor elsewhere.
async fn office_ctx(
    state: &PortalState,
    headers: &HeaderMap,
    allow_temporary: bool,
) -> Result<(Ctx, KjAccount), Response> {
    let ctx = match ensure(state, headers).await {
        Ok(c) => c,
        Err(e) => return Err(error_page(&e, "/")),
    };
    if !ctx.is_office() {
        return Err(with_cookie(&ctx, Redirect::to("/login")));
    }
    let account = match ctx.session.subject.parse::<KjUserId>() {
        Ok(id) => state.service.store().kj_account(&id).await.ok().flatten(),
        Err(_) => None,
    };
    let Some(account) = account else {
        return Err(Redirect::to("/login").into_response());
    };
    if account.password_temporary && !allow_temporary {
        return Err(Redirect::to("/password").into_response());
    }
    Ok((ctx, account))
}

pub(crate) async fn top(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let logged_in = super::current(&state, &headers)
        .await
        .ok()
        .flatten()
        .is_some_and(|s| s.role != "anonymous");
    page(
        "ようこそ",
        logged_in,
        html! {
            p { "ケアプランデータ連携を始めるための手続きを、このポータルだけで行えます。" }
            ol {
                li { "国保連から届いた「電子請求登録結果に関するお知らせ」のユーザIDと仮パスワードでログイン" }
                li { "パスワードを変更" }
                li { "連携クライアントをダウンロードして、電子証明書を発行（無料の「請求委任事業所用ケアプラン証明書」で足ります）" }
                li { "利用申請をして、個人ユーザID（c から始まるID）を受け取る" }
            }
            a class="button" id="office-login-link" href="/login" { "事業所ログイン" }
            a class="button secondary" id="download-link" href="/download" { "クライアントのダウンロード" }
            a class="button secondary" id="operator-login-link" href="/operator/login" { "国保連（運用者）ログイン" }
        },
    )
    .into_response()
}

async fn render_login(
    state: &PortalState,
    ctx: &Ctx,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = match csrf(state, ctx).await {
        Ok(t) => t,
        Err(e) => return error_page(&e, "/"),
    };
    let body = html! {
        (err_line(error))
        form method="post" action="/login" id="login-form" {
            (csrf_field(&token))
            label for="kj_id" { "介護電子請求用ユーザID（KJ で始まる14文字）" }
            input type="text" id="kj_id" name="kj_id" autocomplete="username" placeholder="KJ000000000000" required;
            label for="password" { "パスワード" }
            input type="password" id="password" name="password" autocomplete="current-password" required;
            button type="submit" id="login-button" { "ログイン" }
        }
        p { "IDやパスワードがわからない場合は、国保連に再発行を依頼してください。" }
    };
    with_cookie(ctx, (status, page("事業所ログイン", false, body)))
}

pub(crate) async fn login_page(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    match ensure(&state, &headers).await {
        Ok(ctx) => render_login(&state, &ctx, None, StatusCode::OK).await,
        Err(e) => error_page(&e, "/"),
    }
}

pub(crate) async fn login(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let ctx = match check_form(&state, &headers, &f).await {
        Ok(Ok(c)) => c,
        Ok(Err(CsrfRefused)) => return csrf_refused_page(),
        Err(e) => return error_page(&e, "/login"),
    };
    match state
        .service
        .kj_login(get(&f, "kj_id"), get(&f, "password"), now_millis())
        .await
    {
        Ok(outcome) => {
            match start_session(&state, "office", outcome.kj_id.as_str(), Some(&ctx.session)).await
            {
                Ok(new_ctx) => with_cookie(
                    &new_ctx,
                    Redirect::to(if outcome.must_change_password {
                        "/password"
                    } else {
                        "/office"
                    }),
                ),
                Err(e) => error_page(&e, "/login"),
            }
        }
        Err(e @ (PortalError::Store(_) | PortalError::Internal(_))) => error_page(&e, "/login"),
        Err(e) => render_login(&state, &ctx, Some(&e.to_string()), e.status()).await,
    }
}

async fn render_password(
    state: &PortalState,
    ctx: &Ctx,
    account: &KjAccount,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = match csrf(state, ctx).await {
        Ok(t) => t,
        Err(e) => return error_page(&e, "/"),
    };
    let body = html! {
        @if account.password_temporary { p class="warn" id="temporary-warning" { "仮パスワードのままでは手続きを進められません。新しいパスワードに変更してください。" } }
        (err_line(error))
        form method="post" action="/password" id="password-form" {
            (csrf_field(&token))
            label for="current_password" { "現在のパスワード（仮パスワード）" }
            input type="password" id="current_password" name="current_password" autocomplete="current-password" required;
            label for="new_password" { "新しいパスワード" }
            input type="password" id="new_password" name="new_password" autocomplete="new-password" required;
            label for="new_password_confirm" { "新しいパスワード（確認のためもう一度）" }
            input type="password" id="new_password_confirm" name="new_password_confirm" autocomplete="new-password" required;
            p { "10文字以上、英大文字・英小文字・数字・記号のうち3種類以上。ユーザIDを含めないでください。" }
            button type="submit" id="change-password-button" { "パスワードを変更する" }
        }
    };
    with_cookie(ctx, (status, page("パスワードの変更", true, body)))
}

pub(crate) async fn password_page(
    State(state): State<PortalState>,
    headers: HeaderMap,
) -> Response {
    match office_ctx(&state, &headers, true).await {
        Ok((ctx, account)) => render_password(&state, &ctx, &account, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

pub(crate) async fn change_password(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let ctx = match check_form(&state, &headers, &f).await {
        Ok(Ok(c)) if c.is_office() => c,
        Ok(Ok(_)) => return Redirect::to("/login").into_response(),
        Ok(Err(CsrfRefused)) => return csrf_refused_page(),
        Err(e) => return error_page(&e, "/password"),
    };
    let Ok(kj_id) = ctx.session.subject.parse::<KjUserId>() else {
        return Redirect::to("/login").into_response();
    };
    let Ok(Some(account)) = state.service.store().kj_account(&kj_id).await else {
        return Redirect::to("/login").into_response();
    };
    if get(&f, "new_password") != get(&f, "new_password_confirm") {
        return render_password(
            &state,
            &ctx,
            &account,
            Some("確認用のパスワードが一致しません / the confirmation does not match"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    match state
        .service
        .change_kj_password(
            &kj_id,
            get(&f, "current_password"),
            get(&f, "new_password"),
            now_millis(),
        )
        .await
    {
        Ok(()) => Redirect::to("/office").into_response(),
        Err(e @ (PortalError::Store(_) | PortalError::Internal(_))) => error_page(&e, "/password"),
        Err(e) => render_password(&state, &ctx, &account, Some(&e.to_string()), e.status()).await,
    }
}

pub(crate) async fn home(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let (ctx, account) = match office_ctx(&state, &headers, false).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let now = now_millis();
    let s = &state.service;
    let result: Result<Markup, PortalError> = async {
        let office = s.store().office(&account.office).await?.ok_or_else(|| PortalError::not_found("事業所がありません", "no office"))?;
        let certs = s.certificate_status(&account.office, now).await?;
        let can_apply = s.can_apply(&account.office, now).await?;
        let apps = s.store().usage_applications_for_office(&account.office).await?;
        let users = s.store().personal_users_for_office(&account.office).await?;
        let devices = s.store().active_devices(&account.office).await?;
        let token = csrf(&state, &ctx).await?;
        let token2 = csrf(&state, &ctx).await?;
        Ok(html! {
            p { (office.name) "（介護保険事業所番号 " (office.number) "）" }
            @if can_apply {
                p class="ok" id="can-apply" { "利用申請可能です" }
                a class="button" id="apply-link" href="/office/apply" { "利用申請へ進む" }
            } @else if !apps.is_empty() {
                p class="ok" id="applied" { "利用申請は完了しています（" (datetime_ja(apps[0].completed_at)) "）" }
            } @else {
                p class="warn" id="need-certificate" { "利用申請には有効な電子証明書が必要です。まず証明書を発行してください。" }
            }
            h2 { "電子証明書" }
            @if certs.is_empty() { p { "まだ発行されていません。" } }
            @else {
                table id="certificates" {
                    tr { th { "種類" } th { "シリアル" } th { "有効期限" } th { "状態" } }
                    @for c in &certs {
                        tr {
                            td { (match c.record.profile { renkei_store::CertProfile::Kaigo => "介護保険証明書", _ => "請求委任事業所用ケアプラン証明書" }) }
                            td { code { (c.record.serial) } }
                            td { (datetime_ja(c.record.not_after)) }
                            td {
                                @if c.record.revoked_at.is_some() { span class="error" { "失効" } }
                                @else if !c.valid { span class="error" { "期限切れ" } }
                                @else if let Some(w) = c.warning { span class="warn" { "有効（残り" (c.days_left) "日：" (w) "日前のお知らせ。更新してください）" } }
                                @else { span class="ok" { "有効" } }
                            }
                        }
                    }
                }
            }
            a class="button" id="certificates-link" href="/office/certificates" { "証明書の発行・説明" }
            h2 { "個人ユーザID（連携クライアントのログインに使います）" }
            @if users.is_empty() { p { "利用申請が完了すると表示されます。" } }
            @else { ul id="personal-users" { @for u in &users { li { span class="secret" { (u.user_id) } " " (u.display_name) } } } }
            h2 { "端末（連携クライアントをインストールしたパソコン）" }
            @if devices.is_empty() { p { "登録されている端末はありません。" } }
            @else {
                ul id="devices" { @for d in &devices { li { (d.label) "（" (datetime_ja(d.bound_at)) " 登録）" } } }
                form method="post" action="/office/device-change" id="device-change-form" {
                    (csrf_field(&token))
                    p { "パソコンを買い替えたときは「端末変更」で今の端末を解除してください。解除した端末の証明書は失効し、新しいパソコンで証明書を発行できるようになります。" }
                    button type="submit" class="danger" id="device-change-button" { "端末変更（今の端末を解除する）" }
                }
            }
            p { a href="/office/notices" id="notices-link" { "お知らせ（証明書発行用パスワードの再発行など）" } " ・ " a href="/password" { "パスワードの変更" } " ・ " a href="/download" { "クライアントのダウンロード" } }
            form method="post" action="/logout" id="logout-form" { (csrf_field(&token2)) button type="submit" class="secondary" id="logout-button" { "ログアウト" } }
        })
    }
    .await;
    match result {
        Ok(body) => with_cookie(&ctx, page("事業所のページ", true, body)),
        Err(e) => error_page(&e, "/"),
    }
}

async fn render_certificates(
    state: &PortalState,
    ctx: &Ctx,
    account: &KjAccount,
    message: Option<Markup>,
    status: StatusCode,
) -> Response {
    let (t1, t2) = match (csrf(state, ctx).await, csrf(state, ctx).await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return error_page(&e, "/office"),
    };
    let body = html! {
        @if let Some(m) = message { (m) }
        p { "連携クライアントで使える電子証明書は2種類あります。" strong { "ケアプランのやり取りだけなら、無料の「請求委任事業所用ケアプラン証明書」で足ります。" } }
        div class="cards" {
            div class="card recommended" id="card-careplan" {
                span class="badge" { "おすすめ・無料" }
                h2 { "請求委任事業所用ケアプラン証明書" }
                p { "ケアプランデータ連携専用。費用はかかりません。" }
                p { "介護給付費の電子請求を自分で行わない（請求を委任している）事業所や、ケアプランのやり取りだけをしたい事業所向けです。" }
            }
            div class="card" id="card-kaigo" {
                h2 { "介護保険証明書" }
                p { "介護給付費の電子請求全般に使う証明書です。" strong { "有料：13,200円（税込）、有効期間3年。" } }
                p { "すでに電子請求で使っている場合や、電子請求にも使いたい場合だけ選んでください。" }
            }
        }
        h2 { "証明書の発行" }
        p { "証明書は、連携クライアントをインストールしたパソコンで作った鍵から発行します（秘密鍵はパソコンの外に出ません）。通常はクライアントの「証明書の発行」画面から行います。クライアントが表示した「発行申請データ」を貼り付けて、ここから発行することもできます。" }
        form method="post" action="/office/certificates" id="certificate-form" {
            (csrf_field(&t1))
            label { input type="radio" name="cert_type" value="careplan" id="cert_type_careplan" checked; " 請求委任事業所用ケアプラン証明書（無料・おすすめ）" }
            label { input type="radio" name="cert_type" value="kaigo" id="cert_type_kaigo"; " 介護保険証明書（13,200円・3年）" }
            label for="issuance_password" { "証明書発行用パスワード（登録結果のお知らせに記載）" }
            input type="password" id="issuance_password" name="issuance_password" required;
            label for="enrollment_request" { "発行申請データ（クライアントが表示したもの）" }
            textarea id="enrollment_request" name="enrollment_request" required {}
            label for="device_label" { "パソコンの名前（任意）" }
            input type="text" id="device_label" name="device_label";
            button type="submit" id="issue-certificate-button" { "証明書を発行する" }
        }
        h2 { "証明書発行用パスワードがわからないとき" }
        form method="post" action="/office/issuance-password" id="issuance-reissue-form" {
            (csrf_field(&t2))
            p { "再発行した証明書発行用パスワードは「お知らせ」に届きます。お知らせは、あなたのログインパスワードでしか開けません。" }
            label for="kj_password" { "確認のため、ログインパスワードを入力してください" }
            input type="password" id="kj_password" name="kj_password" required;
            button type="submit" class="secondary" id="reissue-issuance-button" { "証明書発行用パスワードを再発行する" }
        }
        p { a href="/office" { "事業所のページに戻る" } }
    };
    let _ = account;
    with_cookie(ctx, (status, page("電子証明書", true, body)))
}

pub(crate) async fn certificates_page(
    State(state): State<PortalState>,
    headers: HeaderMap,
) -> Response {
    match office_ctx(&state, &headers, false).await {
        Ok((ctx, account)) => {
            render_certificates(&state, &ctx, &account, None, StatusCode::OK).await
        }
        Err(r) => r,
    }
}

/// The pasted enrollment data: the JSON the client prints (`csr_pem`, `encryption_key`, `proof`).
#[derive(serde::Deserialize)]
struct PastedRequest {
    csr_pem: String,
    encryption_key: String,
    proof: String,
}

/// Common start of a POST on an office page.
async fn office_post(
    state: &PortalState,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<(Ctx, KjAccount), Response> {
    match check_form(state, headers, f).await {
        Ok(Ok(c)) if c.is_office() => {
            let (ctx, account) = office_ctx(state, headers, false).await?;
            let _ = c;
            Ok((ctx, account))
        }
        Ok(Ok(_)) => Err(Redirect::to("/login").into_response()),
        Ok(Err(CsrfRefused)) => Err(csrf_refused_page()),
        Err(e) => Err(error_page(&e, "/office")),
    }
}

pub(crate) async fn issue_certificate(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let (ctx, account) = match office_post(&state, &headers, &f).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let pasted: PastedRequest = match serde_json::from_str(get(&f, "enrollment_request").trim()) {
        Ok(p) => p,
        Err(_) => {
            let m = html! { p class="error" id="error" { "発行申請データの形式が正しくありません。クライアントが表示した内容をそのまま貼り付けてください / malformed enrollment data" } };
            return render_certificates(&state, &ctx, &account, Some(m), StatusCode::BAD_REQUEST)
                .await;
        }
    };
    let req = EnrollRequestJson {
        kj_id: account.kj_id.to_string(),
        issuance_password: get(&f, "issuance_password").to_owned(),
        cert_type: get(&f, "cert_type").to_owned(),
        csr_pem: pasted.csr_pem,
        encryption_key: pasted.encryption_key,
        proof: pasted.proof,
        device_label: get(&f, "device_label").to_owned(),
    };
    match state.service.issue_certificate(&req, now_millis()).await {
        Ok(issued) => {
            let m = html! {
                p class="ok" id="issued" { "証明書を発行しました（シリアル " code { (issued.serial) } "）。次の内容をクライアントに読み込ませてください。" }
                textarea id="certificate_pem" readonly { (issued.certificate_pem) }
                p { a class="button" href="/office" id="back-home" { "事業所のページへ（利用申請）" } }
            };
            render_certificates(&state, &ctx, &account, Some(m), StatusCode::OK).await
        }
        Err(e @ (PortalError::Store(_) | PortalError::Internal(_))) => {
            error_page(&e, "/office/certificates")
        }
        Err(e) => {
            let m = html! { p class="error" id="error" role="alert" { (e.to_string()) } };
            render_certificates(&state, &ctx, &account, Some(m), e.status()).await
        }
    }
}

pub(crate) async fn reissue_issuance_password(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let (ctx, account) = match office_post(&state, &headers, &f).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state
        .service
        .reissue_issuance_password(&account.kj_id, get(&f, "kj_password"), now_millis())
        .await
    {
        Ok(_) => Redirect::to("/office/notices").into_response(),
        Err(e @ (PortalError::Store(_) | PortalError::Internal(_))) => {
            error_page(&e, "/office/certificates")
        }
        Err(e) => {
            let m = html! { p class="error" id="error" role="alert" { (e.to_string()) } };
            render_certificates(&state, &ctx, &account, Some(m), e.status()).await
        }
    }
}

async fn render_notices(
    state: &PortalState,
    ctx: &Ctx,
    account: &KjAccount,
    opened: Option<Markup>,
    status: StatusCode,
) -> Response {
    let result: Result<Markup, PortalError> = async {
        let notices = state.service.store().notices_for_office(&account.office).await?;
        let mut forms = Vec::new();
        for n in &notices {
            forms.push((n, csrf(state, ctx).await?));
        }
        Ok(html! {
            @if let Some(o) = opened { (o) }
            @if notices.is_empty() { p { "お知らせはありません。" } }
            @for (n, token) in &forms {
                div class="card" {
                    p { (datetime_ja(n.created_at)) " — " (if n.kind == "issuance_password" { "証明書発行用パスワードの再発行" } else { "お知らせ" }) @if n.read_at.is_none() { " " span class="badge" { "未読" } } }
                    form method="post" action="/office/notices/open" class="open-notice-form" {
                        (csrf_field(token))
                        input type="hidden" name="notice_id" value=(n.id);
                        label for={"password-" (n.id)} { "ログインパスワードを入力して開く" }
                        input type="password" id={"password-" (n.id)} name="kj_password" required;
                        button type="submit" class="open-notice-button" { "開く" }
                    }
                }
            }
            p { a href="/office" { "事業所のページに戻る" } }
        })
    }
    .await;
    match result {
        Ok(body) => with_cookie(ctx, (status, page("お知らせ", true, body))),
        Err(e) => error_page(&e, "/office"),
    }
}

pub(crate) async fn notices_page(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    match office_ctx(&state, &headers, false).await {
        Ok((ctx, account)) => render_notices(&state, &ctx, &account, None, StatusCode::OK).await,
        Err(r) => r,
    }
}

pub(crate) async fn open_notice(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let (ctx, account) = match office_post(&state, &headers, &f).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (m, status) = match state
        .service
        .open_notice(
            &account.kj_id,
            get(&f, "kj_password"),
            get(&f, "notice_id"),
            now_millis(),
        )
        .await
    {
        Ok(text) => (
            html! { div class="notice" id="opened-notice" { p class="secret" { (text) } } },
            StatusCode::OK,
        ),
        Err(e) => (
            html! { p class="error" id="error" role="alert" { (e.public_message()) } },
            e.status(),
        ),
    };
    render_notices(&state, &ctx, &account, Some(m), status).await
}

pub(crate) async fn device_change(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let (_ctx, account) = match office_post(&state, &headers, &f).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match state
        .service
        .change_device(account.kj_id.as_str(), &account.office, now_millis())
        .await
    {
        Ok(_) => Redirect::to("/office").into_response(),
        Err(e) => error_page(&e, "/office"),
    }
}

async fn render_apply(
    state: &PortalState,
    ctx: &Ctx,
    account: &KjAccount,
    f: &ApplicationForm,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let s = &state.service;
    let now = now_millis();
    let result: Result<Markup, PortalError> = async {
        if !s.can_apply(&account.office, now).await? {
            return Err(if s.store().usage_applications_for_office(&account.office).await?.is_empty() { PortalError::NoValidCertificate } else { PortalError::AlreadyApplied });
        }
        let quote = s.quote(false, now)?;
        let token = csrf(state, ctx).await?;
        Ok(html! {
            p class="ok" { "利用申請可能です" }
            (err_line(error))
            form method="post" action="/office/apply" id="apply-form" {
                (csrf_field(&token))
                label for="contact_name" { "担当者名" }
                input type="text" id="contact_name" name="contact_name" value=(f.contact_name) required;
                label for="contact_email" { "担当者メールアドレス" }
                input type="email" id="contact_email" name="contact_email" value=(f.contact_email) required;
                label for="contact_phone" { "担当者電話番号" }
                input type="tel" id="contact_phone" name="contact_phone" value=(f.contact_phone) required;
                h2 { "利用規約" }
                div class="scroll" id="terms" {
                    p { "第1条 本サービスは、介護サービス事業所間でケアプラン標準仕様のデータを安全にやり取りするためのものです。" }
                    p { "第2条 利用者は、ユーザID・パスワード・電子証明書を適切に管理し、第三者に利用させないものとします。" }
                    p { "第3条 利用料は、1事業所番号あたり年額21,000円（税込）です。キャンペーン期間中の申請・更新は無料です。" }
                    p { "第4条 送受信したデータの記録（受領証・監査ログ）は、運営指導等で提示できる形で保存されます。" }
                }
                label { input type="checkbox" id="agree_terms" name="agree_terms" value="on"; " 利用規約に同意します" }
                h2 { "個人情報の取扱い" }
                div class="scroll" id="privacy" {
                    p { "中継サーバは暗号化されたデータだけを保管し、ケアプランの内容を読むことはできません。" }
                    p { "申請時の担当者情報は、利用料の請求と連絡のためだけに使用します。" }
                }
                label { input type="checkbox" id="agree_privacy" name="agree_privacy" value="on"; " 個人情報の取扱いに同意します" }
                h2 { "利用料金" }
                div class="card" id="fee-message" {
                    p { "年間利用料：" strong { (yen(s.config().ledger.annual_fee_yen)) "（税込）" } }
                    p { "今日申請した場合の利用料：" strong id="fee-today" { (yen(quote.amount_yen)) } @if quote.campaign.is_some() { "（フリーパスキャンペーン適用）" } }
                    p { "請求月：" (quote.claim_month.year()) "年" (quote.claim_month.month()) "月分（毎月1日〜15日の申請はその月分、16日以降は翌月分）。翌月に支払われる介護給付費から差し引かれます。" }
                    @if quote.auto_renew { p { "1年ごとに自動更新されます（次回 " (renkei_ledger::dates::format_date_ja(quote.period_end.next_day().unwrap_or(quote.period_end))) "）。" } }
                }
                label { input type="checkbox" id="invoice" name="invoice" value="on"; " 介護給付費からの差し引きではなく、請求書での支払いを希望する" }
                label { input type="checkbox" id="confirm_fee" name="confirm_fee" value="on"; " 利用料金について確認しました" }
                button type="submit" id="apply-button" { "利用申請する" }
            }
        })
    }
    .await;
    match result {
        Ok(body) => with_cookie(ctx, (status, page("利用申請", true, body))),
        Err(e) => error_page(&e, "/office"),
    }
}

pub(crate) async fn apply_page(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    match office_ctx(&state, &headers, false).await {
        Ok((ctx, account)) => {
            render_apply(
                &state,
                &ctx,
                &account,
                &ApplicationForm::default(),
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(r) => r,
    }
}

pub(crate) async fn apply(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let (ctx, account) = match office_post(&state, &headers, &f).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let checked = |k: &str| {
        f.get(k)
            .is_some_and(|v| v == "on" || v == "true" || v == "1")
    };
    let form = ApplicationForm {
        contact_name: get(&f, "contact_name").to_owned(),
        contact_email: get(&f, "contact_email").to_owned(),
        contact_phone: get(&f, "contact_phone").to_owned(),
        invoice: checked("invoice"),
        agree_terms: checked("agree_terms"),
        agree_privacy: checked("agree_privacy"),
        confirm_fee: checked("confirm_fee"),
    };
    match state
        .service
        .apply(&account.kj_id, &form, now_millis())
        .await
    {
        Ok(o) => {
            let body = html! {
                p class="ok" id="application-complete" { "利用申請が完了しました。" }
                table {
                    tr { th { "受付番号" } td { code id="application-id" { (o.application.id) } } }
                    tr { th { "受付日時" } td { (datetime_ja(o.application.completed_at)) } }
                    tr { th { "個人ユーザID" } td { span class="secret" id="personal-user-id" { (o.personal_user_id) } } }
                    tr { th { "個人ユーザのパスワード" } td { span class="secret" id="personal-password" { (o.personal_password) } } }
                    tr { th { "利用料" } td { (yen(o.license.amount_yen)) " / " (o.license.claim_month.year()) "年" (o.license.claim_month.month()) "月請求分（" (o.license.billing.label_ja()) "）" } }
                }
                p { "連携クライアントには、最初に個人ユーザIDとパスワード、次に事業所のKJ IDとパスワードでログインします。このページを印刷するか保存してください（パスワードはこの画面でしか表示されません）。" }
                a class="button" href="/download" id="download-after-apply" { "クライアントをダウンロードする" }
                a class="button secondary" href="/office" { "事業所のページへ" }
            };
            page("利用申請の完了", true, body).into_response()
        }
        Err(e @ PortalError::Invalid { .. }) => {
            render_apply(
                &state,
                &ctx,
                &account,
                &form,
                Some(&e.to_string()),
                e.status(),
            )
            .await
        }
        Err(e) => error_page(&e, "/office"),
    }
}

async fn render_download(
    state: &PortalState,
    ctx: &Ctx,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = match csrf(state, ctx).await {
        Ok(t) => t,
        Err(e) => return error_page(&e, "/"),
    };
    let os = std::env::consts::OS;
    let body = html! {
        p { "ダウンロードの前に、事業所名と介護保険事業所番号を入力してください（登録内容と一致する必要があります）。" }
        (err_line(error))
        form method="post" action="/download" id="download-form" {
            (csrf_field(&token))
            label for="organisation" { "事業所名" }
            input type="text" id="organisation" name="organisation" required;
            label for="office_number" { "介護保険事業所番号（半角数字10桁）" }
            input type="text" id="office_number" name="office_number" inputmode="numeric" required;
            label for="os" { "お使いのパソコン" }
            select id="os" name="os" {
                option value="windows" selected[os == "windows"] { "Windows" }
                option value="macos" selected[os == "macos"] { "Mac" }
                option value="linux" selected[os == "linux"] { "Linux" }
            }
            button type="submit" id="download-button" { "ダウンロード" }
        }
    };
    with_cookie(
        ctx,
        (status, page("クライアントのダウンロード", false, body)),
    )
}

pub(crate) async fn download_page(
    State(state): State<PortalState>,
    headers: HeaderMap,
) -> Response {
    match ensure(&state, &headers).await {
        Ok(ctx) => render_download(&state, &ctx, None, StatusCode::OK).await,
        Err(e) => error_page(&e, "/"),
    }
}

pub(crate) async fn download(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let ctx = match check_form(&state, &headers, &f).await {
        Ok(Ok(c)) => c,
        Ok(Err(CsrfRefused)) => return csrf_refused_page(),
        Err(e) => return error_page(&e, "/download"),
    };
    let svc: &PortalService = &state.service;
    match svc
        .client_download(
            get(&f, "organisation"),
            get(&f, "office_number"),
            get(&f, "os"),
            now_millis(),
        )
        .await
    {
        Ok(build) => match tokio::fs::read(&build.path).await {
            Ok(bytes) => (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{}\"", build.file_name),
                    ),
                ],
                bytes,
            )
                .into_response(),
            Err(e) => error_page(&PortalError::Internal(e.to_string()), "/download"),
        },
        Err(e @ (PortalError::Store(_) | PortalError::Internal(_))) => error_page(&e, "/download"),
        Err(e) => render_download(&state, &ctx, Some(&e.to_string()), e.status()).await,
    }
}
