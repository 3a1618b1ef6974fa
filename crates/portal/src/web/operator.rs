//! The operator's (国保連) pages: login, office list, registration (single and CSV), password
//! re-issue, revocation, 端末変更 on an office's behalf, and the month's charges as CSV.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use renkei_ids::{OfficeNumber, YearMonth};
use renkei_store::{now_millis, CountScope, MessageState, OfficeQuery};

use super::ui::{csrf_field, page, registration_notice};
use super::{
    check_form, csrf, csrf_refused_page, ensure, error_page, start_session, with_cookie,
    CsrfRefused, Ctx, PortalState,
};
use crate::{NewOffice, PortalError};

type FormMap = Form<HashMap<String, String>>;

fn get<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
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
        @if let Some(e) = error { p class="error" id="error" role="alert" { (e) } }
        form method="post" action="/operator/login" id="operator-login-form" {
            (csrf_field(&token))
            label for="login" { "ログイン名" }
            input type="text" id="login" name="login" autocomplete="username" required;
            label for="password" { "パスワード" }
            input type="password" id="password" name="password" autocomplete="current-password" required;
            button type="submit" id="operator-login-button" { "ログイン" }
        }
    };
    with_cookie(ctx, (status, page("国保連（運用者）ログイン", false, body)))
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
        Err(e) => return error_page(&e, "/operator/login"),
    };
    match state
        .service
        .operator_login(get(&f, "login"), get(&f, "password"), now_millis())
        .await
    {
        Ok(op) => match start_session(&state, "operator", &op.login, Some(&ctx.session)).await {
            Ok(new_ctx) => with_cookie(&new_ctx, Redirect::to("/operator")),
            Err(e) => error_page(&e, "/operator/login"),
        },
        Err(e @ (PortalError::Store(_) | PortalError::Internal(_))) => {
            error_page(&e, "/operator/login")
        }
        Err(e) => render_login(&state, &ctx, Some(&e.to_string()), e.status()).await,
    }
}

async fn operator_ctx(state: &PortalState, headers: &HeaderMap) -> Result<Ctx, Response> {
    match ensure(state, headers).await {
        Ok(ctx) if ctx.is_operator() => Ok(ctx),
        Ok(ctx) => Err(with_cookie(&ctx, Redirect::to("/operator/login"))),
        Err(e) => Err(error_page(&e, "/")),
    }
}

