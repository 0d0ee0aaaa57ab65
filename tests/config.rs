//! `check-config`: each problem class, and all problems reported in one run.

mod common;

use common::{run_cli, TestConfig};

const LOCAL_DOMAIN: &str = "domain = \"example.test\"\n";

fn check(cfg: &TestConfig) -> (i32, String) {
    let (code, out, err) = run_cli(
        &["check-config", "--config", cfg.path().to_str().unwrap()],
        "",
    );
    (code, format!("{out}{err}"))
}

#[test]
fn clean_config_prints_one_line_summary_and_exits_0() {
    let cfg = TestConfig::new(
        "[imap]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n",
        &[("example.test", LOCAL_DOMAIN)],
    );
    let (code, out) = check(&cfg);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with("configuration OK: 1 domain(s) (0 migrating), 2 listener(s)"),
        "{out}"
    );
}

#[test]
fn unknown_keys_are_all_reported() {
    let cfg = TestConfig::new(
        "colour = \"blue\"\n[imap]\nlissten = [\"127.0.0.1:143\"]\n",
        &[(
            "example.test",
            "domain = \"example.test\"\n[migration]\nenabled = false\nspeed = 3\n",
        )],
    );
    let (code, out) = check(&cfg);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown key `colour`"), "{out}");
    assert!(out.contains("unknown key `imap.lissten`"), "{out}");
    assert!(out.contains("unknown key `migration.speed`"), "{out}");
}

#[test]
fn each_problem_class_in_one_run() {
    let cfg = TestConfig::new(
        r#"
[tls]
cert = "missing-cert.pem"
key = "missing-key.pem"
[imap]
listen = ["127.0.0.1:1143", "not-an-address"]
[pop3]
listen = ["0.0.0.0:1143"]
[admin]
listen = "localhost"
"#,
        &[
            ("a", "domain = \"example.test\"\n"),
            ("b", "domain = \"EXAMPLE.test\"\n"),
            (
                "migrating",
                "domain = \"legacy.test\"\n[migration]\nenabled = true\nwhile_copying = \"sometimes\"\n",
            ),
        ],
    );
    let (code, out) = check(&cfg);
    assert_eq!(code, 1, "{out}");
    let expect = [
        "tls: certificate file",
        "tls: key file",
        "imap.listen: `not-an-address` is not an address",
        "admin.listen: `localhost` is not an address",
        "port 1143 is used twice",
        "domain example.test is already defined in",
        "domain legacy.test is migrating (migration.enabled = true) but has no legacy host",
        "has no legacy SMTP host",
        "migration.while_copying `sometimes` is not one of",
    ];
    for e in expect {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    // One line per problem plus the count.
    assert!(
        out.contains(&format!("{} problem(s)", out.lines().count() - 1)),
        "{out}"
    );
}

#[test]
fn serve_refuses_the_same_problems_with_the_same_messages() {
    let cfg = TestConfig::new(
        "[imap]\nlisten = [\"nowhere\"]\n",
        &[("example.test", LOCAL_DOMAIN)],
    );
    let (code, out) = check(&cfg);
    assert_eq!(code, 1);
    let (scode, sout, serr) = run_cli(&["serve", "--config", cfg.path().to_str().unwrap()], "");
    assert_eq!(scode, 1, "{sout}{serr}");
    let problem = out.lines().next().unwrap();
    assert!(
        serr.contains(problem),
        "serve said:\n{serr}\ncheck-config said:\n{out}"
    );
    assert!(serr.contains("not starting"), "{serr}");
}

#[test]
fn syntax_errors_and_missing_files() {
    let cfg = TestConfig::new("[imap\n", &[]);
    let (code, out) = check(&cfg);
    assert_eq!(code, 1);
    assert!(out.contains("not valid TOML"), "{out}");

    let (code, _, err) = run_cli(
        &["check-config", "--config", "/nonexistent/ferrymail.toml"],
        "",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot read") || err.contains("problem"),
        "{err}"
    );
}

#[test]
fn the_shipped_example_files_pass_their_own_check() {
    // The server example (its [tls] commented out: a self-signed certificate
    // is made then), the quickstart, and the Debian package's: exit 0.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["config/ferrymail.toml", "config/quickstart/ferrymail.toml"] {
        let (code, out, err) = run_cli(
            &[
                "check-config",
                "--config",
                root.join(file).to_str().unwrap(),
            ],
            "",
        );
        assert_eq!(code, 0, "{file}: {out}{err}");
        assert!(out.contains("configuration OK"), "{file}: {out}");
    }
    // The example domain file, given by mistake as the server file: named so.
    let (code, out, err) = run_cli(
        &[
            "check-config",
            "--config",
            root.join("config/domains/example.org.toml")
                .to_str()
                .unwrap(),
        ],
        "",
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("this is a domain file (domain = \"example.org\"), not the server file"),
        "{out}{err}"
    );
    assert!(!out.contains("unknown key"), "{out}");
}

/// `[migration.admin]`: the password file must exist and be owner-only, the
/// method known; the password itself is never printed.
#[test]
fn the_admin_credential_is_checked_and_never_printed() {
    use std::os::unix::fs::PermissionsExt;
    let secrets = tempfile::tempdir().unwrap();
    let open = secrets.path().join("open");
    std::fs::write(&open, "s3cret-admin-pw\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let good = secrets.path().join("good");
    std::fs::write(&good, "s3cret-admin-pw\n").unwrap();
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
    let domain = |name: &str, file: &std::path::Path, method: &str| {
        format!(
            "domain = \"{name}\"\n[migration]\nenabled = true\n[migration.imap]\nhost = \"127.0.0.1\"\n[migration.smtp]\nhost = \"127.0.0.1\"\n[migration.admin]\nuser = \"migrator\"\npassword_file = \"{}\"\nmethod = \"{method}\"\n",
            file.display()
        )
    };
    let cfg = TestConfig::new(
        "",
        &[
            ("a.test", &domain("a.test", &open, "master")),
            (
                "b.test",
                &domain("b.test", &secrets.path().join("missing"), "master"),
            ),
            ("c.test", &domain("c.test", &good, "sudo")),
        ],
    );
    let (code, out) = check(&cfg);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("lets others read it; chmod 600"), "{out}");
    assert!(
        out.contains("migration.admin.password_file") && out.contains("missing"),
        "{out}"
    );
    assert!(
        out.contains("migration.admin.method `sudo` is not one of: master, authzid"),
        "{out}"
    );
    assert!(!out.contains("s3cret-admin-pw"), "{out}");

    let cfg = TestConfig::new("", &[("a.test", &domain("a.test", &good, "authzid"))]);
    let (code, out) = check(&cfg);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("s3cret-admin-pw"), "{out}");
}
