//! Redis 7.0's error replies, byte for byte, in one place.
//!
//! Clients and test suites compare these strings exactly, so every constant
//! here was checked against a live redis-server 7.0.15 (see
//! `gen/check_errors.py`, which replays a trigger for each constant and
//! compares). Each string is the full error line without the leading `-`
//! and without CRLF: it starts with the error code (`ERR`, `WRONGTYPE`,
//! `NOAUTH`, ...). Build a reply with [`reply`] or [`frame`].
//!
//! Messages that embed a name or user input are functions. Redis limits
//! user input in some of them (`%.128s`) and replaces CR and LF with spaces
//! so the error stays on one line; the functions do the same. User bytes
//! that are not UTF-8 are converted lossily.

use bytes::Bytes;
use resp::Frame;

/// Returns an error frame for one of the messages of this module.
pub fn frame(message: &str) -> Frame {
    Frame::Error(Bytes::copy_from_slice(message.as_bytes()))
}

/// Alias of [`frame`], reads better at call sites: `errors::reply(errors::SYNTAX)`.
pub fn reply(message: &str) -> Frame {
    frame(message)
}

// ---------------------------------------------------------------------------
// Generic argument errors (object.c, server.c, t_string.c).

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
/// ZRANDMEMBER WITHSCORES / HRANDFIELD WITHVALUES with a count whose double
/// would overflow.
pub const OUT_OF_RANGE: &str = "ERR value is out of range";
/// `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)` for SRANDMEMBER,
/// ZRANDMEMBER and HRANDFIELD counts.
pub const OUT_OF_RANGE_LONG: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
/// DECRBY with `-9223372036854775808` (the negation itself overflows).
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const INCR_NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
/// HINCRBYFLOAT with an increment of `inf` or `nan`.
pub const NAN_OR_INFINITY: &str = "ERR value is NaN or Infinity";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const MIN_MAX_NOT_FLOAT: &str = "ERR min or max is not a float";
pub const MIN_MAX_NOT_STRING_RANGE: &str = "ERR min or max not valid string range item";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
/// WAIT's integer timeout.
pub const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const TOO_MANY_KEYS: &str = "ERR Number of keys can't be greater than number of args";
pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
pub const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";

/// "ERR wrong number of arguments for 'get' command"; `name` is the table
/// name, `config|get` for subcommands.
pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// "ERR invalid expire time in 'set' command"; `name` is the table name.
pub fn invalid_expire_time(name: &str) -> String {
    format!("ERR invalid expire time in '{name}' command")
}

/// "ERR at least 1 input key is needed for 'zunionstore' command".
pub fn at_least_one_input_key(name: &str) -> String {
    format!("ERR at least 1 input key is needed for '{name}' command")
}

/// EXPIRE family: "ERR Unsupported option FOO" (the option as typed).
pub fn unsupported_option(option: &[u8]) -> String {
    format!("ERR Unsupported option {}", one_line(option, usize::MAX))
}

// ---------------------------------------------------------------------------
// Command lookup (server.c processCommand, commandCheckExistence).

/// "ERR unknown command 'foo', with args beginning with: 'a' 'b' ".
///
/// As in Redis: the name is cut at 128 bytes, arguments are quoted and each
/// followed by a space, and no argument is started once the quoted list
/// reaches 128 bytes; the last one is cut so the list stays within 128.
/// Redis formats them as C strings, so each also ends at its first NUL byte.
pub fn unknown_command(name: &[u8], args: &[&[u8]]) -> String {
    let mut list: Vec<u8> = Vec::new();
    for arg in args {
        if list.len() >= 128 {
            break;
        }
        let arg = c_str(arg);
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(&arg[..arg.len().min(room)]);
        list.extend_from_slice(b"' ");
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        one_line(c_str(name), 128),
        one_line(&list, usize::MAX)
    )
}

/// The bytes before the first NUL: what Redis's `%s` prints of an argument.
fn c_str(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |end| &s[..end])
}

/// "ERR unknown subcommand 'x'. Try CONFIG HELP." (`sub` as typed, cut at
/// 128 bytes; the container name in upper case).
pub fn unknown_subcommand(sub: &[u8], container: &str) -> String {
    format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        one_line(c_str(sub), 128),
        container.to_ascii_uppercase()
    )
}

/// Redis's `addReplySubcommandSyntaxError`, used when a known subcommand
/// gets arguments it does not accept (PUBSUB CHANNELS a b, FUNCTION FLUSH
/// SYNC ASYNC): "ERR unknown subcommand or wrong number of arguments for
/// 'CHANNELS'. Try PUBSUB HELP."
pub fn subcommand_syntax(sub: &[u8], container: &str) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        one_line(c_str(sub), 128),
        container.to_ascii_uppercase()
    )
}

