//! MQTT adapter (in progress).
