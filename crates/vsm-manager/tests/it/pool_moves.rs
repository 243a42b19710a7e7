//! Moving servers between the hosts of the pool, through the public `Manager` API, on the
//! built-in fake host `local` plus fake hosts added through a `FakeHosts` factory: draining a
//! host (group by group in start order, never below a group's working servers; what cannot be
//! placed, fails to start or runs out of time stays, with its reason) and failing a lost host's
//! servers over (at once with `fencing: none`, after `confirm_host_down` with `fencing:
//! manual`), with the stale copies on a returning host destroyed and current ones kept.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use camino::Utf8PathBuf;
use vsm_core::{DefinitionVersion, HostState, OperationId, UnitName};
use vsm_hypervisor::fake::Fault;
use vsm_hypervisor::{Hypervisor, MachineInfo, Operation, PowerState};
use vsm_manager::store::{JournalEntry, SqliteStore, Store};
use vsm_manager::testing::FakeHosts;
use vsm_manager::*;

use crate::pool_support::{Pool, host, machine, machines_by_name, on_host, placement_of};

/// Two groups: `db` (start order 1, two servers) and `web` (start order 2, three servers).
const DB_WEB: &str = "format: 1
groups:
  - name: db
    template: tpl
    count: 2
    min: 1
    max: 4
    start_order: 1
  - name: web
    template: tpl
    count: 3
    min: 1
    max: 6
    start_order: 2
";

/// One `web` group of `count` servers (soft anti-affinity, spread: the defaults).
fn web_unit(count: u32) -> String {
    format!(
        "format: 1\ngroups:\n  - name: web\n    template: tpl\n    count: {count}\n    min: 1\n    max: 6\n    placement:\n      anti_affinity: soft\n"
    )
}

/// A [`Pool`] whose hosts are down once unreachable for a second (probed by hand: no monitor
/// runs), the configuration then changed by `tweak`; operations are waited for 30 s.
async fn new_pool(
    local_capacity: Option<(u32, u64)>,
    hosts: FakeHosts,
    tweak: impl FnOnce(&mut ManagerConfig),
) -> Pool {
    let mut pool = Pool::new(local_capacity, hosts, |config| {
        config.settings.monitor.host_down_after_secs = 1;
        tweak(config);
    })
    .await;
    pool.base.op_wait = Duration::from_secs(30);
    pool
}

/// What `pool_moves.rs` asks of a [`Pool`] beyond the shared harness.
impl Pool {
    async fn apply(&self, unit: &UnitName, version: DefinitionVersion) {
        let id = self
            .manager
            .apply(
                &self.bob,
                unit,
                ApplyRequest {
                    version: Some(version),
                    ..ApplyRequest::default()
                },
            )
            .await
            .expect("apply");
        self.succeeds(id).await;
    }

    /// Scales `group` of `unit` to `count`; answers the servers it added.
    async fn scale_out(&self, unit: &UnitName, group: &str, count: u32) -> Vec<String> {
        let before: BTreeSet<String> = self.placement(unit).await.into_keys().collect();
        let id = self
            .scale_group(unit, group, count, &[])
            .await
            .expect("scale out");
        self.succeeds(id).await;
        self.placement(unit)
            .await
            .into_keys()
            .filter(|s| !before.contains(s))
            .collect()
    }

    /// The machines the fake behind host `name` holds, looked at through a second instance
    /// (no faults, so an unreachable host can be looked into; no calls recorded on the
    /// manager's instance).
    async fn machines(&self, name: &str) -> BTreeMap<String, MachineInfo> {
        machines_by_name(&self.fake(name).reopen()).await
    }

    /// The directory of `unit`'s `server`'s machine on host `name`.
    fn machine_root(&self, name: &str, unit: &str, server: &str) -> Utf8PathBuf {
        let base = if name == "local" {
            self.root.join("machines")
        } else {
            self.root.join("hosts").join(name).join("machines")
        };
        base.join(machine(unit, server).as_str())
    }

    /// The step journal of operation `id`, in order (read from the store next to the
    /// running manager: the API does not show journals).
    fn journal(&self, id: OperationId) -> Vec<JournalEntry> {
        let store = SqliteStore::open(&self.root.join("state").join(DB_FILE)).expect("store");
        let mut j = store.journal(id).expect("journal");
        j.sort_by_key(|e| e.seq);
        j
    }

    /// Each running `vsm` machine's name with the hosts (of `hosts`) whose fake runs it.
    async fn running_copies(&self, hosts: &[&str]) -> BTreeMap<String, Vec<String>> {
        let mut copies: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in hosts {
            for (m, info) in self.machines(h).await {
                if info.state == PowerState::Running {
                    copies.entry(m).or_default().push((*h).to_owned());
                }
            }
        }
        copies
    }

    /// Asserts that no machine runs on two of `hosts`.
    async fn assert_single_copies(&self, hosts: &[&str], when: &str) {
        let copies = self.running_copies(hosts).await;
        let doubles: Vec<_> = copies.iter().filter(|(_, on)| on.len() > 1).collect();
        assert!(
            doubles.is_empty(),
            "{when}: servers running on two reachable hosts: {doubles:?}"
        );
    }
}

/// The group of each server of `detail`.
fn groups_of(detail: &UnitDetail) -> BTreeMap<String, String> {
    detail
        .groups
        .iter()
        .flat_map(|g| {
            g.servers
                .iter()
                .map(|s| (s.name.to_string(), g.name.to_string()))
        })
        .collect()
}

/// The host holding the most servers (the first by name among equals).
fn busiest(placed: &BTreeMap<String, String>) -> String {
    let mut per: BTreeMap<&str, usize> = BTreeMap::new();
    for h in placed.values() {
        *per.entry(h.as_str()).or_default() += 1;
    }
    let most = per.values().copied().max().expect("some server");
    per.into_iter()
        .find(|(_, n)| *n == most)
        .map(|(h, _)| h.to_owned())
        .expect("a busiest host")
}

