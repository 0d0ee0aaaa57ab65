//! Message flags: the IMAP system flags plus keywords, kept as a sorted set.

use std::collections::BTreeSet;

/// The system flags of RFC 3501 §2.3.2 that are stored (`\Recent` is per session).
pub const SYSTEM_FLAGS: [&str; 5] = ["\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen"];

/// A set of flags. System flags are stored in their canonical spelling; keywords
/// compare case-insensitively and keep the spelling first seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags(BTreeSet<String>);

impl Flags {
    pub fn new() -> Flags {
        Flags::default()
    }

    /// Canonical spelling of `flag`, or `None` for something that is not a flag
    /// (empty, spaces, `\Recent`, an unknown backslash flag, IMAP specials).
    pub fn canonical(flag: &str) -> Option<String> {
        if let Some(name) = flag.strip_prefix('\\') {
            return SYSTEM_FLAGS
                .iter()
                .find(|s| s[1..].eq_ignore_ascii_case(name))
                .map(|s| s.to_string());
        }
        let ok = !flag.is_empty()
            && flag.len() <= 128
            && flag.bytes().all(|b| {
                b > b' '
                    && b < 0x7f
                    && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
            });
        ok.then(|| flag.to_string())
    }

    /// Parses the stored form (space-separated).
    pub fn parse(s: &str) -> Flags {
        Flags::from_names(s.split_ascii_whitespace())
    }

    /// Builds a set from names, dropping what is not a flag.
    pub fn from_names<I, S>(names: I) -> Flags
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut f = Flags::new();
        for n in names {
            f.insert(n.as_ref());
        }
        f
    }

    /// Adds a flag; returns false when it was not a valid flag.
    pub fn insert(&mut self, flag: &str) -> bool {
        let Some(c) = Flags::canonical(flag) else {
            return false;
        };
        if !self.contains(&c) {
            self.0.insert(c);
        }
        true
    }

    pub fn remove(&mut self, flag: &str) {
        self.0.retain(|f| !f.eq_ignore_ascii_case(flag));
    }

    pub fn contains(&self, flag: &str) -> bool {
        self.0.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Keywords only (no system flags).
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.iter().filter(|f| !f.starts_with('\\'))
    }

    pub fn union(&self, other: &Flags) -> Flags {
        let mut f = self.clone();
        for x in other.iter() {
            f.insert(x);
        }
        f
    }

    pub fn difference(&self, other: &Flags) -> Flags {
        Flags(
            self.0
                .iter()
                .filter(|f| !other.contains(f))
                .cloned()
                .collect(),
        )
    }

    /// The stored form: space-separated.
    pub fn to_stored(&self) -> String {
        self.iter().collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_spelling_and_case_insensitive_keywords() {
        let f = Flags::parse("\\seen \\FLAGGED $Label1 $label1 \\Recent \\Bogus");
        assert_eq!(f.to_stored(), "$Label1 \\Flagged \\Seen");
        assert!(f.contains("\\SEEN"));
        assert!(f.contains("$LABEL1"));
        assert_eq!(f.keywords().collect::<Vec<_>>(), vec!["$Label1"]);
    }

    #[test]
    fn union_and_difference() {
        let a = Flags::parse("\\Seen work");
        let b = Flags::parse("\\Flagged WORK");
        assert_eq!(a.union(&b).to_stored(), "\\Flagged \\Seen work");
        assert_eq!(a.difference(&b).to_stored(), "\\Seen");
    }
}
