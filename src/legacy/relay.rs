//! Byte-for-byte relaying of a user's session (IMAP or POP3) to the legacy
//! server while their mailbox is being copied (DESIGN §1, `while_copying =
//! "proxy"`).
//!
//! Both directions run at once, so a client that writes while the server
//! writes never stalls the relay. When the relay ends a session itself (the
//! user's switch, or shutdown) it stops reading the client, lets the legacy
//! server finish the response it is in the middle of (for at most
//! [`GRACE`]), and says goodbye there ([`Goodbye`], see [`super::framing`]):
//! an IMAP client gets `* BYE`, in IDLE as anywhere, never inside a line or a
//! literal.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::framing::{Boundary, Framing, Why};
use crate::server::conn::RawStream;
use crate::server::Conn;

pub use super::framing::Goodbye;

/// How long an ended session's legacy side may take to finish the response it
/// is in; and the bound of the goodbye's own write.
pub const GRACE: Duration = Duration::from_secs(2);
const BUF: usize = 16 * 1024;

/// Why a relayed session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyEnd {
    /// One side closed the connection (or an i/o error).
    Closed,
    /// No byte either way for `idle` (read timeout).
    Idle,
    /// The daemon is shutting down, or the user's switch needs the session ended.
    Ended,
}

type Reader = ReadHalf<Box<dyn RawStream>>;
type Writer = WriteHalf<Box<dyn RawStream>>;

/// Relays bytes between the client and the legacy connection until either side
/// closes, nothing moves for `idle`, or `end` is cancelled (the switch to local
/// service) or the daemon shuts down; then the client gets its `goodbye`
/// (see the module). Unread input on either side is forwarded first.
pub async fn relay(
    client: Conn,
    legacy: Conn,
    idle: Duration,
    end: CancellationToken,
    goodbye: Goodbye,
) -> ProxyEnd {
    let shutdown = client.shutdown_token().unwrap_or_default();
    let (Ok(c), Ok(l)) = (client.into_raw().await, legacy.into_raw().await) else {
        return ProxyEnd::Closed;
    };
    let (mut cr, mut cw) = tokio::io::split(c.stream);
    let (mut lr, mut lw) = tokio::io::split(l.stream);
    let r = Relay {
        idle,
        end: &end,
        shutdown: &shutdown,
        framing: Mutex::new(Framing::new(goodbye)),
        last: Mutex::new(Instant::now()),
    };
    r.framing().client(&c.buffered);
    r.framing().legacy(&l.buffered);
    let sent = tokio::time::timeout(idle, async {
        lw.write_all(&c.buffered).await?;
        lw.flush().await?;
        cw.write_all(&l.buffered).await?;
        cw.flush().await
    })
    .await;
    let ended = if matches!(sent, Ok(Ok(()))) {
        tokio::select! {
            e = r.upstream(&mut cr, &mut lw) => e,
            e = r.downstream(&mut lr, &mut cw) => e,
            e = r.watch_idle() => e,
        }
    } else {
        ProxyEnd::Closed
    };
    let _ = tokio::time::timeout(GRACE, cw.shutdown()).await;
    let _ = tokio::time::timeout(GRACE, lw.shutdown()).await;
    ended
}

struct Relay<'a> {
    idle: Duration,
    end: &'a CancellationToken,
    shutdown: &'a CancellationToken,
    framing: Mutex<Framing>,
    /// When a byte last moved, either way.
    last: Mutex<Instant>,
}

