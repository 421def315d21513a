//! Packet helpers shared by the session test files: a CONNECT answered by its CONNACK, a 5.0
//! PUBLISH, and the PUBLISHes among a batch of replies.

use rmqtt_codec::types::QoS;
use rmqtt_codec::v3::{self, Packet};
use rmqtt_codec::v5;

use super::{publish, Client};

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
