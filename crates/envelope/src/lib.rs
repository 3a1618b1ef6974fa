//! Envelope format v1 (`RKE1`): one 送信単位 sealed for one recipient office and signed by the
//! sender (docs/ARCHITECTURE.md, "Envelope format v1").
//!
//! - [`seal`] writes `magic || header_len || header || enc || ct_len || ct || sig`, where `ct` is
//!   RFC 9180 HPKE (base mode, X25519/HKDF-SHA256/ChaCha20Poly1305) to the X25519 key in the
//!   recipient's office certificate and `sig` an Ed25519 signature by the sender.
//! - [`Envelope::parse`] checks the framing and the header strictly (bounded lengths, no panics)
//!   without any key; the relay then calls [`Envelope::verify_sender`] (checks 1–3).
//! - [`open`] performs every check 1–6 on the recipient's device and returns the files.
//!
//! ```
//! use renkei_envelope::{open, seal, OpenInput, SealInput};
//! use renkei_pki::{testpki::TestPki, now_millis, OfficeCert};
//!
//! let pki = TestPki::generate();
//! let (a, b) = (&pki.office_a, &pki.office_b);
//! let b_cert = OfficeCert::parse_pem(&b.cert.pem).unwrap();
//! let files = vec![("UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV".to_owned(),
//!                   b"1,2,3\r\n".to_vec())];
//! let bytes = seal(&SealInput {
//!     sender: &a.office,
//!     sender_cert_serial: &a.cert.serial_hex,
//!     recipient_cert: &b_cert,
//!     file_seq: &"20191025200201".parse().unwrap(),
//!     files: &files,
//!     created_at: now_millis(),
//! }, &a.keys).unwrap();
//!
//! let a_cert = OfficeCert::parse_pem(&a.cert.pem).unwrap();
//! let opened = open(&bytes, &b.keys, &OpenInput {
//!     my_office: &b.office,
//!     my_cert_serials: &[b.cert.serial_hex.clone()],
//!     sender_cert: &a_cert,
//!     ca_cert_pem: pki.ca.ca_cert_pem(),
//!     now: now_millis(),
//!     is_revoked: &|_| false,
//! }).unwrap();
//! assert_eq!(opened.files, files);
//! ```

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use renkei_ids::{FileSeq, OfficeNumber};
use renkei_pki::{DeviceKeys, OfficeCert, PkiError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

type Kem = X25519HkdfSha256;
type Kdf = HkdfSha256;
type Aead = ChaCha20Poly1305;

/// First four bytes of every v1 envelope.
pub const MAGIC: &[u8; 4] = b"RKE1";
/// The only suite of v1.
pub const SUITE: &str = "HPKE-X25519-HKDF-SHA256-CHACHA20POLY1305/Ed25519";
/// Upper bound of `header_len`.
pub const MAX_HEADER_LEN: usize = 64 * 1024;
/// Upper bound of the number of files in one envelope.
pub const MAX_FILES: usize = 64;
/// Upper bound of a file name in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Upper bound of the whole envelope (a month of CSV for one office pair is far smaller).
pub const MAX_ENVELOPE_LEN: u64 = 512 * 1024 * 1024;

const INFO_PREFIX: &[u8] = b"renkei-envelope-v1";
const SIG_PREFIX: &[u8] = b"renkei-envelope-v1-sig";
const ENC_LEN: usize = 32;
const SIG_LEN: usize = 64;
const TAG_LEN: u64 = 16;
/// magic + header_len + enc + ct_len + sig.
const FIXED_LEN: usize = 4 + 4 + ENC_LEN + 8 + SIG_LEN;

/// Why sealing or opening failed. Variants are what callers match on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Check 1: framing, lengths, header JSON, version or suite.
    #[error("封筒の形式が不正です（{0}）/ malformed envelope ({0})")]
    Malformed(String),
    /// Check 2: the sender certificate is not acceptable (wrong CA, expired, revoked…).
    #[error("送信元の証明書を確認できません: {0} / sender certificate rejected")]
    SenderCert(#[source] PkiError),
    /// Check 2: the certificate is for another office than the header's `sender`.
    #[error("送信元 {header} と証明書の事業所 {cert} が一致しません / sender {header} does not match certificate office {cert}")]
    SenderMismatch {
        header: OfficeNumber,
        cert: OfficeNumber,
    },
    /// Check 3.
    #[error("送信元の署名が正しくありません（改ざんの可能性）/ bad sender signature (possibly tampered)")]
    BadSignature,
    /// Check 4.
    #[error("この封筒は当事業所宛てではありません（{0}）/ not addressed to us ({0})")]
    NotForUs(String),
    /// Check 5.
    #[error(
        "復号できませんでした（鍵違いまたは改ざん）/ decryption failed (wrong key or tampered)"
    )]
    DecryptionFailed,
    /// Check 6.
    #[error("中身のファイル一覧がヘッダと一致しません（{0}）/ bundle does not match header ({0})")]
    BundleMismatch(String),
    /// Sealing was given bad input (empty file list, bad name, wrong key…).
    #[error("封筒を作成できません（{0}）/ cannot seal ({0})")]
    InvalidInput(String),
}

