//! The host pool over REAL libvirt drivers (feature `libvirt`): every host is a
//! `LibvirtDriver` on its own libvirt test-driver host file, `test:///ABS/PATH/hostN.xml`, all
//! in this process and without a daemon. Each `Connect::open` of such a URI is a host of its
//! own, loaded from the file (`<node><cpu>` and `<memory>` give its capacity, its pool holds
//! the template's qcow2 base volume), and the driver keeps that one connection for every call,
//! so the factory here connects each host once and hands the same driver out again.
//!
//! The test driver reports no free memory and enforces no limits: what a host has left is
//! what the manager computes, the node's capacity minus what it placed there. A lost host is
//! simulated by a decorator that cuts the manager off from a driver (every call fails as a
//! transient error) while the test driver's domains keep "running", and the test looks into
//! the host through another instance on the same connection.
//!
//! Scenarios: three hosts (spread, capacity and usage from the node and domain XML, hard
//! anti-affinity refused whole, a full pool refused); five hosts (a drain, a failure confirmed
//! down and failed over with the stale domain destroyed when the host returns). No
//! definitions are imported: test domains have no guest to deliver them to.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_core::{HostState, UnitName};
use vsm_hypervisor::libvirt::{LibvirtConfig, LibvirtDriver};
use vsm_hypervisor::{
    GuestAccess, HostCapacity, Hypervisor, HypervisorError, HypervisorKind, LoadFigures,
    MachineInfo, MachineName, Operation, PowerState, ProvisionSpec, ShutdownOutcome, TemplateInfo,
    TemplateSource,
};
use vsm_manager::host::HostConnection;
use vsm_manager::*;

use crate::pool_support::{Harness, host, machine, machines_by_name, on_host, placement_of};
use crate::support::{init_state, name};

/// The template domain in every host file.
const TEMPLATE: &str = "vsm-tmpl";

/// What one machine of the template takes (its domain XML: `<vcpu>2</vcpu>`, 512 MiB).
const SIZE: vsm_core::Usage = vsm_core::Usage {
    vcpus: 2,
    memory_mib: 512,
};

/// The built-in libvirt host (`libvirt`), which the manager needs to register libvirt
/// templates: too small for one machine of the template, so placement never uses it.
const CATALOG: (u32, u64) = (1, 256);

/// Three hosts of distinct sizes; memory binds (3, 4 and 5 machines), not CPUs.
const THREE: [(u32, u64); 3] = [(8, 1536), (12, 2048), (16, 2560)];

/// Five hosts of distinct sizes (2 to 6 machines each).
const FIVE: [(u32, u64); 5] = [(4, 1024), (6, 1536), (8, 2048), (10, 2560), (12, 3072)];

/// A libvirt test-driver host file: a `<node>` of `cpus` CPUs (one NUMA node, one socket,
/// `cpus` cores of one thread) and `memory_mib` MiB (`<memory>` is in KiB), the network
/// `vsm-net` on `192.168.NET.0/24`, the directory pool `vsm-pool` holding the qcow2 base
/// volume `base.qcow2`, and the template domain [`TEMPLATE`] (2 vCPUs, 512 MiB, its disk the
/// base volume, an interface on `vsm-net`), shut off (`test:runstate` 5) and with the same
/// UUID on every host.
///
/// The test driver gives a running domain the address `192.168.NET.(2 + its id)`, so the first
/// domain started on every host would get the same one if the hosts shared a subnet: each host
/// has its own, as hosts with their own NAT networks must for vsm (a unit's servers need
/// distinct addresses).
fn node_xml(cpus: u32, memory_mib: u64, net: u8) -> String {
    format!(
        "<node>
  <cpu>
    <nodes>1</nodes>
    <sockets>1</sockets>
    <cores>{cpus}</cores>
    <threads>1</threads>
    <mhz>2400</mhz>
    <model>vsm-test</model>
  </cpu>
  <memory>{kib}</memory>
  <network>
    <name>vsm-net</name>
    <uuid>6c1f6f4e-0000-4000-8000-00000000000a</uuid>
    <bridge name='vsmbr0'/>
    <ip address='192.168.{net}.1' netmask='255.255.255.0'>
      <dhcp><range start='192.168.{net}.2' end='192.168.{net}.254'/></dhcp>
    </ip>
  </network>
  <pool type='dir'>
    <name>vsm-pool</name>
    <uuid>6c1f6f4e-0000-4000-8000-00000000000b</uuid>
    <capacity unit='GiB'>100</capacity>
    <allocation unit='GiB'>1</allocation>
    <available unit='GiB'>99</available>
    <target><path>/vsm-pool</path></target>
    <volume type='file'>
      <name>base.qcow2</name>
      <key>/vsm-pool/base.qcow2</key>
      <capacity unit='MiB'>10</capacity>
      <allocation unit='MiB'>10</allocation>
      <target><path>/vsm-pool/base.qcow2</path><format type='qcow2'/></target>
    </volume>
  </pool>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>{TEMPLATE}</name>
    <uuid>6c1f6f4e-0000-4000-8000-00000000000c</uuid>
    <memory unit='MiB'>{mem}</memory>
    <vcpu>{vcpus}</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source file='/vsm-pool/base.qcow2'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <interface type='network'>
        <mac address='52:54:00:aa:bb:cc'/>
        <source network='vsm-net'/>
      </interface>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
</node>
",
        kib = memory_mib * 1024,
        mem = SIZE.memory_mib,
        vcpus = SIZE.vcpus,
    )
}

