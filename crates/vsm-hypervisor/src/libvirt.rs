//! The `libvirt` driver (feature `libvirt`): machines are libvirt domains on one connection URI.
//!
//! Owns: cloning a template domain (its inactive XML renamed, without UUID and MAC addresses, its
//! first disk pointed at a new qcow2 overlay volume whose backing file and backing format are
//! always given), and start / shutdown / destroy / state / list / address / load through libvirt.
//! Machines are marked with vsm metadata in their domain XML (owner, template, generation, labels,
//! overlay volume), so a fresh driver lists exactly the machines of its owner.
//! Must not: block the async runtime (every libvirt call runs in `tokio::task::spawn_blocking`),
//! touch domains or volumes it did not create (templates are only read), or shell out to `virsh`.
//!
//! A template is a domain name, or a VM template file ([`crate::vm_template`]) that names the
//! domain and declares how vsm reaches the guests: ssh access, a cloud-init NoCloud seed, the
//! guest directory definitions go to, and optionally a service that start and stop drive over
//! ssh (then the VM runs from provisioning to destruction, as the original product's VMs did).
//! With a state directory, every machine's serial console is written through libvirt's
//! `virtlogd` (size-capped and rotated) to `STATE/consoles/NAME.log`, which `logs` reads.
//! Addresses are discovered from libvirt's DHCP leases, then the guest agent, then ARP, then
//! the template's stated address.
//!
//! One driver talks to one connection URI (`qemu:///system`, `qemu+ssh://host/system`,
//! `test:///default`); a unit spanning hosts uses one driver per host.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use camino::Utf8PathBuf;
use virt::connect::Connect;
use virt::domain::{Domain, DomainShutoffReason, DomainState, DomainStateReason};
use virt::enumutil::Enum;
use virt::error::ErrorNumber;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;

use crate::cloud_init::Seed;
use crate::driver::{GuestAccess, Hypervisor};
use crate::error::{HypervisorError, Operation, Result};
use crate::ssh::{self, HostKeyChecking, SshTarget};
use crate::types::{
    HostCapacity, HypervisorKind, LoadFigures, MachineInfo, MachineName, MachineSize, PowerState,
    ProvisionSpec, ShutdownOutcome, TemplateInfo, TemplateSource,
};
use crate::vm_template::{self, VmTemplate};

/// XML namespace of vsm's domain metadata.
pub const METADATA_NAMESPACE: &str = "https://vsm.invalid/xmlns/libvirt/1";

/// Configuration of a [`LibvirtDriver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibvirtConfig {
    /// The libvirt connection URI.
    pub uri: String,
    /// Storage pool for the machines' overlay volumes (default: the template disk's pool).
    pub pool: Option<String>,
    /// Who owns the machines this driver creates and lists (stored in each domain's metadata),
    /// so several managers can share a libvirt host. Default `vsm`.
    pub owner: String,
    /// How often `shutdown` polls the domain state while waiting.
    pub poll_interval: Duration,
    /// Directory holding `<domain>.log` console logs on this host (`/var/log/libvirt/qemu` for a
    /// local `qemu:///system`), read for machines that have no console file of their own.
    pub log_dir: Option<Utf8PathBuf>,
    /// The driver's own directory on the manager's host: `known_hosts/` (each guest's ssh host
    /// key, trusted on first use and forgotten when the machine is destroyed) and, with
    /// [`console_logs`](LibvirtConfig::console_logs), `consoles/`.
    pub state_dir: Option<Utf8PathBuf>,
    /// Give every new machine a serial console that libvirt (`virtlogd`: size-capped, rotated)
    /// writes to `STATE/consoles/NAME.log`, which `logs` reads. Needs a `state_dir` that the
    /// libvirt host can write, so a local URI. Otherwise consoles stay as the template has them.
    pub console_logs: bool,
    /// For a `qemu+ssh://` URI: the directory on the libvirt host where each new machine's
    /// serial console is logged (by that host's `virtlogd`), read over ssh by `logs`. Default
    /// `/var/log/libvirt/qemu`, libvirt's own log directory there.
    pub remote_console_dir: Utf8PathBuf,
}

impl LibvirtConfig {
    /// A configuration for `uri` with owner `vsm`, no fixed pool and no log directory.
    pub fn new(uri: impl Into<String>) -> Self {
        LibvirtConfig {
            uri: uri.into(),
            pool: None,
            owner: "vsm".into(),
            poll_interval: Duration::from_millis(500),
            log_dir: None,
            state_dir: None,
            console_logs: false,
            remote_console_dir: Utf8PathBuf::from("/var/log/libvirt/qemu"),
        }
    }
}

/// The `libvirt` driver: one connection, domains cloned from template domains.
#[derive(Debug)]
pub struct LibvirtDriver {
    conn: Arc<Connect>,
    config: LibvirtConfig,
    cpu: Mutex<BTreeMap<MachineName, (Instant, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What vsm stores in a domain's `<metadata>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    owner: String,
    template: String,
    generation: u32,
    volume: String,
    labels: BTreeMap<String, String>,
    /// The VM template file's declarations, copied at provisioning (the file may change later).
    vm: Option<VmTemplate>,
    /// The console log file, when vsm gave the machine one.
    console: Option<String>,
    /// The cloud-init seed volume's path, when the machine has one.
    seed: Option<String>,
}

/// A libvirt failure while doing `what`.
fn virt_error(
    op: Operation,
    machine: Option<&MachineName>,
    what: &str,
    e: virt::error::Error,
) -> HypervisorError {
    if let (Enum::Known(ErrorNumber::NoDomain), Some(machine)) = (e.code(), machine) {
        return HypervisorError::not_found(machine);
    }
    match e.code() {
        Enum::Known(
            ErrorNumber::SystemError
            | ErrorNumber::Rpc
            | ErrorNumber::NoConnect
            | ErrorNumber::OperationTimeout
            | ErrorNumber::AgentUnresponsive
            | ErrorNumber::ResourceBusy,
        ) => HypervisorError::transient_from(op, machine, what.to_string(), e),
        _ => HypervisorError::permanent_from(op, machine, what.to_string(), e),
    }
}

fn is_code(e: &virt::error::Error, code: ErrorNumber) -> bool {
    e.code() == Enum::Known(code)
}

impl LibvirtDriver {
    /// Opens the connection (clearing libvirt's default stderr error printer first).
    pub async fn open(config: LibvirtConfig) -> Result<LibvirtDriver> {
        virt::error::clear_error_callback();
        let uri = config.uri.clone();
        let conn = tokio::task::spawn_blocking(move || Connect::open(Some(&uri)))
            .await
            .map_err(|e| {
                HypervisorError::permanent_from(Operation::Open, None, "libvirt open task", e)
            })?
            .map_err(|e| {
                virt_error(
                    Operation::Open,
                    None,
                    &format!("connecting to {}", config.uri),
                    e,
                )
            })?;
        // Owner-only homes of the guests' host keys and shared ssh connections, made once.
        if let Some(dir) = &config.state_dir {
            for sub in ["known_hosts", "ssh"] {
                let path = dir.join(sub);
                if !private_dir(&path) {
                    return Err(HypervisorError::permanent(
                        Operation::Open,
                        None,
                        format!("cannot create the directory {path}"),
                    ));
                }
            }
        }
        Ok(LibvirtDriver {
            conn: Arc::new(conn),
            config,
            cpu: Mutex::new(BTreeMap::new()),
        })
    }

    /// A new driver instance on the same connection (as a restarted manager would see the host,
    /// also for `test:///` URIs whose state lives only as long as a connection).
    pub fn reopen(&self) -> LibvirtDriver {
        LibvirtDriver {
            conn: Arc::clone(&self.conn),
            config: self.config.clone(),
            cpu: Mutex::new(BTreeMap::new()),
        }
    }

    /// The driver's configuration.
    pub fn config(&self) -> &LibvirtConfig {
        &self.config
    }