/// The `vsm.epoch` label of a machine.
fn epoch(info: &MachineInfo) -> &str {
    info.labels
        .get("vsm.epoch")
        .map(String::as_str)
        .unwrap_or_else(|| panic!("machine {} has no vsm.epoch label", info.name))
}

// ------------------------------------------------------------------ drains

#[tokio::test]
async fn a_drain_moves_every_server_and_the_drained_host_takes_none_until_undrained() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", DB_WEB, &["db", "web"]).await;
    pool.start(&unit).await;
    let v2 = pool.import(&unit, &["db", "web"], "v2").await;
    assert_eq!(v2, DefinitionVersion(2));
    pool.apply(&unit, v2).await;

    let before_detail = pool.show(&unit).await;
    let before = placement_of(&before_detail);
    let group_before = groups_of(&before_detail);
    let drained = busiest(&before);
    let moving = on_host(&before, &drained);
    assert!(moving.len() >= 2, "{before:?}");
    let fake = pool.fake(&drained);
    let destroys_before = fake.call_count(Operation::Destroy);

    let report = pool.drain(&drained, 30).await;
    assert!(report.left.is_empty(), "{report:?}");
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.moved as usize, moving.len(), "{report:?}");
    assert_eq!(report.host.host.state, HostState::Maintenance, "{report:?}");
    assert_eq!(report.host.servers, 0, "{report:?}");
    assert!(report.host.placed.is_empty(), "{report:?}");
    assert_eq!(
        report.operations.len(),
        1,
        "one operation per unit: {report:?}"
    );
    let op = &report.operations[0];
    assert_eq!(op.kind, OperationKind::HostDrain);
    assert_eq!(op.unit.as_ref(), Some(&unit));
    assert_eq!(op.state, OperationState::Succeeded, "{report:?}");
    let rec = pool
        .manager
        .show_operation(&pool.admin, op.id)
        .await
        .expect("record");
    assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");
    assert_eq!(
        pool.host_info(&drained).await.host.state,
        HostState::Maintenance
    );

    // Nothing is left on the drained host: its old machines were stopped and destroyed there.
    assert!(
        pool.machines(&drained).await.is_empty(),
        "{:?}",
        pool.machines(&drained).await.keys()
    );
    assert_eq!(
        fake.call_count(Operation::Destroy) - destroys_before,
        moving.len() as u64
    );

    // Every group has its count, every server works, off the drained host, on version 2.
    let detail = pool.show(&unit).await;
    let after = placement_of(&detail);
    for g in &detail.groups {
        let want = if g.name.as_str() == "db" { 2 } else { 3 };
        assert_eq!(g.servers.len(), want, "group {}: {detail:?}", g.name);
        for s in &g.servers {
            assert_eq!(s.logical, LogicalStatus::Working, "{s:?}");
            assert_eq!(s.observed, ObservedStatus::Working, "{s:?}");
            assert_eq!(s.applied_version, Some(v2), "{s:?}");
            assert_ne!(s.host.as_deref(), Some(drained.as_str()), "{s:?}");
        }
    }
    // The moved servers are gone; the others stayed where they were; the replacements have
    // new names, from the same template generation, with version 2's files.
    for s in &moving {
        assert!(!after.contains_key(s), "{s} still in the unit: {after:?}");
    }
    for (s, h) in &before {
        if !moving.contains(s) {
            assert_eq!(after.get(s), Some(h), "{s} moved although not drained");
        }
    }
    let replacements: Vec<(&String, &String)> = after
        .iter()
        .filter(|(s, _)| !before.contains_key(*s))
        .collect();
    assert_eq!(replacements.len(), moving.len(), "{after:?}");
    let group_after = groups_of(&detail);
    let mut groups_before: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &moving {
        *groups_before.entry(group_before[s].as_str()).or_default() += 1;
    }
    let mut groups_after: BTreeMap<&str, usize> = BTreeMap::new();
    for (s, _) in &replacements {
        *groups_after.entry(group_after[*s].as_str()).or_default() += 1;
    }
    assert_eq!(
        groups_after, groups_before,
        "one replacement per moved server of its group"
    );
    for (s, h) in &replacements {
        let m = pool.machines(h).await;
        let info = m
            .get(machine("shop", s).as_str())
            .unwrap_or_else(|| panic!("no machine of {s} on {h}"));
        assert_eq!(info.state, PowerState::Running, "{info:?}");
        assert_eq!(info.generation, Some(1), "{info:?}");
        let file = pool.machine_root(h, "shop", s).join("www/index.html");
        assert_eq!(
            std::fs::read_to_string(&file).expect("applied file"),
            "v2",
            "{s}"
        );
    }
    // Exactly one machine per server in the whole pool.
    let mut all: Vec<String> = Vec::new();
    for h in ["local", "h1", "h2"] {
        all.extend(pool.machines(h).await.into_keys());
    }
    all.sort();
    let want: Vec<String> = after
        .keys()
        .map(|s| machine("shop", s).to_string())
        .collect();
    assert_eq!(all, want);

    // A host in maintenance takes no new server.
    let added = pool.scale_out(&unit, "web", 4).await;
    assert_eq!(added.len(), 1);
    let placed = pool.placement(&unit).await;
    assert_ne!(
        placed.get(&added[0]),
        Some(&drained),
        "a scale-out placed {} on the drained host",
        added[0]
    );

    // Undrained, it is up and, being the emptiest host, takes the next new server.
    let info = pool
        .manager
        .undrain_host(&pool.admin, &host(&drained))
        .await
        .expect("undrain");
    assert_eq!(info.host.state, HostState::Up);
    let added = pool.scale_out(&unit, "web", 5).await;
    assert_eq!(added.len(), 1);
    assert_eq!(
        pool.placement(&unit).await.get(&added[0]),
        Some(&drained),
        "the undrained (empty) host takes the new server"
    );
}

