//! The admin listener (`[admin] listen`, loopback by default): the HTTP/JSON API
//! the CLI talks to, Prometheus metrics, and the dashboard. Every request needs the
//! token kept in `data_dir/admin-token` (mode 0600): `Authorization: Bearer TOKEN`,
//! or, for the dashboard in a browser, `/?token=TOKEN` once, which sets a cookie.

pub mod accounts;
pub mod accounts_cli;
pub mod client;
pub mod discover_cli;
pub mod follow;
pub mod http;
pub mod import;
pub mod ops_cli;
pub mod quota;
pub mod status;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::server::Conn;
use http::{Request, Response};

/// Concurrent admin connections.
const MAX_CONNECTIONS: usize = 64;
/// Most connections still reading their request line and headers; a new
/// connection over this closes the oldest such one, so slow or silent clients
/// can never keep a prompt one (the command line) out.
const MAX_READERS: usize = 16;
const TIMEOUT: Duration = Duration::from_secs(30);
const DASHBOARD: &str = include_str!("dashboard.html");

pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-token")
}

/// Reads the admin token, creating it (mode 0600) on first use.
pub fn ensure_token(data_dir: &Path) -> std::io::Result<String> {
    let path = token_path(data_dir);
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if t.len() >= 32 {
            return Ok(t);
        }
    }
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    let token: String = b.iter().map(|x| format!("{x:02x}")).collect();
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(token)
}

/// Compares without an early exit, so timing does not reveal the token.
fn token_matches(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the bound admin listener until shutdown.
pub async fn start(app: Arc<App>, listener: TcpListener) -> Result<SocketAddr, String> {
    let token = ensure_token(&app.config().data_dir)
        .map_err(|e| format!("cannot create the admin token: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    if !bound.ip().is_loopback() {
        tracing::warn!(addr = %bound, "the admin API listens on a non-loopback address; protect it with a firewall");
    }
    tracing::info!(protocol = "admin", addr = %bound, "listening");
    let token = Arc::new(token);
    let cap = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let readers = Arc::new(Readers::default());
    let tasks = app.tasks.clone();
    tasks.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = app.shutdown.cancelled() => break,
                r = listener.accept() => r,
            };
            let Ok((tcp, _)) = accepted else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(permit) = cap.clone().try_acquire_owned() else {
                continue;
            };
            let evicted = CancellationToken::new();
            let id = readers.admit(evicted.clone());
            let (app, token, readers) = (app.clone(), token.clone(), readers.clone());
            app.tasks.clone().spawn(async move {
                if let Ok(mut conn) = Conn::new(tcp, TIMEOUT) {
                    let head = tokio::select! {
                        _ = evicted.cancelled() => None,
                        h = http::read_head(&mut conn) => Some(h),
                    };
                    readers.leave(id);
                    if let Some(head) = head {
                        serve(&app, &token, &mut conn, head).await;
                        conn.close().await;
                    }
                } else {
                    readers.leave(id);
                }
                drop(permit);
            });
        }
    });
    Ok(bound)
}

/// The connections still reading their headers, oldest first.
#[derive(Default)]
struct Readers {
    next: std::sync::atomic::AtomicU64,
    queue: std::sync::Mutex<std::collections::VecDeque<(u64, CancellationToken)>>,
}

impl Readers {
    /// Adds a connection, closing the oldest readers over `MAX_READERS`.
    fn admit(&self, evict: CancellationToken) -> u64 {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.push_back((id, evict));
        while q.len() > MAX_READERS {
            if let Some((_, t)) = q.pop_front() {
                t.cancel();
            }
        }
        id
    }

    fn leave(&self, id: u64) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.retain(|(i, _)| *i != id);
    }
}

