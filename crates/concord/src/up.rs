//! `concord up`: a complete local Active-Active database on loopback.
//!
//! The supervisor starts, for each instance `i` in `1..=N`, three child
//! processes of this same binary, and restarts them when they exit:
//!
//! | process | port (base B) | command |
//! |---|---|---|
//! | shard | `B + 100 + i - 1` (internal) | `concord shard --dir DIR/instance-i --instance i --members 1,..,N --appendonly yes` |
//! | proxy | `B + i - 1` (the endpoint) | `concord proxy --shard 127.0.0.1:<shard port>` |
//! | syncer | none | `concord syncer --instance i --shard ... --peer j=127.0.0.1:<endpoint j> ...` |
//!
//! Child output goes to `DIR/instance-i/<process>.log` (appended). A child
//! that exits is started again after a backoff: 200 ms doubling to 5 s, back
//! to 200 ms once it had run for 30 s. A syncer exiting with code 4 (an
//! unrecoverable error, docs/sync.md) is not restarted: the instance's
//! `crdt_sync` becomes `stopped`, the shard is told with
//! `CRDT.SYNCSTATE stopped <reason>`, and the syncer starts again only after
//! `concord up --dir DIR --resume-sync i` (which creates the file
//! `DIR/instance-i/resume-sync`; the supervisor polls for it every 500 ms).
//!
//! `DIR/up.json` lists the ports, pids and sync states; it is rewritten
//! whenever they change. On SIGINT or SIGTERM every child gets SIGTERM, then
//! SIGKILL after 5 s, and `concord up` exits 0. Started again on the same
//! DIR, the shards replay their logs and the syncers resume where they were.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[derive(clap::Args)]
pub struct UpArgs {
    /// Number of participating clusters (instances).
    #[arg(long, default_value_t = 3)]
    pub instances: u16,
    /// Endpoint of instance i is base-port + i - 1; its shard listens on the
    /// internal port base-port + 100 + i - 1.
    #[arg(long, default_value_t = 12000)]
    pub base_port: u16,
    /// Data, logs and up.json: instance i keeps its shard's log and the
    /// children's output in DIR/instance-i.
    #[arg(long, default_value = "./concord-data")]
    pub dir: PathBuf,
    /// The database password (clients AUTH with it; the syncers use it too).
    #[arg(long)]
    pub password: Option<String>,
    /// Start nothing: ask the `concord up` running on --dir to start the
    /// syncer of instance I again after it stopped (crdt_sync `stopped`).
    #[arg(long, value_name = "I")]
    pub resume_sync: Option<u16>,
}

/// Offset of the shards' internal ports from the endpoints' ports.
pub const SHARD_PORT_OFFSET: u16 = 100;
/// Most instances `concord up` starts (their endpoints must stay below the
/// shards' ports).
pub const MAX_INSTANCES: u16 = SHARD_PORT_OFFSET;

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A child that ran this long starts over from [`BACKOFF_MIN`] when it exits.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(30);
/// How long children get between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(100);
const RESUME_POLL: Duration = Duration::from_millis(500);
/// How long the supervisor waits for every endpoint before it prints them
/// anyway (with a warning).
const READY_WAIT: Duration = Duration::from_secs(30);
/// The syncer's exit code for an unrecoverable error.
const SYNCER_EXIT_FATAL: i32 = 4;
/// Lines of a stopped syncer's log kept as the reason.
const REASON_LINES: usize = 3;
const REASON_MAX_BYTES: usize = 400;
/// The file whose appearance resumes a stopped syncer.
const RESUME_FILE: &str = "resume-sync";

/// `println!` that ignores a closed stdout: the supervisor must outlive the
/// terminal or pipe it reports to, or its children would be orphaned.
macro_rules! warn {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stderr(), $($arg)*);
    }};
}

macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stdout(), $($arg)*);
    }};
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    if let Some(instance) = args.resume_sync {
        return request_resume(&args.dir, instance);
    }
    let plan = Plan::new(&args)?;
    // Handlers first: a signal while the children start must stop them too.
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signal_watcher(stop.clone())?;
    let mut sup = Supervisor::start(plan)?;
    sup.supervise(&stop);
    sup.shutdown();
    say!("concord up: stopped");
    Ok(())
}

