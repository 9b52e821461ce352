//! INFO and CONFIG.

use std::fmt::Write;

use bytes::Bytes;
use resp::Frame;

use crate::state::{Shared, State};

/// The Redis version Concord reports to clients (the command set it matches).
pub const REDIS_VERSION: &str = "7.0.15";

/// Bytes allocated by the process (jemalloc statistics).
pub fn allocated() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
}

fn resident() -> u64 {
    tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as u64
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// Every section, in the order INFO prints them.
const SECTIONS: &[&str] =
    &["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "commandstats", "errorstats", "keyspace", "crdt"];
/// Left out of `INFO` / `INFO default`, as Redis leaves them out.
const NOT_DEFAULT: &[&str] = &["commandstats"];

pub fn info(shared: &Shared, st: &mut State, args: &[&[u8]]) -> Frame {
    let mut wanted: Vec<String> = args[1..].iter().map(|a| String::from_utf8_lossy(a).to_lowercase()).collect();
    if wanted.iter().any(|w| w == "all" || w == "everything") {
        wanted = SECTIONS.iter().map(|s| s.to_string()).collect();
    } else if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
        wanted.extend(SECTIONS.iter().filter(|s| !NOT_DEFAULT.contains(s)).map(|s| s.to_string()));
    }
    let mut out = String::new();
    for section in SECTIONS {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        render(shared, st, section, &mut out);
    }
    Frame::Verbatim { format: *b"txt", text: out.into() }
}

fn render(shared: &Shared, st: &mut State, section: &str, o: &mut String) {
    let e = &st.engine;
    match section {
        "server" => {
            let up = shared.started.elapsed().as_secs();
            let _ = write!(
                o,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nconcord_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\nexecutable:concord\r\nconfig_file:\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::process::id(),
                shared.run_id,
                shared.local.port(),
                crate::state::now_ms() * 1000,
                up,
                up / 86400
            );
        }
        "clients" => {
            let blocked = st.blocked.len();
            let _ = write!(
                o,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{blocked}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                st.clients.len(),
                shared.config.maxclients
            );
        }
        "memory" => {
            let used = allocated();
            let rss = resident();
            let _ = write!(
                o,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{used}\r\nused_memory_dataset:{used}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:jemalloc\r\nlazyfree_pending_objects:0\r\n",
                human(used),
                human(rss),
                e.config.maxmemory,
                human(e.config.maxmemory),
                e.config.maxmemory_policy.name(),
                if used > 0 { rss as f64 / used as f64 } else { 0.0 }
            );
        }
        "persistence" => {
            let _ = write!(
                o,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_saves:{}\r\nconcord_snapshot_offset:{}\r\naof_enabled:{}\r\naof_rewrite_in_progress:0\r\naof_last_write_status:{}\r\naof_fsync:{}\r\n",
                st.changes_since_snapshot,
                st.stream.snapshot_running as u8,
                if st.repl.last_snapshot_ok { "ok" } else { "err" },
                st.repl.snapshots,
                st.stream.snapshot_offset.0,
                st.stream.appendonly() as u8,
                if st.stream.last_write_ok { "ok" } else { "err" },
                st.stream.fsync_policy().name()
            );
        }
        "stats" => {
            let s = &st.stats;
            let _ = write!(
                o,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ntotal_net_repl_output_bytes:{}\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nclient_output_buffer_limit_disconnections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\ntotal_error_replies:{}\r\n",
                s.total_connections_received,
                s.total_commands_processed,
                s.total_net_input_bytes,
                s.total_net_output_bytes,
                st.repl.output_bytes,
                s.rejected_connections,
                st.repl.sync_full,
                st.repl.sync_partial_ok,
                st.repl.sync_partial_err,
                st.repl.obuf_disconnections,
                e.stats.expired_keys,
                e.stats.evicted_keys,
                e.stats.keyspace_hits,
                e.stats.keyspace_misses,
                st.channels.len(),
                st.patterns.len(),
                st.shard_channels.len(),
                s.total_error_replies
            );
            // No fork here: the longest single hold of the keyspace lock by
            // the last snapshot capture (docs/replication.md).
            let _ = write!(o, "latest_fork_usec:{}\r\n", st.stream.latest_fork_usec);
        }
        "commandstats" => {
            o.push_str("# Commandstats\r\n");
            let mut rows: Vec<_> = st.stats.commands.values().filter_map(|c| Some((c.spec?.full_name(), *c))).collect();
            rows.sort_by_key(|(name, _)| *name);
            for (name, c) in rows {
                let per_call = if c.calls == 0 { 0.0 } else { c.nanos as f64 / 1000.0 / c.calls as f64 };
                let _ = write!(
                    o,
                    "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                    c.calls, c.nanos / 1000, c.rejected_calls, c.failed_calls
                );
            }
        }
        "errorstats" => {
            o.push_str("# Errorstats\r\n");
            for (code, n) in &st.stats.errors {
                let _ = write!(o, "errorstat_{code}:count={n}\r\n");
            }
        }
        "replication" => crate::replica::info_replication(st, o),
        "cpu" => {
            let _ = write!(o, "# CPU\r\nused_cpu_sys:0.000000\r\nused_cpu_user:0.000000\r\n");
        }
        "keyspace" => {
            o.push_str("# Keyspace\r\n");
            let keys = e.dbsize();
            if keys > 0 {
                let _ = write!(o, "db0:keys={},expires={},avg_ttl=0\r\n", keys, e.expires_count());
            }
        }
        "crdt" => {
            let db = &e.db;
            let c = &db.stats.conflicts;
            let sync = &st.sync;
            let aa = !shared.config.members.is_empty();
            let state = sync.state.clone().unwrap_or_else(|| if aa { "enabled" } else { "disabled" }.into());
            let _ = write!(
                o,
                "# CRDT\r\ncrdt_config_version:1\r\ncrdt_slots:0-16383\r\ncrdt_instance_id:{}\r\ncrdt_members:{}\r\ncrdt_sync:{}\r\ncrdt_sync_last_error:{}\r\ncrdt_replid:{}\r\ncrdt_repl_offset:{}\r\ncrdt_clock:{}\r\ncrdt_ovc:{:?}\r\ncrdt_sync_full:{}\r\ncrdt_sync_partial_ok:{}\r\ncrdt_sync_partial_err:{}\r\ncrdt_merge_reqs:{}\r\ncrdt_effect_reqs:{}\r\ncrdt_ovc_filtered_effect_reqs:{}\r\ncrdt_apply_reqs:{}\r\ncrdt_egress_bytes:{}\r\ncrdt_egress_bytes_decompressed:{}\r\ncrdt_ingress_bytes:{}\r\ncrdt_ingress_bytes_decompressed:{}\r\ncrdt_gc_pending:{}\r\ncrdt_gc_attempted:{}\r\ncrdt_gc_collected:{}\r\ncrdt_gc_gvc_min:{:?}\r\ncrdt_stale_released_with_merge:0\r\ncrdt_backlog_size:{}\r\ncrdt_backlog_first_byte_offset:{}\r\ncrdt_backlog_histlen:{}\r\ncrdt_conflicts_lww:{}\r\ncrdt_conflicts_add_wins:{}\r\ncrdt_conflicts_type:{}\r\ncrdt_conflicts_ttl:{}\r\n",
                db.me.0,
                shared.config.members.iter().map(|m| m.0.to_string()).collect::<Vec<_>>().join(","),
                state,
                sync.last_error,
                st.stream.history.current().as_str(),
                st.stream.offset().0,
                db.clock.last().0,
                db.vv,
                sync.full,
                sync.partial_ok,
                sync.partial_err,
                db.stats.merge_reqs,
                db.stats.effect_reqs,
                db.stats.ovc_filtered_effect_reqs,
                sync.applies,
                sync.egress_bytes,
                sync.egress_raw_bytes,
                sync.ingress_bytes,
                sync.ingress_raw_bytes,
                db.gc_pending(),
                db.stats.gc_attempted,
                db.stats.gc_collected,
                db.gvc_min(),
                st.stream.backlog.size_max(),
                st.stream.backlog.first_offset().0,
                st.stream.backlog.histlen(),
                c.lww.values().sum::<u64>(),
                c.add_wins.values().sum::<u64>(),
                c.type_conflicts,
                c.ttl
            );
            // Per remote instance: how far we applied its stream, whether it
            // is pulling ours now, and how many of our effects it has not
            // announced yet (ops lag, from its observed-vector announcements).
            let my_seq = sync.last_data_seq;
            let mut lags = Vec::new();
            for m in shared.config.members.iter().filter(|m| **m != db.me) {
                let (replid, offset) = match st.stream.peers.get(&m.0) {
                    Some(p) => (p.replid.as_str().to_string(), p.offset.0 as i64),
                    None => ("?".to_string(), -1),
                };
                let seen = db.observed.get(m).map(|vv| vv.get(db.me)).unwrap_or(0);
                let lag = my_seq.saturating_sub(seen);
                lags.push(lag);
                let _ = write!(
                    o,
                    "crdt_replica_{}:applied_replid={},applied_offset={},pulling={},ops_lag={}\r\n",
                    m.0,
                    replid,
                    offset,
                    sync.serving.get(&m.0).copied().unwrap_or(0),
                    lag
                );
            }
            let _ = write!(
                o,
                "max_ops_lag:{}\r\nmin_ops_lag:{}\r\n",
                lags.iter().max().copied().unwrap_or(0),
                lags.iter().min().copied().unwrap_or(0)
            );
        }
        _ => {}
    }
}

pub fn config_cmd(st: &mut State, args: &[&[u8]]) -> Frame {
    let sub = args[1].to_ascii_lowercase();
    match &sub[..] {
        b"get" => {
            let mut pairs: Vec<(Frame, Frame)> = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for pat in &args[2..] {
                let typed = String::from_utf8_lossy(pat).into_owned();
                // An exact name (or alias) is echoed as the client typed it.
                if let Some(spec) = commands::config_params::find(&typed) {
                    if !typed.contains(['*', '?', '[']) {
                        if seen.insert(spec.name.to_string()) {
                            let v = st.params.get(spec.name).cloned().unwrap_or_default();
                            pairs.push((Frame::Bulk(Bytes::copy_from_slice(pat)), Frame::bulk(v)));
                        }
                        continue;
                    }
                }
                for spec in commands::config_params::all() {
                    let names = std::iter::once(&spec.name).chain(spec.aliases.iter());
                    for name in names {
                        if commands::glob_match(pat, name.as_bytes(), true) && seen.insert(name.to_string()) {
                            let v = st.params.get(spec.name).cloned().unwrap_or_default();
                            pairs.push((Frame::bulk(name.to_string()), Frame::bulk(v)));
                        }
                    }
                }
            }
            Frame::Map(pairs)
        }
        b"set" => {
            if args.len() < 4 || args.len() % 2 != 0 {
                return Frame::error("ERR wrong number of arguments for 'config|set' command");
            }
            let mut updates = Vec::new();
            // Redis keeps the flags parsed from what the client typed: its
            // normalized form drops `n` next to `A`.
            let mut notify_flags = None;
            for kv in args[2..].chunks(2) {
                let typed = String::from_utf8_lossy(&kv[0]).into_owned();
                let value = String::from_utf8_lossy(&kv[1]).into_owned();
                let Some(spec) = commands::config_params::find(&typed) else {
                    return Frame::error(format!("ERR Unknown option or number of arguments for CONFIG SET - '{typed}'"));
                };
                if updates.iter().any(|(n, _)| *n == spec.name) {
                    return Frame::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{typed}') - duplicate parameter"
                    ));
                }
                if let Err(e) = commands::config_params::check_settable(spec, &typed) {
                    return Frame::error(e);
                }
                match commands::config_params::validate_as(spec, &typed, &value) {
                    Ok(normalized) => {
                        let normalized = if spec.name == "client-output-buffer-limit" {
                            let current = st.params.get(spec.name).cloned().unwrap_or_default();
                            commands::config_params::merge_client_output_buffer_limit(&current, &normalized)
                        } else {
                            normalized
                        };
                        if spec.name == "notify-keyspace-events" {
                            notify_flags = commands::config_params::notify_keyspace_flags(&value);
                        }
                        updates.push((spec.name, normalized))
                    }
                    Err(e) => return Frame::error(e),
                }
            }
            for (name, value) in updates {
                apply_param(st, name, &value);
                st.params.insert(name.to_string(), value);
            }
            if let Some(flags) = notify_flags {
                st.engine.set_notify_flags(flags);
            }
            Frame::ok()
        }
        b"resetstat" => {
            st.stats = Default::default();
            st.engine.stats = Default::default();
            Frame::ok()
        }
        b"rewrite" => Frame::error("ERR The server is running without a config file"),
        b"help" => Frame::Array(vec![Frame::simple("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")]),
        _ => Frame::error(format!("ERR unknown subcommand '{}'. Try CONFIG HELP.", String::from_utf8_lossy(&args[1]))),
    }
}

