//! CRM insights over HTTP: holdings and tier from core banking's activity figures,
//! explainable reasons, one person across duplicate CIFs, mirrored relationships and
//! households rolled up within the caller's scope.

use crate::common::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const INSIGHTS: &str = r#"query($id: ID!) { customer(id: $id) {
  id
  holdings { aum { amount currency } deposits { amount currency } loansOutstanding { amount }
    creditLimit { amount } creditUsed { amount } productCount productsByLine { line count } }
  insights { tier lifecycleStage
    value { recency frequency monetary annualContribution { amount currency } reasons { rule detail inputs } }
    churnRisk { score level reasons { rule detail inputs } }
    satisfaction { responses complaints12m }
    nextBestOffers { product channel score reasons { rule } }
    reasons { rule detail inputs } }
} }"#;

async fn core_batch(app: &TestApp, path: &str, cifs: impl Iterator<Item = u64>) -> Value {
    let list: Vec<String> = cifs.map(|c| c.to_string()).collect();
    app.client
        .get(format!(
            "{}/core/v1/{path}?cif={}",
            app.sandbox,
            list.join(",")
        ))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["body"]
        .clone()
}

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a decimal string: {value}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn holdings_and_insights_follow_core_figures_and_say_why() {
    let app = TestApp::builder().spawn().await;
    let answer = app.graphql(INSIGHTS, json!({"id": "1000000001"})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let customer = &answer["data"]["customer"];
    let holdings = &customer["holdings"];
    assert_eq!(holdings["aum"]["currency"], "CNY");
    // AUM is the 3-month average of the monthly average balances core reports.
    let activity = core_batch(&app, "activity", [1_000_000_001u64].into_iter()).await;
    let months: Vec<Decimal> = activity["ACTV_LIST"][0]["MON_AVG_BAL_LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| decimal(&m["AVG_BAL"]))
        .collect();
    let last3: Decimal = months.iter().rev().take(3).sum::<Decimal>() / Decimal::from(3);
    assert_eq!(
        decimal(&holdings["aum"]["amount"]),
        last3.round_dp(2),
        "{holdings}"
    );
    assert!(
        holdings["productCount"].as_i64().unwrap() >= 4,
        "the showcase holds every line"
    );

    let insights = &customer["insights"];
    let tier = insights["tier"].as_str().unwrap();
    let expected = match last3 {
        a if a >= Decimal::from(6_000_000) => "PRIVATE",
        a if a >= Decimal::from(2_000_000) => "DIAMOND",
        a if a >= Decimal::from(500_000) => "PLATINUM",
        a if a >= Decimal::from(50_000) => "GOLD",
        _ => "MASS",
    };
    assert_eq!(tier, expected, "tier by AUM {last3}");
    for score in ["recency", "frequency", "monetary"] {
        let s = insights["value"][score].as_i64().unwrap();
        assert!((1..=5).contains(&s), "{score} {s}");
    }
    let level = insights["churnRisk"]["level"].as_str().unwrap();
    assert!(["LOW", "MEDIUM", "HIGH"].contains(&level));
    // Every insight is explained: rule, sentence, and the inputs it saw.
    let mut reasons: Vec<&Value> = insights["reasons"].as_array().unwrap().iter().collect();
    reasons.extend(insights["value"]["reasons"].as_array().unwrap());
    assert!(
        reasons.iter().any(|r| r["rule"] == "TIER_BY_AUM"),
        "{insights}"
    );
    for reason in reasons {
        assert!(!reason["rule"].as_str().unwrap().is_empty());
        assert!(!reason["detail"].as_str().unwrap().is_empty());
        assert!(reason["inputs"].is_object(), "{reason}");
    }
}

const OFFERS: &str = r#"query($id: ID!) { customer(id: $id) { insights {
  nextBestOffers { product channel score reasons { rule detail } } reasons { rule } } } }"#;

#[tokio::test]
async fn offers_wait_for_marketing_consent_and_respect_its_withdrawal() {
    let app = TestApp::builder().spawn().await;
    // A customer the rules would make an offer to, held back only by consent.
    let mut blocked = None;
    for i in 1..=200u64 {
        let cif = (1_000_000_000 + i).to_string();
        let answer = app.graphql(OFFERS, json!({"id": cif})).await;
        let insights = &answer["data"]["customer"]["insights"];
        if insights["reasons"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["rule"] == "NBO_GATE_NO_CONSENT"))
        {
            assert_eq!(insights["nextBestOffers"], json!([]), "{insights}");
            blocked = Some(cif);
            break;
        }
    }
    let cif = blocked.expect("some customer has an offer held back by consent");
    let consent = |channel: &str, granted: bool| {
        json!({"input": {"customerId": cif, "purpose": "MARKETING", "channel": channel,
            "granted": granted, "source": "BRANCH"}})
    };
    let record = "mutation($input: RecordConsentInput!) { recordConsent(input: $input) { id } }";
    for channel in ["SMS", "PHONE", "EMAIL", "WECHAT", "APP_PUSH"] {
        let answer = app.graphql(record, consent(channel, true)).await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    let answer = app.graphql(OFFERS, json!({"id": cif})).await;
    let offers = answer["data"]["customer"]["insights"]["nextBestOffers"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!offers.is_empty(), "offers once consent is given: {answer}");
    for offer in &offers {
        assert!(!offer["reasons"].as_array().unwrap().is_empty(), "{offer}");
    }
    let channel = offers[0]["channel"].as_str().unwrap().to_owned();
    let answer = app.graphql(record, consent(&channel, false)).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let answer = app.graphql(OFFERS, json!({"id": cif})).await;
    let after = answer["data"]["customer"]["insights"]["nextBestOffers"]
        .as_array()
        .unwrap();
    assert!(
        after.iter().all(|o| o["channel"] != channel.as_str()),
        "nothing offered on {channel} after its withdrawal: {answer}"
    );
}

