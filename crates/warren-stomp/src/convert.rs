//! STOMP headers to message properties and back, as RabbitMQ's STOMP plugin maps them.
//!
//! | STOMP header | property |
//! |---|---|
//! | `content-type`, `content-encoding` | content type, content encoding |
//! | `persistent` (`true`) | delivery mode 2 (persistent) |
//! | `priority` | priority (0-255) |
//! | `correlation-id`, `type`, `user-id`, `app-id` | the same properties |
//! | `reply-to` | reply to; outbound a value without a leading `/` shows as `/reply-queue/<it>` |
//! | `expiration` | expiration (milliseconds, digits only) |
//! | `timestamp` | timestamp (seconds) |
//! | `amqp-message-id` | message id (`message-id` is the broker's own on MESSAGE) |
//! | a queue argument (`x-max-length`, ...) on SEND to `/queue` | the queue's argument |
//! | any other header | an AMQP header holding a long string |
//!
//! Frame headers (`destination`, `receipt`, `transaction`, `content-length`) are not copied.
//! Outbound, AMQP header values that are not strings are shown as text; tables and arrays are
//! dropped (lossy).

use bytes::Bytes;
use warren_model::{DeliveryMode, FieldTable, FieldValue, Message, Properties, TextProperties};

use crate::errors::StompError;
use crate::frame::Headers;

/// Frame headers that never become message headers.
const FRAME_HEADERS: [&str; 5] = [
    "destination",
    "receipt",
    "transaction",
    "content-length",
    "message-id",
];

/// Headers the session writes on MESSAGE itself; message headers of these names are not shown.
const MESSAGE_HEADERS: [&str; 7] = [
    "subscription",
    "destination",
    "message-id",
    "redelivered",
    "ack",
    "content-length",
    "receipt",
];

/// The queue arguments a header may set: RabbitMQ's list without its stream arguments, plus
/// `x-overflow`, `x-queue-mode` and `x-single-active-consumer`, which RabbitMQ's STOMP plugin
/// leaves as message headers. Any other `x-*` header is a message header.
pub const QUEUE_ARGUMENTS: [&str; 12] = [
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-message-ttl",
    "x-overflow",
    "x-queue-mode",
    "x-queue-type",
    "x-single-active-consumer",
    "x-max-age",
];

const INTEGER_ARGUMENTS: [&str; 5] = [
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-message-ttl",
];

/// Properties from SEND headers.
pub fn properties(headers: &Headers) -> Result<Properties, StompError> {
    let text = |name: &str| headers.get(name).map(str::to_owned);
    let mut p = Properties {
        delivery_mode: headers.get("persistent").map(|v| match v {
            "true" => DeliveryMode::Persistent,
            _ => DeliveryMode::Transient,
        }),
        priority: number(headers, "priority")?,
        timestamp: number(headers, "timestamp")?,
        text: TextProperties {
            content_type: text("content-type"),
            content_encoding: text("content-encoding"),
            correlation_id: text("correlation-id"),
            reply_to: text("reply-to"),
            expiration: text("expiration"),
            message_id: text("amqp-message-id"),
            kind: text("type"),
            user_id: text("user-id"),
            app_id: text("app-id"),
            ..Default::default()
        }
        .into(),
        ..Properties::default()
    };
    if let Some(e) = &p.text.expiration {
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StompError::Header(format!("invalid expiration '{e}'")));
        }
    }
    let table: FieldTable = headers
        .effective()
        .filter(|(name, _)| is_application_header(name))
        .map(|(n, v)| {
            (
                n.to_owned(),
                FieldValue::LongString(Bytes::from(v.to_owned())),
            )
        })
        .collect();
    p.headers = (!table.is_empty()).then_some(table);
    Ok(p)
}

fn number<T: std::str::FromStr>(headers: &Headers, name: &str) -> Result<Option<T>, StompError> {
    headers
        .get(name)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| StompError::Header(format!("invalid {name} '{v}'")))
        })
        .transpose()
}

const PROPERTY_HEADERS: [&str; 12] = [
    "content-type",
    "content-encoding",
    "persistent",
    "priority",
    "correlation-id",
    "reply-to",
    "expiration",
    "amqp-message-id",
    "timestamp",
    "type",
    "user-id",
    "app-id",
];

fn is_application_header(name: &str) -> bool {
    !FRAME_HEADERS.contains(&name)
        && !PROPERTY_HEADERS.contains(&name)
        && !QUEUE_ARGUMENTS.contains(&name)
}

/// True if the headers set any queue argument.
pub fn has_queue_arguments(headers: &Headers) -> bool {
    headers
        .effective()
        .any(|(name, _)| QUEUE_ARGUMENTS.contains(&name))
}

/// Queue arguments from the headers of a SUBSCRIBE or SEND.
pub fn queue_arguments(headers: &Headers) -> Result<FieldTable, StompError> {
    let mut table = FieldTable::new();
    for (name, value) in headers.effective() {
        if !QUEUE_ARGUMENTS.contains(&name) {
            continue;
        }
        let typed = if INTEGER_ARGUMENTS.contains(&name) {
            let n = value
                .trim()
                .parse::<i64>()
                .map_err(|_| StompError::Header(format!("invalid {name} '{value}'")))?;
            FieldValue::I64(n)
        } else if name == "x-single-active-consumer" {
            FieldValue::Bool(value == "true")
        } else {
            FieldValue::string(value)
        };
        table.insert(name, typed);
    }
    Ok(table)
}

