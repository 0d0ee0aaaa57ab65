//! One IMAP session: the state machine of RFC 3501 §3, the command loop, the
//! allowed-in-state check, dispatch, and the tagged reply after any updates.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::convert::{self, Parsed};
use super::proto::Cmd;
use super::reader::{self, Input, Limits};
use super::selected::Selected;
use super::{ImapService, UserSlot};
use crate::app::App;
use crate::config::ListenerSpec;
use crate::legacy::relay::Goodbye;
use crate::login::LegacySession;
use crate::server::{Conn, ConnError};
use crate::store::{Account, Change, Mailstore, StoreError};

/// Failed logins in one session before BYE.
pub const MAX_AUTH_FAILURES: u32 = 5;
/// Invalid commands in one session before BYE.
pub const MAX_BAD_COMMANDS: u32 = 30;

/// A logged-in user.
pub struct User {
    pub account: Account,
    pub ms: Arc<Mailstore>,
    pub rx: broadcast::Receiver<Change>,
    pub _slot: UserSlot,
}

/// RFC 3501 §3 states; each owns what is valid in it.
pub enum State {
    NotAuthenticated,
    Authenticated(User),
    Selected(User, Box<Selected>),
    Logout,
}

/// How a command ended.
pub enum Done {
    Ok(String),
    No(String),
    Bad(String),
    /// The handler wrote its own tagged reply.
    Written,
    /// Close the connection (a BYE has been written).
    Close,
    /// Hand the connection to the legacy server.
    Proxy(Box<LegacySession>),
}

pub struct Session {
    pub svc: Arc<ImapService>,
    pub app: Arc<App>,
    pub conn: Conn,
    pub state: State,
    pub auth_failures: u32,
    pub bad_commands: u32,
    /// CONDSTORE enabled (RFC 7162 §3.1).
    pub condstore: bool,
    /// QRESYNC enabled (RFC 7162 §3.2.3).
    pub qresync: bool,
    /// SEARCHRES (RFC 5182): the UIDs `$` stands for.
    pub saved: Vec<u32>,
    /// The messages of the APPEND being run that were streamed to files, in
    /// order.
    pub streamed: Vec<crate::store::BlobWriter>,
}

pub async fn run(svc: Arc<ImapService>, conn: Conn, _listener: ListenerSpec) {
    let app = svc.app.clone();
    let mut s = Session {
        svc,
        app,
        conn,
        state: State::NotAuthenticated,
        auth_failures: 0,
        bad_commands: 0,
        condstore: false,
        qresync: false,
        saved: Vec::new(),
        streamed: Vec::new(),
    };
    let hostname = s.app.config().hostname.clone();
    let caps = s.capabilities();
    s.conn.write(
        format!("* OK [CAPABILITY {caps}] {hostname} ferrymail IMAP4rev1 ready\r\n").as_bytes(),
    );
    if s.conn.flush().await.is_err() {
        return;
    }
    let login_by = crate::server::conn::login_deadline(s.conn.timeout());
    loop {
        let cfg = s.app.config();
        let pre_login = matches!(s.state, State::NotAuthenticated);
        s.conn.set_deadline(pre_login.then_some(login_by));
        // Before login an APPEND literal is bounded like any other literal.
        let sink = s.user().map(|u| u.ms.clone());
        let limits = Limits {
            max_line: cfg.imap.max_line_length,
            append_limit: if sink.is_some() {
                cfg.imap.append_limit
            } else {
                cfg.imap.max_line_length as u64
            },
            other_literals: cfg.imap.max_line_length as u64,
        };
        let done = match reader::read_command(&mut s.conn, limits, sink.as_deref()).await {
            Input::Command { bytes, blobs } => match convert::parse(&s.expand_saved(&bytes)) {
                Parsed::Ok { tag, cmd } => {
                    let name = cmd.name();
                    s.streamed = blobs;
                    let done = s.command(&tag, cmd).await;
                    // Unused (the command failed earlier): the file goes away.
                    s.streamed = Vec::new();
                    s.finish(&tag, name, done).await
                }
                Parsed::No { tag, text } => s.finish(&tag, "", Done::No(text)).await,
                Parsed::Bad { tag, text } => {
                    // RFC 5182 §2.1: a SEARCH with SAVE that fails empties `$`.
                    if convert::saves_result(&bytes) {
                        s.saved.clear();
                    }
                    let tag = tag.unwrap_or_else(|| "*".into());
                    s.finish(&tag, "", Done::Bad(text)).await
                }
            },
            Input::StoreFailed { tag, error } => {
                let tag = tag.unwrap_or_else(|| "*".into());
                let done = store_error(error);
                s.finish(&tag, "APPEND", done).await
            }
            Input::TooLong { tag } => {
                let tag = tag.unwrap_or_else(|| "*".into());
                s.finish(&tag, "", Done::Bad("Command line too long".into()))
                    .await
            }
            Input::TooBig { tag, limit } => {
                let tag = tag.unwrap_or_else(|| "*".into());
                s.finish(
                    &tag,
                    "",
                    Done::No(format!(
                        "[TOOBIG] Literal larger than the limit of {limit} bytes"
                    )),
                )
                .await
            }
            Input::TooBigNonSync { tag } => {
                let tag = tag.unwrap_or_else(|| "*".into());
                s.conn.write(
                    format!("{tag} BAD [TOOBIG] Literal too large\r\n* BYE Literal too large, closing\r\n")
                        .as_bytes(),
                );
                Flow::Close
            }
            Input::Conn(ConnError::Shutdown) => {
                s.conn
                    .write(b"* BYE [UNAVAILABLE] Server shutting down\r\n");
                Flow::Close
            }
            Input::Conn(ConnError::Timeout)
                if pre_login && tokio::time::Instant::now() >= login_by =>
            {
                s.conn
                    .write(b"* BYE Login timeout: log in within a few minutes of connecting\r\n");
                Flow::Close
            }
            Input::Conn(ConnError::Timeout) => {
                s.conn.write(b"* BYE Autologout; idle for too long\r\n");
                Flow::Close
            }
            Input::Conn(_) => return,
        };
        match done {
            Flow::Continue => {
                if s.conn.flush().await.is_err() {
                    return;
                }
            }
            Flow::Close => break,
            Flow::Proxy(legacy) => {
                s.conn.set_deadline(None);
                let idle = std::time::Duration::from_secs(cfg.imap.timeout_secs.max(1));
                let _ = crate::legacy::relay::relay(
                    s.conn,
                    legacy.conn,
                    idle,
                    legacy.end,
                    Goodbye::Imap,
                )
                .await;
                return;
            }
        }
    }
    s.conn.close().await;
}

