//! cloud-init NoCloud seeds: a small FAT image labelled `CIDATA` holding `meta-data` and
//! `user-data`, which vsm attaches to each new VM as a read-only disk (see `docs/libvirt.md`).
//!
//! The image is written in memory with the `fatfs` crate: it is pure Rust, so the manager host
//! needs no external tool; it is small and well kept; and the bytes it returns can be uploaded
//! into any libvirt storage pool, including a remote one (`qemu+ssh://`), through a volume
//! upload. An ISO 9660 seed (the other format NoCloud reads) would need `genisoimage` or
//! `xorriso` on the manager host. NoCloud finds the seed by its file-system label, `cidata` or
//! `CIDATA`; FAT stores labels upper-case.
//!
//! The seed is deterministic: the same [`Seed`] always gives the same bytes (no timestamps; the
//! FAT volume serial number is derived from the instance id).
//!
//! The vsm test guest (`cargo xtask guest-image`) reads `local-hostname` from `meta-data` and
//! the `  - ` items under `ssh_authorized_keys:` from `user-data`, so the layout written here
//! (one key per line, two-space indent) is part of that contract.

use std::io::{Cursor, Write};

/// Size of the seed image: 1 MiB, a FAT12 volume (plenty for two small files).
pub const IMAGE_SIZE: usize = 1024 * 1024;

/// The seed's volume label (NoCloud accepts `cidata` or `CIDATA`).
pub const VOLUME_LABEL: &str = "CIDATA";

/// Why a seed image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A field of the [`Seed`] is not acceptable.
    #[error("cloud-init seed: invalid {field}: {problem}")]
    Invalid {
        /// The field, e.g. `hostname` or `authorized_keys[1]`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Writing the FAT file system failed (never expected for an in-memory image).
    #[error("cloud-init seed: writing the FAT image: {0}")]
    Image(#[from] std::io::Error),
}

/// What a seed tells a new machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// cloud-init's `instance-id` (a new id makes cloud-init run its first-boot modules again).
    pub instance_id: String,
    /// The machine's host name.
    pub hostname: String,
    /// Public keys (OpenSSH one-line format) that may log in.
    pub authorized_keys: Vec<String>,
}

impl Seed {
    /// Checks every field: no field may hold a newline or another control character, the
    /// instance id and each key must be non-empty, and the host name must be 1 to 253
    /// characters of `A-Z a-z 0-9 . - _`, not starting with `-` or `.`.
    pub fn validate(&self) -> Result<(), SeedError> {
        check_text("instance_id", &self.instance_id)?;
        check_text("hostname", &self.hostname)?;
        check_hostname(&self.hostname)?;
        for (i, key) in self.authorized_keys.iter().enumerate() {
            check_text(&format!("authorized_keys[{i}]"), key)?;
        }
        Ok(())
    }

    /// The `meta-data` file: `instance-id` and `local-hostname`.
    pub fn meta_data(&self) -> Result<String, SeedError> {
        self.validate()?;
        Ok(format!(
            "instance-id: {}\nlocal-hostname: {}\n",
            yaml_scalar(&self.instance_id),
            self.hostname
        ))
    }

    /// The `user-data` file: a `#cloud-config` document setting the host name and the keys that
    /// may log in (as root too: vsm logs in as root, so `disable_root` is off).
    pub fn user_data(&self) -> Result<String, SeedError> {
        self.validate()?;
        let mut out = format!(
            "#cloud-config\nhostname: {}\ndisable_root: false\nssh_authorized_keys:\n",
            self.hostname
        );
        if self.authorized_keys.is_empty() {
            // An empty block sequence would be `null`; say "no keys" explicitly.
            out.truncate(out.len() - 1);
            out.push_str(" []\n");
        }
        for key in &self.authorized_keys {
            out.push_str("  - ");
            out.push_str(&yaml_scalar(key.trim()));
            out.push('\n');
        }
        Ok(out)
    }

