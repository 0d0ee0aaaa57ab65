//! The addresses of a domain that are not mailboxes: `[addresses]` (catch-all,
//! recipient delimiter, aliases file) and `[aliases]` of a domain file, typed
//! into [`Addresses`], and their checks: malformed names and targets,
//! duplicates, loops across every hosted domain, forwards with no way out.
//! Every problem carries the file and, where there is one, the line.
//!
//! The aliases file is Postfix-virtual-like: `alias  target, target ...` per
//! line (targets separated by commas and/or spaces), `#` comment lines, a line
//! starting with white space continues the previous one; an alias may be
//! written `name`, `name:` (aliases(5) style) or `name@this-domain`, and
//! `@this-domain target` sets the catch-all.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use super::address_table::Addresses;
use super::address_table::Origin;
use super::domain::Domain;
use super::file::AddressesSection;
use super::validate::{resolve, valid_domain, Checker};

/// `line N: ` or nothing.
fn at(line: Option<usize>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

/// A local part as an alias name or target may have it (UTF-8 allowed).
fn valid_local(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 64
        && !l.starts_with('.')
        && !l.ends_with('.')
        && !l.contains("..")
        && !l.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '<' | '>'
                        | '('
                        | ')'
                        | '['
                        | ']'
                        | ','
                        | ';'
                        | ':'
                        | '\\'
                        | '"'
                        | '@'
                        | '%'
                        | '!'
                        | '|'
                        | '/'
                )
        })
}

/// A target as a full address: a bare local part is of `domain`.
fn target(raw: &str, domain: &str) -> Result<String, String> {
    let raw = raw.trim();
    let (local, dom) = match raw.rsplit_once('@') {
        Some((l, d)) => (l, d.to_ascii_lowercase()),
        None => (raw, domain.to_string()),
    };
    if !valid_local(local) || !valid_domain(&dom) {
        return Err(format!(
            "target `{raw}` is not a local part or an address (commands, files and :include: are not supported)"
        ));
    }
    Ok(format!("{local}@{dom}"))
}

/// Line numbers of the keys of the `[aliases]` table of a TOML text.
fn toml_lines(text: &str) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    let mut in_aliases = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_aliases = t.trim_start_matches('[').trim_end_matches(']').trim() == "aliases";
            continue;
        }
        if !in_aliases {
            continue;
        }
        if let Some((k, _)) = t.split_once('=') {
            let k = k.trim().trim_matches('"').trim_matches('\'');
            lines.insert(k.to_lowercase(), n + 1);
        }
    }
    lines
}

/// Builds a domain's table, noting every problem.
struct Builder<'a> {
    ck: &'a mut Checker,
    domain: &'a str,
    file: &'a Path,
    side: Option<PathBuf>,
    out: Addresses,
}

