//! Who is who across customer records: duplicate CIFs of one person, the ID checks
//! that let core merge them into a party, and the relationships between customers
//! (family, joint holding, guarantees, corporate control).
//!
//! Both are computed from either side without an index. A duplicate points back to
//! its original by an offset drawn from its own index, so the original finds its
//! duplicates by scanning a short window ahead. Relationships are generated per block
//! of consecutive customers from the block's members alone, and each link is stored
//! once and mirrored, so the two sides agree by construction.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::model::{CustomerKind, Party, Relation, RelationKind};
use super::prng::Draw;
use super::{topic, Bank};

/// Share of customers that are a second CIF of an earlier customer, per mille, before
/// the individual-only condition (about 85% of draws qualify): about 2% in all.
const DUPLICATE_PER_MILLE: u64 = 24;
/// How far back (in customer indices) a duplicate's original lies at most: the
/// original finds its duplicates by scanning this many indices ahead.
const DUPLICATE_REACH: u64 = 500;
/// Share of records whose ID number core has verified, per mille.
const VERIFIED_PER_MILLE: u64 = 985;
/// Consecutive customers whose relationships are drawn together.
const BLOCK: u64 = 40;

/// Share of eligible individuals who look for a spouse among their block, per mille.
const SPOUSE_PER_MILLE: u64 = 130;
/// Share of individuals aged 40+ whose children bank here too, per mille.
const PARENT_PER_MILLE: u64 = 120;
/// Share of married couples with a joint account, per mille.
const JOINT_SPOUSES_PER_MILLE: u64 = 400;
/// Share of parent–child pairs with a joint account, per mille.
const JOINT_FAMILY_PER_MILLE: u64 = 100;
/// Share of borrowers whose first loan has a guarantor who banks here, per mille.
const GUARANTEED_PER_MILLE: u64 = 250;
/// Share of corporate legal representatives who also hold shares, per mille.
const REP_HOLDS_SHARES_PER_MILLE: u64 = 600;

/// What the generator needs of a block member.
struct Member {
    index: u64,
    kind: CustomerKind,
    male: bool,
    age: i32,
    onboarded_on: NaiveDate,
}

/// One relationship, stored once: `kind` is what `to` is to `from`.
struct Link {
    from: u64,
    to: u64,
    kind: RelationKind,
    reference: Option<String>,
    share: Option<Decimal>,
    since: NaiveDate,
}

impl Bank {
    /// The earlier index this draw would make `index` a duplicate of, before checking
    /// that both are individuals and that the original is not a duplicate itself.
    fn duplicate_draw(&self, index: u64) -> Option<u64> {
        let mut draw = Draw::new(self.seed, topic::DUPLICATE, &[index]);
        if !draw.chance(DUPLICATE_PER_MILLE) {
            return None;
        }
        index
            .checked_sub(draw.range(1, DUPLICATE_REACH))
            .filter(|&original| original >= 1)
    }

    /// The customer whose second CIF `index` is: same person (ID number, name, birth
    /// date, gender), another branch and mobile.
    pub(crate) fn original_of(&self, index: u64) -> Option<u64> {
        let original = self.duplicate_draw(index)?;
        let individuals = self.kind(index) == CustomerKind::Individual
            && self.kind(original) == CustomerKind::Individual;
        (individuals && self.duplicate_draw(original).is_none()).then_some(original)
    }

    /// The later CIFs of the same person as `index` (empty for a duplicate itself).
    pub(crate) fn duplicates_of(&self, index: u64) -> Vec<u64> {
        if !self.contains(index) || self.original_of(index).is_some() {
            return Vec::new();
        }
        let last = index.saturating_add(DUPLICATE_REACH).min(self.customers);
        (index + 1..=last)
            .filter(|&later| self.original_of(later) == Some(index))
            .collect()
    }

    /// The index whose identity (ID number, name, birth date) `index` carries.
    pub(crate) fn person(&self, index: u64) -> u64 {
        self.original_of(index).unwrap_or(index)
    }

    pub(crate) fn id_verified(&self, index: u64) -> bool {
        Draw::new(self.seed, topic::ID_CHECK, &[index]).chance(VERIFIED_PER_MILLE)
    }

    /// The records sharing customer `index`'s verified ID number; just itself when its
    /// own ID number is unverified. `None` for an unknown index.
    pub fn party(&self, index: u64) -> Option<Party> {
        if !self.contains(index) {
            return None;
        }
        let verified = self.id_verified(index);
        let members = if verified {
            let original = self.person(index);
            std::iter::once(original)
                .chain(self.duplicates_of(original))
                .filter(|&member| self.id_verified(member))
                .map(|member| self.cif(member))
                .collect()
        } else {
            vec![self.cif(index)]
        };
        Some(Party {
            cif: self.cif(index),
            id_verified: verified,
            members,
        })
    }

