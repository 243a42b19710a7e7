//! The command tree of `vsm` (clap derive): every command and flag of the contract in
//! SPEC.md "The command line", plus a few helpful extras.
//!
//! This module only declares and parses; it does no IO. Names of commands and flags here are a
//! contract with users, scripts and JP1/AJS jobs: add freely, never rename or drop.

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default manager URL (`--url`, `VSM_URL`).
pub const DEFAULT_URL: &str = "http://127.0.0.1:7460";

const AFTER_HELP: &str = "\
Exit codes (judged by JP1/AJS jobs):
  0  success                       1  warning (partly succeeded, or done with warnings)
  2  exclusion: the unit is busy   64 invalid request (usage, unknown name, name taken, bounds)
  65 invalid data in a file given  69 the manager is unreachable
  70 the operation failed          75 timed out waiting; the operation goes on in the manager
  77 not authenticated or not permitted

Environment: VSM_URL, VSM_TOKEN, VSM_OUTPUT, VSM_CONFIG_DIR, NO_COLOR.";

/// vsm — the virtual server manager.
///
/// `vsm manager start` runs the manager (an HTTP/JSON API on loopback by default); every other
/// command is a client of it, authenticated by the session saved by `vsm login` or by the token
/// in VSM_TOKEN. Commands that start an operation wait for it to finish and exit with the code of
/// its outcome (see below).
#[derive(Debug, Parser)]
#[command(name = "vsm", version, after_help = AFTER_HELP)]
#[command(max_term_width = 100)]
pub struct Cli {
    /// The global options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Output format: `table` for people, `json` for scripts (stable, see docs/cli.md).
    /// Default: table when standard output is a terminal, json otherwise.
    #[arg(long, short = 'o', global = true, value_enum, env = "VSM_OUTPUT")]
    pub output: Option<OutputFormat>,

    /// The manager's URL. Several managers on one PostgreSQL store: their URLs separated by
    /// commas (`a,b`); commands go to the active one.
    #[arg(long, global = true, env = "VSM_URL", default_value = DEFAULT_URL, value_name = "URL")]
    pub url: String,

    /// A PEM file with the CA certificate(s) to trust when the manager serves TLS.
    #[arg(long, global = true, env = "VSM_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<Utf8PathBuf>,

    /// When to colour human output: `auto` colours only on a terminal and respects NO_COLOR.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables and sentences for people.
    Table,
    /// One JSON document on standard output (documented in docs/cli.md).
    Json,
}

/// When human output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Only on a terminal, and not when NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The top-level commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run and administer the manager on this host (init, start, stop, status, backup, ...).
    #[command(subcommand)]
    Manager(ManagerCommand),

    /// Log in to the manager and save the session for the following commands.
    ///
    /// The session token is saved per manager URL in `$VSM_CONFIG_DIR/session.json` (default
    /// `$XDG_CONFIG_HOME/vsm` or `~/.config/vsm`), readable only by you. The password is read
    /// from a file or standard input, never from the command line; on a terminal without either
    /// flag it is prompted for without echo.
    Login(LoginArgs),

    /// End the saved session with the manager and forget it.
    Logout,

    /// Show the account and role of the current session.
    Whoami,

    /// Manage accounts (administrator): add, delete, list, change passwords.
    #[command(subcommand)]
    Account(AccountCommand),

    /// Manage the host pool (administrator): the hypervisor hosts that servers are placed on.
    #[command(subcommand)]
    Host(HostCommand),

    /// Manage server templates: base images that servers are cloned from.
    #[command(subcommand)]
    Template(TemplateCommand),

    /// Manage units: named sets of server groups with one owner and imported definitions.
    #[command(subcommand)]
    Unit(UnitCommand),

    /// Start, stop, attach to and detach from one group of a unit.
    #[command(subcommand)]
    Group(GroupCommand),

    /// Look at and repair single servers: logs, recovery, failure marks.
    #[command(subcommand)]
    Server(ServerCommand),

    /// Follow, inspect and cancel operations (the journaled runs of changes).
    #[command(subcommand)]
    Op(OpCommand),

    /// Generate JP1 integration files (JP1/AJS jobnets, JP1/IM log-file trap, JP1/PFM records).
    #[command(subcommand)]
    Jp1(Jp1Command),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on standard output.
    Completions(CompletionsArgs),
}

// ---------------------------------------------------------------------------------------------
// manager

