//! Accounts (with their transactions), cards and online banking as the graph shows
//! them. Numbers are masked through the request's viewer.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, Result};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::errors;
use super::paging::{PageCursor, Window};
use crate::auth::{Personal, Viewer};
use crate::cache::RequestScope;
use crate::config::GraphqlConfig;
use crate::connectors::PageRequest;
use crate::domain::{
    Account, AccountStatus, AccountType, Card, CardKind, CardLevel, CardStatus, Device,
    DigitalChannel, LoginEvent, Money, OnlineUser, OnlineUserStatus, Statement, Transaction,
};
use crate::upstream::{Period, Upstreams};

/// Login events shown when the query gives no `first`.
const DEFAULT_RECENT_LOGINS: i32 = 10;

/// One item of a system's answer, read where the request's loader holds it instead of
/// copied out: a 360 query shows every account and card of the customer, and a copy
/// of each was a dozen strings allocated, copied and freed.
pub struct Shared<T> {
    all: Arc<Vec<T>>,
    index: usize,
}

impl<T> Shared<T> {
    /// Every item of `all`, in order.
    pub fn each(all: &Arc<Vec<T>>) -> impl Iterator<Item = Shared<T>> + '_ {
        (0..all.len()).map(|index| Shared {
            all: all.clone(),
            index,
        })
    }

    /// The first item of `all`, if any.
    pub fn first(all: &Arc<Vec<T>>) -> Option<Shared<T>> {
        (!all.is_empty()).then(|| Shared {
            all: all.clone(),
            index: 0,
        })
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.all[self.index]
    }
}

pub struct AccountNode(Shared<Account>);

impl AccountNode {
    pub fn new(account: Shared<Account>) -> AccountNode {
        AccountNode(account)
    }
}

#[Object(name = "Account")]
impl AccountNode {
    /// Account number; masked (first 6, last 4) unless the caller may see it.
    async fn number(&self, ctx: &Context<'_>) -> Option<String> {
        Some(ctx.data_unchecked::<Viewer>().show(
            &self.0.customer_id,
            Personal::AccountNumber,
            &self.0.number,
        ))
    }

    #[graphql(name = "type")]
    async fn account_type(&self) -> AccountType {
        self.0.account_type
    }

    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// Ledger balance.
    async fn balance(&self) -> &Money {
        &self.0.balance
    }

    async fn available_balance(&self) -> Option<&Money> {
        self.0.available_balance.as_ref()
    }

    async fn status(&self) -> AccountStatus {
        self.0.status
    }

    async fn opened_at(&self) -> Option<NaiveDate> {
        self.0.opened_at
    }

    /// Time deposits only.
    async fn maturity_date(&self) -> Option<NaiveDate> {
        self.0.maturity_date
    }

    /// Percent per year.
    async fn interest_rate(&self) -> Option<Decimal> {
        self.0.interest_rate
    }

    /// Booked transactions, newest first, optionally within `from`..`to`. Null with an
    /// error when core banking fails.
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Option<Connection<PageCursor, TransactionNode>> {
        let result = self
            .transaction_page(ctx, first, after, Period { from, to })
            .await;
        errors::degrade(ctx, result)
    }
}

impl AccountNode {
    async fn transaction_page(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        Period { from, to }: Period,
    ) -> Result<Connection<PageCursor, TransactionNode>> {
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                return Err(errors::bad_input("from", "must not be after `to`"));
            }
        }
        let window = Window::parse(first, after, ctx.data_unchecked::<GraphqlConfig>())?;
        let page = ctx
            .data_unchecked::<Upstreams>()
            .transactions(
                &self.0.number,
                Period { from, to },
                window.request(),
                ctx.data_unchecked::<Arc<RequestScope>>(),
            )
            .await
            .map_err(|e| errors::upstream(&e))?;
        let (edges, has_next) = window.slice((*page).clone());
        let mut connection = Connection::new(window.after != PageCursor::default(), has_next);
        connection
            .edges
            .extend(edges.into_iter().map(|(cursor, txn)| {
                Edge::new(
                    cursor,
                    TransactionNode {
                        txn,
                        owner: self.0.customer_id.clone(),
                    },
                )
            }));
        Ok(connection)
    }
}

/// A booked transaction of an account, with the account's owner: the counterparty of
/// a transfer is another person's name, masked like the customer's own.
pub struct TransactionNode {
    txn: Transaction,
    owner: crate::domain::Cif,
}

#[Object(name = "Transaction")]
impl TransactionNode {
    /// Core banking's id starts with the account number, so it is masked like one
    /// (BIN and last 4 of the whole id) unless the caller may see account numbers;
    /// null with `FORBIDDEN` for a role denied them.
    async fn id(&self, ctx: &Context<'_>) -> Option<String> {
        let viewer = ctx.data_unchecked::<Viewer>();
        Some(viewer.show(&self.owner, Personal::AccountNumber, &self.txn.id))
    }

