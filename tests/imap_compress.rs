//! COMPRESS=DEFLATE (RFC 4978) with Python's zlib as the peer (raw DEFLATE,
//! sync flushes): a session that turns compression on goes on working
//! (SELECT, FETCH of large bodies, APPEND), a second COMPRESS is `NO
//! [COMPRESSIONACTIVE]`, garbage instead of deflated data ends the session
//! and the daemon goes on.

mod common;
mod imap_support;

use common::pyclients::run_python;
use ferrymail::store::Flags;
use imap_support::*;

const CLIENT: &str = r#"
import socket, sys, zlib, hashlib
port, user, pw, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
f.readline()
s.sendall(f"a LOGIN {user} {pw}\r\n".encode())
while not f.readline().startswith(b"a "): pass
s.sendall(b"b COMPRESS DEFLATE\r\n")
print("COMPRESS", f.readline().decode().strip())
if mode == "garbage":
    s.sendall(b"\xff" * 64)
    try:
        print("AFTER", repr(s.recv(100)))
    except Exception as e:
        print("AFTER", type(e).__name__)
    sys.exit(0)
c = zlib.compressobj(6, zlib.DEFLATED, -15)
d = zlib.decompressobj(-15)
pending = b""
def send(line):
    s.sendall(c.compress(line) + c.flush(zlib.Z_SYNC_FLUSH))
def lines():
    global pending
    while True:
        while b"\r\n" in pending:
            i = pending.index(b"\r\n") + 2
            line, pending = pending[:i], pending[i:]
            yield line
        data = s.recv(65536)
        if not data:
            return
        pending += d.decompress(data)
def command(tag, cmd):
    send(f"{tag} {cmd}\r\n".encode())
    out = []
    it = lines()
    global pending
    while True:
        line = next(it)
        m = line.rstrip(b"\r\n")
        if m.endswith(b"}") and b"{" in m:
            n = int(m[m.rindex(b"{") + 1:-1])
            while len(pending) < n:
                pending += d.decompress(s.recv(65536))
            lit, pending = pending[:n], pending[n:]
            out.append((line, lit))
            continue
        out.append((line, None))
        if line.startswith(tag.encode() + b" "):
            return out
r = command("c", "SELECT INBOX")
print("SELECT", r[-1][0].decode().strip())
r = command("d", "FETCH 1:* BODY.PEEK[]")
for line, lit in r:
    if lit is not None:
        print("BODY", len(lit), hashlib.sha256(lit).hexdigest())
print("FETCH", r[-1][0].decode().strip())
body = b"Subject: sent compressed\r\n\r\n" + b"y" * 100000 + b"\r\n"
send(f"e APPEND INBOX {{{len(body)}+}}\r\n".encode() + body + b"\r\n")
it = lines()
while True:
    line = next(it)
    if line.startswith(b"e "):
        print("APPEND", line.decode().strip()[:13])
        break
r = command("f", "COMPRESS DEFLATE")
print("AGAIN", r[-1][0].decode().strip())
r = command("g", "LOGOUT")
print("LOGOUT", r[-1][0].decode().strip())
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_compressed_session_works_with_zlib() {
    let t = start(PLAIN, "", 0).await;
    let big: Vec<u8> = {
        let mut m = b"Subject: big\r\n\r\n".to_vec();
        for i in 0..20_000 {
            m.extend_from_slice(format!("line {i} Grüße 收件箱\r\n").as_bytes());
        }
        m
    };
    t.deliver("INBOX", &message(1), Flags::new()).await;
    t.deliver("INBOX", &big, Flags::new()).await;
    let mut c = t.login().await;
    let caps = c.ok("CAPABILITY").await;
    assert!(caps[0].contains(" COMPRESS=DEFLATE"), "{caps:?}");
    let port = t.plain.port().to_string();
    let out =
        tokio::task::spawn_blocking(move || run_python(CLIENT, &[&port, USER, PASS, "normal"], ""))
            .await
            .unwrap();
    use sha2_like::hex_sha256;
    assert!(out.contains("COMPRESS b OK DEFLATE active"), "{out}");
    assert!(out.contains("SELECT c OK"), "{out}");
    assert!(
        out.contains(&format!("BODY {} {}", big.len(), hex_sha256(&big))),
        "{out}"
    );
    assert!(out.contains("FETCH d OK"), "{out}");
    assert!(out.contains("APPEND e OK [APPEND"), "{out}");
    assert!(out.contains("AGAIN f NO [COMPRESSIONACTIVE]"), "{out}");
    assert!(out.contains("LOGOUT g OK"), "{out}");
    // The APPEND arrived whole.
    let inbox = t.ms.mailbox("INBOX").await.unwrap().unwrap();
    let msgs = t.ms.messages(inbox.id).await.unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[2].size, 100_000 + 30);
    // Garbage instead of DEFLATE data: the session ends, the daemon goes on.
    let port = t.plain.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        run_python(CLIENT, &[&port, USER, PASS, "garbage"], "")
    })
    .await
    .unwrap();
    assert!(
        out.contains("AFTER b''") || out.contains("AFTER ConnectionResetError"),
        "{out}"
    );
    c.ok("NOOP").await;
    t.stop().await;
}

/// SHA-256 in hex through Python's hashlib, so both sides use one
/// implementation.
mod sha2_like {
    pub fn hex_sha256(data: &[u8]) -> String {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys,hashlib; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(data)?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}
