//! `VmLab`: a self-contained libvirt lab for tests that boot real guests.
//!
//! A lab is a network namespace of its own (`vsm-lab-<pid>-<n>`) in which a private `virtlogd`
//! and `libvirtd` run with private state, an isolated libvirt network (`vsmlab`, bridge
//! `vsmlab0`, `10.213.N.0/24`, DHCP by libvirt's dnsmasq, no forwarding) and a `dir` storage pool
//! (`vsmlab`) in the lab's temporary directory. Tests reach guests only from inside the namespace
//! ([`VmLab::command`]); nothing of the host's libvirt (its state, its `default` network, the
//! 192.168.122.0/24 bridge) is touched or used.
//!
//! How the daemons are isolated: one `ip netns exec NS unshare --pid --fork --kill-child
//! --mount-proc sh -c SCRIPT` process (the lab's *init*, a child of the test process). It runs
//! in the lab's network namespace, in a new PID namespace (so it reaps every daemonized child —
//! libvirt's `destroy` waits for QEMU to be reaped — and killing it kills everything in the lab)
//! and in a private mount namespace where the script mounts an empty tmpfs over `/run` and binds
//! directories of the lab over `/etc/libvirt`, `/var/lib/libvirt`, `/var/cache/libvirt` and
//! `/var/log/libvirt` before it starts `virtlogd -d` and `libvirtd -d`. The lab's `/etc/libvirt`
//! holds only `nwfilter/` (copied) and a `qemu.conf` that runs QEMU as root without a security
//! driver or dynamic ownership, so no persistent definition or autostart link of the host (e.g.
//! Debian's `default` network) is ever seen. `libvirtd.conf` puts the sockets in `<dir>/run`,
//! which clients outside the mount namespace reach: the URI is
//! `qemu:///system?socket=<dir>/run/libvirt-sock`. QEMU's capability cache is kept between labs
//! in `$TMPDIR/vsm-lab-cache/` (libvirt re-probes when it is stale), so a lab starts in about
//! 0.5 s (about 2 s cold; up to 8 s was seen on a busy machine).
//!
//! Preconditions (root, `ip`, `unshare`, `libvirtd`, `virtlogd`, `virsh`,
//! `qemu-system-x86_64`, `dnsmasq`, `/dev/net/tun`, creating a network namespace) that fail
//! make [`VmLab::start`] return a [`Skip`] — or panic when `CI=true`, because CI must run these
//! tests. Anything that fails after the preconditions held is a real failure and panics with
//! the daemons' logs. Dropping the lab (also while a test panics) destroys and undefines every
//! domain, stops the network and the pool, kills every process of the lab, deletes the namespace
//! and removes the directory (`VSM_LAB_KEEP=1` keeps the directory for a post-mortem). A lab
//! left behind by a killed test process is cleaned up by the next [`VmLab::start`].
//!
//! [`TinyGuest`] builds a minimal guest (the host's Debian kernel, a busybox initramfs with the
//! virtio-net modules) that takes a DHCP lease and serves HTTP on port 80.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The name of the lab's libvirt network.
pub const NETWORK: &str = "vsmlab";
/// The bridge of the lab's network (inside the lab's namespace).
pub const BRIDGE: &str = "vsmlab0";
/// The name of the lab's storage pool.
pub const POOL: &str = "vsmlab";
/// What a [`TinyGuest`] serves on `http://ADDRESS/`.
pub const GUEST_HTTP_BODY: &str = "vmlab guest\n";
/// The console line a [`TinyGuest`] prints once it has its address (followed by the address).
pub const GUEST_ADDRESS_MARKER: &str = "vmlab-guest: address ";

/// Prefix of the lab's namespaces and temporary directories: `vsm-lab-<pid>-<n>`.
const PREFIX: &str = "vsm-lab-";
/// The search path the daemons get, and where programs are looked for besides `$PATH`.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long one `virsh` call may take.
const VIRSH_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `libvirtd` may take to answer (QEMU capability probing takes 2–8 s uncached).
const DAEMON_TIMEOUT: Duration = Duration::from_secs(120);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Why a VM lab test cannot run here (printed as `skipped: <reason>`).
#[derive(Debug, Clone)]
pub struct Skip {
    /// The reason, for a human.
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Whether this is CI (`CI=true`, or `1`), where a VM lab test must run rather than skip.
pub fn ci() -> bool {
    vsm_hypervisor::testing::ci()
}

/// A [`Skip`] with `reason` — or a panic with it in CI, where the tests must run.
#[track_caller]
pub fn skip<T>(reason: impl Into<String>) -> Result<T, Skip> {
    let reason = reason.into();
    if ci() {
        panic!("CI=true, but the VM lab cannot run here: {reason}");
    }
    Err(Skip { reason })
}

/// Starts a lab, or prints `skipped: <reason>` and returns `None` (panics in CI instead).
pub fn lab_or_skip(name_hint: &str) -> Option<VmLab> {
    match VmLab::start(name_hint) {
        Ok(lab) => Some(lab),
        Err(skip) => {
            eprintln!("skipped: {skip}");
            None
        }
    }
}

/// Unwraps a `Result<T, Skip>`, or prints `skipped: <reason>` and returns from the test.
#[macro_export]
macro_rules! or_skip {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(skip) => {
                eprintln!("skipped: {skip}");
                return;
            }
        }
    };
}

