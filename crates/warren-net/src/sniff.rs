//! A look at a connection's first bytes, without consuming them, to catch a client that
//! speaks TLS to a plaintext port or plaintext to a TLS port.
//!
//! A TLS connection opens with a handshake record: content type 22 (0x16), then version major
//! 3. None of the plaintext protocols can open with 0x16: AMQP sends `AMQP`, STOMP a command
//! or a newline, HTTP a method, and an MQTT fixed header 0x16 is a CONNECT with reserved flags
//! set, which MQTT-2.2.2-2 forbids.

use std::time::Duration;

use tokio::net::TcpStream;

const HANDSHAKE_RECORD: u8 = 0x16;
const TLS_MAJOR: u8 = 3;

/// What the first bytes look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opening {
    /// A TLS handshake record.
    Tls,
    /// Anything else.
    Plain,
    /// Closed, failed, or silent until the deadline.
    Nothing,
}

/// Waits for the first bytes (at most `wait`) and classifies them.
pub(crate) async fn opening(stream: &TcpStream, wait: Duration) -> Opening {
    let mut first = [0u8; 2];
    match tokio::time::timeout(wait, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => classify(first.get(..n).unwrap_or_default()),
        _ => Opening::Nothing,
    }
}

fn classify(bytes: &[u8]) -> Opening {
    match bytes {
        [HANDSHAKE_RECORD] | [HANDSHAKE_RECORD, TLS_MAJOR, ..] => Opening::Tls,
        [] => Opening::Nothing,
        _ => Opening::Plain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_tls_from_the_plaintext_protocols() {
        assert_eq!(classify(&[0x16, 0x03]), Opening::Tls);
        assert_eq!(classify(&[0x16]), Opening::Tls);
        assert_eq!(classify(b"AM"), Opening::Plain);
        assert_eq!(classify(b"GE"), Opening::Plain);
        assert_eq!(classify(b"CO"), Opening::Plain);
        assert_eq!(classify(&[0x10, 0x0c]), Opening::Plain);
        assert_eq!(classify(&[0x16, 0x00]), Opening::Plain);
        assert_eq!(classify(&[]), Opening::Nothing);
    }
}
