//! Both ends of a sync session wired together through RESP bytes, driving
//! small model shards: a shard's "state" is the list of payloads it applied,
//! its snapshot that list framed as records.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use crate::backlog::Backlog;
use crate::history::History;
use crate::id::{Offset, ReplId};
use crate::message::{Message, PROTOCOL_VERSION};
use crate::psync::{Decision, FullReason, PsyncRequest};
use crate::record::{self, Record};
use crate::session::{
    PrimaryConfig, PrimaryOutput, PrimarySession, ReplicaConfig, ReplicaOutput, ReplicaSession,
    SyncError,
};

/// A model shard: a keyspace that is the list of applied payloads.
#[derive(Clone, Debug)]
struct Shard {
    history: History,
    backlog: Backlog,
    data: Vec<Bytes>,
    /// False for a replica that never loaded anything (asks `PSYNC ? -1`).
    has_data: bool,
}

impl Shard {
    fn new(seed: u64, backlog_bytes: u64) -> Shard {
        Shard {
            history: History::new(ReplId::from_seed(seed)),
            backlog: Backlog::new(backlog_bytes, Offset(0)),
            data: Vec::new(),
            has_data: true,
        }
    }

    fn blank(backlog_bytes: u64) -> Shard {
        Shard {
            has_data: false,
            ..Shard::new(u64::MAX, backlog_bytes)
        }
    }

    fn write(&mut self, payload: &[u8]) {
        self.backlog.append(Bytes::copy_from_slice(payload));
        self.data.push(Bytes::copy_from_slice(payload));
    }

    fn position(&self) -> Option<(ReplId, Offset)> {
        self.has_data
            .then(|| (self.history.current(), self.backlog.current_offset()))
    }

    fn promote(&mut self, seed: u64) {
        self.history
            .promote(ReplId::from_seed(seed), self.backlog.current_offset());
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.data {
            record::encode(p, &mut out);
        }
        out
    }

    fn load(bytes: &[u8]) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (p, n) = record::decode(rest)
                .expect("snapshot intact")
                .expect("whole records");
            out.push(Bytes::copy_from_slice(p));
            rest = &rest[n..];
        }
        out
    }
}

/// What one sync did.
#[derive(Debug, Default)]
struct Outcome {
    decision: Option<Decision>,
    replica_error: Option<SyncError>,
    primary_error: Option<SyncError>,
    acked: Option<Offset>,
    /// Wire bytes primary -> replica.
    bytes_down: usize,
}

/// Encodes a message the way the sender's socket would, and parses it the
/// way the receiver would.
fn to_primary(m: &Message) -> Message {
    let mut buf = BytesMut::new();
    m.encode(&mut buf);
    let args = resp::decode_request(&mut buf, &resp::Limits::default())
        .unwrap()
        .unwrap();
    Message::from_args(&args).unwrap()
}

fn to_replica(m: &Message, bytes_down: &mut usize) -> Message {
    let mut buf = BytesMut::new();
    m.encode(&mut buf);
    *bytes_down += buf.len();
    let frame = resp::decode_frame(&mut buf, &resp::Limits::default())
        .unwrap()
        .unwrap();
    Message::from_frame(&frame).unwrap()
}

/// Connects `replica` to `primary`, runs the session until nothing moves,
/// then lets a second pass of time send an ACK.
fn sync(replica: &mut Shard, primary: &mut Shard, chunk: usize) -> Outcome {
    sync_writing(replica, primary, chunk, 0)
}

