//! Queue arguments (`x-*`), parsed and checked once at declare time, with RabbitMQ's error
//! texts. Unknown arguments are kept but ignored, as RabbitMQ does.

use std::time::Duration;

use warren_model::VHostName;
use warren_model::{CoreError, ExchangeName, FieldTable, FieldValue, QueueName, RoutingKey};

/// What a full queue does with one more message (`x-overflow`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) enum Overflow {
    /// Drop (or dead-letter) the oldest ready message.
    #[default]
    DropHead,
    /// Refuse the new message; the publisher gets a nack under confirms.
    RejectPublish,
    /// Refuse it and dead-letter it.
    RejectPublishDlx,
}

/// Where dead letters go.
#[derive(Clone, Debug)]
pub(crate) struct DeadLetterTarget {
    pub exchange: ExchangeName,
    /// Replaces the message's routing keys when set.
    pub routing_key: Option<RoutingKey>,
}

/// The queue arguments the core acts on.
#[derive(Clone, Debug, Default)]
pub(crate) struct QueueArgs {
    pub message_ttl: Option<Duration>,
    pub expires: Option<Duration>,
    pub dead_letter: Option<DeadLetterTarget>,
    pub max_length: Option<u64>,
    pub max_length_bytes: Option<u64>,
    pub overflow: Overflow,
    pub max_priority: Option<u8>,
    pub single_active_consumer: bool,
    pub delivery_limit: Option<u64>,
}

/// Why an argument is refused, shown as RabbitMQ shows it.
type Refusal = String;

impl QueueArgs {
    /// Whether an arrival can push the oldest messages out: `drop-head` (the default) with a
    /// length limit set. Without a limit nothing is ever dropped.
    pub fn drops_heads(&self) -> bool {
        self.overflow == Overflow::DropHead
            && (self.max_length.is_some() || self.max_length_bytes.is_some())
    }

    /// Parses `args`; 406 naming the first bad one.
    pub fn parse(
        args: &FieldTable,
        queue: &QueueName,
        vhost: &VHostName,
    ) -> Result<Self, CoreError> {
        parse_all(args).map_err(|(key, why)| {
            CoreError::precondition(format!(
                "invalid arg '{key}' for queue '{queue}' in vhost '{vhost}': {why}"
            ))
        })
    }
}

fn parse_all(args: &FieldTable) -> Result<QueueArgs, (&'static str, Refusal)> {
    let get = |key: &'static str| args.get(key).map(|v| (key, v));
    let mut out = QueueArgs {
        message_ttl: opt(get("x-message-ttl"), non_negative)?.map(Duration::from_millis),
        expires: opt(get("x-expires"), positive)?.map(Duration::from_millis),
        max_length: opt(get("x-max-length"), non_negative)?,
        max_length_bytes: opt(get("x-max-length-bytes"), non_negative)?,
        overflow: opt(get("x-overflow"), overflow)?.unwrap_or_default(),
        max_priority: opt(get("x-max-priority"), priority)?,
        single_active_consumer: opt(get("x-single-active-consumer"), boolean)?.unwrap_or(false),
        delivery_limit: opt(get("x-delivery-limit"), non_negative)?,
        dead_letter: None,
    };
    let exchange = opt(get("x-dead-letter-exchange"), text)?;
    let routing_key = opt(get("x-dead-letter-routing-key"), text)?;
    out.dead_letter = match (exchange, routing_key) {
        (None, Some(_)) => {
            let why = "routing_key_but_no_dlx_defined".to_owned();
            return Err(("x-dead-letter-routing-key", why));
        }
        (None, None) => None,
        (Some(x), rk) => Some(DeadLetterTarget {
            exchange: ExchangeName::try_from(x).map_err(|e| ("x-dead-letter-exchange", e.text))?,
            routing_key: rk
                .map(RoutingKey::try_from)
                .transpose()
                .map_err(|e| ("x-dead-letter-routing-key", e.text))?,
        }),
    };
    Ok(out)
}

