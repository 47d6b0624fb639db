//! The one place where failures become GraphQL errors, with a stable
//! `extensions.code` (and `extensions.source` for upstream failures). Upstream bodies
//! never reach the client; the details were logged where the call failed.

use async_graphql::{Context, Error, ErrorExtensions};

use crate::connectors::ConnectorError;

/// A failed upstream read, for the field it degrades.
pub fn upstream(error: &ConnectorError) -> Error {
    Error::new(error.client_message()).extend_with(|_, ext| {
        ext.set("code", error.kind.code());
        ext.set("source", error.system.as_str());
        if let Some(path) = &error.path {
            ext.set("path", path.as_str());
        }
    })
}

/// Bad input from the client, naming the argument and the problem.
pub fn bad_input(field: &str, problem: impl std::fmt::Display) -> Error {
    Error::new(format!("{field}: {problem}")).extend_with(|_, ext| {
        ext.set("code", "BAD_USER_INPUT");
        ext.set("field", field);
    })
}

pub fn not_found(what: impl std::fmt::Display) -> Error {
    Error::new(format!("{what} not found")).extend_with(|_, ext| ext.set("code", "NOT_FOUND"))
}

/// Degrades a nullable field: on error, records it at this field's path and answers
/// null, so the failure costs this field and nothing around it (a sibling, the
/// parent object, or a whole list of them).
pub fn degrade<T>(ctx: &Context<'_>, result: async_graphql::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            ctx.add_error(ctx.set_error_path(error.into_server_error(ctx.item.pos)));
            None
        }
    }
}
