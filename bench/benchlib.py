"""Shared pieces of the benchmark scripts: a private Dovecot on loopback, a
deterministic realistic mailbox written straight into its Maildir, a raw pipelined
fetch client (the floor), mbsync, and ferrymail itself.

Nothing here talks to anything but 127.0.0.1. Needs root (Dovecot stores mail as
the `vmail` system user) and the Debian packages dovecot-imapd, dovecot-pop3d,
isync. See docs/benchmarks.md for the method.
"""

import atexit
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Folders of the seeded mailbox and the share of messages each gets.
FOLDERS = [("INBOX", 0.55), ("Sent", 0.2), ("Archive/2023", 0.15), ("Archive/2024", 0.1)]


_LATER = []


def remove_later(path):
    """Removes `path` when the script ends, not now: this machine's ext4 has no
    journal, and ext4 then skips inodes freed in the last 60 s (up to 6 min)
    when it allocates new ones, so deleting one run's 20,000 files right before
    the next run would slow the next run's file creation by a large factor
    (seen as `recently_deleted` in `perf`). Measured runs create files on a
    filesystem without fresh deletions, as a real server does."""
    _LATER.append(path)


@atexit.register
def _remove_all():
    for path in _LATER:
        shutil.rmtree(path, ignore_errors=True)
    _LATER.clear()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port}")


def ensure_vmail_user():
    if subprocess.run(["id", "vmail"], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "vmail"],
            check=True,
        )


class Dovecot:
    """A private Dovecot instance in a temporary folder."""

    def __init__(self, users):
        ensure_vmail_user()
        self.dir = tempfile.mkdtemp(prefix="bench-legacy-")
        os.chmod(self.dir, 0o755)
        self.imap_port = free_port()
        self.pop3_port = free_port()
        for sub in ["run", "state", "mail", "home"]:
            os.makedirs(os.path.join(self.dir, sub))
        d = self.dir
        with open(os.path.join(d, "users"), "w") as f:
            for user, password in users:
                f.write(f"{user}:{{PLAIN}}{password}::::::\n")
        conf = f"""
base_dir = {d}/run
state_dir = {d}/state
instance_name = ferrybench-{os.getpid()}-{self.imap_port}
log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = imap pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:{d}/mail/%u
pop3_uidl_format = %08Xu%08Xv
mail_max_userip_connections = 1000
default_process_limit = 1000
default_client_limit = 4000
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
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
  }}
}}
"""
        with open(os.path.join(d, "dovecot.conf"), "w") as f:
            f.write(conf)

    def maildir(self, user):
        return os.path.join(self.dir, "mail", user)

    def start(self):
        subprocess.run(["/usr/sbin/dovecot", "-c", os.path.join(self.dir, "dovecot.conf")], check=True)
        wait_port(self.imap_port, "dovecot")

    def stop(self):
        try:
            pid = int(open(os.path.join(self.dir, "run", "master.pid")).read().strip())
            os.kill(pid, 15)
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                except OSError:
                    break
        except (OSError, ValueError):
            pass
        remove_later(self.dir)

    def chown(self):
        subprocess.run(["chown", "-R", "vmail:vmail", os.path.join(self.dir, "mail"),
                        os.path.join(self.dir, "home")], check=True)


WORDS = ("migration mailbox server legacy invoice meeting quarterly report budget "
         "schedule project customer delivery contract review draft update team "
         "office holiday travel expense approval network backup archive").split()


def _text(rng, size):
    out = []
    n = 0
    while n < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
        out.append(line)
        n += len(line) + 2
    return "\r\n".join(out)


def _b64_lines(rng, size):
    import base64
    data = rng.randbytes(size)
    enc = base64.b64encode(data).decode()
    return "\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def make_message(rng, i):
    """One realistic message: plain (50%), HTML alternative (30%), or with a
    base64 attachment (20%). About 38 KB on average."""
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(1600000000 + i * 977))
    head = (f"From: Sender {i % 97} <sender{i % 97}@example.net>\r\n"
            f"To: user@example.org\r\n"
            f"Subject: {' '.join(rng.choice(WORDS) for _ in range(5))} #{i}\r\n"
            f"Date: {date}\r\n"
            f"Message-ID: <bench-{i}@example.net>\r\n"
            f"MIME-Version: 1.0\r\n")
    kind = rng.random()
    if kind < 0.5:
        body = _text(rng, rng.randint(1500, 9000))
        msg = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
    elif kind < 0.8:
        text = _text(rng, rng.randint(3000, 12000))
        html = "<html><body><p>" + text.replace("\r\n", "</p>\r\n<p>") + "</p></body></html>"
        b = f"alt-{i}"
        msg = (head + f'Content-Type: multipart/alternative; boundary="{b}"\r\n\r\n'
               f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
               f"--{b}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{b}--\r\n")
    else:
        text = _text(rng, rng.randint(500, 3000))
        att = _b64_lines(rng, rng.randint(50000, 170000))
        b = f"mix-{i}"
        msg = (head + f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\n'
               f"--{b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
               f"--{b}\r\nContent-Type: application/pdf; name=\"doc{i}.pdf\"\r\n"
               f"Content-Transfer-Encoding: base64\r\n"
               f"Content-Disposition: attachment; filename=\"doc{i}.pdf\"\r\n\r\n{att}\r\n--{b}--\r\n")
    return msg.encode()


