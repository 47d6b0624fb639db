//! Customers: identity (name, ID document, mobile, e-mail, address), the hidden
//! profile that the product generators share (wealth band, status, onboarding), and the
//! lookups by CIF, ID number, mobile number and name prefix.

use chrono::{Datelike, Duration, NaiveDate};

use super::model::{Customer, CustomerKind, CustomerStatus, Gender, IdType};
use super::names::{self, REGIONS};
use super::numbers::{
    org_code_check_char, resident_id_check_char, resident_id_valid, uscc_check_char, uscc_valid,
};
use super::prng::Draw;
use super::{topic, Bank, ID_SEQUENCES, MOBILE_SUBSCRIBERS, ORG_CODE_BODIES};

/// Share of corporate customers, per mille (docs/sandbox.md: about 8%).
const CORPORATE_PER_MILLE: u64 = 80;

/// Share of dormant customers whose balance is under 100 yuan, per mille.
const DORMANT_TINY_PER_MILLE: u64 = 500;

/// Wealth bands: total deposits in yuan `[low, high)` and relative weights for
/// individuals and corporates. The cut points are the tier thresholds of
/// docs/domain.md#tiers (5万, 50万, 200万, 600万), so every tier is populated; most
/// individuals hold under 5万 and about 1.5% are private-banking customers.
const WEALTH_BANDS: [(i64, i64, u64, u64); 8] = [
    (0, 1_000, 150, 0),
    (1_000, 10_000, 250, 0),
    (10_000, 50_000, 200, 50),
    (50_000, 200_000, 170, 200),
    (200_000, 500_000, 90, 250),
    (500_000, 2_000_000, 90, 250),
    (2_000_000, 6_000_000, 35, 170),
    (6_000_000, 30_000_000, 15, 80),
];

/// What the product generators need to know about a customer, beyond the record.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub(crate) index: u64,
    pub(crate) kind: CustomerKind,
    /// Index into `WEALTH_BANDS`: 0–2 普通, 3–4 金卡, 5 白金, 6 钻石, 7 私人银行.
    pub(crate) band: usize,
    /// Total deposits the customer's accounts add up to, in fen (cents).
    pub(crate) wealth_cents: i64,
    pub(crate) status: CustomerStatus,
    pub(crate) onboarded_on: NaiveDate,
    /// Index into `REGIONS` of the home (address and branch) region.
    pub(crate) region: usize,
    pub(crate) birth_date: Option<NaiveDate>,
    /// Individuals paid through the bank's payroll service (代发).
    pub(crate) payroll: bool,
}

/// One page of a name-prefix search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSearchPage {
    pub items: Vec<Customer>,
    /// Customer index to resume the scan from, if more matches exist.
    pub next_start: Option<u64>,
}

/// The decoded parts of a resident ID.
struct ResidentId {
    region: usize,
    birth_date: NaiveDate,
    sequence: u64,
}

impl Bank {
    pub(crate) fn kind(&self, index: u64) -> CustomerKind {
        if Draw::new(self.seed, topic::KIND, &[index]).chance(CORPORATE_PER_MILLE)
            && !self.is_showcase(index)
        {
            CustomerKind::Corporate
        } else {
            CustomerKind::Individual
        }
    }

    fn resident_id_parts(&self, index: u64) -> ResidentId {
        let m = self.resident_ids.forward(index - 1);
        let per_region = self.birth_days * ID_SEQUENCES;
        let rest = m % per_region;
        ResidentId {
            region: (m / per_region) as usize,
            birth_date: self.birth_first + Duration::days((rest / ID_SEQUENCES) as i64),
            sequence: rest % ID_SEQUENCES,
        }
    }

    fn resident_id(&self, parts: &ResidentId) -> String {
        let first17 = format!(
            "{:06}{}{:03}",
            REGIONS[parts.region].0,
            parts.birth_date.format("%Y%m%d"),
            parts.sequence
        );
        let check = resident_id_check_char(&first17).unwrap_or('0');
        format!("{first17}{check}")
    }

    /// (region index, USCC) of a corporate customer.
    fn uscc(&self, index: u64) -> (usize, String) {
        let m = self.usccs.forward(index - 1);
        let region = (m / ORG_CODE_BODIES) as usize;
        let body = format!("{:08}", m % ORG_CODE_BODIES);
        let org_check = org_code_check_char(&body).unwrap_or('0');
        // 9 = registered with market regulation, 1 = enterprise.
        let first17 = format!("91{:06}{body}{org_check}", REGIONS[region].0);
        let check = uscc_check_char(&first17).unwrap_or('0');
        (region, format!("{first17}{check}"))
    }

