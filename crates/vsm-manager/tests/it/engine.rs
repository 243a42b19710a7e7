//! The engine end to end on the fake driver: order, apply, partial failure and retry, busy,
//! cancellation, monitoring with recovery, scaling, authorization, marks, deletion.

use std::time::Duration;

use vsm_core::{GroupName, ServerName};
use vsm_hypervisor::fake::Fault;
use vsm_hypervisor::{Hypervisor, Operation, PowerState};
use vsm_manager::*;

use crate::support::*;

fn position(calls: &[vsm_hypervisor::fake::FakeCall], machine: &str) -> usize {
    calls
        .iter()
        .position(|c| c.machine.as_ref().is_some_and(|m| m.as_str() == machine))
        .unwrap_or_else(|| panic!("no call for {machine}: {calls:?}"))
}

#[tokio::test]
async fn start_follows_start_order_and_stop_reverses_it() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    let rec = env
        .finish(
            env.manager
                .start_unit(&env.bob, &unit, OpOptions::default())
                .await
                .expect("start"),
        )
        .await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    assert_eq!(rec.exit_code(), 0);

    let starts = env.fake.calls_of(Operation::Start);
    let last_db = ["db-1", "db-2"]
        .iter()
        .map(|s| position(&starts, env.machine(s).as_str()))
        .max();
    let first_web = ["web-1", "web-2"]
        .iter()
        .map(|s| position(&starts, env.machine(s).as_str()))
        .min();
    assert!(
        last_db < first_web,
        "db must be up before web starts: {starts:?}"
    );

    let detail = env.show(&unit).await;
    assert_eq!(servers_of(&detail, "db"), ["db-1", "db-2"]);
    assert_eq!(servers_of(&detail, "web"), ["web-1", "web-2"]);

    let rec = env
        .finish(
            env.manager
                .stop_unit(&env.bob, &unit, OpOptions::default())
                .await
                .expect("stop"),
        )
        .await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    let stops = env.fake.calls_of(Operation::Shutdown);
    let last_web = ["web-1", "web-2"]
        .iter()
        .map(|s| position(&stops, env.machine(s).as_str()))
        .max();
    let first_db = ["db-1", "db-2"]
        .iter()
        .map(|s| position(&stops, env.machine(s).as_str()))
        .min();
    assert!(last_web < first_db, "web must stop before db: {stops:?}");
    for s in ["db-1", "db-2", "web-1", "web-2"] {
        assert_eq!(
            env.fake.state(&env.machine(s)).await.expect("state"),
            PowerState::Stopped,
            "{s}"
        );
    }
}

#[tokio::test]
async fn apply_writes_every_server_and_reapply_changes_nothing() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    let rec = env
        .finish(
            env.manager
                .apply(&env.bob, &unit, ApplyRequest::default())
                .await
                .expect("apply"),
        )
        .await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    let file = env.machine_root("web-2").join("www/index.html");
    assert_eq!(std::fs::read_to_string(&file).expect("applied file"), "v1");
    let before = std::fs::metadata(&file)
        .expect("stat")
        .modified()
        .expect("mtime");

    std::thread::sleep(Duration::from_millis(20));
    let rec = env
        .finish(
            env.manager
                .apply(&env.bob, &unit, ApplyRequest::default())
                .await
                .expect("re-apply"),
        )
        .await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    let after = std::fs::metadata(&file)
        .expect("stat")
        .modified()
        .expect("mtime");
    assert_eq!(
        before, after,
        "re-applying the same version must not rewrite files"
    );

    // A new version reaches every server.
    let v2 = env.definitions("defs-v2", "v2");
    env.manager
        .import_definitions(&env.bob, &unit, &v2)
        .await
        .expect("import v2");
    let rec = env
        .finish(
            env.manager
                .apply(&env.bob, &unit, ApplyRequest::default())
                .await
                .expect("apply v2"),
        )
        .await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    for s in ["db-1", "db-2", "web-1", "web-2"] {
        let text =
            std::fs::read_to_string(env.machine_root(s).join("www/index.html")).expect("file");
        assert_eq!(text, "v2", "{s}");
    }
}

