//! The demo script: the main job of vsm end to end on the embedded defaults (local driver,
//! SQLite), printing each step as a user would type it (`$ vsm unit start shop`) followed by its
//! output. `cargo xtask demo` runs it (xtask includes this file) and the e2e test `demo` runs the
//! very same function in CI, so the README's first command cannot rot.
//!
//! The script initializes a manager in a work directory, starts it detached on a free loopback
//! port, adds a builder, registers the example template, creates the example unit (two groups),
//! imports and applies the example definition directory, starts the unit, shows it, proves every
//! server answers on its address with content from the definition directory, scales a group out
//! and in, rolls out a changed definition, and stops the unit and the manager. A guard stops the
//! unit and the manager and kills leftover servers also when a step fails. It only talks to the
//! manager through the `vsm` binary; it must not start anything it does not stop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The unit the demo builds.
pub const UNIT: &str = "shop";
/// The port the example template's `vsm-appserver` listens on (examples/templates/appserver).
pub const APP_PORT: u16 = 8080;
/// The line the roll-out adds to the served page.
const RELEASE_2: &str = "<p>release 2</p>";

/// What the demo runs and where.
pub struct DemoConfig {
    /// The `vsm` binary (`vsm-appserver` must be beside it).
    pub vsm: PathBuf,
    /// The workspace root: commands run there, so example paths read as a user types them.
    pub root: PathBuf,
    /// The definition directory to import (`examples/definitions/shop`, relative to `root`).
    pub definition: PathBuf,
    /// An empty directory for the state, passwords, sessions and the changed definition.
    pub work: PathBuf,
    /// `true`: `vsm` writes to the terminal directly (live progress); `false`: its output is
    /// captured and printed with `println!` (so a test harness captures it too).
    pub live: bool,
    /// Real VMs instead of the local driver (`cargo xtask demo --vm`): the same story, with the
    /// example template registered as a libvirt VM template.
    pub vm: Option<DemoVm>,
}

/// Where the demo's VMs run (the caller runs the demo inside the VMs' network).
pub struct DemoVm {
    /// The libvirt connection URI the manager is started with.
    pub libvirt_uri: String,
    /// The VM template file registered as the template `appserver`.
    pub template_file: PathBuf,
}

/// Runs the demo; stops what it started also on failure.
pub fn run_demo(config: &DemoConfig) -> Result<()> {
    let mut demo = Demo {
        config,
        env: Vec::new(),
        manager_started: false,
        unit_created: false,
        state: config.work.join("state"),
    };
    let result = demo.script();
    demo.cleanup();
    result
}

struct Demo<'a> {
    config: &'a DemoConfig,
    env: Vec<(String, String)>,
    manager_started: bool,
    unit_created: bool,
    state: PathBuf,
}

