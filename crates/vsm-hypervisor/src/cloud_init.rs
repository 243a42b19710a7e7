//! cloud-init NoCloud seeds: a small FAT image labelled `cidata` holding `meta-data` and
//! `user-data`, which vsm attaches to each new VM (see `docs/libvirt.md`).

/// Why a seed image could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the cloud-init seed image: {0}")]
pub struct SeedError(String);

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
    /// The seed as a FAT image labelled `cidata` with `meta-data` and `user-data`.
    pub fn image(&self) -> Result<Vec<u8>, SeedError> {
        Err(SeedError("not implemented yet".into()))
    }
}
