//! Derived data follows its source: every field of the schema carries data classes
//! (`c360::graphql::classes::REGISTRY`), a role's `deny_classes` refuses every field
//! carrying one, and personal classes are masked unless the role sees them. The walk
//! here asks every role for every leaf reachable from the query root, over HTTP and
//! over WebSocket, and checks each answer against what the registry and the policy
//! say: FORBIDDEN, masked, or the value. The expectations are computed from the
//! registry and `config/policies.toml`, never listed by hand.

use std::collections::{BTreeMap, HashMap};

use crate::common::*;
use c360::auth::{Policies, RolePolicy, ScopeRule};
use c360::domain::{ClassSet, DataClass};
use c360::graphql::classes::{classes_of, PER_VALUE};
use serde_json::{json, Value};

const PERSONAL: [DataClass; 7] = [
    DataClass::Name,
    DataClass::IdNumber,
    DataClass::Mobile,
    DataClass::Email,
    DataClass::Address,
    DataClass::AccountNumber,
    DataClass::BirthDate,
];

/// Fields whose values change between two reads of the same customer (cache use, the
/// clock): checked for FORBIDDEN, not compared.
const VOLATILE: [&str; 3] = [
    "Customer.sources",
    "Customer.mayContact",
    "Query.accessAudit",
];

/// Fields whose answer depends on which related customers the role's scope reaches.
const SCOPED: [&str; 3] = [
    "Customer.household",
    "Customer.party",
    "Customer.relationships",
];

// ---------------------------------------------------------------------------------
// The schema, as introspection describes it.

#[derive(Debug, Clone)]
struct TypeRef {
    kind: String,
    name: Option<String>,
    of_type: Option<Box<TypeRef>>,
}

impl TypeRef {
    fn parse(v: &Value) -> TypeRef {
        TypeRef {
            kind: v["kind"].as_str().unwrap_or_default().to_owned(),
            name: v["name"].as_str().map(str::to_owned),
            of_type: (!v["ofType"].is_null()).then(|| Box::new(TypeRef::parse(&v["ofType"]))),
        }
    }

    fn named(&self) -> &str {
        match &self.name {
            Some(name) => name,
            None => self.of_type.as_ref().expect("a wrapped type").named(),
        }
    }

    fn required(&self) -> bool {
        self.kind == "NON_NULL"
    }

    fn is_list(&self) -> bool {
        self.kind == "LIST" || (self.kind == "NON_NULL" && self.of_type.as_ref().unwrap().is_list())
    }
}

struct Arg {
    name: String,
    ty: TypeRef,
    has_default: bool,
}

struct FieldDef {
    name: String,
    args: Vec<Arg>,
    ty: TypeRef,
}

struct TypeDef {
    kind: String,
    fields: Vec<FieldDef>,
    enum_values: Vec<String>,
}

async fn schema() -> HashMap<String, TypeDef> {
    let query = r#"{ __schema { types { name kind enumValues { name }
        fields { name args { name defaultValue type { ...T } } type { ...T } } } } }
        fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"#;
    let answer = c360::graphql::bare_schema().execute(query).await;
    let data = answer.data.into_json().unwrap();
    let mut types = HashMap::new();
    for t in data["__schema"]["types"].as_array().unwrap() {
        let fields = t["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| FieldDef {
                name: f["name"].as_str().unwrap().to_owned(),
                args: f["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| Arg {
                        name: a["name"].as_str().unwrap().to_owned(),
                        ty: TypeRef::parse(&a["type"]),
                        has_default: !a["defaultValue"].is_null(),
                    })
                    .collect(),
                ty: TypeRef::parse(&f["type"]),
            })
            .collect();
        let enum_values = t["enumValues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        types.insert(
            t["name"].as_str().unwrap().to_owned(),
            TypeDef {
                kind: t["kind"].as_str().unwrap().to_owned(),
                fields,
                enum_values,
            },
        );
    }
    types
}

// ---------------------------------------------------------------------------------
// Queries: one per root field (and per top-level field of `customer`), selecting
// every leaf below it.

/// One selected field: `Type.field`, its arguments, and what is selected below it.
#[derive(Debug, Clone)]
struct Sel {
    owner: String,
    name: String,
    args: String,
    returns: String,
    list: bool,
    children: Vec<Sel>,
}

impl Sel {
    fn key(&self) -> String {
        format!("{}.{}", self.owner, self.name)
    }

    fn text(&self) -> String {
        let mut out = self.name.clone();
        out.push_str(&self.args);
        if !self.children.is_empty() {
            out.push_str(" { ");
            for child in &self.children {
                out.push_str(&child.text());
                out.push(' ');
            }
            out.push('}');
        }
        out
    }
}