/// Writes `file` under `dir` as a host of `cpus` and `memory_mib` on subnet `net`; answers its
/// URI.
fn write_host(dir: &Utf8Path, file: &str, (cpus, memory_mib): (u32, u64), net: u8) -> String {
    let path = dir.join(file);
    std::fs::write(&path, node_xml(cpus, memory_mib, net)).expect("write the host file");
    format!("test://{path}")
}

async fn open_driver(uri: &str) -> Result<LibvirtDriver, HypervisorError> {
    let mut config = LibvirtConfig::new(uri);
    config.poll_interval = Duration::from_millis(20);
    LibvirtDriver::open(config).await
}

// ------------------------------------------------------------------ a host that can be cut

/// A libvirt driver the test can cut the manager off from: while cut, every call fails with a
/// transient error and changes nothing (as a lost host or a partition looks), and the test
/// driver's domains stay as they were.
#[derive(Debug)]
struct CutHost {
    inner: LibvirtDriver,
    cut: AtomicBool,
}

impl CutHost {
    fn set_cut(&self, on: bool) {
        self.cut.store(on, Ordering::SeqCst);
    }

    fn reach(&self, op: Operation, machine: Option<&MachineName>) -> vsm_hypervisor::Result<()> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(HypervisorError::transient(
                op,
                machine,
                format!("{} is cut off (test)", self.inner.config().uri),
            ));
        }
        Ok(())
    }

    /// The host's machines, seen through another driver instance on the same connection
    /// (never cut), by name.
    async fn inside(&self) -> BTreeMap<String, MachineInfo> {
        machines_by_name(&self.inner.reopen()).await
    }
}

