//! CONNECT and STOMP: version negotiation (`accept-version`, absent meaning 1.0), `host` as
//! the vhost, `login`/`passcode`, heart-beats, and the CONNECTED reply.

use std::time::Instant;

use bytes::BytesMut;
use warren_model::{UserName, VHostName};

use crate::errors::StompError;
use crate::frame::{Command, Frame, Version};
use crate::heartbeat;
use crate::live::Live;
use crate::session::{write, State, StompSession};

/// The highest version both sides speak.
pub fn negotiate(accept: Option<&str>) -> Result<Version, StompError> {
    let Some(accept) = accept else {
        return Ok(Version::V1_0);
    };
    accept
        .split(',')
        .filter_map(Version::parse)
        .max()
        .ok_or(StompError::Version)
}

fn authenticate(s: &StompSession, frame: &Frame) -> Result<UserName, StompError> {
    let config = &s.shared.config;
    let loopback = s.peer.remote.ip().is_loopback();
    if let (None, Some(certified)) = (frame.get("login"), s.peer.certificate_login.as_deref()) {
        // RabbitMQ's ssl_cert_login: no login header, so the verified certificate names the user.
        return s
            .shared
            .broker
            .authenticate_external(certified, loopback)
            .map_err(|_| StompError::BadConnect(format!("Access refused for user '{certified}'")));
    }
    let (user, password) = match frame.get("login") {
        Some(user) => (user, frame.get("passcode").unwrap_or_default()),
        None if config.allow_anonymous => (
            config.default_user.as_str(),
            config.default_password.as_str(),
        ),
        None => {
            return Err(StompError::BadConnect(
                "Access refused: a login is required".into(),
            ))
        }
    };
    s.shared
        .broker
        .authenticate(user, password, loopback)
        .map_err(|_| StompError::BadConnect(format!("Access refused for user '{user}'")))
}

/// Handles CONNECT or STOMP and writes CONNECTED.
pub fn connect(
    s: &mut StompSession,
    frame: &Frame,
    out: &mut BytesMut,
    now: Instant,
) -> Result<(), StompError> {
    let version = negotiate(frame.get("accept-version"))?;
    s.codec.set_version(version);
    let user = authenticate(s, frame)?;
    let host = frame.get("host");
    let denied = || {
        let name = host.unwrap_or_else(|| s.shared.config.default_vhost.as_str());
        StompError::BadConnect(format!("Virtual host '{name}' access denied"))
    };
    let vhost_name = match host {
        Some(h) => VHostName::try_from(h).map_err(|_| denied())?,
        None => s.shared.config.default_vhost.clone(),
    };
    let vhost = s
        .shared
        .broker
        .vhost(&user, &vhost_name)
        .map_err(|_| denied())?;
    let conn = s.shared.broker.next_connection_id();
    let session_id = format!("session-{}", conn.0);
    let client_beats = heartbeat::parse(frame.get("heart-beat"));
    let floor = s.shared.config.min_heartbeat_ms;
    let (sx, sy) = s.heartbeat.negotiate(client_beats, floor, now);
    let connected = Frame::new(Command::Connected)
        .header("server", concat!("Warren/", env!("CARGO_PKG_VERSION")))
        .header("session", session_id.as_str())
        .header("heart-beat", format!("{sx},{sy}"))
        .header("version", version.as_str());
    write(out, &connected, version);
    s.live = Some(Box::new(Live {
        version,
        vhost,
        user,
        conn,
        session_id,
        subs: Default::default(),
        by_tag: Default::default(),
        unacked: Default::default(),
        next_delivery: 1,
        txs: Default::default(),
        temp_queues: Default::default(),
        receipts: Default::default(),
        declared: Default::default(),
        flow: None,
    }));
    s.state = State::Connected;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_highest_common_version() {
        assert_eq!(negotiate(None), Ok(Version::V1_0));
        assert_eq!(negotiate(Some("1.0,1.1,1.2")), Ok(Version::V1_2));
        assert_eq!(negotiate(Some("1.1")), Ok(Version::V1_1));
        assert_eq!(negotiate(Some("1.2,2.0")), Ok(Version::V1_2));
        assert_eq!(negotiate(Some("2.0")), Err(StompError::Version));
        assert_eq!(negotiate(Some("")), Err(StompError::Version));
    }
}
