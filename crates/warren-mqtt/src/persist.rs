//! Persistent sessions and retained messages across restarts, kept as blobs through the
//! broker's [`Blobs`] (the adapter never names the store).
//!
//! ```text
//! session   key = vhost str | client id str
//!           value = version u8 (=1) | session expiry u32 | subscription count u32
//!                   | (filter str | qos u8 | no local | retain as published | retain handling u8
//!                      | subscription id opt<u32>)* | qos2 count u32 | packet id u16*
//! retained  key = vhost str | topic str      value = the whole message (`persist`)
//! ```
//! (`str`, `opt` as in `warren_model::persist`.) A session is written when it becomes
//! persistent, on SUBSCRIBE and UNSUBSCRIBE, and when its inbound QoS 2 ids change; the writes
//! are ordered with the message writes, so a PUBREC sent after its message is on disk also
//! finds the packet id on disk. Not kept: shared subscriptions, and the outbound PUBREL state
//! (after a restart an unfinished outbound QoS 2 delivery is sent again as a PUBLISH).

use std::sync::Arc;
use std::time::{Duration, Instant};

use warren_model::persist::{decode_whole_message, encode_whole_message, Reader, Writer};
use warren_model::{ConnectionId, Message, UserName, VHostName};

use crate::codec::{QoS, SubOptions};
use crate::factory::Shared;
use crate::registry::{lock, SessionKey, SessionState, Sub};
use crate::session::Live;
use crate::topic::{ClientId, TopicFilter, TopicName};

const SESSIONS: &str = "mqtt.session";
const RETAINED: &str = "mqtt.retained";
const VERSION: u8 = 1;

fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let mut w = Writer::default();
    w.str(a);
    w.str(b);
    w.out
}

fn split_pair(key: &[u8]) -> Option<(&str, &str)> {
    let mut r = Reader::new(key);
    let pair = (r.str()?, r.str()?);
    r.is_empty().then_some(pair)
}

/// Writes the session of `live` if it is persistent.
pub fn save_session(live: &Live, shared: &Shared) {
    let Some(blobs) = shared.blobs.as_ref().filter(|_| live.persistent) else {
        return;
    };
    let value = encode_session(live.session_expiry, &lock(&live.state));
    let (vhost, client) = &live.key;
    blobs.put(SESSIONS, &pair_key(vhost.as_str(), client.as_str()), &value);
}

/// Forgets a session that ended or became clean.
pub fn forget_session(shared: &Shared, key: &SessionKey) {
    if let Some(blobs) = &shared.blobs {
        let (vhost, client) = key;
        blobs.delete(SESSIONS, &pair_key(vhost.as_str(), client.as_str()));
    }
}

/// Keeps a retained message (an empty body clears the topic).
pub fn save_retained(shared: &Shared, vhost: &VHostName, topic: &TopicName, message: &Message) {
    let Some(blobs) = &shared.blobs else {
        return;
    };
    let key = pair_key(vhost.as_str(), topic.as_str());
    if message.body.is_empty() {
        blobs.delete(RETAINED, &key);
    } else {
        blobs.put(RETAINED, &key, &encode_whole_message(message));
    }
}

fn encode_session(expiry: u32, state: &SessionState) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(VERSION);
    w.u32(expiry);
    w.u32(u32::try_from(state.subs.len()).unwrap_or(u32::MAX));
    for (filter, sub) in &state.subs {
        w.str(filter.as_str());
        w.u8(sub.options.qos.value());
        w.bool(sub.options.no_local);
        w.bool(sub.options.retain_as_published);
        w.u8(sub.options.retain_handling);
        w.u8(u8::from(sub.id.is_some()));
        w.u32(sub.id.unwrap_or(0));
    }
    w.u32(u32::try_from(state.qos2_in.len()).unwrap_or(u32::MAX));
    for id in &state.qos2_in {
        w.out.extend_from_slice(&id.to_le_bytes());
    }
    w.out
}

