//! Running operations: a request becomes the core's plans (the first computed now, a later
//! stage on the model as the first left it), whose phases run step by step — each step
//! journaled before its driver call, executed, folded into the live model and journaled again —
//! by `engine.concurrency` workers; then the outcome over every plan, the record and the
//! unit's release. And, on open, the reconciliation of operations a crash interrupted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vsm_core::fold::{StepOutcome, StepResult};
use vsm_core::model::{Template, Unit};
use vsm_core::plan::{self, Plan, PlanError, Step};
use vsm_core::run::{Outcome, Progress, StopReason};
use vsm_core::{GroupName, OperationId, ServerName, UnitName};

use super::context::EngineCtx;
use super::exec::{OpCtx, StepTarget};
use super::live::{Live, lock, on_one_server, server_row, unit_meta};
use crate::api::*;
use crate::error::{Entity, Error, Result};
use crate::store::{AuditEntry, Change, JournalEntry};

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
    /// Move the unit's servers off a host (`vsm host drain`).
    Evacuate(vsm_core::HostName),
    /// Restart the unit's servers of a lost host elsewhere.
    Failover(vsm_core::HostName),
    /// Move these servers of the unit to other hosts, like a drain (`vsm host rebalance`).
    Rebalance(Vec<ServerName>),
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
            Request::Evacuate(h) | Request::Failover(h) => json!({ "host": h }),
            Request::Rebalance(servers) => json!({ "servers": servers }),
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
        // Planned stage by stage by its `Drain` (see `next_drain_plan`).
        Request::Evacuate(_) | Request::Rebalance(_) => return Ok(None),
        Request::Failover(h) => return Ok(vsm_core::plan_failover(&u, h.as_str())),
    };
    p.map(Some).map_err(plan_error)
}

// ------------------------------------------------------------------ launching

/// Takes the unit's lock (waiting up to `wait` while another operation holds it) and launches
/// `request` on it as a new operation; returns its id at once.
pub(crate) async fn start(
    engine: &Arc<EngineCtx>,
    actor: Option<Actor>,
    unit: &UnitName,
    kind: OperationKind,
    request: Request,
    wait: Option<Duration>,
) -> Result<OperationId> {
    engine.check_running()?;
    let id = engine.ops.acquire(unit, wait, &engine.term()).await?;
    let res = launch(engine, actor, unit.clone(), kind, id, request).await;
    if res.is_err() {
        engine.release_placements(id);
        engine.ops.release(id);
    }
    res.map(|()| id)
}

