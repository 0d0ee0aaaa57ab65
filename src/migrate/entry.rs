//! The migrating half of the login path (DESIGN §2 step 3, and step 2 for
//! `copying` users): the legacy check, account creation, starting the copy, and
//! what the session gets while the copy runs (`while_copying`).

use std::sync::Arc;

use super::copy;
use super::registry::{legacy_user, Phase, Registry, UserMigration, SMALL_MAILBOX};
use crate::auth::login::{refuse, LegacySession, LoginOutcome, LoginRequest, Proto};
use crate::auth::password::hash_password_async;
use crate::config::{Domain, Source, WhileCopying};
use crate::legacy::imap::Session;
use crate::legacy::{self, LegacyError};
use crate::server::App;
use crate::store::{Account, StoreError};

const UNREACHABLE: &str = "your mail server cannot be reached right now; try again later";
const MOVING: &str = "your mailbox is being moved to a new server; try again in a few minutes";

/// A user without a local account logs in to a migrating domain.
pub async fn first_login(
    app: &Arc<App>,
    req: &LoginRequest,
    address: &str,
    domain: &Domain,
) -> LoginOutcome {
    let m = &domain.migration;
    // The legacy check: IMAP LOGIN, or POP3 USER/PASS for a POP3 source.
    let ep = match m.source {
        Source::Imap => m.imap.clone(),
        Source::Pop3 => m.pop3.clone(),
    };
    let Some(ep) = ep else {
        tracing::error!(user = %address, source = ?m.source, "domain is migrating but has no legacy host for its source");
        return LoginOutcome::Unavailable(UNREACHABLE.into());
    };
    if !app
        .throttle
        .legacy_allowed(address, req.password.expose(), req.client)
    {
        return refuse(app, req, "legacy-throttled").await;
    }
    let user = legacy_user(address, m.legacy_login);
    let started = std::time::Instant::now();
    let check = tokio::time::timeout(m.timeout, async {
        match m.source {
            Source::Imap => Session::login(&ep, m.timeout, &user, &req.password)
                .await
                .map(Some),
            Source::Pop3 => {
                let conn = legacy::pop3::login(&ep, m.timeout, &user, &req.password).await?;
                legacy::pop3::quit(conn).await;
                Ok(None)
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(LegacyError::Unavailable("timed out".into())));
    let sess: Option<Session> = match check {
        Ok(s) => s,
        Err(LegacyError::Refused) => {
            app.throttle
                .legacy_refused(address, req.password.expose(), req.client);
            return refuse(app, req, "legacy-password").await;
        }
        Err(e) => {
            tracing::warn!(user = %address, legacy = %legacy::host_key(&ep), error = %e, "legacy check failed; login answered with a temporary failure");
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
        .host_cap(&legacy::host_key(&ep), m.max_connections)
        .try_acquire_owned()
        .ok();
    let (hash, small, sess) = match sess {
        Some(mut s) if req.protocol != Proto::Smtp && sizing.is_some() => {
            let bound = m.serve_locally_within.min(m.timeout);
            let (hash, count) = tokio::join!(
                hash_password_async(&req.password),
                tokio::time::timeout(bound, copy::at_most(&mut s, SMALL_MAILBOX))
            );
            match count {
                Ok(Ok(small)) => (hash, Some(small), Some(s)),
                // Slower than the wait a small mailbox would get: do not wait.
                // The session's state is unknown: not reused for proxying.
                _ => (hash, Some(false), None),
            }
        }
        Some(s) if req.protocol != Proto::Smtp => (
            hash_password_async(&req.password).await,
            Some(false),
            Some(s),
        ),
        s => (hash_password_async(&req.password).await, None, s),
    };
    let sized = started.elapsed();
    let account = match app.store.create_copying_account(address, &hash).await {
        Ok(a) => {
            tracing::info!(user = %address, from = "none", to = "copying", "account state changed");
            a
        }
        // A concurrent first login created it: carry on with that account.
        Err(StoreError::AlreadyExists(_)) => match app.store.account(address).await {
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
    let um = Registry::ensure_sized(app, &account, &req.password, small);
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

async fn logout(sess: Option<Session>) {
    if let Some(s) = sess {
        s.logout().await;
    }
}

/// A `copying` (or `failed`) user whose local password verified logs in.
pub async fn copying_login(app: &Arc<App>, req: &LoginRequest, account: Account) -> LoginOutcome {
    let config = app.config();
    let Some(domain) = config.domain(&account.domain) else {
        return LoginOutcome::Unavailable(MOVING.into());
    };
    let um = Registry::ensure(app, &account, &req.password);
    while_copying(app, req, account, &um, domain, None).await
}

/// What an authenticated user gets while their copy runs.
async fn while_copying(
    app: &Arc<App>,
    req: &LoginRequest,
    account: Account,
    um: &Arc<UserMigration>,
    domain: &Domain,
    mut sess: Option<Session>,
) -> LoginOutcome {
    let m = &domain.migration;
    if req.protocol == Proto::Smtp {
        // SMTP AUTH needs only the identity; routing sends the mail to the legacy
        // server until the flip.
        if let Some(s) = sess {
            s.logout().await;
        }
        return LoginOutcome::Local(account);
    }
    // Small mailboxes: the copy may be done within a short bound.
    let mut phase = um.wait_if_small(m.serve_locally_within).await;
    loop {
        if phase == Phase::Switching {
            phase = um.wait(m.timeout, true).await;
        }
        if phase == Phase::Migrated {
            if let Some(s) = sess.take() {
                s.logout().await;
            }
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
                if let Some(s) = sess.take() {
                    s.logout().await;
                }
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
            if let Some(s) = sess.take() {
                s.logout().await;
            }
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
    sess: Option<Session>,
    end: tokio_util::sync::CancellationToken,
) -> LoginOutcome {
    let _ = app;
    let m = &domain.migration;
    let user = legacy_user(&account.address, m.legacy_login);
    let opened = match req.protocol {
        Proto::Imap => {
            let s = match sess {
                Some(s) => Ok(s),
                None => match m.imap.as_ref() {
                    Some(ep) => Session::login(ep, m.timeout, &user, &req.password).await,
                    None => Err(LegacyError::Unavailable("no [migration.imap] host".into())),
                },
            };
            s.map(|s| {
                let caps = s.capability_line.clone();
                (s.into_conn(), Some(caps))
            })
        }
        Proto::Pop3 | Proto::Smtp => {
            if let Some(s) = sess {
                s.logout().await;
            }
            match m.pop3.as_ref() {
                Some(ep) => legacy::pop3::login(ep, m.timeout, &user, &req.password)
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
