//! Cross-module tests: plan snapshots for a two-group unit, execution through `Progress` and
//! `fold`, and the core's proptest properties (plan ordering, scale bounds, victims, folding).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use crate::model::arb::unit_spec;
use crate::*;

fn sn(s: &str) -> ServerName {
    ServerName::new(s).expect("valid")
}

fn gn(s: &str) -> GroupName {
    GroupName::new(s).expect("valid")
}

fn tn(s: &str) -> TemplateName {
    TemplateName::new(s).expect("valid")
}

fn digest(b: u8) -> DefinitionDigest {
    DefinitionDigest::from_bytes([b; 32])
}

fn latest(g: u32) -> LatestGenerations {
    [
        (tn("websrv"), TemplateGeneration(g)),
        (tn("base"), TemplateGeneration(g)),
    ]
    .into_iter()
    .collect()
}

/// Runs `plan` on `unit` like the engine would: every step succeeds unless `fail` says so.
/// Returns the progress (for outcome checks).
fn execute(unit: &mut Unit, plan: Plan, fail: &dyn Fn(&Step) -> bool) -> Progress {
    let op = OperationId(1);
    unit.begin_plan(&plan, op).expect("not busy");
    let mut progress = Progress::new(plan);
    let mut clock = 1_000_000;
    while let Some(phase) = progress.next_phase() {
        for step in &phase.steps {
            clock += 1;
            let at = Timestamp::from_millis(clock);
            unit.begin(step, at).expect("begin fits");
            let result = if fail(step) {
                StepResult::failed(at, "injected")
            } else {
                StepResult::ok(at)
            };
            unit.fold(step, &result).expect("fold fits");
            progress.record(step, &result.outcome);
        }
        progress.finish_phase();
    }
    unit.finish_plan(op);
    unit.validate().expect("valid after execution");
    progress
}

fn never(_: &Step) -> bool {
    false
}

/// The two-group unit of the snapshots: `db` (registered, 2 machines, order 1) and `web`
/// (provisioned from `websrv`, 3 of 2..8, order 2, 5 s delay, 30 s grace), definitions v1 applied.
fn two_group_unit() -> Unit {
    let db = GroupSpec {
        name: gn("db"),
        start_order: 1,
        start_delay_ms: 0,
        health: HealthPolicy::default(),
        recover: RecoverPolicy::Restart,
        kind: GroupKind::Registered(RegisteredSpec {
            servers: vec![
                RegisteredServer {
                    name: sn("db1"),
                    address: ServerAddress::new("192.0.2.10").expect("valid"),
                },
                RegisteredServer {
                    name: sn("db2"),
                    address: ServerAddress::new("192.0.2.11").expect("valid"),
                },
            ],
            ..RegisteredSpec::default()
        }),
    };
    let web = GroupSpec {
        name: gn("web"),
        start_order: 2,
        start_delay_ms: 5_000,
        health: HealthPolicy {
            timeout_ms: 30_000,
            command: None,
        },
        recover: RecoverPolicy::Recreate,
        kind: GroupKind::Provisioned(ProvisionedSpec {
            placement: Default::default(),
            template: tn("websrv"),
            count: 3,
            min: 2,
            max: 8,
            scale_in: ScaleInPolicy::Newest,
            grace_ms: 30_000,
        }),
    };
    let mut unit = Unit::create(
        UnitName::new("shop").expect("valid"),
        AccountName::new("alice").expect("valid"),
        UnitSpec {
            tolerate_host_failures: 0,
            groups: vec![web, db],
        },
        Timestamp::EPOCH,
    )
    .expect("valid spec");
    let parts = |s, a| DefinitionParts {
        settings: digest(s),
        applications: digest(a),
    };
    unit.import_definition(DefinitionRecord {
        version: DefinitionVersion(1),
        digest: digest(1),
        imported: Timestamp::EPOCH,
        groups: [(gn("db"), parts(1, 1)), (gn("web"), parts(2, 2))]
            .into_iter()
            .collect(),
    })
    .expect("first");
    let create = plan_create(&unit, &latest(1)).expect("plan");
    execute(&mut unit, create, &never);
    let apply = plan_apply(&unit, &ApplyRequest::default()).expect("plan");
    execute(&mut unit, apply, &never);
    unit
}

