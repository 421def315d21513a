//! A blocking raw AMQP 0-9-1 client: hand-built frames out (so tests can send malformed ones),
//! frames parsed with `amq-protocol` in. Every read has a deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use amq_protocol::frame::{parse_frame, AMQPFrame};
use amq_protocol::protocol::{channel, connection, AMQPClass};

/// The protocol header of AMQP 0-9-1.
pub const PROTOCOL_HEADER: &[u8] = b"AMQP\x00\x00\x09\x01";
/// Frame types (spec 4.2.3).
pub const FRAME_METHOD: u8 = 1;
pub const FRAME_HEADER: u8 = 2;
pub const FRAME_BODY: u8 = 3;
pub const FRAME_HEARTBEAT: u8 = 8;
const FRAME_END: u8 = 0xCE;

/// Method arguments, encoded in order (spec 4.2.5).
#[derive(Default)]
pub struct Args(Vec<u8>);

impl Args {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn short(mut self, s: &str) -> Self {
        self.0.push(u8::try_from(s.len()).expect("short string"));
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    pub fn long(mut self, b: &[u8]) -> Self {
        self.0
            .extend_from_slice(&u32::try_from(b.len()).expect("long").to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }
    /// Consecutive bits packed into one octet, first bit lowest.
    pub fn bits(mut self, bits: &[bool]) -> Self {
        let octet = bits
            .iter()
            .enumerate()
            .fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << i));
        self.0.push(octet);
        self
    }
    /// An already encoded field table (with its length prefix).
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn bytes(self) -> Vec<u8> {
        self.0
    }
}

/// A field-table value.
pub enum Value {
    LongStr(String),
    Bool(bool),
    Int(i32),
    /// An encoded nested table, length prefix included.
    Table(Vec<u8>),
}

/// Encodes a field table, length prefix included.
pub fn table(entries: &[(&str, Value)]) -> Vec<u8> {
    let body = table_body(entries);
    let mut out = (u32::try_from(body.len()).expect("table"))
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(&body);
    out
}

/// Encodes a field table's entries without the length prefix (AMQPLAIN's response format).
pub fn table_body(entries: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in entries {
        out.push(u8::try_from(name.len()).expect("field name"));
        out.extend_from_slice(name.as_bytes());
        match value {
            Value::LongStr(s) => {
                out.push(b'S');
                out.extend_from_slice(&(u32::try_from(s.len()).expect("str")).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Bool(b) => out.extend_from_slice(&[b't', u8::from(*b)]),
            Value::Int(i) => {
                out.push(b'I');
                out.extend_from_slice(&i.to_be_bytes());
            }
            Value::Table(t) => {
                out.push(b'F');
                out.extend_from_slice(t);
            }
        }
    }
    out
}

/// A table nested `depth` levels deep, built inside out: `{"n": {"n": ... {} ...}}`.
pub fn nested_table(depth: usize) -> Vec<u8> {
    let mut inner = table(&[]);
    for _ in 0..depth {
        inner = table(&[("n", Value::Table(inner))]);
    }
    inner
}

/// A frame: type, channel, payload, frame-end.
pub fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&(u32::try_from(payload.len()).expect("frame")).to_be_bytes());
    out.extend_from_slice(payload);
    out.push(FRAME_END);
    out
}

/// A method frame.
pub fn method(channel: u16, class: u16, method: u16, args: Args) -> Vec<u8> {
    let mut payload = class.to_be_bytes().to_vec();
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(&args.bytes());
    frame(FRAME_METHOD, channel, &payload)
}

/// A basic content header frame; `headers`, when given, is an encoded table.
pub fn content_header(channel: u16, body_size: u64, headers: Option<&[u8]>) -> Vec<u8> {
    let mut payload = Args::new().u16(60).u16(0).u64(body_size);
    payload = match headers {
        Some(t) => payload.u16(0x2000).raw(t),
        None => payload.u16(0),
    };
    frame(FRAME_HEADER, channel, &payload.bytes())
}

/// A heartbeat frame.
pub fn heartbeat() -> Vec<u8> {
    frame(FRAME_HEARTBEAT, 0, &[])
}

/// basic.publish with its content header and one body frame.
pub fn publish(channel: u16, exchange: &str, key: &str, body: &[u8]) -> Vec<u8> {
    let args = Args::new()
        .u16(0)
        .short(exchange)
        .short(key)
        .bits(&[false, false]);
    let mut out = method(channel, 60, 40, args);
    out.extend(content_header(channel, body.len() as u64, None));
    out.extend(frame(FRAME_BODY, channel, body));
    out
}

