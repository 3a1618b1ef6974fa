//! Receiving: list the inbox, download, verify, decrypt, validate, write into the import folder
//! in ファイル連番 order, and acknowledge.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use renkei_api::{
    AckOutcome, AckRequest, CertStatus, ErrorCode, ListQuery, MessageId, MessageState,
    MessageSummary, RejectReason, MAX_INBOX_WAIT_SECS,
};
use renkei_envelope::Header;
use renkei_format::{validate_file, FileName, Severity};
use renkei_pki::{DeviceKeys, OfficeCert, PkiError};
use serde::Serialize;
use sha2::{Digest, Sha256};

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

/// Local state of a message written into the import folder whose `imported`
/// acknowledgement has not reached the relay yet.
const WRITTEN: &str = "written";

/// Why a message could not be opened.
enum OpenFailure {
    /// The envelope itself is bad: reject it (final).
    Final(String),
    /// May pass on a later try: leave the message waiting.
    Retry(ClientError),
}

impl From<ClientError> for OpenFailure {
    fn from(e: ClientError) -> Self {
        OpenFailure::Retry(e)
    }
}

/// Revoked serials (lowercase) that count against a message created at `created_at` (Unix
/// ms): a `superseded` revocation after the message was created does not.
fn revoked_for(list: &[CertStatus], created_at: i64) -> HashSet<String> {
    list.iter()
        .filter(|c| {
            let superseded = c
                .revocation_reason
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("superseded"));
            let revoked_ms = c
                .revoked_at
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64);
            !(superseded && revoked_ms.is_some_and(|r| r > created_at))
        })
        .map(|c| c.serial.to_ascii_lowercase())
        .collect()
}

