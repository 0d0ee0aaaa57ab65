//! The composition root: `ferrymail serve` builds the [`App`], opens every
//! listener with its protocol service, starts the relay queue and the admin
//! API, and handles the signals (SIGHUP reloads, SIGTERM/SIGINT stop
//! gracefully).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use crate::app::App;
use crate::config::{Config, ListenerSpec, Protocol};
use crate::server::listener::{self, Accept, Service};

/// How long sessions get to finish after SIGTERM before the daemon exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Logs the risky settings ([`crate::config::Config::warnings`]): a data dir
/// others can read (it holds password hashes and everyone's mail), legacy
/// connections in clear, plaintext logins off loopback, a public admin API.
fn warn_if_open(config: &crate::config::Config) {
    for w in config.warnings() {
        tracing::warn!("{w}");
    }
}

/// The protocol services of this build.
pub fn services(app: &Arc<App>, protocol: Protocol) -> Option<Arc<dyn Service>> {
    match protocol {
        Protocol::Pop3 => Some(crate::pop3::Pop3Service::new(app.clone())),
        Protocol::Imap => Some(crate::imap::ImapService::new(app.clone())),
        Protocol::ManageSieve => Some(crate::managesieve::ManageSieveService::new(app.clone())),
        Protocol::Smtp | Protocol::Submission => {
            Some(crate::smtp::SmtpService::new(app.clone(), protocol))
        }
        Protocol::Admin => None,
    }
}

/// Builds the service for a protocol; `None` leaves its listeners closed.
pub type ServiceFactory = dyn Fn(&Arc<App>, Protocol) -> Option<Arc<dyn Service>>;

/// A started daemon.
pub struct Running {
    pub app: Arc<App>,
    /// Every bound listener with its real address (port 0 resolved).
    pub bound: Vec<(ListenerSpec, SocketAddr)>,
    /// The admin API's address, when `[admin] listen` is set.
    pub admin: Option<SocketAddr>,
}

impl Running {
    /// The first bound address of `protocol`, plain or implicit TLS.
    pub fn addr(&self, protocol: Protocol, implicit_tls: bool) -> Option<SocketAddr> {
        self.bound
            .iter()
            .find(|(s, _)| s.protocol == protocol && s.implicit_tls == implicit_tls)
            .map(|(_, a)| *a)
    }

    /// Stops accepting, tells sessions to end, and waits for them (up to `grace`).
    pub async fn stop(self, grace: Duration) {
        self.app.shutdown.cancel();
        self.app.tasks.close();
        if tokio::time::timeout(grace, self.app.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "sessions still running after the shutdown grace period; exiting anyway"
            );
        }
    }
}

/// Every socket of a configuration, bound and listening, made before anything
/// else so that a busy address stops the start with nothing created.
pub struct Sockets {
    listeners: Vec<(ListenerSpec, TcpListener)>,
    admin: Option<TcpListener>,
}

/// Binds every listener of `config` (and `[admin] listen`). When any cannot be
/// bound, none is kept and the one error names every address that failed,
/// with its config key and what to change. Must run inside the runtime.
pub fn bind_all(config: &Config) -> Result<Sockets, String> {
    let mut failed = Vec::new();
    let mut listeners = Vec::new();
    for spec in &config.listeners {
        match bind_one(spec.addr) {
            Ok(l) => listeners.push((spec.clone(), l)),
            Err(e) => failed.push((spec.addr, config_key(spec), e)),
        }
    }
    let mut admin = None;
    if let Some(addr) = config.admin_listen {
        match bind_one(addr) {
            Ok(l) => admin = Some(l),
            Err(e) => failed.push((addr, ("admin", "listen"), e)),
        }
    }
    if failed.is_empty() {
        Ok(Sockets { listeners, admin })
    } else {
        Err(bind_failures(&failed))
    }
}

