//! The client side of the legacy IMAP conversation: command arguments, the
//! quoting of strings, and UID sets.

/// An astring for a command: quoted when it can be, else `None` (needs a literal).
pub(super) fn quoted(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() > 1000
        || s.iter()
            .any(|&b| b == b'\r' || b == b'\n' || b == 0 || b >= 0x80)
    {
        return None;
    }
    let mut q = Vec::with_capacity(s.len() + 2);
    q.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            q.push(b'\\');
        }
        q.push(b);
    }
    q.push(b'"');
    Some(q)
}

/// One argument of a command.
pub enum Arg<'a> {
    /// Sent as it is (atoms, sequence sets, parenthesised lists).
    Raw(&'a str),
    /// A string: quoted, or a literal when it must be.
    Str(&'a [u8]),
}

/// A compact UID set (`1:5,9,12:14`) from sorted UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
    }
}
