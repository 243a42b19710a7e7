//! The operation engine: runs plans of `vsm-core` against the injected drivers and the deploy
//! layer, journals every step, publishes progress, and reconciles after a crash.
//!
//! It never authorizes (the manager did) and never reads configuration files.

use camino::Utf8Path;
use vsm_core::model::Unit;
use vsm_core::{DefinitionVersion, GroupName, OperationId, ServerName, UnitName};

use crate::api::*;
use crate::error::{Error, Result};
use crate::manager::Manager;

/// A long operation's request, as the engine runs it.
#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read by the engine being written")]
pub(crate) enum Request {
    Start(Option<GroupName>),
    Stop(Option<GroupName>),
    Apply(ApplyRequest),
    Rollback,
    Scale(ScaleRequest),
    Upgrade(UpgradeRequest),
    Delete(DeleteUnitRequest),
    Attach(GroupName, AttachRequest),
    Detach(GroupName, ServerName),
    Recover(ServerName),
}

fn not_yet(what: &str) -> Error {
    Error::failed_msg(format!("{what} is not implemented yet in this build"))
}

pub(crate) async fn check_template_source(
    _m: &Manager,
    _driver: DriverKind,
    _source: &str,
) -> Result<()> {
    Ok(())
}

pub(crate) fn load_of(_m: &Manager, _unit: &UnitName, _server: &ServerName) -> Option<LoadView> {
    None
}

pub(crate) async fn import(
    _m: &Manager,
    _actor: &Actor,
    _unit: Unit,
    _dir: &Utf8Path,
) -> Result<ImportResult> {
    Err(not_yet("unit import"))
}

pub(crate) async fn export(
    _m: &Manager,
    _unit: Unit,
    _version: Option<DefinitionVersion>,
    _dest: &Utf8Path,
) -> Result<VersionInfo> {
    Err(not_yet("unit export"))
}

pub(crate) async fn diff(_m: &Manager, _unit: Unit, _dir: &Utf8Path) -> Result<DefinitionDiff> {
    Err(not_yet("unit diff"))
}

pub(crate) async fn launch(
    _m: &Manager,
    _actor: Option<Actor>,
    _unit: UnitName,
    kind: OperationKind,
    _id: OperationId,
    _request: Request,
) -> Result<()> {
    Err(not_yet(kind.as_str()))
}

pub(crate) async fn recover_interrupted(_m: &Manager) -> Result<()> {
    Ok(())
}

pub(crate) async fn server_logs(
    _m: &Manager,
    _unit: &Unit,
    _server: &ServerName,
    _tail: Option<usize>,
) -> Result<ServerLogs> {
    Err(not_yet("server logs"))
}

pub(crate) fn note_mark(
    _m: &Manager,
    _unit: &UnitName,
    _server: &ServerName,
    _mark: Option<vsm_core::model::FailureMark>,
) {
}

pub(crate) fn live_record(_m: &Manager, _id: OperationId) -> Option<OperationRecord> {
    None
}
