//! `vsm unit show NAME --watch`: the unit followed through the manager's watch stream
//! ([`vsm_manager::http::UnitWatch`], which applies the deltas and reconnects), shown again on
//! every change — redrawn in place on a terminal with the same rendering as `vsm unit show`, or
//! as one whole JSON document per line with `--output json`.
//!
//! Ctrl-C and the unit's deletion end it with exit 0; a refusal (the caller lost the unit) or a
//! manager unreachable for a while end it with the error's code (in JSON mode its document is
//! one line too).

use std::io::IsTerminal;

use anyhow::Result;
use vsm_core::UnitName;
use vsm_manager::UnitDetail;
use vsm_manager::http::{UnitEvent, WatchOptions};

use super::{Ctx, view};
use crate::exit::Exit;
use crate::render::{Paint, now_millis, paint};

/// Clears a terminal and puts the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// How the unit is shown on each change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One JSON document per line.
    Json,
    /// The table, redrawn in place.
    Screen,
    /// The table again after each change, separated by a blank line (not a terminal).
    Log,
}

/// Follows `unit` until Ctrl-C, its deletion or an error.
pub async fn unit(ctx: &Ctx<'_>, unit: &UnitName) -> Result<Exit> {
    let client = ctx.api()?;
    let mode = if ctx.out.is_json() {
        Mode::Json
    } else if std::io::stdout().is_terminal() {
        Mode::Screen
    } else {
        Mode::Log
    };
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut watch = tokio::select! {
        w = client.watch_unit(unit, WatchOptions::default()) => match w {
            Ok(w) => w,
            Err(e) => return ended_by(ctx, mode, e.into()),
        },
        _ = &mut ctrl_c => return Ok(Exit::Success),
    };
    let mut shown: Option<UnitDetail> = None;
    loop {
        let item = tokio::select! {
            item = watch.next() => item,
            _ = &mut ctrl_c => return Ok(Exit::Success),
        };
        match item {
            None => return Ok(Exit::Success),
            Some(Err(e)) => return ended_by(ctx, mode, e.into()),
            Some(Ok(UnitEvent::Deleted)) => {
                eprintln!(
                    "{} unit {unit} was deleted",
                    paint("note:", Paint::Bold, ctx.out.color_err)
                );
                return Ok(Exit::Success);
            }
            Some(Ok(_)) => {
                let Some(detail) = watch.detail() else {
                    continue;
                };
                if shown.as_ref() == Some(detail) {
                    continue;
                }
                ctx.out
                    .print(&render(detail, mode, ctx.out.color, now_millis())?);
                shown = Some(detail.clone());
            }
        }
    }
}

/// The end by `err`: in JSON mode its document is printed on one line, as the unit's are, so
/// that the output stays one JSON document per line; else it is returned to be reported.
fn ended_by(ctx: &Ctx<'_>, mode: Mode, err: anyhow::Error) -> Result<Exit> {
    if mode != Mode::Json {
        return Err(err);
    }
    ctx.out
        .print(&serde_json::to_string(&crate::error_document(&err))?);
    eprint!("{}", crate::error_text(&err, ctx.out.color_err));
    Ok(crate::exit::classify(&err))
}

/// What is printed for `detail` in `mode` (at `now`, ms since the epoch).
fn render(detail: &UnitDetail, mode: Mode, color: bool, now: i64) -> Result<String> {
    if mode == Mode::Json {
        return Ok(serde_json::to_string(detail)?);
    }
    let v = serde_json::to_value(detail)?;
    let table = view::unit_at(&v, color, now);
    let stamp = vsm_core::Timestamp::from_millis(now).to_string();
    let head = paint(
        &format!(
            "watching unit {} (updated {stamp}; Ctrl-C to stop)",
            detail.name
        ),
        Paint::Dim,
        color,
    );
    Ok(match mode {
        Mode::Screen => format!("{CLEAR}{head}\n\n{table}"),
        _ => format!("{head}\n\n{table}\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail() -> UnitDetail {
        serde_json::from_value(serde_json::json!({
            "name": "shop", "owner": "alice", "created_at": 1_767_225_600_000_i64,
            "definition_status": "unchanged", "current_version": null, "versions": [],
            "counts": {"all": 0, "active": 0, "invalid": 0}, "groups": [],
            "busy_with": null, "last_operations": []
        }))
        .expect("a unit")
    }

    #[test]
    fn each_change_prints_one_json_line_or_the_table_again() {
        let d = detail();
        let now = 1_767_225_660_000;
        let json = render(&d, Mode::Json, false, now).expect("json");
        assert!(!json.contains('\n'), "one line: {json}");
        let back: UnitDetail = serde_json::from_str(&json).expect("the whole unit");
        assert_eq!(back, d);
        let screen = render(&d, Mode::Screen, false, now).expect("screen");
        assert!(screen.starts_with(CLEAR), "{screen:?}");
        let table = view::unit_at(&serde_json::to_value(&d).expect("json"), false, now);
        assert!(screen.ends_with(&table), "the `unit show` rendering");
        assert!(screen.contains("watching unit shop (updated "), "{screen}");
        let log = render(&d, Mode::Log, false, now).expect("log");
        assert!(
            !log.contains('\x1b') && log.ends_with(&format!("{table}\n")),
            "{log:?}"
        );
    }
}
