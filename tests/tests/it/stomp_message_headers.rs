//! STOMP MESSAGE headers and bodies: property and custom headers survive, escaped header
//! values in 1.1 and 1.2, the first of repeated headers wins, bodies with NUL bytes need
//! `content-length`.

use crate::stomp;

use stomp::*;

#[tokio::test]
async fn all_property_headers_survive() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("props"));
    c.subscribe("s", &q).await;
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("persistent", "true"),
        ("priority", "4"),
        ("correlation-id", "corr"),
        ("reply-to", "/queue/replies"),
        ("expiration", "60000"),
        ("timestamp", "1700000000"),
        ("type", "kind"),
        ("user-id", "guest"),
        ("app-id", "app"),
        ("amqp-message-id", "mid-1"),
        ("x-custom", "xv"),
    ];
    c.send_sync(&q, &headers, "{}").await;
    let m = c.message().await;
    for (name, value) in headers {
        assert_eq!(m.header(name), Some(value), "{name} in {m:?}");
    }
}

#[tokio::test]
async fn header_values_with_escaped_characters_survive_in_1_1_and_1_2() {
    let target = target();
    for version in ["1.1", "1.2"] {
        let mut c = target.client_version(version).await;
        let q = format!("/queue/{}", unique("escape"));
        c.subscribe("s", &q).await;
        c.send_sync(&q, &[("key:with:colons", "line1\nline2\\back")], "x")
            .await;
        let m = c.message().await;
        assert_eq!(
            m.header("key:with:colons"),
            Some("line1\nline2\\back"),
            "{version}: {m:?}"
        );
    }
}

#[tokio::test]
async fn repeated_headers_first_one_wins() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("repeat"));
    c.subscribe("s", &q).await;
    c.send_sync(&q, &[("foo", "first"), ("foo", "second")], "x")
        .await;
    assert_eq!(c.message().await.header("foo"), Some("first"));
}

#[tokio::test]
async fn bodies_with_nul_bytes_need_content_length() {
    let target = target();
    let mut c = target.client().await;
    let q = format!("/queue/{}", unique("binary"));
    c.subscribe("s", &q).await;
    let body = b"a\0b\0\0c";
    c.with_receipt(
        "SEND",
        &[("destination", &q), ("content-length", "6")],
        body,
    )
    .await;
    let m = c.message().await;
    assert_eq!(m.body, body);
    assert_eq!(m.header("content-length"), Some("6"));
}
