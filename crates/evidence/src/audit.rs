//! The per-office hash-chained audit trail (docs/ARCHITECTURE.md, "Audit trail").

use renkei_ids::OfficeNumber;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    parse_rfc3339_millis, rfc3339_jst, verify_relay_sig, EvidenceError, ReceiptSigner,
    AUDIT_SIG_CONTEXT, CHECKPOINT_SIG_CONTEXT,
};

/// `type` of an audit export file.
pub const AUDIT_EXPORT_TYPE: &str = "renkei-audit-export";

/// `prev_hash` of an office's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry. `hash = SHA-256(canonical body)` where the body is the entry without `hash`
/// and `sig` (see [`AuditEntry::canonical_body`]); `sig` is the relay's signature over the
/// 32 hash bytes (after the context `"renkei-audit-entry-v1\n"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub office: OfficeNumber,
    /// 1 for the office's first entry, then +1.
    pub seq: u64,
    /// RFC 3339.
    pub at: String,
    /// Stable event name, e.g. `message.sent`, `message.downloaded`, `login`, `cert.issued`.
    pub kind: String,
    /// Who acted: a user ID, an office number, `relay` or an operator name.
    pub actor: String,
    pub detail: Value,
    /// Lowercase hex.
    pub prev_hash: String,
    /// Lowercase hex.
    pub hash: String,
    /// Standard base64.
    pub sig: String,
}

/// Where an office's chain ends (what the store keeps per office).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

/// JSON with object keys sorted and no whitespace, independent of serde_json's map features.
fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn json_str(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

impl AuditEntry {
    /// `{"office":…,"seq":…,"at":…,"kind":…,"actor":…,"detail":…,"prev_hash":…}` with `detail`
    /// written with sorted keys, no whitespace.
    pub fn canonical_body(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"office\":");
        out.push_str(&json_str(self.office.as_str()));
        out.push_str(",\"seq\":");
        out.push_str(&self.seq.to_string());
        out.push_str(",\"at\":");
        out.push_str(&json_str(&self.at));
        out.push_str(",\"kind\":");
        out.push_str(&json_str(&self.kind));
        out.push_str(",\"actor\":");
        out.push_str(&json_str(&self.actor));
        out.push_str(",\"detail\":");
        write_canonical(&self.detail, &mut out);
        out.push_str(",\"prev_hash\":");
        out.push_str(&json_str(&self.prev_hash));
        out.push('}');
        out
    }

    /// SHA-256 of the canonical body, lowercase hex.
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_body().as_bytes()))
    }

    /// The head after this entry.
    pub fn head(&self) -> AuditHead {
        AuditHead {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }

    fn hash_bytes(&self) -> Result<Vec<u8>, EvidenceError> {
        hex::decode(&self.hash)
            .map_err(|_| EvidenceError::Malformed(format!("entry {}: hash is not hex", self.seq)))
    }
}

/// The signed checkpoint body: where the chain ended at export time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditCheckpoint {
    pub office: OfficeNumber,
    pub last_seq: u64,
    pub last_hash: String,
    /// RFC 3339.
    pub exported_at: String,
}

/// A checkpoint and the relay's signature over its canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    pub checkpoint: AuditCheckpoint,
    pub sig: String,
}

/// An office's audit trail as exported for an inspector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditExport {
    #[serde(rename = "type")]
    pub kind: String,
    pub office: OfficeNumber,
    pub entries: Vec<AuditEntry>,
    pub checkpoint: SignedCheckpoint,
    pub relay_cert: String,
}

