//! The `local` driver: [`LocalDriver`], the embedded default. Each machine is a real process tree
//! on this host with its own root directory (cloned from a template directory), a size-capped
//! console log and its own loopback address (127.x.y.z).
//!
//! # State directory layout (owned by one driver instance at a time)
//!
//! ```text
//! STATE_DIR/machines/NAME/machine.json   the machine's record (template, address, boot command,
//!                                        desired state, process identity: pid + start time + boot id)
//! STATE_DIR/machines/NAME/root/          the machine's root: a clone of the template tree
//! STATE_DIR/machines/NAME/console.log    stdout + stderr of the boot command (and driver notes)
//! STATE_DIR/machines/NAME/console.log.1  older console lines, only where holes cannot be punched
//! ```
//!
//! A start writes its intent (`starting` in the record) before it spawns the boot process and
//! the process identity right after; when the manager is killed in between, the next start,
//! stop or destroy finds the unrecorded boot process by its `VSM_ROOT` and adopts it (killing
//! any extra copies), so a machine never runs twice.
//!
//! Machines keep running when the driver (the manager) goes away; [`LocalDriver::open`] on the
//! same state directory finds them again from their records, checking pid **and** start time.
//! A machine whose process ended without a shutdown request shows as [`PowerState::Crashed`].
//!
//! The boot command runs in its own session (`setsid`), with its root as working directory, a
//! clean environment (`PATH`, `HOME`, `LANG`/`TZ` when set, the template's `env`, and `VSM_SERVER`,
//! `VSM_ADDRESS`, `VSM_ROOT`, `VSM_TEMPLATE`, `VSM_GENERATION`, `VSM_CONSOLE`) and stdin from
//! `/dev/null`. Shutdown sends SIGTERM to the group, waits, then SIGKILL.
//!
//! Not a security sandbox: processes run as the manager's user.

pub mod clone;
pub mod manifest;
pub mod proc;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read, Seek, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::driver::Hypervisor;
use crate::error::{HypervisorError, Operation, Result};
use crate::types::{
    HostCapacity, HypervisorKind, LoadFigures, MachineInfo, MachineName, PowerState, ProvisionSpec,
    ShutdownOutcome, TemplateInfo, TemplateSource,
};

pub use clone::CloneMode;
pub use manifest::{MANIFEST_FILE, ManifestError, TemplateManifest};
use proc::ProcessId;

/// The record file inside a machine's directory.
pub const RECORD_FILE: &str = "machine.json";
/// The console log inside a machine's directory.
pub const CONSOLE_FILE: &str = "console.log";
/// The previous console segment.
pub const CONSOLE_OLD_FILE: &str = "console.log.1";
/// The root directory inside a machine's directory.
pub const ROOT_DIR: &str = "root";
/// The directory of machines inside the state directory.
pub const MACHINES_DIR: &str = "machines";

/// How long a forced power-off may take before the driver reports a time-out.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Options of a [`LocalDriver`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LocalOptions {
    /// Directories searched first for a bare boot program name (e.g. where `vsm-appserver` is
    /// installed), prepended to the servers' `PATH`.
    pub bin_dirs: Vec<Utf8PathBuf>,
    /// The search path after `bin_dirs` (the servers' `PATH` tail).
    /// Default: `/usr/local/bin:/usr/bin:/bin`.
    pub system_path: String,
    /// Console log cap in bytes of disk: beyond it, the oldest part of `console.log` is freed
    /// (hole punching keeps the server's appends intact; see `cap_console`). Checked on every
    /// driver call naming the machine and by `list`. Default 1 MiB.
    pub console_limit: u64,
    /// How template files are cloned. Default [`CloneMode::Auto`].
    pub clone_mode: CloneMode,
    /// The first loopback address handed out. Default `127.1.0.1`.
    ///
    /// When the range spans several /16 blocks, the search for a free address starts at a block
    /// chosen from the state directory's path (and wraps around), so several managers on one
    /// host rarely hand out the same addresses; an address on which any TCP socket of the host
    /// is bound is never handed out.
    pub first_address: Ipv4Addr,
    /// The last loopback address handed out. Default `127.254.255.254`.
    pub last_address: Ipv4Addr,
    /// What [`MachineInfo::host`] says. Default `localhost`.
    pub host_label: String,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            bin_dirs: Vec::new(),
            system_path: "/usr/local/bin:/usr/bin:/bin".to_owned(),
            console_limit: 1 << 20,
            clone_mode: CloneMode::Auto,
            first_address: Ipv4Addr::new(127, 1, 0, 1),
            last_address: Ipv4Addr::new(127, 254, 255, 254),
            host_label: "localhost".to_owned(),
        }
    }
}

impl LocalOptions {
    /// Adds a directory to [`LocalOptions::bin_dirs`].
    pub fn with_bin_dir(mut self, dir: Utf8PathBuf) -> Self {
        self.bin_dirs.push(dir);
        self
    }

    /// Sets [`LocalOptions::system_path`].
    pub fn with_system_path(mut self, path: impl Into<String>) -> Self {
        self.system_path = path.into();
        self
    }

    /// Sets the address range.
    pub fn with_addresses(mut self, first: Ipv4Addr, last: Ipv4Addr) -> Self {
        self.first_address = first;
        self.last_address = last;
        self
    }

    /// Sets [`LocalOptions::console_limit`].
    pub fn with_console_limit(mut self, bytes: u64) -> Self {
        self.console_limit = bytes;
        self
    }

