//! A buffered connection, plain or TLS, server or client side, used by every
//! protocol session and by the clients of legacy servers.
//!
//! Every read has a timeout and, when a shutdown token is attached, ends with
//! [`ConnError::Shutdown`] once the daemon is stopping. Lines are bounded: a line
//! longer than the caller's limit is reported as [`ConnError::TooLong`] and
//! discarded without being held in memory.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

/// How long a TLS handshake may take at most; a server-side handshake also gets
/// no longer than the connection's read timeout (see [`Conn::handshake_timeout`]).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// A line read by [`Conn::read_whole_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WholeLine {
    /// The line with its line end.
    Line(Vec<u8>),
    /// A line over the limit, consumed and dropped; `crlf` tells whether it
    /// ended with CRLF rather than a bare LF.
    TooLong { crlf: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("timed out")]
    Timeout,
    #[error("connection closed by peer")]
    Closed,
    #[error("line too long")]
    TooLong,
    #[error("server shutting down")]
    Shutdown,
    #[error("plaintext pipelined after STARTTLS")]
    Pipelined,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

enum Stream {
    Plain(TcpStream),
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// COMPRESS=DEFLATE over one of the above.
    Deflate(Box<super::deflate::Deflate<Stream>>),
    /// Only while a TLS upgrade is in progress.
    Upgrading,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Server(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Client(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Upgrading => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Server(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Client(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Upgrading => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Server(s) => Pin::new(s).poll_flush(cx),
            Stream::Client(s) => Pin::new(s).poll_flush(cx),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Upgrading => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Server(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Client(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Deflate(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Upgrading => Poll::Ready(Ok(())),
        }
    }
}

/// A connection with a bounded read buffer and an output buffer.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    /// Discard input up to the next LF before reading the next line (after TooLong).
    skipping: bool,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    timeout: Duration,
    /// No read may end after this instant, however steadily bytes trickle in
    /// (a per-command or pre-login deadline, on top of the idle `timeout`).
    deadline: Option<tokio::time::Instant>,
    shutdown: Option<CancellationToken>,
}

const READ_CHUNK: usize = 16 * 1024;

/// How long a client may take to log in after connecting (IMAP, POP3), at
/// most: however it spends the time (commands that never fail, bytes trickled
/// in before each idle timeout), the connection ends then. Dovecot's login
/// processes use the same three minutes.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(180);

/// The pre-login deadline of a connection accepted now whose idle timeout is
/// `timeout`: [`LOGIN_DEADLINE`], or twice `timeout` when shorter (an idle
/// client meets the idle timeout first).
pub fn login_deadline(timeout: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + LOGIN_DEADLINE.min(timeout * 2)
}

/// One read within `timeout`, ended early by `shutdown`; 0 bytes is `Closed`.
async fn bounded_read(
    timeout: Duration,
    shutdown: Option<CancellationToken>,
    read: impl std::future::Future<Output = io::Result<usize>>,
) -> Result<usize, ConnError> {
    let read = async {
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| ConnError::Timeout)?
            .map_err(ConnError::Io)
    };
    let result = match shutdown {
        Some(token) => tokio::select! {
            r = read => r,
            _ = token.cancelled() => Err(ConnError::Shutdown),
        },
        None => read.await,
    };
    match result {
        Ok(0) => Err(ConnError::Closed),
        r => r,
    }
}

impl Conn {
    pub fn new(tcp: TcpStream, timeout: Duration) -> io::Result<Conn> {
        let peer = tcp.peer_addr()?;
        let local = tcp.local_addr()?;
        let _ = tcp.set_nodelay(true);
        Ok(Conn {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
            pos: 0,
            out: Vec::new(),
            skipping: false,
            peer,
            local,
            timeout,
            deadline: None,
            shutdown: None,
        })
    }

    /// Connects to `host:port` within `timeout`.
    pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Conn, ConnError> {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| ConnError::Timeout)??;
        Ok(Conn::new(tcp, timeout)?)
    }

    /// Makes reads end with [`ConnError::Shutdown`] once `token` is cancelled.
    pub fn set_shutdown(&mut self, token: CancellationToken) {
        self.shutdown = Some(token);
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets (or clears) the instant after which every read fails with
    /// [`ConnError::Timeout`].
    pub fn set_deadline(&mut self, deadline: Option<tokio::time::Instant>) {
        self.deadline = deadline;
    }

    /// The bound of the next read: the idle timeout, or what is left before
    /// the deadline when that is shorter.
    fn read_timeout(&self) -> Duration {
        match self.deadline {
            Some(d) => self
                .timeout
                .min(d.saturating_duration_since(tokio::time::Instant::now())),
            None => self.timeout,
        }
    }

    /// The server-side TLS handshake bound: [`HANDSHAKE_TIMEOUT`], or the read
    /// timeout when that is shorter (a stalled handshake holds a connection slot).
    pub fn handshake_timeout(&self) -> Duration {
        HANDSHAKE_TIMEOUT.min(self.timeout)
    }

    pub fn is_tls(&self) -> bool {
        fn tls(s: &Stream) -> bool {
            match s {
                Stream::Server(_) | Stream::Client(_) => true,
                Stream::Deflate(d) => tls(d.get_ref()),
                Stream::Plain(_) | Stream::Upgrading => false,
            }
        }
        tls(&self.stream)
    }

    /// Whether COMPRESS=DEFLATE is on.
    pub fn is_compressed(&self) -> bool {
        matches!(self.stream, Stream::Deflate(_))
    }

    /// Starts COMPRESS=DEFLATE (RFC 4978): flushes what is queued (the
    /// response that says so goes out uncompressed), then deflates both ways.
    /// Input already read ahead would be compressed data read as plain: then
    /// the connection refuses.
    pub async fn start_deflate(&mut self) -> Result<(), ConnError> {
        self.flush().await?;
        if self.pos < self.buf.len() {
            return Err(ConnError::Pipelined);
        }
        if self.is_compressed() {
            return Err(ConnError::Tls("compression is already active".into()));
        }
        let inner = std::mem::replace(&mut self.stream, Stream::Upgrading);
        self.stream = Stream::Deflate(Box::new(super::deflate::Deflate::new(inner)));
        Ok(())
    }

    /// Bytes received but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads more input into the buffer; returns how many bytes arrived.
    ///
    /// Cancel-safe (the buffer only grows by bytes really read), so that
    /// [`Self::read_line`] can be raced against other events (IMAP IDLE).
    async fn fill(&mut self) -> Result<usize, ConnError> {
        if self.pos > 0 && (self.pos == self.buf.len() || self.pos > READ_CHUNK) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.is_empty() {
            // Nothing buffered: an idle connection holds no read buffer. On a
            // plain socket the next one is taken once input is there; a buffer
            // grown for a long line is given back either way.
            if let Stream::Plain(tcp) = &self.stream {
                self.buf = Vec::new();
                let ready = async { tcp.readable().await.map(|()| 1) };
                bounded_read(self.read_timeout(), self.shutdown.clone(), ready).await?;
            } else if self.buf.capacity() > READ_CHUNK {
                self.buf = Vec::new();
            }
        }
        self.buf.reserve(READ_CHUNK);
        let timeout = self.read_timeout();
        let (stream, buf) = (&mut self.stream, &mut self.buf);
        let n = bounded_read(timeout, self.shutdown.clone(), stream.read_buf(buf)).await?;
        Ok(n)
    }

    /// Reads exactly `n` bytes (a literal) into a buffer of its own: what is
    /// buffered first, the rest straight from the stream into the result, in
    /// reads as large as the socket gives, without the line buffer's copies.
    /// Not cancel-safe (bytes read are lost with the future).
    pub async fn read_exact_direct(&mut self, n: usize) -> Result<Vec<u8>, ConnError> {
        let take = self.buffered().min(n);
        let mut v = Vec::with_capacity(n);
        v.extend_from_slice(&self.buf[self.pos..self.pos + take]);
        self.pos += take;
        while v.len() < n {
            let timeout = self.read_timeout();
            let mut rest = (&mut self.stream).take((n - v.len()) as u64);
            bounded_read(timeout, self.shutdown.clone(), rest.read_buf(&mut v)).await?;
        }
        Ok(v)
    }

    /// Reads one line, including its terminating LF (and CR if present). A line
    /// with more than `max` bytes gives [`ConnError::TooLong`]; the rest of it is
    /// skipped by the next call.
    pub async fn read_line(&mut self, max: usize) -> Result<Vec<u8>, ConnError> {
        let mut scanned = 0;
        loop {
            let avail = &self.buf[self.pos..];
            if let Some(i) = avail[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + i + 1;
                if self.skipping {
                    self.pos += end;
                    self.skipping = false;
                    scanned = 0;
                    continue;
                }
                if end > max {
                    self.pos += end;
                    return Err(ConnError::TooLong);
                }
                let line = avail[..end].to_vec();
                self.pos += end;
                return Ok(line);
            }
            scanned = avail.len();
            if self.skipping || scanned > max {
                // Drop what we have; remember to skip up to the next LF.
                self.pos = self.buf.len();
                scanned = 0;
                if !self.skipping {
                    self.skipping = true;
                    return Err(ConnError::TooLong);
                }
            }
            self.fill().await?;
        }
    }

    /// Like [`Self::read_line`], but a line over `max` bytes is consumed whole,
    /// up to and including its LF, and reported once as
    /// [`WholeLine::TooLong`] with how it ended: a caller that must tell `CRLF`
    /// from a bare `LF` after any line (SMTP DATA) never loses that.
    pub async fn read_whole_line(&mut self, max: usize) -> Result<WholeLine, ConnError> {
        let mut scanned = 0;
        // The line is over `max`: its bytes so far were dropped.
        let mut over = std::mem::take(&mut self.skipping);
        // Whether the last dropped byte was CR.
        let mut last_cr = false;
        loop {
            let avail = &self.buf[self.pos..];
            if let Some(i) = avail[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + i + 1;
                if over || end > max {
                    let crlf = if end >= 2 {
                        avail[end - 2] == b'\r'
                    } else {
                        last_cr
                    };
                    self.pos += end;
                    return Ok(WholeLine::TooLong { crlf });
                }
                let line = avail[..end].to_vec();
                self.pos += end;
                return Ok(WholeLine::Line(line));
            }
            scanned = avail.len();
            if over || scanned > max {
                if let Some(&b) = avail.last() {
                    last_cr = b == b'\r';
                }
                self.pos = self.buf.len();
                scanned = 0;
                over = true;
            }
            self.fill().await?;
        }
    }

    /// Reads exactly `n` bytes (use only for small `n`; stream larger data with
    /// [`Self::read_some`]).
    pub async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, ConnError> {
        while self.buffered() < n {
            self.fill().await?;
        }
        let v = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(v)
    }

    /// Returns up to `max` bytes: what is buffered, or what the next read brings.
    pub async fn read_some(&mut self, max: usize) -> Result<Vec<u8>, ConnError> {
        if self.buffered() == 0 {
            self.fill().await?;
        }
        let n = self.buffered().min(max);
        let v = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(v)
    }

    /// Queues bytes for sending.
    pub fn write(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
    }

    /// Bytes queued but not sent.
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let timeout = self.timeout;
        let w = async {
            self.stream.write_all(&out).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(timeout, w)
            .await
            .map_err(|_| ConnError::Timeout)??;
        Ok(())
    }

    /// Queues and sends.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), ConnError> {
        self.write(data);
        self.flush().await
    }

    /// Server side of STARTTLS. Refuses (without starting TLS) when the client sent
    /// anything after the STARTTLS command: such bytes would otherwise be taken as
    /// if they came over TLS (CVE-2011-0411). The caller then closes the connection.
    pub async fn starttls_server(&mut self, acceptor: &TlsAcceptor) -> Result<(), ConnError> {
        if self.buffered() > 0 {
            return Err(ConnError::Pipelined);
        }
        self.flush().await?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Upgrading) else {
            return Err(ConnError::Tls("TLS is already active".into()));
        };
        let tls = tokio::time::timeout(self.handshake_timeout(), acceptor.accept(tcp))
            .await
            .map_err(|_| ConnError::Timeout)?
            .map_err(|e| ConnError::Tls(e.to_string()))?;
        self.stream = Stream::Server(Box::new(tls));
        self.buf.clear();
        self.pos = 0;
        Ok(())
    }

    /// Client side of STARTTLS (and of implicit TLS). Whatever the server sent
    /// before the handshake is discarded: bytes buffered after its "go ahead" would
    /// otherwise be read as if they came over TLS (response injection).
    pub async fn starttls_client(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        host: &str,
    ) -> Result<(), ConnError> {
        self.flush().await?;
        if self.buffered() > 0 {
            tracing::warn!(peer = %self.peer, bytes = self.buffered(), "discarding data the server sent before the TLS handshake");
        }
        self.buf.clear();
        self.pos = 0;
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| ConnError::Tls(format!("bad server name {host}: {e}")))?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Upgrading) else {
            return Err(ConnError::Tls("TLS is already active".into()));
        };
        let tls = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| ConnError::Timeout)?
        .map_err(|e| ConnError::Tls(e.to_string()))?;
        self.stream = Stream::Client(Box::new(tls));
        Ok(())
    }

    /// Server side of implicit TLS (993, 995, 465).
    pub async fn accept_tls(&mut self, acceptor: &TlsAcceptor) -> Result<(), ConnError> {
        self.starttls_server(acceptor).await
    }

    /// Flushes and closes the connection (TLS close_notify included).
    pub async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.stream.shutdown()).await;
    }
}

/// The raw stream of a connection, for byte-for-byte relaying.
pub struct RawParts {
    pub stream: Box<dyn RawStream>,
    /// Received but not yet consumed.
    pub buffered: Vec<u8>,
}

pub trait RawStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RawStream for T {}

impl Conn {
    /// Flushes queued output and gives up the connection's stream and unread input.
    pub async fn into_raw(mut self) -> Result<RawParts, ConnError> {
        self.flush().await?;
        let buffered = self.buf[self.pos..].to_vec();
        let stream: Box<dyn RawStream> =
            match std::mem::replace(&mut self.stream, Stream::Upgrading) {
                Stream::Plain(s) => Box::new(s),
                Stream::Server(s) => Box::new(s),
                Stream::Client(s) => Box::new(s),
                Stream::Deflate(s) => Box::new(s),
                Stream::Upgrading => return Err(ConnError::Tls("connection in transition".into())),
            };
        Ok(RawParts { stream, buffered })
    }

    /// The shutdown token attached to this connection, if any.
    pub fn shutdown_token(&self) -> Option<CancellationToken> {
        self.shutdown.clone()
    }
}

/// A line without its CRLF (or LF).
pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
