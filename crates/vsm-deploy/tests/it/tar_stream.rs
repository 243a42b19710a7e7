//! Importing from a tar stream (`SnapshotStore::import_tar`): the same versions as importing
//! the directory, only new content written, every problem reported, nothing left behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use camino::Utf8Path;
use vsm_deploy::{ImportError, ProblemKind, ScanLimits, SnapshotStore};

use crate::fixtures::{shop, store_files, tmp, write_tree};

/// Whether the store's `tmp/` is empty.
fn no_temporaries(root: &Utf8Path) -> bool {
    fs::read_dir(root.join("tmp"))
        .expect("tmp")
        .next()
        .is_none()
}

/// Gives `dir` the modes an upload has (directories 0755, files 0644 or 0755).
fn upload_modes(dir: &Utf8Path) {
    for e in fs::read_dir(dir).expect("read") {
        let p = e.expect("entry").path();
        let m = fs::symlink_metadata(&p).expect("meta");
        if m.is_dir() {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
            upload_modes(Utf8Path::from_path(&p).expect("utf-8"));
        } else {
            let mode = if m.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }
}

/// A tar of `dir` (sorted, deterministic headers), as the client packs it.
fn pack(dir: &Utf8Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    b.follow_symlinks(false);
    b.append_dir_all(".", dir).expect("pack");
    b.into_inner().expect("finish")
}

/// One raw entry (any name, no checks) followed by the end of the archive when `end`.
fn raw_entry(name: &str, kind: tar::EntryType, link: &str, data: &[u8], end: bool) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    {
        let bytes = header.as_old_mut();
        bytes.name[..name.len()].copy_from_slice(name.as_bytes());
        bytes.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    if end {
        out.extend_from_slice(&[0u8; 1024]);
    }
    out
}

/// `dir`'s archive without its end marker, so that raw entries can follow.
fn pack_open(dir: &Utf8Path) -> Vec<u8> {
    let mut t = pack(dir);
    while t.len() >= 512 && t[t.len() - 512..].iter().all(|b| *b == 0) {
        t.truncate(t.len() - 512);
    }
    t
}

#[test]
fn the_same_version_as_importing_the_directory_and_nothing_written_twice() {
    let (src, a, b) = (tmp(), tmp(), tmp());
    shop(&src.path);
    upload_modes(&src.path);
    let from_dir = SnapshotStore::open(&a.path)
        .expect("open")
        .import(&src.path, &ScanLimits::default())
        .expect("import the directory");
    let store = SnapshotStore::open(&b.path).expect("open");
    let first = store
        .import_tar(&pack(&src.path)[..], &ScanLimits::default())
        .expect("import the archive");
    assert_eq!(first.definition, from_dir.definition);
    assert!(first.new_version);
    assert_eq!(first.new_blobs, from_dir.new_blobs);
    assert_eq!(first.new_bytes, from_dir.new_bytes);
    // Blobs hold their content, read-only.
    for entry in first.definition.record.files.values() {
        let p = store.blob_path(&entry.digest);
        assert_eq!(
            fs::metadata(&p).expect("blob").permissions().mode() & 0o777,
            0o400
        );
        store
            .read_blob(&entry.digest)
            .expect("blob matches its digest");
    }
    let before = store_files(&b.path);
    assert!(no_temporaries(&b.path), "{before:?}");

    let again = store
        .import_tar(&pack(&src.path)[..], &ScanLimits::default())
        .expect("again");
    assert_eq!(again.definition.id, first.definition.id);
    assert!(!again.new_version);
    assert_eq!((again.new_blobs, again.new_bytes), (0, 0));
    assert_eq!(store_files(&b.path), before);

    // One changed file: one new blob and a new version.
    fs::write(src.path.join("packages/shop.txt"), "shop v2\n").expect("write");
    let changed = store
        .import_tar(&pack(&src.path)[..], &ScanLimits::default())
        .expect("changed");
    assert!(changed.new_version);
    assert_eq!((changed.new_blobs, changed.new_bytes), (1, 8));
    assert_eq!(store.list().expect("list").len(), 2);
}

#[test]
fn large_files_stream_through_and_are_stored_once() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    fs::write(src.path.join("packages/big.bin"), &big).expect("write");
    fs::write(src.path.join("packages/big-copy.bin"), &big).expect("write");
    let store = SnapshotStore::open(&st.path).expect("open");
    let r = store
        .import_tar(&pack(&src.path)[..], &ScanLimits::default())
        .expect("import");
    let entry =
        &r.definition.record.files[&vsm_deploy::RelPath::new("packages/big.bin").expect("path")];
    assert_eq!(entry.size, big.len() as u64);
    assert_eq!(store.read_blob(&entry.digest).expect("blob"), big);
    // The copy is the same blob, written once; no temporary file is left.
    assert_eq!(r.new_blobs + 1, r.definition.record.files.len());
    let files = store_files(&st.path);
    assert!(no_temporaries(&st.path), "{files:?}");
    let again = store
        .import_tar(&pack(&src.path)[..], &ScanLimits::default())
        .expect("again");
    assert_eq!(again.new_blobs, 0);
    assert_eq!(store_files(&st.path), files);
}

