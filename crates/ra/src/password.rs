//! Password hashing: argon2id with the OWASP parameters (m = 19 MiB, t = 2, p = 1).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn argon() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a random salt.
pub fn hash(password: &str) -> crate::Result<String> {
    let mut salt = [0u8; 16];
    shomei_ca::random_bytes(&mut salt)?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|_| crate::RaError::Invalid("err.internal"))?;
    argon()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| crate::RaError::Invalid("err.internal"))
}

/// Checks a password against a stored hash. A malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => argon().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// The pool password hashing runs on (issue #7 item 9): argon2id costs ~40 ms of CPU and
/// 19 MiB; on the shared request threads a flood of logins would stall OCSP, CRLs and
/// every page. Checks run on blocking threads, at most [`HASHING_SLOTS`] at a time; the
/// rest wait their turn without holding a request thread.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(HASHING_SLOTS);

/// Concurrent password hashes: one, so on a 2-core machine one core always stays free
/// for everything else.
pub const HASHING_SLOTS: usize = 1;

async fn on_pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _permit = HASHING.acquire().await.ok()?;
    tokio::task::spawn_blocking(f).await.ok()
}

/// [`verify`] on the hashing pool.
pub async fn verify_async(password: &str, stored: &str) -> bool {
    let (p, s) = (password.to_owned(), stored.to_owned());
    on_pool(move || verify(&p, &s)).await.unwrap_or(false)
}

/// [`hash`] on the hashing pool.
pub async fn hash_async(password: &str) -> crate::Result<String> {
    let p = password.to_owned();
    on_pool(move || hash(&p))
        .await
        .unwrap_or(Err(crate::RaError::Invalid("err.internal")))
}

/// [`burn`] on the hashing pool.
pub async fn burn_async(password: &str) {
    let p = password.to_owned();
    let _ = on_pool(move || burn(&p)).await;
}

/// Runs one hash to spend the same time as a real check when the principal is unknown,
/// so response time does not tell whether an access key exists.
pub fn burn(password: &str) {
    let _ = verify(
        password,
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$2x4pU2cHjIh0GInb6D1l8nK0vbv9V4yXzqQGDmmfTVw",
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_and_verify() {
        let h = super::hash("correct horse battery").unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(super::verify("correct horse battery", &h));
        assert!(!super::verify("wrong horse battery", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}
