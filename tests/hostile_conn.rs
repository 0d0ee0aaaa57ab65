//! Connection floods against `ferrymail serve` (a child process on port 0 with a
//! temporary data dir): 500 idle connections and 500 stalled TLS handshakes from
//! one address. The per-address cap holds (the rest get the busy reply or are
//! closed), the admitted ones are closed by their timeouts, the daemon's memory
//! stays bounded, and it still serves afterwards.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Client, Daemon, TestConfig};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const FLOOD: usize = 500;
const PER_IP: usize = 20;
const TIMEOUT_SECS: u64 = 3;

/// Resident memory of a process, KiB.
fn vm_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Lets this process (and the daemon it starts) hold a few thousand sockets.
fn raise_fd_limit() {
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < 4096 {
            r.rlim_cur = r.rlim_max.min(4096);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// Opens `n` connections to `addr` that send nothing; each task returns what the
/// server sent before closing the connection.
async fn flood(addr: SocketAddr, n: usize) -> (Vec<tokio::task::JoinHandle<Vec<u8>>>, usize) {
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            // Generous: the server's timeouts are seconds; this only stops a hang.
            let _ = tokio::time::timeout(Duration::from_secs(120), async {
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            got
        }));
    }
    (tasks, admissible(t0.elapsed()))
}

/// How many connections may have been admitted while the flood was opened: the
/// cap, plus the cap again for every timeout period the opening took (admitted
/// connections that timed out free their places). On an idle machine the flood
/// opens well within one period and this is exactly the cap.
fn admissible(opening: Duration) -> usize {
    PER_IP * (1 + (opening.as_secs_f64() / TIMEOUT_SECS as f64).floor() as usize)
}

/// Waits until the log has at least `n` lines containing `needle`.
fn wait_log(d: &Daemon, needle: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = d.log_text();
        if count(&log, needle) >= n || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_floods_and_stalled_tls_handshakes_are_capped_and_timed_out() {
    raise_fd_limit();
    let cfg = TestConfig::new(
        &format!(
            "[auth]\nallow_plaintext = true\n\
             [pop3]\nlisten = [\"127.0.0.1:0\"]\nlisten_tls = [\"127.0.0.1:0\"]\n\
             max_connections_per_ip = {PER_IP}\ntimeout_secs = {TIMEOUT_SECS}\n\
             [smtp]\nlisten = [\"127.0.0.1:0\"]\nmax_connections_per_ip = {PER_IP}\ntimeout_secs = {TIMEOUT_SECS}\n"
        ),
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    let pid = d.pid();
    // Warm up (TLS config, first sessions), then take the baseline.
    let mut c = Client::connect(d.addr("pop3", "plain")).await;
    assert!(c.line().await.unwrap().starts_with("+OK"));
    c.send("QUIT").await;
    let _ = Client::connect_tls(d.addr("pop3", "tls")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = vm_rss_kib(pid);
    let mut rss_peak = rss_before;

    // 500 idle plain connections, POP3 and SMTP.
    for (proto, greeting, busy, bye) in [
        (
            "pop3",
            "+OK mail.test ferrymail POP3 ready",
            "-ERR [SYS/TEMP] Too many connections",
            "-ERR Autologout timer expired",
        ),
        (
            "smtp",
            "220 mail.test ESMTP",
            "421 4.7.0 Too many connections",
            "421 4.4.2 mail.test Error: timeout exceeded",
        ),
    ] {
        let refused_before = count(&d.log_text(), "per-address connection cap reached");
        let (tasks, admissible) = flood(d.addr(proto, "plain"), FLOOD).await;
        rss_peak = rss_peak.max(vm_rss_kib(pid));
        let mut greeted = 0;
        let mut refused = 0;
        for t in tasks {
            // Every connection ends: refused at once, or by the idle timeout.
            let got = String::from_utf8_lossy(&t.await.unwrap()).into_owned();
            if got.starts_with(greeting) {
                assert!(got.contains(bye), "{proto}: {got:?}");
                greeted += 1;
            } else {
                assert!(got.starts_with(busy), "{proto}: {got:?}");
                refused += 1;
            }
        }
        assert!(
            (PER_IP..=admissible).contains(&greeted),
            "{proto}: {greeted} admitted"
        );
        assert_eq!(greeted + refused, FLOOD, "{proto}");
        let log = d.log_text();
        assert_eq!(
            count(&log, "per-address connection cap reached") - refused_before,
            refused,
            "{proto}"
        );
    }

    // 500 stalled TLS handshakes on the implicit-TLS port: the first PER_IP wait
    // for the handshake timeout (bounded by timeout_secs), the rest are closed.
    let refused_before = count(&d.log_text(), "per-address connection cap reached");
    let (tasks, admissible) = flood(d.addr("pop3", "tls"), FLOOD).await;
    rss_peak = rss_peak.max(vm_rss_kib(pid));
    for t in tasks {
        // Nothing is ever sent in clear on a TLS port, not even a busy reply.
        assert!(t.await.unwrap().is_empty());
    }
    let log = wait_log(&d, "error=timed out", PER_IP);
    let timed_out = log
        .lines()
        .filter(|l| l.contains("TLS handshake") && l.contains("timed out"))
        .count();
    assert!((PER_IP..=admissible).contains(&timed_out), "{log}");
    assert_eq!(
        count(&log, "per-address connection cap reached") - refused_before,
        FLOOD - timed_out
    );

    // Memory stayed bounded, and every slot came back: the daemon serves again.
    let rss_after = vm_rss_kib(pid);
    rss_peak = rss_peak.max(rss_after);
    assert!(
        rss_peak < rss_before + 64 * 1024,
        "RSS {rss_before} KiB before, peak {rss_peak} KiB"
    );
    for _ in 0..PER_IP {
        let mut c = Client::connect(d.addr("pop3", "plain")).await;
        assert!(c.line().await.unwrap().starts_with("+OK"));
        c.send("QUIT").await;
        assert_eq!(c.line().await.unwrap(), "+OK Bye");
    }
    let _ = Client::connect_tls(d.addr("pop3", "tls")).await;
    assert!(!d.log_text().contains("panicked"));
}

#[tokio::test]
async fn a_stalled_starttls_handshake_is_closed_by_its_timeout() {
    let cfg = TestConfig::new(
        "[pop3]\nlisten = [\"127.0.0.1:0\"]\ntimeout_secs = 2\n\
         [smtp]\nlisten = [\"127.0.0.1:0\"]\ntimeout_secs = 2\n",
        &[("example.test", "domain = \"example.test\"\n")],
    );
    let d = Daemon::start(&cfg.path(), &cfg.data_dir());
    for (proto, cmd, go) in [
        ("pop3", "STLS", "+OK Begin TLS"),
        ("smtp", "STARTTLS", "220 2.0.0"),
    ] {
        let mut c = Client::connect(d.addr(proto, "plain")).await;
        c.line().await.unwrap();
        if proto == "smtp" {
            c.send("EHLO client.example").await;
            c.until("250 ").await;
        }
        c.send(cmd).await;
        assert!(c.line().await.unwrap().starts_with(go));
        // Then nothing: no ClientHello ever comes.
        c.timeout = Duration::from_secs(60);
        assert!(c.closed().await, "{proto}: still open");
    }
    let log = wait_log(&d, "STARTTLS failed", 1);
    assert!(log.contains("POP3: STLS failed"), "{log}");
    assert!(log.contains("error=timed out"), "{log}");
}
