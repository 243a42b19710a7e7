//! The operation engine: runs plans of `vsm-core` against the injected drivers and the deploy
//! layer, journals every step before and after it runs (group-committed), publishes progress,
//! and reconciles after a crash.
//!
//! It never authorizes (the manager did) and never reads configuration files.

mod exec;
mod monitor;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use camino::Utf8Path;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use vsm_core::fold::{StepOutcome, StepResult};
use vsm_core::model::{Template, Unit};
use vsm_core::plan::{self, Plan, PlanError, Step};
use vsm_core::run::{Outcome, Progress, StopReason};
use vsm_core::{DefinitionVersion, GroupName, OperationId, ServerName, UnitName};

pub(crate) use exec::Writer;
pub(crate) use monitor::{check_once, load_of, spawn_monitor};

use crate::api::*;
use crate::error::{Entity, Error, Result};
use crate::manager::{Manager, now};
use crate::store::{Change, JournalEntry};

/// A long operation's request, as the engine runs it.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Start(Option<GroupName>),
    Stop(Option<GroupName>),
    Apply(ApplyRequest),
    Rollback,
    Scale(ScaleRequest),
    Upgrade(UpgradeRequest),
    Delete(DeleteUnitRequest),
    Attach(GroupName, AttachRequest),
    Detach(GroupName, ServerName),
    Recover(ServerName),
}

impl Request {
    fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Request::Start(g) => json!({ "group": g }),
            Request::Stop(g) => json!({ "group": g }),
            Request::Apply(r) => serde_json::to_value(r).unwrap_or_default(),
            Request::Rollback => json!({}),
            Request::Scale(r) => serde_json::to_value(r).unwrap_or_default(),
            Request::Upgrade(r) => serde_json::to_value(r).unwrap_or_default(),
            Request::Delete(r) => serde_json::to_value(r).unwrap_or_default(),
            Request::Attach(g, r) => json!({ "group": g, "address": r.address, "name": r.name }),
            Request::Detach(g, s) => json!({ "group": g, "server": s }),
            Request::Recover(s) => json!({ "server": s }),
        }
    }
}

fn plan_error(e: PlanError) -> Error {
    match e {
        PlanError::Busy { unit, op } => Error::Busy {
            unit,
            operation: op,
        },
        other => Error::invalid(other.to_string()),
    }
}

fn batch(b: BatchSize) -> plan::Batch {
    match b {
        BatchSize::Count(n) => plan::Batch::Count(n),
        BatchSize::Percent(p) => plan::Batch::Percent(p),
    }
}

/// The templates' newest generations.
fn latest(
    templates: &HashMap<vsm_core::TemplateName, Template>,
) -> vsm_core::model::LatestGenerations {
    templates
        .values()
        .map(|t| (t.name.clone(), t.latest()))
        .collect()
}

/// The plans of a request: the first is computed now, the later ones on the model as it is
/// after the earlier ones ran.
fn plan_for(
    unit: &Unit,
    request: &Request,
    templates: &HashMap<vsm_core::TemplateName, Template>,
    first: bool,
) -> Result<Option<Plan>> {
    let latest = latest(templates);
    let mut u = unit.clone();
    u.busy = None;
    // Start and apply first provision what a provisioned group still lacks.
    if first
        && matches!(
            request,
            Request::Start(None) | Request::Apply(_) | Request::Start(Some(_))
        )
    {
        let p = plan::plan_create(&u, &latest).map_err(plan_error)?;
        if !p.is_empty() {
            return Ok(Some(p));
        }
    }
    let p = match request {
        Request::Start(None) => plan::plan_start_unit(&u),
        Request::Start(Some(g)) => plan::plan_start_group(&u, g),
        Request::Stop(None) => plan::plan_stop_unit(&u),
        Request::Stop(Some(g)) => plan::plan_stop_group(&u, g),
        Request::Apply(r) => plan::plan_apply(
            &u,
            &plan::ApplyRequest {
                version: r.version,
                batch: r.batch.map(batch),
                max_unhealthy_percent: r.max_unhealthy.map(Percent::get),
                pause_ms: r.pause_secs.unwrap_or(0).saturating_mul(1000),
                no_rollback: r.no_rollback,
            },
        ),
        Request::Rollback => plan::plan_rollback(&u, &plan::ApplyRequest::default()),
        Request::Scale(r) => plan::plan_scale(
            &u,
            &plan::ScaleRequest {
                group: r.group.clone(),
                count: r.count,
                remove: r.remove.clone(),
                grace_ms: r.grace_secs.map(|s| s.saturating_mul(1000)),
            },
            &latest,
        ),
        Request::Upgrade(r) => plan::plan_upgrade(
            &u,
            &plan::UpgradeRequest {
                batch: r.batch.map(batch),
                surge: r.surge,
            },
            &latest,
        ),
        Request::Delete(r) => plan::plan_delete(&u, r.force),
        Request::Attach(g, r) => {
            let address = vsm_core::model::ServerAddress::new(r.address.trim())
                .map_err(|e| Error::invalid(e.to_string()))?;
            plan::plan_attach(
                &u,
                &plan::AttachRequest {
                    group: g.clone(),
                    address,
                    name: r.name.clone(),
                },
            )
        }
        Request::Detach(g, s) => plan::plan_detach(&u, g, s),
        Request::Recover(s) => plan::plan_recover(&u, s, None, &latest),
    };
    p.map(Some).map_err(plan_error)
}

