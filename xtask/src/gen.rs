//! `cargo xtask gen [--check]`: writes the generated documentation of the command line (shell
//! completions and man pages, rendered by `vsm_cli::docgen` from the clap command tree) to
//! `docs/cli/`, removing generated files that no longer exist. `--check` only reports stale
//! files and fails (the `vsm-cli` test `docs_cli_is_up_to_date` checks the same in CI).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask gen [--check]"),
    };
    let root = crate::workspace_root().join("docs").join("cli");
    let files = vsm_cli::docgen::files();
    let wanted: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut stale = Vec::new();
    for f in &files {
        let path = root.join(&f.path);
        if std::fs::read(&path).ok().as_deref() == Some(f.contents.as_slice()) {
            continue;
        }
        stale.push(f.path.clone());
        if !check {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("could not create {}", parent.display()))?;
            }
            std::fs::write(&path, &f.contents)
                .with_context(|| format!("could not write {}", path.display()))?;
        }
    }
    for sub in ["completions", "man"] {
        let dir = root.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let rel = format!("{sub}/{}", e.file_name().to_string_lossy());
            if !wanted.contains(rel.as_str()) {
                stale.push(rel.clone());
                if !check {
                    remove(&e.path())?;
                }
            }
        }
    }
    if check && !stale.is_empty() {
        bail!(
            "docs/cli is stale ({}): run `cargo xtask gen`",
            stale.join(", ")
        );
    }
    if check {
        eprintln!("docs/cli is up to date ({} files)", files.len());
    } else {
        eprintln!(
            "docs/cli: {} files, {} written or removed",
            files.len(),
            stale.len()
        );
    }
    Ok(())
}

fn remove(path: &Path) -> Result<()> {
    std::fs::remove_file(path).with_context(|| format!("could not remove {}", path.display()))
}
