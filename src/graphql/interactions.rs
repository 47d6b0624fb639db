//! Interactions in the graph: `logInteraction`, `updateInteraction`, the
//! `interactions` and `interactionStats` root queries, `Customer.interactions`, and
//! the `interactionLogged` subscription.
//!
//! Resolvers stay thin: input is checked by [`NewInteraction::parse`], stored by
//! [`Store`], and announced on the [`Bus`] channel [`INTERACTIONS_CHANNEL`] once its
//! transaction has committed.

use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{
    Context, InputObject, MaybeUndefined, Object, Result, SimpleObject, Subscription, ID,
};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use uuid::Uuid;

use super::paging;
use super::{access, errors, identity};
use crate::auth::{Capability, ScopeRule, Viewer};
use crate::bus::Bus;
use crate::cache::RequestScope;
use crate::config::GraphqlConfig;
use crate::domain::{
    Cif, Interaction, InteractionChange, InteractionChannel, InteractionDimension,
    InteractionDirection, InteractionOutcome, InteractionType, InteractionUpdate, NewInteraction,
    RawInteraction,
};
use crate::store::{IdempotencyKey, InteractionFilter, MarketingLog, TimelineCursor};
use crate::upstream::Upstreams;

/// The bus channel on which every newly logged interaction is published (as the JSON
/// of [`Interaction`]).
pub const INTERACTIONS_CHANNEL: &str = "interactions";

/// Dimensions one `interactionStats` call may group by: four already make a table
/// nobody reads.
const MAX_DIMENSIONS: usize = 4;

/// A position in a list of interactions: the time and id of the last item seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InteractionCursor(TimelineCursor);

impl CursorType for InteractionCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let (occurred_at, id) = paging::decode_keyset(s)?;
        Ok(InteractionCursor(TimelineCursor { occurred_at, id }))
    }

    fn encode_cursor(&self) -> String {
        paging::encode_keyset(self.0.occurred_at, self.0.id)
    }
}

/// A stored interaction as the graph shows it.
pub struct InteractionNode(pub Interaction);

#[Object(name = "Interaction")]
impl InteractionNode {
    /// UUIDv7: sorts by creation time.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The customer's CIF; for a pseudonymous role, the customer's pseudonym.
    async fn customer_id(&self, ctx: &Context<'_>) -> ID {
        ID(access::viewer(ctx).customer_id(&self.0.customer_id))
    }

    async fn channel(&self) -> InteractionChannel {
        self.0.channel
    }

    #[graphql(name = "type")]
    async fn kind(&self) -> InteractionType {
        self.0.kind
    }

    async fn direction(&self) -> InteractionDirection {
        self.0.direction
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// When the hub committed the record.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }

    /// The staff member the contact is attributed to.
    async fn staff_id(&self) -> Option<&str> {
        Some(&self.0.staff_id)
    }

    /// The staff member who entered it for `staffId`, when that was someone else
    /// (the `act_for_staff` capability); null when staff logged their own contact.
    async fn recorded_by(&self) -> Option<&str> {
        self.0.recorded_by.as_deref()
    }

    async fn branch_id(&self) -> &str {
        &self.0.branch_id
    }

    async fn subject(&self) -> Option<&str> {
        Some(&self.0.subject)
    }

    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }

    async fn outcome(&self) -> Option<InteractionOutcome> {
        self.0.outcome
    }

    /// 1 (very dissatisfied) to 5 (very satisfied).
    async fn satisfaction(&self) -> Option<i32> {
        self.0.satisfaction.map(i32::from)
    }

    async fn follow_up_at(&self) -> Option<DateTime<Utc>> {
        self.0.follow_up_at
    }

