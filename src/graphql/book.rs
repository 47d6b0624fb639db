//! BI over the whole book: `customerBook` (a connection over every customer the
//! caller may read, filtered by branch, tier, lifecycle stage and churn level) and
//! `segmentSummary` (counts and AUM per segment).
//!
//! The book is read from core banking a page of 100 at a time; each page's products,
//! activity and relationships come in one batched call per system (the request's
//! loaders batch what the page's customers ask for concurrently), through the cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::insights::Gathered;
use super::loaders::Outcome;
use super::node::{CustomerNode, Selection};
use super::{access, errors};
use crate::cache::RequestScope;
use crate::config::GraphqlConfig;
use crate::connectors::PageRequest;
use std::collections::HashMap;

use crate::domain::{Cif, Customer, Money};
use crate::insights::{ChurnLevel, InsightConfig, LifecycleStage, Prospect, Tier};
use crate::store::{SnapshotDimension, SnapshotFilter};
use crate::upstream::Upstreams;

/// Customers read from core per call.
const BOOK_PAGE: usize = 100;
/// Pages of the book one `customerBook` call looks through for matches before it
/// answers with what it found (and `resumeAfter` to go on).
const MAX_PAGES_PER_CALL: usize = 20;

#[derive(InputObject, Default, Clone)]
pub struct BookFilter {
    /// Home branch number.
    branch: Option<String>,
    tier: Option<Tier>,
    lifecycle_stage: Option<LifecycleStage>,
    churn_level: Option<ChurnLevel>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SegmentDimension {
    Tier,
    LifecycleStage,
    Branch,
    ChurnLevel,
}

/// One segment: its key (one value per `groupBy` dimension, in order), how many
/// customers, and their AUM and deposits in CNY.
#[derive(SimpleObject)]
pub struct SegmentStat {
    key: Vec<String>,
    count: i32,
    aum: Money,
    /// Deposits held today, in CNY: moves with each change event, where AUM, a
    /// three-month average, moves with the month's figures.
    deposits: Money,
    /// This row holds the segments too small to show on their own to a pseudonymous
    /// role (fewer than `bi.min_group_size` customers); its key is `OTHER` in every
    /// dimension.
    is_other: bool,
    /// How many segments were folded into this row (0 for a segment of its own).
    folded_groups: i32,
    /// The figures are as of this time or later: the oldest snapshot row counted
    /// (the time of the call for customers read live).
    as_of: DateTime<Utc>,
}

/// The key of the row segments too small to show are folded into.
const OTHER: &str = "OTHER";

/// A customer of the book with the figures its segment comes from.
#[derive(SimpleObject)]
pub struct BookEntry {
    customer: CustomerNode,
    tier: Tier,
    lifecycle_stage: LifecycleStage,
    churn_level: ChurnLevel,
    /// Assets under management, CNY.
    aum: Money,
    /// When these figures were computed: the snapshot row's time, or the call's for a
    /// book read live.
    as_of: DateTime<Utc>,
}

/// Where in the book an entry is: the core page it came from and its place in it,
/// or, for a book read from the snapshot, the last CIF passed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BookCursor {
    /// Core's page key (absent for the first page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    /// Customers of that page already passed.
    #[serde(default)]
    s: usize,
    /// The snapshot's last CIF passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

impl CursorType for BookCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "not a cursor of this list".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "not a cursor of this list".to_owned())
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursors serialize"))
    }
}

/// Extra fields of a book page.
#[derive(SimpleObject)]
pub struct BookPage {
    /// Where the scan stopped: pass as `after` to go on even when this page found no
    /// match (a rare segment can take several calls).
    resume_after: Option<String>,
}

pub type BookConnection = Connection<BookCursor, BookEntry, BookPage>;

struct Figures {
    tier: Tier,
    lifecycle_stage: LifecycleStage,
    churn_level: ChurnLevel,
    aum: Decimal,
    deposits: Decimal,
    prospect: Option<Prospect>,
}

impl Figures {
    fn matches(&self, filter: &BookFilter) -> bool {
        filter.tier.is_none_or(|t| t == self.tier)
            && filter
                .lifecycle_stage
                .is_none_or(|s| s == self.lifecycle_stage)
            && filter.churn_level.is_none_or(|c| c == self.churn_level)
    }
}

