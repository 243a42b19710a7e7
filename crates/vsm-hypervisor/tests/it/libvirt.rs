//! The libvirt driver against libvirt's built-in `test:///default` driver, inside this process
//! (no daemon). Every connection to `test:///default` in one process shares one state while any
//! connection is open, so each test uses its own template, owner and machine names, and a
//! [`Template`] guard removes what the test defined, also on failure.

use std::sync::Arc;

use virt::connect::Connect;
use virt::storage_vol::StorageVol;
use vsm_hypervisor::libvirt::{LibvirtConfig, LibvirtDriver};
use vsm_hypervisor::testing::contract::{self, Fixture};
use vsm_hypervisor::{
    Hypervisor, HypervisorError, MachineName, PowerState, ProvisionSpec, TemplateSource,
};

const URI: &str = "test:///default";
const POOL: &str = "default-pool";

/// A template domain `tmpl-TAG` whose disk is the qcow2 volume `base-TAG.qcow2` in the test
/// driver's default pool. Undefined and deleted on drop.
struct Template {
    conn: Connect,
    name: String,
    volume: String,
}

impl Template {
    fn define(tag: &str) -> Template {
        virt::error::clear_error_callback();
        let conn = Connect::open(Some(URI)).expect("open test:///default");
        let pool = conn
            .lookup_storage_pool_by_name(POOL)
            .expect("default pool");
        let volume = format!("base-{tag}.qcow2");
        let vol = StorageVol::create_xml(
            &pool,
            &format!(
                "<volume><name>{volume}</name><capacity unit='bytes'>10485760</capacity>\
                 <target><format type='qcow2'/></target></volume>"
            ),
            0,
        )
        .expect("create base volume");
        let path = vol.path().expect("base path");
        let name = format!("tmpl-{tag}");
        conn.define_domain_xml(&format!(
            "<domain type='test'><name>{name}</name><memory unit='KiB'>65536</memory><vcpu>2</vcpu>\
             <os><type arch='x86_64'>hvm</type></os><devices>\
             <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>\
             <source file='{path}'/><target dev='vda' bus='virtio'/></disk>\
             <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/></interface>\
             </devices></domain>"
        ))
        .expect("define template domain");
        Template { conn, name, volume }
    }

    fn source(&self) -> TemplateSource {
        TemplateSource::new(self.name.clone()).expect("template source")
    }

    fn uuid(&self) -> String {
        self.conn
            .lookup_domain_by_name(&self.name)
            .and_then(|d| d.uuid_string())
            .expect("template uuid")
    }
}

impl Drop for Template {
    fn drop(&mut self) {
        if let Ok(dom) = self.conn.lookup_domain_by_name(&self.name) {
            let _ = dom.undefine();
        }
        if let Ok(vol) = self
            .conn
            .lookup_storage_pool_by_name(POOL)
            .and_then(|p| p.lookup_storage_vol_by_name(&self.volume))
        {
            let _ = vol.delete(0);
        }
    }
}

async fn driver(owner: &str) -> LibvirtDriver {
    let mut config = LibvirtConfig::new(URI);
    config.owner = owner.to_string();
    config.poll_interval = std::time::Duration::from_millis(20);
    LibvirtDriver::open(config)
        .await
        .expect("open libvirt driver")
}

fn name(s: &str) -> MachineName {
    MachineName::new(s).expect("valid machine name")
}

#[tokio::test]
async fn contract_suite() {
    let template = Template::define("contract");
    let hv = Arc::new(driver("contract").await);
    let fixture = Fixture::new(template.source(), "ct-libvirt").with_expect_logs(false);
    let reopen_from = Arc::clone(&hv);
    let reopen = move || -> Arc<dyn Hypervisor> { Arc::new(reopen_from.reopen()) };
    contract::run_all(hv, &fixture, Some(&reopen)).await;
}

