//! The STOMP 1.2 client: connect, publisher and consumer.

mod client;
pub mod wire;

pub use client::{Consumer, Publisher};

use bytes::BytesMut;

use crate::io::{self, protocol, ClientError, Reader, Writer};
use crate::options::Options;

/// A connected STOMP client.
#[derive(Debug)]
pub struct Connection {
    /// Reading half.
    pub reader: Reader,
    /// Writing half.
    pub writer: Writer,
}

impl Connection {
    /// Connects (STOMP 1.2, heart-beats off) and waits for CONNECTED.
    pub async fn open(options: &Options, port: u16, buffer: usize) -> Result<Self, ClientError> {
        let (reader, mut writer) = io::connect(&options.host, port, buffer).await?;
        let mut out = BytesMut::new();
        let headers = [
            ("accept-version", "1.2"),
            ("host", options.vhost.as_str()),
            ("login", options.user.as_str()),
            ("passcode", options.password.as_str()),
            ("heart-beat", "0,0"),
        ];
        wire::frame(&mut out, "CONNECT", &headers, b"");
        writer.send(&out).await?;
        let mut conn = Self { reader, writer };
        conn.expect(b"CONNECTED").await?;
        Ok(conn)
    }

    /// Reads the next frame, which must be `command`.
    pub async fn expect(&mut self, command: &[u8]) -> Result<(), ClientError> {
        loop {
            if let Some((frame, used)) = wire::parse(&self.reader.buf)? {
                if frame.command != command {
                    return Err(frame_error(&frame));
                }
                self.reader.consume(used);
                return Ok(());
            }
            self.reader.fill().await?;
        }
    }
}

/// The error an unexpected frame (usually ERROR) means.
pub fn frame_error(frame: &wire::Frame<'_>) -> ClientError {
    let command = String::from_utf8_lossy(frame.command);
    let message = frame.header("message").unwrap_or_default();
    protocol(format!("STOMP {command}: {message}"))
}
