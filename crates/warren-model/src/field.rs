//! Field tables: the typed key/value maps of AMQP arguments and headers, in neutral form.

use bytes::Bytes;

/// Deepest nesting of tables and arrays accepted anywhere. Decoders check it before
/// recursing, so hostile input cannot overflow the stack.
pub const MAX_TABLE_DEPTH: usize = 32;

/// A typed value in a field table (the AMQP 0-9-1 / RabbitMQ type set).
#[derive(Clone, PartialEq, Debug)]
pub enum FieldValue {
    /// `t`
    Bool(bool),
    /// `b`
    I8(i8),
    /// `B`
    U8(u8),
    /// `s`
    I16(i16),
    /// `u`
    U16(u16),
    /// `I`
    I32(i32),
    /// `i`
    U32(u32),
    /// `l`
    I64(i64),
    /// `f`
    F32(f32),
    /// `d`
    F64(f64),
    /// `D`: scale and unscaled value.
    Decimal(u8, u32),
    /// `S`: a long string (bytes; usually UTF-8).
    LongString(Bytes),
    /// `x`: a byte array.
    Bytes(Bytes),
    /// `T`: seconds since the epoch.
    Timestamp(u64),
    /// `F`
    Table(FieldTable),
    /// `A`
    Array(Vec<FieldValue>),
    /// `V`
    Void,
}

impl FieldValue {
    /// A long string value from text.
    pub fn string(text: impl Into<String>) -> Self {
        Self::LongString(Bytes::from(text.into()))
    }

    /// The value as text, for string values holding UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::LongString(b) | Self::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The value as an integer, for any integer type.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::I8(v) => Some(v.into()),
            Self::U8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::I64(v) => Some(v),
            Self::Timestamp(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a boolean, for `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(v) => Some(v),
            _ => None,
        }
    }
}

/// An ordered field table. Keys are unique; insertion replaces.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct FieldTable {
    entries: Vec<(String, FieldValue)>,
}

impl FieldTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: FieldValue) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes and returns the value under `key`.
    pub fn remove(&mut self, key: &str) -> Option<FieldValue> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Equality as RabbitMQ compares declare arguments: order does not matter.
    pub fn same_entries(&self, other: &FieldTable) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl FromIterator<(String, FieldValue)> for FieldTable {
    fn from_iter<I: IntoIterator<Item = (String, FieldValue)>>(iter: I) -> Self {
        let mut table = Self::new();
        for (k, v) in iter {
            table.insert(k, v);
        }
        table
    }
}