#[tokio::test]
async fn a_drain_goes_group_by_group_and_no_group_falls_below_its_working_servers() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", DB_WEB, &["db", "web"]).await;
    pool.start(&unit).await;
    let detail = pool.show(&unit).await;
    let before = placement_of(&detail);
    let group_of = groups_of(&detail);
    // A host holding servers of both groups.
    let drained = ["h1", "h2", "local"]
        .into_iter()
        .find(|h| {
            let on = on_host(&before, h);
            let gs: BTreeSet<&str> = on.iter().map(|s| group_of[s].as_str()).collect();
            gs.len() == 2
        })
        .unwrap_or_else(|| panic!("no host holds servers of both groups: {before:?}"))
        .to_owned();
    let moving = on_host(&before, &drained);
    let working: BTreeMap<String, usize> = detail
        .groups
        .iter()
        .map(|g| {
            let n = g
                .servers
                .iter()
                .filter(|s| s.logical == LogicalStatus::Working)
                .count();
            assert_eq!(n, g.servers.len(), "all of {} work: {detail:?}", g.name);
            (g.name.to_string(), n)
        })
        .collect();
    // Slow starts: the drain takes a while, and is watched meanwhile.
    for h in ["local", "h1", "h2"] {
        pool.fake(h)
            .set_latency(Operation::Start, Duration::from_millis(50));
    }

    let done = AtomicBool::new(false);
    let drain = async {
        let r = pool
            .manager
            .drain_host(
                &pool.admin,
                &host(&drained),
                DrainRequest {
                    timeout_secs: Some(30),
                },
            )
            .await;
        done.store(true, Ordering::SeqCst);
        r
    };
    let watch = async {
        let mut samples = 0;
        let mut low = Vec::new();
        while !done.load(Ordering::SeqCst) {
            let d = pool.show(&unit).await;
            for g in &d.groups {
                let serving = g
                    .servers
                    .iter()
                    .filter(|s| {
                        s.logical == LogicalStatus::Working
                            && !matches!(s.in_progress, Some(StepKind::Stop | StepKind::Destroy))
                    })
                    .count();
                if serving < working[g.name.as_str()] {
                    low.push(format!(
                        "group {} had {serving} working: {:?}",
                        g.name,
                        g.servers
                            .iter()
                            .map(|s| (s.name.to_string(), s.logical, s.in_progress))
                            .collect::<Vec<_>>()
                    ));
                }
            }
            samples += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (samples, low)
    };
    let (report, (samples, low)) = tokio::join!(drain, watch);
    let report = report.expect("drain");
    assert!(report.left.is_empty(), "{report:?}");
    assert_eq!(report.moved as usize, moving.len());
    assert!(samples >= 3, "the drain was watched only {samples} times");
    assert!(low.is_empty(), "{low:#?}");

    // The journal: db's replacements, then db's retirements, then web's.
    let op = report.operations[0].id;
    let journal = pool.journal(op);
    let after = pool.placement(&unit).await;
    let replacement: BTreeSet<String> = after
        .keys()
        .filter(|s| !before.contains_key(*s))
        .cloned()
        .collect();
    assert_eq!(replacement.len(), moving.len(), "{after:?}");
    let group_of_step = |e: &JournalEntry| e.group.as_ref().map(ToString::to_string);
    let steps: Vec<&JournalEntry> = journal.iter().filter(|e| e.server.is_some()).collect();
    let last_db = steps
        .iter()
        .rposition(|e| group_of_step(e).as_deref() == Some("db"))
        .expect("db steps");
    let first_web = steps
        .iter()
        .position(|e| group_of_step(e).as_deref() == Some("web"))
        .expect("web steps");
    assert!(
        last_db < first_web,
        "db's steps and web's interleave: {:#?}",
        steps
            .iter()
            .map(|e| (&e.action, &e.server, e.status))
            .collect::<Vec<_>>()
    );
    // Replaying the journal: a group gains a server when a replacement passes its health check
    // and loses one when an old server's stop begins; never below what it had.
    let mut serving = working.clone();
    let mut replaced_started: BTreeSet<String> = BTreeSet::new();
    for e in &steps {
        let s = e
            .server
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let g = group_of_step(e).unwrap_or_default();
        if replacement.contains(&s) {
            if e.action == "start" && e.status == StepStatus::Succeeded {
                replaced_started.insert(s.clone());
            }
            if e.action == "health-check" && e.status == StepStatus::Succeeded {
                *serving.get_mut(&g).expect("group") += 1;
            }
        } else if moving.contains(&s) {
            if e.action == "stop" && e.status == StepStatus::Started {
                let n = serving.get_mut(&g).expect("group");
                *n -= 1;
                assert!(
                    *n >= working[&g],
                    "stopping {s} left group {g} with {n} working servers"
                );
            }
            if e.action == "destroy" && e.status == StepStatus::Started {
                let started_in_group = replaced_started
                    .iter()
                    .filter(|r| r.starts_with(&format!("{g}-")))
                    .count();
                assert!(
                    started_in_group > 0,
                    "{s} destroyed before any replacement in group {g} started"
                );
            }
        } else {
            panic!("the drain touched {s}, which was not on {drained}: {e:?}");
        }
    }
    assert_eq!(replaced_started, replacement);
    for (g, n) in &serving {
        assert_eq!(*n, working[g], "group {g} ends with its count");
    }
}

