//! `customer`, `customers` and `searchCustomers`, and the `Customer` type that joins
//! the four systems.
//!
//! Root resolvers look ahead at what the query selects and start every selected
//! system's load at once, so a 360 query waits for the slowest system, not the sum of
//! them; child resolvers then find their data in the request's loaders.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{
    Context, Object, PathSegment, QueryPathNode, QueryPathSegment, Result, ServerError, ID,
};
use chrono::{DateTime, NaiveDate, Utc};

use super::loaders::{self, Loaders, Outcome, PerCustomer};
use super::node::{CustomerNode, Selection};
use super::paging::{PageCursor, Window};
use super::products::{AccountNode, CardNode, OnlineBankingNode, Shared};
use super::{access, errors};
use crate::auth::{Personal, Viewer};
use crate::cache::RequestScope;
use crate::config::GraphqlConfig;
use crate::domain::{
    Cif, Customer, CustomerKind, CustomerStatus, Gender, IdDocument, Loan, System,
};
use crate::upstream::{CustomerSearch, Upstreams};

/// Longest name prefix accepted: Chinese names are 2–4 characters, company names
/// rarely over 40.
const MAX_NAME_LEN: usize = 60;
/// ID numbers: 18 for resident IDs and USCCs, passports shorter.
const MAX_ID_NUMBER_LEN: usize = 32;

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// One customer by CIF, with whatever the query selects from the four systems.
    /// Null with a `NOT_FOUND` error when core banking does not know the CIF.
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> Result<Option<CustomerNode>> {
        access::no_lookup_by_cif(access::viewer(ctx), "id")?;
        let cif = Cif::parse(&id).map_err(|e| errors::bad_input("id", e))?;
        let viewer = access::viewer(ctx);
        access::precheck(viewer, &cif)?;
        let loaders = ctx.data_unchecked::<Loaders>();
        let selection = Selection::of(ctx.look_ahead());
        let cifs = [cif.clone()];
        let (outcome, ()) = tokio::join!(
            loaders::one_now(&loaders.customers, &cif),
            selection.prefetch(loaders, &cifs)
        );
        match found(&outcome)? {
            Some(customer) => {
                access::admit(viewer, &customer)?;
                Ok(Some(CustomerNode::new(customer, &outcome, selection)))
            }
            None => Err(errors::not_found(format!("customer {cif}"))),
        }
    }

    /// Up to `graphql.max_ids` (100) customers by CIF, in the order of `ids`; null
    /// where a CIF is unknown (with a `NOT_FOUND` error at that index). One batched
    /// call per system, whatever the number of ids.
    async fn customers(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> Result<Vec<Option<CustomerNode>>> {
        access::no_lookup_by_cif(access::viewer(ctx), "ids")?;
        let config = ctx.data_unchecked::<GraphqlConfig>();
        if ids.len() > config.max_ids {
            return Err(errors::bad_input(
                "ids",
                format!("at most {} ids per call, got {}", config.max_ids, ids.len()),
            ));
        }
        let cifs = ids
            .iter()
            .enumerate()
            .map(|(i, id)| Cif::parse(id).map_err(|e| errors::bad_input(&format!("ids[{i}]"), e)))
            .collect::<Result<Vec<_>>>()?;
        let viewer = access::viewer(ctx);
        // CIFs the caller may not read are refused without being loaded.
        let refused: Vec<bool> = cifs
            .iter()
            .map(|cif| access::precheck(viewer, cif).is_err())
            .collect();
        let wanted: Vec<Cif> = cifs
            .iter()
            .zip(&refused)
            .filter(|(_, refused)| !**refused)
            .map(|(cif, _)| cif.clone())
            .collect();
        let loaders = ctx.data_unchecked::<Loaders>();
        let selection = Selection::of(ctx.look_ahead());
        let (outcomes, ()) = tokio::join!(
            loaders::many_now(&loaders.customers, &wanted),
            selection.prefetch(loaders, &wanted)
        );
        let mut nodes = Vec::with_capacity(cifs.len());
        for (index, cif) in cifs.iter().enumerate() {
            if refused[index] {
                item_error(ctx, index, errors::forbidden(format!("customer {cif}")));
                nodes.push(None);
                continue;
            }
            let node = match outcomes.get(cif) {
                Some(outcome) => match found(outcome) {
                    Ok(Some(customer)) => match access::admit(viewer, &customer) {
                        Ok(()) => Some(CustomerNode::new(customer, outcome, selection)),
                        Err(error) => {
                            item_error(ctx, index, error);
                            None
                        }
                    },
                    Ok(None) => {
                        item_error(ctx, index, errors::not_found(format!("customer {cif}")));
                        None
                    }
                    Err(error) => {
                        item_error(ctx, index, error);
                        None
                    }
                },
                None => None,
            };
            nodes.push(node);
        }
        Ok(nodes)
    }

    /// Finds customers by ID number or mobile (exact) or name (prefix: a surname
    /// finds everyone who has it). Several criteria narrow each other. Relay paging.
    async fn search_customers(
        &self,
        ctx: &Context<'_>,
        id_number: Option<String>,
        mobile: Option<String>,
        name: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<PageCursor, CustomerNode>> {
        let search = parse_search(id_number, mobile, name)?;
        let config = ctx.data_unchecked::<GraphqlConfig>();
        let window = Window::parse(first, after, config)?;
        let upstreams = ctx.data_unchecked::<Upstreams>();
        let scope = ctx.data_unchecked::<Arc<RequestScope>>();
        let page = upstreams
            .search_customers(&search, window.request(), scope)
            .await
            .map_err(|e| errors::upstream(&e))?;
        let fetched = Outcome::nothing();
        let look_ahead = ctx.look_ahead();
        let node = look_ahead.field("edges").field("node");
        let selection = if node.exists() {
            Selection::of(node)
        } else {
            Selection::of(look_ahead.field("nodes"))
        };
        let (mut edges, has_next) = window.slice(page);
        // Search finds within the caller's scope: customers outside it are left out,
        // not shown as errors, so a search cannot probe who banks elsewhere.
        let viewer = access::viewer(ctx);
        edges.retain(|(_, customer)| access::admit(viewer, customer).is_ok());
        let cifs: Vec<Cif> = edges.iter().map(|(_, c)| c.id.clone()).collect();
        selection
            .prefetch(ctx.data_unchecked::<Loaders>(), &cifs)
            .await;
        let mut connection = Connection::new(window.after != PageCursor::default(), has_next);
        connection
            .edges
            .extend(edges.into_iter().map(|(cursor, customer)| {
                Edge::new(
                    cursor,
                    CustomerNode::new(Arc::new(customer), &fetched, selection),
                )
            }));
        Ok(connection)
    }
}

/// Adds an error at `customers[index]` while the list itself still answers.
fn item_error(ctx: &Context<'_>, index: usize, error: async_graphql::Error) {
    let mut server_error: ServerError = error.into_server_error(ctx.item.pos);
    server_error.path = vec![
        async_graphql::PathSegment::Field(ctx.item.node.response_key().node.to_string()),
        async_graphql::PathSegment::Index(index),
    ];
    ctx.add_error(server_error);
}

/// The customer record in an outcome: `Ok(None)` when core does not know the CIF.
fn found(outcome: &Outcome<Customer>) -> Result<Option<Arc<Customer>>> {
    match &outcome.items {
        Ok(items) => Ok(items.first().cloned().map(Arc::new)),
        Err(error) => Err(errors::upstream(error)),
    }
}

fn parse_search(
    id_number: Option<String>,
    mobile: Option<String>,
    name: Option<String>,
) -> Result<CustomerSearch> {
    let clean =
        |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let id_number = clean(id_number);
    let mobile = clean(mobile).map(|m| m.replace([' ', '-'], ""));
    let name = clean(name);
    if let Some(id) = &id_number {
        if id.chars().count() > MAX_ID_NUMBER_LEN || !id.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(errors::bad_input(
                "idNumber",
                format!("letters and digits only, at most {MAX_ID_NUMBER_LEN}"),
            ));
        }
    }
    if let Some(m) = &mobile {
        let digits = m.strip_prefix("+86").unwrap_or(m);
        if !(5..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(errors::bad_input(
                "mobile",
                "5 to 15 digits, optionally after +86",
            ));
        }
    }
    if let Some(n) = &name {
        if n.chars().count() > MAX_NAME_LEN {
            return Err(errors::bad_input(
                "name",
                format!("at most {MAX_NAME_LEN} characters"),
            ));
        }
    }
    if id_number.is_none() && mobile.is_none() && name.is_none() {
        return Err(errors::bad_input(
            "searchCustomers",
            "give at least one of idNumber, mobile, name",
        ));
    }
    Ok(CustomerSearch {
        id_number: id_number.map(|i| i.to_ascii_uppercase()),
        mobile: mobile.map(|m| m.strip_prefix("+86").map(str::to_owned).unwrap_or(m)),
        name,
    })
}

