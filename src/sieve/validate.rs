//! From the syntax tree to a checked script (RFC 5228 §3, §4, §8.2 and the
//! extensions): `require` first and only known extensions, every command and
//! tag known and declared, argument counts and types right, `elsif`/`else`
//! only after `if`. Tests are checked in validate_test.rs.

use super::ast::{self, ArgKind};
use super::error::Error;
use super::ir::{Cmd, FlagOp, Modifier, Stmt, VacationArgs};
use super::tags::{split, Ctx, Spec, P};
use super::validate_test::test;

/// The extensions this interpreter supports (the `require` names).
pub const EXTENSIONS: &[&str] = &[
    "fileinto",
    "envelope",
    "encoded-character",
    "imap4flags",
    "copy",
    "mailbox",
    "reject",
    "ereject",
    "variables",
    "relational",
    "comparator-i;ascii-numeric",
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
    "subaddress",
    "body",
    "date",
    "index",
    "regex",
    "include",
    "vacation",
    "vacation-seconds",
];

/// Checks a parsed script; returns its commands and its required extensions.
pub fn validate(cmds: &[ast::Command]) -> Result<(Vec<Stmt>, Vec<String>), Error> {
    let mut ctx = Ctx { caps: Vec::new() };
    let mut start = 0;
    for c in cmds {
        if c.name != "require" {
            break;
        }
        start += 1;
        if c.block.is_some() || !c.tests.is_empty() || c.args.len() != 1 {
            return Err(Error::at(c.line, c.col, "require takes one string list"));
        }
        for cap in ctx.list(&c.args[0], "require")? {
            let cap = cap.to_ascii_lowercase();
            if !EXTENSIONS.contains(&cap.as_str()) {
                return Err(Error::at(
                    c.line,
                    c.col,
                    format!("unsupported extension \"{cap}\""),
                ));
            }
            if !ctx.has(&cap) {
                ctx.caps.push(cap);
            }
        }
    }
    if ctx.has("vacation-seconds") && !ctx.has("vacation") {
        ctx.caps.push("vacation".into());
    }
    Ok((block(&ctx, &cmds[start..])?, ctx.caps))
}