/// Parameters that change the engine's behaviour take effect here.
fn apply_param(st: &mut State, name: &str, value: &str) {
    match name {
        "maxmemory" => st.engine.config.maxmemory = value.parse().unwrap_or(0),
        "repl-backlog-size" | "crdt-repl-backlog-size" => {
            // One backlog serves replicas and remote instances: it keeps the
            // larger of the two sizes.
            let get = |n: &str| if n == name { Some(value.to_string()) } else { st.params.get(n).cloned() };
            let repl = get("repl-backlog-size").and_then(|v| v.parse::<u64>().ok()).unwrap_or(1 << 20);
            let crdt = match get("crdt-repl-backlog-size").as_deref() {
                None | Some("auto") => st.stream.crdt_backlog_auto_bytes(),
                Some(v) => v.parse::<u64>().unwrap_or(0),
            };
            st.stream.backlog.resize(repl.max(crdt).max(16 * 1024));
        }
        "maxmemory-policy" => {
            if let Some(p) = engine::Policy::parse(value) {
                st.engine.config.maxmemory_policy = p
            }
        }
        "maxmemory-samples" => st.engine.config.maxmemory_samples = value.parse().unwrap_or(5),
        "lfu-log-factor" => st.engine.config.lfu_log_factor = value.parse().unwrap_or(10),
        "lfu-decay-time" => st.engine.config.lfu_decay_time = value.parse().unwrap_or(1),
        "proto-max-bulk-len" => st.engine.config.proto_max_bulk_len = value.parse().unwrap_or(512 << 20),
        "hash-max-listpack-entries" => {
            st.engine.db.hash_limits.entries = value.parse::<u64>().map_or(512, |v| v.min(usize::MAX as u64) as usize)
        }
        "hash-max-listpack-value" => {
            st.engine.db.hash_limits.value = value.parse::<u64>().map_or(64, |v| v.min(usize::MAX as u64) as usize)
        }
        "stream-node-max-entries" => st.engine.config.stream_node_max_entries = value.parse().unwrap_or(100),
        "crdt-xadd-id-uniqueness-mode" => {
            if let Some(m) = engine::IdMode::parse(value) {
                st.engine.config.xadd_id_mode = m
            }
        }
        "notify-keyspace-events" => {
            st.engine.set_notify_flags(commands::config_params::notify_keyspace_flags(value).unwrap_or(0))
        }
        "requirepass" => st.requirepass = if value.is_empty() { None } else { Some(value.to_string()) },
        "slowlog-log-slower-than" | "slowlog-max-len" => st.slowlog.set_param(name, value),
        _ => {}
    }
}

