//! STOMP durability across a clean restart: a persistent SEND into a `/queue` (durable) is
//! acknowledged by RECEIPT only once stored, and comes back after a restart; a transient one
//! does not; a durable topic subscription keeps its queue and messages; a message delivered but
//! not acknowledged comes back redelivered.

use crate::stomp;

use stomp::*;
use warren_testkit::{Config, DataDir, TestBroker};

fn start(dir: &DataDir) -> StompTarget {
    StompTarget::Local(TestBroker::start_in(Config::default(), dir))
}

#[tokio::test]
async fn persistent_sends_survive_a_restart_and_transient_ones_do_not() {
    let dir = DataDir::new();
    let q = format!("/queue/{}", unique("durable-q"));
    {
        let target = start(&dir);
        let mut c = target.client().await;
        c.send_sync(&q, &[("persistent", "true")], "kept").await;
        c.send_sync(&q, &[], "lost").await;
        c.send_sync(&q, &[("persistent", "true"), ("custom", "h")], "kept too")
            .await;
        c.disconnect().await;
    }
    let target = start(&dir);
    let mut c = target.client().await;
    c.subscribe("s", &q).await;
    let first = c.message().await;
    assert_eq!(first.text(), "kept");
    assert_eq!(first.header("persistent"), Some("true"));
    let second = c.message().await;
    assert_eq!(second.text(), "kept too");
    assert_eq!(second.header("custom"), Some("h"));
    c.assert_quiet().await;
}

#[tokio::test]
async fn an_unacknowledged_message_comes_back_redelivered() {
    let dir = DataDir::new();
    let q = format!("/queue/{}", unique("durable-unacked"));
    {
        let target = start(&dir);
        let mut c = target.client().await;
        c.send_sync(&q, &[("persistent", "true")], "pending").await;
        c.subscribe_with("s", &q, &[("ack", "client")]).await;
        assert_eq!(c.message().await.text(), "pending");
    }
    let target = start(&dir);
    let mut c = target.client().await;
    c.subscribe_with("s", &q, &[("ack", "client")]).await;
    let m = c.message().await;
    assert_eq!(m.text(), "pending");
    assert_eq!(m.header("redelivered"), Some("true"));
}

#[tokio::test]
async fn a_durable_topic_subscription_survives_a_restart() {
    let dir = DataDir::new();
    let dest = format!("/topic/{}", unique("durable-topic").replace('.', "-"));
    let durable = [("durable", "true"), ("auto-delete", "false")];
    {
        let target = start(&dir);
        let mut c = target.client().await;
        c.subscribe_with("sub", &dest, &durable).await;
        c.disconnect().await;
        let mut p = target.client().await;
        p.send_sync(&dest, &[("persistent", "true")], "while down")
            .await;
        p.disconnect().await;
    }
    let target = start(&dir);
    let mut c = target.client().await;
    c.subscribe_with("sub", &dest, &durable).await;
    assert_eq!(c.message().await.text(), "while down");
}