    /// Sets [`LocalOptions::clone_mode`].
    pub fn with_clone_mode(mut self, mode: CloneMode) -> Self {
        self.clone_mode = mode;
        self
    }
}

/// Opening a state directory failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The state directory path is relative.
    #[error("local driver state directory {0} is relative: give an absolute path")]
    RelativeStateDir(Utf8PathBuf),
    /// A file could not be read or created.
    #[error("local driver state {path} is not usable")]
    Io {
        /// The path.
        path: Utf8PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A machine record is corrupt.
    #[error("machine record {path} is corrupt: {message}; repair or remove that machine directory")]
    BadRecord {
        /// The record file.
        path: Utf8PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Desired {
    Running,
    Stopped,
}

/// What `machine.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    format: u32,
    name: MachineName,
    template: TemplateSource,
    generation: u32,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    address: Ipv4Addr,
    boot: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    stop_timeout_ms: u64,
    desired: Desired,
    process: Option<ProcessId>,
    /// Set (atomically, on disk) right before the boot process is spawned and cleared once its
    /// identity is recorded: a record left `starting` by a killed manager may have a running,
    /// unrecorded boot process, which the next instance finds by its environment and adopts.
    #[serde(default, skip_serializing_if = "is_false")]
    starting: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Default)]
struct Inner {
    locks: HashMap<MachineName, Arc<tokio::sync::Mutex<()>>>,
    samples: HashMap<MachineName, (Instant, Duration)>,
}

/// The embedded local driver (see the module documentation).
#[derive(Debug)]
pub struct LocalDriver {
    state_dir: Utf8PathBuf,
    machines_dir: Utf8PathBuf,
    options: LocalOptions,
    boot_id: String,
    inner: Mutex<Inner>,
    /// Machines being provisioned by this instance, with their reserved address. Held across
    /// the address scan, so two provisions never pick the same address.
    pending: tokio::sync::Mutex<BTreeMap<MachineName, Ipv4Addr>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_err(
    op: Operation,
    machine: Option<&MachineName>,
    what: impl Into<String>,
) -> impl FnOnce(io::Error) -> HypervisorError {
    let what = what.into();
    move |e| HypervisorError::permanent_from(op, machine, what, e)
}

async fn blocking<T: Send + 'static>(
    op: Operation,
    machine: Option<&MachineName>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HypervisorError::permanent_from(op, machine, "a blocking task failed", e))
}

