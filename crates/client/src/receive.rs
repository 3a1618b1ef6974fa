//! Receiving: list the inbox, download, verify, decrypt, validate, write into the import folder
//! in ファイル連番 order, and acknowledge.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use renkei_api::{
    AckOutcome, AckRequest, ListQuery, MessageId, MessageState, MessageSummary, RejectReason,
};
use renkei_format::{validate_file, FileName, Severity};
use renkei_pki::OfficeCert;
use serde::Serialize;

use crate::atomic::write_atomic_mode;
use crate::office::Office;
use crate::state::{now_rfc3339, ReceivedRecord, UnitFile};
use crate::ClientError;

/// One inbox line, ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct InboxEntry {
    /// What the relay says about it.
    pub message: MessageSummary,
    /// Sender office name (directory), or its number.
    pub sender_name: String,
    /// Table kinds in Japanese (第6表 サービス利用票 …), from the file names.
    pub kinds: Vec<String>,
    /// 対象年月 from the file names.
    pub months: Vec<String>,
    /// Clients, once imported on this device (the payload is encrypted until then).
    pub clients: Option<String>,
    /// Unread (not downloaded by anyone yet).
    pub unread: bool,
}

/// What happened to one received message.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    /// The message.
    pub message_id: String,
    /// Sender.
    pub sender: String,
    /// ファイル連番.
    pub file_seq: String,
    /// `imported` or `rejected`.
    pub state: String,
    /// Files written (full paths), in import order; empty when rejected.
    pub written: Vec<PathBuf>,
    /// Why it was rejected.
    pub reasons: Vec<RejectReason>,
}

fn kinds_and_months(files: &[String]) -> (Vec<String>, Vec<String>) {
    let mut kinds = BTreeSet::new();
    let mut months = BTreeSet::new();
    for f in files {
        if let Ok(n) = FileName::parse(f) {
            kinds.insert(n.kind.title_ja().to_owned());
            if let Some(m) = n.month {
                months.insert(m.to_string());
            }
        }
    }
    (kinds.into_iter().collect(), months.into_iter().collect())
}

fn reason(code: &str, message: String) -> RejectReason {
    RejectReason {
        file: None,
        line: None,
        item: None,
        code: code.into(),
        message: Some(message),
    }
}

impl Office {
    /// The inbox: unread first, then the rest, newest first within each group.
    pub async fn inbox(&self, limit: u32) -> Result<Vec<InboxEntry>, ClientError> {
        let page = self
            .relay
            .inbox(&ListQuery {
                state: None,
                before: None,
                limit: Some(limit.clamp(1, 200)),
            })
            .await?;
        let mut out = Vec::new();
        for m in page.items {
            let (kinds, months) = kinds_and_months(&m.files);
            let local = self.db.received(&m.id.to_string()).await?;
            out.push(InboxEntry {
                sender_name: self.office_display_name(m.sender.as_str()).await,
                kinds,
                months,
                clients: local.map(|r| r.clients).filter(|c| !c.is_empty()),
                unread: m.state == MessageState::Stored,
                message: m,
            });
        }
        out.sort_by(|a, b| {
            b.unread
                .cmp(&a.unread)
                .then(b.message.stored_at.cmp(&a.message.stored_at))
        });
        Ok(out)
    }

    /// Download, verify and open a message; return its files without writing anything.
    pub async fn open_message(
        &self,
        id: MessageId,
    ) -> Result<(MessageSummary, Vec<UnitFile>), ClientError> {
        let status = self.relay.status(id).await?;
        let bytes = self.relay.download(id).await?;
        let env = renkei_envelope::Envelope::parse(&bytes)
            .map_err(|e| ClientError::Tampered(e.to_string()))?;
        if env.digest_hex() != status.message.digest {
            return Err(ClientError::Tampered(
                "ハッシュ値が受領証と一致しません / digest differs from the receipt".into(),
            ));
        }
        let sender = env.header().sender.clone();
        let entry = self.relay.office(&sender).await?;
        let cert_info = entry.certificate.ok_or_else(|| {
            ClientError::Tampered(
                "送信元の証明書が見つかりません / sender certificate not found".into(),
            )
        })?;
        let sender_cert = OfficeCert::parse_pem(&cert_info.pem)?;
        let revoked = self.revoked().await?;
        let serials = vec![self.cert.serial_hex().to_owned()];
        let opened = renkei_envelope::open(
            &bytes,
            &self.keys,
            &renkei_envelope::OpenInput {
                my_office: self.office(),
                my_cert_serials: &serials,
                sender_cert: &sender_cert,
                ca_cert_pem: self.home.ca_pem(),
                now: renkei_pki::now_millis(),
                is_revoked: &|s: &str| revoked.contains(&s.to_ascii_lowercase()),
            },
        )
        .map_err(|e| ClientError::Tampered(e.to_string()))?;
        let files = opened
            .files
            .into_iter()
            .map(|(name, bytes)| UnitFile { name, bytes })
            .collect();
        Ok((status.message, files))
    }

