//! Topic names, topic filters and client ids: validation, matching, and the mapping to AMQP
//! routing keys.
//!
//! Grammar (MQTT 5 section 4.7, same in 3.1.1): a topic is UTF-8 levels separated by `/`;
//! empty levels are allowed (`a//b`, `/a`). A filter may use `+` (exactly one level, alone in
//! its level, MQTT-4.7.1-2) and `#` (the rest, alone in the last level, MQTT-4.7.1-3). Names
//! and filters are at least one character (MQTT-4.7.3-1) and contain no NUL (MQTT-4.7.3-2);
//! topic names contain no wildcard (MQTT-3.3.2-2). Wildcards at the first level do not match
//! topics starting with `$` (MQTT-4.7.2-1). A shared subscription is
//! `$share/{ShareName}/{filter}` with a non-empty ShareName free of `/`, `+` and `#`
//! (MQTT-4.8.2-1, MQTT-4.8.2-2).
//!
//! Mapping (DESIGN.md section 4): [`TopicMapping::Lossless`] swaps `/` and `.`, a bijection
//! on topics; in filters `+` becomes `*` and `#` stays `#`. [`TopicMapping::RabbitMq`] only
//! replaces `/` by `.`, as RabbitMQ does, so `a.b/c` and `a/b/c` collide.
//!
//! A session matches each delivery's topic against its filters again ([`matches_mapped`]), as
//! the mapping routes: in `RabbitMq` a `.` separates levels too, so a subscription to `a.b/c`
//! receives its traffic under the topic `a/b/c`.
//!
//! Deviation: a filter level that is a literal `*` becomes an AMQP single-word wildcard (AMQP
//! has no escape), so the binding of `a/*` also takes `a/x`; the session's own match drops it,
//! so the subscriber sees only `a/*`, but `a/*` and `a/+` share one binding key (and one group
//! queue for `$share/g/`).

use std::borrow::Cow;
use std::fmt;

use crate::config::TopicMapping;
use crate::errors::MqttError;

const SHARE_PREFIX: &str = "$share/";
/// `mqtt-subscription-` leaves this much of a 255-byte queue name for the client id.
pub const MAX_CLIENT_ID_LEN: usize = 255 - "mqtt-subscription-".len();

/// A valid topic name, as in PUBLISH and will messages.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TopicName(String);

/// A valid topic filter (shared-subscription prefix removed).
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TopicFilter(String);

/// A client identifier that fits in a queue name. Shared, not copied: the session and the
/// registry each hold it for the connection's life.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ClientId(std::sync::Arc<str>);

/// A subscription's target: a plain filter or a shared one.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum FilterSpec {
    /// `filter`
    Plain(TopicFilter),
    /// `$share/group/filter`
    Shared {
        /// The share name.
        group: String,
        /// The filter within it.
        filter: TopicFilter,
    },
}

fn common_checks(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty (MQTT-4.7.3-1)");
    }
    if s.contains('\0') {
        return Err("contains NUL (MQTT-4.7.3-2)");
    }
    Ok(())
}

impl TopicName {
    /// Checks `s` as a topic name without keeping it (a PUBLISH's topic, which most
    /// publishes need only to find their routing key).
    pub fn check(s: &str) -> Result<(), MqttError> {
        common_checks(s).map_err(|why| MqttError::TopicName(format!("topic {why}")))?;
        if s.contains(['+', '#']) {
            return Err(MqttError::TopicName(
                "wildcard in a topic name (MQTT-3.3.2-2)".into(),
            ));
        }
        Ok(())
    }
}