/// `concord up --dir DIR --resume-sync I`.
fn request_resume(dir: &Path, instance: u16) -> anyhow::Result<()> {
    let inst_dir = instance_dir(dir, instance);
    if !inst_dir.is_dir() {
        bail!("{} does not exist: is instance {instance} part of the database in {}?", inst_dir.display(), dir.display());
    }
    match read_supervisor_pid(dir) {
        Some(pid) if process_alive(pid) => {}
        _ => warn!(
            "concord up: no running `concord up` found for {}; the request takes effect when one starts on it",
            dir.display()
        ),
    }
    let path = inst_dir.join(RESUME_FILE);
    File::create(&path).with_context(|| format!("create {}", path.display()))?;
    say!("concord up: asked to resume sync of instance {instance} ({} created)", path.display());
    Ok(())
}

/// What to run: directories, ports and the command line of every child.
struct Plan {
    dir: PathBuf,
    base_port: u16,
    password: Option<String>,
    instances: Vec<InstancePlan>,
}

struct InstancePlan {
    id: u16,
    dir: PathBuf,
    endpoint_port: u16,
    shard_port: u16,
}

impl Plan {
    fn new(args: &UpArgs) -> anyhow::Result<Plan> {
        let n = args.instances;
        if n == 0 || n > MAX_INSTANCES {
            bail!("--instances must be between 1 and {MAX_INSTANCES}");
        }
        if args.base_port == 0 || u32::from(args.base_port) + u32::from(SHARD_PORT_OFFSET) + u32::from(n) - 1 > 65535 {
            bail!(
                "--base-port {} leaves no room for {n} endpoints and their shards (ports base..base+{})",
                args.base_port,
                SHARD_PORT_OFFSET + n - 1
            );
        }
        let instances = (1..=n)
            .map(|id| InstancePlan {
                id,
                dir: instance_dir(&args.dir, id),
                endpoint_port: args.base_port + id - 1,
                shard_port: args.base_port + SHARD_PORT_OFFSET + id - 1,
            })
            .collect();
        Ok(Plan { dir: args.dir.clone(), base_port: args.base_port, password: args.password.clone(), instances })
    }

    fn members(&self) -> String {
        self.instances.iter().map(|i| i.id.to_string()).collect::<Vec<_>>().join(",")
    }

    fn shard_args(&self, inst: &InstancePlan) -> Vec<String> {
        let mut args = vec![
            "shard".into(),
            "--port".into(),
            inst.shard_port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            inst.dir.display().to_string(),
            "--instance".into(),
            inst.id.to_string(),
            "--members".into(),
            self.members(),
            "--appendonly".into(),
            "yes".into(),
        ];
        if let Some(pw) = &self.password {
            args.extend(["--requirepass".into(), pw.clone()]);
        }
        args
    }

    fn proxy_args(&self, inst: &InstancePlan) -> Vec<String> {
        vec![
            "proxy".into(),
            "--port".into(),
            inst.endpoint_port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--shard".into(),
            format!("127.0.0.1:{}", inst.shard_port),
        ]
    }

    fn syncer_args(&self, inst: &InstancePlan) -> Vec<String> {
        let mut args = vec![
            "syncer".into(),
            "--instance".into(),
            inst.id.to_string(),
            "--shard".into(),
            format!("127.0.0.1:{}", inst.shard_port),
        ];
        for peer in self.instances.iter().filter(|p| p.id != inst.id) {
            args.extend(["--peer".into(), format!("{}=127.0.0.1:{}", peer.id, peer.endpoint_port)]);
        }
        if let Some(pw) = &self.password {
            args.extend(["--password".into(), pw.clone()]);
        }
        args.extend(["--compression".into(), "3".into()]);
        args
    }
}

fn instance_dir(dir: &Path, id: u16) -> PathBuf {
    dir.join(format!("instance-{id}"))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Shard,
    Proxy,
    Syncer,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Shard => "shard",
            Kind::Proxy => "proxy",
            Kind::Syncer => "syncer",
        }
    }
}