/// MEMORY USAGE | STATS | DOCTOR | MALLOC-STATS | PURGE | HELP.
pub fn memory_command(st: &mut State, args: &[&[u8]]) -> Frame {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match sub.as_str() {
        "usage" => {
            let mut samples = 5usize;
            let mut i = 3;
            while i < args.len() {
                if args[i].eq_ignore_ascii_case(b"samples") && i + 1 < args.len() {
                    match std::str::from_utf8(&args[i + 1]).ok().and_then(|s| s.parse::<i64>().ok()) {
                        Some(n) if n >= 0 => samples = n as usize,
                        Some(_) => return Frame::error(commands::errors::SYNTAX),
                        None => return Frame::error("ERR value is not an integer or out of range"),
                    }
                    i += 2;
                } else {
                    return Frame::error(commands::errors::SYNTAX);
                }
            }
            match st.engine.memory_usage(&args[2], samples) {
                Some(bytes) => Frame::Integer(bytes as i64),
                None => Frame::Null,
            }
        }
        "stats" => {
            let _ = tikv_jemalloc_ctl::epoch::advance();
            let allocated = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as i64;
            let active = tikv_jemalloc_ctl::stats::active::read().unwrap_or(0) as i64;
            let resident = tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as i64;
            let keys = st.engine.dbsize() as i64;
            let backlog = st.stream.backlog.histlen() as i64;
            let dataset = (allocated - backlog).max(0);
            let int = |name: &str, v: i64| (Frame::bulk(Bytes::from(name.to_string())), Frame::Integer(v));
            let float = |name: &str, v: f64| (Frame::bulk(Bytes::from(name.to_string())), Frame::Double(v));
            let ratio = |a: i64, b: i64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
            Frame::Map(vec![
                int("peak.allocated", st.engine.used_memory.max(allocated as u64) as i64),
                int("total.allocated", allocated),
                int("replication.backlog", backlog),
                int("clients.normal", st.clients.len() as i64),
                int("keys.count", keys),
                int("keys.bytes-per-key", if keys > 0 { dataset / keys } else { 0 }),
                int("dataset.bytes", dataset),
                float("dataset.percentage", 100.0 * ratio(dataset, allocated)),
                int("allocator.allocated", allocated),
                int("allocator.active", active),
                int("allocator.resident", resident),
                float("allocator.fragmentation.ratio", ratio(active, allocated)),
                int("allocator.fragmentation.bytes", active - allocated),
                float("rss-overhead.ratio", ratio(resident, active)),
                int("rss-overhead.bytes", resident - active),
            ])
        }
        "doctor" => {
            let _ = tikv_jemalloc_ctl::epoch::advance();
            let allocated = tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64;
            let resident = tikv_jemalloc_ctl::stats::resident::read().unwrap_or(0) as u64;
            let ratio = if allocated > 0 { resident as f64 / allocated as f64 } else { 0.0 };
            let mut report = format!(
                "Concord memory report: {} allocated, {} resident (ratio {ratio:.2}), {} keys.\n",
                human(allocated),
                human(resident),
                st.engine.dbsize()
            );
            if allocated > 64 << 20 && ratio > 1.5 {
                report.push_str(
                    "The resident set is over 1.5 times the allocated bytes: memory freed by deletes is held by the allocator. MEMORY PURGE returns unused pages to the system.\n",
                );
            } else {
                report.push_str("No memory issue found.\n");
            }
            Frame::bulk(Bytes::from(report))
        }
        "malloc-stats" => Frame::bulk(Bytes::from(malloc_stats())),
        // jemalloc returns freed pages to the system on its own decay timer
        // (dirty_decay_ms); forcing it needs an unsafe allocator call, which
        // Concord does not make. Accepted as Redis accepts it on allocators
        // without purge.
        "purge" => Frame::ok(),
        "help" => {
            let lines = [
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
            ];
            Frame::Array(lines.iter().map(|l| Frame::simple(*l)).collect())
        }
        _ => Frame::error(format!(
            "ERR unknown subcommand '{}'. Try MEMORY HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// jemalloc's own statistics report (`malloc_stats_print`).
fn malloc_stats() -> String {
    let mut out = Vec::new();
    match tikv_jemalloc_ctl::stats_print::stats_print(&mut out, Default::default()) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("jemalloc statistics unavailable: {e}"),
    }
}