/// The figures of each customer of a page, computed concurrently so that their reads
/// are batched.
async fn figures(ctx: &Context<'_>, customers: &[Arc<Customer>]) -> Result<Vec<Figures>> {
    let config = ctx.data_unchecked::<Arc<InsightConfig>>();
    let gathered = futures::future::join_all(
        customers
            .iter()
            .map(|c| Gathered::merged(ctx, c, std::slice::from_ref(c), true)),
    )
    .await;
    gathered
        .into_iter()
        .map(|g| {
            let g = g?;
            let inputs = g.inputs();
            let insights = crate::insights::insights(config, &inputs);
            let (holdings, _) = crate::insights::holdings(config, &inputs);
            Ok(Figures {
                tier: insights.tier,
                lifecycle_stage: insights.lifecycle_stage,
                churn_level: insights.churn_risk.level,
                aum: holdings.aum.amount,
                deposits: holdings.deposits.amount,
                prospect: crate::insights::prospect(config, &inputs),
            })
        })
        .collect()
}

async fn page(
    ctx: &Context<'_>,
    branch: Option<&str>,
    key: Option<String>,
) -> Result<(Vec<Arc<Customer>>, Option<String>)> {
    let upstreams = ctx.data_unchecked::<Upstreams>();
    let scope = ctx.data_unchecked::<Arc<RequestScope>>();
    let page = upstreams
        .customer_book(
            branch,
            PageRequest {
                limit: BOOK_PAGE,
                key,
            },
            scope,
        )
        .await
        .map_err(|e| errors::upstream(&e))?;
    Ok((
        page.items.iter().cloned().map(Arc::new).collect(),
        page.next_page_key.clone(),
    ))
}

fn cny(amount: Decimal) -> Money {
    Money {
        amount: crate::domain::to_fen(amount),
        currency: "CNY".into(),
        group_size: None,
    }
}

/// What a segment's row totals: customers, their AUM and deposits (CNY, each
/// customer's rounded to the fen), and the oldest time of the figures counted.
#[derive(Debug, Clone, Copy)]
struct Totals {
    count: i32,
    aum: Decimal,
    deposits: Decimal,
    as_of: DateTime<Utc>,
}

impl Totals {
    fn none(now: DateTime<Utc>) -> Totals {
        Totals {
            count: 0,
            aum: Decimal::ZERO,
            deposits: Decimal::ZERO,
            as_of: now,
        }
    }

    fn add(&mut self, other: &Totals) {
        self.count += other.count;
        self.aum += other.aum;
        self.deposits += other.deposits;
        self.as_of = self.as_of.min(other.as_of);
    }
}

/// A segment's row: its amounts are totals over `count` customers.
fn segment_row(key: Vec<String>, totals: Totals, folded_groups: i32) -> SegmentStat {
    let group = |amount| Money {
        group_size: u32::try_from(totals.count).ok(),
        ..cny(amount)
    };
    SegmentStat {
        is_other: folded_groups > 0,
        key,
        count: totals.count,
        aum: group(totals.aum),
        deposits: group(totals.deposits),
        folded_groups,
        as_of: totals.as_of,
    }
}

/// The refusal of a question about fewer than `k` customers.
fn too_few(k: usize) -> async_graphql::Error {
    errors::deidentified(
        "filter",
        format!(
            "selects fewer than {k} customers, and this role is shown no group that small \
             (bi.min_group_size); widen the filter"
        ),
    )
}

/// Segments as a pseudonymous role may see them: every segment of fewer than `k`
/// customers is folded into one `OTHER` row. Should that row itself hold fewer than
/// `k`, the smallest segments that could stand alone join it too (otherwise the total
/// less the rows shown would give it away); a book of fewer than `k` customers in all
/// is refused.
fn fold_small(
    segments: BTreeMap<Vec<String>, Totals>,
    dimensions: usize,
    k: usize,
) -> Result<Vec<SegmentStat>> {
    let (mut kept, small): (Vec<_>, Vec<_>) = segments
        .into_iter()
        .partition(|(_, totals)| totals.count as usize >= k);
    if small.is_empty() {
        return Ok(kept
            .into_iter()
            .map(|(key, totals)| segment_row(key, totals, 0))
            .collect());
    }
    let mut folded = small.len() as i32;
    let now = Utc::now();
    let mut other = Totals::none(now);
    for (_, totals) in &small {
        other.add(totals);
    }
    kept.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(&b.0)));
    while (other.count as usize) < k {
        let Some((_, more)) = kept.pop() else {
            return Err(too_few(k));
        };
        other.add(&more);
        folded += 1;
    }
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rows: Vec<SegmentStat> = kept
        .into_iter()
        .map(|(key, totals)| segment_row(key, totals, 0))
        .collect();
    rows.push(segment_row(
        vec![OTHER.to_owned(); dimensions],
        other,
        folded,
    ));
    Ok(rows)
}

