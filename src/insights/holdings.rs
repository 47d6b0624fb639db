//! What a customer holds with the bank, per currency and converted to CNY.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use super::{cny, dec, show, Inputs, InsightConfig, Reason};
use crate::domain::{
    AccountStatus, AccountType, Card, CardKind, CardStatus, Loan, LoanProduct, LoanStatus, Money,
    OnlineUserStatus,
};

/// The totals of one customer (or a household, or a person). The figures that mix
/// several systems, or come from deposits, are nullable in the schema: a role that may
/// not see a class they are computed from gets null with `FORBIDDEN` for them and
/// still sees the rest (docs/data-classes.md).
#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
#[graphql(complex)]
pub struct Holdings {
    #[graphql(skip)]
    pub aum: Money,
    #[graphql(skip)]
    pub deposits: Money,
    pub loans_outstanding: Money,
    pub credit_limit: Money,
    pub credit_used: Money,
    #[graphql(skip)]
    pub product_count: i32,
    #[graphql(skip)]
    pub products_by_line: Vec<ProductLine>,
    #[graphql(skip)]
    pub by_currency: Vec<CurrencyHoldings>,
    /// The date of the exchange rates the CNY totals use.
    pub fx_as_of: NaiveDate,
}

#[async_graphql::ComplexObject]
impl Holdings {
    /// Assets under management (docs/domain.md#holdings): the 3-month average of monthly
    /// average daily deposit balances, in CNY; loans excluded.
    async fn aum(&self) -> Option<Money> {
        Some(self.aum.clone())
    }

    /// Deposits held today, in CNY.
    async fn deposits(&self) -> Option<Money> {
        Some(self.deposits.clone())
    }

    /// Product lines held (depth): a second current account does not deepen a
    /// relationship the way a first credit card does.
    async fn product_count(&self) -> Option<i32> {
        Some(self.product_count)
    }

    async fn products_by_line(&self) -> Option<Vec<ProductLine>> {
        Some(self.products_by_line.clone())
    }

