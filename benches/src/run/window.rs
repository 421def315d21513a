//! The measurement window: start every client, sample while it runs, stop and drain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::Errors;
use crate::clients::{Consumer, Publisher};
use crate::control::{Control, Counter};
use crate::dest::{self, Route};
use crate::io::ClientError;
use crate::options::Options;
use crate::report::{BrokerUsage, Latency};
use crate::sampler::Sampler;
use crate::slow::SlowConsumer;

/// How often the broker's RSS is sampled during the window.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

type ConsumerTask = JoinHandle<(Result<(), ClientError>, Latency)>;

/// A running publisher: its destination and counters.
struct RunningPublisher {
    dests: Vec<usize>,
    sent: Counter,
    confirmed: Counter,
    task: JoinHandle<Result<(), ClientError>>,
}

/// A running consumer.
struct RunningConsumer {
    dest: usize,
    received: Counter,
    task: ConsumerTask,
}

/// A running slow consumer: the bytes it read.
struct RunningSlow {
    read: Counter,
    task: JoinHandle<Result<(), ClientError>>,
}

/// The connected clients a window starts; `None` where connecting failed.
pub(super) struct Clients {
    pub consumers: Vec<Option<Consumer>>,
    pub slow: Vec<Option<Consumer>>,
    pub publishers: Vec<Option<Publisher>>,
}

/// What the window measured.
pub(super) struct Measured {
    pub seconds: f64,
    pub published: u64,
    pub consumed: u64,
    pub client_cpu_percent: f64,
}

/// Totals after the drain.
pub(super) struct Totals {
    pub published: u64,
    pub confirmed: u64,
    pub consumed: u64,
    pub expected: u64,
    pub latency: Latency,
    /// Bytes the slow consumers read.
    pub slow_read: u64,
}

/// Every client of a run, running.
pub(super) struct Window {
    start: Instant,
    cpu_start: Option<f64>,
    client_cpu_start: Option<f64>,
    publishers: Vec<RunningPublisher>,
    consumers: Vec<RunningConsumer>,
    slow: Vec<RunningSlow>,
}

