//! The `[mqtt]` section: the MQTT listener's settings, defaulted from the adapter's own
//! defaults so the two cannot drift.

use serde::Deserialize;
use warren_model::{ExchangeName, VHostName};
use warren_mqtt::{MqttConfig, TopicMapping};

use crate::config::ConfigError;

/// How MQTT topics become routing keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopicMappingSection {
    /// `/` and `.` swapped: every topic survives a round trip (the default).
    Lossless,
    /// RabbitMQ's `/` to `.` replacement: lossy, for migrations from RabbitMQ.
    Rabbitmq,
}

/// MQTT settings; see `config/warren.toml` for each key.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttSection {
    /// The vhost MQTT clients use.
    pub vhost: String,
    /// The topic exchange publishes go to and subscriptions bind from.
    pub exchange: String,
    /// Topic to routing key mapping.
    pub topic_mapping: TopicMappingSection,
    /// Largest packet accepted, bytes.
    pub max_packet_size: u32,
    /// A CONNECT without a user name logs in as `default_user`.
    pub allow_anonymous: bool,
    /// The user anonymous clients log in as.
    pub default_user: String,
    /// Its password.
    pub default_password: String,
    /// Cap on a session's expiry, seconds.
    pub max_session_expiry: u32,
    /// Inbound QoS 1/2 PUBLISHes a client may have unacknowledged (see the MQTT adapter).
    pub receive_maximum: u16,
    /// Outbound QoS 1/2 window for clients that announce none.
    pub max_inflight: u16,
    /// Pending output bytes above which a connection stops being read.
    pub max_outbox_bytes: usize,
    /// Inbound topic aliases accepted per connection.
    pub topic_alias_maximum: u16,
    /// Cap on the client's keep alive, seconds; 0 means no cap.
    pub max_keep_alive: u16,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout: u16,
}

impl Default for MqttSection {
    fn default() -> Self {
        let adapter = MqttConfig::default();
        Self {
            vhost: adapter.vhost.as_str().to_owned(),
            exchange: adapter.exchange.as_str().to_owned(),
            topic_mapping: match adapter.topic_mapping {
                TopicMapping::Lossless => TopicMappingSection::Lossless,
                TopicMapping::RabbitMq => TopicMappingSection::Rabbitmq,
            },
            max_packet_size: adapter.max_packet_size,
            allow_anonymous: adapter.allow_anonymous,
            default_user: adapter.default_user,
            default_password: adapter.default_password,
            max_session_expiry: adapter.max_session_expiry_secs,
            receive_maximum: adapter.receive_maximum,
            max_inflight: adapter.max_inflight,
            max_outbox_bytes: adapter.max_outbox_bytes,
            topic_alias_maximum: adapter.topic_alias_maximum,
            max_keep_alive: adapter.max_keep_alive_secs,
            connect_timeout: adapter.connect_timeout_secs,
        }
    }
}

impl MqttSection {
    /// The adapter's configuration; fails on an invalid vhost or exchange name or a limit the
    /// protocol cannot express.
    pub fn to_adapter(&self) -> Result<MqttConfig, ConfigError> {
        let invalid = |what: &str, error: warren_model::CoreError| {
            ConfigError::Invalid(format!("mqtt.{what}: {error}"))
        };
        if self.receive_maximum == 0 || self.max_inflight == 0 {
            return Err(ConfigError::Invalid(
                "mqtt.receive_maximum and mqtt.max_inflight must be at least 1".into(),
            ));
        }
        if self.max_packet_size < 64 {
            return Err(ConfigError::Invalid(
                "mqtt.max_packet_size must be at least 64".into(),
            ));
        }
        Ok(MqttConfig {
            vhost: VHostName::try_from(self.vhost.as_str()).map_err(|e| invalid("vhost", e))?,
            exchange: ExchangeName::try_from(self.exchange.as_str())
                .map_err(|e| invalid("exchange", e))?,
            topic_mapping: match self.topic_mapping {
                TopicMappingSection::Lossless => TopicMapping::Lossless,
                TopicMappingSection::Rabbitmq => TopicMapping::RabbitMq,
            },
            max_packet_size: self.max_packet_size,
            allow_anonymous: self.allow_anonymous,
            default_user: self.default_user.clone(),
            default_password: self.default_password.clone(),
            max_session_expiry_secs: self.max_session_expiry,
            receive_maximum: self.receive_maximum,
            max_inflight: self.max_inflight,
            max_outbox_bytes: self.max_outbox_bytes,
            topic_alias_maximum: self.topic_alias_maximum,
            max_keep_alive_secs: self.max_keep_alive,
            connect_timeout_secs: self.connect_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_convert_back_to_the_adapter_defaults() {
        let adapter = MqttSection::default().to_adapter().unwrap();
        let expected = MqttConfig::default();
        assert_eq!(adapter.vhost, expected.vhost);
        assert_eq!(adapter.exchange, expected.exchange);
        assert_eq!(adapter.topic_mapping, expected.topic_mapping);
        assert_eq!(adapter.max_packet_size, expected.max_packet_size);
        assert_eq!(adapter.receive_maximum, expected.receive_maximum);
    }

    #[test]
    fn rabbitmq_mapping_is_accepted_by_name() {
        let section: MqttSection = toml::from_str("topic_mapping = \"rabbitmq\"\n").unwrap();
        assert_eq!(
            section.to_adapter().unwrap().topic_mapping,
            TopicMapping::RabbitMq
        );
    }

    #[test]
    fn zero_receive_maximum_is_refused() {
        let section: MqttSection = toml::from_str("receive_maximum = 0\n").unwrap();
        assert!(section.to_adapter().is_err());
    }
}
