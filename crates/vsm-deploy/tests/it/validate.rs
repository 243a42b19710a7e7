//! Validation: every problem at once, hostile paths, limits.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;

use camino::Utf8Path;
use proptest::prelude::*;
use vsm_deploy::{ProblemKind, ScanLimits, scan};

use crate::fixtures::{MANIFEST, shop, tmp, write_tree};

fn check_errors(dir: &Utf8Path, limits: &ScanLimits) -> String {
    let errs = scan(dir, limits).expect_err("the directory must be refused");
    errs.to_string()
}

#[test]
fn good_directory_scans() {
    let t = tmp();
    shop(&t.path);
    let s = scan(&t.path, &ScanLimits::default()).expect("valid");
    assert_eq!(s.definition.manifest.groups.len(), 2);
    assert!(s.definition.record.files.len() >= 6);
}

#[test]
fn every_problem_is_reported_at_once() {
    let t = tmp();
    let manifest = r#"format: 1
groups:
  - name: web
    files:
      - { source: missing.txt, target: a.txt }
      - { source: tpl.conf, target: b.conf, template: true }
      - { source: bad.tpl, target: c.conf, template: true }
      - { source: dir, target: d }
      - { source: one.txt, target: d/x.txt }
"#;
    write_tree(
        &t.path,
        &[
            ("vsm-definition.yaml", manifest),
            (
                "tpl.conf",
                "ok {{ server.name }}\nbad {{ params.nope }}\n{{ groups.db.addresses }}\n",
            ),
            ("bad.tpl", "line\n{{ unclosed\n"),
            ("dir/x.txt", "x"),
            ("one.txt", "1"),
            ("big.bin", &"z".repeat(2000)),
            ("a/b/c/deep.txt", "deep"),
        ],
    );
    symlink("/etc/passwd", t.path.join("outside")).expect("symlink");
    symlink("one.txt", t.path.join("inside")).expect("symlink");
    let status = std::process::Command::new("mkfifo")
        .arg(t.path.join("fifo").as_str())
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let raw = t
        .path
        .as_std_path()
        .join(OsStr::from_bytes(b"bad-\xff-name"));
    fs::write(raw, "x").expect("non-utf8 file");

    let limits = ScanLimits {
        max_file_bytes: 1000,
        max_depth: 2,
        ..ScanLimits::default()
    };
    let errs = scan(&t.path, &limits).expect_err("refused");
    for kind in [
        ProblemKind::MissingFile,
        ProblemKind::Template,
        ProblemKind::DuplicateTarget,
        ProblemKind::Symlink,
        ProblemKind::SpecialFile,
        ProblemKind::NonUtf8Name,
        ProblemKind::TooLarge,
        ProblemKind::TooDeep,
    ] {
        assert!(errs.has(kind), "missing {kind:?} in:\n{errs}");
    }
    insta::assert_snapshot!("every_problem", check_errors(&t.path, &limits));
}

#[test]
fn unknown_key_names_line_and_column() {
    let t = tmp();
    write_tree(
        &t.path,
        &[(
            "vsm-definition.yaml",
            "format: 1\ngroups:\n  - name: web\n    file: []\n",
        )],
    );
    insta::assert_snapshot!("unknown_key", check_errors(&t.path, &ScanLimits::default()));
}

#[test]
fn yaml_aliases_are_refused() {
    let t = tmp();
    let bomb =
        "format: 1\na: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\ngroups: []\n";
    write_tree(&t.path, &[("vsm-definition.yaml", bomb)]);
    let errs = scan(&t.path, &ScanLimits::default()).expect_err("refused");
    assert!(errs.iter().all(|e| e.kind == ProblemKind::Alias), "{errs}");
    assert_eq!(errs.errors.len(), 10);
}

#[test]
fn too_many_entries() {
    let t = tmp();
    shop(&t.path);
    let limits = ScanLimits {
        max_entries: 3,
        ..ScanLimits::default()
    };
    let errs = scan(&t.path, &limits).expect_err("refused");
    assert!(errs.has(ProblemKind::TooMany), "{errs}");
}

#[test]
fn missing_manifest() {
    let t = tmp();
    write_tree(&t.path, &[("x.txt", "x")]);
    let errs = scan(&t.path, &ScanLimits::default()).expect_err("refused");
    assert!(errs.has(ProblemKind::MissingFile));
    assert!(errs.to_string().contains("vsm-definition.yaml"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Whatever the manifest says as a target, a scanned definition only ever resolves to
    /// paths strictly inside the server's target directory, outside `.vsm`.
    #[test]
    fn no_target_escapes(
        target in "(\\.\\./|\\./|/|\\.vsm/|[a-c]{1,2}/|//){0,5}([a-c.]{0,3}|\\.\\.)",
        source in "(\\.\\./|/|\\./|sub/){0,3}(f|\\.\\.|x)",
    ) {
        let t = tmp();
        let manifest = format!(
            "format: 1\ngroups:\n  - name: web\n    files:\n      - {{ source: {source:?}, target: {target:?} }}\n"
        );
        write_tree(&t.path, &[("vsm-definition.yaml", manifest.as_str()), ("sub/f", "f"), ("f", "f")]);
        if let Ok(s) = scan(&t.path, &ScanLimits::default()) {
            let g = &s.definition.manifest.groups[0];
            let files = vsm_deploy::scan::resolve_group(g, &s.definition.record).expect("resolves");
            for t in files.keys() {
                let joined = t.under(Utf8Path::new("/srv/base"));
                prop_assert!(joined.starts_with("/srv/base/"));
                prop_assert!(!t.components().any(|c| c == ".." || c == "." || c.is_empty()));
                prop_assert!(t.components().next() != Some(".vsm"));
            }
        }
    }
}

#[test]
fn manifest_example_in_fixtures_is_valid() {
    assert!(vsm_deploy::parse_manifest(MANIFEST).is_ok());
}