#[test]
fn every_problem_is_reported_and_nothing_is_stored() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    write_tree(&src.path, &[("app/app.conf", "x={{ nope }}\n")]);
    let mut archive = pack_open(&src.path);
    for (name, kind, link) in [
        ("../escape.txt", tar::EntryType::Regular, ""),
        ("/etc/passwd", tar::EntryType::Regular, ""),
        ("web/link", tar::EntryType::Symlink, "../../etc/passwd"),
        ("web/inside", tar::EntryType::Symlink, "static/index.html"),
        ("web/hard", tar::EntryType::Link, "web/site.conf"),
        ("web/pipe", tar::EntryType::Fifo, ""),
        ("packages/shop.txt", tar::EntryType::Regular, ""),
    ] {
        archive.extend(raw_entry(name, kind, link, b"data", false));
    }
    archive.extend_from_slice(&[0u8; 1024]);
    let store = SnapshotStore::open(&st.path).expect("open");
    let Err(ImportError::Invalid(errs)) = store.import_tar(&archive[..], &ScanLimits::default())
    else {
        panic!("the archive was accepted");
    };
    let found: Vec<(ProblemKind, String)> = errs
        .errors
        .iter()
        .map(|e| (e.kind, e.file.clone()))
        .collect();
    for (kind, file) in [
        (ProblemKind::Path, "../escape.txt"),
        (ProblemKind::Path, "/etc/passwd"),
        (ProblemKind::Symlink, "web/link"),
        (ProblemKind::Symlink, "web/inside"),
        (ProblemKind::SpecialFile, "web/hard"),
        (ProblemKind::SpecialFile, "web/pipe"),
        (ProblemKind::Path, "packages/shop.txt"),
        (ProblemKind::Template, "app/app.conf"),
    ] {
        assert!(
            found.contains(&(kind, file.to_owned())),
            "no {kind:?} problem for {file} in {found:?}"
        );
    }
    let msg = errs.to_string();
    assert!(msg.contains("outside the definition directory"), "{msg}");
    assert!(msg.contains("appears twice"), "{msg}");
    assert!(
        store_files(&st.path).is_empty(),
        "{:?}",
        store_files(&st.path)
    );
}

#[test]
fn limits_hold_and_name_the_file() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    write_tree(&src.path, &[("packages/huge.bin", &"x".repeat(4096))]);
    let store = SnapshotStore::open(&st.path).expect("open");
    let limits = ScanLimits {
        max_file_bytes: 1024,
        ..ScanLimits::default()
    };
    let Err(ImportError::Invalid(errs)) = store.import_tar(&pack(&src.path)[..], &limits) else {
        panic!("over the limit but accepted");
    };
    let e = errs
        .errors
        .iter()
        .find(|e| e.kind == ProblemKind::TooLarge)
        .expect("a size problem");
    assert_eq!(e.file, "packages/huge.bin");
    assert!(
        e.message
            .contains("4096 bytes, more than the limit of 1024"),
        "{e}"
    );

    let limits = ScanLimits {
        max_entries: 3,
        ..ScanLimits::default()
    };
    let Err(ImportError::Invalid(errs)) = store.import_tar(&pack(&src.path)[..], &limits) else {
        panic!("too many entries but accepted");
    };
    assert!(errs.errors.iter().any(|e| e.kind == ProblemKind::TooMany));
    let limits = ScanLimits {
        max_depth: 1,
        ..ScanLimits::default()
    };
    let Err(ImportError::Invalid(errs)) = store.import_tar(&pack(&src.path)[..], &limits) else {
        panic!("too deep but accepted");
    };
    assert!(
        errs.errors
            .iter()
            .any(|e| e.kind == ProblemKind::TooDeep && e.file == "web/static"),
        "{errs}"
    );
    assert!(store_files(&st.path).is_empty());
}

