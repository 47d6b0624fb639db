//! Deposit accounts (current, savings, time deposits; CNY and a few USD) and their
//! transactions, generated on demand and paged newest first.

use chrono::{Duration, Months, NaiveDate};
use rust_decimal::Decimal;

use super::customers::Profile;
use super::model::{
    Account, AccountStatus, AccountType, CreditDebit, CustomerKind, CustomerStatus, Transaction,
    TransactionChannel, TransactionPage, TransactionQuery,
};
use super::names;
use super::numbers::luhn_check_digit;
use super::prng::Draw;
use super::timeline::Timeline;
use super::{topic, Bank, ACCOUNT_BODY_MODULUS};

/// Prefix of every account number (a fictitious bank's deposit range).
const ACCOUNT_PREFIX: &str = "6013";
/// Account slots per customer; slot numbers are part of the account number.
const SLOTS: u64 = 8;
const SLOT_CURRENT: u64 = 0;
const SLOT_SAVINGS: u64 = 1;
const SLOT_TIME_DEPOSIT: u64 = 2;
const SLOT_TIME_DEPOSIT_2: u64 = 3;
const SLOT_USD: u64 = 4;
/// Transactions cover the twelve months before the business date.
const HISTORY_DAYS: i64 = 365;

/// Time-deposit terms in months with their rate in basis points (recent big-bank
/// 整存整取 rates).
const TIME_DEPOSIT_TERMS: [(u32, i64); 6] = [
    (3, 105),
    (6, 125),
    (12, 145),
    (24, 165),
    (36, 195),
    (60, 200),
];

fn cents(value: i64) -> Decimal {
    Decimal::new(value, 2)
}

impl Bank {
    fn account_number(&self, index: u64, slot: u64) -> String {
        let body = self.account_numbers.forward((index - 1) * SLOTS + slot);
        let partial = format!("{ACCOUNT_PREFIX}{body:014}");
        let check = luhn_check_digit(&partial).unwrap_or('0');
        format!("{partial}{check}")
    }

    /// The number of customer `index`'s current account, which every customer has.
    pub(crate) fn current_account_number(&self, index: u64) -> String {
        self.account_number(index, SLOT_CURRENT)
    }

    /// The deposit accounts of customer `index`, current account first; empty for an
    /// unknown index.
    pub fn accounts(&self, index: u64) -> Vec<Account> {
        if !self.contains(index) {
            return Vec::new();
        }
        let profile = self.profile(index);
        let mut draw = Draw::new(self.seed, topic::ACCOUNTS, &[index]);
        let rich = profile.band >= 3;
        let has_savings = draw.chance(if rich { 650 } else { 400 });
        let has_td = draw.chance(if rich { 700 } else { 250 });
        let has_td2 = has_td && profile.band >= 4 && draw.chance(500);
        let has_usd = draw.chance(if profile.band >= 5 { 250 } else { 30 });

        // Split the customer's wealth: time deposits take the largest share.
        let mut rest = profile.wealth_cents;
        let mut take = |draw: &mut Draw, lo: i64, hi: i64| {
            let part = rest / 100 * draw.range_i64(lo, hi);
            rest -= part;
            part
        };
        let td_total = if has_td { take(&mut draw, 40, 75) } else { 0 };
        let savings = if has_savings {
            take(&mut draw, 20, 60)
        } else {
            0
        };
        let current = rest;
        let (td1, td2) = if has_td2 {
            let first = td_total / 100 * draw.range_i64(30, 70);
            (first, td_total - first)
        } else {
            (td_total, 0)
        };

        let mut accounts = vec![self.make_account(
            &profile,
            SLOT_CURRENT,
            AccountType::Current,
            "CNY",
            current,
            &mut draw,
        )];
        if has_savings {
            accounts.push(self.make_account(
                &profile,
                SLOT_SAVINGS,
                AccountType::Savings,
                "CNY",
                savings,
                &mut draw,
            ));
        }
        if has_td {
            accounts.push(self.make_account(
                &profile,
                SLOT_TIME_DEPOSIT,
                AccountType::TimeDeposit,
                "CNY",
                td1,
                &mut draw,
            ));
        }
        if has_td2 {
            accounts.push(self.make_account(
                &profile,
                SLOT_TIME_DEPOSIT_2,
                AccountType::TimeDeposit,
                "CNY",
                td2,
                &mut draw,
            ));
        }
        if has_usd {
            let usd = draw.range_i64(50_000, 8_000_000);
            accounts.push(self.make_account(
                &profile,
                SLOT_USD,
                AccountType::Savings,
                "USD",
                usd,
                &mut draw,
            ));
        }
        accounts
    }

