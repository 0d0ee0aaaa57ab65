//! One user's running migration, as the login gate and the sequence share it:
//! its [`Phase`], the password held while the copy needs it, the tokens that
//! end the user's proxied sessions at the switch, and what is known of the
//! mailbox size.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::auth::Password;

/// Where one user's running migration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The copy runs; logins are proxied / held / refused per `while_copying`.
    Copying,
    /// The switch runs: new logins are held until it ends.
    Switching,
    /// Flipped: serve locally.
    Migrated,
    /// Gave up after repeated failures (logins are still proxied).
    Failed,
}

/// One user's migration while it runs.
pub struct UserMigration {
    pub account_id: i64,
    pub address: String,
    pub domain: String,
    /// The password the user last logged in with: held only while the copy
    /// runs. `None`: the copy uses the domain's admin credential.
    password: Mutex<Option<Password>>,
    phase: watch::Sender<Phase>,
    /// Parent of the `end` tokens of this user's proxied sessions.
    end: Mutex<CancellationToken>,
    /// `Some(true)` once the copy knows the mailbox is small, `Some(false)` when
    /// it is big or the copy has to queue for a legacy connection.
    small: watch::Sender<Option<bool>>,
}

impl UserMigration {
    /// A migration starting in `Copying`, with what the login knew of the size.
    pub(super) fn new(
        account: &crate::store::Account,
        password: Option<&Password>,
        small: Option<bool>,
    ) -> UserMigration {
        UserMigration {
            account_id: account.id,
            address: account.address.clone(),
            domain: account.domain.clone(),
            password: Mutex::new(password.cloned()),
            phase: watch::channel(Phase::Copying).0,
            end: Mutex::new(CancellationToken::new()),
            small: watch::channel(small).0,
        }
    }

    /// A login learned the size: kept unless the copy already knows it.
    pub(super) fn learn_small(&self, small: Option<bool>) {
        if small.is_some() {
            self.small.send_if_modified(|s| {
                s.is_none() && {
                    *s = small;
                    true
                }
            });
        }
    }

    /// Whether the copy already knows if the mailbox is small.
    pub(super) fn small_known(&self) -> bool {
        self.small.borrow().is_some()
    }
}

impl UserMigration {
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Waits up to `bound` for the phase to leave `Copying`/`Switching` (with
    /// `only_switching`, just `Switching`); returns the phase then.
    pub async fn wait(&self, bound: Duration, only_switching: bool) -> Phase {
        let mut rx = self.phase.subscribe();
        let done = |p: &Phase| match p {
            Phase::Switching => false,
            Phase::Copying => only_switching,
            Phase::Migrated | Phase::Failed => true,
        };
        let _ = tokio::time::timeout(bound, rx.wait_for(done)).await;
        let p = *rx.borrow();
        p
    }

    /// Waits up to `bound` for the copy to finish, giving up early once the copy
    /// knows the mailbox is not small (DESIGN §2: small mailboxes are served
    /// locally at once; big ones never delay the first login).
    pub async fn wait_if_small(&self, bound: Duration) -> Phase {
        let mut phase = self.phase.subscribe();
        let mut small = self.small.subscribe();
        let _ = tokio::time::timeout(bound, async {
            tokio::select! {
                _ = phase.wait_for(|p| matches!(p, Phase::Migrated | Phase::Failed)) => {}
                _ = small.wait_for(|s| *s == Some(false)) => {}
            }
        })
        .await;
        self.phase()
    }

    /// A token for a new proxied session, or `None` when the switch has begun (the
    /// caller then waits for it instead of proxying).
    pub fn session_token(&self) -> Option<CancellationToken> {
        let end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        match self.phase() {
            Phase::Copying | Phase::Failed => Some(end.child_token()),
            Phase::Switching | Phase::Migrated => None,
        }
    }

    pub(super) fn set_phase(&self, p: Phase) {
        let _guard = self.end.lock().unwrap_or_else(|p| p.into_inner());
        self.phase.send_replace(p);
    }

    /// Holds new logins and ends the proxied sessions.
    pub(super) fn begin_switch(&self) {
        let mut end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        self.phase.send_replace(Phase::Switching);
        end.cancel();
        *end = CancellationToken::new();
    }

    pub(super) fn password(&self) -> Option<Password> {
        self.password
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the copy learned about the mailbox size (see `small`).
    pub(super) fn set_small(&self, small: bool) {
        self.small.send_replace(Some(small));
    }

    pub(super) fn set_password(&self, p: Option<Password>) {
        *self.password.lock().unwrap_or_else(|p| p.into_inner()) = p;
    }
}
