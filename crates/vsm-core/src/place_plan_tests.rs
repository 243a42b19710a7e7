//! Tests of `place_plan` and `placements_of`: plans built by the real planners, placed on small
//! pools, with every host, epoch and error checked.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::model::{
    GroupSpec, HealthPolicy, LatestGenerations, LogicalStatus, ProvisionedSpec, RecoverPolicy,
    RegisteredServer, RegisteredSpec, ScaleInPolicy, Server, ServerAddress, TemplateGenerationInfo,
    UnitSpec,
};
use crate::names::{AccountName, GroupName, UnitName};
use crate::placement::{AllocationRatios, AntiAffinity, FailureClass, PlacementRules, Refusal};
use crate::plan::{
    ScaleRequest, UpgradeRequest, plan_create, plan_recover, plan_scale, plan_upgrade,
};
use crate::time::Timestamp;

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

fn un(s: &str) -> UnitName {
    UnitName::new(s).expect("valid")
}

fn hn(s: &str) -> HostName {
    HostName::new(s).expect("valid")
}

/// The newest generation of every template the tests use.
fn latest(g: u32) -> LatestGenerations {
    [
        (tn("websrv"), TemplateGeneration(g)),
        (tn("vmsrv"), TemplateGeneration(g)),
    ]
    .into_iter()
    .collect()
}

/// An up host with `mem` MiB and 8 CPUs, RAM ratio 1.0 (so its allocatable memory is `mem`),
/// labelled with `driver` and the extra `labels`.
fn host(name: &str, mem: u64, driver: &str, labels: &[(&str, &str)]) -> Host {
    let mut h = Host::new(hn(name), Resources::new(8, mem));
    h.ratios = AllocationRatios::new(16.0, 1.0).expect("valid ratios");
    h.labels.insert(DRIVER_LABEL.to_owned(), driver.to_owned());
    for (k, v) in labels {
        h.labels.insert((*k).to_owned(), (*v).to_owned());
    }
    h
}

/// A provisioned group of `template`, `count` servers (max `max`), with `rules`.
fn provisioned(
    name: &str,
    template: &str,
    count: u32,
    max: u32,
    rules: PlacementRules,
) -> GroupSpec {
    GroupSpec {
        name: gn(name),
        start_order: 1,
        start_delay_ms: 0,
        health: HealthPolicy::default(),
        recover: RecoverPolicy::Recreate,
        kind: GroupKind::Provisioned(ProvisionedSpec {
            template: tn(template),
            count,
            min: 0,
            max,
            scale_in: ScaleInPolicy::Newest,
            grace_ms: 0,
            placement: rules,
        }),
    }
}