#[derive(InputObject, Default)]
pub struct ProspectFilter {
    /// Home branch number.
    branch: Option<String>,
}

/// A customer the rules suggest a product for.
#[derive(SimpleObject)]
pub struct ProspectEntry {
    customer: CustomerNode,
    prospect: Prospect,
}

fn node(customer: Arc<Customer>) -> CustomerNode {
    let fetched = Outcome::<Customer>::nothing();
    CustomerNode::new(customer, &fetched, Selection::default())
}

/// Refuses, for a pseudonymous role, a question whose answer is a group of fewer than
/// `k` customers: pages through the book from its start until `k` customers match.
/// A rare filter costs a scan of the book (bounded like `segmentSummary`'s); a common
/// one, its first page.
async fn at_least<T>(
    ctx: &Context<'_>,
    branch: Option<&str>,
    k: usize,
    pick: &impl Fn(Arc<Customer>, Figures) -> Option<T>,
) -> Result<()> {
    let limit = ctx.data_unchecked::<GraphqlConfig>().max_book_scan;
    let viewer = access::viewer(ctx);
    let mut key: Option<String> = None;
    let mut scanned = 0usize;
    let mut found = 0usize;
    loop {
        let (customers, next) = page(ctx, branch, key).await?;
        scanned += customers.len();
        let readable: Vec<Arc<Customer>> = customers
            .into_iter()
            .filter(|c| viewer.may_read(c))
            .collect();
        let figures = figures(ctx, &readable).await?;
        for (customer, figures) in readable.into_iter().zip(figures) {
            if pick(customer, figures).is_some() {
                found += 1;
                if found >= k {
                    return Ok(());
                }
            }
        }
        match next {
            Some(next) if scanned < limit => key = Some(next),
            _ => return Err(too_few(k)),
        }
    }
}

/// Pages through the book from `after`, keeping what `pick` makes of each customer
/// the caller may read, until `first` are kept or [`MAX_PAGES_PER_CALL`] pages were
/// looked through. Kept customers are read (and audited); the others only counted.
async fn scan<T: async_graphql::OutputType>(
    ctx: &Context<'_>,
    branch: Option<&str>,
    first: Option<i32>,
    after: Option<String>,
    marketing: bool,
    pick: impl Fn(Arc<Customer>, Figures) -> Option<T>,
) -> Result<Connection<BookCursor, T, BookPage>> {
    let first = super::paging::page_size(first, ctx.data_unchecked::<GraphqlConfig>())?;
    let mut cursor = match after {
        Some(raw) => BookCursor::decode_cursor(&raw).map_err(|e| errors::bad_input("after", e))?,
        None => BookCursor::default(),
    };
    let started_after = cursor != BookCursor::default();
    let viewer = access::viewer(ctx);
    if let Some(k) = viewer.min_group_size() {
        at_least(ctx, branch, k, &pick).await?;
    }
    let mut edges = Vec::new();
    let mut has_next = false;
    for _ in 0..MAX_PAGES_PER_CALL {
        let (customers, next) = page(ctx, branch, cursor.k.clone()).await?;
        let skip = cursor.s.min(customers.len());
        let candidates: Vec<(usize, Arc<Customer>)> = customers
            .iter()
            .enumerate()
            .skip(skip)
            .filter(|(_, c)| viewer.may_read(c))
            .map(|(i, c)| (i, c.clone()))
            .collect();
        let list: Vec<Arc<Customer>> = candidates.iter().map(|(_, c)| c.clone()).collect();
        let mut figures = figures(ctx, &list).await?;
        if marketing {
            withhold_refused(ctx, &list, &mut figures).await?;
        }
        let mut filled = false;
        for ((index, customer), figures) in candidates.into_iter().zip(figures) {
            let Some(item) = pick(customer.clone(), figures) else {
                continue;
            };
            access::admit(viewer, &customer)?;
            let position = BookCursor {
                k: cursor.k.clone(),
                s: index + 1,
                c: None,
            };
            edges.push(Edge::new(position.clone(), item));
            cursor = position;
            if edges.len() == first {
                filled = true;
                break;
            }
        }
        if filled {
            has_next = cursor.s < customers.len() || next.is_some();
            break;
        }
        match next {
            Some(next) => {
                cursor = BookCursor {
                    k: Some(next),
                    s: 0,
                    c: None,
                };
                has_next = true;
            }
            None => {
                cursor = BookCursor {
                    k: cursor.k.clone(),
                    s: customers.len(),
                    c: None,
                };
                has_next = false;
                break;
            }
        }
    }
    let mut connection = Connection::with_additional_fields(
        started_after,
        has_next,
        BookPage {
            resume_after: has_next.then(|| cursor.encode_cursor()),
        },
    );
    connection.edges.extend(edges);
    Ok(connection)
}

