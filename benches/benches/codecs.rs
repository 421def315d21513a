//! The three codecs on their hot paths: decoding what publishers send and encoding what
//! consumers receive. Each iteration handles a batch of 100 messages of 16 bytes or 1 KiB.

use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use warren_amqp::codec::{self as amqp, FrameWriter};
use warren_bench::{amqp::wire as amqp_wire, mqtt::wire as mqtt_wire, stomp::wire as stomp_wire};
use warren_mqtt::codec::{Codec as MqttCodec, Outbound, Publish, QoS};
use warren_stomp::codec::{self as stomp, Codec as StompCodec, Limits};
use warren_stomp::{Command, Frame as StompFrame, Version};

const BATCH: usize = 100;
const SIZES: [usize; 2] = [16, 1024];

fn batch(write: impl Fn(&mut BytesMut)) -> BytesMut {
    let mut out = BytesMut::new();
    for _ in 0..BATCH {
        write(&mut out);
    }
    out
}

fn amqp_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("amqp");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in SIZES {
        let prefix = amqp_wire::publish_prefix(1, "", "bench-q", false, size);
        let input = batch(|o| {
            o.extend_from_slice(&prefix);
            amqp_wire::stamped_body(o, 1, size, 1, 131_072);
        });
        group.bench_function(format!("decode_publish_{size}B"), |b| {
            b.iter_batched_ref(
                || input.clone(),
                |buf| while amqp::decode(buf, 131_072).expect("valid").is_some() {},
                BatchSize::SmallInput,
            );
        });
        let body = vec![b'x'; size];
        let mut writer = FrameWriter::default();
        let mut out = BytesMut::with_capacity(BATCH * (size + 128));
        group.bench_function(format!("encode_deliver_{size}B"), |b| {
            b.iter(|| {
                out.clear();
                for tag in 0..BATCH as u64 {
                    let deliver = amqp::DeliverFields {
                        consumer_tag: "ctag-1",
                        delivery_tag: tag,
                        redelivered: false,
                        exchange: "",
                        routing_key: "bench-q",
                    };
                    FrameWriter::deliver(&mut out, 1, &deliver);
                    writer
                        .content(&mut out, 1, &Default::default(), &body, 131_072)
                        .expect("encodes");
                }
                out.len()
            });
        });
    }
    group.finish();
}

/// A codec that has seen CONNECT at protocol level `version`.
fn mqtt_codec_at(version: u8) -> MqttCodec {
    let mut codec = MqttCodec::new(1 << 20);
    let mut connect = BytesMut::new();
    mqtt_wire::connect(&mut connect, version, "bench", 0, "guest", "guest");
    codec
        .decode(&mut connect)
        .expect("valid CONNECT")
        .expect("whole CONNECT");
    codec
}

fn mqtt_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("mqtt");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (version, size) in [(4, 16), (4, 1024), (5, 16)] {
        let input = batch(|o| mqtt_wire::publish(o, version, "bench/topic/1", 1, 1, size, 1));
        let mut codec = mqtt_codec_at(version);
        group.bench_function(format!("v{version}_decode_publish_qos1_{size}B"), |b| {
            b.iter_batched_ref(
                || input.clone(),
                |buf| while codec.decode(buf).expect("valid").is_some() {},
                BatchSize::SmallInput,
            );
        });
        let payload = Bytes::from(vec![b'x'; size]);
        let mut codec = mqtt_codec_at(version);
        let mut out = BytesMut::with_capacity(BATCH * (size + 64));
        group.bench_function(format!("v{version}_encode_publish_qos1_{size}B"), |b| {
            b.iter(|| {
                out.clear();
                for id in 1..=BATCH as u16 {
                    let publish = Publish {
                        dup: false,
                        retain: false,
                        qos: QoS::AtLeastOnce,
                        topic: "bench/topic/1".into(),
                        packet_id: NonZeroU16::new(id),
                        payload: payload.clone(),
                        properties: None,
                    };
                    codec
                        .encode(Outbound::Publish(Box::new(publish)), &mut out)
                        .expect("encodes");
                }
                out.len()
            });
        });
    }
    group.finish();
}

fn stomp_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("stomp");
    group.throughput(Throughput::Elements(BATCH as u64));
    for size in SIZES {
        let prefix = stomp_wire::send_prefix("/queue/bench", size, false);
        let input = batch(|o| stomp_wire::send(o, &prefix, None, size, 1));
        let mut codec = StompCodec::new(Limits::default());
        group.bench_function(format!("decode_send_{size}B"), |b| {
            b.iter_batched_ref(
                || input.clone(),
                |buf| while codec.decode(buf).expect("valid").is_some() {},
                BatchSize::SmallInput,
            );
        });
        let message = StompFrame::new(Command::Message)
            .header("subscription", "0")
            .header("destination", "/queue/bench")
            .header("message-id", "T_0@@session-1@@1")
            .header("ack", "1")
            .header("content-length", size.to_string())
            .body(vec![b'x'; size]);
        let mut out = BytesMut::with_capacity(BATCH * (size + 128));
        group.bench_function(format!("encode_message_{size}B"), |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..BATCH {
                    stomp::encode(&message, Version::V1_2, &mut out);
                }
                out.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, amqp_codec, mqtt_codec, stomp_codec);
criterion_main!(benches);
