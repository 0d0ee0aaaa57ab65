//! Small writers for response syntax: strings, mailbox names, flag lists, dates.

use crate::store::Flags;

fn is_atom_char(b: u8) -> bool {
    b > b' ' && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// A string as `"quoted"` when it can be, else as a literal.
pub fn string(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut o = String::with_capacity(s.len() + 2);
        o.push('"');
        for c in s.chars() {
            if c == '"' || c == '\\' {
                o.push('\\');
            }
            o.push(c);
        }
        o.push('"');
        o
    } else {
        format!("{{{}}}\r\n{}", s.len(), s)
    }
}

/// An astring: a bare atom when possible.
pub fn astring(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(is_atom_char) {
        s.to_string()
    } else {
        string(s)
    }
}

/// A mailbox name on the wire: modified UTF-7, quoted.
pub fn mailbox(name: &str) -> String {
    string(&crate::mutf7::encode(name))
}

/// `flags`, with `\Recent` when the message is recent in this session.
pub fn flags_recent(f: &Flags, recent: bool) -> String {
    let mut s = flags(f);
    if recent {
        s.pop();
        if s.len() > 1 {
            s.push(' ');
        }
        s.push_str("\\Recent)");
    }
    s
}

/// `(\Seen $Label)`.
pub fn flags(f: &Flags) -> String {
    let mut s = String::from("(");
    let mut first = true;
    for x in f.iter() {
        if !first {
            s.push(' ');
        }
        first = false;
        s.push_str(x);
    }
    s.push(')');
    s
}

/// An IMAP date-time: `"05-Jan-2024 10:00:00 +0100"`.
pub fn date_time(secs: i64, tz_minutes: i32) -> String {
    let off = chrono::FixedOffset::east_opt(tz_minutes * 60)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
    let dt = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .with_timezone(&off);
    format!("\"{}\"", dt.format("%d-%b-%Y %H:%M:%S %z"))
}

/// A number set in the compact form of COPYUID/APPENDUID (`1:3,7`).
pub fn uid_set(uids: &[u32]) -> String {
    let mut v: Vec<u32> = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// Like [`uid_set`] but keeps the order (COPYUID pairs must line up).
pub fn uid_list(uids: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = uids[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_sets() {
        assert_eq!(astring("INBOX"), "INBOX");
        assert_eq!(astring("a b"), "\"a b\"");
        assert_eq!(string("q\"\\"), "\"q\\\"\\\\\"");
        assert_eq!(string("é"), "{2}\r\né");
        assert_eq!(mailbox("été"), "\"&AOk-t&AOk-\"");
        assert_eq!(uid_set(&[3, 1, 2, 7, 9, 8]), "1:3,7:9");
        assert_eq!(uid_list(&[5, 6, 2]), "5:6,2");
        assert_eq!(date_time(1704445200, 60), "\"05-Jan-2024 10:00:00 +0100\"");
        assert_eq!(date_time(0, -300), "\"31-Dec-1969 19:00:00 -0500\"");
    }
}
