//! Tests of the command table, key positions, replies, errors, glob matching
//! and CONFIG parameters.
//!
//! The `testdata/*.txt` fixtures were recorded from a live redis-server
//! 7.0.15 by the scripts in `gen/`; each data-driven test replays every line
//! and reports all mismatches at once.

use bytes::Bytes;
use resp::Frame;

use crate::config_params::{self, Kind};
use crate::*;

fn args(line: &str) -> Vec<&[u8]> {
    line.split(' ').map(str::as_bytes).collect()
}

/// Fixture lines without comments.
fn fixture(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
}

fn check_all(mismatches: Vec<String>) {
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The table.

#[test]
fn table_is_sorted_lowercase_and_complete() {
    let names: Vec<&str> = REDIS_COMMANDS.iter().map(|c| c.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "REDIS_COMMANDS must be sorted and unique");
    for spec in all() {
        assert_eq!(spec.name, spec.name.to_ascii_lowercase());
        assert!(!spec.is_subcommand(), "{}", spec.name);
        for sub in spec.subcommands {
            assert!(
                sub.name.starts_with(&format!("{}|", spec.name)),
                "{}",
                sub.name
            );
            assert!(sub.subcommands.is_empty());
        }
    }
    assert_eq!(REDIS_COMMANDS.len(), 223);
}

#[test]
fn concord_table_sorted_and_disjoint() {
    let names: Vec<&str> = CONCORD_COMMANDS.iter().map(|c| c.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "CONCORD_COMMANDS must be sorted and unique");
    for name in names {
        assert!(
            REDIS_COMMANDS.iter().all(|c| c.name != name),
            "{name} is also a Redis command"
        );
    }
}

#[test]
fn flags_are_known() {
    const FLAGS: &[&str] = &[
        "write",
        "readonly",
        "denyoom",
        "module",
        "admin",
        "pubsub",
        "noscript",
        "blocking",
        "loading",
        "stale",
        "skip_monitor",
        "skip_slowlog",
        "asking",
        "fast",
        "no_auth",
        "may_replicate",
        "sentinel",
        "only_sentinel",
        "no_mandatory_keys",
        "protected",
        "module_getkeys",
        "module_no_cluster",
        "no_async_loading",
        "no_multi",
        "movablekeys",
        "allow_busy",
        "module_getchannels",
    ];
    const KEY_FLAGS: &[&str] = &[
        "RO",
        "RW",
        "OW",
        "RM",
        "access",
        "update",
        "insert",
        "delete",
        "not_key",
        "incomplete",
        "variable_flags",
    ];
    for spec in all().flat_map(|c| std::iter::once(c).chain(c.subcommands.iter())) {
        for flag in spec.flags {
            assert!(FLAGS.contains(flag), "{}: unknown flag {flag}", spec.name);
        }
        for category in spec.acl_categories {
            assert!(category.starts_with('@'), "{}: {category}", spec.name);
        }
        for key_spec in spec.key_specs {
            for flag in key_spec.flags {
                assert!(
                    KEY_FLAGS.contains(flag),
                    "{}: unknown key spec flag {flag}",
                    spec.name
                );
            }
        }
    }
}

#[test]
fn movable_keys_commands_have_a_keys_proc() {
    for spec in all() {
        if spec.is_movable_keys() {
            assert_ne!(spec.keys_proc, KeysProc::None, "{}", spec.name);
        }
    }
}

#[test]
fn command_count_equals_table_size() {
    assert_eq!(count(), REDIS_COMMANDS.len() + CONCORD_COMMANDS.len());
    assert_eq!(all().count(), count());
    let subcommands: usize = all().map(|s| s.subcommands.len()).sum();
    assert_eq!(command_list().len(), count() + subcommands);
    assert!(command_list().contains(&"get"));
    // COMMAND LIST names subcommands too; COMMAND COUNT counts top-level
    // commands only.
    assert!(command_list().contains(&"client|list"));
    assert_eq!(command_list().iter().filter(|n| !n.contains('|')).count(), count());
}

#[test]
fn keys_with_flags_match_redis() {
    let args = |s: &'static str| s.split(' ').map(str::as_bytes).collect::<Vec<_>>();
    let flags = |s: &'static str| {
        let a = args(s);
        let spec = lookup(&a[0]).expect("known command");
        keys_with_flags(spec, &a).into_iter().map(|(i, f)| (Bytes::copy_from_slice(a[i]), f.join(" "))).collect::<Vec<_>>()
    };
    let k = |s: &'static str| Bytes::from_static(s.as_bytes());
    // The answers of redis-server 7.0's COMMAND GETKEYSANDFLAGS.
    assert_eq!(flags("set k1 v1"), vec![(k("k1"), "OW update".to_string())]);
    assert_eq!(flags("set k1 v1 get"), vec![(k("k1"), "RW access update".to_string())]);
    assert_eq!(flags("mset k1 v1 k2 v2"), vec![(k("k1"), "OW update".to_string()), (k("k2"), "OW update".to_string())]);
    assert_eq!(
        flags("lmove k1 k2 left right"),
        vec![(k("k1"), "RW access delete".to_string()), (k("k2"), "RW insert".to_string())]
    );
    assert_eq!(flags("sort k1 store k2"), vec![(k("k1"), "RO access".to_string()), (k("k2"), "OW update".to_string())]);
    assert_eq!(
        flags("zunionstore d 2abc a b"),
        vec![(k("a"), String::new()), (k("b"), String::new()), (k("d"), String::new())]
    );
}

