//! The errors the core returns, worded as RabbitMQ words them so clients and their tests see
//! familiar texts. Texts carry no `NAME - ` prefix: the adapter adds the one for its code.

use std::fmt::Display;

use warren_model::{CoreError, ExchangeName, FieldTable, FieldValue, QueueName, VHostName};

/// 404 for a missing exchange.
pub(crate) fn no_exchange(x: &ExchangeName, vhost: &VHostName) -> CoreError {
    CoreError::not_found(format!("no exchange '{x}' in vhost '{vhost}'"))
}

/// 404 for a missing queue.
pub(crate) fn no_queue(q: &QueueName, vhost: &VHostName) -> CoreError {
    CoreError::not_found(format!("no queue '{q}' in vhost '{vhost}'"))
}

/// 405 for an exclusive queue used from another connection.
pub(crate) fn locked(q: &QueueName, vhost: &VHostName) -> CoreError {
    CoreError::locked(format!(
        "cannot obtain exclusive access to locked queue '{q}' in vhost '{vhost}'. It could be \
         originally declared on another connection or the exclusive property value does not \
         match that of the original declaration."
    ))
}

/// 403 for any operation on the default exchange.
pub(crate) fn default_exchange() -> CoreError {
    CoreError::access_refused("operation not permitted on the default exchange")
}

/// 403 for a reserved `amq.` name.
pub(crate) fn reserved(what: &str, name: &dyn Display) -> CoreError {
    CoreError::access_refused(format!(
        "{what} name '{name}' contains reserved prefix 'amq.*'"
    ))
}

/// 406 for a redeclare that differs in one property.
pub(crate) fn inequivalent(
    arg: &str,
    what: &str,
    name: &dyn Display,
    vhost: &VHostName,
    received: &dyn Display,
    current: &dyn Display,
) -> CoreError {
    CoreError::precondition(format!(
        "inequivalent arg '{arg}' for {what} '{name}' in vhost '{vhost}': received \
         '{received}' but current is '{current}'"
    ))
}

/// 406 for a redeclare whose arguments differ; names the first differing key.
/// RabbitMQ's type classes for argument equivalence (`rabbit_misc:type_class/1`): every
/// integer type is one class, so a client encoding `10` as a long matches one that sent a
/// short.
pub(crate) fn equivalent(a: &FieldValue, b: &FieldValue) -> bool {
    let int = |v: &FieldValue| crate::queue::integer(v).ok();
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The first of `keys` whose values differ between two argument tables, as RabbitMQ's
/// `assert_args_equivalence` compares them: only `keys`, a missing value differs from any.
pub(crate) fn first_inequivalent<'a>(
    keys: &[&'a str],
    received: &FieldTable,
    current: &FieldTable,
) -> Option<&'a str> {
    keys.iter()
        .copied()
        .find(|key| match (received.get(key), current.get(key)) {
            (None, None) => false,
            (Some(a), Some(b)) => !equivalent(a, b),
            _ => true,
        })
}

/// 406 for argument `key` differing on a redeclare, worded as RabbitMQ.
pub(crate) fn inequivalent_args(
    what: &str,
    name: &dyn Display,
    vhost: &VHostName,
    key: &str,
    received: &FieldTable,
    current: &FieldTable,
) -> CoreError {
    let (got, have) = (received.get(key), current.get(key));
    let shown = |v: Option<&FieldValue>| match (v, got.is_some() && have.is_some()) {
        (None, _) => "none".to_owned(),
        (Some(v), true) => format!("'{}'", plain(v)),
        (Some(v), false) => format!(
            "the value '{}' of type '{}'",
            plain(v),
            crate::queue::type_name(v)
        ),
    };
    CoreError::precondition(format!(
        "inequivalent arg '{key}' for {what} '{name}' in vhost '{vhost}': received {} but \
         current is {}",
        shown(got),
        shown(have)
    ))
}

fn plain(value: &FieldValue) -> String {
    match (value.as_str(), value.as_i64(), value.as_bool()) {
        (Some(text), _, _) => text.to_owned(),
        (_, Some(n), _) => n.to_string(),
        (_, _, Some(b)) => b.to_string(),
        _ => format!("{value:?}"),
    }
}