/// What the walk passes for arguments: the showcase customer, its contact, the first
/// value of an enum, small pages.
struct Fixture {
    cif: String,
    interaction: String,
    id_number: String,
    branch: String,
}

fn literal(types: &HashMap<String, TypeDef>, ty: &TypeRef) -> String {
    let named = ty.named();
    let one = match types[named].kind.as_str() {
        "ENUM" => types[named].enum_values[0].clone(),
        _ => match named {
            "Int" => "2".into(),
            "Boolean" => "false".into(),
            other => panic!("no literal for a required {other}"),
        },
    };
    if ty.is_list() {
        format!("[{one}]")
    } else {
        one
    }
}

fn args_for(
    types: &HashMap<String, TypeDef>,
    owner: &str,
    field: &FieldDef,
    fx: &Fixture,
) -> String {
    let mut args = Vec::new();
    for arg in &field.args {
        let value = match (owner, field.name.as_str(), arg.name.as_str()) {
            ("Query", "customer", "id") | ("Subscription", "customerChanged", "id") => {
                Some(format!("{:?}", fx.cif))
            }
            ("Query", "customers", "ids") => Some(format!("[{:?}]", fx.cif)),
            ("Query", "interaction", "id") => Some(format!("{:?}", fx.interaction)),
            ("Query", "searchCustomers", "idNumber") => Some(format!("{:?}", fx.id_number)),
            ("Query", "interactions" | "interactionStats", "filter") => {
                Some(format!("{{customerId: {:?}}}", fx.cif))
            }
            ("Query", "customerBook", "filter") => Some(format!("{{branch: {:?}}}", fx.branch)),
            ("Subscription", "interactionLogged", "customerId") => Some(format!("{:?}", fx.cif)),
            (_, _, "first") => Some("2".into()),
            _ if arg.ty.required() && !arg.has_default => Some(literal(types, &arg.ty)),
            _ => None,
        };
        if let Some(value) = value {
            args.push(format!("{}: {value}", arg.name));
        }
    }
    if args.is_empty() {
        String::new()
    } else {
        format!("({})", args.join(", "))
    }
}

/// Every field of `type_name` down to the leaves. A type with an id is entered once
/// in the whole walk (the first path that meets it, the showcase customer's for
/// `Customer`); elsewhere, and wherever it comes back on its own path, its id stands
/// for it. Its fields' classes are the same on every path, so each `Type.field` is
/// still walked, and the operations stay within the complexity limit.
fn select(
    types: &HashMap<String, TypeDef>,
    type_name: &str,
    stack: &mut Vec<String>,
    expanded: &mut std::collections::HashSet<String>,
    fx: &Fixture,
) -> Vec<Sel> {
    let mut out = Vec::new();
    for field in &types[type_name].fields {
        let returns = field.ty.named().to_owned();
        let mut sel = Sel {
            owner: type_name.to_owned(),
            name: field.name.clone(),
            args: args_for(types, type_name, field, fx),
            returns: returns.clone(),
            list: field.ty.is_list(),
            children: Vec::new(),
        };
        if types[&returns].kind == "OBJECT" {
            let id = types[&returns].fields.iter().find(|f| f.name == "id");
            let seen = stack.contains(&returns) || expanded.contains(&returns);
            match id {
                Some(id) if seen => {
                    sel.children = vec![Sel {
                        owner: returns.clone(),
                        name: "id".into(),
                        args: String::new(),
                        returns: id.ty.named().to_owned(),
                        list: false,
                        children: Vec::new(),
                    }];
                }
                _ => {
                    assert!(
                        !stack.contains(&returns),
                        "{returns} contains itself without an id"
                    );
                    if id.is_some() {
                        expanded.insert(returns.clone());
                    }
                    stack.push(returns.clone());
                    sel.children = select(types, &returns, stack, expanded, fx);
                    stack.pop();
                }
            }
        }
        out.push(sel);
    }
    out
}

/// The walk's operations: one per top-level field of the showcase customer and one
/// per other root query field, each selecting everything below it.
fn operations(types: &HashMap<String, TypeDef>, fx: &Fixture) -> Vec<(String, Sel)> {
    let mut ops = Vec::new();
    let mut stack = vec!["Query".to_owned()];
    let mut expanded = std::collections::HashSet::new();
    for root in select(types, "Query", &mut stack, &mut expanded, fx) {
        if root.name == "customer" {
            for child in &root.children {
                let mut one = root.clone();
                one.children = vec![child.clone()];
                ops.push((format!("{{ {} }}", one.text()), one));
            }
        } else {
            ops.push((format!("{{ {} }}", root.text()), root));
        }
    }
    ops
}

// ---------------------------------------------------------------------------------
// What the policy expects of each leaf.

