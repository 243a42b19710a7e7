//! A throwaway local-driver test bed: a temporary state directory, template helpers, and a `Drop`
//! guard that kills every server process started under it (also when the test panics).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use camino::{Utf8Path, Utf8PathBuf};

use crate::local::{LocalDriver, LocalOptions, MANIFEST_FILE};
use crate::types::TemplateSource;

static NEXT_RANGE: AtomicU8 = AtomicU8::new(0);

/// A temporary state directory with a [`LocalDriver`] on it. Dropping it SIGKILLs every server
/// process of the state directory (found by a fresh driver instance, so machines made by
/// re-opened instances are covered too) and removes the directory.
#[derive(Debug)]
pub struct LocalTestbed {
    dir: tempfile::TempDir,
    root: Utf8PathBuf,
    options: LocalOptions,
    /// The driver.
    pub driver: Arc<LocalDriver>,
}

impl LocalTestbed {
    /// A test bed with `options`, except that the address range is replaced by a small range of
    /// its own (254 addresses, distinct per test bed of this process), so concurrent tests never
    /// share addresses.
    pub fn new(options: LocalOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("vsm-local-")
            .tempdir()
            .expect("create a temporary directory");
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
            .expect("the temporary directory path is UTF-8");
        let second = 2 + (std::process::id() % 200) as u8;
        let third = NEXT_RANGE.fetch_add(1, Ordering::Relaxed);
        let options = options.with_addresses(
            Ipv4Addr::new(127, second, third, 1),
            Ipv4Addr::new(127, second, third, 254),
        );
        let driver = Arc::new(
            LocalDriver::open(root.join("state"), options.clone()).expect("open the local driver"),
        );
        LocalTestbed {
            dir,
            root,
            options,
            driver,
        }
    }

    /// The temporary directory (templates go under it).
    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    /// The driver's state directory.
    pub fn state_dir(&self) -> Utf8PathBuf {
        self.root.join("state")
    }

    /// A fresh driver instance on the same state directory and options.
    pub fn reopen(&self) -> Arc<LocalDriver> {
        Arc::new(
            LocalDriver::open(self.state_dir(), self.options.clone()).expect("re-open the driver"),
        )
    }

    /// Writes a template directory `ROOT/templates/NAME` whose boot command is `boot`, plus a
    /// file `data/hello.txt`, and returns its source.
    pub fn template(&self, name: &str, boot: &[&str]) -> TemplateSource {
        let dir = self.root.join("templates").join(name);
        std::fs::create_dir_all(dir.join("data")).expect("create the template directory");
        let boot: Vec<String> = boot.iter().map(|a| format!("{a:?}")).collect();
        let manifest = format!(
            "format: 1\ndescription: test template {name}\nboot: [{}]\nstop_timeout_seconds: 5\n",
            boot.join(", ")
        );
        std::fs::write(dir.join(MANIFEST_FILE), manifest).expect("write the manifest");
        std::fs::write(dir.join("data/hello.txt"), "hello\n").expect("write a template file");
        TemplateSource::new(dir.as_str()).expect("a non-empty source")
    }

    /// A template whose boot command is a shell that prints a line and sleeps (until SIGTERM).
    pub fn sleeper_template(&self) -> TemplateSource {
        self.template(
            "sleeper",
            &[
                "/bin/sh",
                "-c",
                "echo \"hello from $VSM_SERVER at $VSM_ADDRESS\"; exec sleep 100000",
            ],
        )
    }
}

impl Drop for LocalTestbed {
    fn drop(&mut self) {
        self.driver.kill_all_now();
        if let Ok(fresh) = LocalDriver::open(self.state_dir(), self.options.clone()) {
            fresh.kill_all_now();
        }
        let _ = self.dir.path();
    }
}