fn running_unit() -> Unit {
    let mut unit = two_group_unit();
    let start = plan_start_unit(&unit).expect("plan");
    execute(&mut unit, start, &never);
    unit
}

fn import_v2(unit: &mut Unit) {
    let parts = |s, a| DefinitionParts {
        settings: digest(s),
        applications: digest(a),
    };
    unit.import_definition(DefinitionRecord {
        version: DefinitionVersion(2),
        digest: digest(20),
        imported: Timestamp::EPOCH,
        groups: [(gn("db"), parts(11, 1)), (gn("web"), parts(2, 12))]
            .into_iter()
            .collect(),
    })
    .expect("newer");
}

#[test]
fn two_group_unit_is_built_and_started() {
    let unit = running_unit();
    assert_eq!(
        unit.counts(),
        ServerCounts {
            all: 5,
            active: 5,
            invalid: 0
        }
    );
    assert_eq!(unit.definition_status(), DefinitionStatus::Unchanged);
    let names: Vec<_> = unit
        .servers()
        .map(|(_, s)| s.name.as_str().to_owned())
        .collect();
    assert_eq!(names, ["web-1", "web-2", "web-3", "db1", "db2"]);
}

#[test]
fn snapshot_start_and_stop() {
    let unit = two_group_unit();
    insta::assert_snapshot!(
        "start_unit",
        plan_start_unit(&unit).expect("plan").to_string()
    );
    let unit = running_unit();
    insta::assert_snapshot!(
        "stop_unit",
        plan_stop_unit(&unit).expect("plan").to_string()
    );
    insta::assert_snapshot!(
        "start_running_unit_is_empty",
        plan_start_unit(&unit).expect("plan").to_string()
    );
    insta::assert_snapshot!(
        "stop_group_web",
        plan_stop_group(&unit, &gn("web"))
            .expect("plan")
            .to_string()
    );
}

#[test]
fn snapshot_scale() {
    let unit = running_unit();
    let req = |count, remove: &[&str]| ScaleRequest {
        group: gn("web"),
        count,
        remove: remove.iter().map(|s| sn(s)).collect(),
        grace_ms: None,
    };
    insta::assert_snapshot!(
        "scale_out",
        plan_scale(&unit, &req(5, &[]), &latest(1))
            .expect("plan")
            .to_string()
    );
    insta::assert_snapshot!(
        "scale_in_newest",
        plan_scale(&unit, &req(2, &[]), &latest(1))
            .expect("plan")
            .to_string()
    );
    insta::assert_snapshot!(
        "scale_in_named",
        plan_scale(&unit, &req(2, &["web-1"]), &latest(1))
            .expect("plan")
            .to_string()
    );
    let err = plan_scale(&unit, &req(9, &[]), &latest(1)).expect_err("above max");
    assert_eq!(
        err.to_string(),
        "group web: count 9 is outside min 2 .. max 8; choose a count in that range or change the unit file"
    );
    let err = plan_scale(&unit, &req(2, &["web-1", "web-2"]), &latest(1)).expect_err("mismatch");
    assert!(matches!(
        err,
        PlanError::VictimCount {
            needed: 1,
            named: 2,
            ..
        }
    ));
    let mut db = req(1, &[]);
    db.group = gn("db");
    assert!(matches!(
        plan_scale(&unit, &db, &latest(1)),
        Err(PlanError::NotProvisioned { .. })
    ));
    db.group = gn("nope");
    assert!(matches!(
        plan_scale(&unit, &db, &latest(1)),
        Err(PlanError::UnknownGroup { .. })
    ));
    assert!(
        plan_scale(&unit, &req(3, &[]), &latest(1))
            .expect("plan")
            .is_empty()
    );
}

