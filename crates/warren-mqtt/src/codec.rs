//! MQTT packets on the wire, behind a neutral packet type: the rest of the adapter never sees
//! which protocol version a connection speaks, except where the two differ in meaning.
//!
//! Grammar (MQTT 5 section 2; 3.1.1 section 2): a packet is a fixed header (one byte of type
//! and flags, then the Remaining Length as a 1-4 byte varint, MQTT-1.5.5) followed by that many
//! bytes. The first packet is CONNECT (MQTT-3.1.0-1), whose protocol name and level choose the
//! version: `MQIsdp`/3 is 3.1, `MQTT`/4 is 3.1.1, `MQTT`/5 is 5.0.
//!
//! The wire format itself is `rmqtt-codec` (see docs/adr/0002-mqtt-codec.md). This module adds:
//! - the size guard: the varint is read here and the packet refused when its total size
//!   (fixed header included, as MQTT 5 section 3.1.2.11.4 counts it) exceeds the limit, before
//!   a byte of its body is buffered; a varint over 4 bytes is malformed (MQTT-1.5.5);
//! - framing: the codec is only ever handed one whole packet, so its internal state machine
//!   cannot straddle two reads;
//! - version detection that tells an unknown protocol *name* (close without CONNACK,
//!   MQTT-3.1.2-1) from an unknown *level* (CONNACK 0x01 / 0x84, MQTT-3.1.2-2);
//! - outbound size: a packet larger than the client's Maximum Packet Size is dropped, not sent
//!   (MQTT-3.1.2-24).
//!
//! Deviations: the codec refuses an empty client id with clean start 0 in MQTT 5 too (we answer
//! CONNACK 0x85, which the spec permits); a user property repeated in one packet is kept.

use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use rmqtt_codec::error::DecodeError;
use rmqtt_codec::{v3, v5};
use tokio_util::codec::{Decoder, Encoder};

use crate::errors::MqttError;

pub use rmqtt_codec::types::{Publish, QoS};
pub use rmqtt_codec::v5::{PublishProperties, UserProperties};

/// The protocol version a connection speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Version {
    /// 3.1 (`MQIsdp`, level 3).
    V31,
    /// 3.1.1 (level 4).
    V311,
    /// 5.0.
    V5,
}

impl Version {
    /// True for 3.1 and 3.1.1.
    pub fn is_v3(self) -> bool {
        self != Self::V5
    }
}

/// A will message as CONNECT carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WillPacket {
    /// Its topic, not yet validated.
    pub topic: String,
    /// Its payload.
    pub payload: Bytes,
    /// Its QoS.
    pub qos: QoS,
    /// Its retain flag.
    pub retain: bool,
    /// MQTT 5 Will Delay Interval.
    pub delay_secs: u32,
    /// MQTT 5 will properties (topic alias and subscription ids unused).
    pub properties: PublishProperties,
}

/// CONNECT, for every version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectPacket {
    /// The version it asked for.
    pub version: Version,
    /// Clean session (3.x) / clean start (5).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// As sent; may be empty.
    pub client_id: String,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
    /// The will.
    pub will: Option<WillPacket>,
    /// MQTT 5 Session Expiry Interval (3.x: 0).
    pub session_expiry: u32,
    /// The client's Receive Maximum (65535 when absent).
    pub receive_max: u16,
    /// The client's Maximum Packet Size.
    pub max_packet_size: Option<u32>,
    /// The client's Topic Alias Maximum.
    pub topic_alias_max: u16,
    /// MQTT 5 Authentication Method.
    pub auth_method: Option<String>,
}

/// SUBSCRIBE options for one filter (3.x: QoS only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// Do not deliver the subscriber's own publishes.
    pub no_local: bool,
    /// Keep the retain flag of forwarded messages.
    pub retain_as_published: bool,
    /// 0 send retained at subscribe, 1 only for a new subscription, 2 never.
    pub retain_handling: u8,
}