    /// Product codes discussed.
    async fn products(&self) -> &[String] {
        &self.0.products
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// 0 when logged; +1 per `updateInteraction` that changed something.
    async fn revision(&self) -> i32 {
        self.0.revision
    }

    /// Every change made since it was logged, oldest first: who changed which field
    /// from what to what.
    async fn history(&self, ctx: &Context<'_>) -> Result<Option<Vec<InteractionChangeNode>>> {
        let store = super::own_records(ctx);
        let changes = store
            .interaction_history(self.0.id)
            .await
            .map_err(|e| errors::store(&e))?;
        Ok(Some(
            changes.into_iter().map(InteractionChangeNode).collect(),
        ))
    }
}

/// One field changed by one `updateInteraction`.
pub struct InteractionChangeNode(InteractionChange);

#[Object(name = "InteractionChange")]
impl InteractionChangeNode {
    /// The revision this change produced.
    async fn revision(&self) -> i32 {
        self.0.revision
    }

    /// `outcome`, `notes` or `followUpAt`.
    async fn field(&self) -> &str {
        &self.0.field
    }

    async fn old_value(&self) -> Option<&str> {
        self.0.old_value.as_deref()
    }

    async fn new_value(&self) -> Option<&str> {
        self.0.new_value.as_deref()
    }

    async fn changed_at(&self) -> DateTime<Utc> {
        self.0.changed_at
    }

    /// Staff number of whoever changed it.
    async fn changed_by(&self) -> &str {
        &self.0.changed_by
    }

    /// Who entered the change for `changedBy`, when that was someone else.
    async fn recorded_by(&self) -> Option<&str> {
        self.0.recorded_by.as_deref()
    }
}

/// A contact to record. It is recorded as the caller's token says (`staff_id`,
/// `branch_id` claims); `staffId` and `branchId` may be omitted, or repeat the
/// token's, or (with the `act_for_staff` capability) name the colleague it is entered
/// for.
#[derive(InputObject)]
pub struct LogInteractionInput {
    /// CIF of the customer; core banking must know it.
    customer_id: ID,
    channel: InteractionChannel,
    #[graphql(name = "type")]
    kind: InteractionType,
    direction: InteractionDirection,
    /// When the contact happened; now when omitted. At most a few minutes ahead of the
    /// hub's clock.
    occurred_at: Option<DateTime<Utc>>,
    /// The token's `staff_id` when omitted; another is `FORBIDDEN` without
    /// `act_for_staff`.
    staff_id: Option<String>,
    /// The token's `branch_id` when omitted; another is `FORBIDDEN` without
    /// `act_for_staff`.
    branch_id: Option<String>,
    /// One line, at most 200 characters.
    subject: String,
    /// At most 4,000 characters.
    notes: Option<String>,
    outcome: Option<InteractionOutcome>,
    /// 1 to 5.
    satisfaction: Option<i32>,
    /// When someone should get back to the customer; not before `occurredAt`.
    follow_up_at: Option<DateTime<Utc>>,
    /// Product codes discussed (at most 20).
    #[graphql(default)]
    products: Vec<String>,
}

/// What `updateInteraction` may change: outcome, notes and follow-up. Omitted fields
/// stay; `null` clears notes or follow-up.
#[derive(InputObject)]
pub struct UpdateInteractionInput {
    /// Who is changing it: the token's `staff_id` when omitted; another is
    /// `FORBIDDEN` without `act_for_staff`.
    staff_id: Option<String>,
    outcome: Option<InteractionOutcome>,
    notes: MaybeUndefined<String>,
    follow_up_at: MaybeUndefined<DateTime<Utc>>,
}

/// Narrows a customer's timeline.
#[derive(InputObject, Default)]
pub struct TimelineFilter {
    #[graphql(default)]
    channels: Vec<InteractionChannel>,
    #[graphql(default)]
    types: Vec<InteractionType>,
    /// Occurred at or after.
    from: Option<DateTime<Utc>>,
    /// Occurred before.
    to: Option<DateTime<Utc>>,
    outcome: Option<InteractionOutcome>,
}

/// Narrows interactions across customers: a branch, a staff member, a period, open
/// follow-ups due.
#[derive(InputObject, Default)]
pub struct InteractionFilterInput {
    customer_id: Option<ID>,
    branch_id: Option<String>,
    staff_id: Option<String>,
    #[graphql(default)]
    channels: Vec<InteractionChannel>,
    #[graphql(default)]
    types: Vec<InteractionType>,
    /// Occurred at or after.
    from: Option<DateTime<Utc>>,
    /// Occurred before.
    to: Option<DateTime<Utc>>,
    outcome: Option<InteractionOutcome>,
    /// Only open follow-ups (outcome pending, escalated, no response, or none) due at
    /// or before this time.
    follow_up_due_by: Option<DateTime<Utc>>,
}

/// Filter bounds are kept to the microsecond, like stored times, so that a bound equal
/// to a stored time (one read back from the API) compares equal.
pub(super) fn micros(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(crate::domain::to_micros)
}

pub(super) fn check_period(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<()> {
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(errors::bad_input(
                "filter.to",
                "must not be before filter.from",
            ));
        }
    }
    Ok(())
}

