//! Accept loops: one task per listening socket, a connection cap per listener and
//! per client address, implicit TLS, and an end on shutdown.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::conn::Conn;
use crate::config::ListenerSpec;
use crate::metrics::Metrics;

/// What a protocol plugs into a listener.
pub trait Service: Send + Sync + 'static {
    /// Serves one connection (TLS is already up on implicit-TLS listeners). The
    /// connection carries the shutdown token: reads end with `ConnError::Shutdown`,
    /// on which the session sends its goodbye line and returns.
    fn serve(self: Arc<Self>, conn: Conn, listener: ListenerSpec) -> BoxFuture<'static, ()>;

    /// Sent on a plain connection refused because a connection cap is reached.
    fn busy_reply(&self) -> &'static [u8];

    /// Read timeout for new connections.
    fn timeout(&self) -> Duration;
}

/// Counts connections per client address.
#[derive(Default, Clone)]
pub struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// Holds one connection's place in [`PerIp`].
pub struct PerIpGuard {
    map: PerIp,
    ip: IpAddr,
}

impl PerIp {
    /// Takes a place for `ip` unless it already has `max` connections.
    pub fn acquire(&self, ip: IpAddr, max: usize) -> Option<PerIpGuard> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PerIpGuard {
            map: self.clone(),
            ip,
        })
    }
}

impl Drop for PerIpGuard {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// What every accept loop shares with the daemon.
#[derive(Clone)]
pub struct Accept {
    /// The server certificate, for implicit-TLS listeners.
    pub tls: TlsAcceptor,
    /// Cancelled when the daemon stops.
    pub shutdown: CancellationToken,
    /// Tracks every connection task, so the daemon can wait for them.
    pub tasks: TaskTracker,
    /// Counts open sessions per protocol.
    pub metrics: Arc<Metrics>,
}

/// Runs the accept loop of one listener until the daemon shuts down.
pub fn spawn(listener: TcpListener, spec: ListenerSpec, service: Arc<dyn Service>, ctx: Accept) {
    let shutdown = ctx.shutdown.clone();
    let tracker = ctx.tasks.clone();
    let cap = Arc::new(Semaphore::new(spec.max_connections));
    let per_ip = PerIp::default();
    let tracker2 = tracker.clone();
    tracker.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => r,
            };
            let (tcp, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(listener = %spec.addr, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let permit = cap.clone().try_acquire_owned().ok();
            let ip_guard = per_ip.acquire(peer.ip(), spec.max_connections_per_ip);
            let service = service.clone();
            let ctx = ctx.clone();
            let spec = spec.clone();
            let shutdown = shutdown.clone();
            tracker2.spawn(async move {
                let _session = ctx.metrics.session(spec.protocol);
                let mut conn = match Conn::new(tcp, service.timeout()) {
                    Ok(c) => c,
                    Err(_) => return,
                };
                if permit.is_none() || ip_guard.is_none() {
                    tracing::warn!(
                        protocol = spec.protocol.name(),
                        peer = %peer,
                        "connection refused: {}",
                        if permit.is_none() { "listener connection cap reached" } else { "per-address connection cap reached" }
                    );
                    if !spec.implicit_tls {
                        conn.set_timeout(Duration::from_secs(5));
                        conn.write(service.busy_reply());
                    }
                    conn.close().await;
                    return;
                }
                conn.set_shutdown(shutdown);
                if spec.implicit_tls {
                    let handshake =
                        tokio::time::timeout(conn.handshake_timeout(), conn.accept_tls(&ctx.tls));
                    match handshake.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(peer = %peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                service.serve(conn, spec).await;
                drop(permit);
                drop(ip_guard);
            });
        }
    });
}
