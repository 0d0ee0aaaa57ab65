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
        legacy = [benchlib.imap_login_time(dovecot.imap_port, u, p) for u, p in users]
        fm = benchlib.Ferrymail(binary, dovecot)
        try:
            port = fm.ports[("imap", "plain")]
            ours = [benchlib.imap_login_time(port, f"{u}@example.org", p) for u, p in users]
        finally:
            fm.stop()
    finally:
        dovecot.stop()
    ms = lambda s: f"{s * 1000:.1f}"  # noqa: E731
    rows = [
        ["legacy Dovecot LOGIN", ms(statistics.median(legacy)), ms(pct(legacy, 99))],
        ["ferrymail first LOGIN", ms(statistics.median(ours)), ms(pct(ours, 99))],
    ]
    print(f"# {args.users} users, {args.messages} messages each")
    print(benchlib.table(["", "median ms", "p99 ms"], rows))


if __name__ == "__main__":
    main()
