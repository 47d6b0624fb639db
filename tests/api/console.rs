//! The console and GraphiQL, served from the binary: every file they load comes from
//! the hub (a branch network has no internet), under a policy that names no other
//! origin but the identity provider's; the demo offers one token per role, production
//! the configured provider; `viewer` tells a front end what the role may not see.
//! The browser tests of the console itself are in tests/console (Node, Chromium).

use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

/// Every `src="…"` and `href="…"` of a page, in order.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let end = rest.find('"').expect("a closed attribute");
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

/// GETs `path` of the hub; the status, the content type and the body.
async fn get(app: &TestApp, path: &str, accept: &str) -> (u16, String, String) {
    let response = app
        .bare
        .get(format!("{}{path}", app.hub))
        .header("accept", accept)
        .send()
        .await
        .expect("the hub answers");
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// Fetches every file `page` loads; each must be the hub's own and be there.
async fn assert_loads_only_from_the_hub(app: &TestApp, page: &str) {
    let (status, kind, html) = get(app, page, "text/html").await;
    assert_eq!(status, 200, "{page}: {html}");
    assert!(kind.starts_with("text/html"), "{page}: {kind}");
    let files = references(&html);
    assert!(
        files.iter().any(|f| f.ends_with(".js")),
        "{page} loads no script: {html}"
    );
    for file in files.into_iter().filter(|f| !f.starts_with("data:")) {
        assert!(
            file.starts_with('/') && !file.starts_with("//"),
            "{page} loads {file} from outside the hub"
        );
        let (status, kind, body) = get(app, &file, "*/*").await;
        assert_eq!(status, 200, "{page} loads {file}: {body}");
        assert!(!body.is_empty(), "{file} is empty");
        let expected = if file.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(kind.starts_with(expected), "{file}: {kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_and_graphiql_load_nothing_from_outside_the_hub() {
    let app = TestApp::builder().spawn().await;
    assert_loads_only_from_the_hub(&app, "/console/").await;
    assert_loads_only_from_the_hub(&app, "/graphql").await;

    let page = app
        .bare
        .get(format!("{}/console", app.hub))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(
        !csp.contains("http"),
        "the demo names no other origin: {csp}"
    );

    // The demo sends a newcomer from the hub's root to the console.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let root = no_redirects.get(&app.hub).send().await.unwrap();
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/console/");

    let (status, _, body) = get(&app, "/console/no-such-file.js", "*/*").await;
    assert_eq!(status, 404);
    assert!(body.contains("no-such-file.js"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_console_file_is_revalidated_not_sent_again() {
    let app = TestApp::builder().spawn().await;
    let first = app
        .bare
        .get(format!("{}/console/app.js", app.hub))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].clone();
    let again = app
        .bare
        .get(format!("{}/console/app.js", app.hub))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
}

const VIEWER: &str = "{ viewer { subject role staffId branchId customerId capabilities \
                      deniedClasses deniedFields pseudonymous expiresAt } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_console_offers_one_token_per_role_each_of_that_role() {
    let app = TestApp::builder().spawn().await;
    let (status, kind, body) = get(&app, "/console/config.json", "application/json").await;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("application/json"), "{kind}");
    let config: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["profile"], "demo");
    assert!(config["oidc"].is_null(), "{config}");
    let tokens = config["demoTokens"].as_array().expect("demo tokens");
    let roles: Vec<&str> = tokens.iter().map(|t| t["role"].as_str().unwrap()).collect();
    for role in [
        "teller",
        "relationship_manager",
        "branch_manager",
        "auditor",
        "customer",
    ] {
        assert!(roles.contains(&role), "no {role} in {roles:?}");
    }
    for offered in tokens {
        let (status, answer) = app
            .graphql_as(offered["token"].as_str().unwrap(), VIEWER, json!({}), &[])
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer["data"]["viewer"]["role"], offered["role"],
            "{answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_says_what_the_role_may_not_see_and_when_the_token_ends() {
    let app = TestApp::builder().spawn().await;
    let teller = token_for_ttl(
        "teller",
        Some("S0001"),
        Some("110101"),
        None,
        Duration::from_secs(600),
    );
    let (_, answer) = app.graphql_as(&teller, VIEWER, json!({}), &[]).await;
    assert!(answer["errors"].is_null(), "{answer}");
    let viewer = &answer["data"]["viewer"];
    assert_eq!(viewer["role"], "teller");
    assert_eq!(viewer["staffId"], "S0001");
    assert_eq!(viewer["branchId"], "110101");
    assert_eq!(viewer["capabilities"], json!([]));
    assert_eq!(viewer["pseudonymous"], false);
    let classes = viewer["deniedClasses"].as_array().unwrap();
    assert!(classes.contains(&json!("insights")), "{viewer}");
    let fields = viewer["deniedFields"].as_array().unwrap();
    for denied in ["Query.interactions", "Customer.insights"] {
        assert!(fields.contains(&json!(denied)), "{denied} not in {viewer}");
    }
    let expires = chrono::DateTime::parse_from_rfc3339(viewer["expiresAt"].as_str().unwrap())
        .expect("an RFC 3339 time");
    // The hub accepts a token until its `exp` plus the clock-skew leeway (30 s).
    let left = expires.signed_duration_since(chrono::Utc::now());
    assert!(
        left > chrono::Duration::seconds(620) && left <= chrono::Duration::seconds(630),
        "the token has 600 s and 30 s of leeway, viewer says {left}"
    );

    let auditor = token_for("auditor", Some("A0001"), None, None);
    let (_, answer) = app.graphql_as(&auditor, VIEWER, json!({}), &[]).await;
    let capabilities = &answer["data"]["viewer"]["capabilities"];
    assert!(
        capabilities
            .as_array()
            .unwrap()
            .contains(&json!("read_audit")),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_console_signs_in_at_the_bank_s_provider_only() {
    let app = TestApp::builder()
        .config(|config| {
            production(config);
            config.console.issuer = Some("https://idp.bank.test/realms/staff".into());
            config.console.client_id = Some("c360-console".into());
        })
        .spawn()
        .await;
    let (status, _, body) = get(&app, "/console/config.json", "application/json").await;
    assert_eq!(status, 200, "{body}");
    let config: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["profile"], "production");
    assert_eq!(
        config["oidc"]["issuer"],
        "https://idp.bank.test/realms/staff"
    );
    assert_eq!(config["oidc"]["clientId"], "c360-console");
    assert!(
        config["demoTokens"].is_null(),
        "no development tokens: {config}"
    );

    let page = app
        .bare
        .get(format!("{}/console/", app.hub))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("connect-src 'self' ws: wss: https://idp.bank.test;"),
        "{csp}"
    );
    // No GraphiQL in production, and the root is not a way into anything.
    let (_, kind, _) = get(&app, "/graphql", "text/html").await;
    assert!(!kind.starts_with("text/html"), "GraphiQL in production");
    let (status, _, _) = get(&app, "/", "text/html").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_hub_names_no_provider_and_serves_no_console() {
    let app = TestApp::builder().config(production).spawn().await;
    for path in ["/console/", "/console/config.json", "/console/app.js"] {
        let (status, _, body) = get(&app, path, "*/*").await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

/// The console's live connection states the purpose of its reads as its HTTP
/// requests do (a browser cannot set headers on a WebSocket): the same fields are
/// unmasked and audited with the same purpose, and a purpose that names none ends
/// the connection instead of being ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_states_its_purpose_like_an_http_request() {
    let app = TestApp::builder().spawn().await;
    let (_, _, body) = get(&app, "/console/config.json", "application/json").await;
    let config: Value = serde_json::from_str(&body).unwrap();
    let manager = config["demoTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["role"] == "relationship_manager")
        .expect("a relationship manager's token")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = json!({
        "query": "query($id: ID!) { customer(id: $id) { name mobile } }",
        "variables": {"id": "1000000001"},
    });
    let (_, stated) = app
        .graphql_as(
            &manager,
            query["query"].as_str().unwrap(),
            query["variables"].clone(),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    let (_, unstated) = app
        .graphql_as(
            &manager,
            query["query"].as_str().unwrap(),
            query["variables"].clone(),
            &[],
        )
        .await;
    assert_ne!(
        stated["data"], unstated["data"],
        "a stated purpose unmasks the relationship manager's view"
    );

    let bearer = format!("Bearer {manager}");
    for (payload, expected) in [
        (
            json!({"Authorization": bearer, "X-C360-Purpose": "SERVICE"}),
            &stated,
        ),
        (json!({"Authorization": bearer}), &unstated),
    ] {
        let (mut socket, first) = ws_open(&app.ws_url(), payload.clone()).await;
        assert_eq!(
            first.map(|m| m["type"].clone()),
            Some(json!("connection_ack"))
        );
        match ws_operation(&mut socket, "1", query.clone(), Duration::from_secs(5)).await {
            WsOutcome::Answer(answer) => {
                assert_eq!(answer["data"], expected["data"], "{payload}")
            }
            other => panic!("{payload}: {other:?}"),
        }
    }

    let (_, first) = ws_open(
        &app.ws_url(),
        json!({"Authorization": bearer, "X-C360-Purpose": "CURIOSITY"}),
    )
    .await;
    assert_ne!(
        first.map(|m| m["type"].clone()),
        Some(json!("connection_ack")),
        "an unknown purpose is refused"
    );
}
