//! What the crash tests share: the host process guard, the seeded RNG that makes a run
//! replayable, and the example program each runs as its host.

use std::process::Command;

use camino::Utf8PathBuf;

/// Kills the host process when dropped (also when an assertion fails).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// xorshift64*: a printed seed replays the same kills.
pub struct Rng {
    state: u64,
    /// The seed it started from.
    pub seed: u64,
}

impl Rng {
    /// `VSM_CRASH_SEED`, or one from the clock; printed with how to replay it.
    pub fn seeded(test: &str) -> Rng {
        let seed = std::env::var("VSM_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(7)
                    | 1
            });
        println!("{test} seed: {seed} (replay with VSM_CRASH_SEED={seed})");
        Rng { state: seed, seed }
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Whether the long version runs (`VSM_SLOW_TESTS=1`, as in CI).
pub fn slow() -> bool {
    std::env::var("VSM_SLOW_TESTS").is_ok_and(|v| v == "1")
}

/// `long` iterations when [`slow`], `short` otherwise.
pub fn iterations(short: usize, long: usize) -> usize {
    if slow() { long } else { short }
}

/// The path of vsm-manager's example program `name` in this test's profile directory
/// (target/<profile>/deps/it-HASH → target/<profile>/examples/NAME), built when missing.
pub fn example(name: &str) -> Utf8PathBuf {
    let exe = Utf8PathBuf::try_from(std::env::current_exe().expect("test exe")).expect("utf-8");
    let example = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("examples")
        .join(name);
    if !example.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "vsm-manager", "--example", name])
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the example {name} failed");
    }
    example
}
