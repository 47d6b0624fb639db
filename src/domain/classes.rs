//! Data classes: the kinds of information the hub serves, named so that a role's
//! policy can deny or mask a kind of data wherever it shows up, including in figures
//! computed from it (docs/data-classes.md).
//!
//! They live in the domain because both sides need them: the rules that derive
//! values say which classes a value was computed from, and the access layer decides
//! per role which classes it may see.

/// One kind of data. The first seven are personal data that can also be masked
/// rather than denied; the rest are denied or shown whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataClass {
    Name,
    IdNumber,
    Mobile,
    Email,
    Address,
    /// Card (PAN) and account numbers, and loan contract numbers.
    AccountNumber,
    BirthDate,
    /// The CIF and other keys that link records to one customer.
    CustomerId,
    /// Attributes of a customer that identify no one on their own: kind, gender,
    /// occupation, status, onboarding date.
    Profile,
    /// Who at the bank serves or served the customer: branch and staff numbers.
    Staff,
    Deposits,
    Cards,
    Loans,
    /// Internet and mobile banking: enrolment, devices, logins.
    Channels,
    /// Family, joint holding, guarantees, corporate control; households and the
    /// records of one person.
    Relationships,
    /// The hub's log of contacts with the customer.
    ContactHistory,
    /// Consents and contact preferences.
    Consents,
    /// Text people typed or the bank's systems wrote: contact subjects and notes,
    /// booking texts, consent evidence. It may contain anything.
    FreeText,
    /// What the hub's rules conclude: tiers, stages, scores, offers, segments.
    Insights,
    /// The access audit.
    Audit,
    /// Facts about the answer rather than the customer: paging, sources, currencies.
    Meta,
}

impl DataClass {
    pub const ALL: [DataClass; 21] = [
        DataClass::Name,
        DataClass::IdNumber,
        DataClass::Mobile,
        DataClass::Email,
        DataClass::Address,
        DataClass::AccountNumber,
        DataClass::BirthDate,
        DataClass::CustomerId,
        DataClass::Profile,
        DataClass::Staff,
        DataClass::Deposits,
        DataClass::Cards,
        DataClass::Loans,
        DataClass::Channels,
        DataClass::Relationships,
        DataClass::ContactHistory,
        DataClass::Consents,
        DataClass::FreeText,
        DataClass::Insights,
        DataClass::Audit,
        DataClass::Meta,
    ];

    /// The names used in `config/policies.toml`, the registry's documentation and the
    /// access audit.
    pub const NAMES: [&'static str; 21] = [
        "name",
        "id_number",
        "mobile",
        "email",
        "address",
        "account_number",
        "birth_date",
        "customer_id",
        "profile",
        "staff",
        "deposits",
        "cards",
        "loans",
        "channels",
        "relationships",
        "contact_history",
        "consents",
        "free_text",
        "insights",
        "audit",
        "meta",
    ];

    pub fn as_str(self) -> &'static str {
        DataClass::NAMES[self as usize]
    }

    pub fn parse(name: &str) -> Option<DataClass> {
        DataClass::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| DataClass::ALL[i])
    }
}

/// A set of [`DataClass`]es, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClassSet(u32);

impl ClassSet {
    pub const EMPTY: ClassSet = ClassSet(0);

    pub const fn of(classes: &[DataClass]) -> ClassSet {
        let mut bits = 0;
        let mut i = 0;
        while i < classes.len() {
            bits |= 1 << classes[i] as u32;
            i += 1;
        }
        ClassSet(bits)
    }

    pub fn insert(&mut self, class: DataClass) {
        self.0 |= 1 << class as u32;
    }

    pub fn contains(self, class: DataClass) -> bool {
        self.0 & (1 << class as u32) != 0
    }

    pub const fn union(self, other: ClassSet) -> ClassSet {
        ClassSet(self.0 | other.0)
    }

    pub fn intersects(self, other: ClassSet) -> bool {
        self.0 & other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = DataClass> {
        DataClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// Class names, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(DataClass::as_str).collect()
    }
}

impl FromIterator<DataClass> for ClassSet {
    fn from_iter<I: IntoIterator<Item = DataClass>>(iter: I) -> ClassSet {
        let mut set = ClassSet::default();
        for class in iter {
            set.insert(class);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_keep_their_members() {
        for class in DataClass::ALL {
            assert_eq!(DataClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(DataClass::parse("salary"), None);
        let set = ClassSet::of(&[DataClass::Deposits, DataClass::Loans]);
        assert!(set.contains(DataClass::Loans));
        assert!(!set.contains(DataClass::Cards));
        assert!(set.intersects(ClassSet::of(&[DataClass::Deposits])));
        assert_eq!(set.names(), vec!["deposits", "loans"]);
    }
}
