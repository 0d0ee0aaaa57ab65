//! Passwords an admin handed over through the admin API (`migrate user`,
//! `migrate bulk`), in memory only, for `finish` and later passes; and the
//! accounts whose copy waits in the admin queue.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::auth::Password;

/// Passwords given by an admin, by account id, in memory only; and the
/// accounts whose copy waits in the admin queue.
#[derive(Default)]
pub struct Vault(
    Mutex<HashMap<i64, Password>>,
    Mutex<std::collections::HashSet<i64>>,
);

impl Vault {
    /// Whether the account's copy waits in the admin queue.
    pub fn is_queued(&self, account_id: i64) -> bool {
        self.1
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&account_id)
    }

    /// The accounts whose copy waits in the admin queue, now. A report takes
    /// this before it reads the accounts' states: a copy leaves the queue only
    /// after its account became `copying`, so the two never disagree.
    pub fn queued(&self) -> std::collections::HashSet<i64> {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_queued(&self, account_id: i64, queued: bool) {
        let mut q = self.1.lock().unwrap_or_else(|p| p.into_inner());
        if queued {
            q.insert(account_id);
        } else {
            q.remove(&account_id);
        }
    }

    pub fn put(&self, account_id: i64, password: Password) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account_id, password);
    }

    pub fn get(&self, account_id: i64) -> Option<Password> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&account_id)
            .cloned()
    }

    pub fn remove(&self, account_id: i64) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&account_id);
    }
}
