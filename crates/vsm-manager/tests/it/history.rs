//! What the store keeps of past operations: step journals older than `history.journal_days`
//! are purged (at open, then at most hourly as operations end); the operation records stay.

use rusqlite::Connection;
use vsm_core::OperationId;
use vsm_manager::*;

use crate::support::{Env, TWO_GROUPS};

/// The state database, opened beside the manager (which has been shut down).
fn db(env: &Env) -> Connection {
    Connection::open(env.root.join("state").join(DB_FILE)).expect("open the store")
}

/// Journal rows per operation.
fn journal_rows(env: &Env, ops: &[OperationId]) -> Vec<i64> {
    let db = db(env);
    ops.iter()
        .map(|id| {
            db.query_row(
                "SELECT count(*) FROM journal WHERE operation = ?1",
                [id.0 as i64],
                |r| r.get(0),
            )
            .expect("count")
        })
        .collect()
}

/// Moves an operation's creation `days` into the past.
fn age(env: &Env, id: OperationId, days: i64) {
    let n = db(env)
        .execute(
            "UPDATE operations SET created_at = created_at - ?2 WHERE id = ?1",
            [id.0 as i64, days * 86_400_000],
        )
        .expect("age");
    assert_eq!(n, 1, "operation {id} is in the store");
}

#[tokio::test]
async fn old_step_journals_are_purged_and_the_operation_records_stay() {
    let env = Env::new().await;
    let unit = env.unit(TWO_GROUPS).await;
    let apply = env
        .manager
        .apply(&env.bob, &unit, ApplyRequest::default())
        .await
        .expect("apply");
    assert_eq!(
        env.finish(apply).await.summary.state,
        OperationState::Succeeded
    );
    let start = env
        .manager
        .start_unit(&env.bob, &unit, OpOptions::default())
        .await
        .expect("start");
    assert_eq!(
        env.finish(start).await.summary.state,
        OperationState::Succeeded
    );

    // 0 keeps every journal, however old.
    let env = env.reopen(|c| c.settings.history.journal_days = 0).await;
    env.manager
        .shutdown(std::time::Duration::from_secs(5))
        .await;
    let before = journal_rows(&env, &[apply, start]);
    assert!(before.iter().all(|n| *n > 0), "{before:?}");
    age(&env, apply, 100);
    let env = env.reopen(|c| c.settings.history.journal_days = 0).await;
    env.manager
        .shutdown(std::time::Duration::from_secs(5))
        .await;
    assert_eq!(journal_rows(&env, &[apply, start]), before);

    // The default (90 days): the 100-day-old apply loses its journal at open, the start keeps
    // its own, and both records (state, per-server results) stay.
    let env = env.reopen(|_| {}).await;
    let old = env
        .manager
        .show_operation(&env.admin, apply)
        .await
        .expect("old record");
    assert_eq!(old.summary.state, OperationState::Succeeded);
    assert_eq!(old.servers.len(), 4, "{old:?}");
    env.manager
        .shutdown(std::time::Duration::from_secs(5))
        .await;
    assert_eq!(journal_rows(&env, &[apply, start]), vec![0, before[1]]);
}
