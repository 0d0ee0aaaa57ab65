//! One SMTP session (RFC 5321) with STARTTLS (RFC 3207), AUTH PLAIN/LOGIN
//! (RFC 4954), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
//! PIPELINING (RFC 2920) and ENHANCEDSTATUSCODES (RFC 2034).
//!
//! AUTH is in `auth.rs`; the command-line syntax in `../command.rs`.

mod auth;

use std::sync::Arc;

use super::address::{parse_path, Address};
use super::command::{is_auth, split_command};
use super::data::{self, DataError, DataParser, Verdict};
use super::deliver::{self, Spool};
use super::hop::Hop;
use super::route::Route;
use super::service::SmtpService;
use crate::config::ListenerSpec;
use crate::server::conn::trim_eol;
use crate::server::{Conn, ConnError};
use crate::store::Account;

/// Longest command line with its CRLF. RFC 5321 §4.5.3.1.4 says 512 octets for
/// commands, and extensions add some; anything over a text line's 1000 octets is
/// refused with 500. Only AUTH, whose initial response (RFC 4954 §4) may be longer,
/// gets up to [`MAX_AUTH_LINE`].
const MAX_LINE: usize = 1000;
/// Longest line of an AUTH exchange (RFC 4954 §4: 12288 octets).
const MAX_AUTH_LINE: usize = 12288;
const MAX_ERRORS: u32 = 20;
/// The longest session, whatever the client sends: a client trickling bytes
/// in time for every idle timeout still leaves by then.
const SESSION_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// A mail transaction (between MAIL and the end of DATA or RSET).
struct Tx {
    from: Option<Address>,
    smtputf8: bool,
    /// The recipients as given (RCPT TO).
    given: Vec<Address>,
    /// Where the message goes: the recipients with aliases expanded.
    rcpts: Vec<(Address, Route)>,
    /// For each of `rcpts` (by key), the RCPT TO that brought it: the
    /// envelope recipient a Sieve script sees (`anna+lists@...`).
    via: Vec<(String, String)>,
}

struct Session {
    svc: Arc<SmtpService>,
    conn: Conn,
    hostname: String,
    helo: Option<String>,
    esmtp: bool,
    user: Option<Account>,
    tx: Option<Tx>,
    auth_failures: u32,
    errors: u32,
    /// [`SESSION_DEADLINE`] after the connection.
    ends: tokio::time::Instant,
}

enum Next {
    Continue,
    Close,
}

pub async fn run(svc: Arc<SmtpService>, conn: Conn, _listener: ListenerSpec) {
    let hostname = svc.app.config().hostname.clone();
    let mut s = Session {
        svc,
        conn,
        hostname: hostname.clone(),
        helo: None,
        esmtp: false,
        user: None,
        tx: None,
        auth_failures: 0,
        errors: 0,
        ends: tokio::time::Instant::now() + SESSION_DEADLINE,
    };
    s.conn
        .write(format!("220 {hostname} ESMTP ferrymail\r\n").as_bytes());
    if s.conn.flush().await.is_err() {
        return;
    }
    loop {
        // A whole command line within the idle timeout, not one byte per timeout.
        let command_end = tokio::time::Instant::now() + s.conn.timeout();
        s.conn.set_deadline(Some(command_end.min(s.ends)));
        let line = match s.conn.read_line(MAX_AUTH_LINE).await {
            Ok(l) if l.len() > MAX_LINE && !is_auth(&l) => {
                s.reply("500 5.5.2 Line too long");
                if s.count_error() {
                    break;
                }
                if s.conn.buffered() == 0 && s.conn.flush().await.is_err() {
                    return;
                }
                continue;
            }
            Ok(l) => l,
            Err(ConnError::TooLong) => {
                s.reply("500 5.5.2 Line too long");
                if s.count_error() {
                    break;
                }
                if s.conn.flush().await.is_err() {
                    return;
                }
                continue;
            }
            Err(e) => {
                s.conn_error(e).await;
                return;
            }
        };
        let next = s.command(trim_eol(&line)).await;
        if matches!(next, Next::Close) {
            break;
        }
        // PIPELINING: answers to a batch go out together, before the next read
        // that would wait.
        if s.conn.buffered() == 0 && s.conn.flush().await.is_err() {
            return;
        }
    }
    s.conn.close().await;
}

/// A HELO name or peer detail made safe for a Received header.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '(' | ')' | ';' | '\\'))
        .take(100)
        .collect()
}