fn registered(name: &str, servers: &[(&str, &str)]) -> GroupSpec {
    GroupSpec {
        name: gn(name),
        start_order: 0,
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

fn unit_of(name: &str, groups: Vec<GroupSpec>) -> Unit {
    Unit::create(
        un(name),
        AccountName::new("alice").expect("valid"),
        UnitSpec {
            groups,
            tolerate_host_failures: 0,
        },
        Timestamp::EPOCH,
    )
    .expect("valid spec")
}

fn rules(anti: AntiAffinity, selector: &[(&str, &str)]) -> PlacementRules {
    PlacementRules {
        anti_affinity: anti,
        hosts: selector
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..PlacementRules::default()
    }
}

/// Adds an existing provisioned server to `group` of `unit`, as a finished provision left it.
fn add_server(
    unit: &mut Unit,
    group: &str,
    name: &str,
    template: &str,
    host: Option<&str>,
    epoch: u32,
) {
    let g = unit.group_mut(&gn(group)).expect("group");
    let seq = g.next_seq;
    let mut s = Server::new(
        sn(name),
        Origin::Provisioned {
            template: tn(template),
            generation: TemplateGeneration(1),
        },
        seq,
        Timestamp::EPOCH,
    );
    s.host = host.map(str::to_owned);
    s.epoch = epoch;
    s.logical = LogicalStatus::Stopped;
    g.servers.push(s);
    g.next_seq = seq + 1;
}

/// Template facts: `websrv` is a `local` template, `vmsrv` a `libvirt` one, both of `size`.
fn facts(size: Resources) -> impl Fn(&TemplateName, TemplateGeneration) -> Option<TemplateFacts> {
    move |t, _| {
        let driver = match t.as_str() {
            "websrv" => "local",
            "vmsrv" => "libvirt",
            _ => return None,
        };
        Some(TemplateFacts {
            hosts: None,
            driver: driver.to_owned(),
            size,
        })
    }
}

const SMALL: Resources = Resources {
    vcpus: 1,
    memory_mib: 512,
};

/// Every provision step's (server, host, epoch), in plan order.
fn provisions(plans: &[Plan]) -> Vec<(ServerName, Option<HostName>, u32)> {
    plans
        .iter()
        .flat_map(|p| p.steps())
        .filter_map(|s| match s {
            Step::Provision {
                server,
                host,
                epoch,
                ..
            } => Some((server.clone(), host.clone(), *epoch)),
            _ => None,
        })
        .collect()
}

fn assert_unplaced(plans: &[Plan]) {
    let p = provisions(plans);
    assert!(!p.is_empty(), "the plans provision something");
    for (server, host, epoch) in p {
        assert_eq!(host, None, "{server} must stay unplaced");
        assert_eq!(epoch, 0, "{server} must keep epoch 0");
    }
}

fn no_host(e: &PlacementError) -> &crate::placement::NoHostError {
    match e {
        PlacementError::NoHost(n) => n,
        other => panic!("expected a NoHost error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Hard anti-affinity: three servers, three hosts

#[test]
fn create_places_each_server_on_its_own_host_with_epoch_1() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            3,
            5,
            rules(AntiAffinity::Hard, &[]),
        )],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    assert_unplaced(&plans);
    let hosts = [
        host("h1", 4096, "local", &[]),
        host("h2", 4096, "local", &[]),
        host("h3", 4096, "local", &[]),
    ];

    let n = place_plan(&unit, &mut plans, &hosts, &[], &facts(SMALL)).expect("fits");

    assert_eq!(n, 3);
    let placed = provisions(&plans);
    assert_eq!(
        placed.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["web-1", "web-2", "web-3"]
    );
    let used: BTreeSet<&HostName> = placed
        .iter()
        .map(|(s, h, _)| h.as_ref().unwrap_or_else(|| panic!("{s} placed")))
        .collect();
    assert_eq!(used, [hn("h1"), hn("h2"), hn("h3")].iter().collect());
    for (s, _, epoch) in &placed {
        assert_eq!(*epoch, 1, "{s} is new: epoch 1");
    }
}

#[test]
fn nothing_to_provision_places_nothing() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            0,
            5,
            rules(AntiAffinity::Hard, &[]),
        )],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    let before = plans.clone();
    // No hosts at all: still fine, nothing needs one.
    let n = place_plan(&unit, &mut plans, &[], &[], &facts(SMALL)).expect("nothing to place");
    assert_eq!(n, 0);
    assert_eq!(plans, before);
}

// ---------------------------------------------------------------------------------------------
// 2. Hard anti-affinity: four servers, three hosts

#[test]
fn more_servers_than_hosts_under_hard_anti_affinity_never_fits_and_changes_nothing() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            4,
            6,
            rules(AntiAffinity::Hard, &[]),
        )],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    assert_eq!(provisions(&plans).len(), 4);
    let before = plans.clone();
    let hosts = [
        host("h1", 4096, "local", &[]),
        host("h2", 4096, "local", &[]),
        host("h3", 4096, "local", &[]),
    ];

    let err = place_plan(&unit, &mut plans, &hosts, &[], &facts(SMALL)).expect_err("4 > 3 hosts");

    assert_eq!(err.class(), FailureClass::NeverFits);
    let e = no_host(&err);
    assert_eq!(e.unit, un("shop"));
    assert_eq!(e.group, gn("web"));
    assert_eq!(e.server, sn("web-4"));
    let limit = e.limit.expect("the group's per-host limit is why");
    assert_eq!((limit.per_host, limit.hosts, limit.servers), (1, 3, 4));
    assert_eq!(plans, before);
    assert_unplaced(&plans);
}

