//! De-identified views for roles the policies mark `pseudonymous` (BI): a keyed
//! pseudonym wherever a CIF would appear, a band wherever an exact amount would, and
//! no figure about fewer than `k` customers (docs/bi.md).
//!
//! A pseudonym is an HMAC, not an encryption: nobody holding only the answers can go
//! back to the CIF, and the hub itself keeps no table to do so, which is why such a
//! role cannot look customers up by id.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::config::{BiConfig, Profile};
use crate::domain::Cif;

/// Shorter keys than the hash's own output weaken HMAC-SHA256.
const MIN_KEY_BYTES: usize = 32;
/// Bytes of the HMAC kept in a pseudonym: 128 bits, far beyond any collision among a
/// bank's customers.
const PSEUDONYM_BYTES: usize = 16;
/// The key id of the development key, so that a pseudonym made under it says so.
pub const DEVELOPMENT_KEY_ID: &str = "DEV";
/// The development key is derived from this public text: anyone can recompute it,
/// which is why only the demo profile uses it.
const DEVELOPMENT_KEY_SEED: &str = "c360 development pseudonym key: public, demo profile only";

/// Why the de-identification settings cannot be used; the hub does not start.
#[derive(Debug, thiserror::Error)]
pub enum DeidentifyError {
    #[error(
        "bi.pseudonym_key is not set (environment: C360_BI__PSEUDONYM_KEY): the {profile} \
         profile needs base64 of at least {MIN_KEY_BYTES} random bytes to show pseudonymous \
         roles keyed pseudonyms instead of CIFs"
    )]
    MissingKey { profile: Profile },
    #[error("bi.pseudonym_key (C360_BI__PSEUDONYM_KEY): {0}")]
    BadKey(String),
    #[error("bi.pseudonym_key_id '{0}': 1 to 8 ASCII letters and digits, starting with a letter")]
    BadKeyId(String),
    #[error("bi.amount_bands: {0}")]
    BadBands(String),
    #[error("bi.min_group_size is {0}: it must be at least 2, or every group would pass")]
    BadGroupSize(u32),
}

/// Computes pseudonyms under one key.
#[derive(Clone)]
struct Pseudonyms {
    key_id: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonyms")
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Pseudonyms {
    fn pseudonym(&self, cif: &Cif) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(cif.as_str().as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("{}-{}", self.key_id, base32(&digest[..PSEUDONYM_BYTES]))
    }
}

/// RFC 4648 base32 without padding. Its digits are 2 to 7, so a pseudonym can never
/// contain anything that reads as a CIF.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Amounts shown as ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct AmountBands {
    /// Upper bounds, ascending and positive.
    bounds: Vec<Decimal>,
}

impl AmountBands {
    pub fn new(bounds: Vec<Decimal>) -> Result<AmountBands, DeidentifyError> {
        if bounds.is_empty() {
            return Err(DeidentifyError::BadBands("give at least one bound".into()));
        }
        if bounds.iter().any(|b| *b <= Decimal::ZERO) {
            return Err(DeidentifyError::BadBands(
                "bounds must be above zero".into(),
            ));
        }
        if bounds.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DeidentifyError::BadBands(
                "bounds must rise strictly".into(),
            ));
        }
        Ok(AmountBands { bounds })
    }

    /// The band `amount` falls in: `"10k-50k"` holds 10,000 up to, not including,
    /// 50,000; `"1m+"` everything from the last bound; `"<0"` any debit balance.
    ///
    /// ```
    /// use c360::auth::AmountBands;
    /// use rust_decimal::Decimal;
    ///
    /// let bands = AmountBands::new(vec![Decimal::from(10_000), Decimal::from(1_000_000)]).unwrap();
    /// assert_eq!(bands.band(Decimal::new(999_999, 2)), "0-10k");
    /// assert_eq!(bands.band(Decimal::from(10_000)), "10k-1m");
    /// assert_eq!(bands.band(Decimal::from(2_500_000)), "1m+");
    /// ```
    pub fn band(&self, amount: Decimal) -> String {
        if amount < Decimal::ZERO {
            return "<0".to_owned();
        }
        let mut lower = Decimal::ZERO;
        for bound in &self.bounds {
            if amount < *bound {
                return format!("{}-{}", short(lower), short(*bound));
            }
            lower = *bound;
        }
        format!("{}+", short(lower))
    }
}

impl Default for AmountBands {
    fn default() -> Self {
        AmountBands::new(BiConfig::default().amount_bands).expect("the default bands are valid")
    }
}

/// `10000` as `10k`, `1500000` as `1.5m`.
fn short(amount: Decimal) -> String {
    let million = Decimal::from(1_000_000);
    let thousand = Decimal::from(1_000);
    if amount >= million {
        format!("{}m", (amount / million).normalize())
    } else if amount >= thousand {
        format!("{}k", (amount / thousand).normalize())
    } else {
        amount.normalize().to_string()
    }
}

/// What a pseudonymous role is shown instead of identities and exact figures.
#[derive(Debug, Clone)]
pub struct Deidentify {
    pseudonyms: Pseudonyms,
    bands: AmountBands,
    min_group_size: usize,
}

