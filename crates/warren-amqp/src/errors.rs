//! The adapter's one error type and the one place where core errors become reply codes.
//!
//! AMQP 0-9-1 splits errors in two (spec 1.2, "Constants"): soft errors close the channel with
//! `channel.close`, hard errors close the connection with `connection.close`. The reply code
//! decides which; [`AmqpError::new`] picks the variant so callers never choose wrongly.

use thiserror::Error;
use warren_model::{CoreError, ErrorKind};

/// 311: the message is larger than the broker accepts.
pub const CONTENT_TOO_LARGE: u16 = 311;
/// 312: a mandatory message routed to no queue.
pub const NO_ROUTE: u16 = 312;
/// 320: the broker closed the connection (shutdown).
pub const CONNECTION_FORCED: u16 = 320;
/// 403
pub const ACCESS_REFUSED: u16 = 403;
/// 404
pub const NOT_FOUND: u16 = 404;
/// 405
pub const RESOURCE_LOCKED: u16 = 405;
/// 406
pub const PRECONDITION_FAILED: u16 = 406;
/// 501
pub const FRAME_ERROR: u16 = 501;
/// 502
pub const SYNTAX_ERROR: u16 = 502;
/// 503
pub const COMMAND_INVALID: u16 = 503;
/// 504
pub const CHANNEL_ERROR: u16 = 504;
/// 505
pub const UNEXPECTED_FRAME: u16 = 505;
/// 530
pub const NOT_ALLOWED: u16 = 530;
/// 540
pub const NOT_IMPLEMENTED: u16 = 540;
/// 541
pub const INTERNAL_ERROR: u16 = 541;

/// An AMQP error on its way to the wire. `text` already carries RabbitMQ's
/// `NAME - detail` form.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum AmqpError {
    /// A soft error: the channel is closed, the connection lives on.
    #[error("channel error {code}: {text}")]
    Channel {
        /// Reply code (4xx, 3xx).
        code: u16,
        /// Reply text.
        text: String,
    },
    /// A hard error: the connection is closed.
    #[error("connection error {code}: {text}")]
    Connection {
        /// Reply code (5xx, 403 during the handshake).
        code: u16,
        /// Reply text.
        text: String,
    },
}

impl AmqpError {
    /// An error with `code`; the code decides soft or hard, and `detail` gets its name prefix.
    pub fn new(code: u16, detail: impl AsRef<str>) -> Self {
        let text = with_prefix(code, detail.as_ref());
        if is_soft(code) {
            Self::Channel { code, text }
        } else {
            Self::Connection { code, text }
        }
    }

    /// A hard error regardless of the code (errors on channel 0 always close the connection).
    pub fn hard(code: u16, detail: impl AsRef<str>) -> Self {
        Self::Connection {
            code,
            text: with_prefix(code, detail.as_ref()),
        }
    }

    /// The reply code.
    pub fn code(&self) -> u16 {
        match self {
            Self::Channel { code, .. } | Self::Connection { code, .. } => *code,
        }
    }

    /// The reply text.
    pub fn text(&self) -> &str {
        match self {
            Self::Channel { text, .. } | Self::Connection { text, .. } => text,
        }
    }

    /// The same error, promoted to close the connection.
    pub fn into_hard(self) -> Self {
        match self {
            Self::Channel { code, text } => Self::Connection { code, text },
            hard => hard,
        }
    }
}

impl From<CoreError> for AmqpError {
    fn from(err: CoreError) -> Self {
        Self::new(reply_code(err.kind), err.text)
    }
}

/// The one mapping from the core's error kinds to AMQP reply codes.
pub fn reply_code(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::ResourceLocked => RESOURCE_LOCKED,
        ErrorKind::PreconditionFailed => PRECONDITION_FAILED,
        ErrorKind::AccessRefused => ACCESS_REFUSED,
        ErrorKind::NotAllowed => NOT_ALLOWED,
        ErrorKind::CommandInvalid => COMMAND_INVALID,
        ErrorKind::NotImplemented => NOT_IMPLEMENTED,
        ErrorKind::Internal => INTERNAL_ERROR,
    }
}

fn is_soft(code: u16) -> bool {
    matches!(
        code,
        CONTENT_TOO_LARGE
            | NO_ROUTE
            | ACCESS_REFUSED
            | NOT_FOUND
            | RESOURCE_LOCKED
            | PRECONDITION_FAILED
    )
}

/// RabbitMQ's name for a reply code, as it prefixes reply texts.
pub fn code_name(code: u16) -> &'static str {
    match code {
        CONTENT_TOO_LARGE => "CONTENT_TOO_LARGE",
        NO_ROUTE => "NO_ROUTE",
        CONNECTION_FORCED => "CONNECTION_FORCED",
        ACCESS_REFUSED => "ACCESS_REFUSED",
        NOT_FOUND => "NOT_FOUND",
        RESOURCE_LOCKED => "RESOURCE_LOCKED",
        PRECONDITION_FAILED => "PRECONDITION_FAILED",
        FRAME_ERROR => "FRAME_ERROR",
        SYNTAX_ERROR => "SYNTAX_ERROR",
        COMMAND_INVALID => "COMMAND_INVALID",
        CHANNEL_ERROR => "CHANNEL_ERROR",
        UNEXPECTED_FRAME => "UNEXPECTED_FRAME",
        NOT_ALLOWED => "NOT_ALLOWED",
        NOT_IMPLEMENTED => "NOT_IMPLEMENTED",
        _ => "INTERNAL_ERROR",
    }
}

/// The core may already speak RabbitMQ's `NAME - detail` form; never prefix twice.
fn with_prefix(code: u16, detail: &str) -> String {
    let name = code_name(code);
    if detail.starts_with(name) {
        detail.to_owned()
    } else {
        format!("{name} - {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_and_hard_follow_the_code() {
        assert!(matches!(
            AmqpError::new(404, "x"),
            AmqpError::Channel { .. }
        ));
        assert!(matches!(
            AmqpError::new(530, "x"),
            AmqpError::Connection { .. }
        ));
    }

    #[test]
    fn core_text_is_prefixed_once() {
        let e = AmqpError::from(CoreError::not_found(
            "NOT_FOUND - no queue 'q' in vhost '/'",
        ));
        assert_eq!(e.text(), "NOT_FOUND - no queue 'q' in vhost '/'");
        let e = AmqpError::from(CoreError::not_found("no queue 'q' in vhost '/'"));
        assert_eq!(e.text(), "NOT_FOUND - no queue 'q' in vhost '/'");
        assert_eq!(e.code(), 404);
    }
}
