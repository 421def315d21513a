//! Table-driven helpers for the exchange type tests: binding `i` of a case goes to queue `q{i}`.

use warren_model::{Destination, FieldTable, QueueName, RoutingKey};

use super::{Binding, ExchangeType};

/// One routing case: bindings, a published key and headers, and the queues expected.
#[derive(Debug)]
pub(crate) struct Case {
    pub bindings: Vec<(String, FieldTable)>,
    pub key: String,
    pub headers: Option<FieldTable>,
    pub expected: Vec<String>,
}

impl Case {
    /// Bindings by key only.
    pub fn keys(patterns: &[&str], key: &str, expected: &[&str]) -> Self {
        Self {
            bindings: patterns
                .iter()
                .map(|p| (p.to_string(), FieldTable::new()))
                .collect(),
            key: key.to_owned(),
            headers: None,
            expected: expected.iter().map(|q| q.to_string()).collect(),
        }
    }
}

/// A binding to queue `queue` with `key`.
pub(crate) fn binding(queue: &str, key: &str) -> Binding {
    Binding {
        destination: Destination::Queue(name(queue)),
        key: RoutingKey::try_from(key).unwrap_or_else(|_| RoutingKey::empty()),
        arguments: FieldTable::new(),
    }
}

fn name(queue: &str) -> QueueName {
    QueueName::try_from(queue).unwrap_or_else(|e| panic!("test name: {e}"))
}

/// The sorted, deduplicated queues `case` routes to.
pub(crate) fn routes(kind: &dyn ExchangeType, case: &Case) -> Vec<String> {
    let mut table = kind.new_table();
    for (i, (key, args)) in case.bindings.iter().enumerate() {
        let mut b = binding(&format!("q{i}"), key);
        b.arguments = args.clone();
        table.add(b);
    }
    let mut out = Vec::new();
    let key = RoutingKey::try_from(case.key.as_str()).unwrap_or_else(|_| RoutingKey::empty());
    table.route(&key, case.headers.as_ref(), &mut out);
    let mut names: Vec<String> = out
        .into_iter()
        .map(|d| match d {
            Destination::Queue(q) => q.to_string(),
            Destination::Exchange(x) => format!("x:{x}"),
        })
        .collect();
    names.sort();
    names.dedup();
    names
}