impl Deidentify {
    /// From the `[bi]` settings. Without a key the demo profile derives the public
    /// development key (pseudonyms then start with `DEV-`); production refuses.
    pub fn from_config(config: &BiConfig, profile: Profile) -> Result<Deidentify, DeidentifyError> {
        let pseudonyms = match &config.pseudonym_key {
            Some(encoded) => {
                let key = STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| DeidentifyError::BadKey("not base64".into()))?;
                if key.len() < MIN_KEY_BYTES {
                    return Err(DeidentifyError::BadKey(format!(
                        "{} bytes; at least {MIN_KEY_BYTES} are needed",
                        key.len()
                    )));
                }
                let id = &config.pseudonym_key_id;
                let well_formed = (1..=8).contains(&id.len())
                    && id.starts_with(|c: char| c.is_ascii_alphabetic())
                    && id.chars().all(|c| c.is_ascii_alphanumeric());
                if !well_formed {
                    return Err(DeidentifyError::BadKeyId(id.clone()));
                }
                Pseudonyms {
                    key_id: id.clone(),
                    key,
                }
            }
            None if profile == Profile::Demo => Pseudonyms {
                key_id: DEVELOPMENT_KEY_ID.to_owned(),
                key: Sha256::digest(DEVELOPMENT_KEY_SEED.as_bytes()).to_vec(),
            },
            None => return Err(DeidentifyError::MissingKey { profile }),
        };
        if config.min_group_size < 2 {
            return Err(DeidentifyError::BadGroupSize(config.min_group_size));
        }
        Ok(Deidentify {
            pseudonyms,
            bands: AmountBands::new(config.amount_bands.clone())?,
            min_group_size: config.min_group_size as usize,
        })
    }

    /// The customer's pseudonym: `<key id>-<26 base32 characters>`, the same for the
    /// same CIF until the key changes.
    pub fn pseudonym(&self, cif: &Cif) -> String {
        self.pseudonyms.pseudonym(cif)
    }

    pub fn bands(&self) -> &AmountBands {
        &self.bands
    }

    /// `k`: the fewest customers a figure shown to a pseudonymous role may be about.
    pub fn min_group_size(&self) -> usize {
        self.min_group_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(key: &[u8], id: &str) -> BiConfig {
        BiConfig {
            pseudonym_key: Some(STANDARD.encode(key)),
            pseudonym_key_id: id.into(),
            ..BiConfig::default()
        }
    }

    #[test]
    fn a_pseudonym_is_stable_under_one_key_and_changes_with_the_key() {
        let cif = Cif::parse("1000000001").unwrap();
        let one = Deidentify::from_config(&config(&[7; 32], "P1"), Profile::Production).unwrap();
        let again = Deidentify::from_config(&config(&[7; 32], "P1"), Profile::Production).unwrap();
        let rotated =
            Deidentify::from_config(&config(&[8; 32], "P2"), Profile::Production).unwrap();
        let first = one.pseudonym(&cif);
        assert_eq!(first, again.pseudonym(&cif));
        assert!(first.starts_with("P1-"), "{first}");
        assert_eq!(first.len(), "P1-".len() + 26, "{first}");
        assert!(!first.contains(cif.as_str()));
        let other = rotated.pseudonym(&cif);
        assert!(other.starts_with("P2-"), "{other}");
        assert_ne!(first[3..], other[3..]);
        assert_ne!(
            first,
            one.pseudonym(&Cif::parse("1000000002").unwrap()),
            "customers differ"
        );
    }

    #[test]
    fn production_refuses_to_start_without_a_key_naming_the_setting() {
        let error = Deidentify::from_config(&BiConfig::default(), Profile::Production)
            .unwrap_err()
            .to_string();
        assert!(error.contains("bi.pseudonym_key"), "{error}");
        assert!(error.contains("C360_BI__PSEUDONYM_KEY"), "{error}");
        let demo = Deidentify::from_config(&BiConfig::default(), Profile::Demo).unwrap();
        let pseudonym = demo.pseudonym(&Cif::parse("1000000001").unwrap());
        assert!(pseudonym.starts_with("DEV-"), "{pseudonym}");
    }

    #[test]
    fn short_keys_bad_ids_and_unordered_bands_are_refused() {
        let short = Deidentify::from_config(&config(&[1; 16], "P1"), Profile::Demo);
        assert!(matches!(short, Err(DeidentifyError::BadKey(_))));
        let id = Deidentify::from_config(&config(&[1; 32], "1000000001"), Profile::Demo);
        assert!(matches!(id, Err(DeidentifyError::BadKeyId(_))));
        let bands = AmountBands::new(vec![Decimal::from(50_000), Decimal::from(10_000)]);
        assert!(matches!(bands, Err(DeidentifyError::BadBands(_))));
    }

    #[test]
    fn amounts_fall_in_the_default_bands() {
        let bands = AmountBands::default();
        let band = |s: &str| bands.band(s.parse().unwrap());
        assert_eq!(band("0.00"), "0-10k");
        assert_eq!(band("9999.99"), "0-10k");
        assert_eq!(band("10000"), "10k-50k");
        assert_eq!(band("75000.10"), "50k-100k");
        assert_eq!(band("499999.99"), "100k-500k");
        assert_eq!(band("500000"), "500k-1m");
        assert_eq!(band("12000000"), "1m+");
        assert_eq!(band("-20.00"), "<0");
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }
}