#[test]
fn snapshot_apply_rollout_and_revert() {
    let mut unit = running_unit();
    import_v2(&mut unit);
    assert_eq!(unit.definition_status(), DefinitionStatus::Changed);
    let req = ApplyRequest {
        batch: Some(Batch::Count(2)),
        max_unhealthy_percent: Some(20),
        pause_ms: 10_000,
        ..ApplyRequest::default()
    };
    let plan = plan_apply(&unit, &req).expect("plan");
    insta::assert_snapshot!("apply_rollout", plan.to_string());

    // web-2's health check fails in batch 2: 1 of 4 updated > 20% → abort and revert.
    let before = unit.clone();
    let progress = execute(
        &mut unit,
        plan,
        &|s| matches!(s, Step::HealthCheck { server, .. } if server.as_str() == "web-2"),
    );
    assert!(progress.needs_revert(), "{:?}", progress.stopped);
    assert_eq!(progress.outcome(&BTreeSet::new()), Outcome::Warning);
    let revert = plan_revert(&unit, &before, &progress.touched());
    insta::assert_snapshot!("revert_after_abort", revert.to_string());
    execute(&mut unit, revert, &never);
    assert_eq!(unit.current, Some(DefinitionVersion(1)));
    assert_eq!(unit.definition_status(), DefinitionStatus::Unchanged);
    assert_eq!(unit.counts().active, 5);
}

#[test]
fn rollback_and_errors() {
    let mut unit = running_unit();
    assert!(matches!(
        plan_rollback(&unit, &ApplyRequest::default()),
        Err(PlanError::NoPreviousVersion(_))
    ));
    import_v2(&mut unit);
    let apply = plan_apply(&unit, &ApplyRequest::default()).expect("plan");
    let p = execute(&mut unit, apply, &never);
    assert_eq!(p.outcome(&BTreeSet::new()), Outcome::Normal);
    assert_eq!(unit.definition_status(), DefinitionStatus::Unchanged);
    let back = plan_rollback(&unit, &ApplyRequest::default()).expect("plan");
    insta::assert_snapshot!("rollback", back.to_string());
    execute(&mut unit, back, &never);
    assert_eq!(unit.current, Some(DefinitionVersion(1)));
    assert_eq!(unit.definition_status(), DefinitionStatus::Unchanged);
    unit.busy = Some(OperationId(9));
    assert_eq!(
        plan_start_unit(&unit).expect_err("busy").to_string(),
        "unit shop is busy with operation 9; wait for it (`vsm op show 9`) or retry with --wait"
    );
}

#[test]
fn snapshot_upgrade_delete_recover_attach() {
    let unit = running_unit();
    let inplace = UpgradeRequest {
        batch: Some(Batch::Percent(40)),
        surge: None,
    };
    insta::assert_snapshot!(
        "upgrade_in_place",
        plan_upgrade(&unit, &inplace, &latest(2))
            .expect("plan")
            .to_string()
    );
    let surge = UpgradeRequest {
        batch: None,
        surge: Some(2),
    };
    let plan = plan_upgrade(&unit, &surge, &latest(2)).expect("plan");
    insta::assert_snapshot!("upgrade_surge", plan.to_string());
    let mut upgraded = unit.clone();
    execute(&mut upgraded, plan, &never);
    assert_eq!(upgraded.group(&gn("web")).expect("web").servers.len(), 3);
    assert!(
        plan_upgrade(&upgraded, &surge, &latest(2))
            .expect("plan")
            .is_empty()
    );

    assert!(matches!(
        plan_delete(&unit, false),
        Err(PlanError::UnitRunning(_))
    ));
    insta::assert_snapshot!(
        "delete_force",
        plan_delete(&unit, true).expect("plan").to_string()
    );
    insta::assert_snapshot!(
        "recover_recreate",
        plan_recover(&unit, &sn("web-2"), None, &latest(1))
            .expect("plan")
            .to_string()
    );
    insta::assert_snapshot!(
        "recover_restart",
        plan_recover(&unit, &sn("db1"), None, &latest(1))
            .expect("plan")
            .to_string()
    );
    let attach = AttachRequest {
        group: gn("db"),
        address: ServerAddress::new("192.0.2.12").expect("valid"),
        name: None,
    };
    let plan = plan_attach(&unit, &attach).expect("plan");
    insta::assert_snapshot!("attach", plan.to_string());
    let mut attached = unit.clone();
    execute(&mut attached, plan, &never);
    assert_eq!(attached.counts().all, 6);
    let again = plan_attach(&attached, &attach).expect_err("taken");
    assert!(matches!(again, PlanError::AddressTaken { .. }));
    let detach = plan_detach(&attached, &gn("db"), &sn("db-3")).expect("plan");
    execute(&mut attached, detach, &never);
    assert_eq!(attached.counts().all, 5);
    let mut deleted = unit.clone();
    execute(
        &mut deleted,
        plan_delete(&unit, true).expect("plan"),
        &never,
    );
    assert_eq!(deleted.counts().all, 0);
}