#[test]
fn lookup_is_case_insensitive() {
    for name in ["get", "GET", "Get", "gEt"] {
        assert_eq!(lookup(name.as_bytes()).map(|s| s.name), Some("get"));
    }
    assert_eq!(
        lookup(b"GEORADIUS_RO").map(|s| s.name),
        Some("georadius_ro")
    );
    assert_eq!(lookup(b"bitfield_ro").map(|s| s.name), Some("bitfield_ro"));
    assert_eq!(lookup(b"ZUNIONSTORE").map(|s| s.name), Some("zunionstore"));
    for spec in all() {
        assert_eq!(
            lookup(spec.name.as_bytes()).map(|s| s.name),
            Some(spec.name)
        );
        assert_eq!(
            lookup(spec.name.to_uppercase().as_bytes()).map(|s| s.name),
            Some(spec.name)
        );
    }
    for missing in [
        "",
        "ge",
        "gett",
        "eval",
        "config|get",
        "get\0",
        "\u{e9}",
    ] {
        assert!(lookup(missing.as_bytes()).is_none(), "{missing:?}");
    }
}

#[test]
fn lookup_subcommand_is_case_insensitive() {
    let config = lookup(b"config").expect("config");
    assert_eq!(
        lookup_subcommand(config, b"GET").map(|s| s.name),
        Some("config|get")
    );
    assert_eq!(
        lookup_subcommand(config, b"set").map(|s| s.name),
        Some("config|set")
    );
    assert!(
        lookup_subcommand(config, b"failover").is_none(),
        "CONFIG has no such subcommand"
    );
    assert!(lookup_subcommand(config, b"config|get").is_none());
    let client = lookup(b"client").expect("client");
    assert_eq!(
        lookup_subcommand(client, b"No-Evict").map(|s| s.name),
        Some("client|no-evict")
    );
    let get = lookup(b"get").expect("get");
    assert!(lookup_subcommand(get, b"x").is_none());
    let expected = [
        ("client", 10),
        ("config", 5),
        ("command", 7),
        ("function", 1),
        ("script", 1),
        ("object", 5),
        ("pubsub", 6),
        ("xgroup", 6),
        ("xinfo", 4),
    ];
    for (name, n) in expected {
        assert_eq!(
            lookup(name.as_bytes()).expect(name).subcommands.len(),
            n,
            "{name}"
        );
    }
}

#[test]
fn arity_checks() {
    let get = lookup(b"get").expect("get");
    assert!(!get.arity_ok(1));
    assert!(get.arity_ok(2));
    assert!(!get.arity_ok(3));
    let set = lookup(b"set").expect("set");
    assert!(!set.arity_ok(2));
    assert!(set.arity_ok(3));
    assert!(set.arity_ok(10));
    let ping = lookup(b"ping").expect("ping");
    assert_eq!(ping.arity, -1, "PING checks its own argument count");
    assert!(ping.arity_ok(1) && ping.arity_ok(3));
    let config_get = lookup_subcommand(lookup(b"config").expect("config"), b"get").expect("get");
    assert_eq!(config_get.arity, -3);
    assert!(!config_get.arity_ok(2) && config_get.arity_ok(3) && config_get.arity_ok(5));
    assert!(!get.arity_ok(0));
}

