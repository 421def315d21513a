//! `fanout`: every binding matches, whatever the key.

use warren_model::{Destination, FieldTable, RoutingKey};

use super::list::BindingList;
use super::{Binding, BindingTable, ExchangeType};

/// The `fanout` exchange type.
#[derive(Debug, Default)]
pub struct Fanout;

impl ExchangeType for Fanout {
    fn name(&self) -> &'static str {
        "fanout"
    }

    fn new_table(&self) -> Box<dyn BindingTable> {
        Box::<FanoutTable>::default()
    }

    fn routes_by_key(&self) -> bool {
        true
    }
}

#[derive(Default, Debug)]
struct FanoutTable(BindingList);

impl BindingTable for FanoutTable {
    fn add(&mut self, binding: Binding) -> bool {
        self.0.add(binding)
    }

    fn remove(&mut self, binding: &Binding) -> bool {
        self.0.remove(binding)
    }

    fn remove_destination(&mut self, destination: &Destination) -> usize {
        self.0.remove_destination(destination)
    }

    fn route(&self, _key: &RoutingKey, _headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        self.0.destinations(out);
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

    #[test]
    fn every_binding_matches_any_key() {
        let cases = [
            Case::keys(&["a", ""], "x", &["q0", "q1"]),
            Case::keys(&["a"], "", &["q0"]),
            Case::keys(&[], "a", &[]),
        ];
        for case in cases {
            assert_eq!(routes(&Fanout, &case), case.expected, "{case:?}");
        }
    }
}