fn denied(policy: &RolePolicy, key: &str) -> bool {
    let (t, f) = key.split_once('.').unwrap();
    policy.deny.contains(key) || classes_of(t, f).intersects(policy.deny_classes)
}

fn class_names(key: &str) -> Vec<&'static str> {
    let (t, f) = key.split_once('.').unwrap();
    classes_of(t, f).names()
}

fn per_value(key: &str) -> ClassSet {
    PER_VALUE
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(ClassSet::EMPTY, |(_, c)| ClassSet::of(c))
}

/// Whether a role sees the personal classes of `key` masked (without a purpose).
fn masked_for(policy: &RolePolicy, key: &str) -> bool {
    let (t, f) = key.split_once('.').unwrap();
    let classes = classes_of(t, f);
    PERSONAL
        .iter()
        .any(|c| classes.contains(*c) && !policy.unmasked.names().contains(&c.as_str()))
}

/// Every place a leaf's selection path reaches in an answer: the response path and the
/// value, or, where something on the way is null, the path to that null.
fn instances(data: &Value, path: &[&Sel]) -> Vec<(Vec<Value>, usize, Value)> {
    fn go(
        value: &Value,
        path: &[&Sel],
        depth: usize,
        at: &mut Vec<Value>,
        out: &mut Vec<(Vec<Value>, usize, Value)>,
    ) {
        if depth == path.len() {
            out.push((at.clone(), depth, value.clone()));
            return;
        }
        let sel = path[depth];
        let next = &value[&sel.name];
        at.push(json!(sel.name));
        if next.is_null() || depth + 1 == path.len() {
            out.push((at.clone(), depth + 1, next.clone()));
        } else if sel.list {
            for (i, item) in next.as_array().into_iter().flatten().enumerate() {
                at.push(json!(i));
                if item.is_null() {
                    out.push((at.clone(), depth + 1, Value::Null));
                } else {
                    go(item, path, depth + 1, at, out);
                }
                at.pop();
            }
        } else {
            go(next, path, depth + 1, at, out);
        }
        at.pop();
    }
    let mut out = Vec::new();
    go(data, path, 0, &mut Vec::new(), &mut out);
    out
}

fn leaves<'a>(sel: &'a Sel, path: &mut Vec<&'a Sel>, out: &mut Vec<Vec<&'a Sel>>) {
    path.push(sel);
    if sel.children.is_empty() {
        out.push(path.clone());
    } else {
        for child in &sel.children {
            leaves(child, path, out);
        }
    }
    path.pop();
}

fn forbidden_paths(answer: &Value) -> Vec<Value> {
    errors_with_code(answer, "FORBIDDEN")
        .into_iter()
        .map(|e| e["path"].clone())
        .collect()
}

/// The values a leaf has in an answer, in order.
fn values_at(answer: &Value, path: &[&Sel]) -> Vec<Value> {
    instances(&answer["data"], path)
        .into_iter()
        .filter(|(_, depth, _)| *depth == path.len())
        .map(|(_, _, v)| v)
        .collect()
}

/// The roots the walk gives a CIF to: a pseudonymous role is refused all of them.
const LOOKUPS_BY_CIF: [&str; 4] = [
    "Query.customer",
    "Query.customers",
    "Query.interactions",
    "Query.interactionStats",
];

struct Check<'a> {
    role: &'a str,
    policy: &'a RolePolicy,
    transport: &'a str,
}

