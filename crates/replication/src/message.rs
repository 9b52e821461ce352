//! The messages of a sync session and their RESP form.
//!
//! Every message is a RESP2 frame a person can read with `redis-cli` (or
//! type into `nc`): the replica side sends commands (arrays of bulk
//! strings), the primary side answers with status lines (`+FULLRESYNC`,
//! `+CONTINUE`, `+OK`), errors, and commands of its own (`REPLIDS`,
//! `SNAPSHOT`, `SNAPEND`, `RECORD`, `PING`). See docs/replication.md for the
//! whole conversation.
//!
//! | message | RESP form |
//! |---|---|
//! | [`Message::Auth`] | `AUTH <user> <password>` |
//! | [`Message::Protocol`] | `REPLCONF concord-protocol <version>` |
//! | [`Message::Psync`] | `PSYNC <replid or ?> <offset or -1>` |
//! | [`Message::Ack`] | `REPLCONF ACK <offset>` |
//! | [`Message::Ok`] | `+OK` |
//! | [`Message::Error`] | `-<text>` |
//! | [`Message::FullResync`] | `+FULLRESYNC <replid> <offset>` |
//! | [`Message::Continue`] | `+CONTINUE <replid>` |
//! | [`Message::ReplIds`] | `REPLIDS [<replid> <end offset>]...` |
//! | [`Message::Snapshot`] | `SNAPSHOT <bytes>` |
//! | [`Message::SnapEnd`] | `SNAPEND <total bytes> <crc32> <backlog first offset>` |
//! | [`Message::Record`] | `RECORD <offset> <payload>` |
//! | [`Message::Ping`] | `PING` |

use bytes::{Bytes, BytesMut};
use resp::{Frame, Protocol};

use crate::history::{PastId, HISTORY_LEN_MAX};
use crate::id::{Offset, ReplId};
use crate::psync::PsyncRequest;
use crate::record::{Record, PAYLOAD_LEN_MAX};

/// The version of this protocol, exchanged with `REPLCONF concord-protocol`.
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Auth {
        user: Bytes,
        password: Bytes,
    },
    Protocol(u32),
    Psync(PsyncRequest),
    Ack(Offset),
    Ok,
    /// An error reply; the text includes its code (`ERR ...`).
    Error(Bytes),
    FullResync {
        replid: ReplId,
        offset: Offset,
    },
    Continue {
        replid: ReplId,
    },
    /// The primary's past replication ids, newest first.
    ReplIds(Vec<PastId>),
    Snapshot(Bytes),
    SnapEnd {
        len: u64,
        crc: u32,
        backlog_first: Offset,
    },
    Record(Record),
    Ping,
}

/// A frame that is not a message of this protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("unknown replication message '{0}'")]
    Unknown(String),
    #[error("wrong number of arguments for '{0}'")]
    Arity(&'static str),
    #[error("invalid {what} in '{command}'")]
    Invalid {
        command: &'static str,
        what: &'static str,
    },
}