#[async_trait::async_trait]
impl Hypervisor for CutHost {
    fn kind(&self) -> HypervisorKind {
        self.inner.kind()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn inspect_template(
        &self,
        source: &TemplateSource,
    ) -> vsm_hypervisor::Result<TemplateInfo> {
        self.reach(Operation::InspectTemplate, None)?;
        self.inner.inspect_template(source).await
    }

    async fn provision(&self, spec: &ProvisionSpec) -> vsm_hypervisor::Result<MachineInfo> {
        self.reach(Operation::Provision, Some(&spec.machine))?;
        self.inner.provision(spec).await
    }

    async fn start(&self, machine: &MachineName) -> vsm_hypervisor::Result<()> {
        self.reach(Operation::Start, Some(machine))?;
        self.inner.start(machine).await
    }

    async fn shutdown(
        &self,
        machine: &MachineName,
        timeout: Duration,
    ) -> vsm_hypervisor::Result<ShutdownOutcome> {
        self.reach(Operation::Shutdown, Some(machine))?;
        self.inner.shutdown(machine, timeout).await
    }

    async fn destroy(&self, machine: &MachineName) -> vsm_hypervisor::Result<()> {
        self.reach(Operation::Destroy, Some(machine))?;
        self.inner.destroy(machine).await
    }

    async fn state(&self, machine: &MachineName) -> vsm_hypervisor::Result<PowerState> {
        self.reach(Operation::State, Some(machine))?;
        self.inner.state(machine).await
    }

    async fn info(&self, machine: &MachineName) -> vsm_hypervisor::Result<MachineInfo> {
        self.reach(Operation::Info, Some(machine))?;
        self.inner.info(machine).await
    }

    async fn list(&self) -> vsm_hypervisor::Result<Vec<MachineInfo>> {
        self.reach(Operation::List, None)?;
        self.inner.list().await
    }

    async fn address(&self, machine: &MachineName) -> vsm_hypervisor::Result<Option<IpAddr>> {
        self.reach(Operation::Address, Some(machine))?;
        self.inner.address(machine).await
    }

    async fn logs(
        &self,
        machine: &MachineName,
        tail_lines: usize,
    ) -> vsm_hypervisor::Result<Vec<String>> {
        self.reach(Operation::Logs, Some(machine))?;
        self.inner.logs(machine, tail_lines).await
    }

    async fn capacity(&self) -> vsm_hypervisor::Result<HostCapacity> {
        self.reach(Operation::Capacity, None)?;
        self.inner.capacity().await
    }

    async fn load(&self, machine: &MachineName) -> vsm_hypervisor::Result<LoadFigures> {
        self.reach(Operation::Load, Some(machine))?;
        self.inner.load(machine).await
    }

    fn local_root(&self, machine: &MachineName) -> Option<Utf8PathBuf> {
        self.inner.local_root(machine)
    }

    fn ssh_target(&self, machine: &MachineName) -> Option<vsm_hypervisor::ssh::SshTarget> {
        self.inner.ssh_target(machine)
    }

    fn boots_guests(&self) -> bool {
        self.inner.boots_guests()
    }

    async fn guest_access(
        &self,
        machine: &MachineName,
    ) -> vsm_hypervisor::Result<Option<GuestAccess>> {
        self.reach(Operation::Address, Some(machine))?;
        self.inner.guest_access(machine).await
    }
}

/// Connects `--driver libvirt --uri test:///…` hosts to real libvirt drivers, each once: a
/// test-driver host lives only as long as its connection, so a host connected again gets
/// the same driver (as a manager reconnecting to a real host finds its domains).
#[derive(Default)]
struct LibvirtHosts {
    hosts: Mutex<BTreeMap<String, Arc<CutHost>>>,
}

impl LibvirtHosts {
    fn host(&self, name: &str) -> Arc<CutHost> {
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("host {name} was never connected"))
    }
}

#[async_trait::async_trait]
impl DriverFactory for LibvirtHosts {
    async fn connect(&self, host: &HostConnection) -> Result<Arc<dyn Hypervisor>, String> {
        if host.driver != DriverKind::Libvirt {
            return Err(format!("these hosts are libvirt, not {}", host.driver));
        }
        let uri = host.uri.as_deref().ok_or("a libvirt host needs its URI")?;
        let name = host.name.to_string();
        if let Some(h) = self
            .hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
        {
            return Ok(h.clone());
        }
        let inner = open_driver(uri).await.map_err(|e| e.to_string())?;
        let h = Arc::new(CutHost {
            inner,
            cut: AtomicBool::new(false),
        });
        self.hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, h.clone());
        Ok(h)
    }
}

// ------------------------------------------------------------------ the lab

/// A [`Harness`] whose built-in libvirt host (`libvirt`, too small for a machine) holds the
/// template catalog, and whose added hosts `kvm-1`… are libvirt test-driver host files of the
/// sizes given, added with ratios 1 (allocatable = the node's figures) and `fencing: manual`.
struct Lab {
    base: Harness,
    catalog: Arc<LibvirtDriver>,
    hosts: Arc<LibvirtHosts>,
    /// Each added host's name, URI and (CPUs, MiB).
    nodes: Vec<(String, String, (u32, u64))>,
}

impl Deref for Lab {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.base
    }
}

/// One `web` group of `count` servers (at most `max`) with anti-affinity `affinity`.
fn web_unit(count: u32, max: u32, affinity: &str) -> String {
    format!(
        "format: 1\ngroups:\n  - name: web\n    template: tpl\n    count: {count}\n    min: 1\n    max: {max}\n    placement:\n      anti_affinity: {affinity}\n"
    )
}

