//! Operations: the long ones (start, stop, apply, scale, …), each authorized, audited and handed
//! to the engine, which returns at once; and following them (list, show, cancel, subscribe,
//! wait).

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::broadcast;
use vsm_core::{AccountName, Action, GroupName, OperationId, ServerName, UnitName};

use super::Manager;
use crate::api::*;
use crate::engine;
use crate::error::{Entity, Error, Result};

impl Manager {
    /// `vsm unit apply`: batch apply or rolling roll-out. Returns at once; follow the
    /// operation with [`Manager::wait`] or [`Manager::subscribe`].
    pub async fn apply(
        &self,
        actor: &Actor,
        unit: &UnitName,
        req: ApplyRequest,
    ) -> Result<OperationId> {
        let wait = req.wait_secs;
        self.begin(
            actor,
            unit,
            Action::UnitApply,
            OperationKind::Apply,
            wait,
            engine::Request::Apply(req),
        )
        .await
    }

    /// `vsm unit rollback`: re-apply the version before the current one.
    pub async fn rollback(
        &self,
        actor: &Actor,
        unit: &UnitName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::UnitRollback,
            OperationKind::Rollback,
            opts.wait_secs,
            engine::Request::Rollback,
        )
        .await
    }

    /// `vsm unit start`: every group in start order, each after the previous is healthy.
    pub async fn start_unit(
        &self,
        actor: &Actor,
        unit: &UnitName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::UnitStart,
            OperationKind::UnitStart,
            opts.wait_secs,
            engine::Request::Start(None),
        )
        .await
    }

    /// `vsm unit stop`: every group in reverse start order.
    pub async fn stop_unit(
        &self,
        actor: &Actor,
        unit: &UnitName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::UnitStop,
            OperationKind::UnitStop,
            opts.wait_secs,
            engine::Request::Stop(None),
        )
        .await
    }

    /// `vsm group start`.
    pub async fn start_group(
        &self,
        actor: &Actor,
        unit: &UnitName,
        group: &GroupName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::GroupStart,
            OperationKind::GroupStart,
            opts.wait_secs,
            engine::Request::Start(Some(group.clone())),
        )
        .await
    }

    /// `vsm group stop`.
    pub async fn stop_group(
        &self,
        actor: &Actor,
        unit: &UnitName,
        group: &GroupName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::GroupStop,
            OperationKind::GroupStop,
            opts.wait_secs,
            engine::Request::Stop(Some(group.clone())),
        )
        .await
    }

    /// `vsm unit scale`.
    pub async fn scale(
        &self,
        actor: &Actor,
        unit: &UnitName,
        req: ScaleRequest,
    ) -> Result<OperationId> {
        let wait = req.wait_secs;
        self.begin(
            actor,
            unit,
            Action::UnitScale,
            OperationKind::Scale,
            wait,
            engine::Request::Scale(req),
        )
        .await
    }

    /// `vsm unit upgrade`.
    pub async fn upgrade(
        &self,
        actor: &Actor,
        unit: &UnitName,
        req: UpgradeRequest,
    ) -> Result<OperationId> {
        let wait = req.wait_secs;
        self.begin(
            actor,
            unit,
            Action::UnitUpgrade,
            OperationKind::Upgrade,
            wait,
            engine::Request::Upgrade(req),
        )
        .await
    }

    /// `vsm unit delete`: stop and destroy its servers, then remove it (the audit log keeps a
    /// record). Without `force`, refused while servers run.
    pub async fn delete_unit(
        &self,
        actor: &Actor,
        unit: &UnitName,
        req: DeleteUnitRequest,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::UnitDelete,
            OperationKind::UnitDelete,
            req.wait_secs,
            engine::Request::Delete(req),
        )
        .await
    }

    /// `vsm group attach` (registered groups).
    pub async fn attach(
        &self,
        actor: &Actor,
        unit: &UnitName,
        group: &GroupName,
        req: AttachRequest,
    ) -> Result<OperationId> {
        let wait = req.wait_secs;
        self.begin(
            actor,
            unit,
            Action::GroupAttach,
            OperationKind::Attach,
            wait,
            engine::Request::Attach(group.clone(), req),
        )
        .await
    }

    /// `vsm group detach` (registered groups; the machine itself is untouched).
    pub async fn detach(
        &self,
        actor: &Actor,
        unit: &UnitName,
        group: &GroupName,
        server: &ServerName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::GroupDetach,
            OperationKind::Detach,
            opts.wait_secs,
            engine::Request::Detach(group.clone(), server.clone()),
        )
        .await
    }

    /// `vsm server recover`: restart, or re-create and re-apply, per the group's policy
    /// (restart when the policy is `none`).
    pub async fn recover_server(
        &self,
        actor: &Actor,
        unit: &UnitName,
        server: &ServerName,
        opts: OpOptions,
    ) -> Result<OperationId> {
        self.begin(
            actor,
            unit,
            Action::ServerRecover,
            OperationKind::Recover,
            opts.wait_secs,
            engine::Request::Recover(server.clone()),
        )
        .await
    }

    async fn begin(
        &self,
        actor: &Actor,
        unit: &UnitName,
        action: Action,
        kind: OperationKind,
        wait_secs: Option<u64>,
        request: engine::Request,
    ) -> Result<OperationId> {
        self.check_running()?;
        self.unit_for(actor, action, unit).await?;
        let res = engine::start(
            self.engine(),
            Some(actor.clone()),
            unit,
            kind,
            request,
            wait_secs.map(Duration::from_secs),
        )
        .await;
        let _ = self
            .write(vec![Self::audit_entry(
                Some(actor),
                action.as_str(),
                unit,
                match &res {
                    Ok(id) => format!("operation {id}"),
                    Err(e) => format!("refused: {e}"),
                },
            )])
            .await;
        res
    }

    /// The operation holding `unit`, if any.
    pub fn busy_op(&self, unit: &UnitName) -> Option<OperationId> {
        self.engine().ops.busy_op(unit)
    }

    /// Runs one monitor pass now (also runs at the configured interval when enabled);
    /// returns the servers it found failed.
    pub async fn monitor_once(&self) -> Result<Vec<(UnitName, ServerName)>> {
        engine::check_once(self.engine()).await
    }

    // ------------------------------------------------------------------ following operations

    async fn op_owner_check(
        &self,
        actor: &Actor,
        action: Action,
        record: &OperationRecord,
    ) -> Result<()> {
        let owner = match &record.summary.unit {
            Some(u) => {
                let n = u.clone();
                self.db(move |s| s.unit(&n)).await?.map(|u| u.owner)
            }
            None => None,
        };
        let owner = owner.or_else(|| record.summary.requested_by.clone());
        self.authorize(
            actor,
            action,
            owner.as_ref(),
            &record.summary.id.to_string(),
        )
        .await
    }

    /// `vsm op list`: operations the caller may see, newest first (at most 200).
    pub async fn list_operations(
        &self,
        actor: &Actor,
        unit: Option<&UnitName>,
    ) -> Result<Vec<OperationSummary>> {
        if let Some(u) = unit {
            self.unit_for(actor, Action::UnitShow, u).await?;
        }
        let u = unit.cloned();
        let (ops, units) = self
            .db(move |s| Ok((s.operations(u.as_ref(), 200)?, s.units()?)))
            .await?;
        let owners: HashMap<UnitName, AccountName> =
            units.into_iter().map(|u| (u.name, u.owner)).collect();
        Ok(ops
            .into_iter()
            .filter(|o| {
                actor.is_admin()
                    || o.unit
                        .as_ref()
                        .and_then(|u| owners.get(u))
                        .map(|owner| *owner == actor.account)
                        .unwrap_or_else(|| o.requested_by.as_ref() == Some(&actor.account))
            })
            .collect())
    }

    /// `vsm op show`.
    pub async fn show_operation(&self, actor: &Actor, id: OperationId) -> Result<OperationRecord> {
        let record = self.operation_record(id).await?;
        self.op_owner_check(actor, Action::OpShow, &record).await?;
        Ok(record)
    }

    pub(crate) async fn operation_record(&self, id: OperationId) -> Result<OperationRecord> {
        if let Some(r) = self.engine().ops.record(id) {
            return Ok(r);
        }
        self.db(move |s| s.operation(id))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Operation, id))
    }

    /// `vsm op cancel`: asks a running operation to stop; steps running now finish or time
    /// out, nothing new starts. Cancelling a finished operation is a no-op.
    pub async fn cancel_operation(
        &self,
        actor: &Actor,
        id: OperationId,
    ) -> Result<OperationRecord> {
        let record = self.operation_record(id).await?;
        self.op_owner_check(actor, Action::OpCancel, &record)
            .await?;
        if let Some((cancel, _)) = self.engine().ops.handles(id) {
            cancel.cancel();
            let _ = self
                .write(vec![Self::audit_entry(Some(actor), "op cancel", id, "ok")])
                .await;
        }
        self.operation_record(id).await
    }

    /// Progress events of an operation from now on (the last event is `finished`). For an
    /// operation that already ended the receiver yields nothing; check
    /// [`Manager::show_operation`] first or use [`Manager::wait`].
    pub async fn subscribe(
        &self,
        actor: &Actor,
        id: OperationId,
    ) -> Result<broadcast::Receiver<ProgressEvent>> {
        let record = self.operation_record(id).await?;
        self.op_owner_check(actor, Action::OpShow, &record).await?;
        Ok(match self.engine().ops.handles(id) {
            Some((_, tx)) => tx.subscribe(),
            None => broadcast::channel(1).1,
        })
    }

    /// Waits up to `timeout` for an operation to end and returns its record (still
    /// `running` when the time ran out).
    pub async fn wait(
        &self,
        actor: &Actor,
        id: OperationId,
        timeout: Duration,
    ) -> Result<OperationRecord> {
        let record = self.operation_record(id).await?;
        self.op_owner_check(actor, Action::OpShow, &record).await?;
        let done = self.engine().ops.done(id);
        if let Some(mut done) = done {
            let _ = tokio::time::timeout(timeout, done.wait_for(|d| *d)).await;
        }
        self.operation_record(id).await
    }
}
