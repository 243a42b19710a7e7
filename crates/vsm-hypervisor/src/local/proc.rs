//! Linux process facts from `/proc` and signals to process groups, for the local driver.
//!
//! A process is identified by its pid **and** its start time (field 22 of `/proc/PID/stat`) and the
//! kernel boot id, never by a bare pid, so a recycled pid is never mistaken for a server.
//! Blocking but cheap (small reads of procfs); this module knows nothing about machines.

use std::fs;
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A process as the local driver records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The pid (also the process group and session id: servers run in their own session).
    pub pid: i32,
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
    /// The kernel boot id the process started under.
    pub boot_id: String,
}

/// The fields of `/proc/PID/stat` the driver uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The pid.
    pub pid: i32,
    /// The state letter (`R`, `S`, `Z`, …).
    pub state: char,
    /// Process group id.
    pub pgrp: i32,
    /// Session id.
    pub session: i32,
    /// User-mode CPU time in ticks.
    pub utime: u64,
    /// Kernel-mode CPU time in ticks.
    pub stime: u64,
    /// Start time in ticks after boot.
    pub start_ticks: u64,
    /// Resident set size in pages.
    pub rss_pages: u64,
}

impl Stat {
    /// Whether the process has exited (zombie or dead) but may not be reaped yet.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/PID/stat`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).copied();
    Some(Stat {
        pid,
        state: field(3)?.chars().next()?,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        utime: field(14)?.parse().ok()?,
        stime: field(15)?.parse().ok()?,
        start_ticks: field(22)?.parse().ok()?,
        rss_pages: field(24)?.parse().ok()?,
    })
}

/// Reads `/proc/PID/stat`; `None` when the process does not exist.
pub fn stat(pid: i32) -> Option<Stat> {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| parse_stat(&t))
}

/// The kernel boot id (`/proc/sys/kernel/random/boot_id`), or an empty string when unreadable.
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The identity of a live process.
pub fn identify(pid: i32) -> io::Result<ProcessId> {
    let st = stat(pid).ok_or_else(|| io::Error::other(format!("process {pid} vanished")))?;
    Ok(ProcessId {
        pid,
        start_ticks: st.start_ticks,
        boot_id: boot_id(),
    })
}

/// Whether the recorded process is still the same process and has not exited.
pub fn is_alive(p: &ProcessId, current_boot_id: &str) -> bool {
    if p.boot_id != current_boot_id {
        return false;
    }
    match stat(p.pid) {
        Some(st) => st.start_ticks == p.start_ticks && !st.is_dead(),
        None => false,
    }
}

/// Every live (non-zombie) process of session `sid`.
pub fn session_members(sid: i32) -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter_map(stat)
        .filter(|st| st.session == sid && !st.is_dead())
        .collect()
}

/// Every live (non-zombie) process whose initial environment holds the exact entry `entry`
/// (`NAME=value`), or, with `prefix`, an entry starting with `entry`. Reads `/proc/PID/environ`
/// of every process this user may read: a slow scan, for recovery paths only.
pub fn with_environment(entry: &str, prefix: bool) -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let want = entry.as_bytes();
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0).any(|e| {
                    if prefix {
                        e.starts_with(want)
                    } else {
                        e == want
                    }
                })
            })
        })
        .filter_map(stat)
        .filter(|st| !st.is_dead())
        .collect()
}

/// Groups processes by session: one identity per session, whose start time is the session
/// leader's (or, when the leader is gone, the oldest member's), oldest session first.
pub fn sessions(members: &[Stat], current_boot_id: &str) -> Vec<ProcessId> {
    let mut by_sid: std::collections::BTreeMap<i32, u64> = std::collections::BTreeMap::new();
    for st in members {
        let start = by_sid.entry(st.session).or_insert(u64::MAX);
        if st.pid == st.session {
            *start = st.start_ticks;
        } else if st.start_ticks < *start {
            // only lower it when no leader was seen: a leader's start time always wins
            if !members
                .iter()
                .any(|m| m.pid == st.session && m.session == st.session)
            {
                *start = st.start_ticks;
            }
        }
    }
    let mut out: Vec<ProcessId> = by_sid
        .into_iter()
        .map(|(pid, start_ticks)| ProcessId {
            pid,
            start_ticks,
            boot_id: current_boot_id.to_owned(),
        })
        .collect();
    out.sort_by_key(|p| (p.start_ticks, p.pid));
    out
}

/// The live processes of a recorded server's session (the leader and whatever it started that
/// stayed in its session), also after the leader died. Processes that started before the leader,
/// or a session whose id was recycled by a new session leader, are never included.
pub fn members_of(p: &ProcessId, current_boot_id: &str) -> Vec<Stat> {
    if p.boot_id != current_boot_id {
        return Vec::new();
    }
    if let Some(st) = stat(p.pid)
        && st.start_ticks != p.start_ticks
        && st.session == p.pid
    {
        // The pid was recycled by a new session leader: its session is not ours.
        return Vec::new();
    }
    session_members(p.pid)
        .into_iter()
        .filter(|st| st.start_ticks >= p.start_ticks)
        .collect()
}

/// Sends `signal` to every process of the recorded server (its group, then stray session members).
pub fn signal_all(p: &ProcessId, current_boot_id: &str, signal: i32) {
    if is_alive(p, current_boot_id) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(-p.pid, signal);
        }
    }
    for m in members_of(p, current_boot_id) {
        // SAFETY: as above.
        unsafe {
            libc::kill(m.pid, signal);
        }
    }
}

/// Clock ticks per second.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// Page size in bytes.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 } else { 4096 }
}

/// CPU time, resident memory and process count of a set of processes.
pub fn usage(members: &[Stat]) -> (Duration, u64, u32) {
    let ticks: u64 = members.iter().map(|s| s.utime + s.stime).sum();
    let pages: u64 = members.iter().map(|s| s.rss_pages).sum();
    let tps = ticks_per_second();
    let cpu = Duration::from_millis(ticks * 1000 / tps);
    (cpu, pages * page_size(), members.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let text = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000 55 18446744073709551615";
        let st = parse_stat(text).expect("parses");
        assert_eq!(
            st,
            Stat {
                pid: 4242,
                state: 'S',
                pgrp: 4242,
                session: 4242,
                utime: 7,
                stime: 3,
                start_ticks: 123456,
                rss_pages: 55,
            }
        );
    }

    #[test]
    fn own_process_is_alive_and_a_changed_start_time_is_not() {
        let me = std::process::id() as i32;
        let id = identify(me).expect("identify self");
        let boot = boot_id();
        assert!(is_alive(&id, &boot));
        let recycled = ProcessId {
            start_ticks: id.start_ticks + 1,
            ..id.clone()
        };
        assert!(!is_alive(&recycled, &boot));
        let other_boot = ProcessId {
            boot_id: "other".to_owned(),
            ..id
        };
        assert!(!is_alive(&other_boot, &boot));
    }
}