#[test]
fn flags_and_helpers() {
    let get = lookup(b"get").expect("get");
    assert!(get.is_readonly() && !get.is_write());
    assert!(get.has_flag("FAST"));
    assert!(get.in_acl_category("@string") && get.in_acl_category("read"));
    let set = lookup(b"set").expect("set");
    assert!(set.is_write() && !set.is_readonly() && set.has_flag("denyoom"));
    let config_get = lookup_subcommand(lookup(b"config").expect("config"), b"get").expect("get");
    assert_eq!(config_get.container_name(), "config");
    assert_eq!(config_get.short_name(), "get");
    assert_eq!(get.container_name(), "get");
    assert!(lookup(b"blpop").expect("blpop").has_flag("blocking"));
    assert!(lookup(b"subscribe").expect("subscribe").has_flag("pubsub"));
}

#[test]
fn resolve_reports_redis_errors() {
    let ok = |line: &str| resolve(&args(line)).map(|s| s.name);
    assert_eq!(ok("GET k"), Ok("get"));
    assert_eq!(ok("config GET maxmemory"), Ok("config|get"));
    assert_eq!(
        ok("GET"),
        Err("ERR wrong number of arguments for 'get' command".to_string())
    );
    assert_eq!(
        ok("CONFIG"),
        Err("ERR wrong number of arguments for 'config' command".to_string())
    );
    assert_eq!(
        ok("CONFIG GET"),
        Err("ERR wrong number of arguments for 'config|get' command".to_string())
    );
    assert_eq!(
        ok("config Foo"),
        Err("ERR unknown subcommand 'Foo'. Try CONFIG HELP.".to_string())
    );
    assert_eq!(
        ok("FOO a b"),
        Err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ".to_string())
    );
    assert_eq!(
        resolve(&args("FOO")[..1]).map(|s| s.name),
        Err("ERR unknown command 'FOO', with args beginning with: ".to_string())
    );
    assert!(resolve(&[]).is_err());
    // Redis prints names and arguments as C strings: up to a NUL byte.
    assert_eq!(
        resolve(&[b"FOO\0BAR", b"a\0b", b"c"]).map(|s| s.name),
        Err("ERR unknown command 'FOO', with args beginning with: 'a' 'c' ".to_string())
    );
    assert_eq!(
        resolve(&[b"config", b"G\0ET", b"x"]).map(|s| s.name),
        Err("ERR unknown subcommand 'G'. Try CONFIG HELP.".to_string())
    );
}

// ---------------------------------------------------------------------------
// Key positions.

#[test]
fn key_positions_match_command_getkeys() {
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for line in fixture(include_str!("testdata/getkeys.txt")) {
        let mut fields = line.split('\t');
        let invocation = args(fields.next().expect("args"));
        let expected = fields.next().expect("keys");
        let Some(spec) = lookup(&invocation[0]) else {
            mismatches.push(format!("{line}: unknown command"));
            continue;
        };
        let positions = key_positions(spec, &invocation);
        let keys: Vec<String> = positions
            .iter()
            .map(|&i| String::from_utf8_lossy(&invocation[i]).into_owned())
            .collect();
        let got = if keys.is_empty() {
            "-".to_string()
        } else {
            keys.join(" ")
        };
        if got != expected {
            mismatches.push(format!("{line}\n    got {got} (positions {positions:?})"));
        }
        checked += 1;
    }
    assert!(checked > 400, "{checked}");
    check_all(mismatches);
}

