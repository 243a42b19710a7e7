//! The contract suite and local-driver specifics: real processes, re-discovery, crashes,
//! forced power-off, console cap, clone safety, and (with VSM_SLOW_TESTS=1) 50 servers at once.

use std::sync::Arc;
use std::time::Duration;

use vsm_hypervisor::local::{LocalDriver, LocalOptions};
use vsm_hypervisor::testing::contract::{self, Fixture, wait_for_state};
use vsm_hypervisor::testing::local::LocalTestbed;
use vsm_hypervisor::{
    Hypervisor, HypervisorError, MachineName, PowerState, ProvisionSpec, ShutdownOutcome,
};

fn name(s: &str) -> MachineName {
    MachineName::new(s).expect("valid name")
}

fn dynhv(d: &Arc<LocalDriver>) -> Arc<dyn Hypervisor> {
    Arc::clone(d) as Arc<dyn Hypervisor>
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_suite() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let fx = Fixture::new(bed.sleeper_template(), "ct-local");
    let reopen = || dynhv(&bed.reopen());
    contract::run_all(dynhv(&bed.driver), &fx, Some(&reopen)).await;
    let left = bed.driver.list().await.expect("list");
    assert!(left.is_empty(), "the suite leaves no machine: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_environment_root_and_console() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.template(
        "env",
        &[
            "/bin/sh",
            "-c",
            "echo \"server=$VSM_SERVER address=$VSM_ADDRESS root=$VSM_ROOT pwd=$(pwd) gen=$VSM_GENERATION\"; cat data/hello.txt; exec sleep 100000",
        ],
    );
    let hv = &bed.driver;
    let m = name("env-1");
    let info = hv
        .provision(&ProvisionSpec::new(m.clone(), t, 7))
        .await
        .expect("provision");
    let addr = info.address.expect("an address").to_string();
    assert!(addr.starts_with("127."), "{addr}");
    let root = hv.local_root(&m).expect("a local root");
    assert!(
        root.join("data/hello.txt").is_file(),
        "the template tree is cloned"
    );
    assert!(
        !root.join("template.yaml").exists(),
        "the manifest is not part of the root"
    );
    hv.start(&m).await.expect("start");
    let mut lines = Vec::new();
    for _ in 0..200 {
        lines = hv.logs(&m, 10).await.expect("logs");
        if lines.iter().any(|l| l == "hello") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let want = format!("server=env-1 address={addr} root={root} pwd={root} gen=7");
    assert!(lines.contains(&want), "{lines:?} lacks {want:?}");
    assert!(lines.iter().any(|l| l == "hello"), "{lines:?}");
    let load = hv.load(&m).await.expect("load");
    assert!(load.memory_bytes.unwrap_or(0) > 0, "{load:?}");
    assert!(load.processes.unwrap_or(0) >= 1, "{load:?}");
    hv.destroy(&m).await.expect("destroy");
    assert!(!root.exists(), "destroy removes the root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_process_shows_as_crashed_and_can_be_restarted() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.template("crashy", &["/bin/sh", "-c", "sleep 100000"]);
    let hv = &bed.driver;
    let m = name("crashy");
    hv.provision(&ProvisionSpec::new(m.clone(), t, 1))
        .await
        .expect("provision");
    hv.start(&m).await.expect("start");
    let pid = hv.pid(&m).expect("a pid");
    // SAFETY: kill has no memory-safety preconditions; pid is the test's own server.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let st = wait_for_state(&**hv, &m, PowerState::Crashed, Duration::from_secs(5)).await;
    assert_eq!(st, PowerState::Crashed);
    // A fresh instance sees the crash too.
    assert_eq!(
        bed.reopen().state(&m).await.expect("state"),
        PowerState::Crashed
    );
    hv.start(&m).await.expect("restart");
    assert_eq!(hv.state(&m).await.expect("state"), PowerState::Running);
    let out = hv
        .shutdown(&m, Duration::from_secs(5))
        .await
        .expect("shutdown");
    assert_eq!(out, ShutdownOutcome::Graceful);
    hv.destroy(&m).await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ignoring_sigterm_is_killed_with_its_children() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.template(
        "stubborn",
        &[
            "/bin/sh",
            "-c",
            "trap '' TERM; sleep 100000 & sleep 100000 & wait",
        ],
    );
    let hv = &bed.driver;
    let m = name("stubborn");
    hv.provision(&ProvisionSpec::new(m.clone(), t, 1))
        .await
        .expect("provision");
    hv.start(&m).await.expect("start");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let load = hv.load(&m).await.expect("load");
    assert!(
        load.processes.unwrap_or(0) >= 2,
        "the tree has children: {load:?}"
    );
    let out = hv
        .shutdown(&m, Duration::from_millis(300))
        .await
        .expect("shutdown");
    assert_eq!(out, ShutdownOutcome::Forced);
    assert_eq!(hv.state(&m).await.expect("state"), PowerState::Stopped);
    let load = hv.load(&m).await.expect("load");
    assert_eq!(load.processes, Some(0), "no process of the tree is left");
    hv.destroy(&m).await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_log_is_capped() {
    let bed = LocalTestbed::new(LocalOptions::default().with_console_limit(4096));
    let t = bed.template(
        "chatty",
        &[
            "/bin/sh",
            "-c",
            "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; exec sleep 100000",
        ],
    );
    let hv = &bed.driver;
    let m = name("chatty");
    hv.provision(&ProvisionSpec::new(m.clone(), t, 1))
        .await
        .expect("provision");
    hv.start(&m).await.expect("start");
    let mut last = Vec::new();
    for _ in 0..500 {
        last = hv.logs(&m, 3).await.expect("logs");
        if last.last().map(String::as_str) == Some("line-1999") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(last, ["line-1997", "line-1998", "line-1999"]);
    let dir = bed.driver.machine_dir(&m);
    use std::os::unix::fs::MetadataExt;
    let disk = |f: &str| std::fs::metadata(dir.join(f)).map_or(0, |m| m.blocks() * 512);
    let size = disk("console.log") + disk("console.log.1");
    assert!(size <= 3 * 4096, "console files hold {size} bytes");
    hv.destroy(&m).await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_errors_name_the_file() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.template("missing-prog", &["no-such-program-vsm"]);
    let err = bed
        .driver
        .inspect_template(&t)
        .await
        .expect_err("unknown program");
    let text = err.to_string();
    assert!(
        text.contains(
            "template.yaml: field `boot`: program \"no-such-program-vsm\" is not an executable"
        ),
        "{text}"
    );
    let rel = vsm_hypervisor::TemplateSource::new("relative/dir").expect("source");
    let err = bed
        .driver
        .inspect_template(&rel)
        .await
        .expect_err("relative");
    assert!(
        matches!(err, HypervisorError::InvalidTemplate { .. }),
        "{err}"
    );
    let err = bed
        .driver
        .provision(&ProvisionSpec::new(name("x"), rel, 1))
        .await
        .expect_err("provision from a bad template");
    assert!(err.to_string().contains("absolute path"), "{err}");
    assert!(
        bed.driver.list().await.expect("list").is_empty(),
        "nothing was made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bin_dirs_find_bare_program_names() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let bin = bed.root().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let prog = bin.join("my-server");
    std::fs::write(&prog, "#!/bin/sh\necho my-server up\nexec sleep 100000\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let t = bed.template("bare", &["my-server"]);
    assert!(
        bed.driver.inspect_template(&t).await.is_err(),
        "not found without the bin dir"
    );
    let with_bin = LocalDriver::open(
        bed.state_dir(),
        bed.driver.options().clone().with_bin_dir(bin),
    )
    .expect("open");
    with_bin
        .inspect_template(&t)
        .await
        .expect("found in the bin dir");
    let m = name("bare");
    with_bin
        .provision(&ProvisionSpec::new(m.clone(), t, 1))
        .await
        .expect("provision");
    with_bin.start(&m).await.expect("start");
    assert_eq!(
        with_bin.state(&m).await.expect("state"),
        PowerState::Running
    );
    with_bin.destroy(&m).await.expect("destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_servers_are_rediscovered_by_a_fresh_instance() {
    if std::env::var_os("VSM_SLOW_TESTS").is_none() {
        return;
    }
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.sleeper_template();
    let hv = dynhv(&bed.driver);
    let names: Vec<MachineName> = (0..50).map(|i| name(&format!("many-{i:02}"))).collect();
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for m in names.clone() {
        let (hv, t) = (Arc::clone(&hv), t.clone());
        tasks.spawn(async move {
            hv.provision(&ProvisionSpec::new(m.clone(), t, 1)).await?;
            hv.start(&m).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("join").expect("provision and start");
    }
    eprintln!(
        "50 local servers provisioned and started in {:?}",
        started.elapsed()
    );
    let fresh = bed.reopen();
    let listed = std::time::Instant::now();
    let list = fresh.list().await.expect("list");
    eprintln!("a fresh instance listed them in {:?}", listed.elapsed());
    assert_eq!(list.len(), 50);
    assert!(
        list.iter().all(|m| m.state == PowerState::Running),
        "{:?}",
        list.iter()
            .filter(|m| m.state != PowerState::Running)
            .collect::<Vec<_>>()
    );
    let addrs: std::collections::HashSet<_> = list.iter().map(|m| m.address).collect();
    assert_eq!(addrs.len(), 50, "every server has its own address");
    let fresh = dynhv(&fresh);
    let mut tasks = tokio::task::JoinSet::new();
    for m in names {
        let hv = Arc::clone(&fresh);
        tasks.spawn(async move { hv.destroy(&m).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("join").expect("destroy");
    }
    assert!(fresh.list().await.expect("list").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_test_bed_kills_its_servers() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.sleeper_template();
    let m = name("left-running");
    bed.driver
        .provision(&ProvisionSpec::new(m.clone(), t, 1))
        .await
        .expect("provision");
    bed.driver.start(&m).await.expect("start");
    let pid = bed.driver.pid(&m).expect("a pid");
    drop(bed);
    let gone = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    };
    for _ in 0..200 {
        if gone(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("server process {pid} survived the test bed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_template_is_refused_for_an_old_generation() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.sleeper_template();
    let info = bed.driver.inspect_template(&t).await.expect("inspect");
    let spec = |n: &str| {
        ProvisionSpec::new(name(n), t.clone(), 1).with_fingerprint(info.fingerprint.clone())
    };
    bed.driver
        .provision(&spec("gen-a"))
        .await
        .expect("unchanged template");
    std::fs::write(format!("{t}/data/new.txt"), "patched\n").expect("change the template");
    let err = bed
        .driver
        .provision(&spec("gen-b"))
        .await
        .expect_err("changed template");
    assert!(
        err.to_string()
            .contains("register its current content as a new generation"),
        "{err}"
    );
    let again = bed.driver.inspect_template(&t).await.expect("inspect");
    assert_ne!(again.fingerprint, info.fingerprint);
    bed.driver.destroy(&name("gen-a")).await.expect("destroy");
}

/// Live processes whose environment names `root` as their `VSM_ROOT` (copies of one server).
fn copies_of(root: &camino::Utf8Path) -> Vec<i32> {
    let want = format!("VSM_ROOT={root}");
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        });
        let ours = std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == want.as_bytes()));
        if alive && ours {
            pids.push(pid);
        }
    }
    pids
}

/// Rewrites a machine's record as a manager killed between spawning the boot process and
/// recording it leaves it: `starting`, no process.
fn forget_process(driver: &LocalDriver, m: &MachineName) {
    let path = driver.machine_dir(m).join("machine.json");
    let text = std::fs::read_to_string(&path).expect("read the record");
    let mut rec: serde_json::Value = serde_json::from_str(&text).expect("record is JSON");
    rec["process"] = serde_json::Value::Null;
    rec["starting"] = serde_json::Value::Bool(true);
    rec["desired"] = serde_json::Value::String("running".into());
    std::fs::write(&path, serde_json::to_vec(&rec).expect("encode")).expect("write the record");
}

/// Two managers of one host may reach the local driver's directory by different paths (one
/// through a symbolic link): a start that one of them left interrupted is still adopted by an
/// instance opened on the other path, and reported running, never crashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_start_is_adopted_through_another_path_to_the_directory() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.sleeper_template();
    let link = bed.root().join("state-link");
    std::os::unix::fs::symlink(bed.state_dir(), &link).expect("symlink");
    let through_link =
        LocalDriver::open(link.clone(), bed.driver.options().clone()).expect("open via the link");
    let m = name("linked");
    through_link
        .provision(&ProvisionSpec::new(m.clone(), t.clone(), 1))
        .await
        .expect("provision");
    through_link.start(&m).await.expect("start");
    let pid = through_link.pid(&m).expect("a pid");
    forget_process(&through_link, &m);
    let fresh = bed.reopen();
    assert_eq!(
        fresh.state(&m).await.expect("state"),
        PowerState::Running,
        "the process started through {link} is seen through {}",
        bed.state_dir()
    );
    assert_eq!(fresh.pid(&m), Some(pid), "and adopted by the state query");
    fresh.start(&m).await.expect("start again");
    let root = fresh.local_root(&m).expect("a root");
    assert_eq!(copies_of(&root), vec![pid], "exactly one copy runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_start_is_adopted_never_started_twice() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let t = bed.sleeper_template();
    let m = name("half-started");
    bed.driver
        .provision(&ProvisionSpec::new(m.clone(), t.clone(), 1))
        .await
        .expect("provision");
    bed.driver.start(&m).await.expect("start");
    let pid = bed.driver.pid(&m).expect("a pid");
    let root = bed.driver.local_root(&m).expect("a root");
    assert_eq!(copies_of(&root), vec![pid]);

    // the manager died right after the spawn: the process runs, the record does not name it
    forget_process(&bed.driver, &m);
    let fresh = bed.reopen();
    assert_eq!(fresh.pid(&m), None, "the record names no process");
    assert_eq!(
        fresh.state(&m).await.expect("state"),
        PowerState::Running,
        "the unrecorded process is seen"
    );
    assert_eq!(
        fresh.list().await.expect("list")[0].state,
        PowerState::Running
    );
    // the re-run start adopts it instead of starting a second copy
    fresh.start(&m).await.expect("start again");
    assert_eq!(fresh.pid(&m), Some(pid), "the running copy is adopted");
    assert_eq!(copies_of(&root), vec![pid], "exactly one copy runs");

    // a stop of an interrupted start stops the unrecorded process too
    forget_process(&fresh, &m);
    let fresh = bed.reopen();
    let out = fresh
        .shutdown(&m, Duration::from_secs(5))
        .await
        .expect("shutdown");
    assert_eq!(out, ShutdownOutcome::Graceful);
    assert!(copies_of(&root).is_empty(), "{:?}", copies_of(&root));
    assert_eq!(fresh.state(&m).await.expect("state"), PowerState::Stopped);

    // died before the spawn: nothing runs, the start starts exactly one copy
    forget_process(&fresh, &m);
    let fresh = bed.reopen();
    assert_eq!(fresh.state(&m).await.expect("state"), PowerState::Crashed);
    fresh.start(&m).await.expect("start");
    assert_eq!(copies_of(&root).len(), 1);

    // two unrecorded copies (a start re-run by an old driver): one is kept, the other killed
    let kept = fresh.pid(&m).expect("a pid");
    forget_process(&fresh, &m);
    bed.reopen().start(&m).await.expect("adopting start");
    forget_process(&fresh, &m);
    // make a second copy the way the bug did: a start that does not know about the first
    let path = fresh.machine_dir(&m).join("machine.json");
    let text = std::fs::read_to_string(&path).expect("read the record");
    let mut rec: serde_json::Value = serde_json::from_str(&text).expect("record is JSON");
    rec["starting"] = serde_json::Value::Bool(false);
    std::fs::write(&path, serde_json::to_vec(&rec).expect("encode")).expect("write the record");
    fresh.start(&m).await.expect("a second copy");
    assert_eq!(copies_of(&root).len(), 2, "the set-up made two copies");
    forget_process(&fresh, &m);
    let fresh = bed.reopen();
    fresh.start(&m).await.expect("settling start");
    for _ in 0..200 {
        if copies_of(&root).len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(copies_of(&root), vec![kept], "the oldest copy is kept");
    assert_eq!(fresh.pid(&m), Some(kept));

    // and the test bed's clean-up kills unrecorded copies too
    forget_process(&fresh, &m);
    assert_eq!(fresh.kill_all_now(), 1);
    for _ in 0..200 {
        if copies_of(&root).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(copies_of(&root).is_empty(), "{:?}", copies_of(&root));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_something_listens_on_is_never_handed_out() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let first = bed.driver.options().first_address;
    // another manager's server (or anything else) listens on the first address of the range
    let taken = std::net::TcpListener::bind((first, 0)).expect("bind the first address");
    let m = name("next-door");
    let info = bed
        .driver
        .provision(&ProvisionSpec::new(m.clone(), bed.sleeper_template(), 1))
        .await
        .expect("provision");
    assert_ne!(info.address, Some(std::net::IpAddr::V4(first)));
    drop(taken);
    bed.driver.destroy(&m).await.expect("destroy");
}

/// Several local drivers of one process (several local hosts of one manager) never hand out
/// the same address, even before the first server binds it; a destroyed machine's address is
/// free for the others again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_drivers_of_one_process_never_share_an_address() {
    use std::net::{IpAddr, Ipv4Addr};
    let range = || {
        LocalOptions::default()
            .with_addresses(Ipv4Addr::new(127, 9, 7, 1), Ipv4Addr::new(127, 9, 7, 2))
    };
    // Test beds get ranges of their own: these two drivers share one range on purpose.
    let bed = LocalTestbed::new(LocalOptions::default());
    let dirs = tempfile::tempdir().expect("tempdir");
    let open = |sub: &str| {
        let dir = camino::Utf8PathBuf::from_path_buf(dirs.path().join(sub)).expect("utf-8");
        vsm_hypervisor::local::LocalDriver::open(dir, range()).expect("open a local driver")
    };
    let (a, b) = (open("a"), open("b"));
    let tpl = bed.sleeper_template();
    let (ma, mb) = (name("host-a-one"), name("host-b-one"));
    let ia = a
        .provision(&ProvisionSpec::new(ma.clone(), tpl.clone(), 1))
        .await
        .expect("provision on a");
    let ib = b
        .provision(&ProvisionSpec::new(mb.clone(), tpl.clone(), 1))
        .await
        .expect("provision on b");
    assert_ne!(ia.address, ib.address, "two hosts gave out one address");
    let both: std::collections::BTreeSet<_> = [ia.address, ib.address].into_iter().collect();
    let expected: std::collections::BTreeSet<_> = [
        Some(IpAddr::V4(Ipv4Addr::new(127, 9, 7, 1))),
        Some(IpAddr::V4(Ipv4Addr::new(127, 9, 7, 2))),
    ]
    .into_iter()
    .collect();
    assert_eq!(both, expected);
    // The range is used up for a third machine on either host…
    let full = a
        .provision(&ProvisionSpec::new(name("host-a-two"), tpl.clone(), 1))
        .await;
    assert!(full.is_err(), "{full:?}");
    // …until b destroys its machine.
    b.destroy(&mb).await.expect("destroy on b");
    let again = a
        .provision(&ProvisionSpec::new(name("host-a-two"), tpl.clone(), 1))
        .await
        .expect("provision after the destroy");
    assert_eq!(again.address, ib.address);
    a.destroy(&ma).await.expect("destroy");
    a.destroy(&name("host-a-two")).await.expect("destroy");
}

/// The local host's capacity comes from /proc; a template's size from its manifest (1 vCPU
/// and 256 MiB when it says nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_and_template_size_for_placement() {
    let bed = LocalTestbed::new(LocalOptions::default());
    let capacity = bed.driver.capacity().await.expect("capacity");
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal");
    assert_eq!(capacity.memory_mib, total_kib / 1024);
    assert_eq!(
        u64::from(capacity.cpus),
        std::thread::available_parallelism().expect("cpus").get() as u64
    );
    // A host whose state directory cannot be reached answers no capacity (the manager's host
    // probe then counts it unreachable), and answers again once the directory is back.
    let dir = bed.state_dir().to_path_buf();
    let away = dir.with_extension("away");
    std::fs::rename(&dir, &away).expect("move the state dir away");
    let err = bed.driver.capacity().await.expect_err("no state dir");
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("cannot be reached"), "{err}");
    std::fs::rename(&away, &dir).expect("move it back");
    bed.driver.capacity().await.expect("capacity again");
    let t = bed.template("sized", &["sleep", "1000"]);
    let info = bed.driver.inspect_template(&t).await.expect("inspect");
    assert_eq!(
        info.size,
        Some(vsm_hypervisor::MachineSize {
            vcpus: 1,
            memory_mib: 256
        })
    );
}