impl TimelineFilter {
    fn into_filter(self, customer: Cif) -> Result<InteractionFilter> {
        check_period(self.from, self.to)?;
        Ok(InteractionFilter {
            customer_id: Some(customer),
            channels: self.channels,
            types: self.types,
            outcome: self.outcome,
            from: micros(self.from),
            to: micros(self.to),
            ..InteractionFilter::default()
        })
    }
}

impl InteractionFilterInput {
    fn into_filter(self) -> Result<InteractionFilter> {
        check_period(self.from, self.to)?;
        let customer_id = self
            .customer_id
            .map(|id| Cif::parse(&id).map_err(|e| errors::bad_input("filter.customerId", e)))
            .transpose()?;
        let code = |field: &'static str, raw: Option<String>| {
            raw.map(|r| crate::domain::parse_code(field, &r).map_err(errors::invalid))
                .transpose()
        };
        Ok(InteractionFilter {
            customer_id,
            channels: self.channels,
            types: self.types,
            outcome: self.outcome,
            from: micros(self.from),
            to: micros(self.to),
            branch_id: code("filter.branchId", self.branch_id)?,
            staff_id: code("filter.staffId", self.staff_id)?,
            follow_up_due_by: micros(self.follow_up_due_by),
        })
    }
}

/// One group of `interactionStats`.
#[derive(SimpleObject)]
pub struct InteractionStat {
    /// One value per `groupBy` dimension, in order (`NONE` for an interaction without
    /// outcome; days `YYYY-MM-DD` and months `YYYY-MM` in Beijing time).
    key: Vec<String>,
    count: i32,
    /// Over the interactions that have a satisfaction score; null when none has.
    average_satisfaction: Option<f64>,
}

/// A page of interactions, newest first.
pub type InteractionConnection = Connection<InteractionCursor, InteractionNode>;

/// Reads a page of `filter`, newest first, after `after`.
async fn page(
    ctx: &Context<'_>,
    filter: InteractionFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<InteractionConnection> {
    let config = ctx.data_unchecked::<GraphqlConfig>();
    let first = paging::page_size(first, config)?;
    let after = after
        .map(|raw| {
            InteractionCursor::decode_cursor(&raw).map_err(|e| errors::bad_input("after", e))
        })
        .transpose()?;
    let store = super::own_records(ctx);
    let mut items = store
        .interactions(&filter, after.map(|c| c.0), first + 1)
        .await
        .map_err(|e| errors::store(&e))?;
    let has_next = items.len() > first;
    items.truncate(first);
    let viewer = access::viewer(ctx);
    for item in &items {
        viewer.record_read(&item.customer_id);
    }
    let mut connection = Connection::new(after.is_some(), has_next);
    connection.edges.extend(items.into_iter().map(|i| {
        let cursor = InteractionCursor(TimelineCursor {
            occurred_at: i.occurred_at,
            id: i.id,
        });
        Edge::new(cursor, InteractionNode(i))
    }));
    Ok(connection)
}

/// `Customer.interactions`: the customer's timeline.
pub(super) async fn timeline(
    ctx: &Context<'_>,
    customer: &Cif,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<TimelineFilter>,
) -> Result<InteractionConnection> {
    let filter = filter.unwrap_or_default().into_filter(customer.clone())?;
    page(ctx, filter, first, after).await
}

fn parse_key(raw: Option<String>) -> Result<Option<IdempotencyKey>> {
    raw.map(|k| IdempotencyKey::parse(&k).map_err(|e| errors::bad_input("idempotencyKey", e)))
        .transpose()
}

fn interaction_id(id: &ID) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| errors::bad_input("id", "not an interaction id"))
}