impl LocalDriver {
    /// Opens (creating when absent) the state directory `state_dir` and loads every machine
    /// record in it, so machines started by an earlier instance are found again.
    ///
    /// Only one driver instance should change a state directory at a time (the manager holds its
    /// own lock); a second instance may read it.
    pub fn open(state_dir: Utf8PathBuf, options: LocalOptions) -> Result<Self, OpenError> {
        if state_dir.is_relative() {
            return Err(OpenError::RelativeStateDir(state_dir));
        }
        std::fs::create_dir_all(state_dir.join(MACHINES_DIR)).map_err(|source| OpenError::Io {
            path: state_dir.join(MACHINES_DIR),
            source,
        })?;
        // The directory by its real path: boot processes carry their root's path
        // (`VSM_ROOT`), by which an instance that finds a start interrupted recognizes them —
        // also when it reaches the directory through another path (a symbolic link) than the
        // instance that started them.
        let state_dir = std::fs::canonicalize(&state_dir)
            .ok()
            .and_then(|p| Utf8PathBuf::from_path_buf(p).ok())
            .unwrap_or(state_dir);
        let machines_dir = state_dir.join(MACHINES_DIR);
        // Validate every record now, so a corrupt one is reported when the manager starts; the
        // machines' addresses are this driver's (other local drivers of the process skip them).
        let records = scan_records(&machines_dir, true)?;
        {
            let mut held = held_addresses();
            for r in &records {
                held.insert(r.address, (state_dir.clone(), r.name.clone()));
            }
        }
        Ok(LocalDriver {
            state_dir,
            machines_dir,
            options,
            boot_id: proc::boot_id(),
            inner: Mutex::new(Inner::default()),
            pending: tokio::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Utf8Path {
        &self.state_dir
    }

    /// The options.
    pub fn options(&self) -> &LocalOptions {
        &self.options
    }

    /// The directory of a machine (record, root, console).
    pub fn machine_dir(&self, machine: &MachineName) -> Utf8PathBuf {
        self.machines_dir.join(machine.as_str())
    }

    /// The recorded pid of a machine's running boot process, if it runs.
    pub fn pid(&self, machine: &MachineName) -> Option<i32> {
        let path = self.machine_dir(machine).join(RECORD_FILE);
        let text = std::fs::read_to_string(&path).ok()?;
        let rec = parse_record(&text, &path, None).ok()?;
        let p = rec.process.as_ref()?;
        proc::is_alive(p, &self.boot_id).then_some(p.pid)
    }

    /// Kills (SIGKILL) every process of every machine of this state directory, now, without
    /// waiting and without changing records. For emergencies and test clean-up (it is
    /// synchronous so that `Drop` guards can call it). Returns how many machines had processes.
    pub fn kill_all_now(&self) -> usize {
        let Ok(records) = scan_records(&self.machines_dir, false) else {
            return 0;
        };
        let mut n = 0;
        for rec in &records {
            if let Some(p) = &rec.process
                && (proc::is_alive(p, &self.boot_id)
                    || !proc::members_of(p, &self.boot_id).is_empty())
            {
                proc::signal_all(p, &self.boot_id, libc::SIGKILL);
                n += 1;
            }
        }
        // Boot processes no record names (a start interrupted between spawn and record).
        let prefix = format!("VSM_ROOT={}/", self.machines_dir);
        let strays = proc::with_environment(&prefix, true);
        for p in proc::sessions(&strays, &self.boot_id) {
            proc::signal_all(&p, &self.boot_id, libc::SIGKILL);
            for st in strays.iter().filter(|st| st.session == p.pid) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe {
                    libc::kill(st.pid, libc::SIGKILL);
                }
            }
            n += 1;
        }
        n
    }

    fn machine_lock(&self, machine: &MachineName) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(lock(&self.inner).locks.entry(machine.clone()).or_default())
    }

    /// Reads a machine's record from disk (the state directory is the only truth, so several
    /// instances on one state directory agree).
    async fn record(&self, op: Operation, machine: &MachineName) -> Result<Record> {
        let path = self.machine_dir(machine).join(RECORD_FILE);
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(HypervisorError::not_found(machine));
            }
            Err(e) => return Err(io_err(op, Some(machine), format!("reading {path}"))(e)),
        };
        parse_record(&text, &path, Some(machine.as_str())).map_err(|e| {
            HypervisorError::permanent_from(op, Some(machine), "reading the machine record", e)
        })
    }

    /// Every machine record, sorted by name.
    async fn records(&self, op: Operation) -> Result<Vec<Record>> {
        let dir = self.machines_dir.clone();
        blocking(op, None, move || scan_records(&dir, false))
            .await?
            .map_err(|e| {
                HypervisorError::permanent_from(op, None, "reading the machine records", e)
            })
    }

    fn running(&self, rec: &Record) -> bool {
        let recorded = rec.process.as_ref().is_some_and(|p| {
            proc::is_alive(p, &self.boot_id) || !proc::members_of(p, &self.boot_id).is_empty()
        });
        recorded || (rec.starting && !self.unrecorded(rec).is_empty())
    }

    /// The sessions of boot processes of `rec`'s machine that its record does not name (found by
    /// their `VSM_ROOT`), oldest first. Only meaningful while the record is `starting`.
    fn unrecorded(&self, rec: &Record) -> Vec<ProcessId> {
        let root = self.machine_dir(&rec.name).join(ROOT_DIR);
        let found = proc::with_environment(&format!("VSM_ROOT={root}"), false);
        proc::sessions(&found, &self.boot_id)
            .into_iter()
            .filter(|p| {
                rec.process
                    .as_ref()
                    .is_none_or(|r| r.pid != p.pid || !proc::is_alive(r, &self.boot_id))
            })
            .collect()
    }

    /// Finishes a start that a killed instance left `starting`: adopts the oldest unrecorded boot
    /// process of the machine (killing any others), or records that none runs. Caller holds the
    /// machine lock, so no start of this instance is in flight.
    async fn settle(&self, op: Operation, rec: &mut Record) -> Result<()> {
        if !rec.starting {
            return Ok(());
        }
        let recorded_alive = rec
            .process
            .as_ref()
            .is_some_and(|p| proc::is_alive(p, &self.boot_id));
        let mut found = self.unrecorded(rec).into_iter();
        if !recorded_alive && let Some(first) = found.next() {
            let console = self.machine_dir(&rec.name).join(CONSOLE_FILE);
            note(
                &console,
                &format!(
                    "adopting boot process {} of an interrupted start",
                    first.pid
                ),
            )
            .await;
            rec.process = Some(first);
        }
        for extra in found {
            proc::signal_all(&extra, &self.boot_id, libc::SIGKILL);
        }
        rec.starting = false;
        self.save(op, rec).await
    }

    /// The record of `machine`, an interrupted start settled first (its boot process adopted,
    /// under the machine's lock): a manager that died between spawning a boot process and
    /// recording it left `starting`, and whoever asks next — a manager taking over, a restarted
    /// one reconciling — must see the process that runs, not a crash.
    async fn settled_record(&self, op: Operation, machine: &MachineName) -> Result<Record> {
        let rec = self.record(op, machine).await?;
        if !rec.starting {
            return Ok(rec);
        }
        let guard = self.machine_lock(machine);
        let _held = guard.lock().await;
        let mut rec = self.record(op, machine).await?;
        self.settle(op, &mut rec).await?;
        Ok(rec)
    }

    fn state_of(&self, rec: &Record) -> PowerState {
        match (self.running(rec), rec.desired) {
            (true, Desired::Running) => PowerState::Running,
            (true, Desired::Stopped) => PowerState::Stopping,
            (false, Desired::Running) => PowerState::Crashed,
            (false, Desired::Stopped) => PowerState::Stopped,
        }
    }

    fn info_of(&self, rec: &Record) -> MachineInfo {
        let mut info = MachineInfo::new(rec.name.clone(), self.state_of(rec))
            .with_address(Some(IpAddr::V4(rec.address)))
            .with_host(self.options.host_label.clone());
        info.template = Some(rec.template.clone());
        info.generation = Some(rec.generation);
        info.labels = rec.labels.clone();
        info
    }

    async fn save(&self, op: Operation, rec: &Record) -> Result<()> {
        let dir = self.machine_dir(&rec.name);
        let text = serde_json::to_vec_pretty(rec).map_err(|e| {
            HypervisorError::permanent_from(op, Some(&rec.name), "encoding the machine record", e)
        })?;
        write_atomic(&dir, RECORD_FILE, &text)
            .await
            .map_err(io_err(
                op,
                Some(&rec.name),
                format!("writing {dir}/{RECORD_FILE}"),
            ))?;
        Ok(())
    }

    fn template_dir(&self, source: &TemplateSource) -> Result<Utf8PathBuf> {
        let dir = Utf8PathBuf::from(source.as_str());
        if dir.is_relative() {
            return Err(invalid_template(
                source,
                "give the template directory as an absolute path",
            ));
        }
        Ok(dir)
    }

    async fn read_manifest(
        &self,
        source: &TemplateSource,
    ) -> Result<(Utf8PathBuf, TemplateManifest)> {
        let dir = self.template_dir(source)?;
        let file = dir.join(MANIFEST_FILE);
        let text = tokio::fs::read_to_string(&file).await.map_err(|e| {
            HypervisorError::InvalidTemplate {
                template: source.clone(),
                reason: format!(
                    "cannot read {file}: a local template is a directory holding {MANIFEST_FILE}"
                ),
                source: Some(e.into()),
            }
        })?;
        let manifest = TemplateManifest::parse(&text, &file).map_err(|e| {
            HypervisorError::InvalidTemplate {
                template: source.clone(),
                reason: e.to_string(),
                source: None,
            }
        })?;
        Ok((dir, manifest))
    }

    /// The search path: bin dirs, then the system path.
    fn search_path(&self) -> String {
        let mut parts: Vec<String> = self
            .options
            .bin_dirs
            .iter()
            .map(|d| d.to_string())
            .collect();
        if !self.options.system_path.is_empty() {
            parts.push(self.options.system_path.clone());
        }
        parts.join(":")
    }

    /// Resolves `boot[0]` against `root` (relative with a slash) or the search path (bare name).
    fn resolve_program(&self, program: &str, root: &Utf8Path) -> Option<Utf8PathBuf> {
        let p = Utf8Path::new(program);
        if p.is_absolute() {
            return is_executable(p).then(|| p.to_owned());
        }
        if program.contains('/') {
            let full = root.join(p);
            return is_executable(&full).then_some(full);
        }
        self.search_path()
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Utf8Path::new(d).join(program))
            .find(|c| is_executable(c))
    }

    fn allocate_address(
        &self,
        records: &[Record],
        pending: &BTreeMap<MachineName, Ipv4Addr>,
    ) -> Option<Ipv4Addr> {
        // Addresses other local drivers of this process handed out (several local hosts of
        // one manager): never the same address twice, even before its server binds it.
        let others: BTreeSet<Ipv4Addr> = held_addresses()
            .iter()
            .filter(|(_, (dir, _))| *dir != self.state_dir)
            .map(|(a, _)| *a)
            .collect();
        let used: BTreeSet<Ipv4Addr> = records
            .iter()
            .map(|r| r.address)
            .chain(pending.values().copied())
            .chain(others)
            .collect();
        let bound = bound_tcp_addresses();
        let first = u32::from(self.options.first_address);
        let last = u32::from(self.options.last_address);
        if last < first {
            return None;
        }
        let span = u64::from(last - first) + 1;
        let blocks = span / 65536;
        let offset = if blocks > 1 {
            (fnv1a(self.state_dir.as_str().as_bytes()) % blocks) * 65536
        } else {
            0
        };
        (0..span)
            .map(|i| Ipv4Addr::from(first + ((offset + i) % span) as u32))
            .find(|a| {
                let o = a.octets()[3];
                o != 0 && o != 255 && !used.contains(a) && !bound.contains(a)
            })
    }

    /// Waits until the machine's processes are gone or `wait` passed; true when gone.
    async fn wait_gone(&self, p: &ProcessId, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(5);
        loop {
            let gone =
                !proc::is_alive(p, &self.boot_id) && proc::members_of(p, &self.boot_id).is_empty();
            if gone {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// SIGTERM, wait up to `grace`, SIGKILL. Caller holds the machine lock.
    async fn stop_locked(
        &self,
        op: Operation,
        machine: &MachineName,
        grace: Duration,
    ) -> Result<ShutdownOutcome> {
        let mut rec = self.record(op, machine).await?;
        self.settle(op, &mut rec).await?;
        let running = self.running(&rec);
        if !running {
            if rec.desired != Desired::Stopped || rec.process.is_some() {
                rec.desired = Desired::Stopped;
                rec.process = None;
                self.save(op, &rec).await?;
            }
            return Ok(ShutdownOutcome::AlreadyStopped);
        }
        let Some(p) = rec.process.clone() else {
            return Ok(ShutdownOutcome::AlreadyStopped);
        };
        rec.desired = Desired::Stopped;
        self.save(op, &rec).await?;
        let console = self.machine_dir(machine).join(CONSOLE_FILE);
        note(&console, &format!("stopping (SIGTERM, grace {grace:?})")).await;
        proc::signal_all(&p, &self.boot_id, libc::SIGTERM);
        let outcome = if self.wait_gone(&p, grace).await {
            ShutdownOutcome::Graceful
        } else {
            note(&console, "grace period over: SIGKILL").await;
            proc::signal_all(&p, &self.boot_id, libc::SIGKILL);
            if !self.wait_gone(&p, KILL_WAIT).await {
                return Err(HypervisorError::timeout(
                    op,
                    Some(machine),
                    grace + KILL_WAIT,
                ));
            }
            ShutdownOutcome::Forced
        };
        rec.process = None;
        self.save(op, &rec).await?;
        lock(&self.inner).samples.remove(machine);
        Ok(outcome)
    }

    fn cap_console(&self, machine: &MachineName) {
        let dir = self.machine_dir(machine);
        let _ = cap_console(&dir, self.options.console_limit);
    }
}

/// Reads every machine record under `machines_dir`. With `tidy`, removes the leftovers of
/// interrupted destroys (`.trash-*`). A machine directory without a record (being removed right
/// now) is skipped.
fn scan_records(machines_dir: &Utf8Path, tidy: bool) -> Result<Vec<Record>, OpenError> {
    let io = |path: &Utf8Path| {
        let path = path.to_owned();
        move |source| OpenError::Io { path, source }
    };
    let mut records = Vec::new();
    for entry in std::fs::read_dir(machines_dir).map_err(io(machines_dir))? {
        let entry = entry.map_err(io(machines_dir))?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        let dir = machines_dir.join(&file_name);
        if file_name.starts_with('.') {
            if tidy && file_name.starts_with(".trash-") {
                let _ = std::fs::remove_dir_all(&dir);
            }
            continue;
        }
        let path = dir.join(RECORD_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&path)(e)),
        };
        records.push(parse_record(&text, &path, Some(&file_name))?);
    }
    records.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(records)
}

