//! Legacy folder names to local names (DESIGN §3, docs/migration.md "Folder
//! names").
//!
//! 1. `INBOX` (any case) is `INBOX`.
//! 2. The personal namespace prefix is removed (`INBOX.Sent` -> `Sent` on a
//!    Courier-style server with prefix `INBOX.`).
//! 3. The name is decoded from modified UTF-7 (a name that is not valid mUTF-7 is
//!    taken as it is, for servers that send raw UTF-8).
//! 4. It is split into levels at the legacy separator, and joined with `/`.
//! 5. Inside a level, a `/` (which is our separator) becomes `∕` (U+2215 DIVISION
//!    SLASH), which reads the same; control characters become `_`, an empty level
//!    becomes `_`. Nothing is ever skipped.

/// The namespace facts the translation needs.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub prefix: String,
    pub separator: Option<char>,
}

/// What a `/` inside a legacy level becomes.
pub const SLASH_STANDIN: char = '\u{2215}';

/// Translates one legacy folder name (as the server sent it).
pub fn local_name(raw: &str, ns: &Namespace) -> String {
    if raw.eq_ignore_ascii_case("INBOX") {
        return "INBOX".into();
    }
    let mut rest = raw;
    if !ns.prefix.is_empty()
        && rest.len() > ns.prefix.len()
        && rest
            .get(..ns.prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(&ns.prefix))
    {
        rest = &rest[ns.prefix.len()..];
    }
    let decoded = crate::mutf7::decode_lenient(rest);
    let levels: Vec<String> = match ns.separator {
        Some(sep) => decoded.split(sep).map(clean_level).collect(),
        None => vec![clean_level(&decoded)],
    };
    let name = levels.join("/");
    // `INBOX.INBOX` under a prefix stays distinct from INBOX.
    if name.eq_ignore_ascii_case("INBOX") && !raw.eq_ignore_ascii_case("INBOX") {
        return format!("{name}_");
    }
    crate::store::mailstore::normalize_name(&name)
}

fn clean_level(level: &str) -> String {
    if level.is_empty() {
        return "_".into();
    }
    level
        .chars()
        .map(|c| match c {
            '/' => SLASH_STANDIN,
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// The special-use role implied by a folder's name, for legacy servers without
/// SPECIAL-USE (top-level names only, case-insensitive).
pub fn role_by_name(local: &str) -> Option<&'static str> {
    if local.contains('/') {
        return None;
    }
    match local.to_lowercase().as_str() {
        "sent" | "sent items" | "sent messages" | "sent mail" => Some("\\Sent"),
        "drafts" => Some("\\Drafts"),
        "trash" | "deleted items" | "deleted messages" => Some("\\Trash"),
        "junk" | "spam" | "junk e-mail" | "junk email" => Some("\\Junk"),
        "archive" | "archives" => Some("\\Archive"),
        _ => None,
    }
}

/// The special-use role among LIST attributes.
pub fn role_from_attributes(attrs: &[String]) -> Option<&'static str> {
    const ROLES: [&str; 7] = [
        "\\Sent",
        "\\Drafts",
        "\\Trash",
        "\\Junk",
        "\\Archive",
        "\\All",
        "\\Flagged",
    ];
    attrs
        .iter()
        .find_map(|a| ROLES.iter().find(|r| r.eq_ignore_ascii_case(a)).copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn courier_and_dovecot_names() {
        let courier = Namespace {
            prefix: "INBOX.".into(),
            separator: Some('.'),
        };
        assert_eq!(local_name("INBOX", &courier), "INBOX");
        assert_eq!(local_name("INBOX.Sent", &courier), "Sent");
        assert_eq!(local_name("INBOX.Archive.2023", &courier), "Archive/2023");
        assert_eq!(local_name("INBOX.a/b", &courier), "a\u{2215}b");
        assert_eq!(local_name("INBOX.Entw&APw-rfe", &courier), "Entwürfe");
        let dovecot = Namespace {
            prefix: String::new(),
            separator: Some('/'),
        };
        assert_eq!(local_name("inbox", &dovecot), "INBOX");
        assert_eq!(local_name("Archive/2023", &dovecot), "Archive/2023");
        assert_eq!(local_name("&ZeVnLIqe-", &dovecot), "日本語");
        assert_eq!(local_name("a//b", &dovecot), "a/_/b");
        assert_eq!(role_by_name("Sent Items"), Some("\\Sent"));
        assert_eq!(role_by_name("Archive/2023"), None);
        assert_eq!(
            role_from_attributes(&["\\HasNoChildren".into(), "\\sent".into()]),
            Some("\\Sent")
        );
    }
}
