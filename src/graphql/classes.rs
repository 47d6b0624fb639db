//! The data-class registry: every field of the schema, as `Type.field`, with the
//! classes of data its value carries (docs/data-classes.md). A role's `deny_classes`
//! denies every field carrying one of them; a field computed from other data carries
//! the classes of all of it, so a total, a score or a reason is refused exactly where
//! its sources are. A field missing here stops the hub at start, and an entry naming a
//! field the schema no longer has fails the registry's test.

use crate::domain::{ClassSet, DataClass};

use DataClass::{
    AccountNumber, Address, Audit, BirthDate, Cards, Channels, Consents, ContactHistory,
    CustomerId, Deposits, Email, FreeText, IdNumber, Insights, Loans, Meta, Mobile, Name, Profile,
    Relationships, Staff,
};

/// Holdings that add up products of every line: depth counts deposits, cards, loans
/// and online banking.
const PRODUCT_LINES: &[DataClass] = &[Deposits, Cards, Loans, Channels];
/// Tier and everything banded by AUM.
const TIER: &[DataClass] = &[Insights, Deposits];
/// The lifecycle stage: tenure, AUM trend, activity, logins, closed products.
const STAGE: &[DataClass] = &[Insights, Profile, Deposits, Cards, Loans, Channels];
/// RFM and contribution: activity, AUM, loan margins, card fees.
const VALUE: &[DataClass] = &[Insights, Deposits, Cards, Loans];
/// Churn signals: AUM, transfers, payroll, deposits not renewed, logins, complaints,
/// card use, loans prepaid.
const CHURN: &[DataClass] = &[Insights, Deposits, Cards, Loans, Channels, ContactHistory];
const SATISFACTION: &[DataClass] = &[Insights, ContactHistory];
/// Next best offers: every rule and gate, consents and the household's tier included.
const OFFERS: &[DataClass] = &[
    Insights,
    Profile,
    Deposits,
    Cards,
    Loans,
    Channels,
    ContactHistory,
    Consents,
    Relationships,
];
/// Everything the insights read: one computation over all of it, whose reasons
/// cross-reference each other, so the whole carries the union.
const ALL_INSIGHTS: &[DataClass] = OFFERS;
/// The book and its segments: tier, stage and churn level of every customer.
const BOOK: &[DataClass] = &[
    Insights,
    Profile,
    Deposits,
    Cards,
    Loans,
    Channels,
    ContactHistory,
];
/// Prospects: inflows, idle balances, online users, single-product customers.
const PROSPECTS: &[DataClass] = &[Insights, Deposits, Cards, Loans, Channels];
/// A relationship's reference is a loan guaranteed or an account held jointly.
const REFERENCE: &[DataClass] = &[Relationships, AccountNumber, Deposits, Loans];

