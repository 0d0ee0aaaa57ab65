//! The daemon's services started inside the test process, and accounts made
//! straight through its store.

use std::sync::Arc;

use ferrymail::app::App;
use ferrymail::auth::{hash_password, Password};
use ferrymail::daemon;
use ferrymail::store::{Account, AccountState, Mailstore};

use super::TestConfig;

/// Starts every service of `cfg` in this process (test logging on).
pub async fn start(cfg: &TestConfig) -> (Arc<App>, daemon::Running) {
    ferrymail::logging::init_test();
    let app = App::new(cfg.load()).unwrap();
    let running = daemon::start(app.clone(), &ferrymail::daemon::services)
        .await
        .unwrap();
    (app, running)
}

/// Creates an account with `password` hashed as `account add` does (with the
/// default folders when `folders`).
pub async fn account(
    app: &App,
    address: &str,
    password: &str,
    state: AccountState,
    folders: bool,
) -> Account {
    app.store
        .create_account(
            address,
            &hash_password(&Password::new(password)),
            state,
            folders,
        )
        .await
        .unwrap()
}

/// An account with the default folders (see [`account`]); its mail store.
pub async fn mailstore(
    app: &App,
    address: &str,
    password: &str,
    state: AccountState,
) -> Arc<Mailstore> {
    let a = account(app, address, password, state, true).await;
    app.store.mailstore(a.id).await.unwrap()
}

/// The bytes of every message in INBOX, in UID order.
pub async fn inbox_bodies(ms: &Mailstore) -> Vec<Vec<u8>> {
    let inbox = ms.mailbox("INBOX").await.unwrap().unwrap();
    let mut out = Vec::new();
    for m in ms.messages(inbox.id).await.unwrap() {
        out.push(std::fs::read(ms.blob_path(&m.blob)).unwrap());
    }
    out
}