    /// The relationships of customer `index`, each seen from this customer; empty for
    /// an unknown index and for duplicate records (core keeps them on the first CIF).
    pub fn relations(&self, index: u64) -> Vec<Relation> {
        if !self.contains(index) {
            return Vec::new();
        }
        let cif = self.cif(index);
        self.block_links((index - 1) / BLOCK)
            .into_iter()
            .filter_map(|link| {
                let (related, kind) = if link.from == index {
                    (link.to, link.kind)
                } else if link.to == index {
                    (link.from, link.kind.mirror())
                } else {
                    return None;
                };
                Some(Relation {
                    cif,
                    related_cif: self.cif(related),
                    kind,
                    reference: link.reference,
                    share: link.share,
                    since: link.since,
                })
            })
            .collect()
    }

    fn block_links(&self, block: u64) -> Vec<Link> {
        let first = block * BLOCK + 1;
        let last = ((block + 1) * BLOCK).min(self.customers);
        let members: Vec<Member> = (first..=last)
            .filter(|&i| self.original_of(i).is_none())
            .map(|index| {
                let profile = self.profile(index);
                let age = profile
                    .birth_date
                    .and_then(|birth| self.as_of.years_since(birth))
                    .map_or(0, |years| years as i32);
                Member {
                    index,
                    kind: profile.kind,
                    male: self.male(index),
                    age,
                    onboarded_on: profile.onboarded_on,
                }
            })
            .collect();
        let mut draw = Draw::new(self.seed, topic::RELATIONS, &[block]);
        let mut people: Vec<usize> = (0..members.len())
            .filter(|&m| members[m].kind == CustomerKind::Individual)
            .collect();
        shuffle(&mut draw, &mut people);
        let since = |a: usize, b: usize| members[a].onboarded_on.max(members[b].onboarded_on);
        let mut links = Vec::new();
        let mut link = |from: usize, to: usize, kind, reference, share, since| {
            links.push(Link {
                from: members[from].index,
                to: members[to].index,
                kind,
                reference,
                share,
                since,
            })
        };

        // Couples: opposite sex, both adults past 22, at most ten years apart.
        let mut spouse: Vec<Option<usize>> = vec![None; members.len()];
        for (k, &a) in people.iter().enumerate() {
            if spouse[a].is_some() || members[a].age < 22 || !draw.chance(SPOUSE_PER_MILLE) {
                continue;
            }
            let partner = people[k + 1..].iter().copied().find(|&b| {
                spouse[b].is_none()
                    && members[b].male != members[a].male
                    && members[b].age >= 22
                    && (members[b].age - members[a].age).abs() <= 10
            });
            if let Some(b) = partner {
                spouse[a] = Some(b);
                spouse[b] = Some(a);
                link(a, b, RelationKind::Spouse, None, None, since(a, b));
                if draw.chance(JOINT_SPOUSES_PER_MILLE) {
                    let account = self.current_account_number(members[a].index);
                    link(
                        a,
                        b,
                        RelationKind::JointHolder,
                        Some(account),
                        None,
                        since(a, b),
                    );
                }
            }
        }

        // Children: 20 to 40 years younger; the parent's spouse is their parent too
        // when the ages allow it. Each child has one set of parents.
        let mut has_parents = vec![false; members.len()];
        for &p in &people {
            if members[p].age < 40 || !draw.chance(PARENT_PER_MILLE) {
                continue;
            }
            let wanted = draw.range(1, 2) as usize;
            let children: Vec<usize> = people
                .iter()
                .copied()
                .filter(|&c| {
                    !has_parents[c]
                        && Some(c) != spouse[p]
                        && (20..=40).contains(&(members[p].age - members[c].age))
                })
                .take(wanted)
                .collect();
            for c in children {
                has_parents[c] = true;
                let parents = std::iter::once(p).chain(
                    spouse[p].filter(|&s| (18..=45).contains(&(members[s].age - members[c].age))),
                );
                for parent in parents {
                    link(
                        c,
                        parent,
                        RelationKind::Parent,
                        None,
                        None,
                        since(c, parent),
                    );
                }
                if draw.chance(JOINT_FAMILY_PER_MILLE) {
                    let account = self.current_account_number(members[p].index);
                    link(
                        c,
                        p,
                        RelationKind::JointHolder,
                        Some(account),
                        None,
                        since(c, p),
                    );
                }
            }
        }

        // Guarantors of loans: an adult individual of the block, never the borrower.
        for borrower in 0..members.len() {
            if self.loan_count(members[borrower].index) == 0 || !draw.chance(GUARANTEED_PER_MILLE) {
                continue;
            }
            let candidates: Vec<usize> = people
                .iter()
                .copied()
                .filter(|&g| g != borrower && members[g].age >= 22)
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let guarantor = *draw.pick(&candidates);
            let loan = self.loan(members[borrower].index, 0);
            let since = loan.start_date.max(members[guarantor].onboarded_on);
            link(
                borrower,
                guarantor,
                RelationKind::Guarantor,
                Some(loan.id),
                None,
                since,
            );
        }

        // Companies: a legal representative and one to three shareholders, adults of
        // the block. Shares leave room for holders who are not customers.
        for company in (0..members.len()).filter(|&m| members[m].kind == CustomerKind::Corporate) {
            let mut adults: Vec<usize> = people
                .iter()
                .copied()
                .filter(|&p| members[p].age >= 25)
                .collect();
            if adults.is_empty() {
                continue;
            }
            shuffle(&mut draw, &mut adults);
            let representative = adults[0];
            link(
                company,
                representative,
                RelationKind::LegalRepresentative,
                None,
                None,
                since(company, representative),
            );
            let holders = draw.range(1, 3) as usize;
            let skip = usize::from(!draw.chance(REP_HOLDS_SHARES_PER_MILLE));
            let mut left_bp: i64 = 10_000;
            let chosen: Vec<usize> = adults.iter().copied().skip(skip).take(holders).collect();
            for (k, &holder) in chosen.iter().enumerate() {
                let after = (chosen.len() - k - 1) as i64;
                let top = (left_bp - after * 500).min(7_000);
                let share_bp = draw.range_i64(500.min(top), top);
                left_bp -= share_bp;
                link(
                    company,
                    holder,
                    RelationKind::Shareholder,
                    None,
                    Some(Decimal::new(share_bp, 2)),
                    since(company, holder),
                );
            }
        }
        links
    }
}

