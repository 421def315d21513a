//! `topic`: binding keys are dot-separated words where `*` matches exactly one word and `#`
//! zero or more. Bindings live in a trie keyed by word.
//!
//! Words follow RabbitMQ: the empty key has no words, and `a..b` has three (`a`, ``, `b`).
//! Runs of `#` are collapsed on insert (`#.#` means `#`), which keeps matching from going
//! exponential on hostile patterns without changing what matches.

// Keys come from clients, so the hash is seeded; foldhash is that and cheaper than SipHash
// on the per-message path.
use foldhash::HashMap;

use warren_model::{Destination, FieldTable, RoutingKey};

use super::list::BindingList;
use super::{Binding, BindingTable, ExchangeType};

/// The `topic` exchange type.
#[derive(Debug, Default)]
pub struct Topic;

impl ExchangeType for Topic {
    fn name(&self) -> &'static str {
        "topic"
    }

    fn new_table(&self) -> Box<dyn BindingTable> {
        Box::<TopicTable>::default()
    }

    fn routes_by_key(&self) -> bool {
        true
    }
}

/// A trie node. The wildcard children are fields of their own, so matching a word costs one
/// map lookup (its literal child) instead of three.
#[derive(Default, Debug)]
struct Node {
    /// Children by literal word; never `*` or `#`.
    words: HashMap<Box<str>, Node>,
    /// The `*` child.
    star: Option<Box<Node>>,
    /// The `#` child.
    hash: Option<Box<Node>>,
    bindings: BindingList,
}

/// What is left of a routing key while matching: `None` when no words are left, so that
/// `Some("")` can be one empty word (`a..b` has three words, the empty key none).
type Rest<'a> = Option<&'a str>;

/// The first word of what is left, and what is left after it.
fn split_word(rest: &str) -> (&str, Rest<'_>) {
    match rest.split_once('.') {
        Some((word, rest)) => (word, Some(rest)),
        None => (rest, None),
    }
}

impl Node {
    fn is_empty(&self) -> bool {
        self.words.is_empty()
            && self.star.is_none()
            && self.hash.is_none()
            && self.bindings.is_empty()
    }

    fn child_mut(&mut self, word: &str) -> Option<&mut Node> {
        match word {
            "*" => self.star.as_deref_mut(),
            "#" => self.hash.as_deref_mut(),
            _ => self.words.get_mut(word),
        }
    }

    fn child_or_new(&mut self, word: &str) -> &mut Node {
        match word {
            "*" => self.star.get_or_insert_default(),
            "#" => self.hash.get_or_insert_default(),
            _ => self.words.entry(word.into()).or_default(),
        }
    }

    fn drop_child(&mut self, word: &str) {
        match word {
            "*" => self.star = None,
            "#" => self.hash = None,
            _ => drop(self.words.remove(word)),
        }
    }

    fn insert(&mut self, path: &[&str], binding: Binding) -> bool {
        match path.split_first() {
            None => self.bindings.add(binding),
            Some((word, rest)) => self.child_or_new(word).insert(rest, binding),
        }
    }

    fn remove(&mut self, path: &[&str], binding: &Binding) -> bool {
        let Some((word, rest)) = path.split_first() else {
            return self.bindings.remove(binding);
        };
        let Some(child) = self.child_mut(word) else {
            return false;
        };
        let removed = child.remove(rest, binding);
        if child.is_empty() {
            self.drop_child(word);
        }
        removed
    }

    fn remove_destination(&mut self, destination: &Destination) -> usize {
        let mut removed = self.bindings.remove_destination(destination);
        for child in self.words.values_mut() {
            removed += child.remove_destination(destination);
        }
        self.words.retain(|_, child| !child.is_empty());
        for wildcard in [&mut self.star, &mut self.hash] {
            if let Some(child) = wildcard.as_deref_mut() {
                removed += child.remove_destination(destination);
                if child.is_empty() {
                    *wildcard = None;
                }
            }
        }
        removed
    }

    fn collect(&self, rest: Rest<'_>, out: &mut Vec<Destination>) {
        if let Some(hash) = &self.hash {
            // `#` takes zero or more words: every suffix of what is left, the empty one too.
            let mut suffix = rest;
            loop {
                hash.collect(suffix, out);
                let Some(left) = suffix else { break };
                suffix = split_word(left).1;
            }
        }
        let Some(left) = rest else {
            self.bindings.destinations(out);
            return;
        };
        let (word, rest) = split_word(left);
        if let Some(star) = &self.star {
            star.collect(rest, out);
        }
        // A literal `*` or `#` in the key took the wildcard branches: `words` holds neither.
        if let Some(exact) = self.words.get(word) {
            exact.collect(rest, out);
        }
    }

    fn all(&self, out: &mut Vec<Binding>) {
        out.extend(self.bindings.iter().cloned());
        let wildcards = [self.star.as_deref(), self.hash.as_deref()];
        for child in self.words.values().chain(wildcards.into_iter().flatten()) {
            child.all(out);
        }
    }
}

#[derive(Default, Debug)]
struct TopicTable {
    root: Node,
    len: usize,
}

/// The words of a routing key.
fn words(key: &str) -> Vec<&str> {
    if key.is_empty() {
        Vec::new()
    } else {
        key.split('.').collect()
    }
}

/// The trie path of a binding key: its words with runs of `#` collapsed.
fn path(key: &str) -> Vec<&str> {
    let mut path = words(key);
    path.dedup_by(|a, b| *a == "#" && *b == "#");
    path
}