/// Starts a [`VmLab`](crate::vmlab::VmLab) named after `hint`, or prints `skipped: <reason>`
/// and returns from the test (panics in CI instead).
#[macro_export]
macro_rules! start_or_skip {
    ($hint:expr) => {
        $crate::or_skip!($crate::vmlab::VmLab::start($hint))
    };
}

/// Returns the thread that called [`VmLab::enter`] to its own network namespace when dropped.
#[derive(Debug)]
pub struct NetnsGuard {
    home: std::fs::File,
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: setns back into the namespace this thread came from (an open file).
        if unsafe { libc::setns(self.home.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "vmlab: cannot return to the original network namespace: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The programs a lab needs, by absolute path.
struct Tools {
    ip: PathBuf,
    unshare: PathBuf,
    virsh: PathBuf,
    libvirtd: PathBuf,
    virtlogd: PathBuf,
}

impl Tools {
    fn find() -> Result<Tools, String> {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        if uid != 0 {
            return Err(format!(
                "the VM lab needs root (network namespaces, bridges, libvirtd); running as uid {uid}"
            ));
        }
        let mut missing = Vec::new();
        let mut get = |name: &str| {
            find_program(name).unwrap_or_else(|| {
                missing.push(name.to_owned());
                PathBuf::new()
            })
        };
        let tools = Tools {
            ip: get("ip"),
            unshare: get("unshare"),
            virsh: get("virsh"),
            libvirtd: get("libvirtd"),
            virtlogd: get("virtlogd"),
        };
        get("qemu-system-x86_64");
        get("dnsmasq");
        if !missing.is_empty() {
            return Err(format!(
                "programs missing: {} (Debian: iproute2, util-linux, libvirt-clients, \
                 libvirt-daemon-system, qemu-system-x86, dnsmasq-base)",
                missing.join(", ")
            ));
        }
        for dir in [
            "/etc/libvirt",
            "/var/lib/libvirt",
            "/var/cache/libvirt",
            "/var/log/libvirt",
        ] {
            if !Path::new(dir).is_dir() {
                return Err(format!(
                    "{dir} is missing, the lab mounts its own state over it (Debian: \
                     libvirt-daemon-system)"
                ));
            }
        }
        if !Path::new("/dev/net/tun").exists() {
            return Err("/dev/net/tun is missing (guests need tap devices)".into());
        }
        Ok(tools)
    }
}

/// `name` on `$PATH` or the system's sbin/bin directories.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(SYSTEM_PATH.split(':'))
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A private libvirtd with an isolated network and a storage pool, in a network namespace of
/// its own; everything is stopped and removed on drop. See the module documentation.
pub struct VmLab {
    ns: String,
    dir: PathBuf,
    pool_dir: PathBuf,
    uri: String,
    subnet: u8,
    tools: Tools,
    /// The lab's init (`unshare`, parent of the PID namespace); killing it ends the lab.
    init: Option<Child>,
    network_up: bool,
    pool_up: bool,
}

impl fmt::Debug for VmLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VmLab")
            .field("netns", &self.ns)
            .field("dir", &self.dir)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl VmLab {
    /// Starts a lab: cleans up labs of dead test processes, creates the namespace, starts the
    /// daemons, the network and the pool. `name_hint` (e.g. the test's name) goes into the name
    /// of the temporary directory. Returns [`Skip`] when a precondition fails (panics when
    /// `CI=true`); panics when the lab fails to come up although the preconditions hold.
    pub fn start(name_hint: &str) -> Result<VmLab, Skip> {
        let t0 = Instant::now();
        let tools = match Tools::find() {
            Ok(tools) => tools,
            Err(reason) => return skip(reason),
        };
        cleanup_leftovers(&tools);
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let ns = format!("{PREFIX}{pid}-{n}");
        let added = run(
            Command::new(&tools.ip).args(["netns", "add", &ns]),
            Duration::from_secs(20),
        );
        match added {
            Ok(out) if out.ok() => {}
            Ok(out) => {
                return skip(format!(
                    "cannot create a network namespace (ip netns add {ns}): {}",
                    out.stderr.trim()
                ));
            }
            Err(e) => return skip(format!("cannot run ip netns add: {e:#}")),
        }
        let subnet = (((pid as u64) + u64::from(n) * 97) % 254 + 1) as u8;
        let mut lab = VmLab {
            uri: String::new(),
            dir: PathBuf::new(),
            pool_dir: PathBuf::new(),
            ns,
            subnet,
            tools,
            init: None,
            network_up: false,
            pool_up: false,
        };
        // A panic from here on drops `lab`, which removes whatever was set up.
        if let Err(e) = lab.setup(name_hint, pid, n, t0) {
            panic!(
                "the VM lab {} did not come up: {e:#}\n{}",
                lab.ns,
                lab.logs()
            );
        }
        Ok(lab)
    }

    fn setup(&mut self, hint: &str, pid: u32, n: u32, t0: Instant) -> Result<()> {
        let hint: String = hint
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(24)
            .collect();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{pid}-{n}-{hint}-"))
            .tempdir()
            .context("create the lab's temporary directory")?
            .keep();
        self.dir = dir.clone();
        self.pool_dir = dir.join("pool");
        let d = dir
            .to_str()
            .context("the temporary directory is not UTF-8")?;
        if d.contains(['"', '\'', '\\', ' ', '$', '`']) {
            bail!("the lab directory {d} has characters the configuration cannot quote");
        }
        set_mode(&dir, 0o755)?;
        for sub in ["etc", "var-lib", "var-cache", "var-log", "run", "pool"] {
            std::fs::create_dir_all(dir.join(sub))?;
            set_mode(&dir.join(sub), 0o755)?;
        }
        if Path::new("/etc/libvirt/nwfilter").is_dir() {
            copy_dir(
                Path::new("/etc/libvirt/nwfilter"),
                &dir.join("etc/nwfilter"),
            )?;
        }
        std::fs::write(
            dir.join("etc/qemu.conf"),
            "# VmLab: QEMU runs as root on files of the lab's temporary directory.\n\
             user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nremember_owner = 0\n\
             security_driver = \"none\"\n",
        )?;
        std::fs::write(
            dir.join("libvirtd.conf"),
            format!(
                "# VmLab: sockets on the normal file system, root only, no TCP/TLS.\n\
                 unix_sock_dir = \"{d}/run\"\n\
                 unix_sock_rw_perms = \"0700\"\nunix_sock_ro_perms = \"0700\"\n\
                 unix_sock_admin_perms = \"0700\"\n\
                 auth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n\
                 listen_tcp = 0\nlisten_tls = 0\naudit_level = 0\n\
                 host_uuid_source = \"machine-id\"\n\
                 log_outputs = \"2:file:{d}/libvirtd.log\"\n"
            ),
        )?;
        std::fs::write(
            dir.join("virtlogd.conf"),
            format!("log_outputs = \"2:file:{d}/virtlogd.log\"\n"),
        )?;
        let caps = dir.join("var-cache/qemu/capabilities");
        std::fs::create_dir_all(&caps)?;
        copy_xml_files(&caps_cache_dir(), &caps);

        let lo = run(
            Command::new(&self.tools.ip).args(["-n", &self.ns, "link", "set", "lo", "up"]),
            Duration::from_secs(20),
        )?;
        if !lo.ok() {
            bail!("ip -n {} link set lo up: {}", self.ns, lo.stderr.trim());
        }

        let script = format!(
            "set -e\n\
             mount -n -t tmpfs -o mode=0755 vsm-lab-run /run\n\
             mkdir -p /run/libvirt /run/lock\n\
             mount -n --bind {d}/etc /etc/libvirt\n\
             mount -n --bind {d}/var-lib /var/lib/libvirt\n\
             mount -n --bind {d}/var-cache /var/cache/libvirt\n\
             mount -n --bind {d}/var-log /var/log/libvirt\n\
             {virtlogd} -d -p {d}/virtlogd.pid -f {d}/virtlogd.conf\n\
             {libvirtd} -d -p {d}/libvirtd.pid -f {d}/libvirtd.conf\n\
             echo daemons started\n\
             set +e\n\
             # PID 1 of the lab: the shell reaps the daemonized children while it sleeps.\n\
             while :; do sleep 3600; done\n",
            virtlogd = self.tools.virtlogd.display(),
            libvirtd = self.tools.libvirtd.display(),
        );
        std::fs::write(dir.join("init.sh"), &script)?;
        let init_log = std::fs::File::create(dir.join("init.log"))?;
        let child = Command::new(&self.tools.ip)
            .args(["netns", "exec", &self.ns])
            .arg(&self.tools.unshare)
            .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
            .args(["/bin/sh", &format!("{d}/init.sh")])
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .env("LC_ALL", "C")
            .env("HOME", "/root")
            .stdin(Stdio::null())
            .stdout(init_log.try_clone()?)
            .stderr(init_log)
            .spawn()
            .context("start the lab's init (ip netns exec … unshare …)")?;
        self.init = Some(child);
        self.uri = format!("qemu:///system?socket={d}/run/libvirt-sock");

        let t_daemon = Instant::now();
        let deadline = t_daemon + DAEMON_TIMEOUT;
        let sock = dir.join("run/libvirt-sock");
        loop {
            if let Some(init) = self.init.as_mut()
                && let Some(status) = init.try_wait()?
            {
                bail!("the lab's init exited ({status}) before libvirtd answered");
            }
            if sock.exists() {
                let v = self.virsh_timeout(&["version"], Duration::from_secs(30));
                if v.as_ref()
                    .is_ok_and(|out| out.contains("Running hypervisor: QEMU"))
                {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!("libvirtd did not answer within {DAEMON_TIMEOUT:?}: {v:?}");
                }
            } else if Instant::now() >= deadline {
                bail!(
                    "libvirtd made no socket {} within {DAEMON_TIMEOUT:?}",
                    sock.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let daemon_secs = t_daemon.elapsed().as_secs_f64();
        copy_xml_files(&caps, &caps_cache_dir());

        let t_net = Instant::now();
        let host = self.host_ip();
        let net = format!(
            "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>\n  \
             <name>{NETWORK}</name>\n  <bridge name='{BRIDGE}' stp='off' delay='0'/>\n  \
             <ip address='{host}' netmask='255.255.255.0'>\n    <dhcp>\n      \
             <range start='10.213.{s}.10' end='10.213.{s}.250'/>\n    </dhcp>\n  </ip>\n  \
             <!-- no ICMP probe of an address before offering it: saves ~3 s per lease -->\n  \
             <dnsmasq:options><dnsmasq:option value='no-ping'/></dnsmasq:options>\n\
             </network>\n",
            s = self.subnet
        );
        std::fs::write(dir.join("network.xml"), net)?;
        let pool = format!(
            "<pool type='dir'>\n  <name>{POOL}</name>\n  <target><path>{d}/pool</path></target>\n\
             </pool>\n"
        );
        std::fs::write(dir.join("pool.xml"), pool)?;
        self.virsh(&["net-define", &format!("{d}/network.xml")])?;
        self.virsh(&["net-start", NETWORK])?;
        self.network_up = true;
        self.virsh(&["pool-define", &format!("{d}/pool.xml")])?;
        self.virsh(&["pool-start", POOL])?;
        self.pool_up = true;
        eprintln!(
            "vmlab {}: up in {:.2}s (libvirtd answered in {daemon_secs:.2}s, network and pool \
             {:.2}s); {}, network {NETWORK} {host}/24, dir {d}",
            self.ns,
            t0.elapsed().as_secs_f64(),
            t_net.elapsed().as_secs_f64(),
            self.uri,
        );
        Ok(())
    }

    /// The libvirt URI of the lab: `qemu:///system?socket=<dir>/run/libvirt-sock`.
    pub fn uri(&self) -> String {
        self.uri.clone()
    }

    /// The lab's libvirt network ([`NETWORK`]).
    pub fn network(&self) -> &str {
        NETWORK
    }

    /// The lab's storage pool ([`POOL`]).
    pub fn pool(&self) -> &str {
        POOL
    }

    /// The directory of the lab's storage pool (disks and template base images go here).
    pub fn pool_dir(&self) -> &Path {
        &self.pool_dir
    }

    /// The lab's temporary directory: files here are visible inside and outside the namespace
    /// (`libvirtd.log`, `virtlogd.log`, `init.log`; `var-log/qemu/NAME.log` per domain;
    /// `var-lib/dnsmasq/` the DHCP state).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The name of the lab's network namespace.
    pub fn netns(&self) -> &str {
        &self.ns
    }

    /// The bridge's address (the host side of the lab's network): `10.213.N.1`.
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, 1)
    }

    /// The lab's subnet (`10.213.N.0`) and its prefix length (24).
    pub fn subnet(&self) -> (Ipv4Addr, u8) {
        (Ipv4Addr::new(10, 213, self.subnet, 0), 24)
    }

    /// Whether `ip` is inside the lab's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        ip.octets()[..3] == [10, 213, self.subnet]
    }

    /// A command that runs `program` inside the lab's network namespace (`ip netns exec NS
    /// program`), e.g. the `vsm` manager and CLI, so that they reach the guests' addresses.
    /// The program sees the host's file system (not the daemons' private mounts). Processes
    /// still running in the namespace are killed when the lab is dropped.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(&self.tools.ip);
        cmd.args(["netns", "exec", &self.ns]).arg(program);
        cmd
    }

    /// Moves the calling thread into the lab's network namespace until the returned guard is
    /// dropped: programs it starts and sockets it opens meanwhile belong to the lab (a demo
    /// that runs `vsm` and probes guests as a user on the lab's network would). Drop the guard
    /// before the lab: the lab kills every process left in its namespace.
    pub fn enter(&self) -> Result<NetnsGuard> {
        use std::os::fd::AsRawFd;
        let home = std::fs::File::open("/proc/thread-self/ns/net")
            .context("open /proc/thread-self/ns/net")?;
        let path = Path::new("/run/netns").join(&self.ns);
        let file =
            std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
        // SAFETY: setns with an open namespace file; it changes only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setns({})", path.display()));
        }
        Ok(NetnsGuard { home })
    }

    /// Runs `f` on a thread that has entered the lab's network namespace (`setns`): sockets it
    /// opens belong to the namespace and stay usable after it returns, so a test can talk to
    /// guests from its own process.
    pub fn in_netns<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        use std::os::fd::AsRawFd;
        let path = Path::new("/run/netns").join(&self.ns);
        std::thread::scope(|scope| {
            let thread = scope.spawn(|| -> Result<T> {
                let file = std::fs::File::open(&path)
                    .with_context(|| format!("open {}", path.display()))?;
                // SAFETY: setns with an open namespace file; it changes only this thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error())
                        .with_context(|| format!("setns({})", path.display()));
                }
                Ok(f())
            });
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// A TCP connection to `addr` from inside the lab's network namespace.
    pub fn connect(&self, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
        self.in_netns(|| TcpStream::connect_timeout(&addr, timeout))?
            .with_context(|| format!("connect to {addr} in {}", self.ns))
    }

    /// `GET path` over HTTP/1.0 to `addr` from inside the namespace; the body of a 200 answer.
    pub fn http_get(&self, addr: SocketAddr, path: &str) -> Result<String> {
        use std::io::Write;
        let timeout = Duration::from_secs(10);
        let mut stream = self.connect(addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .with_context(|| format!("read the answer of http://{addr}{path}"))?;
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head.lines().next().unwrap_or_default();
        if status.split_whitespace().nth(1) != Some("200") {
            bail!("http://{addr}{path} answered {status:?}");
        }
        Ok(body.to_owned())
    }

    /// Runs `virsh -c URI args…` and returns its standard output; the error has its stderr.
    pub fn virsh(&self, args: &[&str]) -> Result<String> {
        self.virsh_timeout(args, VIRSH_TIMEOUT)
    }

    fn virsh_timeout(&self, args: &[&str], timeout: Duration) -> Result<String> {
        let mut cmd = Command::new(&self.tools.virsh);
        cmd.arg("-c")
            .arg(&self.uri)
            .args(args)
            .env("LC_ALL", "C")
            .env_remove("LIBVIRT_DEFAULT_URI");
        let out = run(&mut cmd, timeout)?;
        if !out.ok() {
            bail!(
                "virsh {} failed ({}): {}",
                args.join(" "),
                out.status,
                out.stderr.trim()
            );
        }
        Ok(out.stdout)
    }

    /// The IPv4 address of `domain`'s DHCP lease on the lab's network, if it has one.
    pub fn lease(&self, domain: &str) -> Option<Ipv4Addr> {
        let out = self
            .virsh_timeout(
                &["domifaddr", domain, "--source", "lease"],
                Duration::from_secs(30),
            )
            .ok()?;
        parse_domifaddr(&out)
    }

    /// Waits until `domain` has a DHCP lease on the lab's network and returns its address.
    pub fn wait_for_lease(&self, domain: &str, timeout: Duration) -> Result<Ipv4Addr> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ip) = self.lease(domain) {
                return Ok(ip);
            }
            if Instant::now() >= deadline {
                let state = self
                    .virsh(&["domstate", "--reason", domain])
                    .unwrap_or_else(|e| format!("{e:#}"));
                bail!(
                    "{domain} has no DHCP lease on {NETWORK} after {timeout:?} (state: {})",
                    state.trim()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The tail of the lab's logs (init, libvirtd, virtlogd), for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["init.log", "libvirtd.log", "virtlogd.log"] {
            let path = self.dir.join(name);
            if let Ok(content) = std::fs::read_to_string(&path) {
                text.push_str(&format!("--- {}\n{}\n", path.display(), tail(&content, 40)));
            }
        }
        text
    }

    fn init_alive(&mut self) -> bool {
        self.init
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn remove_domains(&self, problems: &mut Vec<String>) {
        let t = Duration::from_secs(30);
        let names = match self.virsh_timeout(&["list", "--all", "--name"], t) {
            Ok(out) => out,
            Err(e) => return problems.push(format!("{e:#}")),
        };
        for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
            if let Err(e) = self.virsh_timeout(&["destroy", name], t) {
                let msg = format!("{e:#}");
                if !msg.contains("not running") && !msg.contains("ailed to get domain") {
                    problems.push(msg);
                }
            }
        }
        let names = match self.virsh_timeout(&["list", "--all", "--name"], t) {
            Ok(out) => out,
            Err(e) => return problems.push(format!("{e:#}")),
        };
        for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
            let args = [
                "undefine",
                name,
                "--managed-save",
                "--snapshots-metadata",
                "--checkpoints-metadata",
                "--nvram",
            ];
            if let Err(e) = self.virsh_timeout(&args, t) {
                problems.push(format!("{e:#}"));
            }
        }
    }
}

impl Drop for VmLab {
    fn drop(&mut self) {
        let t0 = Instant::now();
        let mut problems = Vec::new();
        if self.init_alive() && !self.uri.is_empty() {
            self.remove_domains(&mut problems);
            let t = Duration::from_secs(30);
            if self.network_up
                && let Err(e) = self.virsh_timeout(&["net-destroy", NETWORK], t)
            {
                problems.push(format!("{e:#}"));
            }
            if self.pool_up
                && let Err(e) = self.virsh_timeout(&["pool-destroy", POOL], t)
            {
                problems.push(format!("{e:#}"));
            }
        }
        if let Some(mut init) = self.init.take() {
            // SIGKILL to the PID namespace's init (the child of `unshare`): the kernel kills
            // every process of the namespace with it, and `unshare` reaps it and exits. Should
            // that not happen, killing `unshare` passes SIGKILL on (--kill-child).
            for pid in children_of(init.id()) {
                // SAFETY: SIGKILL to the lab's own PID namespace init.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if let Err(e) = wait_child(&mut init, Duration::from_secs(10)) {
                problems.push(format!("the lab's init did not exit: {e:#}"));
            }
        }
        kill_netns_processes(&self.tools, &self.ns, &mut problems);
        match run(
            Command::new(&self.tools.ip).args(["netns", "delete", &self.ns]),
            Duration::from_secs(20),
        ) {
            Ok(out) if out.ok() => {}
            Ok(out) => problems.push(format!(
                "ip netns delete {}: {}",
                self.ns,
                out.stderr.trim()
            )),
            Err(e) => problems.push(format!("ip netns delete {}: {e:#}", self.ns)),
        }
        if !self.dir.as_os_str().is_empty() {
            if std::env::var("VSM_LAB_KEEP").is_ok_and(|v| v == "1") {
                let _ = std::fs::write(self.dir.join("KEPT"), "VSM_LAB_KEEP=1\n");
                eprintln!(
                    "vmlab {}: kept {} (VSM_LAB_KEEP=1)",
                    self.ns,
                    self.dir.display()
                );
            } else if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                problems.push(format!("remove {}: {e}", self.dir.display()));
            }
        }
        if problems.is_empty() {
            eprintln!(
                "vmlab {}: stopped and removed in {:.2}s",
                self.ns,
                t0.elapsed().as_secs_f64()
            );
        } else {
            eprintln!(
                "vmlab {}: cleanup problems ({:.2}s):\n  {}",
                self.ns,
                t0.elapsed().as_secs_f64(),
                problems.join("\n  ")
            );
        }
    }
}

