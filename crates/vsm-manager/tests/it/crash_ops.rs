//! The scripted crash test's operations, shared by its host (`examples/crash_script_host.rs`, which includes this
//! file) and the test that re-runs what the host was doing when it was killed.
//!
//! An operation is written as one line (`start`, `stop`, `apply`, `scale web 3`,
//! `start-group db`, `stop-group web`, `upgrade`, `import 7`) so the host can print it and the test
//! can parse it back.

use std::fmt;

use camino::Utf8Path;
use vsm_core::{OperationId, UnitName};
use vsm_manager::{Actor, ApplyRequest, Manager, OpOptions, ScaleRequest, UpgradeRequest};

/// The test unit: `db` (2 servers, start order 1) and `web` (2, start order 2, 1–4).
pub const UNIT_FILE: &str = "format: 1
groups:
  - name: db
    template: tpl
    count: 2
    min: 1
    max: 3
    start_order: 1
  - name: web
    template: tpl
    count: 2
    min: 1
    max: 4
    start_order: 2
";

/// The builder who owns the unit, and their password.
pub const BUILDER: &str = "bob";
/// The builder's password.
pub const BUILDER_PW: &str = "bob-password-1";

/// One step of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashOp {
    /// Start the unit.
    Start,
    /// Stop the unit.
    Stop,
    /// Apply the current definition version.
    Apply,
    /// Scale `web` to a count.
    Scale(u32),
    /// Start one group.
    StartGroup(&'static str),
    /// Stop one group.
    StopGroup(&'static str),
    /// A new template generation, then re-provision onto it.
    Upgrade,
    /// Import definition version number N (a synchronous call, not an operation).
    Import(u32),
}

impl fmt::Display for CrashOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashOp::Start => write!(f, "start"),
            CrashOp::Stop => write!(f, "stop"),
            CrashOp::Apply => write!(f, "apply"),
            CrashOp::Scale(n) => write!(f, "scale web {n}"),
            CrashOp::StartGroup(g) => write!(f, "start-group {g}"),
            CrashOp::StopGroup(g) => write!(f, "stop-group {g}"),
            CrashOp::Upgrade => write!(f, "upgrade"),
            CrashOp::Import(n) => write!(f, "import {n}"),
        }
    }
}

impl CrashOp {
    /// Parses what [`Display`](fmt::Display) wrote.
    pub fn parse(s: &str) -> Option<CrashOp> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let group = |g: &str| match g {
            "db" => Some("db"),
            "web" => Some("web"),
            _ => None,
        };
        Some(match words.as_slice() {
            ["start"] => CrashOp::Start,
            ["stop"] => CrashOp::Stop,
            ["apply"] => CrashOp::Apply,
            ["upgrade"] => CrashOp::Upgrade,
            ["scale", "web", n] => CrashOp::Scale(n.parse().ok()?),
            ["start-group", g] => CrashOp::StartGroup(group(g)?),
            ["stop-group", g] => CrashOp::StopGroup(group(g)?),
            ["import", n] => CrashOp::Import(n.parse().ok()?),
            _ => return None,
        })
    }

    /// The `n`th step of the script of `seed` (a small xorshift; no dependency on `rand`'s
    /// versioned algorithms, so a printed seed replays the same script).
    #[allow(
        dead_code,
        reason = "only the host picks; the test parses what it printed"
    )]
    pub fn pick(seed: u64, n: u64) -> CrashOp {
        let mut x = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491_4f6c_dd1d;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 16 {
            0..=2 => CrashOp::Start,
            3..=4 => CrashOp::Stop,
            5..=6 => CrashOp::Apply,
            7..=9 => CrashOp::Scale(1 + (x >> 8) as u32 % 4),
            10 => CrashOp::StartGroup("db"),
            11 => CrashOp::StopGroup("web"),
            12 => CrashOp::Upgrade,
            _ => CrashOp::Import((x >> 8) as u32 % 1000),
        }
    }

    /// Runs the step: `Ok(Some(id))` for an operation (running in the background), `Ok(None)`
    /// for a synchronous call.
    pub async fn launch(
        &self,
        m: &Manager,
        me: &Actor,
        unit: &UnitName,
        scratch: &Utf8Path,
    ) -> vsm_manager::Result<Option<OperationId>> {
        let opts = OpOptions::default();
        let id = match self {
            CrashOp::Start => m.start_unit(me, unit, opts).await?,
            CrashOp::Stop => m.stop_unit(me, unit, opts).await?,
            CrashOp::Apply => m.apply(me, unit, ApplyRequest::default()).await?,
            CrashOp::Scale(n) => {
                let req = ScaleRequest {
                    group: name("web"),
                    count: *n,
                    remove: vec![],
                    grace_secs: Some(0),
                    wait_secs: None,
                };
                m.scale(me, unit, req).await?
            }
            CrashOp::StartGroup(g) => m.start_group(me, unit, &name(g), opts).await?,
            CrashOp::StopGroup(g) => m.stop_group(me, unit, &name(g), opts).await?,
            CrashOp::Upgrade => {
                let tpl = name("tpl");
                let next = m.show_template(me, &tpl).await?.latest.0 + 1;
                m.update_template(me, &tpl, &format!("image-{next}"))
                    .await?;
                m.upgrade(me, unit, UpgradeRequest::default()).await?
            }
            CrashOp::Import(n) => {
                let dir = definitions(scratch, *n);
                m.import_definitions(me, unit, &dir).await?;
                return Ok(None);
            }
        };
        Ok(Some(id))
    }
}

/// A name that is valid by construction.
pub fn name<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: fmt::Debug,
{
    s.parse().expect("valid name")
}

/// Writes definition directory number `n` under `scratch`: every group gets `www/index.html`
/// saying `body-N`. Returns its path.
pub fn definitions(scratch: &Utf8Path, n: u32) -> camino::Utf8PathBuf {
    let dir = scratch.join(format!("defs-{n}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("site")).expect("mkdir");
    let mut manifest = String::from("format: 1\ngroups:\n");
    for g in ["db", "web"] {
        manifest.push_str(&format!(
            "  - name: {g}\n    files:\n      - {{ source: site/index.html, target: www/index.html }}\n"
        ));
    }
    std::fs::write(dir.join("vsm-definition.yaml"), manifest).expect("manifest");
    std::fs::write(dir.join("site/index.html"), format!("body-{n}\n")).expect("file");
    dir
}
