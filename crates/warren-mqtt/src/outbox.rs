//! The session's outbox: the model's shared [`Outbox`](warren_model::outbox::Outbox) of
//! [`SessionEvent`](warren_model::outbox::SessionEvent)s, one sink for all of the session's
//! consumers.

pub use warren_model::outbox::{SessionEvent as OutEvent, SessionSink};

/// The session's outbox.
pub type Outbox = warren_model::outbox::Outbox<OutEvent>;