    /// The seed as a 1 MiB FAT image labelled `CIDATA` with `meta-data` and `user-data`.
    pub fn image(&self) -> Result<Vec<u8>, SeedError> {
        let meta_data = self.meta_data()?;
        let user_data = self.user_data()?;
        let mut disk = Cursor::new(vec![0u8; IMAGE_SIZE]);
        let mut label = [b' '; 11];
        label[..VOLUME_LABEL.len()].copy_from_slice(VOLUME_LABEL.as_bytes());
        fatfs::format_volume(
            &mut disk,
            fatfs::FormatVolumeOptions::new()
                .volume_label(label)
                .volume_id(volume_serial(&self.instance_id)),
        )?;
        {
            let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new())?;
            {
                let root = fs.root_dir();
                for (name, text) in [("meta-data", &meta_data), ("user-data", &user_data)] {
                    let mut file = root.create_file(name)?;
                    file.truncate()?;
                    file.write_all(text.as_bytes())?;
                    file.flush()?;
                }
            }
            fs.unmount()?;
        }
        Ok(disk.into_inner())
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> SeedError {
    SeedError::Invalid {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

fn check_text(field: &str, value: &str) -> Result<(), SeedError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.contains(['\n', '\r']) {
        return Err(invalid(field, format!("{value:?} contains a newline")));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(invalid(
            field,
            format!("{value:?} contains the control character {c:?}"),
        ));
    }
    Ok(())
}

fn check_hostname(name: &str) -> Result<(), SeedError> {
    if name.len() > 253 {
        return Err(invalid(
            "hostname",
            format!("{name:?} is longer than 253 characters"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(invalid(
            "hostname",
            format!("{name:?} contains {c:?} (allowed: A-Z a-z 0-9 . - _)"),
        ));
    }
    if name.starts_with(['-', '.']) {
        return Err(invalid(
            "hostname",
            format!("{name:?} must not start with '-' or '.'"),
        ));
    }
    Ok(())
}

/// `value` as a YAML scalar: plain when that reads back unchanged, else double-quoted.
/// (Control characters were rejected before, so `\"` and `\\` are the only escapes needed.)
fn yaml_scalar(value: &str) -> String {
    let plain = !value.is_empty()
        && !value.starts_with(|c: char| c.is_whitespace() || "-?:,[]{}#&*!|>'\"%@`".contains(c))
        && !value.ends_with(|c: char| c.is_whitespace() || c == ':')
        && !value.contains(": ")
        && !value.contains(" #");
    if plain {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A FAT volume serial number derived from the instance id (FNV-1a), so seeds differ.
fn volume_serial(instance_id: &str) -> u32 {
    let hash = instance_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash.max(1)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn seed() -> Seed {
        Seed {
            instance_id: "vsm-web-01-7".into(),
            hostname: "web-01".into(),
            authorized_keys: vec![
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA vsm@manager".into(),
                "ssh-rsa AAAAB3NzaC1yc2E # odd comment".into(),
            ],
        }
    }

    /// Reads a file of a FAT image with `fatfs`.
    fn read(image: &[u8], name: &str) -> String {
        let fs = fatfs::FileSystem::new(Cursor::new(image.to_vec()), fatfs::FsOptions::new())
            .expect("a FAT file system");
        let mut text = String::new();
        fs.root_dir()
            .open_file(name)
            .unwrap_or_else(|e| panic!("{name} in the image: {e}"))
            .read_to_string(&mut text)
            .expect("read");
        text
    }

    #[test]
    fn image_is_a_fat_volume_labelled_cidata_with_both_files() {
        let image = seed().image().expect("image");
        assert_eq!(image.len(), IMAGE_SIZE);
        let fs = fatfs::FileSystem::new(Cursor::new(image.clone()), fatfs::FsOptions::new())
            .expect("a FAT file system");
        assert_eq!(fs.volume_label(), "CIDATA");
        assert_eq!(
            fs.read_volume_label_from_root_dir().expect("root dir"),
            Some("CIDATA".to_owned())
        );
        assert!(matches!(
            fs.fat_type(),
            fatfs::FatType::Fat12 | fatfs::FatType::Fat16
        ));
        let mut names: Vec<String> = fs
            .root_dir()
            .iter()
            .map(|e| e.expect("dir entry"))
            .filter(|e| !e.attributes().contains(fatfs::FileAttributes::VOLUME_ID))
            .map(|e| e.file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["meta-data", "user-data"]);
        drop(fs);

        assert_eq!(
            read(&image, "meta-data"),
            "instance-id: vsm-web-01-7\nlocal-hostname: web-01\n"
        );
        assert_eq!(
            read(&image, "user-data"),
            "#cloud-config\nhostname: web-01\ndisable_root: false\nssh_authorized_keys:\n  \
             - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA vsm@manager\n  \
             - \"ssh-rsa AAAAB3NzaC1yc2E # odd comment\"\n"
        );
    }

    #[test]
    fn image_is_deterministic_and_depends_on_the_instance() {
        let a = seed().image().expect("image");
        assert_eq!(a, seed().image().expect("image"));
        let mut other = seed();
        other.instance_id = "vsm-web-01-8".into();
        assert_ne!(a, other.image().expect("image"));
    }

    #[test]
    fn no_keys_is_an_explicit_empty_list() {
        let mut s = seed();
        s.authorized_keys.clear();
        let image = s.image().expect("image");
        assert!(read(&image, "user-data").ends_with("ssh_authorized_keys: []\n"));
    }

    #[test]
    fn odd_instance_ids_are_quoted() {
        let mut s = seed();
        s.instance_id = "id: \"x\" \\".into();
        assert_eq!(
            s.meta_data().expect("meta-data"),
            "instance-id: \"id: \\\"x\\\" \\\\\"\nlocal-hostname: web-01\n"
        );
    }

    #[test]
    fn bad_fields_are_named() {
        type Spoil = fn(&mut Seed);
        let cases: [(Spoil, &str); 7] = [
            (|s| s.hostname = String::new(), "hostname"),
            (|s| s.hostname = "web\n01".into(), "hostname"),
            (|s| s.hostname = "web 01".into(), "hostname"),
            (|s| s.hostname = "-web".into(), "hostname"),
            (|s| s.instance_id = "a\rb".into(), "instance_id"),
            (|s| s.instance_id = " ".into(), "instance_id"),
            (
                |s| s.authorized_keys[1] = "ssh-ed25519 AAAA\nssh-rsa BBBB".into(),
                "authorized_keys[1]",
            ),
        ];
        for (spoil, field) in cases {
            let mut s = seed();
            spoil(&mut s);
            match s.image() {
                Err(SeedError::Invalid { field: f, .. }) => assert_eq!(f, field, "{s:?}"),
                other => panic!("{s:?}: expected an invalid {field}, got {other:?}"),
            }
        }
        let err = Seed {
            hostname: "a/b".into(),
            ..seed()
        }
        .image()
        .expect_err("invalid");
        assert!(err.to_string().contains("invalid hostname"), "{err}");
    }
}
