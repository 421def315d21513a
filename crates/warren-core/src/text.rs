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
pub(crate) fn inequivalent_args(
    what: &str,
    name: &dyn Display,
    vhost: &VHostName,
    received: &FieldTable,
    current: &FieldTable,
) -> CoreError {
    let key = first_difference(received, current).unwrap_or("arguments");
    let shown = |t: &FieldTable| t.get(key).map_or("none".to_owned(), show);
    CoreError::precondition(format!(
        "inequivalent arg '{key}' for {what} '{name}' in vhost '{vhost}': received {} but \
         current is {}",
        shown(received),
        shown(current)
    ))
}

fn first_difference<'a>(a: &'a FieldTable, b: &'a FieldTable) -> Option<&'a str> {
    let missing_in = |x: &'a FieldTable, y: &FieldTable| {
        x.iter().find(|(k, v)| y.get(k) != Some(*v)).map(|(k, _)| k)
    };
    missing_in(a, b).or_else(|| missing_in(b, a))
}

fn show(value: &FieldValue) -> String {
    match value.as_str() {
        Some(text) => format!("the value '{text}'"),
        None => match value.as_i64() {
            Some(n) => format!("the value '{n}'"),
            None => format!("the value {value:?}"),
        },
    }
}
