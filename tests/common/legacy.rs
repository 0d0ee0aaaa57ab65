//! A real legacy mail system for tests: a private Dovecot (IMAP, POP3, LMTP) and,
//! on request, a private Postfix delivering into it over LMTP. Each instance lives
//! in its own temporary folder on loopback ports and is stopped on drop.
//!
//! Needs root (Postfix) and the Debian packages dovecot-imapd, dovecot-pop3d,
//! dovecot-lmtpd and postfix (see .ci/run).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static INSTANCE: AtomicUsize = AtomicUsize::new(0);

/// A port free right now on 127.0.0.1, never one this process got before
/// (two calls in a row may otherwise get the same one: Dovecot then refuses
/// its configuration with "duplicate listener").
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn wait_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            panic!(
                "{what} did not open port {port}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Runs a command that starts a daemon: its output goes to `log` (a daemon keeps
/// inherited pipes open, so they cannot be read to the end).
fn run_daemon(cmd: &mut Command, log: &Path) {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        status.success(),
        "{cmd:?} failed: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// The system user Dovecot stores mail as (it refuses to as root).
fn ensure_vmail_user() {
    let ok = Command::new("id")
        .arg("vmail")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "vmail",
            ])
            .output();
    }
}

fn require(binary: &str, package: &str) {
    if !Path::new(binary).exists() {
        panic!(
            "{binary} is missing: install the Debian package {package} (see .ci/run and README.md)"
        );
    }
}

/// Every legacy Dovecot has this master user (`alice*migrator` logs in as
/// alice with the master password; SASL PLAIN with authzid works too).
pub const MASTER_USER: &str = "migrator";
pub const MASTER_PASSWORD: &str = "master-secret-pw";

/// How the legacy server is set up.
#[derive(Clone)]
pub struct LegacyOptions {
    /// Mail domain the legacy server hosts (users log in with the local part).
    pub domain: String,
    /// Courier/Cyrus style: namespace prefix `INBOX.` and separator `.`.
    pub inbox_prefix: bool,
    /// Also start Postfix delivering into this Dovecot.
    pub postfix: bool,
    /// `(user, password)` pairs created at start.
    pub users: Vec<(String, String)>,
    /// Dovecot's `imap_capability`: replaces the capabilities it advertises
    /// after login, to play a server without some extension.
    pub imap_capability: Option<String>,
    /// Also serve ManageSieve (Pigeonhole: Debian `dovecot-managesieved`,
    /// `dovecot-sieve`) on [`Legacy::sieve_port`], scripts under each user's
    /// home (`sieve/NAME.sieve`, `.dovecot.sieve` the active one).
    pub managesieve: bool,
}

impl Default for LegacyOptions {
    fn default() -> Self {
        LegacyOptions {
            domain: "example.org".into(),
            inbox_prefix: false,
            postfix: false,
            users: vec![("alice".into(), "alice-pw".into())],
            imap_capability: None,
            managesieve: false,
        }
    }
}

impl LegacyOptions {
    /// The default options with `users`, each with the password `USER-pw`.
    pub fn with_users(users: &[&str]) -> LegacyOptions {
        LegacyOptions {
            users: users
                .iter()
                .map(|u| (u.to_string(), format!("{u}-pw")))
                .collect(),
            ..LegacyOptions::default()
        }
    }
}

pub struct Legacy {
    pub dir: tempfile::TempDir,
    pub opts: LegacyOptions,
    pub imap_port: u16,
    pub pop3_port: u16,
    pub lmtp_port: u16,
    /// ManageSieve's port (listening only with `LegacyOptions::managesieve`).
    pub sieve_port: u16,
    /// Postfix's SMTP port, when started.
    pub smtp_port: Option<u16>,
    /// Files the Postfix "outside world" sink wrote (mail for other domains).
    pub sink_dir: PathBuf,
    dovecot_running: bool,
}