    /// Runs `f` with the connection on the blocking thread pool.
    async fn blocking<T, F>(&self, op: Operation, machine: Option<&MachineName>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connect) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || f(&conn))
            .await
            .map_err(|e| HypervisorError::permanent_from(op, machine, "libvirt call task", e))?
    }

    /// Looks up one of our machines: its domain and metadata (`NotFound` for strangers).
    fn ours(
        conn: &Connect,
        owner: &str,
        op: Operation,
        machine: &MachineName,
    ) -> Result<(Domain, Meta)> {
        let dom = conn
            .lookup_domain_by_name(machine.as_str())
            .map_err(|e| virt_error(op, Some(machine), "looking up the domain", e))?;
        let xml = dom
            .xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
            .map_err(|e| virt_error(op, Some(machine), "reading the domain XML", e))?;
        match parse_meta(&xml) {
            Some(meta) if meta.owner == owner => Ok((dom, meta)),
            _ => Err(HypervisorError::not_found(machine)),
        }
    }

    /// Powers the domain on (a running one stays as it is; a crashed one is powered off first).
    async fn power_on(&self, machine: &MachineName) -> Result<()> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        let booted = self
            .blocking(Operation::Start, Some(machine), move |conn| {
                let op = Operation::Start;
                let (dom, _) = Self::ours(conn, &owner, op, &m)?;
                let err = |what: &str| {
                    let m = m.clone();
                    let what = what.to_string();
                    move |e| virt_error(op, Some(&m), &what, e)
                };
                match power_state(&dom, op, &m)? {
                    PowerState::Running => Ok(false),
                    PowerState::Paused => dom
                        .resume()
                        .map(|()| false)
                        .map_err(err("resuming the domain")),
                    PowerState::Stopping => Err(HypervisorError::transient(
                        op,
                        Some(&m),
                        "the domain is shutting down: retry when it stopped",
                    )),
                    _ => {
                        if dom.is_active().unwrap_or(false) {
                            // Crashed but still active: power it off before booting again.
                            dom.destroy()
                                .map_err(err("powering off the crashed domain"))?;
                        }
                        dom.create()
                            .map(|_| true)
                            .map_err(err("starting the domain"))
                    }
                }
            })
            .await?;
        if booted {
            // Shared ssh connections of an earlier boot are dead; this boot shares anew.
            self.forget_connections(machine);
            if let Some(dir) = self.control_dir(machine) {
                private_dir(&dir);
            }
        }
        Ok(())
    }

    /// The directory of `machine`'s shared ssh connections (one master connection per guest
    /// address, `ControlPersist`), which saves the handshake of all but the first of the many
    /// short sessions a start, an apply or a health check opens. `None` without a state
    /// directory, or when the socket path would be too long for a unix socket.
    fn control_dir(&self, machine: &MachineName) -> Option<Utf8PathBuf> {
        let dir = self
            .config
            .state_dir
            .as_ref()?
            .join("ssh")
            .join(&text_fingerprint(machine.as_str())[..6]);
        // `/%C` adds 41 characters and ssh a temporary suffix of 17 while it sets the master
        // up; a unix socket path holds at most 107 bytes.
        (dir.as_str().len() + 41 + 17 < 104).then_some(dir)
    }

    /// Forgets `machine`'s shared ssh connections (after a power-off or a new boot their
    /// connection is dead; a master left behind exits once idle).
    fn forget_connections(&self, machine: &MachineName) {
        if let Some(dir) = self.control_dir(machine) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Asks the domain to shut down (the ACPI power button), waits up to `timeout`, then powers
    /// it off.
    async fn power_off(&self, machine: &MachineName, timeout: Duration) -> Result<ShutdownOutcome> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        let first = self
            .blocking(Operation::Shutdown, Some(machine), move |conn| {
                let op = Operation::Shutdown;
                let (dom, _) = Self::ours(conn, &owner, op, &m)?;
                let state = power_state(&dom, op, &m)?;
                if !state.is_active() {
                    if dom.is_active().unwrap_or(false) {
                        dom.destroy().map_err(|e| {
                            virt_error(op, Some(&m), "powering off the crashed domain", e)
                        })?;
                    }
                    return Ok(Some(ShutdownOutcome::AlreadyStopped));
                }
                match dom.shutdown() {
                    Ok(()) => Ok(None),
                    // It stopped between our look and the request.
                    Err(_) if !dom.is_active().unwrap_or(true) => {
                        Ok(Some(ShutdownOutcome::Graceful))
                    }
                    Err(e) => Err(virt_error(
                        op,
                        Some(&m),
                        "asking the domain to shut down",
                        e,
                    )),
                }
            })
            .await?;
        if let Some(outcome) = first {
            return Ok(outcome);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let owner = self.config.owner.clone();
            let m = machine.clone();
            let stopped = self
                .blocking(Operation::Shutdown, Some(machine), move |conn| {
                    let (dom, _) = Self::ours(conn, &owner, Operation::Shutdown, &m)?;
                    Ok(!dom.is_active().unwrap_or(true))
                })
                .await?;
            if stopped {
                return Ok(ShutdownOutcome::Graceful);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            tokio::time::sleep(self.config.poll_interval.min(left)).await;
        }
        let owner = self.config.owner.clone();
        let m = machine.clone();
        self.blocking(Operation::Shutdown, Some(machine), move |conn| {
            let op = Operation::Shutdown;
            let (dom, _) = Self::ours(conn, &owner, op, &m)?;
            match dom.destroy() {
                Ok(()) => Ok(ShutdownOutcome::Forced),
                Err(_) if !dom.is_active().unwrap_or(true) => Ok(ShutdownOutcome::Graceful),
                Err(e) => Err(virt_error(op, Some(&m), "powering off the domain", e)),
            }
        })
        .await
    }

    /// The domain's power state (whatever its service does).
    async fn domain_power(&self, machine: &MachineName, op: Operation) -> Result<PowerState> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        self.blocking(op, Some(machine), move |conn| {
            let (dom, _) = Self::ours(conn, &owner, op, &m)?;
            power_state(&dom, op, &m)
        })
        .await
    }

    /// The vsm metadata of one of our machines.
    async fn meta_of(&self, machine: &MachineName, op: Operation) -> Result<Meta> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        self.blocking(op, Some(machine), move |conn| {
            Self::ours(conn, &owner, op, &m).map(|(_, meta)| meta)
        })
        .await
    }

    /// How vsm logs in to `machine`'s guest at `address`.
    fn ssh_target(
        &self,
        machine: &MachineName,
        vm: &VmTemplate,
        address: IpAddr,
    ) -> Option<SshTarget> {
        let ssh = vm.ssh.as_ref()?;
        let known_hosts = self
            .config
            .state_dir
            .as_ref()
            .map(|d| d.join("known_hosts").join(machine.as_str()));
        let mut target =
            SshTarget::new(address.to_string(), ssh.user.clone(), ssh.identity.clone())
                .with_port(ssh.port)
                .with_connect_timeout(Duration::from_secs(5))
                .with_host_key_checking(HostKeyChecking::AcceptNew { known_hosts });
        // Made at each boot (`power_on`); a machine booted before has none and shares nothing.
        if let Some(dir) = self.control_dir(machine).filter(|d| d.is_dir()) {
            target = target.with_control_dir(dir);
        }
        Some(target)
    }

    /// Waits until the running guest's ssh answers (its template's `boot_timeout` at most).
    async fn wait_for_ssh(
        &self,
        machine: &MachineName,
        vm: &VmTemplate,
        op: Operation,
    ) -> Result<SshTarget> {
        let deadline = Instant::now() + vm.boot_timeout;
        let mut last =
            String::from("no address yet (no DHCP lease, guest agent answer or ARP entry)");
        loop {
            if let Some(ip) = self.address(machine).await? {
                if let Some(target) = self.ssh_target(machine, vm, ip) {
                    match ssh::check_reachable(&target).await {
                        Ok(()) => return Ok(target),
                        Err(e) => last = format!("ssh to {ip} does not answer yet: {e}"),
                    }
                }
            } else if !self.domain_power(machine, op).await?.is_active() {
                return Err(HypervisorError::permanent(
                    op,
                    Some(machine),
                    "the guest powered off while booting: see its console with `vsm server logs`",
                ));
            }
            if Instant::now() >= deadline {
                return Err(HypervisorError::permanent(
                    op,
                    Some(machine),
                    format!(
                        "the guest did not answer ssh within {}s (the template's boot_timeout): {last}; see its console with `vsm server logs`",
                        vm.boot_timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn info_of(&self, name: MachineName, meta: &Meta, state: PowerState) -> MachineInfo {
        let mut info = MachineInfo::new(name, state).with_host(self.config.uri.clone());
        info.template = TemplateSource::new(meta.template.clone()).ok();
        info.generation = Some(meta.generation);
        info.labels = meta.labels.clone();
        info
    }
}

fn power_state(dom: &Domain, op: Operation, machine: &MachineName) -> Result<PowerState> {
    let (state, reason) = dom
        .state()
        .map_err(|e| virt_error(op, Some(machine), "reading the domain state", e))?;
    Ok(match state {
        Enum::Known(DomainState::Running | DomainState::Blocked) => PowerState::Running,
        Enum::Known(DomainState::Paused | DomainState::PMSuspended) => PowerState::Paused,
        Enum::Known(DomainState::Shutdown) => PowerState::Stopping,
        Enum::Known(DomainState::Crashed) => PowerState::Crashed,
        Enum::Known(DomainState::Shutoff) => match reason {
            Enum::Known(DomainStateReason::Shutoff(Enum::Known(
                DomainShutoffReason::Crashed | DomainShutoffReason::Failed,
            ))) => PowerState::Crashed,
            _ => PowerState::Stopped,
        },
        _ => PowerState::Unknown,
    })
}

/// The template domain's first disk, as far as cloning needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TemplateDisk {
    /// Byte range of the whole `<disk …>…</disk>` element in the domain XML.
    range: (usize, usize),
    /// `file` or `volume` (the disk's `type`).
    kind: String,
    /// The source file (type `file`).
    file: Option<String>,
    /// Pool and volume (type `volume`).
    pool_volume: Option<(String, String)>,
}

fn find_template_disk(xml: &str) -> Option<TemplateDisk> {
    let mut from = 0;
    while let Some(start) = xml[from..].find("<disk ").map(|i| i + from) {
        let open_end = xml[start..].find('>')? + start;
        let open = &xml[start..=open_end];
        let end = xml[start..].find("</disk>")? + start + "</disk>".len();
        from = end;
        if attr(open, "device").as_deref().unwrap_or("disk") != "disk" {
            continue;
        }
        let body = &xml[start..end];
        let kind = attr(open, "type").unwrap_or_else(|| "file".into());
        let source = element_tag(body, "source");
        let file = source.and_then(|s| attr(s, "file"));
        let pool_volume = source.and_then(|s| Some((attr(s, "pool")?, attr(s, "volume")?)));
        return Some(TemplateDisk {
            range: (start, end),
            kind,
            file,
            pool_volume,
        });
    }
    None
}

/// The opening tag `<name …>` or `<name …/>` of the first element `name` in `xml`.
fn element_tag<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("<{name}");
    let mut from = 0;
    while let Some(start) = xml[from..].find(&needle).map(|i| i + from) {
        let after = xml[start + needle.len()..].chars().next()?;
        if after.is_whitespace() || after == '>' || after == '/' {
            let end = xml[start..].find('>')? + start;
            return Some(&xml[start..=end]);
        }
        from = start + needle.len();
    }
    None
}

/// The value of attribute `name` in one tag, either quote style, unescaped.
fn attr(tag: &str, name: &str) -> Option<String> {
    let mut from = 0;
    let pat = format!("{name}=");
    while let Some(i) = tag[from..].find(&pat).map(|i| i + from) {
        let before_ok = i == 0 || tag[..i].ends_with(|c: char| c.is_whitespace());
        let rest = &tag[i + pat.len()..];
        let quote = rest.chars().next()?;
        if before_ok && (quote == '\'' || quote == '"') {
            let value_end = rest[1..].find(quote)?;
            return Some(xml_unescape(&rest[1..=value_end]));
        }
        from = i + pat.len();
    }
    None
}

/// The text content of the first `<tag>…</tag>`, unescaped.
fn element_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml_unescape(&xml[start..end]))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Removes every self-closing `<mac …/>` element.
fn remove_macs(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<mac ") {
        let Some(end) = rest[start..].find("/>").map(|i| i + start + 2) else {
            break;
        };
        out.push_str(rest[..start].trim_end_matches([' ', '\t']));
        rest = &rest[end..];
        // drop the line break that followed the removed element
        rest = rest.strip_prefix('\n').unwrap_or(rest);
        if out.ends_with('\n') || out.is_empty() {
            continue;
        }
        out.push('\n');
    }
    out.push_str(rest);
    out
}

/// Removes `<backingStore …/>` and `<backingStore …>…</backingStore>` elements.
fn remove_backing_stores(disk: &str) -> String {
    let mut out = disk.to_string();
    while let Some(start) = out.find("<backingStore") {
        let Some(tag_end) = out[start..].find('>').map(|i| i + start) else {
            break;
        };
        let end = if out[..=tag_end].ends_with("/>") {
            tag_end + 1
        } else {
            match out[start..].rfind("</backingStore>") {
                Some(i) => start + i + "</backingStore>".len(),
                None => break,
            }
        };
        out.replace_range(start..end, "");
    }
    out
}

fn render_meta(meta: &Meta) -> String {
    let labels = serde_json::to_string(&meta.labels).unwrap_or_else(|_| "{}".into());
    let mut extra = String::new();
    if let Some(vm) = &meta.vm
        && let Ok(json) = serde_json::to_string(vm)
    {
        extra.push_str(&format!("<vsm:vm>{}</vsm:vm>", xml_escape(&json)));
    }
    if let Some(c) = &meta.console {
        extra.push_str(&format!("<vsm:console>{}</vsm:console>", xml_escape(c)));
    }
    if let Some(seed) = &meta.seed {
        extra.push_str(&format!("<vsm:seed>{}</vsm:seed>", xml_escape(seed)));
    }
    format!(
        "<vsm:machine xmlns:vsm='{METADATA_NAMESPACE}'><vsm:owner>{}</vsm:owner><vsm:template>{}</vsm:template><vsm:generation>{}</vsm:generation><vsm:volume>{}</vsm:volume><vsm:labels>{}</vsm:labels>{extra}</vsm:machine>",
        xml_escape(&meta.owner),
        xml_escape(&meta.template),
        meta.generation,
        xml_escape(&meta.volume),
        xml_escape(&labels),
    )
}

fn parse_meta(xml: &str) -> Option<Meta> {
    let start = xml.find("<vsm:machine")?;
    let end = xml[start..].find("</vsm:machine>")? + start;
    let block = &xml[start..end];
    if !block.contains(METADATA_NAMESPACE) {
        return None;
    }
    Some(Meta {
        owner: element_text(block, "vsm:owner")?,
        template: element_text(block, "vsm:template")?,
        generation: element_text(block, "vsm:generation")?.trim().parse().ok()?,
        volume: element_text(block, "vsm:volume")?,
        labels: element_text(block, "vsm:labels")
            .and_then(|l| serde_json::from_str(&l).ok())
            .unwrap_or_default(),
        vm: element_text(block, "vsm:vm").and_then(|v| serde_json::from_str(&v).ok()),
        console: element_text(block, "vsm:console"),
        seed: element_text(block, "vsm:seed"),
    })
}

/// Builds the clone's domain XML from the template's inactive XML.
fn clone_xml(
    template_xml: &str,
    name: &str,
    disk: &TemplateDisk,
    new_disk_source: &str,
    meta: &Meta,
) -> String {
    let (start, end) = disk.range;
    let mut disk_xml = remove_backing_stores(&template_xml[start..end]);
    // Point the disk at the overlay.
    if let Some(source) = element_tag(&disk_xml, "source").map(str::to_string) {
        let replacement = if source.ends_with("/>") {
            new_disk_source.to_string()
        } else {
            // `<source …>` with children (e.g. seclabel): keep the children.
            new_disk_source.trim_end_matches("/>").to_string() + ">"
        };
        disk_xml = disk_xml.replacen(&source, &replacement, 1);
    }
    // The overlay is qcow2 whatever the template's format was.
    match element_tag(&disk_xml, "driver").map(str::to_string) {
        Some(driver) => {
            let new_driver = match attr(&driver, "type") {
                Some(old) => driver
                    .replacen(&format!("type='{old}'"), "type='qcow2'", 1)
                    .replacen(&format!("type=\"{old}\""), "type='qcow2'", 1),
                None => driver.replacen("<driver", "<driver type='qcow2'", 1),
            };
            disk_xml = disk_xml.replacen(&driver, &new_driver, 1);
        }
        None => {
            if let Some(open_end) = disk_xml.find('>') {
                disk_xml.insert_str(open_end + 1, "\n      <driver name='qemu' type='qcow2'/>");
            }
        }
    }
    let mut xml = format!(
        "{}{}{}",
        &template_xml[..start],
        disk_xml,
        &template_xml[end..]
    );
    xml = remove_all(&xml, "uuid");
    xml = remove_macs(&xml);
    // Drop any vsm metadata the template carried (a template cloned from a machine).
    if let (Some(s), Some(e)) = (xml.find("<vsm:machine"), xml.find("</vsm:machine>"))
        && s < e
    {
        xml.replace_range(s..e + "</vsm:machine>".len(), "");
    }
    // Rename: the first <name> is the domain's.
    if let (Some(s), Some(e)) = (xml.find("<name>"), xml.find("</name>"))
        && s < e
    {
        xml.replace_range(s + "<name>".len()..e, &xml_escape(name));
    }
    let metadata = render_meta(meta);
    if let Some(i) = xml.find("<metadata>") {
        xml.insert_str(i + "<metadata>".len(), &metadata);
    } else if xml.contains("<metadata/>") {
        xml = xml.replacen(
            "<metadata/>",
            &format!("<metadata>{metadata}</metadata>"),
            1,
        );
    } else if let Some(i) = xml.rfind("</domain>") {
        xml.insert_str(i, &format!("  <metadata>{metadata}</metadata>\n"));
    }
    xml
}

/// A domain's vCPUs and memory (`<vcpu>`, `<memory unit=…>`), as placement counts them.
fn domain_size(xml: &str) -> Option<MachineSize> {
    let vcpus: u32 = element_text(xml, "vcpu")
        .or_else(|| {
            // `<vcpu placement='static'>2</vcpu>`: the text after the opening tag.
            let tag = element_tag(xml, "vcpu")?;
            let start = xml.find(tag)? + tag.len();
            let end = xml[start..].find("</vcpu>")? + start;
            Some(xml[start..end].to_string())
        })?
        .trim()
        .parse()
        .ok()?;
    let tag = element_tag(xml, "memory")?;
    let start = xml.find(tag)? + tag.len();
    let end = xml[start..].find("</memory>")? + start;
    let amount: u64 = xml[start..end].trim().parse().ok()?;
    let kib = match attr(tag, "unit").as_deref().unwrap_or("KiB") {
        "b" | "bytes" => amount / 1024,
        "KB" => amount * 1000 / 1024,
        "k" | "KiB" => amount,
        "MB" => amount * 1_000_000 / 1024,
        "M" | "MiB" => amount * 1024,
        "GB" => amount * 1_000_000_000 / 1024,
        "G" | "GiB" => amount * 1024 * 1024,
        _ => return None,
    };
    Some(MachineSize {
        vcpus,
        memory_mib: kib / 1024,
    })
}

/// Removes every `<tag …>…</tag>` and `<tag …/>` element (and the line it stood alone on).
fn remove_all(xml: &str, tag: &str) -> String {
    let mut out = xml.to_string();
    while let Some((i, len, closed)) = element_tag(&out, tag).map(|t| {
        (
            t.as_ptr() as usize - out.as_ptr() as usize,
            t.len(),
            t.ends_with("/>"),
        )
    }) {
        let end = if closed {
            i + len
        } else {
            let close = format!("</{tag}>");
            match out[i..].find(&close) {
                Some(j) => i + j + close.len(),
                None => break,
            }
        };
        let before = out[..i].trim_end_matches([' ', '\t']);
        let alone = before.is_empty() || before.ends_with('\n');
        let (start, end) = if alone {
            let end = if out[end..].starts_with('\n') {
                end + 1
            } else {
                end
            };
            (before.len(), end)
        } else {
            (i, end)
        };
        out.replace_range(start..end, "");
    }
    out
}

/// Gives a clone's XML vsm's serial console, logged by libvirt to `console` (replacing the
/// template's serial and console devices), and the read-only cloud-init seed disk.
fn add_devices(xml: &str, console: Option<&str>, seed: Option<&str>) -> String {
    let mut xml = xml.to_string();
    let mut devices = String::new();
    if let Some(path) = console {
        xml = remove_all(&xml, "serial");
        xml = remove_all(&xml, "console");
        devices.push_str(&format!(
            "    <serial type='pty'>\n      <log file='{}' append='on'/>\n      <target port='0'/>\n    </serial>\n    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n",
            xml_escape(path)
        ));
    }
    if let Some(path) = seed {
        devices.push_str(&format!(
            "    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source file='{}'/>\n      <target dev='vdz' bus='virtio'/>\n      <readonly/>\n    </disk>\n",
            xml_escape(path)
        ));
    }
    if !devices.is_empty()
        && let Some(i) = xml.rfind("</devices>")
    {
        let i = xml[..i].trim_end_matches([' ', '\t']).len();
        xml.insert_str(i, &devices);
    }
    xml
}

/// A short, stable fingerprint of a VM template file's text (the local driver's FNV-1a):
/// registering a generation records it, and provisioning refuses a file changed since.
fn text_fingerprint(text: &str) -> String {
    let mut h = crate::local::clone::Fnv::default();
    h.write(text.as_bytes());
    h.hex()
}

/// What a template source resolves to: the domain to clone and, for a VM template file, its
/// declarations and the file's fingerprint.
#[derive(Debug, Clone)]
struct Resolved {
    domain: TemplateSource,
    vm: Option<VmTemplate>,
    file_fingerprint: Option<String>,
}

fn resolve(source: &TemplateSource) -> Result<Resolved> {
    if !vm_template::is_template_file(source.as_str()) {
        return Ok(Resolved {
            domain: source.clone(),
            vm: None,
            file_fingerprint: None,
        });
    }
    let path = camino::Utf8Path::new(source.as_str());
    let invalid = |reason: String| HypervisorError::InvalidTemplate {
        template: source.clone(),
        reason,
        source: None,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(format!("cannot read the VM template file: {e}")))?;
    let vm = VmTemplate::parse(path, &text).map_err(|e| invalid(e.to_string()))?;
    if let Some(ssh) = &vm.ssh {
        if !ssh.identity.is_file() {
            return Err(invalid(format!(
                "field `ssh.identity`: {} is not a file: give the manager's private key",
                ssh.identity
            )));
        }
        if vm.cloud_init && !public_key_path(&ssh.identity).is_file() {
            return Err(invalid(format!(
                "field `cloud_init`: the seed needs the public key {}; create it with `ssh-keygen -y -f {} > {}`",
                public_key_path(&ssh.identity),
                ssh.identity,
                public_key_path(&ssh.identity)
            )));
        }
    }
    let domain = TemplateSource::new(vm.domain.clone()).map_err(|e| invalid(e.to_string()))?;
    Ok(Resolved {
        domain,
        vm: Some(vm),
        file_fingerprint: Some(text_fingerprint(&text)),
    })
}

/// Creates `dir` (and its parents) owner-only; whether it is there.
fn private_dir(dir: &camino::Utf8Path) -> bool {
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir);
    dir.is_dir()
}

