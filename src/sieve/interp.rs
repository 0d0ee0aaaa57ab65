//! Running a checked script: commands in order, `stop` and `return`, the
//! implicit keep of RFC 5228 §4 (cancelled by `fileinto`, `redirect`,
//! `discard`, `reject` unless `:copy`), duplicate deliveries merged, limits on
//! steps, redirects, actions and include depth. Every failure is an Err; the
//! caller then keeps the message in INBOX.

use std::rc::Rc;

use super::action::{Action, Context, Vacation};
use super::error::Error;
use super::eval::eval;
use super::ir::{Cmd, FlagOp, Script, Stmt};
use super::state::{flag_list, modify, Run, Scope};
use super::validate::is_address;

/// How a block ended.
enum Flow {
    Next,
    Stop,
    Return,
}

/// Compiles `src` with `limits` (size, nesting).
pub fn compile(src: &[u8], limits: &super::action::Limits) -> Result<Script, Error> {
    if src.len() > limits.max_script_size {
        return Err(Error::runtime(format!(
            "the script is larger than {} bytes",
            limits.max_script_size
        )));
    }
    let toks = super::lexer::lex(src)?;
    let tree = super::parser::parse(&toks, limits.max_depth)?;
    let (cmds, extensions) = super::validate::validate(&tree)?;
    Ok(Script { cmds, extensions })
}

/// Runs `script` on the message `raw`; the actions to take, in order.
pub fn run(script: &Script, raw: &[u8], ctx: &Context) -> Result<Vec<Action>, Error> {
    let mut r = Run::new(ctx, raw);
    let mut scope = new_scope(script);
    exec(&mut r, &mut scope, &script.cmds)?;
    finish(r)
}

fn new_scope(script: &Script) -> Scope {
    Scope {
        variables: script.extensions.iter().any(|e| e == "variables"),
        ..Scope::default()
    }
}

fn finish(mut r: Run) -> Result<Vec<Action>, Error> {
    if r.implicit_keep {
        let flags = r.flags.clone();
        push_keep(&mut r, flags)?;
    }
    // fileinto "INBOX" and keep store once (RFC 5228 §2.10.3).
    let inbox = |a: &Action| matches!(a, Action::FileInto { mailbox, .. } if mailbox.eq_ignore_ascii_case("INBOX"));
    let has_keep = r.actions.iter().any(|a| matches!(a, Action::Keep { .. }));
    if let Some(Action::FileInto { flags, .. }) = r.actions.iter().find(|a| inbox(a)).cloned() {
        if has_keep {
            r.actions.retain(|a| !inbox(a));
            if let Some(Action::Keep { flags: f }) = r
                .actions
                .iter_mut()
                .find(|a| matches!(a, Action::Keep { .. }))
            {
                *f = flag_list(&[f.clone(), flags].concat());
            }
        }
    }
    let rejected = r.actions.iter().any(|a| matches!(a, Action::Reject { .. }));
    let stored = r
        .actions
        .iter()
        .any(|a| matches!(a, Action::Keep { .. } | Action::FileInto { .. }));
    if rejected && stored {
        return Err(Error::runtime(
            "reject cannot be combined with keep or fileinto",
        ));
    }
    if r.discarded && !stored {
        r.actions.push(Action::Discard);
    }
    Ok(r.actions)
}

fn push_keep(r: &mut Run, flags: Vec<String>) -> Result<(), Error> {
    if let Some(Action::Keep { flags: f }) = r
        .actions
        .iter_mut()
        .find(|a| matches!(a, Action::Keep { .. }))
    {
        *f = flags;
        return Ok(());
    }
    push(r, Action::Keep { flags })
}

fn push(r: &mut Run, a: Action) -> Result<(), Error> {
    if r.actions.len() >= r.ctx.limits.max_actions {
        return Err(Error::runtime(format!(
            "more than {} actions",
            r.ctx.limits.max_actions
        )));
    }
    r.actions.push(a);
    Ok(())
}

fn exec(r: &mut Run, scope: &mut Scope, cmds: &[Stmt]) -> Result<Flow, Error> {
    for s in cmds {
        r.step(1)?;
        let flow = one(r, scope, s).map_err(|mut e| {
            if e.line == 0 {
                e.line = s.line;
                e.column = s.col;
            }
            e
        })?;
        if !matches!(flow, Flow::Next) {
            return Ok(flow);
        }
    }
    Ok(Flow::Next)
}