/// One file as listed in the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    pub len: u64,
}

/// The signed, cleartext header (routing metadata the relay may see).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub v: u32,
    pub suite: String,
    pub sender: OfficeNumber,
    pub sender_cert_serial: String,
    pub recipient: OfficeNumber,
    pub recipient_cert_serial: String,
    pub file_seq: FileSeq,
    pub files: Vec<FileEntry>,
    /// RFC 3339 with offset (the sender writes Japan time, `+09:00`).
    pub created_at: String,
}

impl Header {
    /// `created_at` as Unix milliseconds (validated by [`Envelope::parse`]).
    pub fn created_at_millis(&self) -> Result<i64, EnvelopeError> {
        let t = time::OffsetDateTime::parse(
            &self.created_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| EnvelopeError::Malformed("created_at is not RFC 3339".into()))?;
        Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    fn validate(&self) -> Result<(), EnvelopeError> {
        let bad = |m: String| Err(EnvelopeError::Malformed(m));
        if self.v != 1 {
            return bad(format!("unsupported version {}", self.v));
        }
        if self.suite != SUITE {
            return bad(format!("unknown suite {:?}", self.suite));
        }
        for s in [&self.sender_cert_serial, &self.recipient_cert_serial] {
            if !is_serial(s) {
                return bad(format!("certificate serial {s:?} is not lowercase hex"));
            }
        }
        check_files(self.files.iter().map(|f| f.name.as_str()))
            .map_err(EnvelopeError::Malformed)?;
        self.created_at_millis()?;
        Ok(())
    }

    /// Exact length of the plaintext bundle the header announces (`None` on overflow).
    fn bundle_len(&self) -> Option<u64> {
        self.files.iter().try_fold(0u64, |acc, f| {
            acc.checked_add(4 + 8 + f.name.len() as u64)?
                .checked_add(f.len)
        })
    }
}

fn is_serial(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// File names end up as paths in the recipient's import directory: plain names only.
fn check_files<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(format!("file name length {} out of range", name.len()));
        }
        if name == "."
            || name == ".."
            || name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
        {
            return Err(format!("file name {name:?} is not a plain file name"));
        }
        if !seen.insert(name) {
            return Err(format!("duplicate file name {name:?}"));
        }
    }
    match seen.len() {
        0 => Err("no files".into()),
        n if n > MAX_FILES => Err(format!("{n} files (at most {MAX_FILES})")),
        _ => Ok(()),
    }
}

/// What [`seal`] needs besides the sender's keys.
#[derive(Debug, Clone, Copy)]
pub struct SealInput<'a> {
    pub sender: &'a OfficeNumber,
    /// Serial of the sender's current office certificate (the one matching its signing key).
    pub sender_cert_serial: &'a str,
    /// The recipient's office certificate (verified by the caller against the CA).
    pub recipient_cert: &'a OfficeCert,
    pub file_seq: &'a FileSeq,
    /// `(file name, bytes)` in import order.
    pub files: &'a [(String, Vec<u8>)],
    /// Unix milliseconds; written as Japan time.
    pub created_at: i64,
}

