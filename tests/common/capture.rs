//! An SMTP next hop for the tests that records every connection's
//! transcript: what ferrymail relays, byte for byte.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A next hop that records every byte it is sent: answers 250 to everything
/// (550 to a RCPT of an address containing `refuse-me`), 354 to DATA, and
/// reads DATA up to CRLF.CRLF.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<Vec<u8>>>>);

impl Capture {
    pub async fn start() -> (Capture, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cap = Capture::default();
        let c2 = cap.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let cap = c2.clone();
                tokio::spawn(async move {
                    let i = {
                        let mut v = cap.0.lock().unwrap();
                        v.push(Vec::new());
                        v.len() - 1
                    };
                    let (r, mut w) = s.into_split();
                    let mut r = BufReader::new(r);
                    let _ = w.write_all(b"220 capture ESMTP\r\n").await;
                    let mut in_data = false;
                    loop {
                        let mut line = Vec::new();
                        match r.read_until(b'\n', &mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let transcript = {
                            let mut v = cap.0.lock().unwrap();
                            v[i].extend_from_slice(&line);
                            v[i].clone()
                        };
                        let answer: &[u8] = if in_data {
                            if transcript.ends_with(b"\r\n.\r\n") {
                                in_data = false;
                                b"250 2.0.0 captured\r\n"
                            } else {
                                continue;
                            }
                        } else {
                            let upper = line.to_ascii_uppercase();
                            if upper.starts_with(b"EHLO") {
                                b"250-capture\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                            } else if upper.starts_with(b"DATA") {
                                in_data = true;
                                b"354 go\r\n"
                            } else if upper.starts_with(b"QUIT") {
                                let _ = w.write_all(b"221 bye\r\n").await;
                                return;
                            } else if upper.starts_with(b"RCPT TO:")
                                && line.windows(9).any(|w| w == b"refuse-me")
                            {
                                b"550 5.1.1 no such user here\r\n"
                            } else {
                                b"250 2.0.0 ok\r\n"
                            }
                        };
                        if w.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (cap, addr)
    }

    /// Waits until a connection's transcript contains `needle`; returns it.
    pub async fn wait_for(&self, needle: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|t| t.windows(needle.len()).any(|w| w == needle) && t.ends_with(b"QUIT\r\n"))
                .cloned();
            if let Some(t) = found {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "the next hop never got {:?}",
                String::from_utf8_lossy(needle)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// [`Self::wait_for`] with text.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        String::from_utf8_lossy(&self.wait_for(needle.as_bytes()).await).into_owned()
    }
}