#[derive(Default)]
pub struct InteractionQuery;

#[Object]
impl InteractionQuery {
    /// One interaction by id.
    async fn interaction(&self, ctx: &Context<'_>, id: ID) -> Result<Option<InteractionNode>> {
        let id = interaction_id(&id)?;
        let store = super::own_records(ctx);
        match store.interaction(id).await.map_err(|e| errors::store(&e))? {
            Some(found) => {
                access::authorize(ctx, &found.customer_id, "id").await?;
                Ok(Some(InteractionNode(found)))
            }
            None => Err(errors::not_found(format!("interaction {id}"))),
        }
    }

    /// Interactions across customers, newest first: for a branch, a staff member, a
    /// period, or the open follow-ups due. Keyset cursor paging.
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        filter: Option<InteractionFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<InteractionConnection> {
        let filter = filter.unwrap_or_default().into_filter()?;
        in_scope(ctx, &filter).await?;
        page(ctx, filter, first, after).await
    }

    /// Counts and average satisfaction per group, computed by the database.
    async fn interaction_stats(
        &self,
        ctx: &Context<'_>,
        group_by: Vec<InteractionDimension>,
        filter: Option<InteractionFilterInput>,
    ) -> Result<Vec<InteractionStat>> {
        if group_by.is_empty() || group_by.len() > MAX_DIMENSIONS {
            return Err(errors::bad_input(
                "groupBy",
                format!("give 1 to {MAX_DIMENSIONS} dimensions"),
            ));
        }
        for (i, d) in group_by.iter().enumerate() {
            if group_by[..i].contains(d) {
                return Err(errors::bad_input("groupBy", format!("{d} is given twice")));
            }
        }
        let filter = filter.unwrap_or_default().into_filter()?;
        in_scope(ctx, &filter).await?;
        let store = super::own_records(ctx);
        let stats = store
            .interaction_stats(&group_by, &filter)
            .await
            .map_err(|e| errors::store(&e))?;
        Ok(stats
            .into_iter()
            .map(|s| InteractionStat {
                key: s.key,
                count: i32::try_from(s.count).unwrap_or(i32::MAX),
                average_satisfaction: s.average_satisfaction,
            })
            .collect())
    }
}

#[derive(Default)]
pub struct InteractionMutation;

