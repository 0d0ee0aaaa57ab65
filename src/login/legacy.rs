//! The migrating half of the login gate (DESIGN §2 step 3, and step 2 for
//! `copying` users): the check against the legacy server (any source kind),
//! account creation, starting the engine's copy, and what the session gets
//! while the copy runs (`while_copying`).

use std::sync::Arc;

use super::{refuse, LegacySession, LoginOutcome, LoginRequest, Proto};
use crate::app::App;
use crate::auth::password::hash_password_async;
use crate::config::{Domain, WhileCopying};
use crate::legacy::imap::Session;
use crate::legacy::{self, LegacyError, Login};
use crate::metrics::LegacyAuth;
use crate::migrate::engine::SMALL_MAILBOX;
use crate::migrate::error::MigrateError;
use crate::migrate::sequence::{check_credentials, legacy_user};
use crate::migrate::source::SourceSession;
use crate::migrate::sources;
use crate::migrate::user::{Phase, UserMigration};
use crate::store::{Account, AccountState, StoreError};

const UNREACHABLE: &str = "your mail server cannot be reached right now; try again later";
const MOVING: &str = "your mailbox is being moved to a new server; try again in a few minutes";

/// An account without a local password (moved with the admin credential, no
/// imported hash): the legacy server checks the password; accepted, its hash
/// becomes the local one. `Err` is the answer to give instead.
pub async fn adopt_password(
    app: &Arc<App>,
    req: &LoginRequest,
    account: &Account,
) -> Result<(), LoginOutcome> {
    let config = app.config();
    let Some(d) = config.domain(&account.domain).filter(|d| d.migrating()) else {
        return Err(refuse(app, req, "no-local-password").await);
    };
    if !app
        .throttle
        .legacy_allowed(&account.address, req.password.expose(), req.client)
    {
        app.metrics.legacy_auth(LegacyAuth::Throttled);
        return Err(refuse(app, req, "legacy-throttled").await);
    }
    match check_credentials(
        &d.migration,
        &account.address,
        &req.password,
        Some(req.client),
    )
    .await
    {
        Ok(()) => app.metrics.legacy_auth(LegacyAuth::Accepted),
        Err(MigrateError::Refused) => {
            app.metrics.legacy_auth(LegacyAuth::Refused);
            app.throttle
                .legacy_refused(&account.address, req.password.expose(), req.client);
            return Err(refuse(app, req, "legacy-password").await);
        }
        Err(e) => {
            app.metrics.legacy_auth(LegacyAuth::Unavailable);
            tracing::warn!(user = %account.address, error = %e, "legacy check failed; login answered with a temporary failure");
            return Err(LoginOutcome::Unavailable(UNREACHABLE.into()));
        }
    }
    app.throttle.legacy_accepted(&account.address);
    let hash = hash_password_async(&req.password).await;
    match app.store.set_password_hash(account.id, &hash).await {
        Ok(()) => {
            tracing::info!(user = %account.address, "local password set from the legacy server's check");
            Ok(())
        }
        Err(e) => {
            tracing::error!(user = %account.address, error = %e, "cannot store the password hash");
            Err(LoginOutcome::Unavailable(UNREACHABLE.into()))
        }
    }
}

