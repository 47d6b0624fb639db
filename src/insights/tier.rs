//! Customer tiers by AUM (docs/domain.md#tiers).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{dec, show, InsightConfig, Reason};
use crate::domain::Activity;

/// Ordered from the smallest to the largest, so that `>=` compares tiers.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    async_graphql::Enum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tier {
    /// 普通.
    Mass,
    /// 金卡.
    Gold,
    /// 白金.
    Platinum,
    /// 钻石.
    Diamond,
    /// 私人银行.
    Private,
}

impl Tier {
    pub const ALL: [Tier; 5] = [
        Tier::Mass,
        Tier::Gold,
        Tier::Platinum,
        Tier::Diamond,
        Tier::Private,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Mass => "MASS",
            Tier::Gold => "GOLD",
            Tier::Platinum => "PLATINUM",
            Tier::Diamond => "DIAMOND",
            Tier::Private => "PRIVATE",
        }
    }

    /// The lowest AUM of this tier.
    pub fn threshold(self, config: &InsightConfig) -> Decimal {
        let t = &config.tier;
        match self {
            Tier::Mass => Decimal::ZERO,
            Tier::Gold => t.gold,
            Tier::Platinum => t.platinum,
            Tier::Diamond => t.diamond,
            Tier::Private => t.private,
        }
    }

    pub fn next(self) -> Option<Tier> {
        Tier::ALL.get(self as usize + 1).copied()
    }
}

/// The tier an AUM (CNY) falls in; each threshold belongs to the tier it opens.
pub fn tier_for(config: &InsightConfig, aum_cny: Decimal) -> Tier {
    Tier::ALL
        .into_iter()
        .rev()
        .find(|t| aum_cny >= t.threshold(config))
        .unwrap_or(Tier::Mass)
}

/// The tier the customer holds. Upgrades follow the 3-month average at once; a
/// downgrade waits until each of the last 3 months was below the tier held over the
/// 3 months before (docs/domain.md#tiers), so that one bad month (a house deposit paid out
/// and refilled) does not cost a customer their privileges.
pub fn tier(
    config: &InsightConfig,
    aum: Decimal,
    activity: Option<&Activity>,
) -> (Tier, Vec<Reason>) {
    let by_aum = tier_for(config, aum);
    let mut reasons = vec![Reason::new(
        "TIER_BY_AUM",
        format!(
            "AUM of {} CNY is in {} (from {} CNY).",
            show(aum),
            by_aum.as_str(),
            show(by_aum.threshold(config))
        ),
        json!({ "aum": dec(aum), "tier": by_aum.as_str(), "threshold": dec(by_aum.threshold(config)) }),
    )];
    let Some(months) = activity
        .map(|a| &a.monthly_average_balances)
        .filter(|m| m.len() >= 6)
    else {
        return (by_aum, reasons);
    };
    let n = months.len();
    let prior_avg = months[n - 6..n - 3].iter().sum::<Decimal>() / Decimal::from(3);
    let held = tier_for(config, prior_avg);
    if by_aum >= held {
        return (by_aum, reasons);
    }
    let floor = held.threshold(config);
    let last3 = &months[n - 3..];
    let inputs = json!({
        "priorAverage": dec(prior_avg),
        "heldTier": held.as_str(),
        "threshold": dec(floor),
        "lastMonths": last3.iter().map(|b| dec(*b)).collect::<Vec<_>>(),
    });
    if last3.iter().all(|b| *b < floor) {
        reasons.push(Reason::new(
            "TIER_DOWNGRADE",
            format!(
                "Down from {} after 3 consecutive months below {} CNY.",
                held.as_str(),
                show(floor)
            ),
            inputs,
        ));
        (by_aum, reasons)
    } else {
        reasons.push(Reason::new(
            "TIER_DOWNGRADE_PENDING",
            format!(
                "Kept at {}: the 3-month average fell below {} CNY, but not every one of the last 3 months did.",
                held.as_str(),
                show(floor)
            ),
            inputs,
        ));
        (held, reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn each_threshold_opens_its_tier() {
        let c = InsightConfig::embedded();
        let cases = [
            ("0", Tier::Mass),
            ("49999.99", Tier::Mass),
            ("50000", Tier::Gold),
            ("499999.99", Tier::Gold),
            ("500000", Tier::Platinum),
            ("1999999.99", Tier::Platinum),
            ("2000000", Tier::Diamond),
            ("5999999.99", Tier::Diamond),
            ("6000000", Tier::Private),
            ("-10", Tier::Mass),
        ];
        for (aum, expected) in cases {
            assert_eq!(tier_for(&c, d(aum)), expected, "{aum}");
        }
        assert_eq!(Tier::Diamond.next(), Some(Tier::Private));
        assert_eq!(Tier::Private.next(), None);
    }

    #[test]
    fn a_downgrade_waits_for_three_months_below() {
        let c = InsightConfig::embedded();
        // Held PLATINUM (prior average 600,000); now averaging 400,000 with one month
        // still at 600,000: kept.
        let a = activity(&[600_000, 600_000, 600_000, 600_000, 300_000, 300_000]);
        let (t, reasons) = tier(&c, d("400000"), Some(&a));
        assert_eq!(t, Tier::Platinum);
        assert_eq!(reasons[1].rule, "TIER_DOWNGRADE_PENDING");

        let a = activity(&[600_000, 600_000, 600_000, 499_999, 300_000, 300_000]);
        let (t, reasons) = tier(&c, d("366666.33"), Some(&a));
        assert_eq!(t, Tier::Gold);
        assert_eq!(reasons[1].rule, "TIER_DOWNGRADE");
    }

    #[test]
    fn an_upgrade_is_immediate_and_short_histories_use_the_average() {
        let c = InsightConfig::embedded();
        let a = activity(&[10_000, 10_000, 10_000, 50_000, 50_000, 50_000]);
        assert_eq!(tier(&c, d("50000"), Some(&a)).0, Tier::Gold);
        let a = activity(&[600_000, 10_000]);
        assert_eq!(tier(&c, d("10000"), Some(&a)).0, Tier::Mass);
        assert_eq!(tier(&c, d("10000"), None).0, Tier::Mass);
    }
}
