//! The `[stomp]` section: the STOMP listener's settings, defaulted from the adapter's own
//! defaults so the two cannot drift.

use serde::Deserialize;
use warren_model::VHostName;
use warren_stomp::codec::Limits;
use warren_stomp::StompConfig;

use crate::config::ConfigError;

/// STOMP settings; see `config/warren.toml` for each key.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StompSection {
    /// The vhost of a CONNECT without `host`.
    pub default_vhost: String,
    /// A CONNECT without `login` logs in as `default_user`.
    pub allow_anonymous: bool,
    /// The user anonymous clients log in as.
    pub default_user: String,
    /// Its password.
    pub default_password: String,
    /// Largest frame accepted, bytes.
    pub max_frame_size: usize,
    /// Most header lines in one frame.
    pub max_headers: usize,
    /// Longest command or header line, bytes.
    pub max_header_line: usize,
    /// Shortest heart-beat interval granted either way, milliseconds.
    pub min_heartbeat: u32,
    /// Pending output bytes above which a connection stops being read.
    pub max_outbox_bytes: usize,
    /// Subscriptions per connection.
    pub max_subscriptions: usize,
    /// Open transactions per connection.
    pub max_transactions: usize,
    /// Bytes buffered in a connection's open transactions.
    pub max_transaction_bytes: usize,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout: u16,
}

impl Default for StompSection {
    fn default() -> Self {
        let adapter = StompConfig::default();
        Self {
            default_vhost: adapter.default_vhost.as_str().to_owned(),
            allow_anonymous: adapter.allow_anonymous,
            default_user: adapter.default_user,
            default_password: adapter.default_password,
            max_frame_size: adapter.limits.max_frame_size,
            max_headers: adapter.limits.max_headers,
            max_header_line: adapter.limits.max_header_line,
            min_heartbeat: adapter.min_heartbeat_ms,
            max_outbox_bytes: adapter.max_outbox_bytes,
            max_subscriptions: adapter.max_subscriptions,
            max_transactions: adapter.max_transactions,
            max_transaction_bytes: adapter.max_transaction_bytes,
            connect_timeout: adapter.connect_timeout_secs,
        }
    }
}

impl StompSection {
    /// The adapter's configuration; fails on an invalid vhost name or a limit too small to
    /// carry a CONNECT.
    pub fn to_adapter(&self) -> Result<StompConfig, ConfigError> {
        if self.max_frame_size < 1024 || self.max_header_line < 256 || self.max_headers < 16 {
            return Err(ConfigError::Invalid(
                "stomp.max_frame_size must be at least 1024, stomp.max_header_line at least 256 \
                 and stomp.max_headers at least 16"
                    .into(),
            ));
        }
        let vhost = VHostName::try_from(self.default_vhost.as_str())
            .map_err(|e| ConfigError::Invalid(format!("stomp.default_vhost: {e}")))?;
        Ok(StompConfig {
            default_vhost: vhost,
            allow_anonymous: self.allow_anonymous,
            default_user: self.default_user.clone(),
            default_password: self.default_password.clone(),
            limits: Limits {
                max_frame_size: self.max_frame_size,
                max_headers: self.max_headers,
                max_header_line: self.max_header_line,
            },
            min_heartbeat_ms: self.min_heartbeat,
            max_outbox_bytes: self.max_outbox_bytes,
            max_subscriptions: self.max_subscriptions,
            max_transactions: self.max_transactions,
            max_transaction_bytes: self.max_transaction_bytes,
            connect_timeout_secs: self.connect_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_convert_back_to_the_adapter_defaults() {
        let adapter = StompSection::default().to_adapter().unwrap();
        let expected = StompConfig::default();
        assert_eq!(adapter.default_vhost, expected.default_vhost);
        assert_eq!(
            adapter.limits.max_frame_size,
            expected.limits.max_frame_size
        );
        assert_eq!(adapter.min_heartbeat_ms, expected.min_heartbeat_ms);
        assert_eq!(
            adapter.max_transaction_bytes,
            expected.max_transaction_bytes
        );
    }

    #[test]
    fn tiny_limits_are_refused() {
        let section: StompSection = toml::from_str("max_frame_size = 10\n").unwrap();
        assert!(section.to_adapter().is_err());
    }
}
