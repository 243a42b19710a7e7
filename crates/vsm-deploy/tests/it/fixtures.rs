//! Helpers: definition directories on disk and server contexts.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use camino::{Utf8Path, Utf8PathBuf};
use tempfile::TempDir;
use vsm_core::{GroupName, ServerAddress, ServerName, UnitName};
use vsm_deploy::ServerContext;

pub struct Tmp {
    _dir: TempDir,
    pub path: Utf8PathBuf,
}

pub fn tmp() -> Tmp {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = Utf8PathBuf::from_path_buf(dir.path().to_owned()).expect("utf-8 tempdir");
    Tmp { _dir: dir, path }
}

/// Writes files (path, content); a path ending in `*` is made executable.
pub fn write_tree(root: &Utf8Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let (path, exec) = match path.strip_suffix('*') {
            Some(p) => (p, true),
            None => (*path, false),
        };
        let p = root.join(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, content).expect("write");
        if exec {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
}

pub const MANIFEST: &str = r#"format: 1
parameters:
  greeting: hello
groups:
  - name: web
    files:
      - { source: web/static, target: www }
      - { source: web/site.conf, target: conf/site.conf, template: true, mode: "0600" }
    applications:
      - { source: packages/shop.txt, target: apps/shop.txt }
  - name: app
    files:
      - { source: app/app.conf, target: conf/app.conf, template: true }
"#;

/// A valid two-group definition directory.
pub fn shop(root: &Utf8Path) {
    write_tree(
        root,
        &[
            ("vsm-definition.yaml", MANIFEST),
            ("web/static/index.html", "<h1>shop</h1>\n"),
            ("web/static/img/logo.txt", "logo\n"),
            (
                "web/site.conf",
                "name={{ server.name }}\nbackends={{ groups.app.addresses }}\nsay={{ params.greeting }}\n",
            ),
            ("packages/shop.txt", "shop v1\n"),
            (
                "app/app.conf",
                "listen={{ server.address }}\nunit={{ unit.name }}\n",
            ),
            ("README*", "#!/bin/sh\nnot deployed\n"),
        ],
    );
}

pub fn ctx(group: &str, server: &str, address: &str) -> ServerContext {
    let mut members = BTreeMap::new();
    members.insert(
        GroupName::new("web").unwrap(),
        vec![
            ServerAddress::new("127.0.0.11").unwrap(),
            ServerAddress::new("127.0.0.12").unwrap(),
        ],
    );
    members.insert(
        GroupName::new("app").unwrap(),
        vec![ServerAddress::new("127.0.0.21").unwrap()],
    );
    ServerContext {
        unit: UnitName::new("shop").unwrap(),
        group: GroupName::new(group).unwrap(),
        server: ServerName::new(server).unwrap(),
        address: ServerAddress::new(address).unwrap(),
        index: 1,
        members,
    }
}

/// Every file under `root` (relative path → content), skipping `.vsm`.
pub fn read_tree(root: &Utf8Path) -> BTreeMap<String, (String, u32)> {
    let mut out = BTreeMap::new();
    fn walk(root: &Utf8Path, dir: &Utf8Path, out: &mut BTreeMap<String, (String, u32)>) {
        for e in fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = Utf8PathBuf::from_path_buf(e.path()).expect("utf-8");
            let rel = p.strip_prefix(root).expect("under root").to_string();
            if rel == ".vsm" {
                continue;
            }
            let m = fs::symlink_metadata(&p).expect("meta");
            if m.is_dir() {
                out.insert(
                    format!("{rel}/"),
                    (String::new(), m.permissions().mode() & 0o7777),
                );
                walk(root, &p, out);
            } else {
                let content = String::from_utf8_lossy(&fs::read(&p).expect("read")).into_owned();
                out.insert(rel, (content, m.permissions().mode() & 0o7777));
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// Every file of a snapshot store under `root` (`blobs/`, `versions/` and `tmp/`), sorted.
pub fn store_files(root: &Utf8Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["blobs", "versions", "tmp"] {
        let mut stack = vec![root.join(sub)];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("read") {
                let p = Utf8PathBuf::from_path_buf(e.expect("entry").path()).expect("utf-8");
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.to_string());
                }
            }
        }
    }
    out.sort();
    out
}
