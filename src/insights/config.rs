//! The thresholds of every CRM rule, from `config/insights.toml`.
//!
//! They are data because marketing and risk change them between releases (a new tier
//! scheme, a different FTP curve); they are checked once at start so that a typo stops
//! the hub instead of silently mis-tiering the whole book.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::Tier;
use crate::domain::ContactChannel;

/// The rules the binary carries, used when no file exists (a binary run outside its
/// source tree).
const EMBEDDED: &str = include_str!("../../config/insights.toml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightConfig {
    pub tier: TierConfig,
    pub rfm: RfmConfig,
    pub payroll: PayrollConfig,
    pub lifecycle: LifecycleConfig,
    pub churn: ChurnConfig,
    pub nbo: NboConfig,
    pub contribution: ContributionConfig,
    pub satisfaction: SatisfactionConfig,
    pub prospect: ProspectConfig,
    pub fx: FxConfig,
}

/// The lowest AUM (CNY) of each tier above MASS.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub gold: Decimal,
    pub platinum: Decimal,
    pub diamond: Decimal,
    pub private: Decimal,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmConfig {
    /// Upper bounds in days for scores 5, 4, 3, 2.
    pub recency_days: [i64; 4],
    /// Lower bounds in transactions for scores 5, 4, 3, 2.
    pub frequency: [u32; 4],
    pub monetary_min_aum: Decimal,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayrollConfig {
    pub min_months: u32,
    pub gap_days: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    pub churned_idle_days: i64,
    pub churned_max_aum: Decimal,
    pub decline_aum_drop_pct: Decimal,
    pub decline_transactions_drop_pct: Decimal,
    pub decline_no_login_days: i64,
    pub exploration_days: i64,
    pub exploration_extended_days: i64,
    pub exploration_max_products: i32,
    pub exploration_max_aum: Decimal,
    pub stability_min_tenure_days: i64,
    pub stability_min_products: i32,
    pub stability_max_aum_fall_pct: Decimal,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnConfig {
    pub aum_drop_3m_pct: Decimal,
    pub aum_drop_3m_points: i32,
    pub outbound_transfers_share_pct: Decimal,
    pub outbound_transfers_points: i32,
    pub payroll_stopped_points: i32,
    pub matured_deposit_days: i64,
    pub matured_deposit_points: i32,
    pub no_login_days: i64,
    pub no_login_points: i32,
    pub complaint_days: i64,
    pub complaint_points: i32,
    pub complaint_overdue_points: i32,
    pub card_idle_days: i64,
    pub card_idle_points: i32,
    pub loan_prepaid_points: i32,
    pub medium: i32,
    pub high: i32,
    pub rm_task_min_tier: Tier,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NboConfig {
    pub maturity_window_days: i64,
    pub idle_balance: Decimal,
    pub credit_card_min_age: i32,
    pub credit_card_max_age: i32,
    pub tier_upgrade_gap_pct: Decimal,
    pub branch_heavy_min_visits: usize,
    pub household_min_tier: Tier,
    pub complaint_quiet_days: i64,
    pub marketing_interval_days: i64,
    pub channels: Vec<ContactChannel>,
    pub scores: NboScores,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NboScores {
    pub time_deposit_renewal: i32,
    pub mobile_banking: i32,
    pub idle_balance_wealth: i32,
    pub credit_card: i32,
    pub tier_upgrade: i32,
    pub household: i32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContributionConfig {
    pub deposit_ftp_spread_pct: Decimal,
    pub loan_ftp_rate_pct: Decimal,
    pub loan_expected_loss_pct: Decimal,
    pub card_fee_rate_pct: Decimal,
    pub card_annual_fee: Decimal,
    pub servicing_cost: Decimal,
    pub discount_rate_pct: Decimal,
    pub retention_pct: Decimal,
    #[serde(default)]
    pub retention_by_segment: BTreeMap<String, Decimal>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionConfig {
    pub complaint_sla_days: i64,
    pub window_days: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProspectConfig {
    pub max_products: i32,
    pub min_inflow_90d: Decimal,
    pub min_idle_balance: Decimal,
}

/// Rates to CNY: CNY per one unit of the currency.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxConfig {
    pub as_of: NaiveDate,
    pub rates: BTreeMap<String, Decimal>,
}

impl FxConfig {
    /// CNY per unit of `currency`; CNY itself needs no entry.
    pub fn rate(&self, currency: &str) -> Option<Decimal> {
        if currency == "CNY" {
            return Some(Decimal::ONE);
        }
        self.rates.get(currency).copied()
    }
}

/// The RFM segment codes `retention_by_segment` may name.
pub const SEGMENTS: [&str; 5] = [
    "HIGH_VALUE_LOYAL",
    "HIGH_VALUE_AT_RISK",
    "NEW_TO_ACTIVATE",
    "POTENTIAL",
    "DORMANT",
];

/// One broken rule, named by its key in the file (`tier.platinum`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub problem: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// Why the rules cannot be used; the hub does not start with them.
#[derive(Debug, thiserror::Error)]
pub enum InsightConfigError {
    /// The message names the cause, so it is not also returned from `source()`.
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        source_name: String,
        problems: Vec<Problem>,
    },
}

impl InsightConfigError {
    /// The keys at fault, for tests and for tools that point at the file.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            InsightConfigError::Invalid { problems, .. } => {
                problems.iter().map(|p| p.key.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl InsightConfig {
    /// `path` when it exists, else the copy built into the binary.
    pub fn load(path: &Path) -> Result<InsightConfig, InsightConfigError> {
        if !path.exists() {
            return InsightConfig::parse(EMBEDDED, "embedded config/insights.toml");
        }
        let text = std::fs::read_to_string(path).map_err(|error| InsightConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        InsightConfig::parse(&text, &path.display().to_string())
    }

    /// The built-in rules; they are validated by the test suite, so this cannot fail
    /// in a released binary.
    pub fn embedded() -> InsightConfig {
        InsightConfig::parse(EMBEDDED, "embedded config/insights.toml")
            .expect("the embedded config/insights.toml is valid")
    }

    pub fn parse(text: &str, source_name: &str) -> Result<InsightConfig, InsightConfigError> {
        let config: InsightConfig =
            toml::from_str(text).map_err(|e| InsightConfigError::Parse {
                source_name: source_name.to_owned(),
                message: e.to_string(),
            })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(InsightConfigError::Invalid {
                source_name: source_name.to_owned(),
                problems,
            })
        }
    }

    /// Every broken rule at once, so that one edit fixes the file.
    pub fn problems(&self) -> Vec<Problem> {
        let mut p = Checks::default();

        let t = &self.tier;
        p.positive("tier.gold", t.gold);
        p.increasing(&[
            ("tier.gold", t.gold),
            ("tier.platinum", t.platinum),
            ("tier.diamond", t.diamond),
            ("tier.private", t.private),
        ]);

        let r = &self.rfm;
        if r.recency_days[0] < 0 {
            p.push("rfm.recency_days", "must not be negative");
        }
        if r.recency_days.windows(2).any(|w| w[0] >= w[1]) {
            p.push(
                "rfm.recency_days",
                format!(
                    "must be strictly increasing (scores 5, 4, 3, 2), got {:?}",
                    r.recency_days
                ),
            );
        }
        if r.frequency.windows(2).any(|w| w[0] <= w[1]) {
            p.push(
                "rfm.frequency",
                format!(
                    "must be strictly decreasing (scores 5, 4, 3, 2), got {:?}",
                    r.frequency
                ),
            );
        }
        p.non_negative("rfm.monetary_min_aum", r.monetary_min_aum);
        if r.monetary_min_aum >= t.gold {
            p.push(
                "rfm.monetary_min_aum",
                format!(
                    "must be below tier.gold ({}), which scores 3",
                    t.gold.normalize()
                ),
            );
        }

        if self.payroll.min_months == 0 || self.payroll.min_months > 12 {
            p.push("payroll.min_months", "must be 1 to 12");
        }
        p.days("payroll.gap_days", self.payroll.gap_days);

        let l = &self.lifecycle;
        p.days("lifecycle.churned_idle_days", l.churned_idle_days);
        p.non_negative("lifecycle.churned_max_aum", l.churned_max_aum);
        p.percent("lifecycle.decline_aum_drop_pct", l.decline_aum_drop_pct);
        p.percent(
            "lifecycle.decline_transactions_drop_pct",
            l.decline_transactions_drop_pct,
        );
        p.days("lifecycle.decline_no_login_days", l.decline_no_login_days);
        p.days("lifecycle.exploration_days", l.exploration_days);
        if l.exploration_extended_days < l.exploration_days {
            p.push(
                "lifecycle.exploration_extended_days",
                "must be at least lifecycle.exploration_days",
            );
        }
        if l.stability_min_tenure_days <= l.exploration_extended_days {
            p.push(
                "lifecycle.stability_min_tenure_days",
                "must be above lifecycle.exploration_extended_days",
            );
        }
        p.count(
            "lifecycle.exploration_max_products",
            l.exploration_max_products,
        );
        p.non_negative("lifecycle.exploration_max_aum", l.exploration_max_aum);
        p.count("lifecycle.stability_min_products", l.stability_min_products);
        p.percent(
            "lifecycle.stability_max_aum_fall_pct",
            l.stability_max_aum_fall_pct,
        );

        let c = &self.churn;
        p.percent("churn.aum_drop_3m_pct", c.aum_drop_3m_pct);
        p.percent(
            "churn.outbound_transfers_share_pct",
            c.outbound_transfers_share_pct,
        );
        for (key, points) in [
            ("churn.aum_drop_3m_points", c.aum_drop_3m_points),
            (
                "churn.outbound_transfers_points",
                c.outbound_transfers_points,
            ),
            ("churn.payroll_stopped_points", c.payroll_stopped_points),
            ("churn.matured_deposit_points", c.matured_deposit_points),
            ("churn.no_login_points", c.no_login_points),
            ("churn.complaint_points", c.complaint_points),
            ("churn.complaint_overdue_points", c.complaint_overdue_points),
            ("churn.card_idle_points", c.card_idle_points),
            ("churn.loan_prepaid_points", c.loan_prepaid_points),
        ] {
            p.score(key, points);
        }
        for (key, days) in [
            ("churn.matured_deposit_days", c.matured_deposit_days),
            ("churn.no_login_days", c.no_login_days),
            ("churn.complaint_days", c.complaint_days),
            ("churn.card_idle_days", c.card_idle_days),
        ] {
            p.days(key, days);
        }
        if !(0 < c.medium && c.medium < c.high && c.high <= 100) {
            p.push(
                "churn.high",
                format!(
                    "levels must satisfy 0 < churn.medium < churn.high <= 100, got medium {} and high {}",
                    c.medium, c.high
                ),
            );
        }

        let n = &self.nbo;
        p.days("nbo.maturity_window_days", n.maturity_window_days);
        p.non_negative("nbo.idle_balance", n.idle_balance);
        if !(0 <= n.credit_card_min_age && n.credit_card_min_age <= n.credit_card_max_age) {
            p.push(
                "nbo.credit_card_max_age",
                "must be at least nbo.credit_card_min_age, and both non-negative",
            );
        }
        p.percent("nbo.tier_upgrade_gap_pct", n.tier_upgrade_gap_pct);
        p.days("nbo.complaint_quiet_days", n.complaint_quiet_days);
        p.days("nbo.marketing_interval_days", n.marketing_interval_days);
        if n.channels.is_empty() {
            p.push("nbo.channels", "must name at least one channel");
        }
        let s = &n.scores;
        for (key, score) in [
            ("nbo.scores.time_deposit_renewal", s.time_deposit_renewal),
            ("nbo.scores.mobile_banking", s.mobile_banking),
            ("nbo.scores.idle_balance_wealth", s.idle_balance_wealth),
            ("nbo.scores.credit_card", s.credit_card),
            ("nbo.scores.tier_upgrade", s.tier_upgrade),
            ("nbo.scores.household", s.household),
        ] {
            p.score(key, score);
        }

        let m = &self.contribution;
        p.percent(
            "contribution.deposit_ftp_spread_pct",
            m.deposit_ftp_spread_pct,
        );
        p.percent("contribution.loan_ftp_rate_pct", m.loan_ftp_rate_pct);
        p.percent(
            "contribution.loan_expected_loss_pct",
            m.loan_expected_loss_pct,
        );
        p.percent("contribution.card_fee_rate_pct", m.card_fee_rate_pct);
        p.non_negative("contribution.card_annual_fee", m.card_annual_fee);
        p.non_negative("contribution.servicing_cost", m.servicing_cost);
        p.percent("contribution.discount_rate_pct", m.discount_rate_pct);
        p.retention("contribution.retention_pct", m.retention_pct);
        for (segment, retention) in &m.retention_by_segment {
            let key = format!("contribution.retention_by_segment.{segment}");
            if !SEGMENTS.contains(&segment.as_str()) {
                p.push(
                    &key,
                    format!("unknown segment (expected one of {})", SEGMENTS.join(", ")),
                );
            }
            p.retention(&key, *retention);
        }

        p.days(
            "satisfaction.complaint_sla_days",
            self.satisfaction.complaint_sla_days,
        );
        if self.satisfaction.window_days <= 0 {
            p.push("satisfaction.window_days", "must be positive");
        }

        p.count("prospect.max_products", self.prospect.max_products);
        p.non_negative("prospect.min_inflow_90d", self.prospect.min_inflow_90d);
        p.non_negative("prospect.min_idle_balance", self.prospect.min_idle_balance);

        for (currency, rate) in &self.fx.rates {
            let key = format!("fx.rates.{currency}");
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                p.push(&key, "must be an ISO 4217 code such as USD");
            }
            if *rate <= Decimal::ZERO {
                p.push(&key, format!("must be positive, got {rate}"));
            } else if currency == "CNY" && *rate != Decimal::ONE {
                p.push(
                    &key,
                    format!("must be 1 (amounts are converted to CNY), got {rate}"),
                );
            }
        }

        p.0
    }
}

#[derive(Default)]
struct Checks(Vec<Problem>);

impl Checks {
    fn push(&mut self, key: &str, problem: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_owned(),
            problem: problem.into(),
        });
    }

    fn positive(&mut self, key: &str, value: Decimal) {
        if value <= Decimal::ZERO {
            self.push(key, format!("must be positive, got {value}"));
        }
    }

    fn non_negative(&mut self, key: &str, value: Decimal) {
        if value < Decimal::ZERO {
            self.push(key, format!("must not be negative, got {value}"));
        }
    }

    fn percent(&mut self, key: &str, value: Decimal) {
        if value < Decimal::ZERO || value > Decimal::ONE_HUNDRED {
            self.push(
                key,
                format!("must be a percentage from 0 to 100, got {value}"),
            );
        }
    }

    /// Retention of 100% makes CLV = m·r/(d + 0) finite but the expected lifetime
    /// 1/(1 − r) infinite; no bank observes it, so it is refused.
    fn retention(&mut self, key: &str, value: Decimal) {
        if value < Decimal::ZERO || value >= Decimal::ONE_HUNDRED {
            self.push(
                key,
                format!("must be a percentage from 0 to below 100, got {value}"),
            );
        }
    }

    fn score(&mut self, key: &str, value: i32) {
        if !(0..=100).contains(&value) {
            self.push(key, format!("must be 0 to 100, got {value}"));
        }
    }

    fn days(&mut self, key: &str, value: i64) {
        if value < 0 {
            self.push(key, format!("must not be negative, got {value}"));
        }
    }

    fn count(&mut self, key: &str, value: i32) {
        if value < 0 {
            self.push(key, format!("must not be negative, got {value}"));
        }
    }

    fn increasing(&mut self, values: &[(&str, Decimal)]) {
        for pair in values.windows(2) {
            let ((low_key, low), (key, value)) = (pair[0], pair[1]);
            if value <= low {
                self.push(
                    key,
                    format!(
                        "must be above {low_key} ({}) so that tiers are strictly increasing, got {}",
                        low.normalize(),
                        value.normalize()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(edit: impl Fn(&mut toml::Table)) -> Result<InsightConfig, InsightConfigError> {
        let mut table: toml::Table = toml::from_str(EMBEDDED).unwrap();
        edit(&mut table);
        InsightConfig::parse(&toml::to_string(&table).unwrap(), "test")
    }

    fn set(table: &mut toml::Table, path: &str, value: toml::Value) {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().unwrap();
        let mut at = table;
        for part in parts {
            at = at.get_mut(part).unwrap().as_table_mut().unwrap();
        }
        at.insert(last.to_owned(), value);
    }

    fn keys_of(path: &str, value: toml::Value) -> Vec<String> {
        let err = with(|t| set(t, path, value.clone())).unwrap_err();
        err.keys().into_iter().map(str::to_owned).collect()
    }

    fn s(v: &str) -> toml::Value {
        toml::Value::String(v.to_owned())
    }

    #[test]
    fn the_shipped_file_is_valid_and_holds_the_domain_defaults() {
        let config = InsightConfig::embedded();
        assert_eq!(config.tier.gold, Decimal::from(50_000));
        assert_eq!(config.tier.platinum, Decimal::from(500_000));
        assert_eq!(config.tier.diamond, Decimal::from(2_000_000));
        assert_eq!(config.tier.private, Decimal::from(6_000_000));
        assert_eq!(config.rfm.recency_days, [30, 90, 180, 365]);
        assert_eq!(config.rfm.frequency, [120, 48, 24, 6]);
        assert_eq!(config.contribution.discount_rate_pct, Decimal::from(8));
        assert_eq!(config.nbo.complaint_quiet_days, 30);
        assert_eq!(config.fx.rate("CNY"), Some(Decimal::ONE));
        assert_eq!(config.fx.rate("USD"), Some("7.10".parse().unwrap()));
    }

    #[test]
    fn a_missing_file_falls_back_to_the_embedded_copy() {
        let config = InsightConfig::load(Path::new("/nonexistent/insights.toml")).unwrap();
        assert_eq!(config, InsightConfig::embedded());
    }

    #[test]
    fn a_file_on_disk_is_read_and_its_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("insights.toml");
        std::fs::write(
            &path,
            EMBEDDED.replace("gold = \"50000\"", "gold = \"80000\""),
        )
        .unwrap();
        let config = InsightConfig::load(&path).unwrap();
        assert_eq!(config.tier.gold, Decimal::from(80_000));

        std::fs::write(&path, EMBEDDED.replace("[tier]", "[tier]\nsilver = \"1\"")).unwrap();
        let err = InsightConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("insights.toml"), "{err}");
        assert!(err.contains("silver"), "{err}");
    }

    #[test]
    fn tiers_must_increase_strictly() {
        assert_eq!(keys_of("tier.platinum", s("50000")), ["tier.platinum"]);
        assert_eq!(keys_of("tier.diamond", s("400000")), ["tier.diamond"]);
        assert_eq!(keys_of("tier.private", s("1")), ["tier.private"]);
        assert_eq!(
            keys_of("tier.gold", s("0")),
            ["tier.gold", "rfm.monetary_min_aum"]
        );
    }

    #[test]
    fn rfm_breakpoints_must_be_ordered() {
        let days = toml::Value::Array(vec![30.into(), 30.into(), 180.into(), 365.into()]);
        assert_eq!(keys_of("rfm.recency_days", days), ["rfm.recency_days"]);
        let counts = toml::Value::Array(vec![6.into(), 24.into(), 48.into(), 120.into()]);
        assert_eq!(keys_of("rfm.frequency", counts), ["rfm.frequency"]);
        assert_eq!(
            keys_of("rfm.monetary_min_aum", s("60000")),
            ["rfm.monetary_min_aum"]
        );
    }

    #[test]
    fn percentages_weights_and_rates_are_range_checked() {
        assert_eq!(
            keys_of("contribution.deposit_ftp_spread_pct", s("150")),
            ["contribution.deposit_ftp_spread_pct"]
        );
        assert_eq!(
            keys_of("lifecycle.decline_aum_drop_pct", s("-1")),
            ["lifecycle.decline_aum_drop_pct"]
        );
        assert_eq!(
            keys_of("churn.no_login_points", (-5).into()),
            ["churn.no_login_points"]
        );
        assert_eq!(keys_of("churn.high", 10.into()), ["churn.high"]);
        assert_eq!(
            keys_of("contribution.retention_pct", s("100")),
            ["contribution.retention_pct"]
        );
        assert_eq!(keys_of("fx.rates.USD", s("0")), ["fx.rates.USD"]);
        assert_eq!(keys_of("fx.rates.usd", s("7")), ["fx.rates.usd"]);
        assert_eq!(keys_of("fx.rates.CNY", s("7")), ["fx.rates.CNY"]);
        assert_eq!(
            keys_of("contribution.retention_by_segment.VIP", s("90")),
            ["contribution.retention_by_segment.VIP"]
        );
        assert_eq!(
            keys_of("nbo.channels", toml::Value::Array(vec![])),
            ["nbo.channels"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = with(|t| {
            set(t, "tier.platinum", s("1"));
            set(t, "nbo.scores.household", 101.into());
        })
        .unwrap_err();
        assert_eq!(err.keys(), ["tier.platinum", "nbo.scores.household"]);
        let message = err.to_string();
        assert!(message.starts_with("test: tier.platinum: must be above tier.gold (50000)"));
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_with_their_name() {
        let err = with(|t| set(t, "churn.hihg", 1.into())).unwrap_err();
        assert!(err.to_string().contains("hihg"), "{err}");
        let err = with(|t| set(t, "nbo.channels", toml::Value::Array(vec![s("FAX")]))).unwrap_err();
        assert!(err.to_string().contains("FAX"), "{err}");
    }
}