pub enum Flow {
    Continue,
    Close,
    Proxy(Box<LegacySession>),
}

/// Where a command may be used (RFC 3501 §6).
#[derive(PartialEq, Eq)]
enum Allowed {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

fn allowed(cmd: &Cmd) -> Allowed {
    match cmd {
        Cmd::Capability | Cmd::Noop | Cmd::Logout | Cmd::Id | Cmd::Unsupported(_) => Allowed::Any,
        Cmd::StartTls | Cmd::Authenticate { .. } | Cmd::Login { .. } => Allowed::NotAuthenticated,
        Cmd::Select { .. }
        | Cmd::Create(_)
        | Cmd::Delete(_)
        | Cmd::Rename(..)
        | Cmd::Subscribe(_)
        | Cmd::Unsubscribe(_)
        | Cmd::List(_)
        | Cmd::Status { .. }
        | Cmd::Append { .. }
        | Cmd::Idle
        | Cmd::Compress
        | Cmd::Enable(_)
        | Cmd::Namespace
        | Cmd::GetQuota(_)
        | Cmd::GetQuotaRoot(_)
        | Cmd::SetQuota => Allowed::Authenticated,
        Cmd::Check
        | Cmd::Close
        | Cmd::Unselect
        | Cmd::Expunge { .. }
        | Cmd::Search { .. }
        | Cmd::Sort { .. }
        | Cmd::Thread { .. }
        | Cmd::Fetch { .. }
        | Cmd::Store { .. }
        | Cmd::Copy { .. } => Allowed::Selected,
    }
}

/// Commands during which EXPUNGE responses must not be sent (RFC 3501 §7.4.1).
fn holds_expunges(cmd_name: &str) -> bool {
    matches!(
        cmd_name,
        "FETCH" | "STORE" | "SEARCH" | "SORT" | "THREAD" | "COPY" | "MOVE"
    )
}

impl Session {
    /// The capability list for the current state and connection.
    pub fn capabilities(&self) -> String {
        let cfg = self.app.config();
        let mut c = String::from("IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE CONDSTORE BINARY LIST-EXTENDED ESEARCH MULTIAPPEND CATENATE SORT SORT=DISPLAY ESORT LIST-STATUS STATUS=SIZE QRESYNC WITHIN SEARCHRES COMPRESS=DEFLATE THREAD=ORDEREDSUBJECT THREAD=REFERENCES QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE");
        c.push_str(&format!(" APPENDLIMIT={}", cfg.imap.append_limit));
        if matches!(self.state, State::NotAuthenticated) {
            if !self.conn.is_tls() {
                c.push_str(" STARTTLS");
            }
            if self.plaintext_allowed() {
                c.push_str(" AUTH=PLAIN");
            } else {
                c.push_str(" LOGINDISABLED");
            }
        }
        c
    }

