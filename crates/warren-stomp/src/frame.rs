//! Frames in memory: a command, headers in wire order, and a body.

use bytes::Bytes;

/// A STOMP command, client and server frames alike.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Command {
    /// `CONNECT`
    Connect,
    /// `STOMP` (1.1+: CONNECT under another name)
    Stomp,
    /// `SEND`
    Send,
    /// `SUBSCRIBE`
    Subscribe,
    /// `UNSUBSCRIBE`
    Unsubscribe,
    /// `BEGIN`
    Begin,
    /// `COMMIT`
    Commit,
    /// `ABORT`
    Abort,
    /// `ACK`
    Ack,
    /// `NACK` (1.1+)
    Nack,
    /// `DISCONNECT`
    Disconnect,
    /// `CONNECTED`
    Connected,
    /// `MESSAGE`
    Message,
    /// `RECEIPT`
    Receipt,
    /// `ERROR`
    Error,
}

const NAMES: [(Command, &str); 15] = [
    (Command::Connect, "CONNECT"),
    (Command::Stomp, "STOMP"),
    (Command::Send, "SEND"),
    (Command::Subscribe, "SUBSCRIBE"),
    (Command::Unsubscribe, "UNSUBSCRIBE"),
    (Command::Begin, "BEGIN"),
    (Command::Commit, "COMMIT"),
    (Command::Abort, "ABORT"),
    (Command::Ack, "ACK"),
    (Command::Nack, "NACK"),
    (Command::Disconnect, "DISCONNECT"),
    (Command::Connected, "CONNECTED"),
    (Command::Message, "MESSAGE"),
    (Command::Receipt, "RECEIPT"),
    (Command::Error, "ERROR"),
];

impl Command {
    /// The command's wire name.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("ERROR", |(_, n)| n)
    }

    /// The command named `name`, if any.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        NAMES
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map(|(c, _)| *c)
    }

    /// CONNECT, STOMP and CONNECTED headers are never escaped (1.2 "Value Encoding").
    pub fn escapes_headers(self) -> bool {
        !matches!(self, Self::Connect | Self::Stomp | Self::Connected)
    }
}

/// A protocol version.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Version {
    /// 1.0: no header escaping, no NACK, no heart-beats.
    V1_0,
    /// 1.1: escapes `\n`, `\c`, `\\`.
    V1_1,
    /// 1.2: also escapes `\r`; `ack` header on MESSAGE.
    V1_2,
}

impl Version {
    /// The version as `accept-version` and `version` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
        }
    }

    /// The version spelled `text`, if supported.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "1.0" => Some(Self::V1_0),
            "1.1" => Some(Self::V1_1),
            "1.2" => Some(Self::V1_2),
            _ => None,
        }
    }
}

/// Headers in wire order. Repeated headers are kept, and the first one wins (1.2 "Repeated
/// Header Entries").
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Appends a header.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Every header, repeats included, in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The effective headers: each name once, with its first value.
    pub fn effective(&self) -> impl Iterator<Item = (&str, &str)> {
        self.iter()
            .enumerate()
            .filter(|(i, (name, _))| !self.0.iter().take(*i).any(|(n, _)| n == name))
            .map(|(_, h)| h)
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

/// One frame.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Frame {
    /// The command.
    pub command: Command,
    /// The headers.
    pub headers: Headers,
    /// The body, shared with the read buffer.
    pub body: Bytes,
}

impl Frame {
    /// A frame without a body.
    pub fn new(command: Command) -> Self {
        Self {
            command,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header, builder style.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets the body, builder style.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }
}
