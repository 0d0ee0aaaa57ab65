#!/usr/bin/env python3
"""Peak memory of the daemon while it copies (a) one folder of many messages and
(b) a single 50 MB message, from first login to `migrated`.

    sudo python3 bench/memory.py                       # 100,000 messages and one 50 MB message
    sudo python3 bench/memory.py --messages 20000

Peak RSS is the daemon's VmHWM from /proc after the switch. Target: <= 64 MB.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from copy_throughput import USER, PASSWORD, ferrymail_copy  # noqa: E402


def big_message(size):
    import base64
    import random
    rng = random.Random(50)
    head = (b"From: a@example.net\r\nTo: user@example.org\r\nSubject: big\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    raw = base64.b64encode(rng.randbytes(size * 3 // 4))
    body = b"\r\n".join(raw[i:i + 76] for i in range(0, len(raw), 76))
    return head + body + b"\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--big-mb", type=int, default=50)
    args = ap.parse_args()
    binary = benchlib.build_ferrymail()
    rows = []

    dovecot = benchlib.Dovecot([(USER, PASSWORD)])
    try:
        n, nbytes = benchlib.seed_maildir(dovecot, USER, args.messages, single_folder="INBOX")
        dovecot.start()
        benchlib.raw_floor(dovecot.imap_port, USER, PASSWORD)
        secs, idle, peak = ferrymail_copy(binary, dovecot)
        rows.append([f"one folder, {n} messages ({nbytes / 1e6:.0f} MB)", idle // 1024, peak // 1024, f"{secs:.1f}"])
    finally:
        dovecot.stop()

    dovecot = benchlib.Dovecot([(USER, PASSWORD)])
    try:
        cur = os.path.join(dovecot.maildir(USER), "cur")
        os.makedirs(cur)
        for sub in ["new", "tmp"]:
            os.makedirs(os.path.join(dovecot.maildir(USER), sub))
        msg = big_message(args.big_mb * 1024 * 1024)
        with open(os.path.join(cur, f"1600000000.M1P1.bench,S={len(msg)}:2,S"), "wb") as f:
            f.write(msg)
        dovecot.chown()
        dovecot.start()
        secs, idle, peak = ferrymail_copy(binary, dovecot)
        rows.append([f"one message of {len(msg) / 1e6:.0f} MB", idle // 1024, peak // 1024, f"{secs:.1f}"])
    finally:
        dovecot.stop()

    print(benchlib.table(["copy", "idle RSS MB", "peak RSS MB", "login to migrated s"], rows))


if __name__ == "__main__":
    main()