def seed_maildir(dovecot, user, count, seed=1, single_folder=None):
    """Writes `count` messages straight into the user's Maildir (much faster than
    APPEND for 100,000 messages). Returns (messages, bytes)."""
    rng = random.Random(seed)
    root = dovecot.maildir(user)
    folders = [(single_folder, 1.0)] if single_folder else FOLDERS
    total = 0
    made = 0
    for fi, (folder, share) in enumerate(folders):
        n = count - made if fi == len(folders) - 1 else int(count * share)
        path = root if folder == "INBOX" else os.path.join(root, "." + folder.replace("/", "."))
        for sub in ["cur", "new", "tmp"]:
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        for k in range(n):
            i = made + k
            msg = make_message(rng, i)
            flags = "".join(f for f, p in (("F", 0.05), ("R", 0.2), ("S", 0.8)) if rng.random() < p)
            name = f"{1600000000 + i}.M{i}P1.bench,S={len(msg)}:2,{''.join(sorted(flags))}"
            fp = os.path.join(path, "cur", name)
            with open(fp, "wb") as f:
                f.write(msg)
            t = 1600000000 + i * 977
            os.utime(fp, (t, t))
            total += len(msg)
        made += n
    dovecot.chown()
    return made, total


class Imap:
    """A minimal IMAP client over a raw socket, fast enough to measure the floor."""

    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.create_connection((host, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self.readline()

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def readline(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def skip(self, n):
        """Consumes n bytes of a literal without keeping them."""
        while len(self.buf) < n:
            n -= len(self.buf)
            self.buf.clear()
            self._fill()
        del self.buf[:n]

    def command(self, text):
        """Sends a command; returns (untagged lines with literals skipped, literal
        bytes read, tagged line)."""
        self.n += 1
        tag = f"b{self.n}"
        self.s.sendall(f"{tag} {text}\r\n".encode())
        lines = []
        literal_bytes = 0
        while True:
            line = self.readline()
            m = re.search(rb"\{(\d+)\}$", line)
            if m:
                size = int(m.group(1))
                self.skip(size)
                literal_bytes += size
                lines.append(line)
                continue
            if line.startswith(tag.encode() + b" "):
                if not line.startswith(tag.encode() + b" OK"):
                    raise RuntimeError(f"{text}: {line!r}")
                return lines, literal_bytes, line
            lines.append(line)

    def close(self):
        try:
            self.command("LOGOUT")
        except (OSError, EOFError, RuntimeError):
            pass
        self.s.close()


def folder_list(port, user, password):
    c = Imap(port)
    c.command(f'LOGIN "{user}" "{password}"')
    lines, _, _ = c.command('LIST "" "*"')
    c.close()
    names = []
    for l in lines:
        m = re.match(rb'\* LIST \(([^)]*)\) "(.)" "?([^"]*)"?$', l)
        if m and b"\\Noselect" not in m.group(1):
            names.append(m.group(3).decode())
    return names


def raw_floor(port, user, password):
    """The floor: one connection, every folder SELECTed and read with a pipelined
    `UID FETCH 1:* BODY.PEEK[]`, bodies discarded. Returns (messages, bytes, secs)."""
    names = folder_list(port, user, password)
    t0 = time.perf_counter()
    c = Imap(port)
    c.command(f'LOGIN "{user}" "{password}"')
    msgs = 0
    total = 0
    for name in names:
        c.command(f'SELECT "{name}"')
        lines, nbytes, _ = c.command("UID FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[])")
        msgs += sum(1 for l in lines if b" FETCH " in l)
        total += nbytes
    c.close()
    return msgs, total, time.perf_counter() - t0


def mbsync(port, user, password):
    """mbsync (isync) pulling every folder into a fresh local Maildir. Returns secs."""
    work = tempfile.mkdtemp(prefix="bench-mbsync-")
    os.makedirs(os.path.join(work, "mail"))
    rc = os.path.join(work, "mbsyncrc")
    with open(rc, "w") as f:
        f.write(f"""IMAPAccount legacy
Host 127.0.0.1
Port {port}
User {user}
Pass {password}
SSLType None
AuthMechs LOGIN

IMAPStore far
Account legacy

MaildirStore near
Path {work}/mail/
Inbox {work}/mail/INBOX
SubFolders Verbatim

Channel all
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState *
""")
    os.chmod(rc, 0o600)
    t0 = time.perf_counter()
    r = subprocess.run(["mbsync", "-q", "-c", rc, "all"], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    remove_later(work)
    if r.returncode != 0:
        raise RuntimeError(f"mbsync failed: {r.stderr}")
    return secs


def imapsync(script, port, user, password, dest_user, dovecot):
    """imapsync (IMAP to IMAP) copying every folder of `user` into the empty
    mailbox of `dest_user` on the same Dovecot, with its default options.
    Returns secs."""
    shutil.rmtree(dovecot.maildir(dest_user), ignore_errors=True)
    work = tempfile.mkdtemp(prefix="bench-imapsync-")
    passfile = os.path.join(work, "pass")
    with open(passfile, "w") as f:
        f.write(password + "\n")
    os.chmod(passfile, 0o600)
    t0 = time.perf_counter()
    r = subprocess.run(
        [script, "--host1", "127.0.0.1", "--port1", str(port), "--user1", user,
         "--passfile1", passfile, "--host2", "127.0.0.1", "--port2", str(port),
         "--user2", dest_user, "--passfile2", passfile, "--nossl1", "--nossl2",
         "--notls1", "--notls2", "--nolog", "--noreleasecheck"],
        capture_output=True, text=True, cwd=work)
    secs = time.perf_counter() - t0
    remove_later(work)
    if r.returncode != 0:
        raise RuntimeError(f"imapsync failed ({r.returncode}): {r.stdout[-2000:]}{r.stderr[-2000:]}")
    return secs


def build_ferrymail():
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "ferrymail")


class Ferrymail:
    """ferrymail serve on loopback port 0 with a temporary data dir and one
    migrating domain pointing at `dovecot`."""

    def __init__(self, binary, dovecot, domain="example.org", extra_domain=""):
        self.dir = tempfile.mkdtemp(prefix="bench-ferrymail-")
        os.makedirs(os.path.join(self.dir, "domains"))
        with open(os.path.join(self.dir, "ferrymail.toml"), "w") as f:
            f.write(f"""hostname = "bench.test"
data_dir = "data"
domains_dir = "domains"
[auth]
allow_plaintext = true
failure_delay_ms = 0
[imap]
listen = ["127.0.0.1:0"]
max_connections = 20000
max_connections_per_ip = 20000
max_connections_per_user = 20000
[pop3]
listen = ["127.0.0.1:0"]
""")
        with open(os.path.join(self.dir, "domains", f"{domain}.toml"), "w") as f:
            f.write(f"""domain = "{domain}"
[migration]
enabled = true
{extra_domain}
[migration.imap]
host = "127.0.0.1"
port = {dovecot.imap_port}
tls = "none"
[migration.smtp]
host = "127.0.0.1"
port = 25
""")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.log = open(os.path.join(self.dir, "ferrymail.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", os.path.join(self.dir, "ferrymail.toml")],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        listeners = os.path.join(self.data, "listeners")
        deadline = time.time() + 30
        while not os.path.exists(listeners):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("ferrymail did not start: " + open(self.log.name).read())
            time.sleep(0.05)
        self.ports = {}
        for line in open(listeners):
            proto, kind, addr = line.split()
            self.ports.setdefault((proto, kind), int(addr.rsplit(":", 1)[1]))

    def state(self, address):
        db = sqlite3.connect(os.path.join(self.data, "ferrymail.sqlite"), timeout=10)
        try:
            row = db.execute("SELECT state FROM accounts WHERE address = ?", (address,)).fetchone()
        finally:
            db.close()
        return row[0] if row else None

    def wait_state(self, address, want, timeout=3600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.state(address)
            if s == want:
                return
            if s == "failed":
                raise RuntimeError(f"{address} failed: see {self.log.name}")
            time.sleep(0.02)
        raise RuntimeError(f"{address} not {want} in time")

    def rss_kb(self):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def peak_rss_kb(self):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        remove_later(self.dir)


def imap_login_time(port, user, password):
    """Seconds from connect+LOGIN sent to the tagged OK (the greeting is read first)."""
    c = Imap(port)
    t0 = time.perf_counter()
    c.command(f'LOGIN "{user}" "{password}"')
    secs = time.perf_counter() - t0
    c.s.close()
    return secs


def table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = " | ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    out = [line, "-|-".join("-" * w for w in widths)]
    for r in rows:
        out.append(" | ".join(str(x).ljust(w) for x, w in zip(r, widths)))
    return "\n".join(out)