#[test]
fn a_truncated_archive_is_unreadable_and_leaves_nothing() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    let big: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 13) as u8).collect();
    fs::write(src.path.join("packages/big.bin"), &big).expect("write");
    let archive = pack(&src.path);
    let store = SnapshotStore::open(&st.path).expect("open");
    // Cuts inside an entry's header or content (not at an entry boundary).
    for cut in [
        archive.len() / 3 + 100,
        archive.len() / 2 + 7,
        archive.len() - 1024 - 300,
    ] {
        let r = store.import_tar(&archive[..cut], &ScanLimits::default());
        assert!(
            matches!(
                r,
                Err(ImportError::Unreadable(_)) | Err(ImportError::Invalid(_))
            ),
            "cut at {cut}: {r:?}"
        );
        assert!(store_files(&st.path).is_empty(), "cut at {cut}");
    }
}

#[test]
fn an_exported_version_imports_as_the_same_version_and_unpacks_to_its_files() {
    let (src, a, b) = (tmp(), tmp(), tmp());
    shop(&src.path);
    upload_modes(&src.path);
    fs::set_permissions(
        src.path.join("web/static"),
        fs::Permissions::from_mode(0o750),
    )
    .expect("chmod");
    let store = SnapshotStore::open(&a.path).expect("open");
    let v = store
        .import(&src.path, &ScanLimits::default())
        .expect("import")
        .definition;
    let tar = store.export_tar(&v.id, Vec::new()).expect("export");
    // Deterministic: the same bytes twice.
    assert_eq!(store.export_tar(&v.id, Vec::new()).expect("again"), tar);
    // Every path once, parents before children, with the recorded modes.
    let mut archive = tar::Archive::new(&tar[..]);
    let mut seen = Vec::new();
    for e in archive.entries().expect("entries") {
        let e = e.expect("entry");
        let path = e
            .path()
            .expect("path")
            .to_string_lossy()
            .trim_end_matches('/')
            .to_owned();
        let mode = e.header().mode().expect("mode");
        let rel = vsm_deploy::RelPath::new(&path).expect("relative");
        if let Some(parent) = rel.parent() {
            assert!(
                seen.contains(&parent.to_string()),
                "{path} before its parent"
            );
        }
        let want = v
            .record
            .files
            .get(&rel)
            .map(|f| f.mode)
            .or_else(|| v.record.dirs.get(&rel).copied())
            .expect("a recorded path");
        assert_eq!(mode, want, "{path}");
        seen.push(path);
    }
    assert_eq!(seen.len(), v.record.files.len() + v.record.dirs.len());
    // The directory's 0750 is kept in the record but an upload is 0755: compare the files.
    let back = SnapshotStore::open(&b.path)
        .expect("open")
        .import_tar(&tar[..], &ScanLimits::default())
        .expect("import the export");
    assert_eq!(back.definition.record.files, v.record.files);

    // A damaged blob fails the export instead of sending wrong content.
    let victim = store.blob_path(&v.record.files.values().next().expect("a file").digest);
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::write(&victim, "tampered").expect("write");
    let err = store.export_tar(&v.id, Vec::new()).expect_err("corrupt");
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
}

#[test]
fn checking_an_archive_stores_nothing() {
    let (src, st) = (tmp(), tmp());
    shop(&src.path);
    upload_modes(&src.path);
    let store = SnapshotStore::open(&st.path).expect("open");
    let def = store
        .check_tar(&pack(&src.path)[..], &ScanLimits::default())
        .expect("a valid archive");
    assert!(store_files(&st.path).is_empty());
    let imported = store
        .import_tar(&pack(&src.path)[..], &ScanLimits::default())
        .expect("import");
    assert_eq!(imported.definition, def);
    write_tree(&src.path, &[("app/app.conf", "x={{ nope }}\n")]);
    let before = store_files(&st.path);
    let Err(ImportError::Invalid(errs)) =
        store.check_tar(&pack(&src.path)[..], &ScanLimits::default())
    else {
        panic!("an undefined variable passed");
    };
    assert!(
        errs.errors.iter().any(|e| e.file == "app/app.conf"),
        "{errs}"
    );
    assert_eq!(store_files(&st.path), before);
}