/// A user without a local account logs in to a migrating domain.
pub async fn first_login(
    app: &Arc<App>,
    req: &LoginRequest,
    address: &str,
    domain: &Domain,
) -> LoginOutcome {
    let m = &domain.migration;
    // The legacy check: IMAP LOGIN, or POP3 USER/PASS for a POP3 source.
    let source = match sources::open(m) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(user = %address, source = ?m.source, error = %e, "domain is migrating but has no legacy host for its source");
            return LoginOutcome::Unavailable(UNREACHABLE.into());
        }
    };
    if !app
        .throttle
        .legacy_allowed(address, req.password.expose(), req.client)
    {
        app.metrics.legacy_auth(LegacyAuth::Throttled);
        return refuse(app, req, "legacy-throttled").await;
    }
    // Always the user's own password: the admin credential only copies.
    let login = Login::user(&legacy_user(address, m.legacy_login), &req.password).from(req.client);
    let started = std::time::Instant::now();
    let check = tokio::time::timeout(m.timeout, source.login(&login, None))
        .await
        .unwrap_or_else(|_| Err(MigrateError::Unavailable("timed out".into())));
    let sess: Box<dyn SourceSession> = match check {
        Ok(s) => {
            app.metrics.legacy_auth(LegacyAuth::Accepted);
            s
        }
        Err(MigrateError::Refused) => {
            app.metrics.legacy_auth(LegacyAuth::Refused);
            app.throttle
                .legacy_refused(address, req.password.expose(), req.client);
            return refuse(app, req, "legacy-password").await;
        }
        Err(e) => {
            app.metrics.legacy_auth(LegacyAuth::Unavailable);
            tracing::warn!(user = %address, legacy = %source.host_key(), error = %e, "legacy check failed; login answered with a temporary failure");
            return LoginOutcome::Unavailable(UNREACHABLE.into());
        }
    };
    app.throttle.legacy_accepted(address);
    app.throttle.success(req.client);
    let checked = started.elapsed();
    // Hashing the password (tens of ms of CPU) and counting the legacy messages
    // (whether this login may wait for the copy) overlap, on the session that
    // just checked the password; the copy's own session then skips the count.
    // The count takes one of the copies' legacy connection slots for its
    // duration (it is work on the legacy server like theirs), and hands it
    // back just before the copy starts. When every slot is taken the copy
    // will queue, so the login will not wait for it either: no count at all
    // (under a burst of first logins this spares the legacy server those
    // commands).
    let sizing = app
        .migrations
        .hosts
        .cap(&source.host_key(), m.max_connections)
        .try_acquire_owned()
        .ok();
    let mut sess = Some(sess);
    let (hash, small) = match sess.as_mut() {
        Some(s) if req.protocol != Proto::Smtp && sizing.is_some() => {
            let bound = m.serve_locally_within.min(m.timeout);
            let (hash, count) = tokio::join!(
                hash_password_async(&req.password),
                tokio::time::timeout(bound, s.at_most(SMALL_MAILBOX))
            );
            match count {
                Ok(Ok(small)) => (hash, Some(small)),
                // Slower than the wait a small mailbox would get: do not wait.
                // The session's state is unknown: not reused for proxying.
                // Dropped, not logged out: a logout could wait for the
                // command still in flight.
                _ => {
                    sess = None;
                    (hash, Some(false))
                }
            }
        }
        _ if req.protocol != Proto::Smtp => (hash_password_async(&req.password).await, Some(false)),
        _ => (hash_password_async(&req.password).await, None),
    };
    let sized = started.elapsed();
    // Only an IMAP session can be handed over to an IMAP client's relay; any
    // other closes before the copy logs in (a POP3 server may lock the
    // maildrop per session).
    if req.protocol != Proto::Imap || !sess.as_ref().is_some_and(|s| s.is_imap()) {
        logout(sess.take()).await;
    }
    let account = match app.store.create_copying_account(address, &hash).await {
        Ok(a) => {
            tracing::info!(user = %address, from = "none", to = "copying", "account state changed");
            a
        }
        // Imported (`pending`), or a concurrent first login created it: carry
        // on with that account (a pending one starts its move now).
        Err(StoreError::AlreadyExists(_)) => match app.store.account(address).await {
            Ok(Some(a)) if a.state == AccountState::Pending => {
                match app.store.start_pending_account(a.id, Some(&hash)).await {
                    Ok(a) => {
                        tracing::info!(user = %address, from = "pending", to = "copying", "account state changed");
                        a
                    }
                    Err(e) => {
                        tracing::error!(user = %address, error = %e, "cannot start the pending account's move");
                        logout(sess).await;
                        return LoginOutcome::Unavailable(UNREACHABLE.into());
                    }
                }
            }
            Ok(Some(a)) => a,
            _ => {
                logout(sess).await;
                return LoginOutcome::Unavailable(UNREACHABLE.into());
            }
        },
        Err(e) => {
            tracing::error!(user = %address, error = %e, "cannot create the account");
            logout(sess).await;
            return LoginOutcome::Unavailable(UNREACHABLE.into());
        }
    };
    if account.state.serves_locally() {
        logout(sess).await;
        return LoginOutcome::Local(account);
    }
    let created = started.elapsed();
    drop(sizing);
    let um = app.migrations.ensure_sized(&account, &req.password, small);
    let outcome = while_copying(app, req, account, &um, domain, sess).await;
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    tracing::info!(
        user = %address,
        legacy_check_ms = ms(checked),
        sized_ms = ms(sized),
        account_ms = ms(created),
        total_ms = ms(started.elapsed()),
        small = ?small,
        "first login answered"
    );
    outcome
}

async fn logout(sess: Option<Box<dyn SourceSession>>) {
    if let Some(s) = sess {
        s.close().await;
    }
}

/// A `copying` (or `failed`) user whose local password verified logs in.
pub async fn copying_login(app: &Arc<App>, req: &LoginRequest, account: Account) -> LoginOutcome {
    let config = app.config();
    let Some(domain) = config.domain(&account.domain) else {
        return LoginOutcome::Unavailable(MOVING.into());
    };
    let um = app.migrations.ensure(&account, Some(&req.password));
    while_copying(app, req, account, &um, domain, None).await
}

