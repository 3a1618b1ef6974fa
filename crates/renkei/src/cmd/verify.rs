//! `renkei verify`: check a receipt, a transmission certificate (送信証明書) or an audit export
//! offline, with only the CA certificate. Exit code 0 valid, 1 invalid, 2 unreadable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use renkei_evidence::{display_jst, Document, EvidenceError, Verified};

/// 受領証・送信証明書・操作記録を検証する（認証局の証明書だけで、オフラインで）
/// / Verify a receipt, transmission certificate or audit export offline with the CA certificate
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// 検証するファイル（JSON） / the evidence file (JSON)
    pub file: PathBuf,
    /// Renkei認証局の証明書（PEM） / the Renkei CA certificate (PEM)
    #[arg(long, value_name = "PATH", env = "RENKEI_CA_CERT")]
    pub ca: PathBuf,
    /// 結果をJSONで出力 / print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// 印刷用のHTMLも書き出す / also write a printable HTML page
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
}

/// Exit codes.
const VALID: u8 = 0;
const INVALID: u8 = 1;
const UNREADABLE: u8 = 2;

/// Run with stdout; see [`run_to`].
pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let code = run_to(args, &mut stdout.lock())?;
    Ok(ExitCode::from(code))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Verify and print the verdict to `out`; returns the exit code (0 valid, 1 invalid,
/// 2 unreadable). Errors only when `out` itself fails.
pub fn run_to(args: &VerifyArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let loaded = read(&args.file).and_then(|bytes| {
        let ca = read(&args.ca)
            .and_then(|b| String::from_utf8(b).map_err(|_| "CA: not UTF-8 PEM".into()))?;
        renkei_evidence::pki::parse_ca_cert(&ca)
            .map_err(|e| format!("{}: {e}", args.ca.display()))?;
        let doc = Document::parse(&bytes).map_err(|e| e.to_string())?;
        Ok((doc, ca))
    });
    let (doc, ca) = match loaded {
        Ok(x) => x,
        Err(msg) => {
            if args.json {
                let v = serde_json::json!({ "valid": false, "status": "unreadable", "error": msg });
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(out, "読み取れません: {msg}")?;
                writeln!(
                    out,
                    "Unreadable: the file or the CA certificate cannot be read."
                )?;
            }
            return Ok(UNREADABLE);
        }
    };
    let result = doc.verify(&ca);
    if let Some(path) = &args.html {
        std::fs::write(path, doc.to_html(&ca))
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    let valid = matches!(&result, Ok(v) if v.is_valid());
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json_verdict(&doc, &result))?
        )?;
    } else {
        print_verdict(out, &doc, &result)?;
    }
    Ok(if valid { VALID } else { INVALID })
}

fn json_verdict(doc: &Document, result: &Result<Verified, EvidenceError>) -> serde_json::Value {
    let mut v = serde_json::json!({ "type": doc.kind() });
    match result {
        Ok(verified) => {
            v["valid"] = verified.is_valid().into();
            v["status"] = if verified.is_valid() {
                "valid"
            } else {
                "invalid"
            }
            .into();
            v["result"] = match verified {
                Verified::Receipt(r) => serde_json::to_value(r),
                Verified::AuditExport(r) => serde_json::to_value(r),
                Verified::TransmissionCertificate(r) => serde_json::to_value(r),
            }
            .unwrap_or(serde_json::Value::Null);
        }
        Err(e) => {
            v["valid"] = false.into();
            v["status"] = "invalid".into();
            v["error"] = e.to_string().into();
        }
    }
    v
}