#[tokio::test]
async fn clone_is_a_renamed_domain_on_a_linked_qcow2_overlay() {
    let template = Template::define("clone");
    let hv = driver("clone").await;
    let info = hv
        .inspect_template(&template.source())
        .await
        .expect("inspect");
    assert_eq!(info.fingerprint, template.uuid());
    assert_eq!(
        info.details.get("format").map(String::as_str),
        Some("qcow2")
    );
    // The template's size and the host's capacity, for placement.
    assert_eq!(
        info.size,
        Some(vsm_hypervisor::MachineSize {
            vcpus: 2,
            memory_mib: 64
        })
    );
    let node = template.conn.node_info().expect("node info");
    let capacity = hv.capacity().await.expect("capacity");
    assert_eq!(
        (capacity.cpus, capacity.memory_mib),
        (node.cpus, node.memory / 1024)
    );

    let m = name("clone-web1");
    let spec = ProvisionSpec::new(m.clone(), template.source(), 4)
        .with_fingerprint(template.uuid())
        .with_label("unit", "shop");
    let made = hv.provision(&spec).await.expect("provision");
    assert_eq!(
        (made.state, made.generation),
        (PowerState::Stopped, Some(4))
    );

    // Look at what libvirt now holds, through a connection of our own.
    let dom = template
        .conn
        .lookup_domain_by_name("clone-web1")
        .expect("domain defined");
    let xml = dom
        .xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
        .expect("xml");
    assert_ne!(
        dom.uuid_string().expect("uuid"),
        template.uuid(),
        "a new uuid"
    );
    assert!(
        !xml.contains("52:54:00:aa:bb:cc"),
        "the template's MAC is not reused: {xml}"
    );
    assert!(
        xml.contains("/default-pool/clone-web1.qcow2"),
        "disk points at the overlay: {xml}"
    );
    let overlay = template
        .conn
        .lookup_storage_vol_by_path("/default-pool/clone-web1.qcow2")
        .expect("overlay volume");
    let vol_xml = overlay.xml_desc(0).expect("volume xml");
    let backing = &vol_xml[vol_xml.find("<backingStore>").expect("has a backing store")..];
    assert!(
        backing.contains("<path>/default-pool/base-clone.qcow2</path>"),
        "{vol_xml}"
    );
    assert!(
        backing.contains("<format type='qcow2'/>"),
        "backing format given: {vol_xml}"
    );

    // Another owner on the same host neither sees nor touches it.
    let stranger = driver("someone-else").await;
    assert!(stranger.list().await.expect("list").is_empty());
    assert!(
        stranger
            .destroy(&m)
            .await
            .expect_err("not theirs")
            .is_not_found()
    );

    hv.start(&m).await.expect("start");
    let load = hv.load(&m).await.expect("load");
    assert_eq!(load.processes, Some(2), "vCPUs of the template");
    assert_eq!(load.memory_bytes, Some(65536 * 1024));
    let logs = hv.logs(&m, 10).await.expect_err("no log dir configured");
    assert!(
        matches!(logs, HypervisorError::Unsupported { .. }),
        "{logs}"
    );

    hv.destroy(&m).await.expect("destroy");
    assert!(template.conn.lookup_domain_by_name("clone-web1").is_err());
    assert!(
        template
            .conn
            .lookup_storage_vol_by_path("/default-pool/clone-web1.qcow2")
            .is_err(),
        "the overlay is deleted with the machine"
    );
    assert!(
        template.conn.lookup_domain_by_name(&template.name).is_ok(),
        "the template stays"
    );
}

#[tokio::test]
async fn bad_templates_are_refused_before_anything_is_made() {
    let template = Template::define("bad");
    let hv = driver("bad").await;
    let missing = TemplateSource::new("no-such-domain").expect("source");
    let err = hv
        .inspect_template(&missing)
        .await
        .expect_err("unknown domain");
    assert!(
        matches!(err, HypervisorError::InvalidTemplate { .. }),
        "{err}"
    );

    let spec = ProvisionSpec::new(name("bad-web1"), template.source(), 1)
        .with_fingerprint("00000000-0000-0000-0000-000000000000");
    let err = hv.provision(&spec).await.expect_err("changed template");
    assert!(
        matches!(err, HypervisorError::InvalidTemplate { .. }),
        "{err}"
    );
    assert!(hv.list().await.expect("list").is_empty());
    assert!(
        template
            .conn
            .lookup_storage_vol_by_path("/default-pool/bad-web1.qcow2")
            .is_err(),
        "no overlay left behind"
    );

    // The test driver's own domain `test` has a disk that is no pool volume.
    let err = hv
        .inspect_template(&TemplateSource::new("test").expect("source"))
        .await
        .expect_err("disk outside any pool");
    assert!(err.to_string().contains("storage pool"), "{err}");
}

