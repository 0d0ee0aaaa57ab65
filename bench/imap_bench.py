#!/usr/bin/env python3
"""IMAP benchmark: ferrymail against a private Dovecot, same machine, same run.

Measures, for each server, on the same seeded mailbox:
  - FETCH of headers   (UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (...)]))
  - FETCH of bodies    (UID FETCH 1:* BODY.PEEK[])
  - SEARCH             (UID SEARCH FROM x / TEXT x / UNSEEN, each repeated)
  - STORE throughput   (one UID STORE +FLAGS.SILENT per message, sequential)
  - memory per idle IDLE connection (RSS and PSS growth of the server's
    processes divided by the number of connections sitting in IDLE), for each
    of --idle's connection counts

Usage (as root, dovecot-imapd installed):
  bench/imap_bench.py [--bin target/release/ferrymail] [--messages 2000] [--idle 1000,10000]
  (--idle 0: no IDLE memory measurement)

Prints a Markdown table; docs/benchmarks.md records a run and the method.
Not a test: nothing is asserted.
"""

import argparse
import imaplib
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

USER, PASS = "pat@example.test", "bench-pw"
DOVECOT_USER = "pat"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, what):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not open port {port}")


def make_messages(n, seed=7):
    rnd = random.Random(seed)
    words = "alpha beta gamma delta mail server migrate folder message flag search idle".split()
    out = []
    for i in range(n):
        body_lines = rnd.randint(20, 800)
        body = "\r\n".join(" ".join(rnd.choice(words) for _ in range(12)) for _ in range(body_lines))
        if i % 50 == 0:
            body += "\r\nthe needle is here\r\n"
        msg = (
            f"From: Sender {i % 40} <sender{i % 40}@example.net>\r\n"
            f"To: pat@example.test\r\nSubject: bench message {i}\r\n"
            f"Date: Mon, 6 Nov 2023 10:{i % 60:02d}:00 +0000\r\n"
            f"Message-ID: <bench{i}@example.net>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        ).encode()
        out.append(msg)
    return out


def start_ferrymail(binary, work, max_conn, name="ferrymail", extra_args=()):
    """Starts `ferrymail serve` (with `extra_args`, e.g. `--set` overrides) on
    a fresh data dir in work/name with the user USER; (process, IMAP port)."""
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "domains"))
    with open(os.path.join(d, "ferrymail.toml"), "w") as f:
        f.write(
            'hostname = "bench.test"\ndata_dir = "data"\ndomains_dir = "domains"\n'
            "[auth]\nallow_plaintext = true\n"
            f'[imap]\nlisten = ["127.0.0.1:0"]\nmax_connections = {max_conn + 50}\n'
            f"max_connections_per_ip = {max_conn + 50}\nmax_connections_per_user = {max_conn + 50}\n"
        )
    with open(os.path.join(d, "domains", "example.test.toml"), "w") as f:
        f.write('domain = "example.test"\n')
    cfg = os.path.join(d, "ferrymail.toml")
    subprocess.run([binary, "account", "add", USER, "--config", cfg], input=PASS.encode(), check=True,
                   stdout=subprocess.DEVNULL)
    log = open(os.path.join(d, "serve.log"), "w")
    proc = subprocess.Popen([binary, "serve", "--config", cfg, *extra_args], stdout=log, stderr=log,
                            env={**os.environ, "RUST_LOG": "warn"})
    listeners = os.path.join(d, "data", "listeners")
    deadline = time.time() + 30
    while not os.path.exists(listeners):
        if time.time() > deadline or proc.poll() is not None:
            sys.exit("ferrymail did not start; see " + log.name)
        time.sleep(0.05)
    for line in open(listeners):
        proto, kind, addr = line.split()
        if proto == "imap" and kind == "plain":
            return proc, int(addr.rsplit(":", 1)[1])
    sys.exit("no imap listener")