/// `vsm manager ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ManagerCommand {
    /// Create a state directory: configuration file, state store and the first administrator.
    ///
    /// Refuses a directory that already holds a manager. The configuration is written as one
    /// commented YAML file (`config.yaml`) in the directory; every setting has a default.
    Init(ManagerInitArgs),

    /// Run the manager: serve the API on the listen address until stopped.
    ///
    /// Runs in the foreground (stop it with Ctrl-C or `vsm manager stop`) unless `--detach`
    /// is given: then it starts in the background, logs to the state directory's log directory,
    /// and returns once the API answers. A lock file prevents two managers on one directory.
    Start(ManagerStartArgs),

    /// Stop the manager of a state directory gracefully and wait until it has exited.
    ///
    /// Running operations finish or are journaled as interrupted (resumed on the next start);
    /// servers keep running.
    Stop(ManagerStopArgs),

    /// Show whether the manager of a state directory runs, its address and its health.
    Status(ManagerDirArgs),

    /// Write an online, consistent backup of the manager (administrator) to a file.
    Backup(OutArgs),

    /// Restore a state directory from a backup file; the manager must be stopped.
    ///
    /// The state goes into the store the archive's configuration names, or the one `--store`
    /// names; a PostgreSQL database must hold no vsm state.
    Restore(ManagerRestoreArgs),

    /// Move a stopped manager's SQLite state into an empty PostgreSQL database.
    ///
    /// Copies every row in one transaction, reads it back and compares, then rewrites
    /// `config.yaml` to name the database and keeps `state.db` as `state.db.migrated-DATE`.
    /// The manager must be stopped (exit 2 otherwise); on any failure nothing changes in the
    /// state directory.
    MigrateStore(ManagerMigrateStoreArgs),

    /// Remove the manager's operating environment: its state directory (seed A4).
    ///
    /// The manager must be stopped (exit 2 otherwise). Refused while units still have servers,
    /// which it lists, unless `--destroy-servers` is given: then every unit is deleted first
    /// (servers stopped in reverse start order and destroyed; registered machines detached,
    /// never touched). A final backup is written first unless `--no-backup`. Says what it
    /// removed and what it leaves (the vsm program, a service unit or package, JP1 definitions).
    Uninstall(ManagerUninstallArgs),

    /// Write a diagnostics bundle (logs, config, state summary, recent operations) to a file.
    Diagnose(OutArgs),

    /// Show the manager's log settings, or change them (applied without restart).
    LogConfig(LogConfigArgs),
}

/// The state directory of a manager on this host.
#[derive(Debug, Clone, Args)]
pub struct ManagerDirArgs {
    /// The manager's state directory.
    #[arg(long, value_name = "DIR", env = "VSM_DIR")]
    pub dir: Utf8PathBuf,
}

