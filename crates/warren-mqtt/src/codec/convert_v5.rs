//! MQTT 5 packets to and from the neutral types.

use bytestring::ByteString;
use std::num::NonZeroU16;

use rmqtt_codec::v5::{
    self, ConnectAckReason, DisconnectReasonCode, Packet, PublishAck, PublishAck2,
    PublishAck2Reason, PublishAckReason, SubscribeAckReason, UnsubscribeAckReason,
};

use super::{
    id, nz, ConnectPacket, Inbound, Outbound, SubOptions, SubscribePacket, Version, WillPacket,
};
use crate::codec::PublishProperties;
use crate::errors::MqttError;

pub(super) fn from_v5(packet: Packet) -> Inbound {
    match packet {
        Packet::Connect(c) => Inbound::Connect(Box::new(connect(*c))),
        Packet::Publish(p) => Inbound::Publish(p),
        Packet::PublishAck(a) => Inbound::PubAck(id(a.packet_id)),
        Packet::PublishReceived(a) => Inbound::PubRec(id(a.packet_id)),
        Packet::PublishRelease(a) => Inbound::PubRel(id(a.packet_id)),
        Packet::PublishComplete(a) => Inbound::PubComp(id(a.packet_id)),
        Packet::Subscribe(s) => Inbound::Subscribe(SubscribePacket {
            id: id(s.packet_id),
            sub_id: s.id.map(|n| n.get()),
            filters: s
                .topic_filters
                .into_iter()
                .map(|(f, o)| {
                    let options = SubOptions {
                        qos: o.qos,
                        no_local: o.no_local,
                        retain_as_published: o.retain_as_published,
                        retain_handling: o.retain_handling as u8,
                    };
                    (f.to_string(), options)
                })
                .collect(),
        }),
        Packet::Unsubscribe(u) => Inbound::Unsubscribe {
            id: id(u.packet_id),
            filters: u.topic_filters.into_iter().map(|f| f.to_string()).collect(),
        },
        Packet::PingRequest => Inbound::PingReq,
        Packet::Disconnect(d) => Inbound::Disconnect {
            reason: d.reason_code as u8,
            session_expiry: d.session_expiry_interval_secs,
        },
        Packet::Auth(_) => Inbound::Auth,
        Packet::ConnectAck(_)
        | Packet::SubscribeAck(_)
        | Packet::UnsubscribeAck(_)
        | Packet::PingResponse => Inbound::ServerOnly,
    }
}

fn connect(c: v5::Connect) -> ConnectPacket {
    ConnectPacket {
        version: Version::V5,
        clean_start: c.clean_start,
        keep_alive: c.keep_alive,
        client_id: c.client_id.to_string(),
        username: c.username.map(|u| u.to_string()),
        password: c.password,
        will: c.last_will.map(will),
        session_expiry: c.session_expiry_interval_secs,
        receive_max: c.receive_max.map_or(u16::MAX, NonZeroU16::get),
        max_packet_size: c.max_packet_size.map(|n| n.get()),
        topic_alias_max: c.topic_alias_max,
        auth_method: c.auth_method.map(|m| m.to_string()),
    }
}

fn will(w: v5::LastWill) -> WillPacket {
    WillPacket {
        topic: w.topic.to_string(),
        payload: w.message,
        qos: w.qos,
        retain: w.retain,
        delay_secs: w.will_delay_interval_sec.unwrap_or(0),
        properties: PublishProperties {
            topic_alias: None,
            correlation_data: w.correlation_data,
            message_expiry_interval: w.message_expiry_interval,
            content_type: w.content_type,
            user_properties: w.user_properties,
            is_utf8_payload: w.is_utf8_payload.unwrap_or(false),
            response_topic: w.response_topic,
            subscription_ids: Vec::new(),
        },
    }
}

fn bad_code(code: u8) -> MqttError {
    MqttError::Malformed(format!("no such reason code {code:#x} here"))
}

