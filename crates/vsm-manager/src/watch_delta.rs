//! Deltas of a unit's view ([`UnitDetail`]), as the watch stream `GET /api/v1/units/{unit}/events`
//! sends them: [`diff`] of two views and [`apply_delta`], pure functions such that applying
//! `diff(a, b)` to `a` gives exactly `b`.
//!
//! A delta names only what changed: the unit's own fields (each present only when it changed),
//! per group the server rows that changed or are new (whole rows), the servers that are gone,
//! and a group's or the unit's order of names only when the changes alone do not give it.
//! Servers are keyed by name within their group, groups by name within the unit (names are
//! unique there). This module does no IO and knows nothing of HTTP.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Deserializer, Serialize};
use vsm_core::{AccountName, DefinitionVersion, GroupName, OperationId, ServerName, Timestamp};
use vsm_core::{UnitName, model::DefinitionStatus, model::ServerCounts};

use crate::api::{GroupKindView, GroupView, OperationSummary, ServerView, UnitDetail, VersionInfo};

/// What changed between two views of one unit (the data of a `delta` event).
///
/// Every field is optional: an absent field is unchanged. Fields whose value may be `null`
/// (`current_version`, `busy_with`) are present with `null` when they became empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitDelta {
    /// The unit's name (only between views of different units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<UnitName>,
    /// The new owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<AccountName>,
    /// The creation time (only between views of different units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// The new definition status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_status: Option<DefinitionStatus>,
    /// The new newest imported version (`null`: none).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub current_version: Option<Option<DefinitionVersion>>,
    /// Every imported version, when the list changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<VersionInfo>>,
    /// The new server counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<ServerCounts>,
    /// The running operation (`null`: none any more).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub busy_with: Option<Option<OperationId>>,
    /// The most recent operations, when they changed (the whole short list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_operations: Option<Vec<OperationSummary>>,
    /// Groups that are new or changed, in the new view's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupDelta>,
    /// Groups that are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_groups: Vec<GroupName>,
    /// Every group's name in the new order, when the changes do not give it (groups kept in
    /// their order, then new groups appended in the order of `groups`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_order: Option<Vec<GroupName>>,
}

/// What changed in one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDelta {
    /// The group.
    pub name: GroupName,
    /// Its new kind (always present for a new group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<GroupKindView>,
    /// Its new start order (always present for a new group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_order: Option<u32>,
    /// Server rows that changed or are new, whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerView>,
    /// Servers that are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<ServerName>,
    /// Every server's name in the new order, when the changes do not give it (servers kept in
    /// their order, changed rows in place, then new rows appended in the order of `servers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<ServerName>>,
}

impl GroupDelta {
    fn is_empty(&self) -> bool {
        self.kind.is_none()
            && self.start_order.is_none()
            && self.servers.is_empty()
            && self.removed.is_empty()
            && self.order.is_none()
    }
}

impl UnitDelta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == UnitDelta::default()
    }

    /// The number of server rows the delta carries (a measure of its size).
    pub fn rows(&self) -> usize {
        self.groups
            .iter()
            .map(|g| g.servers.len() + g.removed.len())
            .sum()
    }
}

/// Why a delta does not fit the view it is applied to (the client's view is not the one the
/// delta was made from: it needs a fresh snapshot).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// A new group came without its kind or start order.
    #[error("group {group} is new but the delta lacks its {field}")]
    IncompleteGroup {
        /// The group.
        group: GroupName,
        /// `kind` or `start_order`.
        field: &'static str,
    },
    /// A group or server the delta removes is not in the view.
    #[error("the delta removes {what}, which the view does not have")]
    Missing {
        /// `group web` or `server web-1 of group web`.
        what: String,
    },
    /// An order names other groups or servers than the view has after the changes.
    #[error("the delta's order of {of} does not name what the view holds")]
    Order {
        /// `the groups` or `group web`.
        of: String,
    },
}

