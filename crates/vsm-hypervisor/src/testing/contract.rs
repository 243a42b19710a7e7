//! The driver contract suite: behavioural tests written once and run against every driver
//! (local, fake, static over loopback SSH, libvirt on `test:///default`).
//!
//! Each entry point takes the driver as `Arc<dyn Hypervisor>` and a [`Fixture`] (how to make a
//! provisioning request, a machine-name prefix), panics on a broken contract, and destroys every
//! machine whose name starts with the fixture's prefix when it ends, also when it panics. Entry
//! points use distinct machine names, so they may run concurrently on one driver.
//!
//! ```text
//! let fx = Fixture::new(TemplateSource::new("/abs/template")?, "ct-local");
//! contract::run_all(driver.clone(), &fx, Some(&|| reopen_driver())).await;
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::driver::Hypervisor;
use crate::error::HypervisorError;
use crate::types::{MachineName, PowerState, ProvisionSpec, ShutdownOutcome, TemplateSource};

/// Builds the provisioning request for a machine name.
pub type SpecFn = Arc<dyn Fn(&MachineName) -> ProvisionSpec + Send + Sync>;

/// Opens a fresh driver instance on the same state (for [`reopen`]).
pub type ReopenFn<'a> = &'a (dyn Fn() -> Arc<dyn Hypervisor> + Send + Sync);

/// What the suite needs to know about the driver under test.
#[derive(Clone)]
#[non_exhaustive]
pub struct Fixture {
    /// The template source handed to `inspect_template` (and, by default, to `provision`).
    pub template: TemplateSource,
    /// Prefix of every machine name the suite makes (a valid machine name itself, ≤ 40 characters).
    pub prefix: String,
    /// Builds provisioning requests. Default: `ProvisionSpec::new(name, template, 1)` with a label
    /// `contract=yes`.
    pub spec: SpecFn,
    /// Time-out given to `shutdown`. Default 10 s.
    pub shutdown_timeout: Duration,
    /// How long to wait for a started machine to report `running`. Default 10 s.
    pub start_wait: Duration,
    /// Whether the driver must return console lines after a start. Default true; when false, an
    /// [`HypervisorError::Unsupported`] from `logs` is accepted too.
    pub expect_logs: bool,
    /// Whether the driver must report an address for a provisioned machine. Default true.
    pub expect_address: bool,
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("template", &self.template)
            .field("prefix", &self.prefix)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("start_wait", &self.start_wait)
            .field("expect_logs", &self.expect_logs)
            .field("expect_address", &self.expect_address)
            .finish_non_exhaustive()
    }
}

impl Fixture {
    /// A fixture with the defaults documented on each field.
    pub fn new(template: TemplateSource, prefix: impl Into<String>) -> Self {
        let t = template.clone();
        Fixture {
            template,
            prefix: prefix.into(),
            spec: Arc::new(move |name| {
                ProvisionSpec::new(name.clone(), t.clone(), 1).with_label("contract", "yes")
            }),
            shutdown_timeout: Duration::from_secs(10),
            start_wait: Duration::from_secs(10),
            expect_logs: true,
            expect_address: true,
        }
    }

    /// Replaces the request builder (e.g. the static driver sets `attach_address` and params).
    pub fn with_spec(
        mut self,
        spec: impl Fn(&MachineName) -> ProvisionSpec + Send + Sync + 'static,
    ) -> Self {
        self.spec = Arc::new(spec);
        self
    }

    /// Sets [`Fixture::shutdown_timeout`].
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets [`Fixture::start_wait`].
    pub fn with_start_wait(mut self, wait: Duration) -> Self {
        self.start_wait = wait;
        self
    }

    /// Sets [`Fixture::expect_logs`].
    pub fn with_expect_logs(mut self, on: bool) -> Self {
        self.expect_logs = on;
        self
    }

    /// Sets [`Fixture::expect_address`].
    pub fn with_expect_address(mut self, on: bool) -> Self {
        self.expect_address = on;
        self
    }

