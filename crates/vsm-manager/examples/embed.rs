//! Embedding vsm: a whole builder flow through the `vsm-manager` library, no HTTP, no CLI.
//!
//! It opens a manager on a temporary state directory with the embedded `local` driver,
//! registers the example template, creates the example unit, imports and applies the example
//! definition directory, starts the unit while printing its progress events, reads the
//! servers' state and addresses, proves each server answers its health URL, stops the unit and
//! cleans up.
//!
//! ```sh
//! cargo build -p vsm-hypervisor --bins        # the example template's server program
//! cargo run -p vsm-manager --example embed
//! ```
#![allow(
    clippy::unwrap_used,
    reason = "an example: failures end it with a message"
)]

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use vsm_hypervisor::local::{LocalDriver, LocalOptions};
use vsm_manager::{
    ApplyRequest, CreateUnitFromFile, DriverKind, DriverSet, InitOptions, Manager, ManagerConfig,
    OpOptions, OperationState, Password, ProgressKind, RegisterTemplate,
};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let workspace = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin_dir = bin_dir()?;
    let temp = tempfile::tempdir()?;
    let state = Utf8PathBuf::try_from(temp.path().join("state"))?;

    // 1. A new manager: state dir, config, first administrator.
    let admin = "admin".parse()?;
    Manager::init(InitOptions::new(
        state.clone(),
        admin,
        Password::new("embed-example-pw"),
    ))?;

    // 2. The binary (here: this program) chooses and builds the drivers and injects them.
    let local = Arc::new(LocalDriver::open(
        state.join("local"),
        LocalOptions::default()
            .with_bin_dir(bin_dir)
            .with_addresses(Ipv4Addr::new(127, 77, 0, 1), Ipv4Addr::new(127, 77, 0, 254)),
    )?);
    let _cleanup = KillOnDrop(local.clone());
    let manager = Manager::open(
        ManagerConfig::load(&state)?,
        DriverSet::new().with(DriverKind::Local, local.clone()),
    )
    .await?;
    let me = manager
        .authenticate(&"admin".parse()?, &Password::new("embed-example-pw"))
        .await?;

    // 3. Template, unit, definitions.
    manager
        .register_template(
            &me,
            RegisterTemplate {
                name: "appserver".parse()?,
                driver: DriverKind::Local,
                source: workspace.join("examples/templates/appserver").to_string(),
            },
        )
        .await?;
    let unit = "shop".parse()?;
    let unit_file = workspace.join("examples/units/shop.yaml");
    manager
        .create_unit_from_file(
            &me,
            CreateUnitFromFile {
                name: "shop".parse()?,
                file_name: unit_file.to_string(),
                unit_file: std::fs::read_to_string(&unit_file)?,
            },
        )
        .await?;
    let imported = manager
        .import_definitions(&me, &unit, &workspace.join("examples/definitions/shop"))
        .await?;
    println!("imported definition version {}", imported.version);

    // 4. Batch apply, then start while following the progress events.
    let apply = manager.apply(&me, &unit, ApplyRequest::default()).await?;
    let rec = manager.wait(&me, apply, Duration::from_secs(120)).await?;
    println!("apply: {}", rec.summary.state);
    check(rec.summary.state)?;
    let start = manager.start_unit(&me, &unit, OpOptions::default()).await?;
    let mut events = manager.subscribe(&me, start).await?;
    let printer = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let ProgressKind::StepFinished {
                action,
                server: Some(server),
                status,
                ..
            } = event.kind
            {
                println!("  {server}: {action} {status:?}");
            }
        }
    });
    let rec = manager.wait(&me, start, Duration::from_secs(120)).await?;
    printer.abort();
    println!("start: {}", rec.summary.state);
    check(rec.summary.state)?;

    // 5. Read the unit's state and prove every server answers.
    let detail = manager.show_unit(&me, &unit).await?;
    for group in &detail.groups {
        for server in &group.servers {
            let address = server.address.clone().unwrap_or_default();
            let health = http_get(&address, 8080, "/healthz")?;
            println!(
                "{}/{}: {:?} at {address}: /healthz → {health}",
                group.name, server.name, server.logical
            );
            if !health.starts_with("HTTP/1.1 200") && !health.starts_with("HTTP/1.0 200") {
                return Err(format!("{} is not healthy: {health}", server.name).into());
            }
        }
    }

    // 6. Stop the unit and the manager; servers and state go with the temporary directory.
    let stop = manager.stop_unit(&me, &unit, OpOptions::default()).await?;
    let rec = manager.wait(&me, stop, Duration::from_secs(120)).await?;
    println!("stop: {}", rec.summary.state);
    check(rec.summary.state)?;
    manager.shutdown(Duration::from_secs(5)).await;
    println!("embedded manager example finished");
    Ok(())
}

fn check(state: OperationState) -> Result<(), Error> {
    if state == OperationState::Succeeded {
        Ok(())
    } else {
        Err(format!("operation ended {state}").into())
    }
}

/// Where `vsm-appserver` was built: beside this example's `target/<profile>` directory.
fn bin_dir() -> Result<Utf8PathBuf, Error> {
    let exe = Utf8PathBuf::try_from(std::env::current_exe()?)?;
    for dir in exe.ancestors().skip(1) {
        if dir.join("vsm-appserver").is_file() {
            return Ok(dir.to_path_buf());
        }
    }
    Err("vsm-appserver is not built: run `cargo build -p vsm-hypervisor --bins` first".into())
}

/// The first line of a plain HTTP/1.1 GET.
fn http_get(address: &str, port: u16, path: &str) -> Result<String, Error> {
    let mut stream = std::net::TcpStream::connect((address, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.lines().next().unwrap_or("").to_string())
}

/// Kills every server of the local driver when the example ends, also on error.
struct KillOnDrop(Arc<LocalDriver>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill_all_now();
    }
}
