//! STOMP 1.2 frames, by hand: `COMMAND EOL *(header EOL) EOL body NUL`, with
//! `content-length` on every SEND and read whenever the broker sends it.

use bytes::{BufMut, BytesMut};

use crate::io::{protocol, ClientError};

/// Appends a frame. Header values here never need escaping (names and numbers only).
pub fn frame(out: &mut BytesMut, command: &str, headers: &[(&str, &str)], body: &[u8]) {
    out.extend_from_slice(command.as_bytes());
    out.put_u8(b'\n');
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.put_u8(b':');
        out.extend_from_slice(value.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.extend_from_slice(body);
    out.put_u8(0);
}

/// The constant part of every SEND of a publisher, up to its last header line.
pub fn send_prefix(destination: &str, size: usize, persistent: bool) -> BytesMut {
    let mut out = BytesMut::new();
    out.extend_from_slice(
        format!("SEND\ndestination:{destination}\ncontent-length:{size}\n").as_bytes(),
    );
    if persistent {
        out.extend_from_slice(b"persistent:true\n");
    }
    out
}

/// Appends a SEND: the prefix, an optional receipt header, and a stamped payload.
pub fn send(out: &mut BytesMut, prefix: &[u8], receipt: Option<u64>, size: usize, now_ns: u64) {
    out.extend_from_slice(prefix);
    if let Some(n) = receipt {
        out.extend_from_slice(format!("receipt:{n}\n").as_bytes());
    }
    out.put_u8(b'\n');
    crate::payload::write(out, size, now_ns);
    out.put_u8(0);
}

/// One frame from the broker, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The command.
    pub command: &'a [u8],
    /// The header lines, unparsed.
    pub headers: &'a [u8],
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        header(self.headers, name)
    }
}

fn header<'a>(headers: &'a [u8], name: &str) -> Option<&'a str> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let value = line.strip_prefix(name.as_bytes())?.strip_prefix(b":")?;
        std::str::from_utf8(value).ok()
    })
}

/// The next whole frame in `buf` and its length (heart-beat EOLs before it included),
/// `Ok(None)` until one is complete.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ClientError> {
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .count();
    let rest = buf.get(skip..).unwrap_or_default();
    let Some((head_end, body_at)) = blank_line(rest) else {
        return Ok(None);
    };
    let head = rest.get(..head_end).unwrap_or_default();
    let (command, headers) = match head.iter().position(|&b| b == b'\n') {
        Some(i) => (
            head.get(..i).unwrap_or_default(),
            head.get(i + 1..).unwrap_or_default(),
        ),
        None => (head, &[][..]),
    };
    let command = command.strip_suffix(b"\r").unwrap_or(command);
    let body_len = match header(headers, "content-length") {
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| protocol("STOMP bad content-length"))?,
        None => match rest
            .get(body_at..)
            .and_then(|b| b.iter().position(|&x| x == 0))
        {
            Some(n) => n,
            None => return Ok(None),
        },
    };
    let Some(body) = rest.get(body_at..body_at + body_len) else {
        return Ok(None);
    };
    match rest.get(body_at + body_len) {
        None => Ok(None),
        Some(0) => Ok(Some((
            Frame {
                command,
                headers,
                body,
            },
            skip + body_at + body_len + 1,
        ))),
        Some(_) => Err(protocol("STOMP frame body not followed by NUL")),
    }
}

/// Where the headers end and the body starts: the first empty line, LF or CRLF.
fn blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = bytes.get(from..)?.iter().position(|&b| b == b'\n') {
        let at = from + i;
        match (bytes.get(at + 1), bytes.get(at + 2)) {
            (Some(b'\n'), _) => return Some((at, at + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((at, at + 3)),
            (None, _) | (Some(b'\r'), None) => return None,
            _ => from = at + 1,
        }
    }
    None
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
