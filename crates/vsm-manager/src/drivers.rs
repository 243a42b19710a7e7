//! The hypervisor drivers that the caller (the binary, a test, an embedder) injects into the
//! manager: [`DriverSet`], one driver per kind. The library never builds one itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use vsm_hypervisor::Hypervisor;

use crate::api::DriverKind;

/// The hypervisor drivers the caller (the binary, a test, an embedder) injects, one per kind.
#[derive(Clone, Default)]
pub struct DriverSet {
    drivers: BTreeMap<DriverKind, Arc<dyn Hypervisor>>,
}

impl std::fmt::Debug for DriverSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.drivers.keys()).finish()
    }
}

impl DriverSet {
    /// No drivers.
    pub fn new() -> Self {
        DriverSet::default()
    }

    /// Adds (or replaces) the driver of `kind`.
    pub fn with(mut self, kind: DriverKind, driver: Arc<dyn Hypervisor>) -> Self {
        self.drivers.insert(kind, driver);
        self
    }

    /// The kinds present.
    pub fn kinds(&self) -> Vec<DriverKind> {
        self.drivers.keys().copied().collect()
    }

    /// The driver of `kind`.
    pub fn get(&self, kind: DriverKind) -> Option<&Arc<dyn Hypervisor>> {
        self.drivers.get(&kind)
    }
}
