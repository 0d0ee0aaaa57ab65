//! Copies the admin starts rather than a login: `migrate user|bulk|domain`,
//! and the copies a restart interrupted (resumed at start-up with the domain's
//! admin credential). They wait in a queue per legacy host that lets at most
//! `max_connections - 1` of them run at once (at least one), so a first login
//! still finds a free legacy connection; each copy also takes the host's
//! `max_connections` slot like any other, and honours the host's backoff and
//! bandwidth cap.

use std::sync::Arc;
use std::time::Duration;

use super::engine::Engine;
use super::sequence::log_state;
use super::user::Phase;
use crate::auth::Password;
use crate::config::Domain;
use crate::store::{Account, AccountState};

/// A `failed` account is retried at start-up once this long has passed since
/// it was marked failed (the sequence's longest backoff).
const FAILED_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The admin queue of a legacy host.
fn admin_queue(engine: &Engine, host: &str, max_connections: usize) -> Arc<tokio::sync::Semaphore> {
    engine.hosts.cap(
        &format!("admin-queue {host}"),
        max_connections.saturating_sub(1).max(1),
    )
}

/// Queues the copy of `account`: it starts when the host's admin queue has a
/// free place (or at once when the user logs in meanwhile) and holds the place
/// until it ends. Without `password` the copy uses the domain's admin
/// credential. A `pending` account becomes `copying` when its copy starts; an
/// account that was moved meanwhile is left alone.
pub fn enqueue(
    engine: &Arc<Engine>,
    domain: &Domain,
    account: Account,
    password: Option<Password>,
) {
    let host = super::sources::open(&domain.migration)
        .map(|s| s.host_key())
        .unwrap_or_default();
    let queue = admin_queue(engine, &host, domain.migration.max_connections);
    let engine2 = engine.clone();
    engine.vault.set_queued(account.id, true);
    engine.tasks.spawn_on(
        async move {
            let permit = tokio::select! {
                p = queue.acquire_owned() => p,
                _ = engine2.shutdown.cancelled() => return,
            };
            let Ok(_permit) = permit else {
                engine2.vault.set_queued(account.id, false);
                return;
            };
            // Still "queued" until the copy runs: a `pending`/`failed` account
            // becomes `copying` meanwhile.
            let ready = ready_to_copy(&engine2, account.id).await;
            let um = ready.map(|a| engine2.ensure(&a, password.as_ref()));
            engine2.vault.set_queued(account.id, false);
            drop(password);
            let Some(um) = um else { return };
            loop {
                let p = tokio::select! {
                    p = um.wait(Duration::from_secs(5), false) => p,
                    _ = engine2.shutdown.cancelled() => return,
                };
                let current = engine2
                    .get(account.id)
                    .is_some_and(|x| Arc::ptr_eq(&x, &um));
                if matches!(p, Phase::Migrated | Phase::Failed) || !current {
                    return;
                }
            }
        },
        &super::runtime::copies(),
    );
}

/// The account as its copy starts: `pending` and `failed` become `copying`;
/// `None` when it no longer needs a copy (moved, finished, deleted).
async fn ready_to_copy(engine: &Engine, id: i64) -> Option<Account> {
    let account = match engine.store.account_by_id(id).await {
        Ok(Some(a)) => a,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(account = id, error = %e, "cannot read the queued account");
            return None;
        }
    };
    match account.state {
        AccountState::Copying => Some(account),
        AccountState::Pending => match engine.store.start_pending_account(id, None).await {
            Ok(a) => {
                log_state(&a.address, AccountState::Pending, a.state, Some("admin"));
                Some(a)
            }
            Err(e) => {
                tracing::error!(user = %account.address, error = %e, "cannot start the move");
                None
            }
        },
        AccountState::Failed => {
            if let Err(e) = engine
                .store
                .set_state(id, AccountState::Copying, None)
                .await
            {
                tracing::error!(user = %account.address, error = %e, "cannot retry the move");
                return None;
            }
            log_state(
                &account.address,
                AccountState::Failed,
                AccountState::Copying,
                Some("admin retry"),
            );
            Some(Account {
                state: AccountState::Copying,
                ..account
            })
        }
        AccountState::Local | AccountState::Migrated | AccountState::Finished => None,
    }
}

/// At start-up: every account a restart left `copying` (and every `failed`
/// one whose backoff has passed) resumes on its own when its domain has an
/// admin credential. The others wait for their user's next login, which their
/// status says.
pub async fn resume_at_startup(engine: &Arc<Engine>) {
    let accounts = match engine.store.accounts(None).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot list accounts to resume their copies");
            return;
        }
    };
    let now = crate::store::now();
    let (mut resumed, mut waiting) = (0, 0);
    for a in accounts {
        let due = match a.state {
            AccountState::Copying => true,
            AccountState::Failed => {
                now.saturating_sub(a.updated_at) >= FAILED_RETRY_AFTER.as_secs() as i64
            }
            _ => false,
        };
        if !due {
            continue;
        }
        let config = engine.config();
        let Some(domain) = config.domain(&a.domain).filter(|d| d.migrating()) else {
            continue;
        };
        if domain.migration.admin.is_some() {
            resumed += 1;
            enqueue(engine, domain, a, None);
        } else if a.state == AccountState::Copying {
            // `status` shows it as waiting for the user's next login.
            waiting += 1;
            tracing::info!(user = %a.address, "copy interrupted by a restart waits for the user's next login (no [migration.admin] credential)");
        }
    }
    if resumed + waiting > 0 {
        tracing::info!(
            resumed,
            waiting_for_login = waiting,
            "interrupted copies after start-up"
        );
    }
}
