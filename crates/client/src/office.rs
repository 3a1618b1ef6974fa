//! [`Office`]: an unlocked, enrolled installation — the object every user action goes
//! through (login, send, receive, directory, history).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use renkei_api::{
    DirectoryEntry, DirectoryQuery, ErrorCode, MessageId, SessionResponse, SignedReceipt,
};
use renkei_ids::OfficeNumber;
use renkei_pki::{DeviceKeys, OfficeCert};

use crate::home::Home;
use crate::keystore::{Credentials, Keystore};
use crate::relay::RelayClient;
use crate::state::{SendRecord, StateDb};
use crate::units::{describe_findings, PreparedUnit};
use crate::ClientError;

/// Where a send is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendStage {
    /// Checked and recorded locally, waiting in the outbox.
    Queued,
    /// Encrypting for the recipient and signing.
    Sealing,
    /// Uploading.
    Uploading,
    /// The relay stored it (a signed `stored` receipt is kept).
    Stored {
        /// Relay message id.
        message_id: String,
    },
    /// The relay could not be reached: it stays in the outbox.
    Waiting(String),
    /// Refused for good (recorded in the history with the reason).
    Failed(String),
}

/// Progress of one unit of a batch.
#[derive(Debug, Clone)]
pub struct SendProgress {
    /// Local send id.
    pub send_id: i64,
    /// Recipient office.
    pub recipient: String,
    /// ファイル連番.
    pub file_seq: String,
    /// 1-based position in this flush.
    pub index: usize,
    /// Units in this flush.
    pub total: usize,
    /// Stage reached.
    pub stage: SendStage,
}

/// What a flush of the outbox did.
#[derive(Debug, Clone, Default)]
pub struct FlushReport {
    /// Sends the relay stored.
    pub stored: Vec<i64>,
    /// Sends refused for good.
    pub failed: Vec<(i64, String)>,
    /// Sends still waiting (relay unreachable).
    pub waiting: Vec<i64>,
}

/// What queuing one unit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// Queued under this local id.
    New(i64),
    /// The same content went to the same office before (watch folders never send twice).
    Duplicate(i64),
}

/// An unlocked installation of one office.
pub struct Office {
    pub(crate) home: Home,
    pub(crate) keystore: Mutex<Keystore>,
    pub(crate) keys: DeviceKeys,
    pub(crate) db: StateDb,
    pub(crate) relay: RelayClient,
    pub(crate) cert: OfficeCert,
    /// Serials of every certificate of our device keys (current first, then renewed-away
    /// ones), lowercase hex: a message sealed for any of them opens.
    pub(crate) own_serials: Vec<String>,
    pub(crate) names: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Office {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Office")
            .field("office", self.cert.office())
            .finish_non_exhaustive()
    }
}

impl Office {
    /// Unlock the home with `passphrase` and open its state.
    pub async fn unlock(home: Home, passphrase: &str) -> Result<Office, ClientError> {
        let keystore = home.unlock(passphrase)?;
        Self::open(home, keystore).await
    }

    /// Open an enrolled home with an unlocked keystore.
    pub async fn open(home: Home, keystore: Keystore) -> Result<Office, ClientError> {
        let pem = keystore
            .certificate_pem()
            .ok_or(ClientError::NotEnrolled)?
            .to_owned();
        let cert = OfficeCert::parse_pem(&pem)?;
        cert.verify_chain(home.ca_pem())?;
        let keys = DeviceKeys::import(&keystore.device_keys().export())?;
        let relay = RelayClient::new(
            &home.config().relay_url,
            home.ca_pem(),
            &pem,
            keys.signing_pkcs8(),
        )?;
        relay.set_credentials(keystore.credentials().cloned());
        let db = StateDb::open(&home.state_db_path()).await?;
        let mut own_serials = vec![cert.serial_hex().to_ascii_lowercase()];
        for old in keystore.previous_certificates() {
            if let Ok(c) = OfficeCert::parse_pem(old) {
                let s = c.serial_hex().to_ascii_lowercase();
                if c.office() == cert.office() && !own_serials.contains(&s) {
                    own_serials.push(s);
                }
            }
        }
        Ok(Office {
            own_serials,
            home,
            keystore: Mutex::new(keystore),
            keys,
            db,
            relay,
            cert,
            names: Mutex::new(HashMap::new()),
        })
    }

