//! Page frame, styles and shared pieces of the UI.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

pub(crate) const CSS: &str = r#"
:root { --ink:#1f2933; --muted:#52606d; --line:#cbd2d9; --brand:#0b6e4f; --warn:#b44d12; --bad:#b42318; --ok:#0b6e4f; --bg:#f7f9fa; }
* { box-sizing: border-box; }
body { margin:0; font-family: "Hiragino Sans","Noto Sans CJK JP","Yu Gothic",Meiryo,sans-serif; font-size:18px; color:var(--ink); background:var(--bg); line-height:1.6; }
header { background:var(--brand); color:#fff; padding:12px 24px; display:flex; justify-content:space-between; align-items:center; flex-wrap:wrap; gap:8px; }
header .office { font-size:20px; font-weight:bold; }
nav { display:flex; flex-wrap:wrap; gap:6px; padding:10px 24px; background:#fff; border-bottom:1px solid var(--line); }
nav a { display:inline-block; padding:10px 18px; border-radius:8px; text-decoration:none; color:var(--ink); border:1px solid var(--line); min-height:48px; }
nav a.on { background:var(--brand); color:#fff; border-color:var(--brand); }
main { padding:20px 24px; max-width:1200px; }
h1 { font-size:26px; margin:8px 0 16px; }
h2 { font-size:21px; margin:24px 0 10px; }
table { border-collapse:collapse; width:100%; background:#fff; }
th, td { border:1px solid var(--line); padding:10px; text-align:left; vertical-align:top; }
th { background:#eef2f5; font-weight:normal; }
.btn, button { display:inline-block; font-size:18px; padding:10px 22px; min-height:48px; border-radius:8px; border:1px solid var(--brand); background:var(--brand); color:#fff; cursor:pointer; text-decoration:none; }
.btn.sub, button.sub { background:#fff; color:var(--brand); }
button.danger { background:#fff; color:var(--bad); border-color:var(--bad); }
input[type=text], input[type=password], input[type=search], input[type=url], select, textarea { font-size:18px; padding:10px; min-height:48px; border:1px solid #9aa5b1; border-radius:6px; width:100%; max-width:560px; }
input[type=file] { font-size:18px; padding:10px 0; }
label { display:block; margin:14px 0 4px; font-weight:bold; }
label.check { font-weight:normal; display:flex; gap:10px; align-items:center; }
label.check input { width:24px; height:24px; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:18px 20px; margin:14px 0; }
.msg { padding:14px 18px; border-radius:8px; margin:12px 0; font-size:19px; }
.msg.ok { background:#e3f9ee; border:1px solid #8fd6b4; }
.msg.err { background:#fdecea; border:1px solid #f1a9a0; }
.msg.info { background:#eef4fb; border:1px solid #a9c6ea; }
.badge { display:inline-block; padding:2px 10px; border-radius:12px; font-size:15px; border:1px solid var(--line); background:#fff; white-space:nowrap; }
.badge.new { background:var(--warn); color:#fff; border-color:var(--warn); }
.badge.ok { background:#e3f9ee; border-color:#8fd6b4; }
.badge.bad { background:#fdecea; border-color:#f1a9a0; }
.chain { display:flex; flex-wrap:wrap; gap:6px; align-items:center; }
.chain .step { padding:6px 12px; border-radius:16px; background:#e3f9ee; border:1px solid #8fd6b4; }
.chain .todo { background:#fff; border-style:dashed; color:var(--muted); }
.muted { color:var(--muted); font-size:16px; }
.row { display:flex; gap:10px; flex-wrap:wrap; align-items:center; }
form.inline { display:inline; }
td.actions { min-width: 10em; }
td.actions button { white-space: nowrap; }
details summary { cursor:pointer; padding:6px 0; }
ul.errors li { margin:4px 0; }
@media print { header, nav, .noprint, form { display:none !important; } body { background:#fff; } main { padding:0; } }
"#;

pub(crate) fn style() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")],
        CSS,
    )
        .into_response()
}

/// The page frame: header with the office, navigation, the content.
pub(crate) fn frame(title: &str, office: Option<&str>, active: &str, body: Markup) -> Html<String> {
    let tabs = [
        ("/inbox", "受信箱"),
        ("/send", "送信"),
        ("/directory", "相手先"),
        ("/history", "送信履歴"),
        ("/outbox", "送信待ち"),
        ("/evidence", "証明書・記録"),
        ("/viewer", "帳票表示"),
    ];
    Html(
        html! {
            (DOCTYPE)
            html lang="ja" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " — れんけい" }
                    link rel="stylesheet" href="/style.css";
                }
                body {
                    header {
                        span.office { "れんけい ケアプランデータ連携" }
                        @if let Some(o) = office {
                            span { (o) }
                            form.inline method="post" action="/lock" {
                                button.sub type="submit" { "鍵をかける" }
                            }
                        }
                    }
                    @if office.is_some() {
                        nav {
                            @for (href, label) in tabs {
                                a href=(href) class=@if href == active { "on" } { (label) }
                            }
                        }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// A refusal page (no navigation: the user is not in).
pub(crate) fn refused(status: StatusCode, why: &str) -> Response {
    (
        status,
        frame(
            "開けません",
            None,
            "",
            html! { h1 { "開けません" } p.msg.err { (why) } },
        ),
    )
        .into_response()
}

/// A message box.
pub(crate) fn message(kind: &str, text: &str) -> Markup {
    html! { div class={"msg " (kind)} role="status" { (text) } }
}

/// A message box with a list (validation errors).
pub(crate) fn error_list(title: &str, lines: &[String]) -> Markup {
    html! {
        div.msg.err role="alert" {
            strong { (title) }
            ul.errors { @for l in lines { li { (l) } } }
        }
    }
}

/// The receipt chain stored → downloaded → imported/rejected, with the missing steps dashed.
pub(crate) fn chain(events: &[(String, String)]) -> Markup {
    let label = |e: &str| match e {
        "stored" => "中継サーバーが受付",
        "downloaded" => "相手が受信",
        "imported" => "相手が取込完了",
        "rejected" => "相手が差し戻し",
        "expired" => "期限切れ",
        _ => "その他",
    };
    let has = |e: &str| events.iter().any(|(ev, _)| ev == e);
    let final_done = has("imported") || has("rejected") || has("expired");
    // (label, time, reached) in order; the steps not reached yet are drawn dashed.
    let mut steps: Vec<(&str, String, bool)> = events
        .iter()
        .map(|(ev, at)| (label(ev), short_time(at), true))
        .collect();
    if !has("stored") {
        steps.push((label("stored"), String::new(), false));
    }
    if !has("downloaded") && !final_done {
        steps.push((label("downloaded"), String::new(), false));
    }
    if !final_done {
        steps.push(("取込完了／差し戻し", String::new(), false));
    }
    html! {
        div.chain {
            @for (i, (text, at, done)) in steps.iter().enumerate() {
                @if i > 0 { " → " }
                span class=@if *done { "step" } @else { "step todo" } { (text) " " span.muted { (at) } }
            }
        }
    }
}

/// `2026-11-25T09:00:00+09:00` → `11/25 09:00` in Japan time.
pub(crate) fn short_time(rfc3339: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(rfc3339, &Rfc3339) {
        Ok(t) => {
            let jst = t.to_offset(time::macros::offset!(+9));
            format!(
                "{}/{:02}/{:02} {:02}:{:02}",
                jst.year(),
                u8::from(jst.month()),
                jst.day(),
                jst.hour(),
                jst.minute()
            )
        }
        Err(_) => rfc3339.to_owned(),
    }
}

/// A raw HTML page (printable documents rendered by other crates).
pub(crate) fn raw(html: String) -> Response {
    Html(html).into_response()
}

/// Insert a "print" button bar into a standalone printable page.
pub(crate) fn with_print_bar(doc: String, back: &str) -> String {
    let bar = html! {
        div.noprint style="font-family:sans-serif;padding:10px;background:#eef2f5;display:flex;gap:10px" {
            a href=(back) style="font-size:18px;padding:8px 16px" { "← 戻る" }
            button type="button" onclick="window.print()" style="font-size:18px;padding:8px 16px" { "印刷する" }
        }
        style { (PreEscaped("@media print { .noprint { display:none } }")) }
    }
    .into_string();
    match doc
        .find("<body")
        .and_then(|i| doc[i..].find('>').map(|j| i + j + 1))
    {
        Some(pos) => format!("{}{}{}", &doc[..pos], bar, &doc[pos..]),
        None => format!("{bar}{doc}"),
    }
}