impl Message {
    /// Returns the message's name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Auth { .. } => "AUTH",
            Message::Protocol(_) => "REPLCONF concord-protocol",
            Message::Psync(_) => "PSYNC",
            Message::Ack(_) => "REPLCONF ACK",
            Message::Ok => "+OK",
            Message::Error(_) => "-ERR",
            Message::FullResync { .. } => "+FULLRESYNC",
            Message::Continue { .. } => "+CONTINUE",
            Message::ReplIds(_) => "REPLIDS",
            Message::Snapshot(_) => "SNAPSHOT",
            Message::SnapEnd { .. } => "SNAPEND",
            Message::Record(_) => "RECORD",
            Message::Ping => "PING",
        }
    }

    /// Returns the RESP frame of this message.
    pub fn to_frame(&self) -> Frame {
        let num = |n: u64| Frame::Bulk(Bytes::from(n.to_string()));
        let word = |w: &'static str| Frame::Bulk(Bytes::from_static(w.as_bytes()));
        let id = |r: &ReplId| Frame::Bulk(Bytes::copy_from_slice(r.as_bytes()));
        match self {
            Message::Auth { user, password } => Frame::Array(vec![
                word("AUTH"),
                Frame::Bulk(user.clone()),
                Frame::Bulk(password.clone()),
            ]),
            Message::Protocol(v) => Frame::Array(vec![
                word("REPLCONF"),
                word("concord-protocol"),
                num(*v as u64),
            ]),
            Message::Psync(r) => Frame::Array(vec![
                word("PSYNC"),
                r.replid.as_ref().map_or(word("?"), id),
                r.offset.map_or(word("-1"), |o| num(o.0)),
            ]),
            Message::Ack(o) => Frame::Array(vec![word("REPLCONF"), word("ACK"), num(o.0)]),
            Message::Ok => Frame::ok(),
            Message::Error(text) => Frame::Error(text.clone()),
            Message::FullResync { replid, offset } => {
                Frame::Simple(Bytes::from(format!("FULLRESYNC {replid} {offset}")))
            }
            Message::Continue { replid } => {
                Frame::Simple(Bytes::from(format!("CONTINUE {replid}")))
            }
            Message::ReplIds(past) => {
                let mut v = vec![word("REPLIDS")];
                for p in past {
                    v.push(id(&p.replid));
                    v.push(num(p.end.0));
                }
                Frame::Array(v)
            }
            Message::Snapshot(b) => Frame::Array(vec![word("SNAPSHOT"), Frame::Bulk(b.clone())]),
            Message::SnapEnd {
                len,
                crc,
                backlog_first,
            } => Frame::Array(vec![
                word("SNAPEND"),
                num(*len),
                num(*crc as u64),
                num(backlog_first.0),
            ]),
            Message::Record(r) => Frame::Array(vec![
                word("RECORD"),
                num(r.offset.0),
                Frame::Bulk(r.payload.clone()),
            ]),
            Message::Ping => Frame::Array(vec![word("PING")]),
        }
    }

    /// Appends the RESP2 bytes of this message to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        resp::encode(&self.to_frame(), Protocol::Resp2, out);
    }

    /// Parses a frame read from the other side (`resp::decode_frame`).
    pub fn from_frame(frame: &Frame) -> Result<Message, MessageError> {
        match frame {
            Frame::Simple(line) => parse_status(line),
            Frame::Error(text) => Ok(Message::Error(text.clone())),
            Frame::Array(items) => {
                let mut args = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Frame::Bulk(b) | Frame::Simple(b) => args.push(b.clone()),
                        _ => return Err(MessageError::Unknown("non-bulk argument".into())),
                    }
                }
                Message::from_args(&args)
            }
            _ => Err(MessageError::Unknown(
                format!("{frame:?}").chars().take(40).collect(),
            )),
        }
    }

    /// Parses a command given as its arguments (the server side decodes
    /// requests with `resp::decode_request`).
    pub fn from_args(args: &[Bytes]) -> Result<Message, MessageError> {
        let Some(name) = args.first() else {
            return Err(MessageError::Unknown(String::new()));
        };
        let is = |a: &Bytes, w: &str| a.eq_ignore_ascii_case(w.as_bytes());
        let rest = &args[1..];
        if is(name, "REPLCONF") {
            let [option, value] = rest else {
                return Err(MessageError::Arity("REPLCONF"));
            };
            if is(option, "concord-protocol") {
                let v = parse_u64(value).filter(|v| *v <= u32::MAX as u64);
                let v = v.ok_or(MessageError::Invalid {
                    command: "REPLCONF",
                    what: "protocol version",
                })?;
                return Ok(Message::Protocol(v as u32));
            }
            if is(option, "ACK") {
                let o = parse_u64(value).ok_or(MessageError::Invalid {
                    command: "REPLCONF",
                    what: "offset",
                })?;
                return Ok(Message::Ack(Offset(o)));
            }
            return Err(MessageError::Unknown(format!(
                "REPLCONF {}",
                String::from_utf8_lossy(option)
            )));
        }
        if is(name, "PSYNC") {
            let [replid, offset] = rest else {
                return Err(MessageError::Arity("PSYNC"));
            };
            if &replid[..] == b"?" {
                return Ok(Message::Psync(PsyncRequest {
                    replid: None,
                    offset: None,
                }));
            }
            let replid = ReplId::parse(replid).ok_or(MessageError::Invalid {
                command: "PSYNC",
                what: "replid",
            })?;
            let offset = parse_u64(offset).ok_or(MessageError::Invalid {
                command: "PSYNC",
                what: "offset",
            })?;
            return Ok(Message::Psync(PsyncRequest {
                replid: Some(replid),
                offset: Some(Offset(offset)),
            }));
        }
        if is(name, "AUTH") {
            let [user, password] = rest else {
                return Err(MessageError::Arity("AUTH"));
            };
            return Ok(Message::Auth {
                user: user.clone(),
                password: password.clone(),
            });
        }
        if is(name, "REPLIDS") {
            if !rest.len().is_multiple_of(2) || rest.len() / 2 > HISTORY_LEN_MAX {
                return Err(MessageError::Arity("REPLIDS"));
            }
            let mut past = Vec::with_capacity(rest.len() / 2);
            for pair in rest.chunks(2) {
                let replid = ReplId::parse(&pair[0]).ok_or(MessageError::Invalid {
                    command: "REPLIDS",
                    what: "replid",
                })?;
                let end = parse_u64(&pair[1]).ok_or(MessageError::Invalid {
                    command: "REPLIDS",
                    what: "offset",
                })?;
                past.push(PastId {
                    replid,
                    end: Offset(end),
                });
            }
            return Ok(Message::ReplIds(past));
        }
        if is(name, "SNAPSHOT") {
            let [chunk] = rest else {
                return Err(MessageError::Arity("SNAPSHOT"));
            };
            return Ok(Message::Snapshot(chunk.clone()));
        }
        if is(name, "SNAPEND") {
            let [len, crc, first] = rest else {
                return Err(MessageError::Arity("SNAPEND"));
            };
            let invalid = |what| MessageError::Invalid {
                command: "SNAPEND",
                what,
            };
            let len = parse_u64(len).ok_or(invalid("length"))?;
            let crc = parse_u64(crc)
                .filter(|c| *c <= u32::MAX as u64)
                .ok_or(invalid("crc32"))? as u32;
            let backlog_first = Offset(parse_u64(first).ok_or(invalid("offset"))?);
            return Ok(Message::SnapEnd {
                len,
                crc,
                backlog_first,
            });
        }
        if is(name, "RECORD") {
            let [offset, payload] = rest else {
                return Err(MessageError::Arity("RECORD"));
            };
            let offset = parse_u64(offset).ok_or(MessageError::Invalid {
                command: "RECORD",
                what: "offset",
            })?;
            if payload.len() > PAYLOAD_LEN_MAX {
                return Err(MessageError::Invalid {
                    command: "RECORD",
                    what: "payload length",
                });
            }
            return Ok(Message::Record(Record {
                offset: Offset(offset),
                payload: payload.clone(),
            }));
        }
        if is(name, "PING") && rest.is_empty() {
            return Ok(Message::Ping);
        }
        Err(MessageError::Unknown(
            String::from_utf8_lossy(&name[..name.len().min(40)]).into_owned(),
        ))
    }
}