/// `vsm manager init`
#[derive(Debug, Clone, Args)]
pub struct ManagerInitArgs {
    /// The state directory to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR", env = "VSM_DIR")]
    pub dir: Utf8PathBuf,
    /// The name of the first administrator account.
    #[arg(long, value_name = "NAME")]
    pub admin: String,
    /// The address the manager listens on, written to the configuration.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The state store: `sqlite` (default) or postgres://USER@HOST:PORT/DATABASE, an empty
    /// database (no password in the URL; TLS with ?sslmode=verify-full[&sslrootcert=/ca.pem]
    /// or ?sslmode=require).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// An owner-only file with the PostgreSQL password (else VSM_STORE_PASSWORD).
    #[command(flatten)]
    pub store_password: StorePasswordArgs,
    /// The definition snapshot store (default: DIR/definitions); with PostgreSQL, a
    /// directory every manager of the database reaches.
    #[arg(long, value_name = "DIR")]
    pub definitions_dir: Option<Utf8PathBuf>,
    /// Where the administrator's password comes from.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// The PostgreSQL password's file.
#[derive(Debug, Clone, Args)]
pub struct StorePasswordArgs {
    /// An owner-only file (chmod 600) holding the PostgreSQL password; written to the
    /// configuration as `store_password_file`. Without it, VSM_STORE_PASSWORD is used.
    #[arg(long, value_name = "FILE")]
    pub store_password_file: Option<Utf8PathBuf>,
}

/// `vsm manager migrate-store`
#[derive(Debug, Clone, Args)]
pub struct ManagerMigrateStoreArgs {
    /// The stopped manager's state directory.
    #[arg(long, value_name = "DIR", env = "VSM_DIR")]
    pub dir: Utf8PathBuf,
    /// The empty PostgreSQL database: postgres://USER@HOST:PORT/DATABASE (no password in it).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The PostgreSQL password's file.
    #[command(flatten)]
    pub store_password: StorePasswordArgs,
    /// Also copy the definition snapshots into this shared directory and configure it.
    #[arg(long, value_name = "DIR")]
    pub definitions_dir: Option<Utf8PathBuf>,
}

/// `vsm manager start`
#[derive(Debug, Clone, Args)]
pub struct ManagerStartArgs {
    /// The manager's state directory (created by `vsm manager init`).
    #[arg(long, value_name = "DIR", env = "VSM_DIR")]
    pub dir: Utf8PathBuf,
    /// Listen on this address instead of the configured one (port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Start in the background and return once the API answers.
    #[arg(long)]
    pub detach: bool,
    /// With --detach: how long to wait for the API to answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Also drive libvirt at this URI (e.g. qemu:///system; needs a vsm built with the
    /// `libvirt` feature).
    #[arg(long, value_name = "URI", env = "VSM_LIBVIRT_URI")]
    pub libvirt_uri: Option<String>,
}

/// `vsm manager stop`
#[derive(Debug, Clone, Args)]
pub struct ManagerStopArgs {
    /// The manager's state directory.
    #[arg(long, value_name = "DIR", env = "VSM_DIR")]
    pub dir: Utf8PathBuf,
    /// How long to wait for the manager to exit (exit code 75 when exceeded; it keeps stopping).
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
}

/// `vsm manager restore`
#[derive(Debug, Clone, Args)]
pub struct ManagerRestoreArgs {
    /// The state directory to restore into (the manager must be stopped).
    #[arg(long, value_name = "DIR", env = "VSM_DIR")]
    pub dir: Utf8PathBuf,
    /// The backup file written by `vsm manager backup`.
    #[arg(long, value_name = "FILE")]
    pub from: Utf8PathBuf,
    /// Restore into this store instead of the archive's: `sqlite` or a PostgreSQL URL of an
    /// empty database.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The PostgreSQL password's file.
    #[command(flatten)]
    pub store_password: StorePasswordArgs,
}

/// `vsm manager uninstall`
#[derive(Debug, Clone, Args)]
pub struct ManagerUninstallArgs {
    /// The state directory to remove (the manager must be stopped).
    #[arg(long, value_name = "DIR", env = "VSM_DIR")]
    pub dir: Utf8PathBuf,
    /// Delete every unit and its servers first, instead of refusing while units have servers.
    #[arg(long)]
    pub destroy_servers: bool,
    /// Where the final backup goes (default: `DIR.final-backup.tar` beside the directory).
    #[arg(long, value_name = "FILE", conflicts_with = "no_backup")]
    pub backup: Option<Utf8PathBuf>,
    /// Write no final backup.
    #[arg(long)]
    pub no_backup: bool,
    /// libvirt: the URI the manager ran with, to reach its VMs when destroying them.
    #[arg(long, value_name = "URI")]
    pub libvirt_uri: Option<String>,
}

/// An output file.
#[derive(Debug, Clone, Args)]
pub struct OutArgs {
    /// The file to write (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: Utf8PathBuf,
}

/// `vsm manager log-config`
#[derive(Debug, Clone, Args)]
pub struct LogConfigArgs {
    /// The directory log files are written to.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<Utf8PathBuf>,
    /// How many log files are kept.
    #[arg(long, value_name = "N")]
    pub files: Option<u32>,
    /// The size of one log file in MiB before it is rotated.
    #[arg(long, value_name = "M")]
    pub size_mb: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// sessions, accounts

/// Where a password comes from: never the command line.
#[derive(Debug, Clone, Args)]
#[group(multiple = false)]
pub struct PasswordArgs {
    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<Utf8PathBuf>,
    /// Read the password from standard input (its first line).
    #[arg(long)]
    pub password_stdin: bool,
}

/// `vsm login`
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The account to log in as.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Where the password comes from.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `vsm account ...`
#[derive(Debug, Clone, Subcommand)]
pub enum AccountCommand {
    /// Add an account (administrator).
    Add(AccountAddArgs),
    /// Delete an account (administrator); refused while it owns units (move them with `vsm unit chown`).
    Delete(NameArg),
    /// List the accounts (administrator).
    List,
    /// Change an account's password (administrator, or the account itself).
    Passwd(AccountPasswdArgs),
}

/// `vsm account add`
#[derive(Debug, Clone, Args)]
pub struct AccountAddArgs {
    /// The account name.
    pub name: String,
    /// The account's role.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Where the new account's password comes from.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `vsm account passwd`
#[derive(Debug, Clone, Args)]
pub struct AccountPasswdArgs {
    /// The account name.
    pub name: String,
    /// Where the new password comes from.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// An account role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// A system builder: owns units and works in them.
    Builder,
    /// An administrator: accounts, ownership, backups, logs; may act on any unit.
    Admin,
}

impl RoleArg {
    /// The role's word on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleArg::Builder => "builder",
            RoleArg::Admin => "admin",
        }
    }

