//! Definition directories on the wire: packs a directory into a deterministic tar (sorted
//! entries, zero times and owners) for import and diff, and unpacks an exported version into a
//! new directory. Validation of the contents is the manager's (vsm-deploy's) job.

use std::io::Read;

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::exit::{Exit, Failure};

/// Packs `dir` into a tar archive; paths are relative to `dir`.
pub fn pack_dir(dir: &Utf8Path) -> Result<Vec<u8>> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(
                Failure::new(Exit::Usage, format!("{dir} is not a directory"))
                    .hint("give the definition directory itself")
                    .into(),
            );
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(Failure::new(
                Exit::Usage,
                format!("cannot read the definition directory {dir}"),
            )));
        }
    }
    let mut files = Vec::new();
    walk(dir, Utf8Path::new(""), &mut files)?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for (rel, kind) in files {
        let full = dir.join(&rel);
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, format!("{rel}/"), std::io::empty())
                    .with_context(|| format!("could not pack {full}"))?;
            }
            Kind::File(mode) => {
                let data = std::fs::read(&full).map_err(|e| {
                    anyhow::Error::new(e).context(Failure::new(
                        Exit::DataErr,
                        format!("cannot read {full} of the definition directory"),
                    ))
                })?;
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 });
                header.set_size(data.len() as u64);
                builder
                    .append_data(&mut header, rel.as_str(), data.as_slice())
                    .with_context(|| format!("could not pack {full}"))?;
            }
            Kind::Link(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder
                    .append_link(&mut header, rel.as_str(), target.as_str())
                    .with_context(|| format!("could not pack {full}"))?;
            }
        }
    }
    builder.into_inner().context("could not finish the archive")
}

enum Kind {
    Dir,
    File(u32),
    Link(Utf8PathBuf),
}

fn walk(root: &Utf8Path, rel: &Utf8Path, out: &mut Vec<(Utf8PathBuf, Kind)>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join(rel);
    let mut entries: Vec<_> = dir
        .read_dir_utf8()
        .with_context(|| format!("cannot list {dir}"))?
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("cannot list {dir}"))?;
    entries.sort_by(|a, b| a.file_name().cmp(b.file_name()));
    for e in entries {
        let child = rel.join(e.file_name());
        let meta = std::fs::symlink_metadata(e.path())
            .with_context(|| format!("cannot read {}", e.path()))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(e.path())
                .with_context(|| format!("cannot read the link {}", e.path()))?;
            let target = Utf8PathBuf::from_path_buf(target).map_err(|t| {
                Failure::new(
                    Exit::DataErr,
                    format!(
                        "the link {} points at a path that is not UTF-8: {}",
                        e.path(),
                        t.display()
                    ),
                )
            })?;
            out.push((child, Kind::Link(target)));
        } else if meta.is_dir() {
            out.push((child.clone(), Kind::Dir));
            walk(root, &child, out)?;
        } else if meta.is_file() {
            out.push((child, Kind::File(meta.permissions().mode())));
        } else {
            return Err(Failure::new(
                Exit::DataErr,
                format!("{} is neither a file, a directory nor a link", e.path()),
            )
            .hint("definition directories hold only files, directories and links")
            .into());
        }
    }
    Ok(())
}

/// Refuses an export target that exists and is not an empty directory.
pub fn check_target_dir(dir: &Utf8Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(Failure::new(
            Exit::Usage,
            format!("cannot use {dir} as the target"),
        ))),
        Ok(mut entries) => {
            if entries.next().is_some() {
                Err(
                    Failure::new(Exit::Usage, format!("{dir} exists and is not empty"))
                        .hint("give a new or empty directory")
                        .into(),
                )
            } else {
                Ok(())
            }
        }
    }
}

/// Unpacks `tar` into `dir` (created); returns the number of files written.
pub fn unpack(tar: &[u8], dir: &Utf8Path) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {dir}"))?;
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    let mut files = 0;
    for entry in archive
        .entries()
        .context("the exported archive is damaged")?
    {
        let mut entry = entry.context("the exported archive is damaged")?;
        if entry.header().entry_type().is_file() {
            files += 1;
        }
        // `unpack_in` refuses paths that leave `dir`.
        let ok = entry
            .unpack_in(dir)
            .with_context(|| format!("could not write into {dir}"))?;
        if !ok {
            let mut sink = Vec::new();
            let _ = entry.read_to_end(&mut sink);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_deterministic_and_round_trips() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = Utf8Path::from_path(tmp.path()).expect("utf-8").join("defs");
        std::fs::create_dir_all(root.join("groups/web")).expect("mkdir");
        std::fs::write(root.join("vsm-definition.yaml"), "format: 1\n").expect("write");
        std::fs::write(root.join("groups/web/app.conf"), "port=1\n").expect("write");
        let a = pack_dir(&root).expect("pack");
        let b = pack_dir(&root).expect("pack");
        assert_eq!(a, b);
        let out = Utf8Path::from_path(tmp.path()).expect("utf-8").join("out");
        check_target_dir(&out).expect("new dir is fine");
        assert_eq!(unpack(&a, &out).expect("unpack"), 2);
        assert_eq!(
            std::fs::read_to_string(out.join("groups/web/app.conf")).expect("read"),
            "port=1\n"
        );
        assert!(check_target_dir(&out).is_err());
        let missing = Utf8Path::from_path(tmp.path()).expect("utf-8").join("nope");
        assert_eq!(
            crate::exit::classify(&pack_dir(&missing).expect_err("missing")),
            Exit::Usage
        );
    }
}