/// The ssh destination of a `qemu+ssh://[user@]host[:port]/…[?keyfile=…]` URI, with the key
/// libvirt would use (`keyfile=`, else the user's usual `~/.ssh/id_ed25519`, `id_ecdsa` or
/// `id_rsa`). `None` for every other URI.
fn ssh_of_uri(uri: &str) -> Option<SshTarget> {
    let rest = uri.strip_prefix("qemu+ssh://")?;
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (u.to_string(), h),
        None => (
            std::env::var("USER").unwrap_or_else(|_| "root".into()),
            authority,
        ),
    };
    let (host, port) = match hostport.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        Some(v6) => {
            let (h, after) = v6.split_once(']')?;
            match after.strip_prefix(':') {
                Some(p) => (h, p.parse().ok()?),
                None => (h, 22),
            }
        }
        None => match hostport.split_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (hostport, 22),
        },
    };
    if host.is_empty() {
        return None;
    }
    let keyfile = tail
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("keyfile="))
        .map(Utf8PathBuf::from);
    let identity = keyfile.or_else(|| {
        let home = Utf8PathBuf::from(std::env::var("HOME").ok()?);
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|k| home.join(".ssh").join(k))
            .find(|p| p.is_file())
    })?;
    Some(
        SshTarget::new(host, user, identity)
            .with_port(port)
            .with_connect_timeout(Duration::from_secs(10)),
    )
}

