//! BEGIN, COMMIT and ABORT: SEND, ACK and NACK frames naming a transaction are buffered and
//! applied in order on COMMIT, or dropped on ABORT. A buffered frame's RECEIPT is sent when it
//! is applied, and never for a dropped one, as RabbitMQ does. Open transactions and their buffered bytes
//! are bounded; a connection that closes aborts its transactions.

use std::collections::BTreeMap;

use crate::errors::StompError;
use crate::frame::{Command, Frame};

/// The open transactions of one connection.
#[derive(Debug, Default)]
pub struct Transactions {
    open: BTreeMap<String, Vec<Frame>>,
    bytes: usize,
}

fn name(frame: &Frame) -> Result<&str, StompError> {
    frame
        .get("transaction")
        .ok_or_else(|| StompError::missing(frame.command, "transaction"))
}

fn unknown(tx: &str) -> StompError {
    StompError::Transaction(format!("Invalid transaction identifier: \"{tx}\""))
}

/// Bytes a buffered frame is counted as.
fn cost(frame: &Frame) -> usize {
    let headers: usize = frame
        .headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 2)
        .sum();
    frame.body.len() + headers + 16
}

impl Transactions {
    /// BEGIN.
    pub fn begin(&mut self, frame: &Frame, max_open: usize) -> Result<(), StompError> {
        let tx = name(frame)?;
        if self.open.contains_key(tx) {
            return Err(StompError::Transaction(format!(
                "Transaction \"{tx}\" is already open"
            )));
        }
        if self.open.len() >= max_open {
            return Err(StompError::Limit(format!(
                "more than {max_open} open transactions"
            )));
        }
        self.open.insert(tx.to_owned(), Vec::new());
        Ok(())
    }

    /// Buffers a SEND, ACK or NACK of transaction `tx`.
    pub fn buffer(&mut self, tx: &str, frame: Frame, max_bytes: usize) -> Result<(), StompError> {
        let frames = self.open.get_mut(tx).ok_or_else(|| unknown(tx))?;
        let cost = cost(&frame);
        if self.bytes + cost > max_bytes {
            return Err(StompError::Limit(format!(
                "transactions hold more than {max_bytes} bytes"
            )));
        }
        self.bytes += cost;
        frames.push(frame);
        Ok(())
    }

    /// COMMIT or ABORT: closes the transaction, returning its frames.
    pub fn end(&mut self, frame: &Frame) -> Result<Vec<Frame>, StompError> {
        let tx = name(frame)?;
        let frames = self.open.remove(tx).ok_or_else(|| unknown(tx))?;
        self.bytes = self
            .bytes
            .saturating_sub(frames.iter().map(cost).sum::<usize>());
        Ok(frames)
    }
}

/// The transaction a SEND, ACK or NACK belongs to.
pub fn of(frame: &Frame) -> Option<&str> {
    match frame.command {
        Command::Send | Command::Ack | Command::Nack => frame.get("transaction"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(command: Command, tx: &str) -> Frame {
        Frame::new(command).header("transaction", tx)
    }

    #[test]
    fn frames_come_back_in_order_and_are_counted_out() {
        let mut txs = Transactions::default();
        txs.begin(&frame(Command::Begin, "t"), 4).unwrap();
        txs.buffer("t", frame(Command::Send, "t").body("a"), 1000)
            .unwrap();
        txs.buffer("t", frame(Command::Ack, "t"), 1000).unwrap();
        assert!(txs.bytes > 0);
        let frames = txs.end(&frame(Command::Commit, "t")).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].command, Command::Send);
        assert_eq!(txs.bytes, 0);
        assert!(txs.end(&frame(Command::Abort, "t")).is_err());
    }

    #[test]
    fn limits_hold() {
        let mut txs = Transactions::default();
        txs.begin(&frame(Command::Begin, "a"), 1).unwrap();
        assert!(txs.begin(&frame(Command::Begin, "a"), 2).is_err());
        assert!(txs.begin(&frame(Command::Begin, "b"), 1).is_err());
        let big = frame(Command::Send, "a").body(vec![0u8; 100]);
        assert!(txs.buffer("a", big, 50).is_err());
        assert!(txs.buffer("zz", frame(Command::Send, "zz"), 50).is_err());
    }
}