/// `Some(value)` for a field that is present (also when `null`): with `#[serde(default)]` an
/// absent field stays `None`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `Some(new)` when it differs from `old`.
fn changed<T: PartialEq + Clone>(old: &T, new: &T) -> Option<T> {
    (old != new).then(|| new.clone())
}

/// What changed from `old` to `new`: [`apply_delta`] of it to `old` gives `new`.
pub fn diff(old: &UnitDetail, new: &UnitDetail) -> UnitDelta {
    let mut delta = UnitDelta {
        name: changed(&old.name, &new.name),
        owner: changed(&old.owner, &new.owner),
        created_at: changed(&old.created_at, &new.created_at),
        definition_status: changed(&old.definition_status, &new.definition_status),
        current_version: changed(&old.current_version, &new.current_version),
        versions: changed(&old.versions, &new.versions),
        counts: changed(&old.counts, &new.counts),
        busy_with: changed(&old.busy_with, &new.busy_with),
        last_operations: changed(&old.last_operations, &new.last_operations),
        ..UnitDelta::default()
    };
    let old_groups: HashMap<&GroupName, &GroupView> =
        old.groups.iter().map(|g| (&g.name, g)).collect();
    let new_names: HashSet<&GroupName> = new.groups.iter().map(|g| &g.name).collect();
    delta.removed_groups = old
        .groups
        .iter()
        .filter(|g| !new_names.contains(&g.name))
        .map(|g| g.name.clone())
        .collect();
    let mut appended = Vec::new();
    for g in &new.groups {
        let d = match old_groups.get(&g.name) {
            Some(o) => diff_group(o, g),
            None => {
                appended.push(&g.name);
                GroupDelta {
                    name: g.name.clone(),
                    kind: Some(g.kind.clone()),
                    start_order: Some(g.start_order),
                    servers: g.servers.clone(),
                    removed: Vec::new(),
                    order: None,
                }
            }
        };
        if !d.is_empty() {
            delta.groups.push(d);
        }
    }
    // The order applying gives: the groups kept, in their order, then the new ones.
    let kept = old
        .groups
        .iter()
        .map(|g| &g.name)
        .filter(|n| new_names.contains(n));
    let implied: Vec<&GroupName> = kept.chain(appended).collect();
    if !implied
        .iter()
        .copied()
        .eq(new.groups.iter().map(|g| &g.name))
    {
        delta.group_order = Some(new.groups.iter().map(|g| g.name.clone()).collect());
    }
    delta
}

/// What changed in a group present in both views.
fn diff_group(old: &GroupView, new: &GroupView) -> GroupDelta {
    let old_rows: HashMap<&ServerName, &ServerView> =
        old.servers.iter().map(|s| (&s.name, s)).collect();
    let new_names: HashSet<&ServerName> = new.servers.iter().map(|s| &s.name).collect();
    let mut servers = Vec::new();
    let mut appended = Vec::new();
    for s in &new.servers {
        match old_rows.get(&s.name) {
            Some(o) if *o == s => {}
            Some(_) => servers.push(s.clone()),
            None => {
                appended.push(&s.name);
                servers.push(s.clone());
            }
        }
    }
    let removed: Vec<ServerName> = old
        .servers
        .iter()
        .filter(|s| !new_names.contains(&s.name))
        .map(|s| s.name.clone())
        .collect();
    let kept = old
        .servers
        .iter()
        .map(|s| &s.name)
        .filter(|n| new_names.contains(n));
    let implied: Vec<&ServerName> = kept.chain(appended).collect();
    let order = (!implied
        .iter()
        .copied()
        .eq(new.servers.iter().map(|s| &s.name)))
    .then(|| new.servers.iter().map(|s| s.name.clone()).collect());
    GroupDelta {
        name: new.name.clone(),
        kind: changed(&old.kind, &new.kind),
        start_order: changed(&old.start_order, &new.start_order),
        servers,
        removed,
        order,
    }
}