/// Drops the prospect of every customer of `customers` who asked not to be
/// contacted or withdrew marketing consent: a prospect list is a campaign list, and
/// the rules that refuse a MARKETING contact refuse a place on it. Read from the
/// hub's own records at the time of the call, never from a cache.
async fn withhold_refused(
    ctx: &Context<'_>,
    customers: &[Arc<Customer>],
    figures: &mut [Figures],
) -> Result<()> {
    let candidates: Vec<_> = customers
        .iter()
        .zip(figures.iter())
        .filter(|(_, f)| f.prospect.is_some())
        .map(|(c, _)| c.id.clone())
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let refused = super::own_records(ctx)
        .marketing_refused_among(&candidates)
        .await
        .map_err(|e| errors::store(&e))?;
    for (customer, figures) in customers.iter().zip(figures.iter_mut()) {
        if refused.contains(&customer.id) {
            figures.prospect = None;
        }
    }
    Ok(())
}

#[derive(Default)]
pub struct BookQuery;

#[Object]
impl BookQuery {
    /// Every customer the caller may read, in CIF order, with tier, lifecycle stage,
    /// churn level and AUM; filtered by any of them and by branch. Relay paging. Read
    /// from the BI snapshot once a sweep has gone through the whole book (keyset
    /// paging, any depth); before that, from the systems, a call looking through at
    /// most 2,000 customers and saying in `resumeAfter` where it stopped.
    async fn customer_book(
        &self,
        ctx: &Context<'_>,
        filter: Option<BookFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<BookConnection> {
        let filter = filter.unwrap_or_default();
        if coverage(ctx).await?.complete {
            return snapshot_book(ctx, &filter, first, after).await;
        }
        let branch = filter.branch.clone();
        let now = Utc::now();
        scan(
            ctx,
            branch.as_deref(),
            first,
            after,
            false,
            |customer, figures| {
                figures.matches(&filter).then(|| BookEntry {
                    customer: node(customer),
                    tier: figures.tier,
                    lifecycle_stage: figures.lifecycle_stage,
                    churn_level: figures.churn_level,
                    aum: cny(figures.aum),
                    as_of: now,
                })
            },
        )
        .await
    }

    /// Potential customers for a product: online-banking users and single-product
    /// customers whose signals (high inflow, idle balances) suggest one, each with
    /// the suggested product and why. Customers who asked not to be contacted, or
    /// whose marketing consent is withdrawn on any channel, are left out. Paged like
    /// `customerBook`.
    async fn prospects(
        &self,
        ctx: &Context<'_>,
        filter: Option<ProspectFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<BookCursor, ProspectEntry, BookPage>> {
        let branch = filter.and_then(|f| f.branch);
        scan(
            ctx,
            branch.as_deref(),
            first,
            after,
            true,
            |customer, figures| {
                figures.prospect.map(|prospect| ProspectEntry {
                    customer: node(customer),
                    prospect,
                })
            },
        )
        .await
    }

    /// Customers and AUM per segment over the whole book the caller may read (one
    /// branch's with `filter.branch`), grouped by up to four dimensions at once.
    /// Answers aggregates only: no customer appears. Read from the BI snapshot; the
    /// customers it does not hold yet (a first sweep still under way) are read live
    /// from the systems. `asOf` says how old the oldest figure counted is. A
    /// pseudonymous role is shown no segment of fewer than `bi.min_group_size`
    /// customers: those are folded into one row with `isOther` (docs/bi.md).
    async fn segment_summary(
        &self,
        ctx: &Context<'_>,
        group_by: Vec<SegmentDimension>,
        filter: Option<BookFilter>,
    ) -> Result<Vec<SegmentStat>> {
        if group_by.is_empty() || group_by.len() > 4 {
            return Err(errors::bad_input("groupBy", "give 1 to 4 dimensions"));
        }
        let filter = filter.unwrap_or_default();
        let viewer = access::viewer(ctx);
        let store = super::own_records(ctx);
        let dimensions: Vec<SnapshotDimension> = group_by.iter().map(|d| d.stored()).collect();
        let mut segments: BTreeMap<Vec<String>, Totals> = BTreeMap::new();
        for total in store
            .snapshot_segments(
                &viewer.snapshot_scope(),
                &filter.stored(),
                &dimensions,
                None,
            )
            .await
            .map_err(|e| errors::store(&e))?
        {
            let count = i32::try_from(total.count).unwrap_or(i32::MAX);
            segments.insert(
                total.key,
                Totals {
                    count,
                    aum: Decimal::new(total.aum_fen, 2),
                    deposits: Decimal::new(total.deposits_fen, 2),
                    as_of: total.as_of,
                },
            );
        }
        let coverage = coverage(ctx).await?;
        if !coverage.complete {
            live_segments(ctx, &group_by, &filter, coverage.live_from, &mut segments).await?;
        }
        match viewer.min_group_size() {
            Some(k) => fold_small(segments, group_by.len(), k),
            None => Ok(segments
                .into_iter()
                .map(|(key, totals)| segment_row(key, totals, 0))
                .collect()),
        }
    }
}

impl SegmentDimension {
    fn stored(self) -> SnapshotDimension {
        match self {
            SegmentDimension::Tier => SnapshotDimension::Tier,
            SegmentDimension::LifecycleStage => SnapshotDimension::LifecycleStage,
            SegmentDimension::Branch => SnapshotDimension::Branch,
            SegmentDimension::ChurnLevel => SnapshotDimension::ChurnLevel,
        }
    }
}

impl BookFilter {
    fn stored(&self) -> SnapshotFilter {
        SnapshotFilter {
            branch: self.branch.clone(),
            tier: self.tier.map(|t| t.as_str().to_owned()),
            lifecycle_stage: self.lifecycle_stage.map(|s| s.as_str().to_owned()),
            churn_level: self.churn_level.map(|c| c.as_str().to_owned()),
            no_branch: false,
        }
    }
}

/// How much of the book the snapshot holds.
struct Coverage {
    /// A sweep went through the whole book: read the snapshot only.
    complete: bool,
    /// Otherwise, where the first sweep got to: customers from there on are read
    /// live (all of them when no sweep has started).
    live_from: Option<String>,
}

async fn coverage(ctx: &Context<'_>) -> Result<Coverage> {
    let store = super::own_records(ctx);
    if store
        .last_complete_snapshot_run()
        .await
        .map_err(|e| errors::store(&e))?
        .is_some()
    {
        return Ok(Coverage {
            complete: true,
            live_from: None,
        });
    }
    let open = store
        .open_snapshot_run()
        .await
        .map_err(|e| errors::store(&e))?;
    Ok(Coverage {
        complete: false,
        live_from: open.and_then(|run| run.checkpoint),
    })
}

/// A stored code read back into its GraphQL enum.
fn code<T: serde::de::DeserializeOwned>(field: &str, raw: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
        errors::store(&crate::store::StoreError::Corrupt(format!(
            "the BI snapshot holds an unknown {field} '{raw}'; rebuild it with `c360 snapshot build`"
        )))
    })
}