async fn operator_post(
    state: &PortalState,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<Ctx, Response> {
    match check_form(state, headers, f).await {
        Ok(Ok(c)) if c.is_operator() => Ok(c),
        Ok(Ok(_)) => Err(Redirect::to("/operator/login").into_response()),
        Ok(Err(CsrfRefused)) => Err(csrf_refused_page()),
        Err(e) => Err(error_page(&e, "/operator")),
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: u32,
}

pub(crate) async fn offices(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Query(lq): Query<ListQuery>,
) -> Response {
    let ctx = match operator_ctx(&state, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result: Result<Markup, PortalError> = async {
        let q = lq.q.trim();
        let query = OfficeQuery {
            number_prefix: (!q.is_empty() && q.bytes().all(|b| b.is_ascii_digit())).then(|| q.to_owned()),
            name_contains: (!q.is_empty() && !q.bytes().all(|b| b.is_ascii_digit())).then(|| q.to_owned()),
            limit: 50,
            offset: lq.page.saturating_mul(50),
            ..Default::default()
        };
        let list = state.service.store().search_offices(&query).await?;
        let mut tokens = Vec::new();
        for _ in 0..5 {
            tokens.push(csrf(&state, &ctx).await?);
        }
        let default_month = renkei_ledger::tokyo_date(now_millis()).and_then(renkei_ledger::dates::year_month_of).map(|m| m.to_string()).unwrap_or_default();
        Ok(html! {
            p { a class="button" href="/operator/register" id="register-link" { "事業所を登録する" } " " a class="button secondary" href="/operator/relay" id="relay-link" { "中継の状況" } }
            form method="get" action="/operator" id="search-form" {
                label for="q" { "事業所番号（先頭から）または事業所名で検索" }
                input type="text" id="q" name="q" value=(q);
                button type="submit" class="secondary" id="search-button" { "検索" }
            }
            table id="office-list" {
                tr { th { "事業所番号" } th { "事業所名" } th { "種類" } th { "状態" } }
                @for l in &list {
                    tr { td { (l.office.number) } td { (l.office.name) } td { (l.office.kind) } td { @if l.enrolled { span class="ok" { "利用中" } } @else { "手続き中" } } }
                }
            }
            h2 { "一括登録（CSV）" }
            form method="post" action="/operator/bulk" id="bulk-form" {
                (csrf_field(&tokens[0]))
                p { "1行に1事業所：事業所番号,事業所名,事業所名カナ,サービス種類コード,郵便番号,所在地,電話番号（1行目は見出しでも構いません）。1行でも誤りがあれば、どの事業所も登録しません。" }
                textarea id="csv" name="csv" required {}
                button type="submit" id="bulk-button" { "一括登録する" }
            }
            h2 { "パスワードの再発行" }
            form method="post" action="/operator/reissue" id="reissue-form" {
                (csrf_field(&tokens[1]))
                label for="reissue_office" { "介護保険事業所番号" }
                input type="text" id="reissue_office" name="office_number" required;
                button type="submit" id="reissue-button" { "仮パスワードを再発行する" }
            }
            h2 { "証明書の失効" }
            form method="post" action="/operator/revoke" id="revoke-form" {
                (csrf_field(&tokens[2]))
                label for="serial" { "証明書のシリアル番号" }
                input type="text" id="serial" name="serial" required;
                label for="reason" { "理由" }
                select id="reason" name="reason" {
                    option value="keyCompromise" { "鍵の危殆化（パソコンの紛失など）" }
                    option value="cessationOfOperation" { "廃止" }
                    option value="affiliationChanged" { "所属の変更" }
                    option value="superseded" { "再発行" }
                    option value="unspecified" { "その他" }
                }
                button type="submit" class="danger" id="revoke-button" { "失効させる" }
            }
            h2 { "端末変更（事業所に代わって）" }
            form method="post" action="/operator/device-change" id="operator-device-change-form" {
                (csrf_field(&tokens[3]))
                label for="device_office" { "介護保険事業所番号" }
                input type="text" id="device_office" name="office_number" required;
                button type="submit" class="danger" id="operator-device-change-button" { "端末を解除する" }
            }
            h2 { "利用料の請求データ（CSV）" }
            form method="post" action="/operator/charges" id="charges-form" {
                (csrf_field(&tokens[4]))
                label for="month" { "請求年月（YYYYMM）" }
                input type="text" id="month" name="month" value=(default_month) required;
                button type="submit" id="charges-button" { "CSVをダウンロード" }
            }
        })
    }
    .await;
    match result {
        Ok(body) => with_cookie(&ctx, page("事業所の一覧（国保連）", true, body)),
        Err(e) => error_page(&e, "/operator"),
    }
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct RelayQuery {
    #[serde(default)]
    office: String,
}

fn counts_table(id: &str, counts: &[(MessageState, u64)]) -> Markup {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    html! {
        table id=(id) {
            tr { th { "状態" } th { "件数" } }
            @for (s, n) in counts { tr { td { (s.label_ja()) } td class="num" { (n) } } }
            tr { th { "合計" } th class="num" { (total) } }
        }
    }
}

/// `GET /operator/relay`: how many messages the relay holds in each state, overall and for one
/// office (sent and addressed to it). Metadata only: operators never see a file, a file name or
/// a payload — the relay holds only ciphertext, and this page shows only counts.
pub(crate) async fn relay_status(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Query(rq): Query<RelayQuery>,
) -> Response {
    let ctx = match operator_ctx(&state, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result: Result<Markup, PortalError> = async {
        let store = state.service.store();
        let all = store.message_counts(&CountScope::All).await?;
        let office = rq.office.trim();
        let per_office = if office.is_empty() {
            None
        } else {
            match office.parse::<OfficeNumber>() {
                Ok(o) => Some(Ok((
                    o.clone(),
                    store.message_counts(&CountScope::SentBy(o.clone())).await?,
                    store.message_counts(&CountScope::AddressedTo(o)).await?,
                ))),
                Err(e) => Some(Err(e.to_string())),
            }
        };
        Ok(html! {
            p { "中継サーバーが預かっているメッセージ（送信単位）の件数です。ファイルの中身や名前は表示しません（中継サーバーは暗号化されたファイルしか持っていません）。" }
            h2 { "全体" }
            (counts_table("relay-counts", &all))
            h2 { "事業所ごと" }
            form method="get" action="/operator/relay" id="relay-office-form" {
                label for="office" { "介護保険事業所番号" }
                input type="text" id="office" name="office" value=(office) inputmode="numeric";
                button type="submit" class="secondary" id="relay-office-button" { "表示" }
            }
            @match &per_office {
                Some(Ok((o, sent, received))) => {
                    h3 { (o) " が送ったもの" }
                    (counts_table("relay-sent", sent))
                    h3 { (o) " 宛てのもの" }
                    (counts_table("relay-received", received))
                }
                Some(Err(e)) => { p class="error" role="alert" { "事業所番号が正しくありません: " (e) } }
                None => {}
            }
            p { a href="/operator" { "事業所の一覧へ戻る" } }
        })
    }
    .await;
    match result {
        Ok(body) => with_cookie(&ctx, page("中継の状況（国保連）", true, body)),
        Err(e) => error_page(&e, "/operator"),
    }
}

async fn render_register(
    state: &PortalState,
    ctx: &Ctx,
    f: &NewOffice,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let token = match csrf(state, ctx).await {
        Ok(t) => t,
        Err(e) => return error_page(&e, "/operator"),
    };
    let body = html! {
        @if let Some(e) = error { p class="error" id="error" role="alert" { (e) } }
        form method="post" action="/operator/register" id="register-form" {
            (csrf_field(&token))
            label for="number" { "介護保険事業所番号（半角数字10桁）" }
            input type="text" id="number" name="number" value=(f.number) required;
            label for="name" { "事業所名" }
            input type="text" id="name" name="name" value=(f.name) required;
            label for="name_kana" { "事業所名カナ" }
            input type="text" id="name_kana" name="name_kana" value=(f.name_kana);
            label for="kind" { "サービス種類" }
            select id="kind" name="kind" {
                @for (code, label) in [("43", "43 居宅介護支援"), ("11", "11 訪問介護"), ("13", "13 訪問看護"), ("15", "15 通所介護"), ("16", "16 通所リハビリテーション"), ("17", "17 福祉用具貸与"), ("21", "21 短期入所生活介護"), ("46", "46 介護予防支援"), ("78", "78 地域密着型通所介護")] {
                    option value=(code) selected[f.kind == code] { (label) }
                }
            }
            label for="postal_code" { "郵便番号（123-4567）" }
            input type="text" id="postal_code" name="postal_code" value=(f.postal_code);
            label for="address" { "所在地" }
            input type="text" id="address" name="address" value=(f.address);
            label for="phone" { "電話番号" }
            input type="text" id="phone" name="phone" value=(f.phone);
            button type="submit" id="register-button" { "登録して通知書を作成する" }
        }
        p { a href="/operator" { "一覧に戻る" } }
    };
    with_cookie(ctx, (status, page("事業所の登録", true, body)))
}

pub(crate) async fn register_page(
    State(state): State<PortalState>,
    headers: HeaderMap,
) -> Response {
    match operator_ctx(&state, &headers).await {
        Ok(ctx) => {
            render_register(
                &state,
                &ctx,
                &NewOffice {
                    kind: "43".into(),
                    ..Default::default()
                },
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(r) => r,
    }
}

pub(crate) async fn register(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let ctx = match operator_post(&state, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let input = NewOffice {
        number: get(&f, "number").into(),
        name: get(&f, "name").into(),
        name_kana: get(&f, "name_kana").into(),
        kind: get(&f, "kind").into(),
        postal_code: get(&f, "postal_code").into(),
        address: get(&f, "address").into(),
        phone: get(&f, "phone").into(),
    };
    match state.service.register_office(&ctx.session.subject, &input, now_millis()).await {
        Ok(notice) => page("登録結果のお知らせ", true, html! { (registration_notice(&notice)) p class="noprint" { a class="button" href="/operator" id="back-to-list" { "一覧に戻る" } } }).into_response(),
        Err(e @ PortalError::Invalid { .. }) => render_register(&state, &ctx, &input, Some(&e.to_string()), e.status()).await,
        Err(e) => error_page(&e, "/operator/register"),
    }
}

pub(crate) async fn bulk(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let ctx = match operator_post(&state, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state
        .service
        .bulk_register(&ctx.session.subject, get(&f, "csv"), now_millis())
        .await
    {
        Ok(r) => {
            let status = if r.registered.is_empty() && !r.refused.is_empty() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            let body = html! {
                p id="bulk-summary" { "登録：" (r.registered.len()) "件、登録できなかった行：" (r.refused.len()) "件" }
                @if !r.refused.is_empty() { ul id="bulk-errors" class="error" { @for (line, msg) in &r.refused { li { (line) "行目：" (msg) } } } }
                @for n in &r.registered { (registration_notice(n)) }
                p class="noprint" { a class="button" href="/operator" { "一覧に戻る" } }
            };
            (status, page("一括登録の結果", true, body)).into_response()
        }
        Err(e) => error_page(&e, "/operator"),
    }
}

fn office_field(f: &HashMap<String, String>) -> Result<OfficeNumber, PortalError> {
    get(f, "office_number")
        .trim()
        .parse()
        .map_err(|e: renkei_ids::IdError| PortalError::invalid("office_number", e.ja, e.en))
}

pub(crate) async fn reissue(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let ctx = match operator_post(&state, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = match office_field(&f) {
        Ok(o) => {
            state
                .service
                .reissue_password(&ctx.session.subject, &o, now_millis())
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(notice) => page("再発行のお知らせ", true, html! { (registration_notice(&notice)) p class="noprint" { a class="button" href="/operator" { "一覧に戻る" } } }).into_response(),
        Err(e) => error_page(&e, "/operator"),
    }
}

pub(crate) async fn revoke(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let ctx = match operator_post(&state, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let reason = match get(&f, "reason") {
        r @ ("keyCompromise"
        | "cessationOfOperation"
        | "affiliationChanged"
        | "superseded"
        | "unspecified") => r,
        _ => "unspecified",
    };
    match state
        .service
        .revoke_certificate(
            &ctx.session.subject,
            get(&f, "serial"),
            reason,
            now_millis(),
        )
        .await
    {
        Ok(()) => super::ui::message_page(
            "失効しました",
            "証明書を失効させました。失効リスト（/crl.pem）に載ります。",
            "/operator",
            false,
        )
        .into_response(),
        Err(e) => error_page(&e, "/operator"),
    }
}

pub(crate) async fn device_change(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    let ctx = match operator_post(&state, &headers, &f).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = match office_field(&f) {
        Ok(o) => {
            state
                .service
                .change_device(&ctx.session.subject, &o, now_millis())
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(revoked) => super::ui::message_page(
            "端末を解除しました",
            &format!(
                "端末を解除し、証明書 {} 件を失効させました。",
                revoked.len()
            ),
            "/operator",
            false,
        )
        .into_response(),
        Err(e) => error_page(&e, "/operator"),
    }
}

pub(crate) async fn charges(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Form(f): FormMap,
) -> Response {
    if let Err(r) = operator_post(&state, &headers, &f).await {
        return r;
    }
    let month: YearMonth = match get(&f, "month").trim().parse() {
        Ok(m) => m,
        Err(e) => {
            let e: renkei_ids::IdError = e;
            return error_page(&PortalError::invalid("month", e.ja, e.en), "/operator");
        }
    };
    match state.service.charges_csv(month).await {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"charges_{month}.csv\""),
                ),
            ],
            csv,
        )
            .into_response(),
        Err(e) => error_page(&e, "/operator"),
    }
}
