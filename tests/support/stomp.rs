//! Support for Warren's STOMP suites: the broker under test and a small STOMP client over
//! tokio. The client has its own frame reader (not the broker's codec), so the suites check the
//! broker's bytes against an independent reading of the spec; it also sends raw bytes for what
//! no well-behaved client sends.
//!
//! The broker is the one at `WARREN_IT_STOMP_ADDR` (host:port, e.g. RabbitMQ's 61614) when set,
//! else an in-process Warren. Cross-protocol tests also need `WARREN_IT_AMQP_URL` (and
//! `WARREN_IT_MQTT_ADDR`) naming the same broker; with only some set they are skipped.

#![allow(dead_code, unused_imports)]

use std::collections::VecDeque;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_testkit::TestBroker;

pub use warren_it::{unique, DEADLINE};

/// How long a test listens to show that something does not arrive.
pub const QUIET: Duration = Duration::from_millis(300);

/// The broker a test talks to; an in-process broker lives as long as this value.
pub enum StompTarget {
    /// A broker started elsewhere, with its AMQP URL and MQTT address when known.
    External {
        stomp: SocketAddr,
        amqp: Option<String>,
        mqtt: Option<SocketAddr>,
    },
    /// Warren, in this process.
    Local(TestBroker),
}

fn env_addr(name: &str) -> Option<SocketAddr> {
    let text = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    text.to_socket_addrs().ok()?.next()
}

/// The broker under test: `WARREN_IT_STOMP_ADDR` if set, else a fresh in-process Warren.
pub fn target() -> StompTarget {
    match env_addr("WARREN_IT_STOMP_ADDR") {
        Some(stomp) => StompTarget::External {
            stomp,
            amqp: std::env::var("WARREN_IT_AMQP_URL")
                .ok()
                .filter(|u| !u.is_empty()),
            mqtt: env_addr("WARREN_IT_MQTT_ADDR"),
        },
        None => StompTarget::Local(TestBroker::start()),
    }
}

/// An in-process Warren only (tests of Warren's own limits and settings); `None` when the
/// suite runs against an external broker, and the test is skipped.
pub fn warren_only() -> Option<StompTarget> {
    match target() {
        t @ StompTarget::Local(_) => Some(t),
        StompTarget::External { .. } => {
            eprintln!("skipped: Warren-specific behaviour");
            None
        }
    }
}

impl StompTarget {
    /// The STOMP listener.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::External { stomp, .. } => *stomp,
            Self::Local(b) => b.stomp_addr(),
        }
    }

    /// The same broker's AMQP URL, if known.
    pub fn amqp_url(&self) -> Option<String> {
        match self {
            Self::External { amqp, .. } => amqp.clone(),
            Self::Local(b) => Some(b.amqp_url()),
        }
    }

    /// The same broker's MQTT listener, if known.
    pub fn mqtt_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::External { mqtt, .. } => *mqtt,
            Self::Local(b) => Some(b.mqtt_addr()),
        }
    }

    /// A 1.2 client logged in as guest on `/`.
    pub async fn client(&self) -> StompClient {
        self.client_version("1.2").await
    }

    /// A client that offered `accept-version: versions`.
    pub async fn client_version(&self, versions: &str) -> StompClient {
        let mut c = StompClient::open(self.addr()).await;
        let connected = c
            .connect(&[("accept-version", versions), ("host", "/")])
            .await;
        assert_eq!(connected.command, "CONNECTED", "{connected:?}");
        c
    }
}

/// A frame as the test client reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    /// The first value of `name` (repeated headers: the first wins).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A STOMP connection.
pub struct StompClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Frames read while waiting for a RECEIPT, handed out by the next `recv`.
    pending: VecDeque<Frame>,
    version: String,
    receipts: u64,
    /// Heart-beat EOLs received between frames.
    pub heartbeats: usize,
}

fn escape(text: &str, version: &str) -> String {
    if version == "1.0" {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            ':' => out.push_str("\\c"),
            '\r' if version == "1.2" => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('c') => out.push(':'),
            Some('\\') => out.push('\\'),
            other => panic!("broker sent an undefined escape: \\{other:?}"),
        }
    }
    out
}

