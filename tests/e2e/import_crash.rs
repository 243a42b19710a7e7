//! `kill -9` of the manager while `vsm unit import` streams a definition directory into the
//! snapshot store, at three moments of it; after the restart the unit lists only complete
//! versions, every listed version exports exactly as it was imported, the store keeps no
//! temporary files, and importing again succeeds.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use vsm_tests::{Manager, User};

use crate::crash::{kill_manager, restart};

/// Writes a definition directory of 2,000 small files and one 96 MiB sparse file whose marks
/// depend on `seed` (so every round's content is new to the store).
fn definitions(dir: &Path, seed: u32) {
    for i in 0..2_000u32 {
        let p = dir.join(format!("files/d{:02}/f{i:04}.txt", i % 40));
        if i < 40 {
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        }
        let line = format!("seed {seed} file {i}\n");
        std::fs::write(&p, line.repeat(1 + (i as usize * 37) % 200)).expect("write");
    }
    let big = std::fs::File::create(dir.join("files/big.bin")).expect("create");
    big.set_len(96 << 20).expect("size");
    for at in [0u64, 33 << 20, (96 << 20) - 64] {
        big.write_all_at(format!("seed {seed} @{at}").as_bytes(), at)
            .expect("mark");
    }
    std::fs::write(
        dir.join("vsm-definition.yaml"),
        "format: 1\ngroups:\n  - name: app\n    files:\n      - { source: files, target: files }\n",
    )
    .expect("manifest");
}

/// The version numbers `vsm unit versions` lists.
fn versions(m: &Manager, user: &User) -> Vec<u64> {
    let out = m.vsm(user, &["unit", "versions", "u"]);
    out.ok()
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v["version"].as_u64().expect("a version number"))
        .collect()
}

/// Whether the two directory trees hold the same files with the same content.
fn same_tree(a: &Path, b: &Path) -> Result<(), String> {
    let mut stack = vec![std::path::PathBuf::new()];
    let mut files = 0;
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(a.join(&rel)).map_err(|e| e.to_string())? {
            let e = e.map_err(|e| e.to_string())?;
            let r = rel.join(e.file_name());
            if e.file_type().map_err(|e| e.to_string())?.is_dir() {
                stack.push(r);
            } else {
                let (x, y) = (std::fs::read(a.join(&r)), std::fs::read(b.join(&r)));
                match (x, y) {
                    (Ok(x), Ok(y)) if x == y => files += 1,
                    _ => return Err(format!("{} differs", r.display())),
                }
            }
        }
    }
    let count = |d: &Path| walk_count(d).unwrap_or(0);
    if count(b) != files {
        return Err(format!(
            "{} holds other files than {}",
            b.display(),
            a.display()
        ));
    }
    Ok(())
}

fn walk_count(d: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(d)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            n += walk_count(&e.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}

/// Files under `dir` (0 when it does not exist).
fn files_in(dir: &Path) -> usize {
    walk_count(dir).unwrap_or(0)
}

#[test]
fn a_manager_killed_during_an_import_keeps_only_complete_versions() {
    let mut m = Manager::start();
    let alice = m.add_account("alice", "builder");
    m.sleeper_unit(
        &alice,
        "u",
        "format: 1\ngroups:\n  - name: app\n    template: t\n    count: 1\n",
    );

    // How long one import takes here, to aim the kills inside it.
    let first = m.path("defs-0");
    definitions(&first, 0);
    let t = Instant::now();
    m.vsm(&alice, &["unit", "import", "u", &first.to_string_lossy()])
        .ok();
    let full = t.elapsed();
    assert_eq!(versions(&m, &alice), vec![1]);
    eprintln!("one import takes {full:?}");

    let mut interrupted = 0;
    for (round, fraction) in [0.15f64, 0.5, 0.85].into_iter().enumerate() {
        let seed = round as u32 + 1;
        let defs = m.path(&format!("defs-{seed}"));
        definitions(&defs, seed);
        let before = versions(&m, &alice);
        let mut child = m
            .command(&alice, &["unit", "import", "u", &defs.to_string_lossy()])
            .spawn()
            .expect("start vsm unit import");
        std::thread::sleep(full.mul_f64(fraction));
        let running = child.try_wait().expect("poll the import").is_none();
        kill_manager(&m);
        let out = child.wait_with_output().expect("the import ends");
        if running {
            interrupted += 1;
        }
        eprintln!(
            "round {round}: killed at {:.0}% ({}), import exit {:?}: {}",
            fraction * 100.0,
            if running {
                "during the import"
            } else {
                "after it"
            },
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        );
        restart(&mut m);

        // No temporary file survives the restart.
        assert_eq!(files_in(&m.dir.join("definitions/tmp")), 0, "round {round}");
        assert_eq!(files_in(&m.dir.join("tmp")), 0, "round {round}");
        // Only complete versions: the old ones, and the new one only if the import finished.
        let after = versions(&m, &alice);
        assert!(
            after == before || (after.len() == before.len() + 1 && after.starts_with(&before)),
            "round {round}: versions {before:?} -> {after:?}"
        );
        if !out.status.success() {
            assert_eq!(
                after, before,
                "round {round}: a failed import left a version"
            );
        }
        for (v, source) in [(1u64, &first)].into_iter().chain(
            (after.len() > before.len()).then_some((*after.last().expect("a version"), &defs)),
        ) {
            let out_dir = m.path(&format!("export-{round}-{v}"));
            m.vsm(
                &alice,
                &[
                    "unit",
                    "export",
                    "u",
                    &out_dir.to_string_lossy(),
                    "--version",
                    &v.to_string(),
                ],
            )
            .ok();
            same_tree(source, &out_dir)
                .unwrap_or_else(|e| panic!("round {round}: version {v} exports wrong: {e}"));
            std::fs::remove_dir_all(&out_dir).expect("remove the export");
        }
        // Importing again converges.
        let again = m.vsm(&alice, &["unit", "import", "u", &defs.to_string_lossy()]);
        let v: Value = again.ok().json();
        assert_eq!(v["version"].as_u64(), Some(before.len() as u64 + 1), "{v}");
        std::fs::remove_dir_all(&defs).expect("remove the definitions");
    }
    assert!(
        interrupted >= 1,
        "no kill landed inside an import (one takes {full:?}): the test proved nothing"
    );
}
