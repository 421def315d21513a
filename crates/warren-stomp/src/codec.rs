//! The STOMP frame codec: bytes to [`Frame`]s and back. Pure: no I/O, no clock.
//!
//! Grammar (STOMP 1.2, "Augmented BNF"):
//!
//! ```text
//! frame-stream = 1*frame
//! frame        = command EOL *( header EOL ) EOL *OCTET NULL *( EOL )
//! command      = client-command | server-command
//! header       = header-name ":" header-value
//! header-name  = 1*<any OCTET except CR or LF or ":">
//! header-value = *<any OCTET except CR or LF or ":">
//! EOL          = [CR] LF
//! ```
//!
//! Framing: the head (command and headers, up to the blank line) is found by an incremental
//! scan that resumes where the last call stopped, so a frame trickling in byte by byte costs
//! linear time; the complete head is then parsed by nom. The body is `content-length` octets
//! followed by NUL when that header is present (embedded NULs allowed), else everything up to
//! the first NUL. EOLs between frames are heart-beats and are skipped.
//!
//! Escaping (1.2 "Value Encoding"): in 1.1 `\n`, `\c` and `\\`, in 1.2 also `\r`, are decoded
//! in header names and values; any other escape is a fatal error. CONNECT, STOMP and CONNECTED
//! headers are never escaped, nor are 1.0 headers.
//!
//! Deviations, all lenient and all as RabbitMQ's STOMP plugin behaves:
//! - A header value may contain `:`; the first `:` of the line separates name and value.
//! - CRLF line ends are accepted in 1.0 and 1.1 too.
//! - Header values are not trimmed, in any version.
//!
//! Limits, each checked before the bytes are buffered further: frame size (head, body and NUL;
//! from `content-length` as soon as the head is complete, and for every frame however it
//! arrives, a whole one in one read included), header count, header line length (EOL
//! excluded, even an unfinished line's). They are met in the order of the bytes, as a reader
//! fed one byte at a time meets them, so a frame gets the same error however the reads cut it.

use bytes::{BufMut, BytesMut};
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_till1};
use nom::multi::many_till;
use nom::sequence::{separated_pair, terminated};
use nom::{IResult, Parser};
use thiserror::Error;

use crate::frame::{Command, Frame, Headers, Version};

/// The codec's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest frame: command, headers, body and NUL.
    pub max_frame_size: usize,
    /// Most header lines in one frame.
    pub max_headers: usize,
    /// Longest line (command or header), EOL excluded.
    pub max_header_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_size: 16 * 1024 * 1024,
            max_headers: 128,
            max_header_line: 64 * 1024,
        }
    }
}

/// What the bytes got wrong. Every variant is fatal to the connection.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum FrameError {
    /// Above [`Limits::max_frame_size`].
    #[error("frame of at least {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The size `content-length` declares; without it, one byte above the limit (the
        /// frame has at least that many, and the error is the same however the input is cut).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Above [`Limits::max_headers`].
    #[error("more than {0} headers")]
    TooManyHeaders(usize),
    /// Above [`Limits::max_header_line`].
    #[error("header line longer than {0} bytes")]
    HeaderTooLong(usize),
    /// Not a STOMP command.
    #[error("unknown command '{0}'")]
    UnknownCommand(String),
    /// An escape sequence the version does not define.
    #[error("undefined escape sequence in header '{0}'")]
    BadEscape(String),
    /// Anything else the grammar rejects.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Where the scan of a frame in progress stands.
#[derive(Debug, Default)]
struct Scan {
    pos: usize,
    line_start: usize,
    lines: usize,
    head: Option<Head>,
}

#[derive(Debug)]
struct Head {
    len: usize,
    command: Command,
    headers: Headers,
    content_length: Option<usize>,
}

/// A streaming decoder and an encoder for one connection.
#[derive(Debug)]
pub struct Codec {
    limits: Limits,
    version: Option<Version>,
    scan: Scan,
}