fn parse_record(text: &str, path: &Utf8Path, dir_name: Option<&str>) -> Result<Record, OpenError> {
    let record: Record = serde_json::from_str(text).map_err(|e| OpenError::BadRecord {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if let Some(d) = dir_name
        && record.name.as_str() != d
    {
        return Err(OpenError::BadRecord {
            path: path.to_owned(),
            message: format!("it names machine {}", record.name),
        });
    }
    if record.boot.is_empty() {
        return Err(OpenError::BadRecord {
            path: path.to_owned(),
            message: "its boot command is empty".to_owned(),
        });
    }
    Ok(record)
}

/// FNV-1a: a stable hash (the same on every run, unlike the standard library's).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Addresses handed out by the local drivers of this process, with the state directory of the
/// driver and the machine that hold each.
fn held_addresses() -> std::sync::MutexGuard<'static, BTreeMap<Ipv4Addr, (Utf8PathBuf, MachineName)>>
{
    static HELD: std::sync::OnceLock<Mutex<BTreeMap<Ipv4Addr, (Utf8PathBuf, MachineName)>>> =
        std::sync::OnceLock::new();
    lock(HELD.get_or_init(|| Mutex::new(BTreeMap::new())))
}

/// Gives `address` back, if `machine` of the driver in `state_dir` holds it.
fn release_address(address: Ipv4Addr, state_dir: &Utf8Path, machine: &MachineName) {
    let mut held = held_addresses();
    if held
        .get(&address)
        .is_some_and(|(d, m)| d == state_dir && m == machine)
    {
        held.remove(&address);
    }
}

/// The IPv4 addresses on which some TCP socket of this host is bound (`/proc/net/tcp`), so a
/// new machine never gets an address another manager's server (or anything else) listens on.
fn bound_tcp_addresses() -> BTreeSet<Ipv4Addr> {
    let Ok(text) = std::fs::read_to_string("/proc/net/tcp") else {
        return BTreeSet::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let local = line.split_whitespace().nth(1)?;
            let (hex, _port) = local.split_once(':')?;
            let raw = u32::from_str_radix(hex, 16).ok()?;
            // The kernel prints the network-order address bytes read as a native integer.
            Some(Ipv4Addr::from(raw.to_ne_bytes()))
        })
        .collect()
}

fn invalid_template(source: &TemplateSource, reason: impl Into<String>) -> HypervisorError {
    HypervisorError::InvalidTemplate {
        template: source.clone(),
        reason: reason.into(),
        source: None,
    }
}

fn is_executable(p: &Utf8Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A suffix unique within this host for a while (pid and nanoseconds).
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

async fn write_atomic(dir: &Utf8Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, dir.join(name)).await
}

/// Appends a driver note (`[vsm] …`) to a console log; failures are ignored (the log is advisory).
async fn note(console: &Utf8Path, text: &str) {
    let line = format!("[vsm] {text}\n");
    let console = console.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&console)
            .and_then(|mut f| f.write_all(line.as_bytes()))
    })
    .await;
}

