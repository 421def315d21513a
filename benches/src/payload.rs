//! The payload: the send time in its first 8 bytes, then filler.

/// Bytes that carry the timestamp; smaller payloads carry none and give no latency.
pub const STAMP: usize = 8;

/// Appends a payload of `size` bytes stamped with `now_ns`.
pub fn write(out: &mut bytes::BytesMut, size: usize, now_ns: u64) {
    let stamp = now_ns.to_le_bytes();
    let head = size.min(STAMP);
    out.extend_from_slice(stamp.get(..head).unwrap_or_default());
    out.resize(out.len() + (size - head), b'x');
}

/// The send time a payload carries, if it is long enough to carry one.
pub fn stamp(payload: &[u8]) -> Option<u64> {
    let head: [u8; STAMP] = payload.get(..STAMP)?.try_into().ok()?;
    Some(u64::from_le_bytes(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_size_is_exact() {
        let mut out = bytes::BytesMut::new();
        write(&mut out, 1024, 123_456_789);
        assert_eq!(out.len(), 1024);
        assert_eq!(stamp(&out), Some(123_456_789));
    }

    #[test]
    fn short_payloads_carry_no_stamp() {
        let mut out = bytes::BytesMut::new();
        write(&mut out, 4, 99);
        assert_eq!(out.len(), 4);
        assert_eq!(stamp(&out), None);
    }
}
