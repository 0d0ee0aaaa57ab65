//! `kill -9` of `ferrymail serve` at 20 random points of a copy (random delays
//! from a fixed seed; the copy slowed by FERRYMAIL_TEST_COPY_DELAY_MS), each
//! restart resuming it at the next login: the final mailbox equals the legacy
//! one, UIDs kept, no duplicates. And a full disk (tmpfs data dir) during a copy.

mod common;
mod migrate_support;

use std::time::Duration;

use common::legacy::{Legacy, LegacyOptions};
use common::tmpfs::{fill, Tmpfs};
use common::wait_until;
use migrate_support::*;

#[test]
fn kill_9_at_20_random_points_of_a_copy_then_the_mailbox_equals_the_legacy_one() {
    let legacy = Legacy::start(LegacyOptions::default());
    let total = 30;
    seed_maildir(&legacy, "alice", "alice-pw", total);
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    // A fixed-seed LCG: the same kill points on every run.
    let mut seed: u64 = 0x5eed_f311;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % 900
    };
    for round in 0..20 {
        let mut d = start_daemon(&cfg, Some(30));
        let mut p = Pop::connect(d.addr("pop3", "plain"));
        let r = p.login("alice@example.org", "alice-pw");
        assert!(
            r.starts_with("+OK") || r.starts_with("-ERR [SYS/TEMP]"),
            "round {round}: {r}"
        );
        std::thread::sleep(Duration::from_millis(next()));
        d.kill9();
    }
    let mut d = start_daemon(&cfg, None);
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    wait_state(&d, "alice@example.org", "migrated", 120);
    d.terminate();
    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_same(&leg, &loc, &|raw| raw.into());
    let legacy_total: usize = leg.values().map(|f| f.messages.len()).sum();
    let stored: usize = loc.folders.values().map(|f| f.messages.len()).sum();
    assert_eq!(stored, legacy_total, "duplicates or losses");
    assert_eq!(loc.legacy_map_rows as usize, legacy_total);
}

/// A full disk (a tmpfs data dir filled up) during a copy: the attempt fails, no
/// success is recorded, and once space is back the retry completes with the
/// legacy mailbox, no duplicates.
#[test]
fn a_full_disk_during_a_copy_fails_the_attempt_and_the_copy_resumes() {
    let legacy = Legacy::start(LegacyOptions::default());
    seed_maildir(&legacy, "alice", "alice-pw", 30);
    let cfg = config(&legacy, "serve_locally_within_ms = 0");
    let data_dir = cfg.data_dir();
    let _mount = Tmpfs::mount(&data_dir, "16m");
    let mut d = start_daemon(&cfg, Some(100));
    let mut p = Pop::connect(d.addr("pop3", "plain"));
    assert!(p.login("alice@example.org", "alice-pw").starts_with("+OK"));
    p.cmd("QUIT");
    // Fill the disk while the (slowed) copy runs.
    let filler = fill(&data_dir);
    wait_until(
        60,
        100,
        || d.log_text().contains("migration attempt failed"),
        || d.log_text(),
    );
    assert_ne!(
        account_state(&d.data_dir, "alice@example.org").as_deref(),
        Some("migrated")
    );
    // Space comes back: the retry completes.
    std::fs::remove_file(&filler).unwrap();
    wait_state(&d, "alice@example.org", "migrated", 120);
    d.terminate();
    let leg = legacy_snapshot(&legacy, "alice", "alice-pw");
    let loc = local_snapshot(&d.data_dir, "alice@example.org");
    assert_same(&leg, &loc, &|raw| raw.into());
    let stored: usize = loc.folders.values().map(|f| f.messages.len()).sum();
    assert_eq!(stored, 30, "duplicates or losses");
}
