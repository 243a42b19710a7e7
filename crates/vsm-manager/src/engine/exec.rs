//! Executing single steps against the drivers and the deploy layer (time-outs, retries of
//! transient errors, cancellation of waits), crash reconciliation, and the other driver calls
//! of the manager (checking a template source, a server's logs).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use tokio_util::sync::CancellationToken;
use vsm_core::fold::StepResult;
use vsm_core::model::{
    Group, GroupKind, LogicalStatus, ObservedStatus, Origin, Server, ServerAddress, Template, Unit,
};
use vsm_core::plan::Step;
use vsm_core::{ServerName, TemplateName, UnitName};
use vsm_hypervisor::static_driver::params;
use vsm_hypervisor::{
    Hypervisor, HypervisorError, MachineName, PowerState, ProvisionSpec, TemplateSource,
};

use super::context::EngineCtx;
use super::journal::Pending;
use crate::api::*;
use crate::error::{Entity, Error, Result, error_chain};
use crate::store::Change;

// ------------------------------------------------------------------ machine names

/// The driver's machine name of a server: `<unit>--<server>`, lowercased, limited to 63
/// characters (a digest suffix keeps long names unique).
pub(crate) fn machine_name(unit: &UnitName, server: &ServerName) -> MachineName {
    let raw: String = format!("{unit}--{server}")
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = if raw.len() > 63 {
        use sha2::Digest;
        let h = hex::encode(sha2::Sha256::digest(raw.as_bytes()));
        format!("{}-{}", &raw[..50], &h[..12])
    } else {
        raw
    };
    let name = name.trim_start_matches(['-', '_']).to_owned();
    MachineName::new(name)
        .unwrap_or_else(|_| MachineName::new("vsm-machine").unwrap_or_else(|_| unreachable_name()))
}

fn unreachable_name() -> MachineName {
    // "m" is always a valid machine name.
    MachineName::new("m").unwrap_or_else(|_| unreachable_name())
}

// ------------------------------------------------------------------ step targets

/// The machine label that carries a server's placement epoch (see `Server::epoch`).
pub(crate) const EPOCH_LABEL: &str = "vsm.epoch";

/// What a step needs besides the step itself: which driver, which machine, its template.
#[derive(Debug, Clone)]
pub(crate) struct StepTarget {
    pub(crate) unit: UnitName,
    pub(crate) driver: DriverKind,
    pub(crate) machine: Option<MachineName>,
    pub(crate) registered: Option<(String, BTreeMap<String, String>)>,
    /// Registered groups: the directory on the machine that definitions are applied to.
    pub(crate) remote_root: Option<Utf8PathBuf>,
    /// Provisioned groups: the template their servers are cloned from.
    pub(crate) template: Option<TemplateName>,
}

/// Where definitions go on a registered machine: the group's `root` with `{machine}` replaced,
/// or `vsm/UNIT` under the ssh user's home directory.
fn remote_root(
    unit: &UnitName,
    spec: &vsm_core::model::RegisteredSpec,
    machine: Option<&MachineName>,
) -> Utf8PathBuf {
    match &spec.root {
        Some(root) => {
            Utf8PathBuf::from(root.replace("{machine}", machine.map_or("", |m| m.as_str())))
        }
        None => Utf8PathBuf::from(format!("vsm/{unit}")),
    }
}

fn registered_params(spec: &vsm_core::model::RegisteredSpec) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert(params::SSH_USER.into(), spec.ssh.user.clone());
    if let Some(i) = &spec.ssh.identity {
        p.insert(params::SSH_IDENTITY.into(), i.clone());
    }
    if let Some(port) = spec.ssh.port {
        p.insert(params::SSH_PORT.into(), port.to_string());
    }
    if spec.ssh.strict_host_keys {
        p.insert(params::SSH_HOST_KEY_CHECKING.into(), "strict".into());
    }
    for (k, v) in [
        (params::START_COMMAND, &spec.commands.start),
        (params::STOP_COMMAND, &spec.commands.stop),
        (params::STATUS_COMMAND, &spec.commands.status),
    ] {
        if let Some(v) = v {
            p.insert(k.into(), v.clone());
        }
    }
    p
}

