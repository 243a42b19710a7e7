//! Tests of the drain planner: a drain is simulated by asking `Evacuation::next` for plans and
//! executing each against the model (`begin_plan`, `begin`/`fold` per step through `Progress`,
//! `finish_plan`), with provisions placed on host `h2` the way the manager places them.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::fold::StepResult;
use crate::model::{
    AppliedDefinition, DefinitionParts, DefinitionRecord, GroupSpec, HealthPolicy, ProvisionedSpec,
    RecoverPolicy, RegisteredServer, RegisteredSpec, ScaleInPolicy, ServerAddress, StepKind,
    UnitSpec, UpdateScope,
};
use crate::names::{AccountName, TemplateName, UnitName};
use crate::placement::HostName;
use crate::run::Progress;
use crate::time::{
    DefinitionDigest, DefinitionVersion, OperationId, TemplateGeneration, Timestamp,
};

// ---------------------------------------------------------------------------------------------
// Helpers

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

/// The host the simulated manager places every replacement on.
const NEW_HOST: &str = "h2";

/// A provisioned group of `template` with `count` servers (min 1, max 8).
fn provisioned(
    name: &str,
    start_order: u32,
    template: &str,
    count: u32,
    grace_ms: u64,
    timeout_ms: u64,
) -> GroupSpec {
    GroupSpec {
        name: gn(name),
        start_order,
        start_delay_ms: 0,
        health: HealthPolicy {
            timeout_ms,
            command: None,
        },
        recover: RecoverPolicy::Recreate,
        kind: GroupKind::Provisioned(ProvisionedSpec {
            placement: Default::default(),
            template: tn(template),
            count,
            min: 1,
            max: 8,
            scale_in: ScaleInPolicy::Newest,
            grace_ms,
        }),
    }
}

fn registered(name: &str, start_order: u32, servers: &[(&str, &str)]) -> GroupSpec {
    GroupSpec {
        name: gn(name),
        start_order,
        start_delay_ms: 0,
        health: HealthPolicy::default(),
        recover: RecoverPolicy::Restart,
        kind: GroupKind::Registered(RegisteredSpec {
            servers: servers
                .iter()
                .map(|(n, a)| RegisteredServer {
                    name: sn(n),
                    address: ServerAddress::new(*a).expect("valid"),
                })
                .collect(),
            ..RegisteredSpec::default()
        }),
    }
}

/// A unit of `groups` with definition versions 1 and 2 imported.
fn unit_of(groups: Vec<GroupSpec>) -> Unit {
    let names: Vec<GroupName> = groups.iter().map(|g| g.name.clone()).collect();
    let mut unit = Unit::create(
        UnitName::new("shop").expect("valid"),
        AccountName::new("alice").expect("valid"),
        UnitSpec {
            groups,
            tolerate_host_failures: 0,
        },
        Timestamp::EPOCH,
    )
    .expect("valid spec");
    for v in [1u8, 2] {
        unit.import_definition(DefinitionRecord {
            version: DefinitionVersion(u32::from(v)),
            digest: digest(v),
            imported: Timestamp::EPOCH,
            groups: names
                .iter()
                .map(|g| {
                    (
                        g.clone(),
                        DefinitionParts {
                            settings: digest(v),
                            applications: digest(v),
                        },
                    )
                })
                .collect(),
        })
        .expect("newer");
    }
    unit
}

/// Adds a provisioned server to `group`, as a finished provision (and apply of `version`, with
/// digest `digest(version)`) left it, in state `logical`.
fn add_server(
    unit: &mut Unit,
    group: &str,
    name: &str,
    host: Option<&str>,
    generation: u32,
    version: Option<u8>,
    logical: LogicalStatus,
) {
    let g = unit.group_mut(&gn(group)).expect("group");
    let template = g.spec.provisioned().expect("provisioned").template.clone();
    let seq = g.next_seq;
    let mut s = Server::new(
        sn(name),
        Origin::Provisioned {
            template,
            generation: TemplateGeneration(generation),
        },
        seq,
        Timestamp::EPOCH,
    );
    s.host = host.map(str::to_owned);
    s.epoch = u32::from(host.is_some());
    s.logical = logical;
    s.applied = version.map(|v| AppliedDefinition {
        version: DefinitionVersion(u32::from(v)),
        digest: digest(v),
    });
    g.servers.push(s);
    g.next_seq = seq + 1;
}