/// Fisher–Yates with the block's own draws.
fn shuffle(draw: &mut Draw, items: &mut [usize]) {
    for i in (1..items.len()).rev() {
        let j = draw.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::model::CustomerStatus;
    use super::*;

    fn bank(customers: u64) -> Bank {
        Bank::new(
            customers,
            42,
            NaiveDate::from_ymd_opt(2026, 11, 27).expect("valid date"),
        )
    }

    #[test]
    fn about_two_percent_are_second_cifs_of_the_same_person_found_by_id_number() {
        let bank = bank(10_000);
        let duplicates: Vec<u64> = (1..=10_000)
            .filter(|&i| bank.original_of(i).is_some())
            .collect();
        assert!(
            (150..=250).contains(&duplicates.len()),
            "{} duplicates",
            duplicates.len()
        );
        let mut merged = 0;
        for &index in &duplicates {
            let original = bank.original_of(index).expect("a duplicate");
            assert!(original < index);
            let (copy, first) = (
                bank.customer(index).expect("exists"),
                bank.customer(original).expect("exists"),
            );
            assert_eq!(copy.kind, CustomerKind::Individual);
            assert_eq!(copy.id_number, first.id_number);
            assert_eq!(copy.name, first.name);
            assert_eq!(copy.birth_date, first.birth_date);
            assert_eq!(copy.gender, first.gender);
            assert_ne!(copy.branch, first.branch);
            assert_ne!(copy.mobile, first.mobile);
            assert!(bank.duplicates_of(original).contains(&index));
            let found: Vec<u64> = bank
                .find_by_id_number(&first.id_number)
                .iter()
                .map(|c| c.cif)
                .collect();
            assert!(found.contains(&copy.cif) && found.contains(&first.cif));
            let party = bank.party(index).expect("a party");
            if copy.id_verified && first.id_verified {
                merged += 1;
                assert!(party.members.contains(&first.cif), "{party:?}");
                assert_eq!(
                    bank.party(original).expect("a party").members,
                    party.members
                );
            } else if !copy.id_verified {
                assert_eq!(party.members, vec![copy.cif]);
            }
        }
        assert!(merged * 10 > duplicates.len() * 9, "{merged}");
        let verified = (1..=10_000).filter(|&i| bank.id_verified(i)).count();
        assert!(verified > 9_700 && verified < 10_000, "{verified}");
        for index in 1..=2_000 {
            let party = bank.party(index).expect("a party");
            assert!(party.members.contains(&bank.cif(index)), "{party:?}");
        }
        assert!(bank.party(10_001).is_none());
    }

    #[test]
    fn relationships_are_mirrored_and_every_kind_occurs() {
        let bank = bank(3_000);
        let mut kinds: HashMap<RelationKind, usize> = HashMap::new();
        let mut with_any = 0;
        for index in 1..=3_000 {
            let relations = bank.relations(index);
            if !relations.is_empty() {
                with_any += 1;
            }
            for relation in relations {
                *kinds.entry(relation.kind).or_default() += 1;
                assert_ne!(relation.cif, relation.related_cif);
                let other = bank
                    .index_of_cif(&relation.related_cif.to_string())
                    .expect("related customer exists");
                let back = bank.relations(other);
                assert!(
                    back.iter().any(|b| b.related_cif == relation.cif
                        && b.kind == relation.kind.mirror()
                        && b.reference == relation.reference
                        && b.share == relation.share
                        && b.since == relation.since),
                    "{relation:?} is not mirrored in {back:?}"
                );
                assert!(relation.since <= bank.as_of());
            }
        }
        for kind in [
            RelationKind::Spouse,
            RelationKind::Parent,
            RelationKind::Child,
            RelationKind::JointHolder,
            RelationKind::Guarantor,
            RelationKind::Guaranteed,
            RelationKind::LegalRepresentative,
            RelationKind::Represents,
            RelationKind::Shareholder,
            RelationKind::Holding,
        ] {
            assert!(
                kinds.get(&kind).copied().unwrap_or(0) >= 10,
                "{kind:?}: {kinds:?}"
            );
        }
        assert!(
            with_any > 600 && with_any < 2_000,
            "{with_any} related: {kinds:?}"
        );
    }

    #[test]
    fn relationships_make_sense() {
        let bank = bank(3_000);
        let mut wealthy_households = 0;
        for index in 1..=3_000 {
            let me = bank.customer(index).expect("exists");
            let relations = bank.relations(index);
            let spouses = relations
                .iter()
                .filter(|r| r.kind == RelationKind::Spouse)
                .count();
            assert!(spouses <= 1);
            let mut shares = Decimal::ZERO;
            for r in &relations {
                let other = bank
                    .customer_by_cif(&r.related_cif.to_string())
                    .expect("exists");
                match r.kind {
                    RelationKind::Spouse => assert_ne!(me.gender, other.gender),
                    RelationKind::Parent => assert!(other.birth_date < me.birth_date),
                    RelationKind::Guarantor => {
                        let loan = r.reference.as_deref().expect("a loan id");
                        assert!(bank.loans(index).iter().any(|l| l.id == loan));
                    }
                    RelationKind::JointHolder => {
                        let account = r.reference.as_deref().expect("an account");
                        let owner = bank.account(account).expect("an account").cif;
                        assert!(owner == me.cif || owner == other.cif);
                    }
                    RelationKind::LegalRepresentative | RelationKind::Shareholder => {
                        assert_eq!(me.kind, CustomerKind::Corporate);
                        assert_eq!(other.kind, CustomerKind::Individual);
                        shares += r.share.unwrap_or_default();
                    }
                    _ => {}
                }
            }
            assert!(shares <= Decimal::ONE_HUNDRED, "{shares}");
            if me.kind == CustomerKind::Corporate {
                let holders = relations
                    .iter()
                    .filter(|r| r.kind == RelationKind::Shareholder)
                    .count();
                let reps = relations
                    .iter()
                    .filter(|r| r.kind == RelationKind::LegalRepresentative)
                    .count();
                assert_eq!(reps, 1, "{relations:?}");
                assert!((1..=3).contains(&holders), "{relations:?}");
            }
            // A mass-market customer with a diamond-or-better household member (200万+).
            if bank.profile(index).band <= 2
                && me.status == CustomerStatus::Active
                && relations.iter().any(|r| {
                    matches!(
                        r.kind,
                        RelationKind::Spouse | RelationKind::Parent | RelationKind::Child
                    ) && bank.profile(r.related_cif - super::super::CIF_BASE).band >= 6
                })
            {
                wealthy_households += 1;
            }
        }
        assert!(wealthy_households >= 5, "{wealthy_households}");
    }

    #[test]
    fn the_last_customers_of_a_million_stay_inside_the_bank() {
        let bank = bank(1_000_000);
        for index in 999_900..=1_000_000 {
            for relation in bank.relations(index) {
                assert!(bank
                    .customer_by_cif(&relation.related_cif.to_string())
                    .is_some());
            }
            for member in bank.party(index).expect("exists").members {
                assert!(bank.customer_by_cif(&member.to_string()).is_some());
            }
        }
    }
}
