//! Golden byte cases, split-point checks and round-trip properties. The
//! golden bytes were checked against redis-server 7.0.15.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use crate::{
    decode_frame, decode_request, decode_request_unauthenticated, encode, encode_request, Frame,
    Limits, Protocol, ProtocolError, RequestBatch, RequestDecoder,
};

fn b(text: &'static [u8]) -> Bytes {
    Bytes::from_static(text)
}

fn encoded(frame: &Frame, proto: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(frame, proto, &mut out);
    out.to_vec()
}

/// Requests decoded so far, how decoding stopped, and the unconsumed bytes.
type Decoded = (Vec<Vec<Vec<u8>>>, Result<(), ProtocolError>, Vec<u8>);

/// Decodes all requests in `input` at once, like a pipelined read.
fn requests(input: &[u8]) -> Decoded {
    let mut buf = BytesMut::from(input);
    let mut found = Vec::new();
    loop {
        match decode_request(&mut buf, &Limits::default()) {
            Ok(Some(args)) => found.push(args.iter().map(|arg| arg.to_vec()).collect()),
            Ok(None) => return (found, Ok(()), buf.to_vec()),
            Err(error) => return (found, Err(error), buf.to_vec()),
        }
    }
}

/// Asserts that `input` is exactly one request with `args`.
#[track_caller]
fn check_request(input: &[u8], args: &[&[u8]]) {
    let (found, result, rest) = requests(input);
    let expected: Vec<Vec<u8>> = args.iter().map(|arg| arg.to_vec()).collect();
    assert_eq!(
        found,
        vec![expected],
        "input {:?}",
        Bytes::copy_from_slice(input)
    );
    assert_eq!(result, Ok(()));
    assert!(rest.is_empty());
}

#[track_caller]
fn check_request_error(input: &[u8], error: ProtocolError, text: &str) {
    let (_, result, _) = requests(input);
    assert_eq!(
        result,
        Err(error),
        "input {:?}",
        Bytes::copy_from_slice(input)
    );
    assert_eq!(error.to_string(), text);
    assert_eq!(
        error.to_frame(),
        Frame::Error(Bytes::copy_from_slice(text.as_bytes()))
    );
}

fn error_bytes(error: ProtocolError) -> Vec<u8> {
    encoded(&error.to_frame(), Protocol::Resp2)
}

// ---------------------------------------------------------------------------
// Encoding.

