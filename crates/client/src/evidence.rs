//! Evidence for inspectors: the 送信証明書 of one send (its receipt chain) and the office's
//! audit trail, each as JSON (verifiable offline with `renkei verify` and the CA certificate)
//! and as a printable page. Everything is verified here before it is shown or written.

use std::path::{Path, PathBuf};

use renkei_evidence::{
    verify_audit_export, AuditExport, EvidenceError, TransmissionCertificate, TransmissionReport,
    VerifyReport, AUDIT_EXPORT_TYPE, RECEIPT_TYPE,
};

use crate::atomic::write_atomic_mode;
use crate::office::Office;
use crate::ClientError;

fn with_type(mut v: serde_json::Value, kind: &str) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.entry("type")
            .or_insert_with(|| serde_json::Value::String(kind.to_owned()));
    }
    v
}

/// Convert a receipt as the API carries it into the evidence file form.
pub fn receipt_file(
    r: &renkei_api::SignedReceipt,
) -> Result<renkei_evidence::SignedReceipt, ClientError> {
    let v = serde_json::to_value(r).map_err(|e| ClientError::Evidence(e.to_string()))?;
    serde_json::from_value(with_type(v, RECEIPT_TYPE))
        .map_err(|e| ClientError::Evidence(e.to_string()))
}

/// A verified (or not: see the result) transmission certificate.
pub type CertificateAndCheck = (
    TransmissionCertificate,
    Result<TransmissionReport, EvidenceError>,
);

impl Office {
    /// The 送信証明書 of local send `send_id`: its receipts (refreshed from the relay when
    /// reachable) verified against the CA certificate.
    pub async fn transmission_certificate(
        &self,
        send_id: i64,
    ) -> Result<CertificateAndCheck, ClientError> {
        let send = self.db.send(send_id).await?.ok_or_else(|| {
            ClientError::bad_input(
                format!("履歴 {send_id} はありません"),
                format!("no send {send_id}"),
            )
        })?;
        let Some(mid) = &send.message_id else {
            return Err(ClientError::bad_input(
                "まだ中継サーバーに受け付けられていないため、送信証明書はありません",
                "not stored by the relay yet: no certificate",
            ));
        };
        if let Err(e) = self.refresh_send(&send).await {
            if !e.is_unreachable() && !matches!(e, ClientError::NoCredentials) {
                return Err(e);
            }
        }
        let receipts = self
            .receipts(mid)
            .await?
            .iter()
            .map(receipt_file)
            .collect::<Result<Vec<_>, _>>()?;
        let cert = TransmissionCertificate::from_receipts(receipts)
            .map_err(|e| ClientError::Evidence(e.to_string()))?;
        let check = cert.verify(self.home.ca_pem());
        Ok((cert, check))
    }

    /// The office's audit trail from the relay, verified against the CA certificate.
    pub async fn audit_trail(
        &self,
    ) -> Result<(AuditExport, Result<VerifyReport, EvidenceError>), ClientError> {
        let api = self.relay.audit().await?;
        let v = serde_json::to_value(&api).map_err(|e| ClientError::Evidence(e.to_string()))?;
        let export: AuditExport = serde_json::from_value(with_type(v, AUDIT_EXPORT_TYPE))
            .map_err(|e| ClientError::Evidence(e.to_string()))?;
        let check = verify_audit_export(&export, self.home.ca_pem());
        Ok((export, check))
    }
}

/// Write evidence files into `out`: for `send`, `送信証明書_<id>.json` and `.html`; with
/// `audit`, `操作記録_<office>.json` and `.html`. Returns the paths written.
pub async fn export(
    office: &Office,
    out: &Path,
    send: Option<i64>,
    audit: bool,
) -> Result<Vec<PathBuf>, ClientError> {
    let mut written = Vec::new();
    let mut write = |name: String, bytes: Vec<u8>| -> Result<(), ClientError> {
        let p = out.join(name);
        write_atomic_mode(&p, &bytes, 0o644)?;
        written.push(p);
        Ok(())
    };
    if let Some(id) = send {
        let (cert, check) = office.transmission_certificate(id).await?;
        if let Err(e) = &check {
            return Err(ClientError::Evidence(e.to_string()));
        }
        let json =
            serde_json::to_vec_pretty(&cert).map_err(|e| ClientError::Evidence(e.to_string()))?;
        write(format!("送信証明書_{id}.json"), json)?;
        write(
            format!("送信証明書_{id}.html"),
            renkei_evidence::html::transmission_certificate_html(&cert, &check).into_bytes(),
        )?;
    }
    if audit {
        let (export, check) = office.audit_trail().await?;
        let json =
            serde_json::to_vec_pretty(&export).map_err(|e| ClientError::Evidence(e.to_string()))?;
        write(format!("操作記録_{}.json", office.office()), json)?;
        write(
            format!("操作記録_{}.html", office.office()),
            renkei_evidence::html::audit_export_html(&export, &check).into_bytes(),
        )?;
        match check {
            Err(e) => return Err(ClientError::Evidence(e.to_string())),
            Ok(r) if !r.is_valid() => {
                return Err(ClientError::Evidence(format!(
                    "操作記録に改ざん・欠落があります / the audit trail has {} problem(s)",
                    r.problems.len()
                )))
            }
            Ok(_) => {}
        }
    }
    if written.is_empty() {
        return Err(ClientError::bad_input(
            "--send か --audit を指定してください",
            "give --send or --audit",
        ));
    }
    Ok(written)
}