    fn mobile(&self, index: u64) -> String {
        let m = self.mobiles.forward(index - 1);
        let prefix = names::MOBILE_PREFIXES[(m / MOBILE_SUBSCRIBERS) as usize];
        format!("{prefix}{:08}", m % MOBILE_SUBSCRIBERS)
    }

    /// The customer's name, the surname's pinyin (individuals) and industry (corporates).
    fn naming(
        &self,
        index: u64,
        kind: CustomerKind,
    ) -> (String, Option<&'static str>, Option<&'static str>) {
        match kind {
            CustomerKind::Individual => {
                // A duplicate record carries its original's name: the same person.
                let person = self.person(index);
                let mut draw = Draw::new(self.seed, topic::NAME, &[person]);
                let male = self.resident_id_parts(person).sequence % 2 == 1;
                let (name, pinyin) = names::person_name(&mut draw, male);
                (name, Some(pinyin), None)
            }
            CustomerKind::Corporate => {
                let mut draw = Draw::new(self.seed, topic::NAME, &[index]);
                let (region, _) = self.uscc(index);
                let (name, industry) = names::company_name(&mut draw, &REGIONS[region]);
                (name, None, Some(industry))
            }
        }
    }

    /// Whether an individual is a man: the parity of the ID number's sequence (the
    /// person's, for a duplicate record).
    pub(crate) fn male(&self, index: u64) -> bool {
        self.kind(index) == CustomerKind::Individual
            && self.resident_id_parts(self.person(index)).sequence % 2 == 1
    }

    /// The customer's name alone (cheap; used by the name-prefix scan).
    pub(crate) fn name(&self, index: u64) -> String {
        self.naming(index, self.kind(index)).0
    }

    pub(crate) fn profile(&self, index: u64) -> Profile {
        let kind = self.kind(index);
        let mut draw = Draw::new(self.seed, topic::WEALTH, &[index]);
        let weights: Vec<u64> = WEALTH_BANDS
            .iter()
            .map(|b| {
                if kind == CustomerKind::Individual {
                    b.2
                } else {
                    b.3
                }
            })
            .collect();
        let band = draw.weighted(&weights);
        let (low, high, _, _) = WEALTH_BANDS[band];
        let wealth_cents = draw.range_i64(low * 100, high * 100 - 1);
        let payroll = kind == CustomerKind::Individual && draw.chance(350);

        let (id_region, birth_date) = match kind {
            CustomerKind::Individual => {
                let parts = self.resident_id_parts(self.person(index));
                (parts.region, Some(parts.birth_date))
            }
            CustomerKind::Corporate => (self.uscc(index).0, None),
        };
        let mut draw = Draw::new(self.seed, topic::STATUS, &[index]);
        let mut region = if kind == CustomerKind::Corporate || draw.chance(500) {
            id_region
        } else {
            draw.below(REGIONS.len() as u64) as usize
        };
        // A second CIF is opened at another branch than the first.
        if let Some(original) = self.original_of(index) {
            let theirs = self.profile(original).region;
            if region == theirs {
                let others = REGIONS.len() as u64 - 1;
                region = (theirs + 1 + draw.below(others) as usize) % REGIONS.len();
            }
        }
        // Individuals became customers after turning 18 and at most 20 years ago.
        let earliest = match birth_date {
            Some(birth) => {
                let adult = birth
                    .with_year(birth.year() + 18)
                    .unwrap_or(birth + Duration::days(18 * 365));
                adult.max(self.as_of - Duration::days(20 * 365))
            }
            None => self.as_of - Duration::days(15 * 365),
        };
        let max_tenure = (self.as_of - earliest).num_days().max(1) as u64;
        let tenure = if draw.chance(60) {
            draw.range(1, 90.min(max_tenure))
        } else {
            draw.range(1, max_tenure)
        };
        let onboarded_on = self.as_of - Duration::days(tenure as i64);
        let status = match draw.below(1000) {
            _ if tenure <= 180 => CustomerStatus::Active,
            0..=9 => CustomerStatus::Closed,
            10..=59 => CustomerStatus::Dormant,
            _ => CustomerStatus::Active,
        };
        // Half the dormant customers left only a few yuan behind (长期不动户), the
        // accounts the lifecycle rules call churned.
        let (band, wealth_cents) =
            if status == CustomerStatus::Dormant && draw.chance(DORMANT_TINY_PER_MILLE) {
                (0, draw.range_i64(0, 9_999))
            } else {
                (band, wealth_cents)
            };
        Profile {
            index,
            kind,
            band,
            wealth_cents,
            status,
            onboarded_on,
            region,
            birth_date,
            payroll,
        }
    }