/// One supervised child.
struct Proc {
    kind: Kind,
    instance: u16,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    started: Instant,
    /// The wait before the next start after an exit.
    backoff: Duration,
    /// When to start it again (None while running, or while held).
    next_start: Option<Instant>,
    restarts: u64,
    /// Not restarted: a syncer that exited with code 4.
    held: bool,
}

/// The sync state of one instance, as the supervisor sees it.
struct SyncState {
    /// `enabled` or `stopped`.
    state: &'static str,
    reason: Option<String>,
    /// A `CRDT.SYNCSTATE` the shard has not acknowledged yet, and when to try.
    pending: Option<(Vec<String>, Instant)>,
}

struct Supervisor {
    plan: Plan,
    exe: PathBuf,
    procs: Vec<Proc>,
    sync: Vec<SyncState>,
    dirty: bool,
}

impl Supervisor {
    /// Checks that DIR and the ports are free, then starts every child.
    fn start(plan: Plan) -> anyhow::Result<Supervisor> {
        let exe = std::env::current_exe().context("find the concord binary")?;
        fs::create_dir_all(&plan.dir).with_context(|| format!("create {}", plan.dir.display()))?;
        if let Some(pid) = read_supervisor_pid(&plan.dir) {
            if pid != std::process::id() && process_alive(pid) && process_is_concord(pid) {
                bail!("another `concord up` (pid {pid}) is running on {}", plan.dir.display());
            }
        }
        kill_orphans(&plan.dir);
        for inst in &plan.instances {
            for port in [inst.endpoint_port, inst.shard_port] {
                TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                    .with_context(|| format!("port {port} (instance {}) is not free", inst.id))?;
            }
            fs::create_dir_all(&inst.dir).with_context(|| format!("create {}", inst.dir.display()))?;
            // A request left from an earlier run means nothing now.
            let _ = fs::remove_file(inst.dir.join(RESUME_FILE));
        }
        let mut sup = Supervisor::new(plan, exe);
        for i in 0..sup.procs.len() {
            sup.spawn(i);
        }
        sup.write_state("running");
        Ok(sup)
    }

    /// The supervisor of `plan`'s children (none started yet), run from `exe`.
    fn new(plan: Plan, exe: PathBuf) -> Supervisor {
        let mut procs = Vec::new();
        let now = Instant::now();
        // Shards first: the proxies and syncers connect to them.
        for (kind, with_syncer) in [(Kind::Shard, true), (Kind::Proxy, true), (Kind::Syncer, plan.instances.len() > 1)] {
            if !with_syncer {
                continue;
            }
            for inst in &plan.instances {
                let args = match kind {
                    Kind::Shard => plan.shard_args(inst),
                    Kind::Proxy => plan.proxy_args(inst),
                    Kind::Syncer => plan.syncer_args(inst),
                };
                procs.push(Proc {
                    kind,
                    instance: inst.id,
                    args,
                    log: inst.dir.join(format!("{}.log", kind.name())),
                    child: None,
                    started: now,
                    backoff: BACKOFF_MIN,
                    next_start: Some(now),
                    restarts: 0,
                    held: false,
                });
            }
        }
        let sync = plan.instances.iter().map(|_| SyncState { state: "enabled", reason: None, pending: None }).collect();
        Supervisor { plan, exe, procs, sync, dirty: true }
    }