async fn serve(
    app: &Arc<App>,
    token: &str,
    conn: &mut Conn,
    head: Result<Request, http::HttpError>,
) {
    // Only a request carrying the token gets its body read: others are
    // answered 401 from their headers alone.
    let head = match head {
        Ok(mut req) if authorized(&req, token).is_some() => {
            http::read_body(conn, &mut req).await.map(|_| req)
        }
        Ok(req) => Ok(req),
        Err(e) => Err(e),
    };
    let resp = match head {
        Ok(req) => route(app, token, &req).await,
        Err(http::HttpError::TooLarge) => Response::error(413, "request body too large"),
        Err(http::HttpError::Conn(_) | http::HttpError::Timeout) => return,
        Err(e) => Response::error(400, &e.to_string()),
    };
    let _ = http::write_response(conn, &resp).await;
}

/// How a request proved that it knows the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// `Authorization: Bearer` (the command line, scripts).
    Bearer,
    /// The dashboard's cookie: a browser, which other sites can make send it.
    Cookie,
    /// `?token=`, accepted only to open the dashboard (it then sets the cookie).
    Query,
}

fn authorized(req: &Request, token: &str) -> Option<Auth> {
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let query = (req.method == "GET" && req.path == "/")
        .then(|| req.query.get("token").map(String::as_str))
        .flatten();
    [
        (bearer, Auth::Bearer),
        (req.cookie("ferrymail_token"), Auth::Cookie),
        (query, Auth::Query),
    ]
    .into_iter()
    .find(|(t, _)| t.is_some_and(|t| token_matches(t, token)))
    .map(|(_, a)| a)
}

/// A state-changing request made with the browser's cookie must come from the
/// dashboard itself: JSON (an HTML form on another site can only send
/// `text/plain`, form or multipart bodies) and an `Origin` equal to this
/// listener's (SameSite cookies are sent across ports of one host).
fn same_origin_json(req: &Request) -> Result<(), &'static str> {
    let json = req.header("content-type").is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Err("state-changing requests need Content-Type: application/json");
    }
    let ours = req.header("host").map(|h| format!("http://{h}"));
    match (req.header("origin"), ours) {
        (Some(o), Some(ours)) if o.eq_ignore_ascii_case(&ours) => Ok(()),
        _ => Err("cross-origin request refused"),
    }
}