impl Lab {
    async fn new(sizes: &[(u32, u64)]) -> Lab {
        let (dir, root) = init_state();
        let catalog_uri = write_host(&root, "catalog.xml", CATALOG, 150);
        let catalog = Arc::new(open_driver(&catalog_uri).await.expect("open the catalog"));
        let nodes: Vec<(String, String, (u32, u64))> = sizes
            .iter()
            .enumerate()
            .map(|(i, size)| {
                let n = i + 1;
                (
                    format!("kvm-{n}"),
                    write_host(&root, &format!("host{n}.xml"), *size, Self::net(n)),
                    *size,
                )
            })
            .collect();
        let hosts = Arc::new(LibvirtHosts::default());
        let factory: Arc<dyn DriverFactory> = hosts.clone();
        let builtin: Arc<dyn Hypervisor> = catalog.clone();
        let drivers = DriverSet::new()
            .with(DriverKind::Libvirt, builtin)
            .with_factory(factory);
        let base = Harness::open(dir, drivers, |config| {
            // A host unreachable this long is down (probed by hand: no monitor runs).
            config.settings.monitor.host_down_after_ms = Some(200);
        })
        .await;
        let tpl = base.register_template(DriverKind::Libvirt, TEMPLATE).await;
        assert_eq!(
            tpl.generations[0].size,
            vsm_core::Resources {
                vcpus: 2,
                memory_mib: 512
            },
            "the size from the template's domain XML: {tpl:?}"
        );
        for (n, uri, _) in &nodes {
            base.add_host(AddHost {
                name: host(n),
                driver: DriverKind::Libvirt,
                uri: Some(uri.clone()),
                dir: None,
                labels: BTreeMap::new(),
                cpu_ratio: Some(1.0),
                ram_ratio: Some(1.0),
                reserved_memory_mb: None,
                fencing: Some(Fencing::Manual),
            })
            .await;
        }
        Lab {
            base,
            catalog,
            hosts,
            nodes,
        }
    }

    /// The subnet of host `kvm-N`: `192.168.(150 + N).0/24`.
    fn net(n: usize) -> u8 {
        150 + u8::try_from(n).expect("a few hosts")
    }

    fn names(&self) -> Vec<&str> {
        self.nodes.iter().map(|(n, _, _)| n.as_str()).collect()
    }

    fn uri(&self, h: &str) -> &str {
        self.nodes
            .iter()
            .find(|(n, _, _)| n == h)
            .map(|(_, u, _)| u.as_str())
            .unwrap_or_else(|| panic!("no host {h}"))
    }

    /// The machines libvirt holds on host `h` (looked into without the cut).
    async fn domains(&self, h: &str) -> BTreeMap<String, MachineInfo> {
        self.hosts.host(h).inside().await
    }

    /// Every machine of the pool with the hosts holding it (the catalog included).
    async fn copies(&self) -> BTreeMap<String, Vec<String>> {
        let mut copies: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in self.catalog.list().await.expect("list the catalog") {
            copies
                .entry(m.name.to_string())
                .or_default()
                .push("libvirt".into());
        }
        for h in self.names() {
            for m in self.domains(h).await.into_keys() {
                copies.entry(m).or_default().push(h.to_owned());
            }
        }
        copies
    }

    /// Asserts that the pool holds exactly one domain per server of `unit`, on the host the
    /// manager places it on, running, labelled with its unit, server and `epochs` (by server;
    /// `1` when not given), from the template's generation 1; and that the manager records the
    /// address libvirt gives it there (on that host's subnet) and no error.
    async fn assert_domains(&self, unit: &UnitName, epochs: &BTreeMap<String, &str>) {
        let detail = self.show(unit).await;
        let placed = placement_of(&detail);
        let copies = self.copies().await;
        let want: BTreeMap<String, Vec<String>> = placed
            .iter()
            .map(|(s, h)| (machine(unit.as_str(), s).to_string(), vec![h.clone()]))
            .collect();
        let mine: BTreeMap<String, Vec<String>> = copies
            .into_iter()
            .filter(|(m, _)| m.starts_with(&format!("{unit}--")))
            .collect();
        assert_eq!(mine, want, "one domain per server, where it is placed");
        for (s, h) in &placed {
            let domains = self.domains(h).await;
            let m = &domains[machine(unit.as_str(), s).as_str()];
            assert_eq!(m.state, PowerState::Running, "{m:?}");
            assert_eq!(m.host.as_deref(), Some(self.uri(h)), "{m:?}");
            assert_eq!(m.generation, Some(1), "{m:?}");
            assert_eq!(
                m.template.as_ref().map(TemplateSource::as_str),
                Some(TEMPLATE),
                "{m:?}"
            );
            let label = |k: &str| m.labels.get(k).map(String::as_str);
            assert_eq!(label("vsm.unit"), Some(unit.as_str()), "{m:?}");
            assert_eq!(label("vsm.server"), Some(s.as_str()), "{m:?}");
            let epoch = epochs.get(s).copied().unwrap_or("1");
            assert_eq!(label("vsm.epoch"), Some(epoch), "{s} on {h}: {m:?}");
            let view = detail
                .groups
                .iter()
                .flat_map(|g| &g.servers)
                .find(|v| v.name.as_str() == s)
                .expect("the server");
            assert_eq!(view.logical, LogicalStatus::Working, "{view:?}");
            assert_eq!(view.last_error, None, "{view:?}");
            let address = m.address.expect("a running test domain has an address");
            assert_eq!(view.address, Some(address.to_string()), "{view:?}");
            let n: usize = h["kvm-".len()..].parse().expect("kvm-N");
            assert!(
                address
                    .to_string()
                    .starts_with(&format!("192.168.{}.", Self::net(n))),
                "{s} on {h}: {address}"
            );
        }
    }