fn one(r: &mut Run, scope: &mut Scope, s: &Stmt) -> Result<Flow, Error> {
    match &s.cmd {
        Cmd::If(branches, other) => {
            for (t, body) in branches {
                if eval(r, scope, t)? {
                    return exec(r, scope, body);
                }
            }
            if let Some(body) = other {
                return exec(r, scope, body);
            }
        }
        Cmd::Stop => return Ok(Flow::Stop),
        Cmd::Return => return Ok(Flow::Return),
        Cmd::Keep { flags } => {
            let flags = match flags {
                Some(f) => flag_list(&r.expand_all(scope, f)),
                None => r.flags.clone(),
            };
            r.implicit_keep = false;
            push_keep(r, flags)?;
        }
        Cmd::Discard => {
            r.implicit_keep = false;
            r.discarded = true;
        }
        Cmd::FileInto {
            mailbox,
            flags,
            copy,
            create,
        } => {
            let mailbox = r.expand(scope, mailbox);
            if mailbox.is_empty() || mailbox.chars().any(char::is_control) {
                return Err(Error::runtime(format!(
                    "fileinto: invalid mailbox name \"{mailbox}\""
                )));
            }
            let flags = match flags {
                Some(f) => flag_list(&r.expand_all(scope, f)),
                None => r.flags.clone(),
            };
            if !copy {
                r.implicit_keep = false;
            }
            let dup = r.actions.iter_mut().find_map(|a| match a {
                Action::FileInto {
                    mailbox: m,
                    flags: f,
                    create: c,
                } if *m == mailbox => Some((f, c)),
                _ => None,
            });
            match dup {
                Some((f, c)) => {
                    *f = flags;
                    *c |= *create;
                }
                None => push(
                    r,
                    Action::FileInto {
                        mailbox,
                        flags,
                        create: *create,
                    },
                )?,
            }
        }
        Cmd::Redirect { address, copy } => {
            let address = r.expand(scope, address).trim().to_string();
            if !is_address(&address) {
                return Err(Error::runtime(format!(
                    "redirect: \"{address}\" is not a valid address"
                )));
            }
            if !copy {
                r.implicit_keep = false;
            }
            let dup = r.actions.iter().any(|a| {
                matches!(a, Action::Redirect { address: x, .. } if x.eq_ignore_ascii_case(&address))
            });
            if !dup {
                r.redirects += 1;
                if r.redirects > r.ctx.limits.max_redirects {
                    return Err(Error::runtime(format!(
                        "more than {} redirects",
                        r.ctx.limits.max_redirects
                    )));
                }
                push(
                    r,
                    Action::Redirect {
                        address,
                        copy: *copy,
                    },
                )?;
            }
        }
        Cmd::Reject { reason, extended } => {
            if r.actions.iter().any(|a| matches!(a, Action::Reject { .. })) {
                return Err(Error::runtime("reject or ereject ran twice"));
            }
            if r.actions.iter().any(|a| matches!(a, Action::Vacation(_))) {
                return Err(Error::runtime("reject cannot be combined with vacation"));
            }
            r.implicit_keep = false;
            let reason = r.expand(scope, reason);
            push(
                r,
                Action::Reject {
                    reason,
                    extended: *extended,
                },
            )?;
        }
        Cmd::Flags { op, var, flags } => {
            let given = flag_list(&r.expand_all(scope, flags));
            let current = match var {
                Some(v) => flag_list(&[r.get_var(scope, v)]),
                None => r.flags.clone(),
            };
            let new = match op {
                FlagOp::Set => given,
                FlagOp::Add => flag_list(&[current, given].concat()),
                FlagOp::Remove => current
                    .into_iter()
                    .filter(|c| !given.iter().any(|g| g.eq_ignore_ascii_case(c)))
                    .collect(),
            };
            match var {
                Some(v) => r.set_var(scope, v, new.join(" "))?,
                None => r.flags = new,
            }
        }
        Cmd::Set { name, value, mods } => {
            let v = modify(r.expand(scope, value), mods);
            r.set_var(scope, name, v)?;
        }
        Cmd::Vacation(v) => {
            if r.actions.iter().any(|a| matches!(a, Action::Vacation(_))) {
                return Err(Error::runtime("vacation ran twice"));
            }
            if r.actions.iter().any(|a| matches!(a, Action::Reject { .. })) {
                return Err(Error::runtime("vacation cannot be combined with reject"));
            }
            let opt = |s: &Option<String>| s.as_ref().map(|s| r.expand(scope, s));
            let action = Vacation {
                handle: opt(&v.handle),
                days: v.days,
                seconds: v.seconds,
                subject: opt(&v.subject),
                from: opt(&v.from),
                addresses: r.expand_all(scope, &v.addresses),
                mime: v.mime,
                reason: r.expand(scope, &v.reason),
            };
            push(r, Action::Vacation(action))?;
        }
        Cmd::Global(names) => {
            for n in names {
                if !scope.globals.contains(n) {
                    scope.globals.push(n.clone());
                }
            }
        }
        Cmd::Include {
            name,
            global,
            once,
            optional,
        } => return include(r, name, *global, *once, *optional),
    }
    Ok(Flow::Next)
}

/// RFC 6609 `include`: loads, compiles and runs another script in its own
/// variable scope; `stop` there ends everything, `return` only that script.
fn include(
    r: &mut Run,
    name: &str,
    global: bool,
    once: bool,
    optional: bool,
) -> Result<Flow, Error> {
    let key = (name.to_string(), global);
    if once && r.included.contains(&key) {
        return Ok(Flow::Next);
    }
    if r.chain.contains(&key) {
        return Err(Error::runtime(format!(
            "include loop: \"{name}\" includes itself"
        )));
    }
    if r.chain.len() >= r.ctx.limits.max_include_depth {
        return Err(Error::runtime(format!(
            "includes nested deeper than {}",
            r.ctx.limits.max_include_depth
        )));
    }
    let cached = r.scripts.get(&key).cloned();
    let script = match cached {
        Some(s) => s,
        None => {
            let loaded = r.ctx.host.load_script(name, global);
            r.step(loaded.as_ref().map_or(0, |s| s.len() as u64 / 64))?;
            let s = match loaded {
                None => None,
                Some(src) => Some(Rc::new(compile(&src, &r.ctx.limits).map_err(|e| {
                    Error::runtime(format!("in included script \"{name}\": {e}"))
                })?)),
            };
            r.scripts.insert(key.clone(), s.clone());
            s
        }
    };
    let Some(script) = script else {
        if optional {
            return Ok(Flow::Next);
        }
        return Err(Error::runtime(format!(
            "included script \"{name}\" not found"
        )));
    };
    if !r.included.contains(&key) {
        r.included.push(key.clone());
    }
    r.chain.push(key);
    let mut scope = new_scope(&script);
    let flow = exec(r, &mut scope, &script.cmds)
        .map_err(|e| Error::runtime(format!("in included script \"{name}\": {e}")));
    r.chain.pop();
    Ok(match flow? {
        Flow::Stop => Flow::Stop,
        _ => Flow::Next,
    })
}
