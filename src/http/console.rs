//! `/console`: the front-office console, and the GraphiQL page, served from files
//! built into the binary.
//!
//! A branch network has no internet access, so nothing here may point outside the
//! hub: the console (`console/`, built to `console/dist/` and embedded at compile
//! time) and GraphiQL's scripts (vendored into the same folder by the console's
//! build) are answered by the hub itself, under a Content-Security-Policy that lets
//! the page talk to the hub and to the identity provider and nowhere else. The
//! console holds no secret: in production it signs in with the authorization code
//! flow and PKCE, as the public client `[console] client_id`; in the demo it offers
//! the development tokens `c360 demo` printed.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use rust_embed::Embed;
use serde_json::json;

use super::AppState;
use crate::config::{Config, Profile};

/// `console/dist/`: what `npm run build` in `console/` writes, committed so that
/// `cargo build` needs no Node.js.
#[derive(Embed)]
#[folder = "console/dist/"]
struct Assets;

/// The console as this hub serves it: what `/console/config.json` says, and the
/// policy its pages run under.
pub struct ConsoleSite {
    /// Whether the console itself is served; GraphiQL's vendored scripts are served
    /// whenever GraphiQL is, console or not.
    console: bool,
    profile: Profile,
    oidc: Option<serde_json::Value>,
    csp: HeaderValue,
    /// The development tokens `c360 demo` printed, one per role, handed over once
    /// the demo has minted them.
    demo_tokens: OnceLock<Vec<(String, String)>>,
}

impl ConsoleSite {
    /// The site a configuration asks for; `None` when neither the console nor
    /// GraphiQL is served.
    pub fn from_config(config: &Config) -> Option<Arc<ConsoleSite>> {
        let console = config.console_enabled();
        if !console && !config.graphiql() {
            return None;
        }
        let settings = &config.console;
        let oidc = match (&settings.issuer, &settings.client_id) {
            (Some(issuer), Some(client_id)) => Some(json!({
                "issuer": issuer,
                "clientId": client_id,
                "scopes": settings.scopes,
                "redirectPath": "/console/",
            })),
            _ => None,
        };
        let provider = settings
            .issuer
            .as_deref()
            .and_then(|issuer| url::Url::parse(issuer).ok())
            .map(|url| url.origin().ascii_serialization())
            .map(|origin| format!(" {origin}"))
            .unwrap_or_default();
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:{provider}; \
             form-action 'self'{provider}; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'"
        );
        Some(Arc::new(ConsoleSite {
            console,
            profile: config.profile,
            oidc,
            csp: HeaderValue::from_str(&csp).expect("the policy is ASCII"),
            demo_tokens: OnceLock::new(),
        }))
    }

    /// Hands the console the demo's development tokens (the demo profile only; a
    /// second call changes nothing).
    pub fn offer_demo_tokens(&self, tokens: Vec<(String, String)>) {
        if self.profile == Profile::Demo {
            let _ = self.demo_tokens.set(tokens);
        }
    }

    pub fn serves_console(&self) -> bool {
        self.console
    }

    /// Whether `/` leads to the console: in the demo, where a newcomer came for it.
    pub fn leads_from_root(&self) -> bool {
        self.console && self.profile == Profile::Demo
    }

    /// The security headers every page and file of the site carries.
    fn secured(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }
}

/// Files of the site outside the console proper: GraphiQL's page needs them even
/// where the console is off.
fn graphiql_file(path: &str) -> bool {
    path.starts_with("vendor/graphiql/") || path == "graphiql.js"
}

/// `GET /console` and `GET /console/`: the console's page.
pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, "index.html", &headers)
}

/// `GET /console/{*path}`: one of the console's files.
pub(super) async fn file(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &path, &headers)
}

fn serve(state: &AppState, path: &str, headers: &HeaderMap) -> Response {
    let Some(site) = &state.console else {
        return not_found(path);
    };
    if !site.console && !graphiql_file(path) {
        return not_found(path);
    }
    let Some(asset) = Assets::get(path) else {
        return not_found(path);
    };
    let etag = format!("\"{}\"", hex::encode(&asset.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(path))],
            asset.data.into_owned(),
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is ASCII"),
    );
    // Revalidated on every load: a new hub build must not leave a branch's browsers
    // on yesterday's console, and a 304 costs one round trip on the LAN.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    site.secured(response)
}

fn not_found(path: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("no console file '{path}'\n"),
    )
        .into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// `GET /console/config.json`: how the console signs in here. Nothing in it is
/// secret: the issuer and client id of a public client, and in the demo the
/// development tokens the demo printed on its console anyway.
pub(super) async fn config(State(state): State<AppState>) -> Response {
    let Some(site) = state.console.as_ref().filter(|site| site.console) else {
        return not_found("config.json");
    };
    let mut body = json!({
        "profile": site.profile.as_str(),
        "oidc": site.oidc,
    });
    if let Some(tokens) = site.demo_tokens.get() {
        body["demoTokens"] = tokens
            .iter()
            .map(|(role, token)| json!({ "role": role, "token": token }))
            .collect();
    }
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    site.secured(response)
}

/// `GET /` in the demo: the console is what a newcomer came for.
pub(super) async fn root() -> Redirect {
    Redirect::to("/console/")
}

/// GraphiQL, from the vendored scripts: the CDN page a library would hand out stays
/// on "Loading..." on a network without internet access.
pub(super) fn graphiql(state: &AppState) -> Response {
    const PAGE: &str = concat!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>c360 GraphiQL</title>\n",
        "<link rel=\"icon\" href=\"data:,\">\n",
        "<link rel=\"stylesheet\" href=\"/console/vendor/graphiql/graphiql.min.css\">\n",
        "<style>html,body,#graphiql{height:100%;margin:0}</style>\n",
        "</head>\n<body>\n<div id=\"graphiql\">Loading...</div>\n",
        "<script src=\"/console/vendor/graphiql/react.production.min.js\"></script>\n",
        "<script src=\"/console/vendor/graphiql/react-dom.production.min.js\"></script>\n",
        "<script src=\"/console/vendor/graphiql/graphiql.min.js\"></script>\n",
        "<script src=\"/console/graphiql.js\"></script>\n",
        "</body>\n</html>\n"
    );
    let response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response();
    match &state.console {
        Some(site) => site.secured(response),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_file_has_a_type_and_points_nowhere_outside_the_hub() {
        let mut files = 0;
        for path in Assets::iter() {
            files += 1;
            assert_ne!(
                content_type(&path),
                "application/octet-stream",
                "{path} has no content type"
            );
            if path.ends_with(".html") {
                let page = Assets::get(&path).expect("listed");
                let text = String::from_utf8_lossy(&page.data);
                for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
                    assert!(!text.contains(attribute), "{path} loads {attribute}…");
                }
            }
        }
        for needed in [
            "index.html",
            "app.js",
            "graphiql.js",
            "vendor/graphiql/graphiql.min.js",
            "vendor/graphiql/graphiql.min.css",
            "vendor/graphiql/react.production.min.js",
            "vendor/graphiql/react-dom.production.min.js",
        ] {
            assert!(Assets::get(needed).is_some(), "{needed} is not built in");
        }
        assert!(files >= 7);
    }
}
