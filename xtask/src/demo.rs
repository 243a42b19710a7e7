//! `cargo xtask demo`: the main job of vsm end to end, on the embedded defaults (local driver,
//! SQLite), printing each step as a user would type it (`$ vsm unit start shop`) followed by its
//! output.
//!
//! It builds `vsm` (and `vsm-appserver`, which the example template runs), initializes a manager
//! in a temporary directory, starts it detached on a free loopback port, adds a builder,
//! registers the example template, creates the example unit (two groups), imports and applies
//! the example definition directory, starts the unit, shows it, proves the servers answer on
//! their addresses, scales a group out and in, rolls out a changed definition, and stops the
//! unit and the manager. A guard stops the unit and the manager also when a step fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

const UNIT: &str = "shop";
/// The port the example template's `vsm-appserver` listens on (examples/templates/appserver).
const APP_PORT: u16 = 8080;

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let keep = args.iter().any(|a| a == "--keep");
    if let Some(other) = args.iter().find(|a| *a != "--keep") {
        bail!("usage: cargo xtask demo [--keep]   (unknown argument `{other}`)");
    }
    let root = crate::workspace_root();
    crate::run_cmd(
        "cargo build -p vsm-cli -p vsm-hypervisor --bins",
        crate::cargo().args(["build", "-p", "vsm-cli", "-p", "vsm-hypervisor", "--bins"]),
    )?;
    let bin_dir = target_dir().join("debug");
    let vsm = bin_dir.join("vsm");
    if !vsm.exists() {
        bail!("{} is missing after the build", vsm.display());
    }

    let tmp = tempfile::Builder::new().prefix("vsm-demo-").tempdir()?;
    let work = tmp.path().to_path_buf();
    let mut demo = Demo {
        vsm,
        root: root.clone(),
        work: work.clone(),
        env: Vec::new(),
        manager_started: false,
        unit_created: false,
        state: work.join("state"),
    };
    let result = demo.script();
    demo.cleanup();
    if keep {
        let kept = tmp.keep();
        eprintln!("\nkept the demo directory {}", kept.display());
    }
    match result {
        Ok(()) => {
            println!("\nThe demo finished: every step above ran against a real manager.");
            Ok(())
        }
        Err(e) => Err(e.context("the demo failed (the manager and the unit were stopped)")),
    }
}

struct Demo {
    vsm: PathBuf,
    root: PathBuf,
    work: PathBuf,
    env: Vec<(String, String)>,
    manager_started: bool,
    unit_created: bool,
    state: PathBuf,
}

impl Demo {
    fn script(&mut self) -> Result<()> {
        let state = self.rel(&self.state.clone());
        let admin_pw = self.secret("admin.pw", "demo admin password")?;
        let alice_pw = self.secret("alice.pw", "alice's demo password")?;
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");

        section("The administrator sets up the manager");
        self.vsm(&[
            "manager",
            "init",
            "--dir",
            &state,
            "--admin",
            "admin",
            "--password-file",
            &admin_pw,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])?;
        self.vsm(&["manager", "start", "--dir", &state, "--detach"])?;
        self.manager_started = true;
        self.export("VSM_URL", &url);
        let config = self.rel(&self.work.join("config"));
        self.export("VSM_CONFIG_DIR", &config);
        self.vsm(&["manager", "status", "--dir", &state])?;
        self.vsm(&["login", "--user", "admin", "--password-file", &admin_pw])?;
        self.vsm(&[
            "account",
            "add",
            "alice",
            "--role",
            "builder",
            "--password-file",
            &alice_pw,
        ])?;
        self.vsm(&["account", "list"])?;

        section("The system builder builds the shop");
        self.vsm(&["login", "--user", "alice", "--password-file", &alice_pw])?;
        self.vsm(&[
            "template",
            "register",
            "appserver",
            "--driver",
            "local",
            "--source",
            "examples/templates/appserver",
        ])?;
        self.vsm(&["unit", "create", UNIT, "--file", "examples/units/shop.yaml"])?;
        self.unit_created = true;
        self.vsm(&["unit", "import", UNIT, "examples/definitions/shop"])?;
        self.vsm(&["unit", "apply", UNIT])?;
        self.vsm(&["unit", "start", UNIT])?;
        self.vsm(&["unit", "show", UNIT])?;

        section("Every server answers on its address");
        self.probe_servers()?;

        section("Scale the web group out and in");
        self.vsm(&["unit", "scale", UNIT, "web", "--count", "3"])?;
        self.vsm(&["unit", "show", UNIT])?;
        self.probe_servers()?;
        self.vsm(&["unit", "scale", UNIT, "web", "--count", "2"])?;

        section("Roll out a changed definition");
        let v2 = self.work.join("shop-v2");
        copy_dir(&self.root.join("examples/definitions/shop"), &v2)?;
        let changed = change_definition(&v2)?;
        println!("$ {changed}");
        let v2s = self.rel(&v2);
        self.vsm(&["unit", "diff", UNIT, &v2s])?;
        self.vsm(&["unit", "import", UNIT, &v2s])?;
        self.vsm(&["unit", "apply", UNIT, "--batch", "1"])?;
        self.vsm(&["unit", "versions", UNIT])?;
        self.probe_servers()?;
        self.vsm(&["op", "list", "--unit", UNIT])?;

        section("Stop the unit and the manager");
        self.vsm(&["unit", "stop", UNIT])?;
        self.unit_created = false;
        self.vsm(&["manager", "stop", "--dir", &state])?;
        self.manager_started = false;
        Ok(())
    }