#[tokio::test]
async fn a_drain_without_room_for_replacements_leaves_every_server_and_destroys_nothing() {
    // One server per host.
    let pool = new_pool(Some((1, 600)), FakeHosts::with_capacity(1, 600), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(3), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let drained = "h1";
    let staying = on_host(&before, drained);
    assert_eq!(staying.len(), 1, "{before:?}");
    let provisions: BTreeMap<&str, u64> = ["local", "h1", "h2"]
        .into_iter()
        .map(|h| (h, pool.fake(h).call_count(Operation::Provision)))
        .collect();

    let report = pool.drain(drained, 30).await;
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.moved, 0, "{report:?}");
    let left: BTreeSet<String> = report.left.iter().map(|l| l.server.to_string()).collect();
    assert_eq!(left, staying, "{report:?}");
    for l in &report.left {
        assert_eq!(l.unit, unit);
        assert_eq!(l.group.as_str(), "web");
        assert!(l.reason.contains("cannot be placed"), "{l:?}");
    }
    assert_eq!(report.host.host.state, HostState::Draining, "{report:?}");
    assert_eq!(
        pool.host_info(drained).await.host.state,
        HostState::Draining
    );

    // Nothing was provisioned, stopped or destroyed anywhere.
    for h in ["local", "h1", "h2"] {
        let fake = pool.fake(h);
        assert_eq!(fake.call_count(Operation::Provision), provisions[h], "{h}");
        assert_eq!(fake.call_count(Operation::Shutdown), 0, "{h}");
        assert_eq!(fake.call_count(Operation::Destroy), 0, "{h}");
    }
    assert_eq!(pool.placement(&unit).await, before);
    for s in &staying {
        let m = pool.machines(drained).await;
        let info = m.get(machine("shop", s).as_str()).expect("still there");
        assert_eq!(info.state, PowerState::Running);
    }
    let detail = pool.show(&unit).await;
    assert!(
        detail.groups[0]
            .servers
            .iter()
            .all(|s| s.logical == LogicalStatus::Working),
        "{detail:?}"
    );
}

#[tokio::test]
async fn a_replacement_that_fails_to_start_is_destroyed_and_its_old_server_stays() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(3), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let drained = "h1";
    let staying = on_host(&before, drained);
    assert_eq!(staying.len(), 1, "{before:?}");
    let old = staying.iter().next().expect("one").clone();
    // Wherever the replacement goes, its start fails.
    let others = ["local", "h2"];
    for h in others {
        pool.fake(h)
            .fail_next(Operation::Start, 1, Fault::Permanent);
    }
    let drained_fake = pool.fake(drained);

    let report = pool.drain(drained, 30).await;
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.moved, 0, "{report:?}");
    assert_eq!(report.left.len(), 1, "{report:?}");
    let l = &report.left[0];
    assert_eq!(l.server.as_str(), old, "{report:?}");
    assert_eq!(report.host.host.state, HostState::Draining, "{report:?}");

    // The failed replacement: a new server of web that the operation reports failed.
    let rec = pool
        .manager
        .show_operation(&pool.admin, report.operations[0].id)
        .await
        .expect("record");
    let failed: Vec<&ServerResult> = rec
        .servers
        .iter()
        .filter(|r| r.error.is_some() && !before.contains_key(r.server.as_str()))
        .collect();
    assert_eq!(failed.len(), 1, "{rec:?}");
    let replacement = failed[0].server.to_string();
    // (It reads "operation N ended: no server succeeded: web-4: start of machine … failed";
    // see `a_left_server_names_its_failed_replacement_when_another_replacement_succeeded`.)
    assert!(
        l.reason.contains(&replacement) && l.reason.contains("failed"),
        "the reason names the failed replacement {replacement}: {l:?}"
    );

    // The old server runs where it was; the replacement is gone from the unit and every host.
    assert_eq!(drained_fake.call_count(Operation::Shutdown), 0);
    assert_eq!(drained_fake.call_count(Operation::Destroy), 0);
    let m = pool.machines(drained).await;
    assert_eq!(
        m.get(machine("shop", &old).as_str()).map(|i| i.state),
        Some(PowerState::Running)
    );
    let detail = pool.show(&unit).await;
    assert_eq!(placement_of(&detail), before, "group count unchanged");
    assert!(
        detail.groups[0]
            .servers
            .iter()
            .all(|s| s.logical == LogicalStatus::Working),
        "{detail:?}"
    );
    for h in ["local", "h1", "h2"] {
        assert!(
            !pool
                .machines(h)
                .await
                .contains_key(machine("shop", &replacement).as_str()),
            "the failed replacement {replacement} still has a machine on {h}"
        );
    }

    // The host stays draining: a scale-out does not place there.
    for h in others {
        pool.fake(h).clear_faults();
    }
    let added = pool.scale_out(&unit, "web", 4).await;
    assert_eq!(added.len(), 1);
    assert_ne!(
        pool.placement(&unit)
            .await
            .get(&added[0])
            .map(String::as_str),
        Some(drained),
        "a scale-out placed {} on the draining host",
        added[0]
    );
}

