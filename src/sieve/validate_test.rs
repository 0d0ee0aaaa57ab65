//! Checking the tests of a script (RFC 5228 §5 and the extensions' tests) and
//! turning them into ir::Test. Recursion follows the syntax tree, whose depth
//! the parser bounds.

use super::ast::{self, ArgKind};
use super::error::Error;
use super::ir::{BodyTransform, MatchKind, Test, Zone};
use super::tags::{split, Ctx, Spec, Split, ADDR, INDEX, MATCH, P};

const SIZE: &[Spec] = &[
    Spec {
        name: "over",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "under",
        p: P::None,
        cap: None,
    },
];

const BODY: &[Spec] = &[
    Spec {
        name: "raw",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "text",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "content",
        p: P::List,
        cap: None,
    },
];

const ZONE: &[Spec] = &[
    Spec {
        name: "zone",
        p: P::Str,
        cap: None,
    },
    Spec {
        name: "originalzone",
        p: P::None,
        cap: None,
    },
];

/// The date parts of RFC 5260 §4.2.
pub const DATE_PARTS: &[&str] = &[
    "year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601",
    "std11", "zone", "weekday",
];

/// Parses `+hhmm` / `-hhmm` into minutes east of UTC.
pub fn parse_zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if b.len() != 5 || !matches!(b[0], b'+' | b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |i: usize| i32::from(b[i] - b'0');
    let (h, m) = (n(1) * 10 + n(2), n(3) * 10 + n(4));
    if h > 23 || m > 59 {
        return None;
    }
    Some(if b[0] == b'-' {
        -(h * 60 + m)
    } else {
        h * 60 + m
    })
}