/// [`sync`], with the primary writing `writes` records while it takes a
/// snapshot (a snapshot taken in steps is of the offset where it ended).
fn sync_writing(replica: &mut Shard, primary: &mut Shard, chunk: usize, writes: usize) -> Outcome {
    let mut out = Outcome::default();
    let mut now = 1_000;
    let mut rs = ReplicaSession::new(ReplicaConfig::default(), replica.position());
    let mut ps = PrimarySession::new(PrimaryConfig::default(), now);
    let mut up: Vec<Message> = Vec::new();
    let mut down: Vec<Message> = Vec::new();
    let mut snapshot_buf = Vec::new();
    let mut loaded_at = None;
    let mut replica_outputs = rs.start(now);
    for _round in 0..2 {
        loop {
            for o in replica_outputs.drain(..) {
                match o {
                    ReplicaOutput::Send(m) => up.push(to_primary(&m)),
                    ReplicaOutput::FullSyncStarted { .. } => snapshot_buf.clear(),
                    ReplicaOutput::SnapshotChunk(b) => snapshot_buf.extend_from_slice(&b),
                    ReplicaOutput::SnapshotComplete {
                        history,
                        offset,
                        backlog_first,
                    } => {
                        replica.data = Shard::load(&snapshot_buf);
                        replica.history = history;
                        replica.backlog = Backlog::new(replica.backlog.size_max(), backlog_first);
                        replica.has_data = true;
                        loaded_at = Some(offset);
                    }
                    ReplicaOutput::Continued {
                        replid,
                        past,
                        offset,
                    } => {
                        assert_eq!(offset, replica.backlog.current_offset());
                        replica.history.adopt(replid, &past, offset);
                    }
                    ReplicaOutput::Retain(r) => {
                        assert!(
                            r.end() <= loaded_at.expect("retained records come after a snapshot")
                        );
                        assert_eq!(replica.backlog.append(r.payload), r.offset);
                    }
                    ReplicaOutput::Apply(r) => {
                        if let Some(at) = loaded_at {
                            assert!(r.offset >= at);
                        }
                        assert_eq!(replica.backlog.append(r.payload.clone()), r.offset);
                        replica.data.push(r.payload);
                    }
                    ReplicaOutput::Failed(e) => out.replica_error = Some(e),
                }
            }
            let mut primary_outputs = Vec::new();
            for m in up.drain(..) {
                primary_outputs.extend(ps.step(m, &primary.history, &primary.backlog, now));
            }
            primary_outputs.extend(ps.poll(&primary.backlog, 64, now));
            let mut i = 0;
            while i < primary_outputs.len() {
                match primary_outputs[i].clone() {
                    PrimaryOutput::Send(m) => down.push(to_replica(&m, &mut out.bytes_down)),
                    PrimaryOutput::Decided(d) => out.decision = Some(d),
                    PrimaryOutput::TakeSnapshot { offset } => {
                        assert_eq!(offset, primary.backlog.current_offset());
                        writes_during(primary, writes);
                        let at = primary.backlog.current_offset();
                        for o in ps.snapshot_taken(&primary.history, at, now) {
                            let PrimaryOutput::Send(m) = o else {
                                panic!("{o:?}")
                            };
                            down.push(to_replica(&m, &mut out.bytes_down));
                        }
                        for c in primary.snapshot().chunks(chunk) {
                            down.push(to_replica(
                                &ps.snapshot_chunk(Bytes::copy_from_slice(c)),
                                &mut out.bytes_down,
                            ));
                        }
                        let end = ps.snapshot_end(&primary.backlog, now);
                        primary_outputs.extend(end);
                    }
                    PrimaryOutput::Acked(o) => out.acked = Some(o),
                    PrimaryOutput::Failed(e) => out.primary_error = Some(e),
                }
                i += 1;
            }
            if down.is_empty() && replica_outputs.is_empty() {
                break;
            }
            for m in down.drain(..) {
                replica_outputs.extend(rs.step(m, now));
            }
        }
        now += 1_000;
        replica_outputs = rs.tick(now);
        ps.tick(now);
    }
    out
}

fn writes_during(primary: &mut Shard, n: usize) {
    for i in 0..n {
        primary.write(format!("during-{i}").as_bytes());
    }
}

#[test]
fn full_sync_of_a_snapshot_taken_while_writing() {
    let mut p = Shard::new(1, 1 << 20);
    writes(&mut p, 20, "a");
    let mut r = Shard::blank(1 << 20);
    let out = sync_writing(&mut r, &mut p, 16, 5);
    let Some(Decision::FullResync { offset, .. }) = out.decision else {
        panic!("{out:?}")
    };
    // Decided at the offset before the writes; the snapshot and the
    // replica are at the offset after them.
    assert!(offset < p.backlog.current_offset());
    assert_same(&r, &p);
    assert_eq!(out.acked, Some(p.backlog.current_offset()));
    assert_eq!((out.replica_error, out.primary_error), (None, None));
}

