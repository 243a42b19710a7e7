//! Running a plan, as pure bookkeeping: which phase is next, which steps to skip, whether a
//! gate stops the plan, and the final [`Outcome`].
//!
//! The engine owns the IO: it asks [`Progress::next_phase`] for work, executes the steps (in
//! parallel, with its own limit), reports each with [`Progress::record`] (and folds it into the
//! unit with [`crate::model::Unit::fold`]), then calls [`Progress::finish_phase`]. `Progress` is
//! serde-serializable so it can be journaled and resumed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::fold::StepOutcome;
use crate::names::ServerName;
use crate::plan::{Gate, Phase, Plan, Step};

/// The result class of an operation (the original product's rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every server succeeded (or nothing had to be done).
    Normal,
    /// Some servers failed, or a marked server was touched, or the plan stopped early with some
    /// success.
    Warning,
    /// No server succeeded.
    Abnormal,
}

impl Outcome {
    /// The documented exit code: 0 normal, 1 warning, 70 abnormal (operation failed).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Normal => 0,
            Outcome::Warning => 1,
            Outcome::Abnormal => 70,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Normal => "normal",
            Outcome::Warning => "warning",
            Outcome::Abnormal => "abnormal",
        })
    }
}

/// The outcome from per-server results (`true`: every step on it succeeded): all succeeded →
/// normal, some → warning, none → abnormal; touching a marked server makes a normal a warning.
/// No servers at all is normal.
pub fn outcome(results: &BTreeMap<ServerName, bool>, touched_marked: bool) -> Outcome {
    let ok = results.values().filter(|v| **v).count();
    let base = if ok == results.len() {
        Outcome::Normal
    } else if ok == 0 {
        Outcome::Abnormal
    } else {
        Outcome::Warning
    };
    if touched_marked && base == Outcome::Normal {
        Outcome::Warning
    } else {
        base
    }
}

/// Why a plan stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A gate stopped it.
    Aborted(String),
    /// The user cancelled it.
    Cancelled,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Aborted(why) => write!(f, "aborted: {why}"),
            StopReason::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// The execution state of one plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The plan.
    pub plan: Plan,
    /// The index of the next phase to hand out.
    pub next: usize,
    /// Per executed server step: how it ended, in the order reported.
    pub results: Vec<(Step, StepOutcome)>,
    /// Servers with at least one failed step.
    pub failed: BTreeSet<ServerName>,
    /// Why the plan stopped early, if it did.
    pub stopped: Option<StopReason>,
}

impl Progress {
    /// The start of `plan`.
    pub fn new(plan: Plan) -> Self {
        Progress {
            plan,
            next: 0,
            results: Vec::new(),
            failed: BTreeSet::new(),
            stopped: None,
        }
    }

    /// The next phase to execute, without the steps on servers that already failed in this plan;
    /// `None` when the plan is done or stopped. Phases left empty are skipped.
    pub fn next_phase(&mut self) -> Option<Phase> {
        while self.stopped.is_none() && self.next < self.plan.phases.len() {
            let phase = &self.plan.phases[self.next];
            self.next += 1;
            let steps: Vec<Step> = phase
                .steps
                .iter()
                .filter(|s| s.server().is_none_or(|n| !self.failed.contains(n)))
                .cloned()
                .collect();
            if !steps.is_empty() {
                return Some(Phase {
                    title: phase.title.clone(),
                    steps,
                    gate: phase.gate,
                });
            }
            // Emptied because its servers already failed: its gate still judges (a group whose
            // every start failed has no health checks left, and must end the start there).
            if !phase.steps.is_empty() {
                self.finish_phase();
            }
        }
        None
    }

    /// Records how an executed step ended.
    pub fn record(&mut self, step: &Step, outcome: &StepOutcome) {
        if let (Some(server), false) = (step.server(), outcome.is_ok()) {
            self.failed.insert(server.clone());
        }
        self.results.push((step.clone(), outcome.clone()));
    }