    fn make_account(
        &self,
        profile: &Profile,
        slot: u64,
        kind: AccountType,
        currency: &'static str,
        balance_cents: i64,
        draw: &mut Draw,
    ) -> Account {
        let tenure = (self.as_of - profile.onboarded_on).num_days().max(1) as u64;
        let mut opened_on = if slot == SLOT_CURRENT {
            profile.onboarded_on
        } else {
            profile.onboarded_on + Duration::days(draw.below(tenure) as i64)
        };
        let mut maturity_date = None;
        let interest_rate = match (kind, currency) {
            (AccountType::TimeDeposit, _) => {
                let (months, bps) = *draw.pick(&TIME_DEPOSIT_TERMS);
                // Maturities spread from a month ago to the full term ahead, so some
                // deposits mature within 30 days (a next-best-offer trigger).
                let ahead = draw.range_i64(-30, i64::from(months) * 30);
                let maturity = self.as_of + Duration::days(ahead);
                let opened = maturity
                    .checked_sub_months(Months::new(months))
                    .unwrap_or(opened_on);
                opened_on = opened.max(profile.onboarded_on);
                maturity_date = Some(maturity);
                cents(bps)
            }
            (_, "USD") => cents(5),
            (AccountType::Savings, _) => cents(35),
            (AccountType::Current, _) => cents(10),
        };
        let status = match profile.status {
            CustomerStatus::Closed => AccountStatus::Closed,
            CustomerStatus::Dormant => AccountStatus::Dormant,
            CustomerStatus::Active => match draw.below(1000) {
                0..=9 => AccountStatus::Frozen,
                10..=29 if kind != AccountType::Current => AccountStatus::Closed,
                _ => AccountStatus::Active,
            },
        };
        let balance = if status == AccountStatus::Closed {
            0
        } else {
            balance_cents
        };
        let available = match status {
            AccountStatus::Frozen => 0,
            // Some current accounts carry holds (pending card authorisations, court holds).
            _ if kind == AccountType::Current && draw.chance(50) => {
                balance - balance / 100 * draw.range_i64(1, 30)
            }
            _ => balance,
        };
        Account {
            number: self.account_number(profile.index, slot),
            cif: self.cif(profile.index),
            kind,
            currency,
            balance: cents(balance),
            available_balance: cents(available),
            status,
            opened_on,
            maturity_date,
            interest_rate,
        }
    }

    /// The account with this number (19 digits), if it exists.
    pub fn account(&self, number: &str) -> Option<Account> {
        let body = number.strip_prefix(ACCOUNT_PREFIX)?;
        if number.len() != 19 || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let scrambled: u64 = body[..14].parse().ok()?;
        if scrambled >= ACCOUNT_BODY_MODULUS {
            return None;
        }
        let key = self.account_numbers.backward(scrambled);
        let index = key / SLOTS + 1;
        if !self.contains(index) {
            return None;
        }
        self.accounts(index)
            .into_iter()
            .find(|a| a.number == number)
    }

    /// Where an account's transactions lie in time and how many there are.
    fn transaction_timeline(&self, account: &Account) -> Timeline {
        let (index, slot) = self.account_key(account);
        let profile = self.profile(index);
        let mut draw = Draw::new(self.seed, topic::TRANSACTION_TIME, &[index, slot]);
        let window_start = self.as_of - Duration::days(HISTORY_DAYS);
        let (first_day, days, count) = match account.kind {
            // A time deposit is booked once, on its opening day.
            AccountType::TimeDeposit => (
                account.opened_on,
                1,
                u64::from(account.opened_on >= window_start),
            ),
            _ => {
                let first = account.opened_on.max(window_start);
                let days = (self.as_of - first).num_days().max(0) as u64;
                let per_year = match (account.kind, profile.status, profile.kind) {
                    (_, CustomerStatus::Closed, _) => 0,
                    // Dormant accounts only see the quarterly interest posting.
                    (_, CustomerStatus::Dormant, _) => 4,
                    (AccountType::Current, _, CustomerKind::Corporate) => draw.range(200, 1500),
                    (AccountType::Current, _, CustomerKind::Individual) => draw.range(12, 400),
                    _ => draw.range(4, 30),
                };
                (first, days, per_year * days / 365)
            }
        };
        Timeline::new(
            first_day,
            days,
            count,
            self.seed,
            topic::TRANSACTION_TIME,
            [index, slot],
        )
    }

