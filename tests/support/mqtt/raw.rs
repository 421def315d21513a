//! A raw MQTT connection: packets read back with a deadline and parsed (PUBLISH, CONNACK,
//! SUBACK, reason codes and MQTT 5 properties).

use std::net::SocketAddr;
use std::time::Duration;

use super::packets::{kind, subscribe, Connect, Props};
use super::DEADLINE;

/// One packet as read from the wire.
#[derive(Debug, Clone)]
pub struct RawPacket {
    pub first: u8,
    pub body: Vec<u8>,
}

/// A PUBLISH as read from the wire.
#[derive(Debug, Clone)]
pub struct RawPublish {
    pub topic: String,
    pub qos: u8,
    pub dup: bool,
    pub retain: bool,
    pub pkid: u16,
    /// MQTT 5: the properties, parsed.
    pub props: Vec<(u8, PropValue)>,
    pub payload: Vec<u8>,
}

/// A parsed MQTT 5 property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    Int(u64),
    Bytes(Vec<u8>),
    Pair(String, String),
}

impl RawPacket {
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }

    /// CONNACK: (session present, return / reason code).
    pub fn connack(&self) -> (bool, u8) {
        assert_eq!(self.kind(), kind::CONNACK, "expected CONNACK: {self:?}");
        (self.body[0] & 1 == 1, self.body[1])
    }

    /// MQTT 5 CONNACK properties.
    pub fn connack_props(&self) -> Vec<(u8, PropValue)> {
        assert_eq!(self.kind(), kind::CONNACK, "expected CONNACK: {self:?}");
        parse_props(&self.body[2..]).0
    }

    /// The packet identifier of an ack, SUBACK or UNSUBACK.
    pub fn pkid(&self) -> u16 {
        u16::from_be_bytes([self.body[0], self.body[1]])
    }

    /// The reason code of a v5 ack (success when omitted), DISCONNECT or AUTH.
    pub fn reason(&self) -> u8 {
        match self.kind() {
            kind::DISCONNECT | kind::AUTH => self.body.first().copied().unwrap_or(0),
            _ => self.body.get(2).copied().unwrap_or(0),
        }
    }

    /// SUBACK return / reason codes.
    pub fn suback_codes(&self, v5: bool) -> Vec<u8> {
        assert_eq!(self.kind(), kind::SUBACK, "expected SUBACK: {self:?}");
        if v5 {
            let (_, used) = parse_props(&self.body[2..]);
            self.body[2 + used..].to_vec()
        } else {
            self.body[2..].to_vec()
        }
    }

    pub fn publish(&self, v5: bool) -> RawPublish {
        assert_eq!(self.kind(), kind::PUBLISH, "expected PUBLISH: {self:?}");
        let qos = (self.first >> 1) & 3;
        let tlen = usize::from(u16::from_be_bytes([self.body[0], self.body[1]]));
        let topic = String::from_utf8_lossy(&self.body[2..2 + tlen]).into_owned();
        let mut at = 2 + tlen;
        let mut pkid = 0;
        if qos > 0 {
            pkid = u16::from_be_bytes([self.body[at], self.body[at + 1]]);
            at += 2;
        }
        let mut props = Vec::new();
        if v5 {
            let (p, used) = parse_props(&self.body[at..]);
            props = p;
            at += used;
        }
        RawPublish {
            topic,
            qos,
            dup: self.first & 0x08 != 0,
            retain: self.first & 1 == 1,
            pkid,
            props,
            payload: self.body[at..].to_vec(),
        }
    }

    /// MQTT 5 properties after the reason code of a DISCONNECT or AUTH.
    pub fn reason_props(&self) -> Vec<(u8, PropValue)> {
        if self.body.len() < 2 {
            return Vec::new();
        }
        parse_props(&self.body[1..]).0
    }
}

impl RawPublish {
    pub fn prop(&self, id: u8) -> Option<&PropValue> {
        self.props.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }
}

/// The first value of property `id`.
pub fn find_prop(props: &[(u8, PropValue)], id: u8) -> Option<&PropValue> {
    props.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
}

fn read_varint(b: &[u8]) -> (usize, usize) {
    let mut n = 0usize;
    let mut mult = 1usize;
    for (i, byte) in b.iter().enumerate() {
        n += usize::from(byte & 0x7f) * mult;
        if byte & 0x80 == 0 {
            return (n, i + 1);
        }
        mult *= 128;
    }
    panic!("truncated variable byte integer");
}

