//! Credentials: password hashing (argon2id, bounded concurrency, upgraded on sign-in), the
//! password rules as errors, and random tokens stored only as their hash (sessions, patient
//! links, single sign-on state).

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Code, Error};

/// Argon2id cost: 19 MiB of memory, 2 passes, 1 lane (OWASP's recommended minimum for argon2id).
/// A whole sign-in takes 20-30 ms on the 2-core reference machine (docs/security.md), so one core
/// verifies about 40 guesses a second before the lockout stops them. Hashes made with other
/// parameters are upgraded at the next successful sign-in, so the cost can be raised later.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None).unwrap_or_default();
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// At most this many password hashes are computed at once (one per core), so a flood of sign-in
/// attempts queues instead of exhausting memory.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// A real hash of nothing in particular, verified against for unknown accounts so that the time a
/// failed sign-in takes does not reveal whether the account exists.
pub static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password("no account has this password").unwrap_or_default());

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(argon2().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// Whether a stored hash was made with other parameters than today's (or is not argon2id).
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(h) = PasswordHash::new(hash) else { return true };
    h.algorithm.as_str() != "argon2id"
        || Params::try_from(&h).map_or(true, |p| {
            (p.m_cost(), p.t_cost(), p.p_cost()) != (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES)
        })
}

/// Hashes off the async threads, a bounded number at a time.
pub async fn hash_password_async(password: String) -> Result<String, Error> {
    let _permit = HASHING.acquire().await.map_err(|e| Error::internal("password hashing", e))?;
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Error::internal("password hashing", e))?
        .map_err(|e| Error::internal("password hashing", e))
}

pub async fn verify_password_async(password: String, hash: String) -> Result<bool, Error> {
    let _permit = HASHING.acquire().await.map_err(|e| Error::internal("password check", e))?;
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| Error::internal("password check", e))
}

/// Checks a new password against the password rules (NCSC guidance), as a 422 with the rule's code.
pub fn check_new_password(password: &str, email: &str, display_name: &str) -> Result<(), Error> {
    telederm_domain::password::check_password(password, email, display_name)
        .map_err(|e| Error::new(Code::from(&e), e.to_string()).with_details(serde_json::json!({"field": "password"})))
}

/// A fresh random token (256 bits, hex) and the hash to store for it.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time that depends only on their length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_todays_parameters_and_old_ones_need_rehashing() {
        let h = hash_password("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse battery staple", &h));
        assert!(!verify_password("correct horse battery stapler", &h));
        assert!(!needs_rehash(&h));
        let weak = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, Params::new(8, 1, 1, None).unwrap());
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = weak.hash_password(b"x", &salt).unwrap().to_string();
        assert!(needs_rehash(&old));
        assert!(needs_rehash("not a hash"));
    }
}
