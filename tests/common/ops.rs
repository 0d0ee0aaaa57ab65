//! The admin's side in tests: the `ferrymail` command line against a test
//! configuration, and what the store says of an account.

use ferrymail::store::Store;

use super::{run_cli, wait_until, Daemon, TestConfig};

/// Runs `ferrymail ARGS --config <cfg>` with `stdin`: (exit code, stdout, stderr).
pub fn cli(cfg: &TestConfig, args: &[&str], stdin: &str) -> (i32, String, String) {
    let path = cfg.path();
    let mut all: Vec<&str> = args.to_vec();
    all.push("--config");
    all.push(path.to_str().unwrap());
    run_cli(&all, stdin)
}

pub fn state(cfg: &TestConfig, address: &str) -> Option<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&cfg.data_dir()).unwrap();
        store
            .account(address)
            .await
            .unwrap()
            .map(|a| a.state.as_str().to_string())
    })
}

/// Messages the store holds for an account, through the store API.
pub fn stored(cfg: &TestConfig, address: &str) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&cfg.data_dir()).unwrap();
        let a = store.account(address).await.unwrap().unwrap();
        // A copying account has no store until its copy starts: nothing stored.
        let ms = match store.mailstore(a.id).await {
            Err(ferrymail::store::StoreError::NotFound(_)) => return 0,
            r => r.unwrap(),
        };
        ms.mailboxes()
            .await
            .unwrap()
            .iter()
            .map(|m| u64::from(m.exists))
            .sum()
    })
}

pub fn wait_state(cfg: &TestConfig, d: &Daemon, address: &str, want: &str) {
    wait_until(
        60,
        100,
        || state(cfg, address).as_deref() == Some(want),
        || {
            let s = state(cfg, address);
            format!(
                "{address} never reached {want} (now {s:?}):\n{}",
                d.log_text()
            )
        },
    );
}

/// The line of the result table for `line`.
pub fn row(out: &str, line: usize) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{line} ")))
        .unwrap_or_else(|| panic!("no row for line {line} in:\n{out}"))
        .to_string()
}

/// `ferrymail account add ADDRESS` with `password`; it must succeed.
pub fn add_account(cfg: &TestConfig, address: &str, password: &str) {
    let (code, _, err) = cli(cfg, &["account", "add", address], &format!("{password}\n"));
    assert_eq!(code, 0, "{err}");
}

/// `GET path` of the daemon's admin API with its token (curl): the body.
pub fn admin_get(cfg: &TestConfig, d: &Daemon, path: &str) -> String {
    let token = std::fs::read_to_string(cfg.data_dir().join("admin-token")).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "20", "-H"])
        .arg(format!("Authorization: Bearer {}", token.trim()))
        .arg(format!("http://{}{path}", d.addr("admin", "plain")))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// IMAP LOGIN (the name and password as atoms) over a fresh connection to
/// the daemon, then LOGOUT: the tagged answer to LOGIN.
pub fn imap_login(d: &Daemon, user: &str, password: &str) -> String {
    let mut c = super::Line::connect(d.addr("imap", "plain"));
    c.expect("* OK");
    c.send_line(&format!("a LOGIN {user} {password}"));
    loop {
        let l = c.line();
        if l.starts_with("a ") || l.is_empty() {
            c.send_line("z LOGOUT");
            return l;
        }
    }
}

/// One message from `from` to `to` over the daemon's MX listener, with the
/// headers From, To and Subject; the reply to the end of DATA must be 250.
pub fn mx_send(d: &Daemon, from: &str, to: &str, subject: &str) {
    let message = format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHallo.\r\n");
    mx_send_message(d, from, to, &message);
}

/// `message` (CRLF lines, no dot at a line start) from `from` to `to` over
/// the daemon's MX listener; the reply to the end of DATA must be 250.
pub fn mx_send_message(d: &Daemon, from: &str, to: &str, message: &str) {
    let mut c = super::Line::connect(d.addr("smtp", "plain"));
    c.expect("220");
    c.expect_code("EHLO sender.test", "250");
    c.expect_code(&format!("MAIL FROM:<{from}>"), "250");
    c.expect_code(&format!("RCPT TO:<{to}>"), "250");
    c.expect_code("DATA", "354");
    c.send(format!("{message}.\r\n").as_bytes());
    let r = c.reply();
    assert!(r.starts_with("250"), "{r}\n{}", d.log_text());
    c.send_line("QUIT");
}

/// The store's id of the account `address` (it must exist).
pub fn account_id(cfg: &TestConfig, address: &str) -> i64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&cfg.data_dir()).unwrap();
        store.account(address).await.unwrap().unwrap().id
    })
}

/// `ferrymail users import --domain DOMAIN FILE` with `text` as the file
/// (written into the test's folder): (exit code, stdout, stderr).
pub fn users_import(cfg: &TestConfig, domain: &str, text: &str) -> (i32, String, String) {
    let list = cfg.dir.path().join("users.txt");
    std::fs::write(&list, text).unwrap();
    cli(
        cfg,
        &[
            "users",
            "import",
            "--domain",
            domain,
            list.to_str().unwrap(),
        ],
        "",
    )
}