#[tokio::test]
async fn a_drain_that_times_out_leaves_every_server_and_destroys_nothing() {
    // A hung driver call ends at the step time-out, so the cancelled drain ends soon after.
    let pool = new_pool(None, FakeHosts::new(), |c| {
        c.settings.engine.step_timeout_secs = 2;
    })
    .await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let drained = busiest(&before);
    let staying = on_host(&before, &drained);
    assert!(staying.len() >= 2, "{before:?}");
    let others: Vec<&str> = ["local", "h1", "h2"]
        .into_iter()
        .filter(|h| *h != drained)
        .collect();
    for h in &others {
        pool.fake(h).hang(Operation::Provision);
    }

    let began = Instant::now();
    let report = pool.drain(&drained, 1).await;
    let took = began.elapsed();
    for h in &others {
        pool.fake(h).release_hangs();
    }
    assert!(took < Duration::from_secs(5), "the drain took {took:?}");
    assert!(report.timed_out, "{report:?}");
    assert_eq!(report.moved, 0, "{report:?}");
    let left: BTreeSet<String> = report.left.iter().map(|l| l.server.to_string()).collect();
    assert_eq!(left, staying, "{report:?}");
    assert_eq!(report.host.host.state, HostState::Draining, "{report:?}");
    // Only the replacements the drain began are stopped and destroyed (they never came up);
    // the servers that stay are never touched.
    let staying_machines: BTreeSet<String> = staying.iter().map(|s| format!("shop--{s}")).collect();
    for h in ["local", "h1", "h2"] {
        let fake = pool.fake(h);
        for op in [Operation::Shutdown, Operation::Destroy] {
            for call in fake.calls_of(op) {
                let m = call.machine.map(|m| m.to_string()).unwrap_or_default();
                assert!(!staying_machines.contains(&m), "{h}: {op:?} of {m}");
            }
        }
    }
    let m = pool.machines(&drained).await;
    for s in &staying {
        assert_eq!(
            m.get(machine("shop", s).as_str()).map(|i| i.state),
            Some(PowerState::Running),
            "{s}"
        );
    }
    // Every server that was there still is, where it was.
    let now = pool.placement(&unit).await;
    for (s, h) in &before {
        assert_eq!(now.get(s), Some(h), "{s}: {now:?}");
    }
}

#[tokio::test]
async fn a_left_server_names_its_failed_replacement_when_another_replacement_succeeded() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let drained = busiest(&before);
    let on = on_host(&before, &drained);
    assert_eq!(on.len(), 2, "{before:?}");
    // The replacements are web-5 and web-6: web-5 fails to start wherever it goes.
    for h in ["local", "h1", "h2"] {
        pool.fake(h).fail_machine(
            &machine("shop", "web-5"),
            Some(Operation::Start),
            Fault::Permanent,
        );
    }

    let report = pool.drain(&drained, 30).await;
    let after = pool.placement(&unit).await;
    assert!(after.contains_key("web-6"), "{after:?}");
    assert!(!after.contains_key("web-5"), "{after:?}");
    assert_eq!(report.moved, 1, "{report:?}");
    assert_eq!(report.left.len(), 1, "{report:?}");
    let l = &report.left[0];
    assert!(
        l.reason.contains("web-5") && l.reason.contains("injected permanent fault"),
        "the reason should name the failed replacement web-5 and its error: {:?}",
        l.reason
    );
}

#[tokio::test]
async fn a_drain_time_out_bounds_the_drain_even_when_a_driver_call_hangs() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let drained = busiest(&before);
    let others: Vec<&str> = ["local", "h1", "h2"]
        .into_iter()
        .filter(|h| *h != drained)
        .collect();
    for h in &others {
        pool.fake(h).hang(Operation::Provision);
    }
    let began = Instant::now();
    let target = host(&drained);
    let drain = pool.manager.drain_host(
        &pool.admin,
        &target,
        DrainRequest {
            timeout_secs: Some(1),
        },
    );
    let report = tokio::time::timeout(Duration::from_secs(6), drain).await;
    let took = began.elapsed();
    for h in &others {
        pool.fake(h).release_hangs();
    }
    let report = report
        .unwrap_or_else(|_| panic!("a drain with timeout_secs 1 still ran after {took:?}"))
        .expect("drain");
    assert!(report.timed_out, "{report:?}");
    // A driver call that hangs cannot be taken back: the drain answers anyway, and says that
    // its operation is still ending.
    for op in report.operations.iter().filter(|o| !o.state.is_finished()) {
        assert!(
            report.left.iter().all(|l| l
                .reason
                .contains(&format!("operation {} is still ending", op.id))),
            "{report:?}"
        );
    }
    // Once the call returns, the operation ends and destroys the replacements it began.
    for op in &report.operations {
        let rec = pool
            .manager
            .wait(&pool.admin, op.id, Duration::from_secs(30))
            .await
            .expect("wait");
        assert!(rec.summary.state.is_finished(), "{rec:?}");
    }
    let after = pool.placement(&unit).await;
    assert_eq!(after.len(), 4, "the group is back at its count: {after:?}");
}

#[tokio::test]
async fn a_timed_out_drain_leaves_no_failed_replacements_behind() {
    let pool = new_pool(None, FakeHosts::new(), |c| {
        c.settings.engine.step_timeout_secs = 2;
    })
    .await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let drained = busiest(&before);
    let others: Vec<&str> = ["local", "h1", "h2"]
        .into_iter()
        .filter(|h| *h != drained)
        .collect();
    for h in &others {
        pool.fake(h).hang(Operation::Provision);
    }
    let report = pool.drain(&drained, 1).await;
    for h in &others {
        pool.fake(h).release_hangs();
    }
    assert!(report.timed_out, "{report:?}");
    let detail = pool.show(&unit).await;
    let extra: Vec<(String, LogicalStatus, Option<String>)> = detail.groups[0]
        .servers
        .iter()
        .filter(|s| !before.contains_key(s.name.as_str()))
        .map(|s| (s.name.to_string(), s.logical, s.host.clone()))
        .collect();
    assert!(
        extra.is_empty(),
        "the timed-out drain left replacements in group web (count 4): {extra:?}"
    );
    for h in &others {
        let info = pool.host_info(h).await;
        let placed: Vec<&str> = info.placed.iter().map(|p| p.server.as_str()).collect();
        assert_eq!(
            placed.len(),
            on_host(&before, h).len(),
            "{h} counts {placed:?}"
        );
    }
}

