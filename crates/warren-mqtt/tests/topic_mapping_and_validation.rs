//! Topic mapping table, the lossless round trip, and topic/filter validation.

use proptest::prelude::*;
use warren_mqtt::topic::{
    filter_to_key, key_to_mqtt, matches, mqtt_to_key, FilterSpec, TopicFilter, TopicName,
};
use warren_mqtt::TopicMapping::{Lossless, RabbitMq};

#[test]
fn mapping_table() {
    let cases = [
        ("a/b", "a.b", "a.b"),
        ("a.b/c", "a/b.c", "a.b.c"),
        ("/a", ".a", ".a"),
        ("a//b", "a..b", "a..b"),
        ("sensors/temp.c", "sensors.temp/c", "sensors.temp.c"),
    ];
    for (topic, lossless, rabbit) in cases {
        assert_eq!(mqtt_to_key(topic, Lossless), lossless);
        assert_eq!(mqtt_to_key(topic, RabbitMq), rabbit);
        assert_eq!(key_to_mqtt(lossless, Lossless), topic);
    }
}

#[test]
fn filter_mapping_table() {
    let cases = [
        ("a/+/c", "a.*.c"),
        ("a/#", "a.#"),
        ("#", "#"),
        ("+", "*"),
        ("a.b/+", "a/b.*"),
    ];
    for (filter, key) in cases {
        let f = TopicFilter::try_from(filter).unwrap();
        assert_eq!(filter_to_key(&f, Lossless), key);
    }
}

#[test]
fn topic_name_validation() {
    for ok in ["a", "a/b", "/", "a//b", "$SYS/x", "é/ü"] {
        assert!(TopicName::try_from(ok).is_ok(), "{ok}");
    }
    for bad in ["", "a/+", "a/#", "+", "a\0b", "a+b"] {
        assert!(TopicName::try_from(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn filter_validation() {
    for ok in [
        "#",
        "+",
        "a/#",
        "+/+",
        "a/+/b",
        "/",
        "a//b",
        "+/",
        "$share/g/a/#",
    ] {
        assert!(FilterSpec::try_from(ok).is_ok(), "{ok}");
    }
    let bad = [
        "",
        "a#",
        "a/#/b",
        "a/b#",
        "a+",
        "a/+b",
        "#/a",
        "a\0",
        "$share/g",
        "$share//a",
        "$share/g+/a",
        "$share/g#/a",
        "$share/g/",
    ];
    for b in bad {
        assert!(FilterSpec::try_from(b).is_err(), "{b:?}");
    }
}

#[test]
fn shared_filters_split_group_and_filter() {
    let spec = FilterSpec::try_from("$share/group1/a/+").unwrap();
    assert!(matches!(&spec, FilterSpec::Shared { group, filter }
        if group == "group1" && filter.as_str() == "a/+"));
    assert_eq!(spec.to_string(), "$share/group1/a/+");
}

#[test]
fn dollar_topics_escape_first_level_wildcards() {
    let hash = TopicFilter::try_from("#").unwrap();
    let sys = TopicFilter::try_from("$SYS/#").unwrap();
    assert!(!matches(&hash, "$SYS/broker"));
    assert!(matches(&sys, "$SYS/broker"));
}

proptest! {
    #[test]
    fn lossless_mapping_round_trips(topic in "[a-z./$ é0-9_-]{1,40}") {
        prop_assume!(TopicName::try_from(topic.as_str()).is_ok());
        let key = mqtt_to_key(&topic, Lossless);
        prop_assert_eq!(key_to_mqtt(&key, Lossless), topic);
    }

    #[test]
    fn a_filter_with_one_level_made_plus_matches_its_topic(levels in proptest::collection::vec("[a-c]{0,2}", 1..5), wild in 0usize..5) {
        let topic = levels.join("/");
        prop_assume!(!topic.is_empty());
        let mut filter_levels = levels.clone();
        if wild < filter_levels.len() {
            filter_levels[wild] = "+".into();
        }
        let filter = TopicFilter::try_from(filter_levels.join("/").as_str()).unwrap();
        prop_assert!(matches(&filter, &topic));
    }
}