impl Codec {
    /// A codec enforcing `limits`; until [`Codec::set_version`] headers are read as 1.2.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            version: None,
            scan: Scan::default(),
        }
    }

    /// The negotiated version decides header escaping from now on.
    pub fn set_version(&mut self, version: Version) {
        self.version = Some(version);
    }

    /// The negotiated version, 1.2 until then.
    pub fn version(&self) -> Version {
        self.version.unwrap_or(Version::V1_2)
    }

    /// Cuts the next frame from `buf`. `Ok(None)`: more bytes needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if self.scan.pos == 0 && !skip_heartbeats(buf) {
            return Ok(None);
        }
        if self.scan.head.is_none() {
            let Some(len) = self.scan_head(buf)? else {
                return Ok(None);
            };
            let head = self.parse_head(buf.get(..len).unwrap_or_default(), len)?;
            self.scan.pos = len;
            self.scan.head = Some(head);
        }
        let Some(nul) = self.body_end(buf)? else {
            return Ok(None);
        };
        let Some(head) = std::mem::take(&mut self.scan).head else {
            return Err(FrameError::Malformed("lost frame head".into()));
        };
        let bytes = buf.split_to(nul + 1).freeze();
        Ok(Some(Frame {
            command: head.command,
            headers: head.headers,
            body: bytes.slice(head.len..nul),
        }))
    }

    /// Finds the blank line ending the head; `Some(head length)` when complete. It looks at no
    /// byte past the one that makes the frame too large, so the limits are met in the order of
    /// the bytes, as a reader fed one byte at a time meets them, however the reads cut.
    fn scan_head(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let limits = self.limits;
        let seen = buf.len().min(limits.max_frame_size.saturating_add(1));
        let view = buf.get(..seen).unwrap_or(buf);
        while let Some(offset) = view
            .get(self.scan.pos..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            let end = self.scan.pos + offset;
            let line = strip_cr(view.get(self.scan.line_start..end).unwrap_or_default());
            if line.len() > limits.max_header_line {
                return Err(FrameError::HeaderTooLong(limits.max_header_line));
            }
            self.scan.pos = end + 1;
            self.scan.line_start = end + 1;
            if line.is_empty() && self.scan.lines > 0 {
                self.check_seen(end + 1)?;
                return Ok(Some(end + 1));
            }
            self.scan.lines += 1;
            if self.scan.lines > limits.max_headers + 1 {
                return Err(FrameError::TooManyHeaders(limits.max_headers));
            }
        }
        self.scan.pos = view.len();
        // An unfinished line; a CR at its end may belong to its EOL.
        let partial = strip_cr(view.get(self.scan.line_start..).unwrap_or_default());
        if partial.len() > limits.max_header_line {
            return Err(FrameError::HeaderTooLong(limits.max_header_line));
        }
        self.check_seen(view.len())?;
        Ok(None)
    }

    /// Refuses a frame whose size is not known yet once `seen` of its bytes pass the limit.
    /// The size reported is one byte above the limit, where a byte-by-byte reader stops too,
    /// so the error does not depend on how the input was split.
    fn check_seen(&self, seen: usize) -> Result<(), FrameError> {
        let max = self.limits.max_frame_size;
        if seen > max {
            return Err(FrameError::TooLarge {
                size: max.saturating_add(1),
                max,
            });
        }
        Ok(())
    }

    /// Refuses a frame whose size `content-length` declared, before its body is buffered.
    fn check_declared(&self, size: usize) -> Result<(), FrameError> {
        let max = self.limits.max_frame_size;
        if size > max {
            return Err(FrameError::TooLarge { size, max });
        }
        Ok(())
    }

    fn parse_head(&self, bytes: &[u8], len: usize) -> Result<Head, FrameError> {
        let (command, raw) = match head(bytes) {
            Ok((_, parsed)) => parsed,
            Err(_) => return Err(FrameError::Malformed("bad command or header line".into())),
        };
        let command = Command::from_name(command)
            .ok_or_else(|| FrameError::UnknownCommand(lossy(command, 64)))?;
        let escaping = self.version.filter(|_| command.escapes_headers());
        let mut headers = Headers::new();
        for (name, value) in raw {
            headers.push(unescape(name, escaping)?, unescape(value, escaping)?);
        }
        let content_length = match headers.get("content-length") {
            None => None,
            Some(text) => Some(text.trim().parse::<usize>().map_err(|_| {
                FrameError::Malformed(format!(
                    "invalid content-length '{}'",
                    lossy(text.as_bytes(), 32)
                ))
            })?),
        };
        Ok(Head {
            len,
            command,
            headers,
            content_length,
        })
    }

    /// The index of the NUL ending the body, once it is in `buf`.
    fn body_end(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(head) = &self.scan.head else {
            return Ok(None);
        };
        if let Some(n) = head.content_length {
            let nul = head.len.saturating_add(n);
            self.check_declared(nul.saturating_add(1))?;
            return match buf.get(nul) {
                None => Ok(None),
                Some(0) => Ok(Some(nul)),
                Some(_) => Err(FrameError::Malformed(
                    "body not terminated by NUL after content-length octets".into(),
                )),
            };
        }
        let from = self.scan.pos;
        match buf
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == 0))
        {
            Some(offset) => {
                self.check_seen(from + offset + 1)?;
                Ok(Some(from + offset))
            }
            None => {
                self.scan.pos = buf.len();
                self.check_seen(buf.len())?;
                Ok(None)
            }
        }
    }
}

