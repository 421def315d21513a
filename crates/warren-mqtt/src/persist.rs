//! Persistent sessions and retained messages across restarts, kept as blobs through the
//! broker's [`Blobs`] (the adapter never names the store).
//!
//! ```text
//! session   key = vhost str | client id str
//!           value = version u8 (=2) | session expiry u32
//!                   | subscription count u32 | (filter str | sub)*
//!                   | qos2 count u32 | packet id u16*                  (inbound, PUBREL due)
//!                   | share count u32 | (group str | filter str | sub)*
//!                   | pubrel count u32 | packet id u16*                (outbound, PUBCOMP due)
//!           sub   = qos u8 | no local | retain as published | retain handling u8
//!                   | subscription id opt<u32>
//! retained  key = vhost str | topic str      value = the whole message (`persist`)
//! ```
//! (`str`, `opt` as in `warren_model::persist`.) Version 1 ends after the inbound ids; it is
//! still read, as a session without shared subscriptions or PUBREL ids. Decoding is total:
//! any bytes give a session or nothing.
//!
//! A session is written when it becomes persistent, on SUBSCRIBE and UNSUBSCRIBE (plain or
//! shared), when its inbound QoS 2 ids change, and when its outbound PUBREL ids change (at
//! PUBREC, at PUBCOMP, and when a connection takes over ids a previous one parked). The
//! writes are ordered with the message writes, so a PUBREC sent after its message is on disk
//! also finds the inbound packet id on disk. The outbound PUBREL write is not waited for
//! (the client needs no answer to depend on it): it is made before the message's ack in its
//! queue, and a crash loses a suffix of the writes, so it keeps both, or the id without the
//! ack (PUBREL and the message again under a new id), or neither (the message again as a
//! PUBLISH). The message is never lost; a crash may deliver it twice. After a restart the
//! broker sends PUBREL, not PUBLISH, for every kept id (MQTT-4.4.0-1).
//!
//! Restored shared subscriptions rejoin their groups at start, before their clients return:
//! the group queue is declared and bound again (the core kept it, with its persistent
//! messages, when a persistent session created it; see `groups`) and collects messages for
//! them. Then the kept group queues no restored session holds are deleted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use warren_model::persist::{decode_whole_message, encode_whole_message, Reader, Writer};
use warren_model::{ConnectionId, Message, UserName, VHost, VHostName};

use crate::codec::{QoS, SubOptions};
use crate::factory::Shared;
use crate::registry::{SessionKey, SessionState, Sub};
use crate::session::Live;
use crate::subscribe::{declare_share, share_queue};
use crate::topic::{ClientId, FilterSpec, TopicFilter, TopicName};

const SESSIONS: &str = "mqtt.session";
const RETAINED: &str = "mqtt.retained";
const VERSION: u8 = 2;

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
    let state = live.state.lock();
    // Ids parked by an earlier connection and those this one released.
    let pubrel: BTreeSet<u16> = state
        .pubrel_out
        .union(&live.inflight.pubrel)
        .copied()
        .collect();
    let value = encode_session(live.session_expiry, &state, &pubrel);
    drop(state);
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

fn encode_session(expiry: u32, state: &SessionState, pubrel: &BTreeSet<u16>) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(VERSION);
    w.u32(expiry);
    w.u32(count(state.subs.len()));
    for (filter, sub) in &state.subs {
        w.str(filter.as_str());
        write_sub(&mut w, sub);
    }
    write_ids(&mut w, &state.qos2_in);
    w.u32(count(state.shares.len()));
    for ((group, filter), sub) in &state.shares {
        w.str(group);
        w.str(filter.as_str());
        write_sub(&mut w, sub);
    }
    write_ids(&mut w, pubrel);
    w.out
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn write_sub(w: &mut Writer, sub: &Sub) {
    w.u8(sub.options.qos.value());
    w.bool(sub.options.no_local);
    w.bool(sub.options.retain_as_published);
    w.u8(sub.options.retain_handling);
    w.u8(u8::from(sub.id.is_some()));
    w.u32(sub.id.unwrap_or(0));
}

fn write_ids(w: &mut Writer, ids: &BTreeSet<u16>) {
    w.u32(count(ids.len()));
    for id in ids {
        w.out.extend_from_slice(&id.to_le_bytes());
    }
}