impl Check<'_> {
    /// Checks one answer of this role against the policy, leaf by leaf; returns how
    /// many leaf instances it looked at.
    fn answer(&self, op: &Sel, answer: &Value, masked_ref: &Value, clear_ref: &Value) -> usize {
        let who = format!("{} over {}", self.role, self.transport);
        let forbidden = forbidden_paths(answer);
        let reads_all = self.policy.scope.contains(&ScopeRule::All);
        let mut all = Vec::new();
        leaves(op, &mut Vec::new(), &mut all);
        let mut looked = 0;
        for path in all {
            let keys: Vec<String> = path.iter().map(|s| s.key()).collect();
            let leaf = keys.last().unwrap().clone();
            let first_denied = keys.iter().position(|k| denied(self.policy, k));
            // A role that does not read everyone is refused customers (and root
            // lookups naming one) outside its scope.
            // A pseudonymous role may not look a customer up by CIF at all: a root
            // taking customer ids is refused it whatever the classes say.
            let scope_may_refuse = |depth: usize| {
                (!reads_all && (depth == 1 || path[depth - 1].returns == "Customer"))
                    || (self.policy.pseudonymous
                        && depth == 1
                        && LOOKUPS_BY_CIF.contains(&keys[0].as_str()))
            };
            // A pseudonymous role reads amounts as bands: `Money.amount` is refused it
            // wherever it is one customer's (docs/bi.md).
            let runtime_denied = per_value(&leaf).intersects(self.policy.deny_classes)
                || (self.policy.pseudonymous && leaf == "Money.amount");
            let mut scope_refused = false;
            for (at, depth, value) in instances(&answer["data"], &path) {
                looked += 1;
                match first_denied {
                    Some(i) if depth > i => {
                        assert!(
                            value.is_null() && depth == i + 1,
                            "{who}: {} is denied to the role (by name or by a class of {:?}), yet {} answered {value}",
                            keys[i],
                            class_names(&keys[i]),
                            keys[..depth].join(" > ")
                        );
                        assert!(
                            forbidden.contains(&Value::Array(at.clone())),
                            "{who}: no FORBIDDEN at {at:?} for {}: {answer}",
                            keys[i]
                        );
                    }
                    _ => {
                        // Allowed so far: a FORBIDDEN on the way must be the scope's.
                        if forbidden.contains(&Value::Array(at.clone())) {
                            let explained =
                                scope_may_refuse(depth) || (depth == path.len() && runtime_denied);
                            assert!(
                                explained,
                                "{who}: {} is FORBIDDEN, but neither its classes nor the scope refuse it: {answer}",
                                keys[..depth].join(" > ")
                            );
                            scope_refused |= depth < path.len() || !runtime_denied;
                        }
                    }
                }
            }
            if first_denied.is_some() || scope_refused || self.role == "bi_analyst" {
                // bi_analyst's values are de-identified by its own rules; only what is
                // refused is checked here.
                continue;
            }
            if keys.iter().any(|k| VOLATILE.contains(&k.as_str()))
                || keys[0] != "Query.customer"
                || (!reads_all && keys.iter().any(|k| SCOPED.contains(&k.as_str())))
                || runtime_denied
            {
                continue;
            }
            let mine = values_at(answer, &path);
            if masked_for(self.policy, &leaf) {
                let clear = values_at(clear_ref, &path);
                for v in mine.iter().filter(|v| !v.is_null()) {
                    assert!(
                        !clear.contains(v),
                        "{who}: {} is a personal class the role sees masked, yet it answered the clear value {v}",
                        keys.join(" > ")
                    );
                }
            }
            assert_eq!(
                mine,
                values_at(masked_ref, &path),
                "{who}: {} differs from the masked reference",
                keys.join(" > ")
            );
        }
        looked
    }
}

// ---------------------------------------------------------------------------------
// The showcase: a customer with something in every class.

/// A customer with deposits, cards, loans, online banking, a birth date, a household
/// and a relationship that names an account or a loan: the first in the sandbox.
async fn showcase(app: &TestApp) -> String {
    let rich = |c: &&Value| {
        let some = |k: &str| c[k].as_array().is_some_and(|a| !a.is_empty());
        some("accounts")
            && some("cards")
            && some("loans")
            && !c["onlineBanking"].is_null()
            && !c["birthDate"].is_null()
            && !c["household"].is_null()
            && c["relationships"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| !r["reference"].is_null()))
    };
    for first in (1..=CUSTOMERS).step_by(100) {
        let ids: Vec<String> = (first..first + 100)
            .map(|i| (1_000_000_000u64 + i).to_string())
            .collect();
        let answer = app
            .graphql(
                "query($ids: [ID!]!) { customers(ids: $ids) { id accounts { number } cards { number }
                   loans { id } onlineBanking { userId } birthDate
                   relationships { reference } household { members { relation } } } }",
                json!({"ids": ids}),
            )
            .await;
        if let Some(c) = answer["data"]["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(rich)
        {
            return c["id"].as_str().unwrap().to_owned();
        }
    }
    panic!("no customer of the sandbox has every kind of data");
}

fn token(role: &str, branch: &str, rm: Option<&str>, cif: &str) -> String {
    match role {
        "customer" => token_for("customer", None, None, Some(cif)),
        "relationship_manager" => token_for(role, Some(rm.unwrap_or("S9999")), Some(branch), None),
        _ => token_for(role, Some(&format!("W-{role}")), Some(branch), None),
    }
}

/// Runs `query` over one WebSocket connection and returns the single result.
async fn over_ws(socket: &mut Socket, id: usize, query: &str) -> Value {
    ws_send(
        socket,
        json!({"type": "subscribe", "id": id.to_string(), "payload": {"query": query}}),
    )
    .await;
    let key = id.to_string();
    let ours = |m: &Value| m["id"].as_str() == Some(key.as_str());
    let mut result = Value::Null;
    loop {
        let message = ws_next(socket, std::time::Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("no answer over WebSocket to {query}"));
        match message["type"].as_str() {
            Some("next") if ours(&message) => result = message["payload"].clone(),
            Some("error") if ours(&message) => {
                return json!({"data": null, "errors": message["payload"]});
            }
            Some("complete") if ours(&message) => return result,
            _ => {}
        }
    }
}