fn opt<T>(
    found: Option<(&'static str, &FieldValue)>,
    check: fn(&FieldValue) -> Result<T, Refusal>,
) -> Result<Option<T>, (&'static str, Refusal)> {
    found
        .map(|(key, v)| check(v).map_err(|why| (key, why)))
        .transpose()
}

/// An integer argument, as RabbitMQ's `check_int_arg`.
pub(crate) fn integer(v: &FieldValue) -> Result<i64, Refusal> {
    v.as_i64()
        .filter(|_| !matches!(v, FieldValue::Timestamp(_)))
        .ok_or_else(|| format!("\"expected integer, got {}\"", type_name(v)))
}

fn non_negative(v: &FieldValue) -> Result<u64, Refusal> {
    let n = integer(v)?;
    u64::try_from(n).map_err(|_| format!("{{value_negative,{n}}}"))
}

fn positive(v: &FieldValue) -> Result<u64, Refusal> {
    match non_negative(v)? {
        0 => Err("{value_zero,0}".to_owned()),
        n => Ok(n),
    }
}

fn priority(v: &FieldValue) -> Result<u8, Refusal> {
    let n = non_negative(v)?;
    u8::try_from(n).map_err(|_| format!("{{max_value_exceeded,{n}}}"))
}

fn boolean(v: &FieldValue) -> Result<bool, Refusal> {
    v.as_bool()
        .ok_or_else(|| format!("{{unacceptable_type,{}}}", type_name(v)))
}

fn text(v: &FieldValue) -> Result<String, Refusal> {
    match v {
        FieldValue::LongString(_) => v.as_str().map(str::to_owned),
        _ => None,
    }
    .ok_or_else(|| format!("{{unacceptable_type,{}}}", type_name(v)))
}

fn overflow(v: &FieldValue) -> Result<Overflow, Refusal> {
    match text(v)?.as_str() {
        "drop-head" => Ok(Overflow::DropHead),
        "reject-publish" => Ok(Overflow::RejectPublish),
        "reject-publish-dlx" => Ok(Overflow::RejectPublishDlx),
        _ => Err("invalid_overflow".to_owned()),
    }
}

/// RabbitMQ's name for a field type, as its error texts use it.
pub(crate) fn type_name(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Bool(_) => "bool",
        FieldValue::I8(_) => "byte",
        FieldValue::U8(_) => "unsignedbyte",
        FieldValue::I16(_) => "short",
        FieldValue::U16(_) => "unsignedshort",
        FieldValue::I32(_) => "signedint",
        FieldValue::U32(_) => "unsignedint",
        FieldValue::I64(_) => "long",
        FieldValue::F32(_) => "float",
        FieldValue::F64(_) => "double",
        FieldValue::Decimal(..) => "decimal",
        FieldValue::LongString(_) => "longstr",
        FieldValue::Bytes(_) => "binary",
        FieldValue::Timestamp(_) => "timestamp",
        FieldValue::Table(_) => "table",
        FieldValue::Array(_) => "array",
        FieldValue::Void => "void",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entries: Vec<(&str, FieldValue)>) -> Result<QueueArgs, String> {
        let table: FieldTable = entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let q = QueueName::try_from("q").map_err(|e| e.text.clone())?;
        let v = VHostName::try_from("/").map_err(|e| e.text.clone())?;
        QueueArgs::parse(&table, &q, &v).map_err(|e| e.text)
    }

    #[test]
    fn refusals_read_as_rabbitmq_writes_them() {
        let cases = [
            (
                ("x-message-ttl", FieldValue::I32(-1)),
                "{value_negative,-1}",
            ),
            (
                ("x-message-ttl", FieldValue::string("a")),
                "\"expected integer, got longstr\"",
            ),
            (("x-expires", FieldValue::I32(0)), "{value_zero,0}"),
            (
                ("x-overflow", FieldValue::string("bogus")),
                "invalid_overflow",
            ),
            (
                ("x-max-priority", FieldValue::I32(300)),
                "{max_value_exceeded,300}",
            ),
            (
                ("x-single-active-consumer", FieldValue::I32(1)),
                "{unacceptable_type,signedint}",
            ),
            (
                ("x-dead-letter-routing-key", FieldValue::string("k")),
                "routing_key_but_no_dlx_defined",
            ),
        ];
        for ((key, value), why) in cases {
            let err = parse(vec![(key, value)]).unwrap_err();
            assert_eq!(
                err,
                format!("invalid arg '{key}' for queue 'q' in vhost '/': {why}")
            );
        }
    }

    #[test]
    fn accepted_arguments_are_parsed() {
        let args = parse(vec![
            ("x-message-ttl", FieldValue::I64(0)),
            ("x-max-priority", FieldValue::U8(10)),
            ("x-overflow", FieldValue::string("reject-publish-dlx")),
            ("x-dead-letter-exchange", FieldValue::string("")),
            ("x-single-active-consumer", FieldValue::Bool(true)),
            ("x-unknown", FieldValue::Void),
        ])
        .unwrap();
        assert_eq!(args.message_ttl, Some(Duration::ZERO));
        assert_eq!(args.max_priority, Some(10));
        assert_eq!(args.overflow, Overflow::RejectPublishDlx);
        assert!(args.dead_letter.is_some_and(|d| d.exchange.is_default()));
        assert!(args.single_active_consumer);
    }
}
