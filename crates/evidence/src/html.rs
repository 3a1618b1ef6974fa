//! Printable pages (Japanese, A4): the 送信証明書 of one message and an audit trail export with
//! its verification result. Self-contained HTML (inline CSS, no scripts, no external resources),
//! so a page saved to disk prints the same anywhere.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::{
    display_jst, AuditExport, EvidenceError, TransmissionCertificate, TransmissionReport,
    VerifyReport,
};

const CSS: &str = r#"
@page { size: A4; margin: 15mm; }
* { box-sizing: border-box; }
body { font-family: "Hiragino Kaku Gothic ProN", "Yu Gothic", "Noto Sans JP", "Meiryo", sans-serif;
       font-size: 10.5pt; color: #111; margin: 0 auto; max-width: 180mm; line-height: 1.5; }
h1 { font-size: 18pt; text-align: center; letter-spacing: 0.3em; margin: 8mm 0 4mm; }
h2 { font-size: 12pt; border-bottom: 1px solid #444; margin-top: 6mm; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; }
th, td { border: 1px solid #777; padding: 1.5mm 2mm; vertical-align: top; text-align: left; }
th { background: #eee; width: 32%; font-weight: normal; }
table.list th { width: auto; }
td.mono, span.mono { font-family: ui-monospace, "Consolas", monospace; font-size: 8.5pt; word-break: break-all; }
.verdict { border: 2px solid; padding: 3mm; margin: 4mm 0; font-size: 12pt; }
.ok { border-color: #1a7f37; color: #1a7f37; }
.ng { border-color: #b42318; color: #b42318; }
tr.bad td { background: #fde8e8; }
.en { color: #555; font-size: 9pt; }
.note { font-size: 9pt; color: #333; }
@media print { .noprint { display: none; } body { max-width: none; } tr { page-break-inside: avoid; } }
"#;

fn page(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                p.noprint.note { "このページはA4で印刷できます（ブラウザの「印刷」）。 / Print this page on A4." }
                (body)
            }
        }
    }
    .into_string()
}

fn verdict(ok: bool, ja: &str, en: &str) -> Markup {
    html! {
        div.verdict.(if ok { "ok" } else { "ng" }) {
            (if ok { "✔ " } else { "✘ " }) (ja) br; span.en { (en) }
        }
    }
}

/// The 送信証明書 page for one message. `result` is the outcome of
/// [`TransmissionCertificate::verify`] against the CA certificate.
pub fn transmission_certificate_html(
    cert: &TransmissionCertificate,
    result: &Result<TransmissionReport, EvidenceError>,
) -> String {
    let m = &cert.message;
    let body = html! {
        h1 { "送 信 証 明 書" }
        p.en style="text-align:center" { "Certificate of transmission" }
        @match result {
            Ok(r) => {
                @let (ja, en) = match r.final_event {
                    Some(crate::ReceiptEvent::Imported) => ("受信者が取込を完了したことを、中継サーバの電子署名により証明します。",
                        "The relay's signatures prove the recipient imported this message."),
                    Some(crate::ReceiptEvent::Rejected) => ("受信者が取込を拒否したことが記録されています。",
                        "The recipient rejected this message."),
                    Some(crate::ReceiptEvent::Expired) => ("受信者が受信しないまま保管期限が切れました。",
                        "The message expired without being received."),
                    _ if r.delivered() => ("受信者がダウンロードしたことを証明します（取込結果は未着）。",
                        "The recipient downloaded this message (no import result yet)."),
                    _ => ("中継サーバが受け付けて保管したことを証明します。",
                        "The relay accepted and stored this message."),
                };
                (verdict(true, &format!("検証済み：{ja}"), &format!("Verified: {en}")))
            }
            Err(e) => (verdict(false, "検証できません。この証明書は信頼できません。",
                &format!("Does not verify: {e}")))
        }
        h2 { "送信内容 " span.en { "Message" } }
        table {
            tr { th { "送信元事業所番号" } td { (m.sender) } }
            tr { th { "送信先事業所番号" } td { (m.recipient) } }
            tr { th { "ファイル連番" } td { (m.file_seq) } }
            tr { th { "ファイル" } td { @for f in &m.files { (f) br; } } }
            tr { th { "大きさ（暗号化後）" } td { (m.length) " バイト" } }
            tr { th { "メッセージID" } td.mono { (m.message_id) } }
            tr { th { "ダイジェスト（SHA-256）" } td.mono { (m.digest) } }
        }
        h2 { "経過 " span.en { "Receipts" } }
        table.list {
            tr { th { "#" } th { "日時（日本時間）" } th { "状態" } th { "理由" } }
            @for (i, s) in cert.receipts.iter().enumerate() {
                tr {
                    td { (i + 1) }
                    td { (display_jst(&s.receipt.at)) }
                    td { (s.receipt.event.label_ja()) br; span.en { (s.receipt.event.as_str()) } }
                    td { (s.receipt.reason.as_deref().unwrap_or("")) }
                }
            }
        }
        p.note {
            "各経過は中継サーバの受領証署名鍵（Renkei認証局が発行した証明書）で電子署名されています。"
            "この証明書ファイル（JSON）と認証局の証明書があれば、"
            span.mono { "renkei verify" } " でいつでも検証できます。"
            br; span.en { "Each receipt is signed by the relay's CA-certified key; verify the JSON file offline with `renkei verify`." }
        }
    };
    page("送信証明書", body)
}

/// The audit trail page of one office. `result` is the outcome of
/// [`crate::verify_audit_export`]; rows with problems are highlighted.
pub fn audit_export_html(
    export: &AuditExport,
    result: &Result<VerifyReport, EvidenceError>,
) -> String {
    let problems_at = |i: usize| -> Vec<&'static str> {
        match result {
            Ok(r) => r
                .problems
                .iter()
                .filter(|p| p.index == i)
                .map(|p| p.kind.label_ja())
                .collect(),
            Err(_) => Vec::new(),
        }
    };
    let body = html! {
        h1 { "操 作 記 録" }
        p.en style="text-align:center" { "Audit trail export" }
        @match result {
            Ok(r) if r.is_valid() => (verdict(true,
                &format!("検証済み：{}件の記録に改ざん・欠落・順序の入れ替えはありません。", r.entry_count),
                &format!("Verified: {} entries, no alteration, removal or reordering.", r.entry_count))),
            Ok(r) => (verdict(false,
                &format!("問題が{}件見つかりました。この記録は改ざんまたは削除されています。", r.problems.len()),
                &format!("{} problem(s) found: the trail was altered or truncated.", r.problems.len()))),
            Err(e) => (verdict(false, "検証できません。この記録は信頼できません。", &format!("Does not verify: {e}"))),
        }
        table {
            tr { th { "事業所番号" } td { (export.office) } }
            tr { th { "出力日時" } td { (display_jst(&export.checkpoint.checkpoint.exported_at)) } }
            tr { th { "最終記録番号（署名付き）" } td { (export.checkpoint.checkpoint.last_seq) } }
            tr { th { "最終記録のハッシュ" } td.mono { (export.checkpoint.checkpoint.last_hash) } }
        }
        @if let Ok(r) = result {
            @if !r.is_valid() {
                h2 { "検出された問題 " span.en { "Problems" } }
                table.list {
                    tr { th { "行" } th { "記録番号" } th { "内容" } th.en { "detail" } }
                    @for p in &r.problems {
                        tr.bad {
                            td { (p.index + 1) }
                            td { (p.seq.map(|s| s.to_string()).unwrap_or_default()) }
                            td { (p.kind.label_ja()) }
                            td.en { (p.message) }
                        }
                    }
                }
            }
        }
        h2 { "記録 " span.en { "Entries" } }
        table.list {
            tr { th { "番号" } th { "日時（日本時間）" } th { "種類" } th { "操作者" } th { "詳細" } }
            @for (i, e) in export.entries.iter().enumerate() {
                @let problems = problems_at(i);
                tr.bad[!problems.is_empty()] {
                    td { (e.seq) }
                    td { (display_jst(&e.at)) }
                    td { (e.kind) }
                    td { (e.actor) }
                    td.mono {
                        (e.detail.to_string())
                        @for p in &problems { br; strong { "⚠ " (p) } }
                    }
                }
            }
        }
        p.note {
            "各記録は直前の記録のハッシュを含み、中継サーバが電子署名しています。出力時の最終記録も署名付きで記載されているため、"
            "途中・末尾の削除、改ざん、順序の入れ替えは検出されます。"
            br; span.en { "Entries are hash-chained and relay-signed; a signed checkpoint names the last one." }
        }
    };
    page("操作記録", body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transmission::tests::story;
    use crate::ReceiptEvent::*;
    use renkei_pki::testpki::TestPki;

    #[test]
    fn transmission_page_shows_verdict_and_escapes() {
        let pki = TestPki::generate();
        let mut c = story(&pki, &[Stored, Downloaded, Rejected]);
        let ok = c.verify(pki.ca.ca_cert_pem());
        let page = transmission_certificate_html(&c, &ok);
        assert!(page.contains("送 信 証 明 書"));
        assert!(page.contains("取込を拒否"));
        assert!(page.contains("size: A4") && page.contains("@media print"));
        assert!(page.contains(c.message.digest.as_str()));
        c.receipts[0].receipt.files = vec!["<script>".into()];
        c.message.files = vec!["<script>".into()];
        let bad = c.verify(pki.ca.ca_cert_pem());
        let page = transmission_certificate_html(&c, &bad);
        assert!(page.contains("検証できません"));
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
    }

    #[test]
    fn audit_page_marks_bad_rows() {
        let pki = TestPki::generate();
        let (_, mut e) = crate::audit::tests::chain(&pki, 4);
        let ok = crate::verify_audit_export(&e, pki.ca.ca_cert_pem());
        let page = audit_export_html(&e, &ok);
        assert!(page.contains("検証済み：4件"));
        assert!(!page.contains("class=\"bad\""));
        e.entries[1].actor = "改ざん".into();
        let bad = crate::verify_audit_export(&e, pki.ca.ca_cert_pem());
        let page = audit_export_html(&e, &bad);
        assert!(page.contains("問題が1件"));
        assert!(page.contains("class=\"bad\""));
        assert!(page.contains("内容の改ざん"));
    }
}