/// Regression (issue 12): an apply to servers that the driver gives no way in (no root
/// directory on this host, no ssh access, as a libvirt VM whose template declares none) used to
/// end `succeeded` having delivered nothing. It must fail, naming each server, its driver and
/// its template, and leave no server marked as holding the version.
#[tokio::test]
async fn an_apply_that_cannot_reach_its_servers_fails_and_names_what_is_missing() {
    let env = Env::without_machine_roots().await;
    let unit = env.unit(TWO_GROUPS).await;
    let rec = env
        .finish(
            env.manager
                .apply(&env.bob, &unit, ApplyRequest::default())
                .await
                .expect("apply"),
        )
        .await;
    assert_eq!(rec.summary.state, OperationState::Failed, "{rec:?}");
    assert!(rec.exit_code() >= 64, "exit code {}", rec.exit_code());
    let failed: Vec<&ServerResult> = rec.servers.iter().filter(|s| s.error.is_some()).collect();
    assert_eq!(
        failed.len(),
        4,
        "every server's apply fails: {:?}",
        rec.servers
    );
    for s in failed {
        let e = s.error.as_deref().unwrap_or_default();
        assert!(e.contains(&format!("server {}", s.server)), "{e}");
        assert!(e.contains("driver fake"), "{e}");
        assert!(e.contains("template `tpl`"), "{e}");
        assert!(e.contains("root directory") && e.contains("ssh"), "{e}");
    }
    let detail = env.show(&unit).await;
    for g in &detail.groups {
        for s in &g.servers {
            assert_eq!(
                s.applied_version, None,
                "{} must not claim a version: {s:?}",
                s.name
            );
        }
    }
}

#[tokio::test]
async fn partial_failure_is_reported_and_a_rerun_completes_the_rest() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    // Provision first, then make one web server refuse to start.
    env.finish(
        env.manager
            .apply(&env.bob, &unit, ApplyRequest::default())
            .await
            .expect("apply"),
    )
    .await;
    let bad = env.machine("web-2");
    env.fake
        .fail_machine(&bad, Some(Operation::Start), Fault::Permanent);
    let rec = env
        .finish(
            env.manager
                .start_unit(&env.bob, &unit, OpOptions::default())
                .await
                .expect("start"),
        )
        .await;
    assert_eq!(
        rec.summary.state,
        OperationState::PartlySucceeded,
        "{rec:?}"
    );
    assert_eq!(rec.exit_code(), 1);
    let failed: Vec<&ServerResult> = rec.servers.iter().filter(|s| s.error.is_some()).collect();
    assert_eq!(failed.len(), 1, "{:?}", rec.servers);
    assert_eq!(failed[0].server.as_str(), "web-2");

    env.fake.heal(&bad);
    let rec = env
        .finish(
            env.manager
                .start_unit(&env.bob, &unit, OpOptions::default())
                .await
                .expect("re-run"),
        )
        .await;
    assert!(
        matches!(rec.summary.state, OperationState::Succeeded),
        "the re-run must complete what was left: {rec:?}"
    );
    assert_eq!(
        env.fake.state(&bad).await.expect("state"),
        PowerState::Running
    );
    // Servers that were already running were not started again.
    assert_eq!(env.fake.start_count(&env.machine("web-1")), 1);
}

#[tokio::test]
async fn a_second_operation_is_refused_while_one_runs_and_cancel_stops_the_first() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    env.finish(
        env.manager
            .apply(&env.bob, &unit, ApplyRequest::default())
            .await
            .expect("apply"),
    )
    .await;
    env.fake.hang(Operation::Start);
    let first = env
        .manager
        .start_unit(&env.bob, &unit, OpOptions::default())
        .await
        .expect("start");
    // Wait until the hanging start calls are in flight.
    for _ in 0..200 {
        if !env.fake.calls_of(Operation::Start).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = env
        .manager
        .stop_unit(&env.bob, &unit, OpOptions::default())
        .await
        .expect_err("the unit is busy");
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert!(
        err.to_string().contains(&first.to_string()),
        "names the running operation: {err}"
    );

    env.manager
        .cancel_operation(&env.bob, first)
        .await
        .expect("cancel");
    env.fake.release_hangs();
    let rec = env.finish(first).await;
    assert_eq!(rec.summary.state, OperationState::Cancelled, "{rec:?}");
    let web_starts = env
        .fake
        .calls_of(Operation::Start)
        .into_iter()
        .filter(|c| {
            c.machine
                .as_ref()
                .is_some_and(|m| m.as_str().contains("web"))
        })
        .count();
    assert_eq!(web_starts, 0, "nothing new starts after a cancel");
    // The unit is free again.
    env.finish(
        env.manager
            .stop_unit(&env.bob, &unit, OpOptions::default())
            .await
            .expect("stop"),
    )
    .await;
}

