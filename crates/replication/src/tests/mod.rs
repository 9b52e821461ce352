//! Tests of the replication crate: the PSYNC table (testdata/psync.txt),
//! backlog and history units and properties, the RESP form of messages,
//! both session ends wired together, and the log on real temporary files.

mod backlog;
mod history;
mod log;
mod message;
mod psync;
mod session;

use bytes::Bytes;

use crate::id::ReplId;

/// The replication id a letter stands for in tables.
pub fn id(letter: &str) -> ReplId {
    assert!(
        letter.len() == 1 && letter.as_bytes()[0].is_ascii_uppercase(),
        "ids are capital letters: {letter}"
    );
    ReplId::from_seed(letter.as_bytes()[0] as u64)
}

/// A payload whose framed record is `framed` bytes long.
pub fn payload_of_framed(framed: u64, fill: u8) -> Bytes {
    assert!(
        framed >= 8,
        "a framed record has at least its 8 header bytes"
    );
    Bytes::from(vec![fill; framed as usize - 8])
}

/// The crate stays pure (ARCHITECTURE.md, STYLE.md section 2): its only
/// dependencies are these, never tokio or a workspace crate above L0.
#[test]
fn dependencies_stay_pure() {
    let manifest = include_str!("../../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table");
    let deps = deps.split("\n[").next().unwrap_or_default();
    let names: Vec<&str> = deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split(['=', '.']).next().map(str::trim))
        .collect();
    assert_eq!(
        names,
        ["resp", "bytes", "thiserror", "crc32fast"],
        "justify any new dependency in the crate docs"
    );
}
