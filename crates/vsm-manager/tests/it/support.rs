//! A manager on a temporary state dir over a `FakeHypervisor`, with two accounts; and the
//! steps of setting such a manager up (state, opening, accounts, template), which
//! `pool_support.rs` takes too.

use std::sync::Arc;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{AccountName, OperationId, Role, UnitName};
use vsm_hypervisor::MachineName;
use vsm_hypervisor::fake::FakeHypervisor;
use vsm_manager::*;

pub const ROOT_PW: &str = "root-password-1";
pub const BOB_PW: &str = "bob-password-1";

/// Two groups: `db` (start order 1) and `web` (start order 2).
pub const TWO_GROUPS: &str = "format: 1
groups:
  - name: db
    template: tpl
    count: 2
    min: 1
    max: 3
    start_order: 1
  - name: web
    template: tpl
    count: 2
    min: 1
    max: 4
    start_order: 2
    recover: restart
";

pub struct Env {
    _dir: tempfile::TempDir,
    pub root: Utf8PathBuf,
    pub fake: Arc<FakeHypervisor>,
    pub manager: Manager,
    pub admin: Actor,
    pub bob: Actor,
}

pub fn name<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("valid name")
}

/// A temporary directory whose `state` holds a new manager state with the administrator
/// `root` (cheap password hashes); answers the directory and its path.
pub fn init_state() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
    let mut init = InitOptions::new(root.join("state"), name("root"), Password::new(ROOT_PW));
    init.password_cost = PasswordCost::Insecure;
    Manager::init(init).expect("init");
    (dir, root)
}

/// Opens the manager on `root/state` over `drivers` (cheap password hashes, no monitor), with
/// the configuration changed by `tweak`.
pub async fn open_manager(
    root: &Utf8Path,
    drivers: DriverSet,
    tweak: impl FnOnce(&mut ManagerConfig),
) -> Manager {
    let mut config = ManagerConfig::load(root.join("state")).expect("config");
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    tweak(&mut config);
    Manager::open(config, drivers)
        .await
        .expect("open the manager")
}

/// The driver set of the built-in fake host only.
fn local_driver(fake: &Arc<FakeHypervisor>) -> DriverSet {
    DriverSet::new().with(DriverKind::Local, fake.clone())
}

async fn login(manager: &Manager, account: &str, password: &str) -> Actor {
    manager
        .authenticate(&name::<AccountName>(account), &Password::new(password))
        .await
        .unwrap_or_else(|e| panic!("{account} login: {e}"))
}

/// Shuts `manager` down and opens the state under `root` again over `drivers` (see
/// [`open_manager`]); logs `root` and `bob` in again: (manager, admin, bob).
pub async fn reopen_manager(
    manager: Manager,
    root: &Utf8Path,
    drivers: DriverSet,
    tweak: impl FnOnce(&mut ManagerConfig),
) -> (Manager, Actor, Actor) {
    manager.shutdown(Duration::from_secs(5)).await;
    drop(manager);
    let manager = open_manager(root, drivers, tweak).await;
    let admin = login(&manager, "root", ROOT_PW).await;
    let bob = login(&manager, "bob", BOB_PW).await;
    (manager, admin, bob)
}

/// Logs `root` in, adds the builder `bob` and logs him in: (admin, bob).
pub async fn add_accounts(manager: &Manager) -> (Actor, Actor) {
    let admin = login(manager, "root", ROOT_PW).await;
    manager
        .add_account(
            &admin,
            AddAccount {
                name: name("bob"),
                role: Role::Builder,
                password: Password::new(BOB_PW),
            },
        )
        .await
        .expect("add bob");
    let bob = login(manager, "bob", BOB_PW).await;
    (admin, bob)
}