/// A VM template file beside the template domain: the file is checked at registration (errors
/// name it and the field), each machine gets vsm's console, and a machine that never answers
/// ssh is not reported as started. (The test driver cannot upload volumes, so the cloud-init
/// seed is covered by the real-VM end-to-end test, `tests/e2e/vm.rs`.)
#[tokio::test]
async fn vm_template_files_are_checked_give_consoles_and_refuse_unreachable_guests() {
    let template = Template::define("vmfile");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = camino::Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
    let key = root.join("id_test");
    std::fs::write(&key, "not a real key\n").expect("key");
    std::fs::write(root.join("id_test.pub"), "ssh-ed25519 AAAATEST vsm\n").expect("pub");
    let file = root.join("vm.yaml");
    std::fs::write(
        &file,
        format!(
            "format: 1\ndomain: {}\nssh: {{ user: root, identity: {key} }}\nboot_timeout: 1s\n",
            template.name
        ),
    )
    .expect("vm template file");
    let mut config = LibvirtConfig::new(URI);
    config.owner = "vmfile".into();
    config.poll_interval = std::time::Duration::from_millis(20);
    config.state_dir = Some(root.join("state"));
    config.console_logs = true;
    let hv = LibvirtDriver::open(config).await.expect("open");
    let source = TemplateSource::new(file.to_string()).expect("source");

    // A bad file is refused with its name and field, and nothing is made.
    let bad = root.join("bad.yaml");
    std::fs::write(
        &bad,
        "format: 1\ndomain: x\nssh: { user: root, identity: relative/key }\n",
    )
    .expect("bad file");
    let err = hv
        .inspect_template(&TemplateSource::new(bad.to_string()).expect("source"))
        .await
        .expect_err("relative identity");
    assert!(
        matches!(err, HypervisorError::InvalidTemplate { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("bad.yaml") && text.contains("ssh.identity"),
        "{text}"
    );

    let info = hv.inspect_template(&source).await.expect("inspect");
    assert!(
        info.fingerprint.starts_with(&template.uuid()) && info.fingerprint.contains('+'),
        "the fingerprint covers the domain and the file: {}",
        info.fingerprint
    );
    assert!(
        info.details
            .get("access")
            .is_some_and(|a| a.contains("ssh root")),
        "{:?}",
        info.details
    );

    let m = name("vmfile-web1");
    let spec = ProvisionSpec::new(m.clone(), source.clone(), 1).with_fingerprint(info.fingerprint);
    hv.provision(&spec).await.expect("provision");
    let dom = template
        .conn
        .lookup_domain_by_name("vmfile-web1")
        .expect("domain");
    let xml = dom
        .xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
        .expect("xml");
    let console = root.join("state/consoles/vmfile-web1.log");
    assert!(xml.contains(&format!("<log file='{console}'")), "{xml}");
    assert!(
        !xml.contains("seed.img"),
        "no seed without cloud_init: {xml}"
    );

    // Powered off: the VM is booted for a delivery; one whose ssh never answers is refused
    // and powered off again.
    let err = hv.guest_access(&m).await.expect_err("no ssh ever answers");
    assert!(
        err.to_string().contains("did not answer ssh within 1s"),
        "{err}"
    );
    assert_eq!(hv.state(&m).await.expect("state"), PowerState::Stopped);

    // The test driver's guests never get an address: a start must not pass for one that boots.
    let err = hv.start(&m).await.expect_err("no ssh ever answers");
    assert!(
        err.to_string().contains("did not answer ssh within 1s"),
        "{err}"
    );

    // The console file (and what virtlogd rotated out of it) is what `logs` shows.
    std::fs::write(format!("{console}.0"), "old 1\r\nold 2\r\n").expect("rotated");
    std::fs::write(&console, "new 1\r\nnew 2\r\n").expect("console");
    let lines = hv.logs(&m, 3).await.expect("logs");
    assert_eq!(lines, ["old 2", "new 1", "new 2"]);

    hv.destroy(&m).await.expect("destroy");
    assert!(!console.exists(), "the console log goes with the machine");
}

/// A console on a remote libvirt host (`qemu+ssh://`) is read over ssh: the tail of the file
/// and of what virtlogd rotated out of it, oldest first, carriage returns dropped.
#[tokio::test]
async fn a_remote_console_is_read_over_ssh() {
    let server = vsm_hypervisor::testing::sshd::TestSshd::start().expect("test sshd");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("web-1.console.log");
    std::fs::write(format!("{}.0", file.display()), "boot 1\r\nboot 2\r\n").expect("rotated");
    std::fs::write(&file, "boot 3\r\nlogin:\r\n").expect("console");
    let file = file.to_str().expect("utf-8");
    let lines = vsm_hypervisor::libvirt::remote_console_tail(&server.target(), file, 3)
        .await
        .expect("tail");
    assert_eq!(lines, ["boot 2", "boot 3", "login:"]);
    // No file yet (a machine that never booted): nothing, not an error.
    let none = vsm_hypervisor::libvirt::remote_console_tail(&server.target(), "/nonexistent/x", 5)
        .await
        .expect("tail of nothing");
    assert!(none.is_empty(), "{none:?}");
}

// ------------------------------------------------ file-backed test hosts (issue 13)

/// The domain name of the template in every generated host file.
const FILE_TEMPLATE: &str = "vsm-tmpl";

/// A libvirt test-driver host file (`test:///ABS/PATH.xml`): a `<node>` of `cpus` CPUs
/// (`<cpu>`: one NUMA node, one socket, `cpus` cores, one thread) and `memory_mib` MiB
/// (`<memory>`, in KiB), a network `vsm-net` on `192.168.NET.0/24`, a directory pool
/// `vsm-pool` holding the qcow2 base volume `base.qcow2`, and the template domain
/// [`FILE_TEMPLATE`] (2 vCPUs, 512 MiB, shut off, its disk the base volume) with the same
/// UUID on every host.
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
    <name>{FILE_TEMPLATE}</name>
    <uuid>6c1f6f4e-0000-4000-8000-00000000000c</uuid>
    <memory unit='MiB'>512</memory>
    <vcpu>2</vcpu>
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
        kib = memory_mib * 1024
    )
}