    /// A page of an account's transactions, newest first; `query.limit` is used as given.
    pub fn transactions(&self, account: &Account, query: &TransactionQuery) -> TransactionPage {
        let timeline = self.transaction_timeline(account);
        let page = timeline.page(query.from, query.to, query.offset, query.limit);
        let items = page
            .indices
            .iter()
            .map(|&j| self.transaction(account, &timeline, j))
            .collect();
        TransactionPage {
            items,
            next_offset: page.next_offset,
            total: page.total,
        }
    }

    /// The booking dates of customer-initiated transactions on the customer's
    /// current and savings accounts over the last twelve months, oldest first per
    /// account: the same events the transaction history pages through, without
    /// their amounts and counterparties.
    pub(crate) fn initiated_dates(
        &self,
        profile: &Profile,
        accounts: &[Account],
    ) -> Vec<NaiveDate> {
        let payroll_until = self.payroll_stopped_on(profile);
        let mut dates = Vec::new();
        for account in accounts
            .iter()
            .filter(|a| a.kind != AccountType::TimeDeposit)
        {
            let (index, slot) = self.account_key(account);
            let timeline = self.transaction_timeline(account);
            for j in 0..timeline.count() {
                let day = timeline.at(j).date();
                let mut draw = Draw::new(self.seed, topic::TRANSACTION, &[index, slot, j]);
                if pick_kind(&mut draw, account, profile, day, payroll_until).customer_initiated() {
                    dates.push(day);
                }
            }
        }
        dates
    }

    /// (customer index, slot) of an account generated by this bank.
    fn account_key(&self, account: &Account) -> (u64, u64) {
        let scrambled = account
            .number
            .get(4..18)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let key = self.account_numbers.backward(scrambled);
        (key / SLOTS + 1, key % SLOTS)
    }

    fn transaction(&self, account: &Account, timeline: &Timeline, j: u64) -> Transaction {
        let (index, slot) = self.account_key(account);
        let profile = self.profile(index);
        let mut draw = Draw::new(self.seed, topic::TRANSACTION, &[index, slot, j]);
        let scale: i64 = [1, 1, 2, 4, 8, 15, 30, 60][profile.band]
            * if profile.kind == CustomerKind::Corporate {
                20
            } else {
                1
            };
        let booked_at = timeline.at(j);
        let payroll_until = self.payroll_stopped_on(&profile);
        let kind = pick_kind(
            &mut draw,
            account,
            &profile,
            booked_at.date(),
            payroll_until,
        );
        let (direction, description, channel, lo, hi, counterparty) = kind.describe(&mut draw);
        let mut amount = draw.range_i64(lo * 100, hi * 100);
        if kind.scaled() {
            amount *= scale;
        }
        if kind == Kind::AtmWithdrawal {
            amount = amount / 10_000 * 10_000 + 10_000;
        }
        if account.currency == "USD" {
            amount = (amount / 7).max(1);
        }
        let counterparty = match counterparty {
            Counterparty::None => None,
            Counterparty::Person => {
                let male = draw.chance(500);
                Some(names::person_name(&mut draw, male).0)
            }
            Counterparty::Company => {
                let region = draw.pick(names::REGIONS);
                Some(names::company_name(&mut draw, region).0)
            }
            Counterparty::Merchant => Some(draw.pick(names::MERCHANTS).to_string()),
            Counterparty::Fixed(name) => Some(name.to_string()),
        };
        Transaction {
            id: format!("{}{:06}", account.number, j),
            account_number: account.number.clone(),
            booked_at,
            direction,
            amount: cents(amount.max(1)),
            currency: account.currency,
            description,
            channel,
            counterparty,
        }
    }
}

/// What a transaction is; decides direction, 摘要, channel and amount range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Purchase,
    TransferOut,
    TransferIn,
    Salary,
    AtmWithdrawal,
    Interest,
    Repayment,
    WealthBuy,
    WealthRedeem,
    CashDeposit,
    Utility,
    TimeDepositOpening,
    SalesReceipt,
    SupplierPayment,
    PayrollOut,
    Tax,
    Fee,
}

