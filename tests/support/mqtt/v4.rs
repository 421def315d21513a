//! rumqttc's MQTT 3.1.1 client.
use super::*;
pub use rumqttc::{
    AsyncClient, ConnAck, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions,
    Outgoing, Packet, Publish, QoS, SubscribeReasonCode,
};

pub struct Client {
    pub client: AsyncClient,
    pub events: Events<Event, ConnectionError>,
}

/// Starts the event loop; the first event is the CONNACK or the refusal.
pub fn start(opts: MqttOptions) -> Client {
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let ev = eventloop.poll().await;
            let stop = ev.is_err();
            if tx.send(ev).is_err() || stop {
                // Keep the socket (and the state) until the wrapper is dropped.
                std::future::pending::<()>().await;
            }
        }
    });
    Client {
        client,
        events: Events {
            rx,
            task,
            skipped: Default::default(),
        },
    }
}

/// Connects and returns the CONNACK; panics if refused.
pub async fn connect(opts: MqttOptions) -> (Client, ConnAck) {
    let mut c = start(opts);
    let ack = c.connack().await.expect("connection accepted");
    (c, ack)
}

impl Client {
    /// The CONNACK, or the refusal.
    pub async fn connack(&mut self) -> Result<ConnAck, ConnectionError> {
        match self
            .events
            .try_wait_for(DEADLINE, |e| match e {
                Event::Incoming(Packet::ConnAck(a)) => Some(a.clone()),
                _ => None,
            })
            .await
        {
            Some(r) => r,
            None => panic!("no CONNACK within {DEADLINE:?}"),
        }
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubscribeReasonCode {
        self.client.subscribe(filter, qos).await.expect("subscribe");
        self.events
            .wait_for("SUBACK", |e| match e {
                Event::Incoming(Packet::SubAck(a)) => Some(a.return_codes[0]),
                _ => None,
            })
            .await
    }

    pub async fn unsubscribe(&mut self, filter: &str) {
        self.client.unsubscribe(filter).await.expect("unsubscribe");
        self.events
            .wait_for("UNSUBACK", |e| {
                matches!(e, Event::Incoming(Packet::UnsubAck(_))).then_some(())
            })
            .await;
    }

    /// Publishes and waits for the flow to complete (PUBACK / PUBCOMP; QoS 0: sent).
    pub async fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: &[u8]) {
        self.client
            .publish(topic, qos, retain, payload.to_vec())
            .await
            .expect("publish");
        let pkid = self
            .events
            .wait_for("outgoing PUBLISH", |e| match e {
                Event::Outgoing(Outgoing::Publish(p)) => Some(*p),
                _ => None,
            })
            .await;
        if qos == QoS::AtMostOnce {
            return;
        }
        self.events
            .wait_for("publish acknowledgement", |e| match (qos, e) {
                (QoS::AtLeastOnce, Event::Incoming(Packet::PubAck(a))) if a.pkid == pkid => {
                    Some(())
                }
                (QoS::ExactlyOnce, Event::Incoming(Packet::PubComp(a))) if a.pkid == pkid => {
                    Some(())
                }
                _ => None,
            })
            .await;
    }

    /// The next PUBLISH from the server.
    pub async fn next_publish(&mut self) -> Publish {
        self.events
            .wait_for("PUBLISH", |e| match e {
                Event::Incoming(Packet::Publish(p)) => Some(p.clone()),
                _ => None,
            })
            .await
    }

    /// The next PUBLISH if one arrives within `within` (and the connection holds).
    pub async fn try_next_publish(&mut self, within: Duration) -> Option<Publish> {
        let got = self
            .events
            .try_wait_for(within, |e| match e {
                Event::Incoming(Packet::Publish(p)) => Some(p.clone()),
                _ => None,
            })
            .await;
        got.and_then(Result::ok)
    }

    /// Asserts no PUBLISH arrives within `within`.
    pub async fn assert_no_publish(&mut self, within: Duration) {
        let got = self.try_next_publish(within).await;
        assert!(got.is_none(), "unexpected PUBLISH: {got:?}");
    }

    /// A clean DISCONNECT, waiting until it is on the wire.
    pub async fn disconnect(mut self) {
        self.client.disconnect().await.expect("disconnect");
        self.events
            .wait_for("outgoing DISCONNECT", |e| {
                matches!(e, Event::Outgoing(Outgoing::Disconnect)).then_some(())
            })
            .await;
    }
}

/// Publish payload as a string.
pub fn text(p: &Publish) -> String {
    String::from_utf8_lossy(&p.payload).into_owned()
}
