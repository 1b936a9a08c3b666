//! PKCS#12 files for login certificates: PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) with
//! an HMAC-SHA-256 MAC, which `openssl pkcs12` (3.x), Chrome/NSS, Firefox and Windows
//! (10 1709 and later) import.

use crate::CaError;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};

/// Packs a PKCS#8 key and its chain (leaf first) into a PKCS#12 file.
pub fn pkcs12(
    key_pkcs8_der: &[u8],
    chain_der: &[Vec<u8>],
    password: &str,
    name: &str,
) -> Result<Vec<u8>, CaError> {
    let err = |e: p12_keystore::error::Error| CaError::Pkcs12(e.to_string());
    let certs = chain_der
        .iter()
        .map(|d| Certificate::from_der(d).map_err(err))
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKey::from_der(key_pkcs8_der).map_err(err)?;
    let local_key_id = crate::sha256_hex(&chain_der[0])[..40].to_string();
    let chain = PrivateKeyChain::new(local_key_id.into_bytes(), key, certs);
    let mut ks = KeyStore::new();
    ks.add_entry(name, KeyStoreEntry::PrivateKeyChain(chain));
    ks.writer(password).write().map_err(err)
}
