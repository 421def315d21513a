use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use warren_model::{PeerInfo, Session, SessionFactory, SessionStatus, Wake};

use super::*;

struct NoSession;

impl Session for NoSession {
    fn on_input(&mut self, _: &mut BytesMut, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Close
    }
    fn on_wake(&mut self, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Continue
    }
    fn on_tick(&mut self, _: &mut BytesMut, _: Instant) -> SessionStatus {
        SessionStatus::Continue
    }
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    fn on_drained(&mut self) {}
    fn wants_input(&self) -> bool {
        true
    }
    fn on_close(&mut self) {}
}

struct NoFactory;

impl SessionFactory for NoFactory {
    fn new_session(&self, _: PeerInfo, _: Arc<dyn Wake>) -> Box<dyn Session> {
        Box::new(NoSession)
    }
}

fn route(name: &'static str, subprotocols: &[&str]) -> WsRoute {
    WsRoute {
        name,
        path: format!("/{name}"),
        subprotocols: subprotocols.iter().map(|s| (*s).to_owned()).collect(),
        frames: OutFrames::Binary,
        factory: Arc::new(NoFactory),
    }
}

fn service(origins: &[&str]) -> WsService {
    WsService {
        routes: vec![
            route("mqtt", &["mqtt", "mqttv3.1"]),
            route("stomp", &["v12.stomp", "v11.stomp", "v10.stomp"]),
        ],
        shared_path: "/ws".to_owned(),
        allowed_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
        max_message_size: 1 << 20,
    }
}

fn chosen(route: usize, subprotocol: Option<&str>) -> Result<Choice, Refusal> {
    let subprotocol = subprotocol.map(str::to_owned);
    Ok(Choice { route, subprotocol })
}

#[test]
fn the_shared_path_picks_by_the_first_supported_subprotocol() {
    let s = service(&[]);
    assert_eq!(s.choose("/ws", &["mqtt"], None), chosen(0, Some("mqtt")));
    assert_eq!(
        s.choose("/ws", &["mqttv3.1"], None),
        chosen(0, Some("mqttv3.1"))
    );
    let stomp = ["v10.stomp", "v11.stomp", "v12.stomp"];
    assert_eq!(s.choose("/ws", &stomp, None), chosen(1, Some("v10.stomp")));
    assert_eq!(
        s.choose("/ws", &["wamp", "v12.stomp"], None),
        chosen(1, Some("v12.stomp"))
    );
}

#[test]
fn the_shared_path_without_a_supported_subprotocol_is_a_bad_request() {
    let s = service(&[]);
    for offered in [&[][..], &["wamp"][..]] {
        let refused = s.choose("/ws", offered, None).unwrap_err();
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.reason.contains("v12.stomp"), "{}", refused.reason);
    }
}

#[test]
fn a_route_path_picks_the_route_and_echoes_a_supported_subprotocol() {
    let s = service(&[]);
    assert_eq!(s.choose("/mqtt", &[], None), chosen(0, None));
    assert_eq!(s.choose("/mqtt", &["mqtt"], None), chosen(0, Some("mqtt")));
    assert_eq!(
        s.choose("/stomp", &["v11.stomp"], None),
        chosen(1, Some("v11.stomp"))
    );
    let refused = s.choose("/stomp", &["mqtt"], None).unwrap_err();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.reason.contains("v12.stomp"), "{}", refused.reason);
    assert_eq!(
        s.choose("/amqp", &[], None).unwrap_err().status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn origins_outside_the_allow_list_are_forbidden() {
    let s = service(&["https://app.example"]);
    assert_eq!(
        s.choose("/mqtt", &[], Some("https://app.example")),
        chosen(0, None)
    );
    let refused = s
        .choose("/mqtt", &[], Some("https://evil.example"))
        .unwrap_err();
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(s.choose("/mqtt", &[], None), chosen(0, None));
    let open = service(&[]);
    assert_eq!(
        open.choose("/mqtt", &[], Some("https://evil.example")),
        chosen(0, None)
    );
}
