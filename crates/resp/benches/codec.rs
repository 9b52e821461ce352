//! Micro benchmark of the request and reply hot paths, without a framework:
//! `cargo bench -p resp` prints nanoseconds per operation.
//! `cargo bench -p resp -- --test` runs each case once, to keep it compiling.

use std::hint::black_box;
use std::time::Instant;

use bytes::BytesMut;
use resp::{
    decode_request, encode, encode_request, recycle_views, Frame, Limits, Protocol, RequestBatch,
    RequestDecoder,
};

const REQUESTS: usize = 10_000;

fn pipeline() -> BytesMut {
    let mut wire = BytesMut::new();
    for i in 0..REQUESTS {
        let key = format!("key:{i:08}");
        encode_request(&[b"SET", key.as_bytes(), b"value-0123456789"], &mut wire);
    }
    wire
}

fn bench(name: &str, rounds: usize, ops_per_round: usize, mut run: impl FnMut()) {
    let started = Instant::now();
    for _ in 0..rounds {
        run();
    }
    let per_op = started.elapsed().as_nanos() as f64 / (rounds * ops_per_round) as f64;
    println!("{name:<40} {per_op:>8.1} ns/op");
}

fn main() {
    let rounds = if std::env::args().any(|arg| arg == "--test") {
        1
    } else {
        200
    };
    let limits = Limits::default();
    let wire = pipeline();

    bench("decode_request SET pipeline", rounds, REQUESTS, || {
        let mut buf = wire.clone();
        while let Some(args) = decode_request(&mut buf, &limits).expect("valid") {
            black_box(args);
        }
    });

    bench("RequestDecoder SET pipeline", rounds, REQUESTS, || {
        let mut decoder = RequestDecoder::default();
        let mut buf = wire.clone();
        while let Some(args) = decoder.decode(&mut buf, &limits).expect("valid") {
            black_box(args);
        }
    });

    // As a connection decodes: one batch per 16 KiB read.
    let reads: Vec<BytesMut> = {
        let mut rest = wire.clone();
        let mut reads = Vec::new();
        while !rest.is_empty() {
            reads.push(rest.split_to(rest.len().min(16 * 1024)));
        }
        reads
    };
    let mut batch = RequestBatch::default();
    bench("decode_batch SET pipeline", rounds, REQUESTS, || {
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::new();
        let mut kept: Vec<&[u8]> = Vec::new();
        for read in &reads {
            buf.extend_from_slice(read);
            batch.clear();
            decoder.decode_batch(&mut buf, &limits, &mut batch).expect("valid");
            // Viewing the arguments is part of the cost a server pays.
            let mut args = recycle_views(std::mem::take(&mut kept));
            for index in 0..batch.len() {
                batch.args(index, &mut args);
                black_box(&args);
            }
            kept = recycle_views(args);
        }
    });

    let inline: BytesMut = "SET key:00000001 value-0123456789\r\n"
        .repeat(REQUESTS)
        .as_str()
        .into();
    bench(
        "decode_request inline SET pipeline",
        rounds,
        REQUESTS,
        || {
            let mut buf = inline.clone();
            while let Some(args) = decode_request(&mut buf, &limits).expect("valid") {
                black_box(args);
            }
        },
    );

    let mut out = BytesMut::with_capacity(64 * REQUESTS);
    bench("encode +OK", rounds, REQUESTS, || {
        out.clear();
        for _ in 0..REQUESTS {
            encode(black_box(&Frame::ok()), Protocol::Resp2, &mut out);
        }
    });
    let value = Frame::bulk("value-0123456789");
    bench("encode bulk", rounds, REQUESTS, || {
        out.clear();
        for _ in 0..REQUESTS {
            encode(black_box(&value), Protocol::Resp2, &mut out);
        }
    });
    let score = Frame::Double(1.1);
    bench("encode double RESP3", rounds, REQUESTS, || {
        out.clear();
        for _ in 0..REQUESTS {
            encode(black_box(&score), Protocol::Resp3, &mut out);
        }
    });
}
