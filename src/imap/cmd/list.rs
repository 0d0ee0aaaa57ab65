//! LIST and LSUB. State: authenticated. RFC 3501 §6.3.8-9, with CHILDREN
//! (RFC 3348), SPECIAL-USE (RFC 6154) and the RFC 5258 options clients send
//! (`LIST (SPECIAL-USE) ...`, `RETURN (SUBSCRIBED CHILDREN SPECIAL-USE)`).

use std::collections::{BTreeMap, BTreeSet};

use crate::imap::proto::ListArgs;
use crate::imap::session::{store_error, Done, Session};
use crate::imap::write;

/// True when `name` matches `pattern` (`*` anything, `%` anything but `/`).
/// Iterative, so hostile patterns cannot blow up.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // dp[j]: pattern prefix of length i matches name prefix of length j.
    let mut dp = vec![false; n.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                for j in 0..=n.len() {
                    next[j] = dp[j] || (j > 0 && next[j - 1] && (pc == '*' || n[j - 1] != '/'));
                }
            }
            c => {
                for j in 1..=n.len() {
                    next[j] = dp[j - 1] && n[j - 1] == c;
                }
            }
        }
        dp = next;
    }
    dp[n.len()]
}

/// Matches with INBOX case-insensitive (as the first level).
fn matches(pattern: &str, name: &str) -> bool {
    let canon = |s: &str| -> String {
        // `get` is `None` when byte 5 falls inside a character (`Entwürfe`).
        if s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("INBOX"))
            && (s.len() == 5 || s.as_bytes()[5] == b'/')
        {
            format!("INBOX{}", &s[5..])
        } else {
            s.to_string()
        }
    };
    wildcard_match(&canon(pattern), &canon(name))
}

struct Entry {
    exists: bool,
    special_use: Option<String>,
    subscribed: bool,
    has_children: bool,
}