/// Writes `hostN.xml` for each `(cpus, memory_mib)` into `dir`, host N on subnet
/// `192.168.(150 + N).0/24`; answers their URIs.
fn write_hosts(dir: &std::path::Path, capacities: &[(u32, u64)]) -> Vec<String> {
    capacities
        .iter()
        .enumerate()
        .map(|(i, (cpus, mem))| {
            let file = dir.join(format!("host{}.xml", i + 1));
            let net = 151 + u8::try_from(i).expect("a few hosts");
            std::fs::write(&file, node_xml(*cpus, *mem, net)).expect("write host file");
            format!("test://{}", file.to_str().expect("utf-8 path"))
        })
        .collect()
}

async fn file_driver(uri: &str) -> LibvirtDriver {
    let mut config = LibvirtConfig::new(uri);
    config.poll_interval = std::time::Duration::from_millis(20);
    LibvirtDriver::open(config)
        .await
        .unwrap_or_else(|e| panic!("open {uri}: {e}"))
}

fn domain_names(conn: &Connect) -> Vec<String> {
    let mut names: Vec<String> = conn
        .list_all_domains(0)
        .expect("list domains")
        .iter()
        .map(|d| d.name().expect("name"))
        .collect();
    names.sort();
    names
}

/// The mechanics the manager's multi-host tests rest on: every `Connect::open` of a
/// `test:///ABS/PATH.xml` URI is a host of its own, loaded from the file (two connections to
/// the same file share nothing; the file is never written), and a `LibvirtDriver` holds one
/// connection for all its calls (and `reopen` shares it), so a driver keeps its host's state
/// from call to call, while a second `open` of the same URI starts from the file again.
#[tokio::test]
async fn a_file_backed_test_host_is_private_to_its_connection_and_the_driver_keeps_one() {
    virt::error::clear_error_callback();
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = write_hosts(dir.path(), &[(4, 2048)]).remove(0);
    let file = dir.path().join("host1.xml");
    let before = std::fs::read_to_string(&file).expect("read");

    let a = Connect::open(Some(&uri)).expect("open a");
    let b = Connect::open(Some(&uri)).expect("open b");
    assert_eq!(domain_names(&a), [FILE_TEMPLATE]);
    let template = a.lookup_domain_by_name(FILE_TEMPLATE).expect("template");
    assert!(
        !template.is_active().expect("active"),
        "runstate 5: shut off"
    );
    let xml = template
        .xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
        .expect("xml")
        .replace(FILE_TEMPLATE, "only-on-a")
        .replace(
            "6c1f6f4e-0000-4000-8000-00000000000c",
            "6c1f6f4e-0000-4000-8000-0000000000ff",
        );
    a.define_domain_xml(&xml).expect("define on a");
    assert_eq!(domain_names(&a), ["only-on-a", FILE_TEMPLATE]);
    assert_eq!(domain_names(&b), [FILE_TEMPLATE], "b shares nothing with a");
    drop(b);
    let c = Connect::open(Some(&uri)).expect("open c");
    assert_eq!(
        domain_names(&c),
        [FILE_TEMPLATE],
        "not even while a is open"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), before);

    // The driver: one connection for every call.
    let hv = file_driver(&uri).await;
    let m = name("keep-web1");
    let spec = ProvisionSpec::new(
        m.clone(),
        TemplateSource::new(FILE_TEMPLATE).expect("src"),
        1,
    )
    .with_label("vsm.unit", "keep");
    hv.provision(&spec).await.expect("provision");
    hv.start(&m).await.expect("start");
    assert_eq!(hv.state(&m).await.expect("state"), PowerState::Running);
    let listed = hv.list().await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].host.as_deref(), Some(uri.as_str()));
    assert_eq!(
        listed[0].labels.get("vsm.unit").map(String::as_str),
        Some("keep")
    );
    let again = hv.reopen();
    assert_eq!(again.list().await.expect("list").len(), 1, "reopen shares");
    let fresh = file_driver(&uri).await;
    assert!(
        fresh.list().await.expect("list").is_empty(),
        "a second open is another host, loaded from the file"
    );
    assert!(fresh.state(&m).await.expect_err("unknown").is_not_found());
    assert_eq!(domain_names(&a), ["only-on-a", FILE_TEMPLATE]);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), before);
}