    /// A path as the user would type it: relative to the workspace when inside it.
    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    }

    fn secret(&self, name: &str, text: &str) -> Result<String> {
        let path = self.work.join(name);
        std::fs::write(&path, format!("{text}\n"))
            .with_context(|| format!("could not write {}", path.display()))?;
        let shown = self.rel(&path);
        println!("$ echo '{text}' > {shown}");
        Ok(shown)
    }

    fn export(&mut self, key: &str, value: &str) {
        println!("$ export {key}={value}");
        self.env.push((key.to_owned(), value.to_owned()));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.vsm);
        cmd.args(args)
            .current_dir(&self.root)
            .env_remove("VSM_TOKEN")
            .env("VSM_OUTPUT", "table");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Prints `$ vsm ARGS` and runs it with its output on the terminal.
    fn vsm(&self, args: &[&str]) -> Result<()> {
        println!("\n$ vsm {}", args.join(" "));
        let _ = std::io::stdout().flush();
        let status = self
            .command(args)
            .status()
            .with_context(|| format!("could not run vsm {}", args.join(" ")))?;
        if !status.success() {
            bail!("`vsm {}` failed ({status})", args.join(" "));
        }
        Ok(())
    }

    /// Runs `vsm ARGS --output json` quietly and returns its answer.
    fn json(&self, args: &[&str]) -> Result<Value> {
        let out = self
            .command(args)
            .args(["--output", "json"])
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("could not run vsm {}", args.join(" ")))?;
        if !out.status.success() {
            bail!("`vsm {}` failed ({})", args.join(" "), out.status);
        }
        serde_json::from_slice(&out.stdout).context("vsm did not print JSON")
    }

    /// GETs the health URL of every server of the unit and prints the answers.
    fn probe_servers(&self) -> Result<()> {
        let unit = self.json(&["unit", "show", UNIT])?;
        let servers: Vec<Value> = match unit.get("servers_detail").and_then(Value::as_array) {
            Some(flat) => flat.clone(),
            None => unit
                .get("groups")
                .and_then(Value::as_array)
                .map(|gs| {
                    gs.iter()
                        .filter_map(|g| g.get("servers").and_then(Value::as_array))
                        .flatten()
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        };
        if servers.is_empty() {
            bail!("unit {UNIT} has no servers");
        }
        for s in servers {
            let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
            let Some(addr) = s.get("address").and_then(Value::as_str) else {
                bail!("server {name} has no address");
            };
            // The example template's application listens on APP_PORT of the server's address.
            let addr = if addr.contains(':') {
                addr.to_owned()
            } else {
                format!("{addr}:{APP_PORT}")
            };
            let addr = addr.as_str();
            let url = format!("http://{addr}/health");
            println!("\n$ curl -s {url}      # {name}");
            let body = http_get(addr, "/health")
                .with_context(|| format!("server {name} does not answer on {url}"))?;
            println!("{}", body.trim_end());
        }
        Ok(())
    }

    /// Stops what the script started, also after a failure. Quiet unless something is left.
    fn cleanup(&mut self) {
        if self.unit_created && self.manager_started {
            eprintln!("\n(cleaning up: stopping unit {UNIT})");
            let _ = self
                .command(&["unit", "stop", UNIT, "--timeout", "120"])
                .stdout(Stdio::null())
                .status();
        }
        if self.manager_started {
            eprintln!("(cleaning up: stopping the manager)");
            let state = self.state.to_string_lossy().into_owned();
            let _ = self
                .command(&["manager", "stop", "--dir", &state])
                .stdout(Stdio::null())
                .status();
        }
        // Servers outlive their manager by design: after a failure, kill what is left.
        if self.unit_created
            && let Some(local) = camino::Utf8Path::from_path(&self.state.join("local"))
            && local.exists()
            && let Ok(driver) =
                vsm_hypervisor::local::LocalDriver::open(local.to_owned(), Default::default())
        {
            let n = driver.kill_all_now();
            if n > 0 {
                eprintln!("(cleaning up: killed {n} servers left running)");
            }
        }
    }
}

fn section(title: &str) {
    println!("\n# ── {title} ──");
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => crate::workspace_root().join(dir),
        None => crate::workspace_root().join("target"),
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("could not find a free port")?;
    Ok(l.local_addr()?.port())
}

/// A minimal HTTP/1.0 GET (the demo must not need curl).
fn http_get(addr: &str, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200") {
        bail!("{addr}{path} answered `{status}`");
    }
    Ok(body.to_owned())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)
                .with_context(|| format!("cannot copy {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Changes the copied definition directory the way a builder would for a new release; returns
/// the change as a shell command line for the transcript.
fn change_definition(dir: &Path) -> Result<String> {
    let manifest = dir.join("vsm-definition.yaml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let (from, to) = ("release: \"1\"", "release: \"2\"");
    if text.contains(from) {
        std::fs::write(&manifest, text.replacen(from, to, 1))?;
        return Ok(format!("sed -i 's/{from}/{to}/' {}", manifest.display()));
    }
    std::fs::write(&manifest, format!("{text}# release 2\n"))?;
    Ok(format!("echo '# release 2' >> {}", manifest.display()))
}