#[Object]
impl InteractionMutation {
    /// Records a contact with a customer. With `idempotencyKey`, a retry (same key,
    /// same input) returns the first result and writes nothing; the same key with a
    /// different input is a `CONFLICT`. A MARKETING contact on a channel whose
    /// marketing consent is withdrawn (or to a customer who asked not to be
    /// contacted) is refused with `CONSENT_WITHDRAWN`.
    async fn log_interaction(
        &self,
        ctx: &Context<'_>,
        input: LogInteractionInput,
        idempotency_key: Option<String>,
    ) -> Result<InteractionNode> {
        let key = parse_key(idempotency_key)?;
        let writer = identity::new_contact(
            access::viewer(ctx),
            input.staff_id.as_deref(),
            input.branch_id.as_deref(),
        )?;
        let mut new = NewInteraction::parse(
            RawInteraction {
                customer_id: input.customer_id.0,
                channel: Some(input.channel),
                kind: Some(input.kind),
                direction: Some(input.direction),
                occurred_at: input.occurred_at,
                staff_id: writer.staff_id,
                branch_id: writer.branch_id.unwrap_or_default(),
                subject: input.subject,
                notes: input.notes,
                outcome: input.outcome,
                satisfaction: input.satisfaction,
                follow_up_at: input.follow_up_at,
                products: input.products,
            },
            Utc::now(),
        )
        .map_err(errors::invalid)?;
        new.recorded_by = writer.recorded_by;
        access::authorize(ctx, &new.customer_id, "customerId").await?;
        let store = super::own_records(ctx);
        // A MARKETING contact on a channel that reaches the customer is decided and
        // stored in one transaction that consent changes cannot slip into.
        let marketing = (new.kind == InteractionType::Marketing)
            .then(|| new.channel.contact_channel())
            .flatten();
        let logged = match marketing {
            Some(channel) => match store
                .log_marketing(&new, channel, key.as_ref())
                .await
                .map_err(|e| errors::store(&e))?
            {
                MarketingLog::Logged(logged) => *logged,
                MarketingLog::Refused(reason) => {
                    return Err(errors::consent_withdrawn(reason, channel.as_str()))
                }
            },
            None => store
                .log_interaction(&new, key.as_ref())
                .await
                .map_err(|e| errors::store(&e))?,
        };
        if !logged.replayed {
            let bus = ctx.data_unchecked::<Bus>();
            bus.publish(
                INTERACTIONS_CHANNEL,
                serde_json::to_value(&logged.interaction).expect("interactions serialize"),
            );
        }
        Ok(InteractionNode(logged.interaction))
    }

    /// Changes an interaction's outcome, notes or follow-up. Each changed field leaves
    /// a row in its `history` (who, when, from, to); nothing is overwritten without
    /// trace, and an update that changes nothing records nothing. There is no delete.
    async fn update_interaction(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateInteractionInput,
    ) -> Result<InteractionNode> {
        let id = interaction_id(&id)?;
        let writer = identity::change(access::viewer(ctx), input.staff_id.as_deref())?;
        let staff_id =
            crate::domain::parse_code("staffId", &writer.staff_id).map_err(errors::invalid)?;
        let notes = match input.notes {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(notes) => {
                Some(crate::domain::optional_notes(Some(notes)).map_err(errors::invalid)?)
            }
        };
        let follow_up_at = match input.follow_up_at {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(at) => Some(Some(crate::domain::to_micros(at))),
        };
        let update = InteractionUpdate {
            staff_id,
            recorded_by: writer.recorded_by,
            outcome: input.outcome,
            notes,
            follow_up_at,
        };
        let store = super::own_records(ctx);
        match store.interaction(id).await.map_err(|e| errors::store(&e))? {
            Some(found) => access::authorize(ctx, &found.customer_id, "id").await?,
            None => return Err(errors::not_found_field("id", format!("interaction {id}"))),
        }
        let updated = store
            .update_interaction(id, &update)
            .await
            .map_err(|e| errors::store(&e))?;
        Ok(InteractionNode(updated))
    }
}

#[derive(Default)]
pub struct InteractionSubscription;