fn decode_session(value: &[u8]) -> Option<(u32, SessionState)> {
    let mut r = Reader::new(value);
    if r.u8()? != VERSION {
        return None;
    }
    let expiry = r.u32()?;
    let mut state = SessionState::default();
    for _ in 0..r.u32()? {
        let filter = TopicFilter::try_from(r.str()?).ok()?;
        let options = SubOptions {
            qos: QoS::try_from(r.u8()?).ok()?,
            no_local: r.bool()?,
            retain_as_published: r.bool()?,
            retain_handling: r.u8()?,
        };
        let id = (r.u8()? == 1, r.u32()?);
        let sub = Sub {
            options,
            id: id.0.then_some(id.1),
        };
        state.subs.insert(filter, sub);
    }
    for _ in 0..r.u32()? {
        let lo = r.u8()?;
        let hi = r.u8()?;
        state.qos2_in.insert(u16::from_le_bytes([lo, hi]));
    }
    Some((expiry, state))
}

/// Puts back the sessions and retained messages kept before the restart.
pub fn restore(shared: &Arc<Shared>) {
    let Some(blobs) = shared.blobs.clone() else {
        return;
    };
    for (key, value) in blobs.take_recovered(RETAINED) {
        let parsed = split_pair(&key).and_then(|(v, t)| {
            let vhost = VHostName::try_from(v).ok()?;
            let topic = TopicName::try_from(t).ok()?;
            Some((vhost, topic, decode_whole_message(&value)?))
        });
        if let Some((vhost, topic, message)) = parsed {
            shared.retained.set(&vhost, &topic, Arc::new(message));
        }
    }
    let mut sessions = 0;
    for (key, value) in blobs.take_recovered(SESSIONS) {
        let parsed = split_pair(&key).and_then(|(v, c)| {
            let vhost = VHostName::try_from(v).ok()?;
            let client = ClientId::try_from(c).ok()?;
            Some(((vhost, client), decode_session(&value)?))
        });
        if let Some((key, (expiry, state))) = parsed {
            restore_session(shared, key, expiry, state);
            sessions += 1;
        }
    }
    tracing::info!(sessions, "mqtt: persistent sessions restored");
}

/// A restored session waits for its client like one whose connection just closed: it ends
/// after its expiry interval unless the client comes back.
fn restore_session(shared: &Arc<Shared>, key: SessionKey, expiry: u32, state: SessionState) {
    let generation = shared.registry.restore(&key, state);
    let owner = Arc::clone(shared);
    let at = Instant::now() + Duration::from_secs(expiry.into());
    shared.scheduler.schedule(
        at,
        Box::new(move || {
            if owner.registry.expire(&key, generation).is_none() {
                return;
            }
            forget_session(&owner, &key);
            let Ok(user) = UserName::try_from("mqtt-session-expiry") else {
                return;
            };
            if let (Ok(vhost), Ok(queue)) = (
                owner.broker.vhost(&user, &key.0),
                crate::connect::session_queue(&key.1),
            ) {
                let _ = vhost.delete_queue(&queue, false, false, ConnectionId(0));
            }
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_round_trips_and_truncations_are_refused() {
        let mut state = SessionState::default();
        let sub = Sub {
            options: SubOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: false,
                retain_handling: 2,
            },
            id: Some(7),
        };
        state
            .subs
            .insert(TopicFilter::try_from("a/+/c").unwrap(), sub);
        state.qos2_in.insert(513);
        let bytes = encode_session(3600, &state);
        let (expiry, back) = decode_session(&bytes).unwrap();
        assert_eq!(expiry, 3600);
        assert_eq!(back.subs, state.subs);
        assert_eq!(back.qos2_in, state.qos2_in);
        for cut in 0..bytes.len() {
            assert!(decode_session(&bytes[..cut]).is_none(), "cut {cut}");
        }
    }
}