#[test]
fn scale_out_beyond_the_hosts_never_fits_and_changes_nothing() {
    // Three servers already sit on the three hosts; a scale to 4 cannot fit.
    let mut unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            3,
            6,
            rules(AntiAffinity::Hard, &[]),
        )],
    );
    for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
        add_server(
            &mut unit,
            "web",
            &format!("web-{}", i + 1),
            "websrv",
            Some(h),
            1,
        );
    }
    let req = ScaleRequest {
        group: gn("web"),
        count: 4,
        remove: Vec::new(),
        grace_ms: None,
    };
    let mut plans = vec![plan_scale(&unit, &req, &latest(1)).expect("plan")];
    let before = plans.clone();
    let hosts = [
        host("h1", 4096, "local", &[]),
        host("h2", 4096, "local", &[]),
        host("h3", 4096, "local", &[]),
    ];
    let placements = placements_of([&unit], &|_, _| Some(SMALL));
    assert_eq!(placements.len(), 3);

    let err = place_plan(&unit, &mut plans, &hosts, &placements, &facts(SMALL))
        .expect_err("a 4th server has no host");

    assert_eq!(err.class(), FailureClass::NeverFits);
    assert_eq!(no_host(&err).server, sn("web-4"));
    assert_eq!(plans, before);
}

// ---------------------------------------------------------------------------------------------
// 3. Driver kinds

#[test]
fn a_libvirt_group_is_refused_by_local_hosts_and_goes_to_the_libvirt_host() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "vm",
            "vmsrv",
            3,
            5,
            rules(AntiAffinity::None, &[]),
        )],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    let before = plans.clone();
    let mut hosts = vec![
        host("h1", 8192, "local", &[]),
        host("h2", 8192, "local", &[]),
        host("h3", 8192, "local", &[]),
    ];

    let err =
        place_plan(&unit, &mut plans, &hosts, &[], &facts(SMALL)).expect_err("no libvirt host");
    assert_eq!(err.class(), FailureClass::NeverFits);
    let e = no_host(&err);
    assert_eq!(e.refusals.len(), 3);
    for r in &e.refusals {
        match &r.refusal {
            Refusal::Labels { selector } => {
                assert_eq!(
                    selector.get(DRIVER_LABEL).map(String::as_str),
                    Some("libvirt"),
                    "{r}"
                );
            }
            other => panic!("host {} refused for {other:?}, not its driver", r.host),
        }
    }
    assert_eq!(plans, before);

    // A small libvirt host (the local ones are emptier, so spread alone would pick them).
    hosts.push(host("kvm-1", 2048, "libvirt", &[]));
    let n = place_plan(&unit, &mut plans, &hosts, &[], &facts(SMALL)).expect("fits on kvm-1");
    assert_eq!(n, 3);
    for (s, h, epoch) in provisions(&plans) {
        assert_eq!(h, Some(hn("kvm-1")), "{s}");
        assert_eq!(epoch, 1, "{s}");
    }
}

#[test]
fn each_group_gets_the_driver_of_its_own_template() {
    let unit = unit_of(
        "shop",
        vec![
            provisioned("web", "websrv", 2, 5, rules(AntiAffinity::None, &[])),
            provisioned("vm", "vmsrv", 2, 5, rules(AntiAffinity::None, &[])),
        ],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    let hosts = [
        host("h1", 8192, "local", &[]),
        host("kvm-1", 8192, "libvirt", &[]),
    ];

    let n = place_plan(&unit, &mut plans, &hosts, &[], &facts(SMALL)).expect("fits");

    assert_eq!(n, 4);
    let got: BTreeMap<String, Option<HostName>> = provisions(&plans)
        .into_iter()
        .map(|(s, h, _)| (s.as_str().to_owned(), h))
        .collect();
    assert_eq!(got["web-1"], Some(hn("h1")));
    assert_eq!(got["web-2"], Some(hn("h1")));
    assert_eq!(got["vm-1"], Some(hn("kvm-1")));
    assert_eq!(got["vm-2"], Some(hn("kvm-1")));
}

// ---------------------------------------------------------------------------------------------
// 4. Label selectors

#[test]
fn a_label_selector_restricts_the_hosts() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            2,
            5,
            rules(AntiAffinity::Hard, &[("zone", "a")]),
        )],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    // The zone b host is by far the biggest: spread would take it first without the selector.
    let hosts = [
        host("h1", 2048, "local", &[("zone", "a")]),
        host("h2", 65536, "local", &[("zone", "b")]),
        host("h3", 2048, "local", &[("zone", "a")]),
    ];

    let n = place_plan(&unit, &mut plans, &hosts, &[], &facts(SMALL)).expect("fits in zone a");

    assert_eq!(n, 2);
    let used: BTreeSet<HostName> = provisions(&plans)
        .into_iter()
        .map(|(s, h, _)| h.unwrap_or_else(|| panic!("{s} placed")))
        .collect();
    assert_eq!(used, [hn("h1"), hn("h3")].into_iter().collect());
}