fn info(header: &[u8]) -> Vec<u8> {
    let mut info = INFO_PREFIX.to_vec();
    info.extend_from_slice(&Sha256::digest(header));
    info
}

fn signed_message(unsigned: &[u8]) -> Vec<u8> {
    let mut m = SIG_PREFIX.to_vec();
    m.extend_from_slice(&Sha256::digest(unsigned));
    m
}

/// Seal `input.files` for the recipient and sign with the sender's Ed25519 key.
pub fn seal(input: &SealInput<'_>, sender_keys: &DeviceKeys) -> Result<Vec<u8>, EnvelopeError> {
    let invalid = |m: String| EnvelopeError::InvalidInput(m);
    check_files(input.files.iter().map(|(n, _)| n.as_str())).map_err(invalid)?;
    if !is_serial(input.sender_cert_serial) {
        return Err(invalid(
            "sender certificate serial is not lowercase hex".into(),
        ));
    }
    let jst = time::UtcOffset::from_hms(9, 0, 0).map_err(|e| invalid(e.to_string()))?;
    let created =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(input.created_at) * 1_000_000)
            .map_err(|e| invalid(e.to_string()))?
            .to_offset(jst)
            .replace_nanosecond(0)
            .map_err(|e| invalid(e.to_string()))?;
    let header = Header {
        v: 1,
        suite: SUITE.to_owned(),
        sender: input.sender.clone(),
        sender_cert_serial: input.sender_cert_serial.to_owned(),
        recipient: input.recipient_cert.office().clone(),
        recipient_cert_serial: input.recipient_cert.serial_hex().to_owned(),
        file_seq: input.file_seq.clone(),
        files: input
            .files
            .iter()
            .map(|(name, b)| FileEntry {
                name: name.clone(),
                len: b.len() as u64,
            })
            .collect(),
        created_at: created
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| invalid(e.to_string()))?,
    };
    let header_bytes = serde_json::to_vec(&header).map_err(|e| invalid(e.to_string()))?;
    if header_bytes.len() > MAX_HEADER_LEN {
        return Err(invalid("header too large".into()));
    }
    let bundle_len = header
        .bundle_len()
        .ok_or_else(|| invalid("too large".into()))?;
    let mut bundle = Zeroizing::new(Vec::with_capacity(bundle_len as usize));
    for (name, bytes) in input.files {
        bundle.extend_from_slice(&(name.len() as u32).to_be_bytes());
        bundle.extend_from_slice(name.as_bytes());
        bundle.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        bundle.extend_from_slice(bytes);
    }
    let total = FIXED_LEN as u64 + header_bytes.len() as u64 + bundle_len + TAG_LEN;
    if total > MAX_ENVELOPE_LEN {
        return Err(invalid(format!(
            "envelope would be {total} bytes (limit {MAX_ENVELOPE_LEN})"
        )));
    }

    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(input.recipient_cert.encryption_key())
        .map_err(|_| invalid("recipient encryption key".into()))?;
    let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
        &OpModeS::Base,
        &pk,
        &info(&header_bytes),
        &bundle,
        &header_bytes,
        &mut rand_core::OsRng,
    )
    .map_err(|e| invalid(format!("HPKE: {e}")))?;

    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&(ct.len() as u64).to_be_bytes());
    out.extend_from_slice(&ct);
    let sig = sender_keys.sign(&signed_message(&out));
    out.extend_from_slice(&sig);
    Ok(out)
}

/// What check 1 establishes about an envelope, and what checks 2–3 need: the framing, the
/// header, the digests and the signature — everything but the ciphertext. The relay gets one
/// from an [`EnvelopeReader`] without ever holding the whole envelope in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeMeta {
    header: Header,
    header_bytes: Vec<u8>,
    enc: [u8; ENC_LEN],
    /// Offset of `ct` in the envelope.
    ct_at: usize,
    ct_len: u64,
    sig: [u8; SIG_LEN],
    /// SHA-256 of everything before `sig`.
    unsigned_digest: [u8; 32],
    /// SHA-256 of the whole envelope (the message digest receipts name).
    digest: [u8; 32],
    len: u64,
}

