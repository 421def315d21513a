//! Invalid queue arguments and message properties: 406 with RabbitMQ's words, closing only the
//! channel. Checked against RabbitMQ too.

use crate::queue_features;

use lapin::types::AMQPValue;
use queue_features::*;
use warren_it::raw::{self, Args, Open, Raw};
use warren_it::{assert_usable, channel, reply_code, target, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_queue_arguments_are_refused_with_rabbitmqs_words() {
    let t = target();
    let conn = t.connect().await;
    let cases: [(&str, AMQPValue, &str); 6] = [
        ("x-overflow", s("sometimes"), "invalid_overflow"),
        (
            "x-max-priority",
            AMQPValue::LongLongInt(300),
            "{max_value_exceeded,300}",
        ),
        (
            "x-single-active-consumer",
            int(1),
            "{unacceptable_type,signedint}",
        ),
        ("x-message-ttl", s("soon"), "expected integer, got longstr"),
        (
            "x-dead-letter-routing-key",
            s("k"),
            "routing_key_but_no_dlx_defined",
        ),
        ("x-expires", int(-1), "{value_negative,-1}"),
    ];
    for (key, value, why) in cases {
        let ch = channel(&conn).await;
        let queue = unique("badarg");
        let err = ch
            .queue_declare(
                queue.as_str().into(),
                Default::default(),
                args(&[(key, value)]),
            )
            .await
            .expect_err(key);
        assert_eq!(reply_code(&err), Some(406), "{key}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("invalid arg '{key}' for queue '{queue}'"))
                && text.contains(why),
            "{key}: {text}"
        );
    }
    assert_usable(&conn).await;
}

/// A publish whose `expiration` is not a non-negative integer closes its channel with 406.
/// With a raw client, since lapin reports only that the channel closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_expiration_closes_the_channel_with_rabbitmqs_words() {
    let t = target();
    let addr = t.addr();
    let closes = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::open(addr, &Open::default());
        ["abc", "-5"].map(|expiration| {
            raw.open_channel(1);
            let publish = Args::new()
                .u16(0)
                .short("")
                .short("nowhere")
                .bits(&[false, false]);
            let mut bytes = raw::method(1, 60, 40, publish);
            // A content header with only the expiration property (flag bit 8).
            let header = Args::new()
                .u16(60)
                .u16(0)
                .u64(1)
                .u16(0x0100)
                .short(expiration);
            bytes.extend(raw::frame(raw::FRAME_HEADER, 1, &header.bytes()));
            bytes.extend(raw::frame(raw::FRAME_BODY, 1, b"x"));
            raw.send(&bytes).expect("publish");
            let close = raw.read_channel_close(1);
            (close.reply_code, close.reply_text.to_string())
        })
    })
    .await
    .expect("raw client");
    assert_eq!(closes[0].0, 406);
    assert!(
        closes[0].1.contains("invalid expiration 'abc': no_integer"),
        "{}",
        closes[0].1
    );
    assert_eq!(closes[1].0, 406);
    assert!(
        closes[1]
            .1
            .contains("invalid expiration '-5': {value_negative,-5}"),
        "{}",
        closes[1].1
    );
}
