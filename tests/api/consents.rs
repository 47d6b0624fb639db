//! Consents and contact preferences end to end, on SQLite and on PostgreSQL: history
//! with the latest record winning, idempotency, the may-contact answer, and marketing
//! contacts refused where consent is withdrawn.

use crate::common::{errors_with_code, interaction_input, token_for, with, TestApp, TestDb};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

on_both_backends!(
    consent_history_is_kept_and_the_latest_record_wins,
    consents_are_idempotent_and_checked,
    marketing_is_refused_where_consent_is_withdrawn,
    contact_preferences_and_the_may_contact_answer,
    marketing_contacts_never_follow_a_committed_withdrawal,
);

const RECORD: &str = r#"mutation Record($input: RecordConsentInput!, $key: String) {
  recordConsent(input: $input, idempotencyKey: $key) {
    id customerId purpose channel granted recordedAt source evidence staffId
  }
}"#;

const PREFERENCES: &str = r#"mutation Prefs($input: ContactPreferencesInput!, $key: String) {
  recordContactPreferences(input: $input, idempotencyKey: $key) {
    preferredChannel quietHoursStart quietHoursEnd doNotContact source
  }
}"#;

const CUSTOMER: &str = r#"query($id: ID!) {
  customer(id: $id) {
    consents { purpose channel granted evidence }
    consentHistory { purpose channel granted }
    contactPreferences { preferredChannel quietHoursStart quietHoursEnd doNotContact }
  }
}"#;

fn consent(cif: &str, purpose: &str, channel: &str, granted: bool) -> Value {
    json!({
        "customerId": cif, "purpose": purpose, "channel": channel, "granted": granted,
        "source": "BRANCH", "evidence": format!("FORM-{purpose}-{channel}-{granted}"),
        "staffId": "S0001",
    })
}

/// Records a consent as the staff member its input names.
async fn record(app: &TestApp, input: Value, key: Option<&str>) -> Value {
    let answer = record_answer(app, input, key).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"]["recordConsent"].clone()
}