impl Demo<'_> {
    fn script(&mut self) -> Result<()> {
        let root = self.config.root.clone();
        let definition = root.join(&self.config.definition);
        let def_s = self.rel(&definition);
        if !definition.join("vsm-definition.yaml").exists() {
            bail!(
                "the example definition directory {} is missing",
                definition.display()
            );
        }
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
        match &self.config.vm {
            Some(vm) => self.vsm(&[
                "manager",
                "start",
                "--dir",
                &state,
                "--detach",
                "--libvirt-uri",
                &vm.libvirt_uri,
            ])?,
            None => self.vsm(&["manager", "start", "--dir", &state, "--detach"])?,
        }
        self.manager_started = true;
        self.export("VSM_URL", &url);
        let config = self.rel(&self.config.work.join("config"));
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
        let (driver, source) = match &self.config.vm {
            Some(vm) => ("libvirt", self.rel(&vm.template_file)),
            None => ("local", "examples/templates/appserver".to_owned()),
        };
        self.vsm(&[
            "template",
            "register",
            "appserver",
            "--driver",
            driver,
            "--source",
            &source,
        ])?;
        self.vsm(&["unit", "create", UNIT, "--file", "examples/units/shop.yaml"])?;
        self.unit_created = true;
        self.vsm(&["unit", "import", UNIT, &def_s])?;
        self.vsm(&["unit", "apply", UNIT])?;
        self.vsm(&["unit", "start", UNIT])?;
        self.vsm(&["unit", "show", UNIT])?;

        section("Every server answers on its address with the deployed application");
        let n = self.probe_servers(&definition, None)?;
        if n != 4 {
            bail!("the unit should have 4 servers (2 app + 2 web), it has {n}");
        }

        section("Scale the web group out and in");
        self.vsm(&["unit", "scale", UNIT, "web", "--count", "3"])?;
        self.vsm(&["unit", "show", UNIT])?;
        let n = self.probe_servers(&definition, None)?;
        if n != 5 {
            bail!("after scaling out the unit should have 5 servers, it has {n}");
        }
        self.vsm(&["unit", "scale", UNIT, "web", "--count", "2"])?;
        self.vsm(&["unit", "show", UNIT])?;

        section("Roll out a changed definition");
        let v2 = self.config.work.join("shop-v2");
        copy_dir(&definition, &v2)?;
        println!("$ cp -r {def_s} {}", self.rel(&v2));
        let changed = change_definition(&v2)?;
        println!("$ echo '{RELEASE_2}' >> {}", self.rel(&changed));
        let v2s = self.rel(&v2);
        self.vsm(&["unit", "diff", UNIT, &v2s])?;
        self.vsm(&["unit", "import", UNIT, &v2s])?;
        self.vsm(&["unit", "apply", UNIT, "--batch", "1"])?;
        self.vsm(&["unit", "show", UNIT])?;
        let n = self.probe_servers(&v2, Some(RELEASE_2))?;
        if n != 4 {
            bail!("after the roll-out the unit should have 4 servers, it has {n}");
        }
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
        p.strip_prefix(&self.config.root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    }

    fn secret(&self, name: &str, text: &str) -> Result<String> {
        let path = self.config.work.join(name);
        std::fs::write(&path, format!("{text}\n"))
            .with_context(|| format!("could not write {}", path.display()))?;
        let shown = self.rel(&path);
        println!("$ echo \"{text}\" > {shown}");
        Ok(shown)
    }

    fn export(&mut self, key: &str, value: &str) {
        println!("$ export {key}={value}");
        self.env.push((key.to_owned(), value.to_owned()));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.config.vsm);
        cmd.args(args)
            .current_dir(&self.config.root)
            .env_remove("VSM_TOKEN")
            .env_remove("VSM_URL")
            .env_remove("VSM_CONFIG_DIR")
            .env("VSM_OUTPUT", "table")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Prints `$ vsm ARGS`, runs it and prints its output.
    fn vsm(&self, args: &[&str]) -> Result<()> {
        println!("\n$ vsm {}", args.join(" "));
        let _ = std::io::stdout().flush();
        let started = Instant::now();
        let status = if self.config.live {
            self.command(args)
                .status()
                .with_context(|| format!("could not run vsm {}", args.join(" ")))?
        } else {
            let out = self
                .command(args)
                .output()
                .with_context(|| format!("could not run vsm {}", args.join(" ")))?;
            print!("{}", String::from_utf8_lossy(&out.stdout));
            print!("{}", String::from_utf8_lossy(&out.stderr));
            out.status
        };
        if !status.success() {
            bail!(
                "`vsm {}` failed ({status}) after {:.1}s",
                args.join(" "),
                started.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }

    /// Runs `vsm ARGS --output json` quietly and returns its answer.
    fn json(&self, args: &[&str]) -> Result<Value> {
        let out = self
            .command(args)
            .args(["--output", "json"])
            .output()
            .with_context(|| format!("could not run vsm {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "`vsm {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_slice(&out.stdout).context("vsm did not print JSON")
    }

    /// GETs `/healthz` and `/` of every server of the unit, prints the answers and checks that
    /// each page is a file of the definition directory `definition` (and, with `marker`, that
    /// some server serves a page containing it). Returns how many servers answered.
    fn probe_servers(&self, definition: &Path, marker: Option<&str>) -> Result<usize> {
        let unit = self.json(&["unit", "show", UNIT])?;
        let servers = servers_of(&unit);
        if servers.is_empty() {
            bail!("unit {UNIT} has no servers:\n{unit:#}");
        }
        let files = file_contents(definition)?;
        let mut marked = 0;
        let mut shown: Vec<(String, String)> = Vec::new();
        for s in &servers {
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
            println!("\n$ curl -s http://{addr}/healthz      # {name}");
            let health = http_get(&addr, "/healthz")
                .with_context(|| format!("server {name} is not healthy on {addr}"))?;
            println!("{}", health.trim_end());
            println!("$ curl -s http://{addr}/");
            let page = http_get(&addr, "/")
                .with_context(|| format!("server {name} does not serve its page on {addr}"))?;
            match shown.iter().find(|(p, _)| *p == page) {
                Some((_, first)) => println!("(the same page as {first})"),
                None => {
                    println!("{}", page.trim_end());
                    shown.push((page.clone(), name.to_owned()));
                }
            }
            if !files.contains(&page) {
                bail!(
                    "server {name} serves a page that is no file of {}",
                    definition.display()
                );
            }
            if marker.is_some_and(|m| page.contains(m)) {
                marked += 1;
            }
        }
        if let Some(m) = marker
            && marked == 0
        {
            bail!("no server serves the changed page (containing {m:?})");
        }
        Ok(servers.len())
    }

    /// Stops what the script started, also after a failure. Quiet unless something is left.
    fn cleanup(&mut self) {
        if self.unit_created && self.manager_started {
            eprintln!("\n(cleaning up: stopping unit {UNIT})");
            let _ = self
                .command(&["unit", "stop", UNIT, "--timeout", "60"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if self.manager_started {
            eprintln!("(cleaning up: stopping the manager)");
            let state = self.state.to_string_lossy().into_owned();
            let _ = self
                .command(&["manager", "stop", "--dir", &state])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        // Servers outlive their manager by design: whatever happened, kill what is left.
        if let Some(local) = camino::Utf8Path::from_path(&self.state.join("local"))
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

/// The servers of a `vsm unit show --output json` answer (nested in groups or flat).
fn servers_of(unit: &Value) -> Vec<Value> {
    if let Some(flat) = unit.get("servers_detail").and_then(Value::as_array) {
        return flat.clone();
    }
    unit.get("groups")
        .and_then(Value::as_array)
        .map(|gs| {
            gs.iter()
                .filter_map(|g| g.get("servers").and_then(Value::as_array))
                .flatten()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn section(title: &str) {
    println!("\n# ── {title} ──");
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("could not find a free port")?;
    Ok(l.local_addr()?.port())
}

/// A minimal HTTP/1.0 GET (the demo must not need curl); only a 200 answer is accepted.
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
        bail!("http://{addr}{path} answered `{status}`");
    }
    Ok(body.to_owned())
}

/// The contents of every regular file under `dir` (lossy UTF-8).
fn file_contents(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else if e.file_type()?.is_file() {
                let bytes = std::fs::read(e.path())?;
                out.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    Ok(out)
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

/// Changes the copied definition directory the way a builder would for a new release: appends
/// [`RELEASE_2`] to its first `index.html` (in path order). Returns the changed file.
fn change_definition(dir: &Path) -> Result<PathBuf> {
    let mut pages = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else if e.file_name() == "index.html" {
                pages.push(e.path());
            }
        }
    }
    pages.sort();
    let Some(page) = pages.into_iter().next() else {
        bail!("{} has no index.html to change", dir.display());
    };
    let mut text = std::fs::read_to_string(&page)
        .with_context(|| format!("cannot read {}", page.display()))?;
    text.push_str(RELEASE_2);
    text.push('\n');
    std::fs::write(&page, text)?;
    Ok(page)
}