/// Total: any bytes give a session or `None`, never a panic; a version 1 blob (before shared
/// subscriptions and PUBREL ids were kept) gives a session without them.
fn decode_session(value: &[u8]) -> Option<(u32, SessionState)> {
    let mut r = Reader::new(value);
    let version = r.u8()?;
    if version != 1 && version != VERSION {
        return None;
    }
    let expiry = r.u32()?;
    let mut state = SessionState::default();
    for _ in 0..r.u32()? {
        let filter = TopicFilter::try_from(r.str()?).ok()?;
        state.subs.insert(filter, read_sub(&mut r)?);
    }
    read_ids(&mut r, &mut state.qos2_in)?;
    if version == VERSION {
        for _ in 0..r.u32()? {
            let (group, filter) = read_share(&mut r)?;
            state.shares.insert((group, filter), read_sub(&mut r)?);
        }
        read_ids(&mut r, &mut state.pubrel_out)?;
    }
    r.is_empty().then_some((expiry, state))
}

fn read_sub(r: &mut Reader<'_>) -> Option<Sub> {
    let options = SubOptions {
        qos: QoS::try_from(r.u8()?).ok()?,
        no_local: r.bool()?,
        retain_as_published: r.bool()?,
        retain_handling: r.u8()?,
    };
    let id = (r.bool()?, r.u32()?);
    Some(Sub {
        options,
        id: id.0.then_some(id.1),
    })
}

/// A group and filter, checked as the `$share/{group}/{filter}` a client would send.
fn read_share(r: &mut Reader<'_>) -> Option<(String, TopicFilter)> {
    let text = format!("$share/{}/{}", r.str()?, r.str()?);
    match FilterSpec::try_from(text.as_str()).ok()? {
        FilterSpec::Shared { group, filter } => Some((group, filter)),
        FilterSpec::Plain(_) => None,
    }
}

fn read_ids(r: &mut Reader<'_>, ids: &mut BTreeSet<u16>) -> Option<()> {
    for _ in 0..r.u32()? {
        ids.insert(u16::from_le_bytes([r.u8()?, r.u8()?]));
    }
    Some(())
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
    let mut vhosts = vec![shared.config.vhost.clone()];
    for (key, value) in blobs.take_recovered(SESSIONS) {
        let parsed = split_pair(&key).and_then(|(v, c)| {
            let vhost = VHostName::try_from(v).ok()?;
            let client = ClientId::try_from(c).ok()?;
            Some(((vhost, client), decode_session(&value)?))
        });
        if let Some((key, (expiry, state))) = parsed {
            if !vhosts.contains(&key.0) {
                vhosts.push(key.0.clone());
            }
            restore_session(shared, key, expiry, state);
            sessions += 1;
        }
    }
    tracing::info!(sessions, "mqtt: persistent sessions restored");
    for name in &vhosts {
        if let Some(vhost) = restore_vhost(shared, name) {
            crate::groups::sweep(shared, &vhost);
        }
    }
}

/// A restored session waits for its client like one whose connection just closed: it ends
/// after its expiry interval unless the client comes back. Its shared subscriptions are
/// members of their groups again at once, so the group queues collect messages meanwhile.
fn restore_session(shared: &Arc<Shared>, key: SessionKey, expiry: u32, state: SessionState) {
    let vhost = restore_vhost(shared, &key.0);
    if let Some(vhost) = &vhost {
        rejoin_groups(shared, vhost, &state);
    }
    let generation = shared.registry.restore(&key, state);
    let owner = Arc::clone(shared);
    let at = Instant::now() + Duration::from_secs(expiry.into());
    shared.scheduler.schedule(
        at,
        Box::new(move || {
            let Some(state) = owner.registry.expire(&key, generation) else {
                return;
            };
            forget_session(&owner, &key);
            let Some(vhost) = vhost else {
                return;
            };
            if let Some(state) = state {
                crate::groups::leave_all(&owner, &vhost, &state, ConnectionId(0));
            }
            if let Ok(queue) = crate::connect::session_queue(&key.1) {
                let _ = vhost.delete_queue(&queue, false, false, ConnectionId(0));
            }
        }),
    );
}

/// The vhost of a restored session, reached without a client's login.
fn restore_vhost(shared: &Shared, name: &VHostName) -> Option<Arc<dyn VHost>> {
    let user = UserName::try_from("mqtt-session-expiry").ok()?;
    shared.broker.vhost(&user, name).ok()
}

