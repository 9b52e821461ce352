#!/usr/bin/env python3
"""Checks the constants of src/errors.rs against a live Redis 7.0 server.

Usage (the server is flushed and reconfigured; use a throwaway one):

    redis-server --port 7790 --save '' --appendonly no --daemonize yes
    python3 crates/commands/gen/check_errors.py --port 7790

Each case runs optional setup commands, then a trigger, and compares the
error with the named constant in errors.rs (or with a literal, for the
messages errors.rs builds with a function; the Rust tests pin the builders
to the same literals). Constants no case covers are listed at the end, so
it is visible which strings rest on reading Redis's source alone.
"""
import argparse
import os
import re
import shlex
import shutil
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_resp3 import Conn  # noqa: E402

CRATE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SETUP = """
FLUSHALL
SET str abc
SET n 1
SET big 9223372036854775807
LPUSH list a
ZADD z 1 a
ZADD zinf +inf a
HSET h f v i 9223372036854775807
SADD set a
XADD s 1-1 f v
XGROUP CREATE s g $
GEOADD geo 1 1 m
"""

# (trigger, expected): expected is a constant name of errors.rs or a
# literal error text in quotes.
CASES = r"""
GET list                                  | WRONGTYPE
SET k v FOO                               | SYNTAX
INCR str                                  | NOT_INTEGER
INCRBYFLOAT str 1                         | NOT_FLOAT
SPOP set -1                               | NOT_POSITIVE
SRANDMEMBER set -9223372036854775808      | OUT_OF_RANGE_LONG
INCR big                                  | OVERFLOW
DECRBY n -9223372036854775808             | DECREMENT_OVERFLOW
INCRBYFLOAT n inf                         | INCR_NAN_OR_INFINITY
HINCRBYFLOAT h i inf                      | NAN_OR_INFINITY
RENAME nokey x                            | NO_SUCH_KEY
LSET list 5 x                             | INDEX_OUT_OF_RANGE
SELECT 99                                 | DB_INDEX_OUT_OF_RANGE
MOVE str 0                                | SAME_OBJECT
SETRANGE str -1 x                         | OFFSET_OUT_OF_RANGE
SETRANGE str 536870912 x                  | STRING_TOO_LONG
SCAN x                                    | INVALID_CURSOR
ZCOUNT z a b                              | MIN_MAX_NOT_FLOAT
ZLEXCOUNT z a b                           | MIN_MAX_NOT_STRING_RANGE
BLPOP list x                              | TIMEOUT_NOT_FLOAT
WAIT 0 x                                  | TIMEOUT_NOT_INTEGER
BLPOP list -1                             | TIMEOUT_NEGATIVE
SINTERCARD 0 a                            | NUMKEYS_NOT_POSITIVE
SINTERCARD 3 a                            | TOO_MANY_KEYS
SINTERCARD 1 a LIMIT -1                   | LIMIT_NEGATIVE
LMPOP 1 a LEFT COUNT 0                    | COUNT_NOT_POSITIVE
GET                                       | "ERR wrong number of arguments for 'get' command"
CONFIG GET                                | "ERR wrong number of arguments for 'config|get' command"
SET k v EX 0                              | "ERR invalid expire time in 'set' command"
ZUNIONSTORE d 0 a                         | "ERR at least 1 input key is needed for 'zunionstore' command"
EXPIRE str 10 FOO                         | "ERR Unsupported option FOO"
FOO a b                                   | "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
FOO                                       | "ERR unknown command 'FOO', with args beginning with: "
CONFIG FOO                                | "ERR unknown subcommand 'FOO'. Try CONFIG HELP."
PUBSUB CHANNELS a b                       | "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."
AUTH u x                                  | WRONGPASS
AUTH x                                    | AUTH_WITHOUT_PASSWORD
HELLO 4                                   | NOPROTO
HELLO x                                   | HELLO_PROTOCOL_NOT_INTEGER
CLIENT SETNAME "a b"                      | INVALID_CLIENT_NAME
HELLO 3 FOO                               | "ERR Syntax error in HELLO option 'FOO'"
DISCARD                                   | DISCARD_WITHOUT_MULTI
EXEC                                      | EXEC_WITHOUT_MULTI
EXPIRE str 10 NX XX                       | EXPIRE_NX_XX_GT_LT
EXPIRE str 10 GT LT                       | EXPIRE_GT_LT
SWAPDB x 1                                | INVALID_FIRST_DB_INDEX
SWAPDB 1 x                                | INVALID_SECOND_DB_INDEX
OBJECT FREQ str                           | OBJECT_FREQ_NEEDS_LFU
SETBIT str -1 1                           | BIT_OFFSET_NOT_INTEGER
SETBIT str 1 2                            | BIT_NOT_INTEGER
BITPOS str 2                              | BIT_ARGUMENT
BITOP NOT d a b                           | BITOP_NOT_SINGLE_SOURCE
BITFIELD str GET x 0                      | BITFIELD_INVALID_TYPE
BITFIELD str OVERFLOW foo                 | BITFIELD_INVALID_OVERFLOW
BITFIELD_RO str SET u8 0 1                | BITFIELD_RO_ONLY_GET
LCS str list                              | LCS_NOT_STRINGS
LCS str str LEN IDX                       | LCS_LEN_AND_IDX
HINCRBY h f 1                             | HASH_VALUE_NOT_INTEGER
HINCRBYFLOAT h f 1                        | HASH_VALUE_NOT_FLOAT
LPOS list a RANK 0                        | LPOS_RANK_ZERO
LPOS list a COUNT -1                      | LPOS_COUNT_NEGATIVE
LPOS list a MAXLEN -1                     | LPOS_MAXLEN_NEGATIVE
ZADD z NX XX 1 a                          | ZADD_XX_NX
ZADD z GT LT 1 a                          | ZADD_GT_LT_NX
ZADD z INCR 1 a 2 b                       | ZADD_INCR_SINGLE_PAIR
ZINCRBY zinf -inf a                       | ZSCORE_NAN
ZUNIONSTORE d 1 a WEIGHTS x               | WEIGHT_NOT_FLOAT
ZRANGE z 0 1 LIMIT 0 1                    | ZRANGE_LIMIT_WITHOUT_BY
ZRANGE z a b BYLEX WITHSCORES             | ZRANGE_BYLEX_WITHSCORES
GEORADIUS geo 1 1 1 foo                   | GEO_UNSUPPORTED_UNIT
GEORADIUS geo 1 1 -1 km                   | GEO_RADIUS_NEGATIVE
GEOSEARCH geo FROMMEMBER m BYBOX -1 1 km  | GEO_BOX_NEGATIVE
GEORADIUS geo 1 1 1 km COUNT 0            | GEO_COUNT_NOT_POSITIVE
GEORADIUS geo 1 1 1 km ANY                | GEO_ANY_WITHOUT_COUNT
GEORADIUSBYMEMBER geo nomember 1 km       | GEO_MEMBER_NOT_FOUND
GEORADIUS geo 1 1 1 km STORE d WITHDIST   | GEORADIUS_STORE_WITH
GEOSEARCHSTORE d geo FROMMEMBER m BYRADIUS 1 km WITHDIST | GEOSEARCHSTORE_WITH
GEOSEARCH geo BYRADIUS 1 km WITHDIST WITHHASH | GEOSEARCH_NEEDS_FROM
GEOSEARCH geo FROMLONLAT 1 1 WITHDIST WITHDIST | GEOSEARCH_NEEDS_BY
GEOADD geo 200 100 m                      | "ERR invalid longitude,latitude pair 200.000000,100.000000"
PFADD str a                               | HLL_WRONGTYPE
PFCOUNT badhll                            | HLL_INVALID
XADD s x f v                              | STREAM_INVALID_ID
XADD s 1-1 f v                            | STREAM_ID_TOO_SMALL
XADD s 0-0 f v                            | STREAM_ID_ZERO
XADD s MAXLEN -1 * f v                    | STREAM_MAXLEN_NEGATIVE
XADD s MAXLEN ~ 1 LIMIT -1 * f v          | STREAM_LIMIT_NEGATIVE
XADD s LIMIT 10 * f v                     | STREAM_LIMIT_WITHOUT_TRIM
XADD s MAXLEN 1 LIMIT 10 * f v            | STREAM_LIMIT_WITHOUT_APPROX
XADD s MAXLEN 1 MINID 1 * f v             | STREAM_MAXLEN_AND_MINID
XGROUP CREATE nokey g $                   | XGROUP_KEY_MISSING
XGROUP CREATE s g $                       | BUSYGROUP
XREAD STREAMS s a b                       | XREAD_UNBALANCED
XREADGROUP GROUP g c STREAMS s a b        | XREAD_UNBALANCED
XREADGROUP GROUP g c STREAMS s $          | XREADGROUP_DOLLAR
XREAD STREAMS s >                         | XREAD_GREATER_THAN
XREAD GROUP g c STREAMS s 0               | XREAD_GROUP_WITHOUT_XREADGROUP
XREADGROUP COUNT 1 COUNT 1 STREAMS s >    | XREADGROUP_WITHOUT_GROUP
XSETID s 0-1                              | XSETID_TOO_SMALL
XSETID s 5-0 MAXDELETEDID 9-0 ENTRIESADDED 5 | XSETID_SMALLER_THAN_MAX_DELETED
XSETID s 5-0 ENTRIESADDED -1              | XSETID_ENTRIES_ADDED_NEGATIVE
XSETID s 5-0 ENTRIESADDED 0               | XSETID_ENTRIES_ADDED_TOO_SMALL
XCLAIM s g c x 0-1                        | XCLAIM_INVALID_MIN_IDLE
XAUTOCLAIM s g c 0 0 COUNT 0              | XAUTOCLAIM_COUNT
XCLAIM s g c 0 0-1 IDLE x                 | XCLAIM_INVALID_IDLE
XCLAIM s g c 0 0-1 TIME x                 | XCLAIM_INVALID_TIME
XCLAIM s g c 0 0-1 RETRYCOUNT x           | XCLAIM_INVALID_RETRYCOUNT
XAUTOCLAIM s g c x 0                      | XAUTOCLAIM_INVALID_MIN_IDLE
ZRANDMEMBER z -9223372036854775807 WITHSCORES | OUT_OF_RANGE
XADD s * f                                | XADD_NO_FIELDS
XREADGROUP GROUP nog c STREAMS s >        | "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"
XPENDING s nog                            | "NOGROUP No such key 's' or consumer group 'nog'"
XINFO CONSUMERS s nog                     | "NOGROUP No such consumer group 'nog' for key name 's'"
XCLAIM s g c 0 0-1 FOO                    | "ERR Unrecognized XCLAIM option 'FOO'"
CLIENT KILL 1.2.3.4:5                     | NO_SUCH_CLIENT
CLIENT KILL ID x                          | CLIENT_ID_NOT_POSITIVE
CLIENT LIST ID x                          | INVALID_CLIENT_ID
CLIENT LIST TYPE foo                      | "ERR Unknown client type 'foo'"
COMMAND GETKEYS foo bar                   | COMMAND_GETKEYS_INVALID_COMMAND
COMMAND GETKEYS get a b                   | COMMAND_GETKEYS_WRONG_ARITY
COMMAND GETKEYS ping x                    | COMMAND_GETKEYS_NO_KEYS
COMMAND GETKEYS zunionstore d x a         | COMMAND_GETKEYS_INVALID_ARGS
FUNCTION FLUSH FOO                        | FUNCTION_FLUSH_OPTION
SCRIPT FLUSH FOO                          | SCRIPT_FLUSH_OPTION
REPLICAOF a x                             | INVALID_MASTER_PORT
FAILOVER TIMEOUT -1                       | FAILOVER_TIMEOUT
FAILOVER ABORT                            | FAILOVER_NOT_IN_PROGRESS
FAILOVER TO host 1                        | FAILOVER_NEEDS_REPLICAS
DEBUG FOO                                 | DEBUG_NOT_ALLOWED
REPLCONF foo bar                          | "ERR Unrecognized REPLCONF option: foo"
CONFIG SET nosuch 1                       | "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
CONFIG SET daemonize yes                  | "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
CONFIG SET dir /tmp                       | "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
CONFIG SET maxmemory 1 maxmemory 2        | "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter"
"""