/// Kills every process left in the network namespace `ns` and waits until they are gone.
fn kill_netns_processes(tools: &Tools, ns: &str, problems: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = netns_pids(tools, ns);
        if pids.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            problems.push(format!("processes left in {ns}: {pids:?}"));
            return;
        }
        for pid in pids {
            // SAFETY: SIGKILL to a process that runs in the lab's own network namespace.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Live (non-zombie) processes in the network namespace `ns`.
fn netns_pids(tools: &Tools, ns: &str) -> Vec<i32> {
    run(
        Command::new(&tools.ip).args(["netns", "pids", ns]),
        Duration::from_secs(20),
    )
    .map(|out| {
        out.stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|&p| pid_alive(p))
            .collect()
    })
    .unwrap_or_default()
}

/// The children of process `pid`.
fn children_of(pid: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                // "pid (comm) state ppid …"
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// Whether `pid` is a live process (a zombie is dead).
fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // "pid (comm) S …": the state follows the last ')'.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

/// Removes the namespaces and directories of labs whose test process is gone.
fn cleanup_leftovers(tools: &Tools) {
    let me = std::process::id();
    let dead_owner = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            return false;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            return false;
        };
        pid != me && !pid_alive(pid as i32)
    };
    if let Ok(out) = run(
        Command::new(&tools.ip).args(["netns", "list"]),
        Duration::from_secs(20),
    ) {
        for ns in out
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
        {
            if dead_owner(ns) {
                let mut problems = Vec::new();
                kill_netns_processes(tools, ns, &mut problems);
                let _ = run(
                    Command::new(&tools.ip).args(["netns", "delete", ns]),
                    Duration::from_secs(20),
                );
                eprintln!("vmlab: removed the leftover namespace {ns} {problems:?}");
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if dead_owner(&name) && path.is_dir() && !path.join("KEPT").exists() {
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => eprintln!("vmlab: removed the leftover {}", path.display()),
                    Err(e) => eprintln!("vmlab: cannot remove {}: {e}", path.display()),
                }
            }
        }
    }
}

