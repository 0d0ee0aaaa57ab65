//! `SEARCH RETURN (...)` (ESEARCH, RFC 4731) and `SORT RETURN (...)` (ESORT,
//! RFC 5267), which imap-codec does not parse: the return options are taken
//! out here and the rest of the command is decoded as a plain SEARCH or SORT.

use crate::imap::proto::SearchReturn;

/// Splits `tag [UID] SEARCH|SORT RETURN (opts) rest` into the command without the
/// RETURN clause and the options; `Ok(None)` when there is no RETURN clause.
pub fn strip_return(input: &[u8]) -> Result<Option<(Vec<u8>, SearchReturn)>, String> {
    // Tag, optional UID, SEARCH: single spaces, as RFC 3501 requires.
    let mut at = 0;
    let word = |at: &mut usize| -> Option<(usize, usize)> {
        let start = *at;
        let len = input[start..].iter().position(|&b| b == b' ')?;
        *at = start + len + 1;
        Some((start, start + len))
    };
    let Some(_tag) = word(&mut at) else {
        return Ok(None);
    };
    let Some((s, e)) = word(&mut at) else {
        return Ok(None);
    };
    if input[s..e].eq_ignore_ascii_case(b"UID") {
        let Some((s, e)) = word(&mut at) else {
            return Ok(None);
        };
        if !is_search_or_sort(&input[s..e]) {
            return Ok(None);
        }
    } else if !is_search_or_sort(&input[s..e]) {
        return Ok(None);
    }
    let rest = &input[at..];
    if rest.len() < 8 || !rest[..7].eq_ignore_ascii_case(b"RETURN ") {
        return Ok(None);
    }
    let opts = &rest[7..];
    if opts.first() != Some(&b'(') {
        return Err("RETURN needs a parenthesized list of options".into());
    }
    let close = opts
        .iter()
        .position(|&b| b == b')')
        .ok_or("RETURN options are not closed")?;
    if opts.get(close + 1) != Some(&b' ') {
        return Err("search criteria expected after RETURN (...)".into());
    }
    let mut ret = SearchReturn::default();
    for o in opts[1..close]
        .split(|&b| b == b' ')
        .filter(|o| !o.is_empty())
    {
        match o.to_ascii_uppercase().as_slice() {
            b"MIN" => ret.min = true,
            b"MAX" => ret.max = true,
            b"ALL" => ret.all = true,
            b"COUNT" => ret.count = true,
            b"SAVE" => ret.save = true,
            other => {
                return Err(format!(
                    "unsupported SEARCH return option {}",
                    String::from_utf8_lossy(other)
                ))
            }
        }
    }
    // RFC 4731 §3.1: RETURN () is RETURN (ALL).
    if !(ret.min || ret.max || ret.all || ret.count || ret.save) {
        ret.all = true;
    }
    let mut out = input[..at].to_vec();
    out.extend_from_slice(&opts[close + 2..]);
    Ok(Some((out, ret)))
}

fn is_search_or_sort(verb: &[u8]) -> bool {
    verb.eq_ignore_ascii_case(b"SEARCH") || verb.eq_ignore_ascii_case(b"SORT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_clauses() {
        let (cmd, r) = strip_return(b"a UID SEARCH RETURN (MIN count) FROM x\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(cmd, b"a UID SEARCH FROM x\r\n");
        assert!(r.min && r.count && !r.max && !r.all);
        let (cmd, r) = strip_return(b"a search return () all\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(cmd, b"a search all\r\n");
        assert!(r.all);
        assert!(strip_return(b"a SEARCH FROM x\r\n").unwrap().is_none());
        let (cmd, r) = strip_return(b"a UID SORT RETURN (MAX) (ARRIVAL) UTF-8 ALL\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(cmd, b"a UID SORT (ARRIVAL) UTF-8 ALL\r\n");
        assert!(r.max && !r.all);
        assert!(strip_return(b"a FETCH 1 RETURN\r\n").unwrap().is_none());
        assert!(
            strip_return(b"a SEARCH RETURN (SAVE) ALL\r\n")
                .unwrap()
                .unwrap()
                .1
                .save
        );
        assert!(strip_return(b"a SEARCH RETURN (PARTIAL 1:5) ALL\r\n").is_err());
        assert!(strip_return(b"a SEARCH RETURN (MIN ALL\r\n").is_err());
        assert!(strip_return(b"a SEARCH RETURN MIN ALL\r\n").is_err());
        assert!(strip_return(b"a SEARCH RETURN (MIN)\r\n").is_err());
        // A literal after RETURN: the rest is kept byte for byte.
        let (cmd, _) =
            strip_return(b"a SEARCH RETURN (ALL) CHARSET UTF-8 TEXT {4}\r\n\xc3\xbc\xc3\xbc\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(
            cmd,
            b"a SEARCH CHARSET UTF-8 TEXT {4}\r\n\xc3\xbc\xc3\xbc\r\n"
        );
    }
}
