//! Dates and instants as text: ISO 8601 dates (`2024-11-28`) and RFC 3339 instants in
//! UTC (`2024-11-28T05:45:30.250Z`), exactly as chrono writes and reads them, with the
//! shapes the hub itself writes read and written directly.
//!
//! Every upstream item's dates are read twice on a cold request (once from the
//! upstream's format by the mapping, once from the canonical text into the domain
//! type) and written twice (by the mapping, and into the entity tier's MessagePack).
//! chrono does each through its general format machinery, which cost about 2.5 % of
//! a cold profile360's instructions. Text of any other shape goes to chrono, so what
//! is accepted, refused and written does not change: the tests below hold the two to
//! the same answers.

use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, Timelike, Utc};

/// The longest text [`write_instant`] writes directly: a date, a time with
/// nanoseconds, and `Z`.
const INSTANT_MAX: usize = 30;

/// `text` as a date: `YYYY-MM-DD` read directly, anything else by chrono's `FromStr`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    iso_date(text.as_bytes()).or_else(|| NaiveDate::from_str(text).ok())
}

/// `text` as a date in `format` (a chrono format): `%Y%m%d` and `%Y-%m-%d` of the
/// expected length are read directly.
pub fn parse_date_as(text: &str, format: &str) -> Option<NaiveDate> {
    let direct = match format {
        "%Y-%m-%d" => iso_date(text.as_bytes()),
        "%Y%m%d" => compact_date(text.as_bytes()),
        _ => None,
    };
    direct.or_else(|| NaiveDate::parse_from_str(text, format).ok())
}

/// `date` as `YYYY-MM-DD`, as chrono writes it (years outside 0 to 9999 with a sign).
pub fn write_date(date: NaiveDate) -> String {
    let mut buffer = [0u8; 10];
    match date_bytes(date, &mut buffer) {
        Some(text) => text.to_owned(),
        None => format!("{date:?}"),
    }
}

/// `text` as an instant: RFC 3339 in UTC (`Z`) read directly, anything else (another
/// offset, a lowercase `t`, a space) by chrono's `FromStr`, which takes RFC 3339
/// leniently.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    utc_instant_or(text, DateTime::<FixedOffset>::from_str)
}

/// `text` as an instant in strict RFC 3339 (chrono's `parse_from_rfc3339`), in UTC.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    utc_instant_or(text, DateTime::parse_from_rfc3339)
}

/// `text` read directly when it has the hub's own shape, else by chrono's `parse`.
fn utc_instant_or(
    text: &str,
    parse: fn(&str) -> chrono::ParseResult<DateTime<FixedOffset>>,
) -> Option<DateTime<Utc>> {
    utc_instant(text.as_bytes()).or_else(|| parse(text).ok().map(|at| at.with_timezone(&Utc)))
}

/// `at` in RFC 3339 with `Z` and as many fractional digits as it needs (none,
/// milliseconds, microseconds or nanoseconds), as chrono writes it.
pub fn write_instant(at: DateTime<Utc>) -> String {
    let mut buffer = [0u8; INSTANT_MAX];
    match instant_bytes(at, &mut buffer) {
        Some(text) => text.to_owned(),
        None => at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }
}

fn digit(byte: u8) -> Option<u32> {
    byte.is_ascii_digit().then(|| u32::from(byte - b'0'))
}

fn number(bytes: &[u8]) -> Option<u32> {
    bytes
        .iter()
        .try_fold(0u32, |value, &byte| Some(value * 10 + digit(byte)?))
}

fn ymd(year: &[u8], month: &[u8], day: &[u8]) -> Option<NaiveDate> {
    let year = i32::try_from(number(year)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(month)?, number(day)?)
}

fn iso_date(bytes: &[u8]) -> Option<NaiveDate> {
    match bytes {
        [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] => {
            ymd(&[*y0, *y1, *y2, *y3], &[*m0, *m1], &[*d0, *d1])
        }
        _ => None,
    }
}