fn print_verdict(
    out: &mut dyn Write,
    doc: &Document,
    result: &Result<Verified, EvidenceError>,
) -> std::io::Result<()> {
    let kind = doc.kind_ja();
    match result {
        Ok(v) if v.is_valid() => {
            writeln!(
                out,
                "✔ 有効な{kind}です。Renkei認証局が認めた中継サーバの署名を確認しました。"
            )?;
            writeln!(
                out,
                "  Valid {}: signed by a relay certified by the Renkei CA.",
                doc.kind()
            )?;
        }
        Ok(_) => {
            writeln!(
                out,
                "✘ 無効な{kind}です。改ざんまたは削除が見つかりました。"
            )?;
            writeln!(
                out,
                "  Invalid {}: alteration or removal detected.",
                doc.kind()
            )?;
        }
        Err(e) => {
            writeln!(out, "✘ 無効な{kind}です。 / Invalid {}.", doc.kind())?;
            writeln!(out, "  理由 / reason: {e}")?;
            return Ok(());
        }
    }
    match result {
        Ok(Verified::Receipt(r)) => {
            writeln!(
                out,
                "  状態 / event:      {}（{}）",
                r.event.label_ja(),
                r.event.as_str()
            )?;
            writeln!(out, "  日時 / at:         {}", display_jst(&r.at))?;
            writeln!(out, "  送信元 / sender:   {}", r.sender)?;
            writeln!(out, "  送信先 / recipient: {}", r.recipient)?;
            writeln!(out, "  ファイル連番 / file seq: {}", r.file_seq)?;
            for f in &r.files {
                writeln!(out, "  ファイル / file:   {f}")?;
            }
            writeln!(out, "  SHA-256: {}", r.digest)?;
            if let Some(reason) = &r.reason {
                writeln!(out, "  理由 / reason:     {reason}")?;
            }
        }
        Ok(Verified::TransmissionCertificate(t)) => {
            let m = &t.message;
            writeln!(out, "  送信元 / sender:   {}", m.sender)?;
            writeln!(out, "  送信先 / recipient: {}", m.recipient)?;
            writeln!(out, "  ファイル連番 / file seq: {}", m.file_seq)?;
            for f in &m.files {
                writeln!(out, "  ファイル / file:   {f}")?;
            }
            for (event, at) in &t.events {
                writeln!(
                    out,
                    "  {}  {}（{}）",
                    display_jst(at),
                    event.label_ja(),
                    event.as_str()
                )?;
            }
        }
        Ok(Verified::AuditExport(r)) => {
            writeln!(out, "  事業所番号 / office: {}", r.office)?;
            writeln!(
                out,
                "  記録 / entries:    {}件（{}〜{}、署名付き最終番号 {}）",
                r.entry_count,
                r.first_seq.map(|s| s.to_string()).unwrap_or_default(),
                r.last_seq.map(|s| s.to_string()).unwrap_or_default(),
                r.checkpoint_seq
            )?;
            for p in &r.problems {
                let seq = p.seq.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "  ⚠ 行{} 番号{}: {} / {}",
                    p.index + 1,
                    seq,
                    p.kind.label_ja(),
                    p.message
                )?;
            }
        }
        Err(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_evidence::pki::{ed25519_public_key, generate_ed25519_pkcs8, now_millis, Ca};
    use renkei_evidence::{
        rfc3339_jst, Receipt, ReceiptEvent, ReceiptSigner, TransmissionCertificate,
    };

    struct Fixture {
        dir: tempfile::TempDir,
        signer: ReceiptSigner,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::generate("Renkei Test CA").unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.ca_cert_pem()).unwrap();
        let other = Ca::generate("Renkei Test CA").unwrap();
        std::fs::write(dir.path().join("other-ca.pem"), other.ca_cert_pem()).unwrap();
        let key = generate_ed25519_pkcs8().unwrap();
        let cert = ca
            .issue_relay_cert(&ed25519_public_key(&key).unwrap(), "relay")
            .unwrap();
        Fixture {
            signer: ReceiptSigner::new(&key, &cert.pem).unwrap(),
            dir,
        }
    }

    fn receipt(event: ReceiptEvent, offset_ms: i64) -> Receipt {
        Receipt {
            v: 1,
            message_id: "01936f3c-7a80-7000-8000-000000000001".parse().unwrap(),
            event,
            at: rfc3339_jst(now_millis() + offset_ms),
            digest: "ab".repeat(32),
            length: 10,
            sender: "0300000100".parse().unwrap(),
            recipient: "0300000005".parse().unwrap(),
            file_seq: "20191025200201".parse().unwrap(),
            files: vec!["UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV".into()],
            reason: None,
        }
    }

    fn run_on(f: &Fixture, name: &str, ca: &str, json: bool) -> (u8, String) {
        let args = VerifyArgs {
            file: f.dir.path().join(name),
            ca: f.dir.path().join(ca),
            json,
            html: Some(f.dir.path().join("out.html")),
        };
        let mut out = Vec::new();
        let code = run_to(&args, &mut out).unwrap();
        (code, String::from_utf8(out).unwrap())
    }

    #[test]
    fn verdicts_and_exit_codes() {
        let f = fixture();
        let stored = f.signer.sign(&receipt(ReceiptEvent::Stored, 0)).unwrap();
        let imported = f
            .signer
            .sign(&receipt(ReceiptEvent::Imported, 1000))
            .unwrap();
        std::fs::write(
            f.dir.path().join("r.json"),
            serde_json::to_vec(&stored).unwrap(),
        )
        .unwrap();
        let cert = TransmissionCertificate::from_receipts(vec![stored.clone(), imported]).unwrap();
        std::fs::write(
            f.dir.path().join("t.json"),
            serde_json::to_vec(&cert).unwrap(),
        )
        .unwrap();
        let mut tampered = stored.clone();
        tampered.receipt.length = 11;
        std::fs::write(
            f.dir.path().join("bad.json"),
            serde_json::to_vec(&tampered).unwrap(),
        )
        .unwrap();
        std::fs::write(f.dir.path().join("junk.json"), b"not json").unwrap();

        let (code, text) = run_on(&f, "r.json", "ca.pem", false);
        assert_eq!(code, 0, "{text}");
        assert!(
            text.contains("有効な受領証") && text.contains("Valid renkei-receipt"),
            "{text}"
        );
        let (code, text) = run_on(&f, "t.json", "ca.pem", false);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("取込完了"), "{text}");
        assert!(std::fs::read_to_string(f.dir.path().join("out.html"))
            .unwrap()
            .contains("送 信 証 明 書"));

        let (code, text) = run_on(&f, "bad.json", "ca.pem", false);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("無効な受領証"), "{text}");
        let (code, _) = run_on(&f, "r.json", "other-ca.pem", false);
        assert_eq!(code, 1);

        let (code, text) = run_on(&f, "junk.json", "ca.pem", false);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains("読み取れません"));
        let (code, _) = run_on(&f, "missing.json", "ca.pem", false);
        assert_eq!(code, 2);
        let (code, _) = run_on(&f, "r.json", "r.json", false);
        assert_eq!(code, 2);

        let (code, text) = run_on(&f, "t.json", "ca.pem", true);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["valid"], true);
        assert_eq!(v["type"], "renkei-transmission-certificate");
        let (_, text) = run_on(&f, "bad.json", "ca.pem", true);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (v["valid"].as_bool(), v["status"].as_str()),
            (Some(false), Some("invalid"))
        );
    }

    #[test]
    fn audit_export_problems_are_listed() {
        let f = fixture();
        let office = "0300000100".parse().unwrap();
        let mut entries: Vec<renkei_evidence::AuditEntry> = Vec::new();
        for i in 0..3 {
            let head = entries.last().map(|e| e.head());
            let e = f
                .signer
                .next_audit_entry(
                    &office,
                    head.as_ref(),
                    now_millis() + i,
                    "login",
                    "c0000000001",
                    serde_json::json!({}),
                )
                .unwrap();
            entries.push(e);
        }
        let head = entries[2].head();
        let mut export = f
            .signer
            .export_audit(&office, entries, &head, now_millis())
            .unwrap();
        std::fs::write(
            f.dir.path().join("a.json"),
            serde_json::to_vec(&export).unwrap(),
        )
        .unwrap();
        let (code, text) = run_on(&f, "a.json", "ca.pem", false);
        assert_eq!(code, 0, "{text}");
        export.entries.remove(1);
        std::fs::write(
            f.dir.path().join("a.json"),
            serde_json::to_vec(&export).unwrap(),
        )
        .unwrap();
        let (code, text) = run_on(&f, "a.json", "ca.pem", false);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("記録の欠落"), "{text}");
    }
}
