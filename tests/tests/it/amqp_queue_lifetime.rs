//! How queues and their messages go: exclusive queues with their connection, auto-delete
//! queues with their last consumer, purge, and conditional and unconditional delete.

use crate::amqp_queue_support::{consume, opts};

use lapin::options::{BasicCancelOptions, BasicGetOptions, QueueDeleteOptions, QueuePurgeOptions};
use lapin::types::FieldTable;
use lapin::Connection;
use warren_it::{
    assert_code, assert_usable, channel, confirm_channel, declare_queue, drain, eventually_async,
    message_count, passive_declare, publish, target, unique, DEADLINE,
};

async fn gone(conn: &Connection, queue: &str) -> bool {
    eventually_async(DEADLINE, || async {
        passive_declare(conn, queue).await.is_none()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_queue_is_locked_to_its_connection_and_dies_with_it() {
    let t = target();
    let owner = t.connect().await;
    let other = t.connect().await;
    let q = unique("exclusive");
    let ch = channel(&owner).await;
    ch.queue_declare(
        q.as_str().into(),
        opts(|o| o.exclusive = true),
        FieldTable::default(),
    )
    .await
    .expect("declare exclusive");

    let c = channel(&other).await;
    let res = c
        .queue_declare(
            q.as_str().into(),
            opts(|o| o.passive = true),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 405);
    let c = channel(&other).await;
    let res = c
        .queue_declare(
            q.as_str().into(),
            opts(|o| o.exclusive = true),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 405);
    let c = channel(&other).await;
    assert_code(consume(&c, &q, "thief").await, 405);
    let c = channel(&other).await;
    assert_code(
        c.basic_get(q.as_str().into(), BasicGetOptions::default())
            .await,
        405,
    );
    let c = channel(&other).await;
    assert_code(
        c.queue_purge(q.as_str().into(), QueuePurgeOptions::default())
            .await,
        405,
    );
    let c = channel(&other).await;
    let res = c
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await;
    assert_code(res, 405);

    // Publishing into someone else's exclusive queue is allowed.
    let pc = confirm_channel(&other).await;
    publish(&pc, "", &q, b"from outside").await;
    assert_eq!(drain(&ch, &q).await, vec!["from outside"]);
    assert_usable(&other).await;

    owner.close(200, "bye".into()).await.expect("close owner");
    assert!(
        gone(&other, &q).await,
        "exclusive queue outlived its connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_queue_goes_when_its_last_consumer_cancels() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let q = unique("autodelete");
    ch.queue_declare(
        q.as_str().into(),
        opts(|o| o.auto_delete = true),
        FieldTable::default(),
    )
    .await
    .expect("declare auto-delete");
    assert!(
        passive_declare(&conn, &q).await.is_some(),
        "never consumed: stays"
    );
    let _a = consume(&ch, &q, "a").await.expect("consume a");
    let _b = consume(&ch, &q, "b").await.expect("consume b");
    ch.basic_cancel("a".into(), BasicCancelOptions::default())
        .await
        .expect("cancel a");
    let still = passive_declare(&conn, &q).await.expect("one consumer left");
    assert_eq!(still.consumer_count(), 1);
    ch.basic_cancel("b".into(), BasicCancelOptions::default())
        .await
        .expect("cancel b");
    assert!(
        gone(&conn, &q).await,
        "auto-delete queue survived its last consumer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_queue_goes_when_the_consumers_channel_closes() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let q = unique("autodelete-close");
    ch.queue_declare(
        q.as_str().into(),
        opts(|o| o.auto_delete = true),
        FieldTable::default(),
    )
    .await
    .expect("declare auto-delete");
    let _c = consume(&ch, &q, "only").await.expect("consume");
    ch.close(200, "bye".into()).await.expect("close channel");
    assert!(gone(&conn, &q).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_reports_and_removes_ready_messages() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("purge");
    declare_queue(&ch, &q).await;
    for i in 0..5 {
        publish(&ch, "", &q, format!("m{i}").as_bytes()).await;
    }
    let purged = ch
        .queue_purge(q.as_str().into(), QueuePurgeOptions::default())
        .await
        .expect("purge");
    assert_eq!(purged, 5);
    assert_eq!(message_count(&conn, &q).await, Some(0));
    publish(&ch, "", &q, b"after purge").await;
    assert_eq!(drain(&ch, &q).await, vec!["after purge"]);
    let missing = channel(&conn).await;
    let res = missing
        .queue_purge(unique("nope").as_str().into(), QueuePurgeOptions::default())
        .await;
    assert_code(res, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_unused_refuses_while_consumed() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let q = unique("ifunused");
    declare_queue(&ch, &q).await;
    let consumer_ch = channel(&conn).await;
    let _c = consume(&consumer_ch, &q, "holder").await.expect("consume");
    let del = channel(&conn).await;
    let if_unused = QueueDeleteOptions {
        if_unused: true,
        ..QueueDeleteOptions::default()
    };
    assert_code(del.queue_delete(q.as_str().into(), if_unused).await, 406);
    assert!(passive_declare(&conn, &q).await.is_some(), "queue kept");
    consumer_ch
        .basic_cancel("holder".into(), BasicCancelOptions::default())
        .await
        .expect("cancel");
    let del = channel(&conn).await;
    del.queue_delete(q.as_str().into(), if_unused)
        .await
        .expect("if-unused delete of an unused queue");
    assert!(passive_declare(&conn, &q).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_if_empty_refuses_with_messages_and_delete_reports_the_count() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let q = unique("ifempty");
    declare_queue(&ch, &q).await;
    publish(&ch, "", &q, b"one").await;
    publish(&ch, "", &q, b"two").await;
    let del = channel(&conn).await;
    let if_empty = QueueDeleteOptions {
        if_empty: true,
        ..QueueDeleteOptions::default()
    };
    assert_code(del.queue_delete(q.as_str().into(), if_empty).await, 406);
    assert_eq!(
        message_count(&conn, &q).await,
        Some(2),
        "queue and messages kept"
    );
    let deleted = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("delete");
    assert_eq!(deleted, 2);
    assert!(passive_declare(&conn, &q).await.is_none());
    let again = ch
        .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("deleting a missing queue is not an error");
    assert_eq!(again, 0);
}