#[test]
fn marked_servers_and_failures_shape_the_outcome() {
    let mut unit = two_group_unit();
    unit.mark(&sn("db1"), "disk errors", Timestamp::from_millis(5))
        .expect("exists");
    let start = plan_start_unit(&unit).expect("plan");
    let p = execute(&mut unit, start.clone(), &never);
    assert_eq!(p.outcome(&unit.marked()), Outcome::Warning);

    let mut unit = two_group_unit();
    // Every db health check fails: the web group must not start.
    let p = execute(
        &mut unit,
        start,
        &|s| matches!(s, Step::HealthCheck { server, .. } if server.as_str().starts_with("db")),
    );
    assert!(matches!(p.stopped, Some(StopReason::Aborted(_))));
    assert_eq!(p.outcome(&BTreeSet::new()), Outcome::Abnormal);
    assert!(
        unit.group(&gn("web"))
            .expect("web")
            .servers
            .iter()
            .all(|s| s.logical == LogicalStatus::Stopped)
    );
    assert_eq!(unit.counts().invalid, 2);
}

// ---------------------------------------------------------------------------------------------
// Properties

const STATES: [LogicalStatus; 5] = [
    LogicalStatus::Stopped,
    LogicalStatus::Started,
    LogicalStatus::Working,
    LogicalStatus::Unhealthy,
    LogicalStatus::Failed,
];

/// A unit from `spec`, its provisioned groups filled, servers in the given states and with
/// creation times from `times` (cycled).
fn populated(spec: UnitSpec, states: &[usize], times: &[i64]) -> Unit {
    let mut unit = Unit::create(
        UnitName::new("u").expect("valid"),
        AccountName::new("a").expect("valid"),
        spec,
        Timestamp::EPOCH,
    )
    .expect("valid spec");
    let create = plan_create(&unit, &latest(1)).expect("plan");
    execute(&mut unit, create, &never);
    let mut i = 0;
    for g in &mut unit.groups {
        for s in &mut g.servers {
            s.logical = STATES[states.get(i).copied().unwrap_or(0) % STATES.len()];
            if !times.is_empty() {
                s.created = Timestamp::from_millis(times[i % times.len()]);
            }
            i += 1;
        }
    }
    unit
}

fn start_order_of(unit: &Unit, server: &ServerName) -> u32 {
    unit.server(server)
        .map(|(g, _)| g.spec.start_order)
        .expect("server exists")
}

fn all_in(unit: &Unit, state: LogicalStatus) -> Unit {
    let mut u = unit.clone();
    for g in &mut u.groups {
        for s in &mut g.servers {
            s.logical = state;
        }
    }
    u
}

fn started_sequence(plan: &Plan) -> Vec<ServerName> {
    plan.steps()
        .filter_map(|s| match s {
            Step::Start { server } => Some(server.clone()),
            _ => None,
        })
        .collect()
}