/// Keeps the disk use of `console.log` under about `limit` bytes while the server appends to it.
///
/// The old part of the file is freed with `fallocate(PUNCH_HOLE)`: the file keeps its length (it
/// becomes sparse) and the server's `O_APPEND` writes carry on undisturbed, so no line is lost.
/// Where the file system cannot punch holes, the last half moves to `console.log.1` and
/// `console.log` is truncated (lines written during that instant may be lost).
fn cap_console(dir: &Utf8Path, limit: u64) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(CONSOLE_FILE);
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    let used = meta.blocks() * 512;
    if used <= limit {
        return Ok(());
    }
    let len = meta.len();
    let keep = limit / 2;
    let punch_end = len.saturating_sub(keep) / 4096 * 4096;
    if punch_end == 0 {
        return Ok(());
    }
    if let (Ok(end), Ok(_)) = (libc::off_t::try_from(punch_end), libc::off_t::try_from(len)) {
        // SAFETY: fallocate on an open descriptor owned by this function.
        let rc = unsafe {
            libc::fallocate(
                std::os::unix::io::AsRawFd::as_raw_fd(&f),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                0,
                end,
            )
        };
        if rc == 0 {
            return Ok(());
        }
    }
    f.seek(io::SeekFrom::Start(len - keep))?;
    let mut tail = Vec::with_capacity(keep as usize);
    (&mut f).take(keep).read_to_end(&mut tail)?;
    if let Some(nl) = tail.iter().position(|b| *b == b'\n') {
        tail.drain(..=nl);
    }
    std::fs::write(dir.join(CONSOLE_OLD_FILE), &tail)?;
    f.set_len(0)?;
    Ok(())
}

