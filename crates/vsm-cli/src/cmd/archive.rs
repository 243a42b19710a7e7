//! Definition directories on the command line: checks the directories the user names (with the
//! command line's exit codes) around the API's own archive format
//! ([`vsm_manager::http::archive`]: deterministic packing, safe unpacking). Validation of the
//! contents is the manager's (vsm-deploy's) job.

use anyhow::Result;
use camino::Utf8Path;
use vsm_manager::http::archive::{self, UnpackLimits};

use crate::exit::{Exit, Failure};

/// Refuses a definition directory to import or diff that is missing or not a directory (64).
pub fn check_source_dir(dir: &Utf8Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(
            Failure::new(Exit::Usage, format!("{dir} is not a directory"))
                .hint("give the definition directory itself")
                .into(),
        ),
        Err(e) => Err(anyhow::Error::new(e).context(Failure::new(
            Exit::Usage,
            format!("cannot read the definition directory {dir}"),
        ))),
    }
}

/// Refuses an export target that exists and is not an empty directory (64).
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

/// Unpacks an exported version, read from `tar` as it arrives, into `dir` (created; removed
/// again when unpacking fails); returns the number of files written. Blocking code.
pub fn unpack(tar: impl std::io::Read, dir: &Utf8Path) -> Result<u64> {
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::Error::new(e).context(Failure::new(Exit::Usage, format!("cannot create {dir}")))
    })?;
    match archive::unpack(tar, dir, UnpackLimits::default()) {
        Ok(stats) => Ok(stats.files),
        Err(e) => {
            if created {
                let _ = std::fs::remove_dir_all(dir);
            }
            Err(anyhow::Error::new(e)
                .context(format!("cannot write the exported version to {dir}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_round_trip_into_new_directories_only() {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = Utf8Path::from_path(tmp.path()).expect("utf-8");
        let root = base.join("defs");
        std::fs::create_dir_all(root.join("groups/web")).expect("mkdir");
        std::fs::write(root.join("vsm-definition.yaml"), "format: 1\n").expect("write");
        std::fs::write(root.join("groups/web/app.conf"), "port=1\n").expect("write");
        check_source_dir(&root).expect("a directory");
        let tar = archive::pack(&root).expect("pack");
        let out = base.join("out");
        check_target_dir(&out).expect("new dir is fine");
        assert_eq!(unpack(&tar[..], &out).expect("unpack"), 2);
        assert_eq!(
            std::fs::read_to_string(out.join("groups/web/app.conf")).expect("read"),
            "port=1\n"
        );
        let e = check_target_dir(&out).expect_err("not empty");
        assert_eq!(crate::exit::classify(&e), Exit::Usage);
        let e = check_source_dir(&base.join("nope")).expect_err("missing");
        assert_eq!(crate::exit::classify(&e), Exit::Usage);
        let e = check_source_dir(&root.join("vsm-definition.yaml")).expect_err("a file");
        assert_eq!(crate::exit::classify(&e), Exit::Usage);
    }

    /// A reader that hands out `data`, then fails as a broken download does.
    struct Breaking<'a> {
        data: &'a [u8],
    }

    impl std::io::Read for Breaking<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.data.is_empty() {
                return Err(std::io::Error::other("the download broke"));
            }
            let n = buf.len().min(self.data.len()).min(1000);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_broken_stream_leaves_no_directory_behind() {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = Utf8Path::from_path(tmp.path()).expect("utf-8");
        let root = base.join("defs");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(root.join("a.bin"), vec![7u8; 100_000]).expect("write");
        let tar = archive::pack(&root).expect("pack");
        let out = base.join("out");
        let e = unpack(
            Breaking {
                data: &tar[..50_000],
            },
            &out,
        )
        .expect_err("broken");
        assert!(format!("{e:#}").contains("the download broke"), "{e:#}");
        assert!(!out.exists(), "the partial export is removed");
        // A directory that was there before (empty) stays.
        std::fs::create_dir(&out).expect("mkdir");
        unpack(
            Breaking {
                data: &tar[..50_000],
            },
            &out,
        )
        .expect_err("broken");
        assert!(out.is_dir());
    }
}
