//! The journal writer: one thread that writes every queued batch of [`Change`]s in one
//! transaction (group commit), in the order they were queued. A step's start is durable before
//! its driver call ([`Writer::commit`]); its result is queued behind it ([`Writer::submit`]) and
//! waited for when the phase ends ([`Pending::wait`]).

use std::sync::Arc;

use tokio::sync::oneshot;
use vsm_core::{ServerName, UnitName};

use crate::error::{Error, Result, error_chain};
use crate::store::{Change, Store};

type Reply = oneshot::Sender<std::result::Result<(), String>>;

/// Group commit: every pending batch of changes goes into one transaction.
pub(crate) struct Writer {
    tx: std::sync::mpsc::Sender<(Vec<Change>, Reply)>,
}

impl Writer {
    pub(crate) fn spawn(store: Arc<dyn Store>) -> Writer {
        let (tx, rx) = std::sync::mpsc::channel::<(Vec<Change>, Reply)>();
        std::thread::Builder::new()
            .name("vsm-journal".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < 1024 {
                        match rx.try_recv() {
                            Ok(more) => batch.push(more),
                            Err(_) => break,
                        }
                    }
                    let all: Vec<Change> = batch
                        .iter_mut()
                        .flat_map(|(c, _)| std::mem::take(c))
                        .collect();
                    let res = store.write(&coalesce(all)).map_err(|e| error_chain(&e));
                    for (_, reply) in batch {
                        let _ = reply.send(res.clone());
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the journal writer"));
        Writer { tx }
    }

    pub(crate) async fn commit(&self, changes: Vec<Change>) -> Result<()> {
        self.submit(changes)?.wait().await
    }

    /// Queues `changes` behind everything queued before (one writer: the order on disk is the
    /// order of submission) without waiting for them to be durable.
    pub(crate) fn submit(&self, changes: Vec<Change>) -> Result<Pending> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((changes, reply))
            .map_err(|_| Error::failed_msg("the journal writer stopped"))?;
        Ok(Pending(rx))
    }
}

/// Drops the row writes of a batch that a later write of the same row in the same batch
/// replaces whole: a unit's own row (every provision moves its group's name counter) and a
/// server's row. The batch is one transaction, so the outcome is the same with fewer writes.
pub(crate) fn coalesce(changes: Vec<Change>) -> Vec<Change> {
    use std::collections::HashSet;
    let mut units: HashSet<UnitName> = HashSet::new();
    let mut servers: HashSet<(UnitName, ServerName)> = HashSet::new();
    let mut keep = vec![true; changes.len()];
    for (i, c) in changes.iter().enumerate().rev() {
        match c {
            Change::PutUnitMeta(u) => keep[i] = units.insert(u.name.clone()),
            Change::PutServer { unit, server, .. } => {
                keep[i] = servers.insert((unit.clone(), server.name.clone()))
            }
            _ => {}
        }
    }
    changes
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect()
}

/// Changes queued for the journal writer; [`Pending::wait`] returns once they are durable.
pub(crate) struct Pending(oneshot::Receiver<std::result::Result<(), String>>);

impl Pending {
    /// Waits until the changes are written (or the write failed).
    pub(crate) async fn wait(self) -> Result<()> {
        self.0
            .await
            .map_err(|_| Error::failed_msg("the journal writer stopped"))?
            .map_err(|e| Error::failed_msg(format!("cannot write the journal: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsm_core::model::{Origin, Server, Unit};
    use vsm_core::{AccountName, GroupName, OperationId, Timestamp};

    fn unit(name: &str, busy: u64) -> Change {
        Change::PutUnitMeta(Unit {
            name: UnitName::new(name).expect("unit"),
            owner: AccountName::new("alice").expect("owner"),
            created: Timestamp::EPOCH,
            groups: Vec::new(),
            definitions: Vec::new(),
            current: None,
            busy: Some(OperationId(busy)),
            tolerate_host_failures: 0,
        })
    }

    fn server(unit: &str, name: &str, seq: u32) -> Change {
        Change::PutServer {
            unit: UnitName::new(unit).expect("unit"),
            group: GroupName::new("web").expect("group"),
            server: Server::new(
                ServerName::new(name).expect("server"),
                Origin::Registered,
                seq,
                Timestamp::EPOCH,
            ),
        }
    }

    fn delete(unit: &str, name: &str) -> Change {
        Change::DeleteServer {
            unit: UnitName::new(unit).expect("unit"),
            server: ServerName::new(name).expect("server"),
        }
    }

    /// What a change writes, for comparing batches.
    fn key(c: &Change) -> String {
        match c {
            Change::PutUnitMeta(u) => format!("unit {} {:?}", u.name, u.busy),
            Change::PutServer { unit, server, .. } => {
                format!("server {unit}/{} {}", server.name, server.seq)
            }
            Change::DeleteServer { unit, server } => format!("delete {unit}/{server}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn coalescing_keeps_the_last_write_of_each_row_and_the_order_of_the_rest() {
        let batch = vec![
            unit("shop", 1),
            server("shop", "web-001", 1),
            server("shop", "web-002", 2),
            unit("blog", 9),
            server("shop", "web-001", 3),
            unit("shop", 2),
            // A server deleted after a write keeps both (the delete is the last word).
            server("shop", "web-003", 4),
            delete("shop", "web-003"),
            // The same server name in another unit is another row.
            server("blog", "web-001", 5),
        ];
        let kept: Vec<String> = coalesce(batch).iter().map(key).collect();
        assert_eq!(
            kept,
            vec![
                "server shop/web-002 2",
                "unit blog Some(OperationId(9))",
                "server shop/web-001 3",
                "unit shop Some(OperationId(2))",
                "server shop/web-003 4",
                "delete shop/web-003",
                "server blog/web-001 5",
            ]
        );
    }
}
