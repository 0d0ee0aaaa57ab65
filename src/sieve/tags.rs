//! Reading the arguments of one command or test: tagged arguments checked
//! against the table of that command (unknown, repeated, wrong parameter,
//! extension not required are errors), positional arguments typed, and the
//! shared groups (comparator, match type, address part, index) turned into
//! their ir types.

use super::ast::{Arg, ArgKind};
use super::encoded;
use super::error::Error;
use super::ir::{AddrPart, Comparator, Index, Match, MatchKind, Rel};

/// What follows a tag.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum P {
    None,
    Str,
    List,
    Num,
}

/// One allowed tag: its name, its parameter and the extension it needs.
pub struct Spec {
    pub name: &'static str,
    pub p: P,
    pub cap: Option<&'static str>,
}

const fn t(name: &'static str, p: P, cap: Option<&'static str>) -> Spec {
    Spec { name, p, cap }
}

pub const MATCH: &[Spec] = &[
    t("is", P::None, None),
    t("contains", P::None, None),
    t("matches", P::None, None),
    t("regex", P::None, Some("regex")),
    t("count", P::Str, Some("relational")),
    t("value", P::Str, Some("relational")),
    t("comparator", P::Str, None),
];

pub const ADDR: &[Spec] = &[
    t("all", P::None, None),
    t("localpart", P::None, None),
    t("domain", P::None, None),
    t("user", P::None, Some("subaddress")),
    t("detail", P::None, Some("subaddress")),
];

pub const INDEX: &[Spec] = &[
    t("index", P::Num, Some("index")),
    t("last", P::None, Some("index")),
];

/// The extensions a script declared with `require`.
pub struct Ctx {
    pub caps: Vec<String>,
}

impl Ctx {
    pub fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    /// Err unless `cap` was required: "`what` requires require "cap"".
    pub fn need(&self, cap: &str, what: &str, line: u32, col: u32) -> Result<(), Error> {
        if self.has(cap) {
            Ok(())
        } else {
            Err(Error::at(
                line,
                col,
                format!("{what} requires require \"{cap}\""),
            ))
        }
    }

    /// A string argument, its encoded characters decoded when required.
    pub fn decode(&self, s: &str, a: &Arg) -> Result<String, Error> {
        if self.has("encoded-character") {
            encoded::decode(s).map_err(|m| Error::at(a.line, a.col, m))
        } else {
            Ok(s.to_string())
        }
    }

    /// A positional argument that must be a single string.
    pub fn string(&self, a: &Arg, what: &str) -> Result<String, Error> {
        match &a.kind {
            ArgKind::Str(s) => self.decode(s, a),
            _ => Err(Error::at(a.line, a.col, format!("{what} must be a string"))),
        }
    }

    /// A positional argument that is a string or a string list.
    pub fn list(&self, a: &Arg, what: &str) -> Result<Vec<String>, Error> {
        match &a.kind {
            ArgKind::Str(s) => Ok(vec![self.decode(s, a)?]),
            ArgKind::List(l) => l.iter().map(|s| self.decode(s, a)).collect(),
            _ => Err(Error::at(
                a.line,
                a.col,
                format!("{what} must be a string or a string list"),
            )),
        }
    }
}

/// A tag's value.
pub enum Val {
    Flag,
    Str(String),
    List(Vec<String>),
    Num(u64),
}

/// The arguments of one command or test, tags looked up.
pub struct Split<'a> {
    pub tags: Vec<(&'static str, Val, u32, u32)>,
    pub pos: Vec<&'a Arg>,
}

/// Splits `args` of `what` into known tags and positional arguments.
pub fn split<'a>(
    ctx: &Ctx,
    what: &str,
    args: &'a [Arg],
    specs: &[&[Spec]],
) -> Result<Split<'a>, Error> {
    let mut out = Split {
        tags: Vec::new(),
        pos: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let ArgKind::Tag(name) = &a.kind else {
            out.pos.push(a);
            continue;
        };
        let Some(spec) = specs.iter().flat_map(|s| s.iter()).find(|s| s.name == name) else {
            return Err(Error::at(
                a.line,
                a.col,
                format!("unknown tag :{name} for {what}"),
            ));
        };
        if let Some(cap) = spec.cap {
            ctx.need(cap, &format!(":{name}"), a.line, a.col)?;
        }
        if out.tags.iter().any(|t| t.0 == spec.name) {
            return Err(Error::at(a.line, a.col, format!(":{name} given twice")));
        }
        let missing = || Error::at(a.line, a.col, format!(":{name} needs a parameter"));
        let val = match spec.p {
            P::None => Val::Flag,
            P::Str => Val::Str(ctx.string(it.next().ok_or_else(missing)?, &format!(":{name}"))?),
            P::List => Val::List(ctx.list(it.next().ok_or_else(missing)?, &format!(":{name}"))?),
            P::Num => match it.next().map(|a| &a.kind) {
                Some(ArgKind::Num(n)) => Val::Num(*n),
                _ => return Err(Error::at(a.line, a.col, format!(":{name} needs a number"))),
            },
        };
        out.tags.push((spec.name, val, a.line, a.col));
    }
    Ok(out)
}

