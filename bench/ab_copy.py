#!/usr/bin/env python3
"""A/B copy throughput: this tree's ferrymail against another build (say the
previous release), interleaved round by round on one Dovecot, so both meet the
same disk and page-cache state. Each round measures the raw fetch floor, then
A, then B (the order alternates every round); the table gives medians and the
median of the per-round ratios.

    sudo python3 bench/ab_copy.py --other /path/to/old/ferrymail --sizes 2000,20000 --rounds 7

Build the other binary from a worktree of the old commit:
`git worktree add /tmp/old <rev> && (cd /tmp/old && cargo build --release)`.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from copy_throughput import PASSWORD, USER, first_login  # noqa: E402


def copy_secs(binary, dovecot):
    fm = benchlib.Ferrymail(binary, dovecot)
    try:
        t0 = time.perf_counter()
        session = first_login(fm)
        fm.wait_state(f"{USER}@example.org", "migrated")
        secs = time.perf_counter() - t0
        session.close()
        return secs
    finally:
        fm.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--other", required=True, help="the ferrymail binary to compare with")
    ap.add_argument("--sizes", default="2000,20000")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    builds = {"this tree": benchlib.build_ferrymail(), "other": args.other}
    med = statistics.median
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        dovecot = benchlib.Dovecot([(USER, PASSWORD)])
        try:
            msgs, _ = benchlib.seed_maildir(dovecot, USER, size)
            dovecot.start()
            benchlib.raw_floor(dovecot.imap_port, USER, PASSWORD)  # warm-up
            secs = {k: [] for k in builds}
            floor_ratio = {k: [] for k in builds}
            ab = []
            for r in range(args.rounds):
                _, _, f_secs = benchlib.raw_floor(dovecot.imap_port, USER, PASSWORD)
                order = list(builds) if r % 2 == 0 else list(reversed(builds))
                got = {}
                for name in order:
                    got[name] = copy_secs(builds[name], dovecot)
                    secs[name].append(got[name])
                    floor_ratio[name].append(got[name] / f_secs)
                ab.append(got["this tree"] / got["other"])
            for name in builds:
                rows.append([size, name, f"{med(secs[name]):.2f}",
                             f"{min(secs[name]):.2f}-{max(secs[name]):.2f}",
                             f"{msgs / med(secs[name]):.0f}", f"{med(floor_ratio[name]):.2f}x",
                             f"{med(ab):.2f}" if name == "this tree" else ""])
        finally:
            dovecot.stop()
    print(benchlib.table(["messages", "build", "median s", "range s", "msg/s",
                          "build/floor", "this/other (median of rounds)"], rows))


if __name__ == "__main__":
    main()
