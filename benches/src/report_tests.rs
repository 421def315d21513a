use super::*;

#[test]
fn percentiles_come_from_recorded_latencies() {
    let mut l = Latency::new();
    for us in 1..=1000u64 {
        l.record(us * 1000);
    }
    let s = l.summary();
    assert_eq!(s.count, 1000);
    let close = |got: f64, want: f64| (got - want).abs() <= want * 0.002;
    assert!(close(s.p50_us, 500.0), "{s:?}");
    assert!(close(s.p99_us, 990.0), "{s:?}");
    assert!(close(s.p999_us, 999.0), "{s:?}");
    assert!(close(s.max_us, 1000.0), "{s:?}");
    assert!(close(s.mean_us, 500.5), "{s:?}");
}

#[test]
fn merged_histograms_count_both() {
    let (mut a, mut b) = (Latency::new(), Latency::new());
    a.record(10_000);
    b.record(30_000);
    b.record(u64::MAX);
    a.merge(&b);
    let s = a.summary();
    assert_eq!(s.count, 3);
    assert!(
        s.max_us >= 59_000_000.0,
        "clamped to the histogram's top: {s:?}"
    );
}

#[test]
fn empty_histogram_reports_zeroes() {
    assert_eq!(Latency::new().summary().count, 0);
    assert_eq!(Latency::new().summary().p99_us, 0.0);
}

#[test]
fn rate_is_per_second_and_safe_at_zero() {
    assert_eq!(rate(500, 0.5), 1000.0);
    assert_eq!(rate(500, 0.0), 0.0);
}

#[test]
fn report_serialises_to_json_with_its_options() {
    let options = Options::from_args(["--protocol", "mqtt", "--qos", "1", "--label", "x"]).unwrap();
    let report = Report {
        options,
        window_s: 1.0,
        published: 10,
        consumed: 9,
        publish_rate: 10.0,
        consume_rate: 9.0,
        published_total: 11,
        confirmed_total: 11,
        consumed_total: 11,
        expected_total: 11,
        latency: Latency::new().summary(),
        errors: 0,
        error_messages: vec![],
        broker: Some(BrokerUsage::default()),
        client_cpu_percent: 50.0,
        slow_read_bytes: 0,
    };
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["options"]["protocol"], "mqtt");
    assert_eq!(json["options"]["qos"], 1);
    assert_eq!(json["consume_rate"], 9.0);
    assert_eq!(json["latency"]["p99_us"], 0.0);
    assert_eq!(json["client_cpu_percent"], 50.0);
    assert!(report.text().contains("published 10 (10 msg/s)"));
}
