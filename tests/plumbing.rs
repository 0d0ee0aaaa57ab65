//! Listener plumbing with a tiny line protocol: implicit TLS, STARTTLS (and its
//! refusal when plaintext was pipelined after it), connection caps, and graceful
//! shutdown with a goodbye line.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Client, TestConfig};
use ferrymail::app::App;
use ferrymail::config::{ListenerSpec, Protocol};
use ferrymail::daemon;
use ferrymail::server::conn::trim_eol;
use ferrymail::server::{Conn, ConnError, Service};
use futures::future::BoxFuture;

/// `+ hello` greeting; `STARTTLS`, `QUIT`, and anything else echoed as `= line`.
struct Echo {
    app: Arc<App>,
}

impl Service for Echo {
    fn serve(self: Arc<Self>, mut conn: Conn, _l: ListenerSpec) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            conn.write(b"+ hello\r\n");
            if conn.flush().await.is_err() {
                return;
            }
            loop {
                let line = match conn.read_line(200).await {
                    Ok(l) => l,
                    Err(ConnError::TooLong) => {
                        conn.write(b"- line too long\r\n");
                        let _ = conn.flush().await;
                        continue;
                    }
                    Err(ConnError::Shutdown) => {
                        conn.write(b"* bye: server shutting down\r\n");
                        conn.close().await;
                        return;
                    }
                    Err(_) => return,
                };
                let line = String::from_utf8_lossy(trim_eol(&line)).to_string();
                match line.as_str() {
                    "STARTTLS" => {
                        if conn.buffered() > 0 {
                            conn.write(b"- plaintext after STARTTLS, closing\r\n");
                            conn.close().await;
                            return;
                        }
                        conn.write(b"+ go ahead\r\n");
                        if conn.starttls_server(&self.app.tls).await.is_err() {
                            return;
                        }
                    }
                    "TLS?" => {
                        let s = if conn.is_tls() {
                            "+ yes\r\n"
                        } else {
                            "+ no\r\n"
                        };
                        conn.write(s.as_bytes());
                    }
                    "QUIT" => {
                        conn.write(b"+ bye\r\n");
                        conn.close().await;
                        return;
                    }
                    other => conn.write(format!("= {other}\r\n").as_bytes()),
                }
                if conn.flush().await.is_err() {
                    return;
                }
            }
        })
    }

    fn busy_reply(&self) -> &'static [u8] {
        b"- too many connections\r\n"
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
}

async fn start(extra: &str) -> (TestConfig, daemon::Running) {
    ferrymail::logging::init_test();
    let cfg = TestConfig::new(extra, &[("example.test", "domain = \"example.test\"\n")]);
    let app = App::new(cfg.load()).unwrap();
    let factory = |app: &Arc<App>, p: Protocol| -> Option<Arc<dyn Service>> {
        (p == Protocol::Imap).then(|| Arc::new(Echo { app: app.clone() }) as Arc<dyn Service>)
    };
    let running = daemon::start(app, &factory).await.unwrap();
    (cfg, running)
}

#[tokio::test]
async fn starttls_upgrades_and_self_signed_pair_is_made() {
    let (cfg, running) = start("[imap]\nlisten = [\"127.0.0.1:0\"]\n").await;
    assert!(cfg.data_dir().join("tls/selfsigned-cert.pem").is_file());
    let mut c = Client::connect(running.addr(Protocol::Imap, false).unwrap()).await;
    assert_eq!(c.line().await.unwrap(), "+ hello");
    c.send("STARTTLS").await;
    assert_eq!(c.line().await.unwrap(), "+ go ahead");
    let mut c = c.starttls().await;
    c.send("TLS?").await;
    assert_eq!(c.line().await.unwrap(), "+ yes");
    running.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn plaintext_pipelined_after_starttls_is_refused_and_closed() {
    let (_cfg, running) = start("[imap]\nlisten = [\"127.0.0.1:0\"]\n").await;
    let mut c = Client::connect(running.addr(Protocol::Imap, false).unwrap()).await;
    assert_eq!(c.line().await.unwrap(), "+ hello");
    // One segment: the injected command must never be answered, in TLS or not.
    c.send_raw(b"STARTTLS\r\nINJECTED\r\n").await;
    assert_eq!(
        c.line().await.unwrap(),
        "- plaintext after STARTTLS, closing"
    );
    assert!(c.closed().await, "connection must be closed");
    running.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn implicit_tls_listener() {
    let (_cfg, running) = start("[imap]\nlisten_tls = [\"127.0.0.1:0\"]\n").await;
    let mut c = Client::connect_tls(running.addr(Protocol::Imap, true).unwrap()).await;
    assert_eq!(c.line().await.unwrap(), "+ hello");
    c.send("TLS?").await;
    assert_eq!(c.line().await.unwrap(), "+ yes");
    running.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn long_lines_are_refused_and_the_session_goes_on() {
    let (_cfg, running) = start("[imap]\nlisten = [\"127.0.0.1:0\"]\n").await;
    let mut c = Client::connect(running.addr(Protocol::Imap, false).unwrap()).await;
    c.line().await.unwrap();
    let long = "A".repeat(100_000);
    c.send(&long).await;
    assert_eq!(c.line().await.unwrap(), "- line too long");
    c.send("after").await;
    assert_eq!(c.line().await.unwrap(), "= after");
    running.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn connection_caps_per_listener_and_per_address() {
    let (_cfg, running) = start(
        "[imap]\nlisten = [\"127.0.0.1:0\"]\nmax_connections = 10\nmax_connections_per_ip = 2\n",
    )
    .await;
    let addr = running.addr(Protocol::Imap, false).unwrap();
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    assert_eq!(a.line().await.unwrap(), "+ hello");
    assert_eq!(b.line().await.unwrap(), "+ hello");
    let mut c = Client::connect(addr).await;
    assert_eq!(c.line().await.unwrap(), "- too many connections");
    assert!(c.closed().await);
    drop(a);
    // The place is given back once the first session ends.
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut d = Client::connect(addr).await;
        if d.line().await.unwrap() == "+ hello" {
            ok = true;
            break;
        }
    }
    assert!(ok, "place not released");
    b.send("QUIT").await;
    running.stop(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn shutdown_sends_goodbye_and_closes_sessions() {
    let (_cfg, running) = start("[imap]\nlisten = [\"127.0.0.1:0\"]\n").await;
    let addr = running.addr(Protocol::Imap, false).unwrap();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(addr).await;
        assert_eq!(c.line().await.unwrap(), "+ hello");
        clients.push(c);
    }
    let stopped = tokio::spawn(running.stop(Duration::from_secs(10)));
    for c in &mut clients {
        assert_eq!(c.line().await.unwrap(), "* bye: server shutting down");
        assert!(c.closed().await);
    }
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .unwrap()
        .unwrap();
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