impl Session {
    fn reply(&mut self, line: &str) {
        self.conn.write(line.as_bytes());
        self.conn.write(b"\r\n");
    }

    /// Counts a protocol error; true when the session should end.
    fn count_error(&mut self) -> bool {
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            self.reply("421 4.7.0 Too many errors, closing connection");
            return true;
        }
        false
    }

    async fn conn_error(&mut self, e: ConnError) {
        match e {
            ConnError::Timeout => {
                let h = self.hostname.clone();
                self.reply(&format!("421 4.4.2 {h} Error: timeout exceeded"));
                self.conn.close().await;
            }
            ConnError::Shutdown => {
                let h = self.hostname.clone();
                self.reply(&format!("421 4.3.2 {h} Service shutting down"));
                self.conn.close().await;
            }
            _ => {}
        }
    }

    fn submission(&self) -> bool {
        self.svc.submission
    }

    fn auth_offered(&self) -> bool {
        self.submission() && (self.conn.is_tls() || self.svc.app.config().auth.allow_plaintext)
    }

    async fn command(&mut self, line: &[u8]) -> Next {
        if line.contains(&0) {
            self.reply("501 5.5.2 NUL character in command");
            return self.error_next();
        }
        let Ok(line) = std::str::from_utf8(line) else {
            self.reply("500 5.5.2 Invalid characters in command");
            return self.error_next();
        };
        let (verb, arg) = split_command(line);
        match verb.as_str() {
            "EHLO" => self.ehlo(arg, true),
            "HELO" => self.ehlo(arg, false),
            "STARTTLS" => return self.starttls(arg).await,
            "AUTH" => return self.auth(arg).await,
            "MAIL FROM:" => self.mail(arg),
            "RCPT TO:" => return self.rcpt(arg).await,
            "DATA" => return self.data(arg).await,
            "RSET" => {
                self.tx = None;
                self.reply("250 2.0.0 OK");
            }
            "NOOP" => self.reply("250 2.0.0 OK"),
            "VRFY" => self
                .reply("252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery"),
            "EXPN" => self.reply("502 5.5.1 EXPN not available"),
            "HELP" => self.reply("214 2.0.0 See RFC 5321"),
            "QUIT" => {
                self.reply("221 2.0.0 Bye");
                return Next::Close;
            }
            "BDAT" => {
                self.reply("502 5.5.1 CHUNKING not supported");
                return self.error_next();
            }
            _ => {
                self.reply("500 5.5.2 Command unrecognized");
                return self.error_next();
            }
        }
        Next::Continue
    }

    fn error_next(&mut self) -> Next {
        if self.count_error() {
            Next::Close
        } else {
            Next::Continue
        }
    }

    /// EHLO, HELO. RFC 5321 §4.1.1.1.
    fn ehlo(&mut self, arg: &str, esmtp: bool) {
        if arg.is_empty() || arg.contains(' ') && !esmtp {
            self.reply(if esmtp {
                "501 5.5.4 Syntax: EHLO hostname"
            } else {
                "501 5.5.4 Syntax: HELO hostname"
            });
            return;
        }
        let name = arg.split(' ').next().unwrap_or("").to_string();
        self.helo = Some(name);
        self.esmtp = esmtp;
        self.tx = None;
        let h = self.hostname.clone();
        if !esmtp {
            self.reply(&format!("250 {h}"));
            return;
        }
        let config = self.svc.app.config();
        let mut caps = vec![
            "PIPELINING".to_string(),
            format!("SIZE {}", config.smtp.max_message_size),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if !self.conn.is_tls() {
            caps.push("STARTTLS".into());
        }
        if self.auth_offered() && self.user.is_none() {
            caps.push("AUTH PLAIN LOGIN".into());
        }
        self.conn.write(format!("250-{h}\r\n").as_bytes());
        let n = caps.len();
        for (i, c) in caps.into_iter().enumerate() {
            let sep = if i + 1 == n { ' ' } else { '-' };
            self.conn.write(format!("250{sep}{c}\r\n").as_bytes());
        }
    }

    /// STARTTLS. RFC 3207.
    async fn starttls(&mut self, arg: &str) -> Next {
        if !arg.is_empty() {
            self.reply("501 5.5.4 Syntax: STARTTLS");
            return Next::Continue;
        }
        if self.conn.is_tls() {
            self.reply("503 5.5.1 TLS already active");
            return Next::Continue;
        }
        if self.conn.buffered() > 0 {
            // Commands pipelined after STARTTLS would be taken as if sent over TLS.
            tracing::info!(peer = %self.conn.peer, "plaintext pipelined after STARTTLS; closing");
            self.reply("554 5.5.1 Error: commands pipelined after STARTTLS");
            return Next::Close;
        }
        self.reply("220 2.0.0 Ready to start TLS");
        let app = self.svc.app.clone();
        match self.conn.starttls_server(&app.tls).await {
            Ok(()) => {
                // RFC 3207 §4.2: forget everything learned before TLS.
                self.helo = None;
                self.esmtp = false;
                self.tx = None;
                self.user = None;
                Next::Continue
            }
            Err(e) => {
                tracing::debug!(peer = %self.conn.peer, error = %e, "STARTTLS failed");
                Next::Close
            }
        }
    }

    /// MAIL FROM. RFC 5321 §4.1.1.2, parameters of RFC 1870, 6152, 6531, 4954.
    fn mail(&mut self, arg: &str) {
        if self.helo.is_none() {
            self.reply("503 5.5.1 Error: send HELO/EHLO first");
            return;
        }
        if self.submission() && self.user.is_none() {
            self.reply(if self.auth_offered() {
                "530 5.7.0 Authentication required"
            } else {
                "530 5.7.0 Must issue a STARTTLS command first"
            });
            return;
        }
        if self.tx.is_some() {
            self.reply("503 5.5.1 Error: nested MAIL command");
            return;
        }
        let path = match parse_path(arg, true) {
            Ok(p) => p,
            Err(e) => {
                self.reply(e.0);
                return;
            }
        };
        let config = self.svc.app.config();
        let mut smtputf8 = false;
        for (k, v) in &path.params {
            let ok = match (k.as_str(), v.as_deref()) {
                ("SIZE", Some(n)) if self.esmtp => {
                    match (n.len() <= 20).then(|| n.parse::<u64>().ok()).flatten() {
                        Some(n) if n > config.smtp.max_message_size => {
                            self.reply("552 5.3.4 Message size exceeds fixed maximum message size");
                            return;
                        }
                        Some(_) => true,
                        None => false,
                    }
                }
                ("BODY", Some(b)) if self.esmtp => {
                    b.eq_ignore_ascii_case("7BIT") || b.eq_ignore_ascii_case("8BITMIME")
                }
                ("SMTPUTF8", None) if self.esmtp => {
                    smtputf8 = true;
                    true
                }
                ("AUTH", Some(_)) if self.esmtp && self.submission() => true,
                _ => false,
            };
            if !ok {
                self.reply("555 5.5.4 Unsupported MAIL parameter");
                return;
            }
        }
        if let Some(a) = &path.address {
            if !a.is_ascii() && !smtputf8 {
                self.reply("553 5.6.7 Non-ASCII address requires SMTPUTF8");
                return;
            }
            if let Some(user) = &self.user {
                if a.key() != user.address
                    && !super::aliases::may_send_as(&config, a, &user.address)
                {
                    self.reply("553 5.7.1 Sender address not owned by the authenticated user");
                    return;
                }
            }
        }
        self.tx = Some(Tx {
            from: path.address,
            smtputf8,
            given: Vec::new(),
            rcpts: Vec::new(),
            via: Vec::new(),
        });
        self.reply("250 2.1.0 Sender OK");
    }

    /// Where an authenticated user's mail to other domains goes.
    fn outbound_hop(&self) -> Option<Hop> {
        let user = self.user.as_ref()?;
        let config = self.svc.app.config();
        if let Some((h, p)) = &config.relay_host {
            return Some(Hop::relay_host(h, *p));
        }
        let domain = config.domain(&user.domain)?;
        domain.migration.smtp.as_ref().map(Hop::from_endpoint)
    }

    /// RCPT TO. RFC 5321 §4.1.1.3; routing of DESIGN §4. Refused recipients count
    /// as errors, so one session cannot probe a whole dictionary of names.
    async fn rcpt(&mut self, arg: &str) -> Next {
        let Some(tx) = &self.tx else {
            self.reply("503 5.5.1 Error: need MAIL command");
            return Next::Continue;
        };
        let smtputf8 = tx.smtputf8;
        let count = tx.given.len();
        let config = self.svc.app.config();
        // RFC 5321 §4.5.1: <postmaster> without a domain must be accepted.
        let arg = if arg
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("<postmaster>")
        {
            match config
                .default_domain
                .clone()
                .or_else(|| config.domains.keys().next().cloned())
            {
                Some(d) => format!("<postmaster@{d}>{}", &arg.trim_start()[12..]),
                None => arg.to_string(),
            }
        } else {
            arg.to_string()
        };
        let path = match parse_path(&arg, false) {
            Ok(p) => p,
            Err(e) => {
                self.reply(e.0);
                return self.error_next();
            }
        };
        if !path.params.is_empty() {
            self.reply("555 5.5.4 Unsupported RCPT parameter");
            return Next::Continue;
        }
        let Some(rcpt) = path.address else {
            self.reply("501 5.1.3 Bad recipient address syntax");
            return Next::Continue;
        };
        if !rcpt.is_ascii() && !smtputf8 {
            self.reply("553 5.6.7 Non-ASCII address requires SMTPUTF8");
            return Next::Continue;
        }
        if count >= config.smtp.max_recipients {
            self.reply("452 4.5.3 Too many recipients");
            return Next::Continue;
        }
        let outbound = if self.submission() {
            self.outbound_hop()
        } else {
            None
        };
        if self.submission() && outbound.is_none() && config.domain(&rcpt.domain).is_none() {
            self.reply("554 5.7.1 No relay host configured for other domains");
            return Next::Continue;
        }
        match super::aliases::resolve(
            &self.svc.app,
            &self.svc.probes,
            &config,
            &rcpt,
            outbound.as_ref(),
        )
        .await
        {
            Ok(targets) => {
                if let Some(full) = self.over_quota(&config, &targets).await {
                    tracing::info!(rcpt = %rcpt, account = %full, "recipient over quota");
                    self.reply("452 4.2.2 Mailbox full, try again later");
                    return Next::Continue;
                }
                tracing::debug!(rcpt = %rcpt, routes = ?targets, "recipient accepted");
                if let Some(tx) = &mut self.tx {
                    for (a, route) in targets {
                        if !tx.rcpts.iter().any(|(b, _)| b.key() == a.key()) {
                            tx.via.push((a.key(), rcpt.to_wire()));
                            tx.rcpts.push((a, route));
                        }
                    }
                    if !tx.given.iter().any(|a| a.key() == rcpt.key()) {
                        tx.given.push(rcpt);
                    }
                }
                self.reply("250 2.1.5 Recipient OK");
                Next::Continue
            }
            Err(refusal) => {
                tracing::info!(rcpt = %rcpt, peer = %self.conn.peer, reply = refusal, "recipient refused");
                self.reply(refusal);
                if refusal.starts_with('5') {
                    return self.error_next();
                }
                Next::Continue
            }
        }
    }

    /// The Received header for this message (RFC 5321 §4.4).
    fn received(&self, id: &str, tx: &Tx) -> Vec<u8> {
        let helo = clean(self.helo.as_deref().unwrap_or("unknown"));
        let ip = self.conn.peer.ip();
        let mut with = String::from(if self.esmtp { "ESMTP" } else { "SMTP" });
        if self.conn.is_tls() && self.esmtp {
            with.push('S');
        }
        if self.user.is_some() && self.esmtp {
            with.push('A');
        }
        if tx.smtputf8 {
            with = format!("UTF8{with}");
        }
        let for_clause = match tx.given.as_slice() {
            [a] => format!("\r\n\tfor <{}>", a.to_wire()),
            _ => String::new(),
        };
        let date = chrono::Utc::now().to_rfc2822();
        format!(
            "Received: from {helo} ([{ip}])\r\n\tby {host} (ferrymail) with {with} id {id}{for_clause};\r\n\t{date}\r\n",
            host = self.hostname,
        )
        .into_bytes()
    }

    /// DATA. RFC 5321 §4.1.1.4.
    async fn data(&mut self, arg: &str) -> Next {
        if !arg.is_empty() {
            self.reply("501 5.5.4 Syntax: DATA");
            return Next::Continue;
        }
        let Some(tx) = self.tx.take() else {
            self.reply("503 5.5.1 Error: need MAIL command");
            return Next::Continue;
        };
        if tx.rcpts.is_empty() {
            self.reply("554 5.5.1 Error: no valid recipients");
            return Next::Continue;
        }
        let app = self.svc.app.clone();
        let config = app.config();
        let (spool, mut file) = match Spool::create(&config.data_dir).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot create a spool file");
                self.reply(temp_failure(&e.into()));
                return Next::Continue;
            }
        };
        let id = spool
            .path
            .file_name()
            .map(|n| n.to_string_lossy()[..16].to_string())
            .unwrap_or_default();
        self.reply("354 End data with <CR><LF>.<CR><LF>");
        // The message may take longer than a command, up to the session's end.
        self.conn.set_deadline(Some(self.ends));
        if self.conn.flush().await.is_err() {
            return Next::Close;
        }
        let mut parser = DataParser::new(
            config.smtp.max_message_size,
            config.smtp.max_received_headers,
        );
        let prefix = self.received(&id, &tx);
        match data::receive(&mut self.conn, &mut file, &prefix, &mut parser).await {
            Ok(()) => {}
            Err(DataError::Conn(e)) => {
                self.conn_error(e).await;
                return Next::Close;
            }
            Err(DataError::Spool(e)) => {
                tracing::error!(error = %e, "cannot write the spool file");
                self.reply(temp_failure(&e.into()));
                return Next::Continue;
            }
        }
        drop(file);
        if parser.verdict != Verdict::Ok {
            tracing::info!(peer = %self.conn.peer, verdict = ?parser.verdict, "message refused");
            self.reply(parser.verdict.reply());
            return Next::Continue;
        }
        match self.deliver(&tx, &spool).await {
            Ok(()) => {
                tracing::info!(
                    id = %id,
                    from = %tx.from.as_ref().map(|a| a.to_wire()).unwrap_or_default(),
                    rcpts = tx.rcpts.len(),
                    size = parser.size,
                    "message accepted"
                );
                self.reply(&format!("250 2.0.0 OK queued as {id}"));
            }
            Err(e) => {
                tracing::error!(id = %id, error = %e, "delivery failed; message not accepted");
                self.reply(temp_failure(&e));
            }
        }
        Next::Continue
    }

    /// The first local account among `targets` that is at or over its quota
    /// (`[quota]`): its address. A migration copy is never limited; this is
    /// only mail arriving by SMTP.
    async fn over_quota(
        &self,
        config: &crate::config::Config,
        targets: &[(Address, Route)],
    ) -> Option<String> {
        for (_, route) in targets {
            let Route::Local(account) = route else {
                continue;
            };
            let quota = config.quota_for(&account.address);
            if quota.is_unlimited() {
                continue;
            }
            let Ok(ms) = self.svc.app.store.mailstore(account.id).await else {
                continue;
            };
            match ms.usage().await {
                Ok(used) if !quota.allows(used, 1, 1) => return Some(account.address.clone()),
                _ => {}
            }
        }
        None
    }

    /// Delivers to every local recipient and queues the rest; durable on return.
    async fn deliver(&self, tx: &Tx, spool: &Spool) -> Result<(), crate::store::StoreError> {
        let app = &self.svc.app;
        let from = tx.from.as_ref().map(|a| a.to_wire()).unwrap_or_default();
        let mut queued = false;
        let mut done_accounts = Vec::new();
        for (rcpt, route) in &tx.rcpts {
            match route {
                Route::Local(account) => {
                    if done_accounts.contains(&account.id) {
                        continue;
                    }
                    let to = tx
                        .via
                        .iter()
                        .find(|(k, _)| *k == rcpt.key())
                        .map_or_else(|| rcpt.to_wire(), |(_, g)| g.clone());
                    deliver::deliver_local(app, account, &spool.path, &from, &to).await?;
                    done_accounts.push(account.id);
                }
                Route::Relay(hop) => {
                    deliver::enqueue(app, &spool.path, &from, &rcpt.to_wire(), hop, None).await?;
                    queued = true;
                }
                Route::Forward { hop, domain } => {
                    let config = app.config();
                    let sender = super::aliases::forward_sender(&config, tx.from.as_ref(), domain)?;
                    deliver::enqueue(app, &spool.path, &sender, &rcpt.to_wire(), hop, None).await?;
                    queued = true;
                }
            }
        }
        if queued {
            super::queue::wake(&app.config().data_dir);
        }
        Ok(())
    }
}

/// The reply for a failure to store: full disk is `452 4.3.1`, anything else 451.
fn temp_failure(e: &crate::store::StoreError) -> &'static str {
    if e.is_disk_full() {
        "452 4.3.1 Insufficient system storage"
    } else {
        "451 4.3.0 Local error in processing, try again later"
    }
}