// ------------------------------------------------------------------ the live state of a run

/// The in-memory state of a running operation.
pub(crate) struct Live {
    pub(crate) record: Mutex<OperationRecord>,
    pub(crate) unit: Mutex<Unit>,
    seq: std::sync::atomic::AtomicU64,
    events: broadcast::Sender<ProgressEvent>,
    errors: Mutex<BTreeMap<ServerName, String>>,
    cancelled_steps: Mutex<BTreeSet<ServerName>>,
    /// Where each server sits in `unit`: the model's own lookups are linear, which costs O(n)
    /// per step and O(n²) per operation on big units.
    index: Mutex<ServerIndex>,
    /// Step results queued for the journal and not yet known to be durable; a phase ends only
    /// once they are.
    pending: Mutex<Vec<exec::Pending>>,
}

/// Where each server of a unit sits (group index, server index) and which server has which
/// address. A hit is checked against the unit before it is used; a miss is trusted only while
/// the index is `complete` — built by a full pass and kept up to date by every change of the
/// unit's set of servers since (servers added through [`on_one_server`] are noted; any other
/// change of the set marks the index incomplete, and the next lookup rebuilds it).
#[derive(Debug, Default)]
pub(crate) struct ServerIndex {
    at: HashMap<ServerName, (usize, usize)>,
    addresses: HashMap<vsm_core::model::ServerAddress, ServerName>,
    complete: bool,
}

impl ServerIndex {
    fn rebuild(&mut self, unit: &Unit) {
        self.at.clear();
        self.addresses.clear();
        for (gi, g) in unit.groups.iter().enumerate() {
            for (si, s) in g.servers.iter().enumerate() {
                self.at.insert(s.name.clone(), (gi, si));
                if let Some(a) = &s.address {
                    self.addresses.insert(a.clone(), s.name.clone());
                }
            }
        }
        self.complete = true;
    }

    fn checked(unit: &Unit, name: &ServerName, (g, s): (usize, usize)) -> bool {
        unit.groups
            .get(g)
            .and_then(|gr| gr.servers.get(s))
            .is_some_and(|x| x.name == *name)
    }

    fn locate(&mut self, unit: &Unit, name: &ServerName) -> Option<(usize, usize)> {
        match self.at.get(name).copied() {
            Some(pos) if Self::checked(unit, name, pos) => return Some(pos),
            None if self.complete => return None,
            _ => self.rebuild(unit),
        }
        self.at
            .get(name)
            .copied()
            .filter(|p| Self::checked(unit, name, *p))
    }

    /// Whether `address` belongs to a server other than `name` (index made complete first).
    fn address_taken(
        &mut self,
        unit: &Unit,
        address: &vsm_core::model::ServerAddress,
        name: &ServerName,
    ) -> bool {
        if !self.complete {
            self.rebuild(unit);
        }
        self.addresses.get(address).is_some_and(|n| n != name)
    }

    /// Records the server at `(g, s)` (just added, or its address just set).
    fn note(&mut self, unit: &Unit, (g, s): (usize, usize)) {
        if let Some(server) = unit.groups.get(g).and_then(|gr| gr.servers.get(s)) {
            // Most steps change neither: no clone, no insert.
            if self.at.get(&server.name) != Some(&(g, s)) {
                self.at.insert(server.name.clone(), (g, s));
            }
            if let Some(a) = &server.address
                && self.addresses.get(a) != Some(&server.name)
            {
                self.addresses.insert(a.clone(), server.name.clone());
            }
        } else {
            self.complete = false;
        }
    }
}

impl Live {
    /// The position of `name` in `unit`, which must be this operation's (locked) model.
    fn locate(&self, unit: &Unit, name: &ServerName) -> Option<(usize, usize)> {
        lock(&self.index).locate(unit, name)
    }

