//! The adapter's one error type and the one place errors become MQTT reason codes.
//!
//! Every error carries an MQTT 5 reason code ([`MqttError::reason_code`]). MQTT 3.x has no
//! DISCONNECT from the server: there the connection is closed (MQTT-4.8.0-1 of 3.1.1), and
//! CONNACK codes are translated by [`connack_v3`].

use thiserror::Error;
use warren_model::{CoreError, ErrorKind};

/// 0x80 Unspecified error.
pub const UNSPECIFIED: u8 = 0x80;
/// 0x81 Malformed Packet.
pub const MALFORMED: u8 = 0x81;
/// 0x82 Protocol Error.
pub const PROTOCOL_ERROR: u8 = 0x82;
/// 0x83 Implementation specific error.
pub const IMPLEMENTATION: u8 = 0x83;
/// 0x84 Unsupported Protocol Version.
pub const UNSUPPORTED_VERSION: u8 = 0x84;
/// 0x85 Client Identifier not valid.
pub const BAD_CLIENT_ID: u8 = 0x85;
/// 0x86 Bad User Name or Password.
pub const BAD_CREDENTIALS: u8 = 0x86;
/// 0x87 Not authorized.
pub const NOT_AUTHORIZED: u8 = 0x87;
/// 0x8C Bad authentication method.
pub const BAD_AUTH_METHOD: u8 = 0x8C;
/// 0x8D Keep Alive timeout.
pub const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
/// 0x8E Session taken over.
pub const TAKEN_OVER: u8 = 0x8E;
/// 0x8F Topic Filter invalid.
pub const FILTER_INVALID: u8 = 0x8F;
/// 0x90 Topic Name invalid.
pub const TOPIC_INVALID: u8 = 0x90;
/// 0x92 Packet Identifier not found.
pub const PACKET_ID_NOT_FOUND: u8 = 0x92;
/// 0x93 Receive Maximum exceeded.
pub const RECEIVE_MAX_EXCEEDED: u8 = 0x93;
/// 0x94 Topic Alias invalid.
pub const TOPIC_ALIAS_INVALID: u8 = 0x94;
/// 0x97 Quota exceeded.
pub const QUOTA_EXCEEDED: u8 = 0x97;
/// 0x95 Packet too large.
pub const PACKET_TOO_LARGE: u8 = 0x95;
/// 0x8B Server shutting down.
pub const SHUTTING_DOWN: u8 = 0x8B;
/// 0x10 No matching subscribers (PUBACK/PUBREC).
pub const NO_SUBSCRIBERS: u8 = 0x10;
/// 0x11 No subscription existed (UNSUBACK).
pub const NO_SUBSCRIPTION: u8 = 0x11;

/// Everything that can go wrong in a session, each with its reason code.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MqttError {
    /// Bytes that are not an MQTT packet.
    #[error("malformed packet: {0}")]
    Malformed(String),
    /// A well-formed packet where it is not allowed.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A packet above the maximum packet size, refused from its fixed header.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Declared size, fixed header included.
        size: u64,
        /// The limit.
        max: u32,
    },
    /// A protocol name or level this server does not speak.
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    /// A client id the server refuses.
    #[error("client identifier not valid: {0}")]
    ClientId(String),
    /// A bad topic name in PUBLISH or a will.
    #[error("topic name invalid: {0}")]
    TopicName(String),
    /// A bad topic filter.
    #[error("topic filter invalid: {0}")]
    TopicFilter(String),
    /// An unknown or out-of-range topic alias.
    #[error("topic alias invalid: {0}")]
    TopicAlias(String),
    /// More unacknowledged QoS 1 and 2 publishes than our Receive Maximum.
    #[error("receive maximum exceeded")]
    ReceiveMaximum,
    /// Authentication failed.
    #[error("bad user name or password: {0}")]
    BadCredentials(String),
    /// Authenticated, but refused the vhost or anonymous access.
    #[error("not authorized: {0}")]
    NotAuthorized(String),
    /// CONNECT asked for enhanced authentication, which is not supported.
    #[error("bad authentication method")]
    AuthMethod,
    /// The core refused.
    #[error("{0}")]
    Core(#[from] CoreError),
}

impl MqttError {
    /// The MQTT 5 reason code for this error.
    pub fn reason_code(&self) -> u8 {
        match self {
            Self::Malformed(_) => MALFORMED,
            Self::Protocol(_) => PROTOCOL_ERROR,
            Self::TooLarge { .. } => PACKET_TOO_LARGE,
            Self::UnsupportedVersion => UNSUPPORTED_VERSION,
            Self::ClientId(_) => BAD_CLIENT_ID,
            Self::TopicName(_) => TOPIC_INVALID,
            Self::TopicFilter(_) => FILTER_INVALID,
            Self::TopicAlias(_) => TOPIC_ALIAS_INVALID,
            Self::ReceiveMaximum => RECEIVE_MAX_EXCEEDED,
            Self::AuthMethod => BAD_AUTH_METHOD,
            Self::BadCredentials(_) => BAD_CREDENTIALS,
            Self::NotAuthorized(_) => NOT_AUTHORIZED,
            Self::Core(e) => core_reason(e),
        }
    }
}

/// The one mapping from core errors to MQTT 5 reason codes.
pub fn core_reason(error: &CoreError) -> u8 {
    match error.kind {
        ErrorKind::AccessRefused | ErrorKind::NotAllowed => NOT_AUTHORIZED,
        ErrorKind::Internal => UNSPECIFIED,
        ErrorKind::NotFound
        | ErrorKind::ResourceLocked
        | ErrorKind::PreconditionFailed
        | ErrorKind::CommandInvalid
        | ErrorKind::NotImplemented => IMPLEMENTATION,
    }
}

/// An MQTT 5 CONNACK reason code as a 3.x return code (3.1.1 section 3.2.2.3).
pub fn connack_v3(code: u8) -> u8 {
    match code {
        0 => 0,
        UNSUPPORTED_VERSION => 1,
        BAD_CLIENT_ID => 2,
        BAD_CREDENTIALS => 4,
        NOT_AUTHORIZED => 5,
        _ => 3,
    }
}
