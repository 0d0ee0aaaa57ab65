//! The daemon seen from outside: its memory in /proc, the lines of its log, the
//! file descriptors this process may hold, and floods of idle connections.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::Daemon;

fn status_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Resident memory of a process, KiB (VmRSS).
pub fn vm_rss_kib(pid: i32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// Peak resident memory of a process, KiB (VmHWM).
pub fn peak_rss_kib(pid: i32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// Lets this process (and the daemon it starts) hold a few thousand sockets.
pub fn raise_fd_limit() {
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

/// Lines of `log` that contain `needle`.
pub fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// Waits up to `secs` until the daemon's log has at least `n` lines containing
/// `needle` (log writes are asynchronous); returns the log as it is then.
pub fn wait_log(d: &Daemon, needle: &str, n: usize, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let log = d.log_text();
        if count(&log, needle) >= n || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Opens `n` connections to `addr` that send nothing; each task returns what the
/// server sent before closing the connection. Also returns how long opening
/// them all took.
pub async fn idle_flood(
    addr: SocketAddr,
    n: usize,
) -> (Vec<tokio::task::JoinHandle<Vec<u8>>>, Duration) {
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
    (tasks, t0.elapsed())
}

/// How many connections of a flood may have been admitted while it was opened:
/// the per-address cap, plus the cap again for every timeout period the opening
/// took (admitted connections that timed out free their places). On an idle
/// machine the flood opens well within one period and this is exactly the cap.
pub fn admissible(per_ip: usize, timeout_secs: u64, opening: Duration) -> usize {
    per_ip * (1 + (opening.as_secs_f64() / timeout_secs as f64).floor() as usize)
}
