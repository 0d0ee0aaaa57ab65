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
