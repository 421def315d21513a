//! The connection handshake (spec 2.2.4): start / start-ok (authentication with PLAIN,
//! AMQPLAIN, or EXTERNAL when the TLS listener proved a certificate login), tune / tune-ok
//! (negotiation), open / open-ok (vhost).
//!
//! Errors here close the connection at once after `connection.close`: the client is not yet
//! trusted to finish a close handshake (RabbitMQ does the same). Authentication failures are
//! reported with 403 ACCESS_REFUSED, as the `authentication_failure_close` capability promises.

use std::time::Instant;

use amq_protocol::protocol::{connection, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable as AmqpTable, LongString};
use bytes::BytesMut;
use warren_model::{UserName, VHostName};

use crate::codec::Frame;
use crate::connection::{AmqpSession, ConnState};
use crate::convert::short;
use crate::errors::{AmqpError, ACCESS_REFUSED, COMMAND_INVALID, NOT_ALLOWED, SYNTAX_ERROR};
use crate::guard;

/// The smallest frame_max a client may ask for (spec 4.2.3, FRAME-MIN-SIZE).
const FRAME_MIN_SIZE: u32 = 4096;

/// Sends `connection.start` after a good protocol header.
pub fn send_start(session: &mut AmqpSession, output: &mut BytesMut) {
    let start = connection::Start {
        version_major: 0,
        version_minor: 9,
        server_properties: server_properties(),
        mechanisms: LongString::from(mechanisms(session)),
        locales: LongString::from("en_US"),
    };
    let mut out = AmqpSession::out(&mut session.writer, output, session.frame_max);
    out.method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::Start(start)),
    );
    session.state = ConnState::AwaitingStartOk;
}

/// EXTERNAL is offered only where it can succeed: a verified certificate named the user.
fn mechanisms(session: &AmqpSession) -> &'static str {
    match session.peer.certificate_login {
        Some(_) => "PLAIN AMQPLAIN EXTERNAL",
        None => "PLAIN AMQPLAIN",
    }
}

fn server_properties() -> AmqpTable {
    let mut caps = AmqpTable::default();
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "consumer_priorities",
    ] {
        caps.insert(short(cap), AMQPValue::Boolean(true));
    }
    let mut props = AmqpTable::default();
    let text = |s: &str| AMQPValue::LongString(LongString::from(s));
    props.insert(short("capabilities"), AMQPValue::FieldTable(caps));
    props.insert(short("product"), text("Warren"));
    props.insert(short("version"), text(env!("CARGO_PKG_VERSION")));
    props.insert(short("platform"), text("Rust"));
    props.insert(
        short("information"),
        text("Licensed under the Apache License 2.0"),
    );
    props
}

/// Handles a frame while the handshake is under way.
pub fn handle(session: &mut AmqpSession, frame: Frame, output: &mut BytesMut, now: Instant) {
    let ids = match session.state {
        ConnState::AwaitingStartOk => (10, 11),
        ConnState::AwaitingTuneOk => (10, 31),
        _ => (10, 40),
    };
    let result = match frame {
        Frame::Heartbeat { channel: 0 } => Ok(()),
        Frame::Method {
            channel: 0, method, ..
        } => connection_method(session, *method, output, now),
        _ => Err(unexpected()),
    };
    if let Err(err) = result {
        tracing::info!(peer = %session.peer.remote, code = err.code(), text = err.text(), "handshake refused");
        session.close_connection(&err.into_hard(), ids, output, now);
        session.state = ConnState::Closed;
    }
}

/// A method on channel 0 while the handshake is under way: the one the state waits for, or
/// `connection.close`.
fn connection_method(
    session: &mut AmqpSession,
    method: AMQPClass,
    output: &mut BytesMut,
    now: Instant,
) -> Result<(), AmqpError> {
    use connection::AMQPMethod as C;
    let AMQPClass::Connection(method) = method else {
        return Err(unexpected());
    };
    match (session.state, method) {
        (ConnState::AwaitingStartOk, C::StartOk(m)) => start_ok(session, m, output),
        (ConnState::AwaitingTuneOk, C::TuneOk(m)) => tune_ok(session, &m, now),
        (ConnState::AwaitingOpen, C::Open(m)) => open(session, &m, output),
        (_, C::Close(_)) => {
            session.state = ConnState::Closed;
            Ok(())
        }
        _ => Err(unexpected()),
    }
}

fn unexpected() -> AmqpError {
    AmqpError::hard(
        COMMAND_INVALID,
        "unexpected frame during the connection handshake",
    )
}

fn start_ok(
    session: &mut AmqpSession,
    m: connection::StartOk,
    output: &mut BytesMut,
) -> Result<(), AmqpError> {
    session.cancel_notify = announces_cancel_notify(&m.client_properties);
    session.blocked_notify = crate::blocked::announces_blocked(&m.client_properties);
    let mechanism = m.mechanism.as_str();
    let user = login(session, mechanism, m.response.as_bytes())?;
    session.user = Some(user);
    let tune = connection::Tune {
        channel_max: session.config.channel_max,
        frame_max: session.config.frame_max,
        heartbeat: session.config.heartbeat_secs,
    };
    let mut out = AmqpSession::out(&mut session.writer, output, session.frame_max);
    out.method(0, AMQPClass::Connection(connection::AMQPMethod::Tune(tune)));
    session.state = ConnState::AwaitingTuneOk;
    Ok(())
}