    /// Asserts what `show_host` reports for every added host: connected, up, its capacity and
    /// allocatable room the node XML's figures, `used` the template size times the servers
    /// placed on it (`placed`, by host), which the manager counts and the driver does not.
    async fn assert_hosts(&self, placed: &BTreeMap<String, String>) {
        for (h, uri, (cpus, mem)) in &self.nodes {
            let info = self.host_info(h).await;
            let n = placed.values().filter(|on| *on == h).count() as u64;
            assert!(info.connected, "{info:?}");
            assert_eq!(info.host.state, HostState::Up, "{info:?}");
            assert_eq!(info.host.connection.uri.as_deref(), Some(uri.as_str()));
            assert_eq!(
                info.host.endpoint.as_deref(),
                Some(format!("libvirt {uri}").as_str())
            );
            assert_eq!(
                info.host.capacity,
                Some(vsm_core::Resources {
                    vcpus: *cpus,
                    memory_mib: *mem
                }),
                "{h}: the node XML's <cpu> and <memory>"
            );
            assert_eq!(
                info.allocatable,
                vsm_core::Usage {
                    vcpus: u64::from(*cpus),
                    memory_mib: *mem
                },
                "{h}: ratios 1"
            );
            assert_eq!(
                info.used,
                vsm_core::Usage {
                    vcpus: SIZE.vcpus * n,
                    memory_mib: SIZE.memory_mib * n
                },
                "{h}"
            );
            assert_eq!(u64::from(info.servers), n, "{info:?}");
            assert_eq!(info.placed.len() as u64, n, "{info:?}");
        }
        let catalog = self.host_info("libvirt").await;
        assert!(catalog.host.builtin, "{catalog:?}");
        assert_eq!(catalog.servers, 0, "{catalog:?}");
        assert_eq!(
            catalog.host.capacity,
            Some(vsm_core::Resources {
                vcpus: CATALOG.0,
                memory_mib: CATALOG.1
            })
        );
    }
}

// ------------------------------------------------------------------ three hosts