/// Drops the EOLs before a frame; false when only a lone CR is left (its LF may follow).
fn skip_heartbeats(buf: &mut BytesMut) -> bool {
    loop {
        match buf.first() {
            Some(b'\n') => {
                let _ = buf.split_to(1);
            }
            Some(b'\r') => match buf.get(1) {
                Some(b'\n') => {
                    let _ = buf.split_to(2);
                }
                Some(_) => return true,
                None => return false,
            },
            Some(_) => return true,
            None => return false,
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn lossy(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(bytes.get(..max.min(bytes.len())).unwrap_or_default()).into_owned()
}

fn is_eol(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

fn eol(input: &[u8]) -> IResult<&[u8], &[u8]> {
    alt((tag(&b"\r\n"[..]), tag(&b"\n"[..]))).parse(input)
}

fn line(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(take_till(is_eol), eol).parse(input)
}

fn header(input: &[u8]) -> IResult<&[u8], (&[u8], &[u8])> {
    terminated(
        separated_pair(
            take_till1(|b| b == b':' || is_eol(b)),
            tag(&b":"[..]),
            take_till(is_eol),
        ),
        eol,
    )
    .parse(input)
}

type RawHead<'a> = (&'a [u8], Vec<(&'a [u8], &'a [u8])>);

fn head(input: &[u8]) -> IResult<&[u8], RawHead<'_>> {
    let (rest, command) = line(input)?;
    let (rest, (headers, _)) = many_till(header, eol).parse(rest)?;
    Ok((rest, (command, headers)))
}

/// Decodes one header name or value; `escaping` is the version when escapes apply.
fn unescape(raw: &[u8], escaping: Option<Version>) -> Result<String, FrameError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| FrameError::Malformed("header is not UTF-8".into()))?;
    let Some(version) = escaping.filter(|v| *v >= Version::V1_1) else {
        return Ok(text.to_owned());
    };
    if !text.contains('\\') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('n') => '\n',
            Some('c') => ':',
            Some('\\') => '\\',
            Some('r') if version == Version::V1_2 => '\r',
            _ => return Err(FrameError::BadEscape(lossy(raw, 64))),
        });
    }
    Ok(out)
}

/// Encodes `frame` for a peer speaking `version`. A body gets a `content-length` header unless
/// the frame has one.
pub fn encode(frame: &Frame, version: Version, out: &mut BytesMut) {
    out.reserve(64 + frame.body.len());
    out.put_slice(frame.command.name().as_bytes());
    out.put_u8(b'\n');
    let escape = frame.command.escapes_headers();
    for (name, value) in frame.headers.iter() {
        put_header(out, name, value, version, escape);
    }
    if !frame.body.is_empty() && frame.get("content-length").is_none() {
        put_header(
            out,
            "content-length",
            &frame.body.len().to_string(),
            version,
            false,
        );
    }
    out.put_u8(b'\n');
    out.put_slice(&frame.body);
    out.put_u8(0);
}

fn put_header(out: &mut BytesMut, name: &str, value: &str, version: Version, escape: bool) {
    if version == Version::V1_0 || !escape {
        // No escaping exists: characters that would break the line are replaced.
        put_plain(out, name, true);
        out.put_u8(b':');
        put_plain(out, value, false);
    } else {
        put_escaped(out, name, version);
        out.put_u8(b':');
        put_escaped(out, value, version);
    }
    out.put_u8(b'\n');
}

fn put_plain(out: &mut BytesMut, text: &str, is_name: bool) {
    for b in text.bytes() {
        let bad = b == b'\n' || b == b'\r' || (is_name && b == b':');
        out.put_u8(if bad { b' ' } else { b });
    }
}

fn put_escaped(out: &mut BytesMut, text: &str, version: Version) {
    for b in text.bytes() {
        match b {
            b'\n' => out.put_slice(b"\\n"),
            b':' => out.put_slice(b"\\c"),
            b'\\' => out.put_slice(b"\\\\"),
            b'\r' if version == Version::V1_2 => out.put_slice(b"\\r"),
            b'\r' => out.put_u8(b' '),
            _ => out.put_u8(b),
        }
    }
}
