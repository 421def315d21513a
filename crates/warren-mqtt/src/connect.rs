//! CONNECT and DISCONNECT: client id rules, authentication, session resume or takeover, and
//! releasing everything when the connection ends.
//!
//! Client ids: an empty id gets an assigned one (MQTT-3.1.3-6; MQTT 5 Assigned Client
//! Identifier) except in 3.1.1 with clean session 0 (CONNACK 0x02, MQTT-3.1.3-8) and in 3.1,
//! whose ids are 1 to 23 characters. A second connection with the same id takes the session
//! over: the first is asked to close (MQTT-3.1.4-3) and, in MQTT 5, told DISCONNECT 0x8E.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use warren_model::{ConnectionId, CreditPool, QueueName, Settlement, UserName, VHost};

use crate::codec::{ConnAckPacket, ConnectPacket, Outbound, Version};
use crate::durable_acks::DurableAcks;
use crate::errors::MqttError;
use crate::factory::Shared;
use crate::inflight::Inflight;
use crate::outbox::Outbox;
use crate::registry::{lock, LazyState, LiveHandle, SessionKey};
use crate::session::{send, Live, MqttSession, State};
use crate::topic::ClientId;
use crate::will::{self, Owner, Will};
use crate::{deliver, subscribe};

/// The longest client id MQTT 3.1 allows.
const V31_MAX_ID: usize = 23;

static ASSIGNED: AtomicU64 = AtomicU64::new(0);

/// The queue of a session.
pub fn session_queue(id: &ClientId) -> Result<QueueName, MqttError> {
    Ok(QueueName::try_from(format!("mqtt-subscription-{id}"))?)
}

fn client_id(c: &ConnectPacket) -> Result<(ClientId, bool), MqttError> {
    if c.version == Version::V31 && (c.client_id.is_empty() || c.client_id.len() > V31_MAX_ID) {
        return Err(MqttError::ClientId(
            "MQTT 3.1 ids are 1 to 23 characters".into(),
        ));
    }
    if !c.client_id.is_empty() {
        return Ok((ClientId::try_from(c.client_id.as_str())?, false));
    }
    let n = ASSIGNED.fetch_add(1, Ordering::Relaxed);
    let nonce = std::collections::hash_map::RandomState::new();
    let tag = std::hash::BuildHasher::hash_one(&nonce, n);
    Ok((
        ClientId::try_from(format!("warren-{tag:016x}-{n}").as_str())?,
        true,
    ))
}

fn login(
    session: &MqttSession,
    c: &ConnectPacket,
) -> Result<(UserName, Arc<dyn VHost>), MqttError> {
    let config = &session.shared.config;
    let broker = &session.shared.broker;
    let loopback = session.remote.ip().is_loopback();
    let user = match (&c.username, &session.certificate_login) {
        // RabbitMQ's ssl_cert_login: no user name, so the verified certificate names the user.
        (None, Some(certified)) => broker.authenticate_external(certified, loopback),
        _ => {
            let (user, pass) = credentials(session, c)?;
            broker.authenticate(&user, pass.as_deref().unwrap_or(""), loopback)
        }
    }
    .map_err(|e| MqttError::BadCredentials(e.text))?;
    let vhost = broker
        .vhost(&user, &config.vhost)
        .map_err(|e| MqttError::NotAuthorized(e.text))?;
    Ok((user, vhost))
}

fn credentials(
    session: &MqttSession,
    c: &ConnectPacket,
) -> Result<(String, Option<String>), MqttError> {
    let config = &session.shared.config;
    match (&c.username, &c.password) {
        (Some(u), p) => Ok((
            u.clone(),
            p.as_ref().map(|p| String::from_utf8_lossy(p).into_owned()),
        )),
        (None, _) if config.allow_anonymous => Ok((
            config.default_user.clone(),
            Some(config.default_password.clone()),
        )),
        (None, _) => Err(MqttError::NotAuthorized(
            "anonymous access is disabled".into(),
        )),
    }
}

