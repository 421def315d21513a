//! Raw MQTT packets built by hand: packet types, protocol levels, MQTT 5 properties, CONNECT,
//! PUBLISH, the acks, SUBSCRIBE, PINGREQ, DISCONNECT and AUTH.

/// Packet types (MQTT 5 section 2.1.2).
pub mod kind {
    pub const CONNECT: u8 = 1;
    pub const CONNACK: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const PUBACK: u8 = 4;
    pub const PUBREC: u8 = 5;
    pub const PUBREL: u8 = 6;
    pub const PUBCOMP: u8 = 7;
    pub const SUBSCRIBE: u8 = 8;
    pub const SUBACK: u8 = 9;
    pub const UNSUBSCRIBE: u8 = 10;
    pub const UNSUBACK: u8 = 11;
    pub const PINGREQ: u8 = 12;
    pub const PINGRESP: u8 = 13;
    pub const DISCONNECT: u8 = 14;
    pub const AUTH: u8 = 15;
}

/// Protocol levels.
pub const V31: u8 = 3;
pub const V311: u8 = 4;
pub const V5: u8 = 5;

/// A variable byte integer (MQTT 5 section 1.5.5).
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// A length-prefixed string or binary.
pub fn lp(b: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(b.len())
        .expect("short enough")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(b);
    out
}

/// A packet: first byte, remaining length, body.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// MQTT 5 properties, encoded in order.
#[derive(Default, Clone)]
pub struct Props(Vec<u8>);

impl Props {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn byte(mut self, id: u8, v: u8) -> Self {
        self.0.extend([id, v]);
        self
    }
    pub fn u16(mut self, id: u8, v: u16) -> Self {
        self.0.push(id);
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn u32(mut self, id: u8, v: u32) -> Self {
        self.0.push(id);
        self.0.extend(v.to_be_bytes());
        self
    }
    pub fn varint(mut self, id: u8, v: usize) -> Self {
        self.0.push(id);
        self.0.extend(varint(v));
        self
    }
    pub fn str(mut self, id: u8, v: &str) -> Self {
        self.0.push(id);
        self.0.extend(lp(v.as_bytes()));
        self
    }
    pub fn bin(mut self, id: u8, v: &[u8]) -> Self {
        self.0.push(id);
        self.0.extend(lp(v));
        self
    }
    pub fn pair(mut self, k: &str, v: &str) -> Self {
        self.0.push(0x26);
        self.0.extend(lp(k.as_bytes()));
        self.0.extend(lp(v.as_bytes()));
        self
    }
    /// The property block with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = varint(self.0.len());
        out.extend_from_slice(&self.0);
        out
    }
}

/// Property identifiers used by the suites.
pub mod prop {
    pub const PAYLOAD_FORMAT: u8 = 0x01;
    pub const MESSAGE_EXPIRY: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_ID: u8 = 0x0B;
    pub const SESSION_EXPIRY: u8 = 0x11;
    pub const ASSIGNED_CLIENT_ID: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTH_METHOD: u8 = 0x15;
    pub const AUTH_DATA: u8 = 0x16;
    pub const WILL_DELAY: u8 = 0x18;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
}

/// A will for [`Connect`].
#[derive(Clone)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 only.
    pub props: Props,
}

/// A CONNECT packet under construction.
#[derive(Clone)]
pub struct Connect {
    pub level: u8,
    pub client_id: String,
    pub clean: bool,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will: Option<Will>,
    /// MQTT 5 only.
    pub props: Props,
    /// Overrides the reserved flag bit (for malformed-CONNECT tests).
    pub reserved_flag: bool,
}

