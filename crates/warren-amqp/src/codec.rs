//! Frames from bytes and back, with the limits amq-protocol does not enforce.
//!
//! Grammar (AMQP 0-9-1 spec 4.2.2, 4.2.3):
//!
//! ```text
//! protocol-header = "AMQP" %d0 %d0 %d9 %d1
//! frame           = frame-type channel size payload frame-end
//! frame-type      = %d1 (method) / %d2 (content header) / %d3 (body) / %d8 (heartbeat)
//! channel         = short-uint
//! size            = long-uint            ; payload octets
//! frame-end       = %xCE
//! ```
//!
//! Checks made here, before anything is buffered or parsed:
//! - the 7-octet header is read first and `size + 8` is checked against the negotiated
//!   `frame-max` (spec 4.2.3: frame-max counts the whole frame), so an oversized frame is
//!   refused before its payload arrives;
//! - field tables in method arguments and the content header's `headers` are scanned by
//!   [`crate::guard`] with a depth limit before amq-protocol's recursive parser sees them;
//! - the frame-end octet must be `%xCE` (spec 4.2.3, "MUST treat ... as a fatal error").
//!
//! Deviations: body frames are cut out of the read buffer as [`Bytes`] instead of going
//! through amq-protocol (which copies them into a `Vec`); `basic.publish` is read by hand
//! (tests hold it to amq-protocol's result on every input), the content header is read and
//! written by hand ([`crate::content`]), and `basic.deliver` is written by hand (tests hold
//! them to amq-protocol's results and bytes); unknown class ids are answered with
//! 540 NOT_IMPLEMENTED and undecodable method arguments with 502 SYNTAX_ERROR.
//!
//! Pure: no I/O, no clock, no logging. `Ok(None)` means "need more bytes".

use amq_protocol::frame::{gen_frame, AMQPFrame, WriteContext};
use amq_protocol::protocol::basic::{AMQPMethod, Publish};
use amq_protocol::protocol::{parse_class, AMQPClass};
use bytes::{BufMut, Bytes, BytesMut};
use warren_model::{ExchangeName, Properties, RoutingKey};

use crate::content::{self, ContentHeader};
use crate::errors::{AmqpError, FRAME_ERROR, NOT_IMPLEMENTED, SYNTAX_ERROR};
use crate::guard::{self, GuardError};

/// The only protocol header Warren speaks, and what it answers to any other.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

const FRAME_METHOD: u8 = 1;
pub(crate) const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
pub(crate) const FRAME_END: u8 = 0xCE;
/// Frame type, channel and size.
pub(crate) const HEADER_LEN: usize = 7;
/// Header plus frame-end.
const OVERHEAD: usize = 8;
pub(crate) const BASIC_CLASS: u16 = 60;
const BASIC_DELIVER: u16 = 60;

/// One decoded frame.
///
/// Kept small (80 bytes): a frame is moved from the decoder to its handler, and a move of
/// more than 128 bytes is a call to `memcpy`, which was a twentieth of the AMQP publish path
/// when amq-protocol's method enum (112 bytes) sat in it unboxed. The method of every
/// published message has its own variant, so only the other methods are boxed.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `basic.publish`.
    Publish {
        /// Channel number.
        channel: u16,
        /// Its arguments.
        publish: PublishMethod,
    },
    /// Any other method; `args` is the raw payload, for fields amq-protocol drops.
    Method {
        /// Channel number.
        channel: u16,
        /// The decoded method.
        method: Box<AMQPClass>,
        /// The raw payload (class id, method id, arguments).
        args: Bytes,
    },
    /// A content header.
    Header {
        /// Channel number.
        channel: u16,
        /// The decoded header.
        header: ContentHeader,
    },
    /// A content body chunk, shared with the read buffer.
    Body {
        /// Channel number.
        channel: u16,
        /// The chunk.
        payload: Bytes,
    },
    /// A heartbeat (valid only on channel 0).
    Heartbeat {
        /// Channel number.
        channel: u16,
    },
}

/// The protocol header check: `None` until decided, then whether it was ours. A mismatch is
/// reported as soon as the bytes seen differ, so a client need not send eight octets.
pub fn read_protocol_header(input: &mut BytesMut) -> Option<bool> {
    let seen = input.len().min(PROTOCOL_HEADER.len());
    let (Some(got), Some(want)) = (input.get(..seen), PROTOCOL_HEADER.get(..seen)) else {
        return None;
    };
    if got != want {
        return Some(false);
    }
    if seen < PROTOCOL_HEADER.len() {
        return None;
    }
    let _ = input.split_to(PROTOCOL_HEADER.len());
    Some(true)
}

