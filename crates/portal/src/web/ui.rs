//! Page layout and shared fragments. Plain HTML and CSS: large type, big buttons, no JavaScript.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::RegistrationNotice;

const CSS: &str = r#"
body{font-family:"Hiragino Sans","Noto Sans JP","Yu Gothic",sans-serif;font-size:18px;line-height:1.7;margin:0;color:#1a1a1a;background:#f6f7f9}
header{background:#114a7a;color:#fff;padding:12px 24px}header a{color:#fff}
main{max-width:960px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:28px}h2{font-size:22px;margin-top:32px}
label{display:block;margin:12px 0 4px;font-weight:bold}
input[type=text],input[type=password],input[type=email],input[type=tel],select,textarea{font-size:18px;padding:8px;width:100%;box-sizing:border-box;border:1px solid #888;border-radius:6px}
textarea{min-height:8em;font-family:monospace}
button,.button{display:inline-block;font-size:20px;padding:12px 28px;margin:12px 8px 12px 0;border:0;border-radius:8px;background:#114a7a;color:#fff;cursor:pointer;text-decoration:none}
button.secondary,.button.secondary{background:#5b6470}button.danger{background:#a12020}
.card{background:#fff;border:1px solid #ccd;border-radius:10px;padding:16px 20px;margin:16px 0}
.cards{display:flex;gap:16px;flex-wrap:wrap}.cards .card{flex:1 1 380px}
.recommended{border:3px solid #1b7f3b}.badge{background:#1b7f3b;color:#fff;border-radius:4px;padding:2px 8px;font-size:15px}
.ok{color:#1b7f3b;font-weight:bold}.warn{color:#9a5b00;font-weight:bold}.error{color:#a12020;font-weight:bold}
.notice{background:#fff;border:2px solid #333;padding:24px;margin:16px 0}
table{border-collapse:collapse;width:100%;background:#fff}td,th{border:1px solid #ccd;padding:6px 8px;text-align:left}
.secret{font-family:monospace;font-size:22px;letter-spacing:2px;background:#eef;padding:2px 8px}
.scroll{max-height:12em;overflow:auto;border:1px solid #aaa;padding:8px;background:#fff}
@media print{header,form,.noprint{display:none}body{background:#fff}}
"#;

/// A whole page.
pub fn page(title: &str, logged_in: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " | Renkei 連携ポータル" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a href="/" { strong { "Renkei 連携ポータル" } }
                    " — ケアプランデータ連携の利用登録"
                    @if logged_in { span style="float:right" { "ログイン中" } }
                }
                main id="main" { h1 { (title) } (body) }
            }
        }
    }
}

/// The hidden CSRF field.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

/// A message page with a back link.
pub fn message_page(title: &str, message: &str, back: &str, is_error: bool) -> Markup {
    page(
        title,
        false,
        html! {
            p id="message" class=(if is_error { "error" } else { "ok" }) { (message) }
            a class="button secondary" id="back" href=(back) { "戻る" }
        },
    )
}

/// The printable 電子請求登録結果に関するお知らせ.
pub fn registration_notice(n: &RegistrationNotice) -> Markup {
    let date = renkei_ledger::tokyo_date(n.issued_at)
        .map(renkei_ledger::dates::format_date_ja)
        .unwrap_or_default();
    html! {
        section class="notice" id="registration-notice" {
            h2 { "電子請求登録結果に関するお知らせ" @if n.reissue { "（再発行）" } }
            p { (date) }
            p { (n.office.name) " 様" }
            p { "介護保険事業所番号 " strong { (n.office.number) } " の電子請求の登録が完了しましたので、お知らせします。" }
            table {
                tr { th { "介護電子請求用ユーザID" } td { span class="secret" id="notice-kj-id" { (n.kj_id) } } }
                tr { th { "仮パスワード" } td { span class="secret" id="notice-temporary-password" { (n.temporary_password) } } }
                @if let Some(p) = &n.issuance_password {
                    tr { th { "証明書発行用パスワード" } td { span class="secret" id="notice-issuance-password" { (p) } } }
                }
            }
            ol {
                li { "Renkei 連携ポータルに、上記のユーザIDと仮パスワードでログインしてください。" }
                li { "最初のログインで、仮パスワードをご自身のパスワードに変更してください。" }
                li { "電子証明書の発行には「証明書発行用パスワード」が必要です。このお知らせは大切に保管してください。" }
            }
            p class="noprint" { "このページを印刷して事業所にお渡しください（パスワードはこの画面でしか表示されません）。" }
        }
    }
}

/// Yen with thousands separators.
pub fn yen(amount: u32) -> String {
    let s = amount.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}円")
}

/// A Japanese date-time for a unix-millisecond instant (Asia/Tokyo).
pub fn datetime_ja(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| {
            let t = t.to_offset(renkei_ledger::TOKYO);
            format!(
                "{}年{}月{}日 {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yen_formatting() {
        assert_eq!(yen(0), "0円");
        assert_eq!(yen(13_200), "13,200円");
        assert_eq!(yen(21_000), "21,000円");
        assert_eq!(yen(1_234_567), "1,234,567円");
    }
}
