//! Password hashing for every login Renkei stores (operators, KJ accounts, personal users,
//! certificate issuance passwords): Argon2id with per-hash random salt, PHC string format.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// Hash a password into a PHC string (`$argon2id$v=19$…`).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// At most this many Argon2 computations run at once, so that a burst of logins cannot occupy
/// every core of a node that also relays files.
const MAX_CONCURRENT_HASHES: usize = 4;

fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(MAX_CONCURRENT_HASHES))
}

/// [`hash_password`] off the async runtime (a blocking thread, bounded concurrency).
pub async fn hash_password_async(password: &str) -> String {
    let _permit = hashing_permits()
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let password = zeroize::Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .expect("argon2 does not panic")
}

/// [`verify_password`] off the async runtime (a blocking thread, bounded concurrency).
pub async fn verify_password_async(password: &str, hash: &str) -> bool {
    let _permit = hashing_permits()
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let (password, hash) = (
        zeroize::Zeroizing::new(password.to_owned()),
        hash.to_owned(),
    );
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let h = hash_password("Passw0rd!長い");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Passw0rd!長い", &h));
        assert!(!verify_password("Passw0rd!", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[tokio::test]
    async fn async_variants_agree() {
        let h = hash_password_async("Another-Pass-9").await;
        assert!(verify_password_async("Another-Pass-9", &h).await);
        assert!(!verify_password_async("another-pass-9", &h).await);
    }
}