    /// Supervises until `stop` is set.
    fn supervise(&mut self, stop: &AtomicBool) {
        let started = Instant::now();
        let mut announced = false;
        let mut last_resume_poll = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            for i in 0..self.procs.len() {
                self.check(i, now);
            }
            if now.duration_since(last_resume_poll) >= RESUME_POLL {
                last_resume_poll = now;
                self.poll_resume();
            }
            self.send_pending_syncstates();
            if !announced && (self.endpoints_ready() || now.duration_since(started) >= READY_WAIT) {
                announced = true;
                self.announce(self.endpoints_ready());
            }
            if self.dirty {
                self.write_state("running");
            }
            std::thread::sleep(TICK);
        }
    }

    /// Reaps child `i` if it exited, and starts it when its backoff is over.
    fn check(&mut self, i: usize, now: Instant) {
        let p = &mut self.procs[i];
        if let Some(child) = &mut p.child {
            let status = match child.try_wait() {
                Ok(Some(status)) => status,
                Ok(None) => return,
                Err(error) => {
                    warn!("concord up: cannot wait for {} {}: {error}", p.kind.name(), p.instance);
                    return;
                }
            };
            p.child = None;
            self.dirty = true;
            let ran = now.duration_since(p.started);
            if p.kind == Kind::Syncer && status.code() == Some(SYNCER_EXIT_FATAL) {
                self.syncer_stopped(i);
                return;
            }
            let p = &mut self.procs[i];
            if ran >= BACKOFF_RESET_AFTER {
                p.backoff = BACKOFF_MIN;
            }
            say!(
                "concord up: {} of instance {} exited ({}) after {:.1}s; restarting in {:?} (log: {})",
                p.kind.name(),
                p.instance,
                describe(status),
                ran.as_secs_f64(),
                p.backoff,
                p.log.display()
            );
            p.next_start = Some(now + p.backoff);
            p.backoff = (p.backoff * 2).min(BACKOFF_MAX);
        } else if !p.held && p.next_start.is_some_and(|t| t <= now) {
            self.spawn(i);
        }
    }

    fn spawn(&mut self, i: usize) {
        let p = &mut self.procs[i];
        p.next_start = None;
        p.started = Instant::now();
        self.dirty = true;
        let result = (|| -> io::Result<Child> {
            let mut log = OpenOptions::new().create(true).append(true).open(&p.log)?;
            writeln!(
                log,
                "--- concord up (pid {}): starting {} of instance {} (start {}) ---",
                std::process::id(),
                p.kind.name(),
                p.instance,
                p.restarts + 1
            )?;
            let log_err = log.try_clone()?;
            let mut cmd = Command::new(&self.exe);
            cmd.args(&p.args).stdin(Stdio::null()).stdout(log).stderr(log_err).env("NO_COLOR", "1");
            // Own process group: a Ctrl-C in the terminal reaches only the
            // supervisor, which then stops the children in order.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            cmd.spawn()
        })();
        p.restarts += 1;
        let (kind, instance) = (p.kind, p.instance);
        match result {
            Ok(child) => {
                p.child = Some(child);
                // A restarted shard starts with sync enabled: tell it again.
                let idx = self.instance_index(instance);
                let sync = &mut self.sync[idx];
                if kind == Kind::Shard && sync.state == "stopped" {
                    let reason = sync.reason.clone().unwrap_or_default();
                    sync.pending = Some((vec!["CRDT.SYNCSTATE".into(), "stopped".into(), reason], Instant::now()));
                }
            }
            Err(error) => {
                warn!("concord up: cannot start {} of instance {}: {error}", p.kind.name(), p.instance);
                p.next_start = Some(Instant::now() + p.backoff);
                p.backoff = (p.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    /// The syncer `i` exited with code 4: hold it, record and report why.
    fn syncer_stopped(&mut self, i: usize) {
        let p = &mut self.procs[i];
        p.held = true;
        p.next_start = None;
        let instance = p.instance;
        let reason = last_log_lines(&p.log).unwrap_or_else(|| "the syncer exited with code 4".into());
        let idx = self.instance_index(instance);
        let sync = &mut self.sync[idx];
        sync.state = "stopped";
        sync.reason = Some(reason.clone());
        sync.pending = Some((vec!["CRDT.SYNCSTATE".into(), "stopped".into(), reason.clone()], Instant::now()));
        self.dirty = true;
        say!("concord up: the syncer of instance {instance} stopped on an unrecoverable error: {reason}");
        say!(
            "concord up: crdt_sync of instance {instance} is stopped; fix the cause, then run: {} up --dir {} --resume-sync {instance}",
            self.exe.display(),
            self.plan.dir.display()
        );
    }

    /// Resumes the stopped syncers whose instance has a resume-sync file.
    fn poll_resume(&mut self) {
        for idx in 0..self.plan.instances.len() {
            let path = self.plan.instances[idx].dir.join(RESUME_FILE);
            if !path.exists() {
                continue;
            }
            let _ = fs::remove_file(&path);
            let id = self.plan.instances[idx].id;
            let Some(i) = self.procs.iter().position(|p| p.kind == Kind::Syncer && p.instance == id) else {
                say!("concord up: instance {id} has no syncer (a single instance); nothing to resume");
                continue;
            };
            if !self.procs[i].held {
                say!("concord up: sync of instance {id} is not stopped; nothing to resume");
                continue;
            }
            let sync = &mut self.sync[idx];
            sync.state = "enabled";
            sync.reason = None;
            sync.pending = Some((vec!["CRDT.SYNCSTATE".into(), "enabled".into()], Instant::now()));
            let p = &mut self.procs[i];
            p.held = false;
            p.backoff = BACKOFF_MIN;
            p.next_start = Some(Instant::now());
            self.dirty = true;
            say!("concord up: resuming sync of instance {id}");
        }
    }

    /// Tells the shards their sync states; an unreachable shard is asked
    /// again every second, a shard that refuses is not asked again.
    fn send_pending_syncstates(&mut self) {
        let now = Instant::now();
        for idx in 0..self.sync.len() {
            let Some((command, when)) = &self.sync[idx].pending else { continue };
            if *when > now {
                continue;
            }
            let inst = &self.plan.instances[idx];
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, inst.shard_port));
            match shard_command(addr, self.plan.password.as_deref(), command) {
                Ok(reply) if reply.starts_with('+') => self.sync[idx].pending = None,
                Ok(reply) => {
                    warn!("concord up: shard of instance {} refused {}: {reply}", inst.id, command[..2].join(" "));
                    self.sync[idx].pending = None;
                }
                Err(_) => {
                    if let Some(pending) = &mut self.sync[idx].pending {
                        pending.1 = now + Duration::from_secs(1);
                    }
                }
            }
        }
    }

    fn instance_index(&self, id: u16) -> usize {
        self.plan.instances.iter().position(|i| i.id == id).expect("a planned instance")
    }

    /// Whether every endpoint answers PING through its proxy.
    fn endpoints_ready(&self) -> bool {
        self.plan.instances.iter().all(|inst| {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, inst.endpoint_port));
            // Any reply but the proxy's own error means the shard answered
            // (with a password set, that reply is NOAUTH).
            matches!(shard_command(addr, None, &["PING".to_string()]), Ok(reply) if !reply.contains("unreachable"))
        })
    }

    fn announce(&self, ready: bool) {
        let n = self.plan.instances.len();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nconcord up: {n} instance{} of one Active-Active database on 127.0.0.1 (data in {})",
            if n == 1 { "" } else { "s" },
            self.plan.dir.display()
        );
        if !ready {
            let _ = writeln!(out, "  warning: not every endpoint answered within {READY_WAIT:?}; see the logs");
        }
        for inst in &self.plan.instances {
            let _ = writeln!(
                out,
                "  instance {}: endpoint 127.0.0.1:{}   (shard 127.0.0.1:{}, logs {})",
                inst.id,
                inst.endpoint_port,
                inst.shard_port,
                inst.dir.display()
            );
        }
        let auth = if self.plan.password.is_some() { " -a <password> --no-auth-warning" } else { "" };
        let first = self.plan.instances[0].endpoint_port;
        let second = self.plan.instances.get(1).map_or(first, |i| i.endpoint_port);
        let _ = writeln!(out, "\nConnect with any Redis client, e.g.:");
        let _ = writeln!(out, "  redis-cli -p {first}{auth} SET greeting hello");
        let _ = writeln!(out, "  redis-cli -p {second}{auth} GET greeting");
        let _ = writeln!(out, "Ports and pids: {}. Ctrl-C stops everything.", self.plan.dir.join("up.json").display());
        let _ = io::stdout().write_all(out.as_bytes());
        let _ = io::stdout().flush();
    }

    /// SIGTERM to every child, SIGKILL to those left after [`STOP_GRACE`].
    fn shutdown(&mut self) {
        say!("concord up: stopping");
        for p in &self.procs {
            if let Some(child) = &p.child {
                let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            let mut running = 0;
            for p in &mut self.procs {
                if let Some(child) = &mut p.child {
                    match child.try_wait() {
                        Ok(None) => running += 1,
                        _ => p.child = None,
                    }
                }
            }
            if running == 0 {
                break;
            }
            if Instant::now() >= deadline {
                for p in &mut self.procs {
                    if let Some(mut child) = p.child.take() {
                        warn!("concord up: {} of instance {} did not stop in {STOP_GRACE:?}; killing it", p.kind.name(), p.instance);
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.write_state("stopped");
    }

    /// Writes DIR/up.json (through a temporary file and a rename).
    fn write_state(&mut self, state: &str) {
        self.dirty = false;
        let mut j = String::new();
        let _ = write!(
            j,
            "{{\n  \"state\": \"{state}\",\n  \"supervisor_pid\": {},\n  \"dir\": {},\n  \"base_port\": {},\n  \"password\": {},\n  \"instances\": [",
            std::process::id(),
            json_str(&self.plan.dir.display().to_string()),
            self.plan.base_port,
            self.plan.password.is_some(),
        );
        for (idx, inst) in self.plan.instances.iter().enumerate() {
            let sync = &self.sync[idx];
            let _ = write!(
                j,
                "{}\n    {{\n      \"id\": {},\n      \"endpoint\": \"127.0.0.1:{}\",\n      \"endpoint_port\": {},\n      \"shard_port\": {},\n      \"dir\": {},\n      \"crdt_sync\": \"{}\",\n      \"crdt_sync_reason\": {}",
                if idx == 0 { "" } else { "," },
                inst.id,
                inst.endpoint_port,
                inst.endpoint_port,
                inst.shard_port,
                json_str(&inst.dir.display().to_string()),
                sync.state,
                sync.reason.as_deref().map_or("null".to_string(), json_str),
            );
            for p in self.procs.iter().filter(|p| p.instance == inst.id) {
                let pid = p.child.as_ref().map_or("null".to_string(), |c| c.id().to_string());
                let _ = write!(
                    j,
                    ",\n      \"{}\": {{ \"pid\": {pid}, \"starts\": {}, \"log\": {} }}",
                    p.kind.name(),
                    p.restarts,
                    json_str(&p.log.display().to_string())
                );
            }
            j.push_str("\n    }");
        }
        j.push_str("\n  ]\n}\n");
        let path = self.plan.dir.join("up.json");
        let tmp = self.plan.dir.join("up.json.tmp");
        if let Err(error) = fs::write(&tmp, j).and_then(|()| fs::rename(&tmp, &path)) {
            warn!("concord up: cannot write {}: {error}", path.display());
        }
    }
}

/// Runs the signal listener on its own thread; sets `stop` on SIGINT/SIGTERM.
fn spawn_signal_watcher(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("start runtime")?;
    // Install the handlers before returning, so no signal is missed.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            rt.block_on(async move {
                let wait = crate::wait_for_signal();
                tokio::pin!(wait);
                // Poll once: the handlers are installed on the first poll.
                tokio::select! {
                    biased;
                    _ = &mut wait => { stop.store(true, Ordering::SeqCst); let _ = ready_tx.send(()); return; }
                    _ = std::future::ready(()) => {}
                }
                let _ = ready_tx.send(());
                wait.await;
                stop.store(true, Ordering::SeqCst);
            })
        })
        .context("start the signal thread")?;
    let _ = ready_rx.recv_timeout(Duration::from_secs(5));
    Ok(())
}