impl TryFrom<&str> for TopicName {
    type Error = MqttError;
    fn try_from(s: &str) -> Result<Self, MqttError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = MqttError;
    fn try_from(s: &str) -> Result<Self, MqttError> {
        common_checks(s).map_err(|why| MqttError::TopicFilter(format!("filter {why}")))?;
        let levels: Vec<&str> = s.split('/').collect();
        let last = levels.len().saturating_sub(1);
        for (i, level) in levels.iter().enumerate() {
            let hash_ok = !level.contains('#') || (*level == "#" && i == last);
            let plus_ok = !level.contains('+') || *level == "+";
            if !hash_ok || !plus_ok {
                return Err(MqttError::TopicFilter(format!(
                    "misplaced wildcard in '{s}' (MQTT-4.7.1-2, MQTT-4.7.1-3)"
                )));
            }
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<&str> for FilterSpec {
    type Error = MqttError;
    fn try_from(s: &str) -> Result<Self, MqttError> {
        let Some(rest) = s.strip_prefix(SHARE_PREFIX) else {
            return TopicFilter::try_from(s).map(Self::Plain);
        };
        let Some((group, filter)) = rest.split_once('/') else {
            return Err(MqttError::TopicFilter(format!(
                "shared subscription without a filter: '{s}'"
            )));
        };
        if group.is_empty() || group.contains(['+', '#']) {
            return Err(MqttError::TopicFilter(format!(
                "bad share name in '{s}' (MQTT-4.8.2-1, MQTT-4.8.2-2)"
            )));
        }
        Ok(Self::Shared {
            group: group.to_owned(),
            filter: TopicFilter::try_from(filter)?,
        })
    }
}

impl TryFrom<&str> for ClientId {
    type Error = MqttError;
    fn try_from(s: &str) -> Result<Self, MqttError> {
        if s.is_empty() || s.len() > MAX_CLIENT_ID_LEN || s.contains('\0') {
            return Err(MqttError::ClientId(format!(
                "client id must be 1 to {MAX_CLIENT_ID_LEN} bytes without NUL"
            )));
        }
        Ok(Self(std::sync::Arc::from(s)))
    }
}

macro_rules! show {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $t {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    )*};
}
show!(TopicName, TopicFilter, ClientId);

impl fmt::Display for FilterSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(filter) => filter.fmt(f),
            Self::Shared { group, filter } => write!(f, "{SHARE_PREFIX}{group}/{filter}"),
        }
    }
}

impl FilterSpec {
    /// The filter, without any share prefix.
    pub fn filter(&self) -> &TopicFilter {
        match self {
            Self::Plain(filter) | Self::Shared { filter, .. } => filter,
        }
    }
}

/// A topic (or filter, minus wildcards) as an AMQP routing key.
pub fn mqtt_to_key(topic: &str, mapping: TopicMapping) -> String {
    match mapping {
        TopicMapping::Lossless => topic.chars().map(swap).collect(),
        TopicMapping::RabbitMq => topic.replace('/', "."),
    }
}

/// A filter as an AMQP binding key: `+` becomes `*`, `#` stays.
pub fn filter_to_key(filter: &TopicFilter, mapping: TopicMapping) -> String {
    filter
        .0
        .split('/')
        .map(|level| match level {
            "+" => "*".to_owned(),
            other => mqtt_to_key(other, mapping),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A routing key back to a topic (exact for `Lossless`).
pub fn key_to_mqtt(key: &str, mapping: TopicMapping) -> String {
    match mapping {
        TopicMapping::Lossless => key.chars().map(swap).collect(),
        TopicMapping::RabbitMq => key.replace('.', "/"),
    }
}

fn swap(c: char) -> char {
    match c {
        '/' => '.',
        '.' => '/',
        other => other,
    }
}

/// Whether `filter` matches `topic` (MQTT 5 section 4.7), `$`-topics included.
pub fn matches(filter: &TopicFilter, topic: &str) -> bool {
    match_levels(&filter.0, topic)
}

/// Whether `filter` matches `topic` as the routing keys of `mapping` see them. `Lossless` is
/// a bijection, so this is [`matches`]. In `RabbitMq` a `.` becomes a level separator on the
/// way in, so `a.b/c` and `a/b/c` are one routing key: both the filter and the topic are read
/// with `.` as one more separator, and a subscription to `a.b/c` matches the topic `a/b/c`
/// its own traffic is delivered under (and `a/b/c` matches a publish to `a.b/c`).
pub fn matches_mapped(filter: &TopicFilter, topic: &str, mapping: TopicMapping) -> bool {
    match mapping {
        TopicMapping::Lossless => matches(filter, topic),
        TopicMapping::RabbitMq => match_levels(&dots_as_levels(&filter.0), &dots_as_levels(topic)),
    }
}

fn dots_as_levels(s: &str) -> Cow<'_, str> {
    if s.contains('.') {
        Cow::Owned(s.replace('.', "/"))
    } else {
        Cow::Borrowed(s)
    }
}

fn match_levels(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut want = filter.split('/');
    let mut have = topic.split('/');
    loop {
        match (want.next(), have.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(w), Some(h)) if w == h => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> TopicFilter {
        TopicFilter::try_from(s).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn matching_follows_the_spec_examples() {
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            ("sport/#", "sport", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("#", "$SYS/x", false),
            ("+/monitor", "$SYS/monitor", false),
            ("$SYS/#", "$SYS/monitor", true),
            ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
            ("a//b", "a//b", true),
        ];
        for (filter, topic, want) in cases {
            assert_eq!(matches(&f(filter), topic), want, "{filter} vs {topic}");
        }
    }
}
