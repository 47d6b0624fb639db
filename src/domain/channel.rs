//! Internet and mobile banking: the online user linked to a customer, their devices
//! and login history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Cif;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineUser {
    /// The channel system's own user id, not the CIF.
    pub user_id: String,
    pub customer_id: Cif,
    pub status: OnlineUserStatus,
    #[serde(default, with = "super::dates::optional_instant")]
    pub registered_at: Option<DateTime<Utc>>,
    #[serde(default, with = "super::dates::optional_instant")]
    pub last_login_at: Option<DateTime<Utc>>,
    pub preferred_channel: Option<DigitalChannel>,
    #[serde(default)]
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Hashed by the channel system; never a raw IMEI.
    pub id: String,
    pub os: Option<String>,
    pub model: Option<String>,
    #[serde(default, with = "super::dates::optional_instant")]
    pub bound_at: Option<DateTime<Utc>>,
    pub trusted: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(deny_unknown_fields)]
pub struct LoginEvent {
    #[serde(with = "super::dates::instant")]
    pub at: DateTime<Utc>,
    pub channel: Option<DigitalChannel>,
    pub auth_method: Option<AuthMethod>,
    pub result: LoginResult,
    /// Coarse region only (province or city); the hub never holds IP addresses.
    pub ip_region: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OnlineUserStatus {
    Active,
    Locked,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DigitalChannel {
    MobileApp,
    Web,
    Wechat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthMethod {
    Password,
    SmsOtp,
    Biometric,
    /// U盾 hardware token.
    UsbKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoginResult {
    Success,
    Failed,
    Locked,
}
