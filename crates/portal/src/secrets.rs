//! Generated identifiers and passwords, the password rules, and notices sealed with the office's
//! own KJ password.

use argon2::Argon2;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::PortalError;

/// Characters of generated passwords: no 0/O, 1/l/I, so a printed notice cannot be misread.
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

fn random_digits(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + (OsRng.next_u32() % 10) as u8))
        .collect()
}

/// A new 介護電子請求用ユーザID candidate: `KJ` + 12 random digits.
pub fn new_kj_id() -> renkei_ids::KjUserId {
    format!("KJ{}", random_digits(12))
        .parse()
        .expect("KJ + 12 digits is a valid KJ ID")
}

/// A new personal user ID candidate: `c` + 10 random digits.
pub fn new_personal_id() -> renkei_ids::PersonalUserId {
    format!("c{}", random_digits(10))
        .parse()
        .expect("c + 10 digits is a valid personal ID")
}

/// A random password of `len` characters with at least one upper-case letter, one lower-case
/// letter and one digit (so it passes [`check_password_rules`]).
pub fn new_password(len: usize) -> String {
    loop {
        let mut out = String::with_capacity(len);
        for _ in 0..len {
            // Rejection sampling keeps the distribution uniform.
            let limit = 256 - (256 % PASSWORD_ALPHABET.len() as u32);
            let idx = loop {
                let v = OsRng.next_u32() & 0xff;
                if v < limit {
                    break (v as usize) % PASSWORD_ALPHABET.len();
                }
            };
            out.push(char::from(PASSWORD_ALPHABET[idx]));
        }
        let classes = [
            out.bytes().any(|b| b.is_ascii_uppercase()),
            out.bytes().any(|b| b.is_ascii_lowercase()),
            out.bytes().any(|b| b.is_ascii_digit()),
        ];
        if classes.iter().all(|c| *c) {
            return out;
        }
    }
}

/// A random URL-safe token (sessions, CSRF) and its SHA-256 hex (what the database keeps).
pub fn new_token() -> (String, String) {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    let token = hex::encode(b);
    let hash = token_hash(&token);
    (token, hash)
}

/// SHA-256 hex of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Minimum length of a chosen password.
pub const MIN_PASSWORD_LEN: usize = 10;

/// The rules a chosen KJ, operator or personal password must follow: 10–64 printable ASCII
/// characters, at least three of upper-case, lower-case, digits and symbols, not containing the
/// user ID, and different from the current password.
pub fn check_password_rules(
    new: &str,
    user_id: &str,
    current_matches: bool,
) -> Result<(), PortalError> {
    let rule = |ja: &str, en: &str| {
        Err(PortalError::PasswordRule {
            ja: ja.into(),
            en: en.into(),
        })
    };
    if new.chars().count() < MIN_PASSWORD_LEN || new.len() > 64 {
        return rule(
            "パスワードは10文字以上64文字以下にしてください",
            "a password has 10 to 64 characters",
        );
    }
    if !new.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return rule(
            "パスワードには半角英数字と記号だけを使えます（空白・全角文字は使えません）",
            "use printable ASCII only (no spaces or full-width characters)",
        );
    }
    let classes = [
        new.bytes().any(|b| b.is_ascii_uppercase()),
        new.bytes().any(|b| b.is_ascii_lowercase()),
        new.bytes().any(|b| b.is_ascii_digit()),
        new.bytes().any(|b| b.is_ascii_punctuation()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return rule(
            "英大文字・英小文字・数字・記号のうち3種類以上を含めてください",
            "use at least three of upper-case, lower-case, digits and symbols",
        );
    }
    if !user_id.is_empty()
        && new
            .to_ascii_lowercase()
            .contains(&user_id.to_ascii_lowercase())
    {
        return rule(
            "パスワードにユーザIDを含めることはできません",
            "a password must not contain the user ID",
        );
    }
    if current_matches {
        return rule(
            "現在のパスワードと異なるパスワードにしてください",
            "choose a password different from the current one",
        );
    }
    Ok(())
}