    /// The core's role (its serde form is the API's word).
    pub fn role(self) -> vsm_core::Role {
        match self {
            RoleArg::Builder => vsm_core::Role::Builder,
            RoleArg::Admin => vsm_core::Role::Administrator,
        }
    }
}

/// One positional name.
#[derive(Debug, Clone, Args)]
pub struct NameArg {
    /// The name.
    pub name: String,
}

// ---------------------------------------------------------------------------------------------
// hosts

/// `vsm host ...`
#[derive(Debug, Clone, Subcommand)]
pub enum HostCommand {
    /// Add a hypervisor host to the pool (administrator).
    ///
    /// The manager connects the host and reads its capacity before it records anything: a host
    /// it cannot reach is refused and nothing is added. New servers are placed on it from then
    /// on, by the groups' `placement:` rules.
    Add(HostAddArgs),
    /// List the hosts of the pool with their state, connection, use and labels (administrator).
    List,
    /// Show a host: how it is reached, capacity, ratios, state, labels and the servers on it.
    Show(NameArg),
    /// Remove a host from the pool (administrator); refused for a built-in host and while
    /// servers are placed on it.
    Remove(NameArg),
    /// Put a draining host, or one in maintenance, back into service: it takes new servers again.
    Undrain(NameArg),
    /// Move every server off a host for maintenance (administrator).
    ///
    /// Nothing new is placed on the host from now on. Group by group in start order, each
    /// server gets a replacement on another host (same template generation, the definition
    /// version it runs), started and health-checked before the server it replaces is stopped
    /// and destroyed, so no group loses a healthy server. An emptied host goes into
    /// maintenance. Ends by the time-out; lists every server it could not move and why (exit 1
    /// when some were moved, 70 when none could be).
    Drain(HostDrainArgs),
    /// Confirm that a down host is lost (powered off or fenced) so that its servers restart on
    /// the other hosts (administrator; hosts with `fencing: manual`). Refused for a host that is
    /// not down: a host that still runs its servers must never be confirmed lost.
    ConfirmDown(NameArg),
    /// Restore the spread of `spread` groups over their hosts, e.g. after a host returned or
    /// was added (administrator).
    ///
    /// Proposes moves that even out each group's servers over the hosts it may use, never
    /// breaking hard anti-affinity, `max_per_host` or a host's capacity; then applies them like
    /// a drain (a replacement on the emptiest allowed host first, the old server after). With
    /// `--dry-run` it only lists the moves.
    Rebalance(HostRebalanceArgs),
}

/// `vsm host rebalance`
#[derive(Debug, Clone, Args)]
pub struct HostRebalanceArgs {
    /// Only list the moves; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long applying the moves may take, in seconds (default 600).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

/// `vsm host drain`
#[derive(Debug, Clone, Args)]
pub struct HostDrainArgs {
    /// The host.
    pub name: String,
    /// How long the drain may take, in seconds (default 600); what is not moved by then stays.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

/// `vsm host add`
#[derive(Debug, Clone, Args)]
pub struct HostAddArgs {
    /// The host's name in the pool (lowercase letters, digits, `-` and `_`).
    pub name: String,
    /// The hypervisor driver that runs the host's servers.
    #[arg(long, value_enum)]
    pub driver: DriverArg,
    /// libvirt: the connection URI (e.g. qemu:///system, qemu+ssh://root@kvm-01/system).
    #[arg(
        long,
        value_name = "URI",
        required_if_eq("driver", "libvirt"),
        conflicts_with = "dir"
    )]
    pub uri: Option<String>,
    /// local: the driver's state directory for this host (relative paths are made absolute).
    #[arg(long, value_name = "DIR", required_if_eq("driver", "local"))]
    pub dir: Option<Utf8PathBuf>,
    /// A label that units select hosts by (`placement.hosts` in a unit file); repeat it for more.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<Label>,
    /// vCPUs handed out per physical CPU (default 16.0).
    #[arg(long, value_name = "R")]
    pub cpu_ratio: Option<f64>,
    /// MiB of memory handed out per MiB of unreserved memory (default 1.5).
    #[arg(long, value_name = "R")]
    pub ram_ratio: Option<f64>,
    /// Memory kept for the host itself, in MiB (default 0).
    #[arg(long, value_name = "N")]
    pub reserved_memory_mb: Option<u64>,
    /// What the host's loss needs before its servers are restarted elsewhere (default manual).
    #[arg(long, value_enum)]
    pub fencing: Option<FencingArg>,
}

/// A host label, `KEY=VALUE` on the command line (`--label zone=a`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// The key (not empty).
    pub key: String,
    /// The value (may be empty).
    pub value: String,
}

impl std::str::FromStr for Label {
    type Err = String;

    /// `KEY=VALUE`, split at the first `=`; the key must not be empty. Anything else about
    /// labels is the manager's to check.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            None => Err(format!(
                "`{s}` has no `=`: give a label as KEY=VALUE, e.g. --label zone=a"
            )),
            Some(("", _)) => Err(format!(
                "`{s}` has an empty key: give a label as KEY=VALUE, e.g. --label zone=a"
            )),
            Some((key, value)) => Ok(Label {
                key: key.to_owned(),
                value: value.to_owned(),
            }),
        }
    }
}

/// What a host's loss needs before its servers are restarted elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FencingArg {
    /// An administrator confirms the loss first: never two copies of a server running.
    Manual,
    /// Restart at once: for hosts whose loss is certain (a copy cannot still run).
    None,
}