/// Where QEMU capability files are kept between labs.
fn caps_cache_dir() -> PathBuf {
    std::env::temp_dir().join("vsm-lab-cache/qemu-capabilities")
}

/// Copies the `*.xml` files of `from` that `to` lacks or has different (atomically; errors
/// only cost speed, so they are ignored).
fn copy_xml_files(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    let _ = std::fs::create_dir_all(to);
    for entry in entries.flatten() {
        let src = entry.path();
        if src.extension().is_none_or(|e| e != "xml") {
            continue;
        }
        let Ok(content) = std::fs::read(&src) else {
            continue;
        };
        let dst = to.join(entry.file_name());
        if std::fs::read(&dst).is_ok_and(|old| old == content) {
            continue;
        }
        let tmp = to.join(format!(
            ".{}.{}.tmp",
            entry.file_name().to_string_lossy(),
            std::process::id()
        ));
        if std::fs::write(&tmp, &content).is_ok() && std::fs::rename(&tmp, &dst).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dst = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &dst)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dst)
                .with_context(|| format!("copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The first IPv4 address in `virsh domifaddr` output.
fn parse_domifaddr(out: &str) -> Option<Ipv4Addr> {
    out.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let i = words.iter().position(|w| *w == "ipv4")?;
        words.get(i + 1)?.split('/').next()?.parse().ok()
    })
}

