//! Where the keyspace's bytes go: struct sizes and jemalloc's allocated
//! bytes per key for the data sets of scripts/bench-memory.sh (and sorted sets), built
//! directly in a `crdt::Db` (no server, no backlog) with effects from three
//! origins, as in a 3-instance database.
//!
//!   cargo run --release -p concord --example mem_layout [keys] [objects]

use crdt::{Db, Dot, Effect, Hlc, InstanceId, Op, VersionVector};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn allocated() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
}

/// Applies `op` as the next effect of `origin` (origins 1..=3 take turns).
struct Writer {
    db: Db,
    seqs: [u64; 4],
    wall: u64,
}

impl Writer {
    fn apply(&mut self, origin: u16, op: Op) {
        self.seqs[origin as usize] += 1;
        self.wall += 1;
        let e = Effect { dot: Dot::new(origin, self.seqs[origin as usize]), hlc: Hlc::from_ms(self.wall), op };
        self.db.apply(&e);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let keys: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let objects: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    println!("size_of: Entry {}, Value {}, Fields {}, Cell {}, Version {}, Blob {}, Dot {}, Tag {}, key+Entry slot {}",
        std::mem::size_of::<crdt::Entry>(),
        std::mem::size_of::<crdt::Value>(),
        std::mem::size_of::<crdt::Fields>(),
        std::mem::size_of::<crdt::Cell>(),
        std::mem::size_of::<crdt::cell::Version>(),
        std::mem::size_of::<crdt::Blob>(),
        std::mem::size_of::<Dot>(),
        std::mem::size_of::<crdt::Tag>(),
        std::mem::size_of::<(crdt::db::Key, crdt::Entry)>(),
    );
    let mut db = Db::new(InstanceId(1));
    db.set_members(&[InstanceId(1), InstanceId(2), InstanceId(3)]);
    let mut w = Writer { db, seqs: [0; 4], wall: 1_700_000_000_000 };
    let empty = VersionVector::new;

    let a0 = allocated();
    for i in 0..keys {
        let key = format!("key:{i:07}").into_bytes().into();
        let value = format!("{i:08}").into_bytes().into();
        w.apply((i % 3) as u16 + 1, Op::Set { key, ctx: empty(), value, keep_ttl: false });
    }
    let a1 = allocated();
    println!("strings: {keys} keys, {:.1} B/key (keyspace {:.1} B/key: room for {} entries for {})",
        (a1 - a0) as f64 / keys as f64, w.db.entries.allocation_size() as f64 / keys as f64,
        w.db.entries.capacity(), w.db.entries.len());

    for o in 0..objects {
        for j in 0..100u64 {
            let key = format!("set:{o:05}").into_bytes().into();
            let member = format!("member:{j:03}").into_bytes().into();
            w.apply((j % 3) as u16 + 1, Op::SAdd { key, member, ctx: empty() });
        }
    }
    let a2 = allocated();
    println!("sets: {objects} x 100, {:.1} B/member", (a2 - a1) as f64 / (objects * 100) as f64);

    for o in 0..objects {
        for j in 0..100u64 {
            let key = format!("hash:{o:05}").into_bytes().into();
            let field = format!("field:{j:03}").into_bytes().into();
            let value = format!("{:08}", o * 100 + j).into_bytes().into();
            w.apply((j % 3) as u16 + 1, Op::HSet { key, field, ctx: empty(), value });
        }
    }
    let a3 = allocated();
    println!("hashes: {objects} x 100, {:.1} B/member", (a3 - a2) as f64 / (objects * 100) as f64);
    if let Some(crdt::Value::Hash(crdt::Fields::Packed(p))) = w.db.get(b"hash:00000").and_then(|e| e.value.as_ref()) {
        println!("  packed: {} bytes of records for 100 fields (hash:00000)", p.bytes());
    }

    for o in 0..objects {
        for j in 0..100u64 {
            let key = format!("zset:{o:05}").into_bytes().into();
            let member = format!("member:{j:03}").into_bytes().into();
            w.apply((j % 3) as u16 + 1, Op::ZAdd { key, member, ctx: empty(), score: (o * 100 + j) as f64 });
        }
    }
    let a4 = allocated();
    println!("sorted sets: {objects} x 100, {:.1} B/member", (a4 - a3) as f64 / (objects * 100) as f64);
}
