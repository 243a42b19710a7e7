//! `FileHypervisor`: a hypervisor whose machines are JSON files in a directory, so its state
//! survives the process that drives it. The scripted crash test kills a manager (`examples/crash_script_host.rs`,
//! which includes this file) that uses it, then reopens the same machines in the test process.
//!
//! Every change is one atomic rename; every call sleeps a little first, so kills land before,
//! inside and after driver calls. Each machine also gets a root directory (`NAME.root`) that the
//! deploy layer writes into.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use async_trait::async_trait;
use camino::{Utf8Path, Utf8PathBuf};
use vsm_hypervisor::{
    Hypervisor, HypervisorError, HypervisorKind, MachineInfo, MachineName, Operation, PowerState,
    ProvisionSpec, Result, ShutdownOutcome, TemplateInfo, TemplateSource,
};

/// Machines as files under one directory.
#[derive(Debug)]
pub struct FileHypervisor {
    dir: Utf8PathBuf,
    latency: Duration,
    /// One writer at a time inside this process (the manager never runs two steps on one
    /// machine at once, but `list` must not see a half-made set).
    lock: tokio::sync::Mutex<()>,
}

fn io_error(
    op: Operation,
    machine: Option<&MachineName>,
    what: String,
    e: std::io::Error,
) -> HypervisorError {
    HypervisorError::permanent_from(op, machine, what, e)
}

/// A stable loopback-free address per machine name (FNV-1a of the name).
fn address_of(name: &MachineName) -> IpAddr {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.as_str().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let [a, b, c, _] = h.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(10, a, b, c.clamp(1, 254)))
}

impl FileHypervisor {
    /// Opens (creating) the machine directory; `latency` is slept before every call.
    pub fn open(dir: &Utf8Path, latency: Duration) -> std::io::Result<FileHypervisor> {
        std::fs::create_dir_all(dir)?;
        Ok(FileHypervisor {
            dir: dir.to_path_buf(),
            latency,
            lock: tokio::sync::Mutex::new(()),
        })
    }

    fn file(&self, machine: &MachineName) -> Utf8PathBuf {
        self.dir.join(format!("{}.json", machine.as_str()))
    }

    fn read(&self, op: Operation, machine: &MachineName) -> Result<MachineInfo> {
        let path = self.file(machine);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HypervisorError::not_found(machine));
            }
            Err(e) => return Err(io_error(op, Some(machine), format!("reading {path}"), e)),
        };
        serde_json::from_str(&text).map_err(|e| {
            HypervisorError::permanent(op, Some(machine), format!("{path} is corrupt: {e}"))
        })
    }

    /// Atomic: a temporary file renamed over the old one.
    fn write(&self, op: Operation, info: &MachineInfo) -> Result<()> {
        let path = self.file(&info.name);
        let tmp = self.dir.join(format!(".{}.tmp", info.name.as_str()));
        let text = serde_json::to_string(info).map_err(|e| {
            HypervisorError::permanent(op, Some(&info.name), format!("encoding: {e}"))
        })?;
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| io_error(op, Some(&info.name), format!("writing {path}"), e))
    }

    async fn enter(&self) -> tokio::sync::MutexGuard<'_, ()> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.lock.lock().await
    }

    fn set_state(
        &self,
        op: Operation,
        machine: &MachineName,
        state: PowerState,
    ) -> Result<PowerState> {
        let mut info = self.read(op, machine)?;
        let was = info.state;
        if was != state {
            info.state = state;
            self.write(op, &info)?;
        }
        Ok(was)
    }

    /// Every machine, sorted by name (synchronous, for test assertions).
    pub fn machines(&self) -> Vec<MachineInfo> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json")
                && !name.starts_with('.')
                && let Ok(m) = MachineName::new(stem)
                && let Ok(info) = self.read(Operation::List, &m)
            {
                out.push(info);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Where a machine's files live.
    pub fn root_of(&self, machine: &MachineName) -> Utf8PathBuf {
        self.dir.join(format!("{}.root", machine.as_str()))
    }
}

#[async_trait]
impl Hypervisor for FileHypervisor {
    fn kind(&self) -> HypervisorKind {
        HypervisorKind::Fake
    }

    async fn inspect_template(&self, source: &TemplateSource) -> Result<TemplateInfo> {
        Ok(TemplateInfo::new(source.clone(), format!("file:{source}")))
    }

    async fn provision(&self, spec: &ProvisionSpec) -> Result<MachineInfo> {
        let _g = self.enter().await;
        if self.file(&spec.machine).exists() {
            return Err(HypervisorError::AlreadyExists {
                machine: spec.machine.clone(),
            });
        }
        let root = self.root_of(&spec.machine);
        std::fs::create_dir_all(&root).map_err(|e| {
            io_error(
                Operation::Provision,
                Some(&spec.machine),
                format!("creating {root}"),
                e,
            )
        })?;
        let info = MachineInfo::from_spec(spec, PowerState::Stopped)
            .with_address(Some(address_of(&spec.machine)))
            .with_host("file");
        self.write(Operation::Provision, &info)?;
        Ok(info)
    }

    async fn start(&self, machine: &MachineName) -> Result<()> {
        let _g = self.enter().await;
        self.set_state(Operation::Start, machine, PowerState::Running)
            .map(|_| ())
    }

    async fn shutdown(&self, machine: &MachineName, _timeout: Duration) -> Result<ShutdownOutcome> {
        let _g = self.enter().await;
        let was = self.set_state(Operation::Shutdown, machine, PowerState::Stopped)?;
        Ok(if was.is_active() {
            ShutdownOutcome::Graceful
        } else {
            ShutdownOutcome::AlreadyStopped
        })
    }

    async fn destroy(&self, machine: &MachineName) -> Result<()> {
        let _g = self.enter().await;
        let path = self.file(machine);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HypervisorError::not_found(machine));
            }
            Err(e) => {
                return Err(io_error(
                    Operation::Destroy,
                    Some(machine),
                    format!("removing {path}"),
                    e,
                ));
            }
        }
        let root = self.root_of(machine);
        match std::fs::remove_dir_all(&root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(
                Operation::Destroy,
                Some(machine),
                format!("removing {root}"),
                e,
            )),
        }
    }

    async fn state(&self, machine: &MachineName) -> Result<PowerState> {
        self.read(Operation::State, machine).map(|i| i.state)
    }

    async fn info(&self, machine: &MachineName) -> Result<MachineInfo> {
        self.read(Operation::Info, machine)
    }

    async fn list(&self) -> Result<Vec<MachineInfo>> {
        let _g = self.lock.lock().await;
        Ok(self.machines())
    }

    async fn address(&self, machine: &MachineName) -> Result<Option<IpAddr>> {
        self.read(Operation::Address, machine).map(|i| i.address)
    }

    async fn logs(&self, machine: &MachineName, _tail_lines: usize) -> Result<Vec<String>> {
        let info = self.read(Operation::Logs, machine)?;
        Ok(vec![format!("{} is {}", info.name, info.state.as_str())])
    }

    fn local_root(&self, machine: &MachineName) -> Option<Utf8PathBuf> {
        Some(self.root_of(machine))
    }
}