fn rejoin_groups(shared: &Shared, vhost: &Arc<dyn VHost>, state: &SessionState) {
    for (group, filter) in state.shares.keys() {
        let joined = share_queue(group, filter, shared).and_then(|queue| {
            shared.groups.joined(vhost.name(), &queue);
            declare_share(&**vhost, shared, &queue, filter, true, ConnectionId(0))
        });
        if let Err(e) = joined {
            tracing::warn!("mqtt: shared subscription $share/{group}/{filter} not restored: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sub(qos: QoS, id: Option<u32>) -> Sub {
        Sub {
            options: SubOptions {
                qos,
                no_local: false,
                retain_as_published: true,
                retain_handling: 2,
            },
            id,
        }
    }

    fn filter(text: &str) -> TopicFilter {
        TopicFilter::try_from(text).unwrap()
    }

    fn full_state() -> SessionState {
        let mut state = SessionState::default();
        state
            .subs
            .insert(filter("a/+/c"), sub(QoS::ExactlyOnce, Some(7)));
        state.qos2_in.insert(513);
        let share = ("g".to_owned(), filter("t/#"));
        state.shares.insert(share, sub(QoS::AtLeastOnce, None));
        state.pubrel_out.insert(9);
        state
    }

    #[test]
    fn session_round_trips_and_truncations_are_refused() {
        let state = full_state();
        let live_pubrel = BTreeSet::from([9, 40_000]);
        let bytes = encode_session(3600, &state, &live_pubrel);
        let (expiry, back) = decode_session(&bytes).unwrap();
        assert_eq!(expiry, 3600);
        assert_eq!(back.subs, state.subs);
        assert_eq!(back.qos2_in, state.qos2_in);
        assert_eq!(back.shares, state.shares);
        assert_eq!(back.pubrel_out, live_pubrel);
        for cut in 0..bytes.len() {
            assert!(decode_session(&bytes[..cut]).is_none(), "cut {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_session(&longer).is_none(), "trailing bytes");
    }

    /// A blob as version 1 wrote it: one subscription `a/#` (QoS 1, retain as published,
    /// subscription id 5) and inbound id 0x0201.
    #[test]
    fn version_1_blobs_still_decode_without_shares_or_pubrel_ids() {
        let mut v1 = vec![1, 60, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, b'a', b'/', b'#'];
        v1.extend([1, 0, 1, 0, 1, 5, 0, 0, 0, 1, 0, 0, 0, 0x01, 0x02]);
        let (expiry, state) = decode_session(&v1).unwrap();
        assert_eq!(expiry, 60);
        let expected = Sub {
            options: SubOptions {
                qos: QoS::AtLeastOnce,
                no_local: false,
                retain_as_published: true,
                retain_handling: 0,
            },
            id: Some(5),
        };
        assert_eq!(state.subs.get(&filter("a/#")), Some(&expected));
        assert_eq!(state.qos2_in, BTreeSet::from([0x0201]));
        assert!(state.shares.is_empty() && state.pubrel_out.is_empty());
        for cut in 0..v1.len() {
            assert!(decode_session(&v1[..cut]).is_none(), "cut {cut}");
        }
    }

    #[test]
    fn unknown_versions_and_bad_share_names_are_refused() {
        let bytes = encode_session(1, &full_state(), &BTreeSet::new());
        let mut future = bytes.clone();
        future[0] = 3;
        assert!(decode_session(&future).is_none());
        let mut state = SessionState::default();
        let bad_group = ("a+b".to_owned(), filter("t"));
        state.shares.insert(bad_group, sub(QoS::AtMostOnce, None));
        let bytes = encode_session(1, &state, &BTreeSet::new());
        assert!(decode_session(&bytes).is_none(), "group names are checked");
    }

    proptest! {
        #[test]
        fn any_bytes_decode_to_a_session_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_session(&bytes);
            let mut v2 = vec![VERSION];
            v2.extend(&bytes);
            let _ = decode_session(&v2);
        }

        #[test]
        fn a_changed_byte_never_panics(at in 0usize..200, value in any::<u8>()) {
            let mut bytes = encode_session(3600, &full_state(), &BTreeSet::from([1, 2]));
            let at = at % bytes.len();
            bytes[at] = value;
            let _ = decode_session(&bytes);
        }
    }
}
