//! The IMAP source: every folder, with UIDVALIDITY, UIDs, flags, keywords and
//! dates ([`super::copy`]); during the switch it also carries the legacy POP3
//! UIDLs of INBOX over when the domain names a `[migration.pop3]` server.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::copy::{self, Mode, PassReport};
use super::error::Result;
use super::pop3copy;
use super::progress::Progress;
use super::source::{Source, SourceSession};
use crate::config::Endpoint;
use crate::legacy::bandwidth::Bandwidth;
use crate::legacy::imap::Session;
use crate::legacy::Login;
use crate::server::Conn;
use crate::store::Mailstore;

/// A legacy IMAP server.
pub struct ImapSource {
    ep: Endpoint,
    timeout: Duration,
    /// The domain's legacy POP3 server, whose UIDLs are carried over.
    pop3: Option<Endpoint>,
}

impl ImapSource {
    pub fn new(ep: Endpoint, timeout: Duration, pop3: Option<Endpoint>) -> ImapSource {
        ImapSource { ep, timeout, pop3 }
    }
}

impl Source for ImapSource {
    fn kind(&self) -> &'static str {
        "imap"
    }

    fn host_key(&self) -> String {
        crate::legacy::host_key(&self.ep)
    }

    fn login<'a>(
        &'a self,
        login: &'a Login,
        bandwidth: Option<Arc<Bandwidth>>,
    ) -> BoxFuture<'a, Result<Box<dyn SourceSession>>> {
        Box::pin(async move {
            let mut sess = Session::login(&self.ep, self.timeout, login).await?;
            sess.set_bandwidth(bandwidth);
            let s: Box<dyn SourceSession> = Box::new(ImapSourceSession {
                sess: Some(sess),
                pop3: self.pop3.clone(),
                timeout: self.timeout,
                login: login.clone(),
            });
            Ok(s)
        })
    }
}

struct ImapSourceSession {
    /// `None` once handed over to a relayed client session.
    sess: Option<Session>,
    pop3: Option<Endpoint>,
    timeout: Duration,
    /// For the POP3 login that carries the UIDLs over.
    login: Login,
}

impl ImapSourceSession {
    fn sess(&mut self) -> Result<&mut Session> {
        self.sess.as_mut().ok_or_else(|| {
            super::error::MigrateError::Setup("the legacy session was handed over".into())
        })
    }
}

impl SourceSession for ImapSourceSession {
    fn at_most(&mut self, limit: u64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { Ok(copy::at_most(self.sess()?, limit).await?) })
    }

    fn pass<'a>(
        &'a mut self,
        ms: &'a Arc<Mailstore>,
        mode: Mode,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<PassReport>> {
        Box::pin(async move { Ok(copy::pass(self.sess()?, ms, mode, progress).await?) })
    }

    fn carry_extras<'a>(
        &'a mut self,
        ms: &'a Arc<Mailstore>,
        address: &'a str,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let pop3 = self.pop3.as_ref()?;
            pop3copy::carry_uidls(pop3, self.timeout, &self.login, ms, address).await
        })
    }

    fn verify<'a>(&'a mut self, ms: &'a Arc<Mailstore>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { copy::verify(self.sess()?, ms).await })
    }

    fn is_imap(&self) -> bool {
        self.sess.is_some()
    }

    fn take_imap_connection(&mut self) -> Option<(Conn, String)> {
        let s = self.sess.take()?;
        let caps = s.capability_line.clone();
        Some((s.into_conn(), caps))
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Some(s) = self.sess {
                s.logout().await;
            }
        })
    }
}
