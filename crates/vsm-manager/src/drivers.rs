//! The hypervisor drivers that the caller (the binary, a test, an embedder) injects into the
//! manager: [`DriverSet`], one driver per kind (each the built-in host of its kind, e.g.
//! `local`) and the [`DriverFactory`] that connects the hosts an administrator adds. The
//! library never builds a driver itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use vsm_hypervisor::Hypervisor;

use crate::host::{DriverKind, HostConnection};

/// Connects the hosts of the pool: builds the driver of a host from how it is reached. The
/// binary injects one that knows its backends; embedders inject their own.
#[async_trait::async_trait]
pub trait DriverFactory: Send + Sync {
    /// A connected driver for `host`, or why not (the message names what to fix).
    async fn connect(&self, host: &HostConnection) -> Result<Arc<dyn Hypervisor>, String>;
}

/// The hypervisor drivers the caller (the binary, a test, an embedder) injects, one per kind,
/// and the factory for added hosts.
#[derive(Clone, Default)]
pub struct DriverSet {
    drivers: BTreeMap<DriverKind, Arc<dyn Hypervisor>>,
    factory: Option<Arc<dyn DriverFactory>>,
}

impl std::fmt::Debug for DriverSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverSet")
            .field("kinds", &self.drivers.keys().collect::<Vec<_>>())
            .field("factory", &self.factory.is_some())
            .finish()
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

    /// Sets the factory that connects added hosts (`vsm host add`); without one, hosts
    /// cannot be added.
    pub fn with_factory(mut self, factory: Arc<dyn DriverFactory>) -> Self {
        self.factory = Some(factory);
        self
    }

    /// The factory, if one was given.
    pub fn factory(&self) -> Option<&Arc<dyn DriverFactory>> {
        self.factory.as_ref()
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