/// Decodes one frame from the front of `input`, refusing frames longer than `frame_max`.
pub fn decode(input: &mut BytesMut, frame_max: u32) -> Result<Option<Frame>, AmqpError> {
    let Some((kind, channel, size)) = peek_header(input) else {
        return Ok(None);
    };
    if !matches!(
        kind,
        FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
    ) {
        return Err(AmqpError::hard(
            FRAME_ERROR,
            format!("unknown frame type {kind}"),
        ));
    }
    let total = frame_len(size, frame_max)?;
    if input.len() < total {
        input.reserve(total - input.len());
        return Ok(None);
    }
    let frame = input.split_to(total).freeze();
    if frame.last() != Some(&FRAME_END) {
        return Err(AmqpError::hard(FRAME_ERROR, "frame end octet missing"));
    }
    let payload = frame.slice(HEADER_LEN..total - 1);
    decode_payload(kind, channel, payload).map(Some)
}

fn peek_header(input: &[u8]) -> Option<(u8, u16, u32)> {
    let head = input.get(..HEADER_LEN)?;
    let kind = *head.first()?;
    let channel = u16::from_be_bytes([*head.get(1)?, *head.get(2)?]);
    let size = u32::from_be_bytes([*head.get(3)?, *head.get(4)?, *head.get(5)?, *head.get(6)?]);
    Some((kind, channel, size))
}

fn frame_len(size: u32, frame_max: u32) -> Result<usize, AmqpError> {
    let total = usize::try_from(size)
        .ok()
        .and_then(|s| s.checked_add(OVERHEAD));
    let max = usize::try_from(frame_max).unwrap_or(usize::MAX);
    match total {
        Some(total) if frame_max == 0 || total <= max => Ok(total),
        _ => Err(AmqpError::hard(
            FRAME_ERROR,
            format!("frame size {size} exceeds negotiated frame_max {frame_max}"),
        )),
    }
}

fn decode_payload(kind: u8, channel: u16, payload: Bytes) -> Result<Frame, AmqpError> {
    match kind {
        FRAME_METHOD => decode_method(channel, payload),
        FRAME_HEADER => decode_header(channel, &payload),
        FRAME_BODY => Ok(Frame::Body { channel, payload }),
        _ => Ok(Frame::Heartbeat { channel }),
    }
}

fn decode_method(channel: u16, args: Bytes) -> Result<Frame, AmqpError> {
    if let Some(publish) = decode_publish(&args) {
        return Ok(Frame::Publish { channel, publish });
    }
    guard::check_method(&args).map_err(guard_error)?;
    match parse_class(args.as_ref()) {
        Ok(([], AMQPClass::Basic(AMQPMethod::Publish(publish)))) => Ok(Frame::Publish {
            channel,
            publish: PublishMethod::try_from(publish)?,
        }),
        Ok(([], method)) => Ok(Frame::Method {
            channel,
            method: Box::new(method),
            args,
        }),
        _ => Err(undecodable_method(&args)),
    }
}

/// The arguments of a `basic.publish`, with the names Warren routes by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishMethod {
    /// The exchange; empty for the default exchange.
    pub exchange: ExchangeName,
    /// The routing key.
    pub routing_key: RoutingKey,
    /// Return the message if it routes nowhere.
    pub mandatory: bool,
    /// Return the message if no consumer takes it at once (refused: RabbitMQ dropped it).
    pub immediate: bool,
}

/// The same arguments as amq-protocol decodes them.
impl TryFrom<Publish> for PublishMethod {
    type Error = AmqpError;
    fn try_from(publish: Publish) -> Result<Self, AmqpError> {
        Ok(Self {
            exchange: ExchangeName::try_from(publish.exchange.as_str())?,
            routing_key: RoutingKey::try_from(publish.routing_key.as_str())?,
            mandatory: publish.mandatory,
            immediate: publish.immediate,
        })
    }
}

/// `basic.publish`, the method of every published message, read here: amq-protocol's parser
/// builds a table of owned flag names for each one, a fifth of the publisher's time, and its
/// names are strings allocated for each message. Anything but a well-formed publish goes to
/// amq-protocol, and the tests hold both to the same result.
fn decode_publish(args: &[u8]) -> Option<PublishMethod> {
    // Class 60 (basic), method 40 (publish), then the reserved short.
    let rest = args.strip_prefix(&[0, 60, 0, 40])?.get(2..)?;
    let (exchange, rest) = short_string(rest)?;
    let (routing_key, rest) = short_string(rest)?;
    let [bits] = rest else {
        return None;
    };
    Some(PublishMethod {
        exchange: ExchangeName::try_from(exchange).ok()?,
        routing_key: RoutingKey::try_from(routing_key).ok()?,
        mandatory: bits & 1 != 0,
        immediate: bits & 2 != 0,
    })
}

/// A `shortstr`: a length octet, then that many octets of UTF-8.
fn short_string(input: &[u8]) -> Option<(&str, &[u8])> {
    let (&len, rest) = input.split_first()?;
    let (text, rest) = rest.split_at_checked(usize::from(len))?;
    Some((std::str::from_utf8(text).ok()?, rest))
}