    /// `unit.server(name)` in O(1).
    pub(crate) fn server<'a>(
        &self,
        unit: &'a Unit,
        name: &ServerName,
    ) -> Option<(&'a vsm_core::model::Group, &'a vsm_core::model::Server)> {
        let (g, s) = self.locate(unit, name)?;
        let group = unit.groups.get(g)?;
        Some((group, group.servers.get(s)?))
    }

    /// `unit.server_mut(name)` in O(1).
    pub(crate) fn server_mut<'a>(
        &self,
        unit: &'a mut Unit,
        name: &ServerName,
    ) -> Option<&'a mut vsm_core::model::Server> {
        let (g, s) = self.locate(unit, name)?;
        unit.groups.get_mut(g)?.servers.get_mut(s)
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
    }

    fn emit(&self, id: OperationId, seq: u64, kind: ProgressKind) {
        let _ = self.events.send(ProgressEvent {
            operation: id,
            seq,
            at: now(),
            kind,
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server's group and a copy of it, for persisting.
fn server_row(live: &Live, unit: &Unit, name: &ServerName) -> Option<Change> {
    live.server(unit, name).map(|(g, s)| Change::PutServer {
        unit: unit.name.clone(),
        group: g.name().clone(),
        server: s.clone(),
    })
}

/// The unit's own row without its servers (cheap even for big units).
pub(crate) fn unit_meta(unit: &Unit) -> Unit {
    Unit {
        name: unit.name.clone(),
        owner: unit.owner.clone(),
        created: unit.created,
        groups: unit
            .groups
            .iter()
            .map(|g| vsm_core::model::Group {
                spec: g.spec.clone(),
                servers: Vec::new(),
                next_seq: g.next_seq,
            })
            .collect(),
        definitions: unit.definitions.clone(),
        current: unit.current,
        busy: unit.busy,
    }
}

// ------------------------------------------------------------------ launching

pub(crate) async fn launch(
    m: &Manager,
    actor: Option<Actor>,
    unit_name: UnitName,
    kind: OperationKind,
    id: OperationId,
    request: Request,
) -> Result<()> {
    let n = unit_name.clone();
    let (unit, templates) = m.db(move |s| Ok((s.unit(&n)?, s.templates()?))).await?;
    let mut unit = unit.ok_or_else(|| Error::not_found(Entity::Unit, &unit_name))?;
    if let Some(holder) = unit.busy
        && holder != id
    {
        // Left by a crash that was not reconciled (should not happen): refuse clearly.
        return Err(Error::Busy {
            unit: unit_name,
            operation: holder,
        });
    }
    let templates: HashMap<_, _> = templates.into_iter().map(|t| (t.name.clone(), t)).collect();
    let first = plan_for(&unit, &request, &templates, true)?;
    let first = first.unwrap_or_else(|| Plan {
        kind: vsm_core::plan::PlanKind::StartUnit,
        phases: vec![],
        rollout: None,
    });
    unit.begin_plan(&first, id).map_err(plan_error)?;
    let (cancel, events) = m
        .running_handles(id)
        .ok_or_else(|| Error::failed_msg("operation lost its lock"))?;
    let created = now();
    let record = OperationRecord {
        summary: OperationSummary {
            id,
            unit: Some(unit_name.clone()),
            kind,
            state: OperationState::Running,
            requested_by: actor.as_ref().map(|a| a.account.clone()),
            created_at: created,
            finished_at: None,
        },
        request: request.to_json(),
        servers: vec![],
        warnings: vec![],
        error: None,
        steps_total: first.steps().count(),
    };
    m.write(vec![
        Change::PutUnitMeta(unit_meta(&unit)),
        Change::PutOperation(record.clone()),
        Change::Journal(JournalEntry {
            operation: id,
            seq: 0,
            at: created,
            action: "plan".into(),
            group: None,
            server: None,
            status: StepStatus::Started,
            detail: Some(first.to_string()),
        }),
    ])
    .await?;
    let live = Arc::new(Live {
        record: Mutex::new(record),
        unit: Mutex::new(unit),
        seq: std::sync::atomic::AtomicU64::new(0),
        events,
        errors: Mutex::new(BTreeMap::new()),
        cancelled_steps: Mutex::new(BTreeSet::new()),
        index: Mutex::new(ServerIndex::default()),
        pending: Mutex::new(Vec::new()),
    });
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    m.set_live(id, live.clone(), done_rx);
    let m2 = m.clone();
    tokio::spawn(async move {
        let state = run(
            m2.clone(),
            id,
            live.clone(),
            first,
            request,
            templates,
            cancel,
        )
        .await;
        // Unlock the unit before telling anyone it ended: whoever waited for this operation
        // may start the next one on the unit at once.
        m2.release(id);
        let _ = done_tx.send(true);
        let seq = live.next_seq();
        live.emit(id, seq, ProgressKind::Finished { state });
    });
    Ok(())
}

async fn run(
    m: Manager,
    id: OperationId,
    live: Arc<Live>,
    first: Plan,
    request: Request,
    templates: HashMap<vsm_core::TemplateName, Template>,
    cancel: CancellationToken,
) -> OperationState {
    let ctx = Arc::new(exec::Ctx::new(&m, templates.clone()));
    let before = lock(&live.unit).clone();
    let mut plan = first;
    let mut stage = 0;
    let mut state;
    let mut all_results: Vec<Progress> = Vec::new();
    let mut fatal: Option<String> = None;
    loop {
        let progress = run_plan(&m, id, &live, &ctx, plan, &cancel).await;
        let progress = match progress {
            Ok(p) => p,
            Err(e) => {
                fatal = Some(e.to_string());
                break;
            }
        };
        let stopped = progress.stopped.clone();
        let revert = progress.needs_revert();
        let touched = progress.touched();
        all_results.push(progress);
        if stopped.is_some() {
            if revert {
                let unit = lock(&live.unit).clone();
                let mut u = unit.clone();
                u.busy = None;
                let p = plan::plan_revert(&u, &before, &touched);
                let seq = live.next_seq();
                live.emit(id, seq, ProgressKind::Message {
                    text: "the roll-out was aborted; putting the servers it touched back on their previous version".into(),
                });
                let r = run_plan(&m, id, &live, &ctx, p, &cancel).await;
                if let Ok(p) = r {
                    // The revert's own failures count, but the operation stays aborted.
                    all_results.push(p);
                }
            }
            break;
        }
        stage += 1;
        if stage > 1 {
            break;
        }
        // Only a start or an apply continues after its first stage (a create, then the rest);
        // every other kind is done once its plan ran.
        if !matches!(request, Request::Start(_) | Request::Apply(_)) {
            break;
        }
        let unit = lock(&live.unit).clone();
        match plan_for(&unit, &request, &templates, false) {
            Ok(Some(p)) => {
                if p.kind == vsm_core::plan::PlanKind::Create {
                    break;
                }
                let mut u = lock(&live.unit);
                if let Err(e) = u.begin_plan(&p, id) {
                    fatal = Some(e.to_string());
                    break;
                }
                plan = p;
            }
            Ok(_) => break,
            Err(e) => {
                fatal = Some(e.to_string());
                break;
            }
        }
    }
    // Outcome over every plan run.
    let marked = lock(&live.unit).marked();
    let mut results: BTreeMap<ServerName, bool> = BTreeMap::new();
    let mut touched_marked = false;
    let mut cancelled = false;
    let mut aborted: Option<String> = None;
    for p in &all_results {
        for (s, ok) in p.server_results() {
            let e = results.entry(s).or_insert(true);
            *e = *e && ok;
        }
        touched_marked |= p.touched().iter().any(|s| marked.contains(s));
        match &p.stopped {
            Some(StopReason::Cancelled) => cancelled = true,
            Some(StopReason::Aborted(why)) => aborted = Some(why.clone()),
            None => {}
        }
    }
    let outcome = vsm_core::run::outcome(&results, touched_marked);
    state = match outcome {
        Outcome::Normal => OperationState::Succeeded,
        Outcome::Warning if results.values().any(|ok| *ok) => OperationState::PartlySucceeded,
        Outcome::Warning => OperationState::Succeeded,
        Outcome::Abnormal => OperationState::Failed,
    };
    if cancelled {
        state = OperationState::Cancelled;
    }
    if fatal.is_some() {
        state = OperationState::Failed;
    }
    // A unit delete that succeeded removes the unit.
    let delete_done = matches!(request, Request::Delete(_))
        && state == OperationState::Succeeded
        && lock(&live.unit).servers().next().is_none();
    let errors = lock(&live.errors).clone();
    let cancelled_steps = lock(&live.cancelled_steps).clone();
    let record = {
        let unit = lock(&live.unit);
        let mut rec = lock(&live.record);
        rec.summary.state = state;
        rec.summary.finished_at = Some(now());
        rec.steps_total = all_results.iter().map(|p| p.results.len()).sum();
        let mut group_of: HashMap<&ServerName, &GroupName> = HashMap::new();
        for (g, s) in before.servers().chain(unit.servers()) {
            group_of.insert(&s.name, g.name());
        }
        rec.servers = results
            .iter()
            .map(|(s, ok)| ServerResult {
                group: group_of.get(s).map(|g| (*g).clone()),
                server: s.clone(),
                status: if *ok {
                    StepStatus::Succeeded
                } else if errors.contains_key(s) {
                    StepStatus::Failed
                } else if cancelled_steps.contains(s) || cancelled {
                    StepStatus::Cancelled
                } else {
                    StepStatus::Skipped
                },
                error: errors.get(s).cloned(),
                marked: marked.contains(s),
            })
            .collect();
        if touched_marked {
            rec.warnings.push(format!(
                "the operation touched marked server(s): {}",
                marked
                    .iter()
                    .filter(|s| results.contains_key(*s))
                    .map(ServerName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rec.error = fatal.or(aborted.map(|a| format!("the plan stopped: {a}")));
        if state == OperationState::Failed && rec.error.is_none() {
            rec.error = Some(format!(
                "no server succeeded: {}",
                errors
                    .iter()
                    .take(3)
                    .map(|(s, e)| format!("{s}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        rec.clone()
    };
    let mut changes = Vec::new();
    {
        let mut unit = lock(&live.unit);
        unit.finish_plan(id);
        if delete_done {
            changes.push(Change::DeleteUnit(unit.name.clone()));
        } else {
            changes.push(Change::PutUnitMeta(unit_meta(&unit)));
        }
    }
    changes.push(Change::PutOperation(record.clone()));
    changes.extend(m.journal_purge(now()));
    changes.push(Change::Audit(crate::store::AuditEntry {
        at: now(),
        actor: record.summary.requested_by.clone(),
        action: record.summary.kind.as_str().into(),
        target: record
            .summary
            .unit
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        result: format!("operation {id} {state}"),
    }));
    if let Err(e) = ctx.commit(changes).await {
        tracing::error!(operation = %id, error = %e, "cannot record the end of an operation");
    }
    crate::engine::monitor::operation_event(&m, &record);
    state
}

/// Runs one plan to its end (or until cancelled / stopped by a gate).
async fn run_plan(
    m: &Manager,
    id: OperationId,
    live: &Arc<Live>,
    ctx: &Arc<exec::Ctx>,
    plan: Plan,
    cancel: &CancellationToken,
) -> Result<Progress> {
    let mut progress = Progress::new(plan);
    let limit = m.settings().engine.concurrency.max(1);
    while let Some(phase) = progress.next_phase() {
        if cancel.is_cancelled() {
            progress.cancel();
            let mut c = lock(&live.cancelled_steps);
            for s in phase.steps.iter().filter_map(Step::server) {
                c.insert(s.clone());
            }
            break;
        }
        let seq = live.next_seq();
        live.emit(
            id,
            seq,
            ProgressKind::PhaseStarted {
                phase: phase.title.clone(),
                steps: phase.steps.len(),
            },
        );
        // `limit` workers take the phase's steps in order (one task per worker, not per step:
        // spawning a task per step cost more than the step itself on big units).
        let steps: Arc<[Step]> = phase.steps.into();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..limit.min(steps.len()) {
            let (live, ctx, cancel) = (live.clone(), ctx.clone(), cancel.clone());
            let (steps, next) = (steps.clone(), next.clone());
            set.spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(step) = steps.get(i) else { break };
                    if cancel.is_cancelled() {
                        if let Some(s) = step.server() {
                            lock(&live.cancelled_steps).insert(s.clone());
                        }
                        continue;
                    }
                    let outcome = run_step(id, &live, &ctx, step, &cancel).await?;
                    done.push((i, outcome));
                }
                Ok::<_, Error>(done)
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(done)) => {
                    for (i, outcome) in done {
                        if let Some(step) = steps.get(i) {
                            progress.record(step, &outcome);
                        }
                    }
                }
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(Error::failed("a step task panicked", e)),
            }
        }
        let pending = std::mem::take(&mut *lock(&live.pending));
        for p in pending {
            p.wait().await?;
        }
        if cancel.is_cancelled() {
            progress.cancel();
            break;
        }
        progress.finish_phase();
    }
    Ok(progress)
}

/// Runs `f` — the core's `begin` (`folding == false`) or `fold` of `step` — on a copy of the
/// unit that holds only the step's server (in its group), when the step touches nothing but
/// that server: start, stop, health check, apply, provision (whose fold also checks that no
/// other server has the address the driver gave: the index answers that) and the `begin` of
/// destroy/detach. The core finds servers by a linear search; on a unit of 10,000 servers
/// doing that twice per step dominated the engine. Other steps (attach, a destroy's fold) run
/// on the whole unit. `one_server_fold_equals_the_full_fold` checks that both give the same
/// model.
fn on_one_server<T>(
    live: &Live,
    unit: &mut Unit,
    step: &Step,
    folding: bool,
    result: Option<&StepResult>,
    f: impl FnOnce(&mut Unit) -> T,
) -> T {
    let mut index = lock(&live.index);
    let local = match step {
        Step::Start { .. }
        | Step::Stop { .. }
        | Step::HealthCheck { .. }
        | Step::Apply { .. }
        | Step::Provision { .. } => true,
        Step::Destroy { .. } | Step::Detach { .. } => !folding,
        _ => false,
    };
    let full =
        |index: &mut ServerIndex, unit: &mut Unit, f: Box<dyn FnOnce(&mut Unit) -> T + '_>| {
            let out = f(unit);
            let readdressed =
                matches!(step, Step::Start { .. }) && result.is_some_and(|r| r.address.is_some());
            if readdressed
                || matches!(
                    step,
                    Step::Provision { .. }
                        | Step::Attach { .. }
                        | Step::Destroy { .. }
                        | Step::Detach { .. }
                )
            {
                index.complete = false;
            }
            out
        };
    let Some(name) = step.server().filter(|_| local) else {
        return full(&mut index, unit, Box::new(f));
    };
    let at = index.locate(unit, name);
    // A new server (the begin of a provision): into its group, known to be free of the name.
    let (gi, si) = match (at, step) {
        (Some(pos), _) => pos,
        (None, Step::Provision { group, .. }) if !folding => {
            let Some(gi) = unit.groups.iter().position(|g| g.name() == group) else {
                return full(&mut index, unit, Box::new(f));
            };
            let mut one = one_server_unit(unit.name.clone(), unit, gi, None);
            let out = f(&mut one);
            let Some(back) = one.groups.pop() else {
                return out;
            };
            let g2 = &mut unit.groups[gi];
            g2.next_seq = back.next_seq;
            g2.servers.extend(back.servers);
            let last = g2.servers.len().saturating_sub(1);
            index.note(unit, (gi, last));
            return out;
        }
        (None, _) => return full(&mut index, unit, Box::new(f)),
    };
    // A provision's or start's fold: the core checks the new address against every other
    // server.
    if let (Step::Provision { .. } | Step::Start { .. }, Some(a)) =
        (step, result.and_then(|r| r.address.as_ref()))
        && folding
        && index.address_taken(unit, a, name)
    {
        return full(&mut index, unit, Box::new(f));
    }
    let Some(server) = unit
        .groups
        .get_mut(gi)
        .and_then(|g| g.servers.get_mut(si))
        .map(|slot| std::mem::replace(slot, placeholder(name)))
    else {
        return full(&mut index, unit, Box::new(f));
    };
    let original = server.clone();
    let mut one = one_server_unit(unit.name.clone(), unit, gi, Some(server));
    let out = f(&mut one);
    let group = one.groups.pop();
    let next_seq = group.as_ref().map(|g| g.next_seq);
    let back = group
        .and_then(|mut g| g.servers.pop())
        .filter(|s| s.name == *name)
        .unwrap_or(original);
    if let Some(g) = unit.groups.get_mut(gi) {
        if let Some(n) = next_seq {
            g.next_seq = n;
        }
        if let Some(slot) = g.servers.get_mut(si) {
            *slot = back;
        }
    }
    index.note(unit, (gi, si));
    out
}

/// A stand-in for a server moved out of the unit for a moment.
fn placeholder(name: &ServerName) -> vsm_core::model::Server {
    vsm_core::model::Server::new(
        name.clone(),
        vsm_core::model::Origin::Registered,
        0,
        vsm_core::Timestamp::EPOCH,
    )
}

/// A copy of `unit` with only group `gi`, holding only `server` (or no server).
fn one_server_unit(
    name: UnitName,
    unit: &Unit,
    gi: usize,
    server: Option<vsm_core::model::Server>,
) -> Unit {
    let (spec, next_seq) = unit
        .groups
        .get(gi)
        .map(|g| (g.spec.clone(), g.next_seq))
        .unzip();
    Unit {
        name,
        owner: unit.owner.clone(),
        created: unit.created,
        groups: spec
            .zip(next_seq)
            .map(|(spec, next_seq)| vsm_core::model::Group {
                spec,
                servers: server.into_iter().collect(),
                next_seq,
            })
            .into_iter()
            .collect(),
        definitions: Vec::new(),
        current: unit.current,
        busy: unit.busy,
    }
}

/// What a successful step tells about its machine's power state.
fn observed_after(step: &Step) -> Option<vsm_core::model::ObservedStatus> {
    use vsm_core::model::ObservedStatus;
    match step {
        Step::Provision { .. } | Step::Stop { .. } => Some(ObservedStatus::Stopped),
        Step::Start { .. } | Step::HealthCheck { .. } => Some(ObservedStatus::Working),
        _ => None,
    }
}

/// Journals, executes and folds one step. `Err` only when the journal cannot be written.
async fn run_step(
    id: OperationId,
    live: &Arc<Live>,
    ctx: &Arc<exec::Ctx>,
    step: &Step,
    cancel: &CancellationToken,
) -> Result<StepOutcome> {
    let action = step.kind().as_str().to_owned();
    let server = step.server().cloned();
    // Before: mark in progress and journal it, durably, before touching anything.
    let (group, begin_changes, ctx_info) = {
        let mut unit = lock(&live.unit);
        let had = unit.groups.iter().map(|g| g.next_seq).collect::<Vec<_>>();
        let at = now();
        let begun = on_one_server(live, &mut unit, step, false, None, |u| u.begin(step, at));
        let mut changes = Vec::with_capacity(3);
        if let Err(e) = &begun {
            tracing::warn!(operation = %id, step = %step, error = %e, "step does not fit the model");
        }
        if let Some(s) = &server {
            changes.extend(server_row(live, &unit, s));
        }
        if unit.groups.iter().map(|g| g.next_seq).collect::<Vec<_>>() != had {
            changes.push(Change::PutUnitMeta(unit_meta(&unit)));
        }
        let group = server
            .as_ref()
            .and_then(|s| live.server(&unit, s).map(|(g, _)| g.name().clone()))
            .or_else(|| match step {
                Step::Provision { group, .. } | Step::Attach { group, .. } => Some(group.clone()),
                _ => None,
            });
        let info = exec::StepTarget::of(&unit, step, |s| live.server(&unit, s));
        (group, changes, info.map_err(|e| (e, begun.err())))
    };
    let seq = live.next_seq();
    let mut changes = begin_changes;
    changes.push(Change::Journal(JournalEntry {
        operation: id,
        seq,
        at: now(),
        action: action.clone(),
        group: group.clone(),
        server: server.clone(),
        status: StepStatus::Started,
        detail: Some(step.to_string()),
    }));
    ctx.commit(changes).await?;
    live.emit(
        id,
        seq,
        ProgressKind::StepStarted {
            action: action.clone(),
            group: group.clone(),
            server: server.clone(),
        },
    );
    // Execute.
    let result = match ctx_info {
        Ok(target) => ctx.execute(step, &target, cancel).await,
        Err((e, _)) => StepResult::failed(now(), e),
    };
    // After: fold and journal.
    let (after_changes, outcome) = {
        let mut unit = lock(&live.unit);
        let had = unit.groups.iter().map(|g| g.next_seq).collect::<Vec<_>>();
        let mut outcome = result.outcome.clone();
        if let Err(e) = on_one_server(live, &mut unit, step, true, Some(&result), |u| {
            u.fold(step, &result)
        }) {
            outcome = StepOutcome::Failed(format!("the result does not fit the model: {e}"));
        }
        // A driver call that succeeded is also an observation of the machine.
        if outcome == StepOutcome::Succeeded
            && let Some(seen) = observed_after(step)
            && let Some(s) = server.as_ref().and_then(|s| live.server_mut(&mut unit, s))
        {
            s.observed = seen;
            s.observed_at = Some(result.at);
        }
        let mut changes = Vec::with_capacity(3);
        if let Some(s) = &server {
            match server_row(live, &unit, s) {
                Some(c) => changes.push(c),
                None => changes.push(Change::DeleteServer {
                    unit: unit.name.clone(),
                    server: s.clone(),
                }),
            }
        }
        if unit.groups.iter().map(|g| g.next_seq).collect::<Vec<_>>() != had {
            changes.push(Change::PutUnitMeta(unit_meta(&unit)));
        }
        (changes, outcome)
    };
    let (status, error) = match &outcome {
        StepOutcome::Succeeded => (StepStatus::Succeeded, None),
        StepOutcome::Failed(e) => (StepStatus::Failed, Some(e.clone())),
    };
    if let (Some(s), Some(e)) = (&server, &error) {
        // The first error of a server is its cause (a later plan of the same operation, e.g.
        // an apply after a failed provision, fails it again only as a consequence).
        lock(&live.errors)
            .entry(s.clone())
            .or_insert_with(|| e.clone());
    }
    let seq = live.next_seq();
    let mut changes = after_changes;
    changes.push(Change::Journal(JournalEntry {
        operation: id,
        seq,
        at: now(),
        action: action.clone(),
        group: group.clone(),
        server: server.clone(),
        status,
        detail: error.clone(),
    }));
    // The result is journaled behind this step's start (one writer keeps the order) but not
    // waited for here: the next steps go on while it is written, and the phase ends only once
    // every result of it is durable (`run_plan`). A crash before that leaves the step started
    // and not finished, which the next start reconciles with the driver.
    let pending = ctx.submit(changes)?;
    lock(&live.pending).push(pending);
    live.emit(
        id,
        seq,
        ProgressKind::StepFinished {
            action,
            group,
            server,
            status,
            error,
        },
    );
    Ok(outcome)
}

// ------------------------------------------------------------------ crash recovery

/// On open: operations left running become interrupted, their units are released, servers
/// caught mid-step are reconciled with what the drivers report.
pub(crate) async fn recover_interrupted(m: &Manager) -> Result<()> {
    let (running, units, templates) = m
        .db(|s| Ok((s.running_operations()?, s.units()?, s.templates()?)))
        .await?;
    let templates: HashMap<_, _> = templates.into_iter().map(|t| (t.name.clone(), t)).collect();
    let ctx = exec::Ctx::new(m, templates);
    let mut changes = Vec::new();
    for mut rec in running {
        rec.summary.state = OperationState::Interrupted;
        rec.summary.finished_at = Some(now());
        rec.error = Some(
            "the manager stopped while this operation ran; run it again to complete what is left"
                .into(),
        );
        changes.push(Change::PutOperation(rec));
    }
    // Every server is reconciled with its driver: what ran mid-step settles, and the observed
    // state of the others is refreshed (they may have changed while no manager watched).
    for mut unit in units {
        if let Some(op) = unit.busy {
            unit.finish_plan(op);
        }
        ctx.reconcile_unit(&mut unit).await;
        changes.push(Change::PutUnit(unit));
    }
    m.write(changes).await
}

// ------------------------------------------------------------------ definitions and logs

pub(crate) async fn check_template_source(
    m: &Manager,
    driver: DriverKind,
    source: &str,
) -> Result<()> {
    exec::check_template_source(m, driver, source).await
}

pub(crate) async fn import(
    m: &Manager,
    actor: &Actor,
    unit: Unit,
    dir: &Utf8Path,
) -> Result<ImportResult> {
    exec::import(m, actor, unit, dir).await
}

pub(crate) async fn export(
    m: &Manager,
    unit: Unit,
    version: Option<DefinitionVersion>,
    dest: &Utf8Path,
) -> Result<VersionInfo> {
    exec::export(m, unit, version, dest).await
}

pub(crate) async fn diff(m: &Manager, unit: Unit, dir: &Utf8Path) -> Result<DefinitionDiff> {
    exec::diff(m, unit, dir).await
}

pub(crate) async fn server_logs(
    m: &Manager,
    unit: &Unit,
    server: &ServerName,
    tail: Option<usize>,
) -> Result<ServerLogs> {
    exec::server_logs(m, unit, server, tail).await
}

/// Keeps a running operation's live model in step with a mark set outside it.
pub(crate) fn note_mark(
    m: &Manager,
    unit: &UnitName,
    server: &ServerName,
    mark: Option<vsm_core::model::FailureMark>,
) {
    if let Some(live) = m.live_for_unit(unit)
        && let Some(s) = live.server_mut(&mut lock(&live.unit), server)
    {
        s.mark = mark;
    }
}

pub(crate) fn live_record(m: &Manager, id: OperationId) -> Option<OperationRecord> {
    m.live(id).map(|l| lock(&l.record).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsm_core::fold::StepResult;
    use vsm_core::model::{LogicalStatus, Origin, Server};
    use vsm_core::{DefinitionDigest, DefinitionVersion, Timestamp};

    fn live() -> Live {
        Live {
            record: Mutex::new(OperationRecord {
                summary: OperationSummary {
                    id: OperationId(1),
                    unit: None,
                    kind: OperationKind::UnitStart,
                    state: OperationState::Running,
                    requested_by: None,
                    created_at: Timestamp::EPOCH,
                    finished_at: None,
                },
                request: serde_json::Value::Null,
                servers: vec![],
                warnings: vec![],
                error: None,
                steps_total: 0,
            }),
            unit: Mutex::new(sample_unit()),
            seq: std::sync::atomic::AtomicU64::new(0),
            events: broadcast::channel(4).0,
            errors: Mutex::new(BTreeMap::new()),
            cancelled_steps: Mutex::new(BTreeSet::new()),
            index: Mutex::new(ServerIndex::default()),
            pending: Mutex::new(Vec::new()),
        }
    }

    fn sample_unit() -> Unit {
        let file = "format: 1\ngroups:\n  - name: db\n    template: tpl\n    count: 2\n    min: 1\n    max: 3\n    start_order: 1\n  - name: web\n    template: tpl\n    count: 3\n    min: 1\n    max: 4\n    start_order: 2\n";
        let spec = crate::unitfile::parse("u.yaml", file).expect("unit file");
        let mut unit = Unit::create(
            "shop".parse().expect("name"),
            "bob".parse().expect("name"),
            spec,
            Timestamp::from_millis(1),
        )
        .expect("unit");
        for g in &mut unit.groups {
            let base = g.spec.name.to_string();
            for i in 1..=3u32 {
                let origin = Origin::Provisioned {
                    template: "tpl".parse().expect("name"),
                    generation: vsm_core::TemplateGeneration(1),
                };
                let mut s = Server::new(
                    format!("{base}-{i}").parse().expect("name"),
                    origin,
                    i,
                    Timestamp::from_millis(i64::from(i)),
                );
                s.address = Some(
                    vsm_core::model::ServerAddress::new(format!("10.0.{}.{i}", base.len()))
                        .expect("address"),
                );
                s.logical = if i == 2 {
                    LogicalStatus::Working
                } else {
                    LogicalStatus::Stopped
                };
                g.servers.push(s);
            }
            g.next_seq = 4;
        }
        unit
    }

    #[test]
    fn one_server_fold_equals_the_full_fold() {
        let digest: DefinitionDigest = "0".repeat(64).parse().expect("digest");
        for server in ["db-1", "db-2", "web-2", "web-3", "db-9", "web-4"] {
            let server: ServerName = server.parse().expect("name");
            let group: vsm_core::GroupName = server.as_str()[..server.as_str().len() - 2]
                .parse()
                .expect("group");
            let steps = [
                Step::Provision {
                    server: server.clone(),
                    group,
                    template: "tpl".parse().expect("name"),
                    generation: vsm_core::TemplateGeneration(1),
                },
                Step::Start {
                    server: server.clone(),
                },
                Step::Stop {
                    server: server.clone(),
                    grace_ms: 0,
                },
                Step::HealthCheck {
                    server: server.clone(),
                    timeout_ms: 1,
                },
                Step::Apply {
                    server: server.clone(),
                    version: DefinitionVersion(1),
                    digest: digest.clone(),
                    scope: vsm_core::model::UpdateScope::All,
                },
                Step::Destroy {
                    server: server.clone(),
                },
            ];
            let fresh = vsm_core::model::ServerAddress::new("10.9.9.9").expect("address");
            let taken = vsm_core::model::ServerAddress::new("10.0.2.1").expect("address");
            for step in &steps {
                for (ok, address) in [
                    (true, None),
                    (false, None),
                    (true, Some(&fresh)),
                    (true, Some(&taken)),
                ] {
                    let mut result = if ok {
                        StepResult::ok(Timestamp::from_millis(9))
                    } else {
                        StepResult::failed(Timestamp::from_millis(9), "boom")
                    };
                    if let Some(a) = address {
                        result = result.with_address(a.clone());
                    }
                    let l = live();
                    let mut fast = sample_unit();
                    let mut full = sample_unit();
                    let a = on_one_server(&l, &mut fast, step, false, None, |u| {
                        u.begin(step, Timestamp::from_millis(8))
                    });
                    let b = full.begin(step, Timestamp::from_millis(8));
                    assert_eq!(a, b, "begin {step}");
                    assert_eq!(fast, full, "begin {step}");
                    let a = on_one_server(&l, &mut fast, step, true, Some(&result), |u| {
                        u.fold(step, &result)
                    });
                    let b = full.fold(step, &result);
                    assert_eq!(a, b, "fold {step} ok={ok} {address:?}");
                    assert_eq!(fast, full, "fold {step} ok={ok} {address:?}");
                }
            }
        }
    }

    /// Many steps through one index (servers added, moved by a removal, addresses given) leave
    /// the same model as the core's own folds.
    #[test]
    fn the_index_stays_right_over_a_sequence_of_steps() {
        let l = live();
        let mut fast = sample_unit();
        let mut full = sample_unit();
        let at = Timestamp::from_millis(8);
        let provision = |server: &str, group: &str| Step::Provision {
            server: server.parse().expect("name"),
            group: group.parse().expect("group"),
            template: "tpl".parse().expect("name"),
            generation: vsm_core::TemplateGeneration(1),
        };
        let start = |server: &str| Step::Start {
            server: server.parse().expect("name"),
        };
        let destroy = |server: &str| Step::Destroy {
            server: server.parse().expect("name"),
        };
        let addr = |a: &str| vsm_core::model::ServerAddress::new(a).expect("address");
        let steps: Vec<(Step, StepResult)> = vec![
            (
                provision("web-4", "web"),
                StepResult::ok(at).with_address(addr("10.1.0.4")),
            ),
            (start("web-4"), StepResult::ok(at)),
            (destroy("db-1"), StepResult::ok(at)),
            (start("db-2"), StepResult::ok(at)),
            (
                provision("db-4", "db"),
                StepResult::ok(at).with_address(addr("10.1.0.4")),
            ),
            (
                provision("db-5", "db"),
                StepResult::ok(at).with_address(addr("10.1.0.5")),
            ),
            (destroy("web-4"), StepResult::ok(at)),
            (
                provision("db-6", "db"),
                StepResult::ok(at).with_address(addr("10.1.0.4")),
            ),
            (start("web-3"), StepResult::failed(at, "boom")),
            (start("db-6"), StepResult::ok(at)),
        ];
        for (step, result) in &steps {
            let a = on_one_server(&l, &mut fast, step, false, None, |u| u.begin(step, at));
            let b = full.begin(step, at);
            assert_eq!(a, b, "begin {step}");
            assert_eq!(fast, full, "begin {step}");
            let a = on_one_server(&l, &mut fast, step, true, Some(result), |u| {
                u.fold(step, result)
            });
            let b = full.fold(step, result);
            assert_eq!(a, b, "fold {step}");
            assert_eq!(fast, full, "fold {step}");
            for (_, s) in full.servers() {
                assert_eq!(
                    l.server(&fast, &s.name).map(|(_, x)| x),
                    Some(s),
                    "after {step}"
                );
            }
        }
        assert!(l.server(&fast, &"web-4".parse().expect("name")).is_none());
    }
}