fn parse_status(line: &Bytes) -> Result<Message, MessageError> {
    let text =
        std::str::from_utf8(line).map_err(|_| MessageError::Unknown("non-UTF-8 status".into()))?;
    let mut words = text.split(' ');
    let head = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    match (head, args.as_slice()) {
        ("OK", []) => Ok(Message::Ok),
        ("FULLRESYNC", [replid, offset]) => {
            let invalid = |what| MessageError::Invalid {
                command: "+FULLRESYNC",
                what,
            };
            let replid = ReplId::parse(replid.as_bytes()).ok_or(invalid("replid"))?;
            let offset = parse_u64(offset.as_bytes()).ok_or(invalid("offset"))?;
            Ok(Message::FullResync {
                replid,
                offset: Offset(offset),
            })
        }
        ("CONTINUE", [replid]) => {
            let replid = ReplId::parse(replid.as_bytes()).ok_or(MessageError::Invalid {
                command: "+CONTINUE",
                what: "replid",
            })?;
            Ok(Message::Continue { replid })
        }
        _ => Err(MessageError::Unknown(text.chars().take(40).collect())),
    }
}

/// A canonical decimal u64 (no sign, no leading zeros, no spaces).
fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty()
        || b.len() > 20
        || (b[0] == b'0' && b.len() > 1)
        || !b.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}
