//! The CLI side of `ferrymail migrate user|domain|bulk` and `ferrymail finish`:
//! reads passwords (standard input, the bulk file), sends them to the daemon's
//! admin API in request bodies only, shows progress and a result table. `migrate
//! bulk` then follows the copies it queued ([`super::follow`]). Also `migrate
//! test`, which runs here, without the daemon.
//!
//! The `migrate` subcommands ([`MigrateAction`]) and the password prompt
//! ([`read_password`], also used by `ferrymail account`) live here so that this
//! file does not depend on `cli.rs`, which calls into it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;

use super::client::AdminClient;
use super::follow;
use crate::auth::Password;
use crate::config::Config;
use crate::migrate::bulk;
use crate::migrate::ops::{FinishReport, MigrateMode, UserResult};

#[derive(Subcommand, Debug)]
pub enum MigrateAction {
    /// Migrate one user: verify with the legacy server, create the account, copy.
    User {
        /// The user's address, or a bare name with the server's default_domain.
        address: String,
        /// Read the user's legacy password from standard input (default: the
        /// domain's [migration.admin] credential).
        #[arg(long)]
        password_stdin: bool,
        /// Copy into the existing account only.
        #[arg(long)]
        messages_only: bool,
    },
    /// Queue the copy of every pending/failed user of DOMAIN with the domain's
    /// [migration.admin] credential (no passwords needed).
    Domain {
        /// The hosted domain whose users to migrate.
        domain: String,
    },
    /// Migrate every user of FILE (lines user:password, user:password:domain,
    /// or a bare address when the domain has a [migration.admin] credential).
    Bulk {
        /// The users, one a line: `user:password`, `user:password:domain`, or a
        /// bare address.
        file: PathBuf,
        /// Copy into existing accounts only.
        #[arg(long, conflicts_with = "passwords_only")]
        messages_only: bool,
        /// Create accounts from verified legacy credentials; mail moves on first login.
        #[arg(long)]
        passwords_only: bool,
        /// Return once the copies are queued instead of following them to the end.
        #[arg(long)]
        no_wait: bool,
    },
    /// Dry run, changing nothing: connect to DOMAIN's legacy servers, show their
    /// capabilities, log in, list the folders with their local names, and
    /// estimate the copy time. Exit 0 only when everything a migration needs works.
    Test {
        /// The hosted domain to test.
        #[arg(long)]
        domain: String,
        /// The user to try (default, with [migration.admin]: up to 10 pending users).
        #[arg(long)]
        user: Option<String>,
        /// Log in with the user's own legacy password, read from standard input
        /// (default: the domain's [migration.admin] credential).
        #[arg(long, requires = "user")]
        password_stdin: bool,
    },
}

fn request(
    client: &AdminClient,
    address: &str,
    password: Option<&Password>,
    mode: MigrateMode,
) -> UserResult {
    let body = serde_json::json!({
        "address": address,
        "password": password.map(|p| p.expose()),
        "mode": mode,
    });
    client
        .post_json::<UserResult>("/api/migrate", &body)
        .unwrap_or_else(|e| UserResult {
            address: address.to_string(),
            ok: false,
            result: "error".into(),
            detail: e,
        })
}

/// Runs a `migrate` subcommand: `test` here, the others through the daemon.
pub fn migrate(cfg: &Config, action: MigrateAction) -> Result<(), String> {
    let client = || AdminClient::from_config(cfg);
    match action {
        MigrateAction::Test {
            domain,
            user,
            password_stdin,
        } => test(cfg, &domain, user.as_deref(), password_stdin),
        MigrateAction::User {
            address,
            password_stdin,
            messages_only,
        } => {
            let password = if password_stdin {
                Some(read_password(false)?)
            } else {
                None
            };
            let mode = if messages_only {
                MigrateMode::MessagesOnly
            } else {
                MigrateMode::Full
            };
            let address = super::accounts_cli::resolve(cfg, &address)?;
            let r = request(&client()?, &address, password.as_ref(), mode);
            if r.ok {
                println!("{}: {}: {}", r.address, r.result, r.detail);
                Ok(())
            } else {
                Err(format!("{}: {}", r.address, r.detail))
            }
        }
        MigrateAction::Domain { domain } => {
            let r: FinishReport = client()?.post_json(
                "/api/migrate-domain",
                &serde_json::json!({ "domain": domain }),
            )?;
            for u in &r.users {
                println!("  {:<40} {:<8}  {}", u.address, u.result, u.detail);
            }
            println!(
                "{}: {} users queued (watch with `ferrymail status --domain {}`)",
                r.domain,
                r.users.len(),
                r.domain
            );
            Ok(())
        }
        MigrateAction::Bulk {
            file,
            messages_only,
            passwords_only,
            no_wait,
        } => {
            let mode = if messages_only {
                MigrateMode::MessagesOnly
            } else if passwords_only {
                MigrateMode::PasswordsOnly
            } else {
                MigrateMode::Full
            };
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            run_bulk(&client()?, &text, mode, !no_wait)
        }
    }
}

