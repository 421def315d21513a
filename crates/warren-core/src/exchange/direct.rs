//! `direct`: a binding matches when its key equals the routing key exactly.

// Keys come from clients, so the hash is seeded; foldhash is that and cheaper than SipHash
// on the per-message path.
use foldhash::HashMap;

use warren_model::{Destination, FieldTable, RoutingKey};

use super::list::BindingList;
use super::{Binding, BindingTable, ExchangeType};

/// The `direct` exchange type.
#[derive(Debug, Default)]
pub struct Direct;

impl ExchangeType for Direct {
    fn name(&self) -> &'static str {
        "direct"
    }

    fn new_table(&self) -> Box<dyn BindingTable> {
        Box::<DirectTable>::default()
    }

    fn routes_by_key(&self) -> bool {
        true
    }
}

/// Bindings by key; `len` is kept so counting needs no walk.
#[derive(Default, Debug)]
struct DirectTable {
    by_key: HashMap<RoutingKey, BindingList>,
    len: usize,
}

impl BindingTable for DirectTable {
    fn add(&mut self, binding: Binding) -> bool {
        let added = self
            .by_key
            .entry(binding.key.clone())
            .or_default()
            .add(binding);
        self.len += usize::from(added);
        added
    }

    fn remove(&mut self, binding: &Binding) -> bool {
        let Some(list) = self.by_key.get_mut(&binding.key) else {
            return false;
        };
        let removed = list.remove(binding);
        if list.is_empty() {
            self.by_key.remove(&binding.key);
        }
        self.len -= usize::from(removed);
        removed
    }

    fn remove_destination(&mut self, destination: &Destination) -> usize {
        let removed: usize = self
            .by_key
            .values_mut()
            .map(|list| list.remove_destination(destination))
            .sum();
        self.by_key.retain(|_, list| !list.is_empty());
        self.len -= removed;
        removed
    }

    fn route(&self, key: &RoutingKey, _headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        if let Some(list) = self.by_key.get(key) {
            list.destinations(out);
        }
    }

    fn bindings(&self) -> Vec<Binding> {
        self.by_key
            .values()
            .flat_map(|l| l.iter().cloned())
            .collect()
    }

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{routes, Case};
    use super::*;

    #[test]
    fn routing_table() {
        let cases = [
            Case::keys(&["a"], "a", &["q0"]),
            Case::keys(&["a"], "b", &[]),
            Case::keys(&["a", "a", "b"], "a", &["q0", "q1"]),
            Case::keys(&[""], "", &["q0"]),
            Case::keys(&["a.b"], "a.*", &[]),
            Case::keys(&["A"], "a", &[]),
        ];
        for case in cases {
            assert_eq!(routes(&Direct, &case), case.expected, "{case:?}");
        }
    }

    #[test]
    fn remove_keeps_count() {
        let mut table = Direct.new_table();
        let b = super::super::testing::binding("q", "k");
        assert!(table.add(b.clone()));
        assert!(!table.add(b.clone()));
        assert_eq!(table.len(), 1);
        assert!(table.remove(&b));
        assert!(!table.remove(&b));
        assert!(table.is_empty());
    }
}