async fn record_answer(app: &TestApp, input: Value, key: Option<&str>) -> Value {
    let token = token_for("admin", input["staffId"].as_str(), Some("B001"), None);
    let (status, answer) = app
        .graphql_as(&token, RECORD, json!({"input": input, "key": key}), &[])
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn consent_history_is_kept_and_the_latest_record_wins(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let cif = "1000000101";
    record(&app, consent(cif, "MARKETING", "SMS", true), None).await;
    record(&app, consent(cif, "MARKETING", "EMAIL", true), None).await;
    let withdrawn = record(&app, consent(cif, "MARKETING", "SMS", false), None).await;
    assert_eq!(withdrawn["granted"], false);
    assert_eq!(withdrawn["source"], "BRANCH");
    assert_eq!(withdrawn["evidence"], "FORM-MARKETING-SMS-false");

    let answer = app.graphql(CUSTOMER, json!({"id": cif})).await;
    let customer = &answer["data"]["customer"];
    assert_eq!(
        customer["consents"],
        json!([
            {"purpose": "MARKETING", "channel": "SMS", "granted": false, "evidence": "FORM-MARKETING-SMS-false"},
            {"purpose": "MARKETING", "channel": "EMAIL", "granted": true, "evidence": "FORM-MARKETING-EMAIL-true"},
        ]),
        "{answer}"
    );
    assert_eq!(
        customer["consentHistory"],
        json!([
            {"purpose": "MARKETING", "channel": "SMS", "granted": false},
            {"purpose": "MARKETING", "channel": "EMAIL", "granted": true},
            {"purpose": "MARKETING", "channel": "SMS", "granted": true},
        ]),
        "history, newest first"
    );
    assert_eq!(customer["contactPreferences"], Value::Null);
}

async fn consents_are_idempotent_and_checked(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let cif = "1000000102";
    let first = record(
        &app,
        consent(cif, "PROFILING", "APP_PUSH", true),
        Some("c-1"),
    )
    .await;
    let again = record(
        &app,
        consent(cif, "PROFILING", "APP_PUSH", true),
        Some("c-1"),
    )
    .await;
    assert_eq!(first, again);
    let conflict = record_answer(
        &app,
        consent(cif, "PROFILING", "APP_PUSH", false),
        Some("c-1"),
    )
    .await;
    assert_eq!(
        errors_with_code(&conflict, "CONFLICT").len(),
        1,
        "{conflict}"
    );
    let answer = app.graphql(CUSTOMER, json!({"id": cif})).await;
    assert_eq!(
        answer["data"]["customer"]["consentHistory"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let long = record_answer(
        &app,
        with(
            consent(cif, "MARKETING", "SMS", true),
            json!({"evidence": "e".repeat(201)}),
        ),
        None,
    )
    .await;
    assert_eq!(
        long["errors"][0]["extensions"]["field"], "evidence",
        "{long}"
    );
    let unknown = record_answer(&app, consent("1000009999", "MARKETING", "SMS", true), None).await;
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{unknown}"
    );
    assert_eq!(unknown["errors"][0]["extensions"]["field"], "customerId");

    let half = app
        .graphql(
            PREFERENCES,
            json!({"input": {"customerId": cif, "quietHoursStart": "21:00", "source": "BRANCH"}}),
        )
        .await;
    assert_eq!(
        half["errors"][0]["extensions"]["field"], "quietHoursEnd",
        "{half}"
    );
    let garbled = app
        .graphql(
            PREFERENCES,
            json!({"input": {"customerId": cif, "quietHoursStart": "9pm", "quietHoursEnd": "08:00", "source": "BRANCH"}}),
        )
        .await;
    assert_eq!(
        garbled["errors"][0]["extensions"]["field"],
        "quietHoursStart"
    );
}

async fn marketing_is_refused_where_consent_is_withdrawn(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let cif = "1000000103";
    let marketing = |channel: &str| {
        with(
            interaction_input(cif, "Credit card offer"),
            json!({"type": "MARKETING", "direction": "OUTBOUND", "channel": channel}),
        )
    };
    // Never asked: the contact is history and is logged.
    app.log_ok(marketing("SMS"), None).await;

    record(&app, consent(cif, "MARKETING", "SMS", true), None).await;
    record(&app, consent(cif, "MARKETING", "SMS", false), None).await;
    let refused = app.log(marketing("SMS"), None).await;
    assert_eq!(
        errors_with_code(&refused, "CONSENT_WITHDRAWN").len(),
        1,
        "{refused}"
    );
    assert_eq!(
        refused["errors"][0]["extensions"]["reason"],
        "CONSENT_WITHDRAWN"
    );

    // Other channels, other purposes of contact and face-to-face contacts are fine.
    app.log_ok(marketing("EMAIL"), None).await;
    app.log_ok(marketing("BRANCH"), None).await;
    app.log_ok(
        with(
            interaction_input(cif, "Card activation"),
            json!({"channel": "SMS"}),
        ),
        None,
    )
    .await;

    // Granted again: allowed again.
    record(&app, consent(cif, "MARKETING", "SMS", true), None).await;
    app.log_ok(marketing("SMS"), None).await;

    // Do-not-contact refuses marketing on every channel.
    let answer = app
        .graphql(
            PREFERENCES,
            json!({"input": {"customerId": cif, "doNotContact": true, "source": "CALL_CENTER"}}),
        )
        .await;
    assert_eq!(
        answer["data"]["recordContactPreferences"]["doNotContact"], true,
        "{answer}"
    );
    let refused = app.log(marketing("CALL_CENTER"), None).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "CONSENT_WITHDRAWN",
        "{refused}"
    );
    assert_eq!(
        refused["errors"][0]["extensions"]["reason"],
        "DO_NOT_CONTACT"
    );
}

async fn contact_preferences_and_the_may_contact_answer(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let cif = "1000000104";
    let first = app
        .graphql(
            PREFERENCES,
            json!({"input": {"customerId": cif, "preferredChannel": "WECHAT", "quietHoursStart": "12:00",
                             "quietHoursEnd": "14:00", "source": "MOBILE_APP"}, "key": "p-1"}),
        )
        .await;
    assert_eq!(
        first["data"]["recordContactPreferences"],
        json!({"preferredChannel": "WECHAT", "quietHoursStart": "12:00", "quietHoursEnd": "14:00",
               "doNotContact": false, "source": "MOBILE_APP"}),
        "{first}"
    );
    let again = app
        .graphql(
            PREFERENCES,
            json!({"input": {"customerId": cif, "preferredChannel": "WECHAT", "quietHoursStart": "12:00",
                             "quietHoursEnd": "14:00", "source": "MOBILE_APP"}, "key": "p-1"}),
        )
        .await;
    assert_eq!(first, again);
    record(&app, consent(cif, "MARKETING", "PHONE", true), None).await;

    let ask = |at: chrono::DateTime<Utc>, purpose: &str, channel: &str| {
        let app = &app;
        let query = format!(
            "{{ customer(id: \"{cif}\") {{ mayContact(purpose: {purpose}, channel: {channel}, at: \"{}\") {{ allowed reason }} contactPreferences {{ preferredChannel }} }} }}",
            at.to_rfc3339()
        );
        async move { app.graphql(&query, json!({})).await["data"]["customer"].clone() }
    };
    // 10:00 Beijing time: allowed; 12:30 Beijing (the customer's quiet hours): not.
    let morning = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
    let lunch = Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap();
    let answer = ask(morning, "MARKETING", "PHONE").await;
    assert_eq!(
        answer["mayContact"],
        json!({"allowed": true, "reason": "ALLOWED"}),
        "{answer}"
    );
    assert_eq!(answer["contactPreferences"]["preferredChannel"], "WECHAT");
    assert_eq!(
        ask(lunch, "MARKETING", "PHONE").await["mayContact"],
        json!({"allowed": false, "reason": "QUIET_HOURS"})
    );
    assert_eq!(
        ask(morning, "MARKETING", "SMS").await["mayContact"],
        json!({"allowed": false, "reason": "NO_CONSENT"})
    );
    record(&app, consent(cif, "MARKETING", "PHONE", false), None).await;
    assert_eq!(
        ask(morning, "MARKETING", "PHONE").await["mayContact"],
        json!({"allowed": false, "reason": "CONSENT_WITHDRAWN"})
    );
}

/// Many MARKETING contacts by SMS race withdrawals and re-grants of the same consent.
/// Whatever the interleaving, the records must tell one story: every contact that was
/// acknowledged was recorded while consent stood (no withdrawal recorded before it
/// without a grant in between), and every refused one met a withdrawal.
async fn marketing_contacts_never_follow_a_committed_withdrawal(db: TestDb) {
    let app = TestApp::builder().database(&db).spawn().await;
    let cif = "1000000105";
    record(&app, consent(cif, "MARKETING", "SMS", true), None).await;
    let marketing = |n: usize| {
        with(
            interaction_input(cif, &format!("Offer {n}")),
            json!({"type": "MARKETING", "direction": "OUTBOUND", "channel": "SMS"}),
        )
    };
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..4 {
        let logs =
            futures::future::join_all((0..24).map(|n| app.log(marketing(round * 100 + n), None)));
        let changes = futures::future::join_all((0..8).map(|n| {
            let input = with(
                consent(cif, "MARKETING", "SMS", n % 2 == 1),
                json!({"evidence": format!("R{round}-{n}")}),
            );
            let app = &app;
            async move { record(app, input, None).await }
        }));
        let (logs, _) = tokio::join!(logs, changes);
        for answer in logs {
            if answer.get("errors").is_none() {
                accepted += 1;
            } else {
                assert_eq!(
                    errors_with_code(&answer, "CONSENT_WITHDRAWN").len(),
                    1,
                    "{answer}"
                );
                refused += 1;
            }
        }
        // Each round ends granted (the last change is a grant) for the next.
        record(&app, consent(cif, "MARKETING", "SMS", true), None).await;
    }
    let answer = app
        .graphql(
            r#"query($id: ID!) { customer(id: $id) {
                consentHistory { purpose channel granted recordedAt }
                interactions(first: 100, filter: {types: [MARKETING]}) { edges { node { subject recordedAt } } }
            } }"#,
            json!({"id": cif}),
        )
        .await;
    let customer = &answer["data"]["customer"];
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("{answer}")))
            .unwrap()
    };
    let mut history: Vec<(chrono::DateTime<chrono::FixedOffset>, bool)> = customer
        ["consentHistory"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["purpose"] == "MARKETING" && c["channel"] == "SMS")
        .map(|c| (time(&c["recordedAt"]), c["granted"].as_bool().unwrap()))
        .collect();
    history.sort();
    let contacts = customer["interactions"]["edges"].as_array().unwrap();
    assert_eq!(
        contacts.len(),
        accepted,
        "every acknowledged contact is stored"
    );
    for contact in contacts {
        let at = time(&contact["node"]["recordedAt"]);
        let standing = history.iter().rev().find(|(t, _)| *t < at);
        assert!(
            standing.is_none_or(|(_, granted)| *granted),
            "{} was recorded at {at} after a withdrawal ({standing:?}) with no grant between",
            contact["node"]["subject"]
        );
    }
    assert!(
        accepted > 0 && refused > 0,
        "the race ran both ways: {accepted} accepted, {refused} refused"
    );
}

