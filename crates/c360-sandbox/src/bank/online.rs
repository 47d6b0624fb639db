//! Internet and mobile banking users with their own user ids, bound devices and a
//! login history generated on demand, newest first.

use chrono::{Duration, NaiveTime};

use super::customers::Profile;
use super::model::{
    AuthMethod, CustomerKind, CustomerStatus, Device, LoginEvent, LoginEventPage, LoginResult,
    OnlineChannel, OnlineUser, UserState,
};
use super::names::REGIONS;
use super::prng::Draw;
use super::timeline::Timeline;
use super::{topic, Bank, CIF_BASE, UID_MODULUS};

/// Share of individuals / corporates registered for online banking, per mille.
const INDIVIDUAL_USER_PER_MILLE: u64 = 750;
const CORPORATE_USER_PER_MILLE: u64 = 200;
/// Login history covers the twelve months before the business date.
const HISTORY_DAYS: i64 = 365;
/// User ids are `UID_PREFIX` + ten scrambled digits.
const UID_PREFIX: &str = "U";

const PHONES: &[(&str, &str)] = &[
    ("iOS 17.5", "iPhone 15"),
    ("iOS 18.1", "iPhone 16 Pro"),
    ("iOS 16.7", "iPhone 13"),
    ("HarmonyOS 4.2", "HUAWEI Mate 60"),
    ("HarmonyOS 4.0", "HUAWEI P60"),
    ("Android 14", "Xiaomi 14"),
    ("Android 14", "OPPO Find X7"),
    ("Android 14", "vivo X100"),
    ("Android 13", "HONOR Magic5"),
    ("Android 12", "Redmi K50"),
];

impl Bank {
    fn uid(&self, index: u64) -> String {
        format!("{UID_PREFIX}{:010}", self.uids.forward(index - 1))
    }

    /// The online-banking user of customer `index`, if registered.
    pub fn online_user(&self, index: u64) -> Option<OnlineUser> {
        if !self.contains(index) {
            return None;
        }
        let profile = self.profile(index);
        let mut draw = Draw::new(self.seed, topic::ONLINE, &[index]);
        let per_mille = match profile.kind {
            CustomerKind::Individual => INDIVIDUAL_USER_PER_MILLE,
            CustomerKind::Corporate => CORPORATE_USER_PER_MILLE,
        };
        if !draw.chance(per_mille) && !self.is_showcase(index) {
            return None;
        }
        let state = match profile.status {
            CustomerStatus::Closed => UserState::Cancelled,
            _ => [UserState::Normal, UserState::Locked, UserState::Cancelled]
                [draw.weighted(&[950, 30, 20])],
        };
        let tenure = (self.as_of - profile.onboarded_on).num_days().max(1) as u64;
        let registered_day = profile.onboarded_on + Duration::days(draw.below(tenure) as i64);
        let registered_at = registered_day.and_time(NaiveTime::MIN)
            + Duration::seconds(draw.range(8 * 3600, 21 * 3600) as i64);
        let preferred_channel = match profile.kind {
            CustomerKind::Corporate => OnlineChannel::Web,
            CustomerKind::Individual => [
                OnlineChannel::App,
                OnlineChannel::Web,
                OnlineChannel::Wechat,
            ][draw.weighted(&[70, 15, 15])],
        };
        let device_count = match profile.kind {
            CustomerKind::Corporate => 1,
            CustomerKind::Individual => draw.range(1, 3),
        };
        let devices = (0..device_count)
            .map(|d| {
                let (os, model) = match profile.kind {
                    CustomerKind::Corporate => ("Windows 11", "PC"),
                    CustomerKind::Individual => *draw.pick(PHONES),
                };
                let days_since = (self.as_of.and_time(NaiveTime::MIN) - registered_at)
                    .num_seconds()
                    .max(1) as u64;
                Device {
                    id: format!(
                        "{:016x}",
                        Draw::new(self.seed, topic::ONLINE, &[index, 100 + d]).next_u64()
                    ),
                    os,
                    model,
                    bound_at: registered_at + Duration::seconds(draw.below(days_since) as i64),
                    trusted: draw.chance(800),
                }
            })
            .collect();
        let mut user = OnlineUser {
            uid: self.uid(index),
            cif: self.cif(index),
            state,
            registered_at,
            last_login_at: None,
            preferred_channel,
            devices,
        };
        let timeline = self.login_timeline(&profile, &user);
        user.last_login_at = timeline.count().checked_sub(1).map(|j| timeline.at(j));
        Some(user)
    }

