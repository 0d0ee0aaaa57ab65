//! The date parts of RFC 5260 §4.2 for a moment in a given zone.

use chrono::{DateTime, Datelike, Timelike};

/// Days between the epoch of the Modified Julian Day (1858-11-17) and 1970-01-01.
const MJD_UNIX: i64 = 40587;

fn zone(minutes: i32, colon: bool) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    if colon {
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    } else {
        format!("{sign}{:02}{:02}", m / 60, m % 60)
    }
}

/// `part` of the moment `secs` (since the epoch) seen in zone `minutes`
/// (east of UTC); None for a moment chrono cannot represent.
pub fn part(secs: i64, minutes: i32, part: &str) -> Option<String> {
    let local = secs.checked_add(i64::from(minutes) * 60)?;
    let d = DateTime::from_timestamp(local, 0)?.naive_utc();
    Some(match part {
        "year" => format!("{:04}", d.year()),
        "month" => format!("{:02}", d.month()),
        "day" => format!("{:02}", d.day()),
        "date" => d.format("%Y-%m-%d").to_string(),
        "julian" => (local.div_euclid(86_400) + MJD_UNIX).to_string(),
        "hour" => format!("{:02}", d.hour()),
        "minute" => format!("{:02}", d.minute()),
        "second" => format!("{:02}", d.second()),
        "time" => d.format("%H:%M:%S").to_string(),
        "iso8601" => format!("{}{}", d.format("%Y-%m-%dT%H:%M:%S"), zone(minutes, true)),
        "std11" => format!(
            "{} {}",
            d.format("%a, %d %b %Y %H:%M:%S"),
            zone(minutes, false)
        ),
        "zone" => zone(minutes, false),
        "weekday" => d.weekday().num_days_from_sunday().to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::part;

    #[test]
    fn parts() {
        // 2009-05-12 13:14:15 UTC
        let t = 1_242_134_055;
        assert_eq!(part(t, 0, "date").unwrap(), "2009-05-12");
        assert_eq!(part(t, 60, "hour").unwrap(), "14");
        assert_eq!(
            part(t, -300, "iso8601").unwrap(),
            "2009-05-12T08:14:15-05:00"
        );
        assert_eq!(
            part(t, 0, "std11").unwrap(),
            "Tue, 12 May 2009 13:14:15 +0000"
        );
        assert_eq!(part(t, 0, "weekday").unwrap(), "2");
        assert_eq!(part(t, 0, "julian").unwrap(), "54963");
        assert!(part(i64::MAX, 0, "year").is_none());
    }
}