/// The main fixture: `db` (order 1, 3 servers, two on h1) and `web` (order 2, 2 servers, one
/// on h1), plus a registered group `reg` (order 0). Servers on h1 run different template
/// generations and definition versions so the replacements' must follow each old server.
fn fixture(state: LogicalStatus) -> Unit {
    let mut unit = unit_of(vec![
        registered("reg", 0, &[("reg-a", "192.0.2.10")]),
        provisioned("db", 1, "dbsrv", 3, 20_000, 45_000),
        provisioned("web", 2, "websrv", 2, 30_000, 30_000),
    ]);
    add_server(&mut unit, "db", "db-1", Some("h1"), 1, Some(1), state);
    add_server(&mut unit, "db", "db-2", Some("h2"), 1, Some(1), state);
    add_server(&mut unit, "db", "db-3", Some("h1"), 2, Some(2), state);
    add_server(&mut unit, "web", "web-1", Some("h1"), 3, Some(2), state);
    add_server(&mut unit, "web", "web-2", Some("h3"), 3, Some(2), state);
    if let Some(reg) = unit.group_mut(&gn("reg")) {
        for s in &mut reg.servers {
            s.logical = state;
            s.applied = Some(AppliedDefinition {
                version: DefinitionVersion(2),
                digest: digest(2),
            });
        }
    }
    unit.validate().expect("valid fixture");
    unit
}

/// Which executed steps fail.
type Failure = Box<dyn Fn(&Step) -> bool>;

fn never(_: &Step) -> bool {
    false
}

/// Runs `plan` on `unit` like the engine would, after placing its provisions on [`NEW_HOST`]:
/// every step succeeds unless `fail` says so. Returns the plan as executed (placed).
fn execute(unit: &mut Unit, mut plan: Plan, fail: &dyn Fn(&Step) -> bool) -> Plan {
    for phase in &mut plan.phases {
        for step in &mut phase.steps {
            if let Step::Provision { host, epoch, .. } = step {
                *host = Some(HostName::new(NEW_HOST).expect("valid"));
                *epoch = 1;
            }
        }
    }
    let op = OperationId(7);
    unit.begin_plan(&plan, op).expect("not busy");
    let mut progress = Progress::new(plan.clone());
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
    assert_eq!(unit.busy, None, "the plan released the unit");
    unit.validate().expect("valid after execution");
    plan
}

/// A whole drain: the plans as executed, and the unit before the first plan and after each.
struct Drained {
    plans: Vec<Plan>,
    snapshots: Vec<Unit>,
}

/// Most plans a drain of the fixtures may take before it is declared endless.
const MAX_PLANS: usize = 20;

fn drain(unit: &mut Unit, host: &str, fail: &dyn Fn(&Step) -> bool) -> Drained {
    let mut ev = Evacuation::new(unit, host);
    let mut out = Drained {
        plans: Vec::new(),
        snapshots: vec![unit.clone()],
    };
    while let Some(plan) = ev.next(unit) {
        assert!(!plan.is_empty(), "next never answers an empty plan");
        assert!(
            out.plans.len() < MAX_PLANS,
            "the drain does not end; last plan:\n{plan}"
        );
        let executed = execute(unit, plan, fail);
        out.plans.push(executed);
        out.snapshots.push(unit.clone());
    }
    assert_eq!(ev.next(unit), None, "a finished drain stays finished");
    out
}

/// The group and whether the plan is a replacement plan (it provisions).
fn shape(plan: &Plan) -> (String, &'static str) {
    let PlanKind::Evacuate { host, group } = &plan.kind else {
        panic!("not an evacuation plan: {}", plan.kind);
    };
    assert_eq!(host, "h1");
    let what = if plan.steps().any(|s| s.kind() == StepKind::Provision) {
        "replace"
    } else {
        "retire"
    };
    (group.as_str().to_owned(), what)
}

/// The kinds of a plan's phases (each phase must hold one kind of step).
fn phase_kinds(plan: &Plan) -> Vec<StepKind> {
    plan.phases
        .iter()
        .map(|p| {
            let k = p.steps[0].kind();
            assert!(
                p.steps.iter().all(|s| s.kind() == k),
                "mixed phase {}",
                p.title
            );
            k
        })
        .collect()
}

