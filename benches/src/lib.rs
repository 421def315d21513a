//! `warren-bench`: a load generator for any AMQP 0-9-1, MQTT (3.1.1, 5) or STOMP (1.2) broker,
//! and the criterion micro benchmarks under `benches/`.
//!
//! The clients are hand-rolled on purpose: a general client library spends more CPU per message
//! than the broker under test, and on a 2-core machine that would measure the client. Each
//! client pre-encodes the constant part of a publish once and writes batches of messages with
//! one `write` call; consumers parse frames in place from one read buffer and acknowledge once
//! per read (cumulatively where the protocol allows it).
//!
//! What it is not: a conformance suite. The clients speak just enough of each protocol to
//! publish, consume, confirm and acknowledge, and treat anything else from the broker as an
//! error that ends that connection.
//!
//! Latency is measured end to end: the first 8 bytes of every payload carry the send time (ns
//! since the run started, one clock for every task of the process), and consumers record the
//! difference in an HDR histogram.

pub mod amqp;
pub mod clients;
pub mod control;
pub mod dest;
pub mod idle;
pub mod io;
pub mod mqtt;
pub mod options;
pub mod pacer;
pub mod payload;
pub mod report;
pub mod run;
pub mod sampler;
pub mod slow;
pub mod stomp;
pub mod ticker;
pub mod window;
