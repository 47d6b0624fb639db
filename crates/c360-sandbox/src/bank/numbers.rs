//! Identifier arithmetic: invertible scrambling and the check characters of Chinese
//! resident IDs (GB 11643, ISO 7064 MOD 11-2), unified social credit codes (GB 32100)
//! and card/account numbers (Luhn).
//!
//! Identifiers must be unique and must lead back to their customer without an index.
//! An affine map `n -> (a*n + b) mod M` with `gcd(a, M) = 1` is a bijection on `0..M`,
//! so customer numbers map to distinct, scattered-looking identifiers and the inverse
//! map finds the customer again.

use super::prng::Draw;

/// A seeded bijection on `0..modulus`.
#[derive(Debug, Clone)]
pub(crate) struct Affine {
    modulus: u64,
    mul: u64,
    add: u64,
    inverse: u64,
}

impl Affine {
    /// A bijection on `0..modulus` (`modulus >= 2`) whose parameters depend on `seed`
    /// and `topic`. The multiplier is drawn from the middle of the range so that
    /// consecutive customers get far-apart identifiers.
    pub(crate) fn new(modulus: u64, seed: u64, topic: u64) -> Affine {
        let mut draw = Draw::new(seed, topic, &[modulus]);
        let mut mul = draw.range(modulus / 4, modulus - modulus / 4).max(1);
        while gcd(mul, modulus) != 1 {
            mul += 1;
        }
        let add = draw.below(modulus);
        let inverse = mod_inverse(mul, modulus);
        Affine {
            modulus,
            mul,
            add,
            inverse,
        }
    }

    /// The image of `n` (taken modulo the modulus).
    pub(crate) fn forward(&self, n: u64) -> u64 {
        let m = u128::from(self.modulus);
        ((u128::from(self.mul) * (u128::from(n) % m) + u128::from(self.add)) % m) as u64
    }

    /// The preimage of `value` (taken modulo the modulus).
    pub(crate) fn backward(&self, value: u64) -> u64 {
        let m = u128::from(self.modulus);
        let shifted = (u128::from(value) % m + m - u128::from(self.add)) % m;
        (shifted * u128::from(self.inverse) % m) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The inverse of `a` modulo `m` (extended Euclid); `a` and `m` must be coprime.
fn mod_inverse(a: u64, m: u64) -> u64 {
    let (mut old_r, mut r) = (i128::from(a), i128::from(m));
    let (mut old_s, mut s) = (1i128, 0i128);
    while r != 0 {
        let q = old_r / r;
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
    }
    old_s.rem_euclid(i128::from(m)) as u64
}

/// Weights of the first 17 characters of a resident ID (2^(18-i) mod 11).
const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each value of the weighted sum modulo 11.
const RESIDENT_ID_CHECKS: &[u8; 11] = b"10X98765432";

/// The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID,
/// or `None` if they are not 17 ASCII digits.
pub(crate) fn resident_id_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(RESIDENT_ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(char::from(RESIDENT_ID_CHECKS[(sum % 11) as usize]))
}

/// The 31 characters a unified social credit code may use (no I, O, S, V, Z).
const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of the first 17 USCC characters (3^i mod 31).
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// Weights of the 8-digit organisation code body (GB 11714).
const ORG_CODE_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// The GB 11714 check character of an 8-digit organisation code body.
pub(crate) fn org_code_check_char(body8: &str) -> Option<char> {
    let bytes = body8.as_bytes();
    if bytes.len() != 8 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(ORG_CODE_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        c => char::from(b'0' + c as u8),
    })
}

/// The GB 32100 check character for the first 17 characters of a USCC.
pub(crate) fn uscc_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (b, w) in bytes.iter().zip(USCC_WEIGHTS) {
        let value = USCC_CHARSET.iter().position(|c| c == b)? as u32;
        sum += value * w;
    }
    let check = (31 - sum % 31) % 31;
    Some(char::from(USCC_CHARSET[check as usize]))
}

/// The Luhn check digit that completes `body` (ASCII digits), or `None` for non-digits.
pub(crate) fn luhn_check_digit(body: &str) -> Option<char> {
    let mut sum = 0u32;
    // The rightmost body digit sits next to the check digit, so it is doubled.
    for (position, b) in body.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let mut d = u32::from(b - b'0');
        if position % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    Some(char::from(b'0' + ((10 - sum % 10) % 10) as u8))
}

/// Whether a full number (body plus check digit) passes the Luhn test.
pub fn luhn_valid(number: &str) -> bool {
    match number.len().checked_sub(1) {
        Some(split) if split > 0 && number.is_char_boundary(split) => {
            let (body, check) = number.split_at(split);
            luhn_check_digit(body).is_some_and(|c| check.starts_with(c))
        }
        _ => false,
    }
}

/// Whether an 18-character resident ID has a correct check character.
pub fn resident_id_valid(id: &str) -> bool {
    id.len() == 18
        && id.is_char_boundary(17)
        && resident_id_check_char(&id[..17]).is_some_and(|c| id.ends_with(c))
}

/// Whether an 18-character USCC has correct organisation-code and GB 32100 check characters.
pub fn uscc_valid(code: &str) -> bool {
    code.len() == 18
        && code.is_ascii()
        && uscc_check_char(&code[..17]).is_some_and(|c| code.ends_with(c))
        && org_code_check_char(&code[8..16]).is_some_and(|c| code[16..17].starts_with(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_round_trips_and_is_injective_on_a_prefix() {
        for modulus in [10u64, 1_000_000_000, 1_360_000_000, 100_000_000_000_000] {
            let map = Affine::new(modulus, 42, 1);
            let mut seen = std::collections::HashSet::new();
            for n in 0..modulus.min(20_000) {
                let v = map.forward(n);
                assert!(v < modulus);
                assert_eq!(map.backward(v), n);
                assert!(seen.insert(v));
            }
        }
    }

    #[test]
    fn known_resident_id_check_character() {
        // The GB 11643 worked example.
        assert_eq!(resident_id_check_char("11010519491231002"), Some('X'));
        assert!(resident_id_valid("11010519491231002X"));
        assert!(!resident_id_valid("110105194912310021"));
        assert!(!resident_id_valid("短"));
    }

    #[test]
    fn known_luhn_numbers() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid("7"));
        assert!(!luhn_valid("12a4"));
        assert_eq!(luhn_check_digit("7992739871"), Some('3'));
    }

    #[test]
    fn known_uscc_is_valid() {
        // A published code (Tencent's Shenzhen entity).
        assert!(uscc_valid("9144030071526726XG"));
        assert!(!uscc_valid("9144030071526726XH"));
        assert!(!uscc_valid("91440300"));
    }
}
