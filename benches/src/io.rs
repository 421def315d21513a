//! One TCP connection split into a buffered reader and a writer, and the error type of the
//! clients.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Read buffer of a busy connection.
pub const BUSY_BUFFER: usize = 256 * 1024;
/// Read buffer of an idle connection: 10,000 of them must not cost the client gigabytes.
pub const IDLE_BUFFER: usize = 512;

/// What went wrong on one connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The broker closed the connection.
    #[error("connection closed by the broker")]
    Closed,
    /// The broker refused something or sent what the client cannot parse.
    #[error("{0}")]
    Protocol(String),
}

/// A `ClientError::Protocol` from anything printable.
pub fn protocol(message: impl Into<String>) -> ClientError {
    ClientError::Protocol(message.into())
}

/// The reading half with its buffer.
#[derive(Debug)]
pub struct Reader {
    half: OwnedReadHalf,
    /// Bytes read and not yet consumed.
    pub buf: BytesMut,
    chunk: usize,
}

impl Reader {
    /// Reads more bytes; fails when the broker closed the connection.
    pub async fn fill(&mut self) -> Result<(), ClientError> {
        if self.buf.capacity() - self.buf.len() < self.chunk / 4 {
            self.buf.reserve(self.chunk);
        }
        match self.half.read_buf(&mut self.buf).await? {
            0 => Err(ClientError::Closed),
            _ => Ok(()),
        }
    }

    /// Reads at most `limit` bytes (taking buffered ones first) and throws them away; how
    /// many. Fails when the broker closed the connection.
    pub async fn discard(&mut self, limit: usize) -> Result<usize, ClientError> {
        let buffered = self.buf.len().min(limit);
        if buffered > 0 {
            self.buf.advance(buffered);
            return Ok(buffered);
        }
        let mut scratch = vec![0; limit];
        match self.half.read(&mut scratch).await? {
            0 => Err(ClientError::Closed),
            n => Ok(n),
        }
    }

    /// Drops `n` consumed bytes.
    pub fn consume(&mut self, n: usize) {
        self.buf.advance(n);
    }

    /// Switches to a small buffer for a connection that will sit idle.
    pub fn shrink(&mut self) {
        if self.buf.is_empty() {
            self.chunk = IDLE_BUFFER;
            self.buf = BytesMut::with_capacity(IDLE_BUFFER);
        }
    }
}

/// The writing half.
#[derive(Debug)]
pub struct Writer {
    half: OwnedWriteHalf,
}

impl Writer {
    /// Writes all of `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.half.write_all(bytes).await?;
        Ok(())
    }
}

/// Connects to `host:port` with Nagle off (the clients batch their own writes).
pub async fn connect(host: &str, port: u16, chunk: usize) -> Result<(Reader, Writer), ClientError> {
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let reader = Reader {
        half: read,
        buf: BytesMut::with_capacity(chunk),
        chunk,
    };
    Ok((reader, Writer { half: write }))
}
