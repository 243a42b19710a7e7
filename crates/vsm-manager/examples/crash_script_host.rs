//! A manager host for the scripted crash test (`tests/it/crash_script.rs`), which SIGKILLs it at
//! a random moment and checks what the next manager finds.
//!
//! `crash_script_host STATE_DIR MACHINES_DIR SEED`: opens the (already initialised) manager on
//! a file-backed driver whose machines survive the process, then runs the script of `SEED`
//! (starts, stops, applies, scales, group starts/stops, upgrades, imports) step after step
//! until it is killed, printing `begin STEP` before each step, `op ID STEP` once an operation is launched and `done ID STATE`
//! when it ended. Not an embedding example: it exists to be killed.

#[path = "../tests/it/crash_ops.rs"]
#[allow(dead_code, reason = "shared with the test, which uses other parts")]
mod crash_ops;
#[path = "../tests/it/file_driver.rs"]
#[allow(dead_code, reason = "shared with the test, which uses other parts")]
mod file_driver;

use std::sync::Arc;
use std::time::Duration;

use camino::Utf8PathBuf;
use vsm_manager::{DriverKind, DriverSet, Manager, ManagerConfig, Password, PasswordCost};

use crash_ops::{BUILDER, BUILDER_PW, CrashOp, name};
use file_driver::FileHypervisor;

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, state, machines, seed] = args.as_slice() else {
        return Err("usage: crash_script_host STATE_DIR MACHINES_DIR SEED".into());
    };
    let state = Utf8PathBuf::from(state);
    let seed: u64 = seed.parse()?;
    let driver = Arc::new(FileHypervisor::open(
        &Utf8PathBuf::from(machines),
        Duration::from_millis(2),
    )?);
    let mut config = ManagerConfig::load(&state)?;
    config.password_cost = PasswordCost::Insecure;
    config.monitor = false;
    let manager = Manager::open(config, DriverSet::new().with(DriverKind::Local, driver)).await?;
    println!("ready");
    let me = manager
        .authenticate(&name(BUILDER), &Password::new(BUILDER_PW))
        .await?;
    let unit = name("shop");
    let scratch = state.join("scratch");
    for n in 0.. {
        let step = CrashOp::pick(seed, n);
        println!("begin {step}");
        match step.launch(&manager, &me, &unit, &scratch).await {
            Ok(Some(id)) => {
                println!("op {id} {step}");
                let rec = manager.wait(&me, id, Duration::from_secs(60)).await?;
                println!("done {id} {}", rec.summary.state);
            }
            Ok(None) => println!("did {step}"),
            // Refusals (a scale to the count it has, …) are fine: the script goes on.
            Err(e) => println!("refused {step}: {e}"),
        }
    }
    Ok(())
}