fn assert_same(replica: &Shard, primary: &Shard) {
    assert_eq!(replica.data, primary.data, "replica data differs");
    assert_eq!(replica.history, primary.history, "replica history differs");
    assert_eq!(
        replica.backlog.current_offset(),
        primary.backlog.current_offset()
    );
}

fn writes(shard: &mut Shard, n: usize, tag: &str) {
    for i in 0..n {
        shard.write(format!("{tag}-{i}").as_bytes());
    }
}

fn is_full(d: &Option<Decision>) -> Option<FullReason> {
    match d {
        Some(Decision::FullResync { reason, .. }) => Some(*reason),
        _ => None,
    }
}

#[test]
fn blank_replica_full_syncs_and_gets_the_backlog_too() {
    let mut p = Shard::new(1, 1 << 20);
    writes(&mut p, 20, "w");
    let mut r = Shard::blank(1 << 20);
    let out = sync(&mut r, &mut p, 7);
    assert_eq!(is_full(&out.decision), Some(FullReason::Requested));
    assert_eq!((out.replica_error, out.primary_error), (None, None));
    assert_same(&r, &p);
    // The shipped backlog lets the replica serve the same partial syncs.
    assert_eq!(r.backlog.first_offset(), p.backlog.first_offset());
    let a: Vec<Record> = r
        .backlog
        .read_from(r.backlog.first_offset())
        .unwrap()
        .collect();
    let b: Vec<Record> = p
        .backlog
        .read_from(p.backlog.first_offset())
        .unwrap()
        .collect();
    assert_eq!(a, b);
    assert_eq!(out.acked, Some(p.backlog.current_offset()));
}

#[test]
fn reconnecting_replica_continues() {
    let mut p = Shard::new(1, 1 << 20);
    writes(&mut p, 5, "a");
    let mut r = Shard::blank(1 << 20);
    sync(&mut r, &mut p, 100);
    writes(&mut p, 7, "b");
    let out = sync(&mut r, &mut p, 100);
    assert!(
        matches!(out.decision, Some(Decision::Continue { .. })),
        "{out:?}"
    );
    assert_same(&r, &p);
    // Up to date: continues with nothing to send.
    let out = sync(&mut r, &mut p, 100);
    assert_eq!(
        out.decision,
        Some(Decision::Continue {
            from: p.backlog.current_offset()
        })
    );
}

#[test]
fn replica_too_far_behind_full_syncs() {
    let mut p = Shard::new(1, 200);
    writes(&mut p, 3, "a");
    let mut r = Shard::blank(200);
    sync(&mut r, &mut p, 100);
    writes(&mut p, 50, "b");
    let out = sync(&mut r, &mut p, 100);
    assert!(
        matches!(is_full(&out.decision), Some(FullReason::Trimmed { .. })),
        "{out:?}"
    );
    assert_same(&r, &p);
}

/// The five situations of the Active-Active documentation that must use
/// partial sync, played on model shards.
#[test]
fn failover_and_migrations_use_partial_sync() {
    let mut p = Shard::new(1, 1 << 20);
    let mut r1 = Shard::blank(1 << 20);
    let mut r2 = Shard::blank(1 << 20);
    writes(&mut p, 10, "p");
    sync(&mut r1, &mut p, 50);
    sync(&mut r2, &mut p, 50);
    writes(&mut p, 5, "p2");
    sync(&mut r1, &mut p, 50); // r2 lags behind

    // 1. Failover of the primary to a replica: r1 takes over, r2 follows it.
    r1.promote(101);
    writes(&mut r1, 4, "r1");
    let out = sync(&mut r2, &mut r1, 50);
    assert!(
        matches!(out.decision, Some(Decision::Continue { .. })),
        "{out:?}"
    );
    assert_same(&r2, &r1);

    // 2. Restart of a replica (it kept its data and position).
    writes(&mut r1, 3, "r1b");
    let mut r2_restarted = r2.clone();
    let out = sync(&mut r2_restarted, &mut r1, 50);
    assert!(matches!(out.decision, Some(Decision::Continue { .. })));
    assert_same(&r2_restarted, &r1);

    // 3. Migration of a replica to another node: same as a restart elsewhere.
    let mut r2_moved = r2_restarted.clone();
    writes(&mut r1, 2, "r1c");
    let out = sync(&mut r2_moved, &mut r1, 50);
    assert!(matches!(out.decision, Some(Decision::Continue { .. })));

    // 4. Migration of the primary as a replica: the old primary p (no
    // writes after r1 last synced from it) becomes r1's replica.
    let out = sync(&mut p, &mut r1, 50);
    assert!(
        matches!(out.decision, Some(Decision::Continue { .. })),
        "{out:?}"
    );
    assert_same(&p, &r1);

    // 5. Preserving roles: a second failover returns the primary role to p;
    // r1 and r2 follow it with partial syncs (r1's id is in p's history).
    p.promote(102);
    writes(&mut p, 3, "p3");
    for r in [&mut r1, &mut r2_moved] {
        let out = sync(r, &mut p, 50);
        assert!(
            matches!(out.decision, Some(Decision::Continue { .. })),
            "{out:?}"
        );
        assert_same(r, &p);
    }
    // r2 has been offline since before both failovers: three ids back.
    let out = sync(&mut r2, &mut p, 50);
    assert!(
        matches!(out.decision, Some(Decision::Continue { .. })),
        "{out:?}"
    );
    assert_same(&r2, &p);
}