/// `Type.field` and the classes its value carries. Types that are only containers
/// (connections, edges, paging, money) carry `meta`: the classes of their values come
/// from the field that leads to them, which a role must be allowed first.
pub const REGISTRY: &[(&str, &[DataClass])] = &[
    ("Query.customer", &[CustomerId]),
    ("Query.customers", &[CustomerId]),
    ("Query.searchCustomers", &[CustomerId]),
    ("Query.interaction", &[ContactHistory]),
    ("Query.interactions", &[ContactHistory]),
    ("Query.interactionStats", &[ContactHistory]),
    ("Query.accessAudit", &[Audit]),
    ("Query.customerBook", BOOK),
    ("Query.prospects", PROSPECTS),
    ("Query.segmentSummary", BOOK),
    // The caller's own token and role: nothing about any customer.
    ("Query.viewer", &[Meta]),
    ("Viewer.subject", &[Meta]),
    ("Viewer.role", &[Meta]),
    ("Viewer.staffId", &[Meta]),
    ("Viewer.branchId", &[Meta]),
    ("Viewer.customerId", &[Meta]),
    ("Viewer.capabilities", &[Meta]),
    ("Viewer.deniedClasses", &[Meta]),
    ("Viewer.deniedFields", &[Meta]),
    ("Viewer.pseudonymous", &[Meta]),
    ("Viewer.expiresAt", &[Meta]),
    ("Mutation.logInteraction", &[ContactHistory]),
    ("Mutation.updateInteraction", &[ContactHistory]),
    ("Mutation.recordConsent", &[Consents]),
    ("Mutation.recordContactPreferences", &[Consents]),
    ("Subscription.interactionLogged", &[ContactHistory]),
    ("Subscription.customerChanged", &[CustomerId, Meta]),
    ("CustomerChange.id", &[CustomerId]),
    ("CustomerChange.system", &[Meta]),
    ("CustomerChange.entity", &[Meta]),
    ("CustomerChange.at", &[Meta]),
    ("Customer.id", &[CustomerId]),
    ("Customer.kind", &[Profile]),
    ("Customer.name", &[Name]),
    ("Customer.idDocument", &[IdNumber]),
    ("Customer.mobile", &[Mobile]),
    ("Customer.email", &[Email]),
    ("Customer.birthDate", &[BirthDate]),
    ("Customer.gender", &[Profile]),
    ("Customer.address", &[Address]),
    ("Customer.occupation", &[Profile]),
    ("Customer.branch", &[Profile]),
    ("Customer.relationshipManager", &[Staff]),
    ("Customer.onboardedAt", &[Profile]),
    ("Customer.status", &[Profile]),
    ("Customer.accounts", &[Deposits]),
    ("Customer.cards", &[Cards]),
    ("Customer.loans", &[Loans]),
    ("Customer.onlineBanking", &[Channels]),
    ("Customer.sources", &[Meta]),
    ("Customer.party", &[Relationships]),
    ("Customer.relationships", &[Relationships]),
    ("Customer.household", &[Relationships]),
    ("Customer.holdings", &[Meta]),
    ("Customer.insights", ALL_INSIGHTS),
    ("Customer.interactions", &[ContactHistory]),
    ("Customer.consents", &[Consents]),
    ("Customer.consentHistory", &[Consents]),
    ("Customer.contactPreferences", &[Consents]),
    ("Customer.mayContact", &[Consents]),
    ("IdDocument.type", &[Profile]),
    ("IdDocument.number", &[IdNumber]),
    ("SourceStatus.system", &[Meta]),
    ("SourceStatus.fetchedAt", &[Meta]),
    ("SourceStatus.fromCache", &[Meta]),
    ("SourceStatus.stale", &[Meta]),
    ("SourceStatus.error", &[Meta]),
    ("Account.number", &[Deposits, AccountNumber]),
    ("Account.type", &[Deposits]),
    ("Account.currency", &[Deposits]),
    ("Account.balance", &[Deposits]),
    ("Account.availableBalance", &[Deposits]),
    ("Account.status", &[Deposits]),
    ("Account.openedAt", &[Deposits]),
    ("Account.maturityDate", &[Deposits]),
    ("Account.interestRate", &[Deposits]),
    ("Account.transactions", &[Deposits]),
    ("TransactionConnection.pageInfo", &[Meta]),
    ("TransactionConnection.edges", &[Meta]),
    ("TransactionConnection.nodes", &[Meta]),
    ("TransactionEdge.node", &[Meta]),
    ("TransactionEdge.cursor", &[Meta]),
    // The core system's transaction id starts with the account number.
    ("Transaction.id", &[Deposits, AccountNumber]),
    ("Transaction.postedAt", &[Deposits]),
    ("Transaction.direction", &[Deposits]),
    ("Transaction.amount", &[Deposits]),
    ("Transaction.description", &[Deposits, FreeText]),
    ("Transaction.channel", &[Deposits]),
    ("Transaction.counterparty", &[Deposits, Name]),
    ("Card.id", &[Cards]),
    ("Card.number", &[Cards, AccountNumber]),
    ("Card.kind", &[Cards]),
    ("Card.product", &[Cards]),
    ("Card.level", &[Cards]),
    ("Card.status", &[Cards]),
    ("Card.issuedAt", &[Cards]),
    ("Card.linkedAccount", &[Cards, Deposits, AccountNumber]),
    ("Card.creditLimit", &[Cards]),
    ("Card.availableCredit", &[Cards]),
    ("Card.outstanding", &[Cards]),
    ("Card.daysPastDue", &[Cards]),
    ("Card.statement", &[Cards]),
    ("Statement.closingDate", &[Cards]),
    ("Statement.dueDate", &[Cards]),
    ("Statement.minimumDue", &[Cards]),
    ("Statement.balance", &[Cards]),
    ("Loan.id", &[Loans]),
    ("Loan.product", &[Loans]),
    ("Loan.principal", &[Loans]),
    ("Loan.outstanding", &[Loans]),
    ("Loan.rate", &[Loans]),
    ("Loan.termMonths", &[Loans]),
    ("Loan.startDate", &[Loans]),
    ("Loan.maturityDate", &[Loans]),
    ("Loan.nextPayment", &[Loans]),
    ("Loan.overdueDays", &[Loans]),
    ("Loan.classification", &[Loans]),
    ("Loan.status", &[Loans]),
    ("NextPayment.date", &[Loans]),
    ("NextPayment.amount", &[Loans]),
    ("OnlineBanking.userId", &[Channels]),
    ("OnlineBanking.status", &[Channels]),
    ("OnlineBanking.registeredAt", &[Channels]),
    ("OnlineBanking.lastLoginAt", &[Channels]),
    ("OnlineBanking.preferredChannel", &[Channels]),
    ("OnlineBanking.devices", &[Channels]),
    ("OnlineBanking.recentLogins", &[Channels]),
    ("Device.id", &[Channels]),
    ("Device.os", &[Channels]),
    ("Device.model", &[Channels]),
    ("Device.boundAt", &[Channels]),
    ("Device.trusted", &[Channels]),
    ("LoginEvent.at", &[Channels]),
    ("LoginEvent.channel", &[Channels]),
    ("LoginEvent.authMethod", &[Channels]),
    ("LoginEvent.result", &[Channels]),
    ("LoginEvent.ipRegion", &[Channels]),
    ("Money.amount", &[Meta]),
    ("Money.currency", &[Meta]),
    ("Money.band", &[Meta]),
    ("PageInfo.hasPreviousPage", &[Meta]),
    ("PageInfo.hasNextPage", &[Meta]),
    ("PageInfo.startCursor", &[Meta]),
    ("PageInfo.endCursor", &[Meta]),
    ("Holdings.aum", &[Deposits]),
    ("Holdings.deposits", &[Deposits]),
    ("Holdings.loansOutstanding", &[Loans]),
    ("Holdings.creditLimit", &[Cards]),
    ("Holdings.creditUsed", &[Cards]),
    ("Holdings.productCount", PRODUCT_LINES),
    ("Holdings.productsByLine", PRODUCT_LINES),
    ("Holdings.byCurrency", &[Deposits, Cards, Loans]),
    ("Holdings.fxAsOf", &[Meta]),
    ("ProductLine.line", PRODUCT_LINES),
    ("ProductLine.count", PRODUCT_LINES),
    ("CurrencyHoldings.currency", &[Deposits, Cards, Loans]),
    ("CurrencyHoldings.deposits", &[Deposits]),
    ("CurrencyHoldings.loansOutstanding", &[Loans]),
    ("CurrencyHoldings.creditLimit", &[Cards]),
    ("CurrencyHoldings.creditUsed", &[Cards]),
    ("Party.id", &[Relationships, CustomerId]),
    ("Party.customers", &[Relationships]),
    ("Party.holdings", &[Relationships]),
    ("Party.customersWithheld", &[Relationships]),
    ("Party.insights", ALL_INSIGHTS),
    ("Relationship.kind", &[Relationships]),
    ("Relationship.relatedId", &[Relationships, CustomerId]),
    ("Relationship.related", &[Relationships]),
    ("Relationship.reference", REFERENCE),
    ("Relationship.share", &[Relationships]),
    ("Relationship.since", &[Relationships]),
    ("Household.members", &[Relationships]),
    ("Household.holdings", &[Relationships]),
    ("Household.membersWithheld", &[Relationships]),
    ("HouseholdMember.relation", &[Relationships]),
    ("HouseholdMember.customer", &[Relationships]),
    ("Insights.tier", TIER),
    ("Insights.lifecycleStage", STAGE),
    ("Insights.value", VALUE),
    ("Insights.churnRisk", CHURN),
    ("Insights.satisfaction", SATISFACTION),
    ("Insights.nextBestOffers", OFFERS),
    ("Insights.reasons", ALL_INSIGHTS),
    // A reason's own classes are known only when it fires: `detail` and `inputs` are
    // refused for a role denied any of them (account numbers, the age), and account
    // numbers in them are masked like any other (graphql::insights).
    ("InsightReason.rule", &[Insights]),
    ("InsightReason.detail", &[Insights]),
    ("InsightReason.inputs", &[Insights]),
    ("CustomerValue.recency", TIER),
    ("CustomerValue.frequency", TIER),
    ("CustomerValue.monetary", TIER),
    ("CustomerValue.segment", TIER),
    ("CustomerValue.annualContribution", VALUE),
    ("CustomerValue.clv", VALUE),
    ("CustomerValue.reasons", VALUE),
    ("ChurnRisk.score", CHURN),
    ("ChurnRisk.level", CHURN),
    ("ChurnRisk.reasons", CHURN),
    ("Satisfaction.averageScore", SATISFACTION),
    ("Satisfaction.responses", SATISFACTION),
    ("Satisfaction.csat", SATISFACTION),
    ("Satisfaction.complaints12m", SATISFACTION),
    ("Satisfaction.openComplaints", SATISFACTION),
    ("Satisfaction.overdueComplaints", SATISFACTION),
    ("Satisfaction.reasons", SATISFACTION),
    ("Offer.product", OFFERS),
    ("Offer.channel", OFFERS),
    ("Offer.score", OFFERS),
    ("Offer.reasons", OFFERS),
    ("Interaction.id", &[ContactHistory]),
    ("Interaction.customerId", &[ContactHistory, CustomerId]),
    ("Interaction.channel", &[ContactHistory]),
    ("Interaction.type", &[ContactHistory]),
    ("Interaction.direction", &[ContactHistory]),
    ("Interaction.occurredAt", &[ContactHistory]),
    ("Interaction.recordedAt", &[ContactHistory]),
    ("Interaction.staffId", &[ContactHistory, Staff]),
    ("Interaction.recordedBy", &[ContactHistory, Staff]),
    ("Interaction.branchId", &[ContactHistory]),
    ("Interaction.subject", &[ContactHistory, FreeText]),
    ("Interaction.notes", &[ContactHistory, FreeText]),
    ("Interaction.outcome", &[ContactHistory]),
    ("Interaction.satisfaction", &[ContactHistory]),
    ("Interaction.followUpAt", &[ContactHistory]),
    ("Interaction.products", &[ContactHistory]),
    ("Interaction.updatedAt", &[ContactHistory]),
    ("Interaction.revision", &[ContactHistory]),
    ("Interaction.history", &[ContactHistory]),
    ("InteractionChange.revision", &[ContactHistory]),
    ("InteractionChange.field", &[ContactHistory]),
    ("InteractionChange.oldValue", &[ContactHistory, FreeText]),
    ("InteractionChange.newValue", &[ContactHistory, FreeText]),
    ("InteractionChange.changedAt", &[ContactHistory]),
    ("InteractionChange.changedBy", &[ContactHistory, Staff]),
    ("InteractionChange.recordedBy", &[ContactHistory, Staff]),
    ("InteractionConnection.pageInfo", &[Meta]),
    ("InteractionConnection.edges", &[Meta]),
    ("InteractionConnection.nodes", &[Meta]),
    ("InteractionEdge.node", &[Meta]),
    ("InteractionEdge.cursor", &[Meta]),
    // Grouped by STAFF, the keys are staff numbers.
    ("InteractionStat.key", &[ContactHistory, Staff]),
    ("InteractionStat.count", &[ContactHistory]),
    ("InteractionStat.averageSatisfaction", &[ContactHistory]),
    ("Consent.id", &[Consents]),
    ("Consent.customerId", &[Consents, CustomerId]),
    ("Consent.purpose", &[Consents]),
    ("Consent.channel", &[Consents]),
    ("Consent.granted", &[Consents]),
    ("Consent.recordedAt", &[Consents]),
    ("Consent.source", &[Consents]),
    ("Consent.evidence", &[Consents, FreeText]),
    ("Consent.staffId", &[Consents, Staff]),
    ("ContactPreferences.preferredChannel", &[Consents]),
    ("ContactPreferences.quietHoursStart", &[Consents]),
    ("ContactPreferences.quietHoursEnd", &[Consents]),
    ("ContactPreferences.doNotContact", &[Consents]),
    ("ContactPreferences.recordedAt", &[Consents]),
    ("ContactPreferences.source", &[Consents]),
    ("ContactPreferences.staffId", &[Consents, Staff]),
    ("ContactDecision.allowed", &[Consents]),
    ("ContactDecision.reason", &[Consents]),
    ("CustomerConnection.pageInfo", &[Meta]),
    ("CustomerConnection.edges", &[Meta]),
    ("CustomerConnection.nodes", &[Meta]),
    ("CustomerEdge.node", &[Meta]),
    ("CustomerEdge.cursor", &[Meta]),
    ("BookEntryConnection.pageInfo", &[Meta]),
    ("BookEntryConnection.edges", &[Meta]),
    ("BookEntryConnection.nodes", &[Meta]),
    ("BookEntryConnection.resumeAfter", &[Meta]),
    ("BookEntryEdge.node", &[Meta]),
    ("BookEntryEdge.cursor", &[Meta]),
    ("BookEntry.customer", &[CustomerId]),
    ("BookEntry.tier", TIER),
    ("BookEntry.lifecycleStage", STAGE),
    ("BookEntry.churnLevel", CHURN),
    ("BookEntry.aum", &[Deposits]),
    // When the row the entry comes from was computed: as much as the figures say.
    ("BookEntry.asOf", TIER),
    ("SegmentStat.key", BOOK),
    ("SegmentStat.count", BOOK),
    ("SegmentStat.aum", BOOK),
    ("SegmentStat.deposits", BOOK),
    ("SegmentStat.isOther", BOOK),
    ("SegmentStat.foldedGroups", BOOK),
    ("SegmentStat.asOf", BOOK),
    ("ProspectEntryConnection.pageInfo", &[Meta]),
    ("ProspectEntryConnection.edges", &[Meta]),
    ("ProspectEntryConnection.nodes", &[Meta]),
    ("ProspectEntryConnection.resumeAfter", &[Meta]),
    ("ProspectEntryEdge.node", &[Meta]),
    ("ProspectEntryEdge.cursor", &[Meta]),
    ("ProspectEntry.customer", &[CustomerId]),
    ("ProspectEntry.prospect", PROSPECTS),
    ("Prospect.reasonRule", PROSPECTS),
    ("Prospect.suggestedProduct", PROSPECTS),
    ("Prospect.reasons", PROSPECTS),
    ("AccessRecordConnection.pageInfo", &[Audit]),
    ("AccessRecordConnection.edges", &[Audit]),
    ("AccessRecordConnection.nodes", &[Audit]),
    ("AccessRecordEdge.node", &[Audit]),
    ("AccessRecordEdge.cursor", &[Audit]),
    ("AccessRecord.id", &[Audit]),
    ("AccessRecord.at", &[Audit]),
    ("AccessRecord.actor", &[Audit, Staff]),
    ("AccessRecord.actingFor", &[Audit, Staff]),
    ("AccessRecord.rowCount", &[Audit]),
    ("AccessRecord.role", &[Audit]),
    ("AccessRecord.branch", &[Audit]),
    ("AccessRecord.customerId", &[Audit, CustomerId]),
    ("AccessRecord.operation", &[Audit]),
    ("AccessRecord.fieldsRevealed", &[Audit]),
    ("AccessRecord.purpose", &[Audit]),
    ("AccessRecord.client", &[Audit]),
    ("AccessRecord.traceId", &[Audit]),
];