#[tokio::test]
async fn consents_are_recorded_as_the_token_says() {
    let app = TestApp::builder().spawn().await;
    let cif = "1000000106";
    // A customer in the internet bank records their own choice, as nobody's staff.
    let portal = token_for("customer", None, None, Some(cif));
    let mut input = consent(cif, "MARKETING", "EMAIL", false);
    input["source"] = json!("INTERNET_BANKING");
    let (_, answer) = app
        .graphql_as(&portal, RECORD, json!({"input": input}), &[])
        .await;
    let extensions = &answer["errors"][0]["extensions"];
    assert_eq!(extensions["code"], "FORBIDDEN", "{answer}");
    assert_eq!(extensions["field"], "staffId", "{answer}");
    input.as_object_mut().unwrap().remove("staffId");
    let (_, answer) = app
        .graphql_as(&portal, RECORD, json!({"input": input}), &[])
        .await;
    assert_eq!(
        answer["data"]["recordConsent"]["staffId"],
        Value::Null,
        "{answer}"
    );
    // Staff are recorded as themselves, and only as themselves.
    let rm = token_for("admin", Some("R0005"), Some("B001"), None);
    let (_, answer) = app
        .graphql_as(&rm, RECORD, json!({"input": input}), &[])
        .await;
    assert_eq!(
        answer["data"]["recordConsent"]["staffId"], "R0005",
        "{answer}"
    );
    let (_, answer) = app
        .graphql_as(
            &rm,
            RECORD,
            json!({"input": with(input.clone(), json!({"staffId": "R0006"}))}),
            &[],
        )
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    assert_eq!(answer["errors"][0]["extensions"]["field"], "staffId");
}
