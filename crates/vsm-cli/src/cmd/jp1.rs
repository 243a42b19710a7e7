//! `vsm jp1 ...`: JP1 definition files. `ajs-jobnet` and `logtrap-config` are rendered here by
//! vsm-jp1 without asking the manager; `pfm-export` fetches the figures from the API and has
//! vsm-jp1 write the PFM user-record file.

use anyhow::{Context, Result};
use serde_json::json;

use super::Ctx;
use crate::cli::{AjsJobnetArgs, Jp1Command, OutArgs};
use crate::exit::{Exit, Failure};

pub async fn run(ctx: &Ctx<'_>, c: Jp1Command) -> Result<Exit> {
    match c {
        Jp1Command::AjsJobnet(a) => ajs(ctx, a),
        Jp1Command::LogtrapConfig => {
            let text = vsm_jp1::logtrap_config();
            ctx.out
                .emit(&json!({"action_definition": text}), |_| text.clone());
            Ok(Exit::Success)
        }
        Jp1Command::PfmExport(a) => pfm(ctx, a).await,
    }
}

fn usage(e: impl std::error::Error + Send + Sync + 'static, what: &str) -> anyhow::Error {
    anyhow::Error::new(e).context(Failure::new(Exit::Usage, what.to_owned()))
}

fn ajs(ctx: &Ctx<'_>, a: AjsJobnetArgs) -> Result<Exit> {
    let unit = vsm_core::UnitName::new(a.unit.clone())
        .map_err(|e| usage(e, &format!("`{}` is not a unit name", a.unit)))?;
    let start: vsm_jp1::TimeOfDay = a
        .start
        .parse()
        .map_err(|e| usage(e, "invalid --start time"))?;
    let stop: vsm_jp1::TimeOfDay = a
        .stop
        .parse()
        .map_err(|e| usage(e, "invalid --stop time"))?;
    let mut spec = vsm_jp1::JobnetSpec::new(unit, start, stop);
    spec.agent = a.agent;
    if let Some(p) = a.vsm_path {
        spec.vsm_path = p;
    }
    if let Some(t) = a.job_timeout {
        spec.timeout_secs = t;
    }
    if let Some(w) = a.job_wait {
        spec.wait_secs = w;
    }
    spec.env_file = a.env_file;
    let text = vsm_jp1::ajs_jobnet(&spec)
        .map_err(|e| usage(e, "cannot generate the jobnet definition"))?;
    ctx.out
        .emit(&json!({"unit": a.unit, "definition": text}), |_| {
            text.clone()
        });
    Ok(Exit::Success)
}

async fn pfm(ctx: &Ctx<'_>, a: OutArgs) -> Result<Exit> {
    let rows = ctx.api()?.pfm_rows().await?;
    let out: Vec<vsm_jp1::PfmRow> = rows
        .into_iter()
        .map(|r| vsm_jp1::PfmRow {
            unit: r.unit,
            group: r.group,
            server: r.server,
            state: r.observed.to_string(),
            cpu_percent: Some(r.cpu_percent),
            memory_mib: Some(r.memory_bytes / (1024 * 1024)),
        })
        .collect();
    vsm_jp1::pfm::write_pfm_file(&a.out, &out)
        .map_err(|e| usage(e, &format!("could not write {}", a.out)))
        .context("vsm jp1 pfm-export")?;
    let v = json!({"path": a.out, "servers": out.len()});
    ctx.out.emit(&v, |_| {
        format!(
            "wrote the figures of {} servers to {} (PI_UPI)",
            out.len(),
            a.out
        )
    });
    Ok(Exit::Success)
}
