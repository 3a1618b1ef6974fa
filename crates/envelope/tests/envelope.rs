//! Seal/open round trips and every way an envelope can be wrong.

use renkei_envelope::{
    open, seal, Envelope, EnvelopeError, EnvelopeReader, OpenInput, SealInput, MAGIC,
};
use renkei_ids::OfficeNumber;
use renkei_pki::testpki::{TestOffice, TestPki};
use renkei_pki::{now_millis, DeviceKeys, OfficeCert, PkiError};
use sha2::{Digest, Sha256};

const SEQ: &str = "20191025200201";

fn files() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "UPPLAN_201912_0300000100_43_0300000005_11_20191025200201.CSV".into(),
            b"plan,1\r\n".repeat(40),
        ),
        (
            "UPSIKYU_201912_0300000100_43_0300000005_11_20191025200201.CSV".into(),
            Vec::new(),
        ),
        (
            "UPHOSOKU_201912_0300000100_43_0300000005_11_20191025200201.CSV".into(),
            vec![0x82, 0xa0, 0x0d, 0x0a],
        ),
    ]
}

fn cert(o: &TestOffice) -> OfficeCert {
    OfficeCert::parse_pem(&o.cert.pem).unwrap()
}

fn seal_from(_pki: &TestPki, from: &TestOffice, to: &TestOffice) -> Vec<u8> {
    seal(
        &SealInput {
            sender: &from.office,
            sender_cert_serial: &from.cert.serial_hex,
            recipient_cert: &cert(to),
            file_seq: &SEQ.parse().unwrap(),
            files: &files(),
            created_at: now_millis(),
        },
        &from.keys,
    )
    .unwrap()
}

/// Open as office B (the usual recipient) with `sender` as the claimed sender certificate.
fn open_as(
    pki: &TestPki,
    bytes: &[u8],
    me: &TestOffice,
    keys: &DeviceKeys,
    sender: &TestOffice,
) -> Result<Vec<(String, Vec<u8>)>, EnvelopeError> {
    let revoked = |s: &str| pki.is_revoked(s);
    open(
        bytes,
        keys,
        &OpenInput {
            my_office: &me.office,
            my_cert_serials: std::slice::from_ref(&me.cert.serial_hex),
            sender_cert: &cert(sender),
            ca_cert_pem: pki.ca.ca_cert_pem(),
            now: now_millis(),
            is_revoked: &revoked,
        },
    )
    .map(|o| o.files)
}

fn open_b(pki: &TestPki, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, EnvelopeError> {
    open_as(pki, bytes, &pki.office_b, &pki.office_b.keys, &pki.office_a)
}

/// Offsets of the regions of a v1 envelope.
struct Layout {
    header: std::ops::Range<usize>,
    enc: std::ops::Range<usize>,
    ct: std::ops::Range<usize>,
    sig: std::ops::Range<usize>,
}

fn layout(bytes: &[u8]) -> Layout {
    let hl = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let header = 8..8 + hl;
    let enc = header.end..header.end + 32;
    let ct = enc.end + 8..bytes.len() - 64;
    Layout {
        header,
        enc,
        ct,
        sig: bytes.len() - 64..bytes.len(),
    }
}

/// Rebuild an envelope with a different header, keeping enc and ct, signed by `signer`.
fn with_header(bytes: &[u8], header: &[u8], signer: &DeviceKeys) -> Vec<u8> {
    let l = layout(bytes);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(&bytes[l.enc.clone()]);
    out.extend_from_slice(&((l.ct.end - l.ct.start) as u64).to_be_bytes());
    out.extend_from_slice(&bytes[l.ct.clone()]);
    let mut m = b"renkei-envelope-v1-sig".to_vec();
    m.extend_from_slice(&Sha256::digest(&out));
    out.extend_from_slice(&signer.sign(&m));
    out
}

#[test]
fn round_trip() {
    let pki = TestPki::generate();
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    assert_eq!(open_b(&pki, &bytes).unwrap(), files());

    let env = Envelope::parse(&bytes).unwrap();
    let h = env.header();
    assert_eq!(h.sender.as_str(), "0300000100");
    assert_eq!(h.recipient.as_str(), "0300000005");
    assert_eq!(h.recipient_cert_serial, pki.office_b.cert.serial_hex);
    assert_eq!(h.files.len(), 3);
    assert!(h.created_at.ends_with("+09:00"), "{}", h.created_at);
    assert_eq!(env.digest_hex(), hex::encode(Sha256::digest(&bytes)));
    assert_eq!(env.len(), bytes.len() as u64);
    // The header is readable JSON; the contents are not in clear anywhere.
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("UPPLAN_201912"));
    assert!(!text.contains("plan,1"));
}

