//! Session tests without sockets: time is passed in by hand, so heart-beats, dead clients and
//! the connect timeout are checked without waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use warren_core::{Core, CoreConfig};
use warren_model::{Broker, PeerInfo, Session, SessionFactory, SessionStatus, Wake};
use warren_stomp::{StompConfig, StompSessionFactory};

struct NoWake;

impl Wake for NoWake {
    fn wake(&self) {}
}

fn session(config: StompConfig) -> Box<dyn Session> {
    let broker: Arc<dyn Broker> = Core::new(CoreConfig::default());
    let factory = StompSessionFactory::new(broker, config);
    let peer = PeerInfo::new(
        "127.0.0.1:5000".parse().unwrap(),
        "127.0.0.1:61613".parse().unwrap(),
    );
    factory.new_session(peer, Arc::new(NoWake))
}

fn input(s: &mut dyn Session, bytes: &[u8], now: Instant) -> (SessionStatus, String) {
    let mut inp = BytesMut::from(bytes);
    let mut out = BytesMut::new();
    let status = s.on_input(&mut inp, &mut out, now);
    (status, String::from_utf8_lossy(&out).into_owned())
}

fn connect(s: &mut dyn Session, heart_beat: &str, now: Instant) -> String {
    let frame = format!("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:{heart_beat}\n\n\0");
    let (status, out) = input(s, frame.as_bytes(), now);
    assert_eq!(status, SessionStatus::Continue);
    assert!(out.starts_with("CONNECTED\n"), "{out}");
    out
}

#[test]
fn no_connect_in_time_closes() {
    let config = StompConfig {
        connect_timeout_secs: 2,
        ..StompConfig::default()
    };
    let now = Instant::now();
    let mut s = session(config);
    let deadline = s.next_deadline().expect("a connect deadline");
    assert!(deadline > now && deadline <= now + Duration::from_secs(3));
    let mut out = BytesMut::new();
    assert_eq!(s.on_tick(&mut out, deadline), SessionStatus::Close);
}

#[test]
fn idle_server_sends_eols_at_the_negotiated_interval() {
    let now = Instant::now();
    let mut s = session(StompConfig::default());
    let connected = connect(s.as_mut(), "0,500", now);
    assert!(connected.contains("heart-beat:500,0"), "{connected}");
    let due = s.next_deadline().expect("a heart-beat deadline");
    assert_eq!(due, now + Duration::from_millis(500));
    let mut out = BytesMut::new();
    assert_eq!(s.on_tick(&mut out, due), SessionStatus::Continue);
    assert_eq!(&out[..], b"\n");
    assert_eq!(s.next_deadline(), Some(due + Duration::from_millis(500)));
}

#[test]
fn a_client_silent_for_two_intervals_is_dropped() {
    let now = Instant::now();
    let mut s = session(StompConfig::default());
    connect(s.as_mut(), "1000,0", now);
    let mut out = BytesMut::new();
    let later = now + Duration::from_millis(1500);
    // A heart-beat EOL from the client counts as traffic.
    let (status, _) = input(s.as_mut(), b"\n", later);
    assert_eq!(status, SessionStatus::Continue);
    assert_eq!(
        s.on_tick(&mut out, now + Duration::from_millis(3000)),
        SessionStatus::Continue
    );
    assert_eq!(s.next_deadline(), Some(later + Duration::from_millis(2000)));
    assert_eq!(
        s.on_tick(&mut out, later + Duration::from_millis(2000)),
        SessionStatus::Close
    );
}

#[test]
fn a_partial_frame_handed_over_again_is_not_traffic() {
    let now = Instant::now();
    let mut s = session(StompConfig::default());
    connect(s.as_mut(), "1000,0", now);
    let mut inp = BytesMut::from(&b"SEND\ndesti"[..]);
    let mut out = BytesMut::new();
    s.on_input(&mut inp, &mut out, now + Duration::from_millis(100));
    // The driver calls again with the same leftover bytes: the client has not spoken.
    s.on_input(&mut inp, &mut out, now + Duration::from_millis(1900));
    assert_eq!(
        s.on_tick(&mut out, now + Duration::from_millis(2100)),
        SessionStatus::Close
    );
}

#[test]
fn the_heart_beat_floor_applies() {
    let config = StompConfig {
        min_heartbeat_ms: 250,
        ..StompConfig::default()
    };
    let mut s = session(config);
    let connected = connect(s.as_mut(), "10,10", Instant::now());
    assert!(connected.contains("heart-beat:250,250"), "{connected}");
}
