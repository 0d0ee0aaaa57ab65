//! IDLE. State: authenticated / selected. RFC 2177: updates of the selected
//! mailbox are sent as they happen, until DONE, the IDLE timeout, or shutdown.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use crate::imap::session::{Done, Session, State};
use crate::server::conn::trim_eol;
use crate::server::ConnError;

impl Session {
    pub(crate) async fn cmd_idle(&mut self, _tag: &str) -> Done {
        let cfg = self.app.config();
        let limit = Duration::from_secs(cfg.imap.idle_timeout_secs.max(1));
        let max_line = cfg.imap.max_line_length;
        // What happened before IDLE is reported at once.
        if let Err(e) = self.sync(true).await {
            tracing::error!(error = %e, "imap: mailbox update failed");
        }
        self.conn.write(b"+ idling\r\n");
        if self.conn.flush().await.is_err() {
            return Done::Close;
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (State::Authenticated(user) | State::Selected(user, _)) = &mut self.state else {
                return Done::Bad("Not authenticated".into());
            };
            let event = tokio::select! {
                line = self.conn.read_line(max_line) => Some(line),
                r = user.rx.recv() => {
                    match r {
                        Ok(c) => {
                            if let State::Selected(_, sel) = &mut self.state {
                                sel.note(&c);
                            }
                        }
                        Err(RecvError::Lagged(_)) => {
                            if let State::Selected(_, sel) = &mut self.state {
                                sel.dirty = true;
                            }
                        }
                        Err(RecvError::Closed) => {}
                    }
                    None
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.untagged("BYE IDLE timed out");
                    return Done::Close;
                }
            };
            match event {
                None => {
                    if let Err(e) = self.sync(true).await {
                        tracing::error!(error = %e, "imap: mailbox update failed");
                    }
                    if self.conn.flush().await.is_err() {
                        return Done::Close;
                    }
                }
                Some(Ok(line)) => {
                    return if trim_eol(&line).eq_ignore_ascii_case(b"DONE") {
                        Done::Ok("IDLE terminated".into())
                    } else {
                        Done::Bad("Expected DONE".into())
                    };
                }
                Some(Err(ConnError::TooLong)) => return Done::Bad("Expected DONE".into()),
                Some(Err(ConnError::Shutdown)) => {
                    self.untagged("BYE [UNAVAILABLE] Server shutting down");
                    return Done::Close;
                }
                Some(Err(ConnError::Timeout)) => {
                    self.untagged("BYE Autologout; idle for too long");
                    return Done::Close;
                }
                Some(Err(_)) => return Done::Close,
            }
        }
    }
}
