//! Handlers of the record-keeping pages: partner directory and favourites, send history with
//! receipt chains, evidence (transmission certificates, audit trail), the outbox and the form
//! viewer.

// See handlers.rs: `Result<Response, Response>` lets `?` return a refusal page.
#![allow(clippy::result_large_err)]

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use renkei_client::api::DirectoryQuery;
use renkei_client::Office;
use serde::Deserialize;

use crate::handlers::{
    back_with, error_page, kind_title, name_of, notices, office, render_file, state_class, ym_ja,
    Notice, Page,
};
use crate::pages::{self, chain, frame, message, short_time};
use crate::Shared;

#[derive(Deserialize, Default)]
pub(crate) struct DirQuery {
    q: Option<String>,
    prefecture: Option<String>,
    kind: Option<String>,
    ok: Option<String>,
}

pub(crate) async fn directory(State(app): State<Shared>, Query(q): Query<DirQuery>) -> Page {
    let o = office(&app).await?;
    let favs = o.db().favourites().await.unwrap_or_default();
    let text = q.q.clone().unwrap_or_default();
    let searched = !text.trim().is_empty()
        || q.prefecture.as_deref().is_some_and(|p| !p.is_empty())
        || q.kind.as_deref().is_some_and(|k| !k.is_empty());
    let results = if searched {
        let t = text.trim();
        let is_number = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        Some(
            o.search_directory(&DirectoryQuery {
                number: is_number.then(|| t.to_owned()),
                name: (!is_number && !t.is_empty()).then(|| t.to_owned()),
                prefecture: q.prefecture.as_deref().and_then(|p| p.parse().ok()),
                kind: q.kind.clone().filter(|k| !k.is_empty()),
                ..Default::default()
            })
            .await,
        )
    } else {
        None
    };
    Ok(frame(
        "相手先",
        Some(&name_of(&o)),
        "/directory",
        html! {
            h1 { "相手先を探す" }
            @if let Some(m) = &q.ok { (message("ok", m)) }
            form.card method="get" action="/directory" {
                label for="q" { "事業所番号または事業所名" }
                input #q type="search" name="q" value=(text);
                div.row {
                    div { label for="prefecture" { "都道府県番号" } input #prefecture type="text" name="prefecture" inputmode="numeric" placeholder="例: 13" value=[q.prefecture.as_deref()]; }
                    div { label for="kind" { "サービス種類" } input #kind type="text" name="kind" placeholder="例: 11（訪問介護）" value=[q.kind.as_deref()]; }
                }
                p { button #search type="submit" { "探す" } }
            }
            @match &results {
                Some(Err(e)) => (message("err", &e.to_string())),
                Some(Ok(items)) if items.is_empty() => (message("info", "見つかりませんでした。番号や名前を変えてお試しください。")),
                Some(Ok(items)) => {
                    table #directory {
                        tr { th { "事業所" } th { "サービス種類" } th { "利用状況" } th { "操作" } }
                        @for e in items {
                            tr {
                                td { (e.name) br; span.muted { (e.number) } }
                                td { (e.kind) }
                                td {
                                    @if e.enrolled { span.badge.ok { "送信できます" } } @else { span.badge.bad { "まだ利用していません" } }
                                    @if !e.accepts.is_empty() { br; span.muted { "受け取れる帳票: " (e.accepts.join("、")) } }
                                }
                                td {
                                    form.inline method="post" action="/favourites" {
                                        input type="hidden" name="office" value=(e.number);
                                        input type="hidden" name="name" value=(e.name);
                                        button.sub.fav type="submit" { "お気に入りに追加" }
                                    }
                                    " "
                                    @if e.enrolled { a.btn href={"/send?to=" (e.number)} { "この相手に送る" } }
                                }
                            }
                        }
                    }
                }
                None => {}
            }
            h2 { "お気に入り" }
            @if favs.is_empty() {
                p.muted { "よく送る相手をお気に入りにすると、送信の画面で選べます。" }
            } @else {
                table #favourites {
                    @for f in &favs {
                        tr {
                            td { (f.name) br; span.muted { (f.office) } }
                            td {
                                a.btn href={"/send?to=" (f.office)} { "送る" } " "
                                form.inline method="post" action="/favourites" {
                                    input type="hidden" name="office" value=(f.office);
                                    input type="hidden" name="remove" value="1";
                                    button.danger type="submit" { "外す" }
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

#[derive(Deserialize)]
pub(crate) struct FavForm {
    office: String,
    name: Option<String>,
    remove: Option<String>,
}

pub(crate) async fn favourite(State(app): State<Shared>, Form(f): Form<FavForm>) -> Page {
    let o = office(&app).await?;
    let number: renkei_ids::OfficeNumber = f
        .office
        .parse()
        .map_err(|e: renkei_ids::IdError| back_with("/directory", "ok", &e.ja))?;
    let result = if f.remove.is_some() {
        o.db()
            .remove_favourite(number.as_str())
            .await
            .map(|_| "お気に入りから外しました。")
    } else {
        o.db()
            .add_favourite(
                number.as_str(),
                f.name.as_deref().unwrap_or(number.as_str()),
            )
            .await
            .map(|_| "お気に入りに追加しました。")
    };
    Ok(match result {
        Ok(m) => back_with("/directory", "ok", m),
        Err(e) => back_with("/directory", "ok", &e.to_string()),
    })
}

#[derive(Deserialize, Default)]
pub(crate) struct HistoryQuery {
    q: Option<String>,
}

pub(crate) async fn history(State(app): State<Shared>, Query(q): Query<HistoryQuery>) -> Page {
    let o = office(&app).await?;
    let sends = o
        .db()
        .sends(q.q.as_deref(), 200)
        .await
        .map_err(|e| error_page(&o, "/history", "送信履歴", &e))?;
    // The same search applies to what was received (sender, month, client, file, table).
    let received = match q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => o.db().received_search(text, 200).await.unwrap_or_default(),
        None => o.received(200).await.unwrap_or_default(),
    };
    Ok(frame(
        "送信履歴",
        Some(&name_of(&o)),
        "/history",
        html! {
            h1 { "送信履歴" }
            form.card method="get" action="/history" {
                label for="hq" { "相手先（事業所名・番号）・対象年月・利用者・ファイル名で探す" }
                input #hq type="search" name="q" value=[q.q.as_deref()];
                button type="submit" { "探す" }
            }
            @if sends.is_empty() { (message("info", "送信した記録はまだありません。")) } @else {
                table #history {
                    tr { th { "送った日時" } th { "送信先" } th { "帳票" } th { "対象年月" } th { "状態" } th { "" } }
                    @for s in &sends {
                        tr {
                            td { (short_time(&s.created_at)) }
                            td { (s.recipient) }
                            td { (s.files.iter().map(|f| kind_title(f)).collect::<Vec<_>>().join("・")) }
                            td { (s.months.split(' ').map(ym_ja).collect::<Vec<_>>().join("、")) }
                            td { span class={"badge " (state_class(&s.state))} { (send_state_ja(&s.state)) }
                                 @if s.validation_overridden { br; span.badge.bad { "誤りを承知で送信" } } }
                            td { a.btn.sub href={"/history/" (s.id)} { "詳しく" } }
                        }
                    }
                }
            }
            h2 { "受け取った記録" }
            @if received.is_empty() { p.muted { "まだありません。" } } @else {
                table #received {
                    tr { th { "日時" } th { "送信元" } th { "帳票" } th { "利用者" } th { "結果" } }
                    @for r in &received {
                        tr { td { (short_time(&r.at)) } td { (r.sender) } td { (r.kinds) } td { (r.clients) }
                             td { span class={"badge " (state_class(&r.state))} { (send_state_ja(&r.state)) } } }
                    }
                }
            }
        },
    )
    .into_response())
}

fn send_state_ja(s: &str) -> &str {
    match s {
        "queued" => "送信待ち",
        "failed" => "送れませんでした",
        "stored" => "中継サーバーが受付",
        "downloaded" => "相手が受信",
        "imported" => "相手が取込完了",
        "rejected" => "差し戻し",
        "expired" => "期限切れ",
        // A received message in the import folder whose acknowledgement is still to be sent.
        "written" => "取込済み（受領通知の送信待ち）",
        other => other,
    }
}

async fn send_or_404(o: &Office, id: i64) -> Result<renkei_client::SendRecord, Response> {
    o.db()
        .send(id)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| pages::refused(StatusCode::NOT_FOUND, "この送信の記録はありません。"))
}

pub(crate) async fn history_one(
    State(app): State<Shared>,
    Path(id): Path<i64>,
    Query(n): Query<Notice>,
) -> Page {
    let o = office(&app).await?;
    let s = send_or_404(&o, id).await?;
    let receipts = match &s.message_id {
        Some(m) => o.receipts(m).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let events: Vec<(String, String)> = receipts
        .iter()
        .map(|r| (r.receipt.event.clone(), r.receipt.at.clone()))
        .collect();
    let reasons: Vec<String> = receipts
        .iter()
        .filter_map(|r| r.receipt.reason.clone())
        .collect();
    Ok(frame(
        "送信の詳細",
        Some(&name_of(&o)),
        "/history",
        html! {
            h1 { "送信の詳細" }
            (notices(&n))
            div.card {
                p { "送信先: " strong { (s.recipient) } "　ファイル連番: " (s.file_seq) }
                p { "状態: " span #state class={"badge " (state_class(&s.state))} { (send_state_ja(&s.state)) } }
                @if let Some(e) = &s.error { (message("err", e)) }
                ul { @for f in &s.files { li { (f) } } }
                h2 { "受領の記録（中継サーバーの電子署名つき）" }
                div #chain { (chain(&events)) }
                @for r in &reasons { (message("err", &format!("差し戻しの理由: {r}"))) }
                div.row.noprint {
                    form.inline method="post" action={"/history/" (s.id) "/refresh"} { button.sub #refresh type="submit" { "最新の状態にする" } }
                    @if s.message_id.is_some() {
                        a.btn #certificate href={"/history/" (s.id) "/certificate"} target="_blank" { "送信証明書を表示・印刷" }
                        a.btn.sub href={"/history/" (s.id) "/certificate.json"} download { "送信証明書を保存（JSON）" }
                    }
                }
            }
        },
    )
    .into_response())
}

pub(crate) async fn history_refresh(State(app): State<Shared>, Path(id): Path<i64>) -> Page {
    let o = office(&app).await?;
    let s = send_or_404(&o, id).await?;
    let path = format!("/history/{id}");
    Ok(match o.refresh_send(&s).await {
        Ok(_) => back_with(&path, "ok", "最新の状態にしました。"),
        Err(e) => back_with(&path, "err", &e.to_string()),
    })
}

pub(crate) async fn certificate_html(State(app): State<Shared>, Path(id): Path<i64>) -> Page {
    let o = office(&app).await?;
    match o.transmission_certificate(id).await {
        Ok((cert, check)) => Ok(pages::raw(pages::with_print_bar(
            renkei_evidence::html::transmission_certificate_html(&cert, &check),
            &format!("/history/{id}"),
        ))),
        Err(e) => Ok(error_page(&o, "/history", "送信証明書", &e)),
    }
}

pub(crate) async fn certificate_json(State(app): State<Shared>, Path(id): Path<i64>) -> Page {
    let o = office(&app).await?;
    match o.transmission_certificate(id).await {
        Ok((cert, _)) => Ok(json_download(
            &cert,
            &format!("transmission-certificate-{id}.json"),
        )),
        Err(e) => Ok(error_page(&o, "/history", "送信証明書", &e)),
    }
}

fn json_download(v: &impl serde::Serialize, filename: &str) -> Response {
    let body = serde_json::to_string_pretty(v).unwrap_or_default();
    (
        [
            (
                header::CONTENT_TYPE,
                "application/json; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn evidence(State(app): State<Shared>) -> Page {
    let o = office(&app).await?;
    let events = o.db().events().await.unwrap_or_default();
    Ok(frame(
        "証明書・記録",
        Some(&name_of(&o)),
        "/evidence",
        html! {
            h1 { "証明書と操作記録" }
            div.card {
                h2 { "操作記録（監査証跡）" }
                p { "この事業所の送信・受信・ログインなどの記録です。中継サーバーの電子署名で改ざんがないことを確認できます。運営指導などで提出できます。" }
                div.row {
                    a.btn #audit href="/evidence/audit" target="_blank" { "操作記録を表示・印刷" }
                    a.btn.sub href="/evidence/audit.json" download { "操作記録を保存（JSON）" }
                }
            }
            div.card {
                h2 { "送信証明書" }
                p { "送信証明書は「送信履歴」の各送信の「詳しく」から表示できます。" }
                a.btn.sub href="/history" { "送信履歴へ" }
            }
            @if !events.is_empty() {
                h2 { "この端末の記録" }
                table { @for (at, kind, detail) in &events { tr { td { (short_time(at)) } td { (event_label(kind)) } td { code { (detail.to_string()) } } } } }
            }
        },
    )
    .into_response())
}

pub(crate) async fn audit_html(State(app): State<Shared>) -> Page {
    let o = office(&app).await?;
    match o.audit_trail().await {
        Ok((export, check)) => Ok(pages::raw(pages::with_print_bar(
            renkei_evidence::html::audit_export_html(&export, &check),
            "/evidence",
        ))),
        Err(e) => Ok(error_page(&o, "/evidence", "操作記録", &e)),
    }
}

pub(crate) async fn audit_json(State(app): State<Shared>) -> Page {
    let o = office(&app).await?;
    match o.audit_trail().await {
        Ok((export, _)) => Ok(json_download(
            &export,
            &format!("audit-{}.json", o.office()),
        )),
        Err(e) => Ok(error_page(&o, "/evidence", "操作記録", &e)),
    }
}

pub(crate) async fn outbox(State(app): State<Shared>, Query(n): Query<Notice>) -> Page {
    let o = office(&app).await?;
    let items = o
        .db()
        .outbox()
        .await
        .map_err(|e| error_page(&o, "/outbox", "送信待ち", &e))?;
    Ok(frame(
        "送信待ち",
        Some(&name_of(&o)),
        "/outbox",
        html! {
            h1 { "送信待ち" }
            (notices(&n))
            @if items.is_empty() {
                (message("ok", "送信待ちのファイルはありません。"))
            } @else {
                p { "サーバーに接続できなかったため、この端末に保存しているファイルです。接続が戻ると、古い順に自動で送ります。" }
                table #outbox {
                    tr { th { "保存した日時" } th { "送信先" } th { "ファイル連番" } th { "試した回数" } th { "理由" } }
                    @for i in &items {
                        tr { td { (short_time(&i.send.created_at)) } td { (i.send.recipient) } td { (i.send.file_seq) } td { (i.attempts) } td { (i.send.error.clone().unwrap_or_default()) } }
                    }
                }
                form method="post" action="/outbox/flush" { button #flush type="submit" { "いま送る" } }
            }
        },
    )
    .into_response())
}

pub(crate) async fn outbox_flush(State(app): State<Shared>) -> Page {
    let o = office(&app).await?;
    Ok(match o.flush_outbox(|_| {}).await {
        Ok(r) if r.waiting.is_empty() && r.failed.is_empty() => back_with(
            "/outbox",
            "ok",
            &format!("{}件を送りました。", r.stored.len()),
        ),
        Ok(r) => back_with(
            "/outbox",
            "err",
            &format!(
                "{}件を送り、{}件は送れず、{}件はまだ送信待ちです。",
                r.stored.len(),
                r.failed.len(),
                r.waiting.len()
            ),
        ),
        Err(e) => back_with("/outbox", "err", &e.to_string()),
    })
}

pub(crate) async fn viewer_page(State(app): State<Shared>) -> Page {
    let o = office(&app).await?;
    Ok(frame(
        "帳票表示",
        Some(&name_of(&o)),
        "/viewer",
        html! {
            h1 { "帳票を表示する" }
            form.card method="post" action="/viewer" enctype="multipart/form-data" target="_blank" {
                label for="a" { "表示するファイル（第6表・第7表・第1〜3表など）" }
                input #a type="file" name="a" accept=".csv,.CSV";
                label for="b" { "比べるファイル（同じ利用者・同じ月の別の版。比べないときは空のまま）" }
                input #b type="file" name="b" accept=".csv,.CSV";
                p { button #show type="submit" { "表示する" } }
            }
            p.muted { "受け取ったファイルは「受信箱」から、取り込んだ後に表示できます。" }
        },
    )
    .into_response())
}

pub(crate) async fn viewer(State(app): State<Shared>, mut form: Multipart) -> Page {
    let _o = office(&app).await?;
    let mut a = None;
    let mut b = None;
    while let Ok(Some(field)) = form.next_field().await {
        let which = field.name().unwrap_or("").to_owned();
        let fname = field
            .file_name()
            .unwrap_or("")
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("")
            .to_owned();
        let Ok(bytes) = field.bytes().await else {
            continue;
        };
        if fname.is_empty() {
            continue;
        }
        match which.as_str() {
            "a" => a = Some((fname, bytes.to_vec())),
            "b" => b = Some((fname, bytes.to_vec())),
            _ => {}
        }
    }
    let Some((an, ab)) = a else {
        return Err(pages::refused(
            StatusCode::BAD_REQUEST,
            "表示するファイルを選んでください。",
        ));
    };
    match b {
        None => render_file(&an, &ab, "/viewer"),
        Some((bn, bb)) => {
            let read = |n: &str, bytes: &[u8]| {
                renkei_format::read_file(n, bytes).map_err(|e| {
                    pages::refused(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &format!("{n} を帳票として読めません: {e}"),
                    )
                })
            };
            let (da, db) = (read(&an, &ab)?, read(&bn, &bb)?);
            match renkei_format::diff(&da, &db) {
                Ok(d) => Ok(pages::raw(pages::with_print_bar(d.to_html(), "/viewer"))),
                Err(e) => Err(pages::refused(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("比べられません: {e}"),
                )),
            }
        }
    }
}

fn event_label(kind: &str) -> &str {
    match kind {
        "validation_override" => "誤りを承知で送信",
        "receipt_invalid" => "受領証の電子署名を確認できませんでした",
        other => other,
    }
}
