//! The syntax of an SMTP command line: its verb and its argument. A leaf, so that
//! `crate::smtp::split_command` (used by the fuzz targets) does not lead into the
//! session.

/// The verb of a command line, upper-cased (`MAIL FROM:` and `RCPT TO:` whole).
pub fn split_command(line: &str) -> (String, &str) {
    let upper: String = line
        .chars()
        .take(10)
        .collect::<String>()
        .to_ascii_uppercase();
    for prefix in ["MAIL FROM:", "RCPT TO:"] {
        if upper.starts_with(prefix) {
            return (prefix.to_string(), &line[prefix.len()..]);
        }
    }
    match line.split_once(' ') {
        Some((v, rest)) => (v.to_ascii_uppercase(), rest.trim()),
        None => (line.to_ascii_uppercase(), ""),
    }
}

/// True for an `AUTH ...` command line (allowed past the session's usual line
/// length limit).
pub(super) fn is_auth(line: &[u8]) -> bool {
    line.len() > 5 && line[..5].eq_ignore_ascii_case(b"AUTH ")
}
