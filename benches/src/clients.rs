//! Publishers and consumers of any protocol behind one type each.

use std::sync::Arc;

use crate::control::{Control, Counter};
use crate::dest::{self, Dest, Route};
use crate::io::ClientError;
use crate::options::{Options, Protocol};
use crate::report::Latency;
use crate::{amqp, mqtt, stomp};

/// A connected publisher of any protocol.
#[derive(Debug)]
pub enum Publisher {
    /// AMQP 0-9-1.
    Amqp(amqp::Publisher),
    /// MQTT.
    Mqtt(mqtt::Publisher),
    /// STOMP.
    Stomp(stomp::Publisher),
}

impl Publisher {
    /// Connects publisher `index` of run `run`.
    pub async fn connect(options: &Options, run: &str, index: usize) -> Result<Self, ClientError> {
        let dests: Vec<Dest> = dest::of_publisher(index, options.publishers, options.destinations)
            .into_iter()
            .map(|d| Dest::new(run, d))
            .collect();
        let route = Route::of(options);
        Ok(match options.protocol {
            Protocol::Amqp => Self::Amqp(amqp::Publisher::connect(options, &dests, route).await?),
            Protocol::Mqtt => {
                let id = format!("wb-{run}-p{index}");
                let topics = dests.iter().map(Dest::mqtt_topic).collect();
                Self::Mqtt(mqtt::Publisher::connect(options, &id, topics).await?)
            }
            Protocol::Stomp => {
                let names: Vec<String> = dests.iter().map(|d| d.stomp(route)).collect();
                Self::Stomp(stomp::Publisher::connect(options, &names).await?)
            }
        })
    }

    /// Publishes until told to stop.
    pub async fn run(
        self,
        ctl: Arc<Control>,
        rate: f64,
        sent: Counter,
        confirmed: Counter,
    ) -> Result<(), ClientError> {
        match self {
            Self::Amqp(p) => p.run(ctl, rate, sent, confirmed).await,
            Self::Mqtt(p) => p.run(ctl, rate, sent, confirmed).await,
            Self::Stomp(p) => p.run(ctl, rate, sent, confirmed).await,
        }
    }
}

/// A connected, subscribed consumer of any protocol.
#[derive(Debug)]
pub enum Consumer {
    /// AMQP 0-9-1.
    Amqp(amqp::Consumer),
    /// MQTT.
    Mqtt(mqtt::Consumer),
    /// STOMP.
    Stomp(stomp::Consumer),
}

impl Consumer {
    /// Connects and subscribes consumer `index` of run `run`.
    pub async fn connect(options: &Options, run: &str, index: usize) -> Result<Self, ClientError> {
        let dest = Dest::new(run, index % options.destinations.max(1));
        Self::connect_to(options, &dest, &format!("wb-{run}-c{index}")).await
    }

    /// Connects and subscribes slow consumer `index` of run `run` to the first destination
    /// (see [`crate::slow`]).
    pub async fn connect_slow(
        options: &Options,
        run: &str,
        index: usize,
    ) -> Result<Self, ClientError> {
        Self::connect_to(options, &Dest::new(run, 0), &format!("wb-{run}-s{index}")).await
    }

    /// Connects to `dest`; `id` is the MQTT client identifier.
    async fn connect_to(options: &Options, dest: &Dest, id: &str) -> Result<Self, ClientError> {
        let route = Route::of(options);
        Ok(match options.consumer_protocol() {
            Protocol::Amqp => Self::Amqp(amqp::Consumer::connect(options, dest, route).await?),
            Protocol::Mqtt => {
                Self::Mqtt(mqtt::Consumer::connect(options, id, &dest.mqtt_topic()).await?)
            }
            Protocol::Stomp => {
                Self::Stomp(stomp::Consumer::connect(options, &dest.stomp(route)).await?)
            }
        })
    }

    /// Its socket's halves, for a client that reads them itself.
    pub fn into_halves(self) -> (crate::io::Reader, crate::io::Writer) {
        match self {
            Self::Amqp(c) => c.into_halves(),
            Self::Mqtt(c) => c.into_halves(),
            Self::Stomp(c) => c.into_halves(),
        }
    }

    /// Consumes until told to stop.
    pub async fn run(
        self,
        ctl: Arc<Control>,
        received: Counter,
        latency: &mut Latency,
    ) -> Result<(), ClientError> {
        match self {
            Self::Amqp(c) => c.run(ctl, received, latency).await,
            Self::Mqtt(c) => c.run(ctl, received, latency).await,
            Self::Stomp(c) => c.run(ctl, received, latency).await,
        }
    }
}