    async fn posted_at(&self) -> DateTime<Utc> {
        self.txn.posted_at
    }

    async fn direction(&self) -> crate::domain::CreditDebit {
        self.txn.direction
    }

    async fn amount(&self) -> &Money {
        &self.txn.amount
    }

    /// 摘要, the booking text.
    async fn description(&self) -> Option<&str> {
        self.txn.description.as_deref()
    }

    async fn channel(&self) -> Option<crate::domain::TransactionChannel> {
        self.txn.channel
    }

    /// The other party: a person's name is masked (surname kept) unless the caller
    /// may see names; merchants and companies are masked the same way, since the
    /// booking text does not say which is which.
    async fn counterparty(&self, ctx: &Context<'_>) -> Option<String> {
        let viewer = ctx.data_unchecked::<Viewer>();
        self.txn
            .counterparty
            .as_deref()
            .map(|name| viewer.show(&self.owner, Personal::Name, name))
    }
}

pub struct CardNode(Shared<Card>);

impl CardNode {
    pub fn new(card: Shared<Card>) -> CardNode {
        CardNode(card)
    }
}

#[Object(name = "Card")]
impl CardNode {
    /// The card system's id for the card (not the PAN).
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// PAN, masked (BIN and last 4) unless the caller may see it.
    async fn number(&self, ctx: &Context<'_>) -> Option<String> {
        Some(ctx.data_unchecked::<Viewer>().show(
            &self.0.customer_id,
            Personal::AccountNumber,
            &self.0.number,
        ))
    }

    async fn kind(&self) -> CardKind {
        self.0.kind
    }

    async fn product(&self) -> Option<&str> {
        self.0.product.as_deref()
    }

    async fn level(&self) -> Option<CardLevel> {
        self.0.level
    }

    async fn status(&self) -> CardStatus {
        self.0.status
    }

    async fn issued_at(&self) -> Option<NaiveDate> {
        self.0.issued_at
    }

    /// The account a debit card draws on, masked like an account number.
    async fn linked_account(&self, ctx: &Context<'_>) -> Option<String> {
        let viewer = ctx.data_unchecked::<Viewer>();
        self.0
            .linked_account
            .as_deref()
            .map(|n| viewer.show(&self.0.customer_id, Personal::AccountNumber, n))
    }

    async fn credit_limit(&self) -> Option<&Money> {
        self.0.credit_limit.as_ref()
    }

    async fn available_credit(&self) -> Option<&Money> {
        self.0.available_credit.as_ref()
    }

    /// Balance owed on a credit card.
    async fn outstanding(&self) -> Option<&Money> {
        self.0.outstanding.as_ref()
    }

    async fn days_past_due(&self) -> Option<i32> {
        self.0.days_past_due
    }

    /// The last statement of a credit card.
    async fn statement(&self) -> Option<&Statement> {
        self.0.statement.as_ref()
    }
}

pub struct OnlineBankingNode(Shared<OnlineUser>);

impl OnlineBankingNode {
    pub fn new(user: Shared<OnlineUser>) -> OnlineBankingNode {
        OnlineBankingNode(user)
    }
}

#[Object(name = "OnlineBanking")]
impl OnlineBankingNode {
    /// The channel system's own user id.
    async fn user_id(&self) -> &str {
        &self.0.user_id
    }

    async fn status(&self) -> OnlineUserStatus {
        self.0.status
    }

    async fn registered_at(&self) -> Option<DateTime<Utc>> {
        self.0.registered_at
    }

    async fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_login_at
    }

    async fn preferred_channel(&self) -> Option<DigitalChannel> {
        self.0.preferred_channel
    }

    async fn devices(&self) -> &[Device] {
        &self.0.devices
    }

    /// The latest logins, newest first. Null with an error when the channel system
    /// fails.
    async fn recent_logins(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> Option<Vec<LoginEvent>> {
        let result = self.logins(ctx, first).await;
        errors::degrade(ctx, result)
    }
}

impl OnlineBankingNode {
    async fn logins(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Vec<LoginEvent>> {
        let config = ctx.data_unchecked::<GraphqlConfig>();
        let first = first.unwrap_or(DEFAULT_RECENT_LOGINS);
        if first < 1 || first as usize > config.max_page_size {
            return Err(errors::bad_input(
                "first",
                format!("must be between 1 and {}", config.max_page_size),
            ));
        }
        let page = ctx
            .data_unchecked::<Upstreams>()
            .login_events(
                &self.0.user_id,
                PageRequest {
                    limit: first as usize,
                    key: None,
                },
                ctx.data_unchecked::<Arc<RequestScope>>(),
            )
            .await
            .map_err(|e| errors::upstream(&e))?;
        Ok(page.items.iter().take(first as usize).cloned().collect())
    }
}