/// "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING /
/// QUIT / RESET are allowed in this context" (RESP2 clients in subscribed
/// state; `name` is the table name, `config|set` for subcommands).
pub fn not_allowed_in_subscribe_context(name: &str) -> String {
    format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )
}

// ---------------------------------------------------------------------------
// Connection, authentication, limits (server.c, acl.c, networking.c).

pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_WITHOUT_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const READONLY_REPLICA: &str = "READONLY You can't write against a read only replica.";
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const HELLO_PROTOCOL_NOT_INTEGER: &str =
    "ERR Protocol version is not an integer or out of range";
/// HELLO without AUTH on a connection that still needs to authenticate.
pub const NOAUTH_HELLO: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
pub const INVALID_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

/// "ERR Syntax error in HELLO option 'FOO'" (the option as typed).
pub fn hello_syntax(option: &[u8]) -> String {
    format!(
        "ERR Syntax error in HELLO option '{}'",
        one_line(option, usize::MAX)
    )
}

// ---------------------------------------------------------------------------
// Protocol errors (networking.c). The connection is closed after sending one.

pub const PROTOCOL_INVALID_MULTIBULK_LENGTH: &str = "ERR Protocol error: invalid multibulk length";
pub const PROTOCOL_INVALID_BULK_LENGTH: &str = "ERR Protocol error: invalid bulk length";
pub const PROTOCOL_UNAUTHENTICATED_MULTIBULK_LENGTH: &str =
    "ERR Protocol error: unauthenticated multibulk length";
pub const PROTOCOL_UNAUTHENTICATED_BULK_LENGTH: &str =
    "ERR Protocol error: unauthenticated bulk length";
pub const PROTOCOL_TOO_BIG_INLINE: &str = "ERR Protocol error: too big inline request";
pub const PROTOCOL_TOO_BIG_MBULK_COUNT: &str = "ERR Protocol error: too big mbulk count string";
pub const PROTOCOL_TOO_BIG_BULK_COUNT: &str = "ERR Protocol error: too big bulk count string";
pub const PROTOCOL_UNBALANCED_QUOTES: &str = "ERR Protocol error: unbalanced quotes in request";

/// "ERR Protocol error: expected '$', got '+'".
pub fn protocol_expected_dollar(got: u8) -> String {
    format!(
        "ERR Protocol error: expected '$', got '{}'",
        char::from(got)
    )
}

/// "ERR Protocol error: <detail>" for any other protocol problem.
pub fn protocol(detail: &str) -> String {
    format!("ERR Protocol error: {detail}")
}

// ---------------------------------------------------------------------------
// Transactions (multi.c).

pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const WATCH_INSIDE_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
/// Commands flagged `no_multi` queued inside MULTI.
pub const NOT_ALLOWED_IN_MULTI: &str = "ERR Command not allowed inside a transaction";

/// "EXECABORT Transaction discarded because of: <error>" — when EXEC itself
/// is rejected (for example in subscribed context); `error` is the error
/// that rejected EXEC, with or without its code prefix `ERR `.
pub fn execabort_because(error: &str) -> String {
    let error = error.strip_prefix("ERR ").unwrap_or(error);
    format!("EXECABORT Transaction discarded because of: {error}")
}

// ---------------------------------------------------------------------------
// Keyspace and expiry (db.c, expire.c, object.c).

pub const EXPIRE_NX_XX_GT_LT: &str =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_LT: &str = "ERR GT and LT options at the same time are not compatible";
pub const INVALID_FIRST_DB_INDEX: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB_INDEX: &str = "ERR invalid second DB index";
pub const OBJECT_FREQ_NEEDS_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const OBJECT_IDLETIME_WITH_LFU: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

// ---------------------------------------------------------------------------
// Strings and bitmaps (t_string.c, bitops.c).

pub const BIT_OFFSET_NOT_INTEGER: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_NOT_INTEGER: &str = "ERR bit is not an integer or out of range";
pub const BIT_ARGUMENT: &str = "ERR The bit argument must be 1 or 0.";
pub const BITOP_NOT_SINGLE_SOURCE: &str = "ERR BITOP NOT must be called with a single source key.";
pub const BITFIELD_INVALID_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
pub const BITFIELD_INVALID_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_RO_ONLY_GET: &str = "ERR BITFIELD_RO only supports the GET subcommand";
pub const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
pub const LCS_LEN_AND_IDX: &str =
    "ERR If you want both the length and indexes, please just use IDX.";

// ---------------------------------------------------------------------------
// Hashes, sets, lists (t_hash.c, t_set.c, t_list.c).

pub const HASH_VALUE_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_VALUE_NOT_FLOAT: &str = "ERR hash value is not a float";
pub const LPOS_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";

// ---------------------------------------------------------------------------
// Sorted sets and geo (t_zset.c, geo.c).

