//! A depth-limited scanner for field tables, run over raw payloads before amq-protocol parses
//! them: its parser recurses once per nested table or array with no limit, so a frame of
//! nested `F` values would overflow the stack.
//!
//! The scanner only walks; it allocates nothing and recurses at most
//! [`MAX_TABLE_DEPTH`] levels. It locates each table from the fields before it (spec 4.2.5:
//! short strings are a length octet and bytes, bits pack into octets), so every method that
//! carries a table (connection.start and start-ok, exchange.declare/bind/unbind,
//! queue.declare/bind/unbind, basic.consume) and the content header's `headers` property are
//! checked. A payload too short to reach its table passes: the parser then fails on it
//! without recursing.

use warren_model::MAX_TABLE_DEPTH;

/// Why a payload was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GuardError {
    /// Tables or arrays nest deeper than [`MAX_TABLE_DEPTH`].
    TooDeep,
    /// A length points past the end of its container, or a type octet is unknown.
    Malformed,
}

/// A read position over a byte slice; every read is bounds-checked.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.at)
    }

    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let bytes = self.take(2)?;
        Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
    }

    fn u32(&mut self) -> Option<u32> {
        let bytes = self.take(4)?;
        let mut arr = [0u8; 4];
        arr.copy_from_slice(bytes);
        Some(u32::from_be_bytes(arr))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.buf.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn short_string(&mut self) -> Option<()> {
        let len = self.u8()?;
        self.skip(usize::from(len))
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.at..).unwrap_or_default()
    }
}

/// Checks the tables inside a method frame's payload (class id, method id, arguments).
pub fn check_method(payload: &[u8]) -> Result<(), GuardError> {
    let mut cur = Cursor::new(payload);
    let (Some(class), Some(method)) = (cur.u16(), cur.u16()) else {
        return Ok(());
    };
    if seek_method_table(&mut cur, class, method).is_none() {
        return Ok(());
    }
    check_table_at(cur.rest())
}

/// Moves the cursor to the table argument of `class.method`; `None` when it has none or the
/// payload ends first.
fn seek_method_table(cur: &mut Cursor<'_>, class: u16, method: u16) -> Option<()> {
    match (class, method) {
        (10, 10) => cur.skip(2),
        (10, 11) => Some(()),
        (40, 10) => {
            cur.skip(2)?;
            cur.short_string()?;
            cur.short_string()?;
            cur.skip(1)
        }
        (40, 30) | (40, 40) | (50, 20) => {
            cur.skip(2)?;
            skip_short_strings(cur, 3)?;
            cur.skip(1)
        }
        (50, 10) => {
            cur.skip(2)?;
            cur.short_string()?;
            cur.skip(1)
        }
        (50, 50) => {
            cur.skip(2)?;
            skip_short_strings(cur, 3)
        }
        (60, 20) => {
            cur.skip(2)?;
            skip_short_strings(cur, 2)?;
            cur.skip(1)
        }
        _ => None,
    }
}

fn skip_short_strings(cur: &mut Cursor<'_>, n: usize) -> Option<()> {
    (0..n).try_for_each(|_| cur.short_string())
}

/// Checks the `headers` property of a content header payload (spec 4.2.6.1).
pub fn check_content_header(payload: &[u8]) -> Result<(), GuardError> {
    let mut cur = Cursor::new(payload);
    let Some(flags) = cur.skip(12).and_then(|()| cur.u16()) else {
        return Ok(());
    };
    if flags & (1 << 13) == 0 {
        return Ok(());
    }
    let seek = (|| {
        if flags & (1 << 15) != 0 {
            cur.short_string()?;
        }
        if flags & (1 << 14) != 0 {
            cur.short_string()?;
        }
        Some(())
    })();
    match seek {
        Some(()) => check_table_at(cur.rest()),
        None => Ok(()),
    }
}

/// Checks the table encoded at the start of `buf` (a long-uint length, then entries).
pub fn check_table_at(buf: &[u8]) -> Result<(), GuardError> {
    let mut cur = Cursor::new(buf);
    if cur.remaining() < 4 {
        return Ok(());
    }
    scan_table(&mut cur, 1)
}