// ------------------------------------------------------------------ failover

/// Marks `lost` unreachable and probes until the manager has it down.
async fn lose(pool: &Pool, lost: &str) {
    pool.fake(lost).set_unreachable(true);
    let (down, _) = pool.manager.probe_hosts_once().await.expect("probe");
    assert!(down.is_empty(), "down at the first missed probe: {down:?}");
    assert_ne!(pool.host_info(lost).await.host.state, HostState::Down);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (down, _) = pool.manager.probe_hosts_once().await.expect("probe");
    assert_eq!(down, [host(lost)], "down after host_down_after_secs");
    let info = pool.host_info(lost).await;
    assert_eq!(info.host.state, HostState::Down, "{info:?}");
    assert!(info.host.last_error.is_some(), "{info:?}");
}

/// The failover operations of `unit`.
async fn failovers(pool: &Pool, unit: &UnitName) -> Vec<OperationSummary> {
    pool.manager
        .list_operations(&pool.admin, Some(unit))
        .await
        .expect("list operations")
        .into_iter()
        .filter(|o| o.kind == OperationKind::HostFailover)
        .collect()
}

/// Checks that the servers once on `lost` run elsewhere under the same names, with epoch 2,
/// and the others stayed, with epoch 1.
async fn assert_failed_over(
    pool: &Pool,
    unit: &UnitName,
    before: &BTreeMap<String, String>,
    lost: &str,
) {
    let detail = pool.show(unit).await;
    let now = placement_of(&detail);
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the same servers"
    );
    for s in detail.groups.iter().flat_map(|g| &g.servers) {
        assert_eq!(s.logical, LogicalStatus::Working, "{s:?}");
        assert_eq!(s.applied_version, Some(DefinitionVersion(1)), "{s:?}");
        // The unit view shows the epoch its machine carries.
        let expected = if before.get(s.name.as_str()).map(String::as_str) == Some(lost) {
            2
        } else {
            1
        };
        assert_eq!(s.epoch, expected, "{s:?}");
    }
    for (s, was) in before {
        let h = &now[s];
        let m = pool.machines(h).await;
        let info = m
            .get(machine("shop", s).as_str())
            .unwrap_or_else(|| panic!("no machine of {s} on {h}"));
        assert_eq!(info.state, PowerState::Running, "{s} on {h}");
        if was == lost {
            assert_ne!(h, lost, "{s} is still on the lost host");
            assert_eq!(epoch(info), "2", "{s} restarted on {h}");
            let file = pool.machine_root(h, "shop", s).join("www/index.html");
            assert_eq!(std::fs::read_to_string(&file).expect("applied"), "v1");
        } else {
            assert_eq!(h, was, "{s} moved although its host was fine");
            assert_eq!(epoch(info), "1", "{s}");
        }
    }
}

#[tokio::test]
async fn a_lost_host_without_fencing_fails_over_at_once_and_is_cleaned_when_it_returns() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], Some(Fencing::None)).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let lost = "h1";
    let lost_servers = on_host(&before, lost);
    assert!(!lost_servers.is_empty(), "{before:?}");
    pool.assert_single_copies(&["local", "h1", "h2"], "before")
        .await;

    lose(&pool, lost).await;
    let ops = failovers(&pool, &unit).await;
    assert_eq!(ops.len(), 1, "one failover for the unit: {ops:?}");
    assert!(ops[0].requested_by.is_none(), "{ops:?}");
    // While it runs, no server runs twice on the reachable hosts.
    let reachable = ["local", "h2"];
    loop {
        pool.assert_single_copies(&reachable, "during the failover")
            .await;
        let rec = pool
            .manager
            .show_operation(&pool.admin, ops[0].id)
            .await
            .expect("record");
        if rec.summary.state.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pool.succeeds(ops[0].id).await;
    assert_failed_over(&pool, &unit, &before, lost).await;
    pool.assert_single_copies(&reachable, "after the failover")
        .await;
    let info = pool.host_info(lost).await;
    assert_eq!(info.host.state, HostState::Down);
    assert_eq!(
        info.servers, 0,
        "nothing is placed on the lost host: {info:?}"
    );

    // The lost host still holds its old copies (it could not be told).
    let held = pool.machines(lost).await;
    for s in &lost_servers {
        let info = held
            .get(machine("shop", s).as_str())
            .unwrap_or_else(|| panic!("the lost host's copy of {s} is gone"));
        assert_eq!(epoch(info), "1");
        assert_eq!(info.state, PowerState::Running);
    }

    // It answers again: the stale copies are destroyed before it is up.
    pool.fake(lost).set_unreachable(false);
    let (down, returned) = pool.manager.probe_hosts_once().await.expect("probe");
    assert!(down.is_empty());
    assert_eq!(returned, [host(lost)]);
    let held = pool.machines(lost).await;
    assert!(held.is_empty(), "stale copies left: {:?}", held.keys());
    let info = pool.host_info(lost).await;
    assert_eq!(info.host.state, HostState::Up, "{info:?}");
    assert!(info.host.last_error.is_none(), "{info:?}");
    pool.assert_single_copies(&["local", "h1", "h2"], "after the return")
        .await;
    assert_failed_over(&pool, &unit, &before, lost).await;
}