    /// Customer `index` (1-based), or `None` outside `1..=customers`.
    pub fn customer(&self, index: u64) -> Option<Customer> {
        if !self.contains(index) {
            return None;
        }
        let profile = self.profile(index);
        let kind = profile.kind;
        let (name, pinyin, industry) = self.naming(index, kind);
        let mut draw = Draw::new(self.seed, topic::CONTACT, &[index]);
        let region = &REGIONS[profile.region];
        let (id_type, id_number, gender) = match kind {
            CustomerKind::Individual => {
                let parts = self.resident_id_parts(self.person(index));
                let gender = if parts.sequence % 2 == 1 {
                    Gender::Male
                } else {
                    Gender::Female
                };
                (IdType::ResidentId, self.resident_id(&parts), Some(gender))
            }
            CustomerKind::Corporate => (IdType::Uscc, self.uscc(index).1, None),
        };
        let email = match (kind, pinyin) {
            (CustomerKind::Individual, Some(pinyin)) if draw.chance(650) => {
                Some(if draw.chance(400) {
                    format!("{}@qq.com", draw.range(10_000_000, 3_999_999_999))
                } else {
                    format!(
                        "{pinyin}{}@{}",
                        draw.range(1, 9999),
                        draw.pick(names::EMAIL_DOMAINS)
                    )
                })
            }
            (CustomerKind::Corporate, _) if draw.chance(800) => Some(format!(
                "cw{}@{}",
                draw.range(100, 99_999),
                draw.pick(names::EMAIL_DOMAINS)
            )),
            _ => None,
        };
        let address = names::address(&mut draw, region, kind == CustomerKind::Individual);
        let occupation = match (industry, profile.birth_date) {
            (Some(industry), _) => industry.to_string(),
            (None, Some(birth)) => {
                let age = self.as_of.years_since(birth).unwrap_or(0);
                if age >= 60 && draw.chance(700) {
                    "退休人员".to_string()
                } else if age < 23 && draw.chance(600) {
                    "学生".to_string()
                } else {
                    draw.pick(names::OCCUPATIONS).to_string()
                }
            }
            (None, None) => draw.pick(names::OCCUPATIONS).to_string(),
        };
        // Wealthier customers and companies have a relationship manager; each branch has
        // a pool of twenty, so an RM's book is a realistic few hundred customers.
        let has_rm = kind == CustomerKind::Corporate
            || profile.band >= 5
            || (profile.band >= 3 && draw.chance(400));
        let relationship_manager =
            has_rm.then(|| format!("S{:02}{:03}", profile.region, draw.below(20)));
        Some(Customer {
            index,
            cif: self.cif(index),
            kind,
            name,
            id_type,
            id_number,
            mobile: self.mobile(index),
            email,
            birth_date: profile.birth_date,
            gender,
            address,
            occupation,
            branch: format!("{:06}", region.0),
            relationship_manager,
            onboarded_on: profile.onboarded_on,
            status: profile.status,
            id_verified: self.id_verified(index),
        })
    }

    /// The customer with this CIF (ten digits), if any.
    pub fn customer_by_cif(&self, cif: &str) -> Option<Customer> {
        self.customer(self.index_of_cif(cif)?)
    }

    /// The customers holding this resident ID or USCC (letters in any case): the
    /// original record and its duplicates, by CIF.
    pub fn find_by_id_number(&self, number: &str) -> Vec<Customer> {
        let number = number.trim().to_ascii_uppercase();
        // A USCC can be all digits and pass the resident-ID check by chance, so both
        // readings are tried.
        let as_resident_id = resident_id_valid(&number)
            .then(|| self.decode_resident_id(&number))
            .flatten();
        let as_uscc = uscc_valid(&number)
            .then(|| self.decode_uscc(&number))
            .flatten();
        let Some(original) = [as_resident_id, as_uscc]
            .into_iter()
            .flatten()
            .filter_map(|index| self.customer(index))
            .find(|c| c.id_number == number)
        else {
            return Vec::new();
        };
        let duplicates = self.duplicates_of(original.index);
        std::iter::once(original)
            .chain(duplicates.into_iter().filter_map(|i| self.customer(i)))
            .collect()
    }

