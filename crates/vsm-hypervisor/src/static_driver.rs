//! The `static` driver: registered machines that already exist, reached over SSH.
//!
//! Owns: the list of attached machines (persisted in one JSON state file so a fresh driver
//! instance lists them again), and running each machine's start / stop / status / logs commands
//! over [`crate::ssh`]. "Provision" attaches (checks that the machine answers), "destroy" detaches.
//! Must not: change a machine when attaching or detaching it, create or delete machines, or pick
//! SSH settings from the environment (they come from [`StaticConfig`] and the provisioning
//! parameters, see [`params`]).
//!
//! Commands are shell command lines run on the machine by its login shell. Before running,
//! `{machine}` is replaced by the machine's name and `{lines}` (logs only) by the number of lines
//! wanted, both shell-quoted.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::driver::Hypervisor;
use crate::error::{HypervisorError, Operation, Result};
use crate::ssh::{self, HostKeyChecking, SshError, SshTarget};
use crate::types::{
    HypervisorKind, LoadFigures, MachineInfo, MachineName, PowerState, ProvisionSpec,
    ShutdownOutcome, TemplateInfo, TemplateSource,
};

/// Keys of [`ProvisionSpec::params`] the static driver reads; each overrides the driver's
/// defaults ([`StaticConfig`]) for one machine. Other keys are ignored.
pub mod params {
    /// Remote user to log in as.
    pub const SSH_USER: &str = "ssh_user";
    /// SSH port (default 22).
    pub const SSH_PORT: &str = "ssh_port";
    /// Private key file.
    pub const SSH_IDENTITY: &str = "ssh_identity";
    /// `strict`, `accept-new` or `off`.
    pub const SSH_HOST_KEY_CHECKING: &str = "ssh_host_key_checking";
    /// Known-hosts file for `strict` / `accept-new`.
    pub const SSH_KNOWN_HOSTS: &str = "ssh_known_hosts";
    /// Command that starts the application server.
    pub const START_COMMAND: &str = "start_command";
    /// Command that stops it gracefully.
    pub const STOP_COMMAND: &str = "stop_command";
    /// Command that stops it forcibly after the shutdown time-out.
    pub const KILL_COMMAND: &str = "kill_command";
    /// Command whose exit code says whether it runs (0: running).
    pub const STATUS_COMMAND: &str = "status_command";
    /// Command that prints the last `{lines}` log lines.
    pub const LOGS_COMMAND: &str = "logs_command";
}

/// The commands run on a registered machine. `None`: the operation is unsupported for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticCommands {
    /// Starts the application server (e.g. `systemctl start app`).
    #[serde(default)]
    pub start: Option<String>,
    /// Stops it gracefully (e.g. `systemctl stop app`).
    #[serde(default)]
    pub stop: Option<String>,
    /// Stops it forcibly when `stop` did not finish in time (e.g. `systemctl kill -s KILL app`).
    #[serde(default)]
    pub kill: Option<String>,
    /// Exit code 0 when running. When stdout's first word is a systemd state (`active`,
    /// `activating`, `deactivating`, `failed`, `inactive`) that word decides.
    #[serde(default)]
    pub status: Option<String>,
    /// Prints the last `{lines}` lines of the log (default `journalctl -n {lines} --no-pager`).
    #[serde(default)]
    pub logs: Option<String>,
}

/// Default SSH settings for every machine of one static driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSsh {
    /// Remote user, unless a machine names its own.
    pub user: Option<String>,
    /// Private key file, unless a machine names its own.
    pub identity: Option<Utf8PathBuf>,
    /// Port (22).
    pub port: u16,
    /// Host-key checking (default `accept-new` in the user's known-hosts file).
    pub host_key_checking: HostKeyChecking,
    /// Connect time-out.
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
}

