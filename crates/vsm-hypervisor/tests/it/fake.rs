//! The contract suite and fault injection against the in-memory `FakeHypervisor`.

use std::sync::Arc;
use std::time::Duration;

use vsm_hypervisor::fake::{FakeHypervisor, Fault};
use vsm_hypervisor::testing::contract::{self, Fixture};
use vsm_hypervisor::{
    Hypervisor, MachineName, Operation, PowerState, ProvisionSpec, TemplateSource,
};

fn fixture() -> Fixture {
    Fixture::new(
        TemplateSource::new("fake-template").expect("source"),
        "ct-fake",
    )
}

#[tokio::test]
async fn contract_suite() {
    let fake = Arc::new(FakeHypervisor::new());
    let hv: Arc<dyn Hypervisor> = fake.clone();
    let reopen = move || -> Arc<dyn Hypervisor> { Arc::new(fake.reopen()) };
    contract::run_all(hv, &fixture(), Some(&reopen)).await;
}

#[tokio::test]
async fn contract_suite_with_latency() {
    let fake = Arc::new(FakeHypervisor::new());
    fake.set_latency_all(Duration::from_millis(1));
    contract::lifecycle(fake, &fixture()).await;
}

#[tokio::test]
async fn suite_cleans_up_after_a_failure() {
    let fake = Arc::new(FakeHypervisor::new());
    // The lifecycle's shutdown fails permanently: the suite panics, but destroys what it made.
    fake.fail_next(Operation::Shutdown, 1, Fault::Permanent);
    let hv: Arc<dyn Hypervisor> = fake.clone();
    let run = tokio::spawn(async move { contract::lifecycle(hv, &fixture()).await }).await;
    assert!(run.is_err(), "the suite notices the failure");
    assert_eq!(fake.machine_count(), 0, "and leaves nothing behind");
}

#[tokio::test]
async fn hang_is_caught_by_a_caller_time_out() {
    let fake = FakeHypervisor::new();
    let m = MachineName::new("h").expect("name");
    fake.provision(&ProvisionSpec::new(
        m.clone(),
        TemplateSource::new("t").expect("t"),
        1,
    ))
    .await
    .expect("provision");
    fake.fail_machine(&m, Some(Operation::Shutdown), Fault::Hang);
    fake.start(&m).await.expect("start");
    let r =
        tokio::time::timeout(Duration::from_millis(30), fake.shutdown(&m, Duration::ZERO)).await;
    assert!(r.is_err(), "the shutdown hangs");
    assert_eq!(fake.state(&m).await.expect("state"), PowerState::Running);
    let calls = fake.calls_of(Operation::Shutdown);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].machine.as_ref(), Some(&m));
}

#[tokio::test]
async fn ten_thousand_machines() {
    let fake = FakeHypervisor::new();
    fake.record_calls(false);
    let t = TemplateSource::new("t").expect("t");
    let started = std::time::Instant::now();
    for i in 0..10_000 {
        let m = MachineName::new(format!("m{i}")).expect("name");
        fake.provision(&ProvisionSpec::new(m.clone(), t.clone(), 1))
            .await
            .expect("provision");
        fake.start(&m).await.expect("start");
    }
    let list = fake.list().await.expect("list");
    eprintln!(
        "fake: 10,000 machines provisioned, started and listed in {:?}",
        started.elapsed()
    );
    assert_eq!(list.len(), 10_000);
    assert!(list.iter().all(|m| m.state == PowerState::Running));
    let addrs: std::collections::HashSet<_> = list.iter().map(|m| m.address).collect();
    assert_eq!(addrs.len(), 10_000, "addresses are unique");
}