#[tokio::test]
async fn a_lost_host_with_manual_fencing_fails_over_only_once_confirmed() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let lost = "h1";
    assert!(!on_host(&before, lost).is_empty(), "{before:?}");

    // Not down yet (unreachable, but not for long enough): confirming is refused.
    pool.fake(lost).set_unreachable(true);
    pool.manager.probe_hosts_once().await.expect("probe");
    let err = pool
        .manager
        .confirm_host_down(&pool.admin, &host(lost))
        .await
        .expect_err("not down yet");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (down, _) = pool.manager.probe_hosts_once().await.expect("probe");
    assert_eq!(down, [host(lost)]);

    // Down, unconfirmed: nothing moves.
    tokio::time::sleep(Duration::from_millis(200)).await;
    pool.manager.probe_hosts_once().await.expect("probe");
    assert!(failovers(&pool, &unit).await.is_empty());
    assert_eq!(pool.placement(&unit).await, before);
    let info = pool.host_info(lost).await;
    assert_eq!(info.host.state, HostState::Down);
    assert!(!info.host.down_confirmed);
    assert_eq!(info.servers as usize, on_host(&before, lost).len());

    // A host that is up cannot be confirmed down.
    let err = pool
        .manager
        .confirm_host_down(&pool.admin, &host("h2"))
        .await
        .expect_err("h2 is up");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(failovers(&pool, &unit).await.is_empty());

    let report = pool
        .manager
        .confirm_host_down(&pool.admin, &host(lost))
        .await
        .expect("confirm");
    assert!(report.host.host.down_confirmed, "{report:?}");
    assert_eq!(report.operations.len(), 1, "{report:?}");
    let ops = failovers(&pool, &unit).await;
    assert_eq!(
        ops.iter().map(|o| o.id).collect::<Vec<_>>(),
        report.operations
    );
    assert_eq!(ops[0].requested_by.as_ref(), Some(&pool.admin.account));
    pool.succeeds(report.operations[0]).await;
    assert_failed_over(&pool, &unit, &before, lost).await;

    // Back: the stale copies go.
    pool.fake(lost).set_unreachable(false);
    let (_, returned) = pool.manager.probe_hosts_once().await.expect("probe");
    assert_eq!(returned, [host(lost)]);
    assert!(pool.machines(lost).await.is_empty());
    let info = pool.host_info(lost).await;
    assert_eq!(info.host.state, HostState::Up);
    assert!(!info.host.down_confirmed, "{info:?}");
}

#[tokio::test]
async fn an_unconfirmed_down_host_that_returns_keeps_its_current_servers() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    pool.add("h2", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    let lost = "h1";
    let staying = on_host(&before, lost);
    assert!(!staying.is_empty(), "{before:?}");
    let fake = pool.fake(lost);

    lose(&pool, lost).await;
    fake.set_unreachable(false);
    let (down, returned) = pool.manager.probe_hosts_once().await.expect("probe");
    assert!(down.is_empty());
    assert_eq!(returned, [host(lost)]);

    let info = pool.host_info(lost).await;
    assert_eq!(info.host.state, HostState::Up, "{info:?}");
    assert_eq!(info.servers as usize, staying.len(), "{info:?}");
    assert!(failovers(&pool, &unit).await.is_empty());
    assert_eq!(fake.call_count(Operation::Destroy), 0);
    assert_eq!(pool.placement(&unit).await, before);
    let held = pool.machines(lost).await;
    for s in &staying {
        let m = held
            .get(machine("shop", s).as_str())
            .unwrap_or_else(|| panic!("{s}'s current copy was destroyed"));
        assert_eq!(m.state, PowerState::Running, "{s}");
        assert_eq!(epoch(m), "1", "{s}");
    }
    let detail = pool.show(&unit).await;
    for s in detail.groups.iter().flat_map(|g| &g.servers) {
        assert_eq!(s.logical, LogicalStatus::Working, "{s:?}");
    }
    // The servers there are served again: a stop reaches them.
    let id = pool
        .manager
        .stop_unit(&pool.bob, &unit, OpOptions::default())
        .await
        .expect("stop");
    pool.succeeds(id).await;
    for s in &staying {
        assert_eq!(
            fake.state(&machine("shop", s)).await.expect("state"),
            PowerState::Stopped,
            "{s}"
        );
    }
}

// ------------------------------------------------------------------ rebalance

#[tokio::test]
async fn a_rebalance_spreads_a_group_over_a_new_host_and_a_dry_run_changes_nothing() {
    let pool = new_pool(None, FakeHosts::new(), |_| {}).await;
    pool.add("h1", &[], None).await;
    let unit = pool.unit("shop", &web_unit(4), &["web"]).await;
    pool.start(&unit).await;
    let before = pool.placement(&unit).await;
    assert_eq!(on_host(&before, "local").len(), 2, "{before:?}");
    assert_eq!(on_host(&before, "h1").len(), 2, "{before:?}");
    // Nothing to do while the spread is even.
    let even = pool
        .manager
        .rebalance_hosts(&pool.admin, RebalanceRequest::default())
        .await
        .expect("rebalance");
    assert!(even.moves.is_empty(), "{even:?}");
    assert!(even.operations.is_empty(), "{even:?}");
    // A new, empty host: one server should move onto it (2-2-0 becomes 2-1-1).
    pool.add("h2", &[], None).await;
    let dry = pool
        .manager
        .rebalance_hosts(
            &pool.admin,
            RebalanceRequest {
                dry_run: true,
                timeout_secs: None,
            },
        )
        .await
        .expect("dry run");
    assert_eq!(dry.moves.len(), 1, "{dry:?}");
    assert_eq!(dry.moves[0].to.as_str(), "h2", "{dry:?}");
    assert!(dry.dry_run && dry.operations.is_empty(), "{dry:?}");
    assert_eq!(
        pool.placement(&unit).await,
        before,
        "a dry run changes nothing"
    );
    assert!(pool.machines("h2").await.is_empty());
    // Applied: the moved server's replacement is on h2, the group keeps its count, all work.
    let done = pool
        .manager
        .rebalance_hosts(&pool.admin, RebalanceRequest::default())
        .await
        .expect("rebalance");
    assert_eq!(done.moves, dry.moves);
    assert_eq!(done.operations.len(), 1, "{done:?}");
    assert_eq!(
        done.operations[0].state,
        OperationState::Succeeded,
        "{done:?}"
    );
    let after = pool.placement(&unit).await;
    assert_eq!(after.len(), 4, "{after:?}");
    let counts: Vec<usize> = ["local", "h1", "h2"]
        .iter()
        .map(|h| on_host(&after, h).len())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 4, "{after:?}");
    assert!(counts.iter().all(|c| (1..=2).contains(c)), "{after:?}");
    assert!(
        !after.contains_key(dry.moves[0].server.as_str()),
        "the moved server was replaced: {after:?}"
    );
    let detail = pool.show(&unit).await;
    assert!(
        detail
            .groups
            .iter()
            .flat_map(|g| g.servers.iter())
            .all(|s| s.logical == LogicalStatus::Working),
        "{detail:?}"
    );
    // And now the spread is even again.
    let again = pool
        .manager
        .rebalance_hosts(&pool.admin, RebalanceRequest::default())
        .await
        .expect("rebalance");
    assert!(again.moves.is_empty(), "{again:?}");
}