#[test]
fn old_primary_with_unreplicated_writes_full_syncs() {
    let mut p = Shard::new(1, 1 << 20);
    let mut r = Shard::blank(1 << 20);
    writes(&mut p, 4, "a");
    sync(&mut r, &mut p, 50);
    writes(&mut p, 2, "lost"); // never reached r
    r.promote(2);
    writes(&mut r, 1, "r");
    let out = sync(&mut p, &mut r, 50);
    assert!(
        matches!(is_full(&out.decision), Some(FullReason::PastIdEnded { .. })),
        "{out:?}"
    );
    assert_same(&p, &r);
    assert!(!p.data.iter().any(|d| d.starts_with(b"lost")));
}

#[test]
fn protocol_mismatch_is_a_clear_fatal_error_on_both_ends() {
    let history = History::new(
        ReplicaConfig::default()
            .auth
            .map_or(ReplId::from_seed(1), |_| unreachable!()),
    );
    let backlog = Backlog::new(100, Offset(0));
    let mut ps = PrimarySession::new(PrimaryConfig::default(), 0);
    let out = ps.step(
        Message::Protocol(PROTOCOL_VERSION + 1),
        &history,
        &backlog,
        0,
    );
    let text = "ERR concord-protocol 2 is not supported (this primary speaks 1)";
    assert_eq!(
        out,
        vec![
            PrimaryOutput::Send(Message::Error(Bytes::from(text))),
            PrimaryOutput::Failed(SyncError::IncompatibleProtocol(text.into())),
        ]
    );
    // The replica side, against a primary that refuses (or a plain Redis).
    let mut rs = ReplicaSession::new(ReplicaConfig::default(), None);
    assert_eq!(rs.start(0), vec![ReplicaOutput::Send(Message::Protocol(1))]);
    let out = rs.step(
        Message::Error(Bytes::from_static(
            b"ERR Unrecognized REPLCONF option: concord-protocol",
        )),
        1,
    );
    let [ReplicaOutput::Failed(e)] = &out[..] else {
        panic!("{out:?}")
    };
    assert!(e.is_fatal());
    assert_eq!(
        e.to_string(),
        "incompatible replication protocol: ERR Unrecognized REPLCONF option: concord-protocol"
    );
    // PSYNC before the handshake is refused too.
    let mut ps = PrimarySession::new(PrimaryConfig::default(), 0);
    let out = ps.step(
        Message::Psync(PsyncRequest {
            replid: None,
            offset: None,
        }),
        &history,
        &backlog,
        0,
    );
    assert!(matches!(
        out.last(),
        Some(PrimaryOutput::Failed(SyncError::Unexpected { .. }))
    ));
}