#[test]
fn key_positions_examples() {
    let positions = |line: &str| {
        let invocation = args(line);
        key_positions(lookup(&invocation[0]).expect("command"), &invocation)
    };
    assert_eq!(positions("GET k"), vec![1]);
    assert_eq!(positions("MSET a 1 b 2"), vec![1, 3]);
    assert_eq!(positions("DEL a b c"), vec![1, 2, 3]);
    assert_eq!(positions("BLPOP a b 0"), vec![1, 2]);
    assert_eq!(positions("LMOVE a b LEFT RIGHT"), vec![1, 2]);
    assert_eq!(positions("OBJECT ENCODING k"), vec![2]);
    assert_eq!(positions("XGROUP CREATE s g $"), vec![2]);
    assert_eq!(positions("XINFO STREAM s"), vec![2]);
    assert_eq!(positions("PING"), Vec::<usize>::new());
    // Movable keys.
    assert_eq!(positions("ZUNIONSTORE d 2 a b WEIGHTS 1 2"), vec![1, 3, 4]);
    assert_eq!(positions("ZUNIONSTORE d 2abc a b"), vec![3, 4, 1]);
    assert_eq!(positions("ZINTERSTORE d 3 a b"), Vec::<usize>::new());
    assert_eq!(positions("ZDIFFSTORE d 1 a"), vec![1, 3]);
    assert_eq!(positions("ZUNION 2 a b"), vec![2, 3]);
    assert_eq!(positions("ZINTER 1 a WITHSCORES"), vec![2]);
    assert_eq!(positions("ZDIFF 2 a b"), vec![2, 3]);
    assert_eq!(positions("ZINTERCARD 2 a b LIMIT 1"), vec![2, 3]);
    assert_eq!(positions("SINTERCARD 3 a b c"), vec![2, 3, 4]);
    assert_eq!(positions("SINTERCARD 0 a"), Vec::<usize>::new());
    assert_eq!(positions("LMPOP 2 a b LEFT COUNT 1"), vec![2, 3]);
    assert_eq!(positions("BLMPOP 0 2 a b RIGHT"), vec![3, 4]);
    assert_eq!(positions("ZMPOP 1 a MIN"), vec![2]);
    assert_eq!(positions("BZMPOP 1.5 2 a b MAX"), vec![3, 4]);
    assert_eq!(positions("XREAD COUNT 2 STREAMS a b 0 0"), vec![4, 5]);
    assert_eq!(positions("XREAD STREAMS a b 0"), vec![2]);
    assert_eq!(positions("XREADGROUP GROUP g c STREAMS a >"), vec![5]);
    assert_eq!(positions("GEORADIUS k 0 0 1 km STORE d"), vec![1, 7]);
    assert_eq!(positions("GEORADIUS k 0 0 1 km STOREDIST d"), vec![1, 7]);
    assert_eq!(positions("GEORADIUS k 0 0 1 km"), vec![1]);
    assert_eq!(positions("GEORADIUSBYMEMBER k m 1 km STORE d"), vec![1, 6]);
    // Wrong arity and unknown subcommands have no keys.
    assert_eq!(positions("GET"), Vec::<usize>::new());
    assert_eq!(positions("GET a b"), Vec::<usize>::new());
    assert_eq!(positions("OBJECT NOSUCH k"), Vec::<usize>::new());
    assert_eq!(positions("OBJECT"), Vec::<usize>::new());
}

#[test]
fn key_positions_never_panic() {
    let words = [
        "",
        "0",
        "1",
        "2",
        "-1",
        "99999999999999999999",
        "STREAMS",
        "STORE",
        "k",
        "GROUP",
    ];
    for spec in all().flat_map(|c| std::iter::once(c).chain(c.subcommands.iter())) {
        let prefix: Vec<&[u8]> = spec.name.split('|').map(str::as_bytes).collect();
        for n in 0..6 {
            for word in words {
                let mut invocation = prefix.clone();
                invocation.extend((0..n).map(|_| word.as_bytes()));
                let container = lookup(&invocation[0]).expect("container");
                let positions = key_positions(container, &invocation);
                assert!(
                    positions.iter().all(|&p| p < invocation.len() && p > 0),
                    "{}",
                    spec.name
                );
            }
        }
    }
}

