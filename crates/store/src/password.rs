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
}