#[test]
fn tampering_any_region_is_detected() {
    let pki = TestPki::generate();
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    let l = layout(&bytes);
    for (region, range) in [
        ("header", l.header),
        ("enc", l.enc),
        ("ct", l.ct),
        ("sig", l.sig),
    ] {
        for pos in [range.start, (range.start + range.end) / 2, range.end - 1] {
            let mut t = bytes.clone();
            t[pos] ^= 0x01;
            let err = open_b(&pki, &t).unwrap_err();
            assert!(
                matches!(
                    err,
                    EnvelopeError::BadSignature | EnvelopeError::Malformed(_)
                ),
                "{region}@{pos}: {err}"
            );
        }
    }
    // The relay-side check catches the same.
    let mut t = bytes.clone();
    t[layout(&bytes).ct.start] ^= 0x80;
    let env = Envelope::parse(&t).unwrap();
    assert!(matches!(
        env.verify_signature(&cert(&pki.office_a)),
        Err(EnvelopeError::BadSignature)
    ));
}

#[test]
fn readdressing_fails() {
    let pki = TestPki::generate();
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    let l = layout(&bytes);
    let header = std::str::from_utf8(&bytes[l.header.clone()]).unwrap();

    // The relay edits the recipient: the signature no longer verifies.
    let edited = header.replace("0300000005", "0300000013");
    let mut t = bytes.clone();
    t.splice(l.header.clone(), edited.bytes());
    assert!(matches!(open_b(&pki, &t), Err(EnvelopeError::BadSignature)));

    // Delivered as-is to another office: not for it.
    let err = open_as(
        &pki,
        &bytes,
        &pki.office_a,
        &pki.office_a.keys,
        &pki.office_a,
    )
    .unwrap_err();
    assert!(matches!(err, EnvelopeError::NotForUs(_)), "{err}");

    // Even someone holding the sender's key cannot re-address or relabel a sealed payload:
    // header is HPKE info and aad, so a re-signed envelope with a new header does not decrypt.
    let relabelled = header.replace(SEQ, "20191026200201");
    let t = with_header(&bytes, relabelled.as_bytes(), &pki.office_a.keys);
    assert!(matches!(
        open_b(&pki, &t),
        Err(EnvelopeError::DecryptionFailed)
    ));

    // A certificate serial we do not hold: not for us.
    let other_serial = header.replace(&pki.office_b.cert.serial_hex, "01");
    let t = with_header(&bytes, other_serial.as_bytes(), &pki.office_a.keys);
    assert!(matches!(open_b(&pki, &t), Err(EnvelopeError::NotForUs(_))));
}

#[test]
fn wrong_recipient_key_fails() {
    let pki = TestPki::generate();
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    let err = open_as(
        &pki,
        &bytes,
        &pki.office_b,
        &pki.office_a.keys,
        &pki.office_a,
    )
    .unwrap_err();
    assert!(matches!(err, EnvelopeError::DecryptionFailed), "{err}");
    let fresh = DeviceKeys::generate().unwrap();
    let err = open_as(&pki, &bytes, &pki.office_b, &fresh, &pki.office_a).unwrap_err();
    assert!(matches!(err, EnvelopeError::DecryptionFailed), "{err}");
}

#[test]
fn sender_certificate_checks() {
    let pki = TestPki::generate();
    // Sealed with each bad certificate's own keys and serial: the certificate is refused.
    for (bad, what) in [
        (&pki.expired, "expired"),
        (&pki.revoked, "revoked"),
        (&pki.wrong_ca, "wrong CA"),
    ] {
        let bytes = seal_from(&pki, bad, &pki.office_b);
        let err = open_as(&pki, &bytes, &pki.office_b, &pki.office_b.keys, bad).unwrap_err();
        let ok = match what {
            "expired" => matches!(err, EnvelopeError::SenderCert(PkiError::Expired { .. })),
            "revoked" => matches!(err, EnvelopeError::SenderCert(PkiError::Revoked { .. })),
            _ => matches!(err, EnvelopeError::SenderCert(PkiError::WrongCa)),
        };
        assert!(ok, "{what}: {err}");
    }
    // Signed by A but presented with B's certificate (sender mismatch).
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    let err = open_as(
        &pki,
        &bytes,
        &pki.office_b,
        &pki.office_b.keys,
        &pki.office_b,
    )
    .unwrap_err();
    assert!(matches!(err, EnvelopeError::SenderMismatch { .. }), "{err}");
    // A's other (revoked) certificate instead of the one named in the header.
    let err = open_as(
        &pki,
        &bytes,
        &pki.office_b,
        &pki.office_b.keys,
        &pki.revoked,
    )
    .unwrap_err();
    assert!(matches!(err, EnvelopeError::SenderCert(_)), "{err}");
    // A claims to be A but signs with a key that is not A's certificate key.
    let forged = seal(
        &SealInput {
            sender: &pki.office_a.office,
            sender_cert_serial: &pki.office_a.cert.serial_hex,
            recipient_cert: &cert(&pki.office_b),
            file_seq: &SEQ.parse().unwrap(),
            files: &files(),
            created_at: now_millis(),
        },
        &pki.office_b.keys,
    )
    .unwrap();
    assert!(matches!(
        open_b(&pki, &forged),
        Err(EnvelopeError::BadSignature)
    ));
}