/// Verify, decrypt and unpack downloaded envelope bytes (no network), telling failures that
/// prove the envelope bad from those that may pass on a later try.
fn open_bytes(
    bytes: &[u8],
    keys: &DeviceKeys,
    input: &renkei_envelope::OpenInput<'_>,
) -> Result<(Header, Vec<UnitFile>), OpenFailure> {
    use renkei_envelope::EnvelopeError as E;
    let opened = renkei_envelope::open(bytes, keys, input).map_err(|e| match e {
        E::Malformed(_) | E::BadSignature | E::DecryptionFailed | E::BundleMismatch(_) => {
            OpenFailure::Final(e.to_string())
        }
        // A revocation that counts against this message (any reason but a later
        // `superseded`) never goes away: the sender must send again with a valid certificate.
        E::SenderCert(PkiError::Revoked { .. }) => OpenFailure::Final(e.to_string()),
        // Other certificate states, a serial of ours this device does not know: retryable.
        other => OpenFailure::Retry(ClientError::Tampered(other.to_string())),
    })?;
    let files = opened
        .files
        .into_iter()
        .map(|(name, bytes)| UnitFile { name, bytes })
        .collect();
    Ok((opened.header, files))
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
                wait: None,
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

    /// Wait up to `wait` (at most [`MAX_INBOX_WAIT_SECS`] seconds are asked of the relay) for
    /// an unread message; whether there is one. The relay answers as soon as one arrives, so a
    /// loop of these sees new plans at once without polling.
    pub async fn wait_for_unread(&self, wait: std::time::Duration) -> Result<bool, ClientError> {
        let secs = u32::try_from(wait.as_secs())
            .unwrap_or(u32::MAX)
            .min(MAX_INBOX_WAIT_SECS);
        let page = self
            .relay
            .inbox(&ListQuery {
                state: Some(MessageState::Stored),
                before: None,
                limit: Some(1),
                wait: Some(secs),
            })
            .await?;
        Ok(!page.items.is_empty())
    }

    /// Download, verify and open a message; return its files without writing anything.
    pub async fn open_message(
        &self,
        id: MessageId,
    ) -> Result<(MessageSummary, Vec<UnitFile>), ClientError> {
        match self.open_checked(id).await {
            Ok((summary, _, files)) => Ok((summary, files)),
            Err(OpenFailure::Final(why)) => Err(ClientError::Tampered(why)),
            Err(OpenFailure::Retry(e)) => Err(e),
        }
    }

    /// Download and open a message, telling failures that prove the envelope bad (the sender
    /// must send again: [`OpenFailure::Final`]) from those that may pass on a later try
    /// (network, a damaged download, a certificate the directory does not offer yet).
    async fn open_checked(
        &self,
        id: MessageId,
    ) -> Result<(MessageSummary, Header, Vec<UnitFile>), OpenFailure> {
        let status = self.relay.status(id).await?;
        let bytes = self.relay.download(id).await?;
        // The relay recorded the digest when the sender uploaded: a difference is damage on
        // the way (or a relay fault), not the sender's doing, so it stays retryable.
        if !hex::encode(Sha256::digest(&bytes)).eq_ignore_ascii_case(&status.message.digest) {
            return Err(OpenFailure::Retry(ClientError::Tampered(
                "ハッシュ値が受領証と一致しません / digest differs from the receipt".into(),
            )));
        }
        let env = renkei_envelope::Envelope::parse(&bytes)
            .map_err(|e| OpenFailure::Final(e.to_string()))?;
        let header = env.header().clone();
        if &header.recipient != self.office() {
            return Err(OpenFailure::Final(format!(
                "当事業所宛てではありません（宛先 {}）/ not addressed to us ({})",
                header.recipient, header.recipient
            )));
        }
        let sender_cert = self.sender_cert(&header).await?;
        let created_at = header
            .created_at_millis()
            .map_err(|e| OpenFailure::Final(e.to_string()))?;
        let revoked = self.revocations_at(created_at).await?;
        let stored_ms = i64::try_from(status.message.stored_at.unix_timestamp_nanos() / 1_000_000)
            .unwrap_or(i64::MAX);
        let (header, files) = open_bytes(
            &bytes,
            &self.keys,
            &renkei_envelope::OpenInput {
                my_office: self.office(),
                my_cert_serials: &self.own_serials,
                sender_cert: &sender_cert,
                ca_cert_pem: self.home.ca_pem(),
                // The sender's certificate must have been valid when the relay accepted the
                // message (the time of its signed `stored` receipt), not still today: a unit
                // sent the day before the sender's certificate expired is fetched after.
                // Revocations are checked by the list above, whatever the time.
                now: renkei_pki::now_millis().min(stored_ms),
                is_revoked: &|s: &str| revoked.contains(&s.to_ascii_lowercase()),
            },
        )?;
        Ok((status.message, header, files))
    }

    /// The sender certificate the header names: the office's current one from the directory,
    /// or, for a message sealed before the sender renewed, the older one by serial. Either is
    /// checked against the CA (and revocation) by the envelope's verification; here only its
    /// serial and office must be the header's.
    async fn sender_cert(&self, header: &Header) -> Result<OfficeCert, OpenFailure> {
        let entry = self.relay.office(&header.sender).await?;
        let not_found = || {
            OpenFailure::Retry(ClientError::Tampered(format!(
                "送信元の証明書（シリアル {}）が見つかりません / sender certificate {} not found",
                header.sender_cert_serial, header.sender_cert_serial
            )))
        };
        let pem = match entry.certificate {
            Some(info) if info.serial.eq_ignore_ascii_case(&header.sender_cert_serial) => info.pem,
            _ => {
                let status = match self.relay.certificate(&header.sender_cert_serial).await {
                    Ok(s) => s,
                    Err(ClientError::Relay(p))
                        if p.error_code() == Some(ErrorCode::CertificateNotFound) =>
                    {
                        return Err(not_found())
                    }
                    Err(e) => return Err(e.into()),
                };
                if status.office.as_ref() != Some(&header.sender)
                    || !status
                        .serial
                        .eq_ignore_ascii_case(&header.sender_cert_serial)
                {
                    return Err(not_found());
                }
                status.pem.ok_or_else(not_found)?
            }
        };
        OfficeCert::parse_pem(&pem).map_err(|e| OpenFailure::Retry(e.into()))
    }

    /// Serials to treat as revoked for a message created at `created_at` (Unix ms): a
    /// certificate revoked as `superseded` (renewal, 端末変更) still counts for messages
    /// created before its revocation.
    async fn revocations_at(&self, created_at: i64) -> Result<HashSet<String>, ClientError> {
        let list = self.relay.revocations().await?;
        Ok(revoked_for(&list.revoked, created_at))
    }

    /// Import one message: download, verify, decrypt, validate, write atomically into `dir`
    /// (default: the configured import folder), acknowledge `imported`.
    ///
    /// A message that proves bad (signature, decryption, contents, file names that do not
    /// match the envelope, validation errors) is acknowledged `rejected` with reasons and
    /// nothing is written. Anything that may pass later (network, a damaged download, an
    /// unknown certificate, a different file of the same name in the folder) is returned as
    /// an error and the message stays waiting. A message written before whose
    /// acknowledgement failed is not written again: only the acknowledgement is retried.
    pub async fn import(
        &self,
        id: MessageId,
        dir: Option<&Path>,
    ) -> Result<ImportOutcome, ClientError> {
        let dir = dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.home.import_dir());
        if let Some(done) = self.resume_ack(id).await? {
            return Ok(done);
        }
        let (summary, header, files) = match self.open_checked(id).await {
            Ok(v) => v,
            Err(OpenFailure::Final(why)) => {
                let reasons = vec![reason(
                    "verification_failed",
                    format!("受信側の検証に失敗しました: {why}"),
                )];
                let _ = self.reject(id, reasons).await;
                return Err(ClientError::Tampered(why));
            }
            Err(OpenFailure::Retry(e)) => return Err(e),
        };
        let mut reasons =
            crate::landing::check_names(&files, &header.sender, self.office(), &header.file_seq);
        if reasons.is_empty() {
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
        }
        if !reasons.is_empty() {
            return self.reject(id, reasons).await;
        }
        let written = crate::landing::land_unit(&dir, &files)?;
        let (kinds, months) = kinds_and_months(&summary.files);
        let mut record = ReceivedRecord {
            message_id: id.to_string(),
            sender: summary.sender.to_string(),
            file_seq: summary.file_seq.to_string(),
            files: files.iter().map(|f| f.name.clone()).collect(),
            digest: summary.digest.clone(),
            state: WRITTEN.into(),
            kinds: kinds.join(" "),
            months: months.join(" "),
            clients: crate::units::clients_in(&files),
            written_to: Some(dir.display().to_string()),
            reasons: None,
            at: now_rfc3339(),
        };
        self.db.record_received(&record).await?;
        self.ack_imported(id).await?;
        record.state = "imported".into();
        record.at = now_rfc3339();
        self.db.record_received(&record).await?;
        Ok(ImportOutcome {
            message_id: id.to_string(),
            sender: summary.sender.to_string(),
            file_seq: summary.file_seq.to_string(),
            state: "imported".into(),
            written,
            reasons: Vec::new(),
        })
    }

    async fn ack_imported(&self, id: MessageId) -> Result<(), ClientError> {
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
        self.store_receipt(&ack.receipt).await
    }

    /// A message this device wrote into the import folder but could not acknowledge: retry
    /// only the acknowledgement (the care software may have taken the files already).
    async fn resume_ack(&self, id: MessageId) -> Result<Option<ImportOutcome>, ClientError> {
        let Some(mut record) = self.db.received(&id.to_string()).await? else {
            return Ok(None);
        };
        if record.state != WRITTEN {
            return Ok(None);
        }
        let status = self.relay.status(id).await?;
        if !status.message.digest.eq_ignore_ascii_case(&record.digest) {
            return Ok(None);
        }
        // The local record says what the relay (and so the sender) says: a message that expired
        // before this acknowledgement got through is `expired` here too, with a note that its
        // files did reach the import folder.
        let state = if status.message.state.is_final() {
            status.message.state
        } else {
            match self.ack_imported(id).await {
                Ok(()) => MessageState::Imported,
                Err(ClientError::Relay(p)) if p.error_code() == Some(ErrorCode::MessageExpired) => {
                    MessageState::Expired
                }
                Err(e) => return Err(e),
            }
        };
        let reasons = if state == MessageState::Imported {
            Vec::new()
        } else {
            vec![reason(
                "acknowledged_too_late",
                format!(
                    "ファイルは取込フォルダに書き込み済みですが、受領通知の前に中継サーバーでの状態が「{}」になりました（送信元にもそう表示されます）",
                    state.label_ja()
                ),
            )]
        };
        record.state = state.as_str().into();
        record.reasons = (!reasons.is_empty())
            .then(|| serde_json::to_string(&reasons).ok())
            .flatten();
        record.at = now_rfc3339();
        self.db.record_received(&record).await?;
        let dir = PathBuf::from(record.written_to.clone().unwrap_or_default());
        Ok(Some(ImportOutcome {
            message_id: record.message_id.clone(),
            sender: record.sender.clone(),
            file_seq: record.file_seq.clone(),
            state: state.as_str().into(),
            written: record.files.iter().map(|f| dir.join(f)).collect(),
            reasons,
        }))
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
        // Only the states still waiting are listed: the office's finished history can be long.
        let mut pending: Vec<MessageSummary> = Vec::new();
        for state in [MessageState::Stored, MessageState::Downloaded] {
            let mut before = None;
            loop {
                let page = self
                    .relay
                    .inbox(&ListQuery {
                        state: Some(state),
                        before,
                        limit: Some(200),
                        wait: None,
                    })
                    .await?;
                pending.extend(page.items);
                match page.next_before {
                    Some(b) => before = Some(b),
                    None => break,
                }
            }
        }
        // A message downloaded (by another device) between the two listings shows up twice.
        let mut seen = std::collections::HashSet::new();
        pending.retain(|m| seen.insert(m.id));
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

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_ids::OfficeNumber;
    use time::OffsetDateTime;

    fn revoked(serial: &str, at_ms: i64, reason: &str) -> CertStatus {
        CertStatus {
            serial: serial.into(),
            office: None,
            status: "revoked".into(),
            not_after: OffsetDateTime::from_unix_timestamp(4_000_000_000).unwrap(),
            revoked_at: Some(
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).unwrap(),
            ),
            revocation_reason: Some(reason.into()),
            pem: None,
        }
    }

    fn device(ca: &renkei_pki::Ca, office: &OfficeNumber, now: i64) -> (DeviceKeys, OfficeCert) {
        let keys = DeviceKeys::generate().unwrap();
        let req = keys.enrollment_request(office, "テスト事業所").unwrap();
        let issued = ca
            .issue_office_cert(
                &req,
                office,
                "テスト事業所",
                renkei_pki::CertType::Careplan,
                now - renkei_pki::DAY_MS,
                now + 365 * renkei_pki::DAY_MS,
            )
            .unwrap();
        (keys, OfficeCert::parse_pem(&issued.pem).unwrap())
    }

    /// A sealed unit from one office to another, with what the recipient needs to open it.
    struct Sealed {
        ca: renkei_pki::Ca,
        recipient: OfficeNumber,
        recipient_keys: DeviceKeys,
        recipient_serials: Vec<String>,
        sender_cert: OfficeCert,
        files: Vec<(String, Vec<u8>)>,
        envelope: Vec<u8>,
        now: i64,
    }

    fn sealed() -> Sealed {
        let now = renkei_pki::now_millis();
        let ca = renkei_pki::Ca::generate("Test CA").unwrap();
        let sender: OfficeNumber = "1310000019".parse().unwrap();
        let recipient: OfficeNumber = "1370000027".parse().unwrap();
        let (sender_keys, sender_cert) = device(&ca, &sender, now);
        let (recipient_keys, recipient_cert) = device(&ca, &recipient, now);
        let seq = "20250425090000".parse().unwrap();
        let files: Vec<(String, Vec<u8>)> = renkei_format::sample_unit(
            renkei_format::FileKind::Upplan,
            "202505".parse().unwrap(),
            &(sender.clone(), "43".parse().unwrap()),
            &(recipient.clone(), "11".parse().unwrap()),
            &seq,
        )
        .unwrap()
        .into_iter()
        .map(|(n, b)| (n.to_string(), b))
        .collect();
        let envelope = renkei_envelope::seal(
            &renkei_envelope::SealInput {
                sender: &sender,
                sender_cert_serial: sender_cert.serial_hex(),
                recipient_cert: &recipient_cert,
                file_seq: &seq,
                files: &files,
                created_at: now,
            },
            &sender_keys,
        )
        .unwrap();
        Sealed {
            ca,
            recipient,
            recipient_serials: vec![recipient_cert.serial_hex().to_owned()],
            recipient_keys,
            sender_cert,
            files,
            envelope,
            now,
        }
    }

    fn open_sealed(
        s: &Sealed,
        bytes: &[u8],
        now: i64,
        revoked: bool,
    ) -> Result<(Header, Vec<UnitFile>), OpenFailure> {
        open_bytes(
            bytes,
            &s.recipient_keys,
            &renkei_envelope::OpenInput {
                my_office: &s.recipient,
                my_cert_serials: &s.recipient_serials,
                sender_cert: &s.sender_cert,
                ca_cert_pem: s.ca.ca_cert_pem(),
                now,
                is_revoked: &|_: &str| revoked,
            },
        )
    }

    /// No single flipped byte of an envelope opens: a flip in the sealed payload (the second
    /// half) is refused for good (the message is rejected, nothing is written), and a flip in
    /// the header is never accepted either.
    #[test]
    fn a_flipped_byte_never_opens_and_a_damaged_payload_is_final() {
        let s = sealed();
        let (_, files) = open_sealed(&s, &s.envelope, s.now, false)
            .ok()
            .expect("the untouched envelope opens");
        let opened: Vec<(String, Vec<u8>)> = files.into_iter().map(|f| (f.name, f.bytes)).collect();
        assert_eq!(opened, s.files);
        let half = s.envelope.len() / 2;
        let mut finals = 0;
        for i in 0..s.envelope.len() {
            let mut bytes = s.envelope.clone();
            bytes[i] ^= 0x01;
            match open_sealed(&s, &bytes, s.now, false) {
                Ok(_) => panic!("byte {i} of {} flipped and it still opens", bytes.len()),
                Err(OpenFailure::Final(_)) => finals += 1,
                Err(OpenFailure::Retry(e)) => {
                    assert!(
                        i < half,
                        "byte {i} (payload) flipped is only retryable: {e}"
                    )
                }
            }
        }
        assert!(
            finals > half,
            "{finals} of {} flips final",
            s.envelope.len()
        );
    }

    /// A sender certificate revoked for this message is final (rejected with the reason); one
    /// outside its validity now may be a clock problem here and stays retryable.
    #[test]
    fn revoked_sender_is_final_expired_sender_is_retryable() {
        let s = sealed();
        match open_sealed(&s, &s.envelope, s.now, true) {
            Err(OpenFailure::Final(why)) => assert!(why.contains("失効"), "{why}"),
            Err(OpenFailure::Retry(e)) => panic!("revoked sender only retryable: {e}"),
            Ok(_) => panic!("a revoked sender's message opened"),
        }
        let later = s.now + 400 * renkei_pki::DAY_MS;
        assert!(matches!(
            open_sealed(&s, &s.envelope, later, false),
            Err(OpenFailure::Retry(_))
        ));
    }

    #[test]
    fn superseded_certificates_still_count_for_earlier_messages() {
        let list = [
            revoked("AA01", 2_000_000, "superseded"),
            revoked("bb02", 2_000_000, "keyCompromise"),
        ];
        // Created before the renewal: the superseded one is not held against it.
        let before = revoked_for(&list, 1_000_000);
        assert!(!before.contains("aa01"));
        assert!(before.contains("bb02"));
        // Created after: both count.
        let after = revoked_for(&list, 3_000_000);
        assert!(after.contains("aa01") && after.contains("bb02"));
    }
}
