//! Reverse-path and forward-path parsing for MAIL FROM and RCPT TO (RFC 5321
//! §4.1.2), and their ESMTP parameters. Everything here is data: nothing a client
//! sends is ever passed on as a command or interpreted beyond these rules.

/// Why a path is refused, with the reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub &'static str);

/// A parsed `MAIL FROM:` or `RCPT TO:` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// `None` for the null reverse-path `<>`.
    pub address: Option<Address>,
    /// `KEY` or `KEY=VALUE`, keys upper-cased.
    pub params: Vec<(String, Option<String>)>,
}

/// `local@domain`, the domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    pub local: String,
    pub domain: String,
}

impl Address {
    /// `local@domain`, the local part as it was (case kept, for relaying).
    pub fn to_wire(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }

    /// Lower-case form, used for account lookups.
    pub fn key(&self) -> String {
        format!("{}@{}", self.local.to_lowercase(), self.domain)
    }

    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Longest path (RFC 5321 §4.5.3.1.3: 256 octets).
const MAX_PATH: usize = 256;
/// Longest local part (RFC 5321 §4.5.3.1.1: 64 octets).
const MAX_LOCAL: usize = 64;

/// Parses the text after `MAIL FROM:` / `RCPT TO:`: `<path> [params]`.
/// `allow_null` allows `<>` (MAIL only).
pub fn parse_path(arg: &str, allow_null: bool) -> Result<Path, PathError> {
    let arg = arg.trim_start_matches(' ');
    let Some(rest) = arg.strip_prefix('<') else {
        return Err(PathError("501 5.5.4 Syntax: address must be in <>"));
    };
    // Find the closing '>' outside a quoted string.
    let mut in_quote = false;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in rest.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '>' if !in_quote => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(end) = end else {
        return Err(PathError("501 5.5.4 Syntax: missing >"));
    };
    let inner = &rest[..end];
    let params = parse_params(&rest[end + 1..])?;
    if inner.is_empty() {
        if !allow_null {
            return Err(PathError("501 5.1.3 Empty recipient address"));
        }
        return Ok(Path {
            address: None,
            params,
        });
    }
    if inner.len() > MAX_PATH {
        return Err(PathError("501 5.1.3 Address too long"));
    }
    Ok(Path {
        address: Some(parse_address(inner)?),
        params,
    })
}

/// `local@domain` as found between `<` and `>`. Source routes, the percent hack,
/// bang paths and quoted local parts that hide another address are refused.
pub fn parse_address(s: &str) -> Result<Address, PathError> {
    if s.starts_with('@') {
        return Err(PathError("553 5.7.1 Source routes are not accepted"));
    }
    if s.chars()
        .any(|c| c.is_control() || c == ' ' && !s.starts_with('"'))
    {
        return Err(PathError("553 5.1.3 Invalid character in address"));
    }
    let (local, domain) = if let Some(q) = s.strip_prefix('"') {
        // Quoted local part: "...."@domain
        let mut out = String::new();
        let mut escaped = false;
        let mut close = None;
        for (i, c) in q.char_indices() {
            if escaped {
                out.push(c);
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                '"' => {
                    close = Some(i);
                    break;
                }
                _ => out.push(c),
            }
        }
        let Some(close) = close else {
            return Err(PathError("501 5.1.3 Unterminated quoted local part"));
        };
        let after = &q[close + 1..];
        let Some(domain) = after.strip_prefix('@') else {
            return Err(PathError("501 5.1.3 Address must be local@domain"));
        };
        // A quoted local part that contains routing characters is a relay probe.
        if out.is_empty()
            || out
                .chars()
                .any(|c| matches!(c, '@' | '%' | '!' | '"' | '\\' | ' ') || c.is_control())
        {
            return Err(PathError(
                "553 5.7.1 Quoted local parts with routing characters are not accepted",
            ));
        }
        (out, domain.to_string())
    } else {
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(PathError("501 5.1.3 Address must be local@domain"));
        };
        if local.contains('@') || local.contains('"') {
            return Err(PathError(
                "553 5.7.1 Relaying through this address form is not accepted",
            ));
        }
        (local.to_string(), domain.to_string())
    };
    if local.contains('%') || local.contains('!') {
        return Err(PathError(
            "553 5.7.1 Percent hack and bang paths are not accepted",
        ));
    }
    // SRS0 addresses of forwarded mail (ours and others') may be longer.
    let max_local = if super::srs::is_srs(&local) {
        MAX_PATH
    } else {
        MAX_LOCAL
    };
    if local.is_empty() || local.len() > max_local {
        return Err(PathError("501 5.1.3 Invalid local part"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(PathError("501 5.1.3 Invalid local part"));
    }
    if local.chars().any(|c| {
        matches!(
            c,
            '(' | ')' | '<' | '>' | ',' | ';' | ':' | '[' | ']' | '\\'
        )
    }) {
        return Err(PathError("501 5.1.3 Invalid character in local part"));
    }
    let domain = domain.to_lowercase();
    if !valid_domain(&domain) {
        return Err(PathError("501 5.1.2 Invalid domain"));
    }
    Ok(Address { local, domain })
}

/// A domain name or an address literal (`[192.0.2.1]`).
fn valid_domain(d: &str) -> bool {
    if let Some(lit) = d.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        let ip = lit.strip_prefix("ipv6:").unwrap_or(lit);
        return ip.parse::<std::net::IpAddr>().is_ok();
    }
    !d.is_empty()
        && d.len() <= 255
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || !c.is_ascii())
        })
}