impl Session {
    pub(crate) async fn cmd_list(&mut self, a: ListArgs) -> Done {
        let verb = if a.lsub { "LSUB" } else { "LIST" };
        let Some(u) = self.user() else {
            return Done::Bad("Not authenticated".into());
        };
        if a.patterns.len() == 1 && a.patterns[0].is_empty() {
            // RFC 3501 §6.3.8: the hierarchy delimiter and root.
            self.untagged(&format!("{verb} (\\Noselect) \"/\" \"\""));
            return Done::Ok(format!("{verb} completed"));
        }
        let (mailboxes, subs) = match (u.ms.mailboxes().await, u.ms.subscriptions().await) {
            (Ok(m), Ok(s)) => (m, s),
            (Err(e), _) | (_, Err(e)) => return store_error(e),
        };
        let subs: BTreeSet<String> = subs.into_iter().collect();
        let mut all: BTreeMap<String, Entry> = BTreeMap::new();
        for m in &mailboxes {
            all.insert(
                m.name.clone(),
                Entry {
                    exists: true,
                    special_use: m.special_use.clone(),
                    subscribed: subs.contains(&m.name),
                    has_children: false,
                },
            );
        }
        let existing: std::collections::HashSet<&str> =
            mailboxes.iter().map(|m| m.name.as_str()).collect();
        // Levels that exist only as parents of other names: \Noselect.
        let names: Vec<String> = all.keys().cloned().chain(subs.iter().cloned()).collect();
        for name in names {
            let parts: Vec<&str> = name.split('/').collect();
            for i in 1..parts.len() {
                let parent = parts[..i].join("/");
                let e = all.entry(parent).or_insert(Entry {
                    exists: false,
                    special_use: None,
                    subscribed: false,
                    has_children: false,
                });
                if existing.contains(name.as_str()) {
                    e.has_children = true;
                }
            }
            if !all.contains_key(&name) && subs.contains(&name) {
                all.insert(
                    name.clone(),
                    Entry {
                        exists: false,
                        special_use: None,
                        subscribed: true,
                        has_children: false,
                    },
                );
            }
        }
        for (name, e) in all.iter_mut() {
            if subs.contains(name) {
                e.subscribed = true;
            }
        }
        let patterns: Vec<String> = a
            .patterns
            .iter()
            .map(|p| {
                if a.reference.is_empty() || p.starts_with('/') {
                    p.clone()
                } else if a.reference.ends_with('/') {
                    format!("{}{p}", a.reference)
                } else {
                    format!("{}/{p}", a.reference)
                }
            })
            .collect();
        let has_percent = patterns.iter().any(|p| p.contains('%'));
        let mut lines = Vec::new();
        for (name, e) in &all {
            if !patterns.iter().any(|p| matches(p, name)) {
                continue;
            }
            let mut attrs: Vec<String> = Vec::new();
            let mut childinfo = false;
            if a.lsub {
                if !e.subscribed {
                    // RFC 3501 §6.3.9: a parent of a subscribed name, shown for `%`.
                    let child_subscribed = subs.iter().any(|s| s.starts_with(&format!("{name}/")));
                    if !(has_percent && child_subscribed) {
                        continue;
                    }
                    attrs.push("\\Noselect".into());
                } else if !e.exists {
                    attrs.push("\\Noselect".into());
                }
            } else {
                if a.select_subscribed && !e.subscribed {
                    // RFC 5258 §3.5 RECURSIVEMATCH: shown, with CHILDINFO, for
                    // a subscribed descendant the patterns do not show.
                    let prefix = format!("{name}/");
                    childinfo = a.recursive_match
                        && subs.iter().any(|s| {
                            s.starts_with(&prefix) && !patterns.iter().any(|p| matches(p, s))
                        });
                    if !childinfo {
                        continue;
                    }
                }
                if a.select_special_use && e.special_use.is_none() {
                    continue;
                }
                if !e.exists {
                    if a.extended && e.subscribed {
                        attrs.push("\\NonExistent".into());
                    } else {
                        attrs.push("\\Noselect".into());
                    }
                }
                if e.subscribed && (a.return_subscribed || a.select_subscribed) {
                    attrs.push("\\Subscribed".into());
                }
                if let Some(su) = &e.special_use {
                    attrs.push(su.clone());
                }
            }
            // Set above for every ancestor of an existing mailbox.
            let has_children = e.has_children;
            if !a.lsub || a.return_children {
                attrs.push(
                    if has_children {
                        "\\HasChildren"
                    } else {
                        "\\HasNoChildren"
                    }
                    .into(),
                );
            }
            lines.push(format!(
                "{verb} ({}) \"/\" {}{}",
                attrs.join(" "),
                write::mailbox(name),
                if childinfo {
                    " (\"CHILDINFO\" (\"SUBSCRIBED\"))"
                } else {
                    ""
                }
            ));
            // LIST-STATUS (RFC 5819): STATUS after the LIST line of every
            // selectable mailbox.
            if let (Some(items), true) = (&a.return_status, e.exists && !a.lsub) {
                if let Some(info) = mailboxes.iter().find(|m| &m.name == name) {
                    match super::status::status_line(&u.ms, info, items).await {
                        Ok(l) => lines.push(l),
                        Err(e) => return store_error(e),
                    }
                }
            }
        }
        for l in lines {
            self.untagged(&l);
        }
        Done::Ok(format!("{verb} completed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "a/b/c"));
        assert!(wildcard_match("%", "abc"));
        assert!(!wildcard_match("%", "a/b"));
        assert!(wildcard_match("a/%", "a/b"));
        assert!(!wildcard_match("a/%", "a/b/c"));
        assert!(wildcard_match("a*c", "a/b/c"));
        assert!(wildcard_match("a%c", "abc"));
        assert!(!wildcard_match("a%c", "a/c"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("Inbox/%", "INBOX/x"));
        assert!(!wildcard_match(&"*a".repeat(100), &"b".repeat(900)));
        // A multi-byte character across byte 5 does not panic.
        for name in ["Entwürfe", "Черновики", "收件箱", "INBOé", "Inbo\u{301}x"] {
            assert!(matches("*", name));
            assert!(!matches("INBOX", name));
        }
    }
}