    /// This office's number.
    pub fn office(&self) -> &OfficeNumber {
        self.cert.office()
    }

    /// The office name in the certificate (or the number).
    pub fn office_name(&self) -> String {
        self.cert
            .office_name()
            .unwrap_or(self.cert.office().as_str())
            .to_owned()
    }

    /// The device's office certificate.
    pub fn certificate(&self) -> &OfficeCert {
        &self.cert
    }

    /// The home.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The state database.
    pub fn db(&self) -> &StateDb {
        &self.db
    }

    /// The relay connection.
    pub fn relay(&self) -> &RelayClient {
        &self.relay
    }

    /// Whether the four login fields are remembered (daily use is then one unlock).
    pub fn has_remembered_credentials(&self) -> bool {
        self.keystore
            .lock()
            .map(|k| k.credentials().is_some())
            .unwrap_or(false)
    }

    /// The remembered personal user ID, for display.
    pub fn remembered_user(&self) -> Option<String> {
        self.keystore
            .lock()
            .ok()?
            .credentials()
            .map(|c| c.user_id.to_string())
    }

    /// Log in (two stages). With `None`, use the remembered credentials. With `remember`,
    /// store the given credentials in the keystore after a successful login.
    pub async fn login(
        &self,
        creds: Option<Credentials>,
        remember: bool,
    ) -> Result<SessionResponse, ClientError> {
        let creds = match creds {
            Some(c) => c,
            None => self
                .keystore
                .lock()
                .ok()
                .and_then(|k| k.credentials().cloned())
                .ok_or(ClientError::NoCredentials)?,
        };
        let session = self.relay.login(&creds).await?;
        if remember {
            let mut ks = self
                .keystore
                .lock()
                .map_err(|_| ClientError::Config("keystore lock".into()))?;
            ks.set_credentials(Some(creds));
            ks.save(&self.home.keystore_path())?;
            drop(ks);
            self.home
                .clone()
                .update_config(|c| c.remember_login = true)?;
        }
        Ok(session)
    }

    /// Forget the remembered credentials.
    pub fn forget_credentials(&self) -> Result<(), ClientError> {
        let mut ks = self
            .keystore
            .lock()
            .map_err(|_| ClientError::Config("keystore lock".into()))?;
        ks.set_credentials(None);
        self.relay.set_credentials(None);
        ks.save(&self.home.keystore_path())?;
        drop(ks);
        self.home
            .clone()
            .update_config(|c| c.remember_login = false)
    }

    /// Make sure a session exists, logging in from remembered credentials if needed.
    pub async fn ensure_session(&self) -> Result<(), ClientError> {
        if self.relay.session().is_none() {
            self.login(None, false).await?;
        }
        Ok(())
    }

    /// Search the directory.
    pub async fn search_directory(
        &self,
        query: &DirectoryQuery,
    ) -> Result<Vec<DirectoryEntry>, ClientError> {
        let page = self.relay.directory(query).await?;
        if let Ok(mut names) = self.names.lock() {
            for e in &page.items {
                names.insert(e.number.to_string(), e.name.clone());
            }
        }
        Ok(page.items)
    }

