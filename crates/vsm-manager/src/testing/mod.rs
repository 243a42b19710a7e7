//! Test support for embedders and this workspace's tests (feature `test-support`): a
//! [`DriverFactory`] of fake hosts, and ([`pg`]) a throwaway PostgreSQL server.

pub mod pg;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use vsm_hypervisor::Hypervisor;
use vsm_hypervisor::fake::FakeHypervisor;

use crate::drivers::DriverFactory;
use crate::host::{DriverKind, HostConnection};

/// Connects every `local` host to a new in-memory [`FakeHypervisor`] (machines get real
/// directories under the host's `--dir`), with the capacity given; keeps each so a test can
/// inject faults into one host. Connecting a host named in [`FakeHosts::refuse`] fails.
#[derive(Default)]
pub struct FakeHosts {
    capacity: Option<(u32, u64)>,
    hosts: Mutex<BTreeMap<String, Arc<FakeHypervisor>>>,
    refused: Mutex<Vec<String>>,
}

impl FakeHosts {
    /// Fake hosts of the fake driver's default capacity.
    pub fn new() -> Self {
        FakeHosts::default()
    }

    /// Fake hosts of `cpus` CPUs and `memory_mib` MiB each.
    pub fn with_capacity(cpus: u32, memory_mib: u64) -> Self {
        FakeHosts {
            capacity: Some((cpus, memory_mib)),
            ..FakeHosts::default()
        }
    }

    /// The fake behind host `name`, once connected.
    pub fn host(&self, name: &str) -> Option<Arc<FakeHypervisor>> {
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Makes connecting host `name` fail from now on.
    pub fn refuse(&self, name: &str) {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_owned());
    }
}

#[async_trait::async_trait]
impl DriverFactory for FakeHosts {
    async fn connect(&self, host: &HostConnection) -> Result<Arc<dyn Hypervisor>, String> {
        let name = host.name.to_string();
        if self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&name)
        {
            return Err(format!("connection to fake host {name} refused"));
        }
        if host.driver != DriverKind::Local {
            return Err(format!("fake hosts are local, not {}", host.driver));
        }
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        // A host connected again (the manager reopened) sees the same machines.
        let fake = match hosts.get(&name) {
            Some(f) => Arc::new(f.reopen()),
            None => {
                let mut f = FakeHypervisor::new();
                if let Some(dir) = &host.dir {
                    f = f.with_root_dir(dir.join("machines"));
                }
                if let Some((cpus, mem)) = self.capacity {
                    f = f.with_capacity(cpus, mem);
                }
                Arc::new(f)
            }
        };
        hosts.insert(name, fake.clone());
        Ok(fake)
    }
}
