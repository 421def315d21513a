//! Exchange lifecycle: the predeclared `amq.*` exchanges, auto-delete exchanges, and the
//! declare, delete and publish errors (another type, missing, reserved `amq.` names, in use,
//! unknown type).

use crate::amqp_exchange_support::{bind, declare};

use lapin::options::{BasicPublishOptions, ExchangeDeclareOptions, ExchangeDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ExchangeKind};
use warren_it::{
    assert_code, assert_usable, channel, confirm_channel, declare_durable_exchange, declare_queue,
    reply_code, target, unique, DEADLINE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predeclared_amq_exchanges_exist_with_their_types() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let expected = [
        ("amq.direct", ExchangeKind::Direct),
        ("amq.fanout", ExchangeKind::Fanout),
        ("amq.topic", ExchangeKind::Topic),
        ("amq.headers", ExchangeKind::Headers),
        ("amq.match", ExchangeKind::Headers),
    ];
    for (name, kind) in expected {
        declare_durable_exchange(&ch, name, kind, FieldTable::default())
            .await
            .unwrap_or_else(|e| panic!("redeclaring {name} equivalently: {e:?}"));
        let passive = ExchangeDeclareOptions {
            passive: true,
            ..ExchangeDeclareOptions::default()
        };
        ch.exchange_declare(
            name.into(),
            ExchangeKind::Direct,
            passive,
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("passive declare of {name}: {e:?}"));
    }
    let wrong = channel(&conn).await;
    assert_code(
        declare_durable_exchange(
            &wrong,
            "amq.fanout",
            ExchangeKind::Direct,
            FieldTable::default(),
        )
        .await,
        406,
    );
}

async fn exchange_exists(conn: &Connection, name: &str) -> bool {
    let ch = channel(conn).await;
    let passive = ExchangeDeclareOptions {
        passive: true,
        ..ExchangeDeclareOptions::default()
    };
    match ch
        .exchange_declare(
            name.into(),
            ExchangeKind::Direct,
            passive,
            FieldTable::default(),
        )
        .await
    {
        Ok(()) => true,
        Err(e) if reply_code(&e) == Some(404) => false,
        Err(e) => panic!("passive exchange.declare: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_delete_exchange_goes_when_its_last_binding_goes() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let x = unique("autodel");
    let opts = ExchangeDeclareOptions {
        auto_delete: true,
        ..ExchangeDeclareOptions::default()
    };
    ch.exchange_declare(
        x.as_str().into(),
        ExchangeKind::Direct,
        opts,
        FieldTable::default(),
    )
    .await
    .expect("declare auto-delete exchange");
    assert!(
        exchange_exists(&conn, &x).await,
        "never-bound auto-delete exchange stays"
    );
    let (q1, q2) = (unique("ad1"), unique("ad2"));
    declare_queue(&ch, &q1).await;
    declare_queue(&ch, &q2).await;
    bind(&ch, &q1, &x, "k", FieldTable::default()).await;
    bind(&ch, &q2, &x, "k", FieldTable::default()).await;
    ch.queue_unbind(
        q1.as_str().into(),
        x.as_str().into(),
        "k".into(),
        FieldTable::default(),
    )
    .await
    .expect("unbind first");
    assert!(exchange_exists(&conn, &x).await, "one binding is left");
    ch.queue_unbind(
        q2.as_str().into(),
        x.as_str().into(),
        "k".into(),
        FieldTable::default(),
    )
    .await
    .expect("unbind last");
    assert!(
        !exchange_exists(&conn, &x).await,
        "deleted with its last binding"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeclare_with_another_type_is_precondition_failed() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let x = unique("retype");
    declare(&ch, &x, ExchangeKind::Direct).await;
    declare(&ch, &x, ExchangeKind::Direct).await;
    let res = ch
        .exchange_declare(
            x.as_str().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 406);
    let other = channel(&conn).await;
    let res = declare_durable_exchange(
        &other,
        x.as_str(),
        ExchangeKind::Direct,
        FieldTable::default(),
    )
    .await;
    assert_code(res, 406);
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declare_of_missing_exchange_is_not_found() {
    let t = target();
    let conn = t.connect().await;
    assert!(!exchange_exists(&conn, &unique("missing")).await);
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_an_amq_prefixed_exchange_is_access_refused() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let name = format!("amq.{}", unique("reserved"));
    let res = ch
        .exchange_declare(
            name.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 403);
    assert!(!exchange_exists(&conn, &name).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_a_missing_exchange_is_not_found() {
    let t = target();
    let conn = t.connect().await;
    let ch = confirm_channel(&conn).await;
    let confirm = ch
        .basic_publish(
            unique("missing").as_str().into(),
            "k".into(),
            BasicPublishOptions::default(),
            b"lost",
            BasicProperties::default(),
        )
        .await
        .expect("publish is sent");
    let err = confirm.await.expect_err("missing exchange");
    assert_eq!(reply_code(&err), Some(404), "{err:?}");
    assert_usable(&conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_delete_if_unused_refuses_while_bound() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let x = unique("ifunused");
    declare(&ch, &x, ExchangeKind::Fanout).await;
    let q = unique("bound");
    declare_queue(&ch, &q).await;
    bind(&ch, &q, &x, "", FieldTable::default()).await;
    let if_unused = ExchangeDeleteOptions {
        if_unused: true,
        ..ExchangeDeleteOptions::default()
    };
    assert_code(ch.exchange_delete(x.as_str().into(), if_unused).await, 406);
    assert!(exchange_exists(&conn, &x).await);
    let ch = channel(&conn).await;
    ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .expect("unconditional delete");
    assert!(!exchange_exists(&conn, &x).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_predeclared_exchange_is_access_refused() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let res = ch
        .exchange_delete("amq.direct".into(), ExchangeDeleteOptions::default())
        .await;
    assert_code(res, 403);
    assert!(exchange_exists(&conn, "amq.direct").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_exchange_type_is_command_invalid_and_closes_the_connection() {
    let t = target();
    let conn = t.connect().await;
    let ch = channel(&conn).await;
    let res = ch
        .exchange_declare(
            unique("oddtype").as_str().into(),
            ExchangeKind::Custom("x-no-such-type".into()),
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert_code(res, 503);
    let closed =
        warren_it::eventually_async(DEADLINE, || async { !conn.status().connected() }).await;
    assert!(closed, "503 is a connection error");
}
