//! Sender-selected distribution, as RabbitMQ: the `CC` and `BCC` headers of a published
//! message (arrays of strings) are routing keys too, routed beside the message's own key;
//! `BCC` is removed before the message is stored or delivered, so no receiver sees it.
//! Messages without headers, the common case, pay one `None` check.

use std::sync::Arc;

use warren_model::{FieldValue, Message, RoutingKey};

/// The extra routing keys of `message`: its `CC` keys, then its `BCC` keys.
pub(super) fn extra_keys(message: &Message) -> Vec<RoutingKey> {
    let Some(headers) = message.properties.headers.as_ref() else {
        return Vec::new();
    };
    ["CC", "BCC"]
        .into_iter()
        .filter_map(|name| match headers.get(name) {
            Some(FieldValue::Array(keys)) => Some(keys),
            _ => None,
        })
        .flatten()
        .filter_map(|key| key.as_str().and_then(|k| RoutingKey::try_from(k).ok()))
        .collect()
}

/// A copy of `message` without its `BCC` header, as receivers must get it; `None` when it has
/// none (the common case, which costs no copy and no reference count).
pub(super) fn without_bcc(message: &Message) -> Option<Arc<Message>> {
    let headers = message.properties.headers.as_ref()?;
    headers.get("BCC")?;
    let mut copy = message.clone();
    if let Some(headers) = copy.properties.headers.as_mut() {
        headers.remove("BCC");
    }
    Some(Arc::new(copy))
}