impl ReceiptSigner {
    /// Build and sign the entry after `head` (`None` for the office's first entry).
    pub fn next_audit_entry(
        &self,
        office: &OfficeNumber,
        head: Option<&AuditHead>,
        at_ms: i64,
        kind: &str,
        actor: &str,
        detail: Value,
    ) -> Result<AuditEntry, EvidenceError> {
        let (seq, prev_hash) = match head {
            None => (1, GENESIS_HASH.to_owned()),
            Some(h) => (
                h.seq
                    .checked_add(1)
                    .ok_or_else(|| EvidenceError::Malformed("sequence overflow".into()))?,
                h.hash.clone(),
            ),
        };
        let mut entry = AuditEntry {
            office: office.clone(),
            seq,
            at: rfc3339_jst(at_ms),
            kind: kind.to_owned(),
            actor: actor.to_owned(),
            detail,
            prev_hash,
            hash: String::new(),
            sig: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry.sig = self.sign_raw(AUDIT_SIG_CONTEXT, &entry.hash_bytes()?);
        Ok(entry)
    }

    /// Export `entries` (a contiguous run, oldest first, normally from seq 1) with a checkpoint
    /// naming the office's current head.
    pub fn export_audit(
        &self,
        office: &OfficeNumber,
        entries: Vec<AuditEntry>,
        head: &AuditHead,
        exported_at_ms: i64,
    ) -> Result<AuditExport, EvidenceError> {
        Ok(AuditExport {
            kind: AUDIT_EXPORT_TYPE.to_owned(),
            office: office.clone(),
            entries,
            checkpoint: self.sign_checkpoint(office, head, exported_at_ms)?,
            relay_cert: self.relay_cert_pem().to_owned(),
        })
    }

    /// The signed checkpoint of an export whose last entry is `head`: for an export written
    /// piece by piece, signed once the last entry has gone out.
    pub fn sign_checkpoint(
        &self,
        office: &OfficeNumber,
        head: &AuditHead,
        exported_at_ms: i64,
    ) -> Result<SignedCheckpoint, EvidenceError> {
        let checkpoint = AuditCheckpoint {
            office: office.clone(),
            last_seq: head.seq,
            last_hash: head.hash.clone(),
            exported_at: rfc3339_jst(exported_at_ms),
        };
        let body =
            serde_json::to_vec(&checkpoint).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
        let sig = self.sign_raw(CHECKPOINT_SIG_CONTEXT, &body);
        Ok(SignedCheckpoint { checkpoint, sig })
    }
}

/// What is wrong with one place of an audit export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's content does not match its hash (alteration).
    Altered,
    /// The relay's signature over the hash does not verify (forgery).
    BadSignature,
    /// `prev_hash` does not name the previous entry's hash (removal, insertion or reordering).
    BrokenLink,
    /// A sequence number is missing (removal inside the trail).
    Gap,
    /// A sequence number repeats or goes backwards (reordering or insertion).
    OutOfOrder,
    /// The entry belongs to another office.
    WrongOffice,
    /// The last entry is not the checkpoint's (removal at the end).
    TailMismatch,
}

impl ProblemKind {
    pub fn label_ja(self) -> &'static str {
        match self {
            ProblemKind::Altered => "内容の改ざん",
            ProblemKind::BadSignature => "署名の不一致（偽造）",
            ProblemKind::BrokenLink => "前の記録とのつながりの断絶",
            ProblemKind::Gap => "記録の欠落",
            ProblemKind::OutOfOrder => "順序の入れ替え・挿入",
            ProblemKind::WrongOffice => "他事業所の記録の混入",
            ProblemKind::TailMismatch => "末尾の記録の削除",
        }
    }
}

/// One problem found by [`verify_audit_export`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    /// Index in `entries` (or `entries.len()` for the tail check).
    pub index: usize,
    /// The entry's `seq` as written (possibly altered).
    pub seq: Option<u64>,
    pub kind: ProblemKind,
    pub message: String,
}

/// Result of checking an audit export. Valid when `problems` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub office: OfficeNumber,
    pub entry_count: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub checkpoint_seq: u64,
    pub exported_at: String,
    pub problems: Vec<AuditProblem>,
}