impl Builder<'_> {
    fn problem(&mut self, side_file: bool, line: Option<usize>, msg: String) {
        if side_file {
            if let Some(s) = &self.side {
                self.ck.switch_to(s);
            }
        }
        self.ck.problem(format!("{}{msg}", at(line)));
        self.ck.switch_to(self.file);
    }

    fn add(&mut self, name: &str, raw: &[String], origin: Origin) {
        let line = (origin.line > 0).then_some(origin.line);
        if !valid_local(name) {
            self.problem(
                origin.side_file,
                line,
                format!("alias `{name}` is not a valid local part"),
            );
            return;
        }
        let key = name.to_lowercase();
        if self.out.origins.contains_key(&key) {
            let (f, l) = self.out.place(self.file, &key);
            let where_ = match l {
                Some(l) => format!("{} line {l}", f.display()),
                None => f.display().to_string(),
            };
            self.problem(
                origin.side_file,
                line,
                format!("alias `{name}` is defined twice (also at {where_})"),
            );
            return;
        }
        if raw.is_empty() {
            self.problem(
                origin.side_file,
                line,
                format!("alias `{name}` has no target"),
            );
        }
        let mut targets: Vec<String> = Vec::with_capacity(raw.len());
        for r in raw {
            match target(r, self.domain) {
                Ok(t) => {
                    if targets.iter().any(|x| x.to_lowercase() == t.to_lowercase()) {
                        self.problem(
                            origin.side_file,
                            line,
                            format!("alias `{name}` lists `{r}` twice"),
                        );
                    } else {
                        targets.push(t);
                    }
                }
                Err(e) => self.problem(origin.side_file, line, format!("alias `{name}`: {e}")),
            }
        }
        self.out.origins.insert(key.clone(), origin);
        self.out.aliases.insert(key, targets);
    }

    /// The aliases file, line by line.
    fn read_side_file(&mut self, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.ck
                    .problem(format!("addresses.aliases_file {}: {e}", path.display()));
                return;
            }
        };
        // (name, targets, line) of each entry, continuation lines folded in.
        let mut entries: Vec<(String, Vec<String>, usize)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let n = n + 1;
            let line = line.trim_end_matches('\r');
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let split = |s: &str| -> Vec<String> {
                s.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            if line.starts_with(char::is_whitespace) {
                match entries.last_mut() {
                    Some(e) => e.1.extend(split(t)),
                    None => {
                        self.problem(true, Some(n), "continuation line without an alias".into())
                    }
                }
                continue;
            }
            let (key, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            let key = key.strip_suffix(':').unwrap_or(key);
            let name = match key.rsplit_once('@') {
                Some((l, d)) if d.eq_ignore_ascii_case(self.domain) => l.to_string(),
                Some((_, d)) => {
                    self.problem(
                        true,
                        Some(n),
                        format!(
                            "`{key}` is not of this domain ({}); put it in {d}'s table",
                            self.domain
                        ),
                    );
                    continue;
                }
                None => key.to_string(),
            };
            entries.push((name, split(rest), n));
        }
        for (name, targets, n) in entries {
            if name.is_empty() {
                // `@domain target`: the catch-all, Postfix style.
                if self.out.catch_all.is_some() || targets.len() != 1 {
                    self.problem(
                        true,
                        Some(n),
                        "the catch-all (`@domain`) takes one target and is set once".into(),
                    );
                    continue;
                }
                match target(&targets[0], self.domain) {
                    Ok(t) => self.out.catch_all = Some(t),
                    Err(e) => self.problem(true, Some(n), format!("catch-all: {e}")),
                }
                continue;
            }
            self.add(
                &name,
                &targets,
                Origin {
                    side_file: true,
                    line: n,
                },
            );
        }
    }
}

/// Checks `[addresses]` and `[aliases]` of the domain file `file` (its `text`,
/// for line numbers) and returns the table.
pub(super) fn check_addresses(
    ck: &mut Checker,
    domain: &str,
    file: &Path,
    text: &str,
    base: &Path,
    section: &AddressesSection,
    aliases: &BTreeMap<String, Vec<String>>,
) -> Addresses {
    let side = section.aliases_file.as_ref().map(|p| resolve(base, p));
    let mut b = Builder {
        ck,
        domain,
        file,
        side: side.clone(),
        out: Addresses {
            delimiters: section.recipient_delimiter.clone(),
            aliases_file: side.clone(),
            aliases: HashMap::with_capacity(aliases.len()),
            ..Addresses::default()
        },
    };
    if section
        .recipient_delimiter
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c.is_alphanumeric() || c == '@' || c == '.')
    {
        b.ck.problem(format!(
            "addresses.recipient_delimiter `{}` may hold only punctuation such as + or - (not @ or .)",
            section.recipient_delimiter
        ));
    }
    if let Some(c) = &section.catch_all {
        match target(c, domain) {
            Ok(t) => b.out.catch_all = Some(t),
            Err(e) => b.ck.problem(format!("addresses.catch_all: {e}")),
        }
    }
    let lines = toml_lines(text);
    for (name, targets) in aliases {
        let line = lines.get(&name.to_lowercase()).copied().unwrap_or(0);
        b.add(
            name,
            targets,
            Origin {
                side_file: false,
                line,
            },
        );
    }
    if let Some(p) = &side {
        b.read_side_file(p);
    }
    b.out
}

/// Splits a full address into the lower-cased local part and the domain.
fn split(addr: &str) -> (String, &str) {
    match addr.rsplit_once('@') {
        Some((l, d)) => (l.to_lowercase(), d),
        None => (addr.to_lowercase(), ""),
    }
}