#[tokio::test]
async fn a_person_with_two_cifs_is_one_party() {
    let app = TestApp::builder().spawn().await;
    let parties = core_batch(&app, "parties", 1_000_000_001u64..=1_000_000_100).await;
    let mut found = None;
    for start in (1_000_000_001u64..1_000_003_000).step_by(100) {
        let parties = if start == 1_000_000_001 {
            parties.clone()
        } else {
            core_batch(&app, "parties", start..start + 100).await
        };
        found = parties["PTY_LIST"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|p| {
                let members: Vec<String> = p["MBR_LIST"]
                    .as_array()?
                    .iter()
                    .filter_map(|m| m["CUST_NO"].as_str().map(str::to_owned))
                    .collect();
                (members.len() >= 2).then(|| (p["CUST_NO"].as_str().unwrap().to_owned(), members))
            });
        if found.is_some() {
            break;
        }
    }
    let (cif, mut members) = found.expect("the sandbox has duplicate records");
    members.sort();
    let query = r#"query($id: ID!) { customer(id: $id) { party { id customers { id }
        customersWithheld holdings { deposits { amount } productCount } } } }"#;
    let answer = app.graphql(query, json!({"id": cif})).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let party = &answer["data"]["customer"]["party"];
    assert_eq!(party["id"], format!("P{}", members[0]));
    let ids: Vec<&str> = party["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, members.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(party["customersWithheld"], 0);
    let mut deposits = Decimal::ZERO;
    for member in &members {
        let one = app
            .graphql(
                "query($id: ID!) { customer(id: $id) { holdings { deposits { amount } } } }",
                json!({"id": member}),
            )
            .await;
        deposits += decimal(&one["data"]["customer"]["holdings"]["deposits"]["amount"]);
    }
    assert_eq!(
        decimal(&party["holdings"]["deposits"]["amount"]),
        deposits,
        "the party's deposits are the sum of its records'"
    );
}

#[tokio::test]
async fn relationships_are_mirrored_and_households_respect_scope() {
    let app = TestApp::builder().spawn().await;
    let relationships = core_batch(&app, "relationships", 1_000_000_001u64..=1_000_000_100).await;
    let spouses = relationships["REL_LIST"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["REL_TYP"] == "01")
        .expect("a married couple among the first 100 customers");
    let a = spouses["CUST_NO"].as_str().unwrap().to_owned();
    let b = spouses["REL_CUST_NO"].as_str().unwrap().to_owned();
    let query = r#"query($id: ID!) { customer(id: $id) { id branch
        relationships { kind relatedId related { id } }
        household { members { relation customer { id } } membersWithheld holdings { aum { amount } } } } }"#;
    let of_a = app.graphql(query, json!({"id": a})).await;
    let of_b = app.graphql(query, json!({"id": b})).await;
    assert!(of_a.get("errors").is_none(), "{of_a}");
    let has = |answer: &Value, kind: &str, other: &str| {
        answer["data"]["customer"]["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == kind && r["relatedId"] == other && r["related"]["id"] == other)
    };
    assert!(has(&of_a, "SPOUSE", &b), "{of_a}");
    assert!(has(&of_b, "SPOUSE", &a), "{of_b}");
    let household = &of_a["data"]["customer"]["household"];
    assert!(household["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["relation"] == "SPOUSE" && m["customer"]["id"] == b.as_str()));
    assert_eq!(household["membersWithheld"], 0, "an admin reads everyone");
    assert!(
        household["holdings"]["aum"]["amount"].is_string(),
        "{household}"
    );

    // A branch manager of A's branch reads A; members elsewhere are withheld.
    let branch = of_a["data"]["customer"]["branch"].as_str().unwrap();
    let b_branch = of_b["data"]["customer"]["branch"].as_str().unwrap();
    let manager = token_for("branch_manager", Some("M0001"), Some(branch), None);
    let (_, scoped) = app.graphql_as(&manager, query, json!({"id": a}), &[]).await;
    let withheld = scoped["data"]["customer"]["household"]["membersWithheld"]
        .as_i64()
        .unwrap();
    let members = household["members"].as_array().unwrap().len() as i64;
    assert!(withheld <= members, "{scoped}");
    if b_branch != branch {
        assert!(withheld >= 1, "{scoped}");
        assert!(
            !errors_with_code(&scoped, "FORBIDDEN").is_empty(),
            "{scoped}"
        );
        assert!(
            !scoped.to_string().contains(&format!("\"id\":\"{b}\"")),
            "{scoped}"
        );
    }
}

#[tokio::test]
async fn portal_customers_see_their_holdings_but_not_internal_scores() {
    let app = TestApp::builder().spawn().await;
    let own = token_for("customer", None, None, Some("1000000001"));
    let (_, answer) = app
        .graphql_as(
            &own,
            "{ customer(id: \"1000000001\") { holdings { aum { amount } } insights { tier } } }",
            json!({}),
            &[],
        )
        .await;
    assert!(
        answer["data"]["customer"]["holdings"]["aum"]["amount"].is_string(),
        "{answer}"
    );
    assert!(answer["data"]["customer"]["insights"].is_null(), "{answer}");
    assert_eq!(errors_with_code(&answer, "FORBIDDEN").len(), 1, "{answer}");
}
