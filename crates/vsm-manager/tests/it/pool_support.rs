//! The host-pool harness of `hosts.rs`, `pool_moves.rs` and `libvirt_hosts.rs`: [`Harness`], a
//! manager on a temporary state dir over a built-in driver and a `DriverFactory` for added
//! hosts, with root and bob logged in; and [`Pool`], that harness over the built-in fake host
//! `local` plus fake hosts added through a `FakeHosts` factory.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use camino::Utf8PathBuf;
use vsm_core::{DefinitionVersion, HostName, OperationId, UnitName};
use vsm_hypervisor::fake::FakeHypervisor;
use vsm_hypervisor::{Hypervisor, MachineInfo, MachineName};
use vsm_manager::testing::FakeHosts;
use vsm_manager::*;

use crate::support::{add_accounts, init_state, name, open_manager, register_tpl, reopen_manager};

pub fn host(s: &str) -> HostName {
    name(s)
}

/// The machine of `unit`'s `server`.
pub fn machine(unit: &str, server: &str) -> MachineName {
    MachineName::new(format!("{unit}--{server}")).expect("machine name")
}

/// Each server of `detail` with the host the manager reports for it.
pub fn placement_of(detail: &UnitDetail) -> BTreeMap<String, String> {
    detail
        .groups
        .iter()
        .flat_map(|g| g.servers.iter())
        .map(|s| {
            (
                s.name.to_string(),
                s.host
                    .clone()
                    .unwrap_or_else(|| panic!("server {} has no host", s.name)),
            )
        })
        .collect()
}

/// The machines `driver` holds, by name.
pub async fn machines_by_name(driver: &dyn Hypervisor) -> BTreeMap<String, MachineInfo> {
    driver
        .list()
        .await
        .unwrap_or_else(|e| panic!("list the machines of {}: {e}", driver.describe()))
        .into_iter()
        .map(|m| (m.name.to_string(), m))
        .collect()
}

/// The servers placed on `h`.
pub fn on_host(placed: &BTreeMap<String, String>, h: &str) -> BTreeSet<String> {
    placed
        .iter()
        .filter(|(_, on)| on.as_str() == h)
        .map(|(s, _)| s.clone())
        .collect()
}

/// A manager on a temporary state dir over the drivers it was opened with, with `root`
/// (`admin`) and the builder `bob` logged in.
pub struct Harness {
    _dir: tempfile::TempDir,
    pub root: Utf8PathBuf,
    pub manager: Manager,
    pub admin: Actor,
    pub bob: Actor,
    /// How long [`Harness::succeeds`] waits for an operation (60 s unless changed).
    pub op_wait: Duration,
}

impl Harness {
    /// Opens the manager on the state `dir` holds (made by [`init_state`]) over `drivers`, with
    /// the configuration changed by `tweak`; logs root in, adds bob and logs him in. No
    /// template yet: see [`Harness::register_template`].
    pub async fn open(
        dir: tempfile::TempDir,
        drivers: DriverSet,
        tweak: impl FnOnce(&mut ManagerConfig),
    ) -> Harness {
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
        let manager = open_manager(&root, drivers, tweak).await;
        let (admin, bob) = add_accounts(&manager).await;
        Harness {
            _dir: dir,
            root,
            manager,
            admin,
            bob,
            op_wait: Duration::from_secs(60),
        }
    }

    /// Shuts the manager down and opens the same state dir again over `drivers` (with the
    /// default configuration), root and bob logged in again.
    pub async fn reopen(self, drivers: DriverSet) -> Harness {
        let Harness {
            _dir,
            root,
            manager,
            op_wait,
            ..
        } = self;
        let (manager, admin, bob) = reopen_manager(manager, &root, drivers, |_| {}).await;
        Harness {
            _dir,
            root,
            manager,
            admin,
            bob,
            op_wait,
        }
    }

    /// Registers bob's template `tpl`: `source` on `driver`.
    pub async fn register_template(&self, driver: DriverKind, source: &str) -> TemplateInfo {
        register_tpl(&self.manager, &self.bob, driver, source).await
    }

    /// Adds a host as the administrator; panics if refused.
    pub async fn add_host(&self, req: AddHost) -> HostInfo {
        let what = match &req.uri {
            Some(uri) => format!("{} ({uri})", req.name),
            None => req.name.to_string(),
        };
        self.manager
            .add_host(&self.admin, req)
            .await
            .unwrap_or_else(|e| panic!("add host {what}: {e}"))
    }

    /// bob's unit `unit` from `unit_file`, without definitions.
    pub async fn create_unit(&self, unit: &str, unit_file: &str) -> UnitName {
        let unit: UnitName = name(unit);
        self.manager
            .create_unit_from_file(
                &self.bob,
                CreateUnitFromFile {
                    name: unit.clone(),
                    file_name: format!("{unit}.yaml"),
                    unit_file: unit_file.into(),
                },
            )
            .await
            .expect("create unit");
        unit
    }

    /// bob's unit `unit` from `unit_file`, with definition version 1 (`v1`) for `groups`.
    pub async fn unit(&self, unit: &str, unit_file: &str, groups: &[&str]) -> UnitName {
        let unit = self.create_unit(unit, unit_file).await;
        let v = self.import(&unit, groups, "v1").await;
        assert_eq!(v, DefinitionVersion(1));
        unit
    }