/// `SO_REUSEADDR` as tokio's own `bind` does: a restart does not wait for the
/// old connections' TIME_WAIT.
fn bind_one(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The section and key a listener comes from.
fn config_key(spec: &ListenerSpec) -> (&'static str, &'static str) {
    let key = if spec.implicit_tls {
        "listen_tls"
    } else {
        "listen"
    };
    (spec.protocol.name(), key)
}

/// One message for every address that could not be bound.
fn bind_failures(failed: &[(SocketAddr, (&str, &str), std::io::Error)]) -> String {
    use std::io::ErrorKind;
    let each: Vec<String> = failed
        .iter()
        .map(|(addr, (section, key), e)| {
            let why = match e.kind() {
                ErrorKind::AddrInUse => "is in use".to_string(),
                ErrorKind::PermissionDenied => {
                    "is not allowed (ports below 1024 need root or CAP_NET_BIND_SERVICE)".into()
                }
                ErrorKind::AddrNotAvailable => "is not an address of this machine".into(),
                _ => format!("cannot be bound: {e}"),
            };
            format!("{addr} ([{section}] {key}) {why}")
        })
        .collect();
    let (addr, (section, key), _) = &failed[0];
    let port = addr
        .port()
        .checked_add(10000)
        .unwrap_or(addr.port().saturating_sub(10000));
    let them = if failed.len() == 1 { "it" } else { "them" };
    format!(
        "cannot listen: {} \u{2014} free {them} or move {them}, e.g. --set {section}.{key}={}; nothing was started",
        each.join("; "),
        SocketAddr::new(addr.ip(), port)
    )
}

/// Binds every listener of the configuration and starts serving.
pub async fn start(app: Arc<App>, services: &ServiceFactory) -> Result<Running, String> {
    let sockets = bind_all(&app.config())?;
    start_bound(app, services, sockets).await
}

/// Starts serving on sockets [`bind_all`] made.
pub async fn start_bound(
    app: Arc<App>,
    services: &ServiceFactory,
    sockets: Sockets,
) -> Result<Running, String> {
    crate::smtp::start_queue(&app);
    keep_disk_reserve(&app);
    let mut bound = Vec::new();
    for (spec, listener) in sockets.listeners {
        let Some(service) = services(&app, spec.protocol) else {
            tracing::warn!(protocol = spec.protocol.name(), addr = %spec.addr, "this protocol is not served by this build; listener not opened");
            continue;
        };
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(
            protocol = spec.protocol.name(),
            addr = %addr,
            tls = if spec.implicit_tls { "implicit" } else { "starttls" },
            "listening"
        );
        listener::spawn(
            listener,
            spec.clone(),
            service,
            Accept {
                tls: app.tls.clone(),
                shutdown: app.shutdown.clone(),
                tasks: app.tasks.clone(),
                metrics: app.metrics.clone(),
            },
        );
        bound.push((spec, addr));
    }
    let mut admin = None;
    if let Some(listener) = sockets.admin {
        admin = Some(crate::admin::start(app.clone(), listener).await?);
    }
    write_listeners_file(&app.config().data_dir, &bound, admin);
    // Copies a restart interrupted go on (with the admin credential) once the
    // listeners are up.
    crate::migrate::queue::resume_at_startup(&app.migrations).await;
    Ok(Running { app, bound, admin })
}

/// Writes `data_dir/listeners`: one line per bound socket, `protocol tls|plain addr`,
/// so scripts and tests can find ports chosen by the system (port 0).
fn write_listeners_file(
    data_dir: &Path,
    bound: &[(ListenerSpec, SocketAddr)],
    admin: Option<SocketAddr>,
) {
    let mut text = String::new();
    for (spec, addr) in bound {
        let kind = if spec.implicit_tls { "tls" } else { "plain" };
        text.push_str(&format!("{} {} {}\n", spec.protocol.name(), kind, addr));
    }
    if let Some(addr) = admin {
        text.push_str(&format!("admin plain {addr}\n"));
    }
    let path = data_dir.join("listeners");
    let tmp = data_dir.join("listeners.tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?
            .write_all(text.as_bytes())?;
        std::fs::rename(&tmp, &path)
    };
    if write().is_err() {
        tracing::warn!(path = %path.display(), "cannot write the listeners file");
    }
}

/// The daemon's signal handlers: SIGTERM and SIGINT stop it, SIGHUP reloads.
/// Installed before the daemon says it is ready, so that a signal that comes
/// right after start-up is handled, not fatal.
pub struct Signals(
    Option<(
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
    )>,
);

impl Signals {
    pub fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(t), Ok(i), Ok(h)) => Signals(Some((t, i, h))),
            _ => {
                tracing::error!("cannot install signal handlers");
                Signals(None)
            }
        }
    }

    /// Waits for SIGTERM or SIGINT, calling `on_hup` at each SIGHUP.
    pub async fn wait(self, mut on_hup: impl FnMut()) {
        let Some((mut term, mut int, mut hup)) = self.0 else {
            std::future::pending::<()>().await;
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); return; }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); return; }
                _ = hup.recv() => on_hup(),
            }
        }
    }
}

