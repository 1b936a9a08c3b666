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