/// What a finished command printed.
struct RunOutput {
    status: String,
    success: bool,
    stdout: String,
    stderr: String,
}

impl RunOutput {
    fn ok(&self) -> bool {
        self.success
    }
}

/// Runs `cmd` (stdin closed, output captured), killing it after `timeout`.
fn run(cmd: &mut Command, timeout: Duration) -> Result<RunOutput> {
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("run {program}"))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = match wait_child(&mut child, timeout) {
        Ok(status) => status,
        Err(e) => return Err(e.context(format!("{program} timed out after {timeout:?}"))),
    };
    Ok(RunOutput {
        status: status.to_string(),
        success: status.success(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Waits for `child`, killing it when it is still running after `timeout`.
fn wait_child(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("killed after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A minimal guest for the lab: the host's Debian kernel booted directly with a busybox
/// initramfs that loads the virtio-net modules, takes a DHCP lease on `eth0` (printing
/// [`GUEST_ADDRESS_MARKER`] and the address to the console), serves [`GUEST_HTTP_BODY`] with
/// `httpd` on port 80, runs the caller's extra shell lines and sleeps.
#[derive(Debug, Clone)]
pub struct TinyGuest {
    /// The kernel image (`/boot/vmlinuz-VERSION`).
    pub kernel: PathBuf,
    /// The kernel's version (its modules are under `/lib/modules/VERSION`).
    pub kernel_version: String,
    /// The initramfs built for it (an uncompressed newc cpio archive).
    pub initrd: PathBuf,
    /// The kernel command line.
    pub cmdline: String,
}

impl TinyGuest {
    /// Builds the initramfs into `dir` (`tiny-guest.cpio`); `extra_init` is shell run by the
    /// guest's `/init` after networking is set up. Returns [`Skip`] when no kernel with modules
    /// or no static busybox is installed (panics in CI); panics when building fails.
    pub fn build(dir: &Path, extra_init: &str) -> Result<TinyGuest, Skip> {
        let Some((kernel, version)) = guest_kernel() else {
            return skip(
                "no /boot/vmlinuz-* with a /lib/modules/VERSION/modules.dep (Debian: \
                 linux-image-amd64)",
            );
        };
        let Some(busybox) = static_busybox() else {
            return skip("no static busybox at /bin/busybox (Debian: busybox-static)");
        };
        let initrd = dir.join("tiny-guest.cpio");
        build_initramfs(&initrd, &busybox, &version, extra_init)
            .unwrap_or_else(|e| panic!("building the tiny guest's initramfs failed: {e:#}"));
        Ok(TinyGuest {
            kernel,
            kernel_version: version,
            initrd,
            cmdline: "console=ttyS0 quiet panic=-1".into(),
        })
    }

    /// A libvirt domain (type `qemu`, TCG) booting this guest with 256 MiB and one vCPU, one
    /// virtio NIC on `network` and the serial console written to the file `console`.
    pub fn domain_xml(&self, name: &str, network: &str, console: &Path) -> String {
        let e = |s: &str| xml_escape(s);
        let console = console.to_string_lossy();
        format!(
            "<domain type='qemu'>\n\
             \x20 <name>{name}</name>\n\
             \x20 <memory unit='MiB'>256</memory>\n\
             \x20 <vcpu>1</vcpu>\n\
             \x20 <os>\n\
             \x20   <type arch='x86_64' machine='pc'>hvm</type>\n\
             \x20   <kernel>{kernel}</kernel>\n\
             \x20   <initrd>{initrd}</initrd>\n\
             \x20   <cmdline>{cmdline}</cmdline>\n\
             \x20 </os>\n\
             \x20 <cpu mode='custom' match='exact' check='none'><model fallback='allow'>qemu64</model></cpu>\n\
             \x20 <features><acpi/><apic/></features>\n\
             \x20 <clock offset='utc'/>\n\
             \x20 <on_poweroff>destroy</on_poweroff>\n\
             \x20 <on_reboot>destroy</on_reboot>\n\
             \x20 <on_crash>destroy</on_crash>\n\
             \x20 <devices>\n\
             \x20   <interface type='network'>\n\
             \x20     <source network='{network}'/>\n\
             \x20     <model type='virtio'/>\n\
             \x20     <rom enabled='no'/>\n\
             \x20   </interface>\n\
             \x20   <serial type='file'><source path='{console}'/><target port='0'/></serial>\n\
             \x20   <console type='file'><source path='{console}'/><target type='serial' port='0'/></console>\n\
             \x20   <controller type='usb' model='none'/>\n\
             \x20   <memballoon model='none'/>\n\
             \x20 </devices>\n\
             </domain>\n",
            name = e(name),
            kernel = e(&self.kernel.to_string_lossy()),
            initrd = e(&self.initrd.to_string_lossy()),
            cmdline = e(&self.cmdline),
            network = e(network),
            console = e(&console),
        )
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// The newest `/boot/vmlinuz-VERSION` that has `/lib/modules/VERSION/modules.dep`.
pub fn guest_kernel() -> Option<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("vmlinuz-")?.to_owned();
            Path::new("/lib/modules")
                .join(&version)
                .join("modules.dep")
                .exists()
                .then(|| (e.path(), version))
        })
        .collect();
    found.sort_by(|a, b| version_cmp(&a.1, &b.1));
    found.pop()
}

/// Compares version strings with their digit runs as numbers (`6.10` > `6.9`).
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let mut chars = s.chars().peekable();
        while chars.peek().is_some() {
            let digits: String =
                std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_digit())).collect();
            let other: String =
                std::iter::from_fn(|| chars.next_if(|c| !c.is_ascii_digit())).collect();
            out.push((digits.parse().unwrap_or(0), other));
        }
        out
    }
    parts(a).cmp(&parts(b))
}