/// queue.declare (not passive, not durable, not exclusive, not auto-delete).
pub fn queue_declare(channel: u16, queue: &str, arguments: &[u8]) -> Vec<u8> {
    let args = Args::new()
        .u16(0)
        .short(queue)
        .bits(&[false, false, false, false, false])
        .raw(arguments);
    method(channel, 50, 10, args)
}

/// basic.consume with an empty tag (the server names it).
pub fn basic_consume(channel: u16, queue: &str, no_ack: bool) -> Vec<u8> {
    let args = Args::new()
        .u16(0)
        .short(queue)
        .short("")
        .bits(&[false, no_ack, false, false])
        .raw(&table(&[]));
    method(channel, 60, 20, args)
}

/// basic.get.
pub fn basic_get(channel: u16, queue: &str, no_ack: bool) -> Vec<u8> {
    method(
        channel,
        60,
        70,
        Args::new().u16(0).short(queue).bits(&[no_ack]),
    )
}

/// basic.ack.
pub fn basic_ack(channel: u16, tag: u64, multiple: bool) -> Vec<u8> {
    method(channel, 60, 80, Args::new().u64(tag).bits(&[multiple]))
}

/// What the raw client read.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "short-lived, matched by value in tests"
)]
pub enum Incoming {
    Frame(AMQPFrame),
    /// The peer closed the socket (or reset it).
    Eof,
    /// Nothing arrived before the deadline.
    Timeout,
}

/// How a connection ended.
#[derive(Debug, Default)]
pub struct Ending {
    /// The connection.close the server sent, if any.
    pub close: Option<connection::Close>,
    /// Whether the socket was closed before the deadline.
    pub eof: bool,
}

/// Negotiation choices for [`Raw::open`].
#[derive(Clone, Debug)]
pub struct Open {
    pub user: String,
    pub password: String,
    pub vhost: String,
    pub frame_max: u32,
    pub heartbeat: u16,
}

impl Default for Open {
    fn default() -> Self {
        Self {
            user: "guest".into(),
            password: "guest".into(),
            vhost: "/".into(),
            frame_max: 131_072,
            heartbeat: 0,
        }
    }
}

/// A raw client connection.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The connection.start the server sent, once read.
    pub start: Option<connection::Start>,
    /// The connection.tune the server sent, once read.
    pub tune: Option<connection::Tune>,
}

