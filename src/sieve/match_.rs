//! Comparators (RFC 4790: `i;octet`, `i;ascii-casemap`, `i;ascii-numeric`)
//! and match types (RFC 5228 §2.7.1 `:is`, `:contains`, `:matches`; RFC 5231
//! `:value`; draft-ietf-sieve-regex `:regex`). `:matches` and `:regex` give
//! the match variables of RFC 5229 §3.2.
//!
//! `:matches` runs in time proportional to text × pattern (only the last `*`
//! is ever widened), so hostile patterns like `*a*a*a*b` cannot blow up.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::error::Error;
use super::ir::{Comparator, Match, MatchKind, Rel};

/// Compiled regexes of one run, by (pattern, case-insensitive).
#[derive(Default)]
pub struct RegexCache(HashMap<(String, bool), regex::Regex>);

const REGEX_CACHE_MAX: usize = 256;

impl RegexCache {
    /// Whether `pat` is compiled already (a miss costs the caller steps).
    pub fn cached(&self, pat: &str, ci: bool) -> bool {
        self.0.contains_key(&(pat.to_string(), ci))
    }

    fn get(&mut self, pat: &str, ci: bool) -> Result<&regex::Regex, Error> {
        let key = (pat.to_string(), ci);
        if !self.0.contains_key(&key) {
            if self.0.len() >= REGEX_CACHE_MAX {
                self.0.clear();
            }
            let re = regex::RegexBuilder::new(pat)
                .case_insensitive(ci)
                .size_limit(1 << 20)
                .dfa_size_limit(1 << 20)
                .build()
                .map_err(|_| Error::runtime(format!("invalid regex \"{pat}\"")))?;
            self.0.insert(key.clone(), re);
        }
        self.0
            .get(&key)
            .ok_or_else(|| Error::runtime("regex cache"))
    }
}

/// Whether `o` satisfies `r`.
pub fn rel(r: Rel, o: Ordering) -> bool {
    match r {
        Rel::Gt => o == Ordering::Greater,
        Rel::Ge => o != Ordering::Less,
        Rel::Lt => o == Ordering::Less,
        Rel::Le => o != Ordering::Greater,
        Rel::Eq => o == Ordering::Equal,
        Rel::Ne => o != Ordering::Equal,
    }
}

/// The leading digits of `s` without leading zeros, or None (positive infinity).
fn numeric(s: &str) -> Option<&str> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    // Digits are ASCII, so `end` and the trimmed start are char boundaries.
    let d = s.get(..end)?;
    let t = d.trim_start_matches('0');
    Some(if t.is_empty() { "0" } else { t })
}

/// Orders `a` against `b` under the comparator.
pub fn order(cmp: Comparator, a: &str, b: &str) -> Ordering {
    match cmp {
        Comparator::Octet => a.as_bytes().cmp(b.as_bytes()),
        Comparator::AsciiCasemap => a
            .bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase())),
        Comparator::AsciiNumeric => match (numeric(a), numeric(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
        },
    }
}