impl Legacy {
    pub fn start(opts: LegacyOptions) -> Legacy {
        require("/usr/sbin/dovecot", "dovecot-imapd");
        require("/usr/lib/dovecot/imap", "dovecot-imapd");
        require("/usr/lib/dovecot/pop3", "dovecot-pop3d");
        require("/usr/lib/dovecot/lmtp", "dovecot-lmtpd");
        if opts.managesieve {
            require("/usr/lib/dovecot/managesieve", "dovecot-managesieved");
        }
        ensure_vmail_user();
        let dir = tempfile::Builder::new()
            .prefix("legacy-")
            .tempdir()
            .unwrap();
        let mut l = Legacy {
            imap_port: free_port(),
            pop3_port: free_port(),
            lmtp_port: free_port(),
            sieve_port: free_port(),
            smtp_port: None,
            sink_dir: dir.path().join("sink"),
            dir,
            opts,
            dovecot_running: false,
        };
        l.write_dovecot_config();
        for (u, p) in l.opts.users.clone() {
            l.add_user(&u, &p);
        }
        l.start_dovecot();
        if l.opts.postfix {
            l.start_postfix();
        }
        l
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write_dovecot_config(&self) {
        let d = self.path();
        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        run(Command::new("chown")
            .args(["-R", "vmail:vmail"])
            .arg(d.join("mail"))
            .arg(d.join("home")));
        // Dovecot's unprivileged processes must reach the config and base dirs.
        run(Command::new("chmod").args(["755"]).arg(d));
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        std::fs::write(d.join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(d.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
        let (prefix, sep) = if self.opts.inbox_prefix {
            ("INBOX.", ".")
        } else {
            ("", "/")
        };
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        let capability = match &self.opts.imap_capability {
            Some(c) => format!("imap_capability = {c}\n"),
            None => String::new(),
        };
        // Courier-style servers allow `/` inside names; Dovecot's maildir does
        // with the listescape plugin.
        let escape = if self.opts.inbox_prefix {
            "mail_plugins = $mail_plugins listescape\nplugin {\n  listescape_char = \"\\\\\"\n}\n"
        } else {
            ""
        };
        let (protocols, sieve) = if self.opts.managesieve {
            (
                "imap pop3 lmtp sieve",
                format!(
                    "service managesieve-login {{\n  inet_listener sieve {{\n    port = {}\n  }}\n}}\n\
                     plugin {{\n  sieve = file:~/sieve;active=~/.dovecot.sieve\n}}\n",
                    self.sieve_port
                ),
            )
        } else {
            ("imap pop3 lmtp", String::new())
        };
        let conf = format!(
            r#"
base_dir = {d}/run
state_dir = {d}/state
instance_name = ferrylegacy-{pid}-{n}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = {protocols}
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:{d}/mail/%u
pop3_uidl_format = %08Xu%08Xv
mail_max_userip_connections = 200
# ferrymail tells the real client address (IMAP ID x-originating-ip).
login_trusted_networks = 127.0.0.0/8
auth_master_user_separator = *
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/masters
  master = yes
  result_success = continue
}}
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
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service anvil {{
  chroot =
}}
protocol lmtp {{
  auth_username_format = %Ln
}}
{escape}{capability}{sieve}
namespace inbox {{
  inbox = yes
  prefix = {prefix}
  separator = {sep}
  mailbox Drafts {{
    special_use = \Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \Junk
    auto = subscribe
  }}
}}
"#,
            d = d.display(),
            pid = std::process::id(),
            imap = self.imap_port,
            pop3 = self.pop3_port,
            lmtp = self.lmtp_port,
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        std::fs::write(d.join("users"), "").unwrap();
        std::fs::write(
            d.join("masters"),
            format!("{MASTER_USER}:{{PLAIN}}{MASTER_PASSWORD}::::::\n"),
        )
        .unwrap();
    }

    /// Stores a Sieve script of `user` the way Pigeonhole keeps them (the
    /// legacy side of a test; `active`: it becomes the active one).
    pub fn put_sieve(&self, user: &str, name: &str, source: &str, active: bool) {
        let home = self.path().join("home").join(user);
        std::fs::create_dir_all(home.join("sieve")).unwrap();
        std::fs::write(home.join(format!("sieve/{name}.sieve")), source).unwrap();
        if active {
            let link = home.join(".dovecot.sieve");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("sieve/{name}.sieve"), &link).unwrap();
        }
        run(Command::new("chown").args(["-R", "vmail:vmail"]).arg(&home));
    }

    /// Adds (or replaces) a legacy user; Dovecot re-reads the file on change.
    pub fn add_user(&self, user: &str, password: &str) {
        let path = self.path().join("users");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{user}:")))
            .map(str::to_string)
            .collect();
        lines.push(format!("{user}:{{PLAIN}}{password}::::::"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        if self.smtp_port.is_some() {
            self.write_vmailbox();
        }
    }

    pub fn start_dovecot(&mut self) {
        let conf = self.path().join("dovecot.conf");
        run_daemon(
            Command::new("/usr/sbin/dovecot").arg("-c").arg(&conf),
            &self.path().join("dovecot.log"),
        );
        wait_port(self.imap_port, "dovecot", &self.path().join("dovecot.log"));
        wait_port(self.pop3_port, "dovecot", &self.path().join("dovecot.log"));
        wait_port(self.lmtp_port, "dovecot", &self.path().join("dovecot.log"));
        self.dovecot_running = true;
    }

    pub fn stop_dovecot(&mut self) {
        if !self.dovecot_running {
            return;
        }
        let pidfile = self.path().join("run/master.pid");
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            let pid: i32 = pid.trim().parse().unwrap_or(0);
            if pid > 0 {
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        // The listeners are gone once the port refuses connections.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.imap_port)).is_ok() && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.dovecot_running = false;
    }

    pub fn dovecot_log(&self) -> String {
        std::fs::read_to_string(self.path().join("dovecot.log")).unwrap_or_default()
    }

    fn pf(&self) -> PathBuf {
        self.path().join("postfix")
    }

    fn write_vmailbox(&self) {
        let users = std::fs::read_to_string(self.path().join("users")).unwrap_or_default();
        let mut text = String::new();
        for l in users.lines() {
            if let Some((u, _)) = l.split_once(':') {
                text.push_str(&format!("{u}@{} OK\n", self.opts.domain));
            }
        }
        std::fs::write(self.pf().join("vmailbox"), text).unwrap();
    }

    fn start_postfix(&mut self) {
        require("/usr/sbin/postfix", "postfix");
        let pf = self.pf();
        for sub in ["queue", "data", "log"] {
            std::fs::create_dir_all(pf.join(sub)).unwrap();
        }
        std::fs::create_dir_all(&self.sink_dir).unwrap();
        run(Command::new("chown")
            .args(["postfix:postfix"])
            .arg(pf.join("data")));
        run(Command::new("chmod").args(["777"]).arg(&self.sink_dir));
        let port = free_port();
        let master = std::fs::read_to_string("/etc/postfix/master.cf").unwrap();
        let mut out = String::new();
        for line in master.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !line.starts_with(char::is_whitespace) && !line.starts_with('#') && fields.len() >= 8
            {
                let name = if fields[0] == "smtp" && fields[1] == "inet" {
                    format!("127.0.0.1:{port}")
                } else {
                    fields[0].to_string()
                };
                // chroot = n everywhere.
                let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
                f[0] = name;
                f[4] = "n".into();
                out.push_str(&f.join(" "));
                out.push('\n');
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        // Mail for the outside world lands in files here, never on the network.
        out.push_str(&format!(
            "sink unix - n n - - pipe\n  flags=F user=nobody argv=/usr/bin/tee {}/${{queue_id}}.eml\n",
            self.sink_dir.display()
        ));
        std::fs::write(pf.join("master.cf"), out).unwrap();
        let main = format!(
            r#"
compatibility_level = 3.6
queue_directory = {pf}/queue
data_directory = {pf}/data
maillog_file = {pf}/log/postfix.log
maillog_file_prefixes = {pf}/log
myhostname = legacy-mx.test
mydomain = legacy-mx.test
myorigin = legacy-mx.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.1/32
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{pf}/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient
default_transport = sink
relay_transport = sink
smtputf8_enable = yes
message_size_limit = 104857600
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
shlib_directory = /usr/lib/postfix
daemon_directory = /usr/lib/postfix/sbin
command_directory = /usr/sbin
mail_owner = postfix
setgid_group = postdrop
"#,
            pf = pf.display(),
            domain = self.opts.domain,
            lmtp = self.lmtp_port,
        );
        std::fs::write(pf.join("main.cf"), main).unwrap();
        self.write_vmailbox();
        run_daemon(
            Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(&pf)
                .arg("start"),
            &pf.join("log/start.log"),
        );
        wait_port(port, "postfix", &pf.join("log/postfix.log"));
        self.smtp_port = Some(port);
    }

    /// The text of every message the Postfix sink holds (mail for the outside world).
    pub fn sink_texts(&self) -> Vec<String> {
        std::fs::read_dir(&self.sink_dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn postfix_log(&self) -> String {
        std::fs::read_to_string(self.pf().join("log/postfix.log")).unwrap_or_default()
    }

    /// Stops Postfix (for "legacy SMTP down" tests); `start_postfix_again` restarts it.
    pub fn stop_postfix(&self) {
        if let Some(port) = self.smtp_port {
            self.postfix_stop();
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// `postfix stop`, its outcome and output ignored.
    fn postfix_stop(&self) {
        let _ = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.pf())
            .arg("stop")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }

    pub fn start_postfix_again(&self) {
        run_daemon(
            Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(self.pf())
                .arg("start"),
            &self.pf().join("log/start.log"),
        );
        wait_port(
            self.smtp_port.unwrap(),
            "postfix",
            &self.pf().join("log/postfix.log"),
        );
    }

    /// An IMAP session on the legacy server, logged in as `user`.
    pub fn imap(&self, user: &str, password: &str) -> ImapClient {
        let mut c = ImapClient::connect(self.imap_port);
        c.ok(&format!("LOGIN {} {}", quote(user), quote(password)));
        c
    }

    /// Hierarchy separator of the legacy namespace.
    pub fn sep(&self) -> char {
        if self.opts.inbox_prefix {
            '.'
        } else {
            '/'
        }
    }

    /// A folder name on the legacy server from a `/`-separated path ("Archive/2023").
    pub fn folder(&self, path: &str) -> String {
        if path.eq_ignore_ascii_case("INBOX") {
            return "INBOX".into();
        }
        if self.opts.inbox_prefix {
            format!("INBOX.{}", path.replace('/', "."))
        } else {
            path.to_string()
        }
    }
}

impl Drop for Legacy {
    fn drop(&mut self) {
        if self.smtp_port.is_some() {
            self.postfix_stop();
        }
        self.stop_dovecot();
    }
}

/// An IMAP quoted string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A small blocking IMAP client for seeding and inspecting servers in tests.
pub struct ImapClient {
    r: BufReader<TcpStream>,
    w: TcpStream,
    tag: u32,
}

/// One response line, with the literals it carried.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
}

impl ImapClient {
    pub fn connect(port: u16) -> ImapClient {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to IMAP");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = ImapClient {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            tag: 0,
        };
        let greeting = c.read_line();
        assert!(
            greeting.text.starts_with("* OK") || greeting.text.starts_with("* PREAUTH"),
            "{greeting:?}"
        );
        c
    }

    fn read_raw_line(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        let n = self
            .r
            .read_until(b'\n', &mut buf)
            .expect("read from IMAP server");
        assert!(n > 0, "IMAP server closed the connection");
        buf
    }

    /// Reads one response line with its literals.
    pub fn read_line(&mut self) -> Line {
        let mut text = String::new();
        let mut literals = Vec::new();
        loop {
            let raw = self.read_raw_line();
            let s = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            if let Some(n) = literal_len(&s) {
                let mut lit = vec![0; n];
                self.r.read_exact(&mut lit).unwrap();
                text.push_str(&s);
                literals.push(lit);
                continue;
            }
            text.push_str(&s);
            return Line { text, literals };
        }
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("t{}", self.tag)
    }

    /// Runs a command; returns untagged lines and the tagged status line.
    pub fn cmd(&mut self, command: &str) -> (Vec<Line>, String) {
        let tag = self.next_tag();
        write!(self.w, "{tag} {command}\r\n").unwrap();
        self.collect(&tag)
    }

    fn collect(&mut self, tag: &str) -> (Vec<Line>, String) {
        let mut lines = Vec::new();
        loop {
            let l = self.read_line();
            if l.text.starts_with(&format!("{tag} ")) {
                return (lines, l.text[tag.len() + 1..].to_string());
            }
            lines.push(l);
        }
    }

    /// Runs a command that must succeed.
    pub fn ok(&mut self, command: &str) -> Vec<Line> {
        let (lines, status) = self.cmd(command);
        assert!(
            status.starts_with("OK"),
            "{command} -> {status} ({lines:?})"
        );
        lines
    }

    /// APPEND with flags and an INTERNALDATE ("01-Jan-2020 10:00:00 +0100").
    pub fn append(&mut self, folder: &str, flags: &str, date: &str, body: &[u8]) -> String {
        let tag = self.next_tag();
        write!(
            self.w,
            "{tag} APPEND {} ({flags}) \"{date}\" {{{}}}\r\n",
            quote(folder),
            body.len()
        )
        .unwrap();
        let cont = self.read_line();
        assert!(cont.text.starts_with('+'), "APPEND continuation: {cont:?}");
        self.w.write_all(body).unwrap();
        self.w.write_all(b"\r\n").unwrap();
        let (_, status) = self.collect(&tag);
        assert!(status.starts_with("OK"), "APPEND -> {status}");
        status
    }

    pub fn logout(mut self) {
        let _ = self.cmd("LOGOUT");
    }
}

/// `{123}` or `{123+}` at the end of a line.
pub fn literal_len(line: &str) -> Option<usize> {
    let s = line.strip_suffix('}')?;
    let open = s.rfind('{')?;
    s[open + 1..].trim_end_matches('+').parse().ok()
}
