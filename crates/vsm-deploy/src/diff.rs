//! Differences between two definition versions (or a version and a scanned directory):
//! per group, which targets are added, changed or removed, and the update scope that implies.
//! Also the per-group part digests that `vsm-core` compares ([`group_parts`]). Pure functions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vsm_core::{DefinitionDigest, DefinitionParts, GroupName, UpdateScope};

use crate::manifest::{FileKind, GroupDefinition};
use crate::path::RelPath;
use crate::scan::{Definition, ResolvedFile, resolve_group};

/// Added, changed and removed paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// New paths.
    pub added: Vec<RelPath>,
    /// Paths whose content or permission bits differ.
    pub changed: Vec<RelPath>,
    /// Paths that are gone.
    pub removed: Vec<RelPath>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// How a group changed as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupChange {
    /// Only in the new version.
    Added,
    /// Only in the old version.
    Removed,
    /// In both, different.
    Changed,
    /// In both, the same.
    Unchanged,
}

/// The difference for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDiff {
    /// The group.
    pub group: GroupName,
    /// How it changed as a whole.
    pub change: GroupChange,
    /// Targets on the group's servers.
    pub targets: Changes,
    /// Whether the activation command, health check or parameters changed.
    pub settings_changed: bool,
    /// What applying the new version needs on this group's servers.
    pub scope: UpdateScope,
}

/// The difference between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// The old version, if any.
    pub from: Option<DefinitionDigest>,
    /// The new version.
    pub to: DefinitionDigest,
    /// Files of the definition directory itself.
    pub files: Changes,
    /// Per group, in the new manifest's order, then removed groups.
    pub groups: Vec<GroupDiff>,
}

impl Diff {
    /// Whether the two versions are the same.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
            && self
                .groups
                .iter()
                .all(|g| g.change == GroupChange::Unchanged)
    }

    /// A plain-text rendering, one line per group and file.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let from = self.from.as_ref().map_or("(none)", DefinitionDigest::short);
        let _ = writeln!(s, "definition {from} -> {}", self.to.short());
        if self.is_empty() {
            s.push_str("no changes\n");
            return s;
        }
        for g in &self.groups {
            let change = match g.change {
                GroupChange::Added => "added",
                GroupChange::Removed => "removed",
                GroupChange::Changed => "changed",
                GroupChange::Unchanged => "unchanged",
            };
            let _ = writeln!(s, "group {}: {change} (update scope: {})", g.group, g.scope);
            if g.settings_changed {
                s.push_str("  ~ settings (activation, health check or parameters)\n");
            }
            for (mark, list) in [
                ("+", &g.targets.added),
                ("~", &g.targets.changed),
                ("-", &g.targets.removed),
            ] {
                for p in list {
                    let _ = writeln!(s, "  {mark} {p}");
                }
            }
        }
        s
    }
}

fn resolved(def: &Definition, group: &GroupDefinition) -> BTreeMap<RelPath, ResolvedFile> {
    // Stored and scanned versions were validated, so resolving succeeds.
    resolve_group(group, &def.record).unwrap_or_default()
}

fn same_file(a: &ResolvedFile, b: &ResolvedFile) -> bool {
    a.digest == b.digest && a.mode == b.mode && a.template == b.template && a.kind == b.kind
}

#[derive(Serialize)]
struct SettingsPart<'a> {
    parameters: BTreeMap<String, String>,
    activate: &'a Option<crate::manifest::Activation>,
    health: &'a Option<crate::manifest::HealthCheck>,
}

fn settings_of<'a>(def: &'a Definition, g: &'a GroupDefinition) -> SettingsPart<'a> {
    SettingsPart {
        parameters: g.effective_parameters(&def.manifest.parameters),
        activate: &g.activate,
        health: &g.health,
    }
}

/// The digest of a serializable value's JSON.
fn json_digest<T: Serialize>(value: &T) -> DefinitionDigest {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    DefinitionDigest::from_bytes(Sha256::digest(bytes).into())
}

/// The part digests of `group` in `def` (settings: definition files, parameters, activation
/// and health check; applications: application packages), as `vsm-core` compares them.
pub fn group_parts(def: &Definition, group: &GroupName) -> Option<DefinitionParts> {
    let g = def.manifest.group(group)?;
    let files = resolved(def, g);
    let part = |kind: FileKind| -> Vec<&ResolvedFile> {
        files.values().filter(|f| f.kind == kind).collect()
    };
    let settings = (settings_of(def, g), part(FileKind::Settings));
    Some(DefinitionParts {
        settings: json_digest(&settings),
        applications: json_digest(&part(FileKind::Application)),
    })
}

/// The differences from `old` (none: nothing imported yet) to `new`.
pub fn diff(old: Option<&Definition>, new: &Definition) -> Diff {
    let empty = BTreeMap::new();
    let old_files = old.map_or(&empty, |o| &o.record.files);
    let mut files = Changes::default();
    for (p, e) in &new.record.files {
        match old_files.get(p) {
            None => files.added.push(p.clone()),
            Some(o) if o != e => files.changed.push(p.clone()),
            Some(_) => {}
        }
    }
    files.removed = old_files
        .keys()
        .filter(|p| !new.record.files.contains_key(*p))
        .cloned()
        .collect();

    let mut groups = Vec::new();
    let mut seen = BTreeSet::new();
    for g in &new.manifest.groups {
        seen.insert(g.name.clone());
        let new_files = resolved(new, g);
        let old_group = old.and_then(|o| o.manifest.group(&g.name).map(|og| (o, og)));
        let (old_files, settings_changed, existed) = match old_group {
            Some((o, og)) => (
                resolved(o, og),
                json_digest(&settings_of(o, og)) != json_digest(&settings_of(new, g)),
                true,
            ),
            None => (BTreeMap::new(), false, false),
        };
        let mut targets = Changes::default();
        let mut settings_files = false;
        let mut app_files = false;
        let mut note = |kind: FileKind| match kind {
            FileKind::Settings => settings_files = true,
            FileKind::Application => app_files = true,
        };
        for (t, f) in &new_files {
            match old_files.get(t) {
                None => {
                    targets.added.push(t.clone());
                    note(f.kind);
                }
                Some(o) if !same_file(o, f) => {
                    targets.changed.push(t.clone());
                    note(f.kind);
                    note(o.kind);
                }
                Some(_) => {}
            }
        }
        for (t, o) in &old_files {
            if !new_files.contains_key(t) {
                targets.removed.push(t.clone());
                note(o.kind);
            }
        }
        let scope = if !existed || settings_changed || settings_files {
            UpdateScope::All
        } else if app_files {
            UpdateScope::Applications
        } else {
            UpdateScope::None
        };
        let change = if !existed {
            GroupChange::Added
        } else if scope == UpdateScope::None {
            GroupChange::Unchanged
        } else {
            GroupChange::Changed
        };
        groups.push(GroupDiff {
            group: g.name.clone(),
            change,
            targets,
            settings_changed,
            scope,
        });
    }
    if let Some(o) = old {
        for og in o
            .manifest
            .groups
            .iter()
            .filter(|og| !seen.contains(&og.name))
        {
            groups.push(GroupDiff {
                group: og.name.clone(),
                change: GroupChange::Removed,
                targets: Changes {
                    removed: resolved(o, og).into_keys().collect(),
                    ..Changes::default()
                },
                settings_changed: false,
                scope: UpdateScope::All,
            });
        }
    }
    Diff {
        from: old.map(|o| o.id.clone()),
        to: new.id.clone(),
        files,
        groups,
    }
}