/// CONNECT: on success the session is live and CONNACK 0 written.
pub fn connect(
    session: &mut MqttSession,
    c: ConnectPacket,
    out: &mut BytesMut,
    now: Instant,
) -> Result<(), MqttError> {
    if c.auth_method.is_some() {
        return Err(MqttError::AuthMethod);
    }
    if c.version.is_v3() && c.username.is_none() && c.password.is_some() {
        // 3.x forbids a password without a user name (MQTT-3.1.2-22); a CONNECT that breaks
        // section 3.1 is closed without CONNACK (MQTT-3.1.4-1). MQTT 5 allows it.
        return Err(MqttError::Protocol(
            "password without a user name (MQTT-3.1.2-22)".into(),
        ));
    }
    let (id, assigned) = client_id(&c)?;
    let will = c
        .will
        .clone()
        .map(Will::try_from)
        .transpose()
        .map_err(|e| match c.version {
            // A will topic that is no topic name makes the CONNECT break section 3.1: 3.x
            // closes without CONNACK (MQTT-3.1.4-1); 5.0 answers CONNACK 0x90.
            Version::V31 | Version::V311 => MqttError::Protocol(format!("will {e} (MQTT-3.1.4-1)")),
            Version::V5 => e,
        })?
        .map(Box::new);
    let (_user, vhost) = login(session, &c)?;
    let shared = Arc::clone(&session.shared);
    let config = &shared.config;
    let conn = shared.broker.next_connection_id();
    let (persistent, expiry) = match c.version {
        Version::V5 => {
            let e = c.session_expiry.min(config.max_session_expiry_secs);
            (e > 0, e)
        }
        _ => (
            !c.clean_start,
            if c.clean_start {
                0
            } else {
                config.max_session_expiry_secs
            },
        ),
    };
    let key: SessionKey = (vhost.name().clone(), id.clone());
    let queue = session_queue(&id)?;
    let handle = Arc::new(LiveHandle::new(conn, Arc::clone(&session.waker)));
    let attached = shared.registry.attach(&key, Arc::clone(&handle));
    let owner = attached.previous.as_ref().map_or(conn, |p| p.conn);
    let (resumed, discarded) = match attached.state {
        Some(state) if c.clean_start => (None, Some(state)),
        state => (state, None),
    };
    if let Some(old) = discarded {
        crate::groups::leave_all(&shared, &vhost, &old, owner);
    }
    if resumed.is_none() {
        let _ = vhost.delete_queue(&queue, false, false, owner);
    }
    let session_present = resumed.is_some();
    let state = LazyState::new(resumed);
    shared.registry.set_state(
        &key,
        attached.generation,
        persistent.then(|| Arc::clone(state.get())),
    );
    if !persistent {
        crate::persist::forget_session(&shared, &key);
    }
    let window = match c.version {
        Version::V5 => u32::from(c.receive_max),
        _ => u32::from(config.max_inflight),
    };
    let keep_alive = effective_keep_alive(c.keep_alive, config.max_keep_alive_secs);
    let mut live = Box::new(Live {
        version: c.version,
        key,
        generation: attached.generation,
        conn,
        vhost,
        persistent,
        session_expiry: expiry,
        durable_queue: persistent,
        consumer: None,
        consumer_acks: false,
        shares: BTreeMap::new(),
        state,
        inflight: Inflight::default(),
        window,
        credit: Arc::new(CreditPool::new(window)),
        aliases: None,
        out_alias_max: if c.version == Version::V5 {
            c.topic_alias_max
        } else {
            0
        },
        keep_alive,
        will,
        handle,
        acks: DurableAcks::default(),
        topics: Default::default(),
        flow: None,
    });
    crate::persist::save_session(&live, &shared);
    let connack = ConnAckPacket {
        session_present,
        code: 0,
        session_expiry: (c.version == Version::V5 && expiry != c.session_expiry).then_some(expiry),
        receive_max: config.receive_maximum,
        max_packet_size: Some(config.max_packet_size),
        assigned_client_id: assigned.then(|| id.to_string()),
        topic_alias_max: config.topic_alias_maximum,
        server_keep_alive: (keep_alive != c.keep_alive).then_some(keep_alive),
        reason_string: None,
    };
    session.codec.set_max_outbound(c.max_packet_size);
    send(
        &mut session.codec,
        out,
        Outbound::ConnAck(Box::new(connack)),
    );
    // Before the consumers start, so the held credits keep the first deliveries within the
    // client's window; the ids are on disk already (saved above from the session state).
    resend_pubrel(&mut live, &mut session.codec, out);
    // Connected from here: CONNACK is out, so a failure to start is a DISCONNECT (5.0) or a
    // close, never a second CONNACK.
    session.state = State::Connected;
    session.last_input = now;
    let live = session.live.insert(live);
    let outbox = crate::outbox::OutboxSource::new(&session.outbox, &shared, &session.waker);
    subscribe::start(live, &shared, &outbox, session_present)
}

fn effective_keep_alive(asked: u16, cap: u16) -> u16 {
    match (asked, cap) {
        (_, 0) => asked,
        (0, cap) => cap,
        (asked, cap) => asked.min(cap),
    }
}