enum Counterparty {
    None,
    Person,
    Company,
    Merchant,
    Fixed(&'static str),
}

/// The kind of a transaction. Salary credits stop after the day the customer's
/// payroll stopped (a transfer in takes the place of the draw), so the history agrees
/// with the activity view.
fn pick_kind(
    draw: &mut Draw,
    account: &Account,
    profile: &Profile,
    booked_on: NaiveDate,
    payroll_until: Option<NaiveDate>,
) -> Kind {
    let kind = pick_any_kind(draw, account, profile);
    if kind == Kind::Salary && payroll_until.is_some_and(|until| booked_on > until) {
        Kind::TransferIn
    } else {
        kind
    }
}

fn pick_any_kind(draw: &mut Draw, account: &Account, profile: &Profile) -> Kind {
    use Kind::*;
    if account.kind == AccountType::TimeDeposit {
        return TimeDepositOpening;
    }
    if profile.status == CustomerStatus::Dormant {
        return Interest;
    }
    if account.kind == AccountType::Savings {
        return [TransferIn, TransferOut, Interest, Interest][draw.below(4) as usize];
    }
    if profile.kind == CustomerKind::Corporate {
        let kinds = [
            SalesReceipt,
            SupplierPayment,
            PayrollOut,
            Tax,
            Fee,
            Interest,
        ];
        return kinds[draw.weighted(&[40, 35, 8, 6, 8, 3])];
    }
    let kinds = [
        Purchase,
        TransferOut,
        TransferIn,
        Salary,
        AtmWithdrawal,
        Interest,
        Repayment,
        WealthBuy,
        WealthRedeem,
        CashDeposit,
        Utility,
    ];
    let salary = if profile.payroll { 8 } else { 0 };
    let wealth = if profile.band >= 3 { 3 } else { 0 };
    kinds[draw.weighted(&[45, 12, 10, salary, 5, 2, 5, wealth, wealth, 2, 8])]
}

impl Kind {
    /// Whether the customer asked for it: not interest, fees, taxes, payroll or
    /// other batch postings, and not money others sent.
    fn customer_initiated(self) -> bool {
        matches!(
            self,
            Kind::Purchase
                | Kind::TransferOut
                | Kind::AtmWithdrawal
                | Kind::WealthBuy
                | Kind::CashDeposit
                | Kind::Utility
                | Kind::SupplierPayment
                | Kind::PayrollOut
        )
    }

    /// Whether the amount grows with the customer's wealth band.
    fn scaled(self) -> bool {
        !matches!(
            self,
            Kind::Interest | Kind::Fee | Kind::Utility | Kind::AtmWithdrawal
        )
    }

