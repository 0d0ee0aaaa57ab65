//! Filtering at delivery (issue 19): the user's active Sieve script
//! ([`scripts`]) decides where a message delivered to a local account goes.
//! The interpreter is `crate::sieve` (pure); this module loads the script,
//! runs it on the spooled message and turns its actions into a [`Plan`] the
//! SMTP delivery carries out in one store transaction.
//!
//! Mail is never lost to a script: a script that does not compile, fails at
//! run time, or asks for something not carried out here keeps the message in
//! INBOX, and the reason is logged and written to `sieve/last-error` beside
//! the scripts.

pub mod replies;
pub mod scripts;

use std::collections::HashSet;
use std::path::Path;

use crate::sieve::{self, Action, Context, Envelope, Host, Vacation};

pub use scripts::{ScriptError, Scripts};

/// Largest message a script reads whole (body tests); a larger one is
/// filtered on its first bytes (its header and the body's start).
const MAX_FILTERED_BYTES: u64 = 10 << 20;

/// One copy of the message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The mailbox (UTF-8, `/` separated; `INBOX`).
    pub mailbox: String,
    pub flags: Vec<String>,
    /// Create the mailbox if it does not exist (`fileinto :create`).
    pub create: bool,
}

/// What delivery does with one message for one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Where copies go; empty: the message is discarded.
    pub targets: Vec<Target>,
    /// Addresses to forward the message to (`redirect`).
    pub redirects: Vec<String>,
    /// `reject`/`ereject`: the reason to tell the sender (nothing is stored).
    pub reject: Option<String>,
    /// `vacation`: the auto-reply to consider (replies.rs decides).
    pub vacation: Option<Vacation>,
    /// Why the script's wish was not (wholly) followed.
    pub error: Option<String>,
}

impl Plan {
    /// Without a script (or after an error): INBOX, no flags.
    pub fn inbox() -> Plan {
        Plan {
            targets: vec![Target {
                mailbox: "INBOX".into(),
                flags: vec![],
                create: false,
            }],
            ..Plan::default()
        }
    }

    fn failed(error: String) -> Plan {
        Plan {
            error: Some(error),
            ..Plan::inbox()
        }
    }
}

struct Mailboxes(HashSet<String>);

impl Host for Mailboxes {
    fn mailbox_exists(&self, name: &str) -> bool {
        self.0
            .contains(&crate::store::mailstore::normalize_name(name))
    }
}

/// Runs the active script of the account `user` whose scripts are
/// `scripts` on the message in `path`. `mailboxes`: the names the account has. `hosted`:
/// whether an address is in a hosted domain (a redirect there is not
/// carried out yet). Blocking: call it on the blocking pool.
pub fn plan(
    scripts: &Scripts,
    user: &str,
    path: &Path,
    envelope: Envelope,
    mailboxes: Vec<String>,
    hosted: &dyn Fn(&str) -> bool,
    separator: &str,
) -> Plan {
    let source = match scripts.active() {
        Ok(Some((_, src))) => src,
        Ok(None) => return Plan::inbox(),
        Err(e) => return Plan::failed(format!("cannot read the active script: {e}")),
    };
    let script = match sieve::parse(&source) {
        Ok(s) => s,
        Err(e) => return Plan::failed(format!("the active script does not compile: {e}")),
    };
    let raw = match read_bounded(path) {
        Ok(r) => r,
        Err(e) => return Plan::failed(format!("cannot read the message: {e}")),
    };
    let host = Mailboxes(mailboxes.iter().map(|m| m.to_string()).collect());
    let mut ctx = Context::new(envelope, crate::store::now(), &host);
    if !separator.is_empty() {
        ctx.separator = separator.to_string();
    }
    let actions = match sieve::run(&script, &raw, &ctx) {
        Ok(a) => a,
        Err(e) => return Plan::failed(format!("the script failed: {e}")),
    };
    let mut plan = from_actions(actions, hosted);
    // RFC 5228 §4.2: no redirect loops. A message this account redirected
    // before carries its mark; it is not sent round again.
    if !plan.redirects.is_empty() && redirected_by(&raw, user) {
        plan.redirects.clear();
        plan.error = Some(
            "redirect refused: this account redirected the message before (a loop); it is kept in INBOX"
                .into(),
        );
        if !plan.targets.iter().any(|t| t.mailbox == "INBOX") {
            plan.targets.push(Target {
                mailbox: "INBOX".into(),
                flags: vec![],
                create: false,
            });
        }
    }
    plan
}

/// The header a redirect adds: the account that redirected.
pub const REDIRECT_MARK: &str = "X-Ferrymail-Redirected";

