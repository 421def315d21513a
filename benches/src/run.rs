//! One run: connect everything, publish for the window, drain, and report.

use std::sync::Arc;

use tokio::task::JoinSet;

use crate::clients::{Consumer, Publisher};
use crate::control::Control;
use crate::dest;
use crate::idle::Idle;
use crate::io::ClientError;
use crate::options::Options;
use crate::report::{self, BrokerUsage, Report};
use crate::sampler::Sampler;

/// Connections being set up at the same time.
const CONNECTING: usize = 32;
/// Error messages kept for the report.
const MAX_MESSAGES: usize = 10;

/// Errors of a run: all counted, the first few kept.
#[derive(Debug, Default)]
struct Errors {
    count: u64,
    messages: Vec<String>,
}

impl Errors {
    fn add(&mut self, message: String) {
        self.count += 1;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(message);
        }
    }
}

/// Runs `options` to completion.
pub async fn run(options: Options) -> Report {
    let options = Arc::new(options);
    let ctl = Arc::new(Control::new());
    let run = dest::run_id();
    let sampler = options.broker_pid.map(Sampler::new);
    let mut usage = BrokerUsage::default();
    let mut errors = Errors::default();
    usage.rss_start_kib = rss(sampler);
    let idle = Idle::spawn(&options, &ctl, &run);
    for _ in 0..idle.wait_open().await {
        errors.add("an idle connection failed to open".into());
    }
    usage.rss_idle_kib = rss(sampler);
    if options.idle > 0 {
        let grown = usage.rss_idle_kib.saturating_sub(usage.rss_start_kib);
        usage.rss_per_idle_kib = grown as f64 / options.idle as f64;
    }
    let consumers = connect_all(
        &options,
        &run,
        options.consumers,
        &mut errors,
        |o, r, i| async move { Consumer::connect(&o, &r, i).await },
    )
    .await;
    let slow = connect_all(
        &options,
        &run,
        options.slow_consumers,
        &mut errors,
        |o, r, i| async move { Consumer::connect_slow(&o, &r, i).await },
    )
    .await;
    let publishers = connect_all(
        &options,
        &run,
        options.publishers,
        &mut errors,
        |o, r, i| async move { Publisher::connect(&o, &r, i).await },
    )
    .await;
    let clients = Clients {
        consumers,
        slow,
        publishers,
    };
    let window = Window::start(&options, &ctl, sampler, clients);
    let measured = window.measure(&options, sampler, &mut usage).await;
    let totals = window.finish(&options, &ctl, &mut errors).await;
    ctl.stop_consuming();
    for e in idle.join().await {
        errors.add(e);
    }
    Report {
        options: (*options).clone(),
        window_s: measured.seconds,
        published: measured.published,
        consumed: measured.consumed,
        publish_rate: report::rate(measured.published, measured.seconds),
        consume_rate: report::rate(measured.consumed, measured.seconds),
        published_total: totals.published,
        confirmed_total: totals.confirmed,
        consumed_total: totals.consumed,
        expected_total: totals.expected,
        latency: totals.latency.summary(),
        errors: errors.count,
        error_messages: errors.messages,
        broker: sampler.map(|_| usage),
        client_cpu_percent: measured.client_cpu_percent,
        slow_read_bytes: totals.slow_read,
    }
}

fn rss(sampler: Option<Sampler>) -> u64 {
    sampler.and_then(|s| s.rss_kib()).unwrap_or_default()
}

/// Connects `n` clients, a few at a time; the ones that failed are left out (as `None`) and
/// counted as errors.
async fn connect_all<T, F, Fut>(
    options: &Arc<Options>,
    run: &str,
    n: usize,
    errors: &mut Errors,
    connect: F,
) -> Vec<Option<T>>
where
    T: Send + 'static,
    F: Fn(Arc<Options>, String, usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>> + Send + 'static,
{
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut pending = JoinSet::new();
    for index in 0..n {
        if pending.len() >= CONNECTING {
            collect(pending.join_next().await, &mut slots, errors);
        }
        let fut = connect(options.clone(), run.to_owned(), index);
        pending.spawn(async move { (index, fut.await) });
    }
    while let Some(done) = pending.join_next().await {
        collect(Some(done), &mut slots, errors);
    }
    slots
}

/// A finished connect task: the client's index and how connecting went.
type Connected<T> = Result<(usize, Result<T, ClientError>), tokio::task::JoinError>;

fn collect<T>(done: Option<Connected<T>>, slots: &mut [Option<T>], errors: &mut Errors) {
    match done {
        Some(Ok((index, Ok(client)))) => {
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(client);
            }
        }
        Some(Ok((index, Err(e)))) => errors.add(format!("client {index} failed to connect: {e}")),
        Some(Err(e)) => errors.add(format!("connect task: {e}")),
        None => {}
    }
}

mod window;
use window::{Clients, Window};