/// SUBSCRIBE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribePacket {
    /// Packet id.
    pub id: u16,
    /// MQTT 5 Subscription Identifier.
    pub sub_id: Option<u32>,
    /// Filters, not yet validated, with their options.
    pub filters: Vec<(String, SubOptions)>,
}

/// A packet from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// CONNECT.
    Connect(Box<ConnectPacket>),
    /// PUBLISH.
    Publish(Box<Publish>),
    /// PUBACK.
    PubAck(u16),
    /// PUBREC.
    PubRec(u16),
    /// PUBREL.
    PubRel(u16),
    /// PUBCOMP.
    PubComp(u16),
    /// SUBSCRIBE.
    Subscribe(SubscribePacket),
    /// UNSUBSCRIBE.
    Unsubscribe {
        /// Packet id.
        id: u16,
        /// Filters.
        filters: Vec<String>,
    },
    /// PINGREQ.
    PingReq,
    /// DISCONNECT (3.x: reason 0).
    Disconnect {
        /// Reason code.
        reason: u8,
        /// MQTT 5 Session Expiry Interval update.
        session_expiry: Option<u32>,
    },
    /// AUTH.
    Auth,
    /// A packet only a server sends (CONNACK, SUBACK, ...).
    ServerOnly,
}

/// A 3.x PUBLISH to write, borrowing its topic and payload: a subscriber's deliveries are
/// written from the message itself, without a [`Publish`] built, boxed and dropped for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishRef<'a> {
    /// Duplicate delivery.
    pub dup: bool,
    /// Retain flag.
    pub retain: bool,
    /// QoS.
    pub qos: QoS,
    /// Topic name.
    pub topic: &'a str,
    /// Packet id (QoS 1 and 2).
    pub packet_id: Option<NonZeroU16>,
    /// Payload.
    pub payload: &'a [u8],
}

impl<'a> PublishRef<'a> {
    /// The 3.x fields of `publish` (its properties, a 5.0 matter, are not written in 3.x).
    pub fn of(publish: &'a Publish) -> Self {
        Self {
            dup: publish.dup,
            retain: publish.retain,
            qos: publish.qos,
            topic: &publish.topic,
            packet_id: publish.packet_id,
            payload: &publish.payload,
        }
    }
}

/// CONNACK, for every version; `code` is an MQTT 5 reason code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnAckPacket {
    /// Session Present.
    pub session_present: bool,
    /// MQTT 5 reason code (translated for 3.x).
    pub code: u8,
    /// Session Expiry Interval when the server changed it.
    pub session_expiry: Option<u32>,
    /// Receive Maximum.
    pub receive_max: u16,
    /// Maximum Packet Size.
    pub max_packet_size: Option<u32>,
    /// Assigned Client Identifier.
    pub assigned_client_id: Option<String>,
    /// Topic Alias Maximum.
    pub topic_alias_max: u16,
    /// Server Keep Alive.
    pub server_keep_alive: Option<u16>,
    /// Reason String.
    pub reason_string: Option<String>,
}

/// A packet to the client; codes are MQTT 5 reason codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// CONNACK.
    ConnAck(Box<ConnAckPacket>),
    /// PUBLISH.
    Publish(Box<Publish>),
    /// PUBACK.
    PubAck(u16, u8),
    /// PUBREC.
    PubRec(u16, u8),
    /// PUBREL.
    PubRel(u16, u8),
    /// PUBCOMP.
    PubComp(u16, u8),
    /// SUBACK: one code per filter (granted QoS or an error), and a Reason String (MQTT 5)
    /// explaining the first refusal.
    SubAck(u16, Vec<u8>, Option<String>),
    /// UNSUBACK: one code per filter (3.x sends none).
    UnsubAck(u16, Vec<u8>),
    /// PINGRESP.
    PingResp,
    /// DISCONNECT (MQTT 5 only; 3.x servers just close).
    Disconnect(u8, Option<String>),
}

