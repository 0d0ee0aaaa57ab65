//! Connection floods against `ferrymail serve` (a child process on port 0 with a
//! temporary data dir): 500 idle connections and 500 stalled TLS handshakes from
//! one address. The per-address cap holds (the rest get the busy reply or are
//! closed), the admitted ones are closed by their timeouts, the daemon's memory
//! stays bounded, and it still serves afterwards.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::proc::{admissible, count, idle_flood, raise_fd_limit, vm_rss_kib, wait_log};
use common::{Client, Daemon, TestConfig};

const FLOOD: usize = 500;
const PER_IP: usize = 20;
const TIMEOUT_SECS: u64 = 3;

/// Opens `n` idle connections to `addr` (see [`idle_flood`]); also returns how
/// many of them may have been admitted.
async fn flood(addr: SocketAddr, n: usize) -> (Vec<tokio::task::JoinHandle<Vec<u8>>>, usize) {
    let (tasks, opening) = idle_flood(addr, n).await;
    (tasks, admissible(PER_IP, TIMEOUT_SECS, opening))
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
    let log = wait_log(&d, "error=timed out", PER_IP, 60);
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
    let log = wait_log(&d, "STARTTLS failed", 1, 60);
    assert!(log.contains("POP3: STLS failed"), "{log}");
    assert!(log.contains("error=timed out"), "{log}");
}
