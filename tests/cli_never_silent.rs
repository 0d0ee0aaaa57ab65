//! Commands are never silent (issue 20, item 4): `status` for a domain that is
//! not hosted or a user without an account exits 1 with a message, a bare user
//! name gets `default_domain` as at login, `finish` names its scope (`--domain
//! D` or `--all`), and every argument of every subcommand has a help text.

mod common;

use clap::CommandFactory;
use common::ops::cli;
use common::{run_cli, TestConfig};

#[test]
fn status_reports_unknown_domains_and_users_and_takes_bare_names() {
    let cfg = TestConfig::new(
        "default_domain = \"example.test\"\n[admin]\nlisten = \"127.0.0.1:0\"\n",
        &[
            ("example.test", "domain = \"example.test\"\n"),
            ("other.test", "domain = \"other.test\"\n"),
        ],
    );
    let _d = common::Daemon::start(&cfg.path(), &cfg.data_dir());
    let (code, out, err) = cli(&cfg, &["account", "add", "alice"], "Alice-Pw-1\n");
    assert_eq!(code, 0, "{out}{err}");

    // A domain that is not hosted.
    let (code, out, err) = cli(&cfg, &["status", "--domain", "nope.test"], "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("nope.test") && err.contains("not hosted"),
        "{err}"
    );

    // A user without an account, bare or full.
    for name in ["bob", "bob@example.test"] {
        let (code, out, err) = cli(&cfg, &["status", "--user", name], "");
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("bob@example.test") && err.contains("does not exist"),
            "{err}"
        );
    }
    // A user of an unhosted domain.
    let (code, _, err) = cli(&cfg, &["status", "--user", "bob@nope.test"], "");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not hosted"), "{err}");
    // A user outside the domain asked for.
    let (code, _, err) = cli(
        &cfg,
        &["status", "--domain", "other.test", "--user", "alice"],
        "",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not in domain other.test"), "{err}");

    // A bare name: the account of the default domain.
    let (code, out, err) = cli(&cfg, &["status", "--json", "--user", "alice"], "");
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["users"][0]["address"], "alice@example.test", "{out}");
    assert_eq!(v["users"][0]["state"], "local", "{out}");
    let (code, out, err) = cli(&cfg, &["status", "--user", "Alice"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("alice@example.test"), "{out}");

    // The whole report still answers, as does one hosted domain.
    let (code, out, err) = cli(&cfg, &["status", "--domain", "Other.test"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("other.test"), "{out}");

    // `migrate user` takes a bare name as well: the daemon is asked about
    // alice@example.test (a local account, nothing to migrate), not refused as
    // "not an address".
    let (_, out, err) = cli(&cfg, &["migrate", "user", "alice"], "");
    assert!(!err.contains("not an address"), "{out}{err}");
    assert!(
        format!("{out}{err}").contains("alice@example.test"),
        "{out}{err}"
    );
}

#[test]
fn finish_requires_a_domain_or_all() {
    let cfg = TestConfig::new("", &[("example.test", "domain = \"example.test\"\n")]);
    let (code, out, err) = cli(&cfg, &["finish"], "");
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("--domain") && err.contains("--all"), "{err}");
    // Not both.
    let (code, _, err) = cli(&cfg, &["finish", "--domain", "example.test", "--all"], "");
    assert_eq!(code, 2, "{err}");
    // `--all` is accepted (here it then finds no daemon to talk to).
    let (code, _, err) = run_cli(&["finish", "--all", "--config", "/nonexistent/f.toml"], "");
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("required"), "{err}");
}

/// Walks the whole command tree: every argument (positional or option) of
/// every subcommand has a help text, except clap's own help and version.
#[test]
fn every_argument_has_help_text() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let has = a
                .get_help()
                .or(a.get_long_help())
                .is_some_and(|h| !h.to_string().trim().is_empty());
            if !has {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut cmd = ferrymail::cli::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "ferrymail", &mut missing);
    assert!(
        missing.is_empty(),
        "arguments without help text:\n{}",
        missing.join("\n")
    );
}