#[test]
fn auth_comes_first_and_a_refusal_is_fatal() {
    let config = ReplicaConfig {
        auth: Some((Bytes::from_static(b"syncer"), Bytes::from_static(b"pw"))),
        ..ReplicaConfig::default()
    };
    let mut rs = ReplicaSession::new(config.clone(), None);
    assert!(matches!(
        &rs.start(0)[..],
        [ReplicaOutput::Send(Message::Auth { .. })]
    ));
    assert_eq!(
        rs.step(Message::Ok, 1),
        vec![ReplicaOutput::Send(Message::Protocol(PROTOCOL_VERSION))]
    );
    let mut rs = ReplicaSession::new(config, None);
    rs.start(0);
    let out = rs.step(
        Message::Error(Bytes::from_static(
            b"WRONGPASS invalid username-password pair",
        )),
        1,
    );
    assert!(
        matches!(&out[..], [ReplicaOutput::Failed(e @ SyncError::AuthRefused(_))] if e.is_fatal())
    );
}

fn streaming_replica(at: Offset) -> ReplicaSession {
    let mut rs = ReplicaSession::new(ReplicaConfig::default(), Some((ReplId::from_seed(1), at)));
    rs.start(0);
    rs.step(Message::Ok, 0);
    rs.step(
        Message::Continue {
            replid: ReplId::from_seed(1),
        },
        0,
    );
    rs.step(Message::ReplIds(vec![]), 0);
    assert!(rs.is_streaming());
    rs
}

#[test]
fn replica_checks_every_record_offset() {
    let mut rs = streaming_replica(Offset(100));
    let r = Record {
        offset: Offset(100),
        payload: Bytes::from_static(b"ok"),
    };
    assert_eq!(
        rs.step(Message::Record(r.clone()), 1),
        vec![ReplicaOutput::Apply(r)]
    );
    assert_eq!(rs.position(), Some((ReplId::from_seed(1), Offset(110))));
    let skip = Record {
        offset: Offset(120),
        payload: Bytes::from_static(b"gap"),
    };
    assert_eq!(
        rs.step(Message::Record(skip), 2),
        vec![ReplicaOutput::Failed(SyncError::OffsetMismatch {
            expected: Offset(110),
            got: Offset(120)
        })]
    );
    assert_eq!(
        rs.step(Message::Ping, 3),
        vec![],
        "a failed session ignores everything"
    );
}

#[test]
fn replica_acks_periodically_and_times_out() {
    let mut rs = streaming_replica(Offset(40));
    assert_eq!(rs.tick(500), vec![]);
    assert_eq!(
        rs.tick(1_000),
        vec![ReplicaOutput::Send(Message::Ack(Offset(40)))]
    );
    assert_eq!(rs.tick(1_500), vec![]);
    rs.step(Message::Ping, 50_000);
    assert_eq!(
        rs.tick(50_000 + 60_000),
        vec![ReplicaOutput::Send(Message::Ack(Offset(40)))]
    );
    let out = rs.tick(50_000 + 60_001);
    assert!(
        matches!(
            &out[..],
            [ReplicaOutput::Failed(SyncError::Timeout {
                elapsed_ms: 60_001,
                ..
            })]
        ),
        "{out:?}"
    );
}

#[test]
fn primary_pings_when_idle_checks_acks_and_times_out() {
    let history = History::new(ReplId::from_seed(1));
    let mut backlog = Backlog::new(1000, Offset(0));
    backlog.append(Bytes::from_static(b"x"));
    let mut ps = PrimarySession::new(PrimaryConfig::default(), 0);
    ps.step(Message::Protocol(1), &history, &backlog, 0);
    let req = PsyncRequest {
        replid: Some(history.current()),
        offset: Some(Offset(0)),
    };
    ps.step(Message::Psync(req), &history, &backlog, 0);
    assert_eq!(ps.poll(&backlog, 1, 0).len(), 1);
    assert_eq!(ps.tick(9_999), vec![]);
    assert_eq!(ps.tick(10_000), vec![PrimaryOutput::Send(Message::Ping)]);
    assert_eq!(
        ps.step(Message::Ack(Offset(9)), &history, &backlog, 20_000),
        vec![PrimaryOutput::Acked(Offset(9))]
    );
    assert_eq!(ps.acked(), Offset(9));
    let out = ps.step(Message::Ack(Offset(10)), &history, &backlog, 20_001);
    assert_eq!(
        out,
        vec![PrimaryOutput::Failed(SyncError::AckBeyondSent {
            acked: Offset(10),
            sent: Offset(9)
        })]
    );

    let mut ps = PrimarySession::new(PrimaryConfig::default(), 0);
    ps.step(Message::Protocol(1), &history, &backlog, 0);
    let out = ps.tick(60_001);
    assert!(
        matches!(&out[..], [PrimaryOutput::Failed(SyncError::Timeout { .. })]),
        "{out:?}"
    );
}