/// The last `tail_lines` lines of the console (`console.log.1` then `console.log`), reading at
/// most `limit` bytes of `console.log`'s end (holes read as NUL bytes and are skipped).
fn read_tail(dir: &Utf8Path, tail_lines: usize, limit: u64) -> io::Result<Vec<String>> {
    let mut bytes = match std::fs::read(dir.join(CONSOLE_OLD_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    match std::fs::File::open(dir.join(CONSOLE_FILE)) {
        Ok(mut f) => {
            let len = f.metadata()?.len();
            let from = len.saturating_sub(limit.max(4096));
            f.seek(io::SeekFrom::Start(from))?;
            let mut tail = Vec::new();
            f.read_to_end(&mut tail)?;
            let mut start = tail.iter().position(|b| *b != 0).unwrap_or(tail.len());
            if (from > 0 || start > 0)
                && let Some(nl) = tail[start..].iter().position(|b| *b == b'\n')
            {
                // Drop the partial first line.
                start += nl + 1;
            }
            bytes.extend_from_slice(&tail[start..]);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(tail_lines);
    Ok(lines[skip..].iter().map(|l| (*l).to_owned()).collect())
}

#[async_trait]
impl Hypervisor for LocalDriver {
    fn kind(&self) -> HypervisorKind {
        HypervisorKind::Local
    }

    fn describe(&self) -> String {
        format!("local:{}", self.state_dir)
    }

    async fn inspect_template(&self, source: &TemplateSource) -> Result<TemplateInfo> {
        let (dir, manifest) = self.read_manifest(source).await?;
        let program = &manifest.boot[0];
        if !program.contains('/') || Utf8Path::new(program).is_absolute() {
            if self.resolve_program(program, &dir).is_none() {
                return Err(invalid_template(
                    source,
                    format!(
                        "{dir}/{MANIFEST_FILE}: field `boot`: program {program:?} is not an executable found in {}; install it or add its directory to the local driver's bin directories",
                        self.search_path()
                    ),
                ));
            }
        } else if !is_executable(&dir.join(program)) {
            return Err(invalid_template(
                source,
                format!(
                    "{dir}/{MANIFEST_FILE}: field `boot`: {program:?} is not an executable file in the template directory"
                ),
            ));
        }
        let walk_dir = dir.clone();
        let (fingerprint, files, bytes) = blocking(Operation::InspectTemplate, None, move || {
            clone::fingerprint_tree(walk_dir.as_std_path())
        })
        .await?
        .map_err(|e| HypervisorError::InvalidTemplate {
            template: source.clone(),
            reason: format!("cannot read the template tree {dir}"),
            source: Some(e.into()),
        })?;
        let mut info = TemplateInfo::new(source.clone(), fingerprint);
        info.description = manifest.description.clone();
        info.size = Some(manifest.size);
        info.details
            .insert("boot".to_owned(), manifest.boot.join(" "));
        info.details.insert("files".to_owned(), files.to_string());
        info.details.insert("bytes".to_owned(), bytes.to_string());
        info.details.insert(
            "stop_timeout_seconds".to_owned(),
            manifest.stop_timeout.as_secs().to_string(),
        );
        Ok(info)
    }

    async fn provision(&self, spec: &ProvisionSpec) -> Result<MachineInfo> {
        let op = Operation::Provision;
        let machine = &spec.machine;
        let guard = self.machine_lock(machine);
        let _held = guard.lock().await;
        let (template_dir, manifest) = self.read_manifest(&spec.template).await?;
        if let Some(want) = &spec.fingerprint {
            let dir = template_dir.clone();
            let (got, _, _) = blocking(op, Some(machine), move || {
                clone::fingerprint_tree(dir.as_std_path())
            })
            .await?
            .map_err(io_err(
                op,
                Some(machine),
                format!("reading template {template_dir}"),
            ))?;
            if &got != want {
                return Err(invalid_template(
                    &spec.template,
                    format!(
                        "the directory changed since this generation was registered (fingerprint {got}, registered {want}); register its current content as a new generation"
                    ),
                ));
            }
        }
        let address = {
            let mut pending = self.pending.lock().await;
            let records = self.records(op).await?;
            if pending.contains_key(machine) || records.iter().any(|r| &r.name == machine) {
                return Err(HypervisorError::AlreadyExists {
                    machine: machine.clone(),
                });
            }
            let address = self.allocate_address(&records, &pending).ok_or_else(|| {
                HypervisorError::permanent(
                    op,
                    Some(machine),
                    "no free loopback address left in the local driver's range",
                )
            })?;
            pending.insert(machine.clone(), address);
            held_addresses().insert(address, (self.state_dir.clone(), machine.clone()));
            address
        };
        let result = self
            .provision_into(spec, &template_dir, &manifest, address)
            .await;
        // Released only now that the record is on disk (or the provision failed), so a
        // concurrent scan always sees the address as taken.
        self.pending.lock().await.remove(machine);
        if result.is_err() {
            release_address(address, &self.state_dir, machine);
        }
        let rec = result?;
        Ok(self.info_of(&rec))
    }

    async fn start(&self, machine: &MachineName) -> Result<()> {
        let op = Operation::Start;
        let guard = self.machine_lock(machine);
        let _held = guard.lock().await;
        let mut rec = self.record(op, machine).await?;
        self.settle(op, &mut rec).await?;
        if self.running(&rec) {
            if rec.desired != Desired::Running {
                rec.desired = Desired::Running;
                self.save(op, &rec).await?;
            }
            return Ok(());
        }
        let dir = self.machine_dir(machine);
        let root = dir.join(ROOT_DIR);
        let console = dir.join(CONSOLE_FILE);
        self.cap_console(machine);
        let program = self.resolve_program(&rec.boot[0], &root).ok_or_else(|| {
            HypervisorError::permanent(
                op,
                Some(machine),
                format!(
                    "boot program {:?} is not an executable found in {} (or the machine's root for a relative path); install it or add its directory to the local driver's bin directories",
                    rec.boot[0],
                    self.search_path()
                ),
            )
        })?;
        note(&console, &format!("starting: {}", rec.boot.join(" "))).await;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&console)
            .map_err(io_err(op, Some(machine), format!("opening {console}")))?;
        let err =
            out.try_clone()
                .map_err(io_err(op, Some(machine), format!("opening {console}")))?;
        let mut cmd = tokio::process::Command::new(program.as_std_path());
        cmd.args(&rec.boot[1..])
            .current_dir(root.as_std_path())
            .env_clear()
            .env("PATH", self.search_path())
            .env("HOME", root.as_str());
        for key in ["LANG", "LC_ALL", "TZ"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(&rec.env)
            .env("VSM_SERVER", machine.as_str())
            .env("VSM_ADDRESS", rec.address.to_string())
            .env("VSM_ROOT", root.as_str())
            .env("VSM_TEMPLATE", rec.template.as_str())
            .env("VSM_GENERATION", rec.generation.to_string())
            .env("VSM_CONSOLE", console.as_str())
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(false);
        // The intent goes to disk first: if this process dies between the spawn and the record
        // of the child's identity, the next instance finds the child (see `settle`).
        let desired_before = rec.desired;
        rec.desired = Desired::Running;
        rec.starting = true;
        self.save(op, &rec).await?;
        // SAFETY: the closure only calls setsid, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                rec.desired = desired_before;
                rec.starting = false;
                let _ = self.save(op, &rec).await;
                return Err(io_err(
                    op,
                    Some(machine),
                    format!("running boot program {program}"),
                )(e));
            }
        };
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| {
                HypervisorError::permanent(op, Some(machine), "the boot process has no pid")
            })?;
        let identity = proc::identify(pid).ok();
        rec.process = identity;
        rec.starting = false;
        let saved = self.save(op, &rec).await;
        // Reap the child when it ends and note how it ended (only while this runtime lives; after a
        // manager restart the system reaps it).
        let exit_console = console.clone();
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                note(&exit_console, &format!("boot process exited: {status}")).await;
            }
        });
        if let Err(e) = saved {
            if let Some(p) = &rec.process {
                proc::signal_all(p, &self.boot_id, libc::SIGKILL);
            }
            return Err(e);
        }
        lock(&self.inner).samples.remove(machine);
        Ok(())
    }

    async fn shutdown(&self, machine: &MachineName, timeout: Duration) -> Result<ShutdownOutcome> {
        let guard = self.machine_lock(machine);
        let _held = guard.lock().await;
        self.stop_locked(Operation::Shutdown, machine, timeout)
            .await
    }

    async fn destroy(&self, machine: &MachineName) -> Result<()> {
        let op = Operation::Destroy;
        let guard = self.machine_lock(machine);
        let _held = guard.lock().await;
        let rec = self.record(op, machine).await?;
        self.stop_locked(op, machine, Duration::from_millis(rec.stop_timeout_ms))
            .await?;
        let dir = self.machine_dir(machine);
        let trash = self
            .machines_dir
            .join(format!(".trash-{machine}-{}", unique_suffix()));
        let _ = tokio::fs::remove_dir_all(&trash).await;
        tokio::fs::rename(&dir, &trash).await.map_err(io_err(
            op,
            Some(machine),
            format!("moving {dir} away"),
        ))?;
        {
            let mut inner = lock(&self.inner);
            inner.samples.remove(machine);
        }
        release_address(rec.address, &self.state_dir, machine);
        blocking(op, Some(machine), move || std::fs::remove_dir_all(&trash))
            .await?
            .map_err(io_err(op, Some(machine), "removing the machine directory"))?;
        lock(&self.inner).locks.remove(machine);
        Ok(())
    }

    async fn state(&self, machine: &MachineName) -> Result<PowerState> {
        let rec = self.settled_record(Operation::State, machine).await?;
        self.cap_console(machine);
        Ok(self.state_of(&rec))
    }

    async fn info(&self, machine: &MachineName) -> Result<MachineInfo> {
        let rec = self.settled_record(Operation::Info, machine).await?;
        Ok(self.info_of(&rec))
    }

    async fn list(&self) -> Result<Vec<MachineInfo>> {
        let mut records = self.records(Operation::List).await?;
        for rec in records.iter_mut().filter(|r| r.starting) {
            *rec = self.settled_record(Operation::List, &rec.name).await?;
        }
        Ok(records
            .iter()
            .map(|r| {
                self.cap_console(&r.name);
                self.info_of(r)
            })
            .collect())
    }

    async fn address(&self, machine: &MachineName) -> Result<Option<IpAddr>> {
        let rec = self.record(Operation::Address, machine).await?;
        Ok(Some(IpAddr::V4(rec.address)))
    }

    async fn logs(&self, machine: &MachineName, tail_lines: usize) -> Result<Vec<String>> {
        self.record(Operation::Logs, machine).await?;
        self.cap_console(machine);
        let dir = self.machine_dir(machine);
        let m = machine.clone();
        let limit = self.options.console_limit;
        blocking(Operation::Logs, Some(machine), move || {
            read_tail(&dir, tail_lines, limit)
        })
        .await?
        .map_err(io_err(Operation::Logs, Some(&m), "reading the console log"))
    }

    async fn capacity(&self) -> Result<HostCapacity> {
        // A host whose state directory is gone (unmounted, moved away) cannot serve: its
        // machines' roots and records live there. The manager's host probe asks this.
        let dir = self.state_dir.clone();
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(HypervisorError::transient(
                    Operation::Capacity,
                    None,
                    format!("the host's state directory {dir} is not a directory"),
                ));
            }
            Err(e) => {
                return Err(HypervisorError::transient(
                    Operation::Capacity,
                    None,
                    format!("the host's state directory {dir} cannot be reached: {e}"),
                ));
            }
        }
        // This machine's CPUs and memory, from /proc (the servers are its processes).
        let meminfo = tokio::fs::read_to_string("/proc/meminfo")
            .await
            .map_err(|e| {
                HypervisorError::permanent_from(
                    Operation::Capacity,
                    None,
                    "reading /proc/meminfo",
                    e,
                )
            })?;
        let memory_kib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| {
                HypervisorError::permanent(
                    Operation::Capacity,
                    None,
                    "/proc/meminfo has no MemTotal",
                )
            })?;
        let cpus = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1);
        Ok(HostCapacity::new(
            cpus,
            memory_kib / 1024,
            format!("local host {}", self.options.host_label),
        ))
    }

    async fn load(&self, machine: &MachineName) -> Result<LoadFigures> {
        let rec = self.record(Operation::Load, machine).await?;
        self.cap_console(machine);
        let Some(p) = rec.process.as_ref().filter(|_| self.running(&rec)) else {
            return Ok(LoadFigures::new(Some(0.0), None, Some(0), Some(0)));
        };
        let members = proc::members_of(p, &self.boot_id);
        let (cpu, memory, processes) = proc::usage(&members);
        let now = Instant::now();
        let percent = {
            let mut inner = lock(&self.inner);
            let prev = inner.samples.insert(machine.clone(), (now, cpu));
            match prev {
                Some((t, c)) if now > t => {
                    let wall = now.duration_since(t).as_secs_f64();
                    Some(cpu.saturating_sub(c).as_secs_f64() / wall * 100.0)
                }
                _ => None,
            }
        };
        Ok(LoadFigures::new(
            percent,
            Some(cpu),
            Some(memory),
            Some(processes),
        ))
    }

    fn local_root(&self, machine: &MachineName) -> Option<Utf8PathBuf> {
        let dir = self.machine_dir(machine);
        dir.join(RECORD_FILE).is_file().then(|| dir.join(ROOT_DIR))
    }
}