/// A statically linked busybox (`/bin/busybox` from busybox-static), if there is one.
pub fn static_busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| is_static_elf(p))
}

/// Whether `path` is an ELF64 executable without a program interpreter.
fn is_static_elf(path: &Path) -> bool {
    let Ok(data) = std::fs::read(path) else {
        return false;
    };
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into().unwrap_or_default()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        // PT_INTERP = 3
        data.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != 3)
    })
}

/// The modules `wanted` with their dependencies from `modules.dep`, dependencies first, as
/// (name, path relative to `/lib/modules/VERSION`).
fn module_load_order(modules_dep: &str, wanted: &[&str]) -> Result<Vec<(String, String)>> {
    let name_of = |path: &str| -> String {
        let file = path.rsplit('/').next().unwrap_or(path);
        let stem = file.split(".ko").next().unwrap_or(file);
        stem.replace('-', "_")
    };
    let mut deps: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for line in modules_dep.lines() {
        let Some((module, rest)) = line.split_once(':') else {
            continue;
        };
        let list = rest.split_whitespace().map(name_of).collect();
        deps.insert(name_of(module), (module.trim().to_owned(), list));
    }
    fn visit(
        name: &str,
        deps: &HashMap<String, (String, Vec<String>)>,
        seen: &mut HashSet<String>,
        order: &mut Vec<(String, String)>,
    ) -> Result<()> {
        if !seen.insert(name.to_owned()) {
            return Ok(());
        }
        let Some((path, list)) = deps.get(name) else {
            bail!("module {name} is not in modules.dep");
        };
        for dep in list {
            visit(dep, deps, seen, order)?;
        }
        order.push((name.to_owned(), path.clone()));
        Ok(())
    }
    let (mut seen, mut order) = (HashSet::new(), Vec::new());
    for name in wanted {
        visit(&name.replace('-', "_"), &deps, &mut seen, &mut order)?;
    }
    Ok(order)
}