impl StompClient {
    /// A TCP connection, nothing sent yet.
    pub async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to STOMP listener");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buf: Vec::new(),
            pending: VecDeque::new(),
            version: "1.0".into(),
            receipts: 0,
            heartbeats: 0,
        }
    }

    /// Sends CONNECT with `headers` (guest/guest unless given) and returns the reply.
    pub async fn connect(&mut self, headers: &[(&str, &str)]) -> Frame {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !headers.iter().any(|(n, _)| *n == "login") {
            all.push(("login", "guest"));
            all.push(("passcode", "guest"));
        }
        self.frame("CONNECT", &all, b"").await;
        let reply = self.recv().await;
        if let Some(v) = reply.header("version") {
            if reply.command == "CONNECTED" {
                self.version = v.to_owned();
            }
        }
        reply
    }

    /// The negotiated version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Writes raw bytes.
    pub async fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Writes a frame, escaping headers for the negotiated version (never for CONNECT).
    pub async fn frame(&mut self, command: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut out = format!("{command}\n").into_bytes();
        let version = if command == "CONNECT" || command == "STOMP" {
            "1.0"
        } else {
            &self.version
        };
        for (n, v) in headers {
            out.extend_from_slice(
                format!("{}:{}\n", escape(n, version), escape(v, version)).as_bytes(),
            );
        }
        out.push(b'\n');
        out.extend_from_slice(body);
        out.push(0);
        self.raw(&out).await;
    }

    /// SEND with `headers` besides `destination`.
    pub async fn send_with(&mut self, destination: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut all = vec![("destination", destination)];
        all.extend_from_slice(headers);
        self.frame("SEND", &all, body).await;
    }

    /// SEND.
    pub async fn send(&mut self, destination: &str, body: &str) {
        self.send_with(destination, &[], body.as_bytes()).await;
    }

    /// Sends a frame with a fresh `receipt` header and waits for its RECEIPT.
    pub async fn with_receipt(&mut self, command: &str, headers: &[(&str, &str)], body: &[u8]) {
        self.receipts += 1;
        let id = format!("r-{}", self.receipts);
        let mut all = headers.to_vec();
        all.push(("receipt", &id));
        self.frame(command, &all, body).await;
        // A broker may deliver a MESSAGE caused by this frame before its RECEIPT (RabbitMQ
        // does): those are kept for the next `recv`.
        let mut held = Vec::new();
        loop {
            let reply = self.recv().await;
            match reply.command.as_str() {
                "RECEIPT" => {
                    assert_eq!(reply.header("receipt-id"), Some(id.as_str()));
                    break;
                }
                "MESSAGE" => held.push(reply),
                _ => panic!("{command} got {reply:?}"),
            }
        }
        self.pending.extend(held);
    }

    /// SEND, confirmed by a RECEIPT.
    pub async fn send_sync(&mut self, destination: &str, headers: &[(&str, &str)], body: &str) {
        let mut all = vec![("destination", destination)];
        all.extend_from_slice(headers);
        self.with_receipt("SEND", &all, body.as_bytes()).await;
    }

    /// SUBSCRIBE with `headers` besides `id` and `destination`, confirmed by a RECEIPT.
    pub async fn subscribe_with(&mut self, id: &str, destination: &str, headers: &[(&str, &str)]) {
        let mut all = vec![("id", id), ("destination", destination)];
        all.extend_from_slice(headers);
        self.with_receipt("SUBSCRIBE", &all, b"").await;
    }

    /// SUBSCRIBE in auto mode, confirmed by a RECEIPT.
    pub async fn subscribe(&mut self, id: &str, destination: &str) {
        self.subscribe_with(id, destination, &[]).await;
    }

    /// The next frame, failing the test after [`DEADLINE`].
    pub async fn recv(&mut self) -> Frame {
        match self.recv_within(DEADLINE).await {
            Some(f) => f,
            None => panic!("no frame within {DEADLINE:?}"),
        }
    }

    /// The next MESSAGE, failing on anything else.
    pub async fn message(&mut self) -> Frame {
        let f = self.recv().await;
        assert_eq!(f.command, "MESSAGE", "{f:?}");
        f
    }

    /// The next frame if one arrives within `wait`; panics if the connection closes.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Frame> {
        if let Some(frame) = self.pending.pop_front() {
            return Some(frame);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(frame) = self.parse() {
                return Some(frame);
            }
            self.buf.reserve(65536);
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await;
            match read {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => panic!("connection closed while waiting for a frame"),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Asserts nothing but heart-beats arrives for [`QUIET`].
    pub async fn assert_quiet(&mut self) {
        if let Some(f) = self.recv_within(QUIET).await {
            panic!("expected nothing, got {f:?}");
        }
    }

    /// Reads until the broker closes the connection, returning the frames it sent first.
    pub async fn until_closed(&mut self) -> Vec<Frame> {
        let mut frames: Vec<Frame> = self.pending.drain(..).collect();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            while let Some(f) = self.parse() {
                frames.push(f);
            }
            self.buf.reserve(65536);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => panic!("connection still open after {DEADLINE:?}; got {frames:?}"),
                Ok(Ok(0)) | Ok(Err(_)) => return frames,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next ERROR frame (skipping RECEIPTs and MESSAGEs sent before it). Against Warren
    /// it also asserts the connection closes after it, as the spec requires; RabbitMQ keeps
    /// the connection open after some errors, so an external broker is not held to that.
    pub async fn error(&mut self) -> Frame {
        let strict = env_addr("WARREN_IT_STOMP_ADDR").is_none();
        let error = loop {
            let frame = if strict {
                let mut frames: VecDeque<Frame> = self.until_closed().await.into();
                let errors = frames.iter().filter(|f| f.command == "ERROR").count();
                assert_eq!(errors, 1, "expected one ERROR before close: {frames:?}");
                loop {
                    let f = frames.pop_front().expect("the ERROR");
                    if f.command == "ERROR" {
                        break f;
                    }
                }
            } else {
                self.recv().await
            };
            if frame.command == "ERROR" {
                break frame;
            }
        };
        assert!(
            error.header("message").is_some(),
            "ERROR without message: {error:?}"
        );
        error
    }

    /// DISCONNECT with a receipt, then waits for the close.
    pub async fn disconnect(mut self) {
        self.frame("DISCONNECT", &[("receipt", "bye")], b"").await;
        let frames = self.until_closed().await;
        assert!(
            frames
                .iter()
                .any(|f| f.command == "RECEIPT" && f.header("receipt-id") == Some("bye")),
            "{frames:?}"
        );
    }

    fn parse(&mut self) -> Option<Frame> {
        loop {
            match self.buf.first() {
                Some(b'\n') => {
                    self.buf.remove(0);
                    self.heartbeats += 1;
                }
                Some(b'\r') if self.buf.get(1) == Some(&b'\n') => {
                    self.buf.drain(..2);
                    self.heartbeats += 1;
                }
                _ => break,
            }
        }
        let head_end = self.buf.windows(2).position(|w| w == b"\n\n")? + 2;
        let head = String::from_utf8(self.buf[..head_end - 2].to_vec()).expect("UTF-8 head");
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let command = lines.next().expect("command").to_owned();
        let escaped = command != "CONNECTED" && self.version != "1.0";
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header has a colon");
                if escaped {
                    (unescape(n), unescape(v))
                } else {
                    (n.to_owned(), v.to_owned())
                }
            })
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse::<usize>().expect("numeric content-length"));
        let nul = match length {
            Some(n) => {
                if self.buf.len() < head_end + n + 1 {
                    return None;
                }
                assert_eq!(self.buf[head_end + n], 0, "body not followed by NUL");
                head_end + n
            }
            None => head_end + self.buf[head_end..].iter().position(|&b| b == 0)?,
        };
        let body = self.buf[head_end..nul].to_vec();
        self.buf.drain(..=nul);
        Some(Frame {
            command,
            headers,
            body,
        })
    }
}
