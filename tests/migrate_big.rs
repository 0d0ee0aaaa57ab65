//! A 100,000-message legacy folder is copied with bounded memory. Heavy (about a
//! minute on two cores), so ignored by default:
//! `cargo test --release --test migrate_big -- --ignored`.

mod common;
mod migrate_support;

use common::legacy::{Legacy, LegacyOptions};
use common::proc::peak_rss_kib;
use migrate_support::*;

fn messages() -> usize {
    std::env::var("MIGRATE_BIG_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

#[test]
#[ignore]
fn a_100k_message_folder_is_copied_with_bounded_memory() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed_maildir(&legacy, "alice", "alice-pw", messages());

    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    // Watch the daemon's memory while it copies (printed with --nocapture).
    let started = std::time::Instant::now();
    let mut last = 0;
    while account_state(&d.data_dir, "alice@example.org").as_deref() != Some("migrated") {
        let rss = std::fs::read_to_string(format!("/proc/{}/status", d.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
        if rss > last + 4096 {
            let log = d.log_text();
            let tail = log
                .lines()
                .last()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect::<String>();
            eprintln!(
                "{:>6.1}s rss {} MB | {tail}",
                started.elapsed().as_secs_f64(),
                rss / 1024
            );
            last = rss;
        }
        assert!(started.elapsed().as_secs() < 1800, "{}", d.log_text());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let peak = peak_rss_kib(d.pid()) * 1024;
    eprintln!("peak RSS {} MB", peak / (1024 * 1024));
    assert!(
        peak < 100 * 1024 * 1024,
        "peak RSS {} MB",
        peak / (1024 * 1024)
    );
    d.terminate();
    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_same(&leg, &loc, &|raw| raw.into());
    assert_eq!(loc.folders["INBOX"].messages.len(), messages());
}