# Cases that need their own connection and a sequence of commands; the
# expected error is that of the last command.
SEQUENCES = [
    (["MULTI", "MULTI"], "MULTI_NESTED"),
    (["MULTI", "WATCH x"], "WATCH_INSIDE_MULTI"),
    (["MULTI", "FOO", "EXEC"], "EXECABORT"),
    (["MULTI", "SAVE"], "NOT_ALLOWED_IN_MULTI"),
    (["SUBSCRIBE ch", "GET x"],
     "\"ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\""),
    (["CONFIG SET maxmemory-policy allkeys-lfu", "OBJECT IDLETIME str",
      "CONFIG SET maxmemory-policy noeviction"], "OBJECT_IDLETIME_WITH_LFU@1"),
    (["CONFIG SET requirepass secret", "CONNECT", "GET x", "CONNECT-AUTH secret",
      "CONFIG SET requirepass \"\""], "NOAUTH@1"),
    (["CONFIG SET maxmemory 1", "SET a b", "CONFIG SET maxmemory 0"], "OOM@1"),
    (["CONFIG SET requirepass secret", "CONNECT", "HELLO 3", "CONNECT-AUTH secret",
      "CONFIG SET requirepass \"\""], "NOAUTH_HELLO@1"),
]

# Raw protocol input and the expected error constant.
RAW = [
    (b"*x\r\n", "PROTOCOL_INVALID_MULTIBULK_LENGTH"),
    (b"*1\r\n$x\r\n", "PROTOCOL_INVALID_BULK_LENGTH"),
    (b"\"unbalanced\r\n", "PROTOCOL_UNBALANCED_QUOTES"),
    (b"X" * 70000, "PROTOCOL_TOO_BIG_INLINE"),
    (b"*1\r\n$" + b"1" * 70000, "PROTOCOL_TOO_BIG_BULK_COUNT"),
    (b"*" + b"1" * 70000, "PROTOCOL_TOO_BIG_MBULK_COUNT"),
    (b"*1\r\n+foo\r\n", "\"ERR Protocol error: expected '$', got '+'\""),
    (b"*3\r\n$3\r\nfoo\r\n$130\r\n" + b"a" * 130 + b"\r\n$3\r\nbbb\r\n",
     "\"ERR unknown command 'foo', with args beginning with: '" + "a" * 128 + "' \""),
    (b"*2\r\n$3\r\nfoo\r\n$3\r\na\r\n\r\n",
     "\"ERR unknown command 'foo', with args beginning with: 'a  ' \""),
]