#[test]
fn a_label_selector_that_too_few_hosts_match_never_fits() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            2,
            5,
            rules(AntiAffinity::Hard, &[("zone", "a")]),
        )],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    let before = plans.clone();
    let hosts = [
        host("h1", 4096, "local", &[("zone", "a")]),
        host("h2", 4096, "local", &[("zone", "b")]),
        host("h3", 4096, "local", &[]),
    ];

    let err = place_plan(&unit, &mut plans, &hosts, &[], &facts(SMALL))
        .expect_err("one zone a host for two servers");

    assert_eq!(err.class(), FailureClass::NeverFits);
    let e = no_host(&err);
    assert_eq!(e.server, sn("web-2"));
    let by_host: BTreeMap<&str, &Refusal> = e
        .refusals
        .iter()
        .map(|r| (r.host.as_str(), &r.refusal))
        .collect();
    // The selector carries both the group's own pair and the driver.
    let want: BTreeMap<String, String> = [
        ("zone".to_owned(), "a".to_owned()),
        (DRIVER_LABEL.to_owned(), "local".to_owned()),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        by_host["h2"],
        &Refusal::Labels {
            selector: want.clone()
        }
    );
    assert_eq!(by_host["h3"], &Refusal::Labels { selector: want });
    assert!(
        matches!(by_host["h1"], Refusal::HardAntiAffinity { holds } if holds == &sn("web-1")),
        "{:?}",
        by_host["h1"]
    );
    assert_eq!(plans, before);
}

// ---------------------------------------------------------------------------------------------
// 5. Re-provisioning an existing server

/// A unit whose one `web` server `web-1` sits on `h1` at epoch 3 (hard anti-affinity).
fn recreatable_unit() -> Unit {
    let mut unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            1,
            3,
            rules(AntiAffinity::Hard, &[]),
        )],
    );
    add_server(&mut unit, "web", "web-1", "websrv", Some("h1"), 3);
    unit
}

const FULL: Resources = Resources {
    vcpus: 1,
    memory_mib: 1024,
};

#[test]
fn a_recreated_server_gets_the_next_epoch_and_its_old_place_is_not_counted() {
    let unit = recreatable_unit();
    let mut plans = vec![
        plan_recover(
            &unit,
            &sn("web-1"),
            Some(RecoverPolicy::Recreate),
            &latest(1),
        )
        .expect("plan"),
    ];
    assert_eq!(provisions(&plans).len(), 1);
    // h1 is the only host and exactly full with web-1's old machine (1024 of 1024 MiB), which
    // also holds the group's one server under hard anti-affinity.
    let hosts = [host("h1", 1024, "local", &[])];
    let placements = placements_of([&unit], &|_, _| Some(FULL));
    assert_eq!(placements.len(), 1);
    assert_eq!(placements[0].host, hn("h1"));

    let n = place_plan(&unit, &mut plans, &hosts, &placements, &facts(FULL))
        .expect("web-1's own old place does not count");

    assert_eq!(n, 1);
    assert_eq!(provisions(&plans), vec![(sn("web-1"), Some(hn("h1")), 4)]);
}

#[test]
fn the_same_server_name_in_another_unit_still_counts() {
    let unit = recreatable_unit();
    let mut other = unit_of(
        "other",
        vec![provisioned(
            "web",
            "websrv",
            1,
            3,
            rules(AntiAffinity::Hard, &[]),
        )],
    );
    add_server(&mut other, "web", "web-1", "websrv", Some("h2"), 1);
    let mut plans = vec![
        plan_recover(
            &unit,
            &sn("web-1"),
            Some(RecoverPolicy::Recreate),
            &latest(1),
        )
        .expect("plan"),
    ];
    let before = plans.clone();
    // Both hosts are full: h1 with shop's web-1 (which goes away), h2 with other's web-1
    // (which stays: only this unit's re-provisioned servers are left out).
    let hosts = [
        host("h1", 1024, "local", &[]),
        host("h2", 1024, "local", &[]),
    ];
    let placements = placements_of([&unit, &other], &|_, _| Some(FULL));
    assert_eq!(placements.len(), 2);

    let n = place_plan(&unit, &mut plans, &hosts, &placements, &facts(FULL)).expect("fits on h1");
    assert_eq!(n, 1);
    assert_eq!(provisions(&plans), vec![(sn("web-1"), Some(hn("h1")), 4)]);

    // Without h1, other's web-1 keeps h2 full.
    let mut plans = before.clone();
    let err = place_plan(&unit, &mut plans, &hosts[1..], &placements, &facts(FULL))
        .expect_err("h2 is full with another unit's web-1");
    assert_eq!(err.class(), FailureClass::FullNow);
    assert_eq!(plans, before);
}