impl Split<'_> {
    pub fn has(&self, name: &str) -> bool {
        self.tags.iter().any(|t| t.0 == name)
    }

    pub fn str(&self, name: &str) -> Option<String> {
        self.tags.iter().find_map(|t| match &t.1 {
            Val::Str(s) if t.0 == name => Some(s.clone()),
            _ => None,
        })
    }

    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.tags.iter().find_map(|t| match &t.1 {
            Val::List(s) if t.0 == name => Some(s.clone()),
            _ => None,
        })
    }

    pub fn num(&self, name: &str) -> Option<u64> {
        self.tags.iter().find_map(|t| match &t.1 {
            Val::Num(n) if t.0 == name => Some(*n),
            _ => None,
        })
    }

    fn place(&self, name: &str) -> (u32, u32) {
        self.tags
            .iter()
            .find(|t| t.0 == name)
            .map_or((0, 0), |t| (t.2, t.3))
    }

    /// The one tag of `group` given, if any; two of them are an error.
    pub fn one_of(&self, group: &[&'static str]) -> Result<Option<&'static str>, Error> {
        let given: Vec<_> = self.tags.iter().filter(|t| group.contains(&t.0)).collect();
        match given.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.0)),
            [_, second, ..] => Err(Error::at(
                second.2,
                second.3,
                format!(":{} and :{} cannot be used together", given[0].0, second.0),
            )),
        }
    }

    /// Exactly `n` positional arguments, else an error naming `what`.
    pub fn positional(&self, n: usize, what: &str, line: u32, col: u32) -> Result<(), Error> {
        if self.pos.len() == n {
            return Ok(());
        }
        let (l, c) = self.pos.get(n).map_or((line, col), |a| (a.line, a.col));
        Err(Error::at(
            l,
            c,
            format!(
                "{what} takes {n} positional argument{}, found {}",
                if n == 1 { "" } else { "s" },
                self.pos.len()
            ),
        ))
    }

    /// The comparator and match type (RFC 5228 §2.7, RFC 5231).
    pub fn matching(&self, ctx: &Ctx) -> Result<Match, Error> {
        let cmp = match self.str("comparator") {
            None => Comparator::AsciiCasemap,
            Some(c) => match c.to_ascii_lowercase().as_str() {
                "i;octet" => Comparator::Octet,
                "i;ascii-casemap" => Comparator::AsciiCasemap,
                "i;ascii-numeric" => {
                    let (l, c) = self.place("comparator");
                    ctx.need(
                        "comparator-i;ascii-numeric",
                        "comparator i;ascii-numeric",
                        l,
                        c,
                    )?;
                    Comparator::AsciiNumeric
                }
                other => {
                    let (l, c) = self.place("comparator");
                    return Err(Error::at(l, c, format!("unknown comparator \"{other}\"")));
                }
            },
        };
        let group = ["is", "contains", "matches", "regex", "count", "value"];
        let kind = match self.one_of(&group)? {
            None | Some("is") => MatchKind::Is,
            Some("contains") => MatchKind::Contains,
            Some("matches") => MatchKind::Matches,
            Some("regex") => MatchKind::Regex,
            Some(tag) => {
                let r = self.str(tag).unwrap_or_default();
                let rel = match r.to_ascii_lowercase().as_str() {
                    "gt" => Rel::Gt,
                    "ge" => Rel::Ge,
                    "lt" => Rel::Lt,
                    "le" => Rel::Le,
                    "eq" => Rel::Eq,
                    "ne" => Rel::Ne,
                    _ => {
                        let (l, c) = self.place(tag);
                        return Err(Error::at(
                            l,
                            c,
                            format!("unknown relation \"{r}\" (gt, ge, lt, le, eq, ne)"),
                        ));
                    }
                };
                if tag == "count" {
                    MatchKind::Count(rel)
                } else {
                    MatchKind::Value(rel)
                }
            }
        };
        if cmp == Comparator::AsciiNumeric
            && matches!(
                kind,
                MatchKind::Contains | MatchKind::Matches | MatchKind::Regex
            )
        {
            let (l, c) = self.place("comparator");
            return Err(Error::at(
                l,
                c,
                "comparator i;ascii-numeric only supports :is, :count and :value",
            ));
        }
        Ok(Match { cmp, kind })
    }

    pub fn addr_part(&self) -> Result<AddrPart, Error> {
        Ok(
            match self.one_of(&["all", "localpart", "domain", "user", "detail"])? {
                Some("localpart") => AddrPart::Local,
                Some("domain") => AddrPart::Domain,
                Some("user") => AddrPart::User,
                Some("detail") => AddrPart::Detail,
                _ => AddrPart::All,
            },
        )
    }

    pub fn index(&self) -> Result<Option<Index>, Error> {
        match self.num("index") {
            Some(0) => {
                let (l, c) = self.place("index");
                Err(Error::at(l, c, ":index counts from 1"))
            }
            Some(n) => Ok(Some(Index {
                n,
                last: self.has("last"),
            })),
            None if self.has("last") => {
                let (l, c) = self.place("last");
                Err(Error::at(l, c, ":last needs :index"))
            }
            None => Ok(None),
        }
    }
}