    /// Evaluates the gate of the phase handed out last; may stop the plan.
    pub fn finish_phase(&mut self) {
        let Some(phase) = self
            .next
            .checked_sub(1)
            .and_then(|i| self.plan.phases.get(i))
        else {
            return;
        };
        match phase.gate {
            Gate::None => {}
            Gate::AnySucceeded => {
                let in_phase: BTreeSet<&ServerName> =
                    phase.steps.iter().filter_map(Step::server).collect();
                if !in_phase.is_empty() && in_phase.iter().all(|s| self.failed.contains(*s)) {
                    self.stopped = Some(StopReason::Aborted(format!(
                        "every server of phase \"{}\" failed",
                        phase.title
                    )));
                }
            }
            Gate::Budget => {
                let policy = self.plan.rollout.unwrap_or_default();
                let touched = self.touched();
                let failed = touched.iter().filter(|s| self.failed.contains(*s)).count();
                if policy.should_abort(touched.len(), failed) {
                    self.stopped = Some(StopReason::Aborted(format!(
                        "{failed} of {} servers updated so far failed, more than the unhealthy budget allows",
                        touched.len()
                    )));
                }
            }
        }
    }

    /// Stops handing out phases.
    pub fn cancel(&mut self) {
        if self.stopped.is_none() {
            self.stopped = Some(StopReason::Cancelled);
        }
    }

    /// Whether every phase was handed out or the plan stopped.
    pub fn is_done(&self) -> bool {
        self.stopped.is_some() || self.next >= self.plan.phases.len()
    }

    /// Servers with at least one executed step.
    pub fn touched(&self) -> BTreeSet<ServerName> {
        self.results
            .iter()
            .filter_map(|(s, _)| s.server().cloned())
            .collect()
    }

    /// Whether an aborted roll-out must now be reverted ([`crate::plan::plan_revert`] with
    /// [`Progress::touched`]).
    pub fn needs_revert(&self) -> bool {
        matches!(self.stopped, Some(StopReason::Aborted(_)))
            && self.plan.rollout.is_some_and(|r| r.rollback_on_abort)
    }

    /// Every server of the plan: `true` when all its planned steps ran and succeeded.
    pub fn server_results(&self) -> BTreeMap<ServerName, bool> {
        let mut planned: BTreeMap<&ServerName, usize> = BTreeMap::new();
        for s in self.plan.steps() {
            if let Some(n) = s.server() {
                *planned.entry(n).or_default() += 1;
            }
        }
        let mut ran: BTreeMap<&ServerName, usize> = BTreeMap::new();
        for (s, _) in &self.results {
            if let Some(n) = s.server() {
                *ran.entry(n).or_default() += 1;
            }
        }
        planned
            .into_iter()
            .map(|(n, count)| {
                let ok = !self.failed.contains(n) && ran.get(n).copied().unwrap_or(0) >= count;
                (n.clone(), ok)
            })
            .collect()
    }

    /// The outcome so far; `marked` are the unit's marked servers.
    pub fn outcome(&self, marked: &BTreeSet<ServerName>) -> Outcome {
        let touched_marked = self.touched().iter().any(|s| marked.contains(s));
        outcome(&self.server_results(), touched_marked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> ServerName {
        ServerName::new(s).expect("valid")
    }

    fn check(results: &[(&str, bool)], marked: bool, expect: Outcome) {
        let map = results.iter().map(|(s, ok)| (n(s), *ok)).collect();
        assert_eq!(outcome(&map, marked), expect, "{results:?} marked={marked}");
    }

    #[test]
    fn outcome_rule() {
        check(&[], false, Outcome::Normal);
        check(&[("a", true), ("b", true)], false, Outcome::Normal);
        check(&[("a", true), ("b", false)], false, Outcome::Warning);
        check(&[("a", false), ("b", false)], false, Outcome::Abnormal);
        check(&[("a", true)], true, Outcome::Warning);
        check(&[("a", false)], true, Outcome::Abnormal);
        assert_eq!(Outcome::Warning.exit_code(), 1);
    }
}