async fn open_ws(app: &TestApp, token: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket upgrade");
    ws_send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}),
    )
    .await;
    let ack = ws_next(&mut socket, std::time::Duration::from_secs(5)).await;
    assert_eq!(
        ack.map(|m| m["type"].clone()),
        Some(json!("connection_ack"))
    );
    socket
}

async fn spawn() -> TestApp {
    TestApp::builder()
        .config(|c| {
            c.access.subject_rate = 10_000;
            c.access.subject_burst = 10_000;
            c.access.client_rate = 10_000;
            c.access.client_burst = 10_000;
        })
        .spawn()
        .await
}

#[tokio::test]
async fn every_role_sees_every_leaf_as_its_classes_say_over_http_and_websocket() {
    let app = spawn().await;
    let policies = Policies::load(std::path::Path::new("config/policies.toml")).unwrap();
    let cif = showcase(&app).await;
    let raw = app.core_customer(&cif).await;
    let branch = raw["BRCH_NO"].as_str().unwrap().to_owned();
    let rm = raw["RM_NO"].as_str().map(str::to_owned);
    let logged = app
        .log_ok(
            with(
                interaction_input(&cif, "statement question"),
                json!({"notes": "asked about the card statement", "type": "COMPLAINT"}),
            ),
            None,
        )
        .await;
    let interaction = logged["id"].as_str().unwrap().to_owned();
    let clear_token = token_for("admin", Some("REF-CLEAR"), Some(&branch), None);
    let (_, id_doc) = app
        .graphql_as(
            &clear_token,
            "query($id: ID!) { customer(id: $id) { idDocument { number } } }",
            json!({"id": cif}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    let fx = Fixture {
        cif: cif.clone(),
        interaction,
        id_number: id_doc["data"]["customer"]["idDocument"]["number"]
            .as_str()
            .unwrap()
            .to_owned(),
        branch: branch.clone(),
    };
    let types = schema().await;
    let ops = operations(&types, &fx);
    assert!(ops.len() > 30, "{} operations", ops.len());

    // The references: an admin stating a purpose sees every personal class in clear;
    // without one, everything masked, which is what a role without `unmasked`
    // classes should see of whatever it is not denied.
    let masked_token = token_for("admin", Some("REF-MASKED"), Some(&branch), None);
    let mut clear_refs = Vec::new();
    let mut masked_refs = Vec::new();
    for (query, _) in &ops {
        let (_, clear) = app
            .graphql_as(
                &clear_token,
                query,
                json!({}),
                &[("x-c360-purpose", "SERVICE")],
            )
            .await;
        let (_, masked) = app.graphql_as(&masked_token, query, json!({}), &[]).await;
        clear_refs.push(clear);
        masked_refs.push(masked);
    }

    let mut per_role = BTreeMap::new();
    for role in policies.role_names() {
        let policy = policies.role(role).unwrap();
        let token = token(role, &branch, rm.as_deref(), &cif);
        let mut socket = open_ws(&app, &token).await;
        let mut looked = 0;
        for (i, (query, op)) in ops.iter().enumerate() {
            let (status, over_http) = app.graphql_as(&token, query, json!({}), &[]).await;
            assert_eq!(status, 200, "{role}: {query}: {over_http}");
            let over_ws = over_ws(&mut socket, i + 1, query).await;
            for (transport, answer) in [("HTTP", &over_http), ("WebSocket", &over_ws)] {
                let check = Check {
                    role,
                    policy,
                    transport,
                };
                looked += check.answer(op, answer, &masked_refs[i], &clear_refs[i]);
            }
        }
        per_role.insert(role.to_owned(), looked);
    }
    for (role, looked) in &per_role {
        assert!(*looked > 100, "{role}: only {looked} leaves looked at");
    }
}

/// The write and subscription roots: a role denied a root field's classes is refused
/// it, over HTTP for mutations and over WebSocket for both. (A root it may run is not
/// run here: that would write; the contact-log and consent tests cover those.)
#[tokio::test]
async fn denied_roots_are_refused_over_http_and_websocket() {
    let app = spawn().await;
    let policies = Policies::load(std::path::Path::new("config/policies.toml")).unwrap();
    let cif = showcase(&app).await;
    let raw = app.core_customer(&cif).await;
    let branch = raw["BRCH_NO"].as_str().unwrap().to_owned();
    let rm = raw["RM_NO"].as_str().map(str::to_owned);
    let logged = app
        .log_ok(interaction_input(&cif, "statement question"), None)
        .await;
    let interaction = logged["id"].as_str().unwrap().to_owned();
    let types = schema().await;
    let operation = |root: &str, field: &FieldDef| -> (String, Value) {
        let (query, variables) = match (root, field.name.as_str()) {
            ("Mutation", "logInteraction") => (
                "mutation($v: LogInteractionInput!) { logInteraction(input: $v) { id } }",
                interaction_input(&cif, "walk"),
            ),
            ("Mutation", "updateInteraction") => (
                "mutation($v: UpdateInteractionInput!, $id: ID!) { updateInteraction(id: $id, input: $v) { id } }",
                json!({"staffId": "S0001", "notes": "walk"}),
            ),
            ("Mutation", "recordConsent") => (
                "mutation($v: RecordConsentInput!) { recordConsent(input: $v) { id } }",
                json!({"customerId": cif, "purpose": "MARKETING", "channel": "SMS", "granted": true, "source": "BRANCH"}),
            ),
            ("Mutation", "recordContactPreferences") => (
                "mutation($v: ContactPreferencesInput!) { recordContactPreferences(input: $v) { doNotContact } }",
                json!({"customerId": cif, "source": "BRANCH"}),
            ),
            ("Subscription", "interactionLogged") => (
                "subscription($id: ID) { interactionLogged(customerId: $id) { id } }",
                Value::Null,
            ),
            ("Subscription", "customerChanged") => (
                "subscription($id: ID!) { customerChanged(id: $id) { id } }",
                Value::Null,
            ),
            (root, other) => panic!("{root}.{other}: the walk needs an operation for it"),
        };
        (
            query.to_owned(),
            json!({"v": variables, "id": if field.name == "updateInteraction" { interaction.clone() } else { cif.clone() }}),
        )
    };
    let mut refused = 0;
    for role in policies.role_names() {
        let policy = policies.role(role).unwrap();
        let token = token(role, &branch, rm.as_deref(), &cif);
        for root in ["Mutation", "Subscription"] {
            for field in &types[root].fields {
                let key = format!("{root}.{}", field.name);
                if !denied(policy, &key) {
                    continue;
                }
                let (query, variables) = operation(root, field);
                let mut answers = Vec::new();
                if root == "Mutation" {
                    let (_, answer) = app.graphql_as(&token, &query, variables.clone(), &[]).await;
                    answers.push(("HTTP", answer));
                }
                let mut socket = open_ws(&app, &token).await;
                ws_send(
                    &mut socket,
                    json!({"type": "subscribe", "id": "1", "payload": {"query": query, "variables": variables}}),
                )
                .await;
                let message = ws_next(&mut socket, std::time::Duration::from_secs(10))
                    .await
                    .unwrap_or_else(|| panic!("{role}: {key}: no answer over WebSocket"));
                let answer = match message["type"].as_str() {
                    Some("error") => json!({"errors": message["payload"]}),
                    _ => message["payload"].clone(),
                };
                answers.push(("WebSocket", answer));
                for (transport, answer) in answers {
                    assert_eq!(
                        errors_with_code(&answer, "FORBIDDEN").len(),
                        1,
                        "{role} over {transport}: {key} carries {:?}, which the role is denied: {answer}",
                        class_names(&key)
                    );
                    refused += 1;
                }
            }
        }
    }
    assert!(refused >= 10, "{refused} refusals checked");
}

// ---------------------------------------------------------------------------------
// The side doors of issue 18, one by one.

const RISK_SIDE_DOORS: &str = r#"query($id: ID!) { customer(id: $id) {
    holdings { deposits { amount } aum { amount } loansOutstanding { amount } creditUsed { amount } }
    insights { tier }
    household { holdings { deposits { amount } aum { amount } loansOutstanding { amount } } }
    loans { id outstanding { amount } }
} }"#;