/// The headers of a MESSAGE carrying `message`, after the session's own.
pub fn message_headers(message: &Message, out: &mut Headers) {
    let p = &message.properties;
    if let Some(table) = &p.headers {
        for (name, value) in table.iter() {
            if MESSAGE_HEADERS.contains(&name) || PROPERTY_HEADERS.contains(&name) {
                continue;
            }
            if let Some(text) = value_text(value) {
                out.push(name, text);
            }
        }
    }
    let mut put = |name: &str, value: &Option<String>| {
        if let Some(v) = value {
            out.push(name, v.as_str());
        }
    };
    put("content-type", &p.text.content_type);
    put("content-encoding", &p.text.content_encoding);
    put("correlation-id", &p.text.correlation_id);
    // A bare queue name (an AMQP reply address) is shown as a destination, as RabbitMQ does.
    let reply_to = p.text.reply_to.as_ref().map(|r| match r.starts_with('/') {
        true => r.clone(),
        false => format!("/reply-queue/{r}"),
    });
    put("reply-to", &reply_to);
    put("expiration", &p.text.expiration);
    put("amqp-message-id", &p.text.message_id);
    put("type", &p.text.kind);
    put("user-id", &p.text.user_id);
    put("app-id", &p.text.app_id);
    if message.is_persistent() {
        out.push("persistent", "true");
    }
    if let Some(priority) = p.priority {
        out.push("priority", priority.to_string());
    }
    if let Some(ts) = p.timestamp {
        out.push("timestamp", ts.to_string());
    }
}

/// An AMQP header value as STOMP text; `None` for tables and arrays.
fn value_text(value: &FieldValue) -> Option<String> {
    if let Some(text) = value.as_str() {
        return Some(text.to_owned());
    }
    if let Some(n) = value.as_i64() {
        return Some(n.to_string());
    }
    match value {
        FieldValue::Bool(b) => Some(b.to_string()),
        FieldValue::F32(f) => Some(f.to_string()),
        FieldValue::F64(f) => Some(f.to_string()),
        FieldValue::Decimal(scale, v) => Some(decimal(*scale, *v)),
        FieldValue::Void => Some(String::new()),
        _ => None,
    }
}

fn decimal(scale: u8, value: u32) -> String {
    let digits = value.to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().copied().collect()
    }

    #[test]
    fn properties_from_headers() {
        let h = headers(&[
            ("destination", "/queue/q"),
            ("content-type", "text/plain"),
            ("persistent", "true"),
            ("priority", "3"),
            ("expiration", "60000"),
            ("timestamp", "12345"),
            ("amqp-message-id", "m1"),
            ("x-max-length", "10"),
            ("custom", "v"),
            ("custom", "ignored"),
        ]);
        let p = properties(&h).unwrap();
        assert_eq!(p.text.content_type.as_deref(), Some("text/plain"));
        assert_eq!(p.delivery_mode, Some(DeliveryMode::Persistent));
        assert_eq!(p.priority, Some(3));
        assert_eq!(p.text.expiration.as_deref(), Some("60000"));
        assert_eq!(p.timestamp, Some(12345));
        assert_eq!(p.text.message_id.as_deref(), Some("m1"));
        let table = p.headers.unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.get("custom").and_then(FieldValue::as_str), Some("v"));
        let args = queue_arguments(&h).unwrap();
        assert_eq!(args.get("x-max-length"), Some(&FieldValue::I64(10)));
    }

    #[test]
    fn bad_numbers_are_refused() {
        for (name, value) in [
            ("priority", "high"),
            ("priority", "300"),
            ("expiration", "-1"),
            ("timestamp", "x"),
        ] {
            assert!(
                properties(&headers(&[(name, value)])).is_err(),
                "{name}:{value}"
            );
        }
        assert!(queue_arguments(&headers(&[("x-max-length", "ten")])).is_err());
    }

    #[test]
    fn a_bare_reply_to_shows_as_a_reply_queue() {
        let shown = |reply_to: &str| {
            let mut message = Message {
                annotations: warren_model::Annotations {
                    exchange: warren_model::ExchangeName::default_exchange(),
                    routing_key: warren_model::RoutingKey::empty(),
                    publisher: None,
                },
                properties: Properties::default(),
                body: Bytes::new(),
            };
            message.properties.text.to_mut().reply_to = Some(reply_to.into());
            let mut out = Headers::new();
            message_headers(&message, &mut out);
            out.get("reply-to").map(str::to_owned)
        };
        assert_eq!(
            shown("amq.gen-1").as_deref(),
            Some("/reply-queue/amq.gen-1")
        );
        assert_eq!(shown("/queue/back").as_deref(), Some("/queue/back"));
    }

    #[test]
    fn decimals_show_their_scale() {
        assert_eq!(decimal(2, 12345), "123.45");
        assert_eq!(decimal(3, 5), "0.005");
        assert_eq!(decimal(0, 7), "7");
    }
}