fn login(session: &AmqpSession, mechanism: &str, response: &[u8]) -> Result<UserName, AmqpError> {
    let from_loopback = session.peer.remote.ip().is_loopback();
    let result = match mechanism {
        // The response (an optional authorization id) is ignored, as RabbitMQ does: the
        // certificate alone names the user.
        "EXTERNAL" => {
            let user = session
                .peer
                .certificate_login
                .as_deref()
                .ok_or_else(|| refused(mechanism))?;
            session.broker.authenticate_external(user, from_loopback)
        }
        _ => {
            let (user, password) = credentials(mechanism, response)?;
            session.broker.authenticate(&user, &password, from_loopback)
        }
    };
    result.map_err(|e| match e.text.contains("Login was refused") {
        true => refused(mechanism),
        false => AmqpError::from(e).into_hard(),
    })
}

fn announces_cancel_notify(props: &AmqpTable) -> bool {
    let Some(AMQPValue::FieldTable(caps)) = props.inner().get("capabilities") else {
        return false;
    };
    matches!(
        caps.inner().get("consumer_cancel_notify"),
        Some(AMQPValue::Boolean(true))
    )
}

fn refused(mechanism: &str) -> AmqpError {
    AmqpError::hard(
        ACCESS_REFUSED,
        format!("Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."),
    )
}

/// User and password from a SASL response.
fn credentials(mechanism: &str, response: &[u8]) -> Result<(String, String), AmqpError> {
    match mechanism {
        "PLAIN" => plain(response).ok_or_else(|| refused(mechanism)),
        "AMQPLAIN" => amqplain(response)?.ok_or_else(|| refused(mechanism)),
        other => Err(AmqpError::hard(
            COMMAND_INVALID,
            format!("unknown authentication mechanism '{other}'"),
        )),
    }
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`.
fn plain(response: &[u8]) -> Option<(String, String)> {
    let mut parts = response.split(|b| *b == 0);
    let (_authzid, user, pass) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((
        String::from_utf8(user.to_vec()).ok()?,
        String::from_utf8(pass.to_vec()).ok()?,
    ))
}

/// RabbitMQ's AMQPLAIN: a field table without its length prefix, with LOGIN and PASSWORD.
fn amqplain(response: &[u8]) -> Result<Option<(String, String)>, AmqpError> {
    let len = u32::try_from(response.len())
        .map_err(|_| AmqpError::hard(SYNTAX_ERROR, "AMQPLAIN response too long"))?;
    let mut table = len.to_be_bytes().to_vec();
    table.extend_from_slice(response);
    guard::check_table_at(&table)
        .map_err(|_| AmqpError::hard(SYNTAX_ERROR, "malformed AMQPLAIN response"))?;
    let Ok((_, parsed)) = amq_protocol::types::parsing::parse_field_table(table.as_slice()) else {
        return Err(AmqpError::hard(SYNTAX_ERROR, "malformed AMQPLAIN response"));
    };
    let text = |key: &str| match parsed.inner().get(key) {
        Some(AMQPValue::LongString(s)) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        Some(AMQPValue::ShortString(s)) => Some(s.as_str().to_owned()),
        _ => None,
    };
    Ok(text("LOGIN").zip(text("PASSWORD")))
}

fn tune_ok(
    session: &mut AmqpSession,
    m: &connection::TuneOk,
    now: Instant,
) -> Result<(), AmqpError> {
    session.frame_max = negotiate_frame_max(m.frame_max, session.config.frame_max)?;
    session.channel_max = negotiate_channel_max(m.channel_max, session.config.channel_max)?;
    session.heartbeat.start(m.heartbeat, now);
    session.state = ConnState::AwaitingOpen;
    Ok(())
}

fn negotiate_frame_max(client: u32, server: u32) -> Result<u32, AmqpError> {
    match client {
        0 => Ok(server),
        c if c < FRAME_MIN_SIZE => Err(AmqpError::hard(
            NOT_ALLOWED,
            format!("negotiated frame_max = {c} is lower than the minimum allowed value ({FRAME_MIN_SIZE})"),
        )),
        c if server != 0 && c > server => Err(AmqpError::hard(
            NOT_ALLOWED,
            format!("negotiated frame_max = {c} is higher than the maximum allowed value ({server})"),
        )),
        c => Ok(c),
    }
}

fn negotiate_channel_max(client: u16, server: u16) -> Result<u16, AmqpError> {
    match client {
        0 => Ok(server),
        c if server != 0 && c > server => Err(AmqpError::hard(
            NOT_ALLOWED,
            format!(
                "negotiated channel_max = {c} is higher than the maximum allowed value ({server})"
            ),
        )),
        c => Ok(c),
    }
}

fn open(
    session: &mut AmqpSession,
    m: &connection::Open,
    output: &mut BytesMut,
) -> Result<(), AmqpError> {
    let Some(user) = session.user.as_ref() else {
        return Err(AmqpError::hard(
            COMMAND_INVALID,
            "connection.open before authentication",
        ));
    };
    let name = VHostName::try_from(m.virtual_host.as_str())?;
    let vhost = session
        .broker
        .vhost(user, &name)
        .map_err(|e| AmqpError::from(e).into_hard())?;
    session.vhost = Some(vhost);
    let mut out = AmqpSession::out(&mut session.writer, output, session.frame_max);
    out.method(
        0,
        AMQPClass::Connection(connection::AMQPMethod::OpenOk(connection::OpenOk {})),
    );
    session.state = ConnState::Open;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses_parse() {
        assert_eq!(plain(b"\0guest\0pw"), Some(("guest".into(), "pw".into())));
        assert_eq!(plain(b"guest"), None);
    }

    #[test]
    fn zero_means_the_server_value() {
        assert_eq!(negotiate_frame_max(0, 131_072), Ok(131_072));
        assert_eq!(negotiate_channel_max(0, 2047), Ok(2047));
        assert!(negotiate_frame_max(200_000, 131_072).is_err());
        assert!(negotiate_frame_max(100, 131_072).is_err());
        assert_eq!(negotiate_frame_max(4096, 131_072), Ok(4096));
    }
}