def start_dovecot(work, max_conn):
    if subprocess.run(["id", "vmail"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "vmail"],
                       check=True)
    d = os.path.join(work, "dovecot")
    for sub in ("run", "state", "mail", "home"):
        os.makedirs(os.path.join(d, sub))
    subprocess.run(["chown", "-R", "vmail:vmail", os.path.join(d, "mail"), os.path.join(d, "home")], check=True)
    os.chmod(work, 0o755)
    os.chmod(d, 0o755)
    port = free_port()
    conf = f"""
base_dir = {d}/run
state_dir = {d}/state
instance_name = ferrybench-{os.getpid()}
log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:{d}/mail/%u
mail_max_userip_connections = {max_conn + 50}
default_process_limit = {max_conn + 50}
default_client_limit = {max_conn + 100}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/users
}}
userdb {{
  driver = static
  args = uid=vmail gid=vmail home={d}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap {{
  # Dovecot's own default for imap is 1,024 processes (one per connection).
  process_limit = {max_conn + 50}
}}
"""
    with open(os.path.join(d, "dovecot.conf"), "w") as f:
        f.write(conf)
    with open(os.path.join(d, "users"), "w") as f:
        f.write(f"{DOVECOT_USER}:{{PLAIN}}{PASS}::::::\n")
    subprocess.run(["dovecot", "-c", os.path.join(d, "dovecot.conf")], check=True)
    wait_port(port, "dovecot")
    return d, port


def login(port, user):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(user, PASS)
    return m


def seed(port, user, messages):
    m = login(port, user)
    for i, msg in enumerate(messages):
        flags = "(\\Seen)" if i % 3 else "()"
        m.append("INBOX", flags, imaplib.Time2Internaldate(1_700_000_000 + i), msg)
    m.logout()


def timed(fn, repeat=1):
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best