/// The total size of the packet at the head of `buf`, once its fixed header is complete;
/// refuses sizes above `max` from the header alone.
pub fn frame_length(buf: &[u8], max: u32) -> Result<Option<usize>, MqttError> {
    let mut remaining: u64 = 0;
    for i in 0..4usize {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let total = remaining + 2 + i as u64;
            if total > u64::from(max) {
                return Err(MqttError::TooLarge { size: total, max });
            }
            return Ok(usize::try_from(total).ok());
        }
    }
    Err(MqttError::Malformed(
        "remaining length over 4 bytes (MQTT-1.5.5)".into(),
    ))
}

/// The version a CONNECT packet (`frame`, whole) asks for.
pub fn detect_version(frame: &[u8]) -> Result<Version, MqttError> {
    if frame.first() != Some(&0x10) {
        return Err(MqttError::Protocol(
            "first packet must be CONNECT (MQTT-3.1.0-1)".into(),
        ));
    }
    let header = 1 + frame.iter().skip(1).take_while(|b| *b & 0x80 != 0).count() + 1;
    let body = frame.get(header..).unwrap_or_default();
    let name_len = match body {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => return Err(MqttError::Malformed("short CONNECT".into())),
    };
    let name = body.get(2..2 + name_len);
    let level = body.get(2 + name_len).copied();
    match (name, level) {
        (Some(b"MQTT"), Some(4)) => Ok(Version::V311),
        (Some(b"MQTT"), Some(5)) => Ok(Version::V5),
        (Some(b"MQIsdp"), Some(3)) => Ok(Version::V31),
        (Some(b"MQTT" | b"MQIsdp"), Some(_)) => Err(MqttError::UnsupportedVersion),
        (Some(_), Some(_)) => Err(MqttError::Protocol(
            "unknown protocol name (MQTT-3.1.2-1)".into(),
        )),
        _ => Err(MqttError::Malformed("short CONNECT".into())),
    }
}

/// CONNACK refusing an unknown protocol level, in the 3.1.1 format every version reads.
pub fn unsupported_version_connack() -> [u8; 4] {
    [0x20, 0x02, 0x00, 0x01]
}

fn decode_error(e: DecodeError) -> MqttError {
    match e {
        DecodeError::InvalidClientId => {
            MqttError::ClientId("empty client id without clean session".into())
        }
        DecodeError::UnsupportedProtocolLevel => MqttError::UnsupportedVersion,
        DecodeError::InvalidTopicName => MqttError::TopicName("empty topic name".into()),
        DecodeError::MaxSizeExceeded { size, max } => MqttError::TooLarge {
            size: u64::from(size),
            max,
        },
        other => MqttError::Malformed(other.to_string()),
    }
}

fn id(n: NonZeroU16) -> u16 {
    n.get()
}

fn nz(n: u16) -> Result<NonZeroU16, MqttError> {
    NonZeroU16::new(n).ok_or_else(|| MqttError::Protocol("packet id 0".into()))
}

/// One connection's codec: version, size limits, and the wire codec for that version.
#[derive(Debug)]
pub struct Codec {
    version: Option<Version>,
    v3: v3::Codec,
    v5: v5::Codec,
    max_in: u32,
    max_out: Option<u32>,
}

impl Codec {
    /// A codec refusing inbound packets above `max_packet_size` bytes.
    pub fn new(max_packet_size: u32) -> Self {
        Self {
            version: None,
            v3: v3::Codec::new(0),
            v5: v5::Codec::new(0, 0),
            max_in: max_packet_size,
            max_out: None,
        }
    }

    /// The version, once CONNECT was read.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The client's Maximum Packet Size: larger outbound packets are dropped.
    pub fn set_max_outbound(&mut self, max: Option<u32>) {
        self.max_out = max;
    }