    /// Imports a definition version giving each of `groups` `www/index.html` with `body`.
    pub async fn import(&self, unit: &UnitName, groups: &[&str], body: &str) -> DefinitionVersion {
        let dir = self.root.join(format!("defs-{unit}-{body}"));
        std::fs::create_dir_all(dir.join("site")).expect("mkdir");
        let mut manifest = String::from("format: 1\ngroups:\n");
        for g in groups {
            manifest.push_str(&format!(
                "  - name: {g}\n    files:\n      - {{ source: site/index.html, target: www/index.html }}\n"
            ));
        }
        std::fs::write(dir.join("vsm-definition.yaml"), manifest).expect("manifest");
        std::fs::write(dir.join("site/index.html"), body).expect("file");
        self.manager
            .import_definitions(&self.bob, unit, &dir)
            .await
            .expect("import")
            .version
    }

    /// Waits for operation `id` (at most [`Harness::op_wait`]); asserts it succeeded.
    pub async fn succeeds(&self, id: OperationId) -> OperationRecord {
        let rec = self
            .manager
            .wait(&self.admin, id, self.op_wait)
            .await
            .expect("wait");
        assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
        rec
    }

    /// Starts `unit` as bob; asserts the start succeeded.
    pub async fn start(&self, unit: &UnitName) -> OperationRecord {
        let id = self
            .manager
            .start_unit(&self.bob, unit, OpOptions::default())
            .await
            .expect("start");
        self.succeeds(id).await
    }

    /// Asks to scale `group` of `unit` to `count`, removing `remove` first.
    pub async fn scale_group(
        &self,
        unit: &UnitName,
        group: &str,
        count: u32,
        remove: &[&str],
    ) -> Result<OperationId> {
        self.manager
            .scale(
                &self.bob,
                unit,
                ScaleRequest {
                    group: name(group),
                    count,
                    remove: remove.iter().map(|s| name(s)).collect(),
                    grace_secs: None,
                    wait_secs: None,
                },
            )
            .await
    }

    /// [`Harness::scale_group`] of the group `web`.
    pub async fn scale(&self, unit: &UnitName, count: u32, remove: &[&str]) -> Result<OperationId> {
        self.scale_group(unit, "web", count, remove).await
    }

    pub async fn show(&self, unit: &UnitName) -> UnitDetail {
        self.manager.show_unit(&self.bob, unit).await.expect("show")
    }

    /// Each server of `unit` with the host the manager reports for it.
    pub async fn placement(&self, unit: &UnitName) -> BTreeMap<String, String> {
        placement_of(&self.show(unit).await)
    }

    /// Drains host `name` as the administrator, within `timeout_secs`; panics if refused.
    pub async fn drain(&self, name: &str, timeout_secs: u64) -> DrainReport {
        self.manager
            .drain_host(
                &self.admin,
                &host(name),
                DrainRequest {
                    timeout_secs: Some(timeout_secs),
                },
            )
            .await
            .expect("drain")
    }

    pub async fn host_info(&self, name: &str) -> HostInfo {
        self.manager
            .show_host(&self.admin, &host(name))
            .await
            .expect("show host")
    }
}

/// A [`Harness`] whose built-in host `local` is the fake `local` (machines under
/// `root/machines`), whose added hosts are connected by `hosts` (each under
/// `root/hosts/NAME`), and where bob's template `tpl` is `image-1` on the local driver.
pub struct Pool {
    pub base: Harness,
    pub local: Arc<FakeHypervisor>,
    pub hosts: Arc<FakeHosts>,
}

impl Deref for Pool {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.base
    }
}

/// The drivers of a [`Pool`]: `local` built in, `hosts` connecting the added hosts.
pub fn pool_drivers(local: &Arc<FakeHypervisor>, hosts: &Arc<FakeHosts>) -> DriverSet {
    let factory: Arc<dyn DriverFactory> = hosts.clone();
    DriverSet::new()
        .with(DriverKind::Local, local.clone())
        .with_factory(factory)
}

impl Pool {
    /// A pool of the built-in host only (the fake's default capacity unless `local_capacity`),
    /// added hosts connected by `hosts`, the configuration changed by `tweak`.
    pub async fn new(
        local_capacity: Option<(u32, u64)>,
        hosts: FakeHosts,
        tweak: impl FnOnce(&mut ManagerConfig),
    ) -> Pool {
        let (dir, root) = init_state();
        let mut local = FakeHypervisor::new().with_root_dir(root.join("machines"));
        if let Some((cpus, mem)) = local_capacity {
            local = local.with_capacity(cpus, mem);
        }
        let local = Arc::new(local);
        let hosts = Arc::new(hosts);
        let base = Harness::open(dir, pool_drivers(&local, &hosts), tweak).await;
        base.register_template(DriverKind::Local, "image-1").await;
        Pool { base, local, hosts }
    }

    /// The request to add the fake host `name` with `labels` (default ratios and fencing).
    pub fn add_req(&self, name: &str, labels: &[(&str, &str)]) -> AddHost {
        AddHost {
            name: host(name),
            driver: DriverKind::Local,
            uri: None,
            dir: Some(self.root.join("hosts").join(name)),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            cpu_ratio: None,
            ram_ratio: None,
            reserved_memory_mb: None,
            fencing: None,
        }
    }

    /// Adds the fake host `name` with `labels` and `fencing` (default: manual).
    pub async fn add(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        fencing: Option<Fencing>,
    ) -> HostInfo {
        let mut req = self.add_req(name, labels);
        req.fencing = fencing;
        self.add_host(req).await
    }

    /// The fake behind pool host `name`.
    pub fn fake(&self, name: &str) -> Arc<FakeHypervisor> {
        if name == "local" {
            self.local.clone()
        } else {
            self.hosts
                .host(name)
                .unwrap_or_else(|| panic!("host {name} was never connected"))
        }
    }
}
