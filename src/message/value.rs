//! Structured header field values (RFC 5322, RFC 2045, RFC 2231): unfolding,
//! comments, content types with their parameters, and small byte helpers shared
//! by the MIME parser and the renderers. Works on values only; the MIME tree is
//! in `mime.rs`.

/// Parameters: names (case as written) and their values.
pub type Params = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, Clone)]
pub struct ContentType {
    /// As written (case kept), or `text` by default.
    pub main: Vec<u8>,
    pub sub: Vec<u8>,
    /// Parameters in Dovecot's order, values unquoted (RFC 2231 continuations merged).
    pub params: Params,
}

impl ContentType {
    pub fn is(&self, main: &str, sub: &str) -> bool {
        self.main.eq_ignore_ascii_case(main.as_bytes())
            && (sub.is_empty() || self.sub.eq_ignore_ascii_case(sub.as_bytes()))
    }

    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

pub fn memchr(b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&c| c == b)
}

/// A header value unfolded (CR and LF removed) and trimmed.
pub fn unfold(v: &[u8]) -> Vec<u8> {
    let out: Vec<u8> = v
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    trim(&out).to_vec()
}

pub fn trim(v: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let s = v.iter().position(|b| !is_ws(b)).unwrap_or(v.len());
    let e = v.iter().rposition(|b| !is_ws(b)).map_or(s, |p| p + 1);
    &v[s..e]
}

pub fn default_type() -> ContentType {
    ContentType {
        main: b"text".to_vec(),
        sub: b"plain".to_vec(),
        params: vec![(b"charset".to_vec(), b"us-ascii".to_vec())],
    }
}

