//! rumqttc's MQTT 5 client.
use super::*;
pub use rumqttc::v5::mqttbytes::v5::{
    ConnAck, ConnAckProperties, ConnectProperties, ConnectReturnCode, Disconnect,
    DisconnectReasonCode, Filter, LastWill, LastWillProperties, Packet, PubAckReason, Publish,
    PublishProperties, RetainForwardRule, SubscribeProperties, SubscribeReasonCode,
};
pub use rumqttc::v5::mqttbytes::QoS;
pub use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
pub use rumqttc::Outgoing;

pub struct Client {
    pub client: AsyncClient,
    pub events: Events<Event, ConnectionError>,
}

pub fn start(opts: MqttOptions) -> Client {
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let ev = eventloop.poll().await;
            let stop = ev.is_err();
            if tx.send(ev).is_err() || stop {
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

pub async fn connect(opts: MqttOptions) -> (Client, ConnAck) {
    let mut c = start(opts);
    let ack = c.connack().await.expect("connection accepted");
    (c, ack)
}

impl Client {
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
        self.subscribe_filter(Filter::new(filter, qos), None).await
    }

    pub async fn subscribe_filter(
        &mut self,
        filter: Filter,
        props: Option<SubscribeProperties>,
    ) -> SubscribeReasonCode {
        match props {
            Some(p) => self
                .client
                .subscribe_many_with_properties([filter], p)
                .await
                .expect("subscribe"),
            None => self
                .client
                .subscribe_many([filter])
                .await
                .expect("subscribe"),
        }
        self.events
            .wait_for("SUBACK", |e| match e {
                Event::Incoming(Packet::SubAck(a)) => Some(a.return_codes[0]),
                _ => None,
            })
            .await
    }

    pub async fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: &[u8]) {
        self.publish_with(topic, qos, retain, payload, PublishProperties::default())
            .await;
    }

    /// Publishes with properties and waits for the flow to complete.
    pub async fn publish_with(
        &mut self,
        topic: &str,
        qos: QoS,
        retain: bool,
        payload: &[u8],
        props: PublishProperties,
    ) {
        self.client
            .publish_with_properties(topic, qos, retain, payload.to_vec(), props)
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

    pub async fn assert_no_publish(&mut self, within: Duration) {
        let got = self.try_next_publish(within).await;
        assert!(got.is_none(), "unexpected PUBLISH: {got:?}");
    }

    pub async fn disconnect(mut self) {
        self.client.disconnect().await.expect("disconnect");
        self.events
            .wait_for("outgoing DISCONNECT", |e| {
                matches!(e, Event::Outgoing(Outgoing::Disconnect)).then_some(())
            })
            .await;
    }
}

pub fn text(p: &Publish) -> String {
    String::from_utf8_lossy(&p.payload).into_owned()
}

pub fn topic_of(p: &Publish) -> String {
    String::from_utf8_lossy(&p.topic).into_owned()
}
