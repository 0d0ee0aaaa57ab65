//! `ferrymail aliases discover --domain D [--write FILE [--force]]`: the
//! addresses of a domain that the legacy server delivered into other users'
//! mailboxes ([`crate::migrate::discover`]) as suggested lines of an aliases
//! file, each with its evidence, for the admin to review. Reads the store
//! directly (like `account list`), so it works with or without the daemon;
//! it creates nothing.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::config::Config;
use crate::migrate::discover::{self, Evidence};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum AliasesAction {
    /// Suggest alias lines from the delivery headers (Delivered-To,
    /// X-Original-To, Envelope-To) of the mail copied so far: each address of
    /// DOMAIN seen in other users' mailboxes, with its evidence. Nothing is
    /// created: review the lines and put them in the domain's aliases file.
    Discover {
        /// The hosted domain whose addresses to look for.
        #[arg(long)]
        domain: String,
        /// Write the suggestions to FILE (aliases-file format) instead of
        /// printing them; an existing FILE is kept unless --force.
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
        /// Overwrite FILE.
        #[arg(long, requires = "write")]
        force: bool,
    },
}

/// One mailbox an address was seen in, as the suggestion shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The local part when the account is in the domain, else its address.
    pub name: String,
    pub messages: u64,
    pub last_seen: i64,
}

/// Runs `aliases discover`.
pub fn run(cfg: &Config, action: AliasesAction) -> Result<(), String> {
    let AliasesAction::Discover {
        domain,
        write,
        force,
    } = action;
    let d = cfg
        .domain(&domain)
        .ok_or_else(|| format!("domain {domain} is not hosted here"))?;
    let configured: HashSet<String> = d.addresses.aliases().map(|(l, _)| l.clone()).collect();
    let domain = d.name.clone();
    let store = Store::open(&cfg.data_dir).map_err(|e| e.to_string())?;
    discover::init(store.db()).map_err(|e| e.to_string())?;
    let evidence = discover::evidence(store.db(), &domain).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let accounts = rt
        .block_on(store.accounts(None))
        .map_err(|e| e.to_string())?;
    let by_id: HashMap<i64, String> = accounts.iter().map(|a| (a.id, a.address.clone())).collect();
    let addresses: HashSet<String> = accounts.into_iter().map(|a| a.address).collect();
    let (text, count) = render(&domain, &evidence, &by_id, &addresses, &configured);
    match write {
        None => print!("{text}"),
        Some(file) => {
            write_file(&file, &text, force)?;
            println!(
                "{domain}: {count} suggested alias line(s) written to {}; review them before use",
                file.display()
            );
        }
    }
    Ok(())
}

fn write_file(file: &Path, text: &str, force: bool) -> Result<(), String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("{} exists; not overwritten (use --force)", file.display())
        }
        _ => format!("cannot write {}: {e}", file.display()),
    })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// The suggestions for `domain` and how many alias lines they hold (lines