/// The servers the steps of `kind` in `plan` are about.
fn servers_of(plan: &Plan, kind: StepKind) -> BTreeSet<String> {
    plan.steps()
        .filter(|s| s.kind() == kind)
        .filter_map(Step::server)
        .map(|s| s.as_str().to_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// (template, generation, applied version, applied digest) of each server, sorted: what a
/// replacement must share with the server it replaces.
fn lineage<'a>(
    servers: impl Iterator<Item = &'a Server>,
) -> Vec<(String, u32, Option<u32>, String)> {
    let mut v: Vec<_> = servers
        .map(|s| {
            let Origin::Provisioned {
                template,
                generation,
            } = &s.origin
            else {
                panic!("{} is not provisioned", s.name);
            };
            (
                template.as_str().to_owned(),
                generation.0,
                s.applied.as_ref().map(|a| a.version.0),
                s.applied
                    .as_ref()
                    .map(|a| a.digest.as_str().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

fn on_host<'a>(unit: &'a Unit, host: &str) -> Vec<&'a str> {
    unit.servers()
        .filter(|(_, s)| s.host.as_deref() == Some(host))
        .map(|(_, s)| s.name.as_str())
        .collect()
}

fn group_servers<'a>(unit: &'a Unit, group: &str) -> Vec<&'a Server> {
    unit.group(&gn(group))
        .expect("group")
        .servers
        .iter()
        .collect()
}

fn names_in(unit: &Unit) -> BTreeSet<String> {
    unit.servers()
        .map(|(_, s)| s.name.as_str().to_owned())
        .collect()
}

/// Per group: (servers meant to run, servers working).
fn running(unit: &Unit) -> BTreeMap<String, (usize, usize)> {
    unit.groups
        .iter()
        .map(|g| {
            let run = g.servers.iter().filter(|s| s.logical.is_running()).count();
            let work = g
                .servers
                .iter()
                .filter(|s| s.logical == LogicalStatus::Working)
                .count();
            (g.name().as_str().to_owned(), (run, work))
        })
        .collect()
}

fn is_new(before: &Unit, name: &str) -> bool {
    before.server(&sn(name)).is_none()
}

// ---------------------------------------------------------------------------------------------
// 1. The whole drain, group by group

#[test]
fn a_drain_replaces_then_retires_each_group_in_start_order() {
    let mut unit = fixture(LogicalStatus::Working);
    let before = unit.clone();
    let mut ev = Evacuation::new(&unit, "h1");
    assert_eq!(ev.host, "h1");
    let victims = ev.remaining(&unit);
    assert_eq!(
        victims
            .iter()
            .map(|(g, s)| (g.name().as_str(), s.name.as_str()))
            .collect::<Vec<_>>(),
        [("db", "db-1"), ("db", "db-3"), ("web", "web-1")]
    );

    // 1: replacements for db's servers on h1, in the usual provision → apply → start → check.
    let first = ev.next(&unit).expect("a first plan");
    assert_eq!(
        first.kind,
        PlanKind::Evacuate {
            host: "h1".to_owned(),
            group: gn("db"),
        }
    );
    assert_eq!(
        phase_kinds(&first),
        [
            StepKind::Provision,
            StepKind::Apply,
            StepKind::Start,
            StepKind::HealthCheck
        ]
    );
    let new_db = servers_of(&first, StepKind::Provision);
    assert_eq!(new_db.len(), 2, "one replacement per db server on h1");
    assert!(new_db.iter().all(|n| is_new(&before, n)), "{new_db:?}");
    for kind in [StepKind::Apply, StepKind::Start, StepKind::HealthCheck] {
        assert_eq!(servers_of(&first, kind), new_db, "{kind} steps");
    }
    for step in first.steps() {
        match step {
            Step::Provision {
                group, host, epoch, ..
            } => {
                assert_eq!(group, &gn("db"));
                assert_eq!(host, &None, "placing is the manager's job");
                assert_eq!(*epoch, 0);
            }
            Step::Apply { scope, .. } => assert_eq!(*scope, UpdateScope::All),
            Step::HealthCheck { timeout_ms, .. } => assert_eq!(*timeout_ms, 45_000),
            Step::Start { .. } => {}
            other => panic!("unexpected step in a replacement plan: {other}"),
        }
    }
    // Same template generation and definition version as the servers they replace.
    let planned: Vec<_> = {
        let mut v: Vec<_> = first
            .steps()
            .filter_map(|s| match s {
                Step::Provision {
                    server,
                    template,
                    generation,
                    ..
                } => {
                    let (version, digest) = first
                        .steps()
                        .find_map(|a| match a {
                            Step::Apply {
                                server: n,
                                version,
                                digest,
                                ..
                            } if n == server => Some((version.0, digest.as_str().to_owned())),
                            _ => None,
                        })
                        .expect("an apply per replacement");
                    Some((
                        template.as_str().to_owned(),
                        generation.0,
                        Some(version),
                        digest,
                    ))
                }
                _ => None,
            })
            .collect();
        v.sort();
        v
    };
    let db_victims = ["db-1", "db-3"].map(|n| before.server(&sn(n)).expect("victim").1);
    assert_eq!(planned, lineage(db_victims.into_iter()));
    assert_ne!(
        planned[0], planned[1],
        "the fixture's db victims differ (generation and version)"
    );

    let mut plans = vec![execute(&mut unit, first, &never)];
    for s in &new_db {
        let (_, s) = unit.server(&sn(s)).expect("replacement exists");
        assert_eq!(s.logical, LogicalStatus::Working);
        assert_eq!(s.host.as_deref(), Some(NEW_HOST));
    }
    assert_eq!(
        on_host(&unit, "h1"),
        ["db-1", "db-3", "web-1"],
        "old ones still serve"
    );

    // 2: retire exactly db-1 and db-3: stop (with db's grace), then destroy.
    let second = ev.next(&unit).expect("a retire plan");
    assert_eq!(shape(&second), ("db".to_owned(), "retire"));
    assert_eq!(phase_kinds(&second), [StepKind::Stop, StepKind::Destroy]);
    assert_eq!(servers_of(&second, StepKind::Stop), set(&["db-1", "db-3"]));
    assert_eq!(
        servers_of(&second, StepKind::Destroy),
        set(&["db-1", "db-3"])
    );
    assert!(
        second
            .steps()
            .all(|s| !matches!(s, Step::Stop { grace_ms, .. } if *grace_ms != 20_000)),
        "replaced servers drain for the group's grace:\n{second}"
    );
    plans.push(execute(&mut unit, second, &never));
    assert_eq!(on_host(&unit, "h1"), ["web-1"]);

    // 3 and 4: then web.
    while let Some(plan) = ev.next(&unit) {
        assert!(plans.len() < MAX_PLANS, "endless drain");
        plans.push(execute(&mut unit, plan, &never));
    }
    let shapes: Vec<_> = plans.iter().map(shape).collect();
    assert_eq!(
        shapes,
        [
            ("db".to_owned(), "replace"),
            ("db".to_owned(), "retire"),
            ("web".to_owned(), "replace"),
            ("web".to_owned(), "retire"),
        ]
    );
    assert_eq!(servers_of(&plans[2], StepKind::Provision).len(), 1);
    assert_eq!(servers_of(&plans[3], StepKind::Stop), set(&["web-1"]));
    assert_eq!(servers_of(&plans[3], StepKind::Destroy), set(&["web-1"]));

    // The end: nothing on h1, every group at its size, all working.
    assert!(
        on_host(&unit, "h1").is_empty(),
        "{:?}",
        on_host(&unit, "h1")
    );
    assert!(ev.remaining(&unit).is_empty());
    for g in &before.groups {
        let after = unit.group(g.name()).expect("group");
        assert_eq!(after.servers.len(), g.servers.len(), "group {}", g.name());
        assert!(
            after
                .servers
                .iter()
                .all(|s| s.logical == LogicalStatus::Working),
            "group {}",
            g.name()
        );
    }
    // Servers not on h1 were never named by a step, and are exactly as they were.
    let victims = set(&["db-1", "db-3", "web-1"]);
    for plan in &plans {
        for name in plan.servers() {
            assert!(
                victims.contains(name.as_str()) || is_new(&before, name.as_str()),
                "{name} is not on h1 but a step touches it:\n{plan}"
            );
        }
    }
    for (_, s) in before.servers() {
        if !victims.contains(s.name.as_str()) {
            let (_, now) = unit.server(&s.name).expect("untouched server stays");
            assert_eq!(now, s, "{} changed", s.name);
        }
    }
    // The replacements run what the old servers ran, from the same template generations.
    let replacements: Vec<&Server> = unit
        .servers()
        .map(|(_, s)| s)
        .filter(|s| is_new(&before, s.name.as_str()))
        .collect();
    assert_eq!(replacements.len(), 3);
    assert!(
        replacements
            .iter()
            .all(|s| s.host.as_deref() == Some(NEW_HOST))
    );
    let old: Vec<&Server> = victims
        .iter()
        .map(|n| before.server(&sn(n)).expect("victim").1)
        .collect();
    assert_eq!(
        lineage(replacements.into_iter()),
        lineage(old.into_iter()),
        "template, generation, version and digest carried over"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Capacity

/// Between any two plans, no group has fewer running (nor fewer working) servers than before
/// the drain, whatever step of a replacement fails.
#[test]
fn a_drain_never_goes_below_the_groups_running_servers() {
    let before = fixture(LogicalStatus::Working);
    let original: BTreeSet<String> = names_in(&before);
    let fresh = move |s: &Step| s.server().is_some_and(|n| !original.contains(n.as_str()));
    let fresh_of = |kind: StepKind| {
        let fresh = fresh.clone();
        move |s: &Step| s.kind() == kind && fresh(s)
    };
    let cases: Vec<(&str, Failure)> = vec![
        ("no failure", Box::new(never)),
        (
            "every provision fails",
            Box::new(fresh_of(StepKind::Provision)),
        ),
        ("every apply fails", Box::new(fresh_of(StepKind::Apply))),
        ("every start fails", Box::new(fresh_of(StepKind::Start))),
        (
            "one db start fails",
            Box::new(|s: &Step| matches!(s, Step::Start { server } if server.as_str() == "db-4")),
        ),
    ];
    for (case, fail) in cases {
        let mut unit = before.clone();
        let start = running(&unit);
        assert_eq!(start["db"], (3, 3));
        assert_eq!(start["web"], (2, 2));
        let d = drain(&mut unit, "h1", &*fail);
        assert!(d.plans.len() >= 2, "{case}: the drain did something");
        for (i, snap) in d.snapshots.iter().enumerate() {
            let now = running(snap);
            for (g, (run, work)) in &start {
                let (r, w) = now[g];
                assert!(
                    r >= *run && w >= *work,
                    "{case}: after plan {i}, group {g} has {r} running / {w} working, \
                     fewer than {run} / {work}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Failed replacements

/// web's replacement does not start: the retire plan destroys it (and only it), web-1 keeps
/// serving on h1, and the drain ends there; db still moves.
#[test]
fn a_replacement_that_does_not_start_is_destroyed_and_its_old_server_stays() {
    let mut unit = fixture(LogicalStatus::Working);
    let before = unit.clone();
    let web_start = |s: &Step| {
        matches!(s, Step::Start { server } if server.as_str().starts_with("web-")
            && before.server(server).is_none())
    };
    let d = drain(&mut unit, "h1", &web_start);
    let shapes: Vec<_> = d.plans.iter().map(shape).collect();
    assert_eq!(
        shapes,
        [
            ("db".to_owned(), "replace"),
            ("db".to_owned(), "retire"),
            ("web".to_owned(), "replace"),
            ("web".to_owned(), "retire"),
        ],
        "web is tried once"
    );
    let replacement = servers_of(&d.plans[2], StepKind::Provision);
    assert_eq!(replacement.len(), 1);
    let retire = &d.plans[3];
    assert_eq!(servers_of(retire, StepKind::Destroy), replacement);
    assert!(
        servers_of(retire, StepKind::Stop).is_subset(&replacement),
        "web-1 is not stopped:\n{retire}"
    );
    assert!(
        retire
            .steps()
            .all(|s| !matches!(s, Step::Stop { grace_ms, .. } if *grace_ms != 0)),
        "a failed replacement served nothing: no grace\n{retire}"
    );
    assert_eq!(on_host(&unit, "h1"), ["web-1"]);
    let (_, web1) = unit.server(&sn("web-1")).expect("web-1 stays");
    assert_eq!(web1.logical, LogicalStatus::Working);
    assert_eq!(
        group_servers(&unit, "web")
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["web-1", "web-2"],
        "the failed replacement is gone"
    );
    assert_eq!(group_servers(&unit, "db").len(), 3);
}

/// One of db's two replacements does not start: one old db server is retired, the other stays
/// on h1, the failed replacement is destroyed, and db is not tried again.
#[test]
fn one_failed_replacement_keeps_one_old_server() {
    let mut unit = fixture(LogicalStatus::Working);
    let d = drain(
        &mut unit,
        "h1",
        &|s: &Step| matches!(s, Step::Start { server } if server.as_str() == "db-5"),
    );
    assert_eq!(
        servers_of(&d.plans[0], StepKind::Provision),
        set(&["db-4", "db-5"])
    );
    let retire = &d.plans[1];
    assert_eq!(shape(retire), ("db".to_owned(), "retire"));
    let destroyed = servers_of(retire, StepKind::Destroy);
    assert!(destroyed.contains("db-5"), "{retire}");
    assert_eq!(
        destroyed.len(),
        2,
        "one old server and the failed one:\n{retire}"
    );
    let provisions = d
        .plans
        .iter()
        .filter(|p| shape(p).0 == "db" && shape(p).1 == "replace")
        .count();
    assert_eq!(provisions, 1, "db is tried once");
    let left: Vec<_> = on_host(&unit, "h1");
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0] == "db-1" || left[0] == "db-3", "{left:?}");
    let db = group_servers(&unit, "db");
    assert_eq!(db.len(), 3);
    assert!(db.iter().all(|s| s.logical == LogicalStatus::Working));
    assert!(db.iter().all(|s| s.name.as_str() != "db-5"));
}

/// A replacement whose provision fails is destroyed too (it is left `failed` in the model).
#[test]
fn a_replacement_that_fails_to_provision_is_destroyed() {
    let mut unit = fixture(LogicalStatus::Working);
    let d = drain(
        &mut unit,
        "h1",
        &|s: &Step| matches!(s, Step::Provision { group, .. } if group.as_str() == "web"),
    );
    let web_retire = d.plans.last().expect("plans");
    assert_eq!(shape(web_retire), ("web".to_owned(), "retire"));
    let new = servers_of(&d.plans[2], StepKind::Provision);
    assert_eq!(servers_of(web_retire, StepKind::Destroy), new);
    assert_eq!(on_host(&unit, "h1"), ["web-1"]);
    assert_eq!(group_servers(&unit, "web").len(), 2);
}

/// The replacement starts but fails its health check (the fold makes it `unhealthy`, not
/// `failed`): it must be destroyed like one that did not start, and web-1 must stay.
#[test]
fn a_replacement_that_fails_its_health_check_is_destroyed_and_its_old_server_stays() {
    let mut unit = fixture(LogicalStatus::Working);
    let before = unit.clone();
    let web_check = |s: &Step| {
        matches!(s, Step::HealthCheck { server, .. } if server.as_str().starts_with("web-")
            && before.server(server).is_none())
    };
    let d = drain(&mut unit, "h1", &web_check);
    let replacement = servers_of(&d.plans[2], StepKind::Provision);
    let retire = d.plans.last().expect("plans");
    assert_eq!(shape(retire), ("web".to_owned(), "retire"));
    assert_eq!(
        servers_of(retire, StepKind::Destroy),
        replacement,
        "the unhealthy replacement goes, web-1 stays:\n{retire}"
    );
    assert!(
        !servers_of(retire, StepKind::Stop).contains("web-1"),
        "{retire}"
    );
    assert_eq!(on_host(&unit, "h1"), ["web-1"]);
    let web = group_servers(&unit, "web");
    assert_eq!(web.len(), 2);
    assert!(web.iter().all(|s| s.logical == LogicalStatus::Working));
}

// ---------------------------------------------------------------------------------------------
// 4. Stopped units

#[test]
fn stopped_servers_get_stopped_replacements() {
    let mut unit = fixture(LogicalStatus::Stopped);
    let before = unit.clone();
    let d = drain(&mut unit, "h1", &never);
    let shapes: Vec<_> = d.plans.iter().map(shape).collect();
    assert_eq!(
        shapes,
        [
            ("db".to_owned(), "replace"),
            ("db".to_owned(), "retire"),
            ("web".to_owned(), "replace"),
            ("web".to_owned(), "retire"),
        ]
    );
    assert_eq!(
        phase_kinds(&d.plans[0]),
        [StepKind::Provision, StepKind::Apply]
    );
    assert_eq!(phase_kinds(&d.plans[1]), [StepKind::Destroy]);
    for plan in &d.plans {
        assert!(
            plan.steps().all(|s| !matches!(
                s.kind(),
                StepKind::Start | StepKind::HealthCheck | StepKind::Stop
            )),
            "nothing starts or stops in a stopped unit:\n{plan}"
        );
    }
    assert!(on_host(&unit, "h1").is_empty());
    for g in &before.groups {
        let after = unit.group(g.name()).expect("group");
        assert_eq!(after.servers.len(), g.servers.len());
        assert!(
            after
                .servers
                .iter()
                .all(|s| s.logical == LogicalStatus::Stopped),
            "group {} stays stopped",
            g.name()
        );
    }
    let replacements: Vec<&Server> = unit
        .servers()
        .map(|(_, s)| s)
        .filter(|s| is_new(&before, s.name.as_str()))
        .collect();
    assert_eq!(replacements.len(), 3);
    assert!(replacements.iter().all(|s| s.applied.is_some()));
}

// ---------------------------------------------------------------------------------------------
// 5. Interrupted drains

/// A crash left web with 3 servers for a count of 2 (web-1 on h1 and its healthy replacement
/// web-3): a new drain retires web-1 first and provisions nothing.
#[test]
fn an_interrupted_drain_retires_the_leftover_first() {
    let mut unit = unit_of(vec![
        provisioned("db", 1, "dbsrv", 1, 0, 10_000),
        provisioned("web", 2, "websrv", 2, 30_000, 30_000),
    ]);
    let w = LogicalStatus::Working;
    add_server(&mut unit, "db", "db-1", Some("h2"), 1, Some(1), w);
    add_server(&mut unit, "web", "web-1", Some("h1"), 1, Some(1), w);
    add_server(&mut unit, "web", "web-2", Some("h2"), 1, Some(1), w);
    add_server(&mut unit, "web", "web-3", Some("h3"), 1, Some(1), w);
    let mut ev = Evacuation::new(&unit, "h1");
    let plan = ev.next(&unit).expect("a plan");
    assert_eq!(shape(&plan), ("web".to_owned(), "retire"));
    assert_eq!(phase_kinds(&plan), [StepKind::Stop, StepKind::Destroy]);
    assert_eq!(servers_of(&plan, StepKind::Stop), set(&["web-1"]));
    assert_eq!(servers_of(&plan, StepKind::Destroy), set(&["web-1"]));
    assert_eq!(plan.servers().len(), 1, "nothing else:\n{plan}");
    execute(&mut unit, plan, &never);
    assert_eq!(ev.next(&unit), None, "nothing left to move");
    assert_eq!(
        group_servers(&unit, "web")
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["web-2", "web-3"]
    );
}

/// A crash left web with 3 servers for a count of 2, but the leftover replacement web-3 is
/// `failed`: it serves nothing, so retiring web-1 would leave web with one working server.
/// web-1 must not be retired on web-3's account.
#[test]
fn an_interrupted_drain_does_not_retire_for_a_failed_leftover() {
    let mut unit = unit_of(vec![provisioned("web", 1, "websrv", 2, 30_000, 30_000)]);
    let w = LogicalStatus::Working;
    add_server(&mut unit, "web", "web-1", Some("h1"), 1, Some(1), w);
    add_server(&mut unit, "web", "web-2", Some("h2"), 1, Some(1), w);
    add_server(
        &mut unit,
        "web",
        "web-3",
        Some("h3"),
        1,
        Some(1),
        LogicalStatus::Failed,
    );
    let d = drain(&mut unit, "h1", &never);
    for (i, snap) in d.snapshots.iter().enumerate() {
        let (_, working) = running(snap)["web"];
        assert!(
            working >= 2,
            "after plan {i} web has {working} working server(s)"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Termination

/// web-1's destroy fails every time (its host is unreachable): the drain must still end,
/// leaving web-1 where it is, instead of planning the same retirement forever.
#[test]
fn a_drain_ends_when_an_old_server_cannot_be_destroyed() {
    let mut unit = fixture(LogicalStatus::Working);
    let d = drain(
        &mut unit,
        "h1",
        &|s: &Step| matches!(s, Step::Destroy { server } if server.as_str() == "web-1"),
    );
    assert!(d.plans.len() <= 5, "{} plans", d.plans.len());
    assert_eq!(on_host(&unit, "h1"), ["web-1"]);
}

// ---------------------------------------------------------------------------------------------
// 6. Nothing to do

#[test]
fn nothing_on_the_host_means_no_plan() {
    let mut unit = fixture(LogicalStatus::Working);
    let mut ev = Evacuation::new(&unit, "h9");
    assert!(ev.remaining(&unit).is_empty());
    assert_eq!(ev.next(&unit), None);
    assert_eq!(ev.next(&unit), None);

    // Registered servers are never moved, even when something says they are on the host;
    // servers whose host is unknown are not on it either.
    if let Some(reg) = unit.group_mut(&gn("reg")) {
        for s in &mut reg.servers {
            s.host = Some("h9".to_owned());
        }
    }
    add_server(
        &mut unit,
        "web",
        "web-3",
        None,
        3,
        Some(2),
        LogicalStatus::Working,
    );
    let mut ev = Evacuation::new(&unit, "h9");
    assert!(ev.remaining(&unit).is_empty());
    assert_eq!(ev.next(&unit), None);
}

#[test]
fn registered_groups_are_never_touched() {
    let mut unit = fixture(LogicalStatus::Working);
    if let Some(reg) = unit.group_mut(&gn("reg")) {
        for s in &mut reg.servers {
            s.host = Some("h1".to_owned());
        }
    }
    let before = unit.clone();
    let d = drain(&mut unit, "h1", &never);
    assert_eq!(d.plans.len(), 4);
    for plan in &d.plans {
        assert_ne!(shape(plan).0, "reg");
        assert!(!plan.servers().contains(&sn("reg-a")), "{plan}");
    }
    assert_eq!(
        unit.group(&gn("reg")),
        before.group(&gn("reg")),
        "the registered group is unchanged"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Names

/// Replacements get `<group>-<n>` names that no server of the unit has: not the group's own,
/// not a registered server's of another group, and not each other's.
#[test]
fn replacements_get_fresh_names() {
    let mut unit = unit_of(vec![
        registered("reg", 0, &[("web-3", "192.0.2.10"), ("db-5", "192.0.2.11")]),
        provisioned("db", 1, "dbsrv", 3, 0, 10_000),
        provisioned("web", 2, "websrv", 2, 0, 10_000),
    ]);
    let w = LogicalStatus::Working;
    add_server(&mut unit, "db", "db-1", Some("h1"), 1, Some(1), w);
    add_server(&mut unit, "db", "db-2", Some("h1"), 1, Some(1), w);
    add_server(&mut unit, "db", "db-3", Some("h1"), 1, Some(1), w);
    add_server(&mut unit, "web", "web-1", Some("h1"), 1, Some(1), w);
    add_server(&mut unit, "web", "web-2", Some("h2"), 1, Some(1), w);
    unit.validate().expect("valid");
    let before = unit.clone();
    let existing = names_in(&unit);
    let d = drain(&mut unit, "h1", &never);
    let new: Vec<String> = d
        .plans
        .iter()
        .flat_map(|p| p.steps())
        .filter(|s| s.kind() == StepKind::Provision)
        .filter_map(Step::server)
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(new, ["db-4", "db-6", "db-7", "web-4"]);
    let unique: BTreeSet<&String> = new.iter().collect();
    assert_eq!(unique.len(), new.len(), "{new:?}");
    assert!(new.iter().all(|n| !existing.contains(n)), "{new:?}");
    assert!(on_host(&unit, "h1").is_empty());
    assert_eq!(group_servers(&unit, "db").len(), 3);
    assert_eq!(group_servers(&unit, "web").len(), 2);
    assert_eq!(unit.group(&gn("reg")), before.group(&gn("reg")));
}

/// Names stay fresh across plans: a second drain (of the replacements' host) names past the
/// first drain's replacements, whose names the group's counter already passed.
#[test]
fn a_second_drain_names_past_the_first() {
    let mut unit = fixture(LogicalStatus::Working);
    drain(&mut unit, "h1", &never);
    let after_first = names_in(&unit);
    // Say everything on h2 (the first drain's replacements and db-2) is on h1 now.
    for g in &mut unit.groups {
        for s in &mut g.servers {
            if s.host.as_deref() == Some("h2") {
                s.host = Some("h1".to_owned());
            }
        }
    }
    let d = drain(&mut unit, "h1", &never);
    let new: BTreeSet<String> = d
        .plans
        .iter()
        .flat_map(|p| p.steps())
        .filter(|s| s.kind() == StepKind::Provision)
        .filter_map(Step::server)
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(new.len(), 4, "{new:?}");
    assert!(new.is_disjoint(&after_first), "{new:?} vs {after_first:?}");
    assert!(on_host(&unit, "h1").is_empty());
}