/// Sends one command over a fresh RESP connection (AUTH first when a
/// password is given, waiting for its reply) and returns the first line of
/// the reply.
fn shard_command(addr: SocketAddr, password: Option<&str>, command: &[String]) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut pending = Vec::new();
    if let Some(pw) = password {
        let reply = request(&mut stream, &mut pending, &["AUTH".to_string(), pw.to_string()])?;
        if !reply.starts_with('+') {
            return Ok(reply);
        }
    }
    request(&mut stream, &mut pending, command)
}

/// Sends `command` and reads the first line of its reply.
fn request(stream: &mut TcpStream, pending: &mut Vec<u8>, command: &[String]) -> io::Result<String> {
    let mut out = Vec::new();
    encode_command(&mut out, command);
    stream.write_all(&out)?;
    let mut buf = [0u8; 512];
    loop {
        if let Some(pos) = pending.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&pending[..pos]).into_owned();
            pending.drain(..pos + 2);
            return Ok(line);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

fn encode_command(out: &mut Vec<u8>, args: &[String]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Why a child stopped, from what it wrote to its log since its last start
/// (without terminal colours): its last `ERROR` line, else its last few
/// lines joined with " | ", without the leading timestamps.
fn last_log_lines(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(8192))).ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let text = strip_ansi(&String::from_utf8_lossy(&bytes));
    let since_start = text.rsplit_once("--- concord up (pid ").map_or(text.as_str(), |(_, rest)| rest);
    let lines: Vec<&str> = since_start.lines().skip(1).map(strip_timestamp).filter(|l| !l.is_empty()).collect();
    let mut reason = match lines.iter().rev().find(|l| l.starts_with("ERROR")) {
        Some(line) => line.to_string(),
        None if lines.is_empty() => return None,
        None => lines[lines.len().saturating_sub(REASON_LINES)..].join(" | "),
    };
    if reason.len() > REASON_MAX_BYTES {
        let mut cut = REASON_MAX_BYTES;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push_str("...");
    }
    Some(reason)
}