    /// Import one message: download, verify, decrypt, validate, write atomically into `dir`
    /// (default: the configured import folder), acknowledge `imported`. A message that fails
    /// verification or validation is acknowledged `rejected` with reasons and nothing is
    /// written.
    pub async fn import(
        &self,
        id: MessageId,
        dir: Option<&Path>,
    ) -> Result<ImportOutcome, ClientError> {
        let dir = dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.home.import_dir());
        let (summary, files) = match self.open_message(id).await {
            Ok(v) => v,
            Err(ClientError::Tampered(why)) => {
                let reasons = vec![reason(
                    "verification_failed",
                    format!("受信側の検証に失敗しました: {why}"),
                )];
                let _ = self.reject(id, reasons).await;
                return Err(ClientError::Tampered(why));
            }
            Err(e) => return Err(e),
        };
        let mut reasons = Vec::new();
        for f in &files {
            let report = validate_file(&f.name, &f.bytes);
            for finding in report
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
            {
                reasons.push(RejectReason {
                    file: Some(finding.file.clone()),
                    line: finding.line,
                    item: finding
                        .item
                        .as_ref()
                        .map(|i| format!("No.{} {}", i.no, i.name)),
                    code: finding.code.as_str().to_owned(),
                    message: Some(format!("{} / {}", finding.ja, finding.en)),
                });
            }
        }
        if !reasons.is_empty() {
            return self.reject(id, reasons).await;
        }
        let mut written = Vec::new();
        for f in &files {
            let path = dir.join(&f.name);
            write_atomic_mode(&path, &f.bytes, 0o644)?;
            written.push(path);
        }
        let (kinds, months) = kinds_and_months(&summary.files);
        let record = ReceivedRecord {
            message_id: id.to_string(),
            sender: summary.sender.to_string(),
            file_seq: summary.file_seq.to_string(),
            files: summary.files.clone(),
            digest: summary.digest.clone(),
            state: "imported".into(),
            kinds: kinds.join(" "),
            months: months.join(" "),
            clients: crate::units::clients_in(&files),
            written_to: Some(dir.display().to_string()),
            reasons: None,
            at: now_rfc3339(),
        };
        self.db.record_received(&record).await?;
        let ack = self
            .relay
            .ack(
                id,
                &AckRequest {
                    outcome: AckOutcome::Imported,
                    reasons: Vec::new(),
                },
            )
            .await?;
        self.store_receipt(&ack.receipt).await?;
        Ok(ImportOutcome {
            message_id: id.to_string(),
            sender: summary.sender.to_string(),
            file_seq: summary.file_seq.to_string(),
            state: "imported".into(),
            written,
            reasons: Vec::new(),
        })
    }

    /// Refuse a message (差し戻し) with reasons. A message nobody downloaded yet is downloaded
    /// first (the relay records who looked at it); nothing is written.
    pub async fn reject(
        &self,
        id: MessageId,
        reasons: Vec<RejectReason>,
    ) -> Result<ImportOutcome, ClientError> {
        if reasons.is_empty() {
            return Err(ClientError::bad_input(
                "差し戻しの理由を入力してください",
                "a rejection needs a reason",
            ));
        }
        let status = self.relay.status(id).await?;
        if status.message.state == MessageState::Stored {
            let _ = self.relay.download(id).await?;
        }
        let ack = self
            .relay
            .ack(
                id,
                &AckRequest {
                    outcome: AckOutcome::Rejected,
                    reasons: reasons.clone(),
                },
            )
            .await?;
        self.store_receipt(&ack.receipt).await?;
        let m = &status.message;
        let (kinds, months) = kinds_and_months(&m.files);
        self.db
            .record_received(&ReceivedRecord {
                message_id: id.to_string(),
                sender: m.sender.to_string(),
                file_seq: m.file_seq.to_string(),
                files: m.files.clone(),
                digest: m.digest.clone(),
                state: "rejected".into(),
                kinds: kinds.join(" "),
                months: months.join(" "),
                clients: String::new(),
                written_to: None,
                reasons: serde_json::to_string(&reasons).ok(),
                at: now_rfc3339(),
            })
            .await?;
        Ok(ImportOutcome {
            message_id: id.to_string(),
            sender: m.sender.to_string(),
            file_seq: m.file_seq.to_string(),
            state: "rejected".into(),
            written: Vec::new(),
            reasons,
        })
    }

    /// Import every message that is waiting (not yet final), in ファイル連番 order, into `dir`
    /// (default: the import folder). Failures of one message do not stop the others.
    pub async fn import_all(
        &self,
        dir: Option<&Path>,
    ) -> Result<Vec<Result<ImportOutcome, (String, ClientError)>>, ClientError> {
        let mut pending: Vec<MessageSummary> = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .relay
                .inbox(&ListQuery {
                    state: None,
                    before,
                    limit: Some(200),
                })
                .await?;
            pending.extend(page.items.into_iter().filter(|m| !m.state.is_final()));
            match page.next_before {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        pending.sort_by(|a, b| {
            a.file_seq
                .cmp(&b.file_seq)
                .then(a.stored_at.cmp(&b.stored_at))
        });
        let mut out = Vec::new();
        for m in pending {
            out.push(
                self.import(m.id, dir)
                    .await
                    .map_err(|e| (m.id.to_string(), e)),
            );
        }
        Ok(out)
    }

    /// The received messages this device processed, newest first.
    pub async fn received(&self, limit: i64) -> Result<Vec<ReceivedRecord>, ClientError> {
        self.db.received_list(limit).await
    }

    /// Reasons as plain text, for display.
    pub fn reasons_text(reasons: &[RejectReason]) -> Vec<String> {
        reasons
            .iter()
            .map(|r| {
                let mut s = String::new();
                if let Some(f) = &r.file {
                    s.push_str(f);
                }
                if let Some(l) = r.line {
                    s.push_str(&format!(" {l}行目"));
                }
                if let Some(i) = &r.item {
                    s.push_str(&format!(" 項目「{i}」"));
                }
                if !s.is_empty() {
                    s.push_str(": ");
                }
                s.push_str(r.message.as_deref().unwrap_or(&r.code));
                s
            })
            .collect()
    }
}
