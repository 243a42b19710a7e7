//! Smoke test of the VM lab harness (`vsm_tests::vmlab`): a private libvirtd in a network
//! namespace boots a tiny real guest under TCG on the lab's isolated network; the guest takes a
//! DHCP lease from libvirt's dnsmasq, and the lab's namespace reaches it (ping and HTTP).
//! Skips with a reason when not root or libvirt/QEMU are missing (fails instead when `CI=true`).
//!
//! Not gated behind `VSM_SLOW_TESTS`: the lab starts in about 0.5 s (2 s with a cold QEMU
//! capability cache) and the guest has its lease about 8 s after `virsh start`.

use std::path::Path;
use std::time::{Duration, Instant};

use vsm_tests::vmlab::{self, GUEST_ADDRESS_MARKER, GUEST_HTTP_BODY, TinyGuest};

/// Runs `busybox args…` inside the lab's namespace until it succeeds (or `timeout` passes);
/// returns its standard output.
fn in_lab_until_ok(
    lab: &vmlab::VmLab,
    busybox: &Path,
    args: &[&str],
    timeout: Duration,
    console: &Path,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let out = lab.command(busybox).args(args).output().unwrap();
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "`busybox {}` in {} kept failing ({}): {}{}\n--- console\n{}",
            args.join(" "),
            lab.netns(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(console).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn vmlab_guest_gets_a_lease_and_answers_inside_the_namespace() {
    let t0 = Instant::now();
    let lab = vsm_tests::start_or_skip!("smoke");
    let lab_secs = t0.elapsed().as_secs_f64();
    let guest = vsm_tests::or_skip!(TinyGuest::build(lab.dir(), ""));
    let busybox = vmlab::static_busybox().unwrap();

    let name = "smoke-1";
    let console = lab.dir().join(format!("{name}.console"));
    let xml = lab.dir().join(format!("{name}.xml"));
    std::fs::write(&xml, guest.domain_xml(name, lab.network(), &console)).unwrap();
    let console_text = || std::fs::read_to_string(&console).unwrap_or_default();

    let t_boot = Instant::now();
    lab.virsh(&["define", &xml.to_string_lossy()]).unwrap();
    lab.virsh(&["start", name])
        .unwrap_or_else(|e| panic!("{e:#}\n{}", lab.logs()));
    let ip = lab
        .wait_for_lease(name, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e:#}\n--- console\n{}\n{}", console_text(), lab.logs()));
    let lease_secs = t_boot.elapsed().as_secs_f64();
    assert!(
        lab.contains(ip),
        "lease {ip} is outside the lab's subnet {:?}",
        lab.subnet()
    );

    // The guest configures the address right after the lease: allow it a moment.
    in_lab_until_ok(
        &lab,
        &busybox,
        &["ping", "-c", "1", "-W", "1", &ip.to_string()],
        Duration::from_secs(30),
        &console,
    );
    let body = lab
        .http_get((ip, 80).into(), "/")
        .unwrap_or_else(|e| panic!("{e:#}\n--- console\n{}", console_text()));
    assert_eq!(body, GUEST_HTTP_BODY);
    let reach_secs = t_boot.elapsed().as_secs_f64();
    assert!(
        console_text().contains(&format!("{GUEST_ADDRESS_MARKER}{ip}")),
        "the console does not report {ip}:\n{}",
        console_text()
    );
    eprintln!(
        "vmlab smoke: lab up {lab_secs:.2}s; guest {name} lease {ip} after {lease_secs:.1}s, \
         ping and HTTP after {reach_secs:.1}s (kernel {})",
        guest.kernel_version
    );
}

#[test]
fn vmlab_labs_are_isolated_from_the_host_and_each_other() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| vmlab::VmLab::start("iso-a"));
        let b = s.spawn(|| vmlab::VmLab::start("iso-b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, b) = (vsm_tests::or_skip!(a), vsm_tests::or_skip!(b));
    assert_ne!(a.netns(), b.netns());
    assert_ne!(a.uri(), b.uri());
    for lab in [&a, &b] {
        // Only the lab's own network and pool: nothing of the host's libvirt (Debian's
        // `default` network) is defined or running in the lab.
        let nets = lab.virsh(&["net-list", "--all", "--name"]).unwrap();
        assert_eq!(nets.split_whitespace().collect::<Vec<_>>(), [lab.network()]);
        let pools = lab.virsh(&["pool-list", "--all", "--name"]).unwrap();
        assert_eq!(pools.split_whitespace().collect::<Vec<_>>(), [lab.pool()]);
        let addr = lab
            .command("ip")
            .args(["-4", "-o", "addr", "show", "dev", vmlab::BRIDGE])
            .output()
            .unwrap();
        let addr = String::from_utf8_lossy(&addr.stdout);
        assert!(
            addr.contains(&format!("{}/24", lab.host_ip())),
            "{} in {}: {addr}",
            vmlab::BRIDGE,
            lab.netns()
        );
        assert!(lab.pool_dir().is_dir());
    }
    // The bridge exists only inside the labs' namespaces.
    let host = std::process::Command::new("ip")
        .args(["link", "show", vmlab::BRIDGE])
        .output()
        .unwrap();
    assert!(
        !host.status.success(),
        "{} exists on the host",
        vmlab::BRIDGE
    );
    // A socket opened in one lab's namespace does not reach the other lab's bridge address
    // (unless both labs picked the same subnet, which the pid-based choice avoids here).
    if a.host_ip() != b.host_ip() {
        let err = a.connect((b.host_ip(), 53).into(), Duration::from_secs(2));
        assert!(
            err.is_err(),
            "{} reached {} of {}",
            a.netns(),
            b.host_ip(),
            b.netns()
        );
    }
}