/// A log line without its leading RFC 3339 timestamp (`2026-01-02T03:04:05.6Z`).
fn strip_timestamp(line: &str) -> &str {
    let line = line.trim();
    match line.split_once(' ') {
        Some((first, rest)) if first.len() >= 20 && first.ends_with('Z') && first.as_bytes()[4] == b'-' => rest.trim(),
        _ => line,
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The supervisor pid recorded in DIR/up.json, if any.
fn read_supervisor_pid(dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(dir.join("up.json")).ok()?;
    if text.contains("\"state\": \"stopped\"") {
        return None;
    }
    json_number_after(&text, "\"supervisor_pid\":")
}

fn json_number_after(text: &str, key: &str) -> Option<u32> {
    let rest = text[text.find(key)? + key.len()..].trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn process_alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|pid| kill(Pid::from_raw(pid), None).is_ok())
}

fn process_cmdline(pid: u32) -> Option<Vec<String>> {
    let bytes = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(bytes.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect())
}

fn process_is_concord(pid: u32) -> bool {
    process_cmdline(pid).is_some_and(|args| args.first().is_some_and(|a| a.ends_with("concord")))
}

/// Kills the children an earlier supervisor of DIR left running when it was
/// killed itself (SIGKILL gives it no chance to stop them): processes named
/// in DIR/up.json that are still `concord shard|proxy|syncer` on this DIR's
/// ports or directories.
fn kill_orphans(dir: &Path) {
    let Ok(text) = fs::read_to_string(dir.join("up.json")) else { return };
    if text.contains("\"state\": \"stopped\"") {
        return;
    }
    let mut rest = text.as_str();
    let mut pids = Vec::new();
    while let Some(pos) = rest.find("\"pid\":") {
        rest = &rest[pos..];
        if let Some(pid) = json_number_after(rest, "\"pid\":") {
            pids.push(pid);
        }
        rest = &rest[6..];
    }
    let dir_text = dir.display().to_string();
    for pid in pids {
        let Some(args) = process_cmdline(pid) else { continue };
        let ours = args.first().is_some_and(|a| a.ends_with("concord"))
            && args.get(1).is_some_and(|a| matches!(a.as_str(), "shard" | "proxy" | "syncer"))
            && (args.iter().any(|a| a.starts_with(&dir_text)) || args.get(1).is_some_and(|a| a != "shard"));
        if ours {
            warn!("concord up: stopping {} (pid {pid}) left by an earlier run", args[1]);
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
    // Give the kernel a moment to free their ports.
    std::thread::sleep(Duration::from_millis(200));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_do_not_collide() {
        let args = UpArgs {
            instances: 3,
            base_port: 12000,
            dir: "/tmp/x".into(),
            password: Some("pw".into()),
            resume_sync: None,
        };
        let plan = Plan::new(&args).unwrap();
        let ports: Vec<(u16, u16)> = plan.instances.iter().map(|i| (i.endpoint_port, i.shard_port)).collect();
        assert_eq!(ports, vec![(12000, 12100), (12001, 12101), (12002, 12102)]);
        assert_eq!(
            plan.syncer_args(&plan.instances[1]).join(" "),
            "syncer --instance 2 --shard 127.0.0.1:12101 --peer 1=127.0.0.1:12000 --peer 3=127.0.0.1:12002 --password pw --compression 3"
        );
        assert!(plan.shard_args(&plan.instances[0]).join(" ").ends_with("--members 1,2,3 --appendonly yes --requirepass pw"));
        let too_many = UpArgs { instances: 101, ..args };
        assert!(Plan::new(&too_many).is_err());
    }

    #[test]
    fn reason_is_the_tail_of_the_last_run() {
        let dir = std::env::temp_dir().join(format!("concord-up-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("syncer.log");
        fs::write(
            &log,
            "--- concord up (pid 1): starting syncer of instance 1 (start 1) ---\nold failure\n\
             --- concord up (pid 1): starting syncer of instance 1 (start 2) ---\n\
             \u{1b}[2m2026-12-05T18:38:24.121311Z\u{1b}[0m  INFO connecting\n\n\
             2026-12-05T18:38:24.765643Z ERROR peer 2: authentication refused\n\
             2026-12-05T18:38:24.765643Z  INFO bye\n",
        )
        .unwrap();
        assert_eq!(last_log_lines(&log).unwrap(), "ERROR peer 2: authentication refused");
        fs::write(&log, "--- concord up (pid 1): starting syncer of instance 1 (start 1) ---\na\nb\nc\nd\n").unwrap();
        assert_eq!(last_log_lines(&log).unwrap(), "b | c | d");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_syncer_exiting_with_code_4_is_held_until_resumed() {
        let dir = std::env::temp_dir().join(format!("concord-up-unit-held-{}", std::process::id()));
        let args = UpArgs { instances: 2, base_port: 40000, dir: dir.clone(), password: None, resume_sync: None };
        let plan = Plan::new(&args).unwrap();
        for inst in &plan.instances {
            fs::create_dir_all(&inst.dir).unwrap();
        }
        // Only the syncer of instance 1 runs: a script failing as a syncer
        // does on an unrecoverable error.
        let mut sup = Supervisor::new(plan, "/bin/sh".into());
        for p in &mut sup.procs {
            p.next_start = None;
        }
        let i = sup.procs.iter().position(|p| p.kind == Kind::Syncer && p.instance == 1).unwrap();
        sup.procs[i].args = vec!["-c".into(), "echo 'ERROR peer 2: authentication refused' >&2; exit 4".into()];
        sup.spawn(i);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sup.procs[i].held {
            assert!(Instant::now() < deadline, "the syncer was not held");
            sup.check(i, Instant::now());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(sup.sync[0].state, "stopped");
        assert_eq!(sup.sync[0].reason.as_deref(), Some("ERROR peer 2: authentication refused"));
        let (command, _) = sup.sync[0].pending.clone().unwrap();
        assert_eq!(command, ["CRDT.SYNCSTATE", "stopped", "ERROR peer 2: authentication refused"]);
        // Held: not started again, however long we wait.
        sup.check(i, Instant::now() + Duration::from_secs(60));
        assert!(sup.procs[i].child.is_none() && sup.procs[i].next_start.is_none());

        File::create(dir.join("instance-1").join(RESUME_FILE)).unwrap();
        sup.poll_resume();
        assert!(!sup.procs[i].held);
        assert!(sup.procs[i].next_start.is_some());
        assert_eq!(sup.sync[0].state, "enabled");
        assert_eq!(sup.sync[0].pending.clone().unwrap().0, ["CRDT.SYNCSTATE", "enabled"]);
        assert!(!dir.join("instance-1").join(RESUME_FILE).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(json_number_after("{\"supervisor_pid\": 42,", "\"supervisor_pid\":"), Some(42));
    }
}