/// What an authenticated user gets while their copy runs.
async fn while_copying(
    app: &Arc<App>,
    req: &LoginRequest,
    account: Account,
    um: &Arc<UserMigration>,
    domain: &Domain,
    mut sess: Option<Box<dyn SourceSession>>,
) -> LoginOutcome {
    let m = &domain.migration;
    if req.protocol == Proto::Smtp {
        // SMTP AUTH needs only the identity; routing sends the mail to the legacy
        // server until the flip.
        logout(sess).await;
        return LoginOutcome::Local(account);
    }
    // Small mailboxes: the copy may be done within a short bound.
    let mut phase = um.wait_if_small(m.serve_locally_within).await;
    loop {
        if phase == Phase::Switching {
            phase = um.wait(m.timeout, true).await;
        }
        if phase == Phase::Migrated {
            logout(sess.take()).await;
            return match app.store.account_by_id(account.id).await {
                Ok(Some(a)) if a.state.serves_locally() => LoginOutcome::Local(a),
                _ => LoginOutcome::Unavailable(MOVING.into()),
            };
        }
        if phase == Phase::Switching {
            return LoginOutcome::Unavailable(MOVING.into());
        }
        match m.while_copying {
            WhileCopying::Reject => {
                logout(sess.take()).await;
                return LoginOutcome::Unavailable(MOVING.into());
            }
            WhileCopying::Wait => {
                let p = um.wait(m.wait, false).await;
                if matches!(p, Phase::Migrated | Phase::Switching) {
                    phase = p;
                    continue;
                }
            }
            WhileCopying::Proxy => {}
        }
        // ManageSieve has no legacy session to relay to: a temporary failure.
        if req.protocol == Proto::ManageSieve {
            logout(sess.take()).await;
            return LoginOutcome::Unavailable(MOVING.into());
        }
        // POP3 with no legacy POP3 server to relay to: hold the login like
        // `wait`, then a temporary failure.
        if req.protocol == Proto::Pop3 && m.pop3.is_none() {
            if m.while_copying != WhileCopying::Wait {
                let p = um.wait(m.wait, false).await;
                if matches!(p, Phase::Migrated | Phase::Switching) {
                    phase = p;
                    continue;
                }
            }
            logout(sess.take()).await;
            return LoginOutcome::Unavailable(MOVING.into());
        }
        let Some(end) = um.session_token() else {
            // The switch began meanwhile: wait for it.
            phase = Phase::Switching;
            continue;
        };
        return proxy(app, req, account, domain, sess, end).await;
    }
}

/// Opens (or reuses) a session on the legacy server for relaying.
async fn proxy(
    app: &Arc<App>,
    req: &LoginRequest,
    account: Account,
    domain: &Domain,
    mut sess: Option<Box<dyn SourceSession>>,
    end: tokio_util::sync::CancellationToken,
) -> LoginOutcome {
    let _ = app;
    let m = &domain.migration;
    let login = Login::user(
        &legacy_user(&account.address, m.legacy_login),
        &req.password,
    )
    .from(req.client);
    let opened = match req.protocol {
        Proto::Imap => {
            // The checking session, when it is an IMAP one, is taken over.
            let handed = sess.as_mut().and_then(|s| s.take_imap_connection());
            logout(sess).await;
            match handed {
                Some((conn, caps)) => Ok((conn, Some(caps))),
                None => match m.imap.as_ref() {
                    Some(ep) => Session::login(ep, m.timeout, &login).await.map(|s| {
                        let caps = s.capability_line.clone();
                        (s.into_conn(), Some(caps))
                    }),
                    None => Err(LegacyError::Unavailable("no [migration.imap] host".into())),
                },
            }
        }
        Proto::Pop3 | Proto::Smtp | Proto::ManageSieve => {
            logout(sess).await;
            match m.pop3.as_ref() {
                Some(ep) => legacy::pop3::login(ep, m.timeout, &login)
                    .await
                    .map(|c| (c, None)),
                None => Err(LegacyError::Unavailable(
                    "no [migration.pop3] host to proxy POP3 sessions to".into(),
                )),
            }
        }
    };
    match opened {
        Ok((conn, capabilities)) => {
            tracing::info!(user = %account.address, proto = req.protocol.name(), "session proxied to the legacy server while the mailbox is copied");
            LoginOutcome::Proxy(
                account,
                Box::new(LegacySession {
                    conn,
                    capabilities,
                    end,
                }),
            )
        }
        Err(e) => {
            tracing::warn!(user = %account.address, proto = req.protocol.name(), error = %e, "cannot open the proxied legacy session");
            LoginOutcome::Unavailable(MOVING.into())
        }
    }
}