/// Three and five file-backed hosts of distinct sizes in one process: each driver reports its
/// own node's CPUs and memory, the template's size from its domain XML, and runs machines of
/// its own. The test driver tracks no free memory (`virNodeGetFreeMemory` fails) and enforces
/// no limit (more machines than the node's memory are defined and run, and the node's figures
/// stay), so placement must count free room itself: node capacity minus what it placed.
#[tokio::test]
async fn file_backed_test_hosts_report_their_own_node_capacity() {
    virt::error::clear_error_callback();
    let dir = tempfile::tempdir().expect("tempdir");
    for capacities in [
        &[(2, 1024), (4, 3072), (8, 6144)][..],
        &[(2, 1024), (3, 1536), (4, 2048), (6, 4096), (16, 32768)][..],
    ] {
        let sub = dir.path().join(format!("pool-{}", capacities.len()));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let uris = write_hosts(&sub, capacities);
        let mut drivers = Vec::new();
        for (uri, (cpus, mem)) in uris.iter().zip(capacities) {
            let hv = file_driver(uri).await;
            let capacity = hv.capacity().await.expect("capacity");
            assert_eq!(
                (capacity.cpus, capacity.memory_mib),
                (*cpus, *mem),
                "{uri}: {capacity:?}"
            );
            assert!(capacity.description.contains(uri.as_str()), "{capacity:?}");
            let info = hv
                .inspect_template(&TemplateSource::new(FILE_TEMPLATE).expect("src"))
                .await
                .expect("inspect");
            assert_eq!(
                info.size,
                Some(vsm_hypervisor::MachineSize {
                    vcpus: 2,
                    memory_mib: 512
                })
            );
            assert_eq!(info.fingerprint, "6c1f6f4e-0000-4000-8000-00000000000c");
            drivers.push((uri.clone(), hv));
        }
        // More machines than the smallest node holds (1024 MiB, 2 CPUs: two at most), on
        // every host, each with its own machines.
        for (i, (uri, hv)) in drivers.iter().enumerate() {
            for n in 1..=3 {
                let m = name(&format!("h{}-web{n}", i + 1));
                let spec = ProvisionSpec::new(
                    m.clone(),
                    TemplateSource::new(FILE_TEMPLATE).expect("src"),
                    1,
                );
                hv.provision(&spec).await.expect("provision");
                hv.start(&m).await.expect("start");
                // The test driver's address: the host's DHCP range start plus the domain id.
                let address = hv.address(&m).await.expect("address").expect("running");
                assert!(
                    address
                        .to_string()
                        .starts_with(&format!("192.168.{}.", 151 + i)),
                    "{m} on {uri}: {address}"
                );
            }
            let capacity = hv.capacity().await.expect("capacity");
            assert_eq!(
                (capacity.cpus, capacity.memory_mib),
                capacities[i],
                "{uri}: the node's figures do not change with its machines"
            );
        }
        for (i, (uri, hv)) in drivers.iter().enumerate() {
            let names: Vec<String> = hv
                .list()
                .await
                .expect("list")
                .into_iter()
                .map(|m| m.name.to_string())
                .collect();
            let want: Vec<String> = (1..=3).map(|n| format!("h{}-web{n}", i + 1)).collect();
            assert_eq!(names, want, "{uri} holds only its own machines");
        }
        let conn = Connect::open(Some(&uris[0])).expect("open");
        assert!(
            conn.free_memory().is_err(),
            "the test driver reports no free memory"
        );
    }
}