/// A parsed envelope: framing and header checked (check 1), nothing verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    meta: EnvelopeMeta,
    ct: Vec<u8>,
}

/// Reads big-endian fields from a slice, failing (never panicking) on short input.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], EnvelopeError> {
        if self.rest.len() < n {
            return Err(EnvelopeError::Malformed(format!("truncated in {what}")));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], EnvelopeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
}

/// Framing learned from the head (`magic || header_len || header || enc || ct_len`).
#[derive(Debug)]
struct Framed {
    header: Header,
    header_bytes: Vec<u8>,
    enc: [u8; ENC_LEN],
    ct_at: usize,
    ct_len: u64,
    /// Offset of `sig`: every byte before it is signed.
    sig_at: u64,
}

/// Check 1 on an envelope whose bytes arrive in pieces (an upload): [`update`](Self::update)
/// with each piece, [`header`](Self::header) as soon as the head has arrived (to refuse a
/// misaddressed upload early), [`finish`](Self::finish) at the end. Memory stays bounded by the
/// head ([`MAX_HEADER_LEN`]) whatever the envelope's size; both digests come from one pass.
#[derive(Debug)]
pub struct EnvelopeReader {
    head: Vec<u8>,
    framed: Option<Framed>,
    seen: u64,
    unsigned: Sha256,
    sig: Vec<u8>,
}

impl Default for EnvelopeReader {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvelopeReader {
    /// A reader expecting the first byte.
    pub fn new() -> Self {
        Self {
            head: Vec::new(),
            framed: None,
            seen: 0,
            unsigned: Sha256::new(),
            sig: Vec::with_capacity(SIG_LEN),
        }
    }

    /// The header, once the head has arrived and passed check 1's header rules.
    pub fn header(&self) -> Option<&Header> {
        self.framed.as_ref().map(|f| &f.header)
    }

    /// Bytes taken so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Take the next piece. Fails as soon as the bytes cannot be a valid envelope (bad magic,
    /// header, or more bytes than the head announced).
    pub fn update(&mut self, mut chunk: &[u8]) -> Result<(), EnvelopeError> {
        let malformed = |m: &str| EnvelopeError::Malformed(m.to_owned());
        while !chunk.is_empty() {
            let Some(f) = &self.framed else {
                let take = self.head_needed().min(chunk.len());
                self.head.extend_from_slice(&chunk[..take]);
                self.unsigned.update(&chunk[..take]);
                self.seen += take as u64;
                chunk = &chunk[take..];
                self.try_frame()?;
                continue;
            };
            let signed_left = f.sig_at.saturating_sub(self.seen);
            let (signed, rest) = chunk.split_at(chunk.len().min(signed_left as usize));
            self.unsigned.update(signed);
            if self.sig.len() + rest.len() > SIG_LEN {
                return Err(malformed(
                    "ciphertext length does not match the envelope length",
                ));
            }
            self.sig.extend_from_slice(rest);
            self.seen += chunk.len() as u64;
            if self.seen > MAX_ENVELOPE_LEN {
                return Err(malformed("envelope too large"));
            }
            break;
        }
        Ok(())
    }

    /// Bytes the head still needs before the next framing step.
    fn head_needed(&self) -> usize {
        if self.head.len() < 8 {
            return 8 - self.head.len();
        }
        let header_len =
            u32::from_be_bytes([self.head[4], self.head[5], self.head[6], self.head[7]]);
        (8 + header_len as usize + ENC_LEN + 8).saturating_sub(self.head.len())
    }