/// The names in the leading `require` commands that are not in `EXTENSIONS`
/// (lower-cased, in order).
pub fn unsupported(cmds: &[ast::Command]) -> Vec<String> {
    let mut out = Vec::new();
    for c in cmds.iter().take_while(|c| c.name == "require") {
        for a in &c.args {
            let names = match &a.kind {
                ArgKind::Str(s) => std::slice::from_ref(s),
                ArgKind::List(l) => l.as_slice(),
                _ => &[],
            };
            for n in names {
                let n = n.to_ascii_lowercase();
                if !EXTENSIONS.contains(&n.as_str()) && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out
}

fn block(ctx: &Ctx, cmds: &[ast::Command]) -> Result<Vec<Stmt>, Error> {
    let mut out = Vec::with_capacity(cmds.len());
    let mut i = 0;
    while i < cmds.len() {
        let c = &cmds[i];
        i += 1;
        let cmd = match c.name.as_str() {
            "if" => {
                let mut branches = vec![(cond(ctx, c)?, body(ctx, c)?)];
                let mut other = None;
                while let Some(n) = cmds.get(i) {
                    match n.name.as_str() {
                        "elsif" => branches.push((cond(ctx, n)?, body(ctx, n)?)),
                        "else" => {
                            no_args(n)?;
                            other = Some(body(ctx, n)?);
                            i += 1;
                            break;
                        }
                        _ => break,
                    }
                    i += 1;
                }
                Cmd::If(branches, other)
            }
            "elsif" | "else" => {
                return Err(Error::at(
                    c.line,
                    c.col,
                    format!("{} without a preceding if", c.name),
                ))
            }
            "require" => {
                return Err(Error::at(
                    c.line,
                    c.col,
                    "require must come before all other commands",
                ))
            }
            _ => {
                if c.block.is_some() {
                    return Err(Error::at(
                        c.line,
                        c.col,
                        format!("{} takes no block", c.name),
                    ));
                }
                if let Some(t) = c.tests.first() {
                    return Err(Error::at(
                        t.line,
                        t.col,
                        format!("{} takes no test", c.name),
                    ));
                }
                simple(ctx, c)?
            }
        };
        out.push(Stmt {
            line: c.line,
            col: c.col,
            cmd,
        });
    }
    Ok(out)
}

fn no_args(c: &ast::Command) -> Result<(), Error> {
    if let Some(a) = c.args.first() {
        return Err(Error::at(
            a.line,
            a.col,
            format!("{} takes no arguments", c.name),
        ));
    }
    if let Some(t) = c.tests.first() {
        return Err(Error::at(
            t.line,
            t.col,
            format!("{} takes no test", c.name),
        ));
    }
    Ok(())
}

fn cond(ctx: &Ctx, c: &ast::Command) -> Result<super::ir::Test, Error> {
    if c.block.is_none() {
        return Err(Error::at(
            c.line,
            c.col,
            format!("{} needs a block", c.name),
        ));
    }
    if let Some(a) = c.args.first() {
        return Err(Error::at(
            a.line,
            a.col,
            format!("{} takes a test, not arguments", c.name),
        ));
    }
    if c.tests.len() != 1 || c.test_list {
        return Err(Error::at(
            c.line,
            c.col,
            format!(
                "{} takes exactly one test (use allof or anyof to combine)",
                c.name
            ),
        ));
    }
    test(ctx, &c.tests[0])
}

fn body(ctx: &Ctx, c: &ast::Command) -> Result<Vec<Stmt>, Error> {
    match &c.block {
        Some(b) => block(ctx, b),
        None => Err(Error::at(
            c.line,
            c.col,
            format!("{} needs a block", c.name),
        )),
    }
}

const FLAGS: &[Spec] = &[Spec {
    name: "flags",
    p: P::List,
    cap: Some("imap4flags"),
}];

const FILEINTO: &[Spec] = &[
    Spec {
        name: "copy",
        p: P::None,
        cap: Some("copy"),
    },
    Spec {
        name: "create",
        p: P::None,
        cap: Some("mailbox"),
    },
];

const SET: &[Spec] = &[
    Spec {
        name: "lower",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "upper",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "lowerfirst",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "upperfirst",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "quotewildcard",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "quoteregex",
        p: P::None,
        cap: Some("regex"),
    },
    Spec {
        name: "length",
        p: P::None,
        cap: None,
    },
];

const VACATION: &[Spec] = &[
    Spec {
        name: "days",
        p: P::Num,
        cap: None,
    },
    Spec {
        name: "seconds",
        p: P::Num,
        cap: Some("vacation-seconds"),
    },
    Spec {
        name: "subject",
        p: P::Str,
        cap: None,
    },
    Spec {
        name: "from",
        p: P::Str,
        cap: None,
    },
    Spec {
        name: "addresses",
        p: P::List,
        cap: None,
    },
    Spec {
        name: "mime",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "handle",
        p: P::Str,
        cap: None,
    },
];

const INCLUDE: &[Spec] = &[
    Spec {
        name: "personal",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "global",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "once",
        p: P::None,
        cap: None,
    },
    Spec {
        name: "optional",
        p: P::None,
        cap: None,
    },
];

/// Whether `name` is a variable name of RFC 5229 §3 (`a.b` for namespaces).
pub fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|p| {
            p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Whether a constant address is plausible for redirect (`local@domain`).
pub fn is_address(a: &str) -> bool {
    let a = a.trim();
    match a.rsplit_once('@') {
        Some((l, d)) => {
            !l.is_empty()
                && !d.is_empty()
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>,;".contains(c))
        }
        None => false,
    }
}

fn simple(ctx: &Ctx, c: &ast::Command) -> Result<Cmd, Error> {
    let (l, col) = (c.line, c.col);
    let name = c.name.as_str();
    let need = |cap: &str| ctx.need(cap, name, l, col);
    Ok(match name {
        "stop" | "discard" | "return" => {
            if name == "return" {
                need("include")?;
            }
            split(ctx, name, &c.args, &[])?.positional(0, name, l, col)?;
            match name {
                "stop" => Cmd::Stop,
                "discard" => Cmd::Discard,
                _ => Cmd::Return,
            }
        }
        "keep" => {
            let s = split(ctx, name, &c.args, &[FLAGS])?;
            s.positional(0, name, l, col)?;
            Cmd::Keep {
                flags: s.list("flags"),
            }
        }
        "fileinto" => {
            need("fileinto")?;
            let s = split(ctx, name, &c.args, &[FLAGS, FILEINTO])?;
            s.positional(1, name, l, col)?;
            Cmd::FileInto {
                mailbox: ctx.string(s.pos[0], "the mailbox")?,
                flags: s.list("flags"),
                copy: s.has("copy"),
                create: s.has("create"),
            }
        }
        "redirect" => {
            let s = split(ctx, name, &c.args, &[&FILEINTO[..1]])?;
            s.positional(1, name, l, col)?;
            let address = ctx.string(s.pos[0], "the address")?;
            let dynamic = ctx.has("variables") && address.contains("${");
            if !dynamic && !is_address(&address) {
                let a = s.pos[0];
                return Err(Error::at(
                    a.line,
                    a.col,
                    format!("redirect: \"{address}\" is not a valid address"),
                ));
            }
            Cmd::Redirect {
                address,
                copy: s.has("copy"),
            }
        }
        "reject" | "ereject" => {
            need(name)?;
            let s = split(ctx, name, &c.args, &[])?;
            s.positional(1, name, l, col)?;
            Cmd::Reject {
                reason: ctx.string(s.pos[0], "the reason")?,
                extended: name == "ereject",
            }
        }
        "setflag" | "addflag" | "removeflag" => {
            need("imap4flags")?;
            let s = split(ctx, name, &c.args, &[])?;
            let var = match s.pos.len() {
                2 => {
                    ctx.need("variables", &format!("{name} with a variable name"), l, col)?;
                    Some(var_name(ctx, s.pos[0])?)
                }
                _ => {
                    s.positional(1, name, l, col)?;
                    None
                }
            };
            let op = match name {
                "setflag" => FlagOp::Set,
                "addflag" => FlagOp::Add,
                _ => FlagOp::Remove,
            };
            let flags = ctx.list(s.pos[s.pos.len() - 1], "the flags")?;
            Cmd::Flags { op, var, flags }
        }
        "set" => {
            need("variables")?;
            let s = split(ctx, name, &c.args, &[SET])?;
            s.positional(2, name, l, col)?;
            let mut mods = Vec::new();
            for group in [
                &["lower", "upper"][..],
                &["lowerfirst", "upperfirst"],
                &["quotewildcard", "quoteregex"],
                &["length"],
            ] {
                if let Some(m) = s.one_of(group)? {
                    mods.push(match m {
                        "lower" => Modifier::Lower,
                        "upper" => Modifier::Upper,
                        "lowerfirst" => Modifier::LowerFirst,
                        "upperfirst" => Modifier::UpperFirst,
                        "quotewildcard" => Modifier::QuoteWildcard,
                        "quoteregex" => Modifier::QuoteRegex,
                        _ => Modifier::Length,
                    });
                }
            }
            Cmd::Set {
                name: var_name(ctx, s.pos[0])?,
                value: ctx.string(s.pos[1], "the value")?,
                mods,
            }
        }
        "vacation" => {
            need("vacation")?;
            let s = split(ctx, name, &c.args, &[VACATION])?;
            s.one_of(&["days", "seconds"])?;
            s.positional(1, name, l, col)?;
            Cmd::Vacation(Box::new(VacationArgs {
                days: s.num("days"),
                seconds: s.num("seconds"),
                subject: s.str("subject"),
                from: s.str("from"),
                addresses: s.list("addresses").unwrap_or_default(),
                mime: s.has("mime"),
                handle: s.str("handle"),
                reason: ctx.string(s.pos[0], "the reason")?,
            }))
        }
        "include" => {
            need("include")?;
            let s = split(ctx, name, &c.args, &[INCLUDE])?;
            let global = s.one_of(&["personal", "global"])? == Some("global");
            s.positional(1, name, l, col)?;
            let script = ctx.string(s.pos[0], "the script name")?;
            if script.is_empty() || script.contains('/') || script.chars().any(char::is_control) {
                let a = s.pos[0];
                return Err(Error::at(a.line, a.col, "include: invalid script name"));
            }
            Cmd::Include {
                name: script,
                global,
                once: s.has("once"),
                optional: s.has("optional"),
            }
        }
        "global" => {
            need("include")?;
            need("variables")?;
            let s = split(ctx, name, &c.args, &[])?;
            s.positional(1, name, l, col)?;
            let mut names = Vec::new();
            for n in ctx.list(s.pos[0], "the variable names")? {
                if !is_var_name(&n) || n.contains('.') {
                    let a = s.pos[0];
                    return Err(Error::at(
                        a.line,
                        a.col,
                        format!("invalid variable name \"{n}\""),
                    ));
                }
                names.push(n.to_ascii_lowercase());
            }
            Cmd::Global(names)
        }
        _ => return Err(Error::at(l, col, format!("unknown command \"{name}\""))),
    })
}

/// A variable name argument (lower-cased).
fn var_name(ctx: &Ctx, a: &ast::Arg) -> Result<String, Error> {
    let n = ctx.string(a, "the variable name")?;
    let ok = is_var_name(&n) && (!n.contains('.') || n.to_ascii_lowercase().starts_with("global."));
    if !ok || matches!(a.kind, ArgKind::List(_)) {
        return Err(Error::at(
            a.line,
            a.col,
            format!("invalid variable name \"{n}\""),
        ));
    }
    Ok(n.to_ascii_lowercase())
}
