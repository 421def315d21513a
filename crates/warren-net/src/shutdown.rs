//! Broker-wide graceful shutdown: one trigger, many listeners and connections watching it.

use tokio::sync::watch;

/// The trigger side, held by the server.
#[derive(Debug)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
}

/// The watching side, cloned into every listener and connection task.
#[derive(Clone, Debug)]
pub struct ShutdownSignal {
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    /// A new trigger and its first signal.
    pub fn new() -> (Self, ShutdownSignal) {
        let (sender, receiver) = watch::channel(false);
        (Self { sender }, ShutdownSignal { receiver })
    }

    /// Tells every watcher to stop.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }
}

impl ShutdownSignal {
    /// Resolves once shutdown is triggered (at once if it already was).
    pub async fn triggered(&mut self) {
        // An error means the trigger is gone, which also means stop.
        let _ = self.receiver.wait_for(|stop| *stop).await;
    }
}