impl Window {
    /// Starts the consumers, the slow ones, then the publishers; the window opens now.
    pub fn start(
        options: &Options,
        ctl: &Arc<Control>,
        sampler: Option<Sampler>,
        clients: Clients,
    ) -> Self {
        let Clients {
            consumers,
            slow,
            publishers,
        } = clients;
        let destinations = options.destinations.max(1);
        let slow = slow
            .into_iter()
            .flatten()
            .map(|c| start_slow(c, ctl, options.slow_read))
            .collect();
        let consumers = consumers
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| Some((i % destinations, c?)))
            .map(|(dest, c)| start_consumer(dest, c, ctl))
            .collect();
        let active = publishers.iter().flatten().count().max(1);
        let rate = options.rate as f64 / active as f64;
        let count = options.publishers;
        let publishers = publishers
            .into_iter()
            .enumerate()
            .filter_map(|(i, p)| Some((dest::of_publisher(i, count, destinations), p?)))
            .map(|(dests, p)| start_publisher(dests, p, ctl, rate))
            .collect();
        Self {
            start: Instant::now(),
            cpu_start: sampler.and_then(|s| s.cpu_seconds()),
            client_cpu_start: Sampler::new(std::process::id()).cpu_seconds(),
            publishers,
            consumers,
            slow,
        }
    }

    /// Waits out the window, sampling the broker; counts what happened in it.
    pub async fn measure(
        &self,
        options: &Options,
        sampler: Option<Sampler>,
        usage: &mut BrokerUsage,
    ) -> Measured {
        let end = self.start + Duration::from_secs_f64(options.duration.max(0.0));
        loop {
            if let Some(kib) = sampler.and_then(|s| s.rss_kib()) {
                usage.rss_peak_kib = usage.rss_peak_kib.max(kib);
            }
            let now = Instant::now();
            if now >= end {
                break;
            }
            tokio::time::sleep(SAMPLE_EVERY.min(end - now)).await;
        }
        let seconds = self.start.elapsed().as_secs_f64();
        let published = self.publishers.iter().map(|p| p.sent.get()).sum();
        let consumed = self.consumers.iter().map(|c| c.received.get()).sum();
        if let (Some(before), Some(after)) = (self.cpu_start, sampler.and_then(|s| s.cpu_seconds()))
        {
            usage.cpu_percent = 100.0 * (after - before) / seconds;
        }
        let client = Sampler::new(std::process::id()).cpu_seconds();
        let client_cpu_percent = match (self.client_cpu_start, client) {
            (Some(before), Some(after)) => 100.0 * (after - before) / seconds,
            _ => 0.0,
        };
        Measured {
            seconds,
            published,
            consumed,
            client_cpu_percent,
        }
    }

    /// Stops the publishers, lets the consumers catch up, stops them and collects.
    pub async fn finish(self, options: &Options, ctl: &Control, errors: &mut Errors) -> Totals {
        ctl.stop_publishing();
        self.drain(options).await;
        ctl.stop_consuming();
        let mut totals = Totals {
            published: self.publishers.iter().map(|p| p.sent.get()).sum(),
            confirmed: self.publishers.iter().map(|p| p.confirmed.get()).sum(),
            consumed: 0,
            expected: self.expected(options),
            latency: Latency::new(),
            slow_read: 0,
        };
        for p in self.publishers {
            match p.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.add(format!("publisher: {e}")),
                Err(e) => errors.add(format!("publisher task: {e}")),
            }
        }
        for c in self.consumers {
            totals.consumed += c.received.get();
            match c.task.await {
                Ok((result, latency)) => {
                    totals.latency.merge(&latency);
                    if let Err(e) = result {
                        errors.add(format!("consumer: {e}"));
                    }
                }
                Err(e) => errors.add(format!("consumer task: {e}")),
            }
        }
        for s in self.slow {
            totals.slow_read += s.read.get();
            match s.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.add(format!("slow consumer: {e}")),
                Err(e) => errors.add(format!("slow consumer task: {e}")),
            }
        }
        totals
    }

    /// Waits until consumers have every copy and publishers every confirm, nothing moved for
    /// `--stall` seconds, or the drain time is up.
    async fn drain(&self, options: &Options) {
        let deadline = Instant::now() + Duration::from_secs_f64(options.drain.max(0.0));
        let stall = Duration::from_secs_f64(options.stall.max(0.0));
        let mut last = (u64::MAX, Instant::now());
        while Instant::now() < deadline {
            let consumed: u64 = self.consumers.iter().map(|c| c.received.get()).sum();
            let confirmed: u64 = self.publishers.iter().map(|p| p.confirmed.get()).sum();
            let done = consumed >= self.expected(options)
                && self.publishers.iter().all(|p| p.task.is_finished());
            if done {
                return;
            }
            let progress = consumed + confirmed;
            if progress != last.0 {
                last = (progress, Instant::now());
            } else if last.1.elapsed() >= stall {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Copies the consumers should receive: on a queue one per message, on a topic one per
    /// consumer of the destination.
    fn expected(&self, options: &Options) -> u64 {
        let competing = Route::of(options) == Route::Queue;
        let mut expected = 0;
        let mut sent_to = vec![0u64; options.destinations.max(1)];
        for p in &self.publishers {
            let sent = p.sent.get();
            for (r, &d) in p.dests.iter().enumerate() {
                if let Some(slot) = sent_to.get_mut(d) {
                    *slot += dest::share(sent, p.dests.len(), r);
                }
            }
        }
        let mut subs = vec![0u64; sent_to.len()];
        for c in &self.consumers {
            if let Some(n) = subs.get_mut(c.dest) {
                *n += 1;
            }
        }
        for (sent, subs) in sent_to.into_iter().zip(subs) {
            expected += sent * if competing { subs.min(1) } else { subs };
        }
        expected
    }
}

fn start_consumer(dest: usize, consumer: Consumer, ctl: &Arc<Control>) -> RunningConsumer {
    let received = Counter::default();
    let (ctl, counter) = (ctl.clone(), received.clone());
    let task = tokio::spawn(async move {
        let mut latency = Latency::new();
        let result = consumer.run(ctl, counter, &mut latency).await;
        (result, latency)
    });
    RunningConsumer {
        dest,
        received,
        task,
    }
}

fn start_slow(consumer: Consumer, ctl: &Arc<Control>, bytes_per_sec: u64) -> RunningSlow {
    let read = Counter::default();
    let slow = SlowConsumer::new(consumer);
    let task = tokio::spawn(slow.run(ctl.clone(), bytes_per_sec, read.clone()));
    RunningSlow { read, task }
}

fn start_publisher(
    dests: Vec<usize>,
    publisher: Publisher,
    ctl: &Arc<Control>,
    rate: f64,
) -> RunningPublisher {
    let (sent, confirmed) = (Counter::default(), Counter::default());
    let task = tokio::spawn(publisher.run(ctl.clone(), rate, sent.clone(), confirmed.clone()));
    RunningPublisher {
        dests,
        sent,
        confirmed,
        task,
    }
}
