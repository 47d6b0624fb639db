//! Identifiers that every layer shares: the CIF (the bank's golden customer key) and
//! the names of the four upstream systems.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A customer information file number: ten digits, as core banking issues them.
///
/// Parsing at the edge means resolvers and connectors only ever see valid CIFs, so an
/// upstream is never called with a key it would reject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cif(String);

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
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::CifDigits);
        }
        Ok(Cif(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
        value.0
    }
}

impl fmt::Display for Cif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