    pub fn plaintext_allowed(&self) -> bool {
        self.conn.is_tls() || self.app.config().auth.allow_plaintext
    }

    pub fn untagged(&mut self, line: &str) {
        self.conn.write(b"* ");
        self.conn.write(line.as_bytes());
        self.conn.write(b"\r\n");
    }

    /// The command with `$` (SEARCHRES) replaced by the saved messages.
    fn expand_saved<'b>(&self, bytes: &'b [u8]) -> std::borrow::Cow<'b, [u8]> {
        let seq_of = |u: u32| match &self.state {
            State::Selected(_, sel) => sel.seq_of(u),
            _ => None,
        };
        match super::searchres::expand(bytes, &self.saved, seq_of) {
            Some(v) => std::borrow::Cow::Owned(v),
            None => std::borrow::Cow::Borrowed(bytes),
        }
    }

    /// Runs one command.
    async fn command(&mut self, tag: &str, cmd: Cmd) -> Done {
        let where_ = allowed(&cmd);
        let ok = matches!(
            (&where_, &self.state),
            (Allowed::Any, _)
                | (Allowed::NotAuthenticated, State::NotAuthenticated)
                | (
                    Allowed::Authenticated,
                    State::Authenticated(_) | State::Selected(..)
                )
                | (Allowed::Selected, State::Selected(..))
        );
        if !ok {
            let why = match (where_, &self.state) {
                (Allowed::NotAuthenticated, _) => "Already authenticated",
                (_, State::NotAuthenticated) => "Log in first",
                _ => "No mailbox selected",
            };
            return Done::Bad(format!("{} not allowed now: {why}", cmd.name()));
        }
        tracing::trace!(tag, command = cmd.name(), "imap command");
        // (SELECT/EXAMINE (CONDSTORE) report it themselves.)
        let condstore_was = self.condstore
            || !matches!(self.state, State::Selected(..))
            || matches!(cmd, Cmd::Select { .. });
        let done = match cmd {
            Cmd::Capability => self.cmd_capability(),
            Cmd::Noop | Cmd::Check => Done::Ok(format!("{} completed", cmd.name())),
            Cmd::Logout => self.cmd_logout(tag),
            Cmd::Id => self.cmd_id(),
            Cmd::Namespace => self.cmd_namespace(),
            Cmd::GetQuota(root) => self.cmd_getquota(&root).await,
            Cmd::GetQuotaRoot(mailbox) => self.cmd_getquotaroot(&mailbox).await,
            Cmd::SetQuota => Done::No("[NOPERM] Quotas are set by the administrator".into()),
            Cmd::Enable(caps) => self.cmd_enable(caps),
            Cmd::StartTls => self.cmd_starttls(tag).await,
            Cmd::Login { user, password } => self.cmd_login(tag, user, password).await,
            Cmd::Authenticate { mechanism, initial } => {
                self.cmd_authenticate(tag, mechanism, initial).await
            }
            Cmd::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } => {
                self.cmd_select(mailbox, read_only, condstore, qresync)
                    .await
            }
            Cmd::Unselect => self.cmd_close(false).await,
            Cmd::Close => self.cmd_close(true).await,
            Cmd::Create(m) => self.cmd_create(m).await,
            Cmd::Delete(m) => self.cmd_delete(m).await,
            Cmd::Rename(a, b) => self.cmd_rename(a, b).await,
            Cmd::Subscribe(m) => self.cmd_subscribe(m, true).await,
            Cmd::Unsubscribe(m) => self.cmd_subscribe(m, false).await,
            Cmd::List(args) => self.cmd_list(args).await,
            Cmd::Status { mailbox, items } => self.cmd_status(mailbox, items).await,
            Cmd::Append { mailbox, messages } => self.cmd_append(mailbox, messages).await,
            Cmd::Expunge { uids } => self.cmd_expunge(uids).await,
            Cmd::Search {
                uid,
                charset,
                key,
                ret,
            } => self.cmd_search(tag, uid, charset, key, ret).await,
            Cmd::Sort {
                uid,
                criteria,
                charset,
                key,
                ret,
            } => self.cmd_sort(tag, uid, criteria, charset, key, ret).await,
            Cmd::Thread {
                uid,
                algorithm,
                charset,
                key,
            } => self.cmd_thread(uid, algorithm, charset, key).await,
            Cmd::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                self.cmd_fetch(uid, set, items, changed_since, vanished)
                    .await
            }
            Cmd::Store {
                uid,
                set,
                op,
                silent,
                flags,
                unchanged_since,
            } => {
                self.cmd_store(uid, set, op, silent, flags, unchanged_since)
                    .await
            }
            Cmd::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } => self.cmd_copy(uid, set, mailbox, is_move).await,
            Cmd::Idle => self.cmd_idle(tag).await,
            Cmd::Compress => {
                if self.conn.is_compressed() {
                    return Done::No("[COMPRESSIONACTIVE] DEFLATE is already active".into());
                }
                // The OK goes out as it is; everything after it is deflated.
                self.conn
                    .write(format!("{tag} OK DEFLATE active\r\n").as_bytes());
                match self.conn.start_deflate().await {
                    Ok(()) => Done::Written,
                    Err(e) => {
                        tracing::debug!(error = %e, "imap: COMPRESS failed");
                        Done::Close
                    }
                }
            }
            Cmd::Unsupported(name) => Done::Bad(format!("{name} is not supported")),
        };
        // RFC 7162 §3.1: the first CONDSTORE-enabling command while a mailbox
        // is selected reports its HIGHESTMODSEQ.
        if !condstore_was && self.condstore {
            if let State::Selected(user, sel) = &self.state {
                if let Ok(Some(info)) = user.ms.mailbox_by_id(sel.mailbox_id).await {
                    let h = info.highestmodseq.max(sel.modseq);
                    self.untagged(&format!("OK [HIGHESTMODSEQ {h}] Highest"));
                }
            }
        }
        done
    }

    /// Sends what the selected mailbox owes the client, then the tagged reply.
    async fn finish(&mut self, tag: &str, cmd_name: &str, done: Done) -> Flow {
        match done {
            Done::Close => return Flow::Close,
            Done::Proxy(l) => return Flow::Proxy(l),
            _ => {}
        }
        let allow_expunge = !holds_expunges(cmd_name);
        if let Err(e) = self.sync(allow_expunge).await {
            tracing::error!(error = %e, "imap: mailbox update failed");
        }
        let line = match done {
            Done::Ok(t) => format!("{tag} OK {t}\r\n"),
            Done::No(t) => format!("{tag} NO {t}\r\n"),
            Done::Bad(t) => {
                self.bad_commands += 1;
                if self.bad_commands > MAX_BAD_COMMANDS {
                    self.conn.write(format!("{tag} BAD {t}\r\n").as_bytes());
                    self.conn.write(b"* BYE Too many invalid commands\r\n");
                    return Flow::Close;
                }
                format!("{tag} BAD {t}\r\n")
            }
            Done::Written | Done::Close | Done::Proxy(_) => String::new(),
        };
        self.conn.write(line.as_bytes());
        if matches!(self.state, State::Logout) {
            return Flow::Close;
        }
        Flow::Continue
    }

    /// Brings the selected mailbox up to date, writing the untagged responses.
    pub async fn sync(&mut self, allow_expunge: bool) -> Result<(), StoreError> {
        let condstore = self.condstore;
        if let State::Selected(user, sel) = &mut self.state {
            sel.drain(&mut user.rx);
            let mut out = Vec::new();
            let r = sel.sync(&user.ms, &mut out, allow_expunge, condstore).await;
            self.conn.write(&out);
            match r {
                Err(StoreError::NotFound(_)) => {
                    // Deleted (or renamed away) by another session.
                    self.deselect();
                    self.conn
                        .write(b"* OK [CLOSED] The selected mailbox no longer exists\r\n");
                }
                r => r?,
            }
        }
        Ok(())
    }

    /// The logged-in user, in the authenticated and selected states.
    pub fn user(&self) -> Option<&User> {
        match &self.state {
            State::Authenticated(u) | State::Selected(u, _) => Some(u),
            _ => None,
        }
    }

    /// Leaves the selected state (keeping the user).
    pub fn deselect(&mut self) -> Option<Selected> {
        // SEARCHRES: `$` is empty again in another mailbox (RFC 5182 §2.1).
        self.saved.clear();
        match std::mem::replace(&mut self.state, State::Logout) {
            State::Selected(u, s) => {
                self.state = State::Authenticated(u);
                Some(*s)
            }
            other => {
                self.state = other;
                None
            }
        }
    }
}

/// A store error as the client sees it; the detail goes to the log.
pub fn store_error(e: StoreError) -> Done {
    match e {
        StoreError::NotFound(_) => Done::No("[NONEXISTENT] No such mailbox".into()),
        StoreError::AlreadyExists(_) => Done::No("[ALREADYEXISTS] Mailbox already exists".into()),
        StoreError::Invalid(t) => Done::No(format!("[CANNOT] {t}")),
        e if e.is_disk_full() => {
            tracing::error!(error = %e, "imap: disk full");
            Done::No("[OVERQUOTA] Not enough disk space, try again later".into())
        }
        e => {
            tracing::error!(error = %e, "imap: store error");
            Done::No("[SERVERBUG] Internal error, try again later".into())
        }
    }
}
