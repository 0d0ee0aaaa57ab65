#!/usr/bin/env python3
"""Copy throughput: ferrymail's on-login copy against the raw fetch floor,
mbsync and imapsync, on the same machine, in one run, pair by pair.

    sudo python3 bench/copy_throughput.py                 # 2,000 and 20,000 messages
    sudo python3 bench/copy_throughput.py --sizes 2000,20000,100000 --rounds 3

For each size a private Dovecot is seeded with a deterministic realistic mailbox
(plain, HTML, attachments; ~38 KB average; 4 folders). After one unmeasured read
that warms Dovecot's indexes and the page cache, each round measures:

  floor      one connection, `UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])`
             per folder, bodies read and discarded;
  mbsync     isync pulling every folder into a fresh local Maildir;
  imapsync   imapsync (default options) copying every folder into an empty
             second user of the same Dovecot. imapsync is not packaged by
             Debian: `--imapsync PATH` (default: `imapsync` on PATH) names the
             script from https://github.com/imapsync/imapsync; its Perl
             modules are Debian packages (docs/benchmarks.md lists them).
             Without it the column is left out;
  ferrymail  a fresh daemon, first login of the user, until the account is
             `migrated` (copy, delta pass, verification, switch).

Results and the method go in docs/benchmarks.md.
"""

import argparse
import os
import shutil
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

USER, PASSWORD = "bench", "bench-pw"
DEST = "bench-dest"


def first_login(fm):
    """Logs the user in for the first time (IMAP if served, else POP3) and keeps
    the session open until the account is migrated."""
    if ("imap", "plain") in fm.ports:
        c = benchlib.Imap(fm.ports[("imap", "plain")])
        c.command(f'LOGIN "{USER}@example.org" "{PASSWORD}"')
        return c.s
    s = socket.create_connection(("127.0.0.1", fm.ports[("pop3", "plain")]))
    f = s.makefile("rb")
    f.readline()
    s.sendall(f"USER {USER}@example.org\r\n".encode())
    f.readline()
    s.sendall(f"PASS {PASSWORD}\r\n".encode())
    reply = f.readline()
    if not reply.startswith(b"+OK"):
        raise RuntimeError(f"login refused: {reply!r}")
    return s


def ferrymail_copy(binary, dovecot):
    """A fresh daemon, the user's first login, until `migrated`. Returns
    (seconds, idle RSS KB before the login, peak RSS KB)."""
    fm = benchlib.Ferrymail(binary, dovecot)
    try:
        idle = fm.rss_kb()
        t0 = time.perf_counter()
        session = first_login(fm)
        fm.wait_state(f"{USER}@example.org", "migrated")
        secs = time.perf_counter() - t0
        peak = fm.peak_rss_kb()
        session.close()
        return secs, idle, peak
    finally:
        fm.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,20000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-ferrymail", action="store_true")
    ap.add_argument("--imapsync", default=shutil.which("imapsync"),
                    help="the imapsync script (default: imapsync on PATH)")
    args = ap.parse_args()
    if not args.imapsync:
        print("# imapsync not found (--imapsync PATH): its column is left out", file=sys.stderr)
    binary = None if args.skip_ferrymail else benchlib.build_ferrymail()
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        dovecot = benchlib.Dovecot([(USER, PASSWORD), (DEST, PASSWORD)])
        try:
            t0 = time.perf_counter()
            msgs, nbytes = benchlib.seed_maildir(dovecot, USER, size)
            dovecot.start()
            benchlib.raw_floor(dovecot.imap_port, USER, PASSWORD)  # warm-up, not measured
            print(f"# {size}: seeded {msgs} messages, {nbytes / 1e6:.1f} MB in "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
            floor, mbs, fm, ratio_floor, ratio_mbsync, peaks = [], [], [], [], [], []
            isy, ratio_imapsync = [], []
            for _ in range(args.rounds):
                n, b, f_secs = benchlib.raw_floor(dovecot.imap_port, USER, PASSWORD)
                assert n == msgs, f"floor read {n} of {msgs} messages"
                m_secs = benchlib.mbsync(dovecot.imap_port, USER, PASSWORD)
                floor.append(f_secs)
                mbs.append(m_secs)
                if args.imapsync:
                    isy.append(benchlib.imapsync(args.imapsync, dovecot.imap_port, USER,
                                                 PASSWORD, DEST, dovecot))
                if binary:
                    c_secs, _, peak = ferrymail_copy(binary, dovecot)
                    fm.append(c_secs)
                    peaks.append(peak)
                    ratio_floor.append(c_secs / f_secs)
                    ratio_mbsync.append(m_secs / c_secs)
                    if args.imapsync:
                        ratio_imapsync.append(isy[-1] / c_secs)
            med = statistics.median
            row = [size, f"{nbytes / 1e6:.0f}",
                   f"{med(floor):.2f}", f"{msgs / med(floor):.0f}",
                   f"{med(mbs):.2f}", f"{msgs / med(mbs):.0f}"]
            if args.imapsync:
                row += [f"{med(isy):.2f}", f"{msgs / med(isy):.0f}"]
            if binary:
                row += [f"{med(fm):.2f}", f"{msgs / med(fm):.0f}",
                        f"{med(ratio_floor):.2f}x", f"{med(ratio_mbsync):.2f}x",
                        *([f"{med(ratio_imapsync):.1f}x"] if args.imapsync else []),
                        f"{max(peaks) / 1024:.0f}"]
            rows.append(row)
        finally:
            dovecot.stop()
    headers = ["messages", "MB", "floor s", "floor msg/s", "mbsync s", "mbsync msg/s"]
    if args.imapsync:
        headers += ["imapsync s", "imapsync msg/s"]
    if binary:
        headers += ["ferrymail s", "ferrymail msg/s", "ferrymail/floor", "mbsync/ferrymail",
                    *(["imapsync/ferrymail"] if args.imapsync else []), "peak RSS MB"]
    print(benchlib.table(headers, rows))


if __name__ == "__main__":
    main()
