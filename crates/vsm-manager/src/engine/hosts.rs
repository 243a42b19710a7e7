//! The host table: every host of the pool with its record and, when connected, its driver.
//! The store holds the records durably; this table is what the engine reads on every step
//! (which driver serves a server) and what placement sees.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use vsm_core::{Host, HostName};
use vsm_hypervisor::Hypervisor;

use crate::host::{DriverKind, HostRecord};

/// A host and its driver (`None`: not connected).
#[derive(Clone)]
pub(crate) struct HostSlot {
    pub(crate) record: HostRecord,
    pub(crate) driver: Option<Arc<dyn Hypervisor>>,
}

/// Every host of the pool, by name.
#[derive(Default)]
pub(crate) struct HostTable {
    slots: RwLock<BTreeMap<HostName, HostSlot>>,
    /// Names being added (connecting): taken, not yet hosts.
    adding: std::sync::Mutex<std::collections::BTreeSet<HostName>>,
}

/// A name taken for a host being added; given back when dropped.
pub(crate) struct Adding<'a> {
    table: &'a HostTable,
    name: HostName,
}

impl Drop for Adding<'_> {
    fn drop(&mut self) {
        self.table
            .adding
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.name);
    }
}

impl HostTable {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<HostName, HostSlot>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<HostName, HostSlot>> {
        self.slots.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Every host, by name, with whether it is connected.
    pub(crate) fn records(&self) -> Vec<(HostRecord, bool)> {
        self.read()
            .values()
            .map(|s| (s.record.clone(), s.driver.is_some()))
            .collect()
    }

    /// One host, with whether it is connected.
    pub(crate) fn record(&self, name: &str) -> Option<(HostRecord, bool)> {
        self.read()
            .get(name)
            .map(|s| (s.record.clone(), s.driver.is_some()))
    }

    /// Whether `name` is a host of the pool.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// Takes `name` for a host being added, unless it is a host or being added already.
    pub(crate) fn begin_add(&self, name: &HostName) -> Option<Adding<'_>> {
        let mut adding = self.adding.lock().unwrap_or_else(|p| p.into_inner());
        if self.contains(name.as_str()) || !adding.insert(name.clone()) {
            return None;
        }
        Some(Adding {
            table: self,
            name: name.clone(),
        })
    }

    /// Whether `name` is a host of the pool that is down.
    pub(crate) fn is_down(&self, name: &str) -> bool {
        self.read()
            .get(name)
            .is_some_and(|s| s.record.state == vsm_core::HostState::Down)
    }

    /// The driver of host `name`, or why there is none.
    pub(crate) fn driver_on(&self, name: &str) -> Result<Arc<dyn Hypervisor>, String> {
        let slots = self.read();
        let Some(slot) = slots.get(name) else {
            return Err(format!("host {name} is not in the pool"));
        };
        if slot.record.state == vsm_core::HostState::Down {
            return Err(format!("host {name} is down"));
        }
        slot.driver
            .clone()
            .ok_or_else(|| match &slot.record.last_error {
                Some(e) => format!("host {name} is not connected: {e}"),
                None => format!("host {name} is not connected"),
            })
    }

    /// The connected hosts with their drivers.
    pub(crate) fn connected(&self) -> Vec<(HostRecord, Arc<dyn Hypervisor>)> {
        self.read()
            .values()
            .filter_map(|s| s.driver.clone().map(|d| (s.record.clone(), d)))
            .collect()
    }

    /// The built-in host of `kind`, if any.
    pub(crate) fn builtin(&self, kind: DriverKind) -> Option<HostName> {
        self.read()
            .values()
            .find(|s| s.record.builtin && s.record.driver() == kind)
            .map(|s| s.record.name().clone())
    }

    /// The pool as placement sees it (a host without a driver counts as down).
    pub(crate) fn placement_hosts(&self) -> Vec<Host> {
        self.read()
            .values()
            .map(|s| s.record.placement_host(s.driver.is_some()))
            .collect()
    }

    /// Adds or replaces a host.
    pub(crate) fn put(&self, record: HostRecord, driver: Option<Arc<dyn Hypervisor>>) {
        self.write()
            .insert(record.name().clone(), HostSlot { record, driver });
    }

    /// Changes a host's record; answers the new record.
    pub(crate) fn update(&self, name: &str, f: impl FnOnce(&mut HostRecord)) -> Option<HostRecord> {
        let mut slots = self.write();
        let slot = slots.get_mut(name)?;
        f(&mut slot.record);
        Some(slot.record.clone())
    }

    /// Removes a host; answers its slot.
    pub(crate) fn remove(&self, name: &str) -> Option<HostSlot> {
        self.write().remove(name)
    }
}

/// When each host last answered, and when its failover was last tried, as this process saw it
/// (monotonic).
#[derive(Default)]
pub(crate) struct Heartbeats {
    seen: Mutex<HashMap<HostName, tokio::time::Instant>>,
    attempts: Mutex<HashMap<HostName, tokio::time::Instant>>,
}

impl Heartbeats {
    pub(super) fn seen(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<HostName, tokio::time::Instant>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn attempts(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<HostName, tokio::time::Instant>> {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }
}