#[test]
fn primary_fails_a_replica_that_fell_out_of_the_backlog() {
    let history = History::new(ReplId::from_seed(1));
    let mut backlog = Backlog::new(30, Offset(0));
    backlog.append(Bytes::from_static(b"ab"));
    let mut ps = PrimarySession::new(PrimaryConfig::default(), 0);
    ps.step(Message::Protocol(1), &history, &backlog, 0);
    ps.step(
        Message::Psync(PsyncRequest {
            replid: Some(history.current()),
            offset: Some(Offset(0)),
        }),
        &history,
        &backlog,
        0,
    );
    for _ in 0..5 {
        backlog.append(Bytes::from_static(b"cd"));
    }
    let out = ps.poll(&backlog, 1 << 20, 1);
    assert_eq!(
        out,
        vec![PrimaryOutput::Failed(SyncError::BacklogOverrun {
            next: Offset(0),
            first: Offset(30)
        })]
    );
}

#[test]
fn damaged_snapshot_is_refused() {
    let mut rs = ReplicaSession::new(ReplicaConfig::default(), None);
    rs.start(0);
    rs.step(Message::Ok, 0);
    rs.step(
        Message::FullResync {
            replid: ReplId::from_seed(3),
            offset: Offset(10),
        },
        0,
    );
    rs.step(Message::ReplIds(vec![]), 0);
    rs.step(Message::Snapshot(Bytes::from_static(b"abc")), 0);
    let crc = crc32fast::hash(b"abd");
    let out = rs.step(
        Message::SnapEnd {
            len: 3,
            crc,
            backlog_first: Offset(10),
        },
        0,
    );
    assert!(
        matches!(
            &out[..],
            [ReplicaOutput::Failed(SyncError::SnapshotCorrupt { .. })]
        ),
        "{out:?}"
    );
}

#[test]
fn snapshot_over_the_limit_is_refused() {
    let config = ReplicaConfig {
        snapshot_bytes_max: 4,
        ..ReplicaConfig::default()
    };
    let mut rs = ReplicaSession::new(config, None);
    rs.start(0);
    rs.step(Message::Ok, 0);
    rs.step(
        Message::FullResync {
            replid: ReplId::from_seed(3),
            offset: Offset(10),
        },
        0,
    );
    rs.step(Message::ReplIds(vec![]), 0);
    assert_eq!(
        rs.step(Message::Snapshot(Bytes::from_static(b"abcd")), 0)
            .len(),
        1
    );
    let out = rs.step(Message::Snapshot(Bytes::from_static(b"e")), 0);
    assert_eq!(
        out,
        vec![ReplicaOutput::Failed(SyncError::SnapshotTooLarge {
            max: 4
        })]
    );
}

#[test]
fn unexpected_messages_end_the_session() {
    let mut rs = ReplicaSession::new(ReplicaConfig::default(), None);
    rs.start(0);
    let out = rs.step(
        Message::Record(Record {
            offset: Offset(0),
            payload: Bytes::new(),
        }),
        0,
    );
    assert!(matches!(
        &out[..],
        [ReplicaOutput::Failed(SyncError::Unexpected { .. })]
    ));
    // +CONTINUE to a replica that asked for a full sync is a primary bug.
    let mut rs = ReplicaSession::new(ReplicaConfig::default(), None);
    rs.start(0);
    rs.step(Message::Ok, 0);
    let out = rs.step(
        Message::Continue {
            replid: ReplId::from_seed(1),
        },
        0,
    );
    assert!(matches!(
        &out[..],
        [ReplicaOutput::Failed(SyncError::Unexpected { .. })]
    ));
}

#[derive(Clone, Debug)]
enum Act {
    Write(u8),
    Sync {
        replica: usize,
    },
    /// The shard at this index becomes the primary (the others follow it).
    Failover(usize),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => (1u8..40).prop_map(Act::Write),
        4 => (0usize..3).prop_map(|replica| Act::Sync { replica }),
        1 => (0usize..3).prop_map(Act::Failover),
    ]
}

