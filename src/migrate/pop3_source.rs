//! The POP3 source (`[migration] source = "pop3"`): INBOX only, with the
//! legacy UIDLs kept ([`super::pop3copy`]). A POP3 session sees the maildrop as
//! it was at login, so each pass after the first opens a new session.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::copy::{Mode, PassReport};
use super::error::{MigrateError, Result};
use super::pop3copy;
use super::progress::Progress;
use super::source::{Source, SourceSession};
use crate::config::Endpoint;
use crate::legacy::bandwidth::Bandwidth;
use crate::legacy::pop3;
use crate::legacy::Login;
use crate::server::Conn;
use crate::store::Mailstore;

/// A legacy POP3 server.
pub struct Pop3Source {
    ep: Endpoint,
    timeout: Duration,
    /// `[migration] mark_seen`: copied messages get `\Seen`.
    mark_seen: bool,
}

impl Pop3Source {
    pub fn new(ep: Endpoint, timeout: Duration, mark_seen: bool) -> Pop3Source {
        Pop3Source {
            ep,
            timeout,
            mark_seen,
        }
    }
}

impl Source for Pop3Source {
    fn kind(&self) -> &'static str {
        "pop3"
    }

    fn host_key(&self) -> String {
        crate::legacy::host_key(&self.ep)
    }

    /// POP3 passes are not charged to the bandwidth budget.
    fn login<'a>(
        &'a self,
        login: &'a Login,
        _bandwidth: Option<Arc<Bandwidth>>,
    ) -> BoxFuture<'a, Result<Box<dyn SourceSession>>> {
        Box::pin(async move {
            let conn = pop3::login(&self.ep, self.timeout, login).await?;
            let s: Box<dyn SourceSession> = Box::new(Pop3SourceSession {
                ep: self.ep.clone(),
                timeout: self.timeout,
                mark_seen: self.mark_seen,
                login: login.clone(),
                conn: Some(conn),
                passes: 0,
            });
            Ok(s)
        })
    }
}

struct Pop3SourceSession {
    ep: Endpoint,
    timeout: Duration,
    mark_seen: bool,
    /// For the new session each later pass opens.
    login: Login,
    conn: Option<Conn>,
    passes: u32,
}

impl Pop3SourceSession {
    fn conn(&mut self) -> Result<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| MigrateError::Unavailable("no POP3 session".into()))
    }

    /// A new session, so the pass sees the maildrop as it is now.
    async fn renew(&mut self) -> Result<()> {
        if let Some(c) = self.conn.take() {
            pop3::quit(c).await;
        }
        self.conn = Some(pop3::login(&self.ep, self.timeout, &self.login).await?);
        Ok(())
    }
}

impl SourceSession for Pop3SourceSession {
    fn at_most(&mut self, limit: u64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { Ok(pop3::stat(self.conn()?).await? <= limit) })
    }

    fn pass<'a>(
        &'a mut self,
        ms: &'a Arc<Mailstore>,
        mode: Mode,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<PassReport>> {
        Box::pin(async move {
            if self.passes > 0 {
                self.renew().await?;
            }
            self.passes += 1;
            let mark_seen = self.mark_seen;
            Ok(pop3copy::pass(self.conn()?, ms, mark_seen, mode, progress).await?)
        })
    }

    fn carry_extras<'a>(
        &'a mut self,
        _ms: &'a Arc<Mailstore>,
        _address: &'a str,
    ) -> BoxFuture<'a, Option<String>> {
        // The UIDLs came with the messages.
        Box::pin(async { None })
    }

    fn verify<'a>(&'a mut self, ms: &'a Arc<Mailstore>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { pop3copy::verify(self.conn()?, ms).await })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Some(c) = self.conn {
                pop3::quit(c).await;
            }
        })
    }
}
