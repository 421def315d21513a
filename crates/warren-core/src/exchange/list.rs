//! A plain list of bindings: the storage under every table, deduplicated on insert.

use warren_model::Destination;

use super::Binding;

/// Bindings without an index; fine for the handful that share a key or a trie node.
#[derive(Default, Debug)]
pub(crate) struct BindingList(Vec<Binding>);

impl BindingList {
    pub(crate) fn add(&mut self, binding: Binding) -> bool {
        if self.0.iter().any(|b| b.same(&binding)) {
            return false;
        }
        self.0.push(binding);
        true
    }

    pub(crate) fn remove(&mut self, binding: &Binding) -> bool {
        let before = self.0.len();
        self.0.retain(|b| !b.same(binding));
        before != self.0.len()
    }

    pub(crate) fn remove_destination(&mut self, destination: &Destination) -> usize {
        let before = self.0.len();
        self.0.retain(|b| b.destination != *destination);
        before - self.0.len()
    }

    pub(crate) fn destinations(&self, out: &mut Vec<Destination>) {
        out.extend(self.0.iter().map(|b| b.destination.clone()));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.0.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
