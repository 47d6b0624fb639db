//! Relationships, parties and activity read through the hub's typed upstream layer and
//! its per-request loaders against the sandbox: one batched core call per 100
//! customers, cached afterwards, both sides of every relationship, every CIF of a
//! person found by ID number and merged only when verified.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use c360::cache::{EntityCache, EntitySettings, RequestScope};
use c360::config::Config;
use c360::connectors::{load, Connectors, PageRequest};
use c360::domain::{Cif, RelationshipKind, System};
use c360::graphql::Loaders;
use c360::metrics::Metrics;
use c360::sandbox::Bank;
use c360::upstream::{CustomerSearch, Upstreams};

/// The hub's upstream layer, built from the shipped specs, reading `sandbox`.
fn upstreams(sandbox: &str) -> Upstreams {
    let mut config = Config::default();
    config.connectors.dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("connectors");
    for system in System::ALL {
        config.connectors.override_mut(system).base_url = Some(format!("{sandbox}/{system}/v1"));
    }
    let specs = load(&config.connectors, &|_| None).expect("shipped specs load");
    let metrics = Arc::new(Metrics::new());
    let cache = EntityCache::new(
        EntitySettings {
            enabled: true,
            l1_max_bytes: 64 << 20,
            lock_ttl: Duration::from_secs(5),
            tag_ttl: Duration::from_secs(3_600),
        },
        None,
        "test:",
        metrics.clone(),
    );
    Upstreams::new(
        Connectors::from_specs(specs, &metrics).expect("connectors"),
        Arc::new(cache),
    )
}

fn cifs(range: std::ops::RangeInclusive<u64>) -> Vec<Cif> {
    range
        .map(|i| Cif::parse(&(1_000_000_000 + i).to_string()).expect("a CIF"))
        .collect()
}

fn bank() -> Bank {
    let config = sandbox_config();
    Bank::new(
        config.customers,
        config.seed,
        config.as_of.expect("a fixed business date"),
    )
}

#[tokio::test]
async fn relationships_of_100_customers_cost_one_core_call_and_come_from_both_sides() {
    let app = TestApp::builder().spawn().await;
    let upstreams = upstreams(&app.sandbox);
    let scope = RequestScope::new();
    let hundred = cifs(1..=100);
    app.reset_stats().await;
    let found = upstreams.relationships(&hundred, &scope).await;
    assert_eq!(requests(&app.stats().await, "core"), 1);
    assert_eq!(found.len(), 100);

    let mut checked = 0;
    for (cif, result) in &found {
        let relationships = &result.as_ref().expect("read").value;
        for r in relationships.iter() {
            assert_eq!(&r.customer_id, cif);
            let Some(Ok(other)) = found.get(&r.related_id) else {
                continue;
            };
            let mirrored = match r.kind {
                RelationshipKind::Parent => RelationshipKind::Child,
                RelationshipKind::Child => RelationshipKind::Parent,
                RelationshipKind::Guarantor => RelationshipKind::Guaranteed,
                RelationshipKind::Guaranteed => RelationshipKind::Guarantor,
                RelationshipKind::LegalRepresentative => RelationshipKind::Represents,
                RelationshipKind::Represents => RelationshipKind::LegalRepresentative,
                RelationshipKind::Shareholder => RelationshipKind::Holding,
                RelationshipKind::Holding => RelationshipKind::Shareholder,
                symmetric => symmetric,
            };
            assert!(
                other.value.iter().any(|b| b.related_id == *cif
                    && b.kind == mirrored
                    && b.reference == r.reference
                    && b.share == r.share),
                "{r:?} has no mirror"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} relationships checked");

    // Cached afterwards; the other two core entities batch the same way.
    let again = upstreams.relationships(&hundred, &scope).await;
    assert!(again
        .values()
        .all(|r| r.as_ref().is_ok_and(|f| f.from_cache)));
    assert_eq!(requests(&app.stats().await, "core"), 1);
    upstreams.activity(&hundred, &scope).await;
    upstreams.party_members(&hundred, &scope).await;
    assert_eq!(requests(&app.stats().await, "core"), 3);
    upstreams.relationships(&cifs(1..=250), &scope).await;
    assert_eq!(
        requests(&app.stats().await, "core"),
        5,
        "150 uncached CIFs: two calls"
    );
}

#[tokio::test]
async fn every_cif_of_a_person_is_found_by_id_number_and_merged_when_verified() {
    let app = TestApp::builder().spawn().await;
    let upstreams = upstreams(&app.sandbox);
    let scope = RequestScope::new();
    let bank = bank();
    let holders = (1..=bank.customers())
        .filter_map(|i| bank.customer(i))
        .map(|c| bank.find_by_id_number(&c.id_number))
        .find(|found| found.len() >= 2 && found.iter().all(|c| c.id_verified))
        .expect("a person with two verified CIFs");
    let expected: Vec<String> = holders.iter().map(|c| c.cif.to_string()).collect();

    let search = CustomerSearch {
        id_number: Some(holders[0].id_number.clone()),
        ..CustomerSearch::default()
    };
    let page = upstreams
        .search_customers(
            &search,
            PageRequest {
                limit: 20,
                key: None,
            },
            &scope,
        )
        .await
        .expect("search");
    let found: Vec<String> = page.items.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(found, expected);

    let keys: Vec<Cif> = expected
        .iter()
        .map(|c| Cif::parse(c).expect("a CIF"))
        .collect();
    let parties = upstreams.party_members(&keys, &scope).await;
    for cif in &keys {
        let party = &parties[cif].as_ref().expect("read").value;
        assert_eq!(party.len(), 1);
        assert_eq!(&party[0].customer_id, cif);
        let members: Vec<String> = party[0].members.iter().map(|m| m.to_string()).collect();
        assert_eq!(members, expected);
    }
}

#[tokio::test]
async fn loaders_batch_relationships_party_and_activity_per_request() {
    let app = TestApp::builder().spawn().await;
    let upstreams = upstreams(&app.sandbox);
    let scope = Arc::new(RequestScope::new());
    let loaders = Loaders::new(&upstreams, &scope);
    let keys = cifs(1..=60);
    app.reset_stats().await;
    let (relationships, party, activity) = tokio::join!(
        loaders.relationships.load_many(keys.clone()),
        loaders.party.load_many(keys.clone()),
        loaders.activity.load_many(keys.clone()),
    );
    assert_eq!(requests(&app.stats().await, "core"), 3);
    let (Ok(relationships), Ok(party), Ok(activity)) = (relationships, party, activity);
    assert_eq!(relationships.len(), 60);
    let bank = bank();
    for cif in &keys {
        let members = party[cif].items.as_ref().expect("read");
        assert!(members[0].members.contains(cif) || members[0].members.len() == 1);
        let figures = activity[cif].items.as_ref().expect("read");
        assert_eq!(figures.len(), 1);
        let figures = &figures[0];
        assert_eq!(Some(figures.as_of), sandbox_config().as_of);
        assert_eq!(figures.monthly_average_balances.len(), 6);
        let index = cif.as_str().parse::<u64>().expect("digits") - 1_000_000_000;
        let expected = bank.activity(index).expect("exists");
        assert_eq!(figures.transactions_12m, expected.transactions_12m);
        assert_eq!(figures.inflow_90d, expected.inflow_90d);
        assert_eq!(figures.last_payroll_on, expected.last_payroll_on);
    }
}