    /// The machine name `PREFIX-suffix`.
    pub fn name(&self, suffix: &str) -> MachineName {
        MachineName::new(format!("{}-{suffix}", self.prefix))
            .expect("the fixture prefix and suffix form a valid machine name")
    }

    fn spec_for(&self, name: &MachineName) -> ProvisionSpec {
        (self.spec)(name)
    }
}

/// Runs `body`, then destroys every machine named `PREFIX-…` (also when `body` panicked), then
/// re-raises the panic.
async fn guarded<F, Fut>(hv: Arc<dyn Hypervisor>, fx: &Fixture, body: F)
where
    F: FnOnce(Arc<dyn Hypervisor>, Fixture) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(body(Arc::clone(&hv), fx.clone())).await;
    clean_up(&*hv, &fx.prefix).await;
    if let Err(e) = outcome
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Destroys every machine of `hv` whose name starts with `PREFIX-` (errors are ignored).
pub async fn clean_up(hv: &dyn Hypervisor, prefix: &str) {
    let want = format!("{prefix}-");
    if let Ok(list) = hv.list().await {
        for m in list {
            if m.name.as_str().starts_with(&want) {
                let _ = hv.destroy(&m.name).await;
            }
        }
    }
}

/// Polls `state` until it is `want` or `wait` passed; returns the last state seen.
pub async fn wait_for_state(
    hv: &dyn Hypervisor,
    machine: &MachineName,
    want: PowerState,
    wait: Duration,
) -> PowerState {
    let deadline = Instant::now() + wait;
    loop {
        let st = hv.state(machine).await.expect("state of a known machine");
        if st == want || Instant::now() >= deadline {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every entry point in turn (`reopen` only when a re-open function is given).
pub async fn run_all(hv: Arc<dyn Hypervisor>, fx: &Fixture, reopen_fn: Option<ReopenFn<'_>>) {
    inspect_template(Arc::clone(&hv), fx).await;
    lifecycle(Arc::clone(&hv), fx).await;
    idempotence(Arc::clone(&hv), fx).await;
    unknown_machines(Arc::clone(&hv), fx).await;
    duplicate_provision(Arc::clone(&hv), fx).await;
    if let Some(f) = reopen_fn {
        reopen(hv, fx, f).await;
    }
}

/// `inspect_template` accepts the fixture's template and reports it back.
pub async fn inspect_template(hv: Arc<dyn Hypervisor>, fx: &Fixture) {
    let info = hv
        .inspect_template(&fx.template)
        .await
        .expect("inspect_template accepts the fixture's template");
    assert_eq!(info.source, fx.template);
    assert!(!info.fingerprint.is_empty(), "a template has a fingerprint");
}

/// provision → stopped → start → running → address → logs → info/list → shutdown → stopped →
/// destroy → not found.
pub async fn lifecycle(hv: Arc<dyn Hypervisor>, fx: &Fixture) {
    guarded(hv, fx, |hv, fx| async move {
        let m = fx.name("life");
        let spec = fx.spec_for(&m);
        let info = hv.provision(&spec).await.expect("provision");
        assert_eq!(info.name, m);
        assert_eq!(info.state, PowerState::Stopped, "a new machine is stopped");
        assert_eq!(hv.state(&m).await.expect("state"), PowerState::Stopped);

        hv.start(&m).await.expect("start");
        let st = wait_for_state(&*hv, &m, PowerState::Running, fx.start_wait).await;
        assert_eq!(st, PowerState::Running, "a started machine runs");

        let addr = hv.address(&m).await.expect("address");
        if fx.expect_address {
            assert!(addr.is_some(), "the machine has an address");
        }
        match hv.logs(&m, 50).await {
            Ok(lines) => {
                assert!(lines.len() <= 50, "logs returns at most the tail asked for");
                if fx.expect_logs {
                    assert!(!lines.is_empty(), "a started machine has console output");
                }
                let one = hv.logs(&m, 1).await.expect("logs tail 1");
                assert!(one.len() <= 1);
                if let (Some(last), Some(only)) = (lines.last(), one.first())
                    && lines.len() < 50
                {
                    // Both reads saw the same log unless a line arrived in between.
                    let again = hv.logs(&m, 50).await.expect("logs");
                    assert!(
                        last == only || again.contains(only),
                        "tail 1 is the newest line: {only:?} not in {again:?}"
                    );
                }
            }
            Err(HypervisorError::Unsupported { .. }) if !fx.expect_logs => {}
            Err(e) => panic!("logs failed: {e}"),
        }

        let info = hv.info(&m).await.expect("info");
        assert_eq!(info.state, PowerState::Running);
        assert_eq!(info.address, addr);
        let listed = hv.list().await.expect("list");
        let mine = listed
            .iter()
            .find(|i| i.name == m)
            .expect("list shows the machine");
        assert_eq!(mine.state, PowerState::Running);
        assert_eq!(mine.labels, spec.labels, "labels come back from list");
        assert_eq!(mine.generation, Some(spec.generation));
        assert!(
            listed.windows(2).all(|w| w[0].name < w[1].name),
            "list is sorted by name"
        );

        let out = hv
            .shutdown(&m, fx.shutdown_timeout)
            .await
            .expect("shutdown");
        assert!(
            matches!(out, ShutdownOutcome::Graceful | ShutdownOutcome::Forced),
            "shutting down a running machine stops it: {out:?}"
        );
        assert_eq!(hv.state(&m).await.expect("state"), PowerState::Stopped);

        hv.destroy(&m).await.expect("destroy");
        let err = hv.state(&m).await.expect_err("destroyed machine is gone");
        assert!(err.is_not_found(), "{err}");
        let listed = hv.list().await.expect("list");
        assert!(listed.iter().all(|i| i.name != m), "list forgets it");
    })
    .await;
}

/// Start of a running machine and shutdown of a stopped one succeed and change nothing; a running
/// machine can be destroyed; the name is free again afterwards.
pub async fn idempotence(hv: Arc<dyn Hypervisor>, fx: &Fixture) {
    guarded(hv, fx, |hv, fx| async move {
        let m = fx.name("idem");
        hv.provision(&fx.spec_for(&m)).await.expect("provision");
        let out = hv
            .shutdown(&m, fx.shutdown_timeout)
            .await
            .expect("shutdown of a stopped machine succeeds");
        assert_eq!(out, ShutdownOutcome::AlreadyStopped);
        hv.start(&m).await.expect("start");
        assert_eq!(
            wait_for_state(&*hv, &m, PowerState::Running, fx.start_wait).await,
            PowerState::Running
        );
        hv.start(&m)
            .await
            .expect("start of a running machine succeeds");
        assert_eq!(hv.state(&m).await.expect("state"), PowerState::Running);
        hv.shutdown(&m, fx.shutdown_timeout)
            .await
            .expect("shutdown");
        let again = hv
            .shutdown(&m, fx.shutdown_timeout)
            .await
            .expect("second shutdown succeeds");
        assert_eq!(again, ShutdownOutcome::AlreadyStopped);
        assert_eq!(hv.state(&m).await.expect("state"), PowerState::Stopped);

        // Destroying a running machine powers it off first.
        hv.start(&m).await.expect("start again");
        assert_eq!(
            wait_for_state(&*hv, &m, PowerState::Running, fx.start_wait).await,
            PowerState::Running
        );
        hv.destroy(&m).await.expect("destroy a running machine");
        assert!(hv.state(&m).await.expect_err("gone").is_not_found());
        // The name can be used again.
        hv.provision(&fx.spec_for(&m))
            .await
            .expect("provision the same name again");
        hv.destroy(&m).await.expect("destroy");
    })
    .await;
}

/// Every method naming an unknown machine fails with `NotFound`.
pub async fn unknown_machines(hv: Arc<dyn Hypervisor>, fx: &Fixture) {
    guarded(hv, fx, |hv, fx| async move {
        let m = fx.name("nobody");
        let check = |what: &str, e: HypervisorError| {
            assert!(e.is_not_found(), "{what} of an unknown machine: {e}");
            assert_eq!(e.machine(), Some(&m), "{what}: the error names the machine");
        };
        check("start", hv.start(&m).await.expect_err("start"));
        check(
            "shutdown",
            hv.shutdown(&m, Duration::from_secs(1))
                .await
                .expect_err("shutdown"),
        );
        check("destroy", hv.destroy(&m).await.expect_err("destroy"));
        check("state", hv.state(&m).await.expect_err("state"));
        check("info", hv.info(&m).await.expect_err("info"));
        check("address", hv.address(&m).await.expect_err("address"));
        match hv.logs(&m, 10).await {
            Err(HypervisorError::Unsupported { .. }) if !fx.expect_logs => {}
            other => check("logs", other.expect_err("logs")),
        }
        match hv.load(&m).await {
            Err(HypervisorError::Unsupported { .. }) => {}
            other => check("load", other.expect_err("load")),
        }
        assert!(
            hv.local_root(&m).is_none(),
            "no root for an unknown machine"
        );
    })
    .await;
}

/// Provisioning an existing name fails with `AlreadyExists` and leaves the machine alone.
pub async fn duplicate_provision(hv: Arc<dyn Hypervisor>, fx: &Fixture) {
    guarded(hv, fx, |hv, fx| async move {
        let m = fx.name("dup");
        hv.provision(&fx.spec_for(&m)).await.expect("provision");
        hv.start(&m).await.expect("start");
        let err = hv
            .provision(&fx.spec_for(&m))
            .await
            .expect_err("second provision fails");
        assert!(
            matches!(err, HypervisorError::AlreadyExists { .. }),
            "duplicate provision: {err}"
        );
        assert_eq!(
            wait_for_state(&*hv, &m, PowerState::Running, fx.start_wait).await,
            PowerState::Running,
            "the existing machine is untouched"
        );
        hv.destroy(&m).await.expect("destroy");
    })
    .await;
}

/// A fresh driver instance (from `reopen_fn`, called once the old instance has provisioned two
/// machines and started one) lists them with their state, template generation and labels, and
/// can stop and destroy them.
pub async fn reopen(hv: Arc<dyn Hypervisor>, fx: &Fixture, reopen_fn: ReopenFn<'_>) {
    let up = fx.name("reopen-up");
    let down = fx.name("reopen-down");
    let setup = {
        let (hv, fx, up, down) = (Arc::clone(&hv), fx.clone(), up.clone(), down.clone());
        tokio::spawn(async move {
            hv.provision(&fx.spec_for(&up).with_label("role", "up"))
                .await
                .expect("provision up");
            hv.provision(&fx.spec_for(&down))
                .await
                .expect("provision down");
            hv.start(&up).await.expect("start up");
            assert_eq!(
                wait_for_state(&*hv, &up, PowerState::Running, fx.start_wait).await,
                PowerState::Running
            );
        })
        .await
    };
    if let Err(e) = setup {
        clean_up(&*hv, &fx.prefix).await;
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("contract set-up did not finish: {e}");
    }
    let fresh = reopen_fn();
    guarded(fresh, fx, move |fresh, fx| async move {
        let listed = fresh.list().await.expect("list on the fresh instance");
        let got_up = listed
            .iter()
            .find(|i| i.name == up)
            .expect("the running machine is re-discovered");
        let got_down = listed
            .iter()
            .find(|i| i.name == down)
            .expect("the stopped machine is re-discovered");
        assert_eq!(got_up.state, PowerState::Running);
        assert_eq!(got_down.state, PowerState::Stopped);
        assert_eq!(got_up.labels.get("role").map(String::as_str), Some("up"));
        assert_eq!(got_up.generation, Some(1));
        assert_eq!(fresh.state(&up).await.expect("state"), PowerState::Running);
        fresh
            .shutdown(&up, fx.shutdown_timeout)
            .await
            .expect("the fresh instance stops what the old one started");
        assert_eq!(fresh.state(&up).await.expect("state"), PowerState::Stopped);
        fresh.destroy(&up).await.expect("destroy up");
        fresh.destroy(&down).await.expect("destroy down");
        assert!(fresh.state(&up).await.expect_err("gone").is_not_found());
    })
    .await;
}
