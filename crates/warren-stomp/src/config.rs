//! Listener configuration: the defaults for a connection and the limits a session enforces.

use warren_model::VHostName;

use crate::codec::Limits;

/// One STOMP listener's settings. Every field has a default (see [`Default`]).
#[derive(Clone, Debug)]
pub struct StompConfig {
    /// The vhost of a CONNECT without `host` (`/`).
    pub default_vhost: VHostName,
    /// A CONNECT without `login` logs in as `default_user` (true).
    pub allow_anonymous: bool,
    /// The user anonymous clients log in as (`guest`, loopback-only in the core).
    pub default_user: String,
    /// Its password (`guest`).
    pub default_password: String,
    /// Frame limits: size (16 MiB), header count (128), header line length (64 KiB).
    pub limits: Limits,
    /// Shortest heart-beat interval granted either way, in ms (100): a client asking for
    /// faster beats gets this.
    pub min_heartbeat_ms: u32,
    /// Bytes of pending output above which the session stops reading and the core holds its
    /// deliveries (4 MiB).
    pub max_outbox_bytes: usize,
    /// Subscriptions per connection (256).
    pub max_subscriptions: usize,
    /// Open transactions per connection (64).
    pub max_transactions: usize,
    /// Bytes of frames buffered in all of a connection's open transactions (16 MiB).
    pub max_transaction_bytes: usize,
    /// Seconds a new connection has to send CONNECT (10).
    pub connect_timeout_secs: u16,
}

impl Default for StompConfig {
    fn default() -> Self {
        Self {
            default_vhost: VHostName::try_from("/").unwrap_or_else(|_| unreachable!()),
            allow_anonymous: true,
            default_user: "guest".into(),
            default_password: "guest".into(),
            limits: Limits::default(),
            min_heartbeat_ms: 100,
            max_outbox_bytes: 4 * 1024 * 1024,
            max_subscriptions: 256,
            max_transactions: 64,
            max_transaction_bytes: 16 * 1024 * 1024,
            connect_timeout_secs: 10,
        }
    }
}