impl FencingArg {
    /// The manager's fencing.
    pub fn fencing(self) -> vsm_manager::Fencing {
        match self {
            FencingArg::Manual => vsm_manager::Fencing::Manual,
            FencingArg::None => vsm_manager::Fencing::None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// templates

/// `vsm template ...`
#[derive(Debug, Clone, Subcommand)]
pub enum TemplateCommand {
    /// Register a template (generation 1) from a source the driver understands.
    Register(TemplateRegisterArgs),
    /// Add a new generation of a template (e.g. a patched image); `vsm unit upgrade` rolls it out.
    Update(TemplateUpdateArgs),
    /// List the templates.
    List,
    /// Show a template and its generations.
    Show(NameArg),
    /// Delete a template; refused while a unit's group uses it.
    Delete(NameArg),
}

/// `vsm template register`
#[derive(Debug, Clone, Args)]
pub struct TemplateRegisterArgs {
    /// The template name.
    pub name: String,
    /// The hypervisor driver the template belongs to.
    #[arg(long, value_enum)]
    pub driver: DriverArg,
    /// local: a template directory on the management host; libvirt: a domain or volume.
    #[arg(long, value_name = "SOURCE")]
    pub source: String,
}

/// `vsm template update`
#[derive(Debug, Clone, Args)]
pub struct TemplateUpdateArgs {
    /// The template name.
    pub name: String,
    /// The source of the new generation (same kind as at registration).
    #[arg(long, value_name = "SOURCE")]
    pub source: String,
}

/// A hypervisor driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriverArg {
    /// The embedded driver: servers are sandboxed process trees on this host.
    Local,
    /// libvirt: real virtual machines on libvirt hosts.
    Libvirt,
}

impl DriverArg {
    /// The driver's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverArg::Local => "local",
            DriverArg::Libvirt => "libvirt",
        }
    }