async fn route(app: &Arc<App>, token: &str, req: &Request) -> Response {
    let Some(auth) = authorized(req, token) else {
        if req.path == "/" {
            return Response::new(401, "text/html; charset=utf-8", LOGIN_PAGE);
        }
        return Response::error(
            401,
            "missing or wrong admin token (see data_dir/admin-token)",
        )
        .with_header("WWW-Authenticate", "Bearer");
    };
    if req.method != "GET" && auth == Auth::Cookie {
        if let Err(why) = same_origin_json(req) {
            tracing::warn!(path = %req.path, origin = req.header("origin").unwrap_or(""), "admin API: {why}");
            return Response::error(403, why);
        }
    }
    if let Some(r) = accounts::route(app, req).await {
        return r;
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => {
            let mut r = Response::new(200, "text/html; charset=utf-8", DASHBOARD)
                .with_header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'");
            if let Some(t) = req.query.get("token") {
                if token_matches(t, token) {
                    r = r.with_header(
                        "Set-Cookie",
                        &format!("ferrymail_token={token}; HttpOnly; SameSite=Strict; Path=/"),
                    );
                }
            }
            r
        }
        ("GET", "/api/status") => {
            let domain = req.query.get("domain").map(String::as_str);
            let user = req.query.get("user").map(String::as_str);
            let all = req.query.get("users").is_some_and(|v| v == "1");
            match status::checked_report(app, domain, user, all).await {
                Ok(r) => Response::json(200, &r),
                Err(accounts::OpError::Internal(e)) => {
                    tracing::error!(error = %e, "status report failed");
                    Response::error(500, "internal error")
                }
                Err(e) => Response::error(e.status(), &e.to_string()),
            }
        }
        ("GET", "/api/progress") => {
            let domain = req.query.get("domain").map(String::as_str);
            match status::progress_report(app, domain).await {
                Ok(r) => Response::json(200, &r),
                Err(e) => {
                    tracing::error!(error = %e, "progress report failed");
                    Response::error(500, "internal error")
                }
            }
        }
        ("GET", "/metrics") => match status::report(app, None, None, false).await {
            Ok(r) => Response::new(
                200,
                "text/plain; version=0.0.4",
                app.metrics.render(&format!(
                    "{}{}",
                    status::metrics_lines(&r),
                    relay_queue_lines(&app.config().data_dir)
                )),
            ),
            Err(e) => {
                tracing::error!(error = %e, "metrics failed");
                Response::error(500, "internal error")
            }
        },
        ("POST", "/api/migrate") => {
            match serde_json::from_slice::<crate::migrate::ops::MigrateRequest>(&req.body) {
                Ok(m) => Response::json(
                    200,
                    &crate::migrate::ops::migrate_user(&app.migrations, m).await,
                ),
                Err(_) => Response::error(400, "expected {\"address\", \"password\", \"mode\"}"),
            }
        }
        ("POST", "/api/finish") => {
            #[derive(serde::Deserialize)]
            struct Finish {
                domain: String,
                #[serde(default)]
                force: bool,
            }
            match serde_json::from_slice::<Finish>(&req.body) {
                Ok(f) => {
                    match crate::migrate::ops::finish(&app.migrations, &f.domain, f.force).await {
                        Ok(r) => Response::json(200, &r),
                        Err(e) => Response::error(400, &e),
                    }
                }
                Err(_) => Response::error(400, "expected {\"domain\", \"force\"}"),
            }
        }
        ("POST", "/api/migrate-domain") => {
            #[derive(serde::Deserialize)]
            struct MigrateDomain {
                domain: String,
            }
            match serde_json::from_slice::<MigrateDomain>(&req.body) {
                Ok(m) => {
                    match crate::migrate::ops::migrate_domain(&app.migrations, &m.domain).await {
                        Ok(r) => Response::json(200, &r),
                        Err(e) => Response::error(400, &e),
                    }
                }
                Err(_) => Response::error(400, "expected {\"domain\"}"),
            }
        }
        ("POST", p) if p.starts_with("/api/domains/") => {
            let rest = &p["/api/domains/".len()..];
            let Some((domain, action)) = rest.rsplit_once('/') else {
                return Response::error(404, "no such endpoint");
            };
            let pause = match action {
                "pause" => true,
                "resume" => false,
                _ => return Response::error(404, "no such endpoint"),
            };
            let Some(d) = app.config().domain(domain).map(|d| d.name.clone()) else {
                return Response::error(404, "no such domain");
            };
            let changed = app.migrations.set_paused(&d, pause);
            let state = if pause { "paused" } else { "resumed" };
            tracing::info!(domain = %d, changed, "migration {state} through the admin API");
            Response::json(
                200,
                &serde_json::json!({ "domain": d, "paused": pause, "changed": changed }),
            )
        }
        (
            _,
            "/"
            | "/api/status"
            | "/api/progress"
            | "/metrics"
            | "/api/migrate"
            | "/api/migrate-domain"
            | "/api/finish",
        ) => Response::error(405, "method not allowed"),
        _ => Response::error(404, "no such endpoint"),
    }
}

/// The relay queue size for `/metrics`: envelopes waiting on disk.
fn relay_queue_lines(data_dir: &Path) -> String {
    let n = std::fs::read_dir(crate::smtp::queue::dir(data_dir))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0);
    format!(
        "# HELP ferrymail_relay_queue Messages waiting in the relay queue.\n# TYPE ferrymail_relay_queue gauge\nferrymail_relay_queue {n}\n"
    )
}

const LOGIN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ferrymail</title></head>
<body style="font-family: sans-serif; margin: 3em">
<h1>ferrymail</h1>
<p>Open this page with the admin token: <code>http://HOST:PORT/?token=TOKEN</code>.
The token is in <code>data_dir/admin-token</code>.</p>
</body></html>
"#;
