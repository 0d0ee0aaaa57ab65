//! The `ferrymail migrate bulk` file: one user per line, `user:password` (the
//! user a full address), `user:password:domain`, or a bare address (the copy
//! then uses the domain's `[migration.admin]` credential); `#` starts a comment line;
//! blank lines are skipped. A password may contain `:` when the user is a full
//! address (everything after the first `:` is the password); with a bare user
//! name the domain is what follows the last `:`. Errors name the line, never its
//! password.

use crate::auth::Password;

/// One usable line.
#[derive(Debug)]
pub struct BulkEntry {
    pub line: usize,
    pub address: String,
    /// `None` for a bare address.
    pub password: Option<Password>,
}

/// One malformed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkError {
    pub line: usize,
    pub reason: &'static str,
}

/// Parses the whole file; each line becomes an entry or an error.
pub fn parse(text: &str) -> Vec<Result<BulkEntry, BulkError>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim_end_matches('\r');
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        out.push(
            parse_line(l)
                .map_err(|reason| BulkError { line, reason })
                .map(|(address, password)| BulkEntry {
                    line,
                    address,
                    password,
                }),
        );
    }
    out
}

fn parse_line(l: &str) -> Result<(String, Option<Password>), &'static str> {
    let Some((user, rest)) = l.split_once(':') else {
        let address = l.trim();
        if address.contains('@') && !address.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Ok((address.to_lowercase(), None));
        }
        return Err("malformed: expected an address, user:password or user:password:domain");
    };
    let user = user.trim();
    if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("malformed: empty or invalid user name");
    }
    let (address, password) = if user.contains('@') {
        (user.to_string(), rest)
    } else {
        let Some((password, domain)) = rest.rsplit_once(':') else {
            return Err("malformed: a bare user name needs user:password:domain");
        };
        let domain = domain.trim();
        if domain.is_empty() || !domain.contains('.') || domain.contains(char::is_whitespace) {
            return Err("malformed: invalid domain");
        }
        (format!("{user}@{domain}"), password)
    };
    if password.is_empty() {
        return Err("malformed: empty password");
    }
    if password.chars().any(|c| c.is_control()) {
        return Err("malformed: control character in the password");
    }
    Ok((address.to_lowercase(), Some(Password::new(password))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let text = "# users\n\nann@a.test:pw1\nbob:p:w:b.test\nnocolon\ncal:pw\n:pw:a.test\ndan@a.test:\n  # indented comment\neve:secret:\nZoe@A.test\n";
        let r = parse(text);
        let ok: Vec<(usize, String, String)> = r
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .map(|e| {
                let pw = e.password.as_ref().map(|p| p.expose().to_string());
                (e.line, e.address.clone(), pw.unwrap_or_default())
            })
            .collect();
        assert_eq!(
            ok,
            vec![
                (3, "ann@a.test".into(), "pw1".into()),
                (4, "bob@b.test".into(), "p:w".into()),
                (11, "zoe@a.test".into(), String::new()),
            ]
        );
        let bad: Vec<usize> = r
            .iter()
            .filter_map(|e| e.as_ref().err())
            .map(|e| e.line)
            .collect();
        assert_eq!(bad, vec![5, 6, 7, 8, 10]);
        for e in r.iter().filter_map(|e| e.as_ref().err()) {
            assert!(!e.reason.contains("secret") && !e.reason.contains("pw"));
        }
    }
}