fn ack(n: u16, code: u8) -> Result<PublishAck, MqttError> {
    Ok(PublishAck {
        packet_id: nz(n)?,
        reason_code: PublishAckReason::try_from(code).map_err(|_| bad_code(code))?,
        properties: Vec::new(),
        reason_string: None,
    })
}

fn ack2(n: u16, code: u8) -> Result<PublishAck2, MqttError> {
    Ok(PublishAck2 {
        packet_id: nz(n)?,
        reason_code: PublishAck2Reason::try_from(code).map_err(|_| bad_code(code))?,
        properties: Vec::new(),
        reason_string: None,
    })
}

pub(super) fn to_v5(packet: Outbound) -> Result<Packet, MqttError> {
    Ok(match packet {
        Outbound::ConnAck(c) => Packet::ConnectAck(Box::new(connack(*c)?)),
        Outbound::Publish(p) => Packet::Publish(p),
        Outbound::PubAck(n, code) => Packet::PublishAck(ack(n, code)?),
        Outbound::PubRec(n, code) => Packet::PublishReceived(ack(n, code)?),
        Outbound::PubRel(n, code) => Packet::PublishRelease(ack2(n, code)?),
        Outbound::PubComp(n, code) => Packet::PublishComplete(ack2(n, code)?),
        Outbound::SubAck(n, codes, reason) => Packet::SubscribeAck(v5::SubscribeAck {
            packet_id: nz(n)?,
            properties: Vec::new(),
            reason_string: reason.map(wire_text),
            status: codes
                .into_iter()
                .map(|c| SubscribeAckReason::try_from(c).map_err(|_| bad_code(c)))
                .collect::<Result<_, _>>()?,
        }),
        Outbound::UnsubAck(n, codes) => Packet::UnsubscribeAck(v5::UnsubscribeAck {
            packet_id: nz(n)?,
            properties: Vec::new(),
            reason_string: None,
            status: codes
                .into_iter()
                .map(|c| UnsubscribeAckReason::try_from(c).map_err(|_| bad_code(c)))
                .collect::<Result<_, _>>()?,
        }),
        Outbound::PingResp => Packet::PingResponse,
        Outbound::Disconnect(code, text) => Packet::Disconnect(v5::Disconnect {
            reason_code: DisconnectReasonCode::try_from(code).map_err(|_| bad_code(code))?,
            session_expiry_interval_secs: None,
            server_reference: None,
            reason_string: text.map(wire_text),
            user_properties: Vec::new(),
        }),
    })
}

fn connack(c: super::ConnAckPacket) -> Result<v5::ConnectAck, MqttError> {
    Ok(v5::ConnectAck {
        session_present: c.session_present,
        reason_code: ConnectAckReason::try_from(c.code).map_err(|_| bad_code(c.code))?,
        session_expiry_interval_secs: c.session_expiry,
        receive_max: NonZeroU16::new(c.receive_max).unwrap_or(NonZeroU16::MAX),
        max_qos: crate::codec::QoS::ExactlyOnce,
        max_packet_size: c.max_packet_size,
        assigned_client_id: c.assigned_client_id.map(Into::into),
        topic_alias_max: c.topic_alias_max,
        retain_available: true,
        wildcard_subscription_available: true,
        subscription_identifiers_available: true,
        shared_subscription_available: true,
        server_keepalive_sec: c.server_keep_alive,
        response_info: None,
        server_reference: None,
        auth_method: None,
        auth_data: None,
        reason_string: c.reason_string.map(wire_text),
        user_properties: Vec::new(),
    })
}

/// A reason string as MQTT may carry it: U+0000 is not allowed in a UTF-8 string
/// (MQTT-1.5.4-2), and a reason that quotes a client's bad topic may contain one, so it is
/// replaced with U+FFFD rather than making the whole packet malformed.
fn wire_text(text: String) -> ByteString {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::wire_text;

    #[test]
    fn a_reason_string_never_carries_a_nul() {
        assert_eq!(&*wire_text("a\0b: invalid".into()), "a\u{FFFD}b: invalid");
        assert_eq!(&*wire_text("plain".into()), "plain");
    }
}