fn golden_frames() -> Vec<(Frame, &'static [u8], &'static [u8])> {
    vec![
        (Frame::ok(), b"+OK\r\n", b"+OK\r\n"),
        (Frame::simple("QUEUED"), b"+QUEUED\r\n", b"+QUEUED\r\n"),
        (
            Frame::error("ERR unknown command"),
            b"-ERR unknown command\r\n",
            b"-ERR unknown command\r\n",
        ),
        (Frame::Integer(0), b":0\r\n", b":0\r\n"),
        (Frame::Integer(-42), b":-42\r\n", b":-42\r\n"),
        (
            Frame::Integer(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        ),
        (
            Frame::Integer(i64::MAX),
            b":9223372036854775807\r\n",
            b":9223372036854775807\r\n",
        ),
        (Frame::bulk("foo"), b"$3\r\nfoo\r\n", b"$3\r\nfoo\r\n"),
        (Frame::bulk(""), b"$0\r\n\r\n", b"$0\r\n\r\n"),
        (
            Frame::bulk(&b"a\r\nb\0"[..]),
            b"$5\r\na\r\nb\0\r\n",
            b"$5\r\na\r\nb\0\r\n",
        ),
        (Frame::Null, b"$-1\r\n", b"_\r\n"),
        (Frame::NullArray, b"*-1\r\n", b"_\r\n"),
        (Frame::Array(vec![]), b"*0\r\n", b"*0\r\n"),
        (
            Frame::Array(vec![Frame::Integer(1), Frame::bulk("a"), Frame::Null]),
            b"*3\r\n:1\r\n$1\r\na\r\n$-1\r\n",
            b"*3\r\n:1\r\n$1\r\na\r\n_\r\n",
        ),
        // DEBUG PROTOCOL map.
        (
            Frame::Map(vec![
                (Frame::Integer(0), Frame::Boolean(false)),
                (Frame::Integer(1), Frame::Boolean(true)),
                (Frame::Integer(2), Frame::Boolean(false)),
            ]),
            b"*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n",
            b"%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n",
        ),
        (
            Frame::Set(vec![Frame::Integer(0), Frame::Integer(1)]),
            b"*2\r\n:0\r\n:1\r\n",
            b"~2\r\n:0\r\n:1\r\n",
        ),
        (
            Frame::Push(vec![
                Frame::bulk("subscribe"),
                Frame::bulk("ch"),
                Frame::Integer(1),
            ]),
            b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
            b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
        ),
        // ZSCORE after ZADD z 1.1 a.
        (
            Frame::Double(1.1),
            b"$18\r\n1.1000000000000001\r\n",
            b",1.1000000000000001\r\n",
        ),
        (Frame::Double(3.0), b"$1\r\n3\r\n", b",3\r\n"),
        (Frame::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n"),
        (
            Frame::Double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        ),
        (Frame::Boolean(true), b":1\r\n", b"#t\r\n"),
        (Frame::Boolean(false), b":0\r\n", b"#f\r\n"),
        // DEBUG PROTOCOL bignum.
        (
            Frame::BigNumber(b(b"1234567999999999999999999999999999999")),
            b"$37\r\n1234567999999999999999999999999999999\r\n",
            b"(1234567999999999999999999999999999999\r\n",
        ),
        // DEBUG PROTOCOL verbatim.
        (
            Frame::Verbatim {
                format: *b"txt",
                text: b(b"This is a verbatim\nstring"),
            },
            b"$25\r\nThis is a verbatim\nstring\r\n",
            b"=29\r\ntxt:This is a verbatim\nstring\r\n",
        ),
        (
            Frame::Array(vec![Frame::Map(vec![(
                Frame::simple("k"),
                Frame::Set(vec![Frame::Double(-0.5)]),
            )])]),
            b"*1\r\n*2\r\n+k\r\n*1\r\n$4\r\n-0.5\r\n",
            b"*1\r\n%1\r\n+k\r\n~1\r\n,-0.5\r\n",
        ),
    ]
}

#[test]
fn encode_golden_both_protocols() {
    for (frame, resp2, resp3) in golden_frames() {
        assert_eq!(
            Bytes::from(encoded(&frame, Protocol::Resp2)),
            Bytes::from_static(resp2),
            "{frame:?}"
        );
        assert_eq!(
            Bytes::from(encoded(&frame, Protocol::Resp3)),
            Bytes::from_static(resp3),
            "{frame:?}"
        );
    }
}

#[test]
fn encode_appends() {
    let mut out = BytesMut::from(&b"x"[..]);
    encode(&Frame::ok(), Protocol::Resp2, &mut out);
    encode(&Frame::Integer(7), Protocol::Resp2, &mut out);
    assert_eq!(&out[..], b"x+OK\r\n:7\r\n");
}

#[test]
fn encode_keeps_lines_single() {
    let frame = Frame::error("ERR bad\r\nthing");
    assert_eq!(encoded(&frame, Protocol::Resp3), b"-ERR bad  thing\r\n");
    let frame = Frame::Simple(b(b"a\nb"));
    assert_eq!(encoded(&frame, Protocol::Resp2), b"+a b\r\n");
}

/// `%.17g` as Redis 7.0 prints ZSCORE replies (checked on redis-server 7.0.15).
#[test]
#[allow(clippy::approx_constant)] // 3.141 is what DEBUG PROTOCOL double sends.
fn double_text_matches_redis() {
    let cases: &[(f64, &str)] = &[
        (1.1, "1.1000000000000001"),
        (3.0, "3"),
        (0.1, "0.10000000000000001"),
        (1.5, "1.5"),
        (1e300, "1.0000000000000001e+300"),
        (1e-300, "1e-300"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (0.0, "0"),
        (-0.0, "-0"),
        (0.5e-5, "5.0000000000000004e-06"),
        (1e16, "10000000000000000"),
        (1e17, "1e+17"),
        (3.141, "3.141"),
        (0.0001, "0.0001"),
        (0.00001, "1.0000000000000001e-05"),
        (-2.5, "-2.5"),
        (5e-324, "4.9406564584124654e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        // A tie at the 17th digit rounds to even, as glibc does.
        (1.0 + 2f64.powi(-17), "1.0000076293945312"),
        (f64::NAN, "nan"),
        (-f64::NAN, "-nan"),
    ];
    for &(value, text) in cases {
        let resp2 = format!("${}\r\n{text}\r\n", text.len()).into_bytes();
        assert_eq!(
            encoded(&Frame::Double(value), Protocol::Resp2),
            resp2,
            "{value:e}"
        );
        let resp3 = format!(",{text}\r\n").into_bytes();
        assert_eq!(
            encoded(&Frame::Double(value), Protocol::Resp3),
            resp3,
            "{value:e}"
        );
    }
}

#[test]
fn encode_request_is_multibulk() {
    let mut out = BytesMut::new();
    encode_request(&[b"SET", b"k", b""], &mut out);
    assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    out.clear();
    encode_request(&[], &mut out);
    assert_eq!(&out[..], b"*0\r\n");
}

// ---------------------------------------------------------------------------
// Reply decoding.

#[track_caller]
fn check_frame(input: &[u8], expected: &Frame) {
    // Every proper prefix is incomplete and leaves the buffer untouched.
    for split in 0..input.len() {
        let mut buf = BytesMut::from(&input[..split]);
        assert_eq!(
            decode_frame(&mut buf, &Limits::default()),
            Ok(None),
            "prefix {split} of {:?}",
            Bytes::copy_from_slice(input)
        );
        assert_eq!(&buf[..], &input[..split]);
    }
    // The whole input decodes, and bytes after it stay for the next call.
    let mut buf = BytesMut::from(input);
    buf.extend_from_slice(b"+next\r\n");
    assert_eq!(
        decode_frame(&mut buf, &Limits::default()),
        Ok(Some(expected.clone()))
    );
    assert_eq!(&buf[..], b"+next\r\n");
}

#[test]
fn decode_golden_resp3_and_resp2() {
    for (frame, resp2, resp3) in golden_frames() {
        // RESP3 `_` is always Null; NullArray only exists as RESP2 `*-1`.
        let from_resp3 = if frame == Frame::NullArray {
            Frame::Null
        } else {
            frame.clone()
        };
        check_frame(resp3, &from_resp3);
        if resp2 == resp3 {
            continue;
        }
        // RESP2 loses the kinds; decode what it literally says.
        let mut buf = BytesMut::from(resp2);
        assert!(decode_frame(&mut buf, &Limits::default())
            .unwrap()
            .is_some());
        assert!(buf.is_empty());
    }
    check_frame(b"$-1\r\n", &Frame::Null);
    check_frame(b"*-1\r\n", &Frame::NullArray);
    check_frame(b"!8\r\nERR a\r\nb\r\n", &Frame::Error(b(b"ERR a\r\nb")));
    check_frame(b",1.5e3\r\n", &Frame::Double(1500.0));
    check_frame(b",-inf\r\n", &Frame::Double(f64::NEG_INFINITY));
    check_frame(b"+a\rb\r\n", &Frame::Simple(b(b"a\rb")));
}

#[test]
fn decode_real_redis_replies() {
    // HELLO 3 on redis-server 7.0.15.
    let hello = b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
        $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:29\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
        $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
    let field = |key: &'static str, value: Frame| (Frame::bulk(key), value);
    check_frame(
        hello,
        &Frame::Map(vec![
            field("server", Frame::bulk("redis")),
            field("version", Frame::bulk("7.0.15")),
            field("proto", Frame::Integer(3)),
            field("id", Frame::Integer(29)),
            field("mode", Frame::bulk("standalone")),
            field("role", Frame::bulk("master")),
            field("modules", Frame::Array(vec![])),
        ]),
    );
    // DEBUG PROTOCOL attrib: the attribute is dropped.
    check_frame(
        b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n\
          $39\r\nSome real reply following the attribute\r\n",
        &Frame::bulk("Some real reply following the attribute"),
    );
    check_frame(
        b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n",
        &Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]),
    );
}

#[test]
fn decode_frame_errors() {
    let limits = Limits::default();
    let cases: &[(&[u8], ProtocolError)] = &[
        (b"?x\r\n", ProtocolError::InvalidTypeByte(b'?')),
        (b"x", ProtocolError::InvalidTypeByte(b'x')),
        (b":01\r\n", ProtocolError::InvalidInteger),
        (b":\r\n", ProtocolError::InvalidInteger),
        (b":9223372036854775808\r\n", ProtocolError::InvalidInteger),
        (b",abc\r\n", ProtocolError::InvalidDouble),
        (b"#x\r\n", ProtocolError::InvalidBoolean),
        (b"_x\r\n", ProtocolError::InvalidNull),
        (b"$-2\r\n", ProtocolError::InvalidBulkLength),
        (b"$?\r\n", ProtocolError::InvalidBulkLength),
        (b"$536870913\r\n", ProtocolError::InvalidBulkLength),
        (b"$3\r\nfooXY", ProtocolError::MissingCrlf),
        (b"=3\r\ntxt\r\n", ProtocolError::InvalidVerbatim),
        (b"=4\r\ntxt-\r\n", ProtocolError::InvalidVerbatim),
        (b"*-2\r\n", ProtocolError::InvalidMultibulkLength),
        (b"%-1\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*2147483648\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*1\r\n?\r\n", ProtocolError::InvalidTypeByte(b'?')),
    ];
    for &(input, error) in cases {
        let mut buf = BytesMut::from(input);
        assert_eq!(
            decode_frame(&mut buf, &limits),
            Err(error),
            "{:?}",
            Bytes::copy_from_slice(input)
        );
    }
    // An unterminated line may grow up to inline_len_max bytes.
    let mut line = vec![b'+'; 1];
    line.resize(limits.inline_len_max + 1, b'a');
    assert_eq!(
        decode_frame(&mut BytesMut::from(&line[..]), &limits),
        Ok(None)
    );
    line.push(b'a');
    assert_eq!(
        decode_frame(&mut BytesMut::from(&line[..]), &limits),
        Err(ProtocolError::LineTooBig)
    );
}

#[test]
fn decode_frame_nesting_limit() {
    let limits = Limits {
        nesting_max: 3,
        ..Limits::default()
    };
    let nested = |depth: usize| {
        let mut input = b"*1\r\n".repeat(depth);
        input.extend_from_slice(b":1\r\n");
        input
    };
    let mut buf = BytesMut::from(&nested(3)[..]);
    assert!(matches!(
        decode_frame(&mut buf, &limits),
        Ok(Some(Frame::Array(_)))
    ));
    let mut buf = BytesMut::from(&nested(4)[..]);
    assert_eq!(
        decode_frame(&mut buf, &limits),
        Err(ProtocolError::NestingTooDeep)
    );
    // The default allows 128 levels and stops the 129th.
    let limits = Limits::default();
    let mut buf = BytesMut::from(&nested(128)[..]);
    assert!(decode_frame(&mut buf, &limits).unwrap().is_some());
    let mut buf = BytesMut::from(&nested(129)[..]);
    assert_eq!(
        decode_frame(&mut buf, &limits),
        Err(ProtocolError::NestingTooDeep)
    );
}

#[test]
fn decode_frame_limits() {
    let limits = Limits {
        bulk_len_max: 3,
        multibulk_len_max: 2,
        ..Limits::default()
    };
    let decode = |input: &[u8]| decode_frame(&mut BytesMut::from(input), &limits);
    assert_eq!(decode(b"$3\r\nabc\r\n"), Ok(Some(Frame::bulk("abc"))));
    assert_eq!(decode(b"$4\r\n"), Err(ProtocolError::InvalidBulkLength));
    assert_eq!(decode(b"*2\r\n"), Ok(None));
    assert_eq!(
        decode(b"*3\r\n"),
        Err(ProtocolError::InvalidMultibulkLength)
    );
    assert_eq!(
        decode(b"%3\r\n"),
        Err(ProtocolError::InvalidMultibulkLength)
    );
}

#[test]
fn decode_frame_is_zero_copy() {
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nfoo\r\n+OK\r\n"[..]);
    let base = buf.as_ptr() as usize;
    let Some(Frame::Array(items)) = decode_frame(&mut buf, &Limits::default()).unwrap() else {
        panic!("expected an array");
    };
    let Frame::Bulk(foo) = &items[0] else {
        panic!("expected a bulk");
    };
    assert_eq!(foo.as_ptr() as usize, base + 8);
}

// ---------------------------------------------------------------------------
// Request decoding: multibulk.

#[test]
fn request_multibulk() {
    check_request(
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
        &[b"SET", b"k", b"value"],
    );
    check_request(b"*1\r\n$0\r\n\r\n", &[b""]);
    check_request(b"*1\r\n$4\r\na\r\nb\r\n", &[b"a\r\nb"]);
    check_request(b"*1\r\n$3\r\na\0b\r\n", &[b"a\0b"]);
    // Redis skips the byte after `\r` and the two bytes after a payload
    // without checking them.
    check_request(b"*1\rX$4\r\nPING\r\n", &[b"PING"]);
    check_request(b"*1\r\r$4\r\nPING\r\n", &[b"PING"]);
    check_request(b"*1\r\n$4\r\nPINGXY", &[b"PING"]);
}

#[test]
fn request_pipeline_and_skips() {
    let (found, result, rest) =
        requests(b"*0\r\n*-1\r\n*-5\r\n*1\r\n$4\r\nPING\r\n\r\n\n   \t\r\n*2\r\n$4\r\nECHO\r\n$1\r\na\r\n*1\r\n$4\r\nPI");
    assert_eq!(
        found,
        vec![
            vec![b"PING".to_vec()],
            vec![b"ECHO".to_vec(), b"a".to_vec()]
        ]
    );
    assert_eq!(result, Ok(()));
    assert_eq!(rest, b"*1\r\n$4\r\nPI");
    // Only skipped requests: everything is consumed, nothing returned.
    let (found, result, rest) = requests(b"\r\n*0\r\n\n");
    assert!(found.is_empty());
    assert_eq!(result, Ok(()));
    assert!(rest.is_empty());
}

#[test]
fn request_every_split_point() {
    let inputs: &[&[u8]] = &[
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
        b"*1\r\n$0\r\n\r\n",
        b"SET k \"a b\"\r\n",
        b"PING\n",
    ];
    for input in inputs {
        let (whole, result, _) = requests(input);
        assert_eq!(result, Ok(()));
        assert_eq!(whole.len(), 1);
        for split in 0..input.len() {
            let mut buf = BytesMut::from(&input[..split]);
            assert_eq!(decode_request(&mut buf, &Limits::default()), Ok(None));
            assert_eq!(&buf[..], &input[..split], "prefix {split}");
        }
        // Byte at a time through the resumable decoder.
        let mut decoder = RequestDecoder::default();
        let mut buf = BytesMut::new();
        for (at, &byte) in input.iter().enumerate() {
            buf.extend_from_slice(&[byte]);
            let decoded = decoder.decode(&mut buf, &Limits::default()).unwrap();
            if at + 1 < input.len() {
                assert_eq!(decoded, None);
            } else {
                let args: Vec<Vec<u8>> = decoded.unwrap().iter().map(|a| a.to_vec()).collect();
                assert_eq!(args, whole[0]);
            }
        }
        assert!(buf.is_empty());
    }
}

#[test]
fn request_is_zero_copy() {
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
    let base = buf.as_ptr() as usize;
    let args = decode_request(&mut buf, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(args[0].as_ptr() as usize, base + 8);
    assert_eq!(args[1].as_ptr() as usize, base + 17);
}

#[test]
fn request_many_arguments() {
    let args: Vec<Vec<u8>> = (0..1000).map(|i| format!("arg{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    let mut input = BytesMut::new();
    encode_request(&refs, &mut input);
    check_request(&input, &refs);
}

#[test]
fn request_multibulk_errors() {
    let cases: &[(&[u8], ProtocolError, &str)] = &[
        (
            b"*\r\n",
            ProtocolError::InvalidMultibulkLength,
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*01\r\n",
            ProtocolError::InvalidMultibulkLength,
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*+1\r\n",
            ProtocolError::InvalidMultibulkLength,
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1\n\r$4\r\n",
            ProtocolError::InvalidMultibulkLength,
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*3000000000\r\n",
            ProtocolError::InvalidMultibulkLength,
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*2147483648\r\n",
            ProtocolError::InvalidMultibulkLength,
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1\r\n$-1\r\n",
            ProtocolError::InvalidBulkLength,
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$-0\r\n",
            ProtocolError::InvalidBulkLength,
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$04\r\n",
            ProtocolError::InvalidBulkLength,
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$\r\n",
            ProtocolError::InvalidBulkLength,
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$blabla\r\n",
            ProtocolError::InvalidBulkLength,
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$536870913\r\n",
            ProtocolError::InvalidBulkLength,
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\nfoo\r\n",
            ProtocolError::ExpectedDollar(b'f'),
            "ERR Protocol error: expected '$', got 'f'",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
            ProtocolError::ExpectedDollar(b'f'),
            "ERR Protocol error: expected '$', got 'f'",
        ),
        (
            b"*1\r\n\r\n",
            ProtocolError::ExpectedDollar(b'\r'),
            "ERR Protocol error: expected '$', got ' '",
        ),
        (
            b"*1\r\n\n\r\n",
            ProtocolError::ExpectedDollar(b'\n'),
            "ERR Protocol error: expected '$', got ' '",
        ),
    ];
    for &(input, error, text) in cases {
        check_request_error(input, error, text);
    }
    // The byte is sent as is, even when it is not UTF-8.
    let (_, result, _) = requests(b"*1\r\n\x80\r\n");
    assert_eq!(result, Err(ProtocolError::ExpectedDollar(0x80)));
    assert_eq!(
        error_bytes(ProtocolError::ExpectedDollar(0x80)),
        b"-ERR Protocol error: expected '$', got '\x80'\r\n"
    );
    // Requests before the bad one are still returned.
    let (found, result, _) = requests(b"PING\r\n*1\r\n$x\r\n");
    assert_eq!(found, vec![vec![b"PING".to_vec()]]);
    assert_eq!(result, Err(ProtocolError::InvalidBulkLength));
}

#[test]
fn request_limits() {
    let limits = Limits::default();
    let decode = |input: &[u8]| decode_request(&mut BytesMut::from(input), &limits);
    // Limits are inclusive.
    assert_eq!(decode(b"*2147483647\r\n"), Ok(None));
    assert_eq!(decode(b"*1\r\n$536870912\r\n"), Ok(None));
    // A header line without `\r` may grow to 64 KiB, then fails.
    let mut count = b"*".to_vec();
    count.resize(64 * 1024, b'1');
    assert_eq!(decode(&count), Ok(None));
    count.push(b'1');
    assert_eq!(decode(&count), Err(ProtocolError::MultibulkCountTooBig));
    let mut bulk = b"*1\r\n$4\r\nPING\r\n*1\r\n$".to_vec();
    let header_at = bulk.len() - 1;
    bulk.resize(header_at + 64 * 1024, b'1');
    assert_eq!(
        requests(&bulk).1,
        Ok(()),
        "exactly 64 KiB after the header start is still fine"
    );
    bulk.push(b'1');
    let (found, result, _) = requests(&bulk);
    assert_eq!(found.len(), 1);
    assert_eq!(result, Err(ProtocolError::BulkCountTooBig));
    assert_eq!(
        result.unwrap_err().to_string(),
        "ERR Protocol error: too big bulk count string"
    );
    // A complete header line is judged by its number, however long it is.
    let mut long = b"*1\r\n$".to_vec();
    long.resize(70_000, b'1');
    long.extend_from_slice(b"\r\n");
    assert_eq!(decode(&long), Err(ProtocolError::InvalidBulkLength));
    // A NUL hides the `\r` from Redis's strchr: wait, then "too big".
    assert_eq!(decode(b"*1\0\r\n"), Ok(None));
    assert_eq!(decode(b"*1\r\n$4\0\r\n"), Ok(None));
    let mut nul = b"*\0".to_vec();
    nul.resize(64 * 1024 + 1, b'p');
    assert_eq!(decode(&nul), Err(ProtocolError::MultibulkCountTooBig));
    // Configured limits.
    let small = Limits {
        bulk_len_max: 4,
        multibulk_len_max: 2,
        inline_len_max: 8,
        ..Limits::default()
    };
    let decode = |input: &[u8]| decode_request(&mut BytesMut::from(input), &small);
    assert_eq!(
        decode(b"*2\r\n$4\r\nabcd\r\n$0\r\n\r\n")
            .unwrap()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        decode(b"*3\r\n"),
        Err(ProtocolError::InvalidMultibulkLength)
    );
    assert_eq!(
        decode(b"*1\r\n$5\r\n"),
        Err(ProtocolError::InvalidBulkLength)
    );
    assert_eq!(decode(b"abcdefgh"), Ok(None));
    assert_eq!(decode(b"abcdefghi"), Err(ProtocolError::InlineTooBig));
}

#[test]
fn request_unauthenticated_limits() {
    let limits = Limits::default();
    let decode = |input: &[u8]| decode_request_unauthenticated(&mut BytesMut::from(input), &limits);
    assert_eq!(decode(b"*10\r\n"), Ok(None));
    assert_eq!(
        decode(b"*11\r\n"),
        Err(ProtocolError::UnauthenticatedMultibulkLength)
    );
    assert_eq!(
        ProtocolError::UnauthenticatedMultibulkLength.to_string(),
        "ERR Protocol error: unauthenticated multibulk length"
    );
    // Invalid counts are reported as invalid first, and negative counts are skipped.
    assert_eq!(
        decode(b"*2147483648\r\n"),
        Err(ProtocolError::InvalidMultibulkLength)
    );
    assert_eq!(
        decode(b"*-11\r\nPING\r\n").unwrap().unwrap(),
        vec![b(b"PING")]
    );
    assert_eq!(decode(b"*1\r\n$16384\r\n"), Ok(None));
    assert_eq!(
        decode(b"*1\r\n$16385\r\n"),
        Err(ProtocolError::UnauthenticatedBulkLength)
    );
    assert_eq!(
        decode(b"*1\r\n$536870913\r\n"),
        Err(ProtocolError::InvalidBulkLength)
    );
    assert_eq!(
        ProtocolError::UnauthenticatedBulkLength.to_string(),
        "ERR Protocol error: unauthenticated bulk length"
    );
    let mut decoder = RequestDecoder::default();
    let mut buf = BytesMut::from(&b"*11\r\n"[..]);
    assert_eq!(
        decoder.decode_unauthenticated(&mut buf, &limits),
        Err(ProtocolError::UnauthenticatedMultibulkLength)
    );
}

// ---------------------------------------------------------------------------
// Request decoding: inline.

#[test]
fn request_inline() {
    check_request(b"PING\r\n", &[b"PING"]);
    check_request(b"PING\n", &[b"PING"]);
    check_request(b"  SET  k\tv \r\n", &[b"SET", b"k", b"v"]);
    // Only one `\r` is stripped; another one is whitespace.
    check_request(b"ECHO ab\r\r\n", &[b"ECHO", b"ab"]);
    // `\v` and `\f` separate arguments only between them, not inside one.
    check_request(b"\x0b\x0cECHO a\x0cb\r\n", &[b"ECHO", b"a\x0cb"]);
    check_request(b"ECHO \xff\r\n", &[b"ECHO", b"\xff"]);
    // Quotes and escapes, as sdssplitargs.
    check_request(b"SET k \"a b\"\r\n", &[b"SET", b"k", b"a b"]);
    check_request(b"ECHO \"\"\r\n", &[b"ECHO", b""]);
    check_request(b"ECHO \"\" b\r\n", &[b"ECHO", b"", b"b"]);
    check_request(b"ECHO \"\\x41\\x4g\\n\"\r\n", &[b"ECHO", b"Ax4g\n"]);
    check_request(b"ECHO \"\\x4\"\r\n", &[b"ECHO", b"x4"]);
    check_request(b"ECHO \"\\xfF\\x00\"\r\n", &[b"ECHO", b"\xff\x00"]);
    check_request(
        b"ECHO \"\\r\\t\\b\\a\\q\\\\\\\"\"\r\n",
        &[b"ECHO", b"\r\t\x08\x07q\\\""],
    );
    check_request(b"ECHO 'a\\'b'\r\n", &[b"ECHO", b"a'b"]);
    check_request(b"ECHO 'a\\nb\"'\r\n", &[b"ECHO", b"a\\nb\""]);
    check_request(b"ECHO a\"b c\"\r\n", &[b"ECHO", b"ab c"]);
    check_request(b"ECHO \"a\"\x0b\r\n", &[b"ECHO", b"a"]);
    check_request(b"ECHO \"a\"\x0c\r\n", &[b"ECHO", b"a"]);
    check_request(b"ECHO \"a\"\tb\r\n", &[b"ECHO", b"a", b"b"]);
    // Something that starts with `*` later on a line is inline text.
    check_request(b" *1\r\n", &[b"*1"]);
}

#[test]
fn request_inline_errors() {
    let unbalanced = "ERR Protocol error: unbalanced quotes in request";
    for input in [
        &b"ECHO \"abc\r\n"[..],
        b"ECHO \"a\"b\r\n",
        b"ECHO 'a'b\r\n",
        b"ECHO 'abc\r\n",
        b"ECHO \"a\\\"\r\n",
        b"set \"\"\"test-key\"\"\" test-value\r\nping\r\n",
        b"ECHO a\"b c\"d\r\n",
        b"ECHO \"a\"\"b\"\r\n",
    ] {
        check_request_error(input, ProtocolError::UnbalancedQuotes, unbalanced);
    }
    // Inline lines may grow to 64 KiB without a newline, then fail.
    let mut line = vec![b'A'; 64 * 1024];
    assert_eq!(requests(&line).1, Ok(()));
    line.push(b'A');
    check_request_error(
        &line,
        ProtocolError::InlineTooBig,
        "ERR Protocol error: too big inline request",
    );
    // A complete line is accepted whatever its length.
    line.push(b'\n');
    assert_eq!(requests(&line).0.len(), 1);
    // A NUL hides the newline, as Redis's strchr does.
    assert_eq!(requests(b"ECHO a\0b\r\n").2, b"ECHO a\0b\r\n");
    let mut nul = b"\0".to_vec();
    nul.resize(64 * 1024 + 1, b'p');
    assert_eq!(requests(&nul).1, Err(ProtocolError::InlineTooBig));
}

// ---------------------------------------------------------------------------
// Properties.

fn bytes_strategy() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

/// One-line text: no `\r` or `\n`, which encoding would turn into spaces.
fn line_strategy() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(
        any::<u8>().prop_filter("one line", |b| *b != b'\r' && *b != b'\n'),
        0..12,
    )
    .prop_map(Bytes::from)
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        line_strategy().prop_map(Frame::Simple),
        line_strategy().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        bytes_strategy().prop_map(Frame::Bulk),
        Just(Frame::Null),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |d| !d.is_nan())
            .prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[1-9][0-9]{0,40}".prop_map(|digits| Frame::BigNumber(Bytes::from(digits))),
        (prop::array::uniform3(any::<u8>()), bytes_strategy())
            .prop_map(|(format, text)| Frame::Verbatim { format, text }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            prop::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Frame::Map),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            prop::collection::vec(inner, 0..6).prop_map(Frame::Push),
        ]
    })
}