impl Connect {
    pub fn new(level: u8, client_id: &str) -> Self {
        Self {
            level,
            client_id: client_id.to_owned(),
            clean: true,
            keep_alive: 30,
            username: Some("guest".into()),
            password: Some(b"guest".to_vec()),
            will: None,
            props: Props::new(),
            reserved_flag: false,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut body = if self.level == V31 {
            lp(b"MQIsdp")
        } else {
            lp(b"MQTT")
        };
        body.push(self.level);
        let mut flags = u8::from(self.reserved_flag);
        flags |= u8::from(self.clean) << 1;
        if let Some(w) = &self.will {
            flags |= 0x04 | (w.qos << 3) | (u8::from(w.retain) << 5);
        }
        flags |= u8::from(self.password.is_some()) << 6;
        flags |= u8::from(self.username.is_some()) << 7;
        body.push(flags);
        body.extend(self.keep_alive.to_be_bytes());
        if self.level == V5 {
            body.extend(self.props.encode());
        }
        body.extend(lp(self.client_id.as_bytes()));
        if let Some(w) = &self.will {
            if self.level == V5 {
                body.extend(w.props.encode());
            }
            body.extend(lp(w.topic.as_bytes()));
            body.extend(lp(&w.payload));
        }
        if let Some(u) = &self.username {
            body.extend(lp(u.as_bytes()));
        }
        if let Some(p) = &self.password {
            body.extend(lp(p));
        }
        packet(kind::CONNECT << 4, &body)
    }
}

/// A PUBLISH; `props` is `Some` for MQTT 5.
pub fn publish(
    topic: &str,
    qos: u8,
    retain: bool,
    dup: bool,
    pkid: u16,
    payload: &[u8],
    props: Option<&Props>,
) -> Vec<u8> {
    publish_bytes(topic.as_bytes(), qos, retain, dup, pkid, payload, props)
}

/// A PUBLISH with arbitrary topic bytes.
pub fn publish_bytes(
    topic: &[u8],
    qos: u8,
    retain: bool,
    dup: bool,
    pkid: u16,
    payload: &[u8],
    props: Option<&Props>,
) -> Vec<u8> {
    let first = (kind::PUBLISH << 4) | (u8::from(dup) << 3) | (qos << 1) | u8::from(retain);
    let mut body = lp(topic);
    if qos > 0 {
        body.extend(pkid.to_be_bytes());
    }
    if let Some(p) = props {
        body.extend(p.encode());
    }
    body.extend_from_slice(payload);
    packet(first, &body)
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP in the short form (success).
pub fn ack(kind: u8, pkid: u16) -> Vec<u8> {
    let first = (kind << 4) | if kind == kind::PUBREL { 0x02 } else { 0 };
    packet(first, &pkid.to_be_bytes())
}

/// A SUBSCRIBE of `(filter, options)`; `props` is `Some` for MQTT 5.
pub fn subscribe(pkid: u16, filters: &[(&str, u8)], props: Option<&Props>) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    if let Some(p) = props {
        body.extend(p.encode());
    }
    for (f, o) in filters {
        body.extend(lp(f.as_bytes()));
        body.push(*o);
    }
    packet((kind::SUBSCRIBE << 4) | 0x02, &body)
}

/// A SUBSCRIBE of one filter given as raw bytes.
pub fn subscribe_bytes(pkid: u16, filter: &[u8], options: u8, v5: bool) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    if v5 {
        body.push(0);
    }
    body.extend(lp(filter));
    body.push(options);
    packet((kind::SUBSCRIBE << 4) | 0x02, &body)
}

pub fn pingreq() -> Vec<u8> {
    vec![kind::PINGREQ << 4, 0]
}

/// A DISCONNECT; MQTT 5 with a reason code and properties when `v5` is `Some`.
pub fn disconnect(v5: Option<(u8, &Props)>) -> Vec<u8> {
    match v5 {
        None => vec![kind::DISCONNECT << 4, 0],
        Some((reason, props)) => {
            let mut body = vec![reason];
            body.extend(props.encode());
            packet(kind::DISCONNECT << 4, &body)
        }
    }
}

/// An MQTT 5 AUTH packet.
pub fn auth(reason: u8, props: &Props) -> Vec<u8> {
    let mut body = vec![reason];
    body.extend(props.encode());
    packet(kind::AUTH << 4, &body)
}