impl StepTarget {
    /// `find` looks a server up in `unit` (the engine's index, or `Unit::server`).
    pub(crate) fn of<'a>(
        unit: &'a Unit,
        step: &Step,
        find: impl Fn(&ServerName) -> Option<(&'a Group, &'a Server)>,
    ) -> std::result::Result<StepTarget, String> {
        let machine = step.server().map(|s| machine_name(&unit.name, s));
        let group = match step {
            Step::Provision { group, .. } | Step::Attach { group, .. } => unit.group(group),
            other => match other.server() {
                Some(s) => find(s).map(|(g, _)| g),
                None => {
                    return Ok(StepTarget {
                        unit: unit.name.clone(),
                        driver: DriverKind::Local,
                        machine: None,
                        registered: None,
                        remote_root: None,
                        template: None,
                    });
                }
            },
        };
        let Some(group) = group else {
            return Err(format!("the unit has no such server or group for `{step}`"));
        };
        let (driver, registered, remote_root) = match &group.spec.kind {
            GroupKind::Registered(r) => {
                let address = match step {
                    Step::Attach { address, .. } => Some(address.to_string()),
                    other => other
                        .server()
                        .and_then(&find)
                        .and_then(|(_, s)| s.address.as_ref().map(ToString::to_string)),
                };
                (
                    DriverKind::Static,
                    address.map(|a| (a, registered_params(r))),
                    Some(remote_root(&unit.name, r, machine.as_ref())),
                )
            }
            GroupKind::Provisioned(_) => (DriverKind::Local, None, None),
        };
        let template = match &group.spec.kind {
            GroupKind::Provisioned(p) => Some(p.template.clone()),
            GroupKind::Registered(_) => None,
        };
        Ok(StepTarget {
            unit: unit.name.clone(),
            driver,
            machine,
            registered,
            remote_root,
            template,
        })
    }
}

// ------------------------------------------------------------------ the execution context

/// Shared by the steps of one operation.
pub(crate) struct OpCtx {
    engine: Arc<EngineCtx>,
    templates: HashMap<TemplateName, Template>,
    step_timeout: Duration,
    retries: u32,
    backoff: Duration,
    /// The health check of each (definition version, group), read once per operation.
    health: std::sync::Mutex<
        HashMap<(vsm_core::DefinitionDigest, vsm_core::GroupName), Option<vsm_deploy::HealthCheck>>,
    >,
    /// The lead of the term it was made in: once cancelled (this manager stepped down), no
    /// driver call starts and the ones in flight are dropped.
    lead: CancellationToken,
}

/// Why a step did not reach its driver: this manager stopped being the active one.
const NOT_ACTIVE: &str =
    "this manager is no longer the active one; the next active manager reconciles this server";

fn observed_of(state: PowerState) -> ObservedStatus {
    match state {
        PowerState::Running => ObservedStatus::Working,
        PowerState::Starting | PowerState::Stopping => ObservedStatus::Operating,
        PowerState::Stopped | PowerState::Paused => ObservedStatus::Stopped,
        PowerState::Crashed => ObservedStatus::Failed,
        _ => ObservedStatus::Unknown,
    }
}

impl OpCtx {
    pub(crate) fn new(
        engine: &Arc<EngineCtx>,
        templates: HashMap<TemplateName, Template>,
    ) -> OpCtx {
        let s = engine.settings();
        OpCtx {
            engine: engine.clone(),
            templates,
            step_timeout: Duration::from_secs(s.engine.step_timeout_secs.max(1)),
            retries: s.engine.retries,
            backoff: Duration::from_millis(s.engine.backoff_ms),
            health: std::sync::Mutex::new(HashMap::new()),
            lead: engine.leadership.lead(),
        }
    }

    /// The current time.
    pub(crate) fn now(&self) -> vsm_core::Timestamp {
        self.engine.now()
    }

    pub(crate) async fn commit(&self, changes: Vec<Change>) -> Result<()> {
        self.engine.writer.commit(changes).await
    }

    /// Queues `changes` without waiting (see [`super::journal::Writer::submit`]).
    pub(crate) fn submit(&self, changes: Vec<Change>) -> Result<Pending> {
        self.engine.writer.submit(changes)
    }

    /// The template `t` and its driver kind.
    fn template_kind(
        &self,
        t: &TemplateName,
    ) -> std::result::Result<(&Template, DriverKind), String> {
        let tpl = self
            .templates
            .get(t)
            .ok_or_else(|| format!("template {t} does not exist"))?;
        let kind: DriverKind = tpl
            .driver
            .parse()
            .map_err(|e: crate::host::UnknownWord| e.to_string())?;
        Ok((tpl, kind))
    }

    fn driver(&self, kind: DriverKind) -> std::result::Result<Arc<dyn Hypervisor>, String> {
        self.engine.driver(kind)
    }

    /// The driver of an existing server of `unit`.
    pub(crate) fn driver_of(
        &self,
        unit: &Unit,
        server: &ServerName,
    ) -> Option<Arc<dyn Hypervisor>> {
        let (g, s) = unit.server(server)?;
        self.driver_for(g, s)
    }