const SEAL_MAGIC: &[u8; 4] = b"RKN1";

fn derive_key(password: &str, salt: &[u8]) -> Result<[u8; 32], PortalError> {
    let mut key = [0u8; 32];
    Argon2::default()
        .hash_password_into(password.as_bytes(), salt, &mut key)
        .map_err(|e| PortalError::Internal(format!("argon2: {e}")))?;
    Ok(key)
}

/// Seal a notice body with a key derived (Argon2id) from the office's KJ password:
/// `"RKN1" || salt (16) || nonce (12) || ChaCha20-Poly1305 ciphertext`.
pub fn seal_notice(password: &str, plaintext: &str) -> Result<Vec<u8>, PortalError> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let key = derive_key(password, &salt)?;
    let ct = ChaCha20Poly1305::new((&key).into())
        .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
        .map_err(|_| PortalError::Internal("seal notice".into()))?;
    let mut out = Vec::with_capacity(4 + 16 + 12 + ct.len());
    out.extend_from_slice(SEAL_MAGIC);
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open a sealed notice; `None` when the password is wrong or the bytes are damaged.
pub fn open_notice(password: &str, sealed: &[u8]) -> Option<String> {
    let rest = sealed.strip_prefix(SEAL_MAGIC.as_slice())?;
    if rest.len() < 16 + 12 + 16 {
        return None;
    }
    let (salt, rest) = rest.split_at(16);
    let (nonce, ct) = rest.split_at(12);
    let key = derive_key(password, salt).ok()?;
    let pt = ChaCha20Poly1305::new((&key).into())
        .decrypt(Nonce::from_slice(nonce), ct)
        .ok()?;
    String::from_utf8(pt).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_right_shape() {
        for _ in 0..50 {
            let kj = new_kj_id();
            assert_eq!(kj.as_str().len(), 14);
            let c = new_personal_id();
            assert_eq!(c.as_str().len(), 11);
        }
    }

    #[test]
    fn generated_passwords_pass_the_rules_and_avoid_ambiguous_characters() {
        for _ in 0..50 {
            let p = new_password(12);
            assert_eq!(p.len(), 12);
            assert!(!p.contains(['0', 'O', '1', 'l', 'I']));
            check_password_rules(&p, "KJ000000000001", false).unwrap();
        }
    }

    #[test]
    fn password_rules() {
        let ok = "Kaigo-2025x";
        check_password_rules(ok, "KJ123456789012", false).unwrap();
        for (bad, why) in [
            ("Short1!", "length"),
            ("alllowercaseletters", "classes"),
            ("ALLUPPER12345", "ok? upper+digit only two classes"),
            ("パスワードPass123", "ascii"),
            ("Pass word 123", "space"),
            ("xKJ123456789012Ab", "contains id"),
        ] {
            assert!(
                check_password_rules(bad, "KJ123456789012", false).is_err(),
                "{why}: {bad}"
            );
        }
        assert!(
            check_password_rules(ok, "KJ123456789012", true).is_err(),
            "same as current"
        );
        assert!(
            check_password_rules(&"Ab1".repeat(22), "", false).is_err(),
            "too long"
        );
    }

    #[test]
    fn sealed_notice_opens_only_with_the_password() {
        let sealed = seal_notice("Kaigo-2025x", "証明書発行用パスワード: AbCd2345").unwrap();
        assert_eq!(
            open_notice("Kaigo-2025x", &sealed).as_deref(),
            Some("証明書発行用パスワード: AbCd2345")
        );
        assert_eq!(open_notice("kaigo-2025x", &sealed), None);
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(open_notice("Kaigo-2025x", &damaged), None);
        assert_eq!(open_notice("Kaigo-2025x", b"RKN1short"), None);
    }
}
