//! `ferrymail users import --domain D FILE`: the known population of a domain.
//! One user per line, `address` or `address:{SCHEME}hash` with a password hash
//! exported from the legacy server (the schemes `account add --hash-stdin`
//! takes); a bare local part gets the domain. `#` starts a comment line. Each
//! user becomes a `pending` account: known, not moved (mail still relayed to
//! the legacy server; the first login checks the legacy password and starts
//! the move; `migrate domain` moves it with the admin credential). Existing
//! accounts are left alone. Errors name the line, never a hash.

use crate::auth::password::is_supported_hash;
use crate::store::{Store, StoreError};

/// One parsed line.
#[derive(Debug, PartialEq, Eq)]
pub struct ImportLine {
    pub line: usize,
    pub address: String,
    /// Empty when the line has no hash.
    pub hash: String,
}

/// Parses the file for `domain` (lower-case); each line becomes a user or an
/// error naming the line.
pub fn parse(text: &str, domain: &str) -> Vec<Result<ImportLine, (usize, &'static str)>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim_end_matches('\r').trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (who, hash) = match l.split_once(':') {
            Some((w, h)) => (w.trim(), h.trim()),
            None => (l, ""),
        };
        if who.is_empty() || who.chars().any(|c| c.is_whitespace() || c.is_control()) {
            out.push(Err((line, "malformed: empty or invalid address")));
            continue;
        }
        let address = if who.contains('@') {
            match crate::store::accounts::split_address(who) {
                Some((l, d)) if d == domain && !l.contains('@') => format!("{l}@{d}"),
                Some(_) => {
                    out.push(Err((line, "the address is not in the imported domain")));
                    continue;
                }
                None => {
                    out.push(Err((line, "malformed address")));
                    continue;
                }
            }
        } else {
            format!("{}@{domain}", who.to_lowercase())
        };
        if !hash.is_empty() && !is_supported_hash(hash) {
            out.push(Err((line, "unsupported password hash: expected {SHA512-CRYPT}$6$..., {SHA256-CRYPT}$5$..., {BLF-CRYPT}$2y$... or $argon2id$...")));
            continue;
        }
        out.push(Ok(ImportLine {
            line,
            address,
            hash: hash.to_string(),
        }));
    }
    out
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportReport {
    pub imported: usize,
    pub with_hash: usize,
    /// Addresses that already had an account (any state), left alone.
    pub existing: usize,
    /// `line N: reason`, one per rejected line.
    pub errors: Vec<String>,
}

/// Creates the `pending` accounts of `text` for `domain`; `text` starts at
/// line `first_line` of the file (it comes in chunks), for the errors.
pub async fn import(store: &Store, domain: &str, text: &str, first_line: usize) -> ImportReport {
    let mut r = ImportReport::default();
    let at = |line: usize| line + first_line.max(1) - 1;
    for entry in parse(text, domain) {
        match entry {
            Err((line, why)) => r.errors.push(format!("line {}: {why}", at(line))),
            Ok(u) => match store.create_pending_account(&u.address, &u.hash).await {
                Ok(_) => {
                    r.imported += 1;
                    if !u.hash.is_empty() {
                        r.with_hash += 1;
                    }
                }
                Err(StoreError::AlreadyExists(_)) => r.existing += 1,
                Err(e) => r.errors.push(format!("line {}: {e}", at(u.line))),
            },
        }
    }
    r
}

impl ImportReport {
    /// Adds the counts and errors of the next chunk.
    pub fn add(&mut self, next: ImportReport) {
        self.imported += next.imported;
        self.with_hash += next.with_hash;
        self.existing += next.existing;
        self.errors.extend(next.errors);
    }
}

/// `text` cut at line ends into pieces of about `max` bytes (a longer line is
/// one piece), each with the number of its first line.
pub fn chunks(text: &str, max: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut rest, mut line) = (text, 1);
    while !rest.is_empty() {
        let cut = if rest.len() <= max {
            rest.len()
        } else {
            let head = &rest.as_bytes()[..max];
            match head.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None => rest.find('\n').map_or(rest.len(), |i| i + 1),
            }
        };
        let (piece, tail) = rest.split_at(cut);
        out.push((line, piece));
        line += piece.matches('\n').count();
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let text = "# staff\nAnn@Example.org\nbob:{SHA512-CRYPT}$6$abc$def\n\ncarl@other.org\nd e\nerin:{MD5}xyz\nЖеня@example.org\n";
        let r = parse(text, "example.org");
        let ok: Vec<_> = r.iter().filter_map(|e| e.as_ref().ok()).collect();
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[0].address, "ann@example.org");
        assert_eq!(ok[0].hash, "");
        assert_eq!(ok[1].address, "bob@example.org");
        assert_eq!(ok[1].hash, "{SHA512-CRYPT}$6$abc$def");
        assert_eq!(ok[2].address, "женя@example.org");
        let bad: Vec<usize> = r
            .iter()
            .filter_map(|e| e.as_ref().err())
            .map(|e| e.0)
            .collect();
        assert_eq!(bad, vec![5, 6, 7]);
        for e in r.iter().filter_map(|e| e.as_ref().err()) {
            assert!(!e.1.contains("xyz"));
        }
    }

    #[test]
    fn chunks_keep_lines_whole_and_numbered() {
        let text = "aa\nbbbb\nc\n\nddddddddd\ne";
        let c = chunks(text, 6);
        assert_eq!(
            c,
            vec![
                (1, "aa\n"),
                (2, "bbbb\n"),
                (3, "c\n\n"),
                (5, "ddddddddd\n"),
                (6, "e")
            ]
        );
        assert_eq!(c.iter().map(|p| p.1).collect::<String>(), text);
        assert_eq!(chunks("", 6), vec![]);
    }
}
