#!/usr/bin/env python3
"""Generates the CONFIG parameter table from a Redis 7.0 server.

Usage (from the repository root; needs redis-server 7.0 on PATH):

    python3 crates/commands/gen/gen_config.py [--port 7793]

The script starts its own pristine redis-server (no configuration file, in a
temporary directory), reads every parameter's default with CONFIG GET *,
then probes each parameter with CONFIG SET to learn what Redis accepts:
immutable or protected, yes/no, integer or memory value and its bounds, enum
values and the name CONFIG GET prints for each. It writes:

  src/config_table.rs            the parameter table (PARAMS)
  src/testdata/config_set.txt    CONFIG SET value -> CONFIG GET result or
                                 error, for the differential test of
                                 config_params::validate
  ../../docs/config.md           the parameter table for users

Facts Redis does not reveal through CONFIG SET (the alias pairs, the C types
of numeric parameters that decide signed or unsigned bound checks, and the
kinds of immutable parameters) come from Redis 7.0's config.c and are listed
below; the probes check them where they can.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_resp3 import Conn  # noqa: E402

CRATE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(CRATE))

# (name, alias) pairs of Redis 7.0 (config.c createXConfig(name, alias, ...)).
ALIASES = [
    ("replicaof", "slaveof"),
    ("replica-announce-ip", "slave-announce-ip"),
    ("replica-announce-port", "slave-announce-port"),
    ("replica-ignore-maxmemory", "slave-ignore-maxmemory"),
    ("replica-lazy-flush", "slave-lazy-flush"),
    ("replica-priority", "slave-priority"),
    ("replica-read-only", "slave-read-only"),
    ("replica-serve-stale-data", "slave-serve-stale-data"),
    ("min-replicas-max-lag", "min-slaves-max-lag"),
    ("min-replicas-to-write", "min-slaves-to-write"),
    ("repl-ping-replica-period", "repl-ping-slave-period"),
    ("cluster-replica-no-failover", "cluster-slave-no-failover"),
    ("cluster-replica-validity-factor", "cluster-slave-validity-factor"),
    ("hash-max-listpack-entries", "hash-max-ziplist-entries"),
    ("hash-max-listpack-value", "hash-max-ziplist-value"),
    ("list-max-listpack-size", "list-max-ziplist-size"),
    ("zset-max-listpack-entries", "zset-max-ziplist-entries"),
    ("zset-max-listpack-value", "zset-max-ziplist-value"),
    ("busy-reply-threshold", "lua-time-limit"),
]

# Numeric parameters whose C type is unsigned (unsigned int, unsigned long
# long, size_t): Redis compares them with their bounds as unsigned values,
# so a negative number wraps around instead of being below the minimum.
UNSIGNED = {
    "maxclients", "unixsocketperm", "maxmemory", "cluster-link-sendbuf-limit",
    "hash-max-listpack-entries", "set-max-intset-entries", "zset-max-listpack-entries",
    "active-defrag-ignore-bytes", "hash-max-listpack-value", "stream-node-max-bytes",
    "zset-max-listpack-value", "hll-sparse-max-bytes", "tracking-table-max-keys",
    "client-query-buffer-limit",
}

# Bounds the probes cannot reveal (every probe value is accepted).
BOUNDS = {
    "maxmemory": (0, 2**64 - 1),
    "cluster-link-sendbuf-limit": (0, 2**64 - 1),
    "maxmemory-clients": (-100, 2**63 - 1),
}

INT_MAX = 2**31 - 1
# Kinds of the immutable parameters (CONFIG SET refuses them before looking
# at the value, so they cannot be probed).
IMMUTABLE_KINDS = {
    "databases": ("int", 1, INT_MAX),
    "io-threads": ("int", 1, 128),
    "tcp-backlog": ("int", 0, INT_MAX),
    "cluster-port": ("int", 0, 65535),
    "unixsocketperm": ("octal", 0, 0o777),
    "supervised": ("enum", ["upstart", "systemd", "auto", "no"]),
    "syslog-facility": ("enum", ["user", "local0", "local1", "local2", "local3", "local4",
                                 "local5", "local6", "local7"]),
    "enable-protected-configs": ("enum", ["no", "yes", "local"]),
    "enable-debug-command": ("enum", ["no", "yes", "local"]),
    "enable-module-command": ("enum", ["no", "yes", "local"]),
    "replicaof": ("special",),
}

# Parameters with their own value syntax, validated by hand-written code in
# config_params.rs.
SPECIAL = {
    "save", "client-output-buffer-limit", "oom-score-adj-values", "notify-keyspace-events",
    "bind", "replicaof", "latency-tracking-info-percentiles", "dir",
}

# String parameters with an extra check of their own (so "zzz" may be refused).
CHECKED_STRINGS = {"proc-title-template", "cluster-announce-hostname"}

# Parameters whose value Concord acts on; all others are accepted, stored and
# reported back by CONFIG GET but change nothing (they tune Redis internals
# such as encodings, or features Concord does not have).
APPLIES = {
    "maxmemory", "maxmemory-policy", "maxmemory-samples", "requirepass", "timeout",
    "maxclients", "proto-max-bulk-len", "client-query-buffer-limit", "appendonly",
    "appendfsync", "dir", "dbfilename", "port", "bind", "save", "hz", "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire", "lazyfree-lazy-server-del", "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush", "notify-keyspace-events", "repl-backlog-size",
    "client-output-buffer-limit", "replica-read-only", "databases",
    "hash-max-listpack-entries", "hash-max-listpack-value", "lfu-log-factor", "lfu-decay-time",
    "slowlog-log-slower-than", "slowlog-max-len", "stream-node-max-entries",
}

# Concord's own parameters (Redis has no such name, so nothing is probed):
# written into the table and docs/config.md as given, sorted in with the rest.
CONCORD_PARAMS = [
    {
        "name": "crdt-repl-backlog-size",
        "default": "auto",
        "rust_kind": "Kind::Special",
        "label": "auto or memory (at least 16kb)",
        "doc": "Active-Active backlog: auto (1% of maxmemory, or of the machine's memory, clamped to "
               "1mb..250mb, when the shard has --members; 0 standalone) or a size (at least 16kb). The "
               "one backlog serves replicas and remote instances, so it keeps the larger of this and "
               "repl-backlog-size.",
        "md_doc": "Concord: the Active-Active backlog. `auto` is 1% of maxmemory (or of the machine's "
                  "memory), clamped to 1mb..250mb, with `--members`, and 0 standalone. The one backlog "
                  "serves replicas and remote instances, so it keeps the larger of this and "
                  "`repl-backlog-size`.",
    },
    {
        "name": "crdt-xadd-id-uniqueness-mode",
        "default": "strict",
        "rust_kind": 'Kind::Enum(&[("strict", "strict"), ("semi-strict", "semi-strict"), ("liberal", "liberal")])',
        "label": "one of strict semi-strict liberal",
        "doc": "Active-Active stream ids: strict (* and ms-only ids, tagged with the instance), "
               "semi-strict (also full ids), liberal (ms-only ids get seq 0; any ascending id). A "
               "standalone shard gives Redis's ids.",
        "md_doc": "Concord: Active-Active stream ids (docs/crdt.md); a standalone shard gives Redis's ids.",
    },
]

# Defaults that depend on how the reference server was started.
DEFAULT_OVERRIDES = {
    "port": "6379",
    # Redis prints the absolute working directory; see ParamSpec::default.
    "dir": ".",
}

DOCS = {
    "acl-pubsub-default": "Default channel permissions of new ACL users.",
    "aclfile": "Path of the external ACL file.",
    "acllog-max-len": "Maximum entries in the ACL LOG.",
    "active-defrag-cycle-max": "Maximum CPU percentage used by active defragmentation.",
    "active-defrag-cycle-min": "Minimum CPU percentage used by active defragmentation.",
    "active-defrag-ignore-bytes": "Fragmentation waste below which defragmentation does not start.",
    "active-defrag-max-scan-fields": "Fields of a collection scanned in one defragmentation step.",
    "active-defrag-threshold-lower": "Fragmentation percentage at which defragmentation starts.",
    "active-defrag-threshold-upper": "Fragmentation percentage at which defragmentation works hardest.",
    "active-expire-effort": "Effort (1-10) spent actively expiring keys.",
    "activedefrag": "Enables active defragmentation (Concord refuses yes, like Redis builds without defrag support).",
    "activerehashing": "Rehashes the main dictionaries incrementally in the background.",
    "always-show-logo": "Shows the ASCII logo at startup even when not on a terminal.",
    "aof-disable-auto-gc": "Keeps old AOF files instead of deleting them after a rewrite.",
    "aof-load-truncated": "Loads a truncated AOF at startup instead of refusing to start.",
    "aof-rewrite-incremental-fsync": "Fsyncs the rewritten AOF every 4 MB while writing it.",
    "aof-timestamp-enabled": "Writes timestamp annotations into the AOF.",
    "aof-use-rdb-preamble": "Starts rewritten AOF files with an RDB preamble.",
    "aof_rewrite_cpulist": "CPUs the AOF rewrite child is pinned to.",
    "appenddirname": "Directory, inside dir, that holds the AOF files.",
    "appendfilename": "Base name of the AOF files.",
    "appendfsync": "When the AOF is fsynced: always, everysec or no.",
    "appendonly": "Enables the append-only file.",
    "auto-aof-rewrite-min-size": "AOF size below which no automatic rewrite happens.",
    "auto-aof-rewrite-percentage": "AOF growth percentage that triggers an automatic rewrite.",
    "bgsave_cpulist": "CPUs the BGSAVE child is pinned to.",
    "bind": "Addresses the server listens on.",
    "bind-source-addr": "Source address of outgoing connections.",
    "bio_cpulist": "CPUs the background I/O threads are pinned to.",
    "busy-reply-threshold": "Script or module run time (ms) after which other clients get BUSY.",
    "client-output-buffer-limit": "Output buffer hard limit, soft limit and soft seconds per client class.",
    "client-query-buffer-limit": "Maximum size of one client's query buffer.",
    "cluster-allow-pubsubshard-when-down": "Serves sharded pub/sub while the cluster is down.",
    "cluster-allow-reads-when-down": "Serves reads while the cluster is down.",
    "cluster-allow-replica-migration": "Lets replicas migrate to orphaned masters.",
    "cluster-announce-bus-port": "Cluster bus port announced to other nodes.",
    "cluster-announce-hostname": "Hostname announced to other cluster nodes.",
    "cluster-announce-ip": "IP address announced to other cluster nodes.",
    "cluster-announce-port": "Client port announced to other cluster nodes.",
    "cluster-announce-tls-port": "TLS client port announced to other cluster nodes.",
    "cluster-config-file": "File where the node keeps its cluster state.",
    "cluster-enabled": "Runs the server in cluster mode.",
    "cluster-link-sendbuf-limit": "Memory limit of one cluster bus link's send buffer.",
    "cluster-migration-barrier": "Replicas a master keeps before one may migrate away.",
    "cluster-node-timeout": "Milliseconds after which an unreachable node is considered failing.",
    "cluster-port": "Port of the cluster bus.",
    "cluster-preferred-endpoint-type": "Endpoint type (ip, hostname, unknown-endpoint) in redirects.",
    "cluster-replica-no-failover": "Prevents this replica from failing over its master.",
    "cluster-replica-validity-factor": "Data age factor above which a replica does not fail over.",
    "cluster-require-full-coverage": "Stops serving when some hash slots are not covered.",
    "crash-log-enabled": "Writes a crash report to the log on a crash.",
    "crash-memcheck-enabled": "Runs a memory test as part of the crash report.",
    "daemonize": "Runs the server in the background.",
    "databases": "Number of logical databases (SELECT 0 .. databases-1).",
    "dbfilename": "File name of RDB snapshots.",
    "dir": "Working directory for RDB and AOF files.",
    "disable-thp": "Disables transparent huge pages for the process.",
    "dynamic-hz": "Raises hz temporarily when there are many clients.",
    "enable-debug-command": "Allows the DEBUG command: no, yes or local.",
    "enable-module-command": "Allows the MODULE command: no, yes or local.",
    "enable-protected-configs": "Allows CONFIG SET of protected parameters: no, yes or local.",
    "hash-max-listpack-entries": "Field count up to which a hash uses the compact encoding.",
    "hash-max-listpack-value": "Value size up to which a hash uses the compact encoding.",
    "hll-sparse-max-bytes": "Size up to which a HyperLogLog uses the sparse encoding.",
    "hz": "Frequency of background tasks (expiry, timeouts) per second; clamped to 1..500.",
    "ignore-warnings": "Startup warnings to suppress.",
    "io-threads": "Number of I/O threads.",
    "io-threads-do-reads": "Lets I/O threads also read and parse requests.",
    "jemalloc-bg-thread": "Enables jemalloc's background purge thread.",
    "latency-monitor-threshold": "Milliseconds above which events are recorded by the latency monitor.",
    "latency-tracking": "Tracks per-command latency percentiles.",
    "latency-tracking-info-percentiles": "Percentiles reported in INFO latencystats.",
    "lazyfree-lazy-eviction": "Frees evicted values in the background.",
    "lazyfree-lazy-expire": "Frees expired values in the background.",
    "lazyfree-lazy-server-del": "Frees values deleted implicitly (RENAME, SET over a key) in the background.",
    "lazyfree-lazy-user-del": "Makes DEL behave like UNLINK.",
    "lazyfree-lazy-user-flush": "Makes FLUSHALL and FLUSHDB asynchronous by default.",
    "lfu-decay-time": "Minutes after which an LFU counter is halved.",
    "lfu-log-factor": "Logarithmic factor of the LFU counter.",
    "list-compress-depth": "Number of list nodes at each end left uncompressed.",
    "list-max-listpack-size": "Size of each list node (negative: bytes class, positive: entries).",
    "logfile": "Log file path; empty logs to standard output.",
    "loglevel": "Log verbosity: debug, verbose, notice or warning.",
    "masterauth": "Password used to authenticate to the master.",
    "masteruser": "User name used to authenticate to the master.",
    "maxclients": "Maximum number of connected clients.",
    "maxmemory": "Memory limit for the dataset; 0 means no limit.",
    "maxmemory-clients": "Memory limit for all client buffers together (bytes or percent of maxmemory).",
    "maxmemory-eviction-tenacity": "How hard eviction works in one go (0-100).",
    "maxmemory-policy": "What happens when maxmemory is reached.",
    "maxmemory-samples": "Keys sampled per eviction decision.",
    "min-replicas-max-lag": "Maximum replica lag, in seconds, to count as a good replica.",
    "min-replicas-to-write": "Good replicas needed to accept writes.",
    "no-appendfsync-on-rewrite": "Skips AOF fsync while a rewrite or BGSAVE runs.",
    "notify-keyspace-events": "Keyspace notification classes to publish.",
    "oom-score-adj": "How oom-score-adj-values are applied: no, yes, relative or absolute.",
    "oom-score-adj-values": "OOM score adjustments for master, replica and background child.",
    "pidfile": "Path of the PID file.",
    "port": "TCP port to listen on; 0 disables TCP.",
    "proc-title-template": "Template of the process title.",
    "propagation-error-behavior": "What a replica does when a propagated command fails.",
    "protected-mode": "Refuses remote clients when no password and no bind address are set.",
    "proto-max-bulk-len": "Maximum size of one bulk string in a request.",
    "rdb-del-sync-files": "Deletes RDB files used only for replication.",
    "rdb-save-incremental-fsync": "Fsyncs the RDB file every 4 MB while writing it.",
    "rdbchecksum": "Adds a CRC64 checksum to RDB files.",
    "rdbcompression": "Compresses strings in RDB files with LZF.",
    "repl-backlog-size": "Size of the replication backlog used for partial resynchronization; at least 16kb.",
    "repl-backlog-ttl": "Seconds without replicas after which the backlog is freed.",
    "repl-disable-tcp-nodelay": "Disables TCP_NODELAY on the replication link.",
    "repl-diskless-load": "How a replica loads the RDB it receives: disabled, on-empty-db or swapdb.",
    "repl-diskless-sync": "Sends the RDB for full sync over the socket without writing it to disk.",
    "repl-diskless-sync-delay": "Seconds to wait for more replicas before a diskless sync starts.",
    "repl-diskless-sync-max-replicas": "Replicas that start a diskless sync at once without waiting.",
    "repl-ping-replica-period": "Seconds between pings from master to replicas.",
    "repl-timeout": "Replication timeout in seconds.",
    "replica-announce-ip": "IP address a replica reports to its master.",
    "replica-announce-port": "Port a replica reports to its master.",
    "replica-announced": "Lists this replica in Sentinel and cluster replies.",
    "replica-ignore-disk-write-errors": "Lets a replica keep applying writes after disk errors.",
    "replica-ignore-maxmemory": "Makes a replica ignore maxmemory.",
    "replica-lazy-flush": "Flushes the old dataset in the background on full sync.",
    "replica-priority": "Priority of the replica for promotion; 0 means never.",
    "replica-read-only": "Refuses writes from clients on a replica.",
    "replica-serve-stale-data": "Serves possibly stale data while the master link is down.",
    "replicaof": "Master this server replicates from (host port).",
    "requirepass": "Password of the default user.",
    "sanitize-dump-payload": "Deep-checks RESTORE payloads: no, yes or clients.",
    "save": "RDB snapshot points as pairs of seconds and changes.",
    "server_cpulist": "CPUs the main and I/O threads are pinned to.",
    "set-max-intset-entries": "Element count up to which a set of integers uses the intset encoding.",
    "set-proc-title": "Changes the process title.",
    "shutdown-on-sigint": "Shutdown flags used on SIGINT.",
    "shutdown-on-sigterm": "Shutdown flags used on SIGTERM.",
    "shutdown-timeout": "Seconds to wait for replicas to catch up on shutdown.",
    "slowlog-log-slower-than": "Microseconds above which a command goes to the slow log.",
    "slowlog-max-len": "Maximum entries in the slow log.",
    "socket-mark-id": "Socket mark (SO_MARK) of listening sockets.",
    "stop-writes-on-bgsave-error": "Refuses writes while the last BGSAVE failed.",
    "stream-node-max-bytes": "Maximum size of one stream radix-tree node.",
    "stream-node-max-entries": "Maximum entries in one stream radix-tree node (the node size approximate trimming counts).",
    "supervised": "Supervision mode: upstart, systemd, auto or no.",
    "syslog-enabled": "Also logs to syslog.",
    "syslog-facility": "Syslog facility.",
    "syslog-ident": "Syslog identity.",
    "tcp-backlog": "Listen backlog of the TCP socket.",
    "tcp-keepalive": "Seconds between TCP keepalive probes; 0 disables them.",
    "timeout": "Seconds after which an idle client is closed; 0 disables it.",
    "tls-auth-clients": "Whether TLS clients must present a certificate.",
    "tls-ca-cert-dir": "Directory of trusted CA certificates.",
    "tls-ca-cert-file": "File of trusted CA certificates.",
    "tls-cert-file": "Server TLS certificate.",
    "tls-ciphers": "Allowed TLS 1.2 ciphers.",
    "tls-ciphersuites": "Allowed TLS 1.3 cipher suites.",
    "tls-client-cert-file": "TLS certificate used for outgoing connections.",
    "tls-client-key-file": "TLS key used for outgoing connections.",
    "tls-client-key-file-pass": "Passphrase of tls-client-key-file.",
    "tls-cluster": "Uses TLS on the cluster bus.",
    "tls-dh-params-file": "Diffie-Hellman parameters file.",
    "tls-key-file": "Server TLS private key.",
    "tls-key-file-pass": "Passphrase of tls-key-file.",
    "tls-port": "TLS port to listen on; 0 disables TLS.",
    "tls-prefer-server-ciphers": "Prefers the server's cipher order.",
    "tls-protocols": "Allowed TLS protocol versions.",
    "tls-replication": "Uses TLS on replication links.",
    "tls-session-cache-size": "Number of cached TLS sessions.",
    "tls-session-cache-timeout": "Seconds a cached TLS session stays valid.",
    "tls-session-caching": "Enables TLS session caching.",
    "tracking-table-max-keys": "Keys tracked for client-side caching.",
    "unixsocket": "Path of the Unix socket to listen on.",
    "unixsocketperm": "Permissions of the Unix socket (octal).",
    "zset-max-listpack-entries": "Element count up to which a sorted set uses the compact encoding.",
    "zset-max-listpack-value": "Element size up to which a sorted set uses the compact encoding.",
}

# Values tried for every parameter of a kind, for the differential fixture.
BOOL_VALUES = ["yes", "no", "YES", "No", "maybe", "", "1"]
NUMERIC_VALUES = ["0", "1", "-1", "+5", " 5", "5 ", "1.5", "abc", "", "007", "1k", "1kb", "1K",
                  "1KB", "2m", "2mb", "3g", "3gb", "1b", "1B", "1tb", "kb", "-1kb", "10%", "101%",
                  "-5%", "%", "9223372036854775807", "9223372036854775808",
                  "-9223372036854775808", "18446744073709551615", "99999999999999999999",
                  "4294967295", "4294967296", "2147483647", "2147483648", "1048576", "1048575"]
STRING_VALUES = ["abc", "", "a b", "x/y"]
SPECIAL_VALUES = {
    "save": ["", "3600 1", "3600 1 300 100", "03600 01", "1 2 3", "0 1", "-1 1", "1 -1", "1 0",
             "abc", "1 x", "+5 +6", " 10 20 ", "10 20 30 40 50 60"],
    "client-output-buffer-limit": [
        "normal 0 0 0", "pubsub 1gb 2kb 3", "replica 1mb 2mb 60", "slave 1 2 3",
        "normal 1 2 3 pubsub 4 5 6", "zzz", "normal 1 2", "master 1 2 3", "normal 1mb 2 x",
        "normal -1 2 3", "normal 1 2 -3", "NORMAL 1 2 3", "pubsub 1 2 3 pubsub 4 5 6",
        "normal 1.5 2 3", "normal 1 2 3x"],
    "oom-score-adj-values": ["0 200 800", "1 2", "1 2 x", "1 2 3000", "300 200 100",
                             "-2000 0 2000", "-2001 0 0", "1 2 3 4", ""],
    "notify-keyspace-events": ["", "KEA", "gx$E", "zzz", "A", "Kg", "KEg$lshzxetdmn", "Ab",
                               "KE", "AKEm", "g$lshzxetd", "K", "E", "n", "$", "ndtexzhsl$g",
                               "mEK", "An", "nm", "gggg", "A$", "x y", "KEA ", "ndt", "nx", "dg",
                               "te", "Ex", "tdn$"],
    "latency-tracking-info-percentiles": ["", "x", "101", "-1", "50 99.99 1e1", "50", "0 100",
                                          "99.9999", "50 x"],
    "bind": ["1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"],
    "hz": ["0", "1", "-1", "abc", "500", "501", "2147483647", "2147483648", "100"],
    "activedefrag": ["yes", "no", "maybe"],
    "proc-title-template": ["{title}", "{zzz}", "", "{title} {listen-addr} {server-mode}",
                            "x {port} {tls-port} {unixsocket} {config-file}", "{title", "}"],
    "cluster-announce-hostname": ["", "a b", "host-1.example", "a_b", "x" * 256, "x" * 255],
}

# Errors that come from applying a value to the running process rather than
# from validating it; cases that hit them are left out of the fixture.
APPLY_ERRORS = [
    "Unable to update TLS configuration",
    "Failed to bind to specified addresses",
    "Unable to listen on this port",
    "Failed to set current oom_score_adj",
]

# Parameters whose CONFIG SET would change the probe server's connectivity or
# files; only clearly invalid values are tried on them.
RISKY = {"port", "bind", "requirepass", "maxclients", "timeout", "tls-port", "dir"}


def start_server(binary, port, workdir):
    proc = subprocess.Popen([binary, "--port", str(port)], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            conn = Conn(port, resp3=False)
            if conn.cmd("PING") == ("simple", "PONG"):
                return proc, conn
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start on port %d" % port)


def config_get_all(conn):
    reply = conn.cmd("CONFIG", "GET", "*")
    items = [v[1] for v in reply[1]]
    return dict(zip(items[0::2], items[1::2]))


def config_set(conn, name, value):
    reply = conn.cmd("CONFIG", "SET", name, value)
    if reply[0] == "error":
        return reply[1]
    assert reply == ("simple", "OK"), reply
    return None


def config_get(conn, name):
    reply = conn.cmd("CONFIG", "GET", name)
    return reply[1][1][1]


REASON = re.compile(r"^ERR CONFIG SET failed \(possibly related to argument '[^']*'\) - (.*)$")


def reason(err):
    m = REASON.match(err)
    return m.group(1) if m else err


def probe(conn, name, default):
    """Returns the kind of one parameter as a tuple."""
    err = config_set(conn, name, default)
    if err is not None and reason(err) == "can't set immutable config":
        return "immutable", None
    if err is not None and reason(err) == "can't set protected config":
        return "protected", None
    if name in SPECIAL:
        return "mutable", ("special",)
    if name in CHECKED_STRINGS:
        return "mutable", ("string",)
    err = config_set(conn, name, "zzz")
    if err is None:
        config_set(conn, name, default)
        return "mutable", ("string",)
    r = reason(err)
    if r == "argument must be 'yes' or 'no'":
        return "mutable", ("bool",)
    if r.startswith("argument(s) must be one of the following: "):
        names = r.split(": ", 1)[1].split(", ")
        printed = []
        for n in names:
            e = config_set(conn, name, n)
            printed.append(n if e else config_get(conn, name))
        config_set(conn, name, default)
        # Multi-flag enums (shutdown-on-sig*) print several names.
        flags = config_set(conn, name, "%s %s" % (names[-1], names[-2])) is None
        config_set(conn, name, default)
        if flags:
            return "mutable", ("flags", names)
        return "mutable", ("enum", list(zip(names, printed)))
    numeric = {"argument couldn't be parsed into an integer": "int",
               "argument must be a memory value": "memory",
               "argument must be a memory or percent value": "memory-percent"}
    if r not in numeric:
        raise SystemExit("cannot classify %s: %s" % (name, err))
    lo = hi = None
    for value in ["-9223372036854775808", "9223372036854775807", "-1", "0",
                  "18446744073709551615"]:
        if name in RISKY and value in ("0", "-1", "9223372036854775807", "18446744073709551615"):
            continue
        e = config_set(conn, name, value)
        if e is None:
            config_set(conn, name, default)
            continue
        m = re.match(r"argument must be between (-?\d+) and (\d+) inclusive", reason(e))
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
    if name in BOUNDS:
        lo, hi = BOUNDS[name]
    if lo is None:
        raise SystemExit("no bounds found for %s" % name)
    return "mutable", (numeric[r], lo, hi)


def rs_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rs_kind(kind, unsigned):
    k = kind[0]
    if k == "bool":
        return "Kind::Bool"
    if k == "string":
        return "Kind::String"
    if k == "special":
        return "Kind::Special"
    if k in ("int", "memory", "memory-percent", "octal"):
        return ("Kind::Numeric(Numeric { min: %d, max: %d, unsigned: %s, memory: %s, "
                "percent: %s, octal: %s })") % (
            kind[1], kind[2], "true" if unsigned else "false",
            "true" if k.startswith("memory") else "false",
            "true" if k == "memory-percent" else "false",
            "true" if k == "octal" else "false")
    if k == "enum":
        pairs = kind[1]
        if isinstance(pairs[0], str):
            pairs = [(n, n) for n in pairs]
        items = ", ".join("(%s, %s)" % (rs_str(a), rs_str(b)) for a, b in pairs)
        return "Kind::Enum(&[%s])" % items
    if k == "flags":
        return "Kind::Flags(&[%s])" % ", ".join(rs_str(n) for n in kind[1])
    raise ValueError(kind)


def kind_label(kind, unsigned):
    k = kind[0]
    if k in ("int", "memory", "memory-percent", "octal"):
        lo, hi = kind[1], kind[2]
        label = {"int": "integer", "memory": "memory", "memory-percent": "memory or percent",
                 "octal": "octal"}[k]
        return "%s %s..%s" % (label, oct(lo)[2:] if k == "octal" else lo,
                              oct(hi)[2:] if k == "octal" else hi)
    if k in ("enum", "flags"):
        names = [p[0] if isinstance(p, tuple) else p for p in kind[1]]
        return ("one of " if k == "enum" else "flags ") + " ".join(names)
    return {"bool": "yes/no", "string": "string", "special": "special"}[k]


def fixture_cases(conn, params):
    lines = []
    for p in params:
        name, kind = p["name"], p["kind"]
        if p["immutable"] or p["protected"]:
            values = ["x"]
        elif name in SPECIAL_VALUES:
            values = SPECIAL_VALUES[name]
        elif kind[0] == "bool":
            values = BOOL_VALUES
        elif kind[0] in ("int", "memory", "memory-percent"):
            values = NUMERIC_VALUES
        elif kind[0] in ("enum", "flags"):
            names = [a if isinstance(a, str) else a[0] for a in kind[1]]
            values = names + [n.upper() for n in names] + ["zzz", ""]
            if kind[0] == "flags":
                values += [" ".join(names[1:3]), " ".join(names[2:4]), "%s zzz" % names[1],
                           " ".join(reversed(names[1:]))]
        elif kind[0] == "string":
            values = STRING_VALUES
        else:
            values = SPECIAL_VALUES.get(name, [])
        if name.startswith("tls-") and kind[0] != "bool":
            values = [v for v in values if v in ("zzz", "abc")] if kind[0] == "enum" else []
        if name.startswith("tls-") and kind[0] == "bool":
            values = ["maybe"]
        if name in RISKY and not (p["immutable"] or p["protected"]):
            values = [v for v in values if v in ("abc", "1.5", "", "-1", "99999999999999999999",
                                                 "9223372036854775808", "-9223372036854775808",
                                                 "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17")]
            if name == "requirepass":
                values = ["abc", "a b"]
            if name in ("maxclients", "timeout"):
                values = ["-1", "abc", "99999999999999999999", "4294967296", "1.5"]
        for value in values:
            err = config_set(conn, name, value)
            if err is None:
                result = "ok\t" + config_get(conn, name)
                restore = config_set(conn, name, p["default"])
                assert restore is None, (name, restore)
            else:
                if any(a in err for a in APPLY_ERRORS):
                    continue
                result = "err\t" + err
            lines.append("%s\t%s\t%s" % (name, escape(value), result))
    return lines


def escape(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=7793)
    ap.add_argument("--server", default="redis-server")
    opts = ap.parse_args()
    binary = shutil.which(opts.server)
    workdir = tempfile.mkdtemp(prefix="concord-gen-config-")
    proc, conn = start_server(binary, opts.port, workdir)
    try:
        version = [l.split(":", 1)[1] for l in conn.cmd("INFO", "server")[1].splitlines()
                   if l.startswith("redis_version:")][0].strip()
        if not version.startswith("7.0."):
            raise SystemExit("expected Redis 7.0, got %s" % version)
        defaults = config_get_all(conn)
        alias_of = {alias: name for name, alias in ALIASES}
        for name, alias in ALIASES:
            assert defaults[name] == defaults[alias], (name, alias)
        params = []
        for name in sorted(defaults):
            if name in alias_of:
                continue
            state, kind = probe(conn, name, defaults[name])
            if state in ("immutable", "protected") and kind is None:
                kind = IMMUTABLE_KINDS.get(name)
                if kind is None:
                    value = defaults[name]
                    kind = ("bool",) if value in ("yes", "no") else (
                        ("special",) if name in SPECIAL else ("string",))
            params.append({
                "name": name,
                "aliases": [a for n, a in ALIASES if n == name],
                "default": DEFAULT_OVERRIDES.get(name, defaults[name]),
                "kind": kind,
                "unsigned": name in UNSIGNED,
                "immutable": state == "immutable",
                "protected": state == "protected",
                "applies": name in APPLIES,
                "doc": DOCS.get(name),
            })
            if params[-1]["doc"] is None:
                raise SystemExit("write a DOCS entry for %s" % name)
        cases = fixture_cases(conn, params)
    finally:
        try:
            conn.cmd("SHUTDOWN", "NOSAVE")
        except EOFError:
            pass  # The server closes the connection when it exits.
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    for p in CONCORD_PARAMS:
        params.append(dict(p, aliases=[], kind=None, unsigned=False, immutable=False, protected=False,
                           applies=True))
    params.sort(key=lambda p: p["name"])
    write_rust(params, version)
    write_fixture(cases, version)
    write_markdown(params, version)
    print("wrote %d parameters (%d aliases), %d CONFIG SET cases" % (
        len(params), len(ALIASES), len(cases)))


def write_rust(params, version):
    out = ["// @generated by crates/commands/gen/gen_config.py from redis-server %s.\n" % version,
           "// Do not edit by hand: change the generator and re-run it.\n\n",
           "//! Every Redis 7.0 CONFIG parameter, sorted by name.\n\n",
           "use crate::config_params::{Effect, Kind, Numeric, ParamSpec};\n\n",
           "/// Every Redis 7.0 CONFIG parameter, sorted by name (aliases excluded).\n",
           "pub static PARAMS: &[ParamSpec] = &[\n"]
    for p in params:
        out.append("    ParamSpec {\n")
        out.append("        name: %s,\n" % rs_str(p["name"]))
        out.append("        aliases: &[%s],\n" % ", ".join(rs_str(a) for a in p["aliases"]))
        out.append("        default: %s,\n" % rs_str(p["default"]))
        out.append("        kind: %s,\n" % (p.get("rust_kind") or rs_kind(p["kind"], p["unsigned"])))
        out.append("        immutable: %s,\n" % ("true" if p["immutable"] else "false"))
        out.append("        protected: %s,\n" % ("true" if p["protected"] else "false"))
        out.append("        effect: Effect::%s,\n" % ("Applies" if p["applies"] else "Stored"))
        out.append("        doc: %s,\n" % rs_str(p["doc"]))
        out.append("    },\n")
    out.append("];\n")
    with open(os.path.join(CRATE, "src", "config_table.rs"), "w") as f:
        f.write("".join(out))


def write_fixture(cases, version):
    path = os.path.join(CRATE, "src", "testdata", "config_set.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("# @generated by crates/commands/gen/gen_config.py from redis-server %s.\n" % version)
        f.write("# name<TAB>value (\\\\ and \\t escaped)<TAB>ok<TAB>CONFIG GET value | err<TAB>error\n")
        f.write("\n".join(cases) + "\n")


def write_markdown(params, version):
    lines = [
        "# CONFIG parameters",
        "",
        "<!-- @generated by crates/commands/gen/gen_config.py from redis-server %s. -->" % version,
        "",
        "Concord accepts every Redis 7.0 configuration parameter in CONFIG GET and",
        "CONFIG SET, with Redis's defaults, value checks and error messages.",
        "",
        "* **Applies**: Concord acts on the value.",
        "* **Stored**: the value is checked, stored and reported by CONFIG GET, but it",
        "  changes nothing. These tune Redis internals (mostly compact encodings) or",
        "  features Concord does not have.",
        "* **Immutable** parameters can only be set at startup; CONFIG SET answers",
        "  `can't set immutable config`. **Protected** ones are refused by CONFIG SET",
        "  with `can't set protected config`, as in Redis with the default",
        "  `enable-protected-configs no`.",
        "",
        "The `dir` default is the server's working directory (CONFIG GET prints it as",
        "an absolute path).",
        "",
        "| Parameter | Aliases | Default | Type | Effect | Description |",
        "|---|---|---|---|---|---|",
    ]
    for p in params:
        flags = []
        if p["immutable"]:
            flags.append("immutable")
        if p["protected"]:
            flags.append("protected")
        effect = ("Applies" if p["applies"] else "Stored") + (
            " (" + ", ".join(flags) + ")" if flags else "")
        default = p["default"].replace("|", "\\|")
        lines.append("| `%s` | %s | %s | %s | %s | %s |" % (
            p["name"], ", ".join("`%s`" % a for a in p["aliases"]),
            "`%s`" % default if default else "(empty)",
            (p.get("label") or kind_label(p["kind"], p["unsigned"])).replace("|", "\\|"), effect,
            p.get("md_doc") or p["doc"]))
    lines.append("")
    with open(os.path.join(ROOT, "docs", "config.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