impl Default for StaticSsh {
    fn default() -> Self {
        StaticSsh {
            user: None,
            identity: None,
            port: 22,
            host_key_checking: HostKeyChecking::AcceptNew { known_hosts: None },
            connect_timeout: Duration::from_secs(10),
        }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Configuration of a [`StaticDriver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig {
    /// Where the list of attached machines is kept (JSON, written atomically).
    pub state_file: Utf8PathBuf,
    /// SSH defaults.
    pub ssh: StaticSsh,
    /// Command defaults.
    pub commands: StaticCommands,
    /// How often `shutdown` polls the status command while waiting.
    pub poll_interval: Duration,
}

impl StaticConfig {
    /// A configuration keeping its state in `state_file`, with default SSH settings and no
    /// commands.
    pub fn new(state_file: impl Into<Utf8PathBuf>) -> Self {
        StaticConfig {
            state_file: state_file.into(),
            ssh: StaticSsh::default(),
            commands: StaticCommands::default(),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// What is stored per attached machine: everything needed to reach and drive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Attached {
    address: String,
    user: String,
    port: u16,
    identity: Utf8PathBuf,
    host_key_checking: HostKeyChecking,
    connect_timeout_secs: u64,
    commands: StaticCommands,
    template: TemplateSource,
    generation: u32,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

impl Attached {
    fn target(&self) -> SshTarget {
        SshTarget::new(
            self.address.clone(),
            self.user.clone(),
            self.identity.clone(),
        )
        .with_port(self.port)
        .with_host_key_checking(self.host_key_checking.clone())
        .with_connect_timeout(Duration::from_secs(self.connect_timeout_secs))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u32,
    machines: BTreeMap<MachineName, Attached>,
}

#[derive(Debug, Clone, Copy)]
struct CpuSample {
    busy: u64,
    total: u64,
}

/// The `static` driver: registered machines reached over SSH.
#[derive(Debug)]
pub struct StaticDriver {
    config: StaticConfig,
    machines: Mutex<BTreeMap<MachineName, Attached>>,
    /// Serializes writes of the state file.
    write: tokio::sync::Mutex<()>,
    cpu: Mutex<BTreeMap<MachineName, CpuSample>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn expand(command: &str, machine: &MachineName, lines: Option<usize>) -> String {
    let mut out = command.replace("{machine}", &ssh::shell_quote(machine.as_str()));
    if let Some(lines) = lines {
        out = out.replace("{lines}", &lines.to_string());
    }
    out
}

fn ssh_error(op: Operation, machine: &MachineName, what: &str, e: SshError) -> HypervisorError {
    if e.is_transient() {
        HypervisorError::transient_from(op, Some(machine), what.to_string(), e)
    } else {
        HypervisorError::permanent_from(op, Some(machine), what.to_string(), e)
    }
}

impl StaticDriver {
    /// Opens the driver, reading the attached machines from the state file (none when it does
    /// not exist yet). Synchronous: it reads one small file.
    pub fn open(config: StaticConfig) -> Result<StaticDriver> {
        let machines = match std::fs::read(&config.state_file) {
            Ok(bytes) => {
                let state: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
                    HypervisorError::permanent_from(
                        Operation::Open,
                        None,
                        format!(
                            "state file {} is not valid: fix or remove it (it lists attached machines)",
                            config.state_file
                        ),
                        e,
                    )
                })?;
                state.machines
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(HypervisorError::permanent_from(
                    Operation::Open,
                    None,
                    format!("reading state file {}", config.state_file),
                    e,
                ));
            }
        };
        Ok(StaticDriver {
            config,
            machines: Mutex::new(machines),
            write: tokio::sync::Mutex::new(()),
            cpu: Mutex::new(BTreeMap::new()),
        })
    }

    /// The driver's configuration.
    pub fn config(&self) -> &StaticConfig {
        &self.config
    }

    /// The SSH target of an attached machine.
    pub fn target(&self, machine: &MachineName) -> Result<SshTarget> {
        self.attached(machine).map(|a| a.target())
    }

    fn attached(&self, machine: &MachineName) -> Result<Attached> {
        lock(&self.machines)
            .get(machine)
            .cloned()
            .ok_or_else(|| HypervisorError::not_found(machine))
    }

    async fn persist(&self, op: Operation, machine: &MachineName) -> Result<()> {
        let _guard = self.write.lock().await;
        let state = StateFile {
            format: 1,
            machines: lock(&self.machines).clone(),
        };
        let fail = |what: String, e: std::io::Error| {
            HypervisorError::permanent_from(op, Some(machine), what, e)
        };
        let bytes = serde_json::to_vec_pretty(&state)
            .map_err(|e| fail("encoding state".into(), std::io::Error::other(e)))?;
        let path = &self.config.state_file;
        if let Some(parent) = path.parent().filter(|p| !p.as_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| fail(format!("creating {parent}"), e))?;
        }
        let tmp = Utf8PathBuf::from(format!("{path}.tmp"));
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| fail(format!("writing {tmp}"), e))?;
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(|e| fail(format!("replacing {path}"), e))
    }

    fn settings(&self, spec: &ProvisionSpec) -> Result<Attached> {
        let bad = |reason: String| {
            HypervisorError::permanent(Operation::Provision, Some(&spec.machine), reason)
        };
        let p = |key: &str| spec.params.get(key).cloned();
        let address = spec
            .attach_address
            .clone()
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| {
                bad("a registered machine needs an address: give attach_address".into())
            })?;
        let user = p(params::SSH_USER)
            .or_else(|| self.config.ssh.user.clone())
            .ok_or_else(|| {
                bad(format!(
                    "no ssh user: give the `{}` parameter or a default user",
                    params::SSH_USER
                ))
            })?;
        let identity = p(params::SSH_IDENTITY)
            .map(Utf8PathBuf::from)
            .or_else(|| self.config.ssh.identity.clone())
            .ok_or_else(|| {
                bad(format!(
                    "no ssh key: give the `{}` parameter or a default identity",
                    params::SSH_IDENTITY
                ))
            })?;
        let port = match p(params::SSH_PORT) {
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    bad(format!(
                        "parameter `{}` is {text:?}: give a port number 1-65535",
                        params::SSH_PORT
                    ))
                })?,
            None => self.config.ssh.port,
        };
        let known_hosts = p(params::SSH_KNOWN_HOSTS).map(Utf8PathBuf::from);
        let host_key_checking = match p(params::SSH_HOST_KEY_CHECKING).as_deref() {
            None => match (&self.config.ssh.host_key_checking, known_hosts) {
                (HostKeyChecking::Strict { .. }, Some(k)) => {
                    HostKeyChecking::Strict { known_hosts: k }
                }
                (HostKeyChecking::AcceptNew { .. }, Some(k)) => HostKeyChecking::AcceptNew {
                    known_hosts: Some(k),
                },
                (default, _) => default.clone(),
            },
            // Without its own file, a strict machine uses the driver's known-hosts file.
            Some("strict") => HostKeyChecking::Strict {
                known_hosts: known_hosts
                    .or_else(|| match &self.config.ssh.host_key_checking {
                        HostKeyChecking::Strict { known_hosts } => Some(known_hosts.clone()),
                        HostKeyChecking::AcceptNew { known_hosts } => known_hosts.clone(),
                        HostKeyChecking::Off => None,
                    })
                    .ok_or_else(|| {
                        bad(format!(
                            "strict host-key checking needs the `{}` parameter (the driver has no known-hosts file)",
                            params::SSH_KNOWN_HOSTS
                        ))
                    })?,
            },
            Some("accept-new") => HostKeyChecking::AcceptNew { known_hosts },
            Some("off") => HostKeyChecking::Off,
            Some(other) => {
                return Err(bad(format!(
                    "parameter `{}` is {other:?}: use strict, accept-new or off",
                    params::SSH_HOST_KEY_CHECKING
                )));
            }
        };
        let d = &self.config.commands;
        let commands = StaticCommands {
            start: p(params::START_COMMAND).or_else(|| d.start.clone()),
            stop: p(params::STOP_COMMAND).or_else(|| d.stop.clone()),
            kill: p(params::KILL_COMMAND).or_else(|| d.kill.clone()),
            status: p(params::STATUS_COMMAND).or_else(|| d.status.clone()),
            logs: p(params::LOGS_COMMAND).or_else(|| d.logs.clone()),
        };
        Ok(Attached {
            address,
            user,
            port,
            identity,
            host_key_checking,
            connect_timeout_secs: self.config.ssh.connect_timeout.as_secs().max(1),
            commands,
            template: spec.template.clone(),
            generation: spec.generation,
            labels: spec.labels.clone(),
        })
    }

    /// Runs the status command (unreachable: `Unknown`; no status command: `Unknown`).
    async fn observe(
        &self,
        machine: &MachineName,
        a: &Attached,
        op: Operation,
    ) -> Result<PowerState> {
        let Some(status) = &a.commands.status else {
            return Ok(PowerState::Unknown);
        };
        let command = expand(status, machine, None);
        match ssh::run(&a.target(), &command).await {
            Ok(out) => Ok(interpret_status(out.code, &out.stdout_text())),
            Err(e) if e.is_transient() => Ok(PowerState::Unknown),
            Err(e) => Err(ssh_error(op, machine, "running the status command", e)),
        }
    }

    async fn run_command(
        &self,
        op: Operation,
        machine: &MachineName,
        a: &Attached,
        command: Option<&String>,
        what: &str,
    ) -> Result<ssh::Output> {
        let Some(command) = command else {
            return Err(HypervisorError::Unsupported {
                kind: HypervisorKind::Static,
                op,
            });
        };
        let command = expand(command, machine, None);
        ssh::run_checked(&a.target(), &command)
            .await
            .map_err(|e| ssh_error(op, machine, what, e))
    }

    fn info_of(name: &MachineName, a: &Attached, state: PowerState) -> MachineInfo {
        let mut info = MachineInfo::new(name.clone(), state)
            .with_address(parse_ip(&a.address))
            .with_host(a.address.clone());
        info.template = Some(a.template.clone());
        info.generation = Some(a.generation);
        info.labels = a.labels.clone();
        info
    }
}

fn parse_ip(address: &str) -> Option<IpAddr> {
    address
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Maps a status command's result to a power state.
fn interpret_status(code: Option<i32>, stdout: &str) -> PowerState {
    match stdout.split_whitespace().next() {
        Some("active") | Some("reloading") => return PowerState::Running,
        Some("activating") => return PowerState::Starting,
        Some("deactivating") => return PowerState::Stopping,
        Some("failed") => return PowerState::Crashed,
        Some("inactive") => return PowerState::Stopped,
        _ => {}
    }
    match code {
        Some(0) => PowerState::Running,
        Some(_) => PowerState::Stopped,
        None => PowerState::Unknown,
    }
}

/// Parses `/proc/stat`, `/proc/meminfo` and `/proc/loadavg` printed one after the other.
fn parse_proc(text: &str) -> (Option<CpuSample>, u32, Option<u64>, Option<u32>) {
    let mut sample = None;
    let mut cpus = 0u32;
    let mut mem_total = None;
    let mut mem_available = None;
    let mut processes = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("cpu") => {
                let v: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
                if v.len() >= 4 {
                    let idle = v[3] + v.get(4).copied().unwrap_or(0);
                    let total: u64 = v.iter().take(8).sum();
                    sample = Some(CpuSample {
                        busy: total.saturating_sub(idle),
                        total,
                    });
                }
            }
            Some(w) if w.starts_with("cpu") => cpus += 1,
            Some("MemTotal:") => mem_total = words.next().and_then(|w| w.parse::<u64>().ok()),
            Some("MemAvailable:") => {
                mem_available = words.next().and_then(|w| w.parse::<u64>().ok())
            }
            Some(first) if first.contains('.') => {
                // loadavg: "0.00 0.01 0.05 1/123 4567"
                processes = words
                    .nth(2)
                    .and_then(|w| w.split('/').nth(1))
                    .and_then(|n| n.parse().ok());
            }
            _ => {}
        }
    }
    let memory = match (mem_total, mem_available) {
        (Some(t), Some(a)) => Some(t.saturating_sub(a) * 1024),
        _ => None,
    };
    (sample, cpus.max(1), memory, processes)
}

/// Clock ticks per second of `/proc/stat` (USER_HZ, 100 on every Linux architecture vsm targets).
const USER_HZ: u64 = 100;

#[async_trait]
impl Hypervisor for StaticDriver {
    fn kind(&self) -> HypervisorKind {
        HypervisorKind::Static
    }

    fn describe(&self) -> String {
        format!("static ({})", self.config.state_file)
    }

    async fn inspect_template(&self, source: &TemplateSource) -> Result<TemplateInfo> {
        // Registered machines are not cloned: the "template" is only a label.
        let mut info = TemplateInfo::new(source.clone(), format!("static:{source}"));
        info.description = Some("registered machines (not cloned)".into());
        Ok(info)
    }

    async fn provision(&self, spec: &ProvisionSpec) -> Result<MachineInfo> {
        let machine = &spec.machine;
        if lock(&self.machines).contains_key(machine) {
            return Err(HypervisorError::AlreadyExists {
                machine: machine.clone(),
            });
        }
        let attached = self.settings(spec)?;
        ssh::check_reachable(&attached.target())
            .await
            .map_err(|e| ssh_error(Operation::Provision, machine, "attaching (checking ssh)", e))?;
        let state = self
            .observe(machine, &attached, Operation::Provision)
            .await?;
        {
            let mut map = lock(&self.machines);
            if map.contains_key(machine) {
                return Err(HypervisorError::AlreadyExists {
                    machine: machine.clone(),
                });
            }
            map.insert(machine.clone(), attached.clone());
        }
        if let Err(e) = self.persist(Operation::Provision, machine).await {
            lock(&self.machines).remove(machine);
            return Err(e);
        }
        tracing::info!(%machine, address = %attached.address, "attached registered machine");
        Ok(Self::info_of(machine, &attached, state))
    }

    async fn start(&self, machine: &MachineName) -> Result<()> {
        let a = self.attached(machine)?;
        if a.commands.status.is_some()
            && self.observe(machine, &a, Operation::Start).await? == PowerState::Running
        {
            return Ok(());
        }
        self.run_command(
            Operation::Start,
            machine,
            &a,
            a.commands.start.as_ref(),
            "running the start command",
        )
        .await
        .map(|_| ())
    }

    async fn shutdown(&self, machine: &MachineName, timeout: Duration) -> Result<ShutdownOutcome> {
        let a = self.attached(machine)?;
        let before = self.observe(machine, &a, Operation::Shutdown).await?;
        if a.commands.status.is_some() && !before.is_active() && before != PowerState::Unknown {
            return Ok(ShutdownOutcome::AlreadyStopped);
        }
        let deadline = Instant::now() + timeout;
        let stop = self.run_command(
            Operation::Shutdown,
            machine,
            &a,
            a.commands.stop.as_ref(),
            "running the stop command",
        );
        match tokio::time::timeout(timeout, stop).await {
            Ok(result) => {
                result?;
                // The stop command returned; wait for the status to agree (when there is one).
                if a.commands.status.is_none() {
                    return Ok(ShutdownOutcome::Graceful);
                }
                loop {
                    let state = self.observe(machine, &a, Operation::Shutdown).await?;
                    if !state.is_active() && state != PowerState::Unknown {
                        return Ok(ShutdownOutcome::Graceful);
                    }
                    if Instant::now() >= deadline {
                        break;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(self.config.poll_interval.min(left)).await;
                }
            }
            Err(_elapsed) => {}
        }
        // Not stopped in time: force it when we can.
        if a.commands.kill.is_none() {
            return Err(HypervisorError::timeout(
                Operation::Shutdown,
                Some(machine),
                timeout,
            ));
        }
        self.run_command(
            Operation::Shutdown,
            machine,
            &a,
            a.commands.kill.as_ref(),
            "running the kill command",
        )
        .await?;
        Ok(ShutdownOutcome::Forced)
    }

    async fn destroy(&self, machine: &MachineName) -> Result<()> {
        // Detach only: the machine itself is never touched.
        let removed = lock(&self.machines).remove(machine);
        let Some(removed) = removed else {
            return Err(HypervisorError::not_found(machine));
        };
        if let Err(e) = self.persist(Operation::Destroy, machine).await {
            lock(&self.machines).insert(machine.clone(), removed);
            return Err(e);
        }
        lock(&self.cpu).remove(machine);
        tracing::info!(%machine, "detached registered machine");
        Ok(())
    }

    async fn state(&self, machine: &MachineName) -> Result<PowerState> {
        let a = self.attached(machine)?;
        self.observe(machine, &a, Operation::State).await
    }

    async fn info(&self, machine: &MachineName) -> Result<MachineInfo> {
        let a = self.attached(machine)?;
        let state = self.observe(machine, &a, Operation::Info).await?;
        Ok(Self::info_of(machine, &a, state))
    }

    async fn list(&self) -> Result<Vec<MachineInfo>> {
        let machines: Vec<(MachineName, Attached)> = lock(&self.machines)
            .iter()
            .map(|(n, a)| (n.clone(), a.clone()))
            .collect();
        // Query every machine's status at once, a bounded number at a time.
        let limit = Arc::new(tokio::sync::Semaphore::new(16));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, (name, a)) in machines.iter().cloned().enumerate() {
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let state = match &a.commands.status {
                    None => PowerState::Unknown,
                    Some(status) => {
                        let command = expand(status, &name, None);
                        match ssh::run(&a.target(), &command).await {
                            Ok(out) => interpret_status(out.code, &out.stdout_text()),
                            Err(_) => PowerState::Unknown,
                        }
                    }
                };
                (index, state)
            });
        }
        let mut states = vec![PowerState::Unknown; machines.len()];
        while let Some(done) = tasks.join_next().await {
            if let Ok((index, state)) = done {
                states[index] = state;
            }
        }
        Ok(machines
            .iter()
            .zip(states)
            .map(|((name, a), state)| Self::info_of(name, a, state))
            .collect())
    }

    async fn address(&self, machine: &MachineName) -> Result<Option<IpAddr>> {
        let a = self.attached(machine)?;
        if let Some(ip) = parse_ip(&a.address) {
            return Ok(Some(ip));
        }
        // A host name: resolve it now.
        match tokio::net::lookup_host((a.address.as_str(), a.port)).await {
            Ok(mut addrs) => Ok(addrs.next().map(|s| s.ip())),
            Err(e) => Err(HypervisorError::transient_from(
                Operation::Address,
                Some(machine),
                format!("resolving {}", a.address),
                e,
            )),
        }
    }

    async fn logs(&self, machine: &MachineName, tail_lines: usize) -> Result<Vec<String>> {
        let a = self.attached(machine)?;
        let template = a
            .commands
            .logs
            .clone()
            .unwrap_or_else(|| "journalctl -n {lines} --no-pager".to_string());
        let command = expand(&template, machine, Some(tail_lines));
        let out = ssh::run_checked(&a.target(), &command)
            .await
            .map_err(|e| ssh_error(Operation::Logs, machine, "running the logs command", e))?;
        let text = out.stdout_text();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let skip = lines.len().saturating_sub(tail_lines);
        Ok(lines.into_iter().skip(skip).collect())
    }

    async fn load(&self, machine: &MachineName) -> Result<LoadFigures> {
        let a = self.attached(machine)?;
        let out = ssh::run_checked(&a.target(), "cat /proc/stat /proc/meminfo /proc/loadavg")
            .await
            .map_err(|e| ssh_error(Operation::Load, machine, "reading /proc over ssh", e))?;
        let (sample, cpus, memory, processes) = parse_proc(&out.stdout_text());
        let mut figures = LoadFigures::new(None, None, memory, processes);
        if let Some(now) = sample {
            figures.cpu_time = Some(Duration::from_millis(now.busy * 1000 / USER_HZ));
            let previous = lock(&self.cpu).insert(machine.clone(), now);
            let (busy, total) = match previous {
                Some(p) if now.total > p.total => {
                    (now.busy.saturating_sub(p.busy), now.total - p.total)
                }
                _ => (now.busy, now.total),
            };
            if total > 0 {
                figures.cpu_percent = Some(busy as f64 * 100.0 * f64::from(cpus) / total as f64);
            }
        }
        Ok(figures)
    }

    fn ssh_target(&self, machine: &MachineName) -> Option<SshTarget> {
        lock(&self.machines).get(machine).map(Attached::target)
    }
}

/// Where a state file for a driver would conventionally live under a manager state directory.
pub fn default_state_file(state_dir: &Utf8Path) -> Utf8PathBuf {
    state_dir.join("static-machines.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_and_codes() {
        assert_eq!(interpret_status(Some(0), ""), PowerState::Running);
        assert_eq!(interpret_status(Some(3), "inactive\n"), PowerState::Stopped);
        assert_eq!(interpret_status(Some(3), "failed\n"), PowerState::Crashed);
        assert_eq!(interpret_status(Some(1), "nope"), PowerState::Stopped);
        assert_eq!(
            interpret_status(Some(0), "activating"),
            PowerState::Starting
        );
        assert_eq!(interpret_status(None, ""), PowerState::Unknown);
    }

    #[test]
    fn placeholders_are_quoted() {
        let m = MachineName::new("web-1").expect("name");
        assert_eq!(
            expand("systemctl start app@{machine}", &m, None),
            "systemctl start app@web-1"
        );
        assert_eq!(
            expand("tail -n {lines} /var/log/x", &m, Some(5)),
            "tail -n 5 /var/log/x"
        );
    }

    #[test]
    fn proc_figures() {
        let text = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\nintr 1\nMemTotal: 2000 kB\nMemFree: 500 kB\nMemAvailable: 1500 kB\n0.10 0.20 0.30 2/345 6789\n";
        let (sample, cpus, memory, processes) = parse_proc(text);
        let sample = sample.expect("cpu line");
        assert_eq!((sample.busy, sample.total), (150, 1000));
        assert_eq!(cpus, 2);
        assert_eq!(memory, Some(500 * 1024));
        assert_eq!(processes, Some(345));
    }
}
