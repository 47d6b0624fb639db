//! Sealing cached values with AES-256-GCM, so that a dump of a shared Redis shows no
//! names or ID numbers.
//!
//! A sealed value is `v1:<key id>:<nonce><ciphertext>` (binary after the prefix). The
//! key id lets keys rotate: values written under the previous key stay readable
//! until they expire, while new values use the current key.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const PREFIX: &[u8] = b"v1:";
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("cache.encryption_key{which}: must be base64 of exactly 32 bytes")]
    BadKey { which: String },
    #[error("cache key id '{0}' must be 1 to 16 letters, digits, '-' or '_'")]
    BadKeyId(String),
}

/// The keys a hub seals and opens cache values with.
#[derive(Clone)]
pub struct Sealer {
    current_id: String,
    ciphers: HashMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer(current key id {})", self.current_id)
    }
}

fn cipher(encoded: &str, which: &str) -> Result<Aes256Gcm, CryptoError> {
    let bytes = STANDARD
        .decode(encoded.trim())
        .map_err(|_| CryptoError::BadKey {
            which: which.to_owned(),
        })?;
    if bytes.len() != 32 {
        return Err(CryptoError::BadKey {
            which: which.to_owned(),
        });
    }
    Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)))
}

fn check_id(id: &str) -> Result<(), CryptoError> {
    if id.is_empty()
        || id.len() > 16
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(CryptoError::BadKeyId(id.to_owned()));
    }
    Ok(())
}

impl Sealer {
    /// `key` seals new values under `key_id`; `previous` (id → key) only opens.
    pub fn new(
        key_id: &str,
        key: &str,
        previous: &HashMap<String, String>,
    ) -> Result<Sealer, CryptoError> {
        check_id(key_id)?;
        let mut ciphers = HashMap::new();
        for (id, encoded) in previous {
            check_id(id)?;
            ciphers.insert(
                id.clone(),
                cipher(encoded, &format!(" (previous key {id})"))?,
            );
        }
        ciphers.insert(key_id.to_owned(), cipher(key, "")?);
        Ok(Sealer {
            current_id: key_id.to_owned(),
            ciphers,
        })
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let cipher = &self.ciphers[&self.current_id];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(&nonce, plain)
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out =
            Vec::with_capacity(PREFIX.len() + self.current_id.len() + 1 + NONCE_LEN + sealed.len());
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(self.current_id.as_bytes());
        out.push(b':');
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plain value, or `None` when it was sealed with an unknown key or tampered
    /// with (a cache miss, never an error a client sees).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        let rest = sealed.strip_prefix(PREFIX)?;
        let colon = rest.iter().position(|b| *b == b':')?;
        let id = std::str::from_utf8(&rest[..colon]).ok()?;
        let body = &rest[colon + 1..];
        if body.len() < NONCE_LEN {
            return None;
        }
        let cipher = self.ciphers.get(id)?;
        cipher
            .decrypt(Nonce::from_slice(&body[..NONCE_LEN]), &body[NONCE_LEN..])
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn sealed_values_hide_the_plaintext_and_open_again() {
        let sealer = Sealer::new("k1", &key(7), &HashMap::new()).unwrap();
        let sealed = sealer.seal("张三丰 110101199003071234".as_bytes());
        assert!(!String::from_utf8_lossy(&sealed).contains("110101199003071234"));
        assert_eq!(
            sealer.open(&sealed).unwrap(),
            "张三丰 110101199003071234".as_bytes()
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_seals_with_the_new_key() {
        let old = Sealer::new("k1", &key(1), &HashMap::new()).unwrap();
        let sealed_old = old.seal(b"balance");
        let previous = HashMap::from([("k1".to_owned(), key(1))]);
        let new = Sealer::new("k2", &key(2), &previous).unwrap();
        assert_eq!(new.open(&sealed_old).unwrap(), b"balance");
        assert!(new.seal(b"x").starts_with(b"v1:k2:"));
        assert_eq!(
            old.open(&new.seal(b"x")),
            None,
            "the old hub cannot read k2"
        );
    }

    #[test]
    fn tampering_and_bad_keys_are_refused() {
        let sealer = Sealer::new("k1", &key(3), &HashMap::new()).unwrap();
        let mut sealed = sealer.seal(b"value");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(sealer.open(&sealed), None);
        assert!(Sealer::new("k1", "c2hvcnQ=", &HashMap::new()).is_err());
        assert!(Sealer::new("bad id!", &key(1), &HashMap::new()).is_err());
    }
}