/// Applies `delta` to `view`. On an error `view` may be partly changed: take a fresh snapshot.
pub fn apply_delta(view: &mut UnitDetail, delta: &UnitDelta) -> Result<(), DeltaError> {
    fn set<T: Clone>(field: &mut T, value: &Option<T>) {
        if let Some(v) = value {
            *field = v.clone();
        }
    }
    set(&mut view.name, &delta.name);
    set(&mut view.owner, &delta.owner);
    set(&mut view.created_at, &delta.created_at);
    set(&mut view.definition_status, &delta.definition_status);
    set(&mut view.current_version, &delta.current_version);
    set(&mut view.versions, &delta.versions);
    set(&mut view.counts, &delta.counts);
    set(&mut view.busy_with, &delta.busy_with);
    set(&mut view.last_operations, &delta.last_operations);
    for name in &delta.removed_groups {
        let before = view.groups.len();
        view.groups.retain(|g| &g.name != name);
        if view.groups.len() == before {
            return Err(DeltaError::Missing {
                what: format!("group {name}"),
            });
        }
    }
    for gd in &delta.groups {
        let at = match view.groups.iter().position(|g| g.name == gd.name) {
            Some(i) => i,
            None => {
                let incomplete = |field| DeltaError::IncompleteGroup {
                    group: gd.name.clone(),
                    field,
                };
                view.groups.push(GroupView {
                    name: gd.name.clone(),
                    kind: gd.kind.clone().ok_or_else(|| incomplete("kind"))?,
                    start_order: gd.start_order.ok_or_else(|| incomplete("start_order"))?,
                    servers: Vec::new(),
                });
                view.groups.len() - 1
            }
        };
        apply_group(&mut view.groups[at], gd)?;
    }
    if let Some(order) = &delta.group_order {
        view.groups =
            reorder(std::mem::take(&mut view.groups), order, |g| &g.name).ok_or_else(|| {
                DeltaError::Order {
                    of: "the groups".to_owned(),
                }
            })?;
    }
    Ok(())
}

fn apply_group(group: &mut GroupView, delta: &GroupDelta) -> Result<(), DeltaError> {
    if let Some(kind) = &delta.kind {
        group.kind = kind.clone();
    }
    if let Some(order) = delta.start_order {
        group.start_order = order;
    }
    if !delta.removed.is_empty() {
        let gone: HashSet<&ServerName> = delta.removed.iter().collect();
        let before = group.servers.len();
        group.servers.retain(|s| !gone.contains(&s.name));
        if before - group.servers.len() != gone.len() {
            let missing = delta
                .removed
                .iter()
                .find(|n| !group.servers.iter().any(|s| &s.name == *n))
                .map_or_else(String::new, |n| n.to_string());
            return Err(DeltaError::Missing {
                what: format!("server {missing} of group {}", group.name),
            });
        }
    }
    if !delta.servers.is_empty() {
        let mut at: HashMap<ServerName, usize> = group
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        for row in &delta.servers {
            match at.get(&row.name) {
                Some(&i) => group.servers[i] = row.clone(),
                None => {
                    at.insert(row.name.clone(), group.servers.len());
                    group.servers.push(row.clone());
                }
            }
        }
    }
    if let Some(order) = &delta.order {
        group.servers = reorder(std::mem::take(&mut group.servers), order, |s| &s.name)
            .ok_or_else(|| DeltaError::Order {
                of: format!("group {}", group.name),
            })?;
    }
    Ok(())
}