#[tokio::test]
async fn three_libvirt_hosts_spread_a_group_count_their_room_and_refuse_what_does_not_fit() {
    let lab = Lab::new(&THREE).await;
    lab.assert_hosts(&BTreeMap::new()).await;
    for h in lab.names() {
        assert!(lab.domains(h).await.is_empty(), "{h}");
    }

    // Spread: one server per host (hard anti-affinity), each a domain on its host.
    let shop = lab.create_unit("shop", &web_unit(3, 6, "hard")).await;
    lab.start(&shop).await;
    let placed = lab.placement(&shop).await;
    assert_eq!(
        placed.keys().cloned().collect::<Vec<_>>(),
        ["web-1", "web-2", "web-3"]
    );
    let on: BTreeSet<&str> = placed.values().map(String::as_str).collect();
    assert_eq!(
        on,
        BTreeSet::from(["kvm-1", "kvm-2", "kvm-3"]),
        "{placed:?}"
    );
    lab.assert_domains(&shop, &BTreeMap::new()).await;
    lab.assert_hosts(&placed).await;
    let detail = lab.manager.show_unit(&lab.bob, &shop).await.expect("show");
    for s in detail.groups.iter().flat_map(|g| &g.servers) {
        assert_eq!(s.logical, LogicalStatus::Working, "{s:?}");
        assert_eq!(s.applied_version, None, "no definitions: {s:?}");
    }

    // Hard anti-affinity: four servers on three capable hosts never fit. Refused whole,
    // naming every host; nothing is defined anywhere.
    let big = lab.create_unit("big", &web_unit(4, 6, "hard")).await;
    let err = lab
        .manager
        .start_unit(&lab.bob, &big, OpOptions::default())
        .await
        .expect_err("four servers with hard anti-affinity on three hosts");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("can never fit"), "{msg}");
    for h in lab.names() {
        assert!(
            msg.contains(&format!("\n  {h}: hard anti-affinity: already holds web-")),
            "{h}: {msg}"
        );
    }
    assert!(
        msg.contains("\n  libvirt: not enough memory"),
        "the catalog host is too small: {msg}"
    );
    assert!(lab.placement(&big).await.is_empty());
    let copies = lab.copies().await;
    assert!(
        copies.keys().all(|m| m.starts_with("shop--")),
        "nothing of big was defined: {copies:?}"
    );
    lab.assert_domains(&shop, &BTreeMap::new()).await;

    // Free room is the node's memory minus what the manager placed (the test driver neither
    // reports free memory nor refuses a domain): 1024 + 1536 + 2048 MiB left, nine machines.
    let fill = lab.create_unit("fill", &web_unit(9, 12, "soft")).await;
    lab.start(&fill).await;
    let filled = lab.placement(&fill).await;
    let per_host: BTreeMap<&str, usize> = lab
        .names()
        .into_iter()
        .map(|h| (h, on_host(&filled, h).len()))
        .collect();
    assert_eq!(
        per_host,
        BTreeMap::from([("kvm-1", 2), ("kvm-2", 3), ("kvm-3", 4)]),
        "{filled:?}"
    );
    lab.assert_domains(&fill, &BTreeMap::new()).await;
    let mut all = placed.clone();
    all.extend(filled.iter().map(|(s, h)| (format!("fill/{s}"), h.clone())));
    lab.assert_hosts(&all).await;
    for h in lab.names() {
        let info = lab.host_info(h).await;
        assert_eq!(
            info.used.memory_mib, info.allocatable.memory_mib,
            "{info:?}"
        );
    }
    // One more is the pool full now (70); nothing is defined.
    let err = lab
        .scale(&fill, 10, &[])
        .await
        .expect_err("no room for a tenth");
    assert_eq!(err.kind(), ErrorKind::Failed, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("the pool is full now"), "{msg}");
    for h in lab.names() {
        assert!(
            msg.contains(&format!("\n  {h}: not enough memory: 0 MiB free")),
            "{h}: {msg}"
        );
    }
    assert_eq!(lab.placement(&fill).await, filled);
    lab.assert_domains(&fill, &BTreeMap::new()).await;
    assert_eq!(lab.copies().await.len(), 12);
}

// ------------------------------------------------------------------ five hosts

#[tokio::test]
async fn five_libvirt_hosts_drain_one_host_onto_the_others() {
    let lab = Lab::new(&FIVE).await;
    lab.assert_hosts(&BTreeMap::new()).await;
    let shop = lab.create_unit("shop", &web_unit(6, 8, "soft")).await;
    lab.start(&shop).await;
    let before = lab.placement(&shop).await;
    let on: BTreeSet<&str> = before.values().map(String::as_str).collect();
    assert_eq!(on.len(), 5, "spread over every host: {before:?}");
    lab.assert_domains(&shop, &BTreeMap::new()).await;
    lab.assert_hosts(&before).await;

    let drained = before["web-1"].clone();
    let moving = on_host(&before, &drained);
    let report = lab.drain(&drained, 60).await;
    assert!(report.left.is_empty(), "{report:?}");
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.moved as usize, moving.len(), "{report:?}");
    assert_eq!(report.host.host.state, HostState::Maintenance, "{report:?}");
    assert_eq!(report.host.servers, 0, "{report:?}");
    assert_eq!(report.operations.len(), 1, "{report:?}");
    assert_eq!(report.operations[0].state, OperationState::Succeeded);

    // The drained host's domains are undefined; the replacements (new names) are domains on
    // the other hosts; the other servers stayed.
    assert!(
        lab.domains(&drained).await.is_empty(),
        "{:?}",
        lab.domains(&drained).await.keys()
    );
    let after = lab.placement(&shop).await;
    assert_eq!(after.len(), 6, "{after:?}");
    for s in &moving {
        assert!(!after.contains_key(s), "{s} still in the unit: {after:?}");
    }
    for (s, h) in &before {
        if !moving.contains(s) {
            assert_eq!(after.get(s), Some(h), "{s} moved although not drained");
        }
    }
    let replacements: Vec<&String> = after.keys().filter(|s| !before.contains_key(*s)).collect();
    assert_eq!(replacements.len(), moving.len(), "{after:?}");
    assert!(
        after.values().all(|h| *h != drained),
        "nothing on {drained}: {after:?}"
    );
    lab.assert_domains(&shop, &BTreeMap::new()).await;
    // The drained host is in maintenance and holds nothing; the others count what they took.
    for (h, _, _) in &lab.nodes {
        let info = lab.host_info(h).await;
        let n = on_host(&after, h).len() as u64;
        assert_eq!(u64::from(info.servers), n, "{info:?}");
        assert_eq!(info.used.memory_mib, SIZE.memory_mib * n, "{info:?}");
        let want = if *h == drained {
            HostState::Maintenance
        } else {
            HostState::Up
        };
        assert_eq!(info.host.state, want, "{info:?}");
    }
}

