//! The AMQP 0-9-1 client: handshake, publisher and consumer.

mod consumer;
mod publisher;
pub mod wire;

pub use consumer::Consumer;
pub use publisher::Publisher;

use bytes::BytesMut;

use crate::io::{self, protocol, ClientError, Reader, Writer};
use crate::options::Options;
use wire::{Frame, MethodId};

/// The channel every benchmark connection uses.
pub const CHANNEL: u16 = 1;
/// The largest frame the client asks for.
const FRAME_MAX: u32 = 131_072;

/// An open connection with channel 1 open.
#[derive(Debug)]
pub struct Connection {
    /// Reading half.
    pub reader: Reader,
    /// Writing half.
    pub writer: Writer,
    /// The negotiated frame-max.
    pub frame_max: usize,
}

impl Connection {
    /// Connects, logs in, opens the vhost and channel 1.
    pub async fn open(options: &Options, port: u16, buffer: usize) -> Result<Self, ClientError> {
        let (reader, mut writer) = io::connect(&options.host, port, buffer).await?;
        writer.send(wire::PROTOCOL_HEADER).await?;
        let mut conn = Self {
            reader,
            writer,
            frame_max: FRAME_MAX as usize,
        };
        conn.expect(0, wire::START).await?;
        let mut out = BytesMut::new();
        wire::start_ok(&mut out, &options.user, &options.password);
        conn.writer.send(&out).await?;
        let tune = conn.expect(0, wire::TUNE).await?;
        let mut c = wire::Cursor(&tune);
        let channel_max = c.u16()?;
        let frame_max = match c.u32()? {
            0 => FRAME_MAX,
            n => n.min(FRAME_MAX),
        };
        conn.frame_max = frame_max as usize;
        out.clear();
        wire::tune_ok(&mut out, channel_max, frame_max);
        wire::open(&mut out, &options.vhost);
        conn.writer.send(&out).await?;
        conn.expect(0, wire::OPEN_OK).await?;
        conn.call(|o| wire::channel_open(o, CHANNEL), wire::CHANNEL_OPEN_OK)
            .await?;
        Ok(conn)
    }

    /// Sends what `write` encodes and waits for the reply `reply` on channel 1.
    pub async fn call(
        &mut self,
        write: impl FnOnce(&mut BytesMut),
        reply: MethodId,
    ) -> Result<Vec<u8>, ClientError> {
        let mut out = BytesMut::new();
        write(&mut out);
        self.writer.send(&out).await?;
        self.expect(CHANNEL, reply).await
    }

    /// Reads until method `want` arrives on `channel`, returning its arguments.
    async fn expect(&mut self, channel: u16, want: MethodId) -> Result<Vec<u8>, ClientError> {
        loop {
            while let Some((frame, used)) = wire::parse(&self.reader.buf)? {
                let found = match frame {
                    Frame::Method(ch, id, args) if ch == channel && id == want => {
                        Some(args.to_vec())
                    }
                    Frame::Method(_, id, args) if is_close(id) => {
                        return Err(wire::close_error(id, args))
                    }
                    Frame::Heartbeat => None,
                    other => {
                        return Err(protocol(format!("AMQP: expected {want:?}, got {other:?}")))
                    }
                };
                self.reader.consume(used);
                if let Some(args) = found {
                    return Ok(args);
                }
            }
            self.reader.fill().await?;
        }
    }

    /// Closes the connection politely; errors do not matter any more.
    pub async fn close(mut self) {
        let mut out = BytesMut::new();
        wire::close(&mut out);
        let _ = self.writer.send(&out).await;
    }
}

/// True for connection.close and channel.close.
pub fn is_close(id: MethodId) -> bool {
    id == wire::CONNECTION_CLOSE || id == wire::CHANNEL_CLOSE
}