pub const ZADD_XX_NX: &str = "ERR XX and NX options at the same time are not compatible";
pub const ZADD_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const ZADD_INCR_SINGLE_PAIR: &str = "ERR INCR option supports a single increment-element pair";
pub const ZSCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
pub const ZRANGE_LIMIT_WITHOUT_BY: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const ZRANGE_BYLEX_WITHSCORES: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
pub const GEO_UNSUPPORTED_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
pub const GEO_RADIUS_NEGATIVE: &str = "ERR radius cannot be negative";
pub const GEO_BOX_NEGATIVE: &str = "ERR height or width cannot be negative";
pub const GEO_COUNT_NOT_POSITIVE: &str = "ERR COUNT must be > 0";
pub const GEO_ANY_WITHOUT_COUNT: &str = "ERR the ANY argument requires COUNT argument";
pub const GEO_MEMBER_NOT_FOUND: &str = "ERR could not decode requested zset member";
pub const GEORADIUS_STORE_WITH: &str =
    "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options";
pub const GEOSEARCHSTORE_WITH: &str =
    "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options";
pub const GEOSEARCH_NEEDS_FROM: &str =
    "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH";
pub const GEOSEARCH_NEEDS_BY: &str =
    "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH";

/// "ERR invalid longitude,latitude pair 200.000000,100.000000" (`%f`).
pub fn geo_invalid_pair(longitude: f64, latitude: f64) -> String {
    format!("ERR invalid longitude,latitude pair {longitude:.6},{latitude:.6}")
}

// ---------------------------------------------------------------------------
// HyperLogLog (hyperloglog.c).

pub const HLL_WRONGTYPE: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const HLL_INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";

// ---------------------------------------------------------------------------
// Streams (t_stream.c).

pub const STREAM_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const STREAM_ID_TOO_SMALL: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
pub const STREAM_ID_ZERO: &str = "ERR The ID specified in XADD must be greater than 0-0";
pub const STREAM_MAXLEN_NEGATIVE: &str = "ERR The MAXLEN argument must be >= 0.";
pub const STREAM_LIMIT_NEGATIVE: &str = "ERR The LIMIT argument must be >= 0.";
pub const STREAM_LIMIT_WITHOUT_TRIM: &str =
    "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
pub const STREAM_LIMIT_WITHOUT_APPROX: &str =
    "ERR syntax error, LIMIT cannot be used without the special ~ option";
pub const STREAM_MAXLEN_AND_MINID: &str =
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
pub const XGROUP_KEY_MISSING: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
pub const BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
/// Also XREADGROUP's error (Redis names XREAD in both).
pub const XREAD_UNBALANCED: &str =
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
pub const XREADGROUP_DOLLAR: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
pub const XREAD_GREATER_THAN: &str = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.";
pub const XREAD_GROUP_WITHOUT_XREADGROUP: &str =
    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
pub const XREADGROUP_WITHOUT_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
pub const XSETID_TOO_SMALL: &str =
    "ERR The ID specified in XSETID is smaller than the target stream top item";
pub const XSETID_SMALLER_THAN_MAX_DELETED: &str =
    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id";
pub const XSETID_ENTRIES_ADDED_NEGATIVE: &str = "ERR entries_added must be positive";
pub const XSETID_ENTRIES_ADDED_TOO_SMALL: &str =
    "ERR The entries_added specified in XSETID is smaller than the target stream length";
pub const XCLAIM_INVALID_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XCLAIM";
pub const XCLAIM_INVALID_IDLE: &str = "ERR Invalid IDLE option argument for XCLAIM";
pub const XCLAIM_INVALID_TIME: &str = "ERR Invalid TIME option argument for XCLAIM";
pub const XCLAIM_INVALID_RETRYCOUNT: &str = "ERR Invalid RETRYCOUNT option argument for XCLAIM";
pub const XAUTOCLAIM_INVALID_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XAUTOCLAIM";
pub const STREAM_ELEMENTS_TOO_LARGE: &str = "ERR Elements are too large to be stored";
/// Sent to a client blocked in XREADGROUP when its group is destroyed.
pub const NOGROUP_BLOCKED: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
pub const XAUTOCLAIM_COUNT: &str = "ERR COUNT must be > 0";
pub const XADD_NO_FIELDS: &str = "ERR wrong number of arguments for 'xadd' command";

/// "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option".
pub fn nogroup_xreadgroup(key: &[u8], group: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        one_line(key, usize::MAX),
        one_line(group, usize::MAX)
    )
}

/// "NOGROUP No such key 's' or consumer group 'g'" (XPENDING, XCLAIM, XACK...).
pub fn nogroup(key: &[u8], group: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        one_line(key, usize::MAX),
        one_line(group, usize::MAX)
    )
}

