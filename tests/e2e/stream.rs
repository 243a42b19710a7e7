//! Definition directories stream through the CLI with bounded memory (issue 16, item 3): a
//! directory holding one file of about 1 GiB is imported and exported again while the `vsm`
//! process stays under 64 MB resident (its peak measured by the kernel, `wait4`'s
//! `ru_maxrss`), and arrives byte for byte; a file over the limit the manager announces is
//! refused before anything is sent.
//!
//! The big file is sparse (`File::set_len`), with a few marked regions so that its content
//! matters. `VSM_STREAM_TEST_MIB` sets its size in MiB, less 64 KiB so that the archive with its
//! headers fits the manager's default upload limit at 1024, the default (about 6 s to import
//! and 5 s to export in a debug build; the CLI stays near 28 MB either way).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vsm_tests::{Manager, Output, User, vsm_bin};

/// The bound on the CLI's peak resident memory.
const PEAK_LIMIT: u64 = 64_000_000;

/// What the manager accepts by default (`max_file_bytes`, `max_upload_bytes`).
const GIB: u64 = 1 << 30;

/// A `vsm` run with the peak resident memory of its process, in bytes, and how long it took.
struct Measured {
    out: Output,
    peak: u64,
    took: Duration,
}

/// Runs `vsm args --output json` as `user` against `m`, like [`Manager::vsm`], and measures
/// the process's peak resident set size (its VmHWM, polled while it runs).
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which `Child` does not know
fn measured(m: &Manager, user: &User, args: &[&str]) -> Measured {
    // The session directory `Manager` gives each user (see `vsm_tests::new_user`).
    let config = m.path(&format!("users/{}/config", user.name));
    assert!(config.is_dir(), "no session directory {}", config.display());
    let started = Instant::now();
    let mut child = Command::new(vsm_bin())
        .args(args)
        .args(["--output", "json"])
        .env_remove("VSM_TOKEN")
        .env_remove("VSM_OUTPUT")
        .env_remove("VSM_DIR")
        .env("NO_COLOR", "1")
        .env("VSM_URL", &m.url)
        .env("VSM_CONFIG_DIR", &config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not run vsm");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pid = child.id() as libc::pid_t;
    // The peak of the program itself: VmHWM of the process's own memory, polled until it ends.
    // (`ru_maxrss` from wait4 is no good here: exec records the forking test process's high
    // water mark into it, and other tests in this process may hold hundreds of MB.)
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if let Some(kb) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmHWM:"))
                            .and_then(|v| {
                                v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
                            })
                    })
                {
                    peak = peak.max(kb * 1024);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    // Wait for the exit without reaping, so that the pid cannot be reused while polled.
    // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct; waitid only
    // writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waits for the child this function spawned, leaving it to be reaped below.
    let waited = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(waited, 0, "waitid: {}", std::io::Error::last_os_error());
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = poller.join().unwrap_or(0);
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for (and reaps) the child this function spawned; `status` and `usage` are
    // valid for writing. `child` is not waited for again (dropping it does not wait).
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let took = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let out = Output {
        cmdline: std::iter::once("vsm")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" "),
        code,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    assert!(peak > 0, "never read the VmHWM of {}", out.cmdline);
    eprintln!(
        "{}: exit {code}, peak resident {:.1} MB, {:.1} s",
        out.cmdline,
        peak as f64 / 1e6,
        took.as_secs_f64()
    );
    Measured { out, peak, took }
}

/// A manager with builder `alice`, a template and the unit `big` (one group `app`, no servers
/// started), and the definition directory `defs` whose manifest serves `file`.
fn setup(file: &str) -> (Manager, User, PathBuf) {
    let m = Manager::start();
    let alice = m.add_account("alice", "builder");
    m.sleeper_unit(&alice, "big", "format: 1\ngroups:\n  - name: app\n    template: t\n    count: 1\n    min: 1\n    max: 2\n");
    m.write(
        "defs/vsm-definition.yaml",
        &format!(
            "format: 1\ngroups:\n  - name: app\n    files:\n      - {{ source: {file}, target: {file} }}\n"
        ),
    );
    let defs = m.path("defs");
    (m, alice, defs)
}

