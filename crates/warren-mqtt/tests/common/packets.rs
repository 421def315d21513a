//! Packet helpers shared by the session test files: a CONNECT answered by its CONNACK, a
//! CONNECT with a will, a 5.0 PUBLISH, and the PUBLISHes among a batch of replies.

use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, Packet};
use rmqtt_codec::v5;

use super::{connect5, publish, Client};

pub fn connack3(c: &mut Client, p: v3::Packet) -> v3::ConnectAck {
    match c.send3(p).as_slice() {
        [Packet::ConnectAck(a)] => *a,
        other => panic!("{other:?}"),
    }
}

pub fn connack5(c: &mut Client, conn: v5::Connect) -> v5::ConnectAck {
    match c.send5(v5::Packet::Connect(Box::new(conn))).as_slice() {
        [v5::Packet::ConnectAck(a)] => (**a).clone(),
        other => panic!("{other:?}"),
    }
}

/// A 3.1.1 will, not retained.
pub fn will3(topic: &str, message: &'static str, qos: QoS) -> v3::LastWill {
    v3::LastWill {
        qos,
        retain: false,
        topic: topic.into(),
        message: message.into(),
    }
}

/// A 3.1.1 CONNECT that leaves `will`.
pub fn connect3_will(id: &str, clean: bool, keep_alive: u16, will: v3::LastWill) -> v3::Packet {
    v3::Packet::Connect(Box::new(v3::Connect {
        clean_session: clean,
        keep_alive,
        client_id: id.into(),
        last_will: Some(will),
        ..v3::Connect::default()
    }))
}

/// A 5.0 will, not retained and without properties but its Will Delay Interval.
pub fn will5(topic: &str, message: &'static str, qos: QoS, delay: Option<u32>) -> v5::LastWill {
    v5::LastWill {
        qos,
        retain: false,
        topic: topic.into(),
        message: message.into(),
        will_delay_interval_sec: delay,
        correlation_data: None,
        message_expiry_interval: None,
        content_type: None,
        user_properties: vec![],
        is_utf8_payload: None,
        response_topic: None,
    }
}

/// [`connect5`] that leaves `will`.
pub fn connect5_will(id: &str, clean: bool, expiry: u32, will: v5::LastWill) -> v5::Connect {
    v5::Connect {
        last_will: Some(will),
        ..connect5(id, clean, expiry)
    }
}

pub fn pub5(topic: &str, qos: QoS, id: u16, payload: &'static [u8]) -> v5::Packet {
    let mut p = publish(topic, qos, id, payload);
    p.properties = Some(v5::PublishProperties::default());
    v5::Packet::Publish(Box::new(p))
}

pub fn publishes5(out: &[v5::Packet]) -> Vec<rmqtt_codec::types::Publish> {
    out.iter()
        .filter_map(|p| match p {
            v5::Packet::Publish(p) => Some((**p).clone()),
            _ => None,
        })
        .collect()
}

pub fn publishes3(out: &[v3::Packet]) -> Vec<rmqtt_codec::types::Publish> {
    out.iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((**p).clone()),
            _ => None,
        })
        .collect()
}