fn parse_params(s: &str) -> Result<Vec<(String, Option<String>)>, PathError> {
    let mut out = Vec::new();
    for p in s.split(' ').filter(|p| !p.is_empty()) {
        if out.len() >= 10 {
            return Err(PathError("555 5.5.4 Too many parameters"));
        }
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (p, None),
        };
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(PathError("501 5.5.4 Malformed parameter"));
        }
        if let Some(v) = &v {
            if v.chars().any(|c| c.is_control() || c == '=') && !k.eq_ignore_ascii_case("AUTH") {
                return Err(PathError("501 5.5.4 Malformed parameter value"));
            }
        }
        out.push((k.to_ascii_uppercase(), v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let p = parse_path("<Alice@Example.ORG> SIZE=100 BODY=8BITMIME", true).unwrap();
        let a = p.address.unwrap();
        assert_eq!(a.local, "Alice");
        assert_eq!(a.domain, "example.org");
        assert_eq!(a.key(), "alice@example.org");
        assert_eq!(
            p.params,
            vec![
                ("SIZE".into(), Some("100".into())),
                ("BODY".into(), Some("8BITMIME".into()))
            ]
        );
        assert_eq!(parse_path("<>", true).unwrap().address, None);
        assert!(parse_path("<>", false).is_err());
        assert_eq!(
            parse_path(" <bob@example.org>", false)
                .unwrap()
                .address
                .unwrap()
                .key(),
            "bob@example.org"
        );
        let q = parse_path("<\"joe.x\"@example.org>", false).unwrap();
        assert_eq!(q.address.unwrap().local, "joe.x");
    }

    #[test]
    fn relay_probes_are_refused() {
        for bad in [
            "<@a.example:b@c.example>",
            "<user%other.example@example.org>",
            "<other.example!user@example.org>",
            "<\"user@other.example\"@example.org>",
            "<\"user%other\"@example.org>",
            "<user@other.example@example.org>",
            "<user@example.org",
            "user@example.org",
            "<us er@example.org>",
            "<user@exa mple.org>",
            "<user@>",
            "<@>",
            "<user@-bad.org>",
            "<a\u{0}b@example.org>",
        ] {
            assert!(parse_path(bad, true).is_err(), "{bad}");
        }
        assert!(parse_path(&format!("<{}@example.org>", "x".repeat(65)), false).is_err());
    }

    #[test]
    fn params_are_data() {
        assert!(parse_path("<a@example.org> SIZE=1\u{7}", true).is_err());
        assert!(parse_path("<a@example.org> =x", true).is_err());
        let p = parse_path("<a@example.org> X-FOO", true).unwrap();
        assert_eq!(p.params, vec![("X-FOO".into(), None)]);
    }
}
