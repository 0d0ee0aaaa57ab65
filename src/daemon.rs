//! The composition root: `ferrymail serve` builds the [`App`], opens every
//! listener with its protocol service, starts the relay queue and the admin
//! API, and handles the signals (SIGHUP reloads, SIGTERM/SIGINT stop
//! gracefully).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::App;
use crate::config::{Config, ListenerSpec, Protocol};
use crate::server::listener::{self, Accept, Service};

/// How long sessions get to finish after SIGTERM before the daemon exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Warns when the data dir can be read by others than its owner: it holds
/// password hashes and everyone's mail (ferrymail creates it 0700, and its
/// files owner-only, but a dir made beforehand keeps its mode).
fn warn_if_open(config: &crate::config::Config) {
    if let Some(w) = config.data_dir_warning() {
        tracing::warn!("{w}");
    }
}

/// The protocol services of this build.
pub fn services(app: &Arc<App>, protocol: Protocol) -> Option<Arc<dyn Service>> {
    match protocol {
        Protocol::Pop3 => Some(crate::pop3::Pop3Service::new(app.clone())),
        Protocol::Imap => Some(crate::imap::ImapService::new(app.clone())),
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

/// Binds every listener of the configuration and starts serving.
pub async fn start(app: Arc<App>, services: &ServiceFactory) -> Result<Running, String> {
    let config = app.config();
    crate::smtp::start_queue(&app);
    keep_disk_reserve(&app);
    let mut bound = Vec::new();
    for spec in &config.listeners {
        let Some(service) = services(&app, spec.protocol) else {
            tracing::warn!(protocol = spec.protocol.name(), addr = %spec.addr, "this protocol is not served by this build; listener not opened");
            continue;
        };
        let listener = TcpListener::bind(spec.addr).await.map_err(|e| {
            format!(
                "cannot listen on {} ({}): {e}",
                spec.addr,
                spec.protocol.name()
            )
        })?;
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
        bound.push((spec.clone(), addr));
    }
    let mut admin = None;
    if let Some(addr) = config.admin_listen {
        admin = Some(crate::admin::start(app.clone(), addr).await?);
    }
    write_listeners_file(&config.data_dir, &bound, admin);
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

/// Waits for SIGTERM or SIGINT; calls `on_hup` for each SIGHUP meanwhile.
pub async fn wait_for_signal(mut on_hup: impl FnMut()) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers");
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
    warn_if_open(&config);
    let app = App::new(config)?;
    let running = start(app.clone(), services).await?;
    wait_for_signal(|| match crate::config::load(&config_path) {
        Ok(c) => {
            tracing::info!("SIGHUP: configuration reloaded ({})", c.summary());
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