/// Creates the sparse file `path` of `size` bytes with a marker at a few offsets; returns the
/// markers.
fn sparse_file(path: &Path, size: u64) -> Vec<(u64, Vec<u8>)> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let file = File::create(path).unwrap();
    file.set_len(size).unwrap();
    let marks: Vec<(u64, Vec<u8>)> = [0, size / 3 + 7, size / 2 + 65_536, size - 32]
        .into_iter()
        .enumerate()
        .map(|(i, at)| (at, format!("vsm stream mark {i} @{at}").into_bytes()))
        .collect();
    for (at, mark) in &marks {
        assert!(at + mark.len() as u64 <= size);
        file.write_all_at(mark, *at).unwrap();
    }
    marks
}

/// Whether the files `a` and `b` have the same length and content (read in 1 MiB pieces).
fn same_content(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (File::open(a).unwrap(), File::open(b).unwrap());
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// The size of the big file: `VSM_STREAM_TEST_MIB` MiB (default and at most 1024) less 64 KiB.
fn big_size() -> u64 {
    let mib: u64 = std::env::var("VSM_STREAM_TEST_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    assert!(
        (1..=1024).contains(&mib),
        "VSM_STREAM_TEST_MIB={mib}: give 1 to 1024 (the manager accepts 1 GiB)"
    );
    (mib << 20) - 65_536
}

#[test]
fn a_large_directory_streams_both_ways_in_bounded_memory() {
    let (m, alice, defs) = setup("app.war");
    let size = big_size();
    let big = defs.join("app.war");
    let marks = sparse_file(&big, size);
    let defs_s = defs.to_string_lossy().into_owned();

    let import = measured(&m, &alice, &["unit", "import", "big", &defs_s]);
    let v = import.out.ok().json();
    assert_eq!(v["version"], 1, "{}", import.out);
    assert!(
        import.peak < PEAK_LIMIT,
        "importing {size} bytes took {} bytes resident in the CLI (limit {PEAK_LIMIT})\n{}",
        import.peak,
        import.out
    );

    let out = m.path("exported");
    let out_s = out.to_string_lossy().into_owned();
    let export = measured(&m, &alice, &["unit", "export", "big", &out_s]);
    assert_eq!(export.out.ok().json()["files"], 2, "{}", export.out);
    assert!(
        export.peak < PEAK_LIMIT,
        "exporting {size} bytes took {} bytes resident in the CLI (limit {PEAK_LIMIT})\n{}",
        export.peak,
        export.out
    );
    let copy = out.join("app.war");
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size);
    let mut f = File::open(&copy).unwrap();
    for (at, mark) in &marks {
        let mut got = vec![0u8; mark.len()];
        f.seek(SeekFrom::Start(*at)).unwrap();
        f.read_exact(&mut got).unwrap();
        assert_eq!(&got, mark, "the mark at {at}");
    }
    assert!(same_content(&big, &copy), "the exported file differs");
    // Free the disk now rather than at the end of the test process.
    std::fs::remove_dir_all(&out).unwrap();
    eprintln!(
        "streamed {size} bytes: import {:.1} s, export {:.1} s",
        import.took.as_secs_f64(),
        export.took.as_secs_f64()
    );
}

#[test]
fn a_file_over_the_announced_limit_is_refused_before_sending() {
    let (m, alice, defs) = setup("app/big.war");
    // One byte over the manager's per-file limit; sparse, so it costs no disk.
    let big = defs.join("app/big.war");
    sparse_file(&big, GIB + 1);
    let defs_s = defs.to_string_lossy().into_owned();
    let expected = format!(
        "{} is 1.0 GiB (1073741825 bytes); the manager accepts files up to 1 GiB (max_file_bytes)",
        big.display()
    );
    for command in ["import", "diff"] {
        let run = measured(&m, &alice, &["unit", command, "big", &defs_s]);
        run.out
            .code(65)
            .stderr_has(&expected)
            .stderr_has("nothing was sent");
        let error = run.out.error();
        assert_eq!(error["message"], expected.as_str(), "{}", run.out);
        assert_eq!(error["exit_code"], 65);
        // Sizes only were read: neither the memory nor the time of reading 1 GiB.
        assert!(run.peak < PEAK_LIMIT, "{}", run.out);
    }
    // Nothing reached the manager: its request log shows no upload.
    let log = std::fs::read_to_string(m.dir.join("logs/vsm-manager.log")).unwrap();
    assert!(
        log.contains("/api/v1/health"),
        "the log records requests:\n{log}"
    );
    assert!(
        !log.contains("/api/v1/units/big/versions") && !log.contains("/api/v1/units/big/diff"),
        "an upload reached the manager:\n{log}"
    );
    let versions = m.vsm(&alice, &["unit", "versions", "big"]).ok().json();
    assert_eq!(versions.as_array().map(Vec::len), Some(0), "{versions}");
}