    /// Direction, 摘要, channel, amount range in yuan and the kind of counterparty.
    fn describe(
        self,
        draw: &mut Draw,
    ) -> (
        CreditDebit,
        &'static str,
        TransactionChannel,
        i64,
        i64,
        Counterparty,
    ) {
        use CreditDebit::{Credit, Debit};
        use TransactionChannel::*;
        let online = *draw.pick(&[Mobile, Mobile, Wechat, Web]);
        match self {
            Kind::Purchase => (
                Debit,
                "消费",
                *draw.pick(&[Pos, Pos, Mobile, Wechat]),
                5,
                800,
                Counterparty::Merchant,
            ),
            Kind::TransferOut => (Debit, "转账汇出", online, 100, 5_000, Counterparty::Person),
            Kind::TransferIn => (Credit, "转账汇入", online, 100, 5_000, Counterparty::Person),
            Kind::Salary => (
                Credit,
                "代发工资",
                Batch,
                4_000,
                25_000,
                Counterparty::Company,
            ),
            Kind::AtmWithdrawal => (Debit, "ATM取款", Atm, 100, 3_000, Counterparty::None),
            Kind::Interest => (Credit, "结息", Batch, 0, 30, Counterparty::None),
            Kind::Repayment => (Debit, "贷款还款", Batch, 500, 8_000, Counterparty::None),
            Kind::WealthBuy => (
                Debit,
                "理财购买",
                Mobile,
                10_000,
                100_000,
                Counterparty::Fixed("理财产品"),
            ),
            Kind::WealthRedeem => (
                Credit,
                "理财赎回",
                Batch,
                10_000,
                100_000,
                Counterparty::Fixed("理财产品"),
            ),
            Kind::CashDeposit => (Credit, "现金存入", Counter, 500, 20_000, Counterparty::None),
            Kind::Utility => (
                Debit,
                "生活缴费",
                online,
                30,
                600,
                Counterparty::Fixed("国家电网"),
            ),
            Kind::TimeDepositOpening => (
                Credit,
                "定期存入",
                Counter,
                10_000,
                200_000,
                Counterparty::None,
            ),
            Kind::SalesReceipt => (Credit, "货款", Web, 1_000, 50_000, Counterparty::Company),
            Kind::SupplierPayment => (Debit, "支付货款", Web, 1_000, 50_000, Counterparty::Company),
            Kind::PayrollOut => (
                Debit,
                "批量代发工资",
                Batch,
                5_000,
                40_000,
                Counterparty::None,
            ),
            Kind::Tax => (
                Debit,
                "税费缴纳",
                Batch,
                1_000,
                20_000,
                Counterparty::Fixed("国家税务总局"),
            ),
            Kind::Fee => (Debit, "手续费", Batch, 1, 200, Counterparty::None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::NaiveDate;

    use super::super::numbers::luhn_valid;
    use super::*;

    fn bank() -> Bank {
        Bank::new(
            5_000,
            42,
            NaiveDate::from_ymd_opt(2025, 6, 30).expect("valid date"),
        )
    }

    #[test]
    fn account_numbers_are_luhn_valid_unique_and_found_again() {
        let bank = bank();
        let mut seen = HashSet::new();
        let mut kinds = HashSet::new();
        for index in 1..=bank.customers() {
            let accounts = bank.accounts(index);
            assert_eq!(accounts[0].kind, AccountType::Current);
            for account in accounts {
                assert!(luhn_valid(&account.number), "{}", account.number);
                assert_eq!(account.number.len(), 19);
                assert!(seen.insert(account.number.clone()));
                assert!(account.balance >= Decimal::ZERO);
                assert!(account.available_balance <= account.balance);
                kinds.insert((account.kind, account.currency));
                assert_eq!(bank.account(&account.number).as_ref(), Some(&account));
            }
        }
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert!(bank.account("6013000000000000000").is_none());
        assert!(bank.account("60130000").is_none());
        assert!(bank.account("x013000000000000000").is_none());
    }

    #[test]
    fn transaction_paging_covers_all_without_overlap_and_respects_filters() {
        let bank = bank();
        let account = (1..=200)
            .flat_map(|i| bank.accounts(i))
            .find(|a| {
                a.kind == AccountType::Current
                    && bank
                        .transactions(
                            a,
                            &TransactionQuery {
                                limit: 1,
                                ..Default::default()
                            },
                        )
                        .total
                        > 150
            })
            .expect("an active current account");
        let all = bank.transactions(
            &account,
            &TransactionQuery {
                limit: u64::MAX,
                ..Default::default()
            },
        );
        assert!(all
            .items
            .windows(2)
            .all(|w| w[0].booked_at > w[1].booked_at));
        let window_start = (bank.as_of() - Duration::days(365))
            .and_hms_opt(0, 0, 0)
            .expect("valid time");
        assert!(all
            .items
            .iter()
            .all(|t| t.booked_at >= window_start && t.booked_at.date() < bank.as_of()));

        let from = all.items[120].booked_at;
        let to = all.items[20].booked_at;
        let mut offset = 0;
        let mut ids = Vec::new();
        loop {
            let query = TransactionQuery {
                from: Some(from),
                to: Some(to),
                offset,
                limit: 7,
            };
            let page = bank.transactions(&account, &query);
            assert_eq!(page.total, 101);
            ids.extend(page.items.iter().map(|t| t.id.clone()));
            match page.next_offset {
                Some(next) => offset = next,
                None => break,
            }
        }
        let expected: Vec<String> = all.items[20..=120].iter().map(|t| t.id.clone()).collect();
        assert_eq!(ids, expected);
        assert_eq!(
            all.items,
            bank.transactions(
                &account,
                &TransactionQuery {
                    limit: 10_000,
                    ..Default::default()
                }
            )
            .items
        );
    }
}
