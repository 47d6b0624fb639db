//! Identifiers that every layer shares: the CIF (the bank's golden customer key) and
//! the names of the four upstream systems.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A customer information file number: ten digits, as core banking issues them.
///
/// Parsing at the edge means resolvers and connectors only ever see valid CIFs, so an
/// upstream is never called with a key it would reject. Held as its ten digits, not a
/// `String`: a CIF is copied into every loader, cache key and audit row a read
/// touches, a few dozen times per profile, and a copy is then ten bytes, not an
/// allocation.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cif([u8; 10]);

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be a 10-digit CIF number, got {len} characters")]
    CifLength { len: usize },
    #[error("must be a 10-digit CIF number, found a non-digit character")]
    CifDigits,
    #[error("unknown system '{0}' (expected core, cards, loans or channels)")]
    UnknownSystem(String),
}

impl Cif {
    /// ```
    /// use c360::domain::Cif;
    ///
    /// assert_eq!(Cif::parse(" 1000000001 ").unwrap().as_str(), "1000000001");
    /// assert!(Cif::parse("10000000x1").is_err());
    /// assert!(Cif::parse("123").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Cif, IdError> {
        let raw = raw.trim();
        if raw.chars().count() != 10 {
            return Err(IdError::CifLength {
                len: raw.chars().count(),
            });
        }
        let digits: [u8; 10] = raw.as_bytes().try_into().map_err(|_| IdError::CifDigits)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(IdError::CifDigits);
        }
        Ok(Cif(digits))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a CIF is ten ASCII digits")
    }
}

impl TryFrom<String> for Cif {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Cif::parse(&value)
    }
}

impl From<Cif> for String {
    fn from(value: Cif) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Cif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Cif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cif").field(&self.as_str()).finish()
    }
}

/// As its text, as before it was held as digits.
impl Serialize for Cif {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// From text, checked as [`Cif::parse`] checks it, without an allocation.
impl<'de> Deserialize<'de> for Cif {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Cif;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 10-digit CIF number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cif, E> {
                Cif::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// The four upstream systems. Their names are a contract: connector files,
/// `sources.system`, `extensions.source`, metrics labels and sandbox prefixes all use
/// [`System::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Core,
    Cards,
    Loans,
    Channels,
}

impl System {
    pub const ALL: [System; 4] = [System::Core, System::Cards, System::Loans, System::Channels];

    pub fn as_str(self) -> &'static str {
        match self {
            System::Core => "core",
            System::Cards => "cards",
            System::Loans => "loans",
            System::Channels => "channels",
        }
    }
}

impl FromStr for System {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        System::ALL
            .into_iter()
            .find(|system| system.as_str() == s)
            .ok_or_else(|| IdError::UnknownSystem(s.to_owned()))
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cif_accepts_ten_digits_and_trims() {
        assert_eq!(Cif::parse(" 1000000001 ").unwrap().as_str(), "1000000001");
    }

    #[test]
    fn cif_rejects_wrong_length_and_letters() {
        assert_eq!(Cif::parse("123"), Err(IdError::CifLength { len: 3 }));
        assert_eq!(Cif::parse("10000000x1"), Err(IdError::CifDigits));
        assert_eq!(Cif::parse("１０００００００００"), Err(IdError::CifDigits));
    }

    #[test]
    fn system_names_round_trip() {
        for system in System::ALL {
            assert_eq!(system.as_str().parse::<System>().unwrap(), system);
        }
        assert!("core-banking".parse::<System>().is_err());
    }
}