fn stopped_sequence(plan: &Plan) -> Vec<ServerName> {
    plan.steps()
        .filter_map(|s| match s {
            Step::Stop { server, .. } => Some(server.clone()),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn no_server_starts_before_every_earlier_group_started_and_checked(
        spec in unit_spec(),
        states in proptest::collection::vec(0usize..5, 0..40),
    ) {
        let unit = populated(spec, &states, &[]);
        let plan = plan_start_unit(&unit).expect("plan");
        // phase index of each server's start and health check
        let mut start_at: BTreeMap<ServerName, usize> = BTreeMap::new();
        let mut check_at: BTreeMap<ServerName, usize> = BTreeMap::new();
        for (i, p) in plan.phases.iter().enumerate() {
            for s in &p.steps {
                match s {
                    Step::Start { server } => { start_at.insert(server.clone(), i); }
                    Step::HealthCheck { server, .. } => { check_at.insert(server.clone(), i); }
                    _ => {}
                }
            }
        }
        for (late, &i) in &start_at {
            let order = start_order_of(&unit, late);
            for (early, &j) in start_at.iter().chain(check_at.iter()) {
                if start_order_of(&unit, early) < order {
                    prop_assert!(j < i, "{} (order {}) starts in phase {} before {} finished phase {}", late, order, i, early, j);
                }
            }
            // every server of an earlier group is started, or already running
            for (g, s) in unit.servers() {
                if g.spec.start_order < order {
                    prop_assert!(start_at.contains_key(&s.name) || s.logical.is_running());
                }
            }
        }
    }

    #[test]
    fn stop_is_the_exact_reverse_of_start(spec in unit_spec()) {
        let unit = populated(spec, &[], &[]);
        let start = plan_start_unit(&all_in(&unit, LogicalStatus::Stopped)).expect("plan");
        let stop = plan_stop_unit(&all_in(&unit, LogicalStatus::Working)).expect("plan");
        let mut expect = started_sequence(&start);
        expect.reverse();
        prop_assert_eq!(stopped_sequence(&stop), expect);
    }

    #[test]
    fn scale_stays_within_bounds(
        spec in unit_spec(),
        count in 0u32..10,
        fail_mask in any::<u64>(),
    ) {
        let unit = populated(spec, &[], &[]);
        for g in &unit.groups {
            let Some(p) = g.spec.provisioned() else { continue };
            let req = ScaleRequest { group: g.name().clone(), count, remove: vec![], grace_ms: None };
            match plan_scale(&unit, &req, &latest(1)) {
                Err(PlanError::CountOutOfRange { .. }) => prop_assert!(count < p.min || count > p.max),
                Err(e) => prop_assert!(false, "unexpected error {}", e),
                Ok(plan) => {
                    prop_assert!(p.min <= count && count <= p.max);
                    let mut ok = unit.clone();
                    execute(&mut ok, plan.clone(), &never);
                    let after = ok.group(g.name()).expect("group");
                    prop_assert_eq!(after.servers.len(), count as usize);
                    prop_assert_eq!(after.spec.provisioned().expect("prov").count, count);
                    // with failures, provisioned-but-failed servers stay in the group; never above max
                    let mut bad = unit.clone();
                    let counter = std::cell::Cell::new(0u32);
                    execute(&mut bad, plan, &|_| { let i = counter.get(); counter.set(i + 1); fail_mask >> (i % 64) & 1 == 1 });
                    let n = bad.group(g.name()).expect("group").servers.len();
                    prop_assert!(n as u32 <= p.max.max(g.servers.len() as u32));
                }
            }
        }
    }

    #[test]
    fn scale_in_picks_exactly_the_policy_victims(
        spec in unit_spec(),
        times in proptest::collection::vec(0i64..5, 1..20),
        drop in 1u32..4,
        named in any::<bool>(),
    ) {
        let unit = populated(spec, &[], &times);
        for g in &unit.groups {
            let Some(p) = g.spec.provisioned() else { continue };
            let have = g.servers.len() as u32;
            let count = have.saturating_sub(drop).max(p.min);
            if count >= have { continue; }
            let k = (have - count) as usize;
            let mut sorted: Vec<&Server> = g.servers.iter().collect();
            sorted.sort_by_key(|s| (s.created, s.seq));
            let expect: BTreeSet<ServerName> = if named {
                sorted.iter().skip(1).take(k).map(|s| s.name.clone()).collect()
            } else if p.scale_in == ScaleInPolicy::Newest {
                sorted.iter().rev().take(k).map(|s| s.name.clone()).collect()
            } else {
                sorted.iter().take(k).map(|s| s.name.clone()).collect()
            };
            if named && expect.len() != k { continue; }
            let remove = if named { expect.iter().cloned().collect() } else { vec![] };
            let req = ScaleRequest { group: g.name().clone(), count, remove, grace_ms: None };
            let plan = plan_scale(&unit, &req, &latest(1)).expect("plan");
            let destroyed: BTreeSet<ServerName> = plan.steps().filter_map(|s| match s {
                Step::Destroy { server } => Some(server.clone()),
                _ => None,
            }).collect();
            prop_assert_eq!(&destroyed, &expect);
            prop_assert!(plan.steps().all(|s| s.server().is_none_or(|n| destroyed.contains(n))));
        }
    }

    #[test]
    fn folding_any_sequence_of_results_keeps_every_server_valid(
        spec in unit_spec(),
        ops in proptest::collection::vec((0usize..9, 0usize..12, 0usize..4, any::<bool>(), any::<bool>()), 0..60),
    ) {
        let mut unit = populated(spec, &[], &[]);
        let groups: Vec<GroupName> = unit.groups.iter().map(|g| g.name().clone()).collect();
        let mut pool: Vec<ServerName> = unit.servers().map(|(_, s)| s.name.clone()).collect();
        pool.extend(["x-1", "x-2", "y-9"].map(sn));
        for (i, (kind, server, group, ok, begin)) in ops.into_iter().enumerate() {
            let server = pool[server % pool.len()].clone();
            let group = groups[group % groups.len()].clone();
            let step = match kind {
                0 => Step::Provision { host: None, epoch: 0,  server, group, template: tn("base"), generation: TemplateGeneration(1) },
                1 => Step::Apply { server, version: DefinitionVersion(1), digest: digest(1), scope: UpdateScope::All },
                2 => Step::Start { server },
                3 => Step::HealthCheck { server, timeout_ms: 1 },
                4 => Step::Wait { millis: 1 },
                5 => Step::Stop { server, grace_ms: 0 },
                6 => Step::Destroy { server },
                7 => Step::Attach { server, group, address: ServerAddress::new(format!("10.9.9.{i}")).expect("valid") },
                _ => Step::Detach { server },
            };
            let at = Timestamp::from_millis(i as i64);
            let before = unit.clone();
            if begin && unit.begin(&step, at).is_err() {
                prop_assert_eq!(&unit, &before, "a refused begin changed the model");
            }
            let before = unit.clone();
            let result = if ok { StepResult::ok(at) } else { StepResult::failed(at, "x") };
            if unit.fold(&step, &result).is_err() {
                prop_assert_eq!(&unit, &before, "a refused fold changed the model");
            }
            prop_assert!(unit.validate().is_ok(), "{:?} after {:?}", unit.validate(), step);
        }
    }
}

/// New servers get `<group>-<n>` names that skip every name in use, also one a registered
/// server of another group already has, and stay unique over many servers at once.
#[test]
fn new_server_names_are_unique_and_skip_names_in_use() {
    let mut unit = two_group_unit();
    // A registered server named like the next web server.
    if let Some(db) = unit.group_mut(&gn("db"))
        && let GroupKind::Registered(_) = &db.spec.kind
    {
        let mut s = Server::new(
            sn("web-5"),
            Origin::Registered,
            db.next_seq,
            Timestamp::EPOCH,
        );
        s.address = Some(ServerAddress::new("192.0.2.99").expect("valid"));
        db.next_seq += 1;
        db.servers.push(s);
    }
    unit.validate().expect("valid");
    let plan = plan_scale(
        &unit,
        &ScaleRequest {
            group: gn("web"),
            count: 8,
            remove: vec![],
            grace_ms: None,
        },
        &latest(1),
    )
    .expect("plan");
    let new: Vec<ServerName> = plan
        .steps()
        .filter_map(|s| match s {
            Step::Provision { server, .. } => Some(server.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        new,
        ["web-4", "web-6", "web-7", "web-8", "web-9"]
            .map(sn)
            .to_vec()
    );
    let (name, seq) = unit.next_server_name(
        unit.group(&gn("web")).expect("web"),
        &[sn("web-4")].into_iter().collect(),
    );
    assert_eq!((name, seq), (sn("web-6"), 6));
}

/// A unit start ends at a group whose every start failed: its health checks are all dropped,
/// and the "any healthy" gate still stops the plan, so later groups are untouched.
#[test]
fn a_start_ends_at_a_group_whose_every_start_failed() {
    let mut unit = two_group_unit();
    let start = plan_start_unit(&unit).expect("plan");
    let db_start =
        |s: &Step| matches!(s, Step::Start { server } if server.as_str().starts_with("db"));
    let progress = execute(&mut unit, start, &db_start);
    assert!(
        matches!(&progress.stopped, Some(StopReason::Aborted(why)) if why.contains("health-check group db")),
        "{:?}",
        progress.stopped
    );
    let touched = progress.touched();
    assert!(
        touched.iter().all(|s| s.as_str().starts_with("db")),
        "{touched:?}"
    );
    assert!(!touched.is_empty());
}

/// A started server takes the address its driver reports now (a VM's DHCP lease), unless
/// another server holds it; a failed start changes no address.
#[test]
fn a_start_records_the_address_the_server_has_now() {
    let mut unit = two_group_unit();
    let addr = |a: &str| ServerAddress::new(a).expect("address");
    let start = |s: &str| Step::Start { server: sn(s) };
    let at = Timestamp::EPOCH;
    let of = |u: &Unit, s: &str| u.server(&sn(s)).map(|(_, s)| s.clone()).expect("server");
    unit.fold(
        &start("web-1"),
        &StepResult::ok(at).with_address(addr("10.0.0.7")),
    )
    .expect("fold");
    unit.fold(
        &start("db1"),
        &StepResult::ok(at).with_address(addr("10.0.0.8")),
    )
    .expect("fold");
    assert_eq!(of(&unit, "web-1").address, Some(addr("10.0.0.7")));
    assert_eq!(of(&unit, "db1").address, Some(addr("10.0.0.8")));

    // Someone else's address is not taken.
    unit.fold(
        &start("web-1"),
        &StepResult::ok(at).with_address(addr("10.0.0.8")),
    )
    .expect("fold");
    let web1 = of(&unit, "web-1");
    assert_eq!(web1.address, Some(addr("10.0.0.7")));
    assert!(
        web1.last_error
            .as_deref()
            .is_some_and(|e| e.contains("10.0.0.8") && e.contains("db1")),
        "{web1:?}"
    );
    // A failed start keeps the address it had.
    unit.fold(
        &start("web-1"),
        &StepResult::failed(at, "boom").with_address(addr("10.0.0.9")),
    )
    .expect("fold");
    assert_eq!(of(&unit, "web-1").address, Some(addr("10.0.0.7")));
    unit.validate().expect("still valid");
}

/// A scale-out killed between provisioning and applying leaves a server with nothing applied;
/// running the scale again (same count, or a larger one) applies, starts and checks it as it
/// would a new server, so the re-run converges instead of leaving a server that cannot serve.
#[test]
fn a_scale_again_finishes_servers_an_interrupted_scale_out_left_unapplied() {
    let mut unit = running_unit();
    let out = plan_scale(
        &unit,
        &ScaleRequest {
            group: gn("web"),
            count: 4,
            remove: vec![],
            grace_ms: None,
        },
        &latest(1),
    )
    .expect("plan");
    // the manager dies after the provision phase: only provisioning steps ran
    let provision_only = Plan {
        phases: out.phases.into_iter().take(1).collect(),
        ..out
    };
    execute(&mut unit, provision_only, &never);
    let (_, web4) = unit.server(&sn("web-4")).expect("provisioned");
    assert!(web4.applied.is_none(), "{web4:?}");
    assert_eq!(web4.logical, LogicalStatus::Stopped);

    let req = |count| ScaleRequest {
        group: gn("web"),
        count,
        remove: vec![],
        grace_ms: None,
    };
    let again = plan_scale(&unit, &req(4), &latest(1)).expect("plan");
    insta::assert_snapshot!("scale_again_finishes_unapplied", again.to_string());
    let further = plan_scale(&unit, &req(5), &latest(1)).expect("plan");
    let applied: Vec<&str> = further
        .steps()
        .filter_map(|s| match s {
            Step::Apply { server, .. } => Some(server.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(applied, ["web-4", "web-5"], "{further}");

    execute(&mut unit, again, &never);
    let (_, web4) = unit.server(&sn("web-4")).expect("kept");
    assert_eq!(
        web4.applied.as_ref().map(|a| a.version),
        Some(DefinitionVersion(1))
    );
    assert_eq!(web4.logical, LogicalStatus::Working);
    assert!(
        plan_scale(&unit, &req(4), &latest(1))
            .expect("plan")
            .is_empty(),
        "a finished group needs nothing more"
    );
}
