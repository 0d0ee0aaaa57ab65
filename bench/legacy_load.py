#!/usr/bin/env python3
"""Load on the legacy server: connections and IMAP commands ferrymail sends per
migrated user, and the per-legacy-host connection cap when many users log in at
once.

    sudo python3 bench/legacy_load.py                    # 200 users, 300 messages each
    sudo python3 bench/legacy_load.py --users 50 --messages 100

A counting relay sits between ferrymail and the private Dovecot: it counts
connections, the commands ferrymail sends (tagged command lines, literal data
not counted), and how many connections are open at once. Part 1 migrates one
user alone. Part 2 logs `--users` users in at the same moment (each session is
closed right after its LOGIN is answered) and samples the open connections until
every account is `migrated`: after the burst of password checks, only copies
hold legacy connections, and they stay within `[migration] max_connections`.
"""

import argparse
import asyncio
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

TAGGED = re.compile(rb"^[A-Za-z0-9.]+ ([A-Za-z]+)")
# Commands that read a folder's messages: what a copy does (a first login's
# password check only sends LOGIN, and at most LIST and STATUS to size the mailbox).
COPY_WORK = {b"EXAMINE", b"SELECT", b"FETCH", b"UID"}


class Relay:
    """A TCP relay on loopback that counts what ferrymail does to the legacy side."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = benchlib.free_port()
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.commands = 0
        # Connections that read messages (copies), as opposed to password checks
        # and proxied sessions whose client is gone.
        self.working_open = 0
        self.max_working = 0
        # What each connection did: its command names in order, deduplicated.
        self.kinds = {}
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait()

    def reset(self):
        self.kinds = {}
        self.connections = 0
        self.commands = 0
        self.max_open = self.open
        self.max_working = self.working_open

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            await asyncio.start_server(self._client, "127.0.0.1", self.port)
            self.ready.set()
            await asyncio.Event().wait()

        self.loop.run_until_complete(main())

    async def _client(self, cr, cw):
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            self.open -= 1
            cw.close()
            return

        working = False
        seen = []

        async def up():
            # Client to server: count command lines; skip literal payloads.
            nonlocal working
            pending = 0
            buf = b""
            while True:
                data = await cr.read(65536)
                if not data:
                    break
                sw.write(data)
                buf += data
                while buf:
                    if pending:
                        n = min(pending, len(buf))
                        buf = buf[n:]
                        pending -= n
                        continue
                    i = buf.find(b"\r\n")
                    if i < 0:
                        break
                    line, buf = buf[:i], buf[i + 2:]
                    m = TAGGED.match(line)
                    if m:
                        self.commands += 1
                        name = m.group(1).upper().decode()
                        if name not in seen:
                            seen.append(name)
                        if not working and m.group(1).upper() in COPY_WORK:
                            working = True
                            self.working_open += 1
                            self.max_working = max(self.max_working, self.working_open)
                    m = re.search(rb"\{(\d+)\+?\}$", line)
                    if m:
                        pending = int(m.group(1))
            sw.close()

        async def down():
            while True:
                data = await sr.read(65536)
                if not data:
                    break
                cw.write(data)
            cw.close()

        await asyncio.gather(up(), down(), return_exceptions=True)
        kind = " ".join(seen) or "(nothing)"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.open -= 1
        if working:
            self.working_open -= 1


def login_and_close(port, user, password):
    c = benchlib.Imap(port)
    c.command(f'LOGIN "{user}" "{password}"')
    c.s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--messages", type=int, default=300)
    args = ap.parse_args()
    users = [(f"u{i}", f"pw-{i}") for i in range(args.users + 1)]
    binary = benchlib.build_ferrymail()
    dovecot = benchlib.Dovecot(users)
    try:
        benchlib.seed_maildir(dovecot, "u0", args.messages)
        for u, _ in users[1:]:
            os.symlink(dovecot.maildir("u0"), dovecot.maildir(u))
        dovecot.chown()
        dovecot.start()
        benchlib.raw_floor(dovecot.imap_port, "u0", "pw-0")
        relay = Relay(dovecot.imap_port)

        class Via:
            imap_port = relay.port

        fm = benchlib.Ferrymail(binary, Via)
        try:
            port = fm.ports[("imap", "plain")]
            # Part 1: one user alone.
            relay.reset()
            login_and_close(port, "u0@example.org", "pw-0")
            fm.wait_state("u0@example.org", "migrated")
            time.sleep(1)
            one = (relay.connections, relay.commands)
            # Part 2: everybody at once.
            relay.reset()
            threads = [threading.Thread(target=login_and_close, args=(port, f"{u}@example.org", p))
                       for u, p in users[1:]]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            burst_max = relay.max_open
            after = 0
            while any(fm.state(f"{u}@example.org") != "migrated" for u, _ in users[1:]):
                after = max(after, relay.open)
                time.sleep(0.05)
            max_working = relay.max_working
            secs = time.perf_counter() - t0
            total = (relay.connections, relay.commands)
            kinds = dict(relay.kinds)
        finally:
            fm.stop()
    finally:
        dovecot.stop()
    n = args.users
    print(f"# {args.messages} messages in 4 folders per user; max_connections = 4 (default)")
    print(benchlib.table(
        ["", "legacy connections", "legacy commands"],
        [["one user, first login to migrated", one[0], one[1]],
         [f"{n} users at once, per user", f"{total[0] / n:.1f}", f"{total[1] / n:.1f}"]]))
    print()
    print(benchlib.table(
        ["legacy connections of the burst, by the commands they carried", "count"],
        sorted(([k, v] for k, v in kinds.items()), key=lambda r: -r[1])))
    print()
    print(benchlib.table(
        ["", "value"],
        [["open legacy connections, max during the login burst", burst_max],
         ["open legacy connections, max after the logins were answered", after],
         ["open legacy connections reading messages (copies), max over the run", max_working],
         [f"time until all {n} users were migrated (s)", f"{secs:.1f}"]]))


if __name__ == "__main__":
    main()