/// An uncompressed module file's bytes (`.ko`, `.ko.xz`, `.ko.zst`, `.ko.gz`).
fn read_module(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".ko") {
        return std::fs::read(path).with_context(|| format!("read {name}"));
    } else if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        bail!("unknown module compression: {name}");
    };
    let out = Command::new(find_program(tool).with_context(|| format!("{tool} is missing"))?)
        .arg("-dc")
        .arg(path)
        .output()
        .with_context(|| format!("{tool} -dc {name}"))?;
    if !out.status.success() {
        bail!(
            "{tool} -dc {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn build_initramfs(out: &Path, busybox: &Path, version: &str, extra_init: &str) -> Result<()> {
    let moddir = Path::new("/lib/modules").join(version);
    let dep = std::fs::read_to_string(moddir.join("modules.dep"))
        .with_context(|| format!("read {}/modules.dep", moddir.display()))?;
    let modules = module_load_order(&dep, &["virtio_pci", "virtio_net"])?;
    let names: Vec<&str> = modules.iter().map(|(n, _)| n.as_str()).collect();
    let init = format!(
        "#!/bin/sh\n\
         /bin/busybox --install -s /bin\n\
         export PATH=/bin\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev\n\
         echo \"vmlab-guest: init at $(cut -d' ' -f1 /proc/uptime)s\"\n\
         for m in {modules}; do insmod /lib/modules/$m.ko || echo \"vmlab-guest: insmod $m failed\"; done\n\
         ip link set lo up\n\
         ip link set eth0 up\n\
         httpd -p 80 -h /www\n\
         udhcpc -i eth0 -s /etc/udhcpc.script -b -T 1 -t 5 -A 2\n\
         {extra_init}\n\
         echo \"vmlab-guest: ready at $(cut -d' ' -f1 /proc/uptime)s\"\n\
         while :; do sleep 3600; done\n",
        modules = names.join(" "),
    );
    let dhcp_script = format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         \x20 deconfig) ip addr flush dev \"$interface\"; ip link set \"$interface\" up ;;\n\
         \x20 bound|renew)\n\
         \x20   [ \"$1\" = bound ] && ip addr flush dev \"$interface\"\n\
         \x20   ip addr replace \"$ip/${{mask:-24}}\" dev \"$interface\"\n\
         \x20   [ -n \"$router\" ] && ip route replace default via \"${{router%% *}}\" dev \"$interface\"\n\
         \x20   echo \"{GUEST_ADDRESS_MARKER}$ip\" > /dev/console ;;\n\
         esac\n\
         exit 0\n"
    );
    let mut cpio = Cpio::default();
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "etc",
        "lib",
        "lib/modules",
        "www",
        "tmp",
        "run",
        "var",
    ] {
        cpio.dir(d);
    }
    cpio.char_device("dev/console", 5, 1);
    cpio.file(
        "bin/busybox",
        0o755,
        &std::fs::read(busybox).with_context(|| format!("read {}", busybox.display()))?,
    );
    cpio.symlink("bin/sh", "busybox");
    cpio.file("init", 0o755, init.as_bytes());
    cpio.file("etc/udhcpc.script", 0o755, dhcp_script.as_bytes());
    cpio.file("www/index.html", 0o644, GUEST_HTTP_BODY.as_bytes());
    for (name, rel) in &modules {
        cpio.file(
            &format!("lib/modules/{name}.ko"),
            0o644,
            &read_module(&moddir.join(rel))?,
        );
    }
    std::fs::write(out, cpio.finish()).with_context(|| format!("write {}", out.display()))
}

