//! The `Customer` node as data: the core record, how it was fetched, and which of the
//! other systems the query selects below it. Its fields are resolved in
//! [`super::customer`]; the party, household and book resolvers build nodes from here
//! too, so this module depends on none of them.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::loaders::{self, Loaders, Outcome};
use crate::domain::{Cif, Customer};

/// Which of the per-customer systems a query selects below `Customer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    pub(super) accounts: bool,
    pub(super) cards: bool,
    pub(super) loans: bool,
    pub(super) online_banking: bool,
}

impl Selection {
    pub(super) fn of(customer: async_graphql::Lookahead<'_>) -> Selection {
        Selection {
            accounts: customer.field("accounts").exists(),
            cards: customer.field("cards").exists(),
            loans: customer.field("loans").exists(),
            online_banking: customer.field("onlineBanking").exists(),
        }
    }

    /// Starts the loads of every selected system for these customers, concurrently.
    pub(super) async fn prefetch(self, loaders: &Loaders, cifs: &[Cif]) {
        tokio::join!(
            maybe(self.accounts, loaders::many_now(&loaders.accounts, cifs)),
            maybe(self.cards, loaders::many_now(&loaders.cards, cifs)),
            maybe(self.loans, loaders::many_now(&loaders.loans, cifs)),
            maybe(
                self.online_banking,
                loaders::many_now(&loaders.online_users, cifs)
            ),
        );
    }
}

async fn maybe<F: std::future::Future>(run: bool, future: F) {
    if run {
        future.await;
    }
}

/// A customer as the graph shows it: the core record plus what the other systems hold.
pub struct CustomerNode {
    pub(super) customer: Arc<Customer>,
    pub(super) fetched_at: DateTime<Utc>,
    pub(super) from_cache: bool,
    pub(super) stale: bool,
    pub(super) selection: Selection,
}

impl CustomerNode {
    pub(super) fn new(
        customer: Arc<Customer>,
        outcome: &Outcome<Customer>,
        selection: Selection,
    ) -> CustomerNode {
        CustomerNode {
            customer,
            fetched_at: outcome.fetched_at,
            from_cache: outcome.from_cache,
            stale: outcome.stale,
            selection,
        }
    }
}
