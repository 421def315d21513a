//! The adapter's one error type and the one place errors become ERROR frames.
//!
//! Every error is fatal to the connection (STOMP has no channel to close): the session sends
//! an ERROR frame with a short `message` header and a body that explains, then closes. The
//! `message` texts are RabbitMQ's, so clients written against its STOMP plugin see the same.

use thiserror::Error;
use warren_model::{CoreError, ErrorKind};

use crate::codec::FrameError;
use crate::frame::{Command, Frame};

/// Everything that ends a STOMP connection.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum StompError {
    /// Bytes that are not a frame, or a frame above a limit.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// A frame other than CONNECT or STOMP before the connection was made.
    #[error("You must log in using CONNECT first")]
    NotConnected,
    /// No common version.
    #[error("Supported versions are 1.0,1.1,1.2")]
    Version,
    /// Bad credentials or vhost.
    #[error("{0}")]
    BadConnect(String),
    /// A required header is missing or invalid.
    #[error("{0}")]
    Header(String),
    /// A required header is missing; the summary names what, as RabbitMQ's does.
    #[error("{body}")]
    Missing {
        /// The `message` header.
        summary: &'static str,
        /// The body.
        body: String,
    },
    /// A destination that does not parse.
    #[error("{0}")]
    UnknownDestination(String),
    /// A destination not allowed for the frame.
    #[error("{0}")]
    Destination(String),
    /// An unknown or repeated transaction.
    #[error("{0}")]
    Transaction(String),
    /// An ACK or NACK for no message awaiting one.
    #[error("{0}")]
    UnknownAck(String),
    /// A SUBSCRIBE reusing a live subscription's id.
    #[error("A subscription identified by '{0}' already exists.")]
    DuplicateSubscription(String),
    /// A subscription id unknown, or over the limit.
    #[error("{0}")]
    Subscription(String),
    /// A limit other than the codec's.
    #[error("{0}")]
    Limit(String),
    /// A frame that is valid but not here (CONNECT twice, a server frame).
    #[error("{0}")]
    Protocol(String),
    /// The core refused.
    #[error("{} - {}", core_summary(.0).to_uppercase(), .0.text)]
    Core(#[from] CoreError),
    /// A SEND that asked for a receipt was refused by a queue (a `reject-publish` length
    /// limit), so it cannot be confirmed.
    #[error("{0}")]
    Rejected(String),
}

impl StompError {
    /// The `message` header.
    pub fn summary(&self) -> &'static str {
        match self {
            Self::Frame(FrameError::UnknownCommand(_)) => "Bad command",
            Self::Frame(_) => "Bad frame",
            Self::NotConnected => "Illegal command",
            Self::Version => "Version mismatch",
            Self::BadConnect(_) => "Bad CONNECT",
            Self::Header(_) => "Invalid header",
            Self::Missing { summary, .. } => summary,
            Self::UnknownDestination(_) => "Unknown destination",
            Self::Destination(_) => "Invalid destination",
            Self::Transaction(_) => "Bad transaction",
            Self::UnknownAck(_) => "precondition_failed",
            Self::DuplicateSubscription(_) => "Duplicated subscription identifier",
            Self::Subscription(_) => "Bad subscription",
            Self::Limit(_) => "Limit exceeded",
            Self::Protocol(_) => "Illegal command",
            Self::Core(e) => core_summary(e),
            Self::Rejected(_) => "Message rejected",
        }
    }

    /// A missing header on `command` (RabbitMQ's words, its summary included).
    pub fn missing(command: Command, header: &str) -> Self {
        let summary = match header {
            "destination" => "Missing destination",
            "transaction" => "Missing transaction",
            _ => "Missing Header",
        };
        Self::Missing {
            summary,
            body: format!("\"{}\" must include a '{header}' header", command.name()),
        }
    }

    /// A durable subscription without an `id` (RabbitMQ's words).
    pub fn durable_without_id() -> Self {
        Self::Missing {
            summary: "Missing Header",
            body: "Header 'id' is required for durable subscriptions".into(),
        }
    }

    /// An UNSUBSCRIBE naming neither its id nor its destination (RabbitMQ's words).
    pub fn unsubscribe_without_id() -> Self {
        Self::Missing {
            summary: "Missing destination or id",
            body: "UNSUBSCRIBE must include a 'destination' or 'id' header".into(),
        }
    }

    /// An unusable header on `command` (RabbitMQ's words).
    pub fn invalid(command: Command, header: &str) -> Self {
        Self::Header(format!(
            "\"{}\" must include a valid \"{header}\" header",
            command.name()
        ))
    }

    /// The ERROR frame, echoing `receipt` as `receipt-id` (1.2 section "ERROR").
    pub fn to_frame(&self, receipt: Option<&str>) -> Frame {
        let mut frame = Frame::new(Command::Error)
            .header("message", self.summary())
            .header("content-type", "text/plain");
        if let Some(receipt) = receipt {
            frame = frame.header("receipt-id", receipt);
        }
        frame.body(format!("{self}\n"))
    }
}

/// The one mapping from core errors to a `message` header, in RabbitMQ's words.
pub fn core_summary(error: &CoreError) -> &'static str {
    match error.kind {
        ErrorKind::NotFound => "not_found",
        ErrorKind::ResourceLocked => "resource_locked",
        ErrorKind::PreconditionFailed => "precondition_failed",
        ErrorKind::AccessRefused => "access_refused",
        ErrorKind::NotAllowed => "not_allowed",
        ErrorKind::CommandInvalid => "command_invalid",
        ErrorKind::NotImplemented => "not_implemented",
        ErrorKind::Internal => "internal_error",
    }
}