    async fn by_currency(&self) -> Option<Vec<CurrencyHoldings>> {
        Some(self.by_currency.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct ProductLine {
    /// The product lines of docs/domain.md#holdings: DEPOSIT_CURRENT, DEPOSIT_SAVINGS,
    /// DEPOSIT_TIME, DEBIT_CARD, CREDIT_CARD, MORTGAGE, CONSUMER_LOAN, BUSINESS_LOAN,
    /// AUTO_LOAN, CREDIT_LINE, E_BANKING, PAYROLL.
    pub line: String,
    pub count: i32,
}

/// Amounts in their own currency, unconverted.
#[derive(Debug, Clone, PartialEq, Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyHoldings {
    pub currency: String,
    pub deposits: Money,
    pub loans_outstanding: Money,
    pub credit_limit: Money,
    pub credit_used: Money,
}

/// `money` in CNY at the configured rate; none when the currency has no rate.
pub fn to_cny(config: &InsightConfig, money: &Money) -> Option<Decimal> {
    config.fx.rate(&money.currency).map(|r| money.amount * r)
}

pub(crate) fn card_is_open(card: &Card) -> bool {
    !matches!(card.status, CardStatus::Closed | CardStatus::Expired)
}

pub(crate) fn loan_is_open(loan: &Loan) -> bool {
    matches!(loan.status, LoanStatus::Active | LoanStatus::Restructured)
}

#[derive(Default)]
struct Sums {
    deposits: Decimal,
    loans: Decimal,
    limit: Decimal,
    used: Decimal,
}

pub fn holdings(config: &InsightConfig, inputs: &Inputs) -> (Holdings, Vec<Reason>) {
    let mut reasons = Vec::new();
    let mut by_currency: BTreeMap<String, Sums> = BTreeMap::new();
    let mut lines: BTreeMap<&'static str, i32> = BTreeMap::new();

    for account in inputs.accounts {
        if account.status == AccountStatus::Closed {
            continue;
        }
        *lines
            .entry(match account.account_type {
                AccountType::Current => "DEPOSIT_CURRENT",
                AccountType::Savings => "DEPOSIT_SAVINGS",
                AccountType::TimeDeposit => "DEPOSIT_TIME",
            })
            .or_default() += 1;
        by_currency
            .entry(account.balance.currency.clone())
            .or_default()
            .deposits += account.balance.amount;
    }
    for card in inputs.cards.iter().filter(|c| card_is_open(c)) {
        match card.kind {
            CardKind::Debit => *lines.entry("DEBIT_CARD").or_default() += 1,
            CardKind::Credit => {
                *lines.entry("CREDIT_CARD").or_default() += 1;
                for (money, add) in [(&card.credit_limit, true), (&card.outstanding, false)] {
                    if let Some(m) = money {
                        let sums = by_currency.entry(m.currency.clone()).or_default();
                        if add {
                            sums.limit += m.amount;
                        } else {
                            sums.used += m.amount;
                        }
                    }
                }
            }
        }
    }
    for loan in inputs.loans.iter().filter(|l| loan_is_open(l)) {
        *lines
            .entry(match loan.product {
                LoanProduct::Mortgage => "MORTGAGE",
                LoanProduct::Consumer => "CONSUMER_LOAN",
                LoanProduct::Business => "BUSINESS_LOAN",
                LoanProduct::Auto => "AUTO_LOAN",
                LoanProduct::CreditLine => "CREDIT_LINE",
            })
            .or_default() += 1;
        by_currency
            .entry(loan.outstanding.currency.clone())
            .or_default()
            .loans += loan.outstanding.amount;
    }
    if inputs
        .online
        .is_some_and(|u| u.status != OnlineUserStatus::Closed)
    {
        lines.insert("E_BANKING", 1);
    }
    if inputs
        .activity
        .is_some_and(|a| super::payroll_active(config, inputs.as_of, a))
    {
        lines.insert("PAYROLL", 1);
    }

    let mut total = Sums::default();
    let mut unconverted = Vec::new();
    for (currency, sums) in &by_currency {
        match config.fx.rate(currency) {
            Some(rate) => {
                total.deposits += sums.deposits * rate;
                total.loans += sums.loans * rate;
                total.limit += sums.limit * rate;
                total.used += sums.used * rate;
            }
            None => unconverted.push(currency.clone()),
        }
    }
    if !unconverted.is_empty() {
        reasons.push(Reason::new(
            "FX_RATE_MISSING",
            format!(
                "No exchange rate to CNY for {}; those amounts are left out of the CNY totals and shown per currency only.",
                unconverted.join(", ")
            ),
            json!({ "currencies": unconverted, "fxAsOf": config.fx.as_of.to_string() }),
        ));
    }
    let foreign: Vec<_> = by_currency
        .keys()
        .filter(|c| *c != "CNY" && !unconverted.contains(c))
        .map(|c| (c.clone(), dec(config.fx.rate(c).unwrap_or_default())))
        .collect();
    if !foreign.is_empty() {
        reasons.push(Reason::new(
            "FX_CONVERSION",
            format!(
                "Foreign-currency amounts are converted to CNY at the rates of {}.",
                config.fx.as_of
            ),
            json!({ "rates": serde_json::Map::from_iter(foreign), "fxAsOf": config.fx.as_of.to_string() }),
        ));
    }

    let aum = match inputs.activity.map(|a| &a.monthly_average_balances) {
        Some(months) if !months.is_empty() => {
            let last: Vec<Decimal> = months.iter().rev().take(3).copied().collect();
            let aum = last.iter().sum::<Decimal>() / Decimal::from(last.len());
            reasons.push(Reason::new(
                "AUM_MONTHLY_AVERAGE",
                format!(
                    "AUM is {} CNY, the average of the last {} months' average daily deposit balances.",
                    show(aum),
                    last.len()
                ),
                json!({
                    "monthlyAverageBalances": last.iter().rev().map(|b| dec(*b)).collect::<Vec<_>>(),
                    "aum": dec(aum),
                }),
            ));
            aum
        }
        _ => {
            reasons.push(Reason::new(
                "AUM_FROM_BALANCES",
                format!(
                    "No monthly average balances are available, so AUM is today's deposit balance, {} CNY.",
                    show(total.deposits)
                ),
                json!({ "deposits": dec(total.deposits) }),
            ));
            total.deposits
        }
    };

    let held = Holdings {
        aum: cny(aum),
        deposits: cny(total.deposits),
        loans_outstanding: cny(total.loans),
        credit_limit: cny(total.limit),
        credit_used: cny(total.used),
        product_count: lines.len() as i32,
        products_by_line: lines
            .into_iter()
            .map(|(line, count)| ProductLine {
                line: line.to_owned(),
                count,
            })
            .collect(),
        by_currency: by_currency
            .into_iter()
            .map(|(currency, s)| {
                let m = |amount: Decimal| Money {
                    amount,
                    currency: currency.clone(),
                    group_size: None,
                };
                CurrencyHoldings {
                    deposits: m(s.deposits),
                    loans_outstanding: m(s.loans),
                    credit_limit: m(s.limit),
                    credit_used: m(s.used),
                    currency: currency.clone(),
                }
            })
            .collect(),
        fx_as_of: config.fx.as_of,
    };
    (held, reasons)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    fn rules(reasons: &[Reason]) -> Vec<&str> {
        reasons.iter().map(|r| r.rule.as_str()).collect()
    }

    #[test]
    fn foreign_currencies_convert_at_the_configured_rates() {
        let config = InsightConfig::embedded();
        let mut w = world();
        w.activity = None;
        w.accounts = vec![
            account(AccountType::Current, "1000", "CNY"),
            account(AccountType::Savings, "100", "USD"),
            account(AccountType::TimeDeposit, "10000", "JPY"),
        ];
        let (h, reasons) = holdings(&config, &w.inputs());
        // 1000 + 100 × 7.10 + 10000 × 0.048 = 1000 + 710 + 480
        assert_eq!(h.deposits, money("2190", "CNY"));
        assert_eq!(h.aum, money("2190", "CNY"));
        assert_eq!(h.by_currency.len(), 3);
        assert_eq!(h.by_currency[2].currency, "USD");
        assert_eq!(h.by_currency[2].deposits, money("100", "USD"));
        assert_eq!(rules(&reasons), ["FX_CONVERSION", "AUM_FROM_BALANCES"]);
        assert_eq!(
            to_cny(&config, &money("2.5", "EUR")),
            Some(d("19.500")),
            "2.5 × 7.80"
        );
    }

    #[test]
    fn a_currency_without_a_rate_is_left_out_and_said_so() {
        let config = InsightConfig::embedded();
        let mut w = world();
        w.accounts.push(account(AccountType::Current, "500", "CHF"));
        let (h, reasons) = holdings(&config, &w.inputs());
        assert_eq!(h.deposits, money("80000", "CNY"));
        assert_eq!(rules(&reasons)[0], "FX_RATE_MISSING");
        assert_eq!(to_cny(&config, &money("1", "CHF")), None);
    }

    #[test]
    fn aum_is_the_three_month_average_when_activity_is_known() {
        let config = InsightConfig::embedded();
        let mut w = world();
        w.activity = Some(activity(&[1, 1, 1, 30_000, 60_000, 90_000]));
        let (h, reasons) = holdings(&config, &w.inputs());
        assert_eq!(h.aum, money("60000", "CNY"));
        assert_eq!(h.deposits, money("80000", "CNY"));
        assert_eq!(reasons[0].rule, "AUM_MONTHLY_AVERAGE");
    }

    #[test]
    fn credit_loans_and_product_lines_add_up() {
        let config = InsightConfig::embedded();
        let mut w = world();
        w.accounts.push(account(AccountType::Current, "10", "CNY"));
        let mut closed = account(AccountType::Savings, "0", "CNY");
        closed.status = AccountStatus::Closed;
        w.accounts.push(closed);
        w.cards = vec![credit_card("50000", "1200.50"), debit_card()];
        let mut old = credit_card("9999", "0");
        old.status = CardStatus::Closed;
        w.cards.push(old);
        w.loans = vec![loan(LoanProduct::Mortgage, "800000", Some("3.6"))];
        let mut paid = loan(LoanProduct::Auto, "0", None);
        paid.status = LoanStatus::PaidOff;
        w.loans.push(paid);
        let (h, _) = holdings(&config, &w.inputs());
        assert_eq!(h.credit_limit, money("50000", "CNY"));
        assert_eq!(h.credit_used, money("1200.50", "CNY"));
        assert_eq!(h.loans_outstanding, money("800000", "CNY"));
        let lines: Vec<(&str, i32)> = h
            .products_by_line
            .iter()
            .map(|l| (l.line.as_str(), l.count))
            .collect();
        assert_eq!(
            lines,
            [
                ("CREDIT_CARD", 1),
                ("DEBIT_CARD", 1),
                ("DEPOSIT_CURRENT", 2),
                ("E_BANKING", 1),
                ("MORTGAGE", 1)
            ]
        );
        assert_eq!(h.product_count, 5);
    }
}