fn undecodable_method(args: &[u8]) -> AmqpError {
    let class = args
        .get(..2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(u16::from_be_bytes);
    match class {
        Some(id) if !matches!(id, 10 | 20 | 30 | 40 | 50 | 60 | 85 | 90) => {
            AmqpError::hard(NOT_IMPLEMENTED, format!("unknown class id {id}"))
        }
        _ => AmqpError::hard(SYNTAX_ERROR, "cannot decode method frame"),
    }
}

fn decode_header(channel: u16, payload: &[u8]) -> Result<Frame, AmqpError> {
    guard::check_content_header(payload).map_err(guard_error)?;
    match content::read_header(payload) {
        Some(header) => Ok(Frame::Header { channel, header }),
        None => Err(AmqpError::hard(
            SYNTAX_ERROR,
            "cannot decode content header frame",
        )),
    }
}

fn guard_error(err: GuardError) -> AmqpError {
    match err {
        GuardError::TooDeep => AmqpError::hard(
            SYNTAX_ERROR,
            format!(
                "field table nested deeper than {}",
                warren_model::MAX_TABLE_DEPTH
            ),
        ),
        GuardError::Malformed => AmqpError::hard(SYNTAX_ERROR, "malformed field table"),
    }
}

/// Encodes frames into an output buffer, reusing one scratch buffer for amq-protocol's
/// generator (methods, and the `headers` table of a content header).
#[derive(Debug, Default)]
pub struct FrameWriter {
    scratch: Vec<u8>,
}

/// Encoding failed (amq-protocol's generator refused a value).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EncodeError;

impl FrameWriter {
    /// Appends a method frame.
    pub fn method(
        &mut self,
        out: &mut BytesMut,
        channel: u16,
        method: AMQPClass,
    ) -> Result<(), EncodeError> {
        self.generate(out, &AMQPFrame::Method(channel, method))
    }

    /// Appends a `basic.deliver` method frame, written directly: amq-protocol's generator would
    /// need an owned copy of each of its three short strings, three allocations per delivery.
    pub fn deliver(out: &mut BytesMut, channel: u16, deliver: &DeliverFields<'_>) {
        let [tag, exchange, key] = [deliver.consumer_tag, deliver.exchange, deliver.routing_key]
            .map(|text| cut_short(text).as_bytes());
        // class and method ids, three length octets, the delivery tag and the flag octet.
        let size = 4 + 3 + 8 + 1 + tag.len() + exchange.len() + key.len();
        out.reserve(size + OVERHEAD);
        out.put_u8(FRAME_METHOD);
        out.put_u16(channel);
        // At most 781: three short strings and 16 octets.
        out.put_u32(u32::try_from(size).unwrap_or(u32::MAX));
        out.put_u16(BASIC_CLASS);
        out.put_u16(BASIC_DELIVER);
        put_short(out, tag);
        out.put_u64(deliver.delivery_tag);
        out.put_u8(u8::from(deliver.redelivered));
        put_short(out, exchange);
        put_short(out, key);
        out.put_u8(FRAME_END);
    }

    /// Appends a content header and the body, split into frames of at most `frame_max`.
    pub fn content(
        &mut self,
        out: &mut BytesMut,
        channel: u16,
        properties: &Properties,
        body: &[u8],
        frame_max: u32,
    ) -> Result<(), EncodeError> {
        let body_size = u64::try_from(body.len()).map_err(|_| EncodeError)?;
        content::write_header(out, channel, body_size, properties, &mut self.scratch)?;
        let max = usize::try_from(frame_max).unwrap_or(usize::MAX);
        let chunk = max.saturating_sub(OVERHEAD).max(1);
        for piece in body.chunks(chunk) {
            write_body_frame(out, channel, piece)?;
        }
        Ok(())
    }

    /// Appends a heartbeat frame.
    pub fn heartbeat(out: &mut BytesMut) {
        out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
    }

    fn generate(&mut self, out: &mut BytesMut, frame: &AMQPFrame) -> Result<(), EncodeError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let result = gen_frame(frame)(WriteContext::from(scratch));
        match result {
            Ok(ctx) => {
                out.extend_from_slice(&ctx.write);
                self.scratch = ctx.write;
                Ok(())
            }
            Err(_) => Err(EncodeError),
        }
    }
}

/// The arguments of a `basic.deliver`, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct DeliverFields<'a> {
    /// The consumer's tag.
    pub consumer_tag: &'a str,
    /// The channel's tag for this delivery.
    pub delivery_tag: u64,
    /// Delivered before.
    pub redelivered: bool,
    /// The exchange the message was published to.
    pub exchange: &'a str,
    /// Its routing key.
    pub routing_key: &'a str,
}

/// `text` cut to a short string's 255 octets, at a character boundary.
pub fn cut_short(text: &str) -> &str {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// A short string: `bytes` is at most 255 octets ([`cut_short`]).
pub(crate) fn put_short(out: &mut BytesMut, bytes: &[u8]) {
    out.put_u8(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(bytes);
}

fn write_body_frame(out: &mut BytesMut, channel: u16, piece: &[u8]) -> Result<(), EncodeError> {
    let len = u32::try_from(piece.len()).map_err(|_| EncodeError)?;
    out.reserve(piece.len() + OVERHEAD);
    out.put_u8(FRAME_BODY);
    out.put_u16(channel);
    out.put_u32(len);
    out.extend_from_slice(piece);
    out.put_u8(FRAME_END);
    Ok(())
}