    fn decode_resident_id(&self, number: &str) -> Option<u64> {
        let code: u32 = number.get(..6)?.parse().ok()?;
        let region = REGIONS.iter().position(|r| r.0 == code)? as u64;
        let birth = NaiveDate::parse_from_str(number.get(6..14)?, "%Y%m%d").ok()?;
        let day = u64::try_from((birth - self.birth_first).num_days()).ok()?;
        let sequence: u64 = number.get(14..17)?.parse().ok()?;
        if day >= self.birth_days {
            return None;
        }
        let m = (region * self.birth_days + day) * ID_SEQUENCES + sequence;
        self.resident_ids.backward(m).checked_add(1)
    }

    fn decode_uscc(&self, number: &str) -> Option<u64> {
        let code: u32 = number.get(2..8)?.parse().ok()?;
        let region = REGIONS.iter().position(|r| r.0 == code)? as u64;
        let body: u64 = number.get(8..16)?.parse().ok()?;
        self.usccs
            .backward(region * ORG_CODE_BODIES + body)
            .checked_add(1)
    }

    /// The customer with this mainland mobile number (11 digits), if any.
    pub fn find_by_mobile(&self, mobile: &str) -> Option<Customer> {
        let mobile = mobile.trim();
        if mobile.len() != 11 || !mobile.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u16 = mobile[..3].parse().ok()?;
        let prefix_index = names::MOBILE_PREFIXES.iter().position(|p| *p == prefix)? as u64;
        let subscriber: u64 = mobile[3..].parse().ok()?;
        let index = self
            .mobiles
            .backward(prefix_index * MOBILE_SUBSCRIBERS + subscriber)
            .checked_add(1)?;
        self.customer(index).filter(|c| c.mobile == mobile)
    }

    /// Customers whose name starts with `prefix`, scanning indices from `start`
    /// (1-based) upwards, at most `limit` of them. The scan is lazy: nothing is indexed.
    /// The book in CIF order from index `start`, optionally one branch's customers
    /// only; at most `limit` customers, and at most `scan` indexes looked at, so that
    /// one call stays short however sparse the branch.
    pub fn book(
        &self,
        branch: Option<&str>,
        start: u64,
        limit: usize,
        scan: u64,
    ) -> NameSearchPage {
        let mut items = Vec::new();
        let mut index = start.max(1);
        let end = self.customers.min(index.saturating_add(scan.max(1)) - 1);
        while index <= end {
            if items.len() == limit {
                return NameSearchPage {
                    items,
                    next_start: Some(index),
                };
            }
            if let Some(customer) = self.customer(index) {
                if branch.is_none_or(|b| customer.branch == b) {
                    items.push(customer);
                }
            }
            index += 1;
        }
        NameSearchPage {
            items,
            next_start: (index <= self.customers).then_some(index),
        }
    }

