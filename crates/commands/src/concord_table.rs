//! Hand-written Concord-only commands (CRDT and cluster internals).
//!
//! Entries sit beside the generated Redis table (`table.rs`) and are found by
//! the same `lookup`. Keep this slice sorted by name (byte order) and use
//! names Redis does not have; the `concord_table_sorted_and_disjoint` test
//! checks both. Start each entry from `CommandSpec::DEFAULT`:
//!
//! ```
//! use commands::{BeginSearch, CommandSpec, FindKeys, KeySpec};
//! static MERGE: CommandSpec = CommandSpec {
//!     name: "crdt.merge",
//!     arity: -3,
//!     flags: &["write", "denyoom"],
//!     first_key: 1,
//!     last_key: 1,
//!     step: 1,
//!     key_specs: &[KeySpec {
//!         notes: None,
//!         flags: &["RW", "update"],
//!         begin_search: BeginSearch::Index(1),
//!         find_keys: FindKeys::Range { lastkey: 0, keystep: 1, limit: 0 },
//!     }],
//!     acl_categories: &["@write", "@slow"],
//!     summary: Some("Merge a remote CRDT state into a key"),
//!     ..CommandSpec::DEFAULT
//! };
//! let args: [&[u8]; 3] = [b"crdt.merge", b"k", b"state"];
//! assert_eq!(commands::key_positions(&MERGE, &args), vec![1]);
//! ```

use crate::spec::CommandSpec;

/// Concord-only commands, sorted by name.
pub static CONCORD_COMMANDS: &[CommandSpec] = &[];
