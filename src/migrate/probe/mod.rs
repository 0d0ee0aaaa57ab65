//! `ferrymail migrate test --domain D [--user U [--password-stdin]]`: a dry run
//! of a domain's migration set-up that changes nothing, here or on the legacy
//! server. It connects to each legacy server of the domain file (IMAP, POP3,
//! SMTP) and shows its capabilities and TLS, logs in for the user (with the
//! domain's admin credential, or the user's own password), or, with the admin
//! credential and no user, for a sample of up to [`SAMPLE_USERS`] pending
//! users read from the store without writing to it; then lists the folders
//! with their counts, sizes and local names, and estimates the copy time from
//! a timed fetch of a few bodies. Each problem is one line saying what to fix.

mod estimate;
mod imap;
mod pop3;
mod report;
mod smtp;

use crate::auth::Password;
use crate::config::{Config, Domain, Source};
use crate::legacy::Login;
use crate::migrate::sequence::legacy_user;
use crate::store::AccountState;
use estimate::{Outcome, UserTotals};
pub use report::{Kind, Out};

/// Most pending users tried when no user is named.
pub const SAMPLE_USERS: usize = 10;

/// What to test.
pub struct Request<'a> {
    pub domain: &'a str,
    /// A bare name or an address of the domain.
    pub user: Option<&'a str>,
    /// The user's own legacy password (else the admin credential is used).
    pub password: Option<Password>,
}

/// Runs every check of the request; the problems are counted in `out`.
pub async fn run(cfg: &Config, req: Request<'_>, out: &mut Out<'_>) {
    let Some(d) = cfg.domain(req.domain) else {
        out.problem(
            format!("domain {} is not hosted here", req.domain),
            format!(
                "add {} (see `ferrymail check-config`)",
                cfg.domains_dir
                    .join(format!("{}.toml", req.domain))
                    .display()
            ),
        );
        return;
    };
    let m = &d.migration;
    if let Some(a) = &m.admin {
        out.secret(&a.password);
    }
    if let Some(p) = &req.password {
        out.secret(p);
    }
    out.info(format!(
        "domain {}: migration {}, source {}, legacy_login = \"{}\" ({})",
        d.name,
        if m.enabled { "enabled" } else { "disabled" },
        match m.source {
            Source::Imap => "imap",
            Source::Pop3 => "pop3",
        },
        match m.legacy_login {
            crate::config::LegacyLogin::LocalPart => "localpart",
            crate::config::LegacyLogin::Address => "address",
        },
        d.file.display()
    ));
    if !m.enabled {
        out.note("[migration] enabled = false: nobody moves until it is true");
    }
    let Some((users, with_admin)) = users(cfg, d, &req, out) else {
        servers(cfg, d, &[], out).await;
        return;
    };
    let (imap_ok, pop3_ok) = servers(cfg, d, &users, out).await;
    let source = match m.source {
        Source::Imap => m.imap.as_ref().filter(|_| imap_ok),
        Source::Pop3 => m.pop3.as_ref().filter(|_| pop3_ok),
    };
    // A source that does not answer was reported; its logins would say the same.
    let Some(source) = source else {
        return;
    };
    let mut refused = Vec::new();
    let mut done: Vec<UserTotals> = Vec::new();
    for address in &users {
        let name = legacy_user(address, m.legacy_login);
        let login = match (&req.password, &m.admin) {
            (Some(p), _) => Login::user(&name, p),
            (None, Some(a)) => Login::admin(&name, a),
            (None, None) => continue,
        };
        out.info(format!(
            "user {address}: legacy login \"{}\"{}",
            login.authcid,
            match (&login.authzid, with_admin) {
                (Some(z), _) => format!(" for \"{z}\" (admin credential, method authzid)"),
                (None, true) => " (admin credential, method master)".into(),
                (None, false) => " (the user's password from standard input)".into(),
            }
        ));
        let outcome = match m.source {
            Source::Imap => imap::user(source, m.timeout, &login, address, out).await,
            Source::Pop3 => pop3::user(source, m.timeout, &login, address, true, out).await,
        };
        match outcome {
            Outcome::Done(t) => {
                estimate::show(&t, m.max_bytes_per_sec, out);
                if m.source == Source::Imap && pop3_ok {
                    if let Some(ep) = &m.pop3 {
                        uidl_carrier(ep, m.timeout, &login, address, out).await;
                    }
                }
                done.push(t);
            }
            Outcome::Refused => {
                out.info("  login refused");
                refused.push(address.clone());
            }
            Outcome::Failed => {}
        }
    }
    if !refused.is_empty() {
        let list = refused.join(", ");
        if with_admin {
            out.problem(
                format!("admin credential refused for {list}"),
                "check [migration.admin] user/password_file/method (and that the user exists on the legacy server)",
            );
        } else {
            out.problem(
                format!("the legacy server refused the password of {list}"),
                "check the password given on standard input, and legacy_login in [migration] (\"localpart\" sends the name before @, \"address\" the whole address)",
            );
        }
    }
    if done.len() > 1 {
        estimate::show_sum(&done, m.max_bytes_per_sec, out);
    }
}

