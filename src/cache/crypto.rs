//! Sealing values that cross Redis with AES-256-GCM, so that a dump of a shared Redis
//! shows no names or ID numbers, and a value is only ever read where it was written.
//!
//! A sealed value is `v2:<key id>:<nonce><ciphertext>` (binary after the prefix). The
//! key id lets keys rotate: values written under a previous key stay readable until
//! they expire, while new values use the current key. Each value is sealed with its
//! context (the full Redis key, or the bus channel) as associated data: anyone who
//! can write to Redis can copy a sealed value, but a customer's profile copied under
//! another customer's key no longer opens there. Values in the first format (`v1:`,
//! sealed without a context) do not open either: they are misses and are rewritten.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

const PREFIX: &[u8] = b"v2:";
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("cache.encryption_key{which}: must be base64 of exactly 32 bytes")]
    BadKey { which: String },
    #[error("cache key id '{0}' must be 1 to 16 letters, digits, '-' or '_'")]
    BadKeyId(String),
}

/// Why a value did not open. Each is a miss for the reader and a label of the metric
/// that counts them, so an operator can tell a key left behind by a rotation from
/// values that were moved or altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Not a sealed value of this format: clear text, or sealed in the `v1:` format.
    #[error("not a sealed value of the current format")]
    Format,
    /// Sealed under a key id this hub does not hold (retired, or another deployment's).
    #[error("sealed under a key this hub does not hold")]
    KeyId,
    /// Authentication failed: moved from another Redis key or channel, or altered.
    #[error("sealed for another key, or altered")]
    Authentication,
}

impl Rejected {
    /// The `reason` label of the metrics counting rejected values.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Format => "format",
            Rejected::KeyId => "key_id",
            Rejected::Authentication => "authentication",
        }
    }
}

/// The keys a hub seals and opens values with.
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

    /// `plain` sealed for `context`: only [`Sealer::open`] with the same context opens
    /// it.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let cipher = &self.ciphers[&self.current_id];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
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

    /// The plain value sealed for `context`, or why not (for the reader, a miss,
    /// never an error a client sees).
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Rejected> {
        let rest = sealed.strip_prefix(PREFIX).ok_or(Rejected::Format)?;
        let colon = rest
            .iter()
            .take(17)
            .position(|b| *b == b':')
            .ok_or(Rejected::Format)?;
        let id = std::str::from_utf8(&rest[..colon]).map_err(|_| Rejected::Format)?;
        let body = &rest[colon + 1..];
        if body.len() < NONCE_LEN {
            return Err(Rejected::Format);
        }
        let cipher = self.ciphers.get(id).ok_or(Rejected::KeyId)?;
        cipher
            .decrypt(
                Nonce::from_slice(&body[..NONCE_LEN]),
                Payload {
                    msg: &body[NONCE_LEN..],
                    aad: context,
                },
            )
            .map_err(|_| Rejected::Authentication)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    const KEY_A: &[u8] = b"c360:core:customer:1000000001";
    const KEY_B: &[u8] = b"c360:core:customer:1000000002";

    #[test]
    fn sealed_values_hide_the_plaintext_and_open_again() {
        let sealer = Sealer::new("k1", &key(7), &HashMap::new()).unwrap();
        let sealed = sealer.seal(KEY_A, "张三丰 110101199003071234".as_bytes());
        assert!(!String::from_utf8_lossy(&sealed).contains("110101199003071234"));
        assert_eq!(
            sealer.open(KEY_A, &sealed).unwrap(),
            "张三丰 110101199003071234".as_bytes()
        );
    }

    #[test]
    fn a_value_moved_to_another_key_does_not_open() {
        let sealer = Sealer::new("k1", &key(7), &HashMap::new()).unwrap();
        let sealed = sealer.seal(KEY_A, b"customer A's profile");
        assert_eq!(sealer.open(KEY_B, &sealed), Err(Rejected::Authentication));
        assert_eq!(sealer.open(b"", &sealed), Err(Rejected::Authentication));
        assert!(sealer.open(KEY_A, &sealed).is_ok());
    }

    #[test]
    fn first_format_and_clear_values_are_refused_as_format() {
        let sealer = Sealer::new("k1", &key(7), &HashMap::new()).unwrap();
        let mut old = b"v1:k1:".to_vec();
        old.extend_from_slice(&[0u8; 40]);
        assert_eq!(sealer.open(KEY_A, &old), Err(Rejected::Format));
        assert_eq!(
            sealer.open(KEY_A, br#"{"m":{},"v":{"name":"x"}}"#),
            Err(Rejected::Format)
        );
        assert_eq!(sealer.open(KEY_A, b"v2:k1:short"), Err(Rejected::Format));
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_seals_with_the_new_key() {
        let old = Sealer::new("k1", &key(1), &HashMap::new()).unwrap();
        let sealed_old = old.seal(KEY_A, b"balance");
        let previous = HashMap::from([("k1".to_owned(), key(1))]);
        let new = Sealer::new("k2", &key(2), &previous).unwrap();
        assert_eq!(new.open(KEY_A, &sealed_old).unwrap(), b"balance");
        assert!(new.seal(KEY_A, b"x").starts_with(b"v2:k2:"));
        assert_eq!(
            old.open(KEY_A, &new.seal(KEY_A, b"x")),
            Err(Rejected::KeyId),
            "the old hub cannot read k2"
        );
    }

    #[test]
    fn tampering_and_bad_keys_are_refused() {
        let sealer = Sealer::new("k1", &key(3), &HashMap::new()).unwrap();
        let mut sealed = sealer.seal(KEY_A, b"value");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(sealer.open(KEY_A, &sealed), Err(Rejected::Authentication));
        assert!(Sealer::new("k1", "c2hvcnQ=", &HashMap::new()).is_err());
        assert!(Sealer::new("bad id!", &key(1), &HashMap::new()).is_err());
    }
}
