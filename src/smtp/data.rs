//! The DATA phase (RFC 5321 §4.1.1.4, §4.5.2): reads lines up to the one true end
//! of data, `CRLF . CRLF`, removes dot-stuffing, and judges the message while it
//! streams into a spool file (bounded memory whatever the size).
//!
//! Only a line that is exactly `.` CRLF after a line ended by CRLF ends the data.
//! A bare CR or a bare LF anywhere makes the message refused once the real end is
//! reached, so `\n.\n`, `\n.\r\n` and `\r.\r\n` can never smuggle a second message
//! past a server that reads line ends differently (CVE-2023-51764 class).

use tokio::io::AsyncWriteExt;

use crate::server::conn::WholeLine;
use crate::server::{Conn, ConnError};

/// Longest text line in DATA including CRLF (RFC 5321 §4.5.3.1.6).
pub const MAX_DATA_LINE: usize = 1000;

/// The verdict on a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Bare CR or LF seen.
    BareLineEnd,
    /// More bytes than the size limit.
    TooBig,
    /// A line longer than [`MAX_DATA_LINE`].
    LineTooLong,
    /// More Received headers than allowed: a mail loop.
    Loop,
}

impl Verdict {
    /// The reply for a refused message.
    pub fn reply(self) -> &'static str {
        match self {
            Verdict::Ok => "250 2.0.0 OK",
            Verdict::BareLineEnd => {
                "554 5.6.0 Bare CR or LF in message refused; lines must end with CRLF"
            }
            Verdict::TooBig => "552 5.3.4 Message too big for system",
            Verdict::LineTooLong => "500 5.5.2 Line too long (RFC 5321: 1000 octets)",
            Verdict::Loop => "554 5.4.6 Too many Received headers: mail loop detected",
        }
    }
}

/// Judges lines as they arrive; pure (no I/O), so it is tested with tables.
pub struct DataParser {
    max_size: u64,
    max_received: usize,
    /// Bytes of the message after unstuffing.
    pub size: u64,
    prev_crlf: bool,
    in_header: bool,
    received: usize,
    pub verdict: Verdict,
    /// True once the content has non-ASCII bytes.
    pub eight_bit: bool,
}

/// What to do with one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// The end of data was reached.
    End,
    /// Write these bytes to the spool (empty once the message is refused).
    Write(&'a [u8]),
}

impl DataParser {
    pub fn new(max_size: u64, max_received: usize) -> DataParser {
        DataParser {
            max_size,
            max_received,
            size: 0,
            prev_crlf: true,
            in_header: true,
            received: 0,
            verdict: Verdict::Ok,
            eight_bit: false,
        }
    }

    fn refuse(&mut self, v: Verdict) {
        if self.verdict == Verdict::Ok {
            self.verdict = v;
        }
    }

    /// Takes one line as read (ending in LF, or the whole line when `too_long`).
    pub fn line<'a>(&mut self, line: &'a [u8]) -> Step<'a> {
        if line == b".\r\n" && self.prev_crlf {
            return Step::End;
        }
        let crlf = line.ends_with(b"\r\n");
        let body = if crlf {
            &line[..line.len() - 2]
        } else {
            line.strip_suffix(b"\n").unwrap_or(line)
        };
        if !crlf || body.contains(&b'\r') || body.contains(&b'\n') {
            self.refuse(Verdict::BareLineEnd);
        }
        self.prev_crlf = crlf;
        // Dot-stuffing (RFC 5321 §4.5.2).
        let line = if line.first() == Some(&b'.') {
            &line[1..]
        } else {
            line
        };
        if self.in_header {
            if line == b"\r\n" || line == b"\n" {
                self.in_header = false;
            } else if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
                self.received += 1;
                if self.received > self.max_received {
                    self.refuse(Verdict::Loop);
                }
            }
        }
        self.size += line.len() as u64;
        if self.size > self.max_size {
            self.refuse(Verdict::TooBig);
        }
        if !self.eight_bit && !line.is_ascii() {
            self.eight_bit = true;
        }
        if self.verdict != Verdict::Ok {
            return Step::Write(&[]);
        }
        Step::Write(line)
    }

    /// A line over the limit was skipped; `crlf` tells how it ended. The end of
    /// data still needs a CRLF before its `.`: after an over-long line ended by
    /// a bare LF, `.` CRLF is data, never the end (no smuggling through long
    /// lines).
    pub fn too_long(&mut self, crlf: bool) {
        self.refuse(Verdict::LineTooLong);
        if !crlf {
            self.refuse(Verdict::BareLineEnd);
        }
        self.prev_crlf = crlf;
        self.in_header = false;
    }
}

