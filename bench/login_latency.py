#!/usr/bin/env python3
"""LOGIN latency: ferrymail against a private Dovecot, same machine, same run.

For each server, one user, N sequential logins, each a fresh connection:
connect, read the greeting, LOGIN, LOGOUT (Python imaplib). Reports the
median and 90th percentile of the whole exchange, and ferrymail's first login
after start (its password checked with argon2id) separately.

Servers:
  - ferrymail, credential cache on (the default `[auth] credential_cache_secs`)
  - ferrymail, credential cache off (`--set auth.credential_cache_secs=0`):
    every login runs argon2id, as before the cache
  - Dovecot 2.3 with the password stored as PLAIN (bench/imap_bench.py's setup)
  - Dovecot 2.3 with the password stored as SHA512-CRYPT (its default scheme; no auth cache)

Usage (as root, dovecot-imapd installed, `cargo build --release` first):
  bench/login_latency.py [--bin target/release/ferrymail] [--logins 200]

Prints a Markdown table; docs/benchmarks.md records a run and the method.
Not a test: nothing is asserted.
"""

import argparse
import imaplib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imap_bench  # noqa: E402

USER, PASS = imap_bench.USER, imap_bench.PASS


def one_login(port, user):
    t0 = time.perf_counter()
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(user, PASS)
    m.logout()
    return time.perf_counter() - t0


def series(port, user, n):
    return [one_login(port, user) for _ in range(n)]


def ms(v):
    return f"{v * 1000:.1f}"


def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    default_bin = os.path.join(root, "target", "release", "ferrymail")
    ap.add_argument("--bin", default=default_bin)
    ap.add_argument("--logins", type=int, default=200)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="ferrylogin-")
    os.chmod(work, 0o755)  # Dovecot's auth process reads its users file below
    procs = []
    dovecots = []
    rows = []
    try:
        for name, extra in [("ferrymail, credential cache on", []),
                            ("ferrymail, credential cache off", ["--set", "auth.credential_cache_secs=0"])]:
            proc, port = imap_bench.start_ferrymail(args.bin, work, 10, f"fm{len(procs)}", extra)
            procs.append(proc)
            first = one_login(port, USER)
            s = series(port, USER, args.logins)
            rows.append((name, first, s))
        for scheme in ["PLAIN", "SHA512-CRYPT"]:
            sub = os.path.join(work, f"dv-{scheme}")
            os.makedirs(sub)
            d, port = imap_bench.start_dovecot(sub, 10)
            dovecots.append(d)
            if scheme != "PLAIN":
                hashed = subprocess.run(["doveadm", "pw", "-s", scheme, "-p", PASS],
                                        capture_output=True, check=True, text=True).stdout.strip()
                with open(os.path.join(d, "users"), "w") as f:
                    f.write(f"{imap_bench.DOVECOT_USER}:{hashed}::::::\n")
            # Dovecot answers "temporary failure" until its auth process is up.
            deadline = time.time() + 20
            while True:
                try:
                    one_login(port, imap_bench.DOVECOT_USER)
                    break
                except imaplib.IMAP4.error:
                    if time.time() > deadline:
                        sys.stderr.write(open(os.path.join(d, "dovecot.log")).read()[-3000:])
                        raise
                    time.sleep(0.2)
            s = series(port, imap_bench.DOVECOT_USER, args.logins)
            rows.append((f"Dovecot 2.3, {scheme} password", None, s))
        print(f"\n{args.logins} sequential logins each (connect, greeting, LOGIN, LOGOUT); "
              f"ferrymail binary: {args.bin}\n")
        print("| server | first login (ms) | median (ms) | p90 (ms) |")
        print("|---|---|---|---|")
        for name, first, s in rows:
            s = sorted(s)
            p90 = s[int(len(s) * 0.9) - 1]
            first = "n/a" if first is None else ms(first)
            print(f"| {name} | {first} | {ms(statistics.median(s))} | {ms(p90)} |")
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=60)
        for d in dovecots:
            pidfile = os.path.join(d, "run", "master.pid")
            if os.path.exists(pidfile):
                subprocess.run(["kill", open(pidfile).read().strip()])
        time.sleep(1)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