#[tokio::test]
async fn a_risk_officer_gets_no_deposit_figure_through_holdings_insights_or_the_household() {
    let app = spawn().await;
    let cif = showcase(&app).await;
    let token = token_for("risk_officer", Some("R0001"), Some("B001"), None);
    let (status, answer) = app
        .graphql_as(&token, RISK_SIDE_DOORS, json!({"id": cif}), &[])
        .await;
    assert_eq!(status, 200, "{answer}");
    let customer = &answer["data"]["customer"];
    for pointer in [
        "/holdings/deposits",
        "/holdings/aum",
        "/insights",
        "/household/holdings/deposits",
        "/household/holdings/aum",
    ] {
        assert!(
            customer.pointer(pointer).is_some_and(Value::is_null),
            "{pointer} answered for a risk officer: {answer}"
        );
    }
    let forbidden = forbidden_paths(&answer);
    for path in [
        json!(["customer", "holdings", "deposits"]),
        json!(["customer", "holdings", "aum"]),
        json!(["customer", "insights"]),
        json!(["customer", "household", "holdings", "deposits"]),
        json!(["customer", "household", "holdings", "aum"]),
    ] {
        assert!(
            forbidden.contains(&path),
            "no FORBIDDEN at {path}: {answer}"
        );
    }
    // Credit exposure, which is the risk officer's job, still answers.
    assert!(
        customer["holdings"]["loansOutstanding"]["amount"].is_string(),
        "{answer}"
    );
    assert!(
        customer["household"]["holdings"]["loansOutstanding"]["amount"].is_string(),
        "{answer}"
    );
    assert!(customer["loans"][0]["id"].is_string(), "{answer}");
}