/// The last `n` lines of a console file on the libvirt host and of what `virtlogd` rotated out
/// of it (`FILE.0`), oldest first, read over ssh.
pub async fn remote_console_tail(
    target: &SshTarget,
    file: &str,
    n: usize,
) -> std::result::Result<Vec<String>, ssh::SshError> {
    let quoted = ssh::shell_quote(file);
    let out = ssh::run_checked(
        target,
        &format!(
            "cat -- {quoted}.0 {quoted} 2>/dev/null | tail -n {}",
            n.max(1)
        ),
    )
    .await?;
    let mut lines: Vec<String> = out
        .stdout_text()
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    if n == 0 {
        lines.clear();
    }
    Ok(lines)
}

/// `command` run in the guest's root directory.
fn in_root(root: &camino::Utf8Path, command: &str) -> String {
    format!("cd {} && {command}", ssh::shell_quote(root.as_str()))
}

/// Writes `bytes` into `vol` through a libvirt stream (works for remote hosts too).
fn upload(
    conn: &Connect,
    vol: &StorageVol,
    bytes: &[u8],
) -> std::result::Result<(), virt::error::Error> {
    let stream = virt::stream::Stream::new(conn, 0)?;
    vol.upload(&stream, 0, bytes.len() as u64, 0)?;
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = stream.send(rest)?;
        let n = usize::try_from(n).unwrap_or(0).min(rest.len());
        if n == 0 {
            let _ = stream.abort();
            return Err(virt::error::Error::last_error());
        }
        rest = &rest[n..];
    }
    stream.finish()
}

fn public_key_path(identity: &camino::Utf8Path) -> Utf8PathBuf {
    Utf8PathBuf::from(format!("{identity}.pub"))
}

/// The seed volume's XML (a raw volume of `len` bytes).
fn seed_volume_xml(name: &str, len: usize) -> String {
    format!(
        "<volume>\n  <name>{}</name>\n  <capacity unit='bytes'>{len}</capacity>\n  <target>\n    <format type='raw'/>\n  </target>\n</volume>\n",
        xml_escape(name)
    )
}

/// The format of a volume (`<target><format type='…'/>`), if stated.
fn volume_format(vol_xml: &str) -> Option<String> {
    let target = &vol_xml[vol_xml.find("<target>")?..];
    attr(element_tag(target, "format")?, "type")
}

