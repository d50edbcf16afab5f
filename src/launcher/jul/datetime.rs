//! `java.util.Formatter`'s `%t` conversions of a `ZonedDateTime`, in an English locale
//! (`Formatter.FormatSpecifier.print(.., TemporalAccessor, ..)`): fields zero-padded or not as
//! Java pads them, English month and day names, and the composites (`%tT`, `%tr`, `%tD`, `%tF`,
//! `%tR`). `%tZ` and `%tc` need the zone's name, which `Format::parse` refuses to follow.

use chrono::{DateTime, Datelike, Local, Timelike};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// One `%t` conversion of a `ZonedDateTime` in an English locale (`Formatter.print(..,
/// TemporalAccessor, ..)`); `Z` and `c` never reach here.
pub(super) fn time(t: &DateTime<Local>, c: char) -> String {
    let pad = |v: i64, n: usize| format!("{v:0n$}");
    // A leap second, which chrono keeps as nanos past 1e9, is the second's end in Java.
    let nanos = i64::from(t.nanosecond().min(999_999_999));
    let h12 = |h: u32| i64::from(if h.is_multiple_of(12) { 12 } else { h % 12 });
    let year = i64::from(t.year());
    match c {
        'H' => pad(i64::from(t.hour()), 2),
        'k' => t.hour().to_string(),
        'I' => pad(h12(t.hour()), 2),
        'l' => h12(t.hour()).to_string(),
        'M' => pad(i64::from(t.minute()), 2),
        'S' => pad(i64::from(t.second()), 2),
        'L' => pad(nanos / 1_000_000, 3),
        'N' => pad(nanos, 9),
        'p' => if t.hour() < 12 { "am" } else { "pm" }.to_string(),
        's' => t.timestamp().to_string(),
        'Q' => (t.timestamp() * 1000 + nanos / 1_000_000).to_string(),
        'z' => {
            let secs = t.offset().local_minus_utc();
            let min = secs.abs() / 60;
            let sign = if secs < 0 { '-' } else { '+' };
            format!("{sign}{}", pad(i64::from((min / 60) * 100 + min % 60), 4))
        }
        'A' => DAYS[t.weekday().num_days_from_monday() as usize].to_string(),
        'a' => DAYS[t.weekday().num_days_from_monday() as usize][..3].to_string(),
        'B' => MONTHS[t.month0() as usize].to_string(),
        'b' | 'h' => MONTHS[t.month0() as usize][..3].to_string(),
        'C' => pad(year / 100, 2),
        'y' => pad(year % 100, 2),
        'Y' => pad(year, 4),
        'j' => pad(i64::from(t.ordinal()), 3),
        'm' => pad(i64::from(t.month()), 2),
        'd' => pad(i64::from(t.day()), 2),
        'e' => t.day().to_string(),
        'R' => format!("{}:{}", time(t, 'H'), time(t, 'M')),
        'T' => format!("{}:{}:{}", time(t, 'H'), time(t, 'M'), time(t, 'S')),
        'r' => format!(
            "{}:{}:{} {}",
            time(t, 'I'),
            time(t, 'M'),
            time(t, 'S'),
            time(t, 'p').to_uppercase()
        ),
        'D' => format!("{}/{}/{}", time(t, 'm'), time(t, 'd'), time(t, 'y')),
        'F' => {
            let y = if year > 9999 {
                format!("+{year}")
            } else {
                pad(year, 4)
            };
            format!("{y}-{}-{}", time(t, 'm'), time(t, 'd'))
        }
        other => unreachable!("date/time conversion {other} is checked at parse"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Each conversion of `list` on `t`, joined by spaces.
    fn all(t: &DateTime<Local>, list: &str) -> String {
        list.chars()
            .map(|c| time(t, c))
            .collect::<Vec<_>>()
            .join(" ")
    }

    // Expected strings printed by String.format on OpenJDK 17 and Temurin 25 (`%1$tY %1$ty ...`)
    // for the same local time (in Europe/Paris).

    #[test]
    fn fields_names_and_composites() {
        let t = Local
            .with_ymd_and_hms(2026, 11, 29, 9, 5, 3)
            .unwrap()
            .with_nanosecond(737_123_456)
            .unwrap();
        assert_eq!(
            all(&t, "YyCmdeHkIlMSLNp"),
            "2026 26 20 11 29 29 09 9 09 9 05 03 737 737123456 am"
        );
        assert_eq!(
            all(&t, "BbhAajDFTrR"),
            "November Nov Nov Sunday Sun 333 11/29/26 2026-11-29 09:05:03 09:05:03 AM 09:05"
        );
        assert_eq!(time(&t, 's'), t.timestamp().to_string());
        assert_eq!(time(&t, 'Q'), (t.timestamp() * 1000 + 737).to_string());
        let off = t.offset().local_minus_utc();
        let sign = if off < 0 { '-' } else { '+' };
        let want = format!("{sign}{:02}{:02}", off.abs() / 3600, off.abs() % 3600 / 60);
        assert_eq!(time(&t, 'z'), want);
    }

    #[test]
    fn afternoon_midnight_and_small_years() {
        let pm = Local.with_ymd_and_hms(2026, 2, 3, 23, 0, 9).unwrap();
        assert_eq!(all(&pm, "klIpre"), "23 11 11 pm 11:00:09 PM 3");
        assert_eq!(time(&pm, 'j'), "034");
        let midnight = Local.with_ymd_and_hms(2026, 2, 3, 0, 30, 0).unwrap();
        assert_eq!(all(&midnight, "klIpr"), "0 12 12 am 12:30:00 AM");
        let y = Local.with_ymd_and_hms(987, 5, 6, 12, 0, 0).unwrap();
        assert_eq!(all(&y, "YyCF"), "0987 87 09 0987-05-06");
    }
}