/// A customer with a relationship that names an account (a joint holder), and that
/// account's number.
async fn with_a_joint_account(app: &TestApp) -> (String, String) {
    let admin = token_for("admin", Some("FINDER"), Some("B001"), None);
    for first in (1..=CUSTOMERS).step_by(100) {
        let ids: Vec<String> = (first..first + 100)
            .map(|i| (1_000_000_000u64 + i).to_string())
            .collect();
        let (_, answer) = app
            .graphql_as(
                &admin,
                "query($ids: [ID!]!) { customers(ids: $ids) { id relationships { kind reference } } }",
                json!({"ids": ids}),
                &[("x-c360-purpose", "SERVICE")],
            )
            .await;
        for c in answer["data"]["customers"].as_array().unwrap() {
            for r in c["relationships"].as_array().into_iter().flatten() {
                if r["kind"] == "JOINT_HOLDER" && r["reference"].is_string() {
                    return (
                        c["id"].as_str().unwrap().to_owned(),
                        r["reference"].as_str().unwrap().to_owned(),
                    );
                }
            }
        }
    }
    panic!("no joint holder in the sandbox");
}

#[tokio::test]
async fn a_relationship_reference_is_masked_like_an_account_number_and_audited_when_shown() {
    let db = TestDb::sqlite();
    let app = TestApp::builder().database(&db).spawn().await;
    let (cif, account) = with_a_joint_account(&app).await;
    let query = r#"query Ref($id: ID!) { customer(id: $id) { relationships { kind reference } } }"#;
    let references = |answer: &Value| -> Vec<String> {
        answer["data"]["customer"]["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["reference"].as_str().map(str::to_owned))
            .collect()
    };
    let teller = token_for("teller", Some("T0001"), Some("B001"), None);
    let (_, answer) = app
        .graphql_as(&teller, query, json!({"id": cif}), &[])
        .await;
    let shown = references(&answer);
    assert!(
        !shown.contains(&account),
        "a teller sees {account} in clear: {answer}"
    );
    assert!(
        shown.contains(&c360::auth::mask(
            c360::auth::Personal::AccountNumber,
            &account
        )),
        "{answer}"
    );

    let admin = token_for("admin", Some("A0001"), Some("B001"), None);
    let (_, answer) = app
        .graphql_as(
            &admin,
            query,
            json!({"id": cif}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    assert!(references(&answer).contains(&account), "{answer}");
    let revealed = audit_rows_for(&app, &cif, "Ref").await;
    assert!(
        revealed
            .iter()
            .any(|r| r.contains(&"account_number".to_owned())),
        "the clear reference is not in the access audit: {revealed:?}"
    );
}

/// The `fieldsRevealed` of the audit rows of `operation` on `cif`.
async fn audit_rows_for(app: &TestApp, cif: &str, operation: &str) -> Vec<Vec<String>> {
    let auditor = token_for("auditor", Some("AUD1"), None, None);
    for _ in 0..50 {
        let (_, answer) = app
            .graphql_as(
                &auditor,
                "query($id: ID!) { accessAudit(filter: {customerId: $id}, first: 50) { edges { node { operation fieldsRevealed } } } }",
                json!({"id": cif}),
                &[],
            )
            .await;
        let rows: Vec<Vec<String>> = answer["data"]["accessAudit"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["node"]["operation"] == operation)
            .map(|e| {
                e["node"]["fieldsRevealed"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect()
            })
            .collect();
        if !rows.is_empty() {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Vec::new()
}

#[tokio::test]
async fn account_numbers_in_insight_reasons_are_masked_and_audited_when_shown() {
    let app = spawn().await;
    // A customer whose reasons name accounts (a maturing or matured time deposit).
    let query = r#"query Reasons($ids: [ID!]!) { customers(ids: $ids) { id
        accounts { number }
        insights { nextBestOffers { reasons { rule detail inputs } } churnRisk { reasons { rule detail inputs } } } } }"#;
    let admin = token_for("admin", Some("A0002"), Some("B001"), None);
    let mut found = None;
    for first in (1..=CUSTOMERS).step_by(50) {
        let chunk: Vec<String> = (first..first + 50)
            .map(|i| (1_000_000_000u64 + i).to_string())
            .collect();
        let (_, answer) = app
            .graphql_as(
                &admin,
                query,
                json!({"ids": chunk}),
                &[("x-c360-purpose", "SERVICE")],
            )
            .await;
        for c in answer["data"]["customers"].as_array().unwrap() {
            let text = c["insights"].to_string();
            let named: Vec<String> = c["accounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["number"].as_str().map(str::to_owned))
                .filter(|n| text.contains(n.as_str()))
                .collect();
            if !named.is_empty() {
                found = Some((c["id"].as_str().unwrap().to_owned(), named));
                break;
            }
        }
        if found.is_some() {
            break;
        }
    }
    let (cif, numbers) = found.expect("a customer whose insight reasons name an account");
    let one = r#"query One($id: ID!) { customer(id: $id) {
        insights { nextBestOffers { reasons { detail inputs } } churnRisk { reasons { detail inputs } } } } }"#;
    let raw = app.core_customer(&cif).await;
    let branch = raw["BRCH_NO"].as_str().unwrap();
    let rm = token("relationship_manager", branch, raw["RM_NO"].as_str(), &cif);
    let bm = token("branch_manager", branch, None, &cif);
    for token in [&rm, &bm] {
        let (_, answer) = app.graphql_as(token, one, json!({"id": cif}), &[]).await;
        let text = answer["data"]["customer"]["insights"].to_string();
        assert!(
            answer["data"]["customer"]["insights"].is_object(),
            "{answer}"
        );
        for n in &numbers {
            assert!(
                !text.contains(n.as_str()),
                "{n} in clear in the reasons: {answer}"
            );
        }
    }
    // The same through the masked reference: an admin without a purpose.
    let (_, answer) = app.graphql_as(&admin, one, json!({"id": cif}), &[]).await;
    let text = answer["data"]["customer"]["insights"].to_string();
    for n in &numbers {
        assert!(
            !text.contains(n.as_str()),
            "{n} in clear without a purpose: {answer}"
        );
        assert!(
            text.contains(&c360::auth::mask(c360::auth::Personal::AccountNumber, n)),
            "{answer}"
        );
    }
    // Shown in clear with a purpose, and the reveal is in the access audit.
    let (_, answer) = app
        .graphql_as(
            &admin,
            one,
            json!({"id": cif}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    assert!(answer["data"]["customer"]["insights"]
        .to_string()
        .contains(numbers[0].as_str()));
    let revealed = audit_rows_for(&app, &cif, "One").await;
    assert!(
        revealed
            .iter()
            .any(|r| r.contains(&"account_number".to_owned())),
        "{revealed:?}"
    );
    // A role denied account numbers is refused the reasons' detail and inputs.
    let bi = token_for("bi_analyst", Some("BI01"), Some("B001"), None);
    let (_, answer) = app.graphql_as(&bi, one, json!({"id": cif}), &[]).await;
    let text = answer["data"].to_string();
    for n in &numbers {
        assert!(
            !text.contains(n.as_str()),
            "{n} reaches a BI analyst: {answer}"
        );
        assert!(
            !text.contains(&c360::auth::mask(c360::auth::Personal::AccountNumber, n)),
            "{answer}"
        );
    }
    assert!(
        !errors_with_code(&answer, "FORBIDDEN").is_empty(),
        "{answer}"
    );
}

#[tokio::test]
async fn a_teller_sees_the_birth_year_only_and_a_clear_birth_date_is_audited() {
    let db = TestDb::sqlite();
    let app = TestApp::builder().database(&db).spawn().await;
    let cif = showcase(&app).await;
    let query = "query Born($id: ID!) { customer(id: $id) { birthDate } }";
    let admin = token_for("admin", Some("A0003"), Some("B001"), None);
    let (_, clear) = app
        .graphql_as(
            &admin,
            query,
            json!({"id": cif}),
            &[("x-c360-purpose", "SERVICE")],
        )
        .await;
    let born = clear["data"]["customer"]["birthDate"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(born.len(), 10, "{clear}");
    let teller = token_for("teller", Some("T0002"), Some("B001"), None);
    let (_, answer) = app
        .graphql_as(&teller, query, json!({"id": cif}), &[])
        .await;
    assert_eq!(
        answer["data"]["customer"]["birthDate"],
        json!(format!("{}-**-**", &born[..4])),
        "{answer}"
    );
    let revealed = audit_rows_for(&app, &cif, "Born").await;
    assert!(
        revealed
            .iter()
            .any(|r| r.contains(&"birth_date".to_owned())),
        "{revealed:?}"
    );
}