proptest! {
    #[test]
    fn resp3_round_trip(frame in frame_strategy()) {
        let bytes = encoded(&frame, Protocol::Resp3);
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert_eq!(decode_frame(&mut buf, &Limits::default()), Ok(Some(frame)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn resp2_encoding_decodes(frame in frame_strategy()) {
        let bytes = encoded(&frame, Protocol::Resp2);
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert!(decode_frame(&mut buf, &Limits::default()).unwrap().is_some());
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn resp3_prefixes_are_incomplete(frame in frame_strategy(), cut in any::<prop::sample::Index>()) {
        let bytes = encoded(&frame, Protocol::Resp3);
        let split = cut.index(bytes.len());
        let mut buf = BytesMut::from(&bytes[..split]);
        prop_assert_eq!(decode_frame(&mut buf, &Limits::default()), Ok(None));
        prop_assert_eq!(&buf[..], &bytes[..split]);
    }

    #[test]
    fn request_round_trip(
        requests in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..6), 1..5),
        chunk in 1usize..40,
    ) {
        let mut wire = BytesMut::new();
        for args in &requests {
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            encode_request(&refs, &mut wire);
        }
        // All at once, statelessly.
        let mut buf = wire.clone();
        for args in &requests {
            let decoded = decode_request(&mut buf, &Limits::default()).unwrap().unwrap();
            prop_assert_eq!(decoded.iter().map(|a| a.to_vec()).collect::<Vec<_>>(), args.clone());
        }
        prop_assert!(buf.is_empty());
        // In chunks, through both decoders.
        let mut decoder = RequestDecoder::default();
        let (mut stateless, mut stateful) = (Vec::new(), Vec::new());
        let (mut buf_stateless, mut buf_stateful) = (BytesMut::new(), BytesMut::new());
        for piece in wire.chunks(chunk) {
            buf_stateless.extend_from_slice(piece);
            buf_stateful.extend_from_slice(piece);
            while let Some(args) = decode_request(&mut buf_stateless, &Limits::default()).unwrap() {
                stateless.push(args);
            }
            while let Some(args) = decoder.decode(&mut buf_stateful, &Limits::default()).unwrap() {
                stateful.push(args);
            }
        }
        prop_assert_eq!(stateless.len(), requests.len());
        prop_assert_eq!(&stateless, &stateful);
    }

    #[test]
    fn request_decoder_never_panics(input in prop::collection::vec(
        prop::sample::select(&b"*$\r\n0123-+ \"'\\xaA\0"[..]), 0..40)) {
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = decode_request(&mut buf, &Limits::default()) {}
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = decode_frame(&mut buf, &Limits::default()) {}
    }
}

// ---------------------------------------------------------------------------
// Batch decoding against the one-request-at-a-time decoder.

fn is_auth(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"auth") || name.eq_ignore_ascii_case(b"hello")
}

type Step = (Vec<Vec<Vec<u8>>>, Result<(), ProtocolError>, Vec<u8>);

/// What one `decode_batch` call should do: `decode` until `Ok(None)`, an
/// error, or (unauthenticated) right after an AUTH/HELLO.
fn reference_step(
    decoder: &mut RequestDecoder,
    buf: &mut BytesMut,
    limits: &Limits,
    authed: bool,
) -> Step {
    let mut found = Vec::new();
    let result = loop {
        let decoded = if authed {
            decoder.decode(buf, limits)
        } else {
            decoder.decode_unauthenticated(buf, limits)
        };
        match decoded {
            Ok(Some(args)) => {
                let stop = !authed && is_auth(&args[0]);
                found.push(args.iter().map(|arg| arg.to_vec()).collect());
                if stop {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    (found, result, buf.to_vec())
}

fn batch_step(
    decoder: &mut RequestDecoder,
    buf: &mut BytesMut,
    limits: &Limits,
    authed: bool,
) -> Step {
    let mut batch = RequestBatch::default();
    // A request left from an earlier call stays first.
    batch.push([Bytes::from_static(b"earlier")]);
    let result = if authed {
        decoder.decode_batch(buf, limits, &mut batch)
    } else {
        decoder.decode_batch_unauthenticated(buf, limits, &mut batch, is_auth)
    };
    assert_eq!(batch.request(0).collect::<Vec<_>>(), [&b"earlier"[..]]);
    let found = batch.iter().skip(1).map(|args| {
        assert!(args.len() > 0);
        args.map(|arg| arg.to_vec()).collect()
    });
    (found.collect(), result, buf.to_vec())
}

/// Feeds `wire` in `chunk`-byte pieces to both decoders, calling each as a
/// connection would after every read, and compares every step.
fn check_batch_matches(
    wire: &[u8],
    chunk: usize,
    limits: &Limits,
    authed: bool,
) -> Result<(), TestCaseError> {
    let (mut reference, mut batched) = (RequestDecoder::default(), RequestDecoder::default());
    let (mut buf_reference, mut buf_batched) = (BytesMut::new(), BytesMut::new());
    let mut authed_now = authed;
    for piece in wire.chunks(chunk) {
        buf_reference.extend_from_slice(piece);
        buf_batched.extend_from_slice(piece);
        loop {
            let expected = reference_step(&mut reference, &mut buf_reference, limits, authed_now);
            let got = batch_step(&mut batched, &mut buf_batched, limits, authed_now);
            prop_assert_eq!(&got, &expected);
            if expected.1.is_err() {
                return Ok(());
            }
            // A stop at AUTH: the rest parses again, now authenticated.
            let stopped = !authed_now && expected.0.last().is_some_and(|args| is_auth(&args[0]));
            if !stopped {
                break;
            }
            authed_now = true;
        }
    }
    Ok(())
}

#[test]
fn batch_every_split_point() {
    let inputs: &[&[u8]] = &[
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        b"*1\r\n$0\r\n\r\n*0\r\n\r\nSET k \"a b\"\r\nPING\n*1\r\n$4\r\nPING\r\n",
        b"AUTH x\r\n*11\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n",
        b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$x\r\n",
        b"PING\r\nSET k \"a\r\n*1\r\n$4\r\nPING\r\n",
    ];
    for input in inputs {
        for split in 0..=input.len() {
            for authed in [true, false] {
                for limits in [Limits::default(), small_limits()] {
                    let mut wire = input.to_vec();
                    // Two reads: the prefix, then the rest.
                    let (mut reference, mut batched) =
                        (RequestDecoder::default(), RequestDecoder::default());
                    let (mut a, mut b) = (
                        BytesMut::from(&wire[..split]),
                        BytesMut::from(&wire[..split]),
                    );
                    let first = reference_step(&mut reference, &mut a, &limits, authed);
                    assert_eq!(
                        batch_step(&mut batched, &mut b, &limits, authed),
                        first,
                        "split {split}"
                    );
                    if first.1.is_ok() {
                        let rest = wire.split_off(split);
                        a.extend_from_slice(&rest);
                        b.extend_from_slice(&rest);
                        let second = reference_step(&mut reference, &mut a, &limits, authed);
                        assert_eq!(
                            batch_step(&mut batched, &mut b, &limits, authed),
                            second,
                            "split {split}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn batch_is_zero_copy_and_shares_one_chunk() {
    let mut buf =
        BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI"[..]);
    let base = buf.as_ptr() as usize;
    let mut batch = RequestBatch::default();
    RequestDecoder::default()
        .decode_batch(&mut buf, &Limits::default(), &mut batch)
        .unwrap();
    assert_eq!(batch.len(), 2);
    let mut args = Vec::new();
    batch.args(0, &mut args);
    assert_eq!(args, [&b"GET"[..], b"key"]);
    assert_eq!(args[0].as_ptr() as usize, base + 8);
    assert_eq!(args[1].as_ptr() as usize, base + 17);
    batch.args(1, &mut args);
    assert_eq!(args, [&b"PING"[..]]);
    assert_eq!(args[0].as_ptr() as usize, base + 30);
    assert_eq!(batch.name(1), b"PING");
    // One chunk for the whole batch, not one reference per argument.
    assert_eq!(batch.sources.len(), 1);
    // The views' allocation outlives the batch's contents.
    let (ptr, capacity) = (args.as_ptr() as usize, args.capacity());
    let args = crate::recycle_views(args);
    batch.clear();
    assert!(args.is_empty());
    assert_eq!((args.as_ptr() as usize, args.capacity()), (ptr, capacity));
    assert_eq!(&buf[..], b"*1\r\n$4\r\nPI");
    batch.clear();
    assert!(batch.is_empty());
}

fn small_limits() -> Limits {
    Limits {
        bulk_len_max: 24,
        multibulk_len_max: 6,
        inline_len_max: 20,
        ..Limits::default()
    }
}

/// A piece of a client's stream: a request, an odd but valid form, or junk.
fn wire_piece_strategy() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![&b"SET"[..], b"GET", b"auth", b"HELLO", b"PING", b"x"]);
    let arg = prop::collection::vec(prop::sample::select(&b"ab \"'\\\r\n\0x"[..]), 0..30);
    prop_oneof![
        4 => (name.clone(), prop::collection::vec(arg.clone(), 0..12)).prop_map(|(name, args)| {
            let mut refs: Vec<&[u8]> = vec![name];
            refs.extend(args.iter().map(|a| &a[..]));
            let mut out = BytesMut::new();
            encode_request(&refs, &mut out);
            out.to_vec()
        }),
        2 => (name, prop::collection::vec(prop::sample::select(&b"ab \t\"'\\x0"[..]), 0..30))
            .prop_map(|(name, rest)| [name, b" ", &rest, b"\r\n"].concat()),
        1 => prop::sample::select(vec![&b"*0\r\n"[..], b"*-1\r\n", b"\r\n", b"\n", b"  \r\n", b"*1\rX$1\r\naYZ"]).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(prop::sample::select(&b"*$\r\n0123-+ \"'\\xaA\0"[..]), 0..12),
    ]
}

proptest! {
    #[test]
    fn batch_matches_one_at_a_time(
        pieces in prop::collection::vec(wire_piece_strategy(), 1..12),
        chunk in 1usize..80,
        authed: bool,
        small: bool,
    ) {
        let limits = if small { small_limits() } else { Limits::default() };
        check_batch_matches(&pieces.concat(), chunk, &limits, authed)?;
    }

    #[test]
    fn batch_matches_on_junk(
        input in prop::collection::vec(prop::sample::select(&b"*$\r\n0123-+ \"'\\xaA\0"[..]), 0..60),
        chunk in 1usize..70,
        authed: bool,
    ) {
        check_batch_matches(&input, chunk, &small_limits(), authed)?;
    }
}

proptest! {
    #[test]
    fn integers_and_lengths_encode_as_decimal(value: i64, data in prop::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(encoded(&Frame::Integer(value), Protocol::Resp2), format!(":{value}\r\n").into_bytes());
        let mut expected = format!("${}\r\n", data.len()).into_bytes();
        expected.extend_from_slice(&data);
        expected.extend_from_slice(b"\r\n");
        prop_assert_eq!(encoded(&Frame::Bulk(Bytes::from(data)), Protocol::Resp2), expected);
    }
}

#[test]
fn integer_edges_encode_as_decimal() {
    for value in [
        0,
        9,
        10,
        99,
        100,
        -1,
        -10,
        -100,
        1234567,
        i64::MAX,
        i64::MIN,
        i64::MIN + 1,
    ] {
        assert_eq!(
            encoded(&Frame::Integer(value), Protocol::Resp2),
            format!(":{value}\r\n").into_bytes()
        );
    }
    assert_eq!(encoded(&Frame::ok(), Protocol::Resp3), b"+OK\r\n");
    assert_eq!(
        encoded(&Frame::simple("OKAY"), Protocol::Resp2),
        b"+OKAY\r\n"
    );
}
