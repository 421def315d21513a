//! The MQTT client: connect, publisher and consumer.

mod client;
pub mod wire;

pub use client::{Consumer, Publisher};

use bytes::BytesMut;

use crate::io::{self, protocol, ClientError, Reader, Writer};
use crate::options::Options;

/// A connected MQTT client.
#[derive(Debug)]
pub struct Connection {
    /// Reading half.
    pub reader: Reader,
    /// Writing half.
    pub writer: Writer,
    /// Protocol level (4 or 5).
    pub version: u8,
    /// The broker's Receive Maximum (MQTT 5), else 65535.
    pub receive_max: u16,
}

impl Connection {
    /// Connects with a clean session and waits for a successful CONNACK.
    pub async fn open(
        options: &Options,
        port: u16,
        client_id: &str,
        keep_alive: u16,
        buffer: usize,
    ) -> Result<Self, ClientError> {
        let (reader, mut writer) = io::connect(&options.host, port, buffer).await?;
        let version = options.mqtt_version;
        let mut out = BytesMut::new();
        wire::connect(
            &mut out,
            version,
            client_id,
            keep_alive,
            &options.user,
            &options.password,
        );
        writer.send(&out).await?;
        let mut conn = Self {
            reader,
            writer,
            version,
            receive_max: u16::MAX,
        };
        let body = conn.expect(wire::CONNACK).await?;
        let code = body.get(1).copied().unwrap_or(0xFF);
        if code != 0 {
            return Err(protocol(format!("MQTT CONNACK refused: {code:#x}")));
        }
        if version == 5 {
            conn.receive_max = receive_max(body.get(2..).unwrap_or_default()).unwrap_or(u16::MAX);
        }
        Ok(conn)
    }

    /// Subscribes to `filter` and waits for a granted SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: u8) -> Result<(), ClientError> {
        let mut out = BytesMut::new();
        wire::subscribe(&mut out, self.version, 1, filter, qos);
        self.writer.send(&out).await?;
        let body = self.expect(wire::SUBACK).await?;
        let granted = body.last().copied().unwrap_or(0x80);
        if granted >= 0x80 {
            return Err(protocol(format!(
                "MQTT SUBACK refused {filter}: {granted:#x}"
            )));
        }
        Ok(())
    }

    async fn expect(&mut self, kind: u8) -> Result<Vec<u8>, ClientError> {
        loop {
            if let Some((packet, used)) = wire::parse(&self.reader.buf)? {
                if packet.kind != kind {
                    return Err(protocol(format!(
                        "MQTT: expected packet {kind}, got {}",
                        packet.kind
                    )));
                }
                let body = packet.body.to_vec();
                self.reader.consume(used);
                return Ok(body);
            }
            self.reader.fill().await?;
        }
    }
}

/// Receive Maximum (0x21) among CONNACK's properties, which are skipped by their types
/// (MQTT 5 section 2.2.2.2).
fn receive_max(props: &[u8]) -> Option<u16> {
    let (len, used) = wire::read_varint(props).ok()?;
    let mut rest = props.get(used..used + len)?;
    while let Some((&id, tail)) = rest.split_first() {
        let size = match id {
            0x21 => return tail.get(..2)?.try_into().ok().map(u16::from_be_bytes),
            0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            0x13 | 0x22 => 2,
            0x11 | 0x27 => 4,
            0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => 2 + str_len(tail)?,
            0x26 => {
                let first = 2 + str_len(tail)?;
                first + 2 + str_len(tail.get(first..)?)?
            }
            _ => return None,
        };
        rest = tail.get(size..)?;
    }
    None
}

fn str_len(bytes: &[u8]) -> Option<usize> {
    bytes
        .get(..2)?
        .try_into()
        .ok()
        .map(u16::from_be_bytes)
        .map(usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_max_is_found_among_other_properties() {
        // Property length 10: Maximum QoS 1, Assigned Client Identifier "ab", Receive Maximum 20.
        let props = [10, 0x24, 1, 0x12, 0, 2, b'a', b'b', 0x21, 0, 20];
        assert_eq!(receive_max(&props), Some(20));
        assert_eq!(receive_max(&[0]), None);
    }
}