/// Why reading DATA stopped without a verdict.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("connection: {0}")]
    Conn(#[from] ConnError),
    #[error("spool: {0}")]
    Spool(std::io::Error),
}

/// Reads DATA from `conn` into `spool` (after `prefix`, the Received header) until
/// the end of data. The spool file is fsynced when the verdict is [`Verdict::Ok`].
pub async fn receive(
    conn: &mut Conn,
    spool: &mut tokio::fs::File,
    prefix: &[u8],
    parser: &mut DataParser,
) -> Result<(), DataError> {
    let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, &mut *spool);
    let mut spool_error: Option<std::io::Error> = None;
    if let Err(e) = out.write_all(prefix).await {
        spool_error = Some(e);
    }
    loop {
        let line = match conn.read_whole_line(MAX_DATA_LINE).await? {
            WholeLine::Line(l) => l,
            WholeLine::TooLong { crlf } => {
                parser.too_long(crlf);
                continue;
            }
        };
        match parser.line(&line) {
            Step::End => break,
            Step::Write(bytes) => {
                if !bytes.is_empty() && spool_error.is_none() {
                    if let Err(e) = out.write_all(bytes).await {
                        // Keep reading to the end of data; report afterwards.
                        spool_error = Some(e);
                    }
                }
            }
        }
    }
    if parser.verdict != Verdict::Ok {
        return Ok(());
    }
    if let Some(e) = spool_error {
        return Err(DataError::Spool(e));
    }
    out.flush().await.map_err(DataError::Spool)?;
    drop(out);
    spool.sync_all().await.map_err(DataError::Spool)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at LF like `Conn::read_line`; returns (ended, bytes, verdict).
    fn run(input: &[u8], max: u64) -> (bool, Vec<u8>, Verdict) {
        let mut p = DataParser::new(max, 3);
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = rest.iter().position(|&b| b == b'\n').map(|i| i + 1);
            let Some(n) = n else { break };
            let (line, r) = rest.split_at(n);
            rest = r;
            match p.line(line) {
                Step::End => return (true, out, p.verdict),
                Step::Write(b) => out.extend_from_slice(b),
            }
        }
        (false, out, p.verdict)
    }

    #[test]
    fn end_of_data_and_unstuffing() {
        let (end, out, v) = run(b"Subject: x\r\n\r\n..dot\r\n.\r\n", 1000);
        assert!(end);
        assert_eq!(out, b"Subject: x\r\n\r\n.dot\r\n");
        assert_eq!(v, Verdict::Ok);
        let (end, out, _) = run(b".\r\n", 1000);
        assert!(end && out.is_empty());
    }

    #[test]
    fn smuggling_never_ends_data() {
        for evil in [
            &b"a\r\n\n.\nMAIL FROM:<x@y>\r\n"[..],
            b"a\r\n\n.\r\nMAIL FROM:<x@y>\r\n",
            b"a\r\n\r.\r\nMAIL FROM:<x@y>\r\n",
            b"a\n.\r\n",
        ] {
            let (end, _, v) = run(evil, 1000);
            assert!(!end, "{evil:?} ended data");
            assert_eq!(v, Verdict::BareLineEnd, "{evil:?}");
        }
        // The real end after smuggling attempts is found, with the refusal.
        let (end, _, v) = run(b"a\r\n\n.\nMAIL\r\n.\r\n", 1000);
        assert!(end);
        assert_eq!(v, Verdict::BareLineEnd);
    }

    /// Feeds `input` as `Conn::read_whole_line` would with a line limit of
    /// `max_line`.
    fn run_limited(input: &[u8], max_line: usize) -> (bool, Verdict) {
        let mut p = DataParser::new(1 << 30, 3);
        let mut rest = input;
        while let Some(n) = rest.iter().position(|&b| b == b'\n').map(|i| i + 1) {
            let (line, r) = rest.split_at(n);
            rest = r;
            if line.len() > max_line {
                p.too_long(line.ends_with(b"\r\n"));
                continue;
            }
            if p.line(line) == Step::End {
                return (true, p.verdict);
            }
        }
        (false, p.verdict)
    }

    /// The fuzz target's invariants (tests/fuzz/fuzz_targets/smtp_data.rs) on
    /// 20,000 streams from a fixed seed, made of the pieces smuggling is made
    /// of: short, 1,001-, 1,200- and 40,000-octet lines, bare CR and LF, dots,
    /// CRLF; fed as `Conn::read_whole_line` splits them.
    #[test]
    fn random_streams_end_only_at_crlf_dot_crlf() {
        let mut seed: u64 = 0x5eed_da7a;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let pieces: [&[u8]; 9] = [
            b"\r\n",
            b"\n",
            b"\r",
            b".",
            b"..",
            b"a",
            b"MAIL FROM:<x@y>",
            b"\r\n.\r\n",
            b" ",
        ];
        for _ in 0..20_000 {
            let mut input = Vec::new();
            for _ in 0..next(12) {
                match next(8) {
                    0 => input.extend(std::iter::repeat_n(
                        b'A',
                        [1001, 1200, 40_000][next(3) as usize],
                    )),
                    _ => input.extend_from_slice(pieces[next(pieces.len() as u64) as usize]),
                }
            }
            let mut p = DataParser::new(1 << 20, 3);
            let (mut prev, mut long) = (b"\r\n".to_vec(), false);
            let mut rest = &input[..];
            while let Some(n) = rest.iter().position(|&b| b == b'\n').map(|i| i + 1) {
                let (line, r) = rest.split_at(n);
                rest = r;
                if line.len() > MAX_DATA_LINE {
                    p.too_long(line.ends_with(b"\r\n"));
                    (prev, long) = (line.to_vec(), true);
                    continue;
                }
                if p.line(line) == Step::End {
                    assert_eq!(line, b".\r\n");
                    assert!(prev.ends_with(b"\r\n"), "{input:?}");
                    break;
                }
                prev = line.to_vec();
            }
            if long {
                assert_ne!(p.verdict, Verdict::Ok);
            }
        }
    }

    #[test]
    fn smuggling_after_an_over_long_line_never_ends_data() {
        for len in [10, 1001, 1200, 40_000] {
            let long = vec![b'A'; len];
            for (lf, dot) in [
                (&b"\n"[..], &b".\r\n"[..]),
                (b"\n", b".\n"),
                (b"\r", b".\r\n"),
                (b"\r\n", b".\n"),
            ] {
                let mut evil = b"Subject: outer\r\n\r\n".to_vec();
                evil.extend_from_slice(&long);
                evil.extend_from_slice(lf);
                evil.extend_from_slice(dot);
                evil.extend_from_slice(b"MAIL FROM:<ceo@bank.example>\r\n");
                let (end, v) = run_limited(&evil, MAX_DATA_LINE);
                assert!(!end, "{len} {lf:?} {dot:?} ended data");
                assert_ne!(v, Verdict::Ok, "{len} {lf:?} {dot:?}");
            }
            // An over-long line ended by CRLF: the real end still ends data,
            // and the message is refused.
            let mut ok = long.clone();
            ok.extend_from_slice(b"\r\n.\r\n");
            let (end, v) = run_limited(&ok, MAX_DATA_LINE);
            assert!(end, "{len}");
            let want = if len + 2 > MAX_DATA_LINE {
                Verdict::LineTooLong
            } else {
                Verdict::Ok
            };
            assert_eq!(v, want, "{len}");
        }
    }

    #[test]
    fn size_and_loops() {
        let (end, _, v) = run(b"0123456789\r\n0123456789\r\n.\r\n", 20);
        assert!(end);
        assert_eq!(v, Verdict::TooBig);
        let (_, _, v) = run(
            b"Received: a\r\nReceived: b\r\nReceived: c\r\nReceived: d\r\n\r\nx\r\n.\r\n",
            1000,
        );
        assert_eq!(v, Verdict::Loop);
        let (_, _, v) = run(
            b"Received: a\r\n\r\nReceived: b\r\nReceived: c\r\nReceived: d\r\n.\r\n",
            1000,
        );
        assert_eq!(v, Verdict::Ok);
    }
}