// ------------------------------------------------------------------ partition simulation

/// A small deterministic random source (the simulation must replay the same way).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// Waits until no operation runs.
async fn settle(pool: &Pool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = pool.manager.status().await.expect("status");
        if status.running_operations.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "operations still running: {:?}",
            status.running_operations
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Random partitions and reconnections of fake hosts (half of them `fencing: none`, half
/// `manual`, confirmed down at random): after every event no server runs on two reachable
/// hosts, and at the end, with every host back, every server runs exactly once, where the
/// manager places it, and none is lost.
#[tokio::test]
async fn a_thousand_random_partitions_never_run_a_server_twice_nor_lose_one() {
    const EVENTS: usize = 1000;
    // The built-in host takes no server (1 MiB): the pool is h1..h4.
    let pool = new_pool(Some((1, 1)), FakeHosts::new(), |c| {
        c.settings.monitor.host_down_after_ms = Some(1);
    })
    .await;
    let hosts = ["h1", "h2", "h3", "h4"];
    for (i, h) in hosts.iter().enumerate() {
        let fencing = if i % 2 == 0 {
            Fencing::None
        } else {
            Fencing::Manual
        };
        pool.add(h, &[], Some(fencing)).await;
    }
    let unit = pool.unit("shop", &web_unit(6), &["web"]).await;
    pool.start(&unit).await;
    let mut rng = Lcg(0x5eed);
    let mut cut: BTreeSet<&str> = BTreeSet::new();
    let (mut partitions, mut reconnections, mut confirmations) = (0, 0, 0);
    for event in 0..EVENTS {
        // Cut a reachable host (keeping two reachable), or heal a cut one.
        let heal = !cut.is_empty() && (cut.len() >= 2 || rng.below(2) == 0);
        if heal {
            let h = *cut.iter().nth(rng.below(cut.len())).expect("a cut host");
            cut.remove(h);
            pool.fake(h).set_unreachable(false);
            reconnections += 1;
        } else {
            let up: Vec<&str> = hosts.iter().copied().filter(|h| !cut.contains(h)).collect();
            let h = up[rng.below(up.len())];
            cut.insert(h);
            pool.fake(h).set_unreachable(true);
            partitions += 1;
        }
        // Two probes a little apart: a cut host goes down, a healed one comes back.
        let (mut down, _) = pool.manager.probe_hosts_once().await.expect("probe");
        tokio::time::sleep(Duration::from_millis(2)).await;
        down.extend(pool.manager.probe_hosts_once().await.expect("probe").0);
        // An administrator confirms some lost manual-fencing hosts (never one that answers).
        for h in &down {
            let info = pool.host_info(h.as_str()).await;
            if info.host.fencing == Fencing::Manual && rng.below(2) == 0 {
                pool.manager
                    .confirm_host_down(&pool.admin, h)
                    .await
                    .expect("confirm down");
                confirmations += 1;
            }
        }
        settle(&pool).await;
        let reachable: Vec<&str> = hosts.iter().copied().filter(|h| !cut.contains(h)).collect();
        let copies = pool.running_copies(&reachable).await;
        let doubles: Vec<_> = copies.iter().filter(|(_, on)| on.len() > 1).collect();
        assert!(
            doubles.is_empty(),
            "event {event}: servers running on two reachable hosts: {doubles:?}"
        );
    }
    let moves = pool
        .manager
        .list_operations(&pool.admin, None)
        .await
        .expect("operations")
        .iter()
        .filter(|o| o.kind == OperationKind::HostFailover)
        .count();
    // Every host back: every server once, where the manager says, none lost.
    for h in std::mem::take(&mut cut) {
        pool.fake(h).set_unreachable(false);
    }
    pool.manager.probe_hosts_once().await.expect("probe");
    settle(&pool).await;
    let copies = pool.running_copies(&hosts).await;
    let placed = pool.placement(&unit).await;
    assert_eq!(placed.len(), 6, "no server lost: {placed:?}");
    for (server, on) in &placed {
        let m = machine("shop", server).to_string();
        assert_eq!(
            copies.get(&m).map(Vec::as_slice),
            Some(std::slice::from_ref(on)),
            "{server} must run exactly once, on {on}: {copies:?}"
        );
    }
    assert_eq!(copies.len(), 6, "no other copy runs anywhere: {copies:?}");
    for h in hosts {
        assert_eq!(pool.host_info(h).await.host.state, HostState::Up, "{h}");
    }
    assert!(
        partitions > 300 && reconnections > 300,
        "{partitions} {reconnections}"
    );
    assert!(confirmations > 10 && moves > 100, "{confirmations} {moves}");
}
