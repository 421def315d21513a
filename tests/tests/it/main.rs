//! The integration tests, in one binary so that CI links one large test executable instead
//! of one per file (each links the whole broker and every client). Each module is one
//! area; `cargo test -p warren-it --test it mqtt_qos::` runs one of them. The memory-alarm
//! test stays a binary of its own: it measures the resident memory of its process.

mod amqp_consumer_support;
mod amqp_exchange_support;
mod amqp_queue_support;
#[path = "../../support/mqtt/mod.rs"]
mod mqtt;
mod mqtt_interop_support;
mod mqtt_v5_support;
mod queue_features;
#[path = "../../support/stomp.rs"]
mod stomp;
mod stomp_interop_support;

mod amqp_acks_and_redelivery;
mod amqp_argument_errors;
mod amqp_bindings;
mod amqp_confirms_tx;
mod amqp_consumer_dispatch;
mod amqp_delayed;
mod amqp_errors;
mod amqp_exchange_lifecycle;
mod amqp_exchange_routing;
mod amqp_handshake;
mod amqp_hostile;
mod amqp_limits;
mod amqp_messages;
mod amqp_priority;
mod amqp_queue_bindings;
mod amqp_queue_declare;
mod amqp_queue_lifetime;
mod amqp_rare_methods;
mod amqp_sender_selected;
mod amqp_ttl_dlx;
mod durability_delayed;
mod durability_disk_alarm;
mod durability_lazy;
mod durability_mqtt;
mod durability_restart;
mod durability_ttl;
mod mqtt_connect;
mod mqtt_interop_amqp_properties;
mod mqtt_interop_amqp_routing;
mod mqtt_interop_amqp_topic_mapping;
mod mqtt_interop_stomp;
mod mqtt_limits;
mod mqtt_qos;
mod mqtt_retained;
mod mqtt_sessions;
mod mqtt_shared;
mod mqtt_slow_subscriber;
mod mqtt_v5_limits;
mod mqtt_v5_message_properties;
mod mqtt_v5_reason_codes;
mod mqtt_v5_subscription_options;
mod mqtt_v5_topic_aliases;
mod mqtt_validation;
mod mqtt_will_keepalive;
mod queue_features_interop;
mod stomp_acks;
mod stomp_connect;
mod stomp_destinations;
mod stomp_durability;
mod stomp_errors;
mod stomp_interop_headers;
mod stomp_interop_routing;
mod stomp_message_headers;
mod stomp_queue_arguments;
mod stomp_transactions;
mod tls_clients;
mod tls_listeners;