#[test]
fn atoi_and_string2ll() {
    use crate::keys::{atoi, string_to_i64};
    assert_eq!(atoi(b"12abc"), 12);
    assert_eq!(atoi(b"  -7"), -7);
    assert_eq!(atoi(b"+3"), 3);
    assert_eq!(atoi(b"x"), 0);
    assert_eq!(atoi(b"99999999999999999999"), -1);
    assert_eq!(atoi(b"4294967297"), 1);
    assert_eq!(string_to_i64(b"0"), Some(0));
    assert_eq!(string_to_i64(b"-0"), None);
    assert_eq!(string_to_i64(b"007"), None);
    assert_eq!(string_to_i64(b"+5"), None);
    assert_eq!(string_to_i64(b" 5"), None);
    assert_eq!(string_to_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(string_to_i64(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(string_to_i64(b"9223372036854775808"), None);
    assert_eq!(string_to_i64(b""), None);
}

// ---------------------------------------------------------------------------
// COMMAND INFO and COMMAND DOCS.

/// Renders a frame in the notation of gen/redis_resp3.py `render`.
fn render(frame: &Frame) -> String {
    fn esc(bytes: &[u8]) -> String {
        let mut out = String::from("\"");
        for &b in bytes {
            if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out.push('"');
        out
    }
    fn list(items: &[Frame]) -> String {
        items.iter().map(render).collect::<Vec<_>>().join(",")
    }
    match frame {
        Frame::Simple(b) => format!("+{}", esc(b)),
        Frame::Error(b) => format!("-{}", esc(b)),
        Frame::Bulk(b) => format!("${}", esc(b)),
        Frame::Integer(n) => format!(":{n}"),
        Frame::Null => "_".to_string(),
        Frame::Array(items) => format!("*[{}]", list(items)),
        Frame::Set(items) => format!("~[{}]", list(items)),
        Frame::Map(pairs) => format!(
            "%{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}=>{}", render(k), render(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => panic!("no fixture notation for {other:?}"),
    }
}

fn check_replies(text: &'static str, build: fn(&CommandSpec) -> Frame) {
    let mut mismatches = Vec::new();
    let mut seen = 0;
    for line in fixture(text) {
        let (name, expected) = line.split_once('\t').expect("tab");
        let spec = lookup(name.as_bytes()).expect("command in table");
        let got = render(&build(spec));
        if got != expected {
            let at = got
                .bytes()
                .zip(expected.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            mismatches.push(format!(
                "{name}: differs at byte {at}\n    ours:  ...{}\n    redis: ...{}",
                &got[at.saturating_sub(40)..(at + 80).min(got.len())],
                &expected[at.saturating_sub(40)..(at + 80).min(expected.len())]
            ));
        }
        seen += 1;
    }
    assert_eq!(
        seen,
        REDIS_COMMANDS.len(),
        "every command has a fixture line"
    );
    check_all(mismatches);
}

#[test]
fn command_info_matches_redis() {
    check_replies(
        include_str!("testdata/command_info.txt"),
        command_info_reply,
    );
}

#[test]
fn command_docs_match_redis() {
    check_replies(
        include_str!("testdata/command_docs.txt"),
        command_docs_reply,
    );
}

#[test]
fn command_info_shape() {
    let Frame::Array(items) = command_info_reply(lookup(b"get").expect("get")) else {
        panic!("array expected");
    };
    assert_eq!(items.len(), 10);
    assert_eq!(items[0], Frame::Bulk(Bytes::from_static(b"get")));
    assert_eq!(items[1], Frame::Integer(2));
    assert_eq!(items[9], Frame::Set(Vec::new()));
    let (name, docs) = command_docs_entry(lookup(b"get").expect("get"));
    assert_eq!(name, Frame::Bulk(Bytes::from_static(b"get")));
    assert!(matches!(docs, Frame::Map(_)));
    let hand_written = CommandSpec {
        name: "crdt.x",
        arity: 2,
        ..CommandSpec::DEFAULT
    };
    let Frame::Array(items) = command_info_reply(&hand_written) else {
        panic!("array expected");
    };
    assert_eq!(items.len(), 10);
}

// ---------------------------------------------------------------------------
// Errors.

#[test]
fn error_builders_match_redis_formats() {
    assert_eq!(
        errors::wrong_arity("get"),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        errors::wrong_arity("config|get"),
        "ERR wrong number of arguments for 'config|get' command"
    );
    assert_eq!(
        errors::invalid_expire_time("set"),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        errors::at_least_one_input_key("zunionstore"),
        "ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(
        errors::unsupported_option(b"FOO"),
        "ERR Unsupported option FOO"
    );
    assert_eq!(
        errors::unknown_command(b"FOO", &args("a b")),
        "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        errors::unknown_command(b"FOO", &[]),
        "ERR unknown command 'FOO', with args beginning with: "
    );
    // One long argument fills the 128-byte budget; nothing follows it.
    let long = "a".repeat(130);
    assert_eq!(
        errors::unknown_command(b"foo", &args(&format!("{long} bbb"))),
        format!(
            "ERR unknown command 'foo', with args beginning with: '{}' ",
            "a".repeat(128)
        )
    );
    // CR and LF become spaces; the name is cut at 128 bytes.
    assert_eq!(
        errors::unknown_command(b"foo", &[b"a\r\n"]),
        "ERR unknown command 'foo', with args beginning with: 'a  ' "
    );
    let name = "f".repeat(200);
    assert_eq!(
        errors::unknown_command(name.as_bytes(), &args("x")),
        format!(
            "ERR unknown command '{}', with args beginning with: 'x' ",
            "f".repeat(128)
        )
    );
    // Arguments after the budget is reached are dropped; a later argument is
    // cut to the remaining room.
    let ten = "b".repeat(10);
    let many: Vec<String> = (0..20).map(|_| ten.clone()).collect();
    let message = errors::unknown_command(b"foo", &args(&many.join(" ")));
    let list = message.split_once("beginning with: ").expect("list").1;
    assert_eq!(list.len(), 130, "{list}");
    assert_eq!(
        errors::unknown_subcommand(b"Foo", "config"),
        "ERR unknown subcommand 'Foo'. Try CONFIG HELP."
    );
    assert_eq!(
        errors::subcommand_syntax(b"CHANNELS", "pubsub"),
        "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."
    );
    assert_eq!(
        errors::not_allowed_in_subscribe_context("get"),
        "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    );
    assert_eq!(
        errors::hello_syntax(b"FOO"),
        "ERR Syntax error in HELLO option 'FOO'"
    );
    assert_eq!(
        errors::protocol_expected_dollar(b'+'),
        "ERR Protocol error: expected '$', got '+'"
    );
    assert_eq!(
        errors::execabort_because("ERR Can't execute 'exec': x"),
        "EXECABORT Transaction discarded because of: Can't execute 'exec': x"
    );
    assert_eq!(
        errors::geo_invalid_pair(200.0, 100.0),
        "ERR invalid longitude,latitude pair 200.000000,100.000000"
    );
    assert_eq!(
        errors::nogroup_xreadgroup(b"s", b"nog"),
        "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"
    );
    assert_eq!(
        errors::nogroup(b"s", b"nog"),
        "NOGROUP No such key 's' or consumer group 'nog'"
    );
    assert_eq!(
        errors::nogroup_for_key(b"nog", b"s"),
        "NOGROUP No such consumer group 'nog' for key name 's'"
    );
    assert_eq!(
        errors::xclaim_unrecognized_option(b"FOO"),
        "ERR Unrecognized XCLAIM option 'FOO'"
    );
    assert_eq!(
        errors::unknown_client_type(b"foo"),
        "ERR Unknown client type 'foo'"
    );
    assert_eq!(
        errors::replconf_unrecognized(b"foo"),
        "ERR Unrecognized REPLCONF option: foo"
    );
    assert_eq!(
        errors::config_set_unknown(b"nosuch"),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert_eq!(
        errors::config_set_failed("daemonize", errors::CONFIG_IMMUTABLE),
        "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
    );
    assert_eq!(
        errors::frame(errors::SYNTAX),
        Frame::Error(Bytes::from_static(b"ERR syntax error"))
    );
}

#[test]
fn error_constants_have_a_code() {
    let text = include_str!("errors.rs");
    for line in text.lines().filter(|l| l.starts_with("pub const ")) {
        let Some(value) = line.split(" = \"").nth(1) else {
            continue;
        };
        if line.starts_with("pub const CONFIG_") {
            continue; // Reasons, not whole replies.
        }
        let code: String = value.chars().take_while(|c| *c != ' ').collect();
        assert!(
            code.len() > 1 && code.chars().all(|c| c.is_ascii_uppercase()),
            "no error code: {line}"
        );
    }
}

// ---------------------------------------------------------------------------
// Glob matching.

fn unhex(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).expect("hex"));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn glob_matches_redis_keys_and_config_get() {
    let mut mismatches = Vec::new();
    // Concord's own parameters (crdt-*) are not in Redis's fixture.
    let mut names: Vec<&str> = config_params::all().iter().map(|p| p.name).filter(|n| !n.starts_with("crdt-")).collect();
    names.extend(
        config_params::all()
            .iter()
            .flat_map(|p| p.aliases.iter().copied()),
    );
    for line in fixture(include_str!("testdata/glob.txt")) {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[0] {
            "keys" => {
                let (pattern, s) = (unhex(fields[1]), unhex(fields[2]));
                let expected = fields[3] == "1";
                if glob_match(&pattern, &s, false) != expected {
                    mismatches.push(format!(
                        "KEYS {} on {}: expected {expected}",
                        fields[1], fields[2]
                    ));
                }
            }
            "config" => {
                let pattern = fields[1];
                let expected: Vec<String> = fields
                    .get(2)
                    .unwrap_or(&"")
                    .split(' ')
                    .filter(|n| !n.is_empty())
                    .map(|n| n.to_ascii_lowercase())
                    .collect();
                let mut got: Vec<String> = names
                    .iter()
                    .filter(|n| glob_match(pattern.as_bytes(), n.as_bytes(), true))
                    .map(|n| n.to_string())
                    .collect();
                got.sort();
                let mut expected = expected;
                expected.sort();
                if got != expected {
                    mismatches.push(format!(
                        "CONFIG GET {pattern}: got {got:?}, redis {expected:?}"
                    ));
                }
            }
            other => panic!("unknown fixture kind {other}"),
        }
    }
    check_all(mismatches);
}

#[test]
fn glob_stringmatchlen_cases() {
    let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes(), false);
    // From Redis's keyspace tests and util.c.
    assert!(m("h?llo", "hello") && m("h?llo", "hallo") && !m("h?llo", "hllo"));
    assert!(m("h*llo", "hllo") && m("h*llo", "heeeello"));
    assert!(m("h[ae]llo", "hello") && !m("h[ae]llo", "hillo"));
    assert!(m("h[^e]llo", "hallo") && !m("h[^e]llo", "hello"));
    assert!(m("h[a-b]llo", "hbllo") && !m("h[a-b]llo", "hcllo"));
    assert!(m("h[b-a]llo", "hallo"), "reversed ranges work");
    assert!(m("a\\*b", "a*b") && !m("a\\*b", "axb"));
    assert!(m("a[\\]]b", "a]b"));
    // stringmatchlen never matches an empty string with a non-empty pattern.
    assert!(!m("*", "") && !m("**", "") && !m("?", ""));
    assert!(m("", "") && !m("", "a"));
    assert!(m("a\\", "a\\"), "a trailing backslash is literal");
    assert!(
        !m("a[", "a[") && !m("a[", "a"),
        "an unterminated set matches nothing"
    );
    assert!(!m("a[b", "a"));
    assert!(m(
        "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
        &("a".repeat(60) + "b")
    ));
    assert!(!m("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &"a".repeat(60)));
    let nocase = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes(), true);
    assert!(nocase("MAXMEMORY*", "maxmemory-policy") && nocase("[A-C]*", "bind"));
    assert!(!m("MAXMEMORY*", "maxmemory-policy"));
    // Deep nesting is cut off at 1000 levels instead of overflowing the stack.
    let pattern = "*a".repeat(2000);
    assert!(!m(&pattern, &"a".repeat(1500)));
}

// ---------------------------------------------------------------------------
// CONFIG parameters.

fn unescape_value(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn config_set_matches_redis() {
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for line in fixture(include_str!("testdata/config_set.txt")) {
        let fields: Vec<&str> = line.splitn(4, '\t').collect();
        let (name, value, outcome, expected) =
            (fields[0], unescape_value(fields[1]), fields[2], fields[3]);
        let spec = config_params::find(name).expect("parameter in table");
        let got = config_params::check_settable(spec, name)
            .and_then(|()| config_params::validate_as(spec, name, &value))
            .map(|v| {
                if name == "client-output-buffer-limit" {
                    config_params::merge_client_output_buffer_limit(spec.default, &v)
                } else {
                    v
                }
            });
        let matches = match (&got, outcome) {
            (Ok(v), "ok") => v == expected,
            (Err(e), "err") => e == expected,
            _ => false,
        };
        if !matches {
            mismatches.push(format!(
                "CONFIG SET {name} {value:?}\n    redis: {outcome} {expected}\n    ours:  {got:?}"
            ));
        }
        checked += 1;
    }
    assert!(checked > 2000, "{checked}");
    check_all(mismatches);
}

#[test]
fn config_table_facts() {
    let params = config_params::all();
    // Redis 7.0's 173 and Concord's crdt-repl-backlog-size and
    // crdt-xadd-id-uniqueness-mode.
    assert_eq!(params.len(), 175);
    let mut names: Vec<&str> = params.iter().map(|p| p.name).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        params.iter().map(|p| p.name).collect::<Vec<_>>(),
        "sorted"
    );
    let find = |n: &str| config_params::find(n).unwrap_or_else(|| panic!("{n}"));
    assert_eq!(find("maxmemory").default, "0");
    assert_eq!(find("MAXMEMORY").name, "maxmemory");
    assert_eq!(find("slave-read-only").name, "replica-read-only");
    assert_eq!(
        find("hash-max-ziplist-entries").name,
        "hash-max-listpack-entries"
    );
    assert_eq!(find("lua-time-limit").name, "busy-reply-threshold");
    assert_eq!(find("save").default, "3600 1 300 100 60 10000");
    assert_eq!(find("port").default, "6379");
    assert!(find("daemonize").immutable && find("databases").immutable);
    assert!(find("dir").protected && find("dbfilename").protected);
    assert_eq!(find("maxmemory").effect, config_params::Effect::Applies);
    assert_eq!(
        find("hash-max-listpack-entries").effect,
        config_params::Effect::Applies
    );
    assert_eq!(find("zset-max-listpack-entries").effect, config_params::Effect::Stored);
    assert_eq!(find("lua-time-limit").effect, config_params::Effect::Stored);
    assert!(config_params::find("nosuch").is_none());
    assert!(matches!(find("maxmemory-policy").kind, Kind::Enum(_)));
    let aliases: usize = params.iter().map(|p| p.aliases.len()).sum();
    assert_eq!(aliases, 19);
    for p in params {
        assert!(!p.doc.is_empty(), "{}", p.name);
    }
}

#[test]
fn config_defaults_validate_to_themselves() {
    for p in config_params::all() {
        if p.name == "replicaof" || p.name == "dir" {
            continue;
        }
        let got = config_params::validate(p, p.default);
        let got = if p.name == "client-output-buffer-limit" {
            got.map(|v| config_params::merge_client_output_buffer_limit(p.default, &v))
        } else {
            got
        };
        assert_eq!(got.as_deref(), Ok(p.default), "{}", p.name);
    }
}

#[test]
fn config_validation_examples() {
    let find = |n: &str| config_params::find(n).expect("param");
    let v = |n: &str, value: &str| config_params::validate(find(n), value);
    assert_eq!(v("maxmemory", "1gb"), Ok("1073741824".to_string()));
    assert_eq!(v("maxmemory", "100MB"), Ok("104857600".to_string()));
    assert_eq!(
        v("maxmemory", "lots"),
        Err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value".to_string())
    );
    assert_eq!(v("appendonly", "YES"), Ok("yes".to_string()));
    assert_eq!(
        v("maxmemory-policy", "ALLKEYS-LRU"),
        Ok("allkeys-lru".to_string())
    );
    assert_eq!(v("oom-score-adj", "relative"), Ok("yes".to_string()));
    assert_eq!(v("replicaof", "no one"), Ok(String::new()));
    assert_eq!(v("replicaof", "host 6380"), Ok("host 6380".to_string()));
    assert!(v("replicaof", "host x").is_err());
    assert_eq!(
        v("databases", "32"),
        Ok("32".to_string()),
        "immutables validate for config files"
    );
    assert_eq!(v("unixsocketperm", "700"), Ok("700".to_string()));
    assert_eq!(
        config_params::validate_as(find("slave-read-only"), "slave-read-only", "x"),
        Err("ERR CONFIG SET failed (possibly related to argument 'slave-read-only') - argument must be 'yes' or 'no'".to_string())
    );
    assert_eq!(
        config_params::check_settable(find("daemonize"), "daemonize"),
        Err("ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config".to_string())
    );
    assert_eq!(
        config_params::check_settable(find("maxmemory"), "maxmemory"),
        Ok(())
    );
    assert_eq!(config_params::parse_memory("5k"), Some(5000));
    assert_eq!(config_params::parse_memory("1.5gb"), None);
    assert_eq!(config_params::split_args("a  b"), vec!["a", "", "b"]);
    assert_eq!(
        config_params::merge_client_output_buffer_limit(
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            "pubsub 1 2 3"
        ),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 1 2 3"
    );
}
