//! COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951) both ways over a
//! connection's stream, from the response that starts it on. Every flush of
//! the connection is a sync flush, so the peer can read each response whole.
//! Input is inflated into the caller's buffer only: the connection's own line
//! and literal bounds hold for what the data inflates to.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Compressed bytes read from the stream but not inflated yet.
const IN_CHUNK: usize = 16 * 1024;
/// Deflated output held before it must be written out.
const OUT_HIGH: usize = 64 * 1024;

pub struct Deflate<S> {
    inner: S,
    inflate: Decompress,
    deflate: Compress,
    input: Vec<u8>,
    in_pos: usize,
    output: Vec<u8>,
    eof: bool,
}

impl<S> Deflate<S> {
    pub fn new(inner: S) -> Deflate<S> {
        Deflate {
            inner,
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::default(), false),
            input: Vec::new(),
            in_pos: 0,
            output: Vec::new(),
            eof: false,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Deflates `data` (all of it) into the output buffer.
    fn deflate(&mut self, mut data: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            self.output.reserve(data.len() / 2 + 64);
            let before_in = self.deflate.total_in();
            let before_out = self.output.len();
            self.deflate
                .compress_vec(data, &mut self.output, flush)
                .map_err(io::Error::other)?;
            let used = (self.deflate.total_in() - before_in) as usize;
            data = &data[used..];
            // Done when all input is taken and, for a flush, the buffer was
            // not filled to the brim (more may be pending otherwise).
            let full = self.output.len() == self.output.capacity();
            if data.is_empty() && (!full || self.output.len() == before_out) {
                return Ok(());
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    /// Writes out the deflated bytes held.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.output.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.output))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.output.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.in_pos < this.input.len() {
                let before_in = this.inflate.total_in();
                let before_out = this.inflate.total_out();
                let status = this
                    .inflate
                    .decompress(
                        &this.input[this.in_pos..],
                        buf.initialize_unfilled(),
                        FlushDecompress::Sync,
                    )
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                this.in_pos += (this.inflate.total_in() - before_in) as usize;
                let produced = (this.inflate.total_out() - before_out) as usize;
                buf.advance(produced);
                if produced > 0 {
                    return Poll::Ready(Ok(()));
                }
                if status == Status::StreamEnd {
                    this.eof = true;
                }
                if this.in_pos < this.input.len() && !this.eof {
                    continue;
                }
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            this.input.resize(IN_CHUNK, 0);
            this.in_pos = 0;
            let mut rb = ReadBuf::new(&mut this.input);
            let r = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.input.truncate(n);
            ready!(r)?;
            if n == 0 {
                this.eof = true;
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.output.len() >= OUT_HIGH {
            ready!(this.poll_drain(cx))?;
        }
        this.deflate(data, FlushCompress::None)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.deflate(&[], FlushCompress::Sync)?;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.deflate(&[], FlushCompress::Finish)?;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn both_ways_with_sync_flushes() {
        let (a, b) = tokio::io::duplex(1 << 20);
        let mut a = Deflate::new(a);
        let mut b = Deflate::new(b);
        let big: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        a.write_all(b"* OK hello\r\n").await.unwrap();
        a.flush().await.unwrap();
        let mut got = [0u8; 12];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"* OK hello\r\n");
        a.write_all(&big).await.unwrap();
        a.flush().await.unwrap();
        let mut got = vec![0u8; big.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, big);
        b.write_all(b"a NOOP\r\n").await.unwrap();
        b.flush().await.unwrap();
        let mut got = [0u8; 8];
        a.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"a NOOP\r\n");
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        let (mut a, b) = tokio::io::duplex(1024);
        let mut b = Deflate::new(b);
        a.write_all(&[0xff; 64]).await.unwrap();
        let mut got = [0u8; 8];
        assert!(b.read(&mut got).await.is_err());
    }
}
