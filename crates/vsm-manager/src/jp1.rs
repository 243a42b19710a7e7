//! The manager's side of the JP1/IM integration: when `jp1.enabled` is set in `config.yaml`,
//! manager events (started/stopped, server failed, operation ended, login failed) become
//! [`vsm_jp1::VsmEvent`]s in a durable outbox under `<state>/jp1-outbox`, delivered in the
//! background through `jevsend` (when `jp1.jevsend` names it) or as log-file-trap lines.
//!
//! Enqueueing is the only thing an operation does: a JP1 outage never blocks or fails it.

use camino::Utf8Path;
use vsm_jp1::{Channel, EventConfig, JevsendConfig, Outbox, OutboxConfig, TrapLog, VsmEvent};

use crate::config::Jp1Settings;

/// The outbox directory inside the state dir.
pub const OUTBOX_DIR: &str = "jp1-outbox";

/// An open outbox and its delivery task.
#[derive(Debug)]
pub(crate) struct Jp1Sink {
    outbox: Outbox,
    task: tokio::task::JoinHandle<()>,
}

impl Jp1Sink {
    /// Opens the outbox when JP1 is enabled; a broken outbox is logged, never fatal.
    pub(crate) fn open(state_dir: &Utf8Path, settings: &Jp1Settings) -> Option<Jp1Sink> {
        if !settings.enabled {
            return None;
        }
        let channel = match &settings.jevsend {
            Some(program) => Channel::Jevsend(JevsendConfig {
                program: program.into(),
                ..JevsendConfig::default()
            }),
            None => {
                let trap = match &settings.logtrap_file {
                    Some(f) if Utf8Path::new(f).is_absolute() => TrapLog::at(Utf8Path::new(f)),
                    Some(f) => TrapLog::at(&state_dir.join(f)),
                    None => TrapLog::in_dir(&state_dir.join("logs")),
                };
                Channel::TrapLog(trap)
            }
        };
        match Outbox::open(
            &state_dir.join(OUTBOX_DIR),
            channel,
            EventConfig::default(),
            OutboxConfig::default(),
        ) {
            Ok(outbox) => {
                let runner = outbox.clone();
                let task = tokio::spawn(async move { runner.run_forever().await });
                Some(Jp1Sink { outbox, task })
            }
            Err(e) => {
                tracing::error!(error = %e, "the JP1 outbox cannot be opened; JP1 events are off");
                None
            }
        }
    }

    /// Queues one event durably (never blocks on JP1).
    pub(crate) fn send(&self, event: &VsmEvent) {
        if let Err(e) = self.outbox.enqueue(event) {
            tracing::error!(error = %e, kind = ?event.kind(), "a JP1 event could not be queued");
        }
    }

    /// Delivers what is queued now (used at shutdown and by tests).
    pub(crate) async fn drain(&self) {
        let _ = self.outbox.drain_once().await;
    }
}

impl Drop for Jp1Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::time::Duration;

    use camino::Utf8PathBuf;
    use vsm_core::{AccountName, UnitName};
    use vsm_hypervisor::Hypervisor;
    use vsm_hypervisor::fake::FakeHypervisor;

    use crate::api::*;
    use crate::config::PasswordCost;
    use crate::{DriverSet, InitOptions, Manager, ManagerConfig};

    const ROOT_PW: &str = "root-password-1";

    fn name<T: std::str::FromStr>(s: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        s.parse().expect("name")
    }

    /// The `jevsend` lines recorded by the stand-in script, one per call.
    fn calls(log: &Utf8PathBuf) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[tokio::test]
    async fn a_crashed_server_produces_exactly_one_failure_event() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8");
        // A stand-in jevsend that records its arguments.
        let log = root.join("jevsend.log");
        let script = root.join("jevsend");
        std::fs::write(&script, format!("#!/bin/sh\necho \"$*\" >> {log}\n")).expect("script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");

        let state = root.join("state");
        let mut init = InitOptions::new(state.clone(), name("root"), Password::new(ROOT_PW));
        init.password_cost = PasswordCost::Insecure;
        init.settings.jp1.enabled = true;
        init.settings.jp1.jevsend = Some(script.to_string());
        Manager::init(init).expect("init");
        let mut config = ManagerConfig::load(&state).expect("config");
        config.password_cost = PasswordCost::Insecure;
        config.monitor = false;
        let fake = Arc::new(FakeHypervisor::new());
        let manager = Manager::open(
            config,
            DriverSet::new().with(DriverKind::Local, fake.clone()),
        )
        .await
        .expect("open");
        let admin = manager
            .authenticate(&name::<AccountName>("root"), &Password::new(ROOT_PW))
            .await
            .expect("login");
        manager
            .register_template(
                &admin,
                RegisterTemplate {
                    name: name("tpl"),
                    driver: DriverKind::Local,
                    source: "image-1".into(),
                },
            )
            .await
            .expect("template");
        let unit: UnitName = name("shop");
        manager
            .create_unit_from_file(&admin, CreateUnitFromFile {
                name: unit.clone(),
                file_name: "shop.yaml".into(),
                unit_file: "format: 1\ngroups:\n  - name: web\n    template: tpl\n    count: 2\n    min: 1\n    max: 4\n    start_order: 1\n    recover: none\n".into(),
            })
            .await
            .expect("unit");
        let op = manager
            .start_unit(&admin, &unit, OpOptions::default())
            .await
            .expect("start");
        let rec = manager
            .wait(&admin, op, Duration::from_secs(30))
            .await
            .expect("wait");
        assert_eq!(rec.summary.state, OperationState::Succeeded, "{rec:?}");

        let machines = fake.list().await.expect("list");
        assert_eq!(machines.len(), 2);
        fake.crash(&machines[0].name).expect("crash");
        let failed = manager.monitor_once().await.expect("monitor");
        assert_eq!(failed.len(), 1, "{failed:?}");
        // A second pass sees the same failed server: no second event.
        let again = manager.monitor_once().await.expect("monitor");
        assert!(again.is_empty(), "{again:?}");
        manager.engine().drain_events().await;

        let lines = calls(&log);
        let failures: Vec<&String> = lines.iter().filter(|l| l.contains("7FFF8010")).collect();
        assert_eq!(
            failures.len(),
            1,
            "exactly one server-failed event: {lines:#?}"
        );
        let f = failures[0];
        for want in [
            "SEVERITY=Error",
            "OBJECT_NAME=",
            "ROOT_OBJECT_NAME=shop",
            "PRODUCT_NAME=",
        ] {
            assert!(f.contains(want), "{want} missing in {f}");
        }
        assert!(
            lines.iter().any(|l| l.contains("7FFF8001")),
            "manager started: {lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("7FFF8020")),
            "operation succeeded: {lines:#?}"
        );
        manager.shutdown(Duration::from_secs(2)).await;
        assert!(
            calls(&log).iter().any(|l| l.contains("7FFF8002")),
            "manager stopped"
        );
    }
}