/// Sends the PUBRELs a previous connection of the session (or the broker before a restart)
/// left unanswered (MQTT-4.4.0-1), at CONNECT and again whenever a connection this one took
/// over parks some late; each holds a credit of this connection's window until PUBCOMP. An
/// id this connection already reuses cannot be released again and is dropped: its message
/// was delivered and settled already. True when any was taken over.
pub fn resend_pubrel(live: &mut Live, codec: &mut crate::codec::Codec, out: &mut BytesMut) -> bool {
    let parked = live
        .state
        .existing()
        .map(|state| std::mem::take(&mut lock(state).pubrel_out))
        .unwrap_or_default();
    let took = !parked.is_empty();
    for id in parked {
        if !live.inflight.in_use(id) {
            live.inflight.pubrel.insert(id);
            live.credit.hold();
            send(codec, out, Outbound::PubRel(id, 0));
        }
    }
    took
}

/// DISCONNECT from the client: a normal one drops the will (MQTT-3.1.2-10), 0x04 keeps it.
pub fn disconnect(
    session: &mut MqttSession,
    reason: u8,
    expiry: Option<u32>,
    now: Instant,
) -> Result<(), MqttError> {
    if let Some(live) = session.live.as_deref_mut() {
        if let Some(e) = expiry {
            if live.session_expiry == 0 && e > 0 {
                return Err(MqttError::Protocol(
                    "session expiry set on DISCONNECT after 0 at CONNECT (MQTT-3.14.2-2)".into(),
                ));
            }
            live.session_expiry = e.min(session.shared.config.max_session_expiry_secs);
            live.persistent = live.session_expiry > 0;
            if live.persistent {
                crate::persist::save_session(live, &session.shared);
            } else {
                crate::persist::forget_session(&session.shared, &live.key);
            }
        }
        if reason != 0x04 {
            live.will = None;
        }
    }
    session.close(now);
    Ok(())
}

/// Releases a session: consumers cancelled, unacknowledged messages requeued (their packet
/// ids remembered for a persistent session), the will triggered, the session kept, expired or
/// dropped; timers count from `now`.
pub fn release(mut live: Live, shared: &Arc<Shared>, outbox: Option<&Arc<Outbox>>, now: Instant) {
    subscribe::stop(&mut live);
    while let Some(event) = outbox.and_then(|o| o.pop()) {
        deliver::refuse(event);
    }
    let parked_pubrel = park_inflight(&mut live);
    if parked_pubrel && live.handle.is_taken_over() {
        // The connection that took over attached before these were parked: tell it.
        shared.registry.wake_current(&live.key);
    }
    let mut at_session_end = None;
    if let Some(w) = live.will.take() {
        let owner = Owner {
            key: live.key.clone(),
            generation: live.generation,
            conn: live.conn,
            vhost: Arc::clone(&live.vhost),
            session_expiry: if live.persistent {
                live.session_expiry
            } else {
                0
            },
        };
        at_session_end = will::trigger(*w, owner, shared, now);
    }
    if !live.persistent {
        shared.registry.set_state(&live.key, live.generation, None);
        if let Some(state) = live.state.existing() {
            crate::groups::leave_all(shared, &live.vhost, state, live.conn);
        }
    }
    let owned = shared.registry.detach(&live.key, live.generation);
    if owned && live.persistent {
        schedule_expiry(&live, shared, at_session_end, now);
    } else if owned && live.durable_queue {
        if let Ok(queue) = live.queue() {
            let _ = live.vhost.delete_queue(&queue, false, false, live.conn);
        }
    }
    live.vhost.connection_closed(live.conn);
}

/// Parks the outbound window in the session state; true when PUBRELs were parked.
fn park_inflight(live: &mut Live) -> bool {
    let mut state = live.state.lock();
    state.pubrel_out.append(&mut live.inflight.pubrel);
    for (id, pending) in live.inflight.drain() {
        state.resume_ids.insert(pending.origin.seq, id);
        pending.origin.settle(Settlement::Requeue);
    }
    !state.pubrel_out.is_empty()
}

/// Ends the session after its expiry interval (from `now`) unless a connection resumed it,
/// then publishes the will that waited for the session's end.
fn schedule_expiry(live: &Live, shared: &Arc<Shared>, will: Option<(Will, Owner)>, now: Instant) {
    let at = now + Duration::from_secs(live.session_expiry.into());
    let registry_owner = Arc::clone(shared);
    let key = live.key.clone();
    let generation = live.generation;
    let vhost = Arc::clone(&live.vhost);
    let queue = live.queue().ok();
    let conn: ConnectionId = live.conn;
    shared.scheduler.schedule(
        at,
        Box::new(move || {
            if let Some(state) = registry_owner.registry.expire(&key, generation) {
                crate::persist::forget_session(&registry_owner, &key);
                if let Some(state) = state {
                    crate::groups::leave_all(&registry_owner, &vhost, &state, conn);
                }
                if let Some(queue) = &queue {
                    let _ = vhost.delete_queue(queue, false, false, conn);
                }
                if let Some((will, owner)) = will {
                    will::publish(&will, &owner, &registry_owner);
                }
            }
        }),
    );
}
