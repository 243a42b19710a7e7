//! `cargo xtask soak [--duration 2h] [--seed N]`: a long run of random operations against the
//! `local` driver through the manager library, with invariant checks after each step.
//!
//! Not part of CI (it runs for as long as it is told). It builds `vsm-appserver` (the example
//! template's server program), opens a manager on a temporary state directory with a
//! [`LocalDriver`], and until the duration is over picks random operations with a seeded
//! generator: create unit, import definitions (a new version), apply, start/stop unit and
//! groups, scale out/in, template update + rollout (upgrade), recover a server, delete unit,
//! `kill -9` of a server's process (the monitor, run by the soak, must report it and its
//! automatic recovery must end); a second operation on a busy unit must be refused; operations on different units run at
//! once. After each step it checks: no operation stays running; at most one operation per unit
//! ran at a time; every server's logical state matches what the local driver reports, and no
//! machine of a unit exists without its server (nor after the unit is deleted); the counts match
//! the servers; every applied version is one the soak imported, not beyond the current one (and after a
//! successful apply, every server has the current one). Every 20 steps the manager is shut down and opened again (the
//! store must open and reconcile). The seed is printed first: `--seed N` repeats a run.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{DefinitionVersion, GroupName, LogicalStatus, OperationId, ServerName, UnitName};
use vsm_hypervisor::driver::Hypervisor;
use vsm_hypervisor::local::{LocalDriver, LocalOptions};
use vsm_hypervisor::types::PowerState;
use vsm_manager::{
    Actor, ApplyRequest, CreateUnitFromFile, DeleteUnitRequest, DriverKind, DriverSet, ErrorKind,
    InitOptions, Manager, ManagerConfig, OpOptions, OperationState, Password, PasswordCost,
    RegisterTemplate, ScaleRequest, UpgradeRequest,
};

const PW: &str = "soak-password-1";
const MAX_UNITS: usize = 3;
const GROUP_MAX: u32 = 3;
const REOPEN_EVERY: u64 = 20;
const OP_WAIT: Duration = Duration::from_secs(300);

/// A small deterministic generator (xorshift64*), so a seed repeats a run's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Parses `2h`, `30m`, `20s` or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration> {
    let (num, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = num
        .parse()
        .with_context(|| format!("--duration {text:?}: use e.g. 2h, 30m or 20s"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => bail!("--duration {text:?}: the unit must be s, m or h"),
    };
    Ok(Duration::from_secs(secs))
}

/// Runs `cargo xtask soak`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut duration = Duration::from_secs(2 * 3600);
    let mut seed = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--duration" => {
                duration = parse_duration(it.next().context("--duration needs a value")?)?;
            }
            "--seed" => {
                seed = Some(
                    it.next()
                        .context("--seed needs a number")?
                        .parse::<u64>()
                        .context("--seed needs a number")?,
                );
            }
            other => bail!(
                "unknown soak argument `{other}`; usage: cargo xtask soak [--duration 2h] [--seed N]"
            ),
        }
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    println!("soak: seed {seed}, duration {duration:?} (repeat with --seed {seed})");
    crate::run_cmd(
        "cargo build -p vsm-hypervisor --bins",
        crate::cargo().args(["build", "-p", "vsm-hypervisor", "--bins"]),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let result = rt.block_on(soak(seed, duration));
    if let Err(e) = &result {
        eprintln!("soak: FAILED with seed {seed}: {e:#}");
    }
    result
}

/// Kills every local server when the soak ends, also on failure.
struct KillOnDrop(Arc<LocalDriver>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill_all_now();
    }
}

/// What the soak expects of one unit.
#[derive(Debug, Default)]
struct UnitModel {
    /// Group name -> the count the last successful create/scale asked for.
    counts: BTreeMap<String, u32>,
    /// Versions the soak imported (start, scale and recover put the current one on new servers).
    imported: BTreeSet<DefinitionVersion>,
    /// After the last successful apply: every server must have this version (until a scale or
    /// upgrade adds servers that may not have it yet).
    all_have: Option<DefinitionVersion>,
    imports: u32,
}

struct Soak {
    root: Utf8PathBuf,
    state: Utf8PathBuf,
    driver: Arc<LocalDriver>,
    /// `None` only while [`Soak::reopen`] swaps it (the old one must be dropped first).
    manager: Option<Manager>,
    admin: Actor,
    units: BTreeMap<UnitName, UnitModel>,
    next_unit: u32,
    /// op kind -> outcome -> count
    tally: BTreeMap<String, BTreeMap<String, u64>>,
    busy_refusals: u64,
    steps: u64,
    reopens: u64,
}