#[test]
fn an_in_place_upgrade_moves_servers_with_the_next_epoch() {
    // Two servers at epochs 2 and 7, each filling its host; an upgrade re-provisions both.
    let mut unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            2,
            3,
            rules(AntiAffinity::Hard, &[]),
        )],
    );
    add_server(&mut unit, "web", "web-1", "websrv", Some("h1"), 2);
    add_server(&mut unit, "web", "web-2", "websrv", Some("h2"), 7);
    let mut plans =
        vec![plan_upgrade(&unit, &UpgradeRequest::default(), &latest(2)).expect("plan")];
    assert_eq!(provisions(&plans).len(), 2);
    let hosts = [
        host("h1", 1024, "local", &[]),
        host("h2", 1024, "local", &[]),
    ];
    let placements = placements_of([&unit], &|_, _| Some(FULL));

    let n = place_plan(&unit, &mut plans, &hosts, &placements, &facts(FULL)).expect("fits");

    assert_eq!(n, 2);
    let got = provisions(&plans);
    let epochs: BTreeMap<&str, u32> = got.iter().map(|(s, _, e)| (s.as_str(), *e)).collect();
    assert_eq!(epochs, [("web-1", 3), ("web-2", 8)].into_iter().collect());
    let used: BTreeSet<HostName> = got.into_iter().filter_map(|(_, h, _)| h).collect();
    assert_eq!(used, [hn("h1"), hn("h2")].into_iter().collect());
}

#[test]
fn a_surge_upgrade_counts_the_old_servers_and_gives_new_ones_epoch_1() {
    // web-1 fills h1; the surge server must go next to it, on h2, with a fresh epoch.
    let mut unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            1,
            3,
            rules(AntiAffinity::Hard, &[]),
        )],
    );
    add_server(&mut unit, "web", "web-1", "websrv", Some("h1"), 5);
    let req = UpgradeRequest {
        surge: Some(1),
        ..UpgradeRequest::default()
    };
    let mut plans = vec![plan_upgrade(&unit, &req, &latest(2)).expect("plan")];
    let hosts = [
        host("h1", 1024, "local", &[]),
        host("h2", 1024, "local", &[]),
    ];
    let placements = placements_of([&unit], &|_, _| Some(FULL));

    let n = place_plan(&unit, &mut plans, &hosts, &placements, &facts(FULL)).expect("fits");

    assert_eq!(n, 1);
    assert_eq!(provisions(&plans), vec![(sn("web-2"), Some(hn("h2")), 1)]);
}

// ---------------------------------------------------------------------------------------------
// 6. Full now

#[test]
fn hosts_full_of_other_units_servers_are_full_now() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            1,
            3,
            rules(AntiAffinity::Soft, &[]),
        )],
    );
    let mut other = unit_of(
        "other",
        vec![provisioned(
            "app",
            "websrv",
            2,
            3,
            rules(AntiAffinity::None, &[]),
        )],
    );
    add_server(&mut other, "app", "app-1", "websrv", Some("h1"), 1);
    add_server(&mut other, "app", "app-2", "websrv", Some("h2"), 1);
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    let before = plans.clone();
    // 1024 MiB each, 768 of them taken: a 512 MiB server fits an empty host, not these.
    let hosts = [
        host("h1", 1024, "local", &[]),
        host("h2", 1024, "local", &[]),
    ];
    let placements = placements_of([&unit, &other], &|_, _| Some(Resources::new(1, 768)));
    assert_eq!(placements.len(), 2);

    let err = place_plan(&unit, &mut plans, &hosts, &placements, &facts(SMALL))
        .expect_err("the pool is full");

    assert_eq!(err.class(), FailureClass::FullNow);
    let e = no_host(&err);
    assert_eq!(e.server, sn("web-1"));
    assert_eq!(e.refusals.len(), 2);
    for r in &e.refusals {
        assert!(
            matches!(
                r.refusal,
                Refusal::Memory {
                    free_mib: 256,
                    needed_mib: 512,
                    ..
                }
            ),
            "{r}"
        );
    }
    assert_eq!(plans, before);
    assert_unplaced(&plans);
}