/// Removes RFC 5322 comments outside quoted strings.
pub fn strip_comments(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut i = 0;
    while i < v.len() {
        let c = v[i];
        if c == b'\\' && (quoted || depth > 0) && i + 1 < v.len() {
            if depth == 0 {
                out.extend_from_slice(&v[i..i + 2]);
            }
            i += 2;
            continue;
        }
        if depth > 0 {
            match c {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
        } else if quoted {
            if c == b'"' {
                quoted = false;
            }
            out.push(c);
        } else {
            match c {
                b'(' => depth = 1,
                b'"' => {
                    quoted = true;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        i += 1;
    }
    out
}

fn is_token_char(c: u8) -> bool {
    c > b' ' && c < 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&c)
}

/// `type/subtype; params` (RFC 2045) with RFC 2231 parameters, case kept; None
/// when the type is unusable.
pub fn parse_content_type(value: &[u8]) -> Option<ContentType> {
    let v = strip_comments(&unfold(value));
    let (head, rest) = match memchr(b';', &v) {
        Some(p) => (&v[..p], &v[p..]),
        None => (&v[..], &v[v.len()..]),
    };
    let head = trim(head);
    // Like Dovecot, a type without a subtype keeps the type and an empty subtype.
    let (main, sub) = match memchr(b'/', head) {
        Some(slash) => (trim(&head[..slash]), trim(&head[slash + 1..])),
        None => (head, &head[head.len()..]),
    };
    if main.is_empty()
        || !main.iter().all(|&c| is_token_char(c))
        || !sub.iter().all(|&c| is_token_char(c))
    {
        return None;
    }
    Some(ContentType {
        main: main.to_vec(),
        sub: sub.to_vec(),
        params: parse_params(rest),
    })
}

/// A value with a leading token (Content-Disposition, Content-Transfer-Encoding)
/// and its parameters.
pub fn parse_token_params(value: &[u8]) -> Option<(Vec<u8>, Params)> {
    let v = strip_comments(&unfold(value));
    let (head, rest) = match memchr(b';', &v) {
        Some(p) => (&v[..p], &v[p..]),
        None => (&v[..], &v[v.len()..]),
    };
    let head = trim(head);
    let params = parse_params(rest);
    // Like Dovecot: parameters without a disposition type keep an empty type.
    if head.is_empty() && params.is_empty() {
        return None;
    }
    Some((head.to_vec(), params))
}

/// `; name=value; name="quoted"`, case kept. Like Dovecot: RFC 2231 continuations
/// (`name*0`, `name*1*`) are merged into one value, the charset'language'%XX form
/// is passed through under the name `name*`, and parameters whose name has a `*`
/// come after the others.
pub fn parse_params(s: &[u8]) -> Params {
    let mut plain: Params = Vec::new();
    // (name, section, extended, value)
    let mut continued: Vec<(Vec<u8>, u32, bool, Vec<u8>)> = Vec::new();
    let mut i = 0;
    let n = s.len();
    while i < n {
        while i < n && matches!(s[i], b';' | b' ' | b'\t') {
            i += 1;
        }
        let ns = i;
        while i < n && s[i] != b'=' && s[i] != b';' {
            i += 1;
        }
        let name = trim(&s[ns..i]).to_vec();
        if i >= n || s[i] == b';' {
            continue;
        }
        i += 1; // '='
        while i < n && matches!(s[i], b' ' | b'\t') {
            i += 1;
        }
        let mut value = Vec::new();
        if i < n && s[i] == b'"' {
            i += 1;
            while i < n && s[i] != b'"' {
                if s[i] == b'\\' && i + 1 < n {
                    i += 1;
                }
                value.push(s[i]);
                i += 1;
            }
            while i < n && s[i] != b';' {
                i += 1;
            }
        } else {
            let vs = i;
            while i < n && s[i] != b';' {
                i += 1;
            }
            value = trim(&s[vs..i]).to_vec();
        }
        if name.is_empty() || name.iter().any(|&c| !is_token_char(c) && c != b'*') {
            continue;
        }
        match split_2231_name(&name) {
            Some((base, section, extended)) => continued.push((base, section, extended, value)),
            None if name.ends_with(b"*") => {
                continued.push((name[..name.len() - 1].to_vec(), 0, true, value))
            }
            None => plain.push((name, value)),
        }
    }
    let mut names: Vec<&Vec<u8>> = Vec::new();
    for (name, ..) in &continued {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
    }
    for name in names {
        let mut segs: Vec<&(Vec<u8>, u32, bool, Vec<u8>)> = continued
            .iter()
            .filter(|(n, ..)| n.eq_ignore_ascii_case(name))
            .collect();
        segs.sort_by_key(|(_, sec, ..)| *sec);
        let extended = segs.iter().any(|(_, _, e, _)| *e);
        let mut value = Vec::new();
        for (.., v) in segs {
            value.extend_from_slice(v);
        }
        let mut key = name.clone();
        if extended {
            key.push(b'*');
        }
        plain.push((key, value));
    }
    plain
}

/// `name*N` or `name*N*` (a continuation): the base name, N and whether the
/// segment is extended. `name*` alone is not a continuation.
fn split_2231_name(name: &[u8]) -> Option<(Vec<u8>, u32, bool)> {
    let star = memchr(b'*', name)?;
    let rest = &name[star + 1..];
    let (digits, extended) = match rest.strip_suffix(b"*") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
    Some((name[..star].to_vec(), n, extended))
}

pub fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Vec<(String, String)> {
        parse_params(s.as_bytes())
            .into_iter()
            .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
            .collect()
    }

    fn p(n: &str, v: &str) -> (String, String) {
        (n.to_string(), v.to_string())
    }

    #[test]
    fn parameters() {
        assert_eq!(
            params("; charset=\"utf-8\"; Format=flowed"),
            [p("charset", "utf-8"), p("Format", "flowed")]
        );
        assert_eq!(params("; name=\"a \\\"b\\\" c\""), [p("name", "a \"b\" c")]);
        // RFC 2231: continuations merged, extended values passed through, and
        // starred names after the others.
        assert_eq!(
            params("; filename*1=\"b.txt\"; size=3; filename*0=\"a \""),
            [p("size", "3"), p("filename", "a b.txt")]
        );
        assert_eq!(
            params("; name*0*=utf-8''%E2%82%AC; name*1*=%20x; a=b"),
            [p("a", "b"), p("name*", "utf-8''%E2%82%AC%20x")]
        );
        assert_eq!(
            params("; title*=us-ascii'en'This%20is; x=1"),
            [p("x", "1"), p("title*", "us-ascii'en'This%20is")]
        );
        assert_eq!(params(";;; =x; novalue; ok=1"), [p("ok", "1")]);
        assert_eq!(params("; unterminated=\"abc"), [p("unterminated", "abc")]);
    }

    #[test]
    fn content_types() {
        let ct = parse_content_type(b"Text/HTML (c); CHARSET=x").unwrap();
        assert_eq!((&ct.main[..], &ct.sub[..]), (&b"Text"[..], &b"HTML"[..]));
        assert_eq!(ct.param("charset"), Some(&b"x"[..]));
        let ct = parse_content_type(b"text").unwrap();
        assert_eq!((&ct.main[..], &ct.sub[..]), (&b"text"[..], &b""[..]));
        assert!(parse_content_type(b"").is_none());
        assert!(parse_content_type(b"/plain").is_none());
        assert!(parse_content_type(b"te xt/plain").is_none());
    }

    #[test]
    fn comments() {
        assert_eq!(strip_comments(b"a (b (c) d) e"), b"a  e");
        assert_eq!(strip_comments(b"\"(not)\" x"), b"\"(not)\" x");
        assert_eq!(strip_comments(b"a (unclosed"), b"a ");
    }
}