#[tokio::test]
async fn five_libvirt_hosts_fail_over_a_lost_host_once_confirmed_and_clean_it_when_it_returns() {
    let lab = Lab::new(&FIVE).await;
    // Soft anti-affinity: one per host, and a lost host's server may join another's.
    let shop = lab.create_unit("shop", &web_unit(5, 8, "soft")).await;
    lab.start(&shop).await;
    let before = lab.placement(&shop).await;
    let on: BTreeSet<&str> = before.values().map(String::as_str).collect();
    assert_eq!(on.len(), 5, "one per host: {before:?}");
    lab.assert_domains(&shop, &BTreeMap::new()).await;

    // The host of web-2 is lost: the manager cannot reach it, its domain keeps running.
    let lost = before["web-2"].clone();
    let moving = on_host(&before, &lost);
    assert_eq!(moving, BTreeSet::from(["web-2".to_owned()]));
    lab.hosts.host(&lost).set_cut(true);
    let (down, _) = lab.manager.probe_hosts_once().await.expect("probe");
    assert!(down.is_empty(), "down at the first missed probe: {down:?}");
    let err = lab
        .manager
        .confirm_host_down(&lab.admin, &host(&lost))
        .await
        .expect_err("not down yet");
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (down, _) = lab.manager.probe_hosts_once().await.expect("probe");
    assert_eq!(down, [host(&lost)], "down after host_down_after_ms");
    let info = lab.host_info(&lost).await;
    assert_eq!(info.host.state, HostState::Down, "{info:?}");
    assert!(
        info.host
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("cut off")),
        "{info:?}"
    );
    // Manual fencing: nothing moves until an administrator confirms the loss.
    assert_eq!(lab.placement(&shop).await, before);
    let held = lab.domains(&lost).await;
    assert_eq!(held["shop--web-2"].state, PowerState::Running);

    let report = lab
        .manager
        .confirm_host_down(&lab.admin, &host(&lost))
        .await
        .expect("confirm down");
    assert!(report.host.host.down_confirmed, "{report:?}");
    assert_eq!(report.operations.len(), 1, "{report:?}");
    lab.succeeds(report.operations[0]).await;

    // web-2 is redefined and running on another host, with placement epoch 2 in its domain
    // metadata; the others stayed, epoch 1.
    let after = lab.placement(&shop).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert_ne!(after["web-2"], lost, "{after:?}");
    for (s, h) in &before {
        if s != "web-2" {
            assert_eq!(&after[s], h, "{s} moved although its host was fine");
        }
    }
    let target = after["web-2"].clone();
    let epochs = BTreeMap::from([("web-2".to_owned(), "2")]);
    // The lost host still holds its old copy, running (it could not be told): two domains
    // of web-2 exist, one on a host the manager cannot reach.
    let mut copies = lab.copies().await;
    let web2 = copies.get_mut("shop--web-2").expect("web-2 has domains");
    web2.sort();
    let mut both = vec![lost.clone(), target.clone()];
    both.sort();
    assert_eq!(*web2, both, "the new copy and the lost host's old one");
    let old = &lab.domains(&lost).await["shop--web-2"];
    assert_eq!(old.labels.get("vsm.epoch").map(String::as_str), Some("1"));
    assert_eq!(old.state, PowerState::Running, "{old:?}");
    let new = &lab.domains(&target).await["shop--web-2"];
    assert_eq!(new.labels.get("vsm.epoch").map(String::as_str), Some("2"));
    assert_eq!(new.state, PowerState::Running, "{new:?}");
    let info = lab.host_info(&lost).await;
    assert_eq!(
        info.servers, 0,
        "nothing is placed on the lost host: {info:?}"
    );
    assert_eq!(
        lab.host_info(&target).await.used.memory_mib,
        2 * SIZE.memory_mib
    );

    // It answers again: its stale domain is destroyed (powered off and undefined) before it
    // is up; the current copies everywhere stay.
    lab.hosts.host(&lost).set_cut(false);
    let (down, returned) = lab.manager.probe_hosts_once().await.expect("probe");
    assert!(down.is_empty(), "{down:?}");
    assert_eq!(returned, [host(&lost)]);
    assert!(
        lab.domains(&lost).await.is_empty(),
        "stale domains left: {:?}",
        lab.domains(&lost).await.keys()
    );
    let info = lab.host_info(&lost).await;
    assert_eq!(info.host.state, HostState::Up, "{info:?}");
    assert!(!info.host.down_confirmed, "{info:?}");
    assert!(info.host.last_error.is_none(), "{info:?}");
    assert_eq!(info.servers, 0, "{info:?}");
    lab.assert_domains(&shop, &epochs).await;
    let detail = lab.manager.show_unit(&lab.bob, &shop).await.expect("show");
    for s in detail.groups.iter().flat_map(|g| &g.servers) {
        assert_eq!(s.logical, LogicalStatus::Working, "{s:?}");
    }
}