/// `migrate test`: the dry run, printed as it goes (problems on stderr).
fn test(
    cfg: &Config,
    domain: &str,
    user: Option<&str>,
    password_stdin: bool,
) -> Result<(), String> {
    use crate::migrate::probe::{self, Kind, Out, Request};
    let password = if password_stdin {
        Some(read_password(false)?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let mut out = Out::new(|kind, line: &str| match kind {
        Kind::Info => println!("{line}"),
        Kind::Note => println!("note: {line}"),
        Kind::Problem => eprintln!("problem: {line}"),
    });
    let req = Request {
        domain,
        user,
        password,
    };
    rt.block_on(probe::run(cfg, req, &mut out));
    match out.problems() {
        0 => {
            println!("OK: everything {domain}'s migration needs works (nothing was changed)");
            Ok(())
        }
        n => Err(format!(
            "migrate test: {n} problem(s) for {domain} (nothing was changed)"
        )),
    }
}

/// One row of the final table.
struct Row {
    line: usize,
    address: String,
    result: String,
    detail: String,
    ok: bool,
}

/// Sends every line of the bulk file (a bar of users checked), then, with
/// `wait`, follows the copies queued until they end (a bar of messages and
/// bytes), then prints the table.
fn run_bulk(client: &AdminClient, text: &str, mode: MigrateMode, wait: bool) -> Result<(), String> {
    let entries = bulk::parse(text);
    let total = entries.len() as u64;
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} users checked  {per_sec}  ETA {eta}  {msg}",
        ) {
            b.set_style(style);
        }
        b.enable_steady_tick(Duration::from_millis(200));
        b
    });
    let started = Instant::now();
    let mut rows = Vec::with_capacity(entries.len());
    let mut failed = 0u64;
    for (i, e) in entries.into_iter().enumerate() {
        let row = match e {
            Err(e) => Row {
                line: e.line,
                address: String::new(),
                result: "error".into(),
                detail: e.reason.to_string(),
                ok: false,
            },
            Ok(entry) => {
                let r = request(client, &entry.address, entry.password.as_ref(), mode);
                drop(entry.password);
                Row {
                    line: entry.line,
                    address: r.address,
                    result: r.result,
                    detail: r.detail,
                    ok: r.ok,
                }
            }
        };
        if !row.ok {
            failed += 1;
        }
        let done = i as u64 + 1;
        match &bar {
            Some(b) => {
                b.set_message(format!("{failed} failed"));
                b.inc(1);
            }
            None => {
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let rate = done as f64 / secs;
                let eta = (total - done) as f64 / rate.max(0.001);
                eprintln!(
                    "[{done}/{total}] line {}: {} {}: {} ({rate:.1}/s, ETA {eta:.0}s)",
                    row.line, row.address, row.result, row.detail
                );
            }
        }
        rows.push(row);
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let queued: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].ok && rows[i].result == "queued")
        .collect();
    if wait && !queued.is_empty() {
        let addresses: Vec<String> = queued.iter().map(|&i| rows[i].address.clone()).collect();
        eprintln!(
            "following the copies of {} user(s) until they end (Ctrl-C stops following; the copies go on)",
            addresses.len()
        );
        let outcomes = follow::follow(client, &addresses)?;
        for (&i, o) in queued.iter().zip(&outcomes) {
            rows[i].result = o.result().to_string();
            rows[i].detail = format!("{}; {}", rows[i].detail, o.detail());
            if !o.ok() {
                rows[i].ok = false;
                failed += 1;
            }
        }
    }
    let width = rows
        .iter()
        .map(|r| r.address.len())
        .max()
        .unwrap_or(0)
        .max(7);
    println!(
        "{:>5}  {:<width$}  {:<8}  detail",
        "line", "address", "result"
    );
    for r in &rows {
        println!(
            "{:>5}  {:<width$}  {:<8}  {}",
            r.line, r.address, r.result, r.detail
        );
    }
    println!(
        "{} users: {} ok, {failed} failed ({:.1}s)",
        rows.len(),
        rows.len() as u64 - failed,
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        return Err(format!("{failed} of {} lines failed", rows.len()));
    }
    Ok(())
}

pub fn finish(client: &AdminClient, domains: &[String], force: bool) -> Result<(), String> {
    let mut failed = 0;
    for d in domains {
        let r: FinishReport = client.post_json(
            "/api/finish",
            &serde_json::json!({ "domain": d, "force": force }),
        )?;
        let finished = r.users.iter().filter(|u| u.result == "finished").count();
        println!("{}: {finished} users finished", r.domain);
        for u in &r.users {
            println!("  {:<40} {:<8}  {}", u.address, u.result, u.detail);
            if !u.ok {
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} users could not be finished"));
    }
    Ok(())
}

/// Reads a password from standard input: prompted twice without echo on a
/// terminal, else the first line.
pub fn read_password(confirm: bool) -> Result<Password, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = prompt_hidden("Password: ")?;
        if confirm {
            let second = prompt_hidden("Again: ")?;
            if first != second {
                return Err("the passwords differ".into());
            }
        }
        if first.is_empty() {
            return Err("empty password".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let pw = Password::new(line.trim_end_matches(['\r', '\n']));
    line.clear();
    if pw.is_empty() {
        return Err("empty password on standard input".into());
    }
    Ok(pw)
}

fn prompt_hidden(prompt: &str) -> Result<Password, String> {
    use std::os::fd::AsRawFd;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let fd = std::io::stdin().as_raw_fd();
    // SAFETY: termios calls on our own stdin descriptor with a zeroed struct that
    // tcgetattr fills in.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            return Err("cannot read terminal settings".into());
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        libc::tcsetattr(fd, libc::TCSANOW, &t);
        saved
    };
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe {
        libc::tcsetattr(fd, libc::TCSANOW, &saved);
    }
    eprintln!();
    r.map_err(|e| format!("cannot read the password: {e}"))?;
    let pw = Password::new(line.trim_end_matches(['\r', '\n']));
    line.clear();
    Ok(pw)
}