// ---------------------------------------------------------------------------------------------
// 7. Unknown template

#[test]
fn an_unknown_template_is_refused_and_changes_nothing() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            2,
            3,
            rules(AntiAffinity::None, &[]),
        )],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    let before = plans.clone();
    let hosts = [host("h1", 8192, "local", &[])];

    let err = place_plan(&unit, &mut plans, &hosts, &[], &|_, _| None).expect_err("no template");

    assert_eq!(
        err,
        PlacementError::UnknownTemplate {
            unit: un("shop"),
            server: sn("web-1"),
            template: tn("websrv"),
        }
    );
    assert_eq!(err.class(), FailureClass::NeverFits);
    assert_eq!(plans, before);
}

#[test]
fn the_template_closure_is_asked_for_the_planned_generation() {
    // Only generation 2 of websrv exists: a plan for generation 1 is refused, for 2 placed.
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "web",
            "websrv",
            1,
            3,
            rules(AntiAffinity::None, &[]),
        )],
    );
    let only_gen2 = |t: &TemplateName, g: TemplateGeneration| {
        (t.as_str() == "websrv" && g == TemplateGeneration(2)).then(|| TemplateFacts {
            hosts: None,
            driver: "local".to_owned(),
            size: SMALL,
        })
    };
    let hosts = [host("h1", 8192, "local", &[])];

    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    let err = place_plan(&unit, &mut plans, &hosts, &[], &only_gen2).expect_err("gen 1 unknown");
    assert!(
        matches!(err, PlacementError::UnknownTemplate { .. }),
        "{err:?}"
    );

    let mut plans = vec![plan_create(&unit, &latest(2)).expect("plan")];
    let n = place_plan(&unit, &mut plans, &hosts, &[], &only_gen2).expect("gen 2 known");
    assert_eq!(n, 1);
    assert_eq!(provisions(&plans), vec![(sn("web-1"), Some(hn("h1")), 1)]);
}

// ---------------------------------------------------------------------------------------------
// 8. placements_of

#[test]
fn placements_of_counts_placed_provisioned_servers_only() {
    let mut unit = unit_of(
        "shop",
        vec![
            provisioned("web", "websrv", 4, 5, rules(AntiAffinity::None, &[])),
            registered("db", &[("db1", "192.0.2.10")]),
        ],
    );
    // A registered machine that even names a pool host takes nothing of the pool.
    unit.server_mut(&sn("db1")).expect("db1").host = Some("h1".to_owned());
    add_server(&mut unit, "web", "web-1", "websrv", Some("h1"), 1);
    add_server(&mut unit, "web", "web-2", "websrv", None, 0);
    add_server(&mut unit, "web", "web-3", "vmsrv", Some("h2"), 2);
    // A legacy record whose host is no pool host name.
    add_server(&mut unit, "web", "web-4", "websrv", Some("Legacy Host"), 0);
    let mut other = unit_of(
        "other",
        vec![provisioned(
            "app",
            "websrv",
            1,
            1,
            rules(AntiAffinity::None, &[]),
        )],
    );
    add_server(&mut other, "app", "app-1", "websrv", Some("h3"), 1);

    let asked = std::cell::RefCell::new(Vec::new());
    let size_of = |t: &TemplateName, g: TemplateGeneration| {
        asked.borrow_mut().push((t.clone(), g));
        (t.as_str() == "websrv").then_some(Resources::new(2, 2048))
    };
    let got = placements_of([&unit, &other], &size_of);

    let want = vec![
        Placement {
            unit: un("shop"),
            group: gn("web"),
            server: sn("web-1"),
            host: hn("h1"),
            size: Resources::new(2, 2048),
        },
        Placement {
            unit: un("shop"),
            group: gn("web"),
            server: sn("web-3"),
            host: hn("h2"),
            size: TemplateGenerationInfo::DEFAULT_SIZE,
        },
        Placement {
            unit: un("other"),
            group: gn("app"),
            server: sn("app-1"),
            host: hn("h3"),
            size: Resources::new(2, 2048),
        },
    ];
    assert_eq!(got, want);
    assert_eq!(
        TemplateGenerationInfo::DEFAULT_SIZE,
        Resources::new(1, 256),
        "the documented default size"
    );
    // Only placed servers' sizes were asked for, with their own template and generation.
    let asked = asked.into_inner();
    assert!(
        asked.contains(&(tn("vmsrv"), TemplateGeneration(1))),
        "{asked:?}"
    );
    assert!(
        asked.iter().all(|(_, g)| *g == TemplateGeneration(1)),
        "{asked:?}"
    );
}