/// The aliases the alias `node` (`local@domain`, lower-cased) leads to, itself
/// excepted (a self-reference means the mailbox of that name, Postfix style).
fn alias_children(domains: &BTreeMap<String, Domain>, node: &str) -> Vec<String> {
    let (l, d) = split(node);
    let Some(targets) = domains.get(d).and_then(|dom| dom.addresses.alias(&l)) else {
        return Vec::new();
    };
    targets
        .iter()
        .filter_map(|t| {
            let (tl, td) = split(t);
            let key = format!("{tl}@{td}");
            (key != node
                && domains
                    .get(td)
                    .is_some_and(|x| x.addresses.alias(&tl).is_some()))
            .then_some(key)
        })
        .collect()
}

/// Checks across domains: alias loops (each reported once, with its path) and
/// forwards to outside addresses with no way out.
pub(super) fn check_alias_graph(
    ck: &mut Checker,
    domains: &BTreeMap<String, Domain>,
    relay_host: bool,
) {
    for d in domains.values() {
        if relay_host || d.migration.smtp.is_some() {
            continue;
        }
        let mut names: Vec<(&String, &Vec<String>)> = d.addresses.aliases().collect();
        names.sort();
        for (name, targets) in names {
            if let Some(t) = targets.iter().find(|t| !domains.contains_key(split(t).1)) {
                let (f, line) = d.addresses.place(&d.file, name);
                ck.switch_to(&f);
                ck.problem(format!(
                    "{}alias `{name}` forwards to {t} outside the hosted domains, but nothing can send it: set [submission] relay_host (or [migration.smtp] of {})",
                    at(line),
                    d.name
                ));
                break;
            }
        }
    }
    let mut nodes: Vec<String> = domains
        .values()
        .flat_map(|d| {
            d.addresses
                .aliases()
                .map(|(l, _)| format!("{l}@{}", d.name))
        })
        .collect();
    nodes.sort();
    // 0: not seen, 1: on the current path, 2: done.
    let mut state: HashMap<String, u8> = HashMap::with_capacity(nodes.len());
    for start in nodes {
        if state.contains_key(&start) {
            continue;
        }
        let mut stack: Vec<(String, Vec<String>, usize)> = Vec::new();
        state.insert(start.clone(), 1);
        let children = alias_children(domains, &start);
        stack.push((start, children, 0));
        while let Some((node, children, i)) = stack.last_mut() {
            let Some(child) = children.get(*i).cloned() else {
                state.insert(node.clone(), 2);
                stack.pop();
                continue;
            };
            *i += 1;
            match state.get(&child) {
                Some(1) => {
                    let from = stack.iter().position(|(n, _, _)| *n == child).unwrap_or(0);
                    let mut path: Vec<&str> =
                        stack[from..].iter().map(|(n, _, _)| n.as_str()).collect();
                    path.push(&child);
                    let (l, d) = split(&child);
                    let (f, line) = domains
                        .get(d)
                        .map(|dom| dom.addresses.place(&dom.file, &l))
                        .unwrap_or_default();
                    ck.switch_to(&f);
                    ck.problem(format!("{}alias loop: {}", at(line), path.join(" -> ")));
                }
                Some(_) => {}
                None => {
                    state.insert(child.clone(), 1);
                    let grand = alias_children(domains, &child);
                    stack.push((child, grand, 0));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_local_is_char_safe() {
        let a = Addresses::default();
        assert_eq!(a.base_local("alice+news"), Some("alice"));
        assert_eq!(a.base_local("jürgen+x+y"), Some("jürgen"));
        assert_eq!(a.base_local("+x"), None);
        assert_eq!(a.base_local("alice"), None);
        let none = Addresses {
            delimiters: String::new(),
            ..Addresses::default()
        };
        assert_eq!(none.base_local("alice+news"), None);
    }

    #[test]
    fn targets() {
        assert_eq!(target("alice", "example.org").unwrap(), "alice@example.org");
        assert_eq!(
            target("Bob@Outside.Example", "example.org").unwrap(),
            "Bob@outside.example"
        );
        for bad in [
            "",
            "|/usr/bin/x",
            "/var/mail/x",
            ":include:/x",
            "a@",
            "a b",
            "x@-bad-",
        ] {
            assert!(target(bad, "example.org").is_err(), "{bad}");
        }
    }

    #[test]
    fn toml_lines_find_alias_keys() {
        let t =
            "domain = \"x\"\n[aliases]\ninfo = [\"a\"]\n\"Sales\" = [\"b\"]\n[other]\ninfo = 1\n";
        let l = toml_lines(t);
        assert_eq!(l.get("info"), Some(&3));
        assert_eq!(l.get("sales"), Some(&4));
    }
}