/// Checks one test and its sub-tests.
pub fn test(ctx: &Ctx, t: &ast::Test) -> Result<Test, Error> {
    let (l, c) = (t.line, t.col);
    let name = t.name.as_str();
    match name {
        "not" | "allof" | "anyof" => {
            if let Some(a) = t.args.first() {
                return Err(Error::at(
                    a.line,
                    a.col,
                    format!("{name} takes no arguments"),
                ));
            }
            if name == "not" {
                if t.tests.len() != 1 || t.test_list {
                    return Err(Error::at(l, c, "not takes exactly one test"));
                }
                return Ok(Test::Not(Box::new(test(ctx, &t.tests[0])?)));
            }
            if !t.test_list {
                return Err(Error::at(
                    l,
                    c,
                    format!("{name} takes a test list: {name}(...)"),
                ));
            }
            let tests = t
                .tests
                .iter()
                .map(|x| test(ctx, x))
                .collect::<Result<_, _>>()?;
            return Ok(if name == "allof" {
                Test::AllOf(tests)
            } else {
                Test::AnyOf(tests)
            });
        }
        _ => {}
    }
    if let Some(x) = t.tests.first() {
        return Err(Error::at(x.line, x.col, format!("{name} takes no test")));
    }
    let need = |cap: &str| ctx.need(cap, name, l, c);
    let keys = |s: &Split, i: usize, what: &str| ctx.list(s.pos[i], what);
    Ok(match name {
        "true" | "false" => {
            split(ctx, name, &t.args, &[])?.positional(0, name, l, c)?;
            if name == "true" {
                Test::True
            } else {
                Test::False
            }
        }
        "address" => {
            let s = split(ctx, name, &t.args, &[MATCH, ADDR, INDEX])?;
            s.positional(2, name, l, c)?;
            let m = s.matching(ctx)?;
            let headers = header_names(ctx, &s, 0)?;
            Test::Address {
                part: s.addr_part()?,
                index: s.index()?,
                keys: checked_keys(ctx, &s, 1, m.kind)?,
                m,
                headers,
            }
        }
        "envelope" => {
            need("envelope")?;
            let s = split(ctx, name, &t.args, &[MATCH, ADDR])?;
            s.positional(2, name, l, c)?;
            let m = s.matching(ctx)?;
            let mut fields = Vec::new();
            for f in keys(&s, 0, "the envelope parts")? {
                let f = f.to_ascii_lowercase();
                if f != "from" && f != "to" && !f.contains("${") {
                    let a = s.pos[0];
                    return Err(Error::at(
                        a.line,
                        a.col,
                        format!("unsupported envelope part \"{f}\" (from, to)"),
                    ));
                }
                fields.push(f);
            }
            Test::Envelope {
                part: s.addr_part()?,
                keys: checked_keys(ctx, &s, 1, m.kind)?,
                m,
                fields,
            }
        }
        "header" => {
            let s = split(ctx, name, &t.args, &[MATCH, INDEX])?;
            s.positional(2, name, l, c)?;
            let m = s.matching(ctx)?;
            Test::Header {
                index: s.index()?,
                headers: header_names(ctx, &s, 0)?,
                keys: checked_keys(ctx, &s, 1, m.kind)?,
                m,
            }
        }
        "exists" => {
            let s = split(ctx, name, &t.args, &[])?;
            s.positional(1, name, l, c)?;
            Test::Exists(header_names(ctx, &s, 0)?)
        }
        "size" => {
            let s = split(ctx, name, &t.args, &[SIZE])?;
            let Some(which) = s.one_of(&["over", "under"])? else {
                return Err(Error::at(l, c, "size needs :over or :under"));
            };
            s.positional(1, name, l, c)?;
            let ArgKind::Num(limit) = s.pos[0].kind else {
                let a = s.pos[0];
                return Err(Error::at(a.line, a.col, "size needs a number"));
            };
            Test::Size {
                over: which == "over",
                limit,
            }
        }
        "hasflag" => {
            need("imap4flags")?;
            let s = split(ctx, name, &t.args, &[MATCH])?;
            let m = s.matching(ctx)?;
            let vars = match s.pos.len() {
                2 => {
                    ctx.need("variables", "hasflag with variable names", l, c)?;
                    keys(&s, 0, "the variable names")?
                        .into_iter()
                        .map(|v| v.to_ascii_lowercase())
                        .collect()
                }
                _ => {
                    s.positional(1, name, l, c)?;
                    Vec::new()
                }
            };
            let last = s.pos.len() - 1;
            Test::HasFlag {
                keys: checked_keys(ctx, &s, last, m.kind)?,
                m,
                vars,
            }
        }
        "mailboxexists" => {
            need("mailbox")?;
            let s = split(ctx, name, &t.args, &[])?;
            s.positional(1, name, l, c)?;
            Test::MailboxExists(keys(&s, 0, "the mailbox names")?)
        }
        "string" => {
            need("variables")?;
            let s = split(ctx, name, &t.args, &[MATCH])?;
            s.positional(2, name, l, c)?;
            let m = s.matching(ctx)?;
            Test::String {
                sources: keys(&s, 0, "the source strings")?,
                keys: checked_keys(ctx, &s, 1, m.kind)?,
                m,
            }
        }
        "body" => {
            need("body")?;
            let s = split(ctx, name, &t.args, &[MATCH, BODY])?;
            s.positional(1, name, l, c)?;
            let m = s.matching(ctx)?;
            let transform = match s.one_of(&["raw", "text", "content"])? {
                Some("raw") => BodyTransform::Raw,
                Some("content") => BodyTransform::Content(
                    s.list("content")
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| t.to_ascii_lowercase())
                        .collect(),
                ),
                _ => BodyTransform::Text,
            };
            Test::Body {
                keys: checked_keys(ctx, &s, 0, m.kind)?,
                m,
                transform,
            }
        }
        "date" | "currentdate" => {
            need("date")?;
            let zone_specs: &[Spec] = if name == "date" { ZONE } else { &ZONE[..1] };
            let extra: &[Spec] = if name == "date" { INDEX } else { &[] };
            let s = split(ctx, name, &t.args, &[MATCH, zone_specs, extra])?;
            let n = if name == "date" { 3 } else { 2 };
            s.positional(n, name, l, c)?;
            let m = s.matching(ctx)?;
            let zone = match s.one_of(&["zone", "originalzone"])? {
                Some("zone") => {
                    let z = s.str("zone").unwrap_or_default();
                    Zone::Given(parse_zone(&z).ok_or_else(|| {
                        Error::at(l, c, format!("invalid :zone \"{z}\" (use +hhmm or -hhmm)"))
                    })?)
                }
                Some(_) => Zone::Original,
                None => Zone::Local,
            };
            let part_arg = s.pos[n - 2];
            let part = ctx.string(part_arg, "the date part")?.to_ascii_lowercase();
            if !DATE_PARTS.contains(&part.as_str()) {
                return Err(Error::at(
                    part_arg.line,
                    part_arg.col,
                    format!("unknown date part \"{part}\""),
                ));
            }
            let keys = checked_keys(ctx, &s, n - 1, m.kind)?;
            if name == "date" {
                Test::Date {
                    m,
                    zone,
                    index: s.index()?,
                    header: ctx.string(s.pos[0], "the header name")?,
                    part,
                    keys,
                }
            } else {
                Test::CurrentDate {
                    m,
                    zone,
                    part,
                    keys,
                }
            }
        }
        _ => return Err(Error::at(l, c, format!("unknown test \"{name}\""))),
    })
}

/// Header names (RFC 5322 field names: printable ASCII without ':').
fn header_names(ctx: &Ctx, s: &Split, i: usize) -> Result<Vec<String>, Error> {
    let names = ctx.list(s.pos[i], "the header names")?;
    for n in &names {
        let dynamic = ctx.has("variables") && n.contains("${");
        if !dynamic && (n.is_empty() || !n.chars().all(|c| c.is_ascii_graphic() && c != ':')) {
            let a = s.pos[i];
            return Err(Error::at(
                a.line,
                a.col,
                format!("invalid header name \"{n}\""),
            ));
        }
    }
    Ok(names)
}

/// The key list; with `:regex`, constant keys must compile.
fn checked_keys(ctx: &Ctx, s: &Split, i: usize, kind: MatchKind) -> Result<Vec<String>, Error> {
    let keys = ctx.list(s.pos[i], "the key list")?;
    if kind == MatchKind::Regex {
        for k in &keys {
            if ctx.has("variables") && k.contains("${") {
                continue;
            }
            if let Err(e) = regex::RegexBuilder::new(k).size_limit(1 << 20).build() {
                let a = s.pos[i];
                let first = e.to_string().lines().last().unwrap_or("").to_string();
                return Err(Error::at(
                    a.line,
                    a.col,
                    format!("invalid regex \"{k}\": {first}"),
                ));
            }
        }
    }
    Ok(keys)
}
