//! Consents and contact preferences end to end, on SQLite and on PostgreSQL: history
//! with the latest record winning, idempotency, the may-contact answer, and marketing
//! contacts refused where consent is withdrawn.

use crate::common::{errors_with_code, interaction_input, with, TestApp, TestDb};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

on_both_backends!(
    consent_history_is_kept_and_the_latest_record_wins,
    consents_are_idempotent_and_checked,
    marketing_is_refused_where_consent_is_withdrawn,
    contact_preferences_and_the_may_contact_answer,
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

async fn record(app: &TestApp, input: Value, key: Option<&str>) -> Value {
    let answer = app
        .graphql(RECORD, json!({"input": input, "key": key}))
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"]["recordConsent"].clone()
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
    let conflict = app
        .graphql(
            RECORD,
            json!({"input": consent(cif, "PROFILING", "APP_PUSH", false), "key": "c-1"}),
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

    let long = app
        .graphql(
            RECORD,
            json!({"input": with(consent(cif, "MARKETING", "SMS", true), json!({"evidence": "e".repeat(201)}))}),
        )
        .await;
    assert_eq!(
        long["errors"][0]["extensions"]["field"], "evidence",
        "{long}"
    );
    let unknown = app
        .graphql(
            RECORD,
            json!({"input": consent("1000009999", "MARKETING", "SMS", true)}),
        )
        .await;
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
