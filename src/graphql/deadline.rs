//! A deadline for each event of a subscription. A query or mutation is bounded as a
//! whole by the transport's deadline; a subscription lives as long as its client
//! wants, so each event it delivers is bounded instead, from the moment the event
//! arrives to its answer. async-graphql resolves an event inside its own stream, out
//! of the transport's sight, and runs an extension's `execute` hook around each one:
//! that hook is where the deadline is applied.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::Response;

use crate::errors::{ApiError, ErrorCode};

/// How long one event of the request's subscription may take to resolve. Request
/// data: a request without it is not bounded here.
#[derive(Debug, Clone, Copy)]
pub struct EventDeadline(pub Duration);

/// The extension applying [`EventDeadline`].
pub(super) struct EventDeadlines;

impl ExtensionFactory for EventDeadlines {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(EventDeadlines)
    }
}

#[async_trait::async_trait]
impl Extension for EventDeadlines {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let Some(EventDeadline(limit)) = ctx.data_opt::<EventDeadline>().copied() else {
            return next.run(ctx, operation_name).await;
        };
        match tokio::time::timeout(limit, next.run(ctx, operation_name)).await {
            Ok(response) => response,
            Err(_) => Response::from_errors(vec![ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the event did not resolve within {limit:?}"),
            )
            .into_server_error()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, Object, Schema, Subscription};
    use futures::{Stream, StreamExt};

    struct Query;

    #[Object]
    impl Query {
        async fn up(&self) -> bool {
            true
        }
    }

    /// An event whose resolution takes `millis`.
    struct Event {
        millis: u64,
    }

    #[Object]
    impl Event {
        async fn resolved(&self) -> u64 {
            tokio::time::sleep(Duration::from_millis(self.millis)).await;
            self.millis
        }
    }

    struct Events;

    #[Subscription]
    impl Events {
        async fn events(&self) -> impl Stream<Item = Event> {
            futures::stream::iter([10, 500, 10].map(|millis| Event { millis }))
        }
    }

    #[tokio::test]
    async fn an_event_slower_than_the_deadline_is_refused_and_the_next_one_still_comes() {
        let schema = Schema::build(Query, EmptyMutation, Events)
            .extension(EventDeadlines)
            .finish();
        let request = async_graphql::Request::new("subscription { events { resolved } }")
            .data(EventDeadline(Duration::from_millis(200)));
        let answers: Vec<_> = schema.execute_stream(request).collect().await;
        assert_eq!(answers.len(), 3);
        assert!(answers[0].errors.is_empty(), "{:?}", answers[0].errors);
        let refused = &answers[1];
        assert_eq!(refused.data, async_graphql::Value::Null);
        let code = refused.errors[0]
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        assert_eq!(code, Some(async_graphql::Value::from("REQUEST_TIMEOUT")));
        assert!(answers[2].errors.is_empty(), "{:?}", answers[2].errors);
    }
}