    fn try_frame(&mut self) -> Result<(), EnvelopeError> {
        let malformed = |m: &str| EnvelopeError::Malformed(m.to_owned());
        let h = &self.head;
        if h.len() >= 4 && &h[..4] != MAGIC {
            return Err(malformed("not a Renkei envelope (magic)"));
        }
        if h.len() < 8 {
            return Ok(());
        }
        let header_len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        if header_len > MAX_HEADER_LEN {
            return Err(malformed("header too large"));
        }
        let ct_at = 8 + header_len + ENC_LEN + 8;
        if h.len() < ct_at {
            return Ok(());
        }
        let header_bytes = h[8..8 + header_len].to_vec();
        let mut enc = [0u8; ENC_LEN];
        enc.copy_from_slice(&h[8 + header_len..8 + header_len + ENC_LEN]);
        let mut ct_len = [0u8; 8];
        ct_len.copy_from_slice(&h[ct_at - 8..ct_at]);
        let ct_len = u64::from_be_bytes(ct_len);
        let header: Header = serde_json::from_slice(&header_bytes)
            .map_err(|e| EnvelopeError::Malformed(format!("header JSON: {e}")))?;
        header.validate()?;
        let expected_ct = header.bundle_len().and_then(|l| l.checked_add(TAG_LEN));
        if expected_ct != Some(ct_len) {
            return Err(malformed(
                "ciphertext length does not match the header's files",
            ));
        }
        let sig_at = (ct_at as u64).saturating_add(ct_len);
        if sig_at.saturating_add(SIG_LEN as u64) > MAX_ENVELOPE_LEN {
            return Err(malformed("envelope too large"));
        }
        self.framed = Some(Framed {
            header,
            header_bytes,
            enc,
            ct_at,
            ct_len,
            sig_at,
        });
        Ok(())
    }

    /// The envelope is complete: check its length and return what check 1 established.
    pub fn finish(self) -> Result<EnvelopeMeta, EnvelopeError> {
        let Some(f) = self.framed else {
            let what = if self.head.len() < 4 {
                "magic"
            } else if self.head.len() < 8 {
                "header_len"
            } else {
                "header"
            };
            return Err(EnvelopeError::Malformed(format!("truncated in {what}")));
        };
        let sig: [u8; SIG_LEN] = self.sig.as_slice().try_into().map_err(|_| {
            EnvelopeError::Malformed("ciphertext length does not match the envelope length".into())
        })?;
        let unsigned_digest: [u8; 32] = self.unsigned.clone().finalize().into();
        let mut all = self.unsigned;
        all.update(sig);
        Ok(EnvelopeMeta {
            header: f.header,
            header_bytes: f.header_bytes,
            enc: f.enc,
            ct_at: f.ct_at,
            ct_len: f.ct_len,
            sig,
            unsigned_digest,
            digest: all.finalize().into(),
            len: self.seen,
        })
    }
}

impl Envelope {
    /// Check 1: magic, lengths (header ≤ [`MAX_HEADER_LEN`], total ≤ [`MAX_ENVELOPE_LEN`], the
    /// ciphertext length equal to what the header announces), header JSON, `v == 1`, suite,
    /// plain unique file names, RFC 3339 `created_at`.
    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() as u64 > MAX_ENVELOPE_LEN {
            return Err(EnvelopeError::Malformed("envelope too large".into()));
        }
        let mut r = EnvelopeReader::new();
        r.update(bytes)?;
        let meta = r.finish()?;
        let ct = bytes[meta.ct_at..meta.ct_at + meta.ct_len as usize].to_vec();
        Ok(Self { meta, ct })
    }

    /// What check 1 established (header, digests, signature).
    pub fn meta(&self) -> &EnvelopeMeta {
        &self.meta
    }

    pub fn header(&self) -> &Header {
        &self.meta.header
    }

    /// The header exactly as signed.
    pub fn header_bytes(&self) -> &[u8] {
        &self.meta.header_bytes
    }

    /// SHA-256 of the whole envelope, lowercase hex: the digest receipts name.
    pub fn digest_hex(&self) -> String {
        self.meta.digest_hex()
    }

    /// Envelope length in bytes.
    pub fn len(&self) -> u64 {
        self.meta.len
    }

    /// Always false: an envelope has at least its fixed fields.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// See [`EnvelopeMeta::verify_signature`].
    pub fn verify_signature(&self, sender_cert: &OfficeCert) -> Result<(), EnvelopeError> {
        self.meta.verify_signature(sender_cert)
    }