#[tokio::test]
async fn the_monitor_marks_a_crashed_server_failed_and_recovers_it() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    env.finish(
        env.manager
            .start_unit(&env.bob, &unit, OpOptions::default())
            .await
            .expect("start"),
    )
    .await;
    let victim = env.machine("web-1");
    env.fake.crash(&victim).expect("crash");
    let failed = env.manager.monitor_once().await.expect("monitor");
    let web1: ServerName = name("web-1");
    assert_eq!(failed, vec![(unit.clone(), web1.clone())]);

    // `recover: restart` on web: the manager starts a recovery operation by itself.
    let mut recovered = None;
    for _ in 0..300 {
        let ops = env
            .manager
            .list_operations(&env.admin, Some(&unit))
            .await
            .expect("ops");
        if let Some(op) = ops.iter().find(|o| o.kind == OperationKind::Recover) {
            recovered = Some(op.id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let id = recovered.expect("an automatic recovery operation");
    let rec = env.finish(id).await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    assert_eq!(
        env.fake.state(&victim).await.expect("state"),
        PowerState::Running
    );
    assert!(
        env.manager
            .monitor_once()
            .await
            .expect("monitor")
            .is_empty()
    );
}

#[tokio::test]
async fn scale_out_and_in_by_policy_and_by_name_within_bounds() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    env.finish(
        env.manager
            .start_unit(&env.bob, &unit, OpOptions::default())
            .await
            .expect("start"),
    )
    .await;
    let web: GroupName = name("web");
    let scale = |count: u32, remove: Vec<ServerName>| ScaleRequest {
        group: web.clone(),
        count,
        remove,
        grace_secs: None,
        wait_secs: None,
    };
    let rec = env
        .finish(
            env.manager
                .scale(&env.bob, &unit, scale(4, vec![]))
                .await
                .expect("out"),
        )
        .await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    assert_eq!(
        servers_of(&env.show(&unit).await, "web"),
        ["web-1", "web-2", "web-3", "web-4"]
    );
    assert_eq!(
        env.fake.state(&env.machine("web-4")).await.expect("state"),
        PowerState::Running
    );

    // Default policy: newest first.
    env.finish(
        env.manager
            .scale(&env.bob, &unit, scale(2, vec![]))
            .await
            .expect("in"),
    )
    .await;
    assert_eq!(
        servers_of(&env.show(&unit).await, "web"),
        ["web-1", "web-2"]
    );
    assert!(
        env.fake.state(&env.machine("web-4")).await.is_err(),
        "a removed server is destroyed"
    );

    // Named victim.
    env.finish(
        env.manager
            .scale(&env.bob, &unit, scale(1, vec![name("web-1")]))
            .await
            .expect("named"),
    )
    .await;
    assert_eq!(servers_of(&env.show(&unit).await, "web"), ["web-2"]);

    // Outside [min, max] is refused and changes nothing.
    let err = env
        .manager
        .scale(&env.bob, &unit, scale(9, vec![]))
        .await
        .expect_err("above max");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    let err = env
        .manager
        .scale(&env.bob, &unit, scale(0, vec![]))
        .await
        .expect_err("below min");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert_eq!(servers_of(&env.show(&unit).await, "web"), ["web-2"]);
}

#[tokio::test]
async fn builders_cannot_touch_other_builders_units_and_admins_can() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    env.manager
        .add_account(
            &env.admin,
            AddAccount {
                name: name("carol"),
                role: vsm_core::Role::Builder,
                password: Password::new("carol-password-1"),
            },
        )
        .await
        .expect("carol");
    let carol = env
        .manager
        .authenticate(&name("carol"), &Password::new("carol-password-1"))
        .await
        .expect("login");
    let err = env
        .manager
        .show_unit(&carol, &unit)
        .await
        .expect_err("not carol's");
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    let err = env
        .manager
        .start_unit(&carol, &unit, OpOptions::default())
        .await
        .expect_err("not carol's");
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert!(
        env.fake.calls_of(Operation::Start).is_empty(),
        "a refusal changes nothing"
    );
    env.manager
        .show_unit(&env.admin, &unit)
        .await
        .expect("admins see every unit");
    // An account that owns units cannot be deleted.
    let err = env
        .manager
        .delete_account(&env.admin, &name("bob"))
        .await
        .expect_err("owns shop");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}