/// Plans the first stage of operation `id` (which holds the unit's lock), journals it, and runs
/// the operation in the background.
async fn launch(
    engine: &Arc<EngineCtx>,
    actor: Option<Actor>,
    unit_name: UnitName,
    kind: OperationKind,
    id: OperationId,
    request: Request,
) -> Result<()> {
    let n = unit_name.clone();
    let (unit, templates) = engine
        .db(move |s| Ok((s.unit(&n)?, s.templates()?)))
        .await?;
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
    let mut drain = match &request {
        Request::Evacuate(host) => Some(Drain {
            ev: vsm_core::Evacuation::new(&unit, host.as_str()),
            notes: Vec::new(),
        }),
        Request::Rebalance(servers) => Some(Drain {
            ev: vsm_core::Evacuation::of_servers(&unit, "rebalance", servers.iter().cloned()),
            notes: Vec::new(),
        }),
        _ => None,
    };
    let first = match &mut drain {
        Some(d) => next_drain_plan(engine, id, &unit, d, &templates).await,
        None => plan_for(&unit, &request, &templates, true)?,
    };
    let mut first = first.unwrap_or_else(|| Plan {
        kind: vsm_core::plan::PlanKind::StartUnit,
        phases: vec![],
        rollout: None,
    });
    if drain.is_none() {
        engine.place(id, &unit, &mut first, &templates).await?;
    }
    unit.begin_plan(&first, id).map_err(plan_error)?;
    let (cancel, events) = engine
        .ops
        .handles(id)
        .ok_or_else(|| Error::failed_msg("operation lost its lock"))?;
    let created = engine.now();
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
    engine
        .write(vec![
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
    let live = Arc::new(Live::new(record, unit, events, engine.clock()));
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    engine.ops.set_live(id, live.clone(), done_rx);
    let engine = engine.clone();
    tokio::spawn(async move {
        let state = run(
            engine.clone(),
            id,
            live.clone(),
            first,
            (request, drain),
            templates,
            cancel,
        )
        .await;
        // Unlock the unit before telling anyone it ended: whoever waited for this operation
        // may start the next one on the unit at once.
        engine.release_placements(id);
        engine.ops.release(id);
        let _ = done_tx.send(true);
        let seq = live.next_seq();
        live.emit(id, seq, ProgressKind::Finished { state });
    });
    Ok(())
}

async fn run(
    engine: Arc<EngineCtx>,
    id: OperationId,
    live: Arc<Live>,
    first: Plan,
    (request, mut drain): (Request, Option<Drain>),
    templates: HashMap<vsm_core::TemplateName, Template>,
    cancel: CancellationToken,
) -> OperationState {
    let ctx = Arc::new(OpCtx::new(&engine, templates.clone()));
    let before = lock(&live.unit).clone();
    let mut plan = first;
    let mut stage = 0;
    let mut state;
    let mut all_results: Vec<Progress> = Vec::new();
    let mut fatal: Option<String> = None;
    // The group of every server a plan provisions (a drain's replacements may come and go
    // within the operation).
    let mut provisioned: HashMap<ServerName, GroupName> = HashMap::new();
    loop {
        for step in plan.steps() {
            if let Step::Provision { server, group, .. } = step {
                provisioned.insert(server.clone(), group.clone());
            }
        }
        let progress = run_plan(&engine, id, &live, &ctx, plan, &cancel).await;
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
        // A drain that was cancelled (its time-out) destroys the replacements it was bringing
        // up: their old servers are still there.
        if let Some(d) = &mut drain
            && cancel.is_cancelled()
        {
            let unit = lock(&live.unit).clone();
            if let Some(p) = d.ev.abandon(&unit) {
                let begun = lock(&live.unit).begin_plan(&p, id);
                if begun.is_ok() {
                    let cleanup = CancellationToken::new();
                    if let Ok(p) = run_plan(&engine, id, &live, &ctx, p, &cleanup).await {
                        all_results.push(p);
                    }
                }
            }
            break;
        }
        if stopped.is_some() {
            if revert {
                let unit = lock(&live.unit).clone();
                let mut u = unit.clone();
                u.busy = None;
                let p = plan::plan_revert(&u, &before, &touched);
                // Begun as every plan is: the unit's current version goes back with its
                // servers (it would otherwise stay on the version that failed).
                if let Err(e) = lock(&live.unit).begin_plan(&p, id) {
                    fatal = Some(e.to_string());
                    break;
                }
                let seq = live.next_seq();
                live.emit(id, seq, ProgressKind::Message {
                    text: "the roll-out was aborted; putting the servers it touched back on their previous version".into(),
                });
                let r = run_plan(&engine, id, &live, &ctx, p, &cancel).await;
                if let Ok(p) = r {
                    // The revert's own failures count, but the operation stays aborted.
                    all_results.push(p);
                }
            }
            break;
        }
        // A drain goes on with its next group (or the retiring of what was replaced).
        if let Some(d) = &mut drain {
            if cancel.is_cancelled() {
                break;
            }
            let unit = lock(&live.unit).clone();
            let Some(p) = next_drain_plan(&engine, id, &unit, d, &templates).await else {
                break;
            };
            let mut u = lock(&live.unit);
            if let Err(e) = u.begin_plan(&p, id) {
                fatal = Some(e.to_string());
                break;
            }
            plan = p;
            continue;
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
        rec.summary.finished_at = Some(engine.now());
        rec.steps_total = all_results.iter().map(|p| p.results.len()).sum();
        let mut group_of: HashMap<&ServerName, &GroupName> = provisioned.iter().collect();
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
        if let Some(d) = &drain {
            rec.warnings.extend(d.notes.iter().cloned());
        }
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
    changes.extend(engine.journal_purge(engine.now()));
    changes.push(Change::Audit(AuditEntry {
        at: engine.now(),
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
    engine.operation_event(&record);
    state
}

/// A drain of one unit between its plans: the planner's state and what could not be placed.
pub(crate) struct Drain {
    ev: vsm_core::Evacuation,
    notes: Vec<String>,
}

/// The drain's next plan on `unit`, placed on the pool; a group whose replacements cannot be
/// placed is noted (its servers stay) and the drain goes on with the next.
async fn next_drain_plan(
    engine: &EngineCtx,
    id: OperationId,
    unit: &Unit,
    drain: &mut Drain,
    templates: &HashMap<vsm_core::TemplateName, Template>,
) -> Option<Plan> {
    let mut u = unit.clone();
    u.busy = None;
    loop {
        let mut plan = drain.ev.next(&u)?;
        match engine.place(id, &u, &mut plan, templates).await {
            Ok(()) => return Some(plan),
            Err(e) => {
                let group = match &plan.kind {
                    vsm_core::plan::PlanKind::Evacuate { group, .. } => group.to_string(),
                    other => other.to_string(),
                };
                drain.notes.push(format!(
                    "group {group}: its servers on host {} stay there: their replacements cannot be placed: {e}",
                    drain.ev.host
                ));
            }
        }
    }
}

/// Runs one plan to its end (or until cancelled / stopped by a gate).
async fn run_plan(
    engine: &EngineCtx,
    id: OperationId,
    live: &Arc<Live>,
    ctx: &Arc<OpCtx>,
    plan: Plan,
    cancel: &CancellationToken,
) -> Result<Progress> {
    let mut progress = Progress::new(plan);
    let limit = engine.settings().engine.concurrency.max(1);
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
    ctx: &Arc<OpCtx>,
    step: &Step,
    cancel: &CancellationToken,
) -> Result<StepOutcome> {
    let action = step.kind().as_str().to_owned();
    let server = step.server().cloned();
    // Before: mark in progress and journal it, durably, before touching anything.
    let (group, begin_changes, ctx_info) = {
        let mut unit = lock(&live.unit);
        let had = unit.groups.iter().map(|g| g.next_seq).collect::<Vec<_>>();
        let at = ctx.now();
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
        let info = StepTarget::of(&unit, step, |s| live.server(&unit, s));
        (group, changes, info.map_err(|e| (e, begun.err())))
    };
    let seq = live.next_seq();
    let mut changes = begin_changes;
    changes.push(Change::Journal(JournalEntry {
        operation: id,
        seq,
        at: ctx.now(),
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
        Err((e, _)) => StepResult::failed(ctx.now(), e),
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
        at: ctx.now(),
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
pub(crate) async fn recover_interrupted(engine: &Arc<EngineCtx>) -> Result<()> {
    let (running, units, templates) = engine
        .db(|s| Ok((s.running_operations()?, s.units()?, s.templates()?)))
        .await?;
    let templates: HashMap<_, _> = templates.into_iter().map(|t| (t.name.clone(), t)).collect();
    let ctx = OpCtx::new(engine, templates);
    let mut changes = Vec::new();
    for mut rec in running {
        rec.summary.state = OperationState::Interrupted;
        rec.summary.finished_at = Some(engine.now());
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
    engine.write(changes).await
}