    /// The user with this channel user id, if any.
    pub fn online_user_by_uid(&self, uid: &str) -> Option<OnlineUser> {
        let digits = uid.strip_prefix(UID_PREFIX)?;
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        if n >= UID_MODULUS {
            return None;
        }
        let index = self.uids.backward(n) + 1;
        self.online_user(index).filter(|u| u.uid == uid)
    }

    fn login_timeline(&self, profile: &Profile, user: &OnlineUser) -> Timeline {
        let mut draw = Draw::new(self.seed, topic::LOGIN_TIME, &[profile.index]);
        let first_day = user
            .registered_at
            .date()
            .max(self.as_of - Duration::days(HISTORY_DAYS))
            + Duration::days(1);
        let days = (self.as_of - first_day).num_days().max(0) as u64;
        let per_year = match (user.state, profile.status) {
            (UserState::Cancelled, _) | (_, CustomerStatus::Dormant) => 0,
            _ => *draw.pick(&[2, 12, 40, 120, 300, 600]),
        };
        Timeline::new(
            first_day,
            days,
            per_year * days / 365,
            self.seed,
            topic::LOGIN_TIME,
            [profile.index, 0],
        )
    }

    /// A page of a user's login events, newest first.
    pub fn login_events(&self, user: &OnlineUser, offset: u64, limit: u64) -> LoginEventPage {
        let index = user.cif.saturating_sub(CIF_BASE);
        if !self.contains(index) {
            return LoginEventPage {
                items: Vec::new(),
                next_offset: None,
                total: 0,
            };
        }
        let profile = self.profile(index);
        let timeline = self.login_timeline(&profile, user);
        let page = timeline.page(None, None, offset, limit);
        let newest = timeline.count().checked_sub(1);
        let items = page
            .indices
            .iter()
            .map(|&j| {
                let mut draw = Draw::new(self.seed, topic::LOGIN, &[index, j]);
                let channel = if draw.chance(750) {
                    user.preferred_channel
                } else {
                    *draw.pick(&[
                        OnlineChannel::App,
                        OnlineChannel::Web,
                        OnlineChannel::Wechat,
                    ])
                };
                let auth_method = match channel {
                    OnlineChannel::App => *draw.pick(&[
                        AuthMethod::Biometric,
                        AuthMethod::Biometric,
                        AuthMethod::Password,
                        AuthMethod::SmsOtp,
                    ]),
                    OnlineChannel::Web if profile.kind == CustomerKind::Corporate => {
                        AuthMethod::UsbKey
                    }
                    OnlineChannel::Web => {
                        *draw.pick(&[AuthMethod::Password, AuthMethod::SmsOtp, AuthMethod::UsbKey])
                    }
                    OnlineChannel::Wechat => {
                        *draw.pick(&[AuthMethod::SmsOtp, AuthMethod::Password])
                    }
                };
                let result = if Some(j) == newest && user.state == UserState::Locked {
                    LoginResult::Locked
                } else {
                    [
                        LoginResult::Success,
                        LoginResult::Failed,
                        LoginResult::Locked,
                    ][draw.weighted(&[950, 45, 5])]
                };
                let region = if draw.chance(850) {
                    &REGIONS[profile.region]
                } else {
                    draw.pick(REGIONS)
                };
                LoginEvent {
                    at: timeline.at(j),
                    channel,
                    auth_method,
                    result,
                    ip_region: if region.1 == region.2 {
                        region.1
                    } else {
                        region.2
                    },
                }
            })
            .collect();
        LoginEventPage {
            items,
            next_offset: page.next_offset,
            total: page.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn users_are_found_by_uid_and_login_events_page_newest_first() {
        let bank = Bank::new(
            4_000,
            42,
            NaiveDate::from_ymd_opt(2025, 6, 30).expect("valid date"),
        );
        let mut uids = HashSet::new();
        let mut individuals_with_user = 0;
        let mut individuals = 0;
        for index in 1..=bank.customers() {
            let individual = bank.kind(index) == CustomerKind::Individual;
            individuals += u32::from(individual);
            if let Some(user) = bank.online_user(index) {
                individuals_with_user += u32::from(individual);
                assert!(uids.insert(user.uid.clone()));
                assert_eq!(bank.online_user_by_uid(&user.uid).as_ref(), Some(&user));
                let all = bank.login_events(&user, 0, 10_000);
                assert!(all.items.windows(2).all(|w| w[0].at > w[1].at));
                assert_eq!(all.items.first().map(|e| e.at), user.last_login_at);
                assert!(all.items.iter().all(|e| e.at > user.registered_at));
            }
        }
        let share = individuals_with_user * 100 / individuals;
        assert!((70..80).contains(&share), "{share}%");
        assert!(bank.online_user_by_uid("U").is_none());
        assert!(bank.online_user_by_uid("U99999999999").is_none());
    }
}
