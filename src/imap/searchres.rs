//! SEARCHRES (RFC 5182): `$` stands for the messages the last `SEARCH RETURN
//! (SAVE ...)` found. imap-codec does not know `$`, so a command is rewritten
//! before it is decoded: each `$` token (outside quoted strings and literals)
//! becomes the saved messages, as UIDs where a UID set is expected (after
//! the `UID` search key, or as the set of a UID command) and as message
//! numbers elsewhere. The result is kept as UIDs, so expunges shrink it.

/// The command with `$` replaced; `None` when it has none. `seq_of` gives a
/// UID's message number in the selected mailbox.
pub fn expand(input: &[u8], saved: &[u32], seq_of: impl Fn(u32) -> Option<u32>) -> Option<Vec<u8>> {
    let toks = tokens(input);
    if !toks.iter().any(|t| &input[t.clone()] == b"$") {
        return None;
    }
    let word = |i: usize| toks.get(i).map(|r| input[r.clone()].to_ascii_uppercase());
    let uid_command = word(1).as_deref() == Some(b"UID");
    // Only where a set can stand: a `$` elsewhere (a LOGIN password, a
    // mailbox name) is data.
    let verb = word(if uid_command { 2 } else { 1 });
    if !matches!(
        verb.as_deref(),
        Some(
            b"FETCH" | b"STORE" | b"COPY" | b"MOVE" | b"EXPUNGE" | b"SEARCH" | b"SORT" | b"THREAD"
        )
    ) {
        return None;
    }
    // The set argument of a UID command is right after its verb.
    let set_index = if uid_command { 3 } else { 2 };
    let mut out = Vec::with_capacity(input.len() + saved.len() * 4);
    let mut at = 0;
    for (i, t) in toks.iter().enumerate() {
        if &input[t.clone()] != b"$" {
            continue;
        }
        // The set of FETCH, STORE, COPY, MOVE, UID EXPUNGE (a SEARCH key is a
        // message-number set even in UID SEARCH).
        let is_set_argument = i == set_index
            && matches!(
                word(set_index - 1).as_deref(),
                Some(b"FETCH" | b"STORE" | b"COPY" | b"MOVE" | b"EXPUNGE")
            );
        let as_uids = (uid_command && is_set_argument)
            || (i > 0 && word(i - 1).as_deref() == Some(b"UID") && i - 1 != 1);
        let mut nums: Vec<u32> = if as_uids {
            saved.to_vec()
        } else {
            saved.iter().filter_map(|&u| seq_of(u)).collect()
        };
        nums.sort_unstable();
        nums.dedup();
        if nums.is_empty() && is_set_argument && !uid_command {
            // `FETCH $` with nothing saved: `UID FETCH` of a UID that
            // cannot exist does nothing, as `$` must.
            out.extend_from_slice(&input[at..toks[1].start]);
            out.extend_from_slice(b"UID ");
            at = toks[1].start;
        }
        out.extend_from_slice(&input[at..t.start]);
        if !nums.is_empty() {
            out.extend_from_slice(super::write::uid_list(&nums).as_bytes());
        } else if as_uids || is_set_argument {
            out.extend_from_slice(b"4294967295");
        } else {
            // A search key that matches nothing.
            out.extend_from_slice(b"UID 4294967295");
        }
        at = t.end;
    }
    out.extend_from_slice(&input[at..]);
    Some(out)
}

/// The byte ranges of the command's tokens: atoms (parentheses split them),
/// quoted strings and literals count as one token each.
fn tokens(b: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'(' | b')' | b'\r' | b'\n' => i += 1,
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                out.push(start..i);
            }
            b'{' => {
                let start = i;
                let close = b[i..].iter().position(|&c| c == b'}').map(|p| i + p);
                let n = close.and_then(|c| {
                    std::str::from_utf8(&b[i + 1..c])
                        .ok()?
                        .trim_end_matches('+')
                        .parse::<usize>()
                        .ok()
                });
                i = match (close, n) {
                    (Some(c), Some(n)) => (c + 3).saturating_add(n).min(b.len()),
                    _ => b.len(),
                };
                out.push(start..i);
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b' ' | b'(' | b')' | b'\r' | b'\n') {
                    i += 1;
                }
                out.push(start..i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(cmd: &str, saved: &[u32]) -> Option<String> {
        // UID u is message number u - 10 in these tests.
        expand(cmd.as_bytes(), saved, |u| {
            u.checked_sub(10).filter(|&s| s > 0)
        })
        .map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn dollar_becomes_the_saved_messages() {
        let s = [11, 12, 13, 20];
        assert_eq!(
            ex("a FETCH $ (FLAGS)\r\n", &s).unwrap(),
            "a FETCH 1:3,10 (FLAGS)\r\n"
        );
        assert_eq!(
            ex("a UID FETCH $ (FLAGS)\r\n", &s).unwrap(),
            "a UID FETCH 11:13,20 (FLAGS)\r\n"
        );
        assert_eq!(
            ex("a UID MOVE $ Trash\r\n", &s).unwrap(),
            "a UID MOVE 11:13,20 Trash\r\n"
        );
        assert_eq!(
            ex("a SEARCH SEEN UID $ OR $ (ALL)\r\n", &s).unwrap(),
            "a SEARCH SEEN UID 11:13,20 OR 1:3,10 (ALL)\r\n"
        );
        assert_eq!(
            ex("a UID SEARCH $\r\n", &s).unwrap(),
            "a UID SEARCH 1:3,10\r\n"
        );
        // Not where a set can stand: left alone.
        assert!(ex("a LOGIN joe $\r\n", &s).is_none());
        assert!(ex("a SELECT $\r\n", &s).is_none());
        // Not a `$` token: left alone.
        assert!(ex("a STORE 1 +FLAGS ($Work)\r\n", &s).is_none());
        assert!(ex("a SEARCH SUBJECT \"$\"\r\n", &s).is_none());
        assert!(ex("a SEARCH TEXT {1}\r\n$\r\n", &s).is_none());
        // Nothing saved.
        assert_eq!(
            ex("a FETCH $ FLAGS\r\n", &[]).unwrap(),
            "a UID FETCH 4294967295 FLAGS\r\n"
        );
        assert_eq!(
            ex("a SEARCH $ SEEN\r\n", &[]).unwrap(),
            "a SEARCH UID 4294967295 SEEN\r\n"
        );
        assert_eq!(
            ex("a UID STORE $ +FLAGS (x)\r\n", &[]).unwrap(),
            "a UID STORE 4294967295 +FLAGS (x)\r\n"
        );
    }
}
