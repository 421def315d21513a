//! Resource alarms for AMQP: while the broker's publish gate is closed (low disk space, or
//! memory above the high watermark), a connection that publishes stops being read, and a
//! client that announced the
//! `connection.blocked` capability is told so with `connection.blocked` and, once the gate
//! opens, `connection.unblocked` (RabbitMQ's blocked connection notifications).

use amq_protocol::protocol::{connection, AMQPClass};
use bytes::BytesMut;
use warren_model::Alarm;

use crate::connection::{AmqpSession, ConnState};
use crate::convert::short;

/// The reason RabbitMQ's reader gives: "low on " and the raised alarms joined by " & ".
fn reason(memory: bool, disk: bool) -> &'static str {
    match (memory, disk) {
        (true, true) => "low on memory & disk",
        (true, false) => "low on memory",
        _ => "low on disk",
    }
}

impl AmqpSession {
    /// Tells the client about a change of the gate, if it wants to know.
    pub(crate) fn sync_blocked(&mut self, output: &mut BytesMut) {
        let closed = self.gate.alarm_holds();
        if closed == self.blocked_sent || !self.blocked_notify || self.state != ConnState::Open {
            return;
        }
        self.blocked_sent = closed;
        let method = if closed {
            connection::AMQPMethod::Blocked(connection::Blocked {
                reason: short(reason(
                    self.gate.raised(Alarm::Memory),
                    self.gate.raised(Alarm::Disk),
                )),
            })
        } else {
            connection::AMQPMethod::Unblocked(connection::Unblocked {})
        };
        AmqpSession::out(&mut self.writer, output, self.frame_max)
            .method(0, AMQPClass::Connection(method));
    }
}

/// True when the client's properties announce the `connection.blocked` capability.
pub(crate) fn announces_blocked(props: &amq_protocol::types::FieldTable) -> bool {
    let Some(amq_protocol::types::AMQPValue::FieldTable(caps)) = props.inner().get("capabilities")
    else {
        return false;
    };
    matches!(
        caps.inner().get("connection.blocked"),
        Some(amq_protocol::types::AMQPValue::Boolean(true))
    )
}

#[cfg(test)]
mod tests {
    use super::reason;

    #[test]
    fn the_reason_names_the_raised_alarms_as_rabbitmq() {
        assert_eq!(reason(true, false), "low on memory");
        assert_eq!(reason(false, true), "low on disk");
        assert_eq!(reason(true, true), "low on memory & disk");
    }
}