/// commented out for a conflict do not count). `accounts` names each account
/// id; `existing` holds every account's address; `configured` the domain's
/// aliases already in its address table (lower-case local parts), whose lines
/// are commented out. Evidence of an account that no longer exists is left out.
pub fn render(
    domain: &str,
    evidence: &[Evidence],
    accounts: &HashMap<i64, String>,
    existing: &HashSet<String>,
    configured: &HashSet<String>,
) -> (String, usize) {
    let mut by_address: Vec<(&str, Vec<Target>)> = Vec::new();
    for e in evidence {
        let Some(account) = accounts.get(&e.account_id) else {
            continue;
        };
        let name = match account.rsplit_once('@') {
            Some((local, d)) if d.eq_ignore_ascii_case(domain) => local.to_string(),
            _ => account.clone(),
        };
        let t = Target {
            name,
            messages: e.messages,
            last_seen: e.last_seen,
        };
        match by_address.last_mut() {
            Some((a, targets)) if *a == e.address => targets.push(t),
            _ => by_address.push((&e.address, vec![t])),
        }
    }
    let mut out = format!(
        "# Aliases of {domain} suggested by `ferrymail aliases discover`, from the\n\
         # envelope recipients (Delivered-To, X-Original-To, Envelope-To) the legacy\n\
         # server recorded in the mail copied so far. Review every line: nothing is\n\
         # created until it is in the domain's aliases file.\n"
    );
    if by_address.is_empty() {
        out.push_str(&format!("# No address of {domain} discovered yet.\n"));
    }
    let mut count = 0;
    for (address, mut targets) in by_address {
        targets.sort_by(|a, b| b.messages.cmp(&a.messages).then(a.name.cmp(&b.name)));
        let local = address.rsplit_once('@').map_or(address, |(l, _)| l);
        let evidence: Vec<String> = targets.iter().map(describe).collect();
        let is_account = existing.contains(address);
        let is_alias = configured.contains(&local.to_lowercase());
        let mut marks = String::new();
        if is_account {
            marks.push_str("CONFLICT: is an account; ");
        }
        if is_alias {
            marks.push_str("already an alias; ");
        }
        if targets.len() > 1 {
            marks.push_str(&format!("list? seen in {} mailboxes: ", targets.len()));
        }
        out.push_str(&format!("\n# {address}: {marks}{}\n", evidence.join(", ")));
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        let line = format!("{local}  {}\n", names.join(", "));
        if is_account || is_alias {
            out.push_str("# ");
        } else {
            count += 1;
        }
        out.push_str(&line);
    }
    (out, count)
}

fn describe(t: &Target) -> String {
    let plural = if t.messages == 1 { "" } else { "s" };
    let date = chrono::DateTime::from_timestamp(t.last_seen, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "?".into());
    format!("{} ({} message{plural}, last {date})", t.name, t.messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(address: &str, account_id: i64, messages: u64) -> Evidence {
        Evidence {
            address: address.into(),
            account_id,
            messages,
            last_seen: 1_795_996_800, // 2026-11-30
        }
    }

    #[test]
    fn lines_lists_conflicts_and_gone_accounts() {
        let accounts: HashMap<i64, String> = [
            (1, "alice@example.org".to_string()),
            (2, "bob@example.org".to_string()),
            (3, "carol@example.net".to_string()),
        ]
        .into();
        let existing: HashSet<String> = accounts.values().cloned().collect();
        let evidence = [
            ev("bob@example.org", 1, 1),
            ev("ghost@example.org", 9, 4),
            ev("info@example.org", 1, 12),
            ev("sales@example.org", 2, 3),
            ev("sales@example.org", 1, 3),
            ev("sales@example.org", 3, 5),
        ];
        let (text, count) = render(
            "example.org",
            &evidence,
            &accounts,
            &existing,
            &HashSet::new(),
        );
        assert_eq!(count, 2, "{text}");
        assert!(text
            .contains("\n# info@example.org: alice (12 messages, last 2026-11-30)\ninfo  alice\n"));
        assert!(text.contains(
            "\n# sales@example.org: list? seen in 3 mailboxes: carol@example.net (5 messages, last 2026-11-30), \
             alice (3 messages, last 2026-11-30), bob (3 messages, last 2026-11-30)\n\
             sales  carol@example.net, alice, bob\n"
        ), "{text}");
        assert!(text.contains(
            "\n# bob@example.org: CONFLICT: is an account; alice (1 message, last 2026-11-30)\n# bob  alice\n"
        ));
        assert!(!text.contains("ghost"), "{text}");
        // An address already in the table: shown, commented out, not counted.
        let configured: HashSet<String> = ["info".to_string()].into();
        let (text, count) = render("example.org", &evidence, &accounts, &existing, &configured);
        assert_eq!(count, 1, "{text}");
        assert!(text.contains(
            "\n# info@example.org: already an alias; alice (12 messages, last 2026-11-30)\n# info  alice\n"
        ), "{text}");
        let (empty, n) = render("example.org", &[], &accounts, &existing, &HashSet::new());
        assert_eq!(n, 0);
        assert!(empty.contains("No address of example.org discovered yet"));
    }
}
