//! The core's one error type. Adapters map [`ErrorKind`] to their wire form in one function.

use thiserror::Error;

/// What went wrong, in RabbitMQ's vocabulary; each maps to an AMQP reply code, an MQTT
/// reason code and a STOMP ERROR frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    /// 404: the exchange, queue or vhost does not exist.
    NotFound,
    /// 405: an exclusive queue owned by another connection, or an exclusive consumer.
    ResourceLocked,
    /// 406: a redeclare with other arguments, an unknown delivery tag, a bad argument.
    PreconditionFailed,
    /// 403: permission denied, reserved `amq.` names, bad credentials.
    AccessRefused,
    /// 530: an operation the broker will not do here (e.g. an unknown vhost on open).
    NotAllowed,
    /// 503: a request that is invalid as a command (e.g. an unknown exchange type).
    CommandInvalid,
    /// 540: something Warren does not implement.
    NotImplemented,
    /// 541: a broker-side failure.
    Internal,
}

/// An error from the core, with a message for the client.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("{kind:?}: {text}")]
pub struct CoreError {
    /// The class of error.
    pub kind: ErrorKind,
    /// Human-readable text, sent to the client (RabbitMQ style, e.g. `NOT_FOUND - no queue 'q'`).
    pub text: String,
}

impl CoreError {
    /// Builds an error of `kind`.
    pub fn new(kind: ErrorKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }
    /// 404.
    pub fn not_found(text: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, text)
    }
    /// 405.
    pub fn locked(text: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceLocked, text)
    }
    /// 406.
    pub fn precondition(text: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, text)
    }
    /// 403.
    pub fn access_refused(text: impl Into<String>) -> Self {
        Self::new(ErrorKind::AccessRefused, text)
    }
    /// 530.
    pub fn not_allowed(text: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotAllowed, text)
    }
    /// 503.
    pub fn command_invalid(text: impl Into<String>) -> Self {
        Self::new(ErrorKind::CommandInvalid, text)
    }
    /// 540.
    pub fn not_implemented(text: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, text)
    }
}
