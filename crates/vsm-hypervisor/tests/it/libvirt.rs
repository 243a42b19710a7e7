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
