//! MQTT 3.1 / 3.1.1 packets to and from the neutral types.

use rmqtt_codec::v3::{self, ConnectAckReason, Packet, SubscribeReturnCode};

use super::{
    id, nz, ConnectPacket, Inbound, Outbound, SubOptions, SubscribePacket, Version, WillPacket,
};
use crate::codec::QoS;
use crate::errors::{connack_v3, MqttError};

pub(super) fn from_v3(packet: Packet, version: Version) -> Inbound {
    match packet {
        Packet::Connect(c) => Inbound::Connect(Box::new(connect(*c, version))),
        Packet::Publish(p) => Inbound::Publish(p),
        Packet::PublishAck { packet_id } => Inbound::PubAck(id(packet_id)),
        Packet::PublishReceived { packet_id } => Inbound::PubRec(id(packet_id)),
        Packet::PublishRelease { packet_id } => Inbound::PubRel(id(packet_id)),
        Packet::PublishComplete { packet_id } => Inbound::PubComp(id(packet_id)),
        Packet::Subscribe {
            packet_id,
            topic_filters,
        } => Inbound::Subscribe(SubscribePacket {
            id: id(packet_id),
            sub_id: None,
            filters: topic_filters
                .into_iter()
                .map(|(f, qos)| (f.to_string(), plain_options(qos)))
                .collect(),
        }),
        Packet::Unsubscribe {
            packet_id,
            topic_filters,
        } => Inbound::Unsubscribe {
            id: id(packet_id),
            filters: topic_filters.into_iter().map(|f| f.to_string()).collect(),
        },
        Packet::PingRequest => Inbound::PingReq,
        Packet::Disconnect => Inbound::Disconnect {
            reason: 0,
            session_expiry: None,
        },
        Packet::ConnectAck(_)
        | Packet::SubscribeAck { .. }
        | Packet::UnsubscribeAck { .. }
        | Packet::PingResponse => Inbound::ServerOnly,
    }
}

fn plain_options(qos: QoS) -> SubOptions {
    SubOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: 0,
    }
}

fn connect(c: v3::Connect, version: Version) -> ConnectPacket {
    ConnectPacket {
        version,
        clean_start: c.clean_session,
        keep_alive: c.keep_alive,
        client_id: c.client_id.to_string(),
        username: c.username.map(|u| u.to_string()),
        password: c.password,
        will: c.last_will.map(|w| WillPacket {
            topic: w.topic.to_string(),
            payload: w.message,
            qos: w.qos,
            retain: w.retain,
            delay_secs: 0,
            properties: Default::default(),
        }),
        session_expiry: 0,
        receive_max: u16::MAX,
        max_packet_size: None,
        topic_alias_max: 0,
        auth_method: None,
    }
}

/// `None` for packets 3.x servers never send (DISCONNECT).
pub(super) fn to_v3(packet: Outbound) -> Result<Option<Packet>, MqttError> {
    let p = match packet {
        Outbound::ConnAck(c) => Packet::ConnectAck(v3::ConnectAck {
            return_code: ConnectAckReason::try_from(connack_v3(c.code))
                .unwrap_or(ConnectAckReason::ServiceUnavailable),
            session_present: c.session_present,
        }),
        Outbound::Publish(mut p) => {
            p.properties = None;
            Packet::Publish(p)
        }
        Outbound::PubAck(n, _) => Packet::PublishAck { packet_id: nz(n)? },
        Outbound::PubRec(n, _) => Packet::PublishReceived { packet_id: nz(n)? },
        Outbound::PubRel(n, _) => Packet::PublishRelease { packet_id: nz(n)? },
        Outbound::PubComp(n, _) => Packet::PublishComplete { packet_id: nz(n)? },
        Outbound::SubAck(n, codes, _) => Packet::SubscribeAck {
            packet_id: nz(n)?,
            status: codes.into_iter().map(sub_return_code).collect(),
        },
        Outbound::UnsubAck(n, _) => Packet::UnsubscribeAck { packet_id: nz(n)? },
        Outbound::PingResp => Packet::PingResponse,
        Outbound::Disconnect(..) => return Ok(None),
    };
    Ok(Some(p))
}

fn sub_return_code(code: u8) -> SubscribeReturnCode {
    match QoS::try_from(code) {
        Ok(qos) => SubscribeReturnCode::Success(qos),
        Err(_) => SubscribeReturnCode::Failure,
    }
}