    /// The manager's driver kind.
    pub fn kind(self) -> vsm_manager::DriverKind {
        match self {
            DriverArg::Local => vsm_manager::DriverKind::Local,
            DriverArg::Libvirt => vsm_manager::DriverKind::Libvirt,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// units

/// How long to wait: for the operation (`--timeout`) and for a busy unit's lock (`--wait`).
#[derive(Debug, Clone, Copy, Args)]
pub struct WaitArgs {
    /// Wait at most this long for the operation to finish; when exceeded, exit with 75 and
    /// leave the operation running in the manager (`vsm op show ID` follows it).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// When the unit is busy with another operation, wait up to this long for it instead of
    /// exiting with 2 (exclusion).
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// Do not wait for the operation: print its id and exit 0 once the manager accepted it.
    #[arg(long, conflicts_with = "timeout")]
    pub no_wait: bool,
}

/// `vsm unit ...`
#[derive(Debug, Clone, Subcommand)]
pub enum UnitCommand {
    /// Create a unit from a unit file (groups: template, count, min, max, start order); you own it.
    Create(UnitCreateArgs),
    /// List your units (administrators: `--all` lists every owner's units).
    List(UnitListArgs),
    /// Show a unit: definition version and status, groups, servers, states, addresses, last operations.
    ///
    /// With `--watch` it keeps showing the unit as it changes (live, from the manager's watch
    /// stream): on a terminal the view is redrawn in place; with `--output json` every change
    /// prints the whole unit again, as one JSON document per line. Ctrl-C ends it (exit 0), as
    /// does the unit's deletion; a caller who loses access to the unit gets exit 77.
    Show(UnitShowArgs),
    /// Give a unit to another account (administrator).
    Chown(UnitChownArgs),
    /// Import a definition directory into a unit as a new immutable version (not yet applied).
    Import(UnitDirArgs),
    /// Write a definition version of a unit back out as a directory.
    Export(UnitExportArgs),
    /// Show what importing a directory would change, per group and file (changes nothing).
    Diff(UnitDirArgs),
    /// Apply a definition version to every server of the unit (batch apply / rolling roll-out).
    Apply(UnitApplyArgs),
    /// Re-apply the previous definition version.
    Rollback(UnitWaitArgs),
    /// Start the unit: all groups in start order, each after the previous is healthy.
    Start(UnitWaitArgs),
    /// Stop the unit: all groups in reverse start order.
    Stop(UnitWaitArgs),
    /// Scale a provisioned group out or in (within its min/max).
    Scale(UnitScaleArgs),
    /// Re-provision the unit's servers onto their template's newest generation.
    Upgrade(UnitUpgradeArgs),
    /// Delete a unit: stop and destroy its servers (an audit record is kept).
    Delete(UnitDeleteArgs),
    /// List the imported definition versions of a unit.
    Versions(UnitArg),
}

/// `vsm unit show`
#[derive(Debug, Clone, Args)]
pub struct UnitShowArgs {
    /// The unit name.
    pub name: String,
    /// Keep showing the unit, redrawn (or, with `--output json`, printed again as one line of
    /// JSON) on every change, until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
}

/// A unit name.
#[derive(Debug, Clone, Args)]
pub struct UnitArg {
    /// The unit name.
    pub name: String,
}

/// A unit name and the wait options.
#[derive(Debug, Clone, Args)]
pub struct UnitWaitArgs {
    /// The unit name.
    pub name: String,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `vsm unit create`
#[derive(Debug, Clone, Args)]
pub struct UnitCreateArgs {
    /// The unit name.
    pub name: String,
    /// The unit file (YAML; format documented in docs/unit-format.md).
    #[arg(long, short = 'f', value_name = "UNIT.yaml")]
    pub file: Utf8PathBuf,
}

/// `vsm unit list`
#[derive(Debug, Clone, Args)]
pub struct UnitListArgs {
    /// Every owner's units (administrator).
    #[arg(long)]
    pub all: bool,
}

/// `vsm unit chown`
#[derive(Debug, Clone, Args)]
pub struct UnitChownArgs {
    /// The unit name.
    pub name: String,
    /// The new owner.
    #[arg(long, value_name = "ACCOUNT")]
    pub to: String,
}

/// A unit and a definition directory.
#[derive(Debug, Clone, Args)]
pub struct UnitDirArgs {
    /// The unit name.
    pub name: String,
    /// The definition directory.
    pub dir: Utf8PathBuf,
}

/// `vsm unit export`
#[derive(Debug, Clone, Args)]
pub struct UnitExportArgs {
    /// The unit name.
    pub name: String,
    /// The directory to write (must not exist, or be empty).
    pub dir: Utf8PathBuf,
    /// The version to export (default: the current one).
    #[arg(long, value_name = "V")]
    pub version: Option<u32>,
}

/// `vsm unit apply`
#[derive(Debug, Clone, Args)]
pub struct UnitApplyArgs {
    /// The unit name.
    pub name: String,
    /// The version to apply (default: the newest imported).
    #[arg(long, value_name = "V")]
    pub version: Option<u32>,
    /// Roll out in batches of N servers or P% of the unit (default: all at once when stopped,
    /// one by one on a running unit).
    #[arg(long, value_name = "N|P%")]
    pub batch: Option<BatchSize>,
    /// Abort when more than P% of the servers updated so far fail their health checks
    /// (default: the first failing batch aborts).
    #[arg(long, value_name = "P%")]
    pub max_unhealthy: Option<Percent>,
    /// Pause between batches.
    #[arg(long, value_name = "SECONDS")]
    pub pause: Option<u64>,
    /// On abort, leave the touched servers on the new version instead of rolling them back.
    #[arg(long)]
    pub no_rollback: bool,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `vsm unit scale`
#[derive(Debug, Clone, Args)]
pub struct UnitScaleArgs {
    /// The unit name.
    pub name: String,
    /// The provisioned group to scale.
    pub group: String,
    /// The new number of servers (within the group's min and max).
    #[arg(long, value_name = "N")]
    pub count: u32,
    /// Scale in by removing these servers instead of choosing by the group's policy.
    #[arg(long, value_name = "SERVER,...", value_delimiter = ',')]
    pub remove: Vec<String>,
    /// Drain time before a scaled-in server is stopped (default: the group's `grace`).
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<u64>,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `vsm unit upgrade`
#[derive(Debug, Clone, Args)]
pub struct UnitUpgradeArgs {
    /// The unit name.
    pub name: String,
    /// Re-provision in batches of N servers or P% of the unit.
    #[arg(long, value_name = "N|P%")]
    pub batch: Option<BatchSize>,
    /// Create N new servers first, then retire old ones, so capacity never drops.
    #[arg(long, value_name = "N")]
    pub surge: Option<u32>,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `vsm unit delete`
#[derive(Debug, Clone, Args)]
pub struct UnitDeleteArgs {
    /// The unit name.
    pub name: String,
    /// Delete even when servers are running or marked failed.
    #[arg(long)]
    pub force: bool,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// A batch size (`N` servers or `P%` of the unit) and a percentage (`P%`): the manager's own
/// types, parsed as the API parses them.
pub use vsm_manager::api::{BatchSize, Percent};

// ---------------------------------------------------------------------------------------------
// groups, servers, operations

/// `vsm group ...`
#[derive(Debug, Clone, Subcommand)]
pub enum GroupCommand {
    /// Start one group of a unit.
    Start(GroupWaitArgs),
    /// Stop one group of a unit.
    Stop(GroupWaitArgs),
    /// Registered groups: add an existing machine by address (checked reachable over SSH).
    Attach(GroupAttachArgs),
    /// Registered groups: remove a server from the group; the machine itself is untouched.
    Detach(GroupDetachArgs),
}

/// A unit, a group and the wait options.
#[derive(Debug, Clone, Args)]
pub struct GroupWaitArgs {
    /// The unit name.
    pub unit: String,
    /// The group name.
    pub group: String,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `vsm group attach`
#[derive(Debug, Clone, Args)]
pub struct GroupAttachArgs {
    /// The unit name.
    pub unit: String,
    /// The registered group.
    pub group: String,
    /// The machine's management address (host or IP, optionally :port for SSH).
    #[arg(long, value_name = "ADDR")]
    pub address: String,
    /// The server's name in the unit (default: derived from the group name).
    #[arg(long, value_name = "SERVER")]
    pub name: Option<String>,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `vsm group detach`
#[derive(Debug, Clone, Args)]
pub struct GroupDetachArgs {
    /// The unit name.
    pub unit: String,
    /// The registered group.
    pub group: String,
    /// The server to detach.
    pub server: String,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `vsm server ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ServerCommand {
    /// Print a server's console log.
    Logs(ServerLogsArgs),
    /// Recover a failed server (restart it, or re-create it and re-apply its definitions).
    Recover(ServerWaitArgs),
    /// Mark a server as failed, with a comment; operations touching it end with a warning.
    Mark(ServerMarkArgs),
    /// Remove a server's failure mark.
    Unmark(ServerArg),
}

/// A unit and a server.
#[derive(Debug, Clone, Args)]
pub struct ServerArg {
    /// The unit name.
    pub unit: String,
    /// The server name.
    pub server: String,
}

/// A unit, a server and the wait options.
#[derive(Debug, Clone, Args)]
pub struct ServerWaitArgs {
    /// The unit name.
    pub unit: String,
    /// The server name.
    pub server: String,
    /// How long to wait.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `vsm server logs`
#[derive(Debug, Clone, Args)]
pub struct ServerLogsArgs {
    /// The unit name.
    pub unit: String,
    /// The server name.
    pub server: String,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,
}

/// `vsm server mark`
#[derive(Debug, Clone, Args)]
pub struct ServerMarkArgs {
    /// The unit name.
    pub unit: String,
    /// The server name.
    pub server: String,
    /// Why the server is marked (shown with the server).
    #[arg(long, value_name = "TEXT")]
    pub comment: String,
}

/// `vsm op ...`
#[derive(Debug, Clone, Subcommand)]
pub enum OpCommand {
    /// List operations, newest first.
    List(OpListArgs),
    /// Show an operation with its per-server results.
    Show(OpIdArg),
    /// Cancel a running operation (servers already done stay done).
    Cancel(OpIdArg),
    /// Wait for an operation to finish, showing its progress; exits with its outcome's code.
    Wait(OpWaitArgs),
}

/// `vsm op list`
#[derive(Debug, Clone, Args)]
pub struct OpListArgs {
    /// Only this unit's operations.
    #[arg(long, value_name = "NAME")]
    pub unit: Option<String>,
}

/// An operation id.
#[derive(Debug, Clone, Args)]
pub struct OpIdArg {
    /// The operation id.
    pub id: u64,
}

/// `vsm op wait`
#[derive(Debug, Clone, Args)]
pub struct OpWaitArgs {
    /// The operation id.
    pub id: u64,
    /// Wait at most this long (exit 75 when exceeded; the operation goes on).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// JP1, completions

/// `vsm jp1 ...`
#[derive(Debug, Clone, Subcommand)]
pub enum Jp1Command {
    /// Print a JP1/AJS jobnet definition (ajsdefine) that starts and stops a unit every day.
    AjsJobnet(AjsJobnetArgs),
    /// Print the JP1/IM log-file trap action definition matching the manager's event log.
    LogtrapConfig,
    /// Write the servers' load figures as a JP1/PFM user-record file (PI_UPI) for jpcuser.
    PfmExport(OutArgs),
}

/// `vsm jp1 ajs-jobnet`
#[derive(Debug, Clone, Args)]
pub struct AjsJobnetArgs {
    /// The unit the jobnet starts and stops.
    #[arg(long, value_name = "NAME")]
    pub unit: String,
    /// The daily start time.
    #[arg(long, value_name = "HH:MM")]
    pub start: String,
    /// The daily stop time.
    #[arg(long, value_name = "HH:MM")]
    pub stop: String,
    /// The JP1/AJS agent host that runs the jobs (default: the manager host).
    #[arg(long, value_name = "HOST")]
    pub agent: Option<String>,
    /// Where the `vsm` binary is on the agent (default: /usr/local/bin/vsm).
    #[arg(long, value_name = "PATH")]
    pub vsm_path: Option<Utf8PathBuf>,
    /// `--timeout` of the generated `vsm unit start|stop` jobs (default 1800).
    #[arg(long, value_name = "SECONDS")]
    pub job_timeout: Option<u32>,
    /// `--wait` of the generated jobs: how long they wait for a busy unit (default 600).
    #[arg(long, value_name = "SECONDS")]
    pub job_wait: Option<u32>,
    /// An environment file for the jobs (e.g. one that sets VSM_URL and VSM_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<Utf8PathBuf>,
}

/// `vsm completions`
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn batch_sizes_parse_counts_and_percentages() {
        assert_eq!("3".parse::<BatchSize>().ok(), Some(BatchSize::Count(3)));
        assert_eq!(
            "25%".parse::<BatchSize>().ok(),
            Some(BatchSize::Percent(25))
        );
        assert!("0".parse::<BatchSize>().is_err());
        assert!("101%".parse::<BatchSize>().is_err());
        assert!("x".parse::<BatchSize>().is_err());
        assert_eq!("20%".parse::<Percent>().ok(), Percent::new(20));
        assert_eq!(BatchSize::Percent(5).to_string(), "5%");
    }

    #[test]
    fn every_contract_command_parses() {
        let lines = [
            "manager init --dir D --admin root --password-file F",
            "manager start --dir D --listen 127.0.0.1:7460 --detach",
            "manager stop --dir D",
            "manager status --dir D",
            "manager backup --out F",
            "manager restore --dir D --from F",
            "manager diagnose --out F",
            "manager log-config --log-dir D --files 3 --size-mb 10",
            "login --user u --password-file F",
            "login --user u --password-stdin",
            "logout",
            "account add bob --role builder --password-file F",
            "account add bob --role admin --password-stdin",
            "account delete bob",
            "account list",
            "account passwd bob --password-stdin",
            "host add kvm-01 --driver libvirt --uri qemu+ssh://root@kvm-01/system --label zone=a --label rack=r1 --cpu-ratio 4 --ram-ratio 1.0 --reserved-memory-mb 2048 --fencing none",
            "host add local-2 --driver local --dir /srv/vsm/local-2 --fencing manual",
            "host list",
            "host show kvm-01",
            "host remove kvm-01",
            "host undrain kvm-01",
            "template register t --driver local --source S",
            "template register t --driver libvirt --source S",
            "template update t --source S",
            "template list",
            "template show t",
            "template delete t",
            "unit create u --file f.yaml",
            "unit list --all",
            "unit show u",
            "unit chown u --to bob",
            "unit import u dir",
            "unit export u dir --version 2",
            "unit diff u dir",
            "unit apply u --version 2 --batch 25% --max-unhealthy 10% --pause 5 --no-rollback",
            "unit rollback u",
            "unit start u --timeout 60 --wait 30",
            "unit stop u --timeout 60 --wait 30",
            "unit scale u web --count 3 --remove web-1,web-2 --grace 10",
            "unit upgrade u --batch 2 --surge 1",
            "unit delete u --force",
            "group start u g",
            "group stop u g",
            "group attach u g --address 192.0.2.1 --name db1",
            "group detach u g db1",
            "server logs u s --tail 20",
            "server recover u s",
            "server mark u s --comment broken",
            "server unmark u s",
            "op list --unit u",
            "op show 1",
            "op cancel 1",
            "jp1 ajs-jobnet --unit u --start 08:00 --stop 20:00 --agent h",
            "jp1 logtrap-config",
            "jp1 pfm-export --out F",
        ];
        for line in lines {
            let args = std::iter::once("vsm")
                .chain(line.split(' '))
                .chain(["--output", "json", "--url", "http://x"]);
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("`vsm {line}` does not parse: {e}");
            }
        }
    }

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vsm").chain(line.split(' ')))
    }

    #[test]
    fn host_add_parses_its_options() {
        let cli = parse(
            "host add kvm-01 --driver libvirt --uri qemu:///system --label zone=a \
             --label note=x=y --label empty= --cpu-ratio 4 --ram-ratio 1.5 \
             --reserved-memory-mb 2048 --fencing none",
        )
        .map_err(|e| e.to_string())
        .expect("parses");
        let Command::Host(HostCommand::Add(a)) = cli.command else {
            panic!("not host add: {:?}", cli.command);
        };
        assert_eq!(a.name, "kvm-01");
        assert_eq!(a.driver, DriverArg::Libvirt);
        assert_eq!(a.uri.as_deref(), Some("qemu:///system"));
        assert_eq!(a.dir, None);
        let labels: Vec<(&str, &str)> = a
            .labels
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(labels, [("zone", "a"), ("note", "x=y"), ("empty", "")]);
        assert_eq!(a.cpu_ratio, Some(4.0));
        assert_eq!(a.ram_ratio, Some(1.5));
        assert_eq!(a.reserved_memory_mb, Some(2048));
        assert_eq!(a.fencing, Some(FencingArg::None));
        assert_eq!(FencingArg::None.fencing(), vsm_manager::Fencing::None);

        let cli = parse("host add h2 --driver local --dir rel/dir").expect("parses");
        let Command::Host(HostCommand::Add(a)) = cli.command else {
            panic!("not host add");
        };
        assert_eq!(a.dir.as_deref(), Some(camino::Utf8Path::new("rel/dir")));
        assert!(a.labels.is_empty() && a.fencing.is_none() && a.cpu_ratio.is_none());
    }

    #[test]
    fn host_add_refuses_bad_labels_and_missing_connections_as_usage_errors() {
        for (line, value) in [
            ("host add h --driver local --dir /d --label zone", "zone"),
            ("host add h --driver local --dir /d --label =a", "=a"),
        ] {
            let e = parse(line).expect_err(line);
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{line}");
            assert_eq!(crate::exit::Exit::from_clap(e.kind()).code(), 64);
            let text = e.to_string();
            assert!(text.contains("--label"), "{line}: {text}");
            assert!(text.contains(&format!("'{value}'")), "{line}: {text}");
        }
        for line in [
            "host add h --driver libvirt",
            "host add h --driver local",
            "host add h --driver libvirt --uri qemu:///system --dir /d",
            "host add h --driver local --dir /d --fencing sometimes",
        ] {
            let e = parse(line).expect_err(line);
            assert_eq!(crate::exit::Exit::from_clap(e.kind()).code(), 64, "{line}");
        }
    }

    #[test]
    fn passwords_come_from_one_place_only() {
        let r = Cli::try_parse_from([
            "vsm",
            "login",
            "--user",
            "u",
            "--password-file",
            "f",
            "--password-stdin",
        ]);
        assert!(r.is_err());
    }
}