impl VerifyReport {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verify an export with only the CA certificate.
///
/// `Err` when the export as a whole cannot be trusted (wrong type, relay certificate not from the
/// CA, checkpoint signature or office wrong). Otherwise a report listing every problem per entry:
/// content vs hash, signature, sequence, `prev_hash` link, and that the last entry is the signed
/// checkpoint's. An export may start after seq 1 (a range); the first entry of seq 1 must link to
/// the all-zero hash.
pub fn verify_audit_export(
    export: &AuditExport,
    ca_cert_pem: &str,
) -> Result<VerifyReport, EvidenceError> {
    if export.kind != AUDIT_EXPORT_TYPE {
        return Err(EvidenceError::WrongType {
            expected: AUDIT_EXPORT_TYPE,
            found: export.kind.clone(),
        });
    }
    let cp = &export.checkpoint.checkpoint;
    let exported_ms = parse_rfc3339_millis(&cp.exported_at)?;
    let body = serde_json::to_vec(cp).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
    let relay = verify_relay_sig(
        &export.relay_cert,
        ca_cert_pem,
        Some(exported_ms),
        CHECKPOINT_SIG_CONTEXT,
        &body,
        &export.checkpoint.sig,
    )?;
    if cp.office != export.office {
        return Err(EvidenceError::Mismatch(format!(
            "checkpoint is for office {}, export for {}",
            cp.office, export.office
        )));
    }

    let mut problems = Vec::new();
    let mut push = |index: usize, seq: Option<u64>, kind: ProblemKind, message: String| {
        problems.push(AuditProblem {
            index,
            seq,
            kind,
            message,
        });
    };
    let mut prev: Option<&AuditEntry> = None;
    for (i, e) in export.entries.iter().enumerate() {
        let s = Some(e.seq);
        if e.office != export.office {
            push(
                i,
                s,
                ProblemKind::WrongOffice,
                format!("entry for office {}", e.office),
            );
        }
        if e.compute_hash() != e.hash {
            push(
                i,
                s,
                ProblemKind::Altered,
                "content does not match its hash".into(),
            );
        }
        let sig_ok = match (hex::decode(&e.hash), crate::unb64(&e.sig)) {
            (Ok(h), Ok(sig)) => {
                relay.verify_signature(&crate::context_message(AUDIT_SIG_CONTEXT, &h), &sig)
            }
            _ => false,
        };
        if !sig_ok {
            push(
                i,
                s,
                ProblemKind::BadSignature,
                "relay signature does not verify".into(),
            );
        }
        match prev {
            None => {
                if e.seq == 1 && e.prev_hash != GENESIS_HASH {
                    push(
                        i,
                        s,
                        ProblemKind::BrokenLink,
                        "first entry does not start the chain".into(),
                    );
                }
            }
            Some(p) => {
                if e.seq <= p.seq {
                    push(
                        i,
                        s,
                        ProblemKind::OutOfOrder,
                        format!("seq {} after {}", e.seq, p.seq),
                    );
                } else if e.seq != p.seq + 1 {
                    push(
                        i,
                        s,
                        ProblemKind::Gap,
                        format!("seq {}..{} missing", p.seq + 1, e.seq - 1),
                    );
                }
                if e.prev_hash != p.hash {
                    push(
                        i,
                        s,
                        ProblemKind::BrokenLink,
                        "prev_hash is not the previous entry's hash".into(),
                    );
                }
            }
        }
        prev = Some(e);
    }
    let n = export.entries.len();
    match prev {
        Some(last) if last.seq == cp.last_seq && last.hash == cp.last_hash => {}
        Some(last) => push(
            n,
            Some(last.seq),
            ProblemKind::TailMismatch,
            format!(
                "last entry is seq {}, the signed checkpoint names seq {}",
                last.seq, cp.last_seq
            ),
        ),
        None if cp.last_seq == 0 => {}
        None => push(
            n,
            None,
            ProblemKind::TailMismatch,
            format!("no entries, checkpoint names seq {}", cp.last_seq),
        ),
    }
    Ok(VerifyReport {
        office: export.office.clone(),
        entry_count: n,
        first_seq: export.entries.first().map(|e| e.seq),
        last_seq: export.entries.last().map(|e| e.seq),
        checkpoint_seq: cp.last_seq,
        exported_at: cp.exported_at.clone(),
        problems,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use renkei_pki::testpki::TestPki;
    use serde_json::json;

    pub(crate) fn chain(pki: &TestPki, n: u64) -> (ReceiptSigner, AuditExport) {
        let signer = ReceiptSigner::new(&pki.relay_key_pkcs8, &pki.relay_cert.pem).unwrap();
        let office: OfficeNumber = "0300000100".parse().unwrap();
        let now = renkei_pki::now_millis();
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let head = entries.last().map(AuditEntry::head);
            let e = signer
                .next_audit_entry(
                    &office,
                    head.as_ref(),
                    now + i as i64,
                    "message.sent",
                    "c0000000001",
                    json!({"message_id": format!("m{i}"), "files": 3, "日本語": "送信"}),
                )
                .unwrap();
            entries.push(e);
        }
        let head = entries.last().map(AuditEntry::head).unwrap();
        let export = signer
            .export_audit(&office, entries, &head, now + 1000)
            .unwrap();
        (signer, export)
    }

    fn kinds(r: &VerifyReport) -> Vec<ProblemKind> {
        r.problems.iter().map(|p| p.kind).collect()
    }

    fn verify(pki: &TestPki, e: &AuditExport) -> VerifyReport {
        // Through JSON text, as an exported file.
        let text = serde_json::to_string(e).unwrap();
        let back: AuditExport = serde_json::from_str(&text).unwrap();
        verify_audit_export(&back, pki.ca.ca_cert_pem()).unwrap()
    }

    #[test]
    fn intact_chain_verifies() {
        let pki = TestPki::generate();
        let (_, e) = chain(&pki, 5);
        let r = verify(&pki, &e);
        assert!(r.is_valid(), "{:?}", r.problems);
        assert_eq!(
            (r.entry_count, r.first_seq, r.last_seq),
            (5, Some(1), Some(5))
        );
        assert_eq!(e.entries[0].prev_hash, GENESIS_HASH);
    }

    #[test]
    fn detects_alteration() {
        let pki = TestPki::generate();
        let (_, mut e) = chain(&pki, 5);
        e.entries[2].detail["files"] = json!(4);
        assert_eq!(kinds(&verify(&pki, &e)), vec![ProblemKind::Altered]);
    }

    #[test]
    fn detects_removal_in_the_middle() {
        let pki = TestPki::generate();
        let (_, mut e) = chain(&pki, 5);
        e.entries.remove(2);
        assert_eq!(
            kinds(&verify(&pki, &e)),
            vec![ProblemKind::Gap, ProblemKind::BrokenLink]
        );
    }

    #[test]
    fn detects_removal_at_the_end() {
        let pki = TestPki::generate();
        let (_, mut e) = chain(&pki, 5);
        e.entries.pop();
        assert_eq!(kinds(&verify(&pki, &e)), vec![ProblemKind::TailMismatch]);
    }

    #[test]
    fn detects_reordering() {
        let pki = TestPki::generate();
        let (_, mut e) = chain(&pki, 5);
        e.entries.swap(1, 2);
        let k = kinds(&verify(&pki, &e));
        assert!(
            k.contains(&ProblemKind::OutOfOrder) && k.contains(&ProblemKind::BrokenLink),
            "{k:?}"
        );
    }

    #[test]
    fn detects_insertion() {
        let pki = TestPki::generate();
        let (signer, mut e) = chain(&pki, 5);
        // A properly signed entry from another chain position, slipped in after entry 2.
        let fake = signer
            .next_audit_entry(
                &e.office,
                Some(&e.entries[1].head()),
                renkei_pki::now_millis(),
                "login",
                "x",
                json!({}),
            )
            .unwrap();
        e.entries.insert(2, fake);
        let k = kinds(&verify(&pki, &e));
        assert!(
            k.contains(&ProblemKind::OutOfOrder) && k.contains(&ProblemKind::BrokenLink),
            "{k:?}"
        );
    }

    #[test]
    fn detects_forged_signature() {
        let pki = TestPki::generate();
        let (_, mut e) = chain(&pki, 5);
        // Recompute the hash after an edit: the content matches the hash, the signature does not.
        e.entries[4].actor = "someone-else".into();
        e.entries[4].hash = e.entries[4].compute_hash();
        let k = kinds(&verify(&pki, &e));
        assert!(k.contains(&ProblemKind::BadSignature), "{k:?}");
        // A signer with a key the CA never certified cannot produce an acceptable export.
        let rogue_key = renkei_pki::generate_ed25519_pkcs8().unwrap();
        let pk = renkei_pki::ed25519_public_key(&rogue_key).unwrap();
        let rogue_cert = pki.rogue_ca.issue_relay_cert(&pk, "rogue").unwrap();
        let rogue = ReceiptSigner::new(&rogue_key, &rogue_cert.pem).unwrap();
        let head = e.entries[4].head();
        let forged = rogue
            .export_audit(
                &e.office,
                e.entries.clone(),
                &head,
                renkei_pki::now_millis(),
            )
            .unwrap();
        assert!(matches!(
            verify_audit_export(&forged, pki.ca.ca_cert_pem()),
            Err(EvidenceError::RelayCert(_))
        ));
    }

    #[test]
    fn checkpoint_is_signed() {
        let pki = TestPki::generate();
        let (_, mut e) = chain(&pki, 3);
        // Truncate and move the checkpoint back: the checkpoint signature fails.
        e.entries.pop();
        e.checkpoint.checkpoint.last_seq = 2;
        e.checkpoint.checkpoint.last_hash = e.entries[1].hash.clone();
        assert!(matches!(
            verify_audit_export(&e, pki.ca.ca_cert_pem()),
            Err(EvidenceError::BadSignature)
        ));
    }

    #[test]
    fn canonical_body_sorts_detail_keys() {
        let pki = TestPki::generate();
        let (_, e) = chain(&pki, 1);
        let mut x = e.entries[0].clone();
        x.detail = json!({"b": 1, "a": {"d": [1, {"z": null, "y": "é"}], "c": true}});
        assert!(x
            .canonical_body()
            .contains(r#""detail":{"a":{"c":true,"d":[1,{"y":"é","z":null}]},"b":1}"#));
    }
}