    /// See [`EnvelopeMeta::verify_sender`].
    pub fn verify_sender(
        &self,
        sender_cert: &OfficeCert,
        ca_cert_pem: &str,
        now: i64,
        is_revoked: &dyn Fn(&str) -> bool,
    ) -> Result<(), EnvelopeError> {
        self.meta
            .verify_sender(sender_cert, ca_cert_pem, now, is_revoked)
    }
}

impl EnvelopeMeta {
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// SHA-256 of the whole envelope.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// SHA-256 of the whole envelope, lowercase hex: the digest receipts name.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }

    /// Envelope length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: an envelope has at least its fixed fields.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Check 3: the signature verifies with `sender_cert`'s key. Checks nothing about the
    /// certificate itself (see [`verify_sender`](Self::verify_sender)).
    pub fn verify_signature(&self, sender_cert: &OfficeCert) -> Result<(), EnvelopeError> {
        let mut m = SIG_PREFIX.to_vec();
        m.extend_from_slice(&self.unsigned_digest);
        if sender_cert.verify_signature(&m, &self.sig) {
            Ok(())
        } else {
            Err(EnvelopeError::BadSignature)
        }
    }

    /// Checks 2–3: `sender_cert` chains to the CA, is unrevoked, valid at `created_at` and at
    /// `now`, belongs to the header's `sender`, has the header's serial, and the signature
    /// verifies with it. This is what the relay runs at submission.
    pub fn verify_sender(
        &self,
        sender_cert: &OfficeCert,
        ca_cert_pem: &str,
        now: i64,
        is_revoked: &dyn Fn(&str) -> bool,
    ) -> Result<(), EnvelopeError> {
        if sender_cert.office() != &self.header.sender {
            return Err(EnvelopeError::SenderMismatch {
                header: self.header.sender.clone(),
                cert: sender_cert.office().clone(),
            });
        }
        if sender_cert.serial_hex() != self.header.sender_cert_serial {
            return Err(EnvelopeError::SenderCert(PkiError::Parse(format!(
                "header names sender certificate {}, got {}",
                self.header.sender_cert_serial,
                sender_cert.serial_hex()
            ))));
        }
        sender_cert
            .verify(ca_cert_pem, now, is_revoked)
            .map_err(EnvelopeError::SenderCert)?;
        sender_cert
            .check_valid_at(self.header.created_at_millis()?)
            .map_err(EnvelopeError::SenderCert)?;
        self.verify_signature(sender_cert)
    }
}

/// What [`open`] needs besides the recipient's keys.
#[derive(Clone, Copy)]
pub struct OpenInput<'a> {
    pub my_office: &'a OfficeNumber,
    /// Serials of our office certificates whose X25519 key is `keys` (current and renewed).
    pub my_cert_serials: &'a [String],
    /// The sender's certificate (from the relay directory or a cache), not yet trusted.
    pub sender_cert: &'a OfficeCert,
    pub ca_cert_pem: &'a str,
    /// Unix milliseconds.
    pub now: i64,
    pub is_revoked: &'a dyn Fn(&str) -> bool,
}

impl std::fmt::Debug for OpenInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenInput")
            .field("my_office", self.my_office)
            .field("my_cert_serials", &self.my_cert_serials)
            .field("sender", self.sender_cert.office())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// An opened envelope: the verified header and the files in header order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub header: Header,
    /// Digest of the envelope (as in receipts), lowercase hex.
    pub digest_hex: String,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Checks 1–6, then the files. Any failure returns an error and no plaintext.
