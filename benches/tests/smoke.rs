//! The load generator against an in-process broker, for a fraction of a second per protocol:
//! messages must flow end to end, be timed, and nothing may fail.

use warren_bench::options::Options;
use warren_bench::report::Report;
use warren_testkit::TestBroker;

fn run(args: &[String]) -> Report {
    let options = Options::from_args(args).expect("valid options");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(warren_bench::run::run(options))
}

fn args(broker: &TestBroker, extra: &[&str]) -> Vec<String> {
    // The broker runs in this process, so this process is the one to sample.
    let pid = std::process::id().to_string();
    // A debug build of the broker can take a second or more to catch up with a burst.
    let common = [
        "--duration",
        "0.3",
        "--drain",
        "20",
        "--stall",
        "5",
        "--broker-pid",
        &pid,
    ];
    let mut args: Vec<String> = common.iter().chain(extra).map(|s| s.to_string()).collect();
    let port_of = |protocol: &str| broker.addr(protocol).port().to_string();
    let protocol = value_of(&args, "--protocol").unwrap_or("amqp").to_owned();
    args.extend(["--port".into(), port_of(&protocol)]);
    if let Some(consumer) = value_of(&args, "--consume-protocol").map(str::to_owned) {
        args.extend(["--consume-port".into(), port_of(&consumer)]);
    }
    args
}

fn value_of<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1).map(String::as_str)
}

fn assert_flowed(report: &Report) {
    assert_eq!(report.errors, 0, "{}", report.text());
    assert!(report.published > 0, "{}", report.text());
    assert!(report.consumed > 0, "{}", report.text());
    assert!(report.latency.count > 0, "{}", report.text());
    assert_eq!(
        report.consumed_total,
        report.expected_total,
        "{}",
        report.text()
    );
    let broker = report.broker.as_ref().expect("sampled");
    assert!(
        broker.rss_peak_kib > 0 && broker.cpu_percent > 0.0,
        "{broker:?}"
    );
}

#[test]
fn amqp_with_confirms_and_manual_acks() {
    let broker = TestBroker::start();
    let report = run(&args(
        &broker,
        &["--confirms", "--ack", "manual", "--size", "1024"],
    ));
    assert_flowed(&report);
    assert_eq!(
        report.confirmed_total,
        report.published_total,
        "{}",
        report.text()
    );
}

#[test]
fn amqp_fanout_to_three_consumers() {
    let broker = TestBroker::start();
    let report = run(&args(
        &broker,
        &["--fanout", "--consumers", "3", "--rate", "20000"],
    ));
    assert_flowed(&report);
    assert_eq!(report.expected_total, 3 * report.published_total);
}

#[test]
fn mqtt_qos1_and_qos2_in_both_versions() {
    let broker = TestBroker::start();
    for (qos, version) in [("1", "4"), ("2", "5")] {
        let extra = [
            "--protocol",
            "mqtt",
            "--qos",
            qos,
            "--mqtt-version",
            version,
        ];
        let report = run(&args(&broker, &extra));
        assert_flowed(&report);
        assert_eq!(
            report.confirmed_total,
            report.published_total,
            "{}",
            report.text()
        );
    }
}

#[test]
fn stomp_with_receipts_and_client_acks() {
    let broker = TestBroker::start();
    let report = run(&args(
        &broker,
        &["--protocol", "stomp", "--confirms", "--ack", "manual"],
    ));
    assert_flowed(&report);
    assert_eq!(
        report.confirmed_total,
        report.published_total,
        "{}",
        report.text()
    );
}

#[test]
fn mqtt_publish_to_amqp_consume_and_idle_connections() {
    let broker = TestBroker::start();
    let extra = [
        "--protocol",
        "mqtt",
        "--consume-protocol",
        "amqp",
        "--idle",
        "50",
    ];
    let report = run(&args(&broker, &extra));
    assert_flowed(&report);
    assert!(report.broker.as_ref().unwrap().rss_idle_kib > 0);
}

#[test]
fn two_publishers_spread_over_five_queues() {
    let broker = TestBroker::start();
    let extra = [
        "--publishers",
        "2",
        "--consumers",
        "5",
        "--destinations",
        "5",
        "--rate",
        "20000",
    ];
    let report = run(&args(&broker, &extra));
    assert_flowed(&report);
    assert_eq!(report.expected_total, report.published_total);
}

#[test]
fn persistent_messages_with_confirms_in_amqp_and_stomp() {
    let broker = TestBroker::start();
    for protocol in ["amqp", "stomp"] {
        let extra = [
            "--protocol",
            protocol,
            "--persistent",
            "--confirms",
            "--ack",
            "manual",
        ];
        let report = run(&args(&broker, &extra));
        assert_flowed(&report);
        assert_eq!(
            report.confirmed_total,
            report.published_total,
            "{}",
            report.text()
        );
    }
}

#[test]
fn a_slow_mqtt_subscriber_beside_the_measured_one() {
    let broker = TestBroker::start();
    let extra = [
        "--protocol",
        "mqtt",
        "--rate",
        "20000",
        "--slow-consumers",
        "1",
        "--slow-read",
        "10000",
    ];
    let report = run(&args(&broker, &extra));
    assert_flowed(&report);
    assert_eq!(
        report.expected_total, report.published_total,
        "the slow subscriber is not a measured consumer"
    );
    // 41 bytes a message: the slow subscriber read some of its copies, far from all.
    assert!(
        report.slow_read_bytes > 0 && report.slow_read_bytes < report.published_total * 41 / 2,
        "{}",
        report.text()
    );
}