proptest! {
    /// Three shards, random writes on the primary, random syncs (replicas
    /// may lag arbitrarily) and failovers: every sync leaves the replica
    /// identical to its primary, and a partial sync is used whenever the
    /// replica's whole stream is a prefix of the primary's still in the
    /// backlog (the primary's history only ever records true prefixes).
    #[test]
    fn random_failovers_keep_replicas_identical(
        acts in proptest::collection::vec(act(), 1..60),
        backlog_bytes in 40u64..2_000,
        chunk in 1usize..64,
    ) {
        let mut shards = [Shard::new(1, backlog_bytes), Shard::blank(backlog_bytes), Shard::blank(backlog_bytes)];
        let mut primary = 0;
        let mut seed = 100;
        for a in acts {
            match a {
                Act::Write(n) => shards[primary].write(&vec![n; n as usize]),
                Act::Sync { replica } if replica == primary => {}
                Act::Sync { replica } => {
                    let mut p = shards[primary].clone();
                    let r = &mut shards[replica];
                    let prefix = r.has_data
                        && r.data.len() <= p.data.len()
                        && r.data[..] == p.data[..r.data.len()]
                        && r.backlog.current_offset() >= p.backlog.first_offset();
                    let same_id = r.has_data
                        && r.history.current() == p.history.current()
                        && p.backlog.is_boundary(r.backlog.current_offset())
                        && r.backlog.current_offset() >= p.backlog.first_offset();
                    let out = sync(r, &mut p, chunk);
                    prop_assert_eq!(&out.replica_error, &None);
                    prop_assert_eq!(&out.primary_error, &None);
                    prop_assert_eq!(&r.data, &p.data);
                    prop_assert_eq!(r.backlog.current_offset(), p.backlog.current_offset());
                    if let Some(Decision::Continue { .. }) = out.decision {
                        prop_assert!(prefix, "a partial sync was accepted for a replica that diverged");
                    } else {
                        prop_assert!(!same_id, "a replica on the primary's id was refused: {:?}", out.decision);
                    }
                    shards[primary] = p;
                }
                Act::Failover(next) => {
                    if shards[next].has_data && next != primary {
                        seed += 1;
                        shards[next].promote(seed);
                        primary = next;
                    }
                }
            }
        }
    }
}

/// The worked example of docs/replication.md, offset for offset.
#[test]
fn worked_example_of_the_docs() {
    let mut p = Shard::new(1, 1 << 20);
    for len in [20, 30, 10] {
        p.write(&vec![b'p'; len]);
    }
    assert_eq!(p.backlog.current_offset(), Offset(84));
    let records: Vec<Offset> = p
        .backlog
        .read_from(Offset(0))
        .unwrap()
        .map(|r| r.offset)
        .collect();
    assert_eq!(records, [Offset(0), Offset(28), Offset(66)]);
    let snapshot_at = |upto: usize| {
        let mut s = p.clone();
        s.data.truncate(upto);
        s.backlog = Backlog::new(1 << 20, Offset(0));
        for d in &p.data[..upto] {
            s.backlog.append(d.clone());
        }
        s
    };
    let mut r = snapshot_at(2);
    let mut t = snapshot_at(1);
    assert_eq!(
        (r.backlog.current_offset(), t.backlog.current_offset()),
        (Offset(66), Offset(28))
    );

    r.promote(2);
    assert_eq!(
        r.history.lookup(p.history.current()),
        crate::history::Known::Past(Offset(66))
    );
    r.write(&[b'r'; 12]);
    assert_eq!(r.backlog.current_offset(), Offset(86));

    let out = sync(&mut t, &mut r, 64);
    assert_eq!(out.decision, Some(Decision::Continue { from: Offset(28) }));
    assert_same(&t, &r);
    assert_eq!(t.backlog.current_offset(), Offset(86));

    let out = sync(&mut p, &mut r, 64);
    let Some(Decision::FullResync {
        replid,
        offset,
        reason,
    }) = out.decision
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (replid, offset, reason),
        (
            r.history.current(),
            Offset(86),
            FullReason::PastIdEnded { end: Offset(66) }
        )
    );
    assert_same(&p, &r);
}
