//! Destinations, as RabbitMQ's STOMP plugin names them:
//!
//! | destination | SEND | SUBSCRIBE |
//! |---|---|---|
//! | `/queue/q` | declares durable `q`, publishes on the default exchange | declares durable `q`, consumes it |
//! | `/amq/queue/q` | publishes on the default exchange | consumes `q`, which must exist |
//! | `/topic/key` | publishes on `amq.topic` | a queue bound to `amq.topic` with `key` |
//! | `/exchange/x/key` | publishes on `x` | a queue bound to `x` with `key` |
//! | `/temp-queue/n` | into this connection's temporary queue `n` | refused |
//! | `/reply-queue/q` | publishes on the default exchange | refused |
//!
//! A `/temp-queue/n` in a SEND's `reply-to` becomes `/reply-queue/<queue>`, so the replier
//! answers into the requester's temporary queue. A `/` inside a name is written `%2F`.

use std::fmt;

use warren_model::{ExchangeName, RoutingKey};

use crate::errors::StompError;

/// A parsed destination. Names are unescaped.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Destination {
    /// `/queue/q`
    Queue(String),
    /// `/amq/queue/q`
    AmqQueue(String),
    /// `/topic/key`
    Topic(String),
    /// `/exchange/x[/key]`
    Exchange(String, String),
    /// `/temp-queue/n`
    TempQueue(String),
    /// `/reply-queue/q`
    ReplyQueue(String),
}

const KINDS: &str = "/temp-queue, /exchange, /topic, /queue, /amq/queue, /reply-queue/";

impl Destination {
    /// Parses a `destination` header.
    pub fn parse(text: &str) -> Result<Self, StompError> {
        let invalid = || {
            StompError::UnknownDestination(format!(
                "'{text}' is not a valid destination.\nValid destination types are: {KINDS}."
            ))
        };
        let (kind, rest) = [
            "/amq/queue/",
            "/queue/",
            "/topic/",
            "/exchange/",
            "/temp-queue/",
            "/reply-queue/",
        ]
        .into_iter()
        .find_map(|prefix| text.strip_prefix(prefix).map(|rest| (prefix, rest)))
        .ok_or_else(invalid)?;
        if kind == "/exchange/" {
            let (exchange, key) = rest.split_once('/').unwrap_or((rest, ""));
            if exchange.is_empty() || key.contains('/') {
                return Err(invalid());
            }
            return Ok(Self::Exchange(unescape(exchange), unescape(key)));
        }
        if rest.is_empty() || rest.contains('/') {
            return Err(invalid());
        }
        let name = unescape(rest);
        Ok(match kind {
            "/amq/queue/" => Self::AmqQueue(name),
            "/queue/" => Self::Queue(name),
            "/topic/" => Self::Topic(name),
            "/temp-queue/" => Self::TempQueue(name),
            _ => Self::ReplyQueue(name),
        })
    }

    /// The destination a message published on `exchange` with `key` is shown under.
    pub fn of_message(exchange: &ExchangeName, key: &RoutingKey, topic: &str) -> Self {
        let key = key.as_str().to_owned();
        match exchange.as_str() {
            "" => Self::Queue(key),
            x if x == topic => Self::Topic(key),
            x => Self::Exchange(x.to_owned(), key),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Queue(q) => write!(f, "/queue/{}", escape(q)),
            Self::AmqQueue(q) => write!(f, "/amq/queue/{}", escape(q)),
            Self::Topic(k) => write!(f, "/topic/{}", escape(k)),
            Self::Exchange(x, k) if k.is_empty() => write!(f, "/exchange/{}", escape(x)),
            Self::Exchange(x, k) => write!(f, "/exchange/{}/{}", escape(x), escape(k)),
            Self::TempQueue(n) => write!(f, "/temp-queue/{}", escape(n)),
            Self::ReplyQueue(q) => write!(f, "/reply-queue/{}", escape(q)),
        }
    }
}

/// `%2F` (either case) to `/`; nothing else is unescaped, as in RabbitMQ.
fn unescape(name: &str) -> String {
    name.replace("%2F", "/").replace("%2f", "/")
}

fn escape(name: &str) -> String {
    name.replace('/', "%2F")
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "test vectors")]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let cases = [
            ("/queue/q", Destination::Queue("q".into())),
            ("/amq/queue/q", Destination::AmqQueue("q".into())),
            ("/topic/a.b.*", Destination::Topic("a.b.*".into())),
            (
                "/exchange/x",
                Destination::Exchange("x".into(), String::new()),
            ),
            (
                "/exchange/x/k.#",
                Destination::Exchange("x".into(), "k.#".into()),
            ),
            ("/temp-queue/t", Destination::TempQueue("t".into())),
            (
                "/reply-queue/amq.gen-1",
                Destination::ReplyQueue("amq.gen-1".into()),
            ),
            ("/queue/a%2Fb", Destination::Queue("a/b".into())),
            (
                "/exchange/a%2fb/c%2Fd",
                Destination::Exchange("a/b".into(), "c/d".into()),
            ),
        ];
        for (text, want) in cases {
            let got = Destination::parse(text).unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(Destination::parse(&got.to_string()).unwrap(), want);
        }
    }

    #[test]
    fn refuses_the_rest() {
        for text in [
            "",
            "q",
            "/queue/",
            "/queue/a/b",
            "/foo/bar",
            "/exchange/",
            "/exchange/x/a/b",
            "/topic/",
        ] {
            assert!(Destination::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn shows_messages_by_exchange() {
        let key = RoutingKey::try_from("a.b").unwrap();
        let shown = |x: &str| {
            Destination::of_message(&ExchangeName::try_from(x).unwrap(), &key, "amq.topic")
                .to_string()
        };
        assert_eq!(shown(""), "/queue/a.b");
        assert_eq!(shown("amq.topic"), "/topic/a.b");
        assert_eq!(shown("x"), "/exchange/x/a.b");
    }
}