fn unit_file() -> String {
    format!(
        "format: 1\ngroups:\n  - name: app\n    template: appserver\n    count: 1\n    min: 1\n    max: {GROUP_MAX}\n    start_order: 1\n    recover: restart\n    health: {{ timeout: 30s }}\n  - name: web\n    template: appserver\n    count: 1\n    min: 1\n    max: {GROUP_MAX}\n    start_order: 2\n    scale_in: newest\n    grace: 1s\n    recover: restart\n    health: {{ timeout: 30s }}\n"
    )
}

/// The driver's machine name of a server (`<unit>--<server>`; the manager's rule for short
/// lowercase names, which are all the soak uses).
fn machine_name(unit: &UnitName, server: &ServerName) -> String {
    format!("{unit}--{server}")
}

fn copy_dir(from: &Utf8Path, to: &Utf8Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in from.read_dir_utf8()? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

async fn open_manager(state: &Utf8Path, driver: &Arc<LocalDriver>) -> Result<(Manager, Actor)> {
    let mut config = ManagerConfig::load(state).context("config")?;
    config.password_cost = PasswordCost::Insecure;
    // The soak runs the monitor itself after it crashes a server, so that an automatic recovery
    // never races an operation it begins.
    config.monitor = false;
    let manager = Manager::open(
        config,
        DriverSet::new().with(DriverKind::Local, driver.clone()),
    )
    .await
    .context("the store does not open")?;
    let admin = manager
        .authenticate(&"admin".parse()?, &Password::new(PW))
        .await
        .context("login")?;
    Ok((manager, admin))
}

async fn soak(seed: u64, duration: Duration) -> Result<()> {
    let workspace = Utf8PathBuf::from_path_buf(crate::workspace_root())
        .map_err(|p| anyhow::anyhow!("non-UTF-8 workspace {}", p.display()))?;
    // Where cargo put vsm-appserver (honours CARGO_TARGET_DIR), not a guess.
    let bin_dir = Utf8PathBuf::from_path_buf(crate::target_dir()?.join("debug"))
        .map_err(|p| anyhow::anyhow!("non-UTF-8 target dir {}", p.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("vsm-soak")
        .tempdir()
        .context("tempdir")?;
    let root = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf())
        .map_err(|p| anyhow::anyhow!("non-UTF-8 temp dir {}", p.display()))?;
    let state = root.join("state");
    let mut init = InitOptions::new(state.clone(), "admin".parse()?, Password::new(PW));
    init.password_cost = PasswordCost::Insecure;
    Manager::init(init).context("init")?;
    let driver = Arc::new(
        LocalDriver::open(
            state.join("local"),
            LocalOptions::default()
                .with_bin_dir(bin_dir.clone())
                .with_addresses(
                    Ipv4Addr::new(127, 79, 0, 1),
                    Ipv4Addr::new(127, 79, 255, 254),
                ),
        )
        .context("local driver")?,
    );
    let _cleanup = KillOnDrop(driver.clone());
    let (manager, admin) = open_manager(&state, &driver).await?;
    let template_dir = root.join("template");
    copy_dir(
        &workspace.join("examples/templates/appserver"),
        &template_dir,
    )?;
    manager
        .register_template(
            &admin,
            RegisterTemplate {
                name: "appserver".parse()?,
                driver: DriverKind::Local,
                source: template_dir.to_string(),
            },
        )
        .await
        .context("register the template")?;
    let mut s = Soak {
        root: root.clone(),
        state,
        driver,
        manager: Some(manager),
        admin,
        units: BTreeMap::new(),
        next_unit: 1,
        tally: BTreeMap::new(),
        busy_refusals: 0,
        steps: 0,
        reopens: 0,
    };
    let mut rng = Rng(seed.max(1));
    let started = Instant::now();
    while started.elapsed() < duration {
        s.steps += 1;
        s.step(&mut rng)
            .await
            .with_context(|| format!("step {}", s.steps))?;
        s.check()
            .await
            .with_context(|| format!("invariant after step {}", s.steps))?;
        if s.steps.is_multiple_of(REOPEN_EVERY) {
            s.reopen().await.context("reopen")?;
            s.check()
                .await
                .with_context(|| format!("invariant after reopen at step {}", s.steps))?;
        }
        if s.steps.is_multiple_of(10) {
            println!(
                "  [{:>6.0}s] step {}: {} unit(s), {} busy refusals",
                started.elapsed().as_secs_f64(),
                s.steps,
                s.units.len(),
                s.busy_refusals
            );
        }
    }
    // Clean up through the manager: delete every unit; nothing may be left in the driver.
    let units: Vec<UnitName> = s.units.keys().cloned().collect();
    for u in units {
        s.delete(&u).await?;
    }
    s.check()
        .await
        .context("invariant after the final deletes")?;
    let left = s.driver.list().await?;
    if !left.is_empty() {
        bail!(
            "machines left after every unit was deleted: {:?}",
            left.iter().map(|m| m.name.to_string()).collect::<Vec<_>>()
        );
    }
    s.mgr().shutdown(Duration::from_secs(10)).await;
    println!(
        "soak: passed: seed {seed}, {} steps, {} reopens, {} busy refusals in {:.0?}",
        s.steps,
        s.reopens,
        s.busy_refusals,
        started.elapsed()
    );
    println!("{:<16} outcomes", "operation");
    for (op, outcomes) in &s.tally {
        println!("{op:<16} {outcomes:?}");
    }
    let _ = &s.root;
    Ok(())
}

impl Soak {
    fn mgr(&self) -> &Manager {
        self.manager
            .as_ref()
            .expect("the manager is only absent inside reopen")
    }

    fn count(&mut self, op: &str, outcome: &str) {
        *self
            .tally
            .entry(op.to_owned())
            .or_default()
            .entry(outcome.to_owned())
            .or_insert(0) += 1;
    }

    async fn wait(&mut self, op: &str, id: OperationId) -> Result<OperationState> {
        let rec = self
            .mgr()
            .wait(&self.admin, id, OP_WAIT)
            .await
            .with_context(|| format!("wait for {op} (operation {id})"))?;
        if !rec.summary.state.is_finished() {
            bail!("{op} (operation {id}) still running after {OP_WAIT:?}");
        }
        self.count(op, &rec.summary.state.to_string());
        Ok(rec.summary.state)
    }

    /// One random step: a new unit, or one operation on one to three units at once.
    async fn step(&mut self, rng: &mut Rng) -> Result<()> {
        if self.units.is_empty() || (self.units.len() < MAX_UNITS && rng.chance(10)) {
            return self.create().await;
        }
        if rng.chance(8) {
            return self.crash(rng).await;
        }
        let names: Vec<UnitName> = self.units.keys().cloned().collect();
        let parallel = 1 + rng.below(names.len());
        let mut chosen = Vec::new();
        for _ in 0..parallel {
            let u = names[rng.below(names.len())].clone();
            if !chosen.contains(&u) {
                chosen.push(u);
            }
        }
        // Begin one operation per chosen unit, then wait for them all.
        let mut running = Vec::new();
        for u in chosen {
            let pick = rng.below(100);
            if let Some((op, id)) = self.begin(&u, pick, rng).await? {
                // A second operation on the same unit must be refused while the first runs.
                if rng.chance(30) {
                    self.second_refused(&u, id).await?;
                }
                running.push((u, op, id, pick));
            }
        }
        for (u, op, id, _) in running {
            let state = self.wait(op, id).await?;
            self.after(&u, op, state).await?;
        }
        Ok(())
    }

    /// Kills a running server's process (`kill -9`), runs the monitor once and waits for the
    /// automatic recovery it may begin.
    async fn crash(&mut self, rng: &mut Rng) -> Result<()> {
        let mut running = Vec::new();
        for unit in self.units.keys() {
            let d = self.mgr().show_unit(&self.admin, unit).await?;
            for g in &d.groups {
                for s in &g.servers {
                    let machine: vsm_hypervisor::types::MachineName =
                        machine_name(unit, &s.name).parse()?;
                    if let Some(pid) = self.driver.pid(&machine) {
                        running.push((unit.clone(), s.name.clone(), machine, pid));
                    }
                }
            }
        }
        if running.is_empty() {
            return Ok(());
        }
        let (unit, server, machine, pid) = running.swap_remove(rng.below(running.len()));
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .context("kill")?;
        let t = Instant::now();
        while self.driver.state(&machine).await? == PowerState::Running {
            if t.elapsed() > Duration::from_secs(10) {
                bail!("{unit}/{server}: still running 10 s after kill -9 of {pid}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let failed = self.mgr().monitor_once().await?;
        if !failed.iter().any(|(u, s)| *u == unit && *s == server) {
            bail!(
                "the monitor did not report {unit}/{server} after its process was killed (it reported {failed:?})"
            );
        }
        self.count("crash", "detected");
        // An automatic recovery (recover: restart) may be running now: wait for it.
        while let Some(id) = self.mgr().busy_op(&unit) {
            let state = self.wait("auto-recover", id).await?;
            self.after(&unit, "recover", state).await?;
        }
        Ok(())
    }

    async fn second_refused(&mut self, unit: &UnitName, first: OperationId) -> Result<()> {
        match self
            .mgr()
            .start_unit(&self.admin, unit, OpOptions::default())
            .await
        {
            Err(e) if e.kind() == ErrorKind::Busy => {
                self.busy_refusals += 1;
                Ok(())
            }
            Err(e) => bail!("a second operation on busy {unit} failed with {e} instead of busy"),
            Ok(second) => {
                let first_rec = self.mgr().show_operation(&self.admin, first).await?;
                if !first_rec.summary.state.is_finished() {
                    bail!(
                        "{unit}: operation {second} was accepted while operation {first} was running"
                    );
                }
                self.wait("start (2nd)", second).await?;
                Ok(())
            }
        }
    }

    async fn create(&mut self) -> Result<()> {
        let name: UnitName = format!("soak{}", self.next_unit).parse()?;
        self.next_unit += 1;
        self.mgr()
            .create_unit_from_file(
                &self.admin,
                CreateUnitFromFile {
                    name: name.clone(),
                    file_name: "soak.yaml".into(),
                    unit_file: unit_file(),
                },
            )
            .await
            .with_context(|| format!("create unit {name}"))?;
        self.count("create", "ok");
        // Servers appear on the first start or apply: the counts are known after a scale.
        self.units.insert(name.clone(), UnitModel::default());
        // A new unit starts with its first definition version.
        self.import(&name).await
    }

    async fn import(&mut self, unit: &UnitName) -> Result<()> {
        let model = self.units.get_mut(unit).context("unit model")?;
        model.imports += 1;
        let n = model.imports;
        let dir = self.root.join(format!("defs/{unit}-{n}"));
        copy_dir(
            &Utf8PathBuf::from_path_buf(crate::workspace_root().join("examples/definitions/shop"))
                .map_err(|p| anyhow::anyhow!("non-UTF-8 path {}", p.display()))?,
            &dir,
        )?;
        let manifest = dir.join("vsm-definition.yaml");
        let text = std::fs::read_to_string(&manifest)?;
        std::fs::write(
            &manifest,
            text.replacen("release: \"1\"", &format!("release: \"{n}\""), 1),
        )?;
        std::fs::write(
            dir.join("app/site/index.html"),
            format!("soak {unit} {n}\n"),
        )?;
        let result = self.mgr().import_definitions(&self.admin, unit, &dir).await;
        std::fs::remove_dir_all(&dir)?;
        match result {
            Ok(r) => {
                if !r.created {
                    bail!("import {n} of {unit} changed content but made no new version");
                }
                self.count("import", "ok");
                self.units
                    .get_mut(unit)
                    .context("unit model")?
                    .imported
                    .insert(r.version);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Busy => {
                self.count("import", "busy");
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("import into {unit}")),
        }
    }

    /// Begins a random operation on `unit`; `None` when it was not an operation (import).
    async fn begin(
        &mut self,
        unit: &UnitName,
        pick: usize,
        rng: &mut Rng,
    ) -> Result<Option<(&'static str, OperationId)>> {
        let (m, a) = (&self.mgr().clone(), &self.admin.clone());
        let group: GroupName = if rng.chance(50) { "app" } else { "web" }.parse()?;
        let result = match pick {
            0..=9 => {
                self.import(unit).await?;
                return Ok(None);
            }
            10..=24 => ("apply", m.apply(a, unit, ApplyRequest::default()).await),
            25..=39 => ("start", m.start_unit(a, unit, OpOptions::default()).await),
            40..=51 => ("stop", m.stop_unit(a, unit, OpOptions::default()).await),
            52..=59 => (
                "start group",
                m.start_group(a, unit, &group, OpOptions::default()).await,
            ),
            60..=66 => (
                "stop group",
                m.stop_group(a, unit, &group, OpOptions::default()).await,
            ),
            67..=80 => {
                let count = 1 + rng.below(GROUP_MAX as usize) as u32;
                let model = self.units.get_mut(unit).context("unit model")?;
                model.counts.insert(format!("{group}:pending"), count);
                (
                    "scale",
                    m.scale(
                        a,
                        unit,
                        ScaleRequest {
                            group: group.clone(),
                            count,
                            remove: Vec::new(),
                            grace_secs: Some(1),
                            wait_secs: None,
                        },
                    )
                    .await,
                )
            }
            81..=86 => {
                // A new template generation, then a rolling upgrade onto it.
                let source = self.root.join("template");
                m.update_template(a, &"appserver".parse()?, source.as_str())
                    .await
                    .context("template update")?;
                (
                    "upgrade",
                    m.upgrade(
                        a,
                        unit,
                        UpgradeRequest {
                            batch: None,
                            surge: None,
                            wait_secs: None,
                        },
                    )
                    .await,
                )
            }
            87..=94 => {
                let detail = m.show_unit(a, unit).await?;
                let servers: Vec<ServerName> = detail
                    .groups
                    .iter()
                    .flat_map(|g| g.servers.iter().map(|s| s.name.clone()))
                    .collect();
                if servers.is_empty() {
                    return Ok(None);
                }
                let server = servers[rng.below(servers.len())].clone();
                (
                    "recover",
                    m.recover_server(a, unit, &server, OpOptions::default())
                        .await,
                )
            }
            _ => {
                if self.units.len() > 1 || rng.chance(50) {
                    self.delete(unit).await?;
                    return Ok(None);
                }
                ("start", m.start_unit(a, unit, OpOptions::default()).await)
            }
        };
        match result {
            (op, Ok(id)) => Ok(Some((op, id))),
            (op, Err(e)) if e.kind() == ErrorKind::Busy => {
                bail!("{op} on {unit} refused as busy though no operation of the soak runs: {e}")
            }
            (op, Err(e)) => {
                // Refused up front (e.g. nothing to upgrade, no definition applied yet).
                self.count(op, &format!("refused {:?}", e.kind()));
                Ok(None)
            }
        }
    }

    /// Updates the model after an operation on `unit` ended in `state`.
    async fn after(&mut self, unit: &UnitName, op: &str, state: OperationState) -> Result<()> {
        let detail = self.mgr().show_unit(&self.admin, unit).await?;
        let model = self.units.get_mut(unit).context("unit model")?;
        let ok = state == OperationState::Succeeded;
        match op {
            "apply" if ok => {
                let v = detail
                    .current_version
                    .context("apply succeeded without a current version")?;
                model.all_have = Some(v);
            }
            "apply" => model.all_have = None,
            "scale" => {
                for g in ["app", "web"] {
                    if let Some(c) = model.counts.remove(&format!("{g}:pending")) {
                        if ok {
                            model.counts.insert(g.into(), c);
                        } else {
                            // Anywhere between the old and the new count.
                            model.counts.remove(g);
                        }
                    }
                }
                model.all_have = None;
            }
            "upgrade" | "recover" => model.all_have = None,
            _ => {}
        }
        Ok(())
    }

    async fn delete(&mut self, unit: &UnitName) -> Result<()> {
        let id = match self
            .mgr()
            .delete_unit(
                &self.admin,
                unit,
                DeleteUnitRequest {
                    force: true,
                    wait_secs: None,
                },
            )
            .await
        {
            Ok(id) => id,
            Err(e) => return Err(e).with_context(|| format!("delete {unit}")),
        };
        let state = self.wait("delete", id).await?;
        if state != OperationState::Succeeded {
            bail!("delete of {unit} ended {state}");
        }
        self.units.remove(unit);
        Ok(())
    }

    async fn reopen(&mut self) -> Result<()> {
        if let Some(old) = self.manager.take() {
            old.shutdown(Duration::from_secs(10)).await;
            drop(old);
        }
        // The store's lock goes with the last handle of the old manager (its tasks end after
        // the shutdown): retry for a while.
        let mut tries = 0;
        let (manager, admin) = loop {
            match open_manager(&self.state, &self.driver).await {
                Ok(pair) => break pair,
                Err(e) if tries < 50 => {
                    tries += 1;
                    if tries == 50 {
                        return Err(e);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.manager = Some(manager);
        self.admin = admin;
        self.reopens += 1;
        Ok(())
    }

    /// The invariants, checked when no operation of the soak runs.
    async fn check(&self) -> Result<()> {
        let (m, a) = (self.mgr(), &self.admin);
        let ops = m.list_operations(a, None).await?;
        let mut by_unit: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for op in &ops {
            if !op.state.is_finished() {
                bail!("operation {} ({:?}) is still running", op.id, op.kind);
            }
            if let Some(u) = &op.unit {
                by_unit.entry(u.to_string()).or_default().push(op);
            }
        }
        for (u, mut list) in by_unit {
            list.sort_by_key(|o| o.id);
            for pair in list.windows(2) {
                if let (Some(end), start) = (pair[0].finished_at, pair[1].created_at)
                    && start < end
                {
                    bail!(
                        "{u}: operation {} began before operation {} ended",
                        pair[1].id,
                        pair[0].id
                    );
                }
            }
        }
        let machines: BTreeMap<String, PowerState> = self
            .driver
            .list()
            .await?
            .into_iter()
            .map(|i| (i.name.to_string(), i.state))
            .collect();
        let listed: BTreeSet<UnitName> = m
            .list_units(a, true)
            .await?
            .into_iter()
            .map(|u| u.name)
            .collect();
        let known: BTreeSet<UnitName> = self.units.keys().cloned().collect();
        if listed != known {
            bail!("the manager lists units {listed:?}, the soak made {known:?}");
        }
        let mut owned = BTreeSet::new();
        for (unit, model) in &self.units {
            let d = m.show_unit(a, unit).await?;
            if let Some(op) = d.busy_with {
                bail!("{unit} is busy with operation {op} though none runs");
            }
            let mut all = 0;
            let mut active = 0;
            let mut invalid = 0;
            for g in &d.groups {
                let n = g.servers.len() as u32;
                if let Some(&want) = model.counts.get(g.name.as_str())
                    && n != want
                {
                    bail!(
                        "{unit}/{}: {n} servers, the last scale asked for {want}",
                        g.name
                    );
                }
                if n > GROUP_MAX {
                    bail!("{unit}/{}: {n} servers, more than {GROUP_MAX}", g.name);
                }
                for s in &g.servers {
                    all += 1;
                    if s.logical == LogicalStatus::Working {
                        active += 1;
                    }
                    if matches!(s.logical, LogicalStatus::Failed | LogicalStatus::Unhealthy) {
                        invalid += 1;
                    }
                    if let Some(v) = s.applied_version {
                        if !model.imported.contains(&v) {
                            bail!(
                                "{unit}/{}: applied version {v} was never imported (imported: {:?})",
                                s.name,
                                model.imported
                            );
                        }
                        if d.current_version.is_none_or(|c| v > c) {
                            bail!(
                                "{unit}/{}: applied version {v} beyond the current one",
                                s.name
                            );
                        }
                    }
                    if let Some(v) = model.all_have
                        && s.applied_version != Some(v)
                    {
                        bail!(
                            "{unit}/{}: has version {:?} after the apply of {v} succeeded",
                            s.name,
                            s.applied_version
                        );
                    }
                    let machine = machine_name(unit, &s.name);
                    owned.insert(machine.clone());
                    let power = machines.get(&machine).copied();
                    let fine = match s.logical {
                        LogicalStatus::Started | LogicalStatus::Working => {
                            power == Some(PowerState::Running)
                        }
                        LogicalStatus::Stopped => {
                            matches!(power, Some(PowerState::Stopped | PowerState::Crashed))
                        }
                        // Failed/unhealthy/provisioning servers may be anything.
                        _ => true,
                    };
                    if !fine {
                        bail!(
                            "{unit}/{}: logical {:?} but the local driver says {power:?}",
                            s.name,
                            s.logical
                        );
                    }
                }
            }
            if (d.counts.all, d.counts.active, d.counts.invalid) != (all, active, invalid) {
                bail!(
                    "{unit}: counts {:?} but the servers give all {all}, active {active}, invalid {invalid}",
                    d.counts
                );
            }
        }
        for name in machines.keys() {
            if !owned.contains(name) {
                bail!("machine {name} exists in the local driver without a server");
            }
        }
        Ok(())
    }
}