/// The items of an outcome, or the error that nulls the field.
fn items<T: Clone>(outcome: &Outcome<T>) -> Result<Arc<Vec<T>>> {
    outcome.items.clone().map_err(|e| errors::upstream(&e))
}

pub struct SourceStatus {
    system: String,
    fetched_at: DateTime<Utc>,
    from_cache: bool,
    stale: bool,
    error: Option<String>,
}

/// How one system answered for this customer in this request.
#[Object]
impl SourceStatus {
    /// `core`, `cards`, `loans` or `channels`.
    async fn system(&self) -> &str {
        &self.system
    }

    async fn fetched_at(&self) -> DateTime<Utc> {
        self.fetched_at
    }

    /// Whether the data came from the hub's cache (an entity tier, or a whole answer
    /// replayed from the response tier) rather than from the system for this
    /// request.
    async fn from_cache(&self, ctx: &Context<'_>) -> bool {
        if !self.from_cache {
            // A copy of this answer kept for replay will say `true` here.
            if let (Some(scope), Some(node)) =
                (ctx.data_opt::<Arc<RequestScope>>(), ctx.path_node.as_ref())
            {
                scope.fetched_field(response_path(node));
            }
        }
        self.from_cache
    }

    /// Served from cache past its time to live because the system failed.
    async fn stale(&self) -> bool {
        self.stale
    }