    pub fn search_by_name_prefix(&self, prefix: &str, start: u64, limit: usize) -> NameSearchPage {
        let mut items = Vec::new();
        let mut index = start.max(1);
        while index <= self.customers {
            if self.name(index).starts_with(prefix) {
                if items.len() == limit {
                    return NameSearchPage {
                        items,
                        next_start: Some(index),
                    };
                }
                items.extend(self.customer(index));
            }
            index += 1;
        }
        NameSearchPage {
            items,
            next_start: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::numbers::{resident_id_valid, uscc_valid};
    use super::*;

    fn bank(customers: u64, seed: u64) -> Bank {
        Bank::new(
            customers,
            seed,
            NaiveDate::from_ymd_opt(2025, 6, 30).expect("valid date"),
        )
    }

    #[test]
    fn id_numbers_are_valid_unique_and_invertible() {
        let bank = bank(20_000, 42);
        let mut ids = HashSet::new();
        let mut mobiles = HashSet::new();
        let (mut individuals, mut corporates) = (0, 0);
        for index in 1..=bank.customers() {
            let customer = bank.customer(index).expect("customer exists");
            match customer.id_type {
                IdType::ResidentId => {
                    individuals += 1;
                    assert!(
                        resident_id_valid(&customer.id_number),
                        "{}",
                        customer.id_number
                    );
                    let birth = customer.birth_date.expect("individuals have a birth date");
                    let age = bank.as_of().years_since(birth).expect("born before as_of");
                    assert!((18..=80).contains(&age), "age {age}");
                    let male = customer.id_number.as_bytes()[16] % 2 == 1;
                    assert_eq!(customer.gender == Some(Gender::Male), male);
                }
                IdType::Uscc => {
                    corporates += 1;
                    assert!(uscc_valid(&customer.id_number), "{}", customer.id_number);
                }
            }
            // A duplicate record shares its original's number; every other is unique.
            if bank.original_of(index).is_none() {
                assert!(ids.insert(customer.id_number.clone()));
            }
            assert!(mobiles.insert(customer.mobile.clone()));
            let holders: Vec<u64> = bank
                .find_by_id_number(&customer.id_number)
                .iter()
                .map(|c| c.index)
                .collect();
            assert_eq!(holders[0], bank.person(index));
            assert!(holders.contains(&index), "{holders:?}");
            assert_eq!(
                bank.find_by_mobile(&customer.mobile).map(|c| c.index),
                Some(index)
            );
            assert_eq!(
                bank.customer_by_cif(&customer.cif.to_string())
                    .map(|c| c.index),
                Some(index)
            );
        }
        assert!(
            corporates > 1_200 && corporates < 2_000,
            "{corporates} corporates"
        );
        assert!(individuals > 18_000);
    }

    #[test]
    fn lookups_reject_unknown_and_malformed_keys() {
        let bank = bank(100, 42);
        for bad in [
            "",
            "abc",
            "11010519491231002X",
            "9144030071526726XG",
            "1000000000",
            "1000000101",
            "１２３",
        ] {
            assert!(bank.find_by_id_number(bad).is_empty(), "{bad}");
            assert!(bank.customer_by_cif(bad).is_none(), "{bad}");
            assert!(bank.find_by_mobile(bad).is_none(), "{bad}");
        }
        assert!(bank.find_by_mobile("13800138000").is_none() || bank.customers() > 0);
        assert!(bank.customer(0).is_none());
        assert!(bank.customer(101).is_none());
        // A customer beyond the bank's size is not found even though the arithmetic
        // would decode it.
        let bigger = super::tests::bank(1_000, 42);
        let outsider = bigger.customer(500).expect("exists in the bigger bank");
        assert!(bank.find_by_mobile(&outsider.mobile).is_none());
        assert!(bank.find_by_id_number(&outsider.id_number).is_empty());
    }

    #[test]
    fn same_seed_same_bank_other_seed_other_bank() {
        let a = bank(1_000, 42);
        let b = bank(1_000, 42);
        let c = bank(1_000, 43);
        let same = (1..=1_000).all(|i| {
            a.customer(i) == b.customer(i)
                && a.accounts(i) == b.accounts(i)
                && a.cards(i) == b.cards(i)
                && a.loans(i) == b.loans(i)
                && a.online_user(i) == b.online_user(i)
        });
        let differ = (1..=1_000)
            .filter(|&i| a.customer(i) != c.customer(i))
            .count();
        assert!(same);
        assert!(differ > 990, "{differ}");
    }

    #[test]
    fn name_prefix_search_pages_through_all_matches() {
        let bank = bank(3_000, 42);
        let expected: Vec<u64> = (1..=3_000)
            .filter(|&i| bank.name(i).starts_with('王'))
            .collect();
        assert!(expected.len() > 100);
        let mut found = Vec::new();
        let mut start = 1;
        loop {
            let page = bank.search_by_name_prefix("王", start, 40);
            assert!(page.items.len() <= 40);
            found.extend(page.items.iter().map(|c| c.index));
            match page.next_start {
                Some(next) => start = next,
                None => break,
            }
        }
        assert_eq!(found, expected);
    }

    #[test]
    fn wealth_reaches_every_tier() {
        let bank = bank(10_000, 42);
        let over_5m = (1..=10_000)
            .filter(|&i| bank.profile(i).wealth_cents > 500_000_000)
            .count();
        let over_6m = (1..=10_000)
            .filter(|&i| bank.profile(i).wealth_cents > 600_000_000)
            .count();
        let under_50k = (1..=10_000)
            .filter(|&i| bank.profile(i).wealth_cents < 5_000_000)
            .count();
        assert!(over_5m > 50, "{over_5m}");
        assert!(over_6m > 20, "{over_6m}");
        assert!(under_50k > 5_000, "{under_50k}");
    }
}