RAW_UNAUTHENTICATED = [
    (b"*100\r\n", "PROTOCOL_UNAUTHENTICATED_MULTIBULK_LENGTH"),
    (b"*1\r\n$100000\r\n", "PROTOCOL_UNAUTHENTICATED_BULK_LENGTH"),
]


def load_constants():
    text = open(os.path.join(CRATE, "src", "errors.rs")).read()
    out = {}
    for m in re.finditer(r'pub const (\w+): &str =\s*"((?:[^"\\]|\\.)*)";', text):
        out[m.group(1)] = m.group(2).replace('\\"', '"').replace("\\\\", "\\")
    return out


def expected_text(expected, constants):
    if expected.startswith('"'):
        return expected[1:-1]
    return constants[expected]


def raw_reply(port, data):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    s.settimeout(1)
    out = b""
    try:
        while b"\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    s.close()
    line = out.split(b"\r\n", 1)[0].decode("latin-1")
    return line[1:] if line.startswith("-") else line


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=7790)
    ap.add_argument("--server", default="redis-server", help="binary to search for unchecked strings")
    args = ap.parse_args()
    port = args.port
    constants = load_constants()
    used, failures = set(), 0

    def check(what, got, expected):
        nonlocal failures
        name = expected.split("@")[0]
        if not name.startswith('"'):
            used.add(name)
        want = expected_text(name, constants)
        if got != want:
            failures += 1
            print("MISMATCH %s\n   redis: %r\n   ours:  %r" % (what, got, want))

    conn = Conn(port, resp3=False)
    for line in SETUP.strip().splitlines():
        conn.cmd(*shlex.split(line))
    # A sparse HyperLogLog whose opcodes do not cover all registers, with the
    # cached cardinality marked invalid so PFCOUNT has to decode it.
    conn.cmd("SET", "badhll", b"HYLL\x01" + b"\x00" * 10 + b"\x80" + b"\x00")
    for line in CASES.strip().splitlines():
        trigger, expected = [p.strip() for p in line.split(" | ", 1)]
        reply = conn.cmd(*shlex.split(trigger))
        got = reply[1] if reply[0] == "error" else "<%s %r>" % reply
        check(trigger, got, expected)

    for commands, expected in SEQUENCES:
        index = int(expected.split("@")[1]) if "@" in expected else len(commands) - 1
        c = Conn(port, resp3=False)
        got = None
        step = 0
        for command in commands:
            if command == "CONNECT":
                c = Conn(port, resp3=False)
                continue
            if command.startswith("CONNECT-AUTH"):
                c = Conn(port, resp3=False)
                c.cmd("AUTH", command.split()[1])
                continue
            reply = c.cmd(*shlex.split(command))
            if step == index:
                got = reply[1] if reply[0] == "error" else "<%s %r>" % reply
            step += 1
        check(" / ".join(commands), got, expected)

    for data, expected in RAW:
        check(repr(data[:30]), raw_reply(port, data), expected)
    conn.cmd("CONFIG", "SET", "requirepass", "secret")
    try:
        for data, expected in RAW_UNAUTHENTICATED:
            check(repr(data[:30]), raw_reply(port, data), expected)
    finally:
        conn.cmd("CONFIG", "SET", "requirepass", "")

    unchecked = sorted(set(constants) - used)
    print("%d checks, %d mismatches" % (len(used), failures))
    # The rest must at least appear in the server binary: as a whole
    # protocol line ("-CODE text") or, for ERR messages, as the text Redis
    # passes to addReplyError.
    binary = open(os.path.realpath(shutil.which(args.server)), "rb").read()
    missing = []
    for name in unchecked:
        text = constants[name]
        needles = [text.encode(), b"-" + text.encode()]
        if text.startswith("ERR "):
            needles.append(text[4:].encode())
        if not any(n in binary for n in needles):
            missing.append(name)
    print("checked against the %s binary only: %s" % (args.server, ", ".join(
        n for n in unchecked if n not in missing)))
    if missing:
        failures += len(missing)
        print("NOT FOUND anywhere: %s" % ", ".join(missing))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
