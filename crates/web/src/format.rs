//! How amounts, dates and times are shown: won with thousands separators (`₩300,000`), calendar
//! dates in the reader's language, and instants in Korea's time zone (UTC+9, no daylight saving),
//! where the seeds' customers and campsites are.

use time::{Date, OffsetDateTime, UtcOffset, Weekday};

use crate::Lang;

/// `₩300,000`; a negative amount `-₩5,000`.
pub fn won(amount: i64) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    format!("{sign}₩{}", grouped(amount.unsigned_abs()))
}

/// `12,345`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn parse_date(iso: &str) -> Option<Date> {
    Date::parse(iso, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// A calendar date: `2026년 12월 5일 (토)`, `Sat 5 Dec 2026`; anything else as given.
pub fn date(lang: Lang, iso: &str) -> String {
    let Some(d) = parse_date(iso) else { return iso.to_owned() };
    match lang {
        Lang::Ko => format!("{}년 {}월 {}일 ({})", d.year(), u8::from(d.month()), d.day(), weekday_ko(d.weekday())),
        Lang::En => {
            format!("{} {} {} {}", &d.weekday().to_string()[..3], d.day(), &d.month().to_string()[..3], d.year())
        }
    }
}

fn weekday_ko(w: Weekday) -> &'static str {
    match w {
        Weekday::Monday => "월",
        Weekday::Tuesday => "화",
        Weekday::Wednesday => "수",
        Weekday::Thursday => "목",
        Weekday::Friday => "금",
        Weekday::Saturday => "토",
        Weekday::Sunday => "일",
    }
}

/// Korea Standard Time.
const KST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// An RFC 3339 instant (or epoch milliseconds) as a local time in Korea: `2026. 12. 5. 14:03`,
/// `5 Dec 2026, 14:03` (KST); anything else as given.
pub fn instant(lang: Lang, value: &serde_json::Value) -> String {
    let parsed = match value {
        serde_json::Value::String(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok(),
        serde_json::Value::Number(n) => {
            n.as_i64().and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        }
        _ => None,
    };
    let Some(t) = parsed else {
        return value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    };
    let t = t.to_offset(KST);
    match lang {
        Lang::Ko => format!("{}. {}. {}. {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute()),
        Lang::En => {
            format!("{} {} {}, {:02}:{:02} KST", t.day(), &t.month().to_string()[..3], t.year(), t.hour(), t.minute())
        }
    }
}

/// Today in Korea.
pub fn today() -> Date {
    OffsetDateTime::now_utc().to_offset(KST).date()
}

/// `YYYY-MM-DD`.
pub fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn won_has_the_sign_and_thousands_separators() {
        assert_eq!(won(300_000), "₩300,000");
        assert_eq!(won(0), "₩0");
        assert_eq!(won(999), "₩999");
        assert_eq!(won(1_000), "₩1,000");
        assert_eq!(won(-5_000), "-₩5,000");
        assert_eq!(won(i64::MIN), "-₩9,223,372,036,854,775,808");
    }

    #[test]
    fn dates_read_naturally_in_each_language() {
        assert_eq!(date(Lang::Ko, "2026-12-05"), "2026년 12월 5일 (토)");
        assert_eq!(date(Lang::En, "2026-12-05"), "Sat 5 Dec 2026");
        assert_eq!(date(Lang::En, "not a date"), "not a date");
    }

    #[test]
    fn instants_are_shown_in_korean_time() {
        assert_eq!(instant(Lang::Ko, &json!("2026-12-05T15:30:00Z")), "2026. 12. 6. 00:30");
        assert_eq!(instant(Lang::En, &json!("2026-12-05T15:30:00Z")), "6 Dec 2026, 00:30 KST");
        assert_eq!(instant(Lang::En, &json!(0)), "1 Jan 1970, 09:00 KST");
        assert_eq!(instant(Lang::En, &json!("soon")), "soon");
    }
}