impl BindingTable for TopicTable {
    fn add(&mut self, binding: Binding) -> bool {
        let key = binding.key.clone();
        let added = self.root.insert(&path(key.as_str()), binding);
        self.len += usize::from(added);
        added
    }

    fn remove(&mut self, binding: &Binding) -> bool {
        let removed = self.root.remove(&path(binding.key.as_str()), binding);
        self.len -= usize::from(removed);
        removed
    }

    fn remove_destination(&mut self, destination: &Destination) -> usize {
        let removed = self.root.remove_destination(destination);
        self.len -= removed;
        removed
    }

    fn route(&self, key: &RoutingKey, _headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        let key = key.as_str();
        self.root.collect((!key.is_empty()).then_some(key), out);
    }

    fn bindings(&self) -> Vec<Binding> {
        let mut out = Vec::with_capacity(self.len);
        self.root.all(&mut out);
        out
    }

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{binding, routes, Case};
    use super::*;

    /// (pattern, key, matches)
    const MATCHES: &[(&str, &str, bool)] = &[
        // RabbitMQ tutorial 5.
        ("*.orange.*", "quick.orange.rabbit", true),
        ("*.*.rabbit", "quick.orange.rabbit", true),
        ("lazy.#", "lazy.orange.elephant", true),
        ("*.orange.*", "quick.brown.fox", false),
        ("lazy.#", "lazy.orange.male.rabbit", true),
        ("*.*.rabbit", "lazy.orange.male.rabbit", false),
        ("*.orange.*", "orange", false),
        ("*.orange.*", "quick.orange.male.rabbit", false),
        // rabbit_exchange_type_topic test cases.
        ("a.b.c", "a.b.c", true),
        ("a.*.c", "a.b.c", true),
        ("#.b.c", "a.b.c", true),
        ("#.b.c", "b.c", true),
        ("a.#.c", "a.c", true),
        ("a.#.c", "a.b.b.c", true),
        ("#", "a.b.c", true),
        ("#", "", true),
        ("#.#", "", true),
        ("#.#", "a", true),
        ("#.#.#", "a.b", true),
        ("*", "", false),
        ("*", "a", true),
        ("*", "a.b", false),
        ("a.*", "a", false),
        ("a.#", "a", true),
        ("#.a", "a", true),
        ("*.#", "", false),
        ("*.#", "a", true),
        ("#.*", "a.b", true),
        ("#.*.#", "a", true),
        ("", "", true),
        ("", "a", false),
        ("a", "", false),
        ("a..b", "a..b", true),
        ("a.*.b", "a..b", true),
        ("a.#.b", "a..b", true),
        ("a..b", "a.b", false),
        ("*.*", ".", true),
        ("#", ".", true),
        ("*", ".", false),
        ("a.#.#.b", "a.b", true),
        ("a.#.#.b", "a.x.y.b", true),
        ("a.b", "a.b.c", false),
        ("a.b.c", "a.b", false),
        ("#.c", "a.b.d", false),
        ("a.*.*", "a.b", false),
        ("a.*", "a.*", true),
        ("a.b", "a.*", false),
        ("a.#", "a.#", true),
    ];

    #[test]
    fn matching_table() {
        for (pattern, key, matches) in MATCHES {
            let expected: &[&str] = if *matches { &["q0"] } else { &[] };
            let case = Case::keys(&[pattern], key, expected);
            assert_eq!(routes(&Topic, &case), case.expected, "{pattern} vs {key:?}");
        }
    }

    #[test]
    fn several_bindings_route_together() {
        let case = Case::keys(
            &["*.orange.*", "*.*.rabbit", "lazy.#", "#"],
            "lazy.orange.rabbit",
            &["q0", "q1", "q2", "q3"],
        );
        assert_eq!(routes(&Topic, &case), case.expected);
    }

    #[test]
    fn remove_prunes_and_counts() {
        let mut table = Topic.new_table();
        let a = binding("q", "a.#.#.b");
        let b = binding("q", "a.#.b");
        assert!(table.add(a.clone()));
        assert!(table.add(b.clone()), "distinct keys are distinct bindings");
        assert_eq!(table.len(), 2);
        assert!(table.remove(&a));
        assert!(!table.remove(&a));
        assert_eq!(table.bindings().len(), 1);
        assert_eq!(table.remove_destination(&b.destination), 1);
        assert!(table.is_empty());
        let mut out = Vec::new();
        table.route(
            &RoutingKey::try_from("a.b").unwrap_or_else(|_| RoutingKey::empty()),
            None,
            &mut out,
        );
        assert!(out.is_empty());
    }

    /// The definition, word by word: the trie must agree with it on every pattern and key.
    fn reference(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.split_first(), key.split_first()) {
            (None, _) => key.is_empty(),
            (Some((&"#", rest)), _) => (0..=key.len()).any(|i| reference(rest, &key[i..])),
            (Some(_), None) => false,
            (Some((p, prest)), Some((k, krest))) => {
                (*p == "*" || p == k) && reference(prest, krest)
            }
        }
    }

    fn word() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::sample::select(vec!["a", "b", "", "*", "#"])
    }

    proptest::proptest! {
        #[test]
        fn trie_agrees_with_the_definition(
            pattern in proptest::collection::vec(word(), 0..6),
            key in proptest::collection::vec(word(), 0..6),
        ) {
            let (pattern, key) = (pattern.join("."), key.join("."));
            let expected = reference(&words(&pattern), &words(&key));
            let case = Case::keys(&[&pattern], &key, if expected { &["q0"] } else { &[] });
            proptest::prop_assert_eq!(routes(&Topic, &case), case.expected, "{} vs {}", pattern, key);
        }
    }
}