#[test]
fn placements_of_no_units_is_empty() {
    let got = placements_of(std::iter::empty::<&Unit>(), &|_, _| {
        panic!("no server to size")
    });
    assert!(got.is_empty());
}

#[test]
fn a_batched_upgrade_frees_a_host_only_when_its_old_server_is_destroyed() {
    // One server at a time: while web-1 is re-provisioned, web-2's old machine still runs on
    // h2 (which has room for one more by memory, but hard anti-affinity forbids a second web
    // server there), so web-1 must go back to h1, and web-2 back to h2.
    let mut group = provisioned("web", "websrv", 2, 3, rules(AntiAffinity::Hard, &[]));
    if let GroupKind::Provisioned(p) = &mut group.kind {
        p.placement.policy = crate::placement::Policy::Pack;
    }
    let mut unit = unit_of("shop", vec![group]);
    add_server(&mut unit, "web", "web-1", "websrv", Some("h1"), 1);
    add_server(&mut unit, "web", "web-2", "websrv", Some("h2"), 1);
    let request = UpgradeRequest {
        batch: Some(crate::plan::Batch::Count(1)),
        ..UpgradeRequest::default()
    };
    let mut plans = vec![plan_upgrade(&unit, &request, &latest(2)).expect("plan")];
    let hosts = [
        host("h1", 1024, "local", &[]),
        host("h2", 2048, "local", &[]),
    ];
    let placements = placements_of([&unit], &|_, _| Some(FULL));

    place_plan(&unit, &mut plans, &hosts, &placements, &facts(FULL)).expect("fits");

    let got: BTreeMap<String, Option<HostName>> = provisions(&plans)
        .into_iter()
        .map(|(s, h, _)| (s.to_string(), h))
        .collect();
    assert_eq!(got["web-1"], Some(hn("h1")));
    assert_eq!(got["web-2"], Some(hn("h2")));
}

#[test]
fn only_hosts_that_have_the_template_take_its_servers() {
    let unit = unit_of(
        "shop",
        vec![provisioned(
            "vm",
            "vmsrv",
            2,
            5,
            rules(AntiAffinity::None, &[]),
        )],
    );
    let mut plans = vec![plan_create(&unit, &latest(1)).expect("plan")];
    let before = plans.clone();
    // kvm-1 is the emptiest, but only kvm-2 has the template domain.
    let hosts = vec![
        host("kvm-1", 65_536, "libvirt", &[]),
        host("kvm-2", 4096, "libvirt", &[]),
    ];
    let holders = |set: &[&str]| {
        let set: BTreeSet<HostName> = set.iter().map(|h| hn(h)).collect();
        move |t: &TemplateName, _| {
            (t.as_str() == "vmsrv").then(|| TemplateFacts {
                driver: "libvirt".to_owned(),
                size: SMALL,
                hosts: Some(set.clone()),
            })
        }
    };
    place_plan(&unit, &mut plans, &hosts, &[], &holders(&["kvm-2"])).expect("fits on kvm-2");
    for (s, h, _) in provisions(&plans) {
        assert_eq!(h, Some(hn("kvm-2")), "{s}");
    }
    // No host has it: never fits, and the refusal names the template's label.
    let mut plans = before.clone();
    let err = place_plan(&unit, &mut plans, &hosts, &[], &holders(&[])).expect_err("nowhere");
    assert_eq!(err.class(), FailureClass::NeverFits);
    assert!(err.to_string().contains("vsm.has.vmsrv@1"), "{err}");
    assert_eq!(plans, before);
}