#[tokio::test]
async fn touching_a_marked_server_ends_with_a_warning() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    env.finish(
        env.manager
            .apply(&env.bob, &unit, ApplyRequest::default())
            .await
            .expect("apply"),
    )
    .await;
    env.manager
        .mark_server(
            &env.bob,
            &unit,
            &name("db-1"),
            MarkRequest {
                comment: "disk errors".into(),
            },
        )
        .await
        .expect("mark");
    let rec = env
        .finish(
            env.manager
                .start_unit(&env.bob, &unit, OpOptions::default())
                .await
                .expect("start"),
        )
        .await;
    assert_eq!(rec.exit_code(), 1, "a marked server was touched: {rec:?}");
    assert!(!rec.warnings.is_empty(), "{rec:?}");
}

#[tokio::test]
async fn delete_stops_and_destroys_every_server() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    env.finish(
        env.manager
            .start_unit(&env.bob, &unit, OpOptions::default())
            .await
            .expect("start"),
    )
    .await;
    assert_eq!(env.fake.machine_count(), 4);
    let id = env
        .manager
        .delete_unit(
            &env.bob,
            &unit,
            DeleteUnitRequest {
                force: true,
                wait_secs: None,
            },
        )
        .await
        .expect("delete");
    let rec = env.finish(id).await;
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    assert_eq!(env.fake.machine_count(), 0);
    let err = env
        .manager
        .show_unit(&env.bob, &unit)
        .await
        .expect_err("gone");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// A rolling roll-out whose servers fail their health checks is aborted and — by default —
/// reverted: the servers it touched go back to the version they ran, and the unit's current
/// version goes back with them (it used to stay on the failed version, so a later `rollback`
/// had nothing to do and `unit show` claimed a version no server ran).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_roll_out_is_reverted_and_the_unit_is_back_on_its_version() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    let start = env
        .manager
        .start_unit(&env.bob, &unit, OpOptions::default())
        .await
        .expect("start");
    assert_eq!(
        env.finish(start).await.summary.state,
        OperationState::Succeeded
    );
    let v2 = env.definitions("defs-v2", "v2");
    env.manager
        .import_definitions(&env.bob, &unit, &v2)
        .await
        .expect("import v2");
    // Version 2 is bad: the db servers' health checks fail once it is on them.
    for s in ["db-1", "db-2"] {
        env.fake
            .fail_machine(&env.machine(s), Some(Operation::State), Fault::Permanent);
    }
    let rec = env
        .finish(
            env.manager
                .apply(
                    &env.bob,
                    &unit,
                    ApplyRequest {
                        batch: Some(BatchSize::Count(2)),
                        ..ApplyRequest::default()
                    },
                )
                .await
                .expect("apply v2"),
        )
        .await;
    assert_ne!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    env.fake.clear_faults();
    let shown = env.show(&unit).await;
    let versions: Vec<(String, Option<u32>)> = shown
        .groups
        .iter()
        .flat_map(|g| {
            g.servers
                .iter()
                .map(|s| (s.name.to_string(), s.applied_version.map(|v| v.0)))
        })
        .collect();
    assert!(
        versions.iter().all(|(_, v)| *v == Some(1)),
        "every server back on v1: {versions:?}"
    );
    assert_eq!(
        shown.current_version.map(|v| v.0),
        Some(1),
        "the unit's current version follows its servers back: {shown:?}"
    );
    // And so it is stored: a restarted manager shows the same.
    let env = env.reopen(|_| {}).await;
    assert_eq!(
        env.show(&unit).await.current_version.map(|v| v.0),
        Some(1),
        "after a restart"
    );
}
