//! The checks of the alias tables that need the accounts, for `check-config`:
//! the configuration alone cannot know them, so the account database of
//! `data_dir` is read (read-only, `store::accounts::peek_all_addresses`).
//! Without a database (nothing served yet) these checks are skipped.
//!
//! - Problems: an alias that is also an account (the alias would take the
//!   account's mail) unless it lists its own name; a target (or catch-all) in a
//!   hosted domain that is not migrating which is neither an alias nor an account.
//! - Warnings: a domain that is not migrating where `postmaster@` resolves to
//!   nothing (RFC 5321 §4.5.1). A warning, not a problem: a domain without any
//!   account yet would otherwise fail `check-config` before its first user.

use std::collections::{BTreeMap, HashSet};

use crate::config::Config;

/// What the account check found.
#[derive(Debug, Default)]
pub struct AccountCheck {
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

fn place(file: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}: line {l}: ", file.display()),
        None => format!("{}: ", file.display()),
    }
}

/// Checks every domain's aliases against the accounts in `config.data_dir`.
pub fn check_accounts(config: &Config) -> AccountCheck {
    let mut out = AccountCheck::default();
    let mut accounts: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for d in config.domains.keys() {
        match crate::store::accounts::peek_all_addresses(&config.data_dir, d) {
            Ok(Some(list)) => {
                accounts.insert(d.clone(), list.into_iter().collect());
            }
            Ok(None) => return out,
            Err(e) => {
                out.warnings.push(format!(
                    "cannot read the accounts in {} to check the aliases: {e}",
                    config.data_dir.display()
                ));
                return out;
            }
        }
    }
    let known = |addr: &str| -> bool {
        let Some((l, d)) = addr.rsplit_once('@') else {
            return true;
        };
        let l = l.to_lowercase();
        match config.domain(d) {
            None => true,
            Some(dom) if dom.migrating() => true,
            Some(dom) => {
                dom.addresses.alias(&l).is_some()
                    || accounts
                        .get(&dom.name)
                        .is_some_and(|a| a.contains(&format!("{l}@{}", dom.name)))
                    || dom.addresses.base_local(&l).is_some_and(|b| {
                        accounts.get(&dom.name).is_some_and(|a| {
                            a.contains(&format!("{}@{}", b.to_lowercase(), dom.name))
                        })
                    })
            }
        }
    };
    for d in config.domains.values() {
        let addrs = &d.addresses;
        let mut names: Vec<(&String, &Vec<String>)> = addrs.aliases().collect();
        names.sort();
        for (name, targets) in names {
            let me = format!("{name}@{}", d.name);
            let (file, line) = addrs.place(&d.file, name);
            let lists_itself = targets.iter().any(|t| t.to_lowercase() == me);
            if accounts.get(&d.name).is_some_and(|a| a.contains(&me)) && !lists_itself {
                out.problems.push(format!(
                    "{}alias `{name}` is also an account, which would get no more mail: delete one, or list `{name}` among the alias's targets to deliver to the account too",
                    place(&file, line)
                ));
            }
            for t in targets {
                if t.to_lowercase() != me && !known(t) {
                    out.problems.push(format!(
                        "{}alias `{name}`: target {t} is neither an alias nor an account (mail to it would be refused)",
                        place(&file, line)
                    ));
                }
            }
        }
        if let Some(c) = &addrs.catch_all {
            if !known(c) {
                out.problems.push(format!(
                    "{}addresses.catch_all {c} is neither an alias nor an account",
                    place(&d.file, None)
                ));
            }
        }
        let pm = format!("postmaster@{}", d.name);
        if !d.migrating()
            && addrs.alias("postmaster").is_none()
            && addrs.catch_all.is_none()
            && !accounts.get(&d.name).is_some_and(|a| a.contains(&pm))
        {
            out.warnings.push(format!(
                "{pm} reaches nobody (RFC 5321 §4.5.1 requires it): add `postmaster = [\"someone\"]` to [aliases] in {}",
                d.file.display()
            ));
        }
    }
    out
}