/// `items` in the order of `names`, or `None` when `names` is not exactly their names.
fn reorder<T, K: std::hash::Hash + Eq>(
    items: Vec<T>,
    names: &[K],
    key: impl Fn(&T) -> &K,
) -> Option<Vec<T>> {
    if items.len() != names.len() {
        return None;
    }
    let position: HashMap<&K, usize> = names.iter().enumerate().map(|(i, n)| (n, i)).collect();
    if position.len() != names.len() {
        return None;
    }
    let mut slots: Vec<Option<T>> = (0..names.len()).map(|_| None).collect();
    for item in items {
        let i = *position.get(key(&item))?;
        if slots[i].replace(item).is_some() {
            return None;
        }
    }
    slots.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{LoadView, OperationKind, OperationState};
    use proptest::prelude::*;
    use vsm_core::model::{FailureMark, LogicalStatus, ObservedStatus, UpdateScope};
    use vsm_core::{TemplateGeneration, TemplateName};

    fn server(name: &str, logical: LogicalStatus, mark: bool) -> ServerView {
        ServerView {
            name: ServerName::new(name).expect("server name"),
            logical,
            observed: ObservedStatus::Unknown,
            observed_at: None,
            in_progress: None,
            update_scope: UpdateScope::All,
            address: Some(format!("127.1.0.{}", name.len())),
            host: Some("local".into()),
            epoch: 1,
            applied_version: None,
            generation: Some(TemplateGeneration(1)),
            created_at: Timestamp::from_millis(1_000),
            mark: mark.then(|| FailureMark {
                comment: "disk noise".into(),
                at: Timestamp::from_millis(2_000),
            }),
            last_error: None,
            load: None,
        }
    }

    fn group(name: &str, order: u32, servers: Vec<ServerView>) -> GroupView {
        GroupView {
            name: GroupName::new(name).expect("group name"),
            kind: GroupKindView::Provisioned {
                template: TemplateName::new("tpl").expect("template"),
                count: servers.len() as u32,
                min: 1,
                max: 8,
            },
            start_order: order,
            servers,
        }
    }

    fn unit(groups: Vec<GroupView>) -> UnitDetail {
        UnitDetail {
            name: UnitName::new("shop").expect("unit"),
            owner: AccountName::new("bob").expect("account"),
            created_at: Timestamp::from_millis(500),
            definition_status: DefinitionStatus::Unchanged,
            current_version: Some(DefinitionVersion(1)),
            versions: Vec::new(),
            counts: ServerCounts::default(),
            groups,
            busy_with: None,
            last_operations: Vec::new(),
        }
    }

    fn check(a: &UnitDetail, b: &UnitDetail) -> UnitDelta {
        let d = diff(a, b);
        // Through JSON, as the stream sends it.
        let text = serde_json::to_string(&d).expect("encode");
        let back: UnitDelta = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, d, "{text}");
        let mut x = a.clone();
        apply_delta(&mut x, &back).expect("applies");
        assert_eq!(&x, b, "delta {text}");
        d
    }

    #[test]
    fn a_mark_sends_one_row_and_nothing_else() {
        let a = unit(vec![group(
            "web",
            1,
            vec![
                server("web-1", LogicalStatus::Working, false),
                server("web-2", LogicalStatus::Working, false),
            ],
        )]);
        let mut b = a.clone();
        b.groups[0].servers[1] = server("web-2", LogicalStatus::Working, true);
        let d = check(&a, &b);
        assert_eq!(d.groups.len(), 1);
        assert_eq!(d.groups[0].servers.len(), 1);
        assert_eq!(d.groups[0].servers[0].name.as_str(), "web-2");
        assert!(d.groups[0].order.is_none() && d.groups[0].removed.is_empty());
        assert_eq!(d.rows(), 1);
        let json = serde_json::to_value(&d).expect("json");
        assert_eq!(
            json.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["groups".to_owned()]),
            "unchanged fields are absent: {json}"
        );
        assert!(check(&a, &a).is_empty());
    }

    #[test]
    fn emptied_fields_are_null_and_absent_ones_unchanged() {
        let mut a = unit(Vec::new());
        a.busy_with = Some(OperationId(7));
        let mut b = a.clone();
        b.busy_with = None;
        b.owner = AccountName::new("carol").expect("account");
        let d = check(&a, &b);
        let json = serde_json::to_value(&d).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"owner": "carol", "busy_with": null})
        );
        let back = check(&b, &a);
        assert_eq!(back.busy_with, Some(Some(OperationId(7))));
    }

    #[test]
    fn scaling_out_and_in_sends_new_rows_and_removed_names() {
        let rows = |n: usize| {
            (1..=n)
                .map(|i| server(&format!("web-{i}"), LogicalStatus::Working, false))
                .collect::<Vec<_>>()
        };
        let a = unit(vec![group("web", 1, rows(2))]);
        let b = unit(vec![group("web", 1, rows(4))]);
        let out = check(&a, &b);
        assert_eq!(out.groups[0].servers.len(), 2);
        assert!(out.groups[0].kind.is_some(), "the count changed");
        assert!(out.groups[0].order.is_none(), "appended in order");
        let back = check(&b, &a);
        assert_eq!(back.groups[0].removed.len(), 2);
        assert!(back.groups[0].servers.is_empty());
    }

    #[test]
    fn bad_deltas_are_refused() {
        let a = unit(vec![group("web", 1, Vec::new())]);
        let mut x = a.clone();
        let d = UnitDelta {
            removed_groups: vec![GroupName::new("db").expect("group")],
            ..UnitDelta::default()
        };
        assert!(matches!(
            apply_delta(&mut x, &d),
            Err(DeltaError::Missing { .. })
        ));
        let d = UnitDelta {
            groups: vec![GroupDelta {
                name: GroupName::new("db").expect("group"),
                kind: None,
                start_order: Some(2),
                servers: Vec::new(),
                removed: Vec::new(),
                order: None,
            }],
            ..UnitDelta::default()
        };
        let mut x = a.clone();
        assert!(matches!(
            apply_delta(&mut x, &d),
            Err(DeltaError::IncompleteGroup { field: "kind", .. })
        ));
        let d = UnitDelta {
            group_order: Some(vec![GroupName::new("db").expect("group")]),
            ..UnitDelta::default()
        };
        let mut x = a.clone();
        assert!(matches!(
            apply_delta(&mut x, &d),
            Err(DeltaError::Order { .. })
        ));
        assert!(
            serde_json::from_str::<UnitDelta>(r#"{"surprise": 1}"#).is_err(),
            "unknown fields are refused"
        );
    }

    // ------------------------------------------------------------------ properties

    const GROUPS: [&str; 4] = ["web", "app", "db", "cache"];

    fn arb_server(group: &'static str) -> impl Strategy<Value = ServerView> {
        (
            1u32..7,
            0usize..6,
            0usize..5,
            any::<bool>(),
            proptest::option::of(0u32..3),
            proptest::option::of(0u8..3),
            proptest::option::of(0u64..4),
        )
            .prop_map(move |(n, logical, observed, mark, version, error, load)| {
                let logical = [
                    LogicalStatus::Provisioning,
                    LogicalStatus::Stopped,
                    LogicalStatus::Started,
                    LogicalStatus::Working,
                    LogicalStatus::Unhealthy,
                    LogicalStatus::Failed,
                ][logical];
                let mut s = server(&format!("{group}-{n}"), logical, mark);
                s.observed = [
                    ObservedStatus::Working,
                    ObservedStatus::Operating,
                    ObservedStatus::Stopped,
                    ObservedStatus::Unknown,
                    ObservedStatus::Failed,
                ][observed];
                s.applied_version = version.map(DefinitionVersion);
                s.last_error = error.map(|e| format!("error {e}"));
                s.load = load.map(|l| LoadView {
                    at: Timestamp::from_millis(l as i64),
                    cpu_percent: l as f64 * 2.5,
                    memory_bytes: l << 20,
                });
                s
            })
    }

    fn arb_group(name: &'static str) -> impl Strategy<Value = GroupView> {
        (
            proptest::collection::vec(arb_server(name), 0..6),
            0u32..3,
            0u32..3,
            any::<bool>(),
        )
            .prop_map(move |(servers, order, count, registered)| {
                // Names are unique within a group: keep each name's first row.
                let mut seen = HashSet::new();
                let servers: Vec<ServerView> = servers
                    .into_iter()
                    .filter(|s| seen.insert(s.name.clone()))
                    .collect();
                let mut g = group(name, order, servers);
                g.kind = if registered {
                    GroupKindView::Registered
                } else {
                    GroupKindView::Provisioned {
                        template: TemplateName::new("tpl").expect("template"),
                        count,
                        min: 0,
                        max: 8,
                    }
                };
                g
            })
    }

    fn arb_unit() -> impl Strategy<Value = UnitDetail> {
        (
            proptest::sample::subsequence(GROUPS.to_vec(), 0..=GROUPS.len()),
            any::<u64>(),
            any::<bool>(),
            proptest::option::of(0u64..3),
            0usize..3,
            0usize..4,
            any::<bool>(),
        )
            .prop_flat_map(
                |(names, shuffle, carol, busy, versions, ops, changed_status)| {
                    let groups: Vec<_> = names.iter().map(|n| arb_group(n)).collect();
                    (
                        groups,
                        Just((shuffle, carol, busy, versions, ops, changed_status)),
                    )
                },
            )
            .prop_map(
                |(mut groups, (shuffle, carol, busy, versions, ops, changed_status))| {
                    // Another order of the groups now and then.
                    if shuffle % 3 == 0 && groups.len() > 1 {
                        let k = (shuffle as usize / 3) % groups.len();
                        groups.rotate_left(k);
                    }
                    let mut u = unit(groups);
                    if carol {
                        u.owner = AccountName::new("carol").expect("account");
                    }
                    u.busy_with = busy.map(OperationId);
                    u.current_version =
                        (versions > 0).then_some(DefinitionVersion(versions as u32));
                    u.versions = (1..=versions)
                        .map(|v| VersionInfo {
                            version: DefinitionVersion(v as u32),
                            digest: vsm_core::DefinitionDigest::new("ab".repeat(32))
                                .expect("digest"),
                            created_at: Timestamp::from_millis(v as i64),
                        })
                        .collect();
                    u.last_operations = (0..ops)
                        .map(|i| OperationSummary {
                            id: OperationId(i as u64 + 1),
                            unit: Some(u.name.clone()),
                            kind: OperationKind::UnitStart,
                            state: if i == 0 && busy.is_some() {
                                OperationState::Running
                            } else {
                                OperationState::Succeeded
                            },
                            requested_by: None,
                            created_at: Timestamp::from_millis(i as i64),
                            finished_at: None,
                        })
                        .collect();
                    if changed_status {
                        u.definition_status = DefinitionStatus::Changed;
                    }
                    let servers: Vec<&ServerView> =
                        u.groups.iter().flat_map(|g| &g.servers).collect();
                    u.counts = ServerCounts {
                        all: servers.len(),
                        active: servers
                            .iter()
                            .filter(|s| s.logical == LogicalStatus::Working)
                            .count(),
                        invalid: servers
                            .iter()
                            .filter(|s| s.logical == LogicalStatus::Failed)
                            .count(),
                    };
                    u
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn applying_the_diff_gives_the_new_view(a in arb_unit(), b in arb_unit()) {
            let d = diff(&a, &b);
            let text = serde_json::to_string(&d).expect("encode");
            let back: UnitDelta = serde_json::from_str(&text).expect("decode");
            prop_assert_eq!(&back, &d);
            let mut x = a.clone();
            prop_assert_eq!(apply_delta(&mut x, &back), Ok(()));
            prop_assert_eq!(&x, &b);
            prop_assert_eq!(d.is_empty(), a == b);
        }

        #[test]
        fn a_chain_of_diffs_follows_a_chain_of_views(views in proptest::collection::vec(arb_unit(), 2..6)) {
            let mut x = views[0].clone();
            for pair in views.windows(2) {
                apply_delta(&mut x, &diff(&pair[0], &pair[1])).expect("applies");
                prop_assert_eq!(&x, &pair[1]);
            }
        }
    }
}