/// Registers `bob`'s template `tpl`: `source` on `driver`.
pub async fn register_tpl(
    manager: &Manager,
    bob: &Actor,
    driver: DriverKind,
    source: &str,
) -> TemplateInfo {
    manager
        .register_template(
            bob,
            RegisterTemplate {
                name: name("tpl"),
                driver,
                source: source.into(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("register the template {source}: {e}"))
}

impl Env {
    pub async fn new() -> Env {
        Env::with(|_| {}).await
    }

    /// Like [`Env::new`] with the manager's configuration changed by `tweak` first.
    pub async fn with(tweak: impl FnOnce(&mut ManagerConfig)) -> Env {
        Env::build(true, tweak).await
    }

    /// Like [`Env::new`], but the fake driver's machines have no root directory (nor any other
    /// way in), as a VM whose template declares no access.
    pub async fn without_machine_roots() -> Env {
        Env::build(false, |_| {}).await
    }

    async fn build(machine_roots: bool, tweak: impl FnOnce(&mut ManagerConfig)) -> Env {
        let (dir, root) = init_state();
        let fake = if machine_roots {
            FakeHypervisor::new().with_root_dir(root.join("machines"))
        } else {
            FakeHypervisor::new()
        };
        let fake = Arc::new(fake);
        let manager = open_manager(&root, local_driver(&fake), tweak).await;
        let (admin, bob) = add_accounts(&manager).await;
        register_tpl(&manager, &bob, DriverKind::Local, "image-1").await;
        Env {
            _dir: dir,
            root,
            fake,
            manager,
            admin,
            bob,
        }
    }

    /// Like [`Env::new`], with a built-in fake host of `cpus` and `memory_mib` (for units of
    /// thousands of servers).
    pub async fn with_host_capacity(cpus: u32, memory_mib: u64) -> Env {
        let (dir, root) = init_state();
        let fake = FakeHypervisor::new()
            .with_root_dir(root.join("machines"))
            .with_capacity(cpus, memory_mib);
        let fake = Arc::new(fake);
        let manager = open_manager(&root, local_driver(&fake), |_| {}).await;
        let (admin, bob) = add_accounts(&manager).await;
        register_tpl(&manager, &bob, DriverKind::Local, "image-1").await;
        Env {
            _dir: dir,
            root,
            fake,
            manager,
            admin,
            bob,
        }
    }

    /// Shuts the manager down and opens the same state directory again (same fake driver),
    /// with the configuration changed by `tweak`.
    pub async fn reopen(self, tweak: impl FnOnce(&mut ManagerConfig)) -> Env {
        let Env {
            _dir,
            root,
            fake,
            manager,
            ..
        } = self;
        let (manager, admin, bob) =
            reopen_manager(manager, &root, local_driver(&fake), tweak).await;
        Env {
            _dir,
            root,
            fake,
            manager,
            admin,
            bob,
        }
    }

    /// bob's unit `shop` from `unit_file`, with one imported definition version.
    pub async fn unit(&self, unit_file: &str) -> UnitName {
        let unit: UnitName = name("shop");
        self.manager
            .create_unit_from_file(
                &self.bob,
                CreateUnitFromFile {
                    name: unit.clone(),
                    file_name: "shop.yaml".into(),
                    unit_file: unit_file.into(),
                },
            )
            .await
            .expect("create unit");
        let dir = self.definitions("defs-v1", "v1");
        self.manager
            .import_definitions(&self.bob, &unit, &dir)
            .await
            .expect("import");
        unit
    }

    /// A definition directory giving every group `www/index.html` with `body`.
    pub fn definitions(&self, dirname: &str, body: &str) -> Utf8PathBuf {
        let dir = self.root.join(dirname);
        std::fs::create_dir_all(dir.join("site")).expect("mkdir");
        let mut manifest = String::from("format: 1\ngroups:\n");
        for g in ["db", "web"] {
            manifest.push_str(&format!(
                "  - name: {g}\n    files:\n      - {{ source: site/index.html, target: www/index.html }}\n"
            ));
        }
        std::fs::write(dir.join("vsm-definition.yaml"), manifest).expect("manifest");
        std::fs::write(dir.join("site/index.html"), body).expect("file");
        dir
    }

    /// Waits for an operation and returns its record.
    pub async fn finish(&self, id: OperationId) -> OperationRecord {
        let rec = self
            .manager
            .wait(&self.admin, id, Duration::from_secs(60))
            .await
            .expect("wait");
        assert!(
            rec.summary.state.is_finished(),
            "operation {id} did not finish: {rec:?}"
        );
        rec
    }

    pub async fn show(&self, unit: &UnitName) -> UnitDetail {
        self.manager.show_unit(&self.bob, unit).await.expect("show")
    }

    pub fn machine(&self, server: &str) -> MachineName {
        MachineName::new(format!("shop--{server}")).expect("machine name")
    }

    pub fn machine_root(&self, server: &str) -> Utf8PathBuf {
        self.root
            .join("machines")
            .join(self.machine(server).as_str())
    }
}

/// The names of the servers of `group` in `detail`.
pub fn servers_of(detail: &UnitDetail, group: &str) -> Vec<String> {
    detail
        .groups
        .iter()
        .filter(|g| g.name.as_str() == group)
        .flat_map(|g| g.servers.iter().map(|s| s.name.to_string()))
        .collect()
}