    /// The error code when the system failed (e.g. `UPSTREAM_TIMEOUT`), else null.
    async fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// Where a field sits in the response's `data`, from its root field down.
fn response_path(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|node| match node.segment {
            QueryPathSegment::Index(i) => PathSegment::Index(i),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        })
        .collect();
    path.reverse();
    path
}

fn status<T>(system: System, outcome: &Outcome<T>) -> SourceStatus {
    SourceStatus {
        system: system.as_str().to_owned(),
        fetched_at: outcome.fetched_at,
        from_cache: outcome.from_cache,
        stale: outcome.stale,
        error: outcome
            .items
            .as_ref()
            .err()
            .map(|e| e.kind.code().as_str().to_owned()),
    }
}

#[Object(name = "Customer")]
impl CustomerNode {
    /// The CIF; for a pseudonymous role, the customer's pseudonym (docs/bi.md).
    async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(access::viewer(ctx).customer_id(&self.customer.id))
    }

    async fn kind(&self) -> CustomerKind {
        self.customer.kind
    }

    /// Masked (surname kept) unless the caller may see names.
    async fn name(&self, ctx: &Context<'_>) -> Option<String> {
        Some(ctx.data_unchecked::<Viewer>().show(
            &self.customer.id,
            Personal::Name,
            &self.customer.name,
        ))
    }

    /// The number is masked (region and last four kept) unless the caller may see it.
    async fn id_document(&self, ctx: &Context<'_>) -> Option<IdDocument> {
        Some(IdDocument {
            id_type: self.customer.id_document.id_type,
            number: ctx.data_unchecked::<Viewer>().show(
                &self.customer.id,
                Personal::IdNumber,
                &self.customer.id_document.number,
            ),
        })
    }

    async fn mobile(&self, ctx: &Context<'_>) -> Option<String> {
        let viewer = ctx.data_unchecked::<Viewer>();
        self.customer
            .mobile
            .as_deref()
            .map(|m| viewer.show(&self.customer.id, Personal::Mobile, m))
    }

    async fn email(&self, ctx: &Context<'_>) -> Option<String> {
        let viewer = ctx.data_unchecked::<Viewer>();
        self.customer
            .email
            .as_deref()
            .map(|m| viewer.show(&self.customer.id, Personal::Email, m))
    }

    /// `YYYY-MM-DD`; masked to the year (`1990-**-**`) unless the caller may see birth
    /// dates: with the ID number's last four and the district, the full date rebuilds
    /// the ID number.
    async fn birth_date(&self, ctx: &Context<'_>) -> Option<String> {
        let viewer = ctx.data_unchecked::<Viewer>();
        self.customer.birth_date.map(|d| {
            viewer.show(
                &self.customer.id,
                Personal::BirthDate,
                &d.format("%Y-%m-%d").to_string(),
            )
        })
    }

    async fn gender(&self) -> Option<Gender> {
        self.customer.gender
    }

    /// Down to the district unless the caller may see addresses.
    async fn address(&self, ctx: &Context<'_>) -> Option<String> {
        let viewer = ctx.data_unchecked::<Viewer>();
        self.customer
            .address
            .as_deref()
            .map(|a| viewer.show(&self.customer.id, Personal::Address, a))
    }

    async fn occupation(&self) -> Option<&str> {
        self.customer.occupation.as_deref()
    }

    /// Branch number of the customer's home branch.
    async fn branch(&self) -> Option<&str> {
        self.customer.branch.as_deref()
    }

    /// Staff number of the relationship manager.
    async fn relationship_manager(&self) -> Option<&str> {
        self.customer.relationship_manager.as_deref()
    }

    async fn onboarded_at(&self) -> Option<NaiveDate> {
        self.customer.onboarded_at
    }

    async fn status(&self) -> CustomerStatus {
        self.customer.status
    }

    /// Deposit accounts, from core banking. Null with an error if core fails.
    async fn accounts(&self, ctx: &Context<'_>) -> Option<Vec<AccountNode>> {
        let outcome = load::<crate::domain::Account>(ctx, &self.customer.id).await;
        let accounts = errors::degrade(ctx, items(&outcome))?;
        Some(Shared::each(&accounts).map(AccountNode::new).collect())
    }

    /// Debit and credit cards, from the card system. Null with an error if it fails.
    async fn cards(&self, ctx: &Context<'_>) -> Option<Vec<CardNode>> {
        let outcome = load::<crate::domain::Card>(ctx, &self.customer.id).await;
        let cards = errors::degrade(ctx, items(&outcome))?;
        Some(Shared::each(&cards).map(CardNode::new).collect())
    }

    /// Loans, from the loan system. Null with an error if it fails.
    async fn loans(&self, ctx: &Context<'_>) -> Option<Vec<Loan>> {
        let outcome = load::<Loan>(ctx, &self.customer.id).await;
        errors::degrade(ctx, items(&outcome)).map(|loans| loans.to_vec())
    }

    /// Internet and mobile banking enrolment; null when the customer has none (or,
    /// with an error, when the channel system fails).
    async fn online_banking(&self, ctx: &Context<'_>) -> Option<OnlineBankingNode> {
        let outcome = load::<crate::domain::OnlineUser>(ctx, &self.customer.id).await;
        let users = errors::degrade(ctx, items(&outcome))?;
        Shared::first(&users).map(OnlineBankingNode::new)
    }

    /// Where this customer's data came from in this request: one entry per system the
    /// query touched (core always), with time, cache use and any error.
    async fn sources(&self, ctx: &Context<'_>) -> Vec<SourceStatus> {
        let core = Outcome::<Customer> {
            items: Ok(Arc::new(Vec::new())),
            fetched_at: self.fetched_at,
            from_cache: self.from_cache,
            stale: self.stale,
        };
        let mut statuses = vec![status(System::Core, &core)];
        let s = self.selection;
        let cif = &self.customer.id;
        if s.accounts {
            let accounts = load::<crate::domain::Account>(ctx, cif).await;
            if accounts.items.is_err() {
                statuses[0] = status(System::Core, &accounts);
            }
        }
        if s.cards {
            statuses.push(status(
                System::Cards,
                &load::<crate::domain::Card>(ctx, cif).await,
            ));
        }
        if s.loans {
            statuses.push(status(System::Loans, &load::<Loan>(ctx, cif).await));
        }
        if s.online_banking {
            statuses.push(status(
                System::Channels,
                &load::<crate::domain::OnlineUser>(ctx, cif).await,
            ));
        }
        statuses
    }

    /// The person behind this CIF: every customer record sharing its verified ID
    /// number (banks carry duplicates opened at different branches).
    async fn party(&self, ctx: &Context<'_>) -> Option<super::party::PartyNode> {
        errors::degrade(ctx, super::party::party(ctx, &self.customer).await)
    }

    /// Family, joint holders, guarantors and corporate control, from core banking.
    async fn relationships(
        &self,
        ctx: &Context<'_>,
    ) -> Option<Vec<super::party::RelationshipNode>> {
        errors::degrade(ctx, super::party::relationships(ctx, &self.customer).await)
    }

    /// Spouse, parents, children and joint holders, with holdings rolled up; null
    /// when the customer has none.
    async fn household(&self, ctx: &Context<'_>) -> Option<super::party::HouseholdNode> {
        errors::degrade(ctx, super::party::household(ctx, &self.customer).await).flatten()
    }

    /// Totals across the customer's products in CNY (and per currency): AUM, deposits,
    /// loans outstanding, credit limit and use, products by line. Null with an error
    /// when a system holding products fails: a partial total would mislead.
    async fn holdings(&self, ctx: &Context<'_>) -> Option<crate::insights::Holdings> {
        errors::degrade(ctx, super::insights::holdings(ctx, &self.customer).await)
    }

    /// Tier, lifecycle stage, value, churn risk, satisfaction and next best offers,
    /// each with the reasons that produced it (`config/insights.toml`).
    async fn insights(&self, ctx: &Context<'_>) -> Option<crate::insights::Insights> {
        errors::degrade(ctx, super::insights::insights(ctx, &self.customer).await)
    }

    /// The customer's contact history (the hub's own records), newest first, with
    /// keyset cursor paging. Null with `STORE_UNAVAILABLE` while the database is down.
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<super::interactions::TimelineFilter>,
    ) -> Option<super::interactions::InteractionConnection> {
        let page = super::interactions::timeline(ctx, &self.customer.id, first, after, filter);
        errors::degrade(ctx, page.await)
    }

    /// The current consent per purpose and channel (the latest record of each).
    async fn consents(&self, ctx: &Context<'_>) -> Option<Vec<super::consents::ConsentNode>> {
        errors::degrade(ctx, super::consents::current(ctx, &self.customer.id).await)
    }

    /// Every consent record, newest first.
    async fn consent_history(
        &self,
        ctx: &Context<'_>,
    ) -> Option<Vec<super::consents::ConsentNode>> {
        errors::degrade(ctx, super::consents::history(ctx, &self.customer.id).await)
    }

    /// Preferred channel, quiet hours, do-not-contact; null when never recorded.
    async fn contact_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<super::consents::ContactPreferencesNode>> {
        super::consents::preferences(ctx, &self.customer.id).await
    }

    /// May the bank contact this customer for `purpose` on `channel` at `at` (now
    /// when omitted)? Do-not-contact, then consent, then quiet hours. Null with
    /// `STORE_UNAVAILABLE` while the database is down.
    async fn may_contact(
        &self,
        ctx: &Context<'_>,
        purpose: crate::domain::ConsentPurpose,
        channel: crate::domain::ContactChannel,
        at: Option<DateTime<Utc>>,
    ) -> Option<crate::domain::ContactDecision> {
        let decision = super::consents::decision(ctx, &self.customer.id, purpose, channel, at);
        errors::degrade(ctx, decision.await)
    }
}

async fn load<T: PerCustomer + LoaderOf>(ctx: &Context<'_>, cif: &Cif) -> Outcome<T> {
    loaders::one(T::loader(ctx.data_unchecked::<Loaders>()), cif).await
}

/// Which loader of the request serves an entity.
pub trait LoaderOf: PerCustomer {
    fn loader(loaders: &Loaders) -> &loaders::Load<Self>;
}

macro_rules! loader_of {
    ($type:ty, $field:ident) => {
        impl LoaderOf for $type {
            fn loader(loaders: &Loaders) -> &loaders::Load<Self> {
                &loaders.$field
            }
        }
    };
}

loader_of!(crate::domain::Account, accounts);
loader_of!(crate::domain::Card, cards);
loader_of!(Loan, loans);
loader_of!(crate::domain::OnlineUser, online_users);
