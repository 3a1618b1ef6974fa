//! Calendar rules in Asia/Tokyo: the billing (claim) month, the benefit month it is deducted
//! from, and license anniversaries.
//!
//! Japan has used a fixed UTC+09:00 without daylight saving time since 1952, so a fixed offset is
//! exact for every date the ledger handles.

use renkei_ids::YearMonth;
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// Asia/Tokyo as a fixed offset (+09:00, no DST).
pub const TOKYO: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("+09:00 is a valid offset"),
};

/// The calendar date in Tokyo of a unix-millisecond instant. `None` if out of range.
pub fn tokyo_date(unix_millis: i64) -> Option<Date> {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000).ok()?;
    Some(at.to_offset(TOKYO).date())
}

/// The [`YearMonth`] a date falls in. `None` outside 1900–2999.
pub fn year_month_of(date: Date) -> Option<YearMonth> {
    YearMonth::new(u16::try_from(date.year()).ok()?, u8::from(date.month()))
}

/// The claim month (請求月) an event on `date` is charged to: the same month when the day is
/// `cutoff_day` or earlier (the national rule: the 1st–15th), otherwise the next month.
pub fn claim_month(date: Date, cutoff_day: u8) -> Option<YearMonth> {
    let ym = year_month_of(date)?;
    Some(if date.day() <= cutoff_day {
        ym
    } else {
        ym.next()
    })
}

/// The month whose benefit payment the charge of `claim` is deducted from: the month after
/// the claim month (a claim made in month M is paid in month M+1).
pub fn deduction_month(claim: YearMonth) -> YearMonth {
    claim.next()
}

/// The last day of a one-year license term starting on `start`, counted as the Civil Code counts
/// periods (民法第143条第2項): the day before the date corresponding to `start` one year later; when
/// that year has no corresponding day (a term starting on 29 February), the last day of that
/// month (28 February).
pub fn term_end(start: Date) -> Option<Date> {
    let year = start.year().checked_add(1)?;
    match start.replace_year(year) {
        Ok(corresponding) => corresponding.previous_day(),
        Err(_) => Date::from_calendar_date(year, Month::February, 28).ok(),
    }
}

/// The first day of the term after the one starting on `start` (the renewal date, 更新日).
pub fn next_term_start(start: Date) -> Option<Date> {
    term_end(start)?.next_day()
}

/// Parse `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let month = Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(8..10)?).ok()?,
    )
    .ok()
}

/// Format `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Format a date the Japanese way, `2025年6月1日`.
pub fn format_date_ja(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn ym(s: &str) -> YearMonth {
        s.parse().unwrap()
    }

    #[test]
    fn claim_month_cutoff_is_the_fifteenth() {
        assert_eq!(claim_month(date!(2025 - 07 - 01), 15), Some(ym("202507")));
        assert_eq!(claim_month(date!(2025 - 07 - 15), 15), Some(ym("202507")));
        assert_eq!(claim_month(date!(2025 - 07 - 16), 15), Some(ym("202508")));
        assert_eq!(claim_month(date!(2025 - 07 - 31), 15), Some(ym("202508")));
    }

    #[test]
    fn claim_month_december_rolls_into_january() {
        assert_eq!(claim_month(date!(2025 - 12 - 15), 15), Some(ym("202512")));
        assert_eq!(claim_month(date!(2025 - 12 - 16), 15), Some(ym("202601")));
        assert_eq!(claim_month(date!(2025 - 12 - 31), 15), Some(ym("202601")));
        assert_eq!(deduction_month(ym("202512")), ym("202601"));
        assert_eq!(deduction_month(ym("202601")), ym("202602"));
    }

    #[test]
    fn claim_month_at_month_ends_and_february() {
        assert_eq!(claim_month(date!(2024 - 02 - 29), 15), Some(ym("202403")));
        assert_eq!(claim_month(date!(2025 - 02 - 28), 15), Some(ym("202503")));
        assert_eq!(claim_month(date!(2025 - 04 - 30), 15), Some(ym("202505")));
        assert_eq!(claim_month(date!(2025 - 02 - 15), 15), Some(ym("202502")));
    }

    #[test]
    fn tokyo_date_turns_at_15_utc() {
        // 2025-06-30T14:59:59.999Z is 23:59:59.999 in Tokyo; one millisecond later is 07-01.
        let before = 1_751_295_599_999;
        assert_eq!(tokyo_date(before), Some(date!(2025 - 06 - 30)));
        assert_eq!(tokyo_date(before + 1), Some(date!(2025 - 07 - 01)));
        // The 15th/16th boundary in Tokyo: 2025-07-15T15:00:00Z is already the 16th.
        let sixteenth = 1_752_591_600_000;
        assert_eq!(tokyo_date(sixteenth - 1), Some(date!(2025 - 07 - 15)));
        assert_eq!(tokyo_date(sixteenth), Some(date!(2025 - 07 - 16)));
        assert_eq!(
            claim_month(tokyo_date(sixteenth - 1).unwrap(), 15),
            Some(ym("202507"))
        );
        assert_eq!(
            claim_month(tokyo_date(sixteenth).unwrap(), 15),
            Some(ym("202508"))
        );
    }

    #[test]
    fn anniversaries_and_leap_days() {
        assert_eq!(term_end(date!(2025 - 06 - 01)), Some(date!(2026 - 05 - 31)));
        assert_eq!(
            next_term_start(date!(2025 - 06 - 01)),
            Some(date!(2026 - 06 - 01))
        );
        // 29 February: the term ends on the last day of February, renewal on 1 March.
        assert_eq!(term_end(date!(2024 - 02 - 29)), Some(date!(2025 - 02 - 28)));
        assert_eq!(
            next_term_start(date!(2024 - 02 - 29)),
            Some(date!(2025 - 03 - 01))
        );
        // A term starting 1 March runs across a leap day and ends on its last day.
        assert_eq!(term_end(date!(2027 - 03 - 01)), Some(date!(2028 - 02 - 29)));
        assert_eq!(term_end(date!(2025 - 03 - 01)), Some(date!(2026 - 02 - 28)));
        // 28 February in a leap year ends on 27 February.
        assert_eq!(term_end(date!(2028 - 02 - 28)), Some(date!(2029 - 02 - 27)));
        // Year ends.
        assert_eq!(term_end(date!(2025 - 01 - 01)), Some(date!(2025 - 12 - 31)));
        assert_eq!(term_end(date!(2025 - 12 - 31)), Some(date!(2026 - 12 - 30)));
        assert_eq!(
            next_term_start(date!(2025 - 12 - 31)),
            Some(date!(2026 - 12 - 31))
        );
    }

    #[test]
    fn dates_parse_and_format() {
        assert_eq!(parse_date("2025-06-01"), Some(date!(2025 - 06 - 01)));
        assert_eq!(parse_date("2025-02-29"), None);
        assert_eq!(parse_date("2024-02-29"), Some(date!(2024 - 02 - 29)));
        for bad in [
            "2025-6-01",
            "2025/06/01",
            "20250601",
            "2025-13-01",
            "2025-00-10",
            "+025-06-01",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(format_date(date!(2025 - 06 - 01)), "2025-06-01");
        assert_eq!(format_date_ja(date!(2025 - 06 - 01)), "2025年6月1日");
    }
}
