use bytes::{Bytes, BytesMut};
use resp::{decode_frame, decode_request, Limits};

use super::id;
use crate::history::PastId;
use crate::id::Offset;
use crate::message::{Message, MessageError};
use crate::psync::PsyncRequest;
use crate::record::Record;

fn all_messages() -> Vec<Message> {
    vec![
        Message::Auth {
            user: Bytes::from_static(b"syncer"),
            password: Bytes::from_static(b"s3cret"),
        },
        Message::Protocol(1),
        Message::Psync(PsyncRequest {
            replid: None,
            offset: None,
        }),
        Message::Psync(PsyncRequest {
            replid: Some(id("A")),
            offset: Some(Offset(12345)),
        }),
        Message::Ack(Offset(77)),
        Message::Ok,
        Message::Error(Bytes::from_static(
            b"ERR concord-protocol 2 is not supported",
        )),
        Message::FullResync {
            replid: id("B"),
            offset: Offset(0),
        },
        Message::Continue { replid: id("C") },
        Message::ReplIds(vec![]),
        Message::ReplIds(vec![
            PastId {
                replid: id("A"),
                end: Offset(9),
            },
            PastId {
                replid: id("D"),
                end: Offset(3),
            },
        ]),
        Message::Snapshot(Bytes::from_static(b"\x00\x01binary\r\n")),
        Message::SnapEnd {
            len: 10,
            crc: 0xdead_beef,
            backlog_first: Offset(400),
        },
        Message::Record(Record {
            offset: Offset(1 << 40),
            payload: Bytes::from_static(b"\x01effect"),
        }),
        Message::Ping,
    ]
}

#[test]
fn every_message_round_trips_through_resp_bytes() {
    for m in all_messages() {
        let mut buf = BytesMut::new();
        m.encode(&mut buf);
        let frame = decode_frame(&mut buf, &Limits::default())
            .unwrap()
            .expect("a whole frame");
        assert!(buf.is_empty());
        assert_eq!(Message::from_frame(&frame), Ok(m.clone()), "{}", m.name());
    }
}

#[test]
fn commands_parse_from_request_arguments_too() {
    for m in all_messages() {
        let mut buf = BytesMut::new();
        m.encode(&mut buf);
        if buf[0] != b'*' {
            continue; // status and error replies are not requests
        }
        let args = decode_request(&mut buf, &Limits::default())
            .unwrap()
            .expect("a whole request");
        let args: Vec<Bytes> = args.into_iter().collect();
        assert_eq!(Message::from_args(&args), Ok(m.clone()), "{}", m.name());
    }
}

#[test]
fn wire_form_is_readable() {
    let mut buf = BytesMut::new();
    Message::FullResync {
        replid: id("A"),
        offset: Offset(42),
    }
    .encode(&mut buf);
    assert_eq!(
        &buf[..],
        format!("+FULLRESYNC {} 42\r\n", id("A")).as_bytes()
    );
    let mut buf = BytesMut::new();
    Message::Protocol(1).encode(&mut buf);
    assert_eq!(
        &buf[..],
        b"*3\r\n$8\r\nREPLCONF\r\n$16\r\nconcord-protocol\r\n$1\r\n1\r\n"
    );
    let mut buf = BytesMut::new();
    Message::Psync(PsyncRequest {
        replid: None,
        offset: None,
    })
    .encode(&mut buf);
    assert_eq!(&buf[..], b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n");
}

#[test]
fn bad_messages_are_errors() {
    let args = |s: &str| {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect::<Vec<_>>()
    };
    assert!(matches!(
        Message::from_args(&args("FLUSHALL")),
        Err(MessageError::Unknown(_))
    ));
    assert_eq!(
        Message::from_args(&args("PSYNC x")),
        Err(MessageError::Arity("PSYNC"))
    );
    assert!(matches!(
        Message::from_args(&args("PSYNC nothex 5")),
        Err(MessageError::Invalid { .. })
    ));
    let a = id("A").to_string();
    assert!(matches!(
        Message::from_args(&args(&format!("PSYNC {a} -5"))),
        Err(MessageError::Invalid { .. })
    ));
    assert!(matches!(
        Message::from_args(&args(&format!("PSYNC {a} 007"))),
        Err(MessageError::Invalid { .. })
    ));
    assert!(matches!(
        Message::from_args(&args("REPLCONF listening-port 1")),
        Err(MessageError::Unknown(_))
    ));
    assert!(matches!(
        Message::from_args(&args("REPLCONF concord-protocol 99999999999")),
        Err(MessageError::Invalid { .. })
    ));
    assert!(matches!(
        Message::from_args(&args("REPLIDS x")),
        Err(MessageError::Arity(_))
    ));
    assert!(matches!(
        Message::from_args(&args("SNAPEND 1 2")),
        Err(MessageError::Arity(_))
    ));
    assert!(
        Message::from_frame(&resp::Frame::Simple(Bytes::from_static(b"FULLRESYNC x 1"))).is_err()
    );
    assert!(Message::from_frame(&resp::Frame::Integer(3)).is_err());
    // Command names are case-insensitive, as in Redis.
    assert_eq!(
        Message::from_args(&args("replconf ack 5")),
        Ok(Message::Ack(Offset(5)))
    );
}