/// A `newc` cpio archive, as the kernel unpacks an initramfs.
#[derive(Default)]
struct Cpio {
    data: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), body: &[u8]) {
        self.ino += 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            body.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.data.extend_from_slice(header.as_bytes());
        self.data.extend_from_slice(name.as_bytes());
        self.data.push(0);
        self.pad();
        self.data.extend_from_slice(body);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040_755, (0, 0), &[]);
    }

    fn file(&mut self, name: &str, perm: u32, body: &[u8]) {
        self.entry(name, 0o100_000 | perm, (0, 0), body);
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120_777, (0, 0), target.as_bytes());
    }

    fn char_device(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020_600, (major, minor), &[]);
    }

    fn finish(mut self) -> Vec<u8> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_load_dependencies_first() {
        let dep = "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko \
                   kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko \
                   kernel/drivers/virtio/virtio_ring.ko\n\
                   kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n\
                   kernel/net/core/failover.ko:\n\
                   kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n\
                   kernel/drivers/virtio/virtio_ring.ko.xz:\n";
        let order: Vec<String> = module_load_order(dep, &["virtio-net"])
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            order,
            [
                "failover",
                "net_failover",
                "virtio_ring",
                "virtio",
                "virtio_net"
            ]
        );
        assert!(module_load_order(dep, &["nope"]).is_err());
    }

    #[test]
    fn domifaddr_output_gives_the_address() {
        let out = " Name       MAC address          Protocol     Address\n\
                   -------------------------------------------------------------------------------\n\
                   \x20vnet0      52:54:00:12:34:56    ipv4         10.213.7.123/24\n";
        assert_eq!(parse_domifaddr(out), Some(Ipv4Addr::new(10, 213, 7, 123)));
        assert_eq!(
            parse_domifaddr(" Name MAC address Protocol Address\n"),
            None
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_cmp("6.10.0-1-amd64", "6.9.0-3-amd64").is_gt());
        assert!(version_cmp("6.1.0-57-amd64", "6.1.0-9-amd64").is_gt());
    }

    #[test]
    fn cpio_entries_are_aligned_and_terminated() {
        let mut c = Cpio::default();
        c.file("init", 0o755, b"#!/bin/sh\n");
        let data = c.finish();
        assert!(data.starts_with(b"070701"));
        assert_eq!(data.len() % 4, 0);
        assert!(data.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