/// The base volume of a template disk, with its pool, path, format and capacity.
struct BaseVolume {
    vol: StorageVol,
    pool: StoragePool,
    path: String,
    format: String,
    capacity: u64,
}

fn base_volume(
    conn: &Connect,
    disk: &TemplateDisk,
    template: &TemplateSource,
) -> Result<BaseVolume> {
    let invalid =
        |reason: String, source: Option<virt::error::Error>| HypervisorError::InvalidTemplate {
            template: template.clone(),
            reason,
            source: source.map(|e| Box::new(e) as crate::error::BoxError),
        };
    let vol = match (&disk.file, &disk.pool_volume) {
        (_, Some((pool, volume))) => conn
            .lookup_storage_pool_by_name(pool)
            .and_then(|p| p.lookup_storage_vol_by_name(volume))
            .map_err(|e| invalid(format!("its disk volume {pool}/{volume} is not in a storage pool"), Some(e)))?,
        (Some(file), None) => conn.lookup_storage_vol_by_path(file).map_err(|e| {
            invalid(
                format!("its disk {file} is not a volume of a storage pool: define a pool over its directory"),
                Some(e),
            )
        })?,
        (None, None) => {
            return Err(invalid(
                format!("its first disk (type {}) has no file or volume source", disk.kind),
                None,
            ));
        }
    };
    let pool = vol
        .lookup_storage_pool()
        .map_err(|e| invalid("cannot find the pool of its disk volume".into(), Some(e)))?;
    let path = vol
        .path()
        .map_err(|e| invalid("reading its disk path".into(), Some(e)))?;
    let xml = vol
        .xml_desc(0)
        .map_err(|e| invalid("reading its volume XML".into(), Some(e)))?;
    let format = volume_format(&xml).unwrap_or_else(|| "raw".into());
    let capacity = vol
        .info()
        .map_err(|e| invalid("reading its volume size".into(), Some(e)))?
        .capacity;
    Ok(BaseVolume {
        vol,
        pool,
        path,
        format,
        capacity,
    })
}

fn overlay_volume_xml(
    name: &str,
    capacity: u64,
    backing_path: &str,
    backing_format: &str,
) -> String {
    format!(
        "<volume>\n  <name>{}</name>\n  <capacity unit='bytes'>{capacity}</capacity>\n  <target>\n    <format type='qcow2'/>\n  </target>\n  <backingStore>\n    <path>{}</path>\n    <format type='{}'/>\n  </backingStore>\n</volume>\n",
        xml_escape(name),
        xml_escape(backing_path),
        xml_escape(backing_format),
    )
}

/// Inspects a template domain: its inactive XML, first disk and base volume.
fn inspect(
    conn: &Connect,
    template: &TemplateSource,
) -> Result<(String, TemplateDisk, BaseVolume, String)> {
    let dom = conn.lookup_domain_by_name(template.as_str()).map_err(|e| {
        HypervisorError::InvalidTemplate {
            template: template.clone(),
            reason: "no libvirt domain of this name: give the name of a defined template domain"
                .into(),
            source: Some(Box::new(e)),
        }
    })?;
    let xml = dom
        .xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
        .map_err(|e| {
            virt_error(
                Operation::InspectTemplate,
                None,
                "reading the template XML",
                e,
            )
        })?;
    let uuid = dom.uuid_string().map_err(|e| {
        virt_error(
            Operation::InspectTemplate,
            None,
            "reading the template UUID",
            e,
        )
    })?;
    let disk = find_template_disk(&xml).ok_or_else(|| HypervisorError::InvalidTemplate {
        template: template.clone(),
        reason: "the domain has no disk to clone".into(),
        source: None,
    })?;
    let base = base_volume(conn, &disk, template)?;
    Ok((xml, disk, base, uuid))
}

fn undefine(dom: &Domain, machine: &MachineName) -> Result<()> {
    use virt::sys::{
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE as SAVE, VIR_DOMAIN_UNDEFINE_NVRAM as NVRAM,
        VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA as SNAPSHOTS,
    };
    let mut last = None;
    for flags in [SAVE | SNAPSHOTS | NVRAM, SAVE | SNAPSHOTS, 0] {
        match dom.undefine_flags(flags) {
            Ok(()) => return Ok(()),
            Err(e)
                if is_code(&e, ErrorNumber::InvalidArg) || is_code(&e, ErrorNumber::NoSupport) =>
            {
                last = Some(e);
            }
            Err(e) => {
                return Err(virt_error(
                    Operation::Destroy,
                    Some(machine),
                    "undefining the domain",
                    e,
                ));
            }
        }
    }
    match last {
        Some(e) => Err(virt_error(
            Operation::Destroy,
            Some(machine),
            "undefining the domain",
            e,
        )),
        None => Ok(()),
    }
}

#[async_trait]
impl Hypervisor for LibvirtDriver {
    fn kind(&self) -> HypervisorKind {
        HypervisorKind::Libvirt
    }

    fn describe(&self) -> String {
        format!("libvirt {}", self.config.uri)
    }

    fn boots_guests(&self) -> bool {
        true
    }

    async fn inspect_template(&self, source: &TemplateSource) -> Result<TemplateInfo> {
        let resolved = resolve(source)?;
        let domain = resolved.domain.clone();
        let (disk, base, uuid, size) = self
            .blocking(Operation::InspectTemplate, None, move |conn| {
                let (xml, disk, base, uuid) = inspect(conn, &domain)?;
                let size = domain_size(&xml);
                Ok((disk, (base.path, base.format, base.capacity), uuid, size))
            })
            .await?;
        let fingerprint = match &resolved.file_fingerprint {
            Some(f) => format!("{uuid}+{f}"),
            None => uuid,
        };
        let mut info = TemplateInfo::new(source.clone(), fingerprint);
        info.size = size;
        info.description = Some(format!("libvirt domain {}", resolved.domain));
        info.details.insert("disk".into(), base.0);
        info.details.insert("format".into(), base.1);
        info.details
            .insert("capacity_bytes".into(), base.2.to_string());
        info.details.insert("disk_type".into(), disk.kind);
        match &resolved.vm {
            Some(vm) => {
                let access = match &vm.ssh {
                    Some(ssh) => format!("ssh {}@…:{} ({})", ssh.user, ssh.port, ssh.identity),
                    None => "none".into(),
                };
                info.details.insert("access".into(), access);
                info.details
                    .insert("guest_root".into(), vm.root.to_string());
                info.details
                    .insert("cloud_init".into(), vm.cloud_init.to_string());
                info.details.insert(
                    "service".into(),
                    vm.service.as_ref().map_or_else(
                        || "none (start/stop power the VM)".into(),
                        |s| s.start.clone(),
                    ),
                );
            }
            None => {
                info.details.insert(
                    "access".into(),
                    "none: definitions cannot be delivered (register a VM template file)".into(),
                );
            }
        }
        Ok(info)
    }

