//! `headers`: a binding matches on the message's headers, not its key.
//!
//! The binding's `x-match` argument picks the rule: `all` (the default) needs every binding
//! argument matched, `any` at least one. Arguments starting with `x-` are ignored, except by
//! `all-with-x` and `any-with-x`; `x-match` itself never takes part. A binding argument
//! whose value is void matches on the header's presence alone. Integers compare by value
//! whatever their width, as RabbitMQ's Erlang `==` does.

use warren_model::{CoreError, Destination, FieldTable, FieldValue, RoutingKey};

use super::list::BindingList;
use super::{Binding, BindingTable, ExchangeType};

/// The `headers` exchange type (also behind `amq.match`).
#[derive(Debug, Default)]
pub struct Headers;

impl ExchangeType for Headers {
    fn name(&self) -> &'static str {
        "headers"
    }

    fn new_table(&self) -> Box<dyn BindingTable> {
        Box::<HeadersTable>::default()
    }

    fn validate_binding(&self, arguments: &FieldTable) -> Result<(), CoreError> {
        XMatch::parse(arguments).map(|_| ())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum XMatch {
    All,
    Any,
    AllWithX,
    AnyWithX,
}

impl XMatch {
    fn parse(arguments: &FieldTable) -> Result<Self, CoreError> {
        let Some(value) = arguments.get("x-match") else {
            return Ok(Self::All);
        };
        match value.as_str() {
            Some("all") => Ok(Self::All),
            Some("any") => Ok(Self::Any),
            Some("all-with-x") => Ok(Self::AllWithX),
            Some("any-with-x") => Ok(Self::AnyWithX),
            _ => Err(CoreError::precondition(format!(
                "Invalid x-match field value {value:?}; expected all, any, all-with-x, or \
                 any-with-x"
            ))),
        }
    }

    fn with_x(self) -> bool {
        matches!(self, Self::AllWithX | Self::AnyWithX)
    }

    fn any(self) -> bool {
        matches!(self, Self::Any | Self::AnyWithX)
    }
}

/// True when a message with `headers` matches a binding with `arguments`.
fn matches(arguments: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let mode = XMatch::parse(arguments).unwrap_or(XMatch::All);
    let mut relevant = arguments
        .iter()
        .filter(|(k, _)| *k != "x-match" && (mode.with_x() || !k.starts_with("x-")));
    let hit = |(key, wanted): (&str, &FieldValue)| match headers.and_then(|h| h.get(key)) {
        None => false,
        Some(_) if *wanted == FieldValue::Void => true,
        Some(got) => same_value(wanted, got),
    };
    if mode.any() {
        relevant.any(hit)
    } else {
        relevant.all(hit)
    }
}

fn same_value(a: &FieldValue, b: &FieldValue) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[derive(Default, Debug)]
struct HeadersTable(BindingList);

impl BindingTable for HeadersTable {
    fn add(&mut self, binding: Binding) -> bool {
        self.0.add(binding)
    }

    fn remove(&mut self, binding: &Binding) -> bool {
        self.0.remove(binding)
    }

    fn remove_destination(&mut self, destination: &Destination) -> usize {
        self.0.remove_destination(destination)
    }

    fn route(&self, _key: &RoutingKey, headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        let hits = self.0.iter().filter(|b| matches(&b.arguments, headers));
        out.extend(hits.map(|b| b.destination.clone()));
    }

    fn bindings(&self) -> Vec<Binding> {
        self.0.iter().cloned().collect()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{routes, Case};
    use super::*;

    fn table(pairs: &[(&str, FieldValue)]) -> FieldTable {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(text: &str) -> FieldValue {
        FieldValue::string(text)
    }

    fn check(binding: &[(&str, FieldValue)], headers: Option<&[(&str, FieldValue)]>, hit: bool) {
        let case = Case {
            bindings: vec![(String::new(), table(binding))],
            key: "ignored".into(),
            headers: headers.map(table),
            expected: if hit { vec!["q0".into()] } else { vec![] },
        };
        assert_eq!(
            routes(&Headers, &case),
            case.expected,
            "{binding:?} vs {headers:?}"
        );
    }

    #[test]
    fn x_match_all() {
        let b = [("a", s("1")), ("b", s("2"))];
        check(
            &b,
            Some(&[("a", s("1")), ("b", s("2")), ("c", s("3"))]),
            true,
        );
        check(&b, Some(&[("a", s("1"))]), false);
        check(&b, Some(&[("a", s("1")), ("b", s("x"))]), false);
        check(&b, None, false);
        let explicit = [("x-match", s("all")), ("a", s("1"))];
        check(&explicit, Some(&[("a", s("1"))]), true);
    }

    #[test]
    fn x_match_any() {
        let b = [("x-match", s("any")), ("a", s("1")), ("b", s("2"))];
        check(&b, Some(&[("b", s("2"))]), true);
        check(&b, Some(&[("a", s("9")), ("b", s("9"))]), false);
        check(&b, None, false);
    }

    #[test]
    fn empty_binding_all_matches_everything_any_nothing() {
        check(&[], None, true);
        check(&[("x-match", s("any"))], Some(&[("a", s("1"))]), false);
    }

    #[test]
    fn x_prefixed_arguments_ignored_unless_with_x() {
        let all = [("x-match", s("all")), ("x-tag", s("1"))];
        check(&all, None, true);
        let all_x = [("x-match", s("all-with-x")), ("x-tag", s("1"))];
        check(&all_x, None, false);
        check(&all_x, Some(&[("x-tag", s("1"))]), true);
        let any = [("x-match", s("any")), ("x-tag", s("1"))];
        check(&any, Some(&[("x-tag", s("1"))]), false);
        let any_x = [
            ("x-match", s("any-with-x")),
            ("x-tag", s("1")),
            ("a", s("1")),
        ];
        check(&any_x, Some(&[("x-tag", s("1"))]), true);
    }

    #[test]
    fn void_matches_presence_and_integers_compare_by_value() {
        check(
            &[("a", FieldValue::Void)],
            Some(&[("a", s("anything"))]),
            true,
        );
        check(&[("a", FieldValue::Void)], Some(&[("b", s("x"))]), false);
        check(
            &[("n", FieldValue::I32(5))],
            Some(&[("n", FieldValue::U8(5))]),
            true,
        );
        check(&[("n", FieldValue::I32(5))], Some(&[("n", s("5"))]), false);
    }

    #[test]
    fn invalid_x_match_is_refused() {
        let bad = table(&[("x-match", s("most"))]);
        assert!(Headers.validate_binding(&bad).is_err());
        let good = table(&[("x-match", s("any-with-x"))]);
        assert!(Headers.validate_binding(&good).is_ok());
    }
}
