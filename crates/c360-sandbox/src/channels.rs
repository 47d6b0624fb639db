//! The online channel (internet and mobile banking), `/channels/v1`: its own user ids
//! linked to CIF, times as epoch milliseconds, and a `{code, message, requestId, …}`
//! envelope whose `code` is `"0"` on success; errors carry a non-zero `code` (the HTTP
//! status followed by two digits) and an HTTP 4xx/5xx status.

use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use super::bank::{AuthMethod, LoginEvent, LoginResult, OnlineChannel, OnlineUser, UserState};
use super::params::{ParamError, Params};
use super::{openapi, request_id, SharedState, BEIJING_OFFSET_SECONDS};

/// Page size when the caller gives no `limit`.
const DEFAULT_LIMIT: u64 = 20;

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/openapi.json", get(|| async { Json(openapi::channels()) }))
        .route("/v1/users", get(users_of_customers))
        .route("/v1/users/{uid}", get(user))
        .route("/v1/users/{uid}/login-events", get(login_events))
        .fallback(|uri: OriginalUri| async move {
            error(
                StatusCode::NOT_FOUND,
                &format!("no such endpoint: {}", uri.path()),
            )
        })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        })
}

fn success(fields: Value) -> Response {
    let mut body = json!({ "code": "0", "message": "ok", "requestId": request_id() });
    if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), fields) {
        map.extend(extra);
    }
    Json(body).into_response()
}

/// An error envelope; also the shape of injected failures.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({ "code": format!("{}00", status.as_u16()), "message": message, "requestId": request_id() });
    (status, Json(body)).into_response()
}

fn bad_request(error: ParamError) -> Response {
    self::error(
        StatusCode::BAD_REQUEST,
        &format!("{} ({})", error.message, error.parameter),
    )
}

async fn users_of_customers(
    State(state): State<SharedState>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref());
    let cifs = match params.keys("cifs") {
        Ok(cifs) => cifs,
        Err(error) => return bad_request(error),
    };
    let users: Vec<Value> = cifs
        .iter()
        .filter_map(|cif| state.bank.index_of_cif(cif))
        .filter_map(|index| state.bank.online_user(index))
        .map(|u| user_record(&u))
        .collect();
    success(json!({ "users": users }))
}

async fn user(
    State(state): State<SharedState>,
    uid: Result<Path<String>, PathRejection>,
) -> Response {
    // An id that is not valid UTF-8 cannot exist.
    let uid = uid.map(|Path(value)| value).unwrap_or_default();
    match state.bank.online_user_by_uid(&uid) {
        Some(user) => success(json!({ "user": user_record(&user) })),
        None => error(StatusCode::NOT_FOUND, &format!("user {uid} not found")),
    }
}

async fn login_events(
    State(state): State<SharedState>,
    uid: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    // An id that is not valid UTF-8 cannot exist.
    let uid = uid.map(|Path(value)| value).unwrap_or_default();
    let params = Params::parse(query.as_deref());
    let parsed = (|| {
        Ok::<_, ParamError>((
            params.limit("limit", DEFAULT_LIMIT)?,
            params.page_key("cursor")?,
        ))
    })();
    let (limit, offset) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return bad_request(error),
    };
    let Some(user) = state.bank.online_user_by_uid(&uid) else {
        return error(StatusCode::NOT_FOUND, &format!("user {uid} not found"));
    };
    let page = state.bank.login_events(&user, offset, limit);
    let events: Vec<Value> = page.items.iter().map(event_record).collect();
    success(json!({ "events": events, "nextCursor": page.next_offset.map(|n| n.to_string()) }))
}

/// Beijing local time as epoch milliseconds.
fn epoch_ms(time: NaiveDateTime) -> i64 {
    time.and_utc().timestamp_millis() - i64::from(BEIJING_OFFSET_SECONDS) * 1000
}