    async fn provision(&self, spec: &ProvisionSpec) -> Result<MachineInfo> {
        let resolved = resolve(&spec.template)?;
        let machine = spec.machine.clone();
        // The seed (instance id, host name, the manager's public key) for cloud-init.
        let seed = match &resolved.vm {
            Some(vm) if vm.cloud_init => {
                let ssh = vm.ssh.as_ref().ok_or_else(|| {
                    HypervisorError::permanent(
                        Operation::Provision,
                        Some(&machine),
                        "cloud_init without ssh",
                    )
                })?;
                let key_path = public_key_path(&ssh.identity);
                let key = std::fs::read_to_string(&key_path).map_err(|e| {
                    HypervisorError::permanent_from(
                        Operation::Provision,
                        Some(&machine),
                        format!("reading the public key {key_path} for the cloud-init seed"),
                        e,
                    )
                })?;
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let image = Seed {
                    instance_id: format!("{machine}-{nanos:x}"),
                    hostname: machine.as_str().replace('_', "-"),
                    authorized_keys: vec![key.trim().to_string()],
                }
                .image()
                .map_err(|e| {
                    HypervisorError::permanent_from(
                        Operation::Provision,
                        Some(&machine),
                        "building the cloud-init seed",
                        e,
                    )
                })?;
                Some(image)
            }
            _ => None,
        };
        let console = match self
            .config
            .state_dir
            .as_ref()
            .filter(|_| self.config.console_logs)
        {
            Some(dir) => {
                let consoles = dir.join("consoles");
                std::fs::create_dir_all(&consoles).map_err(|e| {
                    HypervisorError::permanent_from(
                        Operation::Provision,
                        Some(&machine),
                        format!("creating {consoles}"),
                        e,
                    )
                })?;
                let path = consoles.join(format!("{machine}.log"));
                // A file left by an earlier machine of the same name is not this one's.
                let _ = std::fs::remove_file(&path);
                Some(path.to_string())
            }
            // A remote host over ssh: its own libvirt log directory, read back over ssh.
            None if ssh_of_uri(&self.config.uri).is_some() => Some(
                self.config
                    .remote_console_dir
                    .join(format!("{machine}.console.log"))
                    .to_string(),
            ),
            None => None,
        };
        let spec2 = spec.clone();
        let owner = self.config.owner.clone();
        let pool_name = self.config.pool.clone();
        let resolved2 = resolved.clone();
        let meta = self
            .blocking(Operation::Provision, Some(&spec.machine), move |conn| {
                let spec = spec2;
                let resolved = resolved2;
                let machine = &spec.machine;
                let op = Operation::Provision;
                match conn.lookup_domain_by_name(machine.as_str()) {
                    Ok(_) => return Err(HypervisorError::AlreadyExists { machine: machine.clone() }),
                    Err(e) if is_code(&e, ErrorNumber::NoDomain) => {}
                    Err(e) => return Err(virt_error(op, Some(machine), "looking up the name", e)),
                }
                let (xml, disk, base, uuid) = inspect(conn, &resolved.domain)?;
                let fingerprint = match &resolved.file_fingerprint {
                    Some(f) => format!("{uuid}+{f}"),
                    None => uuid,
                };
                if let Some(want) = &spec.fingerprint
                    && *want != fingerprint
                {
                    return Err(HypervisorError::InvalidTemplate {
                        template: spec.template.clone(),
                        reason: format!(
                            "the template domain or its VM template file changed since this generation was registered (now {fingerprint}, registered {want}); register it again as a new generation"
                        ),
                        source: None,
                    });
                }
                let pool = match &pool_name {
                    Some(name) => conn
                        .lookup_storage_pool_by_name(name)
                        .map_err(|e| virt_error(op, Some(machine), &format!("looking up storage pool {name}"), e))?,
                    None => base.pool,
                };
                let vol_name = format!("{machine}.qcow2");
                let seed_name = format!("{machine}-seed.img");
                for name in [&vol_name, &seed_name] {
                    if pool.lookup_storage_vol_by_name(name).is_ok() {
                        return Err(HypervisorError::permanent(
                            op,
                            Some(machine),
                            format!(
                                "volume {name} already exists without a domain (left by an interrupted provisioning?): delete it (virsh vol-delete) and retry"
                            ),
                        ));
                    }
                }
                let vol_xml = overlay_volume_xml(&vol_name, base.capacity, &base.path, &base.format);
                let overlay = StorageVol::create_xml(&pool, &vol_xml, 0)
                    .map_err(|e| virt_error(op, Some(machine), "creating the overlay volume", e))?;
                drop(base.vol);
                let mut seed_vol: Option<StorageVol> = None;
                let result = (|| {
                    let path = overlay
                        .path()
                        .map_err(|e| virt_error(op, Some(machine), "reading the overlay path", e))?;
                    let seed_path = match &seed {
                        Some(image) => {
                            let vol = StorageVol::create_xml(&pool, &seed_volume_xml(&seed_name, image.len()), 0)
                                .map_err(|e| virt_error(op, Some(machine), "creating the seed volume", e))?;
                            seed_vol = Some(vol.clone());
                            upload(conn, &vol, image)
                                .map_err(|e| virt_error(op, Some(machine), "writing the seed volume", e))?;
                            Some(vol.path().map_err(|e| virt_error(op, Some(machine), "reading the seed path", e))?)
                        }
                        None => None,
                    };
                    let source = if disk.kind == "volume" {
                        let pool_name = pool
                            .name()
                            .map_err(|e| virt_error(op, Some(machine), "reading the pool name", e))?;
                        format!("<source pool='{}' volume='{}'/>", xml_escape(&pool_name), xml_escape(&vol_name))
                    } else {
                        format!("<source file='{}'/>", xml_escape(&path))
                    };
                    let meta = Meta {
                        owner,
                        template: spec.template.as_str().to_string(),
                        generation: spec.generation,
                        volume: path,
                        labels: spec.labels.clone(),
                        vm: resolved.vm.clone(),
                        console: console.clone(),
                        seed: seed_path.clone(),
                    };
                    let new_xml = clone_xml(&xml, machine.as_str(), &disk, &source, &meta);
                    let new_xml = add_devices(&new_xml, console.as_deref(), seed_path.as_deref());
                    conn.define_domain_xml(&new_xml)
                        .map_err(|e| virt_error(op, Some(machine), "defining the cloned domain", e))?;
                    Ok(meta)
                })();
                if result.is_err() {
                    let _ = overlay.delete(0);
                    if let Some(v) = seed_vol {
                        let _ = v.delete(0);
                    }
                }
                result
            })
            .await?;
        tracing::info!(machine = %spec.machine, uri = %self.config.uri, "provisioned libvirt domain");
        // A VM whose service vsm drives runs from now on: boot it and wait for its ssh.
        if let Some(vm) = meta.vm.as_ref().filter(|vm| vm.service.is_some()) {
            let booted = async {
                self.power_on(&spec.machine).await?;
                self.wait_for_ssh(&spec.machine, vm, Operation::Provision)
                    .await
            }
            .await;
            if let Err(e) = booted {
                // Leave nothing half-made behind: the engine may retry the whole provision.
                let _ = self.destroy(&spec.machine).await;
                return Err(e);
            }
            let address = self.address(&spec.machine).await.ok().flatten();
            return Ok(self
                .info_of(spec.machine.clone(), &meta, PowerState::Stopped)
                .with_address(address));
        }
        Ok(self.info_of(spec.machine.clone(), &meta, PowerState::Stopped))
    }

    async fn start(&self, machine: &MachineName) -> Result<()> {
        let meta = self.meta_of(machine, Operation::Start).await?;
        self.power_on(machine).await?;
        let Some(vm) = meta.vm.as_ref().filter(|vm| vm.ssh.is_some()) else {
            return Ok(());
        };
        // Started means reachable: the guest's ssh answers (and its service runs).
        let target = self.wait_for_ssh(machine, vm, Operation::Start).await?;
        if let Some(service) = &vm.service {
            ssh::run_checked(&target, &in_root(&vm.root, &service.start))
                .await
                .map_err(|e| {
                    HypervisorError::permanent_from(
                        Operation::Start,
                        Some(machine),
                        "starting the guest's service (`service.start`)",
                        e,
                    )
                })?;
        }
        Ok(())
    }

    async fn shutdown(&self, machine: &MachineName, timeout: Duration) -> Result<ShutdownOutcome> {
        let meta = self.meta_of(machine, Operation::Shutdown).await?;
        if let Some((vm, service)) = meta
            .vm
            .as_ref()
            .and_then(|vm| Some((vm, vm.service.as_ref()?)))
        {
            // The VM keeps running; its service stops.
            if !self
                .domain_power(machine, Operation::Shutdown)
                .await?
                .is_active()
            {
                return Ok(ShutdownOutcome::AlreadyStopped);
            }
            let target = self.wait_for_ssh(machine, vm, Operation::Shutdown).await?;
            let status = ssh::run(&target, &in_root(&vm.root, &service.status))
                .await
                .map_err(|e| {
                    HypervisorError::transient_from(
                        Operation::Shutdown,
                        Some(machine),
                        "asking the guest's service for its status",
                        e,
                    )
                })?;
            if !status.success() {
                return Ok(ShutdownOutcome::AlreadyStopped);
            }
            let stop = tokio::time::timeout(
                timeout.max(Duration::from_secs(1)),
                ssh::run_checked(&target, &in_root(&vm.root, &service.stop)),
            )
            .await
            .map_err(|_| HypervisorError::timeout(Operation::Shutdown, Some(machine), timeout))?;
            stop.map_err(|e| {
                HypervisorError::permanent_from(
                    Operation::Shutdown,
                    Some(machine),
                    "stopping the guest's service (`service.stop`)",
                    e,
                )
            })?;
            return Ok(ShutdownOutcome::Graceful);
        }
        let outcome = self.power_off(machine, timeout).await;
        // The guest's shared ssh connections end with it.
        self.forget_connections(machine);
        outcome
    }