/// Classes some values of a field carry and others do not, decided per value when the
/// field resolves: an insight's reason that names account numbers is masked like
/// them (and refused to a role denied them); one that gives the customer's age is
/// refused to a role denied birth dates.
pub const PER_VALUE: &[(&str, &[DataClass])] = &[
    ("InsightReason.detail", &[AccountNumber, BirthDate]),
    ("InsightReason.inputs", &[AccountNumber, BirthDate]),
];

/// The classes of `Type.field`; empty when the registry does not know the field.
pub fn classes_of(type_name: &str, field: &str) -> ClassSet {
    REGISTRY
        .iter()
        .find(|(key, _)| {
            key.split_once('.')
                .is_some_and(|(t, f)| t == type_name && f == field)
        })
        .map_or(ClassSet::EMPTY, |(_, classes)| ClassSet::of(classes))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use super::{classes_of, REGISTRY};

    #[tokio::test]
    async fn every_field_of_the_schema_has_a_class_and_every_entry_a_field() {
        let fields = super::super::schema_fields(&super::super::bare_schema()).await;
        let in_schema: HashSet<String> = fields
            .iter()
            .map(|f| format!("{}.{}", f.type_name, f.field))
            .collect();
        let unclassified: BTreeSet<&String> = in_schema
            .iter()
            .filter(|key| {
                let (t, f) = key.split_once('.').unwrap_or_default();
                classes_of(t, f).is_empty()
            })
            .collect();
        assert!(
            unclassified.is_empty(),
            "fields without a data class: {unclassified:?}"
        );
        let stale: Vec<&str> = REGISTRY
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| !in_schema.contains(*key))
            .collect();
        assert!(
            stale.is_empty(),
            "registry entries without a field: {stale:?}"
        );
        for (key, _) in super::PER_VALUE {
            assert!(
                in_schema.contains(*key),
                "PER_VALUE names {key}, not a field"
            );
        }
        let mut seen = HashSet::new();
        for (key, classes) in REGISTRY {
            assert!(seen.insert(*key), "{key} is listed twice");
            assert!(!classes.is_empty(), "{key} has an empty class list");
        }
    }
}
