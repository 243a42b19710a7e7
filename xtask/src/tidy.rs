//! Architecture checks ("tidy"): the rules ARCHITECTURE.md states as invariants.
//!
//! - `vsm-core` depends on no async runtime, serialization format or IO crate;
//! - `vsm-core`'s sources read no files, sockets, processes or clocks;
//! - every crate root and every module file opens with a `//!` doc comment.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Crates `vsm-core` must never depend on (directly).
const CORE_FORBIDDEN_DEPS: &[&str] = &[
    "tokio",
    "async-trait",
    "serde_yaml",
    "yaml_serde",
    "serde_json",
    "rusqlite",
    "reqwest",
    "axum",
    "hyper",
    "virt",
    "libc",
    "nix",
    "tempfile",
    "fs-err",
    "walkdir",
    "rand",
    "chrono",
    "time",
    "jiff",
];

/// Source patterns `vsm-core` must never contain.
const CORE_FORBIDDEN_CODE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "SystemTime::now",
    "Instant::now",
    "std::thread",
];

/// One broken rule, with the file it was found in.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) file: PathBuf,
    pub(crate) message: String,
}

/// Checks every rule against the workspace at `root`.
pub(crate) fn check(root: &Path) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    check_core_manifest(root, &mut problems)?;
    for file in rust_files(&root.join("crates/vsm-core/src"))? {
        let text =
            fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        for (lineno, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pattern in CORE_FORBIDDEN_CODE {
                if code.contains(pattern) {
                    problems.push(Problem {
                        file: file.clone(),
                        message: format!(
                            "line {}: vsm-core must stay pure but uses `{pattern}`; move the IO to a caller and pass values in",
                            lineno + 1
                        ),
                    });
                }
            }
        }
    }
    for dir in ["crates", "xtask", "tests"] {
        for file in rust_files(&root.join(dir))? {
            if file
                .components()
                .any(|c| c.as_os_str() == "snapshots" || c.as_os_str() == "target")
            {
                continue;
            }
            let text =
                fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if !first.trim_start().starts_with("//!") {
                problems.push(Problem {
                    file: file.clone(),
                    message: "does not open with a `//!` comment saying what this module owns"
                        .into(),
                });
            }
        }
    }
    Ok(problems)
}

fn check_core_manifest(root: &Path, problems: &mut Vec<Problem>) -> Result<()> {
    let manifest = root.join("crates/vsm-core/Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
            continue;
        }
        // Dev-dependencies may use anything: only what ships counts.
        if section != "dependencies" {
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
        if CORE_FORBIDDEN_DEPS.contains(&name) {
            problems.push(Problem {
                file: manifest.clone(),
                message: format!("vsm-core must stay pure but depends on `{name}`"),
            });
        }
    }
    Ok(())
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                if path
                    .file_name()
                    .is_some_and(|n| n == "target" || n == "fuzz-corpus")
                {
                    continue;
                }
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Prints the problems and fails if there are any.
pub(crate) fn report(problems: &[Problem]) -> Result<()> {
    if problems.is_empty() {
        eprintln!("tidy: all architecture rules hold");
        return Ok(());
    }
    for p in problems {
        eprintln!("tidy: {}: {}", p.file.display(), p.message);
    }
    bail!(
        "{} architecture rule(s) broken (see ARCHITECTURE.md, \"Invariants\")",
        problems.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_is_tidy() {
        let problems = check(&crate::workspace_root()).expect("tidy can read the workspace");
        let rendered: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.file.display(), p.message))
            .collect();
        assert!(
            rendered.is_empty(),
            "tidy problems:\n{}",
            rendered.join("\n")
        );
    }

    #[test]
    fn tidy_catches_impure_core() {
        let dir = tempdir();
        let core = dir.join("crates/vsm-core/src");
        fs::create_dir_all(&core).expect("mkdir");
        fs::write(
            dir.join("crates/vsm-core/Cargo.toml"),
            "[package]\nname = \"vsm-core\"\n[dependencies]\ntokio.workspace = true\n[dev-dependencies]\nserde_json = \"1\"\n",
        )
        .expect("write manifest");
        fs::write(core.join("lib.rs"), "//! core\nuse std::fs::read;\n").expect("write lib");
        fs::write(core.join("bad.rs"), "pub fn x() {}\n").expect("write module");
        let problems = check(&dir).expect("check runs");
        let text: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 3, "{text:?}");
        assert!(text.iter().any(|m| m.contains("depends on `tokio`")));
        assert!(text.iter().any(|m| m.contains("`std::fs`")));
        assert!(text.iter().any(|m| m.contains("`//!`")));
        fs::remove_dir_all(&dir).ok();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vsm-tidy-test-{}", std::process::id()));
        fs::remove_dir_all(&dir).ok();
        fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }
}