    async fn destroy(&self, machine: &MachineName) -> Result<()> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        self.blocking(Operation::Destroy, Some(machine), move |conn| {
            let op = Operation::Destroy;
            let (dom, meta) = Self::ours(conn, &owner, op, &m)?;
            if dom.is_active().unwrap_or(false)
                && let Err(e) = dom.destroy()
                && dom.is_active().unwrap_or(true)
            {
                return Err(virt_error(op, Some(&m), "powering off the domain", e));
            }
            undefine(&dom, &m)?;
            if let Some(seed) = &meta.seed {
                match conn.lookup_storage_vol_by_path(seed) {
                    Ok(vol) => vol.delete(0).map_err(|e| {
                        virt_error(op, Some(&m), &format!("deleting volume {seed}"), e)
                    })?,
                    Err(e) if is_code(&e, ErrorNumber::NoStorageVolume) => {}
                    Err(e) => {
                        return Err(virt_error(
                            op,
                            Some(&m),
                            &format!("looking up volume {seed}"),
                            e,
                        ));
                    }
                }
            }
            match conn.lookup_storage_vol_by_path(&meta.volume) {
                Ok(vol) => vol.delete(0).map_err(|e| {
                    virt_error(op, Some(&m), &format!("deleting volume {}", meta.volume), e)
                }),
                Err(e) if is_code(&e, ErrorNumber::NoStorageVolume) => Ok(()),
                Err(e) => Err(virt_error(
                    op,
                    Some(&m),
                    &format!("looking up volume {}", meta.volume),
                    e,
                )),
            }
        })
        .await?;
        lock(&self.cpu).remove(machine);
        self.forget_connections(machine);
        if let Some(dir) = &self.config.state_dir {
            let _ = std::fs::remove_file(dir.join("known_hosts").join(machine.as_str()));
            for suffix in ["", ".0", ".1", ".2", ".3"] {
                let _ = std::fs::remove_file(
                    dir.join("consoles").join(format!("{machine}.log{suffix}")),
                );
            }
        }
        tracing::info!(%machine, uri = %self.config.uri, "destroyed libvirt domain");
        Ok(())
    }

    async fn state(&self, machine: &MachineName) -> Result<PowerState> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        let (power, meta) = self
            .blocking(Operation::State, Some(machine), move |conn| {
                let (dom, meta) = Self::ours(conn, &owner, Operation::State, &m)?;
                Ok((power_state(&dom, Operation::State, &m)?, meta))
            })
            .await?;
        let Some((vm, service)) = meta
            .vm
            .as_ref()
            .and_then(|vm| Some((vm, vm.service.as_ref()?)))
        else {
            return Ok(power);
        };
        match power {
            // The VM runs: the service decides.
            PowerState::Running => {}
            // A VM that is off runs no service; a crashed one is reported as crashed.
            PowerState::Crashed => return Ok(PowerState::Crashed),
            PowerState::Stopped | PowerState::Paused => return Ok(PowerState::Stopped),
            other => return Ok(other),
        }
        let Some(target) = self
            .address(machine)
            .await?
            .and_then(|ip| self.ssh_target(machine, vm, ip))
        else {
            // Booting: no address yet.
            return Ok(PowerState::Starting);
        };
        match ssh::run(&target, &in_root(&vm.root, &service.status)).await {
            Ok(out) if out.success() => Ok(PowerState::Running),
            Ok(_) => Ok(PowerState::Stopped),
            Err(e) if e.is_transient() => Ok(PowerState::Starting),
            Err(e) => Err(HypervisorError::transient_from(
                Operation::State,
                Some(machine),
                "asking the guest's service for its status",
                e,
            )),
        }
    }

    async fn info(&self, machine: &MachineName) -> Result<MachineInfo> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        let (meta, state) = self
            .blocking(Operation::Info, Some(machine), move |conn| {
                let (dom, meta) = Self::ours(conn, &owner, Operation::Info, &m)?;
                Ok((meta, power_state(&dom, Operation::Info, &m)?))
            })
            .await?;
        let address = if state.is_active() {
            self.address(machine).await.ok().flatten()
        } else {
            None
        };
        Ok(self
            .info_of(machine.clone(), &meta, state)
            .with_address(address))
    }

    async fn list(&self) -> Result<Vec<MachineInfo>> {
        let owner = self.config.owner.clone();
        let found = self
            .blocking(Operation::List, None, move |conn| {
                let domains = conn
                    .list_all_domains(virt::sys::VIR_CONNECT_LIST_DOMAINS_PERSISTENT)
                    .map_err(|e| virt_error(Operation::List, None, "listing domains", e))?;
                let mut found = Vec::new();
                for dom in domains {
                    // Domains may vanish while we look: skip what fails.
                    let Ok(xml) = dom.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE) else {
                        continue;
                    };
                    let Some(meta) = parse_meta(&xml).filter(|m| m.owner == owner) else {
                        continue;
                    };
                    let Ok(name) = dom
                        .name()
                        .map_err(drop)
                        .and_then(|n| MachineName::new(n).map_err(drop))
                    else {
                        continue;
                    };
                    let state =
                        power_state(&dom, Operation::List, &name).unwrap_or(PowerState::Unknown);
                    let address = if state.is_active() {
                        domain_address(&dom)
                    } else {
                        None
                    };
                    found.push((name, meta, state, address));
                }
                Ok(found)
            })
            .await?;
        let mut list: Vec<MachineInfo> = found
            .into_iter()
            .map(|(name, meta, state, address)| {
                self.info_of(name, &meta, state).with_address(address)
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    async fn address(&self, machine: &MachineName) -> Result<Option<IpAddr>> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        self.blocking(Operation::Address, Some(machine), move |conn| {
            let (dom, meta) = Self::ours(conn, &owner, Operation::Address, &m)?;
            let (dom, meta) = (dom, meta);
            if !dom.is_active().unwrap_or(false) {
                return Ok(None);
            }
            Ok(domain_address(&dom).or(meta.vm.and_then(|vm| vm.address)))
        })
        .await
    }

    async fn logs(&self, machine: &MachineName, tail_lines: usize) -> Result<Vec<String>> {
        // Check the machine first: unknown machines are NotFound, not Unsupported.
        let meta = self.meta_of(machine, Operation::Logs).await?;
        // A console on a remote host: read over the same ssh that libvirt's URI uses.
        if let Some(console) = meta.console.as_ref().filter(|_| !self.config.console_logs)
            && let Some(target) = ssh_of_uri(&self.config.uri)
        {
            return remote_console_tail(&target, console, tail_lines)
                .await
                .map_err(|e| {
                    HypervisorError::transient_from(
                        Operation::Logs,
                        Some(machine),
                        format!("reading the console {console} on the libvirt host"),
                        e,
                    )
                });
        }
        let files: Vec<Utf8PathBuf> = match (&meta.console, &self.config.log_dir) {
            // vsm's console file and what virtlogd rotated out of it, oldest first.
            (Some(console), _) => ["", ".0"]
                .iter()
                .rev()
                .map(|suffix| Utf8PathBuf::from(format!("{console}{suffix}")))
                .collect(),
            (None, Some(dir)) => vec![dir.join(format!("{machine}.log"))],
            (None, None) => {
                return Err(HypervisorError::Unsupported {
                    kind: HypervisorKind::Libvirt,
                    op: Operation::Logs,
                });
            }
        };
        let mut lines: Vec<String> = Vec::new();
        for path in files {
            let text = match tokio::fs::read(&path).await {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(HypervisorError::permanent_from(
                        Operation::Logs,
                        Some(machine),
                        format!("reading {path}"),
                        e,
                    ));
                }
            };
            // Serial consoles end lines with CR LF.
            lines.extend(text.lines().map(|l| l.trim_end_matches('\r').to_string()));
        }
        let skip = lines.len().saturating_sub(tail_lines);
        Ok(lines.into_iter().skip(skip).collect())
    }

    async fn guest_access(&self, machine: &MachineName) -> Result<Option<GuestAccess>> {
        let meta = self.meta_of(machine, Operation::Address).await?;
        let Some(vm) = meta.vm.as_ref().filter(|vm| vm.ssh.is_some()) else {
            return Ok(None);
        };
        // A VM that is off (a stopped server without `service:`) is booted for the delivery;
        // the caller powers it off again.
        let booted_for_delivery = !self
            .domain_power(machine, Operation::Address)
            .await?
            .is_active();
        if booted_for_delivery {
            self.power_on(machine).await?;
        }
        let target = match self.wait_for_ssh(machine, vm, Operation::Address).await {
            Ok(t) => t,
            Err(e) => {
                if booted_for_delivery {
                    let _ = self.shutdown(machine, Duration::from_secs(30)).await;
                }
                return Err(e);
            }
        };
        Ok(Some(GuestAccess {
            target,
            root: vm.root.clone(),
            booted_for_delivery,
        }))
    }

    async fn capacity(&self) -> Result<HostCapacity> {
        let uri = self.config.uri.clone();
        self.blocking(Operation::Capacity, None, move |conn| {
            let node = conn
                .node_info()
                .map_err(|e| virt_error(Operation::Capacity, None, "reading the node info", e))?;
            Ok(HostCapacity::new(
                node.cpus,
                node.memory / 1024,
                format!("{} ({uri})", node.model),
            ))
        })
        .await
    }

    async fn load(&self, machine: &MachineName) -> Result<LoadFigures> {
        let owner = self.config.owner.clone();
        let m = machine.clone();
        let info = self
            .blocking(Operation::Load, Some(machine), move |conn| {
                let (dom, _) = Self::ours(conn, &owner, Operation::Load, &m)?;
                dom.info()
                    .map_err(|e| virt_error(Operation::Load, Some(&m), "reading domain info", e))
            })
            .await?;
        let now = Instant::now();
        let previous = lock(&self.cpu).insert(machine.clone(), (now, info.cpu_time));
        let cpu_percent = previous.and_then(|(then, cpu)| {
            let wall = now.duration_since(then).as_nanos() as f64;
            (wall > 0.0 && info.cpu_time >= cpu)
                .then(|| (info.cpu_time - cpu) as f64 * 100.0 / wall)
        });
        Ok(LoadFigures::new(
            cpu_percent,
            Some(Duration::from_nanos(info.cpu_time)),
            Some(info.memory * 1024),
            Some(info.nr_virt_cpu),
        ))
    }
}