    /// The name of an office (directory lookup, cached; the number if unknown).
    pub async fn office_display_name(&self, office: &str) -> String {
        if let Some(n) = self.names.lock().ok().and_then(|m| m.get(office).cloned()) {
            return n;
        }
        let Ok(number) = office.parse::<OfficeNumber>() else {
            return office.to_owned();
        };
        match self.relay.office(&number).await {
            Ok(e) => {
                if let Ok(mut m) = self.names.lock() {
                    m.insert(office.to_owned(), e.name.clone());
                }
                self.remember_partner(office, &e.name).await;
                e.name
            }
            // Offline: the name remembered from an earlier look-up, else the number.
            Err(_) => self
                .db
                .partner_name(office)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| office.to_owned()),
        }
    }

    /// Keep a partner's name for searching history by name (a failure only costs that).
    async fn remember_partner(&self, office: &str, name: &str) {
        if let Err(e) = self.db.remember_partner(office, name).await {
            tracing::warn!(error = %e, office, "could not remember the partner's name");
        }
    }

    /// The certificate to seal to: the directory's current certificate of `office`, checked
    /// against the CA, the revocation list, its validity and the office number.
    pub async fn recipient_cert(&self, office: &OfficeNumber) -> Result<OfficeCert, ClientError> {
        let entry = self.relay.office(office).await.map_err(|e| match e {
            ClientError::Relay(p) if p.error_code() == Some(ErrorCode::OfficeNotFound) => {
                ClientError::Recipient {
                    office: office.to_string(),
                    reason: "事業所が見つかりません / no such office".into(),
                }
            }
            other => other,
        })?;
        if let Ok(mut m) = self.names.lock() {
            m.insert(office.to_string(), entry.name.clone());
        }
        self.remember_partner(office.as_str(), &entry.name).await;
        let revocations = self.relay.revocations().await?.revoked;
        let info = match (&entry.certificate, entry.enrolled) {
            (Some(c), true) => c,
            _ => {
                // The directory offers no certificate: say why when the relay knows (a revoked
                // certificate is on the revocation list under the office's number; one
                // `superseded` by a renewal or 端末変更 says nothing about the office now).
                let revoked_here = revocations.iter().any(|c| {
                    c.office.as_ref() == Some(office)
                        && !c
                            .revocation_reason
                            .as_deref()
                            .is_some_and(|r| r.eq_ignore_ascii_case("superseded"))
                });
                let reason = if revoked_here {
                    "送信先の証明書は失効しています。送信先が証明書を再発行するまで送れません / the office's certificate is revoked"
                } else {
                    "送信先はケアプランデータ連携の利用を開始していないか、証明書の有効期限が切れています / the office is not enrolled or its certificate has expired"
                };
                return Err(ClientError::Recipient {
                    office: office.to_string(),
                    reason: reason.into(),
                });
            }
        };
        let cert = OfficeCert::parse_pem(&info.pem)?;
        let revoked: HashSet<String> = revocations
            .into_iter()
            .map(|c| c.serial.to_ascii_lowercase())
            .collect();
        cert.verify(self.home.ca_pem(), renkei_pki::now_millis(), |s| {
            revoked.contains(&s.to_ascii_lowercase())
        })
        .map_err(|e| ClientError::Recipient {
            office: office.to_string(),
            reason: e.to_string(),
        })?;
        cert.ensure_office(office)
            .map_err(|e| ClientError::Recipient {
                office: office.to_string(),
                reason: e.to_string(),
            })?;
        Ok(cert)
    }

    /// Check and record one unit in the outbox. A unit with validation errors is refused
    /// unless `override_validation`, which is recorded as a local event and in the history.
    /// With `skip_duplicates` (watch folders), content already sent to the same office is not
    /// queued again.
    pub async fn queue_unit(
        &self,
        unit: &PreparedUnit,
        source: &str,
        override_validation: bool,
        skip_duplicates: bool,
    ) -> Result<Queued, ClientError> {
        let errors = unit.errors();
        if !errors.is_empty() && !override_validation {
            return Err(ClientError::Invalid(describe_findings(&errors)));
        }
        let hash = unit.content_sha256();
        if skip_duplicates {
            if let Some(prev) = self
                .db
                .find_same_content(unit.recipient.as_str(), &hash)
                .await?
            {
                return Ok(Queued::Duplicate(prev.id));
            }
        }
        let id = self
            .db
            .insert_send(&crate::state::NewSend {
                recipient: unit.recipient.as_str(),
                file_seq: unit.seq.as_str(),
                files: &unit.files,
                content_sha256: &hash,
                source,
                months: &unit.months,
                clients: &unit.clients,
                validation_overridden: !errors.is_empty(),
            })
            .await?;
        if !errors.is_empty() {
            self.db
                .record_event(
                    "validation_override",
                    &serde_json::json!({
                        "send_id": id,
                        "recipient": unit.recipient.as_str(),
                        "file_seq": unit.seq.as_str(),
                        "files": unit.names(),
                        "errors": describe_findings(&errors),
                    }),
                )
                .await?;
        }
        Ok(Queued::New(id))
    }

    /// Send everything in the outbox, oldest first. Stops at the first unit the relay cannot
    /// be reached for (so that order is kept); refusals are recorded and skipped.
    pub async fn flush_outbox(
        &self,
        mut progress: impl FnMut(&SendProgress) + Send,
    ) -> Result<FlushReport, ClientError> {
        let items = self.db.outbox().await?;
        let total = items.len();
        let mut report = FlushReport::default();
        let mut blocked = false;
        for (i, item) in items.into_iter().enumerate() {
            let mut p = SendProgress {
                send_id: item.send.id,
                recipient: item.send.recipient.clone(),
                file_seq: item.send.file_seq.clone(),
                index: i + 1,
                total,
                stage: SendStage::Queued,
            };
            if blocked {
                report.waiting.push(item.send.id);
                p.stage = SendStage::Waiting(
                    "前の送信が待機中です / waiting behind an earlier send".into(),
                );
                progress(&p);
                continue;
            }
            match self
                .send_one(&item, &mut |stage| {
                    p.stage = stage;
                    progress(&p);
                })
                .await
            {
                Ok(message_id) => {
                    report.stored.push(item.send.id);
                    p.stage = SendStage::Stored { message_id };
                    progress(&p);
                }
                // Kept in the outbox: it goes once the relay answers, the user logs in, or
                // the device certificate is renewed.
                Err(e)
                    if e.is_unreachable()
                        || matches!(
                            e,
                            ClientError::NoCredentials
                                | ClientError::OwnCertificateExpired { .. }
                                | ClientError::OwnCertificateNotYetValid { .. }
                        ) =>
                {
                    self.db.note_attempt(item.send.id, &e.to_string()).await?;
                    blocked = true;
                    report.waiting.push(item.send.id);
                    p.stage = SendStage::Waiting(e.to_string());
                    progress(&p);
                }
                Err(e) => {
                    self.db.mark_failed(item.send.id, &e.to_string()).await?;
                    report.failed.push((item.send.id, e.to_string()));
                    p.stage = SendStage::Failed(e.to_string());
                    progress(&p);
                }
            }
        }
        Ok(report)
    }

    async fn send_one(
        &self,
        item: &crate::state::OutboxItem,
        stage: &mut (dyn FnMut(SendStage) + Send),
    ) -> Result<String, ClientError> {
        let envelope = match (&item.envelope, &item.files) {
            (Some(env), _) => env.clone(),
            (None, Some(files)) => {
                stage(SendStage::Sealing);
                let recipient: OfficeNumber = item
                    .send
                    .recipient
                    .parse()
                    .map_err(|e: renkei_ids::IdError| ClientError::bad_input(e.ja, e.en))?;
                let cert = self.recipient_cert(&recipient).await?;
                let seq = item
                    .send
                    .file_seq
                    .parse()
                    .map_err(|e: renkei_ids::IdError| ClientError::bad_input(e.ja, e.en))?;
                let pairs: Vec<(String, Vec<u8>)> = files
                    .iter()
                    .map(|f| (f.name.clone(), f.bytes.clone()))
                    .collect();
                let env = renkei_envelope::seal(
                    &renkei_envelope::SealInput {
                        sender: self.office(),
                        sender_cert_serial: self.cert.serial_hex(),
                        recipient_cert: &cert,
                        file_seq: &seq,
                        files: &pairs,
                        created_at: renkei_pki::now_millis(),
                    },
                    &self.keys,
                )
                .map_err(|e| ClientError::Envelope(e.to_string()))?;
                let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&env));
                // Keep the sealed bytes before the upload: a retry re-sends exactly these under
                // the same idempotency key, so the relay can recognise it.
                self.db.set_envelope(item.send.id, &env, &digest).await?;
                env
            }
            (None, None) => {
                return Err(ClientError::Protocol("outbox item without content".into()))
            }
        };
        stage(SendStage::Uploading);
        let resp = self
            .relay
            .send(&envelope, &item.send.idempotency_key)
            .await?;
        let message_id = resp.message.id.to_string();
        self.store_receipt(&resp.receipt).await?;
        self.db
            .mark_sent(item.send.id, &message_id, resp.message.state.as_str())
            .await?;
        Ok(message_id)
    }

    /// Keep a receipt after verifying it against the CA certificate. A receipt that does not
    /// verify is not kept (the chain then visibly lacks that step) and is recorded as a local
    /// event: the relay's word counts only with a valid signature.
    pub(crate) async fn store_receipt(&self, r: &SignedReceipt) -> Result<(), ClientError> {
        let verified = crate::evidence::receipt_file(r).and_then(|file| {
            renkei_evidence::verify_receipt(&file, self.home.ca_pem())
                .map_err(|e| ClientError::Evidence(e.to_string()))
        });
        if let Err(e) = verified {
            self.db
                .record_event(
                    "receipt_invalid",
                    &serde_json::json!({
                        "message_id": r.receipt.message_id,
                        "event": r.receipt.event,
                        "error": e.to_string(),
                    }),
                )
                .await?;
            return Ok(());
        }
        let json = serde_json::to_string(r).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.db
            .add_receipt(
                &r.receipt.message_id,
                &r.receipt.event,
                &r.receipt.at,
                &json,
            )
            .await
    }

    /// Prepare, check, queue and send `files` (any number of units). If any unit has
    /// validation errors and `override_validation` is false, nothing is queued.
    pub async fn send_files(
        &self,
        files: Vec<crate::state::UnitFile>,
        source: &str,
        override_validation: bool,
        progress: impl FnMut(&SendProgress) + Send,
    ) -> Result<(Vec<i64>, FlushReport), ClientError> {
        let units = crate::units::prepare_units(files, self.office())?;
        if units.is_empty() {
            return Err(ClientError::bad_input(
                "送信するファイルがありません",
                "no files to send",
            ));
        }
        if !override_validation {
            let errors: Vec<_> = units.iter().flat_map(|u| u.errors()).collect();
            if !errors.is_empty() {
                return Err(ClientError::Invalid(describe_findings(&errors)));
            }
        }
        let mut ids = Vec::new();
        for u in &units {
            if let Queued::New(id) = self
                .queue_unit(u, source, override_validation, false)
                .await?
            {
                ids.push(id);
            }
        }
        let report = self.flush_outbox(progress).await?;
        Ok((ids, report))
    }

    /// Refresh a sent message from the relay: state and receipt chain.
    pub async fn refresh_send(&self, send: &SendRecord) -> Result<Vec<SignedReceipt>, ClientError> {
        let Some(mid) = &send.message_id else {
            return Ok(Vec::new());
        };
        let id: MessageId = mid
            .parse()
            .map_err(|_| ClientError::Protocol(format!("message id {mid}")))?;
        let status = self.relay.status(id).await?;
        for r in &status.receipts {
            self.store_receipt(r).await?;
        }
        self.db
            .set_send_state(mid, status.message.state.as_str())
            .await?;
        Ok(status.receipts)
    }

    /// The stored receipts of a message, in order.
    pub async fn receipts(&self, message_id: &str) -> Result<Vec<SignedReceipt>, ClientError> {
        self.db
            .receipts(message_id)
            .await?
            .iter()
            .map(|j| serde_json::from_str(j).map_err(|e| ClientError::Protocol(e.to_string())))
            .collect()
    }
}