fn compact_date(bytes: &[u8]) -> Option<NaiveDate> {
    match bytes {
        [y0, y1, y2, y3, m0, m1, d0, d1] => ymd(&[*y0, *y1, *y2, *y3], &[*m0, *m1], &[*d0, *d1]),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction of one to nine digits. A leap
/// second (`:60`) goes to chrono.
fn utc_instant(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let body = bytes.strip_suffix(b"Z")?;
    if body.len() < 19 || body[10] != b'T' || body[13] != b':' || body[16] != b':' {
        return None;
    }
    let date = iso_date(&body[..10])?;
    let (hour, minute, second) = (
        number(&body[11..13])?,
        number(&body[14..16])?,
        number(&body[17..19])?,
    );
    let nanos = match &body[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            number(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    if second > 59 {
        return None;
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

fn push_two(out: &mut [u8], value: u32) {
    out[0] = b'0' + (value / 10) as u8;
    out[1] = b'0' + (value % 10) as u8;
}

/// The date in `buffer` as `YYYY-MM-DD`; `None` for a year outside 0 to 9999.
fn date_bytes(date: NaiveDate, buffer: &mut [u8; 10]) -> Option<&str> {
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    push_two(&mut buffer[0..2], year / 100);
    push_two(&mut buffer[2..4], year % 100);
    buffer[4] = b'-';
    push_two(&mut buffer[5..7], date.month());
    buffer[7] = b'-';
    push_two(&mut buffer[8..10], date.day());
    std::str::from_utf8(buffer).ok()
}

/// The instant in `buffer` as chrono's `AutoSi` RFC 3339; `None` for a year outside
/// 0 to 9999 or a leap second.
fn instant_bytes(at: DateTime<Utc>, buffer: &mut [u8; INSTANT_MAX]) -> Option<&str> {
    let time = at.time();
    let nanos = time.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let date: &mut [u8; 10] = (&mut buffer[..10]).try_into().ok()?;
    date_bytes(at.date_naive(), date)?;
    buffer[10] = b'T';
    push_two(&mut buffer[11..13], time.hour());
    buffer[13] = b':';
    push_two(&mut buffer[14..16], time.minute());
    buffer[16] = b':';
    push_two(&mut buffer[17..19], time.second());
    let (fraction, digits) = if nanos == 0 {
        (0, 0)
    } else if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    let mut end = 19;
    if digits > 0 {
        buffer[end] = b'.';
        let mut rest = fraction;
        for place in (0..digits).rev() {
            buffer[end + 1 + place] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        end += 1 + digits;
    }
    buffer[end] = b'Z';
    std::str::from_utf8(&buffer[..=end]).ok()
}

/// Reads a string with `parse` without keeping it: the text is only looked at, so a
/// borrowed or transient string is not copied.
struct Reading<F> {
    parse: F,
    /// What the text must be, for the refusal: "a date (YYYY-MM-DD)".
    wanted: &'static str,
}

impl<T, F: FnOnce(&str) -> Option<T>> serde::de::Visitor<'_> for Reading<F> {
    type Value = T;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str(self.wanted)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).ok_or_else(|| E::custom(format!("'{text}' is not {}", self.wanted)))
    }
}

/// `#[serde(with = "date")]` for a `NaiveDate`.
pub mod date {
    use chrono::NaiveDate;
    use serde::{Deserializer, Serializer};

    use super::{date_bytes, parse_date, Reading};

    pub fn serialize<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buffer = [0u8; 10];
        match date_bytes(*date, &mut buffer) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(&format_args!("{date:?}")),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
        deserializer.deserialize_str(Reading {
            parse: parse_date,
            wanted: "a date (YYYY-MM-DD)",
        })
    }
}

/// `#[serde(with = "instant")]` for a `DateTime<Utc>`.
pub mod instant {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserializer, Serializer};

    use super::{instant_bytes, parse_instant, Reading, INSTANT_MAX};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buffer = [0u8; INSTANT_MAX];
        match instant_bytes(*at, &mut buffer) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        deserializer.deserialize_str(Reading {
            parse: parse_instant,
            wanted: "an RFC 3339 timestamp",
        })
    }
}

/// `#[serde(default, with = "optional_date")]` for an `Option<NaiveDate>`.
pub mod optional_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Date(#[serde(with = "super::date")] NaiveDate);

    pub fn serialize<S: Serializer>(
        date: &Option<NaiveDate>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        date.map(Date).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<NaiveDate>, D::Error> {
        Ok(Option::<Date>::deserialize(deserializer)?.map(|Date(date)| date))
    }
}

/// `#[serde(default, with = "optional_instant")]` for an `Option<DateTime<Utc>>`.
pub mod optional_instant {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Instant(#[serde(with = "super::instant")] DateTime<Utc>);

    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        at.map(Instant).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Instant>::deserialize(deserializer)?.map(|Instant(at)| at))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    /// Texts of every shape: the ones read directly and the ones chrono reads.
    const DATES: &[&str] = &[
        "2024-11-28",
        "0000-01-01",
        "9999-12-31",
        "2024-02-29",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-01-32",
        "2024-1-5",
        "+12024-01-05",
        "-0001-12-31",
        "2024-11-28 ",
        " 2024-11-28",
        "2024-11-2x",
        "20241128",
        "2024/11/28",
        "",
        "2024-11-28T00:00:00Z",
    ];

    #[test]
    fn dates_read_as_chrono_reads_them() {
        for text in DATES {
            assert_eq!(parse_date(text), NaiveDate::from_str(text).ok(), "{text:?}");
            for format in ["%Y%m%d", "%Y-%m-%d", "%d.%m.%Y"] {
                assert_eq!(
                    parse_date_as(text, format),
                    NaiveDate::parse_from_str(text, format).ok(),
                    "{text:?} as {format}"
                );
            }
        }
        for text in [
            "20241128",
            "20240229",
            "20230229",
            "20241301",
            "2024112",
            "202411280",
        ] {
            assert_eq!(
                parse_date_as(text, "%Y%m%d"),
                NaiveDate::parse_from_str(text, "%Y%m%d").ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn dates_write_as_chrono_writes_them() {
        let mut date = NaiveDate::from_ymd_opt(-3, 12, 25).unwrap();
        let last = NaiveDate::from_ymd_opt(10_002, 1, 3).unwrap();
        while date <= last {
            let written = write_date(date);
            assert_eq!(written, format!("{date:?}"));
            assert_eq!(
                serde_json::to_string(&date).unwrap(),
                format!("\"{written}\"")
            );
            date += chrono::Duration::days(97);
        }
    }

    const INSTANTS: &[&str] = &[
        "2024-11-28T05:45:30Z",
        "2024-11-28T05:45:30.250Z",
        "2024-11-28T05:45:30.25Z",
        "2024-11-28T05:45:30.123456Z",
        "2024-11-28T05:45:30.123456789Z",
        "2024-11-28T05:45:30.1234567891Z",
        "2024-11-28T05:45:30.Z",
        "2024-11-28T05:45:60Z",
        "2024-06-30T23:59:60.5Z",
        "2024-11-28T24:00:00Z",
        "2024-11-28T05:60:00Z",
        "2024-11-28t05:45:30Z",
        "2024-11-28 05:45:30Z",
        "2024-11-28T05:45:30+08:00",
        "2024-11-28T05:45:30-00:00",
        "2024-11-28T05:45:30z",
        "2024-11-28T05:45:30",
        "2024-11-28T5:45:30Z",
        "Z",
        "",
        "2024-02-30T00:00:00Z",
    ];

    #[test]
    fn instants_read_as_chrono_reads_them() {
        for text in INSTANTS {
            let chrono = DateTime::<FixedOffset>::from_str(text)
                .ok()
                .map(|at| at.with_timezone(&Utc));
            assert_eq!(parse_instant(text), chrono, "{text:?}");
            let strict = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|at| at.with_timezone(&Utc));
            assert_eq!(parse_rfc3339(text), strict, "{text:?}");
            let json = format!("\"{text}\"");
            let ours: Result<Wrapped, _> = serde_json::from_str(&json);
            let theirs: Result<DateTime<Utc>, _> = serde_json::from_str(&json);
            assert_eq!(ours.ok().map(|w| w.0), theirs.ok(), "{text:?}");
        }
    }

    #[derive(Debug, Deserialize, serde::Serialize)]
    #[serde(transparent)]
    struct Wrapped(#[serde(with = "instant")] DateTime<Utc>);

    #[test]
    fn instants_write_as_chrono_writes_them() {
        let base = NaiveDate::from_ymd_opt(2024, 11, 28)
            .unwrap()
            .and_hms_opt(5, 45, 30)
            .unwrap()
            .and_utc();
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let far = NaiveDate::from_ymd_opt(12_024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        let mut instants = vec![leap, far];
        for nanos in [
            0,
            1,
            250_000_000,
            123_000,
            123_456_789,
            999_999_999,
            5_000,
            7_000_000,
        ] {
            instants.push(base + chrono::Duration::nanoseconds(nanos));
        }
        for at in instants {
            let chrono = at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
            assert_eq!(write_instant(at), chrono);
            assert_eq!(
                serde_json::to_string(&Wrapped(at)).unwrap(),
                serde_json::to_string(&at).unwrap()
            );
            assert_eq!(parse_instant(&chrono), Some(at), "{chrono}");
        }
    }

    #[test]
    fn refusals_name_the_text() {
        let error = serde_json::from_str::<Wrapped>("\"yesterday\"").unwrap_err();
        assert!(error
            .to_string()
            .contains("'yesterday' is not an RFC 3339 timestamp"));
        #[derive(Deserialize, Debug)]
        struct Dated {
            #[serde(default, with = "optional_date")]
            #[allow(dead_code, reason = "read by the assertion's Debug")]
            on: Option<NaiveDate>,
        }
        let error = serde_json::from_str::<Dated>(r#"{"on":"28.11.2024"}"#).unwrap_err();
        assert!(
            error.to_string().contains("'28.11.2024' is not a date"),
            "{error}"
        );
        let missing: Dated = serde_json::from_str("{}").unwrap();
        assert!(missing.on.is_none());
        let null: Dated = serde_json::from_str(r#"{"on":null}"#).unwrap();
        assert!(null.on.is_none());
    }
}