/// The first address libvirt knows for a running domain: its DHCP leases, then the guest
/// agent, then the ARP table (loopback and link-local addresses do not count).
fn domain_address(dom: &Domain) -> Option<IpAddr> {
    for source in [
        virt::sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
        virt::sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
        virt::sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
    ] {
        let Ok(interfaces) = dom.interface_addresses(source, 0) else {
            continue;
        };
        let addrs: Vec<IpAddr> = interfaces
            .iter()
            .flat_map(|i| i.addrs.iter())
            .filter_map(|a| a.addr.parse::<IpAddr>().ok())
            .filter(|a| !a.is_loopback() && !is_link_local(a))
            .collect();
        if let Some(ip) = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) {
            return Some(*ip);
        }
    }
    None
}

fn is_link_local(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "<domain type='test'>
  <name>tmpl</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='KiB'>1024</memory>
  <devices>
    <disk type='file' device='cdrom'>
      <source file='/iso/x.iso'/>
      <target dev='hdc'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/pool/base.img'/>
      <backingStore type='file'>
        <format type='raw'/>
        <source file='/pool/older.img'/>
        <backingStore/>
      </backingStore>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
    </interface>
  </devices>
</domain>
";

    fn meta() -> Meta {
        Meta {
            owner: "o&<1>".into(),
            template: "tmpl".into(),
            generation: 3,
            volume: "/pool/web-1.qcow2".into(),
            labels: BTreeMap::from([("unit".to_string(), "sh'op\"<&>".to_string())]),
            vm: Some(
                VmTemplate::parse(
                    camino::Utf8Path::new("/t/vm.yaml"),
                    "format: 1\ndomain: d\nssh: { user: root, identity: /k/id }\ncloud_init: true\nservice: { start: \"a && b\", stop: '<s>', status: c }\n",
                )
                .expect("vm template"),
            ),
            console: Some("/state/consoles/web-1.log".into()),
            seed: Some("/pool/web-1-seed.img".into()),
        }
    }

    #[test]
    fn finds_the_first_real_disk() {
        let disk = find_template_disk(TEMPLATE).expect("disk");
        assert_eq!(disk.kind, "file");
        assert_eq!(disk.file.as_deref(), Some("/pool/base.img"));
        assert!(TEMPLATE[disk.range.0..disk.range.1].contains("vda"));
    }

    #[test]
    fn clone_renames_drops_identity_and_points_at_the_overlay() {
        let disk = find_template_disk(TEMPLATE).expect("disk");
        let xml = clone_xml(
            TEMPLATE,
            "web-1",
            &disk,
            "<source file='/pool/web-1.qcow2'/>",
            &meta(),
        );
        assert!(
            xml.contains("<name>web-1</name>") && !xml.contains("<name>tmpl</name>"),
            "{xml}"
        );
        assert!(!xml.contains("<uuid>") && !xml.contains("<mac "), "{xml}");
        assert!(xml.contains("<source file='/pool/web-1.qcow2'/>"), "{xml}");
        assert!(
            !xml.contains("/pool/base.img") && !xml.contains("backingStore"),
            "{xml}"
        );
        assert!(xml.contains("<driver name='qemu' type='qcow2'/>"), "{xml}");
        assert!(
            xml.contains("<source file='/iso/x.iso'/>"),
            "cdrom untouched: {xml}"
        );
        assert_eq!(parse_meta(&xml), Some(meta()));
    }

    #[test]
    fn metadata_round_trips_with_either_quote_style() {
        let rendered = render_meta(&meta());
        assert_eq!(parse_meta(&rendered), Some(meta()));
        let libvirt_style = rendered.replace(
            &format!("'{METADATA_NAMESPACE}'"),
            &format!("\"{METADATA_NAMESPACE}\""),
        );
        assert_eq!(parse_meta(&libvirt_style), Some(meta()));
        assert_eq!(parse_meta("<domain/>"), None);
    }

    #[test]
    fn metadata_without_vm_fields_still_parses() {
        let mut old = meta();
        old.vm = None;
        old.console = None;
        old.seed = None;
        assert_eq!(parse_meta(&render_meta(&old)), Some(old));
    }

    #[test]
    fn clones_get_vsm_console_and_the_seed_disk() {
        let template = TEMPLATE.replace(
            "  </devices>",
            "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n    <console type='pty'/>\n  </devices>",
        );
        let xml = add_devices(
            &template,
            Some("/s/consoles/a.log"),
            Some("/pool/a-seed.img"),
        );
        assert_eq!(xml.matches("<serial").count(), 1, "{xml}");
        assert_eq!(xml.matches("<console").count(), 1, "{xml}");
        assert!(
            xml.contains("<log file='/s/consoles/a.log' append='on'/>"),
            "{xml}"
        );
        assert!(xml.contains("<source file='/pool/a-seed.img'/>"), "{xml}");
        assert!(xml.contains("<readonly/>"), "{xml}");
        // Still one well-formed devices block, with the template's disks kept.
        assert!(
            xml.contains("/pool/base.img") && xml.contains("/iso/x.iso"),
            "{xml}"
        );
        assert!(xml.find("<log file").expect("log") < xml.find("</devices>").expect("end"));
        // Nothing to add: the XML is unchanged.
        assert_eq!(add_devices(TEMPLATE, None, None), TEMPLATE);
    }

    #[test]
    fn remove_all_takes_both_element_forms_and_their_lines() {
        let xml = "<d>\n  <serial type='pty'>\n    <target port='0'/>\n  </serial>\n  <serial type='file'/>\n  <x/>\n</d>";
        assert_eq!(remove_all(xml, "serial"), "<d>\n  <x/>\n</d>");
        assert_eq!(remove_all(xml, "serialx"), xml);
    }

    #[test]
    fn domain_sizes_in_every_unit() {
        let size = |xml: &str| domain_size(xml);
        assert_eq!(
            size(
                "<domain><memory unit='KiB'>1048576</memory><vcpu placement='static'>2</vcpu></domain>"
            ),
            Some(MachineSize {
                vcpus: 2,
                memory_mib: 1024
            })
        );
        assert_eq!(
            size("<domain><memory unit='MiB'>256</memory><vcpu>1</vcpu></domain>"),
            Some(MachineSize {
                vcpus: 1,
                memory_mib: 256
            })
        );
        assert_eq!(
            size("<domain><memory>65536</memory><vcpu>4</vcpu></domain>"),
            Some(MachineSize {
                vcpus: 4,
                memory_mib: 64
            })
        );
        assert_eq!(size("<domain><vcpu>1</vcpu></domain>"), None);
    }

    #[test]
    fn ssh_uris_give_the_host_user_port_and_key() {
        let t = ssh_of_uri("qemu+ssh://ops@hv1.example:2222/system?keyfile=/k/id").expect("ssh");
        assert_eq!(
            (
                t.host.as_str(),
                t.user.as_str(),
                t.port,
                t.identity.as_str()
            ),
            ("hv1.example", "ops", 2222, "/k/id")
        );
        let t = ssh_of_uri("qemu+ssh://root@[fd00::1]/system?keyfile=/k/id").expect("v6");
        assert_eq!((t.host.as_str(), t.port), ("fd00::1", 22));
        assert!(ssh_of_uri("qemu:///system").is_none());
        assert!(ssh_of_uri("test:///default").is_none());
        assert!(ssh_of_uri("qemu+tls://hv1/system").is_none());
    }

    #[test]
    fn file_fingerprints_change_with_the_text() {
        assert_eq!(text_fingerprint("a"), text_fingerprint("a"));
        assert_ne!(text_fingerprint("a"), text_fingerprint("b"));
        assert_eq!(text_fingerprint("").len(), 16);
    }

    #[test]
    fn overlay_always_names_backing_format() {
        let xml = overlay_volume_xml("web-1.qcow2", 1024, "/pool/base.img", "raw");
        assert!(
            xml.contains("<path>/pool/base.img</path>") && xml.contains("<format type='raw'/>"),
            "{xml}"
        );
        assert_eq!(
            volume_format(
                "<volume><target><path>/x</path><format type='qcow2'/></target></volume>"
            )
            .as_deref(),
            Some("qcow2")
        );
    }

    #[test]
    fn attributes_in_both_quote_styles() {
        assert_eq!(
            attr("<source file=\"/a b\"/>", "file").as_deref(),
            Some("/a b")
        );
        assert_eq!(
            attr("<disk type='file' device='disk'>", "device").as_deref(),
            Some("disk")
        );
        assert_eq!(
            attr("<x mytype='a' type='b'>", "type").as_deref(),
            Some("b")
        );
    }
}