#[Subscription]
impl InteractionSubscription {
    /// Interactions as they are logged (on this hub instance or, with Redis, any
    /// other), for one customer or, without `customerId`, for every customer (the
    /// `watch_all_interactions` capability). Each event is delivered only when the
    /// subscriber may read its customer at that moment, with the fields its role
    /// denies answered `FORBIDDEN`, and each delivery is written to the access audit
    /// as a read of that customer.
    async fn interaction_logged(
        &self,
        ctx: &Context<'_>,
        customer_id: Option<ID>,
    ) -> Result<impl Stream<Item = InteractionNode>> {
        let viewer = access::viewer(ctx);
        // The contact history is one thing however it is reached: a role denied it
        // in queries is denied its live feed too.
        for (type_name, field) in [
            ("Subscription", "interactionLogged"),
            ("Customer", "interactions"),
        ] {
            if viewer.policy().denies(type_name, field) {
                return Err(errors::forbidden(format!("{type_name}.{field}")));
            }
        }
        if customer_id.is_some() {
            access::no_lookup_by_cif(viewer, "customerId")?;
        }
        let customer = customer_id
            .map(|id| Cif::parse(&id).map_err(|e| errors::bad_input("customerId", e)))
            .transpose()?;
        match &customer {
            Some(cif) => access::authorize(ctx, cif, "customerId").await?,
            None if !viewer.may(Capability::WatchAllInteractions) => {
                return Err(errors::forbidden_field(
                    "customerId",
                    "interactionLogged without customerId (every customer's contacts) \
                     needs the watch_all_interactions capability",
                ))
            }
            None => {}
        }
        let gate = Arc::new(EventGate {
            viewer: viewer.clone(),
            upstreams: ctx.data_unchecked::<Upstreams>().clone(),
            operation: ctx.data_opt::<Arc<RequestScope>>().cloned(),
        });
        let bus = ctx.data_unchecked::<Bus>();
        Ok(bus
            .subscribe(INTERACTIONS_CHANNEL)
            .filter_map(move |payload| {
                let wanted = serde_json::from_value::<Interaction>(payload)
                    .ok()
                    .filter(|i| customer.as_ref().is_none_or(|c| *c == i.customer_id));
                let gate = gate.clone();
                async move {
                    let interaction = wanted?;
                    gate.admit(&interaction.customer_id)
                        .await
                        .then_some(InteractionNode(interaction))
                }
            }))
    }
}

/// Decides, event by event, whether a subscriber may see the customer an event is
/// about, as a query would: by CIF where the scope says enough, else by the
/// customer's record (branch, relationship manager) read through the cache tiers.
/// An admitted customer is noted in the subscriber's access log, which the WebSocket
/// transport writes to the access audit with the answer.
struct EventGate {
    viewer: Viewer,
    upstreams: Upstreams,
    /// The subscription's own scope, whose trace each event's reads join.
    operation: Option<Arc<RequestScope>>,
}

impl EventGate {
    /// Whether the event may go out; an event that cannot be decided (core banking
    /// failing) is dropped rather than sent unchecked.
    async fn admit(&self, cif: &Cif) -> bool {
        let allowed = match self.viewer.may_read_cif(cif) {
            Some(decided) => decided,
            None => {
                // A scope per event: a subscription lives for hours, and what one
                // event read must not pile up in it.
                let scope = RequestScope::new();
                if let Some(trace) = self.operation.as_ref().and_then(|o| o.trace()) {
                    scope.set_trace(trace);
                }
                let mut found = self
                    .upstreams
                    .customers(std::slice::from_ref(cif), &scope)
                    .await;
                match found.remove(cif) {
                    Some(Ok(fetched)) => fetched
                        .value
                        .first()
                        .is_some_and(|customer| self.viewer.may_read(customer)),
                    _ => false,
                }
            }
        };
        if allowed {
            self.viewer.record_read(cif);
        }
        allowed
    }
}

/// Cross-customer reads of the contact log stay within the caller's scope: roles that
/// read everyone may filter freely; others must name a customer they may read, or
/// (branch scope) their own branch.
async fn in_scope(ctx: &Context<'_>, filter: &InteractionFilter) -> Result<()> {
    let viewer = access::viewer(ctx);
    if filter.customer_id.is_some() {
        access::no_lookup_by_cif(viewer, "filter.customerId")?;
    }
    if access::reads_everyone(viewer) {
        return Ok(());
    }
    if let Some(cif) = &filter.customer_id {
        return access::authorize(ctx, cif, "filter.customerId").await;
    }
    let own_branch = viewer.identity().branch.as_deref();
    if viewer.policy().scope.contains(&ScopeRule::Branch)
        && own_branch.is_some()
        && filter.branch_id.as_deref() == own_branch
    {
        return Ok(());
    }
    Err(errors::forbidden(
        "interactions beyond one customer in scope or your own branch (filter.customerId or filter.branchId)",
    ))
}