impl Relay<'_> {
    fn framing(&self) -> std::sync::MutexGuard<'_, Framing> {
        self.framing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// Resolves when the relay must end the session, and says why.
    async fn stopping(&self) -> Why {
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Why::Shutdown,
            _ = self.end.cancelled() => Why::Switch,
        }
    }

    /// Client to legacy server. Returns only when a side closes; once the
    /// session is ending it reads no more and waits for [`Self::downstream`].
    async fn upstream(&self, from: &mut Reader, to: &mut Writer) -> ProxyEnd {
        let mut buf = vec![0u8; BUF];
        loop {
            let n = tokio::select! {
                _ = self.stopping() => return std::future::pending().await,
                r = from.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return ProxyEnd::Closed,
                    Ok(n) => n,
                },
            };
            self.touch();
            // Counted as soon as read: a command the client sent and that is
            // never answered is owed an answer, relayed or not.
            self.framing().client(&buf[..n]);
            let sent = tokio::select! {
                _ = self.stopping() => return std::future::pending().await,
                r = async {
                    to.write_all(&buf[..n]).await?;
                    to.flush().await
                } => r,
            };
            if sent.is_err() {
                return ProxyEnd::Closed;
            }
            self.touch();
        }
    }

    /// Legacy server to client; at the end of the session, the goodbye. What
    /// the framing follows is exactly what the client was given.
    async fn downstream(&self, from: &mut Reader, to: &mut Writer) -> ProxyEnd {
        let mut buf = vec![0u8; BUF];
        loop {
            let n = tokio::select! {
                biased;
                why = self.stopping() => return self.goodbye(from, to, &mut buf, 0, why).await,
                r = from.read(&mut buf) => match r {
                    Ok(0) | Err(_) => return ProxyEnd::Closed,
                    Ok(n) => n,
                },
            };
            self.touch();
            let mut pos = 0;
            while pos < n {
                let wrote = tokio::select! {
                    biased;
                    why = self.stopping() => {
                        buf.copy_within(pos..n, 0);
                        return self.goodbye(from, to, &mut buf, n - pos, why).await;
                    }
                    r = to.write(&buf[pos..n]) => match r {
                        Ok(0) | Err(_) => return ProxyEnd::Closed,
                        Ok(k) => k,
                    },
                };
                self.framing().legacy(&buf[pos..pos + wrote]);
                pos += wrote;
                self.touch();
            }
            // Bytes a flush cut short by the end are still queued in order
            // before the goodbye.
            tokio::select! {
                biased;
                why = self.stopping() => return self.goodbye(from, to, &mut buf, 0, why).await,
                r = to.flush() => if r.is_err() {
                    return ProxyEnd::Closed;
                },
            }
        }
    }

    /// Ends the session: the legacy server's current response is finished
    /// from `buf[..held]` (bytes already read, not yet given to the client)
    /// and further reads, for at most [`GRACE`]; then the goodbye, when one is
    /// due. Nothing past the boundary is relayed.
    async fn goodbye(
        &self,
        from: &mut Reader,
        to: &mut Writer,
        buf: &mut [u8],
        held: usize,
        why: Why,
    ) -> ProxyEnd {
        let finished = tokio::time::timeout(GRACE, async {
            let (mut pos, mut len) = (0, held);
            loop {
                let b = self.framing().boundary();
                match b {
                    Boundary::At => return true,
                    Boundary::Lost => return false,
                    Boundary::Inside => {}
                }
                if pos == len {
                    len = match from.read(buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => n,
                    };
                    pos = 0;
                }
                let k = self.framing().legacy_to_boundary(&buf[pos..len]);
                if to.write_all(&buf[pos..pos + k]).await.is_err() {
                    return false;
                }
                pos += k;
            }
        })
        .await;
        let farewell = self.framing().farewell(why);
        match (finished, farewell) {
            (Ok(true), Some(text)) => {
                let _ = tokio::time::timeout(GRACE, async {
                    to.write_all(text).await?;
                    to.flush().await
                })
                .await;
                tracing::debug!(?why, "relayed session ended with a goodbye");
            }
            (Ok(true), None) => tracing::debug!(?why, "relayed session ended, nothing owed"),
            _ => tracing::debug!(
                ?why,
                "relayed session ended inside a response: closed without a goodbye"
            ),
        }
        ProxyEnd::Ended
    }

    /// Resolves when nothing moved for `idle`; never once the session is ending.
    async fn watch_idle(&self) -> ProxyEnd {
        loop {
            let due = *self.last.lock().unwrap_or_else(|p| p.into_inner()) + self.idle;
            tokio::select! {
                _ = self.stopping() => return std::future::pending().await,
                _ = tokio::time::sleep_until(due) => {
                    let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
                    if last + self.idle <= Instant::now() {
                        return ProxyEnd::Idle;
                    }
                }
            }
        }
    }
}
