//! A manager host for the crash-safety test (`tests/it/crash.rs`), which SIGKILLs it mid-operation.
//!
//! `crash_host STATE_DIR setup`: initialises a manager in `STATE_DIR` with a local-driver template
//! (`boot: [sleep, "1000"]`) and a unit `crash` of two groups (3 + 3 servers), then exits.
//! `crash_host STATE_DIR start`: opens the manager and starts the unit, waiting for the end.
//! Not an embedding example: it exists to be killed.

use std::sync::Arc;
use std::time::Duration;

use camino::Utf8PathBuf;
use vsm_hypervisor::local::{LocalDriver, LocalOptions};
use vsm_manager::{
    CreateUnitFromFile, DriverKind, DriverSet, InitOptions, Manager, ManagerConfig, OpOptions,
    Password, PasswordCost, RegisterTemplate,
};

type Error = Box<dyn std::error::Error>;

/// The administrator's password.
pub const PASSWORD: &str = "crash-host-pw-1";

/// The unit file: two groups in start order.
pub const UNIT: &str = "format: 1
groups:
  - name: db
    template: sleeper
    count: 3
    min: 1
    max: 6
    start_order: 1
  - name: web
    template: sleeper
    count: 3
    min: 1
    max: 6
    start_order: 2
";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, state, mode] = args.as_slice() else {
        return Err("usage: crash_host STATE_DIR setup|start".into());
    };
    let state = Utf8PathBuf::from(state);
    if mode == "setup" {
        let mut init = InitOptions::new(state.clone(), "admin".parse()?, Password::new(PASSWORD));
        init.password_cost = PasswordCost::Insecure;
        Manager::init(init)?;
        let template = state.join("template-sleeper");
        std::fs::create_dir_all(&template)?;
        std::fs::write(
            template.join("template.yaml"),
            "format: 1\nboot: [sleep, \"1000\"]\n",
        )?;
    }
    let local = Arc::new(LocalDriver::open(
        state.join("local"),
        LocalOptions::default(),
    )?);
    let mut config = ManagerConfig::load(&state)?;
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    let manager = Manager::open(config, DriverSet::new().with(DriverKind::Local, local)).await?;
    let me = manager
        .authenticate(&"admin".parse()?, &Password::new(PASSWORD))
        .await?;
    match mode.as_str() {
        "setup" => {
            manager
                .register_template(
                    &me,
                    RegisterTemplate {
                        name: "sleeper".parse()?,
                        driver: DriverKind::Local,
                        source: state.join("template-sleeper").to_string(),
                    },
                )
                .await?;
            manager
                .create_unit_from_file(
                    &me,
                    CreateUnitFromFile {
                        name: "crash".parse()?,
                        file_name: "crash.yaml".into(),
                        unit_file: UNIT.into(),
                    },
                )
                .await?;
        }
        "start" => {
            let id = manager
                .start_unit(&me, &"crash".parse()?, OpOptions::default())
                .await?;
            println!("operation {id}");
            let rec = manager.wait(&me, id, Duration::from_secs(120)).await?;
            println!("start: {}", rec.summary.state);
        }
        other => return Err(format!("unknown mode `{other}`: setup or start").into()),
    }
    manager.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