/// Whether the header block of `raw` has a [`REDIRECT_MARK`] naming `user`.
pub fn redirected_by(raw: &[u8], user: &str) -> bool {
    let name = REDIRECT_MARK.as_bytes();
    raw.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .any(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()] == b':'
                && String::from_utf8_lossy(&l[name.len() + 1..])
                    .trim()
                    .eq_ignore_ascii_case(user)
        })
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut v = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILTERED_BYTES)
        .read_to_end(&mut v)?;
    Ok(v)
}

/// The plan for the actions a script gave.
pub fn from_actions(actions: Vec<Action>, hosted: &dyn Fn(&str) -> bool) -> Plan {
    let mut plan = Plan::default();
    let mut unsupported: Vec<&str> = Vec::new();
    for a in actions {
        match a {
            Action::Keep { flags } => plan.targets.push(Target {
                mailbox: "INBOX".into(),
                flags,
                create: false,
            }),
            Action::FileInto {
                mailbox,
                flags,
                create,
            } => plan.targets.push(Target {
                mailbox,
                flags,
                create,
            }),
            Action::Redirect { address, .. } => {
                if hosted(&address) {
                    unsupported.push("redirect to a hosted address");
                } else if !plan.redirects.contains(&address) {
                    plan.redirects.push(address);
                }
            }
            Action::Discard => {}
            Action::Reject { reason, .. } => plan.reject = Some(reason),
            Action::Vacation(v) => plan.vacation = Some(v),
        }
    }
    if !unsupported.is_empty() {
        unsupported.dedup();
        plan.error = Some(format!(
            "not carried out at delivery yet: {}; the message is kept in INBOX",
            unsupported.join(", ")
        ));
        if !plan.targets.iter().any(|t| t.mailbox == "INBOX") {
            plan.targets.push(Target {
                mailbox: "INBOX".into(),
                flags: vec![],
                create: false,
            });
        }
    }
    // One copy per mailbox: a later action's flags are added to the first.
    let mut merged: Vec<Target> = Vec::new();
    for t in plan.targets {
        let key = crate::store::mailstore::normalize_name(&t.mailbox);
        match merged
            .iter_mut()
            .find(|m| crate::store::mailstore::normalize_name(&m.mailbox) == key)
        {
            Some(m) => {
                for f in t.flags {
                    if !m.flags.contains(&f) {
                        m.flags.push(f);
                    }
                }
                m.create |= t.create;
            }
            None => merged.push(t),
        }
    }
    plan.targets = merged;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &str) -> bool {
        false
    }

    #[test]
    fn actions_become_one_copy_per_mailbox() {
        let p = from_actions(
            vec![
                Action::FileInto {
                    mailbox: "Entwürfe".into(),
                    flags: vec!["\\Seen".into()],
                    create: true,
                },
                Action::Keep { flags: vec![] },
                Action::FileInto {
                    mailbox: "Entwürfe".into(),
                    flags: vec!["$label1".into()],
                    create: false,
                },
                Action::Redirect {
                    address: "a@example.net".into(),
                    copy: true,
                },
            ],
            &never,
        );
        assert_eq!(p.targets.len(), 2, "{p:?}");
        assert_eq!(p.targets[0].flags, vec!["\\Seen", "$label1"]);
        assert!(p.targets[0].create);
        assert_eq!(p.redirects, vec!["a@example.net"]);
        assert_eq!(p.error, None);
    }

    #[test]
    fn the_redirect_mark_is_read_from_the_header_only() {
        let m = b"Subject: x\r\nx-ferrymail-redirected:  Anna@Example.org \r\n\r\nbody\r\n";
        assert!(redirected_by(m, "anna@example.org"));
        assert!(!redirected_by(m, "bob@example.org"));
        let body_only = b"Subject: x\r\n\r\nX-Ferrymail-Redirected: anna@example.org\r\n";
        assert!(!redirected_by(body_only, "anna@example.org"));
        assert!(!redirected_by(
            b"X-Ferrymail-Redirected",
            "anna@example.org"
        ));
    }

    #[test]
    fn what_is_not_carried_out_keeps_the_message() {
        let p = from_actions(
            vec![Action::Reject {
                reason: "no".into(),
                extended: false,
            }],
            &never,
        );
        assert!(p.targets.is_empty(), "{p:?}");
        assert_eq!(p.reject.as_deref(), Some("no"));
        let p = from_actions(
            vec![Action::Redirect {
                address: "b@example.org".into(),
                copy: false,
            }],
            &|_| true,
        );
        assert_eq!(p.targets, Plan::inbox().targets);
        assert!(p.error.unwrap().contains("hosted"));
        let p = from_actions(vec![Action::Discard], &never);
        assert!(p.targets.is_empty() && p.error.is_none());
    }
}
