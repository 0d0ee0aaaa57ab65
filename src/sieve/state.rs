//! The state of one run: the message view, the actions so far, the implicit
//! keep, counters for the limits, and the variables (RFC 5229): each script
//! (the main one and every included one) has its own scope; `global` names
//! and the `global.` namespace share one map (RFC 6609).

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use super::action::{Action, Context};
use super::error::Error;
use super::ir::{Modifier, Script};
use super::match_::RegexCache;
use super::msg::MsgView;

/// Longest value of a variable, in bytes (longer values are cut at a char).
pub const MAX_VAR_LEN: usize = 4096;
/// Longest string after `${...}` expansion, in bytes.
pub const MAX_EXPANDED: usize = 256 * 1024;

/// The variables of one script.
#[derive(Default)]
pub struct Scope {
    /// Whether the script required `variables` (else no expansion).
    pub variables: bool,
    pub vars: HashMap<String, String>,
    pub globals: Vec<String>,
    /// `${0}`..`${9}` of the last successful `:matches` / `:regex`.
    pub matched: Vec<String>,
}

pub struct Run<'a> {
    pub ctx: &'a Context<'a>,
    pub msg: MsgView<'a>,
    pub steps: u64,
    pub actions: Vec<Action>,
    pub implicit_keep: bool,
    pub discarded: bool,
    pub redirects: usize,
    /// The imap4flags internal variable.
    pub flags: Vec<String>,
    pub globals: HashMap<String, String>,
    pub rx: RegexCache,
    /// Scripts included so far (for `:once`) and the current include chain.
    pub included: Vec<(String, bool)>,
    pub chain: Vec<(String, bool)>,
    /// Bytes produced by `${...}` expansion since the last charge.
    pub expanded: Cell<u64>,
    /// Included scripts looked up so far, by (name, global); None: not found.
    pub scripts: HashMap<(String, bool), Option<Rc<Script>>>,
}

/// Cuts `s` to at most `max` bytes at a char boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl<'a> Run<'a> {
    pub fn new(ctx: &'a Context<'a>, raw: &'a [u8]) -> Run<'a> {
        Run {
            ctx,
            msg: MsgView::new(raw),
            steps: 0,
            actions: Vec::new(),
            implicit_keep: true,
            discarded: false,
            redirects: 0,
            flags: Vec::new(),
            globals: HashMap::new(),
            rx: RegexCache::default(),
            included: Vec::new(),
            chain: Vec::new(),
            scripts: HashMap::new(),
            expanded: Cell::new(0),
        }
    }

    /// Counts one step; Err past the limit.
    pub fn step(&mut self, n: u64) -> Result<(), Error> {
        self.steps = self
            .steps
            .saturating_add(n)
            .saturating_add(self.expanded.take() / 1024);
        if self.steps > self.ctx.limits.max_steps {
            return Err(Error::runtime(format!(
                "the script ran more than {} steps",
                self.ctx.limits.max_steps
            )));
        }
        Ok(())
    }

    fn is_global(scope: &Scope, name: &str) -> Option<String> {
        if let Some(rest) = name.strip_prefix("global.") {
            return Some(rest.to_string());
        }
        scope
            .globals
            .iter()
            .any(|g| g == name)
            .then(|| name.to_string())
    }

    pub fn get_var(&self, scope: &Scope, name: &str) -> String {
        let name = name.to_ascii_lowercase();
        match Run::is_global(scope, &name) {
            Some(g) => self.globals.get(&g).cloned().unwrap_or_default(),
            None => scope.vars.get(&name).cloned().unwrap_or_default(),
        }
    }

    pub fn set_var(&mut self, scope: &mut Scope, name: &str, value: String) -> Result<(), Error> {
        let value = truncate(value, MAX_VAR_LEN);
        let max = self.ctx.limits.max_variables;
        let map = match Run::is_global(scope, name) {
            Some(g) => {
                let full = self.globals.len() >= max && !self.globals.contains_key(&g);
                if full {
                    return Err(Error::runtime(format!("more than {max} variables")));
                }
                self.globals.insert(g, value);
                return Ok(());
            }
            None => &mut scope.vars,
        };
        if map.len() >= max && !map.contains_key(name) {
            return Err(Error::runtime(format!("more than {max} variables")));
        }
        map.insert(name.to_string(), value);
        Ok(())
    }

    /// Expands `${name}` and `${n}` in `s` when the script uses variables
    /// (RFC 5229 §3): one pass, unknown names give "", malformed references
    /// stay as written.
    pub fn expand(&self, scope: &Scope, s: &str) -> String {
        if !scope.variables || !s.contains("${") {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let name_end = after.find('}');
            let name = name_end.map(|e| &after[..e]);
            match name {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    let i: usize = n.parse().unwrap_or(usize::MAX);
                    out.push_str(scope.matched.get(i).map_or("", String::as_str));
                    rest = &after[n.len() + 1..];
                }
                Some(n) if super::validate::is_var_name(n) => {
                    out.push_str(&self.get_var(scope, n));
                    rest = &after[n.len() + 1..];
                }
                _ => {
                    out.push_str("${");
                    rest = after;
                }
            }
            if out.len() > MAX_EXPANDED {
                self.expanded.set(self.expanded.get() + out.len() as u64);
                return truncate(out, MAX_EXPANDED);
            }
        }
        out.push_str(rest);
        let out = truncate(out, MAX_EXPANDED);
        self.expanded.set(self.expanded.get() + out.len() as u64);
        out
    }

    pub fn expand_all(&self, scope: &Scope, l: &[String]) -> Vec<String> {
        l.iter().map(|s| self.expand(scope, s)).collect()
    }
}

/// Applies `set` modifiers (already in precedence order, RFC 5229 §4.1).
pub fn modify(mut v: String, mods: &[Modifier]) -> String {
    for m in mods {
        v = match m {
            Modifier::Lower => v.to_lowercase(),
            Modifier::Upper => v.to_uppercase(),
            Modifier::LowerFirst | Modifier::UpperFirst => {
                let mut c = v.chars();
                match c.next() {
                    Some(f) if *m == Modifier::LowerFirst => f.to_lowercase().chain(c).collect(),
                    Some(f) => f.to_uppercase().chain(c).collect(),
                    None => v,
                }
            }
            Modifier::QuoteWildcard => {
                let mut o = String::with_capacity(v.len());
                for c in v.chars() {
                    if matches!(c, '*' | '?' | '\\') {
                        o.push('\\');
                    }
                    o.push(c);
                }
                o
            }
            Modifier::QuoteRegex => regex::escape(&v),
            Modifier::Length => v.chars().count().to_string(),
        };
    }
    v
}

/// Splits flag strings into single flags, without repeats (case-insensitive).
pub fn flag_list(l: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in l {
        for f in s.split_whitespace() {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
                out.push(f.to_string());
            }
        }
    }
    out
}