/// "NOGROUP No such consumer group 'g' for key name 's'" (XGROUP, XINFO).
pub fn nogroup_for_key(group: &[u8], key: &[u8]) -> String {
    format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        one_line(group, usize::MAX),
        one_line(key, usize::MAX)
    )
}

/// "ERR Unrecognized XCLAIM option 'FOO'".
pub fn xclaim_unrecognized_option(option: &[u8]) -> String {
    format!(
        "ERR Unrecognized XCLAIM option '{}'",
        one_line(option, usize::MAX)
    )
}

// ---------------------------------------------------------------------------
// Server, replication and introspection commands.

pub const NO_SUCH_CLIENT: &str = "ERR No such client";
pub const CLIENT_ID_NOT_POSITIVE: &str = "ERR client-id should be greater than 0";
pub const INVALID_CLIENT_ID: &str = "ERR Invalid client ID";
pub const COMMAND_GETKEYS_INVALID_COMMAND: &str = "ERR Invalid command specified";
pub const COMMAND_GETKEYS_WRONG_ARITY: &str =
    "ERR Invalid number of arguments specified for command";
pub const COMMAND_GETKEYS_NO_KEYS: &str = "ERR The command has no key arguments";
pub const COMMAND_GETKEYS_INVALID_ARGS: &str = "ERR Invalid arguments specified for command";
pub const FUNCTION_FLUSH_OPTION: &str = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option";
pub const SCRIPT_FLUSH_OPTION: &str = "ERR SCRIPT FLUSH only support SYNC|ASYNC option";
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const BGREWRITEAOF_IN_PROGRESS: &str =
    "ERR Background append only file rewriting already in progress";
pub const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";
pub const INVALID_MASTER_PORT: &str = "ERR Invalid master port";
pub const REPLICAOF_IN_CLUSTER: &str = "ERR REPLICAOF not allowed in cluster mode.";
pub const WAIT_ON_REPLICA: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";
pub const FAILOVER_TIMEOUT: &str = "ERR FAILOVER timeout must be greater than 0";
pub const FAILOVER_NOT_IN_PROGRESS: &str = "ERR No failover in progress.";
pub const FAILOVER_NEEDS_REPLICAS: &str = "ERR FAILOVER requires connected replicas.";
pub const FAILOVER_ON_REPLICA: &str = "ERR FAILOVER is not valid when server is a replica.";
pub const FAILOVER_ALREADY_IN_PROGRESS: &str = "ERR FAILOVER already in progress.";
pub const FAILOVER_IN_CLUSTER: &str =
    "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.";
pub const FAILOVER_FORCE_NEEDS_TARGET: &str =
    "ERR FAILOVER with force option requires both a timeout and target HOST and IP.";
pub const REPLICAOF_WHILE_FAILING_OVER: &str = "ERR REPLICAOF not allowed while failing over.";
pub const SELECT_IN_CLUSTER: &str = "ERR SELECT is not allowed in cluster mode";
pub const SWAPDB_IN_CLUSTER: &str = "ERR SWAPDB is not allowed in cluster mode";
pub const MOVE_IN_CLUSTER: &str = "ERR MOVE is not allowed in cluster mode";
pub const COPY_DB_IN_CLUSTER: &str =
    "ERR Copying to another database is not allowed in cluster mode";
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// "ERR Unknown client type 'foo'" (CLIENT LIST TYPE, CLIENT KILL TYPE).
pub fn unknown_client_type(kind: &[u8]) -> String {
    format!("ERR Unknown client type '{}'", one_line(kind, usize::MAX))
}

/// "ERR Unrecognized REPLCONF option: foo".
pub fn replconf_unrecognized(option: &[u8]) -> String {
    format!(
        "ERR Unrecognized REPLCONF option: {}",
        one_line(option, usize::MAX)
    )
}

// ---------------------------------------------------------------------------
// CONFIG (config.c). Value validation lives in `config_params`.

/// "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'".
pub fn config_set_unknown(name: &[u8]) -> String {
    format!(
        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
        one_line(name, usize::MAX)
    )
}

/// "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - <reason>".
/// `name` is the parameter as the client wrote it, lowercased.
pub fn config_set_failed(name: &str, reason: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
}

/// Reasons passed to [`config_set_failed`].
pub const CONFIG_IMMUTABLE: &str = "can't set immutable config";
pub const CONFIG_PROTECTED: &str = "can't set protected config";
pub const CONFIG_DUPLICATE: &str = "duplicate parameter";

// ---------------------------------------------------------------------------

/// Converts user bytes for an error line: cut at `max` bytes, CR and LF
/// replaced by spaces (Redis `sdsmapchars(err, "\r\n", "  ", 2)`).
fn one_line(bytes: &[u8], max: usize) -> String {
    let bytes = &bytes[..bytes.len().min(max)];
    let mapped: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    String::from_utf8_lossy(&mapped).into_owned()
}