fn scan_table(cur: &mut Cursor<'_>, depth: usize) -> Result<(), GuardError> {
    if depth > MAX_TABLE_DEPTH {
        return Err(GuardError::TooDeep);
    }
    let len = cur.u32().ok_or(GuardError::Malformed)?;
    let body = usize::try_from(len)
        .ok()
        .and_then(|n| cur.take(n))
        .ok_or(GuardError::Malformed)?;
    let mut inner = Cursor::new(body);
    while inner.remaining() > 0 {
        inner.short_string().ok_or(GuardError::Malformed)?;
        scan_value(&mut inner, depth)?;
    }
    Ok(())
}

fn scan_array(cur: &mut Cursor<'_>, depth: usize) -> Result<(), GuardError> {
    if depth > MAX_TABLE_DEPTH {
        return Err(GuardError::TooDeep);
    }
    let len = cur.u32().ok_or(GuardError::Malformed)?;
    let body = usize::try_from(len)
        .ok()
        .and_then(|n| cur.take(n))
        .ok_or(GuardError::Malformed)?;
    let mut inner = Cursor::new(body);
    while inner.remaining() > 0 {
        scan_value(&mut inner, depth)?;
    }
    Ok(())
}

/// Skips one typed value; type octets as amq-protocol and RabbitMQ read them.
fn scan_value(cur: &mut Cursor<'_>, depth: usize) -> Result<(), GuardError> {
    let kind = cur.u8().ok_or(GuardError::Malformed)?;
    let fixed = match kind {
        b'V' => 0,
        b't' | b'b' | b'B' => 1,
        b's' | b'u' | b'U' => 2,
        b'I' | b'i' | b'f' => 4,
        b'D' => 5,
        b'l' | b'L' | b'd' | b'T' => 8,
        b'S' | b'x' => {
            let len = cur.u32().ok_or(GuardError::Malformed)?;
            usize::try_from(len).map_err(|_| GuardError::Malformed)?
        }
        b'F' => return scan_table(cur, depth + 1),
        b'A' => return scan_array(cur, depth + 1),
        _ => return Err(GuardError::Malformed),
    };
    cur.skip(fixed).ok_or(GuardError::Malformed)
}

/// `prefetch-size` of a `basic.qos` payload, which amq-protocol reads and drops.
pub fn qos_prefetch_size(payload: &[u8]) -> Option<u32> {
    let mut cur = Cursor::new(payload);
    cur.skip(4)?;
    cur.u32()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table nested `levels` deep (1 = one empty table).
    pub(crate) fn nested(levels: usize) -> Vec<u8> {
        let total = 7 * (levels - 1) + 4;
        let mut table = Vec::with_capacity(total);
        for level in 0..levels - 1 {
            let len = u32::try_from(total - 7 * level - 4).unwrap_or(u32::MAX);
            table.extend_from_slice(&len.to_be_bytes());
            table.extend_from_slice(&[1, b'k', b'F']);
        }
        table.extend_from_slice(&0u32.to_be_bytes());
        table
    }

    #[test]
    fn tables_up_to_the_limit_pass() {
        assert_eq!(check_table_at(&nested(1)), Ok(()));
        assert_eq!(check_table_at(&nested(MAX_TABLE_DEPTH)), Ok(()));
    }

    #[test]
    fn deeper_tables_are_refused() {
        assert_eq!(
            check_table_at(&nested(MAX_TABLE_DEPTH + 1)),
            Err(GuardError::TooDeep)
        );
    }

    #[test]
    fn a_hundred_thousand_levels_are_refused_without_recursing() {
        assert_eq!(check_table_at(&nested(100_000)), Err(GuardError::TooDeep));
    }

    #[test]
    fn truncated_lengths_are_malformed() {
        let t = [0, 0, 0, 9, 1, b'k', b'S', 0, 0, 0, 50];
        assert_eq!(check_table_at(&t), Err(GuardError::Malformed));
    }
}