/// Parses a length-prefixed property block; returns the properties and the bytes used.
pub fn parse_props(b: &[u8]) -> (Vec<(u8, PropValue)>, usize) {
    let (len, used) = read_varint(b);
    let mut at = used;
    let end = used + len;
    let mut out = Vec::new();
    let u16_at = |i: usize| usize::from(u16::from_be_bytes([b[i], b[i + 1]]));
    while at < end {
        let id = b[at];
        at += 1;
        let v = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                at += 1;
                PropValue::Int(u64::from(b[at - 1]))
            }
            0x13 | 0x21 | 0x22 | 0x23 => {
                at += 2;
                PropValue::Int(u16_at(at - 2) as u64)
            }
            0x02 | 0x11 | 0x18 | 0x27 => {
                at += 4;
                PropValue::Int(u64::from(u32::from_be_bytes([
                    b[at - 4],
                    b[at - 3],
                    b[at - 2],
                    b[at - 1],
                ])))
            }
            0x0B => {
                let (n, u) = read_varint(&b[at..]);
                at += u;
                PropValue::Int(n as u64)
            }
            0x26 => {
                let kl = u16_at(at);
                let k = String::from_utf8_lossy(&b[at + 2..at + 2 + kl]).into_owned();
                at += 2 + kl;
                let vl = u16_at(at);
                let v = String::from_utf8_lossy(&b[at + 2..at + 2 + vl]).into_owned();
                at += 2 + vl;
                PropValue::Pair(k, v)
            }
            _ => {
                let l = u16_at(at);
                at += 2 + l;
                PropValue::Bytes(b[at - l..at].to_vec())
            }
        };
        out.push((id, v));
    }
    (out, end)
}

/// A raw MQTT connection.
pub struct Raw {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

/// Why a raw read ended without a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum RawEnd {
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Nothing arrived in time.
    Timeout,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::time::timeout(DEADLINE, tokio::net::TcpStream::connect(addr))
            .await
            .expect("TCP connect within the deadline")
            .expect("TCP connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects and sends `connect`, returning the CONNACK.
    pub async fn open(addr: SocketAddr, connect: &Connect) -> (Self, RawPacket) {
        let mut raw = Self::connect(addr).await;
        raw.send(&connect.encode()).await;
        let ack = raw.recv().await;
        assert_eq!(ack.kind(), kind::CONNACK, "expected CONNACK, got {ack:?}");
        (raw, ack)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.expect("raw write");
    }

    /// Writes, ignoring failure (the server may already have closed).
    pub async fn send_lossy(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next packet; panics at the deadline or on close.
    pub async fn recv(&mut self) -> RawPacket {
        match self.recv_within(DEADLINE).await {
            Ok(p) => p,
            Err(e) => panic!("expected a packet, got {e:?}"),
        }
    }

    /// The next packet of `kind`, skipping others (e.g. PINGRESP).
    pub async fn recv_kind(&mut self, k: u8) -> RawPacket {
        loop {
            let p = self.recv().await;
            if p.kind() == k {
                return p;
            }
        }
    }

    /// The next packet within `within`.
    pub async fn recv_within(&mut self, within: Duration) -> Result<RawPacket, RawEnd> {
        use tokio::io::AsyncReadExt;
        let until = tokio::time::Instant::now() + within;
        loop {
            if let Some(p) = self.take_packet() {
                return Ok(p);
            }
            let mut chunk = [0u8; 65536];
            match tokio::time::timeout_at(until, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(RawEnd::Timeout),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(RawEnd::Closed),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads until the server closes the connection, returning the packets it sent first;
    /// panics if it is still open after `within`.
    pub async fn expect_close(&mut self, within: Duration) -> Vec<RawPacket> {
        let mut got = Vec::new();
        loop {
            match self.recv_within(within).await {
                Ok(p) => got.push(p),
                Err(RawEnd::Closed) => return got,
                Err(RawEnd::Timeout) => {
                    panic!("connection still open after {within:?}; received {got:?}")
                }
            }
        }
    }

    fn take_packet(&mut self) -> Option<RawPacket> {
        if self.buf.len() < 2 {
            return None;
        }
        let mut len = 0usize;
        let mut mult = 1usize;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len += usize::from(b & 0x7f) * mult;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            mult *= 128;
        }
        if self.buf.len() < i + len {
            return None;
        }
        let first = self.buf[0];
        let body = self.buf[i..i + len].to_vec();
        self.buf.drain(..i + len);
        Some(RawPacket { first, body })
    }
}

/// Subscribes a raw client to one filter and returns the SUBACK codes.
pub async fn raw_subscribe(raw: &mut Raw, pkid: u16, filter: &str, options: u8, v5: bool) -> u8 {
    let props = Props::new();
    raw.send(&subscribe(pkid, &[(filter, options)], v5.then_some(&props)))
        .await;
    let ack = raw.recv_kind(kind::SUBACK).await;
    assert_eq!(ack.pkid(), pkid);
    ack.suback_codes(v5)[0]
}
