//! Import identity, diff and export round trips.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use vsm_core::{GroupName, UpdateScope};
use vsm_deploy::{GroupChange, ScanLimits, SnapshotStore, diff, group_parts, scan};

use crate::fixtures::{read_tree, shop, store_files, tmp, write_tree};

#[test]
fn reimport_is_identical_and_writes_nothing() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    let store = SnapshotStore::open(&st.path).expect("open");
    let first = store
        .import(&src.path, &ScanLimits::default())
        .expect("import");
    assert!(first.new_version);
    assert!(first.new_blobs >= 6);
    let before = store_files(&st.path);
    let again = store
        .import(&src.path, &ScanLimits::default())
        .expect("re-import");
    assert_eq!(again.definition.id, first.definition.id);
    assert!(!again.new_version);
    assert_eq!((again.new_blobs, again.new_bytes), (0, 0));
    assert_eq!(store_files(&st.path), before);
    assert_eq!(
        store.list().expect("list"),
        vec![first.definition.id.clone()]
    );
    let loaded = store.load(&first.definition.id).expect("load");
    assert_eq!(loaded, first.definition);
}

#[test]
fn identical_content_is_stored_once() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    write_tree(&src.path, &[("copy1.txt", "same"), ("copy2.txt", "same")]);
    let store = SnapshotStore::open(&st.path).expect("open");
    let r = store
        .import(&src.path, &ScanLimits::default())
        .expect("import");
    assert_eq!(r.new_blobs + 1, r.definition.record.files.len());
}

#[test]
fn invalid_directory_stores_nothing() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    write_tree(&src.path, &[("app/app.conf", "{{ nope }}")]);
    let store = SnapshotStore::open(&st.path).expect("open");
    assert!(store.import(&src.path, &ScanLimits::default()).is_err());
    assert!(store_files(&st.path).is_empty());
}

#[test]
fn export_round_trips_paths_content_and_modes() {
    let (src, st, out) = (tmp(), tmp(), tmp());
    shop(&src.path);
    fs::create_dir(src.path.join("empty")).expect("mkdir");
    fs::set_permissions(
        src.path.join("web/site.conf"),
        fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    fs::set_permissions(
        src.path.join("web/static/img"),
        fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    let store = SnapshotStore::open(&st.path).expect("open");
    let r = store
        .import(&src.path, &ScanLimits::default())
        .expect("import");
    let dest = out.path.join("exported");
    store.export(&r.definition.id, &dest).expect("export");
    assert_eq!(read_tree(&dest), read_tree(&src.path));
    // Exporting again into the now non-empty directory is refused.
    assert!(store.export(&r.definition.id, &dest).is_err());
    // And the export re-imports as the same version.
    let again = store
        .import(&dest, &ScanLimits::default())
        .expect("re-import");
    assert_eq!(again.definition.id, r.definition.id);
}

#[test]
fn diff_per_group_and_scope() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    let store = SnapshotStore::open(&st.path).expect("open");
    let v1 = store
        .import(&src.path, &ScanLimits::default())
        .expect("v1")
        .definition;
    // Only the application package changes: web gets scope "applications", app none.
    write_tree(&src.path, &[("packages/shop.txt", "shop v2\n")]);
    let v2 = store
        .import(&src.path, &ScanLimits::default())
        .expect("v2")
        .definition;
    let d = diff(Some(&v1), &v2);
    let web = d
        .groups
        .iter()
        .find(|g| g.group.as_str() == "web")
        .expect("web");
    let app = d
        .groups
        .iter()
        .find(|g| g.group.as_str() == "app")
        .expect("app");
    assert_eq!(
        (web.change, web.scope),
        (GroupChange::Changed, UpdateScope::Applications)
    );
    assert_eq!(
        web.targets
            .changed
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>(),
        vec!["apps/shop.txt"]
    );
    assert_eq!(
        (app.change, app.scope),
        (GroupChange::Unchanged, UpdateScope::None)
    );
    let web_name = GroupName::new("web").unwrap();
    let (p1, p2) = (
        group_parts(&v1, &web_name).unwrap(),
        group_parts(&v2, &web_name).unwrap(),
    );
    assert_eq!(p1.settings, p2.settings);
    assert_ne!(p1.applications, p2.applications);

    // A static file added, one removed, a template changed: scope "all".
    write_tree(
        &src.path,
        &[
            ("web/static/new.html", "new"),
            ("web/site.conf", "changed {{ server.name }}\n"),
        ],
    );
    fs::remove_file(src.path.join("web/static/img/logo.txt")).expect("rm");
    let scanned = scan(&src.path, &ScanLimits::default())
        .expect("scan")
        .definition;
    let d = diff(Some(&v2), &scanned);
    insta::assert_snapshot!(
        "diff_text",
        d.render_text()
            .replace(d.to.short(), "NEW")
            .replace(v2.id.short(), "OLD")
    );
    assert_eq!(
        diff(Some(&v2), &v2).render_text().lines().nth(1),
        Some("no changes")
    );
}

#[test]
fn a_file_changed_after_the_scan_stores_nothing_and_leaves_no_temporary_file() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    write_tree(&src.path, &[("extra/a.txt", "one"), ("extra/b.txt", "two")]);
    let store = SnapshotStore::open(&st.path).expect("open");
    let scanned = scan(&src.path, &ScanLimits::default()).expect("scan");
    // Changed between the scan and the import (the scan's digest no longer holds).
    write_tree(&src.path, &[("extra/b.txt", "changed")]);
    let err = store.import_scan(&scanned).expect_err("changed file");
    assert!(err.to_string().contains("b.txt"), "{err}");
    assert!(
        store_files(&st.path).is_empty(),
        "{:?}",
        store_files(&st.path)
    );
    let tmp_left: Vec<_> = fs::read_dir(st.path.join("tmp"))
        .expect("tmp")
        .filter_map(Result::ok)
        .collect();
    assert!(tmp_left.is_empty(), "{tmp_left:?}");
    assert!(store.list().expect("list").is_empty());
    // Once the directory is stable again, it imports whole.
    let r = store
        .import(&src.path, &ScanLimits::default())
        .expect("import");
    assert!(r.new_version);
    assert_eq!(store.list().expect("list"), vec![r.definition.id.clone()]);
}