def memory_kib(pids):
    """(RSS, PSS) of `pids` in KiB. RSS counts a shared page once per process
    that maps it (so it overstates a server made of many processes); PSS splits
    each shared page between the processes sharing it."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def mem_available_kib():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def descendants(root):
    """`root` and every process below it (one Dovecot instance, not others)."""
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(pid))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def open_idle(port, user):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    f.readline()
    s.sendall(f"a LOGIN {user} {PASS}\r\nb SELECT INBOX\r\nc IDLE\r\n".encode())
    while True:
        line = f.readline()
        if not line:
            raise RuntimeError("connection closed before IDLE")
        if line.startswith(b"+"):
            return s, f
        if line.startswith((b"a NO", b"a BAD", b"b NO", b"b BAD", b"c NO", b"c BAD")):
            raise RuntimeError(line.decode(errors="replace").strip())


def idle_memory(port, user, n, pids_fn):
    """Opens `n` connections sitting in IDLE on INBOX; returns (connections
    opened, RSS KiB per connection, PSS KiB per connection). Stops early, and
    says so, when the machine has less than 2 GiB of memory left."""
    # Warm up first: logins (argon2 on ferrymail's side) and the allocator's
    # arenas would otherwise be counted as per-connection memory.
    for _ in range(30):
        m = login(port, user)
        m.select("INBOX")
        m.logout()
    time.sleep(1.0)
    rss0, pss0 = memory_kib(pids_fn())
    conns = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(count):
        for _ in range(count):
            if stop.is_set():
                return
            if mem_available_kib() < 2 * 1024 * 1024:
                stop.set()
                return
            c = open_idle(port, user)
            with lock:
                conns.append(c)

    threads = [threading.Thread(target=worker, args=(n // 4 + (i < n % 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if stop.is_set():
        print(f"# stopped at {len(conns)} of {n} connections: under 2 GiB of memory left",
              file=sys.stderr)
    time.sleep(2.0)
    rss1, pss1 = memory_kib(pids_fn())
    opened = len(conns)
    for s, f in conns:
        try:
            s.sendall(b"DONE\r\nd LOGOUT\r\n")
        except OSError:
            pass
        s.close()
    time.sleep(2.0)
    per = max(opened, 1)
    return opened, (rss1 - rss0) / per, (pss1 - pss0) / per


def run_suite(name, port, user, n_msgs, idle_counts, pids_fn):
    m = login(port, user)
    m.select("INBOX")
    res = {}
    res["FETCH headers (s)"] = timed(lambda: m.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])"), 3)
    res["FETCH full bodies (s)"] = timed(lambda: m.uid("FETCH", "1:*", "(BODY.PEEK[])"), 3)
    res["SEARCH FROM (s)"] = timed(lambda: m.uid("SEARCH", None, "FROM", "sender7"), 3)
    res["SEARCH TEXT (s)"] = timed(lambda: m.uid("SEARCH", None, "TEXT", "needle"), 3)
    res["SEARCH UNSEEN (s)"] = timed(lambda: m.uid("SEARCH", None, "UNSEEN"), 3)
    typ, data = m.uid("SEARCH", None, "ALL")
    uids = data[0].split()[:500]
    t0 = time.perf_counter()
    for u in uids:
        m.uid("STORE", u, "+FLAGS.SILENT", "(\\Flagged)")
    res["STORE (ops/s)"] = len(uids) / (time.perf_counter() - t0)
    m.logout()
    for n in idle_counts:
        opened, rss, pss = idle_memory(port, user, n, pids_fn)
        res[f"IDLE connections opened (of {n})"] = opened
        res[f"RSS per IDLE connection, {n} conns (KiB)"] = rss
        res[f"PSS per IDLE connection, {n} conns (KiB)"] = pss
    return res


def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    default_bin = os.path.join(root, "target", "release", "ferrymail")
    if not os.path.exists(default_bin):
        default_bin = os.path.join(root, "target", "debug", "ferrymail")
    ap.add_argument("--bin", default=default_bin)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--idle", default="1000,10000",
                    help="comma-separated numbers of IDLE connections to measure; 0 skips the IDLE part")
    args = ap.parse_args()
    idle_counts = [int(x) for x in args.idle.split(",") if x.strip() and int(x) > 0]
    max_idle = max(idle_counts, default=0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, max_idle * 2 + 256)), hard))
    work = tempfile.mkdtemp(prefix="ferrybench-")
    fm_proc = None
    dove_dir = None
    try:
        fm_proc, fm_port = start_ferrymail(args.bin, work, max_idle)
        dove_dir, dv_port = start_dovecot(work, max_idle)
        messages = make_messages(args.messages)
        size = sum(len(x) for x in messages)
        print(f"seeding {len(messages)} messages ({size / 1e6:.1f} MB) into each server...", file=sys.stderr)
        seed(fm_port, USER, messages)
        seed(dv_port, DOVECOT_USER, messages)
        fm = run_suite("ferrymail", fm_port, USER, args.messages, idle_counts, lambda: [fm_proc.pid])
        master = int(open(os.path.join(dove_dir, "run", "master.pid")).read().strip())
        dv = run_suite("dovecot", dv_port, DOVECOT_USER, args.messages, idle_counts, lambda: descendants(master))
        print(f"\n{args.messages} messages, {size / 1e6:.1f} MB; ferrymail binary: {args.bin}\n")
        print("| measure | ferrymail | Dovecot |")
        print("|---|---|---|")
        for k in fm:
            fmt = (lambda v: f"{v:,}") if isinstance(fm[k], int) else (lambda v: f"{v:.3f}")
            print(f"| {k} | {fmt(fm[k])} | {fmt(dv[k])} |")
    finally:
        if fm_proc is not None:
            fm_proc.terminate()
            fm_proc.wait(timeout=60)
        if dove_dir is not None:
            pidfile = os.path.join(dove_dir, "run", "master.pid")
            if os.path.exists(pidfile):
                subprocess.run(["kill", open(pidfile).read().strip()])
                time.sleep(1)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