/// POP3 beside an IMAP source: the UIDLs are carried over with the same login.
async fn uidl_carrier(
    ep: &crate::config::Endpoint,
    timeout: std::time::Duration,
    login: &Login,
    address: &str,
    out: &mut Out<'_>,
) {
    if let Outcome::Refused = pop3::user(ep, timeout, login, address, false, out).await {
        out.problem(
            format!(
                "legacy POP3 {}:{} refused the login of {address} that legacy IMAP accepted",
                ep.host, ep.port
            ),
            "POP3 UIDLs are carried over with the same login: check the POP3 server's authentication, or remove [migration.pop3]",
        );
    }
}

/// The legacy servers of the domain file; SMTP is asked about `rcpts`.
/// Returns whether IMAP and POP3 work (false when not configured).
async fn servers(cfg: &Config, d: &Domain, rcpts: &[String], out: &mut Out<'_>) -> (bool, bool) {
    let m = &d.migration;
    let missing = |out: &mut Out<'_>, table: &str, why: &str| {
        out.problem(
            format!("no [migration.{table}] in {}", d.file.display()),
            format!("add [migration.{table}] with the legacy host ({why})"),
        )
    };
    let imap_ok = match &m.imap {
        Some(ep) => imap::server(ep, m.timeout, out).await,
        None => {
            if m.source == Source::Imap {
                missing(out, "imap", "source = \"imap\" copies from it");
            }
            false
        }
    };
    let pop3_ok = match &m.pop3 {
        Some(ep) => pop3::server(ep, m.timeout, out).await,
        None => {
            if m.source == Source::Pop3 {
                missing(out, "pop3", "source = \"pop3\" copies from it");
            }
            false
        }
    };
    match &m.smtp {
        Some(ep) => {
            smtp::server(ep, &cfg.hostname, m.timeout, rcpts, out).await;
        }
        None => missing(out, "smtp", "mail for users not yet moved is relayed to it"),
    }
    (imap_ok, pop3_ok)
}

/// The users to log in as, and whether the admin credential is used; `None`
/// (after reporting why) when there is nobody to try.
fn users(
    cfg: &Config,
    d: &Domain,
    req: &Request<'_>,
    out: &mut Out<'_>,
) -> Option<(Vec<String>, bool)> {
    let admin = d.migration.admin.is_some();
    if let Some(u) = req.user {
        let address = match u.rsplit_once('@') {
            None => format!("{}@{}", u.to_lowercase(), d.name),
            Some((_, dom)) if dom.eq_ignore_ascii_case(&d.name) => u.to_lowercase(),
            Some(_) => {
                out.problem(
                    format!("{u} is not an address of {}", d.name),
                    format!("give --user as a bare name or name@{}", d.name),
                );
                return None;
            }
        };
        if address.chars().any(|c| c.is_control() || c.is_whitespace()) || address.len() > 320 {
            out.problem(
                "the --user name has spaces or control characters",
                "give the user's login name",
            );
            return None;
        }
        if req.password.is_none() && !admin {
            out.problem(
                format!("no password for {address}: {} has no [migration.admin]", d.name),
                "give --password-stdin with the user's password on standard input, or set [migration.admin]",
            );
            return None;
        }
        return Some((vec![address], req.password.is_none()));
    }
    if !admin {
        out.problem(
            format!("nobody to log in as: {} has no [migration.admin]", d.name),
            "give --user U --password-stdin, or set [migration.admin]",
        );
        return None;
    }
    let peek = crate::store::accounts::peek_addresses(
        &cfg.data_dir,
        &d.name,
        AccountState::Pending,
        SAMPLE_USERS,
    );
    match peek {
        Ok(Some(list)) if !list.is_empty() => {
            out.info(format!(
                "trying the admin credential for {} pending users (a sample of at most {SAMPLE_USERS})",
                list.len()
            ));
            Some((list, true))
        }
        Ok(_) => {
            out.problem(
                format!("no pending users of {} in the store: the admin credential was not tried", d.name),
                format!("give --user U, or import the users with `ferrymail users import --domain {} FILE`", d.name),
            );
            None
        }
        Err(e) => {
            out.problem(
                format!(
                    "cannot read the accounts in {}: {e}",
                    cfg.data_dir.display()
                ),
                "run as the user the daemon runs as (or root), or give --user U",
            );
            None
        }
    }
}
