//! The authenticated ManageSieve commands (RFC 5804 §2.3-2.12) over the
//! user's script store, with the RFC's response codes.

use super::parse::{quote, Arg};
use super::session::{Next, Session, MAX_SCRIPT};
use crate::filter::scripts::{valid_name, MAX_SCRIPTS};
use crate::filter::{ScriptError, Scripts};

const SCRIPT_COMMANDS: [&str; 8] = [
    "HAVESPACE",
    "PUTSCRIPT",
    "CHECKSCRIPT",
    "LISTSCRIPTS",
    "SETACTIVE",
    "GETSCRIPT",
    "DELETESCRIPT",
    "RENAMESCRIPT",
];

pub(super) fn is_script_command(keyword: &str) -> bool {
    SCRIPT_COMMANDS.contains(&keyword)
}

/// What a script command answers.
enum Reply {
    Ok(String),
    /// A literal (GETSCRIPT) followed by OK.
    Script(Vec<u8>),
    /// Lines (LISTSCRIPTS) followed by OK.
    Lines(Vec<String>),
    No(Option<&'static str>, String),
    Err(ScriptError),
}

/// A script name argument: a string of UTF-8.
fn name(arg: &Arg) -> Option<String> {
    match arg {
        Arg::Str(s) => String::from_utf8(s.clone()).ok(),
        Arg::Atom(_) => None,
    }
}

/// Checks a script; the error text has its line and column.
fn check(source: &[u8]) -> Result<(), String> {
    crate::sieve::parse(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn too_big(size: u64) -> Reply {
    Reply::No(
        Some("QUOTA/MAXSIZE"),
        format!("Script of {size} octets is over the limit of {MAX_SCRIPT}"),
    )
}

/// Runs one command against the store, off the async threads.
fn run(scripts: &Scripts, cmd: &str, args: &[Arg]) -> Reply {
    match (cmd, args) {
        ("HAVESPACE", [n, Arg::Atom(size)]) => {
            let (Some(n), Ok(size)) = (name(n), size.parse::<u64>()) else {
                return Reply::No(None, "Syntax: HAVESPACE <name> <size>".into());
            };
            if size > MAX_SCRIPT {
                return too_big(size);
            }
            if !valid_name(&n) {
                return Reply::Err(ScriptError::BadName);
            }
            match scripts.list() {
                Ok(l) if l.len() >= MAX_SCRIPTS && !l.iter().any(|(x, _)| *x == n) => Reply::No(
                    Some("QUOTA/MAXSCRIPTS"),
                    format!("At most {MAX_SCRIPTS} scripts"),
                ),
                Ok(_) => Reply::Ok("Putscript would succeed".into()),
                Err(e) => Reply::Err(e),
            }
        }
        ("PUTSCRIPT", [n, Arg::Str(source)]) => {
            let Some(n) = name(n) else {
                return Reply::Err(ScriptError::BadName);
            };
            if !valid_name(&n) {
                return Reply::Err(ScriptError::BadName);
            }
            if source.len() as u64 > MAX_SCRIPT {
                return too_big(source.len() as u64);
            }
            if let Err(e) = check(source) {
                return Reply::No(None, e);
            }
            match scripts.put(&n, source) {
                Ok(()) => Reply::Ok("Script stored".into()),
                Err(e) => Reply::Err(e),
            }
        }
        ("CHECKSCRIPT", [Arg::Str(source)]) => match check(source) {
            Ok(()) => Reply::Ok("Script is valid".into()),
            Err(e) => Reply::No(None, e),
        },
        ("LISTSCRIPTS", []) => match scripts.list() {
            Ok(l) => Reply::Lines(
                l.into_iter()
                    .map(|(n, active)| {
                        if active {
                            format!("{} ACTIVE", quote(&n))
                        } else {
                            quote(&n)
                        }
                    })
                    .collect(),
            ),
            Err(e) => Reply::Err(e),
        },
        ("SETACTIVE", [n]) => {
            let Some(n) = name(n) else {
                return Reply::Err(ScriptError::BadName);
            };
            let target = (!n.is_empty()).then_some(n.as_str());
            match scripts.set_active(target) {
                Ok(()) if target.is_none() => Reply::Ok("No script is active".into()),
                Ok(()) => Reply::Ok("Script activated".into()),
                Err(e) => Reply::Err(e),
            }
        }
        ("GETSCRIPT", [n]) => match name(n).map(|n| scripts.get(&n)) {
            Some(Ok(s)) => Reply::Script(s),
            Some(Err(e)) => Reply::Err(e),
            None => Reply::Err(ScriptError::BadName),
        },
        ("DELETESCRIPT", [n]) => match name(n).map(|n| scripts.delete(&n)) {
            Some(Ok(())) => Reply::Ok("Script deleted".into()),
            Some(Err(e)) => Reply::Err(e),
            None => Reply::Err(ScriptError::BadName),
        },
        ("RENAMESCRIPT", [old, new]) => match (name(old), name(new)) {
            (Some(old), Some(new)) => match scripts.rename(&old, &new) {
                Ok(()) => Reply::Ok("Script renamed".into()),
                Err(e) => Reply::Err(e),
            },
            _ => Reply::Err(ScriptError::BadName),
        },
        _ => Reply::No(None, format!("Syntax error in the arguments of {cmd}")),
    }
}

impl Session {
    pub(super) async fn script_command(&mut self, cmd: &str, args: Vec<Arg>) -> Next {
        let Some(account) = self.account.as_ref() else {
            return Next::Continue;
        };
        let (user, id) = (account.address.clone(), account.id);
        let data_dir = self.app.config().data_dir.clone();
        let owned = cmd.to_string();
        let reply =
            tokio::task::spawn_blocking(move || run(&Scripts::of(&data_dir, id), &owned, &args))
                .await
                .unwrap_or_else(|e| {
                    Reply::Err(ScriptError::Io(std::io::Error::other(e.to_string())))
                });
        match reply {
            Reply::Ok(text) => {
                if cmd != "CHECKSCRIPT" && cmd != "HAVESPACE" {
                    tracing::info!(user = %user, command = cmd, "ManageSieve");
                }
                self.respond("OK", None, &text);
            }
            Reply::Script(s) => {
                self.conn.write(format!("{{{}}}\r\n", s.len()).as_bytes());
                self.conn.write(&s);
                self.conn.write(b"\r\n");
                self.respond("OK", None, "Getscript completed");
            }
            Reply::Lines(lines) => {
                for l in lines {
                    self.conn.write(l.as_bytes());
                    self.conn.write(b"\r\n");
                }
                self.respond("OK", None, "Listscripts completed");
            }
            Reply::No(code, text) => {
                let syntax = text.starts_with("Syntax");
                self.respond("NO", code, &text);
                if syntax {
                    return self.count_error();
                }
            }
            Reply::Err(e) => self.script_error(&user, e),
        }
        Next::Continue
    }

    fn script_error(&mut self, user: &str, e: ScriptError) {
        match e {
            ScriptError::BadName => self.respond("NO", None, "Invalid script name"),
            ScriptError::NotFound => {
                self.respond("NO", Some("NONEXISTENT"), "There is no script of that name")
            }
            ScriptError::Exists => self.respond(
                "NO",
                Some("ALREADYEXISTS"),
                "A script of that name already exists",
            ),
            ScriptError::Active => {
                self.respond("NO", Some("ACTIVE"), "The active script cannot be deleted")
            }
            ScriptError::TooMany => self.respond(
                "NO",
                Some("QUOTA/MAXSCRIPTS"),
                &format!("At most {MAX_SCRIPTS} scripts"),
            ),
            ScriptError::Io(e) => {
                tracing::error!(user = %user, error = %e, "ManageSieve: cannot access the scripts");
                self.respond(
                    "NO",
                    Some("TRYLATER"),
                    "Cannot access your scripts; try again later",
                );
            }
        }
    }
}