/// The book read from the snapshot: keyset paging over the rows the caller may read.
async fn snapshot_book(
    ctx: &Context<'_>,
    filter: &BookFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<BookConnection> {
    let first = super::paging::page_size(first, ctx.data_unchecked::<GraphqlConfig>())?;
    let cursor = match after {
        Some(raw) => BookCursor::decode_cursor(&raw).map_err(|e| errors::bad_input("after", e))?,
        None => BookCursor::default(),
    };
    let started_after = cursor.c.is_some();
    let viewer = access::viewer(ctx);
    let store = super::own_records(ctx);
    let scope = viewer.snapshot_scope();
    let stored = filter.stored();
    if let Some(k) = viewer.min_group_size() {
        let count = store
            .snapshot_count(&scope, &stored, Some(k))
            .await
            .map_err(|e| errors::store(&e))?;
        if (count as usize) < k {
            return Err(too_few(k));
        }
    }
    let mut rows = store
        .snapshot_page(&scope, &stored, cursor.c.as_deref(), first + 1)
        .await
        .map_err(|e| errors::store(&e))?;
    let has_next = rows.len() > first;
    rows.truncate(first);
    let cifs: Vec<Cif> = rows
        .iter()
        .filter_map(|r| Cif::parse(&r.cif).ok())
        .collect();
    let upstreams = ctx.data_unchecked::<Upstreams>();
    let request = ctx.data_unchecked::<Arc<RequestScope>>();
    let mut customers: HashMap<Cif, Arc<Customer>> = HashMap::new();
    for (cif, read) in upstreams.customers(&cifs, request).await {
        let fetched = read.map_err(|e| errors::upstream(&e))?;
        if let Some(customer) = fetched.value.first() {
            customers.insert(cif, Arc::new(customer.clone()));
        }
    }
    let mut edges = Vec::new();
    let mut last = None;
    for row in rows {
        last = Some(row.cif.clone());
        // A customer core no longer knows is left out, as the live book would.
        let Some(customer) = Cif::parse(&row.cif).ok().and_then(|c| customers.get(&c)) else {
            continue;
        };
        access::admit(viewer, customer)?;
        let entry = BookEntry {
            customer: node(customer.clone()),
            tier: code("tier", &row.tier)?,
            lifecycle_stage: code("lifecycle stage", &row.lifecycle_stage)?,
            churn_level: code("churn level", &row.churn_level)?,
            aum: cny(Decimal::new(row.aum_fen, 2)),
            as_of: row.computed_at,
        };
        let position = BookCursor {
            c: Some(row.cif),
            ..BookCursor::default()
        };
        edges.push(Edge::new(position, entry));
    }
    let mut connection = Connection::with_additional_fields(
        started_after,
        has_next,
        BookPage {
            resume_after: has_next
                .then(|| {
                    last.map(|c| {
                        BookCursor {
                            c: Some(c),
                            ..BookCursor::default()
                        }
                        .encode_cursor()
                    })
                })
                .flatten(),
        },
    );
    connection.edges.extend(edges);
    Ok(connection)
}

/// Adds to `segments` the customers the snapshot does not hold yet, read live from
/// core's page `from` on (bounded by `graphql.max_book_scan`, as before the snapshot).
async fn live_segments(
    ctx: &Context<'_>,
    group_by: &[SegmentDimension],
    filter: &BookFilter,
    from: Option<String>,
    segments: &mut BTreeMap<Vec<String>, Totals>,
) -> Result<()> {
    let limit = ctx.data_unchecked::<GraphqlConfig>().max_book_scan;
    let viewer = access::viewer(ctx);
    let store = super::own_records(ctx);
    let now = Utc::now();
    let mut key = from;
    let mut scanned = 0usize;
    loop {
        let (customers, next) = page(ctx, filter.branch.as_deref(), key.clone()).await?;
        let cifs: Vec<String> = customers.iter().map(|c| c.id.as_str().to_owned()).collect();
        let held = store
            .snapshot_holds(&cifs)
            .await
            .map_err(|e| errors::store(&e))?;
        let readable: Vec<Arc<Customer>> = customers
            .into_iter()
            .filter(|c| !held.contains(c.id.as_str()) && viewer.may_read(c))
            .collect();
        scanned += readable.len();
        if scanned > limit {
            return Err(errors::bad_input(
                "filter",
                format!(
                    "the BI snapshot does not hold this book yet and it holds more than {limit} \
                     customers to read live; run `c360 snapshot build`, or narrow it with \
                     filter.branch (graphql.max_book_scan)"
                ),
            ));
        }
        let figures = figures(ctx, &readable).await?;
        for (customer, figures) in readable.iter().zip(figures) {
            if !figures.matches(filter) {
                continue;
            }
            let key: Vec<String> = group_by
                .iter()
                .map(|d| match d {
                    SegmentDimension::Tier => figures.tier.as_str().to_owned(),
                    SegmentDimension::LifecycleStage => figures.lifecycle_stage.as_str().to_owned(),
                    SegmentDimension::Branch => {
                        customer.branch.clone().unwrap_or_else(|| "NONE".into())
                    }
                    SegmentDimension::ChurnLevel => figures.churn_level.as_str().to_owned(),
                })
                .collect();
            segments
                .entry(key)
                .or_insert_with(|| Totals::none(now))
                .add(&Totals {
                    count: 1,
                    aum: crate::domain::to_fen(figures.aum),
                    deposits: crate::domain::to_fen(figures.deposits),
                    as_of: now,
                });
        }
        match next {
            Some(next) => key = Some(next),
            None => return Ok(()),
        }
    }
}