impl LocalDriver {
    async fn provision_into(
        &self,
        spec: &ProvisionSpec,
        template_dir: &Utf8Path,
        manifest: &TemplateManifest,
        address: Ipv4Addr,
    ) -> Result<Record> {
        let op = Operation::Provision;
        let machine = &spec.machine;
        let dir = self.machine_dir(machine);
        if tokio::fs::symlink_metadata(&dir).await.is_ok() {
            return Err(HypervisorError::AlreadyExists {
                machine: machine.clone(),
            });
        }
        let tmp = self.machines_dir.join(format!(".new-{machine}"));
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        tokio::fs::create_dir(&tmp).await.map_err(io_err(
            op,
            Some(machine),
            format!("creating {tmp}"),
        ))?;
        let rec = Record {
            format: 1,
            name: machine.clone(),
            template: spec.template.clone(),
            generation: spec.generation,
            labels: spec.labels.clone(),
            address,
            boot: manifest.boot.clone(),
            env: manifest.env.clone(),
            stop_timeout_ms: manifest
                .stop_timeout
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
            desired: Desired::Stopped,
            process: None,
            starting: false,
        };
        let built = async {
            let (src, dst, mode) = (
                template_dir.to_owned(),
                tmp.join(ROOT_DIR),
                self.options.clone_mode,
            );
            blocking(op, Some(machine), move || {
                clone::clone_tree(src.as_std_path(), dst.as_std_path(), mode)
            })
            .await?
            .map_err(io_err(
                op,
                Some(machine),
                format!("cloning template {template_dir}"),
            ))?;
            tokio::fs::write(tmp.join(CONSOLE_FILE), b"")
                .await
                .map_err(io_err(op, Some(machine), "creating the console log"))?;
            let text = serde_json::to_vec_pretty(&rec).map_err(|e| {
                HypervisorError::permanent_from(op, Some(machine), "encoding the record", e)
            })?;
            write_atomic(&tmp, RECORD_FILE, &text)
                .await
                .map_err(io_err(op, Some(machine), "writing the machine record"))?;
            tokio::fs::rename(&tmp, &dir).await.map_err(io_err(
                op,
                Some(machine),
                format!("moving {tmp} to {dir}"),
            ))
        }
        .await;
        if let Err(e) = built {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            return Err(e);
        }
        Ok(rec)
    }
}