#[test]
fn truncations_are_errors_without_panic() {
    let pki = TestPki::generate();
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    for n in 0..bytes.len() {
        assert!(Envelope::parse(&bytes[..n]).is_err(), "prefix {n}");
        assert!(open_b(&pki, &bytes[..n]).is_err());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Envelope::parse(&longer).is_err());
    // Absurd lengths are refused before any allocation.
    let mut huge = bytes.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Envelope::parse(&huge),
        Err(EnvelopeError::Malformed(_))
    ));
    let l = layout(&bytes);
    let mut huge = bytes.clone();
    huge[l.enc.end..l.enc.end + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(
        Envelope::parse(&huge),
        Err(EnvelopeError::Malformed(_))
    ));
}

/// Property-style: random truncations and random byte edits never panic and never open.
#[test]
fn random_mutations_never_open() {
    let pki = TestPki::generate();
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let mut t = bytes.clone();
        match next() % 3 {
            0 => t.truncate((next() % bytes.len() as u64) as usize),
            1 => {
                let i = (next() % t.len() as u64) as usize;
                t[i] ^= (next() % 255 + 1) as u8;
            }
            _ => {
                let i = (next() % t.len() as u64) as usize;
                t.insert(i, next() as u8);
            }
        }
        assert!(open_b(&pki, &t).is_err());
    }
}

#[test]
fn header_rules() {
    let pki = TestPki::generate();
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    let l = layout(&bytes);
    let header = std::str::from_utf8(&bytes[l.header.clone()])
        .unwrap()
        .to_owned();
    for edited in [
        header.replace("\"v\":1", "\"v\":2"),
        header.replace("CHACHA20POLY1305", "AES128GCM"),
        header.replace("\"v\":1", "\"v\":1,\"extra\":true"),
        header.replace("UPPLAN_", "../UPPLAN_"),
        header.replace("+09:00", "JST"),
        header.replace(SEQ, "20191325200201"),
        "[]".to_owned(),
        "{".to_owned(),
    ] {
        let t = with_header(&bytes, edited.as_bytes(), &pki.office_a.keys);
        assert!(
            matches!(Envelope::parse(&t), Err(EnvelopeError::Malformed(_))),
            "{edited}"
        );
    }
}

#[test]
fn seal_rejects_bad_input() {
    let pki = TestPki::generate();
    let b = cert(&pki.office_b);
    let seq = SEQ.parse().unwrap();
    let a: OfficeNumber = pki.office_a.office.clone();
    for files in [
        vec![],
        vec![("a/b.csv".to_owned(), vec![])],
        vec![("x".to_owned(), vec![]), ("x".to_owned(), vec![])],
    ] {
        let r = seal(
            &SealInput {
                sender: &a,
                sender_cert_serial: &pki.office_a.cert.serial_hex,
                recipient_cert: &b,
                file_seq: &seq,
                files: &files,
                created_at: 0,
            },
            &pki.office_a.keys,
        );
        assert!(matches!(r, Err(EnvelopeError::InvalidInput(_))));
    }
}

/// The relay's streaming reader agrees with `Envelope::parse` whatever the piece sizes, knows
/// the header as soon as the head has arrived, and refuses short, long and foreign bytes.
#[test]
fn streaming_reader_matches_parse_for_any_piece_size() {
    let pki = TestPki::generate();
    let bytes = seal_from(&pki, &pki.office_a, &pki.office_b);
    let whole = Envelope::parse(&bytes).unwrap();
    let head = layout(&bytes).enc.end + 8;
    for piece in [1, 2, 7, 64, 999, head - 1, head, head + 1, bytes.len()] {
        let mut r = EnvelopeReader::new();
        for (k, c) in bytes.chunks(piece).enumerate() {
            r.update(c).unwrap();
            let taken = (k + 1) * piece;
            assert_eq!(
                r.header().is_some(),
                taken >= head,
                "piece {piece} after {taken}"
            );
        }
        assert_eq!(r.seen(), bytes.len() as u64);
        let meta = r.finish().unwrap();
        assert_eq!(&meta, whole.meta(), "piece {piece}");
        assert_eq!(meta.digest_hex(), hex::encode(Sha256::digest(&bytes)));
        meta.verify_sender(
            &cert(&pki.office_a),
            pki.ca.ca_cert_pem(),
            now_millis(),
            &|_| false,
        )
        .unwrap();
    }
    // One byte short, one byte long, a foreign magic: refused (the magic after 4 bytes).
    let mut r = EnvelopeReader::new();
    r.update(&bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(r.finish(), Err(EnvelopeError::Malformed(_))));
    let mut r = EnvelopeReader::new();
    r.update(&bytes).unwrap();
    assert!(matches!(r.update(&[0]), Err(EnvelopeError::Malformed(_))));
    let mut r = EnvelopeReader::new();
    assert!(matches!(
        r.update(b"RKE2"),
        Err(EnvelopeError::Malformed(_))
    ));
    // A changed ciphertext byte streams through but fails the signature.
    let mut t = bytes.clone();
    t[head + 3] ^= 1;
    let mut r = EnvelopeReader::new();
    for c in t.chunks(100) {
        r.update(c).unwrap();
    }
    assert!(matches!(
        r.finish().unwrap().verify_signature(&cert(&pki.office_a)),
        Err(EnvelopeError::BadSignature)
    ));
}