    /// The driver of server `s` of group `g`: the host it was placed on (legacy servers without
    /// a pool host: the built-in host of their template's driver).
    pub(crate) fn driver_for(&self, g: &Group, s: &Server) -> Option<Arc<dyn Hypervisor>> {
        self.server_driver(g, s).ok()
    }

    /// [`OpCtx::driver_for`], or why there is none.
    pub(crate) fn server_driver(
        &self,
        g: &Group,
        s: &Server,
    ) -> std::result::Result<Arc<dyn Hypervisor>, String> {
        match (&g.spec.kind, &s.origin) {
            (_, Origin::Provisioned { template, .. }) => {
                let (_, kind) = self.template_kind(template)?;
                self.engine.driver_on(s.host.as_deref(), kind)
            }
            (GroupKind::Registered(_), _) | (_, Origin::Registered) => {
                self.driver(DriverKind::Static)
            }
        }
    }

    /// Runs one driver call with the step time-out and retries of transient errors.
    async fn call<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        f: F,
    ) -> std::result::Result<T, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = vsm_hypervisor::Result<T>>,
    {
        let mut attempt = 0;
        let mut backoff = self.backoff;
        loop {
            if self.lead.is_cancelled() {
                return Err(NOT_ACTIVE.into());
            }
            let answer = tokio::select! {
                biased;
                _ = self.lead.cancelled() => return Err(NOT_ACTIVE.into()),
                a = tokio::time::timeout(self.step_timeout, f()) => a,
            };
            match answer {
                Err(_) => {
                    return Err(format!("timed out after {}s", self.step_timeout.as_secs()));
                }
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if e.is_transient() && attempt < self.retries => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "transient driver error; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = cancel.cancelled() => return Err(format!("{e} (cancelled while retrying)")),
                    }
                    backoff = backoff.saturating_mul(2);
                }
                Ok(Err(e)) => return Err(error_chain(&e)),
            }
        }
    }

    /// Executes one step and reports its result (never panics, never returns early on IO).
    pub(crate) async fn execute(
        &self,
        step: &Step,
        target: &StepTarget,
        cancel: &CancellationToken,
    ) -> StepResult {
        if self.lead.is_cancelled() {
            return StepResult::failed(self.now(), NOT_ACTIVE.to_owned());
        }
        // The whole step races the term: a manager that steps down drops its driver work.
        let res = tokio::select! {
            biased;
            _ = self.lead.cancelled() => Err(NOT_ACTIVE.to_owned()),
            r = self.execute_inner(step, target, cancel) => r,
        };
        match res {
            Ok(r) => r,
            Err(e) => StepResult::failed(self.now(), e),
        }
    }

    async fn registered_driver(
        &self,
        target: &StepTarget,
        cancel: &CancellationToken,
    ) -> std::result::Result<Arc<dyn Hypervisor>, String> {
        let d = self.driver(DriverKind::Static)?;
        let machine = target.machine.clone().ok_or("no machine")?;
        // The static driver may not know the machine yet (e.g. after a restart): register it.
        if let Some((address, params)) = &target.registered
            && let Err(HypervisorError::NotFound { .. }) = d.state(&machine).await
        {
            let source = TemplateSource::new("registered").map_err(|e| e.to_string())?;
            let mut spec = ProvisionSpec::new(machine.clone(), source, 0)
                .with_attach_address(address.clone())
                .with_label("vsm.unit", target.unit.as_str());
            spec.params = params.clone();
            match self.call(cancel, || d.provision(&spec)).await {
                Ok(_) => {}
                Err(e) if e.contains("already exists") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(d)
    }

    /// Why definitions cannot reach `server`: names the server, its driver and what is missing.
    fn unreachable(&self, target: &StepTarget, server: &ServerName, d: &dyn Hypervisor) -> String {
        let driver = d.kind();
        match (&target.template, d.boots_guests()) {
            (Some(t), true) => format!(
                "cannot deliver definitions to server {server} (driver {driver}, template `{t}`): the template declares no `ssh` access; register it from a VM template file that declares `ssh:` (user, port, identity) or `cloud_init: true` (see docs/libvirt.md)"
            ),
            (Some(t), _) => format!(
                "cannot deliver definitions to server {server} (driver {driver}, template `{t}`): the driver gives the machine neither a root directory on this host nor `ssh` access"
            ),
            (None, _) if target.remote_root.is_none() && target.driver == DriverKind::Static => {
                format!(
                    "cannot deliver definitions to server {server} (driver {driver}): the group declares no root directory on the machine"
                )
            }
            (None, _) => format!(
                "cannot deliver definitions to server {server} (driver {driver}): the driver gives the machine neither a root directory on this host nor `ssh` access"
            ),
        }
    }

    /// What `f` reads of `server` in the running operation's model.
    fn live_server<T>(
        &self,
        target: &StepTarget,
        server: &ServerName,
        f: impl FnOnce(&vsm_core::model::Server) -> Option<T>,
    ) -> Option<T> {
        let live = self.engine.ops.live_for_unit(&target.unit)?;
        let u = live.unit.lock().unwrap_or_else(|p| p.into_inner());
        live.server(&u, server).and_then(|(_, s)| f(s))
    }

    /// The pool host the model places `server` on.
    fn server_host(&self, target: &StepTarget, server: &ServerName) -> Option<String> {
        self.live_server(target, server, |s| s.host.clone())
    }

    /// The server's address as the model knows it.
    fn server_address(&self, target: &StepTarget, server: &ServerName) -> Option<ServerAddress> {
        self.live_server(target, server, |s| s.address.clone())
    }

    /// Who `server` is, for rendering its definition templates.
    fn deploy_context(
        &self,
        target: &StepTarget,
        server: &ServerName,
        address: Option<ServerAddress>,
    ) -> Option<vsm_deploy::ServerContext> {
        let live = self.engine.ops.live_for_unit(&target.unit)?;
        let u = live.unit.lock().unwrap_or_else(|p| p.into_inner());
        let (group, _) = live.server(&u, server)?;
        let index = group.servers.iter().position(|s| s.name == *server)? + 1;
        let members = u
            .groups
            .iter()
            .map(|g| {
                let addrs = g.servers.iter().filter_map(|s| s.address.clone()).collect();
                (g.name().clone(), addrs)
            })
            .collect();
        Some(vsm_deploy::ServerContext {
            unit: u.name.clone(),
            group: group.name().clone(),
            server: server.clone(),
            address: address?,
            index,
            members,
        })
    }

    /// The health check that the unit's current definition gives `server`'s group, if any.
    fn definition_health(
        &self,
        target: &StepTarget,
        server: &ServerName,
    ) -> std::result::Result<Option<vsm_deploy::HealthCheck>, String> {
        let Some((group, digest)) = (|| {
            let live = self.engine.ops.live_for_unit(&target.unit)?;
            let u = live.unit.lock().unwrap_or_else(|p| p.into_inner());
            let (group, _) = live.server(&u, server)?;
            Some((group.name().clone(), u.current_definition()?.digest.clone()))
        })() else {
            return Ok(None);
        };
        let key = (digest, group);
        if let Some(check) = self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(check.clone());
        }
        // A snapshot that cannot be read fails the check: it must not pass unchecked.
        let store = vsm_deploy::SnapshotStore::open(self.engine.definitions())
            .map_err(|e| format!("cannot read the definition store: {}", error_chain(&e)))?;
        let def = store.load(&key.0).map_err(|e| {
            format!(
                "cannot read definition {} for its health check: {}",
                key.0,
                error_chain(&e)
            )
        })?;
        let check = def.manifest.group(&key.1).and_then(|g| g.health.clone());
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, check.clone());
        Ok(check)
    }

    async fn execute_inner(
        &self,
        step: &Step,
        target: &StepTarget,
        cancel: &CancellationToken,
    ) -> std::result::Result<StepResult, String> {
        let machine = || {
            target
                .machine
                .clone()
                .ok_or_else(|| "no machine".to_owned())
        };
        let server_driver = |d: DriverKind| async move {
            if d == DriverKind::Static {
                self.registered_driver(target, cancel).await
            } else {
                Err(String::new())
            }
        };
        let unit_driver = || async {
            // Provisioned servers: the driver of their template.
            let live = self.engine.ops.live_for_unit(&target.unit);
            let server = step.server().cloned();
            match (live, server) {
                (Some(live), Some(s)) => {
                    let u = live.unit.lock().unwrap_or_else(|p| p.into_inner());
                    match live.server(&u, &s) {
                        Some((g, srv)) => self.server_driver(g, srv),
                        None => Err(format!("server {s} is not in unit {}", target.unit)),
                    }
                }
                _ => Err("no driver for this server".to_owned()),
            }
        };
        let driver = |kind: DriverKind| async move {
            if kind == DriverKind::Static {
                server_driver(kind).await
            } else {
                unit_driver().await
            }
        };
        match step {
            Step::Wait { millis } => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(*millis)) => Ok(StepResult::ok(self.now())),
                    _ = cancel.cancelled() => Err("cancelled while waiting".into()),
                }
            }
            Step::Provision {
                template,
                generation,
                host,
                epoch,
                ..
            } => {
                let (tpl, kind) = self.template_kind(template)?;
                // The host placement chose; a step placed nowhere (journaled by an older vsm)
                // goes to the built-in host of the template's driver.
                let (host, d) = match host {
                    // Exactly the host placement chose: never another one.
                    Some(h) => (
                        Some(h.to_string()),
                        self.engine.hosts.driver_on(h.as_str())?,
                    ),
                    None => {
                        let h = self.engine.hosts.builtin(kind).map(|h| h.to_string());
                        let d = self.engine.driver_on(h.as_deref(), kind)?;
                        (h, d)
                    }
                };
                let gen_info = tpl
                    .generation(*generation)
                    .ok_or_else(|| format!("template {template} has no generation {generation}"))?;
                let source =
                    TemplateSource::new(gen_info.source.clone()).map_err(|e| e.to_string())?;
                let m = machine()?;
                let spec = ProvisionSpec::new(m.clone(), source, generation.0)
                    .with_label("vsm.unit", target.unit.as_str())
                    .with_label(
                        "vsm.server",
                        step.server().map(|s| s.as_str()).unwrap_or(""),
                    )
                    .with_label(EPOCH_LABEL, epoch.to_string());
                let info = match self.call(cancel, || d.provision(&spec)).await {
                    Ok(info) => info,
                    // A re-run after a crash: the machine exists from the interrupted attempt.
                    Err(e) if e.contains("already exists") => {
                        self.call(cancel, || d.info(&m)).await?
                    }
                    Err(e) => return Err(e),
                };
                let mut r = StepResult::ok(self.now());
                if let Some(a) = info.address
                    && let Ok(a) = ServerAddress::new(a.to_string())
                {
                    r = r.with_address(a);
                }
                if let Some(h) = host.or(info.host) {
                    r = r.with_host(h);
                }
                Ok(r)
            }
            Step::Apply { digest, server, .. } => {
                let d = driver(target.driver).await?;
                let m = machine()?;
                // Where the definitions go: a root directory on this host, a registered
                // machine's directory over ssh, or a VM's guest over ssh at the address the
                // driver discovered now. Never report an apply that delivered nothing as done.
                let (address, delivery, booted) = if let Some(root) = d.local_root(&m) {
                    let address = match self.server_address(target, server) {
                        Some(a) => Some(a),
                        None => self
                            .call(cancel, || d.address(&m))
                            .await?
                            .and_then(|a| ServerAddress::new(a.to_string()).ok()),
                    };
                    (address, Delivery::Local(root), false)
                } else if let (Some(ssh), Some(base)) = (d.ssh_target(&m), &target.remote_root) {
                    let address = self
                        .server_address(target, server)
                        .or_else(|| ServerAddress::new(ssh.host.clone()).ok());
                    (address, Delivery::Ssh(ssh, base.clone()), false)
                } else if let Some(access) = self.call(cancel, || d.guest_access(&m)).await? {
                    (
                        ServerAddress::new(access.target.host.clone()).ok(),
                        Delivery::Ssh(access.target, access.root),
                        access.booted_for_delivery,
                    )
                } else {
                    return Err(self.unreachable(target, server, d.as_ref()));
                };
                let applied = match self.deploy_context(target, server, address) {
                    Some(ctx) => {
                        let store_root = self.engine.definitions().to_path_buf();
                        apply_with(&store_root, digest, &ctx, move || delivery.transport()).await
                    }
                    None => Err(format!("server {server} has no address yet")),
                };
                // A stopped VM booted only for the delivery goes back to being stopped.
                if booted {
                    let t = GRACEFUL_STOP.min(self.step_timeout);
                    let stopped = self.call(cancel, || d.shutdown(&m, t)).await;
                    applied?;
                    stopped.map_err(|e| {
                        format!("the definitions were delivered, but powering the VM off again failed: {e}")
                    })?;
                } else {
                    applied?;
                }
                Ok(StepResult::ok(self.now()))
            }
            Step::Start { .. } => {
                let d = driver(target.driver).await?;
                let m = machine()?;
                match self.call(cancel, || d.start(&m)).await {
                    // A VM may get another address from DHCP each time it boots.
                    Ok(()) if d.boots_guests() => {
                        let mut r = StepResult::ok(self.now());
                        if let Ok(Some(a)) = d.address(&m).await
                            && let Ok(a) = ServerAddress::new(a.to_string())
                        {
                            r = r.with_address(a);
                        }
                        Ok(r)
                    }
                    Ok(()) => Ok(StepResult::ok(self.now())),
                    // A VM's start fails when its guest never answers, even though the VM
                    // itself runs: that is no start.
                    Err(e) if d.boots_guests() => Err(e),
                    Err(e) => {
                        // Already running counts as started.
                        match d.state(&m).await {
                            Ok(PowerState::Running | PowerState::Starting) => {
                                Ok(StepResult::ok(self.now()))
                            }
                            _ => Err(e),
                        }
                    }
                }
            }
            Step::HealthCheck { timeout_ms, server } => {
                let d = driver(target.driver).await?;
                let m = machine()?;
                // The definition's own check (tcp, http or command) decides, once the machine runs.
                let check = self.definition_health(target, server)?;
                let deadline = tokio::time::Instant::now() + Duration::from_millis(*timeout_ms);
                let mut pause = Duration::from_millis(5);
                loop {
                    match d.state(&m).await {
                        Ok(PowerState::Running) => {
                            let Some(check) = check else {
                                return Ok(StepResult::ok(self.now()));
                            };
                            let address = match self.server_address(target, server) {
                                Some(a) => a.to_string(),
                                None => match d.address(&m).await {
                                    Ok(Some(a)) => a.to_string(),
                                    _ => {
                                        return Err(format!(
                                            "server {server} has no address to check"
                                        ));
                                    }
                                },
                            };
                            let left =
                                deadline.saturating_duration_since(tokio::time::Instant::now());
                            let mut check = check;
                            check.timeout = check.timeout.min(left.max(Duration::from_millis(1)));
                            return tokio::select! {
                                r = vsm_deploy::health_check(&check, &address, None) => match r {
                                    Ok(()) => Ok(StepResult::ok(self.now())),
                                    Err(e) => Err(error_chain(&e)),
                                },
                                _ = cancel.cancelled() => Err("cancelled while checking health".into()),
                            };
                        }
                        Ok(PowerState::Crashed) => return Err("the server crashed".into()),
                        Ok(PowerState::Stopped) => {
                            return Err("the server is not running".into());
                        }
                        Ok(_) => {}
                        Err(e) if !e.is_transient() => return Err(error_chain(&e)),
                        Err(_) => {}
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(format!(
                            "not healthy within {}s",
                            Duration::from_millis(*timeout_ms).as_secs_f64()
                        ));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = cancel.cancelled() => return Err("cancelled while checking health".into()),
                    }
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
            Step::Stop { grace_ms, .. } => {
                if *grace_ms > 0 {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(*grace_ms)) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
                let d = driver(target.driver).await?;
                let m = machine()?;
                // A graceful stop gets a bounded time before the driver forces the power off;
                // the step time-out only bounds the whole call.
                let t = GRACEFUL_STOP.min(self.step_timeout);
                match self.call(cancel, || d.shutdown(&m, t)).await {
                    Ok(_) => Ok(StepResult::ok(self.now())),
                    // A machine that is not there (a provision that failed) is not running.
                    Err(e) if e.contains("not found") => Ok(StepResult::ok(self.now())),
                    Err(e) => Err(e),
                }
            }
            Step::Destroy { server } => {
                // A lost host is not called: its copy is fenced (confirmed down, or `fencing:
                // none`) and destroyed by its older placement epoch when the host returns.
                if let Some(h) = self.server_host(target, server)
                    && self.engine.hosts.is_down(&h)
                {
                    return Ok(StepResult::ok(self.now()));
                }
                let d = driver(target.driver).await?;
                let m = machine()?;
                match self.call(cancel, || d.destroy(&m)).await {
                    Ok(()) => Ok(StepResult::ok(self.now())),
                    Err(e) if e.contains("not found") => Ok(StepResult::ok(self.now())),
                    Err(e) => Err(e),
                }
            }
            Step::Attach { .. } => {
                let d = self.registered_driver(target, cancel).await?;
                let m = machine()?;
                self.call(cancel, || d.state(&m)).await?;
                Ok(StepResult::ok(self.now()))
            }
            Step::Detach { .. } => {
                let d = self.driver(DriverKind::Static)?;
                let m = machine()?;
                match self.call(cancel, || d.destroy(&m)).await {
                    Ok(()) => Ok(StepResult::ok(self.now())),
                    Err(e) if e.contains("not found") => Ok(StepResult::ok(self.now())),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// After a crash (and on every open): asks the drivers about every server (32 at a time),
    /// clears in-progress marks, and settles what a killed step left half-done by what the
    /// driver reports: a provision that never reached the driver is forgotten, one that did
    /// keeps its machine; a destroy that happened removes the server; a server caught stopping
    /// or starting gets the logical state its machine is really in (so the monitor does not
    /// mistake an interrupted stop for a crash). Every server's observed state is refreshed.
    pub(crate) async fn reconcile_unit(&self, unit: &mut Unit) {
        use futures::StreamExt;
        use vsm_core::model::StepKind;
        let queries: Vec<_> = unit
            .servers()
            .map(|(g, s)| {
                let registered = s.origin == Origin::Registered;
                (
                    s.name.clone(),
                    machine_name(&unit.name, &s.name),
                    self.driver_for(g, s),
                    registered,
                )
            })
            .collect();
        type Answer = (
            ServerName,
            bool,
            Option<vsm_hypervisor::Result<vsm_hypervisor::MachineInfo>>,
        );
        let mut asks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send>>> =
            Vec::new();
        for (name, machine, driver, registered) in queries {
            let lead = self.lead.clone();
            asks.push(Box::pin(async move {
                let info = match driver {
                    // Not once this manager stepped down: nothing is learned then.
                    Some(_) if lead.is_cancelled() => None,
                    Some(d) => tokio::select! {
                        biased;
                        _ = lead.cancelled() => None,
                        i = d.info(&machine) => Some(i),
                    },
                    None => None,
                };
                (name, registered, info)
            }));
        }
        let answers: Vec<Answer> = futures::stream::iter(asks)
            .buffer_unordered(32)
            .collect()
            .await;
        let positions: HashMap<ServerName, (usize, usize)> = unit
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                g.servers
                    .iter()
                    .enumerate()
                    .map(move |(si, s)| (s.name.clone(), (gi, si)))
            })
            .collect();
        let mut remove = Vec::new();
        for (name, registered, info) in answers {
            let Some(s) = positions
                .get(&name)
                .and_then(|&(gi, si)| unit.groups.get_mut(gi)?.servers.get_mut(si))
            else {
                continue;
            };
            let was_doing = s.in_progress.take();
            s.observed_at = Some(self.now());
            match info {
                Some(Ok(info)) => {
                    s.observed = observed_of(info.state);
                    if s.logical == LogicalStatus::Provisioning {
                        s.logical = LogicalStatus::Stopped;
                        if let Some(a) = info.address
                            && let Ok(a) = ServerAddress::new(a.to_string())
                        {
                            s.address = Some(a);
                        }
                        s.host = info.host;
                    } else if was_doing.is_some() {
                        match s.observed {
                            ObservedStatus::Stopped if s.logical.is_running() => {
                                s.logical = LogicalStatus::Stopped;
                            }
                            ObservedStatus::Working
                                if matches!(
                                    s.logical,
                                    LogicalStatus::Stopped | LogicalStatus::Failed
                                ) =>
                            {
                                s.logical = LogicalStatus::Started;
                            }
                            _ => {}
                        }
                    }
                }
                Some(Err(HypervisorError::NotFound { .. })) if !registered => {
                    if s.logical == LogicalStatus::Provisioning
                        || was_doing == Some(StepKind::Destroy)
                    {
                        remove.push(name.clone());
                    } else {
                        s.observed = ObservedStatus::Failed;
                    }
                }
                _ => {
                    s.observed = ObservedStatus::Unknown;
                    if s.logical == LogicalStatus::Provisioning {
                        remove.push(name.clone());
                    }
                }
            }
        }
        if !remove.is_empty() {
            let remove: std::collections::HashSet<ServerName> = remove.into_iter().collect();
            for g in &mut unit.groups {
                g.servers.retain(|s| !remove.contains(&s.name));
            }
        }
    }
}

/// How long a server gets to stop gracefully before the driver forces it off.
const GRACEFUL_STOP: Duration = Duration::from_secs(30);

/// Pushes one server's part of a definition version through the deploy layer, into a local
/// root or over SSH (`transport` makes the transport once there is something to push):
/// per-server atomic (staged, then switched in), idempotent (an unchanged version sends
/// nothing) and incremental (only changed files travel). A group the version does not define
/// has nothing to receive.
/// Where one server's definitions are delivered.
enum Delivery {
    /// A root directory on this host.
    Local(Utf8PathBuf),
    /// A directory on a machine reached over ssh.
    Ssh(vsm_hypervisor::ssh::SshTarget, Utf8PathBuf),
}

impl Delivery {
    fn transport(self) -> std::result::Result<Box<dyn vsm_deploy::Transport>, String> {
        Ok(match self {
            Delivery::Local(root) => {
                std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {root}: {e}"))?;
                Box::new(vsm_deploy::LocalTransport::new(root))
            }
            Delivery::Ssh(target, base) => Box::new(vsm_deploy::SshTransport::new(target, base)),
        })
    }
}

async fn apply_with(
    store_root: &Utf8Path,
    digest: &vsm_core::DefinitionDigest,
    ctx: &vsm_deploy::ServerContext,
    transport: impl FnOnce() -> std::result::Result<Box<dyn vsm_deploy::Transport>, String>,
) -> std::result::Result<(), String> {
    let desired = {
        let store_root = store_root.to_path_buf();
        let digest = digest.clone();
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(
            move || -> std::result::Result<Option<vsm_deploy::DesiredState>, String> {
                let store =
                    vsm_deploy::SnapshotStore::open(&store_root).map_err(|e| error_chain(&e))?;
                let def = store.load(&digest).map_err(|e| error_chain(&e))?;
                if def.manifest.group(&ctx.group).is_none() {
                    return Ok(None);
                }
                let plan = vsm_deploy::GroupPlan::new(&store, &def, &ctx.group)
                    .map_err(|e| error_chain(&e))?;
                plan.for_server(&ctx).map(Some).map_err(|e| error_chain(&e))
            },
        )
        .await
        .map_err(|e| e.to_string())??
    };
    let Some(desired) = desired else {
        return Ok(());
    };
    let transport = transport()?;
    vsm_deploy::apply_to_server(transport.as_ref(), &desired)
        .await
        .map(|_| ())
        .map_err(|e| error_chain(&e))
}

// ------------------------------------------------------------------ templates

/// Asks the driver of `driver` whether `source` is a template it can clone; answers the size
/// of one machine of it, when the driver says.
pub(crate) async fn check_template_source(
    ctx: &EngineCtx,
    driver: DriverKind,
    source: &str,
) -> Result<Option<vsm_core::Resources>> {
    let source = TemplateSource::new(source).map_err(|e| Error::invalid(e.to_string()))?;
    // The built-in host of the driver, else any connected host of it (a pool of added hosts).
    let d = match ctx.driver(driver) {
        Ok(d) => d,
        Err(e) => ctx
            .hosts
            .connected()
            .into_iter()
            .find(|(r, _)| r.driver() == driver)
            .map(|(_, d)| d)
            .ok_or_else(|| Error::invalid(e))?,
    };
    let info = d.inspect_template(&source).await.map_err(|e| match e {
        HypervisorError::InvalidTemplate { .. } | HypervisorError::NotFound { .. } => {
            Error::invalid_with_hint(
                error_chain(&e),
                "give a template directory (local) or a domain/volume name (libvirt)",
            )
        }
        other => Error::failed("cannot inspect the template", other),
    })?;
    Ok(info.size.map(|s| vsm_core::Resources {
        vcpus: s.vcpus,
        memory_mib: s.memory_mib,
    }))
}

/// `vsm server logs`: what the server's driver keeps of its console.
pub(crate) async fn server_logs(
    engine: &Arc<EngineCtx>,
    unit: &Unit,
    server: &ServerName,
    tail: Option<usize>,
) -> Result<ServerLogs> {
    if unit.server(server).is_none() {
        return Err(Error::not_found(Entity::Server, server));
    }
    let templates = engine.db(|s| s.templates()).await?;
    let ctx = OpCtx::new(
        engine,
        templates.into_iter().map(|t| (t.name.clone(), t)).collect(),
    );
    let d = ctx
        .driver_of(unit, server)
        .ok_or_else(|| Error::failed_msg(format!("no driver for server {server}")))?;
    let lines = d
        .logs(&machine_name(&unit.name, server), tail.unwrap_or(1000))
        .await
        .map_err(|e| Error::failed(format!("cannot read the logs of {server}"), e))?;
    Ok(ServerLogs {
        server: server.clone(),
        text: lines.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_machines_get_their_ssh_settings_as_driver_parameters() {
        let mut spec = vsm_core::model::RegisteredSpec {
            servers: Vec::new(),
            ssh: vsm_core::model::SshSettings {
                user: "vsm".into(),
                identity: Some("/keys/id".into()),
                port: Some(2222),
                strict_host_keys: false,
            },
            commands: Default::default(),
            root: None,
        };
        let p = registered_params(&spec);
        assert_eq!(p.get(params::SSH_USER).map(String::as_str), Some("vsm"));
        assert_eq!(
            p.get(params::SSH_IDENTITY).map(String::as_str),
            Some("/keys/id")
        );
        assert_eq!(p.get(params::SSH_PORT).map(String::as_str), Some("2222"));
        assert_eq!(p.get(params::SSH_HOST_KEY_CHECKING), None);
        spec.ssh.strict_host_keys = true;
        assert_eq!(
            registered_params(&spec)
                .get(params::SSH_HOST_KEY_CHECKING)
                .map(String::as_str),
            Some("strict")
        );
    }
}
