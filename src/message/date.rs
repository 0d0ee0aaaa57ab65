//! The Date header (RFC 5322 §3.3 with the obsolete forms of §4.3): optional day
//! name, two- and three-digit years, missing seconds, named zones (UT, GMT, EST..
//! PDT, military letters as -0000), comments anywhere.

use super::value::strip_comments;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Seconds since the epoch (UTC) and the zone offset in minutes.
pub fn parse(value: &[u8]) -> Option<(i64, i32)> {
    let v = strip_comments(value);
    let text = String::from_utf8_lossy(&v);
    let mut toks: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .collect();
    // Day name, if any.
    if toks
        .first()
        .is_some_and(|t| t.chars().all(|c| c.is_ascii_alphabetic()))
    {
        toks.remove(0);
    }
    // "1-Jan-2020" style (seen in the wild).
    if toks.len() >= 2 && toks[0].matches('-').count() == 2 {
        let parts: Vec<&str> = toks[0].split('-').collect();
        let mut nt = parts;
        nt.extend_from_slice(&toks[1..]);
        toks = nt;
    }
    let mut it = toks.into_iter();
    let day: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?.to_ascii_lowercase();
    let month = MONTHS
        .iter()
        .position(|m| mon.starts_with(m))
        .map(|p| p as u32 + 1)?;
    let ys = it.next()?;
    let mut year: i64 = ys.parse().ok()?;
    if !ys.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match ys.len() {
        1 | 2 if year < 50 => year += 2000,
        1 | 2 => year += 1900,
        3 => year += 1900,
        _ => {}
    }
    let time = it.next().unwrap_or("00:00:00");
    let mut hms = time.split(':');
    let hour: u32 = hms.next()?.parse().ok()?;
    let min: u32 = hms.next()?.parse().ok()?;
    let sec: u32 = match hms.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if hms.next().is_some() {
        return None;
    }
    let offset = match it.next() {
        Some(z) => zone(z)?,
        None => 0,
    };
    if !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 || !(1..=9999).contains(&year)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec)
        - i64::from(offset) * 60;
    Some((secs, offset))
}

fn zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if (b.first() == Some(&b'+') || b.first() == Some(&b'-'))
        && b.len() == 5
        && b[1..].iter().all(u8::is_ascii_digit)
    {
        let h = i32::from(b[1] - b'0') * 10 + i32::from(b[2] - b'0');
        let m = i32::from(b[3] - b'0') * 10 + i32::from(b[4] - b'0');
        if m > 59 {
            return None;
        }
        let off = h * 60 + m;
        return Some(if b[0] == b'-' { -off } else { off });
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // Military zones: RFC 5322 §4.3 says to treat them as -0000.
        s if s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic() => 0,
        // Unknown zone names: RFC 5322 §4.3, also -0000.
        s if s.bytes().all(|c| c.is_ascii_alphabetic()) => 0,
        _ => return None,
    };
    Some(hours * 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}