pub fn open(
    bytes: &[u8],
    keys: &DeviceKeys,
    input: &OpenInput<'_>,
) -> Result<Opened, EnvelopeError> {
    let env = Envelope::parse(bytes)?; // 1
    env.verify_sender(
        input.sender_cert,
        input.ca_cert_pem,
        input.now,
        input.is_revoked,
    )?; // 2, 3
    let h = &env.meta.header; // 4
    if &h.recipient != input.my_office {
        return Err(EnvelopeError::NotForUs(format!(
            "addressed to {}",
            h.recipient
        )));
    }
    if !input
        .my_cert_serials
        .iter()
        .any(|s| s == &h.recipient_cert_serial)
    {
        return Err(EnvelopeError::NotForUs(format!(
            "sealed for certificate {}",
            h.recipient_cert_serial
        )));
    }
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(keys.encryption_secret())
        .map_err(|_| EnvelopeError::DecryptionFailed)?;
    if Kem::sk_to_pk(&sk).to_bytes().as_slice() != keys.encryption_public_key().as_slice() {
        return Err(EnvelopeError::DecryptionFailed);
    }
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&env.meta.enc)
        .map_err(|_| EnvelopeError::DecryptionFailed)?;
    let bundle = Zeroizing::new(
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            &info(&env.meta.header_bytes),
            &env.ct,
            &env.meta.header_bytes,
        )
        .map_err(|_| EnvelopeError::DecryptionFailed)?, // 5
    );
    let files = split_bundle(&bundle, &h.files)?; // 6
    Ok(Opened {
        digest_hex: env.digest_hex(),
        header: env.meta.header,
        files,
    })
}

fn split_bundle(
    bundle: &[u8],
    expected: &[FileEntry],
) -> Result<Vec<(String, Vec<u8>)>, EnvelopeError> {
    let mismatch = |m: String| EnvelopeError::BundleMismatch(m);
    let mut r = Reader { rest: bundle };
    let mut out = Vec::with_capacity(expected.len());
    for (i, want) in expected.iter().enumerate() {
        let short = |_| mismatch(format!("bundle ends inside file {i}"));
        let name_len = u32::from_be_bytes(r.array("name_len").map_err(short)?) as usize;
        let name = r.take(name_len, "name").map_err(short)?;
        if name != want.name.as_bytes() {
            return Err(mismatch(format!(
                "file {i} is named differently from the header"
            )));
        }
        let len = u64::from_be_bytes(r.array("len").map_err(short)?);
        if len != want.len {
            return Err(mismatch(format!(
                "file {i} length {len} differs from the header's {}",
                want.len
            )));
        }
        let data = r
            .take(
                usize::try_from(len).map_err(|_| mismatch("length".into()))?,
                "data",
            )
            .map_err(short)?;
        out.push((want.name.clone(), data.to_vec()));
    }
    if !r.rest.is_empty() {
        return Err(mismatch("bytes after the last file".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_files(["a.csv", "b.csv"].into_iter()).is_ok());
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb"] {
            assert!(check_files([bad].into_iter()).is_err(), "{bad:?}");
        }
        assert!(check_files(["a", "a"].into_iter()).is_err());
        assert!(check_files(std::iter::empty()).is_err());
        let many: Vec<String> = (0..=MAX_FILES).map(|i| format!("f{i}")).collect();
        assert!(check_files(many.iter().map(String::as_str)).is_err());
    }

    #[test]
    fn split_bundle_is_strict() {
        let want = vec![FileEntry {
            name: "a".into(),
            len: 2,
        }];
        let mut ok = 1u32.to_be_bytes().to_vec();
        ok.extend_from_slice(b"a");
        ok.extend_from_slice(&2u64.to_be_bytes());
        ok.extend_from_slice(b"xy");
        assert_eq!(
            split_bundle(&ok, &want).unwrap(),
            vec![("a".to_owned(), b"xy".to_vec())]
        );
        for n in 0..ok.len() {
            assert!(matches!(
                split_bundle(&ok[..n], &want),
                Err(EnvelopeError::BundleMismatch(_))
            ));
        }
        let mut extra = ok.clone();
        extra.push(0);
        assert!(split_bundle(&extra, &want).is_err());
        let mut huge = 1u32.to_be_bytes().to_vec();
        huge.extend_from_slice(b"a");
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        let want_huge = vec![FileEntry {
            name: "a".into(),
            len: u64::MAX,
        }];
        assert!(split_bundle(&huge, &want_huge).is_err());
    }
}
