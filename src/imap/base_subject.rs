//! The base subject of RFC 5256 §2.1 for SORT SUBJECT and THREAD: encoded-words
//! decoded, white space collapsed, `Re:`/`Fwd:`/`[blob]` leaders, `(fwd)`
//! trailers and `[fwd: ...]` wrappers removed. Works on bytes and cuts only at
//! ASCII characters, so any UTF-8 (or broken) input is safe.

/// A subject reduced for sorting and threading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseSubject {
    /// The base subject, case kept (compare with [`BaseSubject::key`]).
    pub text: String,
    /// True when a reply or forward marker was removed (`Re:`, `Fwd:`,
    /// `(fwd)`, `[fwd: ...]`): THREAD=REFERENCES step 5 needs it.
    pub reply: bool,
}

impl BaseSubject {
    /// The comparison key of i;ascii-casemap (RFC 4790): ASCII letters upper-cased,
    /// other bytes as they are.
    pub fn key(&self) -> Vec<u8> {
        self.text.as_bytes().to_ascii_uppercase()
    }
}

/// The base subject of a Subject field's raw (unfolded, undecoded) value.
pub fn extract(raw: &[u8]) -> BaseSubject {
    let decoded = crate::message::decode_words(raw);
    // Step 1: tabs and line breaks become spaces, runs of spaces one space.
    let mut s: Vec<u8> = Vec::with_capacity(decoded.len());
    for b in decoded.bytes() {
        let b = if matches!(b, b'\t' | b'\r' | b'\n') {
            b' '
        } else {
            b
        };
        if b == b' ' && s.last() == Some(&b' ') {
            continue;
        }
        s.push(b);
    }
    let mut reply = false;
    let mut cur: &[u8] = &s;
    loop {
        cur = strip_trailers(cur, &mut reply);
        // Steps 3 to 5: leaders and blobs until nothing changes.
        loop {
            let before = cur.len();
            cur = strip_leaders(cur, &mut reply);
            if let Some(n) = blob_len(cur) {
                if cur.len() > n {
                    cur = &cur[n..];
                }
            }
            if cur.len() == before {
                break;
            }
        }
        // Step 6: "[fwd:" ... "]".
        if cur.len() >= 6 && cur[..5].eq_ignore_ascii_case(b"[fwd:") && cur.ends_with(b"]") {
            cur = &cur[5..cur.len() - 1];
            reply = true;
            continue;
        }
        break;
    }
    BaseSubject {
        text: String::from_utf8_lossy(cur).into_owned(),
        reply,
    }
}

/// Step 2: trailing `(fwd)` and white space.
fn strip_trailers<'a>(mut s: &'a [u8], reply: &mut bool) -> &'a [u8] {
    loop {
        if s.ends_with(b" ") {
            s = &s[..s.len() - 1];
        } else if s.len() >= 5 && s[s.len() - 5..].eq_ignore_ascii_case(b"(fwd)") {
            s = &s[..s.len() - 5];
            *reply = true;
        } else {
            return s;
        }
    }
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: its length at the start of `s`.
fn blob_len(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = s[1..].iter().position(|&b| b == b'[' || b == b']')? + 1;
    if s[close] != b']' {
        return None;
    }
    let mut i = close + 1;
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    Some(i)
}

/// Step 3: `subj-leader = (*subj-blob subj-refwd) / WSP`, repeatedly.
fn strip_leaders<'a>(mut s: &'a [u8], reply: &mut bool) -> &'a [u8] {
    loop {
        if s.first() == Some(&b' ') {
            s = &s[1..];
            continue;
        }
        let mut i = 0;
        while let Some(n) = blob_len(&s[i..]) {
            i += n;
        }
        match refwd_len(&s[i..]) {
            Some(n) => {
                s = &s[i + n..];
                *reply = true;
            }
            None => return s,
        }
    }
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn refwd_len(s: &[u8]) -> Option<usize> {
    let starts = |p: &[u8]| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p);
    let mut i = if starts(b"re") {
        2
    } else if starts(b"fwd") {
        3
    } else if starts(b"fw") {
        2
    } else {
        return None;
    };
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    if let Some(n) = blob_len(&s[i..]) {
        i += n;
    }
    (s.get(i) == Some(&b':')).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (String, bool) {
        let b = extract(s.as_bytes());
        (b.text, b.reply)
    }

    #[test]
    fn plain_subject_is_kept() {
        assert_eq!(base("Lunch plans"), ("Lunch plans".into(), false));
        assert_eq!(base(""), ("".into(), false));
        assert_eq!(base("   "), ("".into(), false));
    }

    #[test]
    fn leaders_and_trailers() {
        assert_eq!(
            base("Re: [list] Fwd: subject (fwd)"),
            ("subject".into(), true)
        );
        assert_eq!(
            base("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)"),
            ("b".into(), true)
        );
        assert_eq!(base("RE[2]: status"), ("status".into(), true));
        assert_eq!(base("Ad: Re: x"), ("Ad: Re: x".into(), false));
        assert_eq!(base("Re: [FWD: c]"), ("c".into(), true));
        assert_eq!(
            base("re: [fwd: [fwd: re: [fwd: babylon]]]"),
            ("babylon".into(), true)
        );
        assert_eq!(base("b (a)"), ("b (a)".into(), false));
    }

    #[test]
    fn a_lone_blob_stays() {
        assert_eq!(base("[xyz]"), ("[xyz]".into(), false));
        assert_eq!(base("[list] news"), ("news".into(), false));
        assert_eq!(base("[a] [b]"), ("[b]".into(), false));
    }

    #[test]
    fn white_space_is_collapsed() {
        assert_eq!(base("a\t\tb   c "), ("a b c".into(), false));
    }

    #[test]
    fn encoded_words_are_decoded() {
        assert_eq!(
            base("=?UTF-8?Q?Re=3A_Gr=C3=BC=C3=9Fe?="),
            ("Grüße".into(), true)
        );
        assert_eq!(base("=?utf-8?b?UmU6IGM=?="), ("c".into(), true));
        assert_eq!(base("=?iso-8859-1?q?_?="), ("".into(), false));
        assert_eq!(
            base("Re: =?UTF-8?B?0KfQtdGA0L3QvtCy0LjQutC4?="),
            ("Черновики".into(), true)
        );
    }

    #[test]
    fn non_ascii_is_safe() {
        assert_eq!(base("Re: 收件箱"), ("收件箱".into(), true));
        assert_eq!(base("[Liste] Grüße (fwd)"), ("Grüße".into(), true));
        assert_eq!(base("[ü"), ("[ü".into(), false));
        assert_eq!(base("Fw:"), ("".into(), true));
        let b = extract(b"re: \xff\xfe [");
        assert!(b.reply);
        // Only ASCII letters are folded.
        let k = extract("Grüße".as_bytes()).key();
        assert_eq!(k, "GRüßE".as_bytes());
    }
}