impl Raw {
    /// Connects the socket; nothing is sent.
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect_timeout(&addr, super::DEADLINE).expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            buf: Vec::new(),
            start: None,
            tune: None,
        }
    }

    /// Sends bytes; errors (the peer may have closed) are returned, not fatal.
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads up to `n` bytes that arrive before `deadline` (fewer if the socket closes).
    pub fn read_bytes(&mut self, n: usize, deadline: Duration) -> Vec<u8> {
        let until = Instant::now() + deadline;
        while self.buf.len() < n && self.fill(until) {}
        let n = n.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    /// Reads more bytes into the buffer; false on EOF, error or deadline.
    fn fill(&mut self, until: Instant) -> bool {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        self.stream.set_read_timeout(Some(left)).expect("timeout");
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(_) => false,
        }
    }

    /// Reads one frame, waiting at most `deadline`.
    pub fn read(&mut self, deadline: Duration) -> Incoming {
        let until = Instant::now() + deadline;
        loop {
            if let Some(frame) = self.take_frame() {
                return Incoming::Frame(frame);
            }
            if !self.fill(until) {
                return if Instant::now() >= until && self.socket_open() {
                    Incoming::Timeout
                } else {
                    Incoming::Eof
                };
            }
        }
    }

    /// Whether the socket is still open (a zero-timeout peek).
    fn socket_open(&self) -> bool {
        self.stream.set_nonblocking(true).expect("nonblocking");
        let mut b = [0u8; 1];
        let open = match self.stream.peek(&mut b) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == ErrorKind::WouldBlock,
        };
        self.stream.set_nonblocking(false).expect("blocking");
        open
    }

    fn take_frame(&mut self) -> Option<AMQPFrame> {
        if self.buf.len() < 7 {
            return None;
        }
        let size = u32::from_be_bytes([self.buf[3], self.buf[4], self.buf[5], self.buf[6]]);
        let total = 7 + size as usize + 1;
        if self.buf.len() < total {
            return None;
        }
        let bytes: Vec<u8> = self.buf.drain(..total).collect();
        let (_, frame) = parse_frame(bytes.as_slice()).expect("server sent a well-formed frame");
        Some(frame)
    }

    /// Reads frames until a method arrives, skipping heartbeats; panics on EOF or deadline.
    pub fn read_method(&mut self, deadline: Duration) -> (u16, AMQPClass) {
        let until = Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.read(left) {
                Incoming::Frame(AMQPFrame::Method(ch, m)) => return (ch, m),
                Incoming::Frame(AMQPFrame::Heartbeat) => continue,
                other => panic!("expected a method frame, got {other:?}"),
            }
        }
    }

    /// Sends the protocol header and reads connection.start.
    pub fn hello(&mut self) -> connection::Start {
        self.send(PROTOCOL_HEADER).expect("send header");
        match self.read_method(super::DEADLINE) {
            (0, AMQPClass::Connection(connection::AMQPMethod::Start(start))) => {
                self.start = Some(start.clone());
                start
            }
            other => panic!("expected connection.start, got {other:?}"),
        }
    }

    /// Sends connection.start-ok with the given mechanism and response.
    pub fn start_ok(&mut self, mechanism: &str, response: &[u8]) {
        let props = table(&[(
            "capabilities",
            Value::Table(table(&[
                ("authentication_failure_close", Value::Bool(true)),
                ("connection.blocked", Value::Bool(true)),
            ])),
        )]);
        let args = Args::new()
            .raw(&props)
            .short(mechanism)
            .long(response)
            .short("en_US");
        self.send(&method(0, 10, 11, args)).expect("send start-ok");
    }

    /// Reads connection.tune (panics on anything else).
    pub fn read_tune(&mut self) -> connection::Tune {
        match self.read_method(super::DEADLINE) {
            (0, AMQPClass::Connection(connection::AMQPMethod::Tune(tune))) => {
                self.tune = Some(tune.clone());
                tune
            }
            other => panic!("expected connection.tune, got {other:?}"),
        }
    }

    /// Sends tune-ok and connection.open; does not wait for open-ok.
    pub fn tune_ok_and_open(
        &mut self,
        channel_max: u16,
        frame_max: u32,
        heartbeat: u16,
        vhost: &str,
    ) {
        let tune_ok = Args::new().u16(channel_max).u32(frame_max).u16(heartbeat);
        self.send(&method(0, 10, 31, tune_ok))
            .expect("send tune-ok");
        let open = Args::new().short(vhost).short("").bits(&[false]);
        self.send(&method(0, 10, 40, open)).expect("send open");
    }

    /// A full handshake with PLAIN; panics unless connection.open-ok arrives.
    pub fn open(addr: SocketAddr, opts: &Open) -> Raw {
        let mut raw = Raw::connect(addr);
        raw.hello();
        raw.start_ok("PLAIN", &plain(&opts.user, &opts.password));
        let tune = raw.read_tune();
        raw.tune_ok_and_open(
            tune.channel_max,
            opts.frame_max,
            opts.heartbeat,
            &opts.vhost,
        );
        match raw.read_method(super::DEADLINE) {
            (0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(_))) => raw,
            other => panic!("expected connection.open-ok, got {other:?}"),
        }
    }

    /// Opens channel `id` and waits for open-ok.
    pub fn open_channel(&mut self, id: u16) {
        self.send(&method(id, 20, 10, Args::new().short("")))
            .expect("send channel.open");
        match self.read_method(super::DEADLINE) {
            (ch, AMQPClass::Channel(channel::AMQPMethod::OpenOk(_))) if ch == id => {}
            other => panic!("expected channel.open-ok, got {other:?}"),
        }
    }

    /// Bounds how long a send may block (the server may stop reading).
    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.stream
            .set_write_timeout(Some(timeout))
            .expect("write timeout");
    }

    /// Reads until channel.close arrives on `id` (skipping other frames), answers close-ok.
    pub fn read_channel_close(&mut self, id: u16) -> channel::Close {
        let until = Instant::now() + super::DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.read(left) {
                Incoming::Frame(AMQPFrame::Method(
                    ch,
                    AMQPClass::Channel(channel::AMQPMethod::Close(c)),
                )) if ch == id => {
                    self.send(&method(id, 20, 41, Args::new()))
                        .expect("send channel.close-ok");
                    return c;
                }
                Incoming::Frame(_) => {}
                other => panic!("expected channel.close on {id}, got {other:?}"),
            }
        }
    }

    /// Reads until the server closes the connection or `deadline` passes, answering a
    /// connection.close with close-ok.
    pub fn wait_closed(&mut self, deadline: Duration) -> Ending {
        let until = Instant::now() + deadline;
        let mut ending = Ending::default();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.read(left) {
                Incoming::Frame(AMQPFrame::Method(0, AMQPClass::Connection(m))) => {
                    if let connection::AMQPMethod::Close(close) = m {
                        ending.close = Some(close);
                        let _ = self.send(&method(0, 10, 51, Args::new()));
                    }
                }
                Incoming::Frame(_) => {}
                Incoming::Eof => {
                    ending.eof = true;
                    return ending;
                }
                Incoming::Timeout => return ending,
            }
        }
    }
}

/// A PLAIN response: authzid NUL authcid NUL password.
pub fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}
