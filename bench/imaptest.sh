#!/usr/bin/env bash
# imaptest (Dovecot's IMAP compliance and stress tester) against ferrymail.
#
# Builds imaptest from its public repository (dovecot/imaptest at 924f619,
# outside this repository: it cannot be vendored) against Debian's
# dovecot-dev, starts ferrymail with a temporary data dir on loopback, and
# runs (1) the scripted suite, (2) the stress mode: 10 clients, 30 s, a
# mailbox pre-filled from a 300-message mbox. Prints both summaries and every
# error line of the stress run. Not a test: nothing is asserted here; see
# docs/imap.md for the last results.
#
# Usage (as root): bench/imaptest.sh [path/to/ferrymail]   (default: target/debug/ferrymail)
# IMAPTEST_SRC=DIR reuses an imaptest checkout built before.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/ferrymail}
[ -x "$BIN" ] || cargo build --locked
WORK=$(mktemp -d /tmp/ferrymail-imaptest.XXXXXX)
SRC=${IMAPTEST_SRC:-$WORK/imaptest}

if [ ! -x "$SRC/src/imaptest" ]; then
    apt-get install -y -qq dovecot-dev autoconf automake libtool pkg-config git >/dev/null
    git clone -q https://github.com/dovecot/imaptest "$SRC"
    git -C "$SRC" checkout -q 924f619
    # No .git version in an exported tree; Debian 12's security backport of
    # libdovecot added a last parameter to imap_parser_create().
    echo "1.0.0" >"$SRC/version"
    sed -i 's/imap_parser_create(\(.*\), (size_t)-1)/imap_parser_create(\1, (size_t)-1, NULL)/' \
        "$SRC/src/commands.c" "$SRC/src/imap-client.c" "$SRC/src/test-parser.c"
    (cd "$SRC" && ./autogen.sh && ./configure --with-dovecot=/usr/lib/dovecot \
        LDFLAGS=-Wl,-rpath,/usr/lib/dovecot && make -j"$(nproc)") >"$WORK/build.log" 2>&1
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
IMAP=$(port) SMTP=$(port) ADMIN=$(port)
mkdir -p "$WORK/domains"
echo 'domain = "example.test"' >"$WORK/domains/example.test.toml"
cat >"$WORK/ferrymail.toml" <<EOF
hostname = "localhost"
data_dir = "data"
domains_dir = "domains"
[auth]
allow_plaintext = true
[imap]
listen = ["127.0.0.1:$IMAP"]
[smtp]
listen = ["127.0.0.1:$SMTP"]
[admin]
listen = "127.0.0.1:$ADMIN"
EOF
"$BIN" serve --config "$WORK/ferrymail.toml" >"$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
# Ready once it has written its listeners file (the admin token exists then).
for _ in $(seq 100); do
    [ -e "$WORK/data/listeners" ] && break
    sleep 0.2
done
for u in suite stress; do
    echo pw | "$BIN" account add "$u@example.test" --config "$WORK/ferrymail.toml" >/dev/null
done

python3 - "$WORK/stress.mbox" <<'EOF'
import email.message, mailbox, random, sys
random.seed(1)
mb = mailbox.mbox(sys.argv[1])
for i in range(300):
    m = email.message.EmailMessage()
    m["From"] = f"Sender {i} <s{i}@example.net>"
    m["To"] = "stress@example.test"
    m["Subject"] = f"stress {i} Grüße" if i % 3 == 0 else f"stress {i}"
    m["Date"] = "Mon, 6 Nov 2023 10:00:00 +0000"
    m["Message-ID"] = f"<stress{i}@example.net>"
    m.set_content(("line %d\n" % i) * random.randint(1, 40))
    mb.add(m)
mb.flush()
EOF

echo "== scripted suite ($SRC/src/tests)"
"$SRC/src/imaptest" host=127.0.0.1 port="$IMAP" user=suite@example.test pass=pw \
    test="$SRC/src/tests" | tail -3
# imaptest prints "0 skipped" whatever it skipped: count the groups whose
# `capabilities:` header names one the server does not advertise.
python3 - "$IMAP" "$SRC/src/tests" <<'EOF'
import imaplib, os, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("suite@example.test", "pw")
caps = {c.upper() for c in m.capabilities}
m.logout()
skipped = []
for f in sorted(os.listdir(sys.argv[2])):
    p = os.path.join(sys.argv[2], f)
    if f.endswith(".mbox") or not os.path.isfile(p):
        continue
    for line in open(p, encoding="utf-8", errors="replace"):
        if not line.strip():
            break
        if line.lower().startswith("capabilities:"):
            need = line.split(":", 1)[1].split()
            if any(c.upper() not in caps for c in need):
                skipped.append(f)
print(f"groups skipped for missing capabilities: {len(skipped)}: {' '.join(skipped)}")
EOF
echo "== stress: 10 clients, 30 s"
"$SRC/src/imaptest" host=127.0.0.1 port="$IMAP" user=stress@example.test pass=pw \
    clients=10 secs=30 mbox="$WORK/stress.mbox" >"$WORK/stress.txt" 2>&1 || true
tail -5 "$WORK/stress.txt"
echo "error lines: $(grep -c '^Error' "$WORK/stress.txt" || true)"
grep '^Error' "$WORK/stress.txt" | cut -c1-160 | sort | uniq -c | sort -rn | head -20 || true

# The same stress run against a private Dovecot 2.3 (bench/imap_bench.py's
# setup: maildir, passwd-file) on this machine, now: commands per second side
# by side (the sum of imaptest's per-command totals over the 30 s).
chmod 755 "$WORK"  # Dovecot's auth process reads its users file below
DV=$(python3 - "$WORK" 2>/dev/null <<'EOF'
import os, sys
sys.path.insert(0, "bench")
import imap_bench
os.makedirs(sys.argv[1] + "/dv", exist_ok=True)
d, port = imap_bench.start_dovecot(sys.argv[1] + "/dv", 20)
print(d, port)
EOF
)
read -r DVDIR DVPORT <<<"$DV"
trap 'kill $PID 2>/dev/null || true; kill "$(cat "$DVDIR/run/master.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    python3 -c "import imaplib; imaplib.IMAP4('127.0.0.1', $DVPORT).login('pat', 'bench-pw')" 2>/dev/null && break
    sleep 0.2
done
echo "== stress against Dovecot: 10 clients, 30 s"
"$SRC/src/imaptest" host=127.0.0.1 port="$DVPORT" user=pat pass=bench-pw \
    clients=10 secs=30 mbox="$WORK/stress.mbox" >"$WORK/stress-dovecot.txt" 2>&1 || true
tail -5 "$WORK/stress-dovecot.txt"
echo "error lines: $(grep -c '^Error' "$WORK/stress-dovecot.txt" || true)"
total() { grep -E '^[0-9 ]+$' "$1" | tail -1 | tr -s ' ' '\n' | awk '{s+=$1} END {print s+0}'; }
FM=$(total "$WORK/stress.txt")
DVT=$(total "$WORK/stress-dovecot.txt")
python3 -c "fm, dv = $FM, $DVT; print(f'stress commands/s: ferrymail {fm/30:.0f}, Dovecot {dv/30:.0f}, ratio {fm/max(dv,1):.2f}')"
echo "(work dir: $WORK)"
