//! The layout of a state directory: the names of what the manager keeps in it (`config.yaml` is
//! [`crate::config::CONFIG_FILE`]).

/// The database file inside the state directory.
pub const DB_FILE: &str = "state.db";
/// The lock file a running manager holds (`flock`) inside the state directory.
pub const LOCK_FILE: &str = "manager.lock";
/// The definition snapshot store directory inside the state directory.
pub const DEFINITIONS_DIR: &str = "definitions";