fn channel(channel: OnlineChannel) -> &'static str {
    match channel {
        OnlineChannel::App => "APP",
        OnlineChannel::Web => "WEB",
        OnlineChannel::Wechat => "WX",
    }
}

fn insert(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    map.insert(key.to_string(), value.into());
}

fn user_record(u: &OnlineUser) -> Value {
    let mut m = Map::new();
    insert(&mut m, "uid", u.uid.as_str());
    insert(&mut m, "cif", u.cif.to_string());
    let state = match u.state {
        UserState::Normal => "NORMAL",
        UserState::Locked => "LOCKED",
        UserState::Cancelled => "CANCELLED",
    };
    insert(&mut m, "state", state);
    insert(&mut m, "regTime", epoch_ms(u.registered_at));
    insert(&mut m, "lastLoginTime", u.last_login_at.map(epoch_ms));
    insert(&mut m, "prefChannel", channel(u.preferred_channel));
    let devices: Vec<Value> = u
        .devices
        .iter()
        .map(|d| json!({ "deviceId": d.id, "os": d.os, "model": d.model, "bindTime": epoch_ms(d.bound_at), "trusted": d.trusted }))
        .collect();
    insert(&mut m, "devices", devices);
    Value::Object(m)
}

fn event_record(e: &LoginEvent) -> Value {
    let auth = match e.auth_method {
        AuthMethod::Password => "PASSWORD",
        AuthMethod::SmsOtp => "SMS_OTP",
        AuthMethod::Biometric => "BIOMETRIC",
        AuthMethod::UsbKey => "USB_KEY",
    };
    let result = match e.result {
        LoginResult::Success => "SUCCESS",
        LoginResult::Failed => "FAILED",
        LoginResult::Locked => "LOCKED",
    };
    json!({
        "time": epoch_ms(e.at),
        "channel": channel(e.channel),
        "authMethod": auth,
        "result": result,
        "ipRegion": e.ip_region,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{cif_list, get, sandbox};
    use super::*;

    #[tokio::test]
    async fn users_and_login_events_in_the_channel_envelope() {
        let sandbox = sandbox();
        let router = sandbox.router();
        let json = get(
            &router,
            &format!("/channels/v1/users?cifs={}", cif_list(20)),
        )
        .await
        .json();
        assert_eq!(json["code"], "0");
        assert!(json["requestId"].is_string());
        let users = json["users"].as_array().expect("a list");
        let expected = (1..=20)
            .filter(|&i| sandbox.bank().online_user(i).is_some())
            .count();
        assert_eq!(users.len(), expected);
        let user = users
            .iter()
            .find(|u| !u["lastLoginTime"].is_null())
            .expect("an active user among 20 customers");
        assert!(user["regTime"].is_i64());
        let uid = user["uid"].as_str().expect("a uid");
        assert_eq!(
            &get(&router, &format!("/channels/v1/users/{uid}"))
                .await
                .json()["user"],
            user
        );

        let mut times = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut uri = format!("/channels/v1/users/{uid}/login-events?limit=4");
            if let Some(c) = &cursor {
                uri.push_str(&format!("&cursor={c}"));
            }
            let json = get(&router, &uri).await.json();
            times.extend(
                json["events"]
                    .as_array()
                    .expect("a list")
                    .iter()
                    .filter_map(|e| e["time"].as_i64()),
            );
            match json["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(times.first().copied(), user["lastLoginTime"].as_i64());
        assert!(times.windows(2).all(|w| w[0] > w[1]));
    }

    #[tokio::test]
    async fn unknown_user_and_oversized_batch_use_the_error_envelope() {
        let router = sandbox().router();
        let answer = get(&router, "/channels/v1/users/U0").await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.json()["code"], "40400");
        let answer = get(
            &router,
            &format!("/channels/v1/users?cifs={}", cif_list(101)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cifs"));
        assert_eq!(
            get(&router, "/channels/openapi.json").await.json()["openapi"],
            "3.0.3"
        );
    }
}