#[tokio::test]
async fn a_host_without_the_template_takes_none_of_its_servers_and_one_machine_is_one_host() {
    let lab = Lab::new(&THREE).await;
    // A big, empty host that lacks the template domain: spread would pick it first.
    let dir = &lab.root;
    let full = node_xml(64, 262_144, 160);
    let start = full.find("  <domain ").expect("the template domain");
    let end = full.find("</domain>").expect("its end") + "</domain>\n".len();
    let bare = format!("{}{}", &full[..start], &full[end..]);
    let path = dir.join("bare.xml");
    std::fs::write(&path, bare).expect("write the bare host");
    let add = |name: &str, uri: String| AddHost {
        name: host(name),
        driver: DriverKind::Libvirt,
        uri: Some(uri),
        dir: None,
        labels: BTreeMap::new(),
        cpu_ratio: Some(1.0),
        ram_ratio: Some(1.0),
        reserved_memory_mb: None,
        fencing: Some(Fencing::Manual),
    };
    lab.manager
        .add_host(&lab.admin, add("kvm-bare", format!("test://{path}")))
        .await
        .expect("add the bare host");
    let shop = lab.create_unit("shop", &web_unit(3, 6, "none")).await;
    lab.start(&shop).await;
    let placed = lab.placement(&shop).await;
    assert_eq!(placed.len(), 3, "{placed:?}");
    assert!(
        placed.values().all(|h| h != "kvm-bare"),
        "a host without the template got a server: {placed:?}"
    );
    // A group that only the bare host could take never fits, and says why.
    let err = lab
        .manager
        .scale(
            &lab.bob,
            &shop,
            ScaleRequest {
                group: name("web"),
                count: 6,
                remove: vec![],
                grace_secs: None,
                wait_secs: None,
            },
        )
        .await;
    if let Ok(id) = err {
        // The three template hosts have room for three more: that is fine too.
        let rec = lab
            .manager
            .wait(&lab.admin, id, std::time::Duration::from_secs(60))
            .await
            .expect("wait");
        assert!(rec.summary.state.is_finished(), "{rec:?}");
        assert!(
            lab.placement(&shop).await.values().all(|h| h != "kvm-bare"),
            "a host without the template got a server"
        );
    }
    // The same URI twice is one machine, not two hosts.
    let uri = lab.nodes[0].1.clone();
    let twice = lab
        .manager
        .add_host(&lab.admin, add("kvm-again", uri))
        .await
        .expect_err("the same URI twice");
    assert_eq!(twice.kind(), ErrorKind::InvalidRequest, "{twice}");
    assert!(twice.to_string().contains("already reaches"), "{twice}");
}