    /// The next whole packet in `input`, `Ok(None)` until one is complete.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Inbound>, MqttError> {
        let Some(len) = frame_length(input, self.max_in)? else {
            return Ok(None);
        };
        if input.len() < len {
            input.reserve(len - input.len());
            return Ok(None);
        }
        if let Some(ack) = self.version.and_then(|_| hot::plain_puback(input)) {
            return Ok(Some(ack));
        }
        if self.version.is_some_and(Version::is_v3) {
            if let Some(publish) = hot::publish_v3_in(input, len) {
                return publish.map(Some);
            }
        }
        let mut frame = input.split_to(len);
        let version = match self.version {
            Some(v) => v,
            None => {
                let v = detect_version(&frame)?;
                self.version = Some(v);
                v
            }
        };
        match version {
            Version::V5 => self.decode_v5(&mut frame),
            Version::V31 | Version::V311 => self.decode_v3(&mut frame, version),
        }
    }

    fn decode_v3(
        &mut self,
        frame: &mut BytesMut,
        version: Version,
    ) -> Result<Option<Inbound>, MqttError> {
        let packet = self.v3.decode(frame).map_err(decode_error)?;
        let Some((packet, _)) = packet else {
            return Err(MqttError::Malformed("truncated packet".into()));
        };
        Ok(Some(from_v3(packet, version)))
    }

    fn decode_v5(&mut self, frame: &mut BytesMut) -> Result<Option<Inbound>, MqttError> {
        // The codec consumes the frame, so keep its head (where the properties are) in case
        // the codec's verdict needs refining; a stack copy costs less than a clone.
        let mut head = [0u8; refine::HEAD];
        let head_len = frame.len().min(refine::HEAD);
        for (to, from) in head.iter_mut().zip(frame.iter()) {
            *to = *from;
        }
        let packet = self.v5.decode(frame).map_err(|e| match e {
            DecodeError::MalformedPacket => {
                refine::refine(head.get(..head_len).unwrap_or_default())
                    .unwrap_or_else(|| decode_error(e))
            }
            other => decode_error(other),
        })?;
        let Some((packet, _)) = packet else {
            return Err(MqttError::Malformed("truncated packet".into()));
        };
        Ok(Some(from_v5(packet)))
    }

    /// Appends `packet` to `out`; `Ok(false)` when it was dropped for exceeding the client's
    /// Maximum Packet Size (or has no 3.x form, like DISCONNECT).
    pub fn encode(&mut self, packet: Outbound, out: &mut BytesMut) -> Result<bool, MqttError> {
        let before = out.len();
        let encode_error = |e| MqttError::Malformed(format!("encode: {e}"));
        let written = match (self.version, packet) {
            (Some(Version::V5), packet) => {
                let p = to_v5(packet)?;
                self.v5.encode(p, out).map_err(encode_error)?;
                true
            }
            (_, Outbound::Publish(p)) => {
                hot::publish_v3(&PublishRef::of(&p), out)?;
                true
            }
            (_, packet) => match to_v3(packet)? {
                Some(p) => {
                    self.v3.encode(p, out).map_err(encode_error)?;
                    true
                }
                None => false,
            },
        };
        Ok(written && self.within_max_outbound(out, before))
    }

    /// Appends a 3.x PUBLISH as [`Codec::encode`] would (an error for MQTT 5, whose PUBLISH
    /// carries properties: use `encode`).
    pub fn encode_publish_v3(
        &mut self,
        publish: &PublishRef<'_>,
        out: &mut BytesMut,
    ) -> Result<bool, MqttError> {
        if self.version == Some(Version::V5) {
            return Err(MqttError::Malformed(
                "encode: a 3.x PUBLISH on MQTT 5".into(),
            ));
        }
        let before = out.len();
        hot::publish_v3(publish, out)?;
        Ok(self.within_max_outbound(out, before))
    }

    /// False, with the packet written from `before` taken back, when it exceeds the client's
    /// Maximum Packet Size.
    fn within_max_outbound(&self, out: &mut BytesMut, before: usize) -> bool {
        let size = out.len() - before;
        if self.max_out.is_some_and(|max| size as u64 > u64::from(max)) {
            out.truncate(before);
            return false;
        }
        true
    }
}

mod convert_v3;
mod convert_v5;
mod hot;
mod refine;
use convert_v3::{from_v3, to_v3};
use convert_v5::{from_v5, to_v5};
