//! COMMAND INFO and COMMAND DOCS replies built from the table.
//!
//! The frames use the RESP3 types Redis 7.0 uses (sets for flags, maps for
//! key specs and docs); the `resp` encoder flattens them for RESP2 clients
//! the way Redis does. Field order and the rules for omitting absent fields
//! follow `addReplyCommandInfo`, `addReplyCommandKeySpecs`,
//! `addReplyCommandDocs` and `addReplyCommandArgList` in Redis's server.c.
//! `testdata/command_info.txt` and `testdata/command_docs.txt` hold the real
//! server's replies and the tests compare every entry.

use bytes::Bytes;
use resp::Frame;

use crate::spec::{Arg, ArgKind, BeginSearch, CommandSpec, FindKeys, KeySpec};

fn bulk(s: &'static str) -> Frame {
    Frame::Bulk(Bytes::from_static(s.as_bytes()))
}

fn simple(s: &'static str) -> Frame {
    Frame::Simple(Bytes::from_static(s.as_bytes()))
}

fn int(n: i32) -> Frame {
    Frame::Integer(i64::from(n))
}

fn simple_set(items: &'static [&'static str]) -> Frame {
    Frame::Set(items.iter().map(|s| simple(s)).collect())
}

/// Returns the COMMAND INFO entry of one command: a 10-element array of
/// name, arity, flags, first key, last key, step, ACL categories, tips, key
/// specs and subcommands (an empty set when there are none, as in Redis).
pub fn command_info_reply(spec: &CommandSpec) -> Frame {
    let subcommands = if spec.subcommands.is_empty() {
        Frame::Set(Vec::new())
    } else {
        Frame::Array(spec.subcommands.iter().map(command_info_reply).collect())
    };
    Frame::Array(vec![
        bulk(spec.name),
        int(spec.arity),
        simple_set(spec.flags),
        int(spec.first_key),
        int(spec.last_key),
        int(spec.step),
        simple_set(spec.acl_categories),
        Frame::Set(spec.tips.iter().map(|t| bulk(t)).collect()),
        Frame::Set(spec.key_specs.iter().map(key_spec_reply).collect()),
        subcommands,
    ])
}

fn key_spec_reply(key_spec: &KeySpec) -> Frame {
    let mut fields = Vec::with_capacity(4);
    if let Some(notes) = key_spec.notes {
        fields.push((bulk("notes"), bulk(notes)));
    }
    fields.push((bulk("flags"), simple_set(key_spec.flags)));
    let (begin_type, begin_spec) = match key_spec.begin_search {
        BeginSearch::Index(index) => ("index", vec![(bulk("index"), int(index))]),
        BeginSearch::Keyword { keyword, startfrom } => (
            "keyword",
            vec![
                (bulk("keyword"), bulk(keyword)),
                (bulk("startfrom"), int(startfrom)),
            ],
        ),
        BeginSearch::Unknown => ("unknown", Vec::new()),
    };
    fields.push((
        bulk("begin_search"),
        Frame::Map(vec![
            (bulk("type"), bulk(begin_type)),
            (bulk("spec"), Frame::Map(begin_spec)),
        ]),
    ));
    let (find_type, find_spec) = match key_spec.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => (
            "range",
            vec![
                (bulk("lastkey"), int(lastkey)),
                (bulk("keystep"), int(keystep)),
                (bulk("limit"), int(limit)),
            ],
        ),
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => (
            "keynum",
            vec![
                (bulk("keynumidx"), int(keynumidx)),
                (bulk("firstkey"), int(firstkey)),
                (bulk("keystep"), int(keystep)),
            ],
        ),
        FindKeys::Unknown => ("unknown", Vec::new()),
    };
    fields.push((
        bulk("find_keys"),
        Frame::Map(vec![
            (bulk("type"), bulk(find_type)),
            (bulk("spec"), Frame::Map(find_spec)),
        ]),
    ));
    Frame::Map(fields)
}

/// Returns the documentation map of one command, the value COMMAND DOCS
/// pairs with the command's name (see [`command_docs_entry`]).
pub fn command_docs_reply(spec: &CommandSpec) -> Frame {
    let mut fields = Vec::with_capacity(10);
    if let Some(summary) = spec.summary {
        fields.push((bulk("summary"), bulk(summary)));
    }
    if let Some(since) = spec.since {
        fields.push((bulk("since"), bulk(since)));
    }
    fields.push((bulk("group"), bulk(spec.group)));
    if let Some(complexity) = spec.complexity {
        fields.push((bulk("complexity"), bulk(complexity)));
    }
    if !spec.doc_flags.is_empty() {
        fields.push((bulk("doc_flags"), simple_set(spec.doc_flags)));
    }
    if let Some(deprecated_since) = spec.deprecated_since {
        fields.push((bulk("deprecated_since"), bulk(deprecated_since)));
    }
    if let Some(replaced_by) = spec.replaced_by {
        fields.push((bulk("replaced_by"), bulk(replaced_by)));
    }
    if !spec.history.is_empty() {
        let history = spec
            .history
            .iter()
            .map(|(version, text)| Frame::Array(vec![bulk(version), bulk(text)]))
            .collect();
        fields.push((bulk("history"), Frame::Set(history)));
    }
    if !spec.arguments.is_empty() {
        fields.push((bulk("arguments"), args_reply(spec.arguments)));
    }
    if !spec.subcommands.is_empty() {
        let subcommands = spec.subcommands.iter().map(command_docs_entry).collect();
        fields.push((bulk("subcommands"), Frame::Map(subcommands)));
    }
    Frame::Map(fields)
}

/// Returns one `name => docs` pair of the COMMAND DOCS map.
pub fn command_docs_entry(spec: &CommandSpec) -> (Frame, Frame) {
    (bulk(spec.name), command_docs_reply(spec))
}

fn args_reply(args: &'static [Arg]) -> Frame {
    Frame::Array(args.iter().map(arg_reply).collect())
}

fn arg_reply(arg: &'static Arg) -> Frame {
    let mut fields = vec![
        (bulk("name"), bulk(arg.name)),
        (bulk("type"), bulk(arg.kind.as_str())),
    ];
    if arg.key_spec_index != -1 {
        fields.push((bulk("key_spec_index"), int(arg.key_spec_index)));
    }
    let optional = [
        ("token", arg.token),
        ("summary", arg.summary),
        ("since", arg.since),
        ("deprecated_since", arg.deprecated_since),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            fields.push((bulk(name), bulk(value)));
        }
    }
    if !arg.flags.is_empty() {
        fields.push((bulk("flags"), simple_set(arg.flags)));
    }
    if matches!(arg.kind, ArgKind::Oneof | ArgKind::Block) {
        fields.push((bulk("arguments"), args_reply(arg.arguments)));
    }
    Frame::Map(fields)
}