fn char_eq(ci: bool, a: char, b: char) -> bool {
    if ci {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

#[derive(Clone, Copy)]
enum Pat {
    Lit(char),
    One,
    Star,
}

fn pattern(key: &str) -> Vec<Pat> {
    let mut out = Vec::new();
    let mut it = key.chars();
    while let Some(c) = it.next() {
        out.push(match c {
            '*' => Pat::Star,
            '?' => Pat::One,
            '\\' => match it.next() {
                Some(n) => Pat::Lit(n),
                None => Pat::Lit('\\'),
            },
            c => Pat::Lit(c),
        });
    }
    out
}

/// `:matches`: the text of each wildcard on success (the first wildcard as
/// short as possible, RFC 5229 §3.2).
fn glob(text: &str, key: &str, ci: bool) -> Option<Vec<String>> {
    let t: Vec<char> = text.chars().collect();
    let p = pattern(key);
    let mut widx = Vec::with_capacity(p.len());
    let mut n = 0;
    for x in &p {
        widx.push(n);
        if !matches!(x, Pat::Lit(_)) {
            n += 1;
        }
    }
    let mut caps = vec![(0usize, 0usize); n];
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(x) = p.get(pi) {
            match *x {
                Pat::Star => {
                    caps[widx[pi]] = (ti, ti);
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                Pat::One if ti < t.len() => {
                    caps[widx[pi]] = (ti, ti + 1);
                    pi += 1;
                    ti += 1;
                    continue;
                }
                Pat::Lit(c) if ti < t.len() && char_eq(ci, c, t[ti]) => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        } else if ti == t.len() {
            return Some(
                caps.iter()
                    .map(|&(a, b)| t[a..b].iter().collect())
                    .collect(),
            );
        }
        match star {
            Some((sp, st)) if st < t.len() => {
                let st = st + 1;
                star = Some((sp, st));
                caps[widx[sp]].1 = st;
                ti = st;
                pi = sp + 1;
            }
            _ => return None,
        }
    }
}

/// Whether `value` matches `key`; on a match, the match variables it sets
/// (`${0}` first) when the match type sets them, else an empty list.
/// `:count` is decided by the caller over all values.
pub fn matches(
    m: &Match,
    value: &str,
    key: &str,
    rx: &mut RegexCache,
) -> Result<Option<Vec<String>>, Error> {
    let ci = m.cmp == Comparator::AsciiCasemap;
    let yes = |b: bool| if b { Some(Vec::new()) } else { None };
    Ok(match m.kind {
        MatchKind::Is => yes(order(m.cmp, value, key) == Ordering::Equal),
        MatchKind::Contains => yes(if ci {
            value
                .to_ascii_lowercase()
                .contains(&key.to_ascii_lowercase())
        } else {
            value.contains(key)
        }),
        MatchKind::Value(r) => yes(rel(r, order(m.cmp, value, key))),
        MatchKind::Count(_) => None,
        MatchKind::Matches => glob(value, key, ci).map(|caps| {
            let mut v = Vec::with_capacity(caps.len() + 1);
            v.push(value.to_string());
            v.extend(caps);
            v
        }),
        MatchKind::Regex => {
            let re = rx.get(key, ci)?;
            re.captures(value).map(|c| {
                c.iter()
                    .map(|g| g.map_or(String::new(), |g| g.as_str().to_string()))
                    .collect()
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: MatchKind, cmp: Comparator) -> Match {
        Match { cmp, kind }
    }

    #[test]
    fn globbing() {
        assert_eq!(
            glob("[acme-users] [fwd] version 1.0 is out", "[*] *", true).unwrap(),
            vec!["acme-users", "[fwd] version 1.0 is out"]
        );
        assert_eq!(glob("ab", "a?", false).unwrap(), vec!["b"]);
        assert!(glob("abc", "a\\*c", false).is_none());
        assert!(glob("a*c", "a\\*c", false).is_some());
        assert!(glob("ABC", "a*", false).is_none());
        assert!(glob("ABC", "a*", true).is_some());
        assert_eq!(
            glob("Entwürfe-收件箱", "*-?件*", true).unwrap(),
            vec!["Entwürfe", "收", "箱"]
        );
        let long = "a".repeat(20_000);
        assert!(glob(&long, "*a*a*a*a*a*a*b", true).is_none());
        assert!(glob("", "*", true).is_some());
        assert!(glob("", "?", true).is_none());
    }

    #[test]
    fn comparators() {
        let mut rx = RegexCache::default();
        let num = m(MatchKind::Value(Rel::Gt), Comparator::AsciiNumeric);
        assert!(matches(&num, "10", "9", &mut rx).unwrap().is_some());
        assert!(matches(&num, "abc", "99999", &mut rx).unwrap().is_some());
        assert!(matches(&num, "0010", "9", &mut rx).unwrap().is_some());
        let is = m(MatchKind::Is, Comparator::AsciiNumeric);
        assert!(matches(&is, "007", "7", &mut rx).unwrap().is_some());
        let oct = m(MatchKind::Contains, Comparator::Octet);
        assert!(matches(&oct, "Hello", "hell", &mut rx).unwrap().is_none());
        let cm = m(MatchKind::Contains, Comparator::AsciiCasemap);
        assert!(matches(&cm, "Hello", "HELL", &mut rx).unwrap().is_some());
        let re = m(MatchKind::Regex, Comparator::AsciiCasemap);
        let caps = matches(&re, "Bug 1234 open", "bug ([0-9]+)", &mut rx)
            .unwrap()
            .unwrap();
        assert_eq!(caps[1], "1234");
    }
}
