//! Criterion micro-benchmarks of the hub's hot paths (issue 7): mapping a batch of a
//! hundred customers from each upstream system, masking a profile's personal data,
//! the CRM insight rules, and serialising (and, with every entity cached, executing)
//! the profile360 query that `c360 bench` drives.
//!
//! The inputs are what the sandbox really serves: the set-up starts it in process,
//! lets the real connectors call it once while recording the answer bodies, and
//! builds the schema the hub runs over those connectors. Nothing timed touches the
//! network. `cargo bench --bench hot_paths` measures (release); `cargo test --benches`
//! runs each benchmark once, to check that they still run. Figures and how to read
//! them: docs/hot-paths.md.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use c360::auth::{Identity, Personal, Policies, Purpose, Viewer};
use c360::bus::Bus;
use c360::cache::{EntityCache, EntitySettings};
use c360::config::{
    AccessConfig, CacheConfig, ConnectorsConfig, DatabaseConfig, GraphqlConfig, InsightsConfig,
    RedisConfig,
};
use c360::connectors::{self, CompiledSpec, Connector, Connectors, RestConnector};
use c360::domain::{
    Account, Activity, Card, Cif, Consent, ConsentPurpose, ContactChannel, Customer, Interaction,
    InteractionChannel, InteractionDirection, InteractionOutcome, InteractionType, Loan,
    OnlineUser, System,
};
use c360::graphql::{build_schema, AppSchemas, RequestData};
use c360::insights::{self, Inputs, InsightConfig, Records};
use c360::metrics::Metrics;
use c360::sandbox::{LatencyProfile, Sandbox, SandboxConfig};
use c360::store::Store;
use c360::upstream::Upstreams;
use chrono::{DateTime, Days, NaiveDate, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// Customers in one batch: the most a connector sends in one call (`max_batch` in
/// connectors/*.toml), and what `customers(ids:)` accepts.
const BATCH: u64 = 100;
/// The sandbox bank's business date, fixed so that runs on different days measure
/// the same bank.
const AS_OF: NaiveDate = match NaiveDate::from_ymd_opt(2026, 3, 31) {
    Some(day) => day,
    None => panic!("a valid date"),
};

/// Maps one recorded answer into domain records, as a batch read does; returns how
/// many records it made.
type Decode = fn(&RestConnector, &str, &[String], &[u8]) -> usize;

/// The batch endpoints a profile or a list of customers reads, one row per
/// (system, entity), with the domain type each item becomes.
const BATCHES: [(System, &str, Decode); 6] = [
    (System::Core, "customers", decode::<Customer>),
    (System::Core, "accounts", decode::<Account>),
    (System::Core, "activity", decode::<Activity>),
    (System::Cards, "cards", decode::<Card>),
    (System::Loans, "loans", decode::<Loan>),
    (System::Channels, "online_users", decode::<OnlineUser>),
];

fn hot_paths(c: &mut Criterion) {
    let world = World::build();
    connector_mapping(c, &world);
    masking(c, &world);
    insight_rules(c, &world);
    response(c, &world);
}

fn connector_mapping(c: &mut Criterion, world: &World) {
    let mut group = c.benchmark_group("connector_mapping");
    for (answer, (_, endpoint, decode)) in world.answers.iter().zip(BATCHES) {
        let connector = &world.rest[&answer.system];
        let records = decode(connector, endpoint, &world.keys, &answer.body);
        eprintln!(
            "{}/{endpoint}: {BATCH} customers, {records} records, {} bytes",
            answer.system,
            answer.body.len()
        );
        group.throughput(Throughput::Elements(records as u64));
        group.bench_function(format!("{}/{endpoint}", answer.system), |b| {
            b.iter(|| decode(connector, endpoint, &world.keys, black_box(&answer.body)))
        });
    }
    group.finish();
}

fn masking(c: &mut Criterion, world: &World) {
    let profile = world.richest();
    let fields = personal_fields(profile);
    let cif = &profile.customer.id;
    let mut group = c.benchmark_group("masking");
    group.throughput(Throughput::Elements(fields.len() as u64));
    let viewers = [
        ("teller_masked", world.viewer("teller", None)),
        (
            "admin_with_purpose_clear",
            world.viewer("admin", Some(Purpose::Service)),
        ),
    ];
    for (name, viewer) in &viewers {
        group.bench_function(*name, |b| {
            b.iter(|| {
                fields
                    .iter()
                    .map(|(class, value)| viewer.show(cif, *class, black_box(value)))
                    .collect::<Vec<_>>()
            })
        });
    }
    group.bench_function("mask_fn", |b| {
        b.iter(|| {
            fields
                .iter()
                .map(|(class, value)| c360::auth::mask(*class, black_box(value)))
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

fn insight_rules(c: &mut Criterion, world: &World) {
    let config = &world.insights;
    let one = world.richest().inputs();
    let (held, _) = insights::holdings(config, &one);
    let aum = held.aum.amount;
    let (tier, _) = insights::tier(config, aum, one.activity);
    let mut group = c.benchmark_group("insights");
    group.bench_function("holdings", |b| {
        b.iter(|| insights::holdings(config, black_box(&one)))
    });
    group.bench_function("tier", |b| {
        b.iter(|| insights::tier(config, black_box(aum), one.activity))
    });
    group.bench_function("lifecycle_stage", |b| {
        b.iter(|| insights::lifecycle_stage(config, black_box(&one), &held))
    });
    group.bench_function("value_rfm_clv", |b| {
        b.iter(|| insights::value(config, black_box(&one), &held, tier))
    });
    group.bench_function("churn_risk", |b| {
        b.iter(|| insights::churn_risk(config, black_box(&one), aum, tier))
    });
    group.bench_function("satisfaction", |b| {
        b.iter(|| insights::satisfaction(config, black_box(&one)))
    });
    group.bench_function("next_best_offers", |b| {
        b.iter(|| insights::next_best_offers(config, black_box(&one), &held, tier))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("all_rules/1_customer", |b| {
        b.iter(|| insights::insights(config, black_box(&one)))
    });
    let all: Vec<Inputs> = world.gathered.iter().map(Records::inputs).collect();
    group.throughput(Throughput::Elements(all.len() as u64));
    group.bench_function(format!("all_rules/{}_customers", all.len()), |b| {
        b.iter(|| {
            all.iter()
                .map(|inputs| insights::insights(config, black_box(inputs)))
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

fn response(c: &mut Criterion, world: &World) {
    let cif = world.richest().customer.id.clone();
    // The first execution reads the sandbox and fills the entity cache; the second is
    // served from it, as a warm-l1 request is.
    world.runtime.block_on(world.profile360(&cif));
    let warm = world.runtime.block_on(world.profile360(&cif));
    assert!(warm.errors.is_empty(), "profile360: {:?}", warm.errors);
    let body = serde_json::to_vec(&warm).expect("a response serialises");
    let sources = serde_json::from_slice::<Value>(&body).expect("JSON")["data"]["customer"]
        ["sources"]
        .clone();
    assert!(
        sources
            .as_array()
            .is_some_and(|s| s.len() == 4 && s.iter().all(|s| s["fromCache"] == true)),
        "every system answered from the entity cache: {sources}"
    );
    eprintln!("profile360 of {cif}: {} bytes of JSON", body.len());

    let mut group = c.benchmark_group("profile360_response");
    // Timed first, right after the cache was filled: the shortest entity lifetime
    // (balances, 30 s) must outlast it, or the figure would include upstream calls.
    let calls_before = world.upstream_calls();
    group.throughput(Throughput::Elements(1));
    group.bench_function("execute_entity_cache_warm", |b| {
        b.to_async(&world.runtime)
            .iter(|| world.profile360(black_box(&cif)))
    });
    assert_eq!(
        world.upstream_calls(),
        calls_before,
        "an entity expired while executing was timed: the figure includes upstream calls"
    );
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("serde_json_to_vec", |b| {
        b.iter(|| serde_json::to_vec(black_box(&warm)))
    });
    // What the HTTP layer does today: a `Value` first (to edit `errors` and
    // `extensions`), then the text.
    group.bench_function("to_value_then_to_string", |b| {
        b.iter(|| {
            serde_json::to_value(black_box(&warm))
                .expect("a response serialises")
                .to_string()
        })
    });
    group.finish();
}

/// The personal fields a profile360 screen shows: the customer's identity and every
/// account and card number.
fn personal_fields(profile: &Records) -> Vec<(Personal, String)> {
    let customer = &profile.customer;
    let mut fields = vec![
        (Personal::Name, customer.name.clone()),
        (Personal::IdNumber, customer.id_document.number.clone()),
    ];
    fields.extend(customer.mobile.clone().map(|m| (Personal::Mobile, m)));
    fields.extend(customer.email.clone().map(|e| (Personal::Email, e)));
    fields.extend(customer.address.clone().map(|a| (Personal::Address, a)));
    fields.extend(
        profile
            .accounts
            .iter()
            .map(|a| (Personal::AccountNumber, a.number.clone())),
    );
    fields.extend(
        profile
            .cards
            .iter()
            .map(|c| (Personal::AccountNumber, c.number.clone())),
    );
    fields
}

/// One recorded batch answer.
struct Answer {
    system: System,
    body: Bytes,
}

/// The products a customer holds: the heaviest profile has the most.
fn products(records: &Records) -> usize {
    records.accounts.len() + records.cards.len() + records.loans.len()
}

/// Everything the benchmarks read, built once.
struct World {
    runtime: Runtime,
    sandbox: Sandbox,
    keys: Vec<String>,
    rest: HashMap<System, RestConnector>,
    answers: Vec<Answer>,
    gathered: Vec<Records>,
    insights: InsightConfig,
    policies: Policies,
    schema: AppSchemas,
    upstreams: Upstreams,
    /// Holds the SQLite file the schema's store opened.
    _database: tempfile::TempDir,
}

impl World {
    fn build() -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let sandbox = Sandbox::new(SandboxConfig {
            latency: LatencyProfile::None,
            as_of: Some(AS_OF),
            ..SandboxConfig::default()
        })
        .expect("a sandbox");
        let recorder = Recorder::default();
        let router = sandbox
            .router()
            .layer(middleware::from_fn_with_state(recorder.clone(), record));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a local port");
        let addr = listener.local_addr().expect("a bound port");
        runtime.spawn(async move { axum::serve(listener, router).await });

        let lookup = move |name: &str| {
            let prefix = match name {
                "C360_CORE_URL" => "core",
                "C360_CARDS_URL" => "cards",
                "C360_LOANS_URL" => "loans",
                "C360_CHANNELS_URL" => "channels",
                _ => return None,
            };
            Some(format!("http://{addr}/{prefix}/v1"))
        };
        let specs: Vec<CompiledSpec> =
            connectors::load(&ConnectorsConfig::default(), &lookup).expect("connector specs");
        let rest: HashMap<System, RestConnector> = specs
            .iter()
            .map(|spec| {
                let connector =
                    RestConnector::new(spec.clone(), Arc::default()).expect("a connector");
                (spec.system, connector)
            })
            .collect();

        let keys: Vec<String> = (1..=BATCH)
            .map(|i| (1_000_000_000 + i).to_string())
            .collect();
        let answers: Vec<Answer> = BATCHES
            .iter()
            .map(|(system, endpoint, _)| {
                recorder.take();
                let called = runtime.block_on(rest[system].batch(endpoint, &keys));
                assert!(called.is_ok(), "{system}/{endpoint}: {called:?}");
                let mut bodies = recorder.take();
                assert_eq!(
                    bodies.len(),
                    1,
                    "{system}/{endpoint}: one call (one page) per batch of {BATCH}"
                );
                Answer {
                    system: *system,
                    body: bodies.remove(0),
                }
            })
            .collect();

        let of = |index: usize| {
            let (system, endpoint, _) = BATCHES[index];
            (&rest[&system], endpoint, &answers[index].body[..])
        };
        let (connector, endpoint, body) = of(0);
        let mut customers = typed::<Customer>(connector, endpoint, &keys, body);
        let (connector, endpoint, body) = of(1);
        let mut accounts = typed::<Account>(connector, endpoint, &keys, body);
        let (connector, endpoint, body) = of(2);
        let mut activity = typed::<Activity>(connector, endpoint, &keys, body);
        let (connector, endpoint, body) = of(3);
        let mut cards = typed::<Card>(connector, endpoint, &keys, body);
        let (connector, endpoint, body) = of(4);
        let mut loans = typed::<Loan>(connector, endpoint, &keys, body);
        let (connector, endpoint, body) = of(5);
        let mut online = typed::<OnlineUser>(connector, endpoint, &keys, body);
        let gathered = keys
            .iter()
            .enumerate()
            .filter_map(|(i, key)| {
                let customer = customers.remove(key)?.pop()?;
                let interactions = contact_log(&customer.id, i);
                let consents = consents(&customer.id, i);
                Some(Records {
                    as_of: AS_OF,
                    customer,
                    accounts: accounts.remove(key).unwrap_or_default(),
                    cards: cards.remove(key).unwrap_or_default(),
                    loans: loans.remove(key).unwrap_or_default(),
                    online: online.remove(key).and_then(|mut u| u.pop()),
                    activity: activity.remove(key).and_then(|mut a| a.pop()),
                    interactions,
                    consents,
                    preferences: None,
                    household_best_tier: None,
                })
            })
            .collect::<Vec<_>>();
        assert_eq!(gathered.len() as u64, BATCH, "every customer exists");

        let insights =
            InsightConfig::load(&InsightsConfig::default().rules).expect("insight rules");
        let policies = Policies::load(&AccessConfig::default().policies).expect("policies");
        let database = tempfile::tempdir().expect("a temporary folder");
        let cache = CacheConfig::default();
        let metrics = Arc::new(Metrics::new());
        let entities = Arc::new(EntityCache::new(
            EntitySettings {
                enabled: true,
                l1_max_bytes: cache.l1_max_bytes,
                lock_ttl: cache.lock_ttl,
                tag_ttl: cache.tag_ttl,
            },
            None,
            "bench:",
            metrics.clone(),
        ));
        let upstreams = Upstreams::new(
            Connectors::from_specs(specs, &metrics).expect("connectors"),
            entities,
        );
        let database_url = format!("sqlite://{}/bench.db", database.path().display());
        let schema = runtime.block_on(async {
            let store = Store::connect(
                &DatabaseConfig {
                    url: database_url,
                    ..DatabaseConfig::default()
                },
                &metrics,
            )
            .await
            .expect("a SQLite store");
            store.migrate().await.expect("migrations");
            let bus = Bus::connect(&RedisConfig::default(), None)
                .await
                .expect("an in-process bus");
            build_schema(
                upstreams.clone(),
                GraphqlConfig::default(),
                store,
                bus,
                Arc::new(insights.clone()),
            )
        });
        World {
            runtime,
            sandbox,
            keys,
            rest,
            answers,
            gathered,
            insights,
            policies,
            schema,
            upstreams,
            _database: database,
        }
    }

    /// The customer holding the most products: the heaviest profile of the batch.
    fn richest(&self) -> &Records {
        self.gathered
            .iter()
            .max_by_key(|g| products(g))
            .expect("a non-empty batch")
    }

    fn viewer(&self, role: &str, purpose: Option<Purpose>) -> Viewer {
        let identity = Identity {
            subject: "bench".into(),
            role: role.into(),
            staff_id: Some("S0001".into()),
            branch: Some("0101".into()),
            customer: None,
            client: None,
        };
        let policy = self.policies.role(role).expect("a role in policies.toml");
        Viewer::new(identity, policy.clone(), purpose, None)
    }

    /// Executes profile360 for `cif` as a teller's request, with its own viewer and
    /// loaders, as the HTTP layer prepares one.
    async fn profile360(&self, cif: &Cif) -> async_graphql::Response {
        let mut request = async_graphql::Request::new(c360::bench::PROFILE_360).variables(
            async_graphql::Variables::from_json(json!({ "id": cif.as_str() })),
        );
        let viewer = self.viewer("teller", None);
        let schema = self
            .schema
            .for_request(&viewer, request.parsed_query().ok(), None)
            .clone();
        let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        let data = RequestData::new(&self.upstreams, viewer, expires);
        schema.execute(data.attach(request)).await
    }

    /// Requests the sandbox received so far, all systems together.
    fn upstream_calls(&self) -> u64 {
        let request = axum::http::Request::get("/_sandbox/stats")
            .body(Body::empty())
            .expect("a request");
        let stats: Value = self.runtime.block_on(async {
            let response = self.sandbox.router().oneshot(request).await.expect("stats");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a body");
            serde_json::from_slice(&body).expect("JSON stats")
        });
        stats
            .as_object()
            .into_iter()
            .flat_map(|systems| systems.values())
            .filter_map(|system| system["requests"].as_u64())
            .sum()
    }
}

/// Answer bodies the sandbox sent since the last `take`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Bytes>>>);

impl Recorder {
    fn take(&self) -> Vec<Bytes> {
        std::mem::take(&mut *self.0.lock().expect("recorder lock"))
    }
}

async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    let (parts, body) = next.run(request).await.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a sandbox body");
    recorder.0.lock().expect("recorder lock").push(body.clone());
    Response::from_parts(parts, Body::from(body))
}

/// The connector's reading of one answer, then each canonical record into its domain
/// type, grouped by customer: what a batch read hands to the cache.
fn typed<T: DeserializeOwned>(
    connector: &RestConnector,
    endpoint: &str,
    keys: &[String],
    body: &[u8],
) -> HashMap<String, Vec<T>> {
    connector
        .read_batch_answer(endpoint, keys, body)
        .expect("the sandbox's answer maps")
        .into_iter()
        .map(|(key, items)| {
            let records = items
                .expect("every record maps")
                .into_iter()
                .map(|item| T::deserialize(item).expect("a canonical record"))
                .collect();
            (key, records)
        })
        .collect()
}

fn decode<T: DeserializeOwned>(
    connector: &RestConnector,
    endpoint: &str,
    keys: &[String],
    body: &[u8],
) -> usize {
    black_box(typed::<T>(connector, endpoint, keys, body))
        .values()
        .map(Vec::len)
        .sum()
}

/// A year of contacts from the hub's own log (the sandbox has none): a service call,
/// a survey, a marketing call and, for every third customer, an open complaint, so
/// that the churn, satisfaction and offer rules have contacts to weigh.
fn contact_log(cif: &Cif, i: usize) -> Vec<Interaction> {
    let mut log = vec![
        contact(
            cif,
            12,
            InteractionChannel::CallCenter,
            InteractionType::Service,
            InteractionOutcome::Resolved,
            Some(4),
        ),
        contact(
            cif,
            45,
            InteractionChannel::Sms,
            InteractionType::Survey,
            InteractionOutcome::Resolved,
            Some(3 + (i % 3) as u8),
        ),
        contact(
            cif,
            130,
            InteractionChannel::Branch,
            InteractionType::Marketing,
            InteractionOutcome::Declined,
            None,
        ),
    ];
    if i.is_multiple_of(3) {
        log.push(contact(
            cif,
            20,
            InteractionChannel::Branch,
            InteractionType::Complaint,
            InteractionOutcome::Pending,
            Some(2),
        ));
    }
    log.sort_by_key(|c| std::cmp::Reverse(c.occurred_at));
    log
}

fn contact(
    cif: &Cif,
    days_ago: u64,
    channel: InteractionChannel,
    kind: InteractionType,
    outcome: InteractionOutcome,
    satisfaction: Option<u8>,
) -> Interaction {
    let at = days_before_as_of(days_ago);
    Interaction {
        id: uuid::Uuid::now_v7(),
        customer_id: cif.clone(),
        channel,
        kind,
        direction: if kind == InteractionType::Marketing {
            InteractionDirection::Outbound
        } else {
            InteractionDirection::Inbound
        },
        occurred_at: at,
        recorded_at: at,
        staff_id: "S0001".into(),
        branch_id: "0101".into(),
        subject: kind.as_str().to_lowercase(),
        notes: None,
        outcome: Some(outcome),
        satisfaction,
        follow_up_at: None,
        products: Vec::new(),
        updated_at: at,
        revision: 0,
        recorded_by: None,
    }
}

/// Marketing by app push granted; SMS withdrawn by every other customer.
fn consents(cif: &Cif, i: usize) -> Vec<Consent> {
    let consent = |channel, granted| Consent {
        id: uuid::Uuid::now_v7(),
        customer_id: cif.clone(),
        purpose: ConsentPurpose::Marketing,
        channel,
        granted,
        recorded_at: days_before_as_of(300),
        source: InteractionChannel::MobileApp,
        evidence: None,
        staff_id: None,
    };
    vec![
        consent(ContactChannel::AppPush, true),
        consent(ContactChannel::Sms, i.is_multiple_of(2)),
    ]
}

/// Four in the morning UTC (noon in Beijing), `days` before the business date.
fn days_before_as_of(days: u64) -> DateTime<Utc> {
    AS_OF
        .checked_sub_days(Days::new(days))
        .and_then(|day| day.and_hms_opt(4, 0, 0))
        .expect("a date in range")
        .and_utc()
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
