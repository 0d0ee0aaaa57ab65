#!/usr/bin/env python3
"""First-login latency: LOGIN to tagged OK for users ferrymail has never seen,
each with a large legacy mailbox, against the legacy server's own LOGIN time.

    sudo python3 bench/first_login.py                  # 30 users, 100,000 messages each
    sudo python3 bench/first_login.py --users 10 --messages 20000

Every user's Maildir is the same seeded one (symlinks), so seeding is paid once.
Logins are sequential; the copies they start run in the background (capped per
legacy host), as they would in production. Target: median and p99 under 300 ms
plus the legacy server's own login time.
"""

import argparse
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=30)
    ap.add_argument("--messages", type=int, default=100000)
    args = ap.parse_args()
    users = [(f"u{i}", f"pw-{i}") for i in range(args.users)]
    binary = benchlib.build_ferrymail()
    dovecot = benchlib.Dovecot(users)
    try:
        benchlib.seed_maildir(dovecot, "u0", args.messages, single_folder="INBOX")
        for u, _ in users[1:]:
            os.symlink(dovecot.maildir("u0"), dovecot.maildir(u))
        dovecot.chown()
        dovecot.start()
        benchlib.raw_floor(dovecot.imap_port, "u0", "pw-0")  # index once
        idle_legacy = [benchlib.imap_login_time(dovecot.imap_port, u, p) for u, p in users]
        fm = benchlib.Ferrymail(binary, dovecot)
        try:
            port = fm.ports[("imap", "plain")]
            ours, legacy = [], []
            for u, p in users:
                # The legacy server's own LOGIN right before, under the same load
                # (the copies started by the earlier first logins).
                legacy.append(benchlib.imap_login_time(dovecot.imap_port, u, p))
                ours.append(benchlib.imap_login_time(port, f"{u}@example.org", p))
            log = open(fm.log.name).read()
        finally:
            fm.stop()
    finally:
        dovecot.stop()
    # ferrymail's own account of each first login (its log line).
    parts = {k: [] for k in ("legacy_check_ms", "sized_ms", "account_ms", "total_ms")}
    for line in log.splitlines():
        if "first login answered" in line:
            for k in parts:
                m = re.search(rf"\b{k}=(\d+)", line)
                if m:
                    parts[k].append(float(m.group(1)) / 1000)
    ms = lambda s: f"{s * 1000:.1f}"  # noqa: E731
    extra = [a - b for a, b in zip(ours, legacy)]
    rows = [
        ["legacy Dovecot LOGIN, idle", ms(statistics.median(idle_legacy)), ms(pct(idle_legacy, 99))],
        ["legacy Dovecot LOGIN, just before each first login", ms(statistics.median(legacy)),
         ms(pct(legacy, 99))],
        ["ferrymail first LOGIN", ms(statistics.median(ours)), ms(pct(ours, 99))],
        ["ferrymail first LOGIN minus the legacy LOGIN before it", ms(statistics.median(extra)),
         ms(pct(extra, 99))],
    ]
    labels = {"legacy_check_ms": "  in the daemon: legacy password check done",
              "sized_ms": "  in the daemon: hash and mailbox size known",
              "account_ms": "  in the daemon: account created",
              "total_ms": "  in the daemon: answered"}
    for k, v in parts.items():
        if v:
            rows.append([labels[k], ms(statistics.median(v)), ms(pct(v, 99))])
    print(f"# {args.users} users, {args.messages} messages each")
    print(benchlib.table(["", "median ms", "p99 ms"], rows))


if __name__ == "__main__":
    main()