/// `ferrymail serve`: runs until SIGTERM/SIGINT, then shuts down gracefully.
pub async fn serve(config: Config, services: &ServiceFactory) -> Result<(), String> {
    // Each argon2 verification allocates ~19 MiB. With glibc's dynamic mmap
    // threshold those blocks move into the heap after the first one and fragment
    // it: measured ~16 MiB of RSS kept per logged-in IMAP session. A fixed
    // threshold keeps large blocks in mmap, returned to the system on free.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any session.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    let config_path = config.file.clone();
    tracing::info!("{}", config.summary());
    // Nothing is made in data_dir before every socket is bound and the data
    // dir is ours.
    let sockets = bind_all(&config).map_err(|busy| {
        // Busy because a daemon already runs on this data dir: say that.
        use crate::store::lock::{holder, LockError, Role};
        match holder(&config.data_dir) {
            Some(
                held @ LockError::Held {
                    role: Some(Role::Serve),
                    ..
                },
            ) => lock_refused(&config.data_dir, held),
            _ => busy,
        }
    })?;
    let _lock = lock_data_dir(&config.data_dir)?;
    warn_if_open(&config);
    let app = App::new(config)?;
    let signals = Signals::install();
    let running = start_bound(app.clone(), services, sockets).await?;
    signals
        .wait(|| match crate::config::load(&config_path) {
            Ok(c) => {
                tracing::info!("SIGHUP: configuration reloaded ({})", c.summary());
                warn_if_open(&c);
                app.set_config(c);
            }
            Err(problems) => {
                for p in problems {
                    tracing::error!("SIGHUP: {p}");
                }
                tracing::error!("SIGHUP: configuration has problems; keeping the old one");
            }
        })
        .await;
    running.stop(SHUTDOWN_GRACE).await;
    tracing::info!("stopped");
    Ok(())
}

/// One daemon per data dir: takes `data_dir/lock` for as long as the daemon
/// runs (waiting a little while a command holds it for a moment).
fn lock_data_dir(data_dir: &Path) -> Result<crate::store::lock::DataDirLock, String> {
    use crate::store::lock::{self, Role};
    lock::lock_waiting_for_commands(data_dir, Role::Serve, Duration::from_secs(10))
        .map_err(|e| lock_refused(data_dir, e))
}

/// Why `serve` does not start on a locked data dir.
fn lock_refused(data_dir: &Path, e: crate::store::lock::LockError) -> String {
    use crate::store::lock::{self, LockError, Role};
    let path = lock::lock_path(data_dir);
    match e {
        LockError::Held {
            pid: Some(pid),
            role: Some(Role::Serve),
        } => format!(
            "another ferrymail daemon (PID {pid}) is running on the data dir {} (it holds {}); one daemon per data dir: stop it first, or give this one another data_dir",
            data_dir.display(),
            path.display()
        ),
        LockError::Held { .. } => format!("{e}: {} is locked; not starting", path.display()),
        LockError::Io(e) => format!("cannot lock {}: {e}", path.display()),
    }
}

/// Makes the disk reserve again once there is room (it is released when a
/// deletion needs it on a full disk): checked every minute.
fn keep_disk_reserve(app: &Arc<App>) {
    let (data_dir, shutdown) = (app.config().data_dir.clone(), app.shutdown.clone());
    app.tasks.spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                _ = shutdown.cancelled() => return,
            }
            let d = data_dir.clone();
            let _ = tokio::task::spawn_blocking(move || crate::store::reserve::ensure(&d)).await;
        }
    });
}
