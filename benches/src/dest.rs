//! Destination names: one index maps to the queue, routing key, MQTT topic and STOMP
//! destination that all mean the same place, so any publisher meets any consumer.

use crate::options::{Options, Protocol};

/// How messages reach consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A named queue that the destination's consumers compete for (AMQP default exchange,
    /// STOMP `/queue/`).
    Queue,
    /// A topic: each consumer owns a queue bound to `amq.topic` with the destination's key
    /// (AMQP, STOMP `/topic/`, and MQTT always).
    Topic,
}

impl Route {
    /// The route a run takes: a queue when both sides speak the same queue-capable protocol
    /// and consumers compete, else a topic.
    pub fn of(options: &Options) -> Self {
        let same = options.protocol == options.consumer_protocol();
        if same && options.protocol != Protocol::Mqtt && !options.fanout {
            Self::Queue
        } else {
            Self::Topic
        }
    }
}

/// One destination of one run.
#[derive(Clone, Debug)]
pub struct Dest {
    run: String,
    index: usize,
}

impl Dest {
    /// Destination `index` of run `run` (letters and digits only, so every mapping is exact).
    pub fn new(run: &str, index: usize) -> Self {
        Self {
            run: run.to_owned(),
            index,
        }
    }

    /// The AMQP queue (and STOMP `/queue/` name) for the queue route.
    pub fn queue(&self) -> String {
        format!("bench-{}-q{}", self.run, self.index)
    }

    /// The routing key on `amq.topic`.
    pub fn key(&self) -> String {
        format!("bench.{}.q{}", self.run, self.index)
    }

    /// The MQTT topic that maps to [`Dest::key`] (`/` and `.` swap in both Warren and
    /// RabbitMQ).
    pub fn mqtt_topic(&self) -> String {
        format!("bench/{}/q{}", self.run, self.index)
    }

    /// The STOMP destination for `route`.
    pub fn stomp(&self, route: Route) -> String {
        match route {
            Route::Queue => format!("/queue/{}", self.queue()),
            Route::Topic => format!("/topic/{}", self.key()),
        }
    }
}

/// The destinations publisher `index` of `publishers` sends to, round robin: its own one when
/// there are at least as many publishers as destinations, else every `publishers`-th one, so
/// all destinations get messages.
pub fn of_publisher(index: usize, publishers: usize, destinations: usize) -> Vec<usize> {
    let destinations = destinations.max(1);
    if publishers >= destinations {
        vec![index % destinations]
    } else {
        (index..destinations).step_by(publishers.max(1)).collect()
    }
}

/// Of `sent` messages sent round robin over `len` destinations, how many went to the `r`-th.
pub fn share(sent: u64, len: usize, r: usize) -> u64 {
    let len = len.max(1) as u64;
    sent / len + u64::from((r as u64) < sent % len)
}

/// A run id: unique enough that queues left by an earlier run on a peer are never reused.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", std::process::id(), nanos % 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_agree_across_protocols() {
        let d = Dest::new("r1", 3);
        assert_eq!(d.queue(), "bench-r1-q3");
        assert_eq!(d.key(), "bench.r1.q3");
        assert_eq!(d.mqtt_topic().replace('/', "."), d.key());
        assert_eq!(d.stomp(Route::Topic), "/topic/bench.r1.q3");
        assert_eq!(d.stomp(Route::Queue), "/queue/bench-r1-q3");
    }

    #[test]
    fn publishers_cover_every_destination() {
        assert_eq!(of_publisher(3, 10, 4), vec![3]);
        assert_eq!(of_publisher(1, 4, 10), vec![1, 5, 9]);
        let mut all: Vec<usize> = (0..4).flat_map(|i| of_publisher(i, 4, 10)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn shares_add_up_to_what_was_sent() {
        assert_eq!(
            (0..3).map(|r| share(10, 3, r)).collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
        assert_eq!(share(5, 1, 0), 5);
    }

    #[test]
    fn route_is_a_topic_for_fanout_mqtt_and_mixed_protocols() {
        let route = |args: &[&str]| Route::of(&Options::from_args(args).unwrap());
        assert_eq!(route(&[]), Route::Queue);
        assert_eq!(route(&["--fanout"]), Route::Topic);
        assert_eq!(route(&["--protocol", "mqtt"]), Route::Topic);
        assert_eq!(route(&["--protocol", "stomp"]), Route::Queue);
        assert_eq!(
            route(&["--protocol", "mqtt", "--consume-protocol", "amqp"]),
            Route::Topic
        );
    }
}
