//! Rebalancing the pool (`vsm host rebalance`): moves that restore the spread of groups whose
//! policy is `spread`, for example after a host returned or was added. Pure and deterministic:
//! the manager applies the moves like a drain (a replacement first, then the old server).
//!
//! For each spread group, among the hosts it may use (up, matching its selector), while the
//! host holding the most of its servers holds at least two more than the one holding the
//! fewest, one server moves from the first to the second, if that host has room for it and its
//! `max_per_host` allows. Hard rules are never broken: a move never puts two servers of a
//! hard anti-affinity group on one host, never exceeds `max_per_host`, never overfills a host
//! (the moved server is counted on both hosts until it is moved). Groups with `pack` are left
//! alone: packing is what they asked for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::{GroupName, ServerName, UnitName};
use crate::placement::{
    AntiAffinity, GroupPlacement, Host, HostName, Placement, Policy, Resources, host_usage,
};

/// One proposed move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The server's unit.
    pub unit: UnitName,
    /// Its group.
    pub group: GroupName,
    /// The server.
    pub server: ServerName,
    /// Where it is.
    pub from: HostName,
    /// Where it should go.
    pub to: HostName,
}

/// The moves that restore the spread of every `spread` group in `rules` over `hosts`, given
/// where every server is (`placements`). Deterministic: the same inputs give the same moves.
pub fn propose_rebalance(
    hosts: &[Host],
    placements: &[Placement],
    rules: &BTreeMap<(UnitName, GroupName), GroupPlacement>,
) -> Vec<Move> {
    // Free room per host, as placement counts it.
    let mut free: BTreeMap<HostName, (u64, u64)> = host_usage(hosts, placements)
        .into_iter()
        .map(|u| {
            (
                u.host,
                (
                    u.allocatable.vcpus.saturating_sub(u.used.vcpus),
                    u.allocatable.memory_mib.saturating_sub(u.used.memory_mib),
                ),
            )
        })
        .collect();
    let mut moves = Vec::new();
    for ((unit, group), rule) in rules {
        if rule.policy != Policy::Spread {
            continue;
        }
        let eligible: Vec<&Host> = hosts
            .iter()
            .filter(|h| h.state.accepts_new() && h.matches(&rule.hosts))
            .collect();
        if eligible.len() < 2 {
            continue;
        }
        let limit = match rule.anti_affinity {
            AntiAffinity::Hard => 1,
            _ => u32::MAX,
        }
        .min(rule.max_per_host.unwrap_or(u32::MAX));
        // The group's servers on each eligible host, in name order.
        let mut on: BTreeMap<HostName, Vec<(ServerName, Resources)>> = eligible
            .iter()
            .map(|h| (h.name.clone(), Vec::new()))
            .collect();
        for p in placements
            .iter()
            .filter(|p| p.unit == *unit && p.group == *group)
        {
            if let Some(list) = on.get_mut(&p.host) {
                list.push((p.server.clone(), p.size));
            }
        }
        for list in on.values_mut() {
            list.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let total: usize = on.values().map(Vec::len).sum();
        for _ in 0..total {
            // The fullest host (most servers; ties: first name) and the emptiest that can take
            // one of them (fewest; ties: first name).
            let Some((from, most)) = on
                .iter()
                .map(|(h, l)| (h.clone(), l.len()))
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            else {
                break;
            };
            let Some((_, size)) = on.get(&from).and_then(|l| l.last()).cloned() else {
                break;
            };
            let target = on
                .iter()
                .filter(|(h, l)| {
                    **h != from
                        && l.len() + 2 <= most
                        && u32::try_from(l.len() + 1).unwrap_or(u32::MAX) <= limit
                        && free.get(*h).is_some_and(|(c, m)| {
                            *c >= u64::from(size.vcpus) && *m >= size.memory_mib
                        })
                })
                .min_by(|a, b| a.1.len().cmp(&b.1.len()).then_with(|| a.0.cmp(b.0)))
                .map(|(h, _)| h.clone());
            let Some(to) = target else {
                break;
            };
            let Some((server, size)) = on.get_mut(&from).and_then(Vec::pop) else {
                break;
            };
            if let Some((c, m)) = free.get_mut(&to) {
                *c = c.saturating_sub(u64::from(size.vcpus));
                *m = m.saturating_sub(size.memory_mib);
            }
            on.entry(to.clone())
                .or_default()
                .push((server.clone(), size));
            moves.push(Move {
                unit: unit.clone(),
                group: group.clone(),
                server,
                from,
                to,
            });
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hn(s: &str) -> HostName {
        HostName::new(s).expect("host")
    }

    fn host(name: &str) -> Host {
        Host::new(hn(name), Resources::new(8, 8192))
    }

    fn placed(server: &str, host: &str) -> Placement {
        Placement {
            unit: UnitName::new("shop").expect("unit"),
            group: GroupName::new("web").expect("group"),
            server: ServerName::new(server).expect("server"),
            host: hn(host),
            size: Resources::new(1, 512),
        }
    }

    fn rules(rule: GroupPlacement) -> BTreeMap<(UnitName, GroupName), GroupPlacement> {
        BTreeMap::from([(
            (
                UnitName::new("shop").expect("unit"),
                GroupName::new("web").expect("group"),
            ),
            rule,
        )])
    }

    #[test]
    fn a_returned_host_gets_its_share_back() {
        // Four servers on h1 and h2 while h3 was away: one moves to h3 (2-1-1 is even enough).
        let hosts = [host("h1"), host("h2"), host("h3")];
        let p = [
            placed("web-1", "h1"),
            placed("web-2", "h1"),
            placed("web-3", "h2"),
            placed("web-4", "h2"),
        ];
        let moves = propose_rebalance(&hosts, &p, &rules(GroupPlacement::default()));
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(moves[0].from, hn("h1"));
        assert_eq!(moves[0].to, hn("h3"));
        assert_eq!(moves[0].server.as_str(), "web-2");
        // Deterministic.
        assert_eq!(
            moves,
            propose_rebalance(&hosts, &p, &rules(GroupPlacement::default()))
        );
    }

    #[test]
    fn six_on_one_host_become_two_per_host() {
        let hosts = [host("h1"), host("h2"), host("h3")];
        let p: Vec<Placement> = (1..=6).map(|i| placed(&format!("web-{i}"), "h1")).collect();
        let moves = propose_rebalance(&hosts, &p, &rules(GroupPlacement::default()));
        let mut count: BTreeMap<String, i32> = BTreeMap::from([
            ("h1".to_owned(), 6),
            ("h2".to_owned(), 0),
            ("h3".to_owned(), 0),
        ]);
        for m in &moves {
            *count.get_mut(m.from.as_str()).expect("from") -= 1;
            *count.get_mut(m.to.as_str()).expect("to") += 1;
        }
        assert_eq!(count.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
    }

    #[test]
    fn hard_rules_capacity_and_pack_are_respected() {
        let hosts = [host("h1"), host("h2"), host("h3")];
        let p: Vec<Placement> = (1..=4).map(|i| placed(&format!("web-{i}"), "h1")).collect();
        // max_per_host 2: h2 and h3 take at most 2 each, h1 keeps 2.
        let limited = GroupPlacement {
            max_per_host: Some(2),
            ..GroupPlacement::default()
        };
        let moves = propose_rebalance(&hosts, &p, &rules(limited));
        let to_h2 = moves.iter().filter(|m| m.to == hn("h2")).count();
        let to_h3 = moves.iter().filter(|m| m.to == hn("h3")).count();
        assert!(to_h2 <= 2 && to_h3 <= 2, "{moves:?}");
        // A host without room takes nothing.
        let mut small = host("h2");
        small.capacity = Resources::new(1, 100);
        let moves = propose_rebalance(&[host("h1"), small], &p, &rules(GroupPlacement::default()));
        assert!(moves.is_empty(), "{moves:?}");
        // Pack groups stay packed.
        let pack = GroupPlacement {
            policy: Policy::Pack,
            ..GroupPlacement::default()
        };
        assert!(propose_rebalance(&hosts, &p, &rules(pack)).is_empty());
        // A host that is not up or does not match the selector takes nothing.
        let mut down = host("h2");
        down.state = crate::placement::HostState::Down;
        let selective = GroupPlacement {
            hosts: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
            ..GroupPlacement::default()
        };
        assert!(
            propose_rebalance(&[host("h1"), down], &p, &rules(GroupPlacement::default()))
                .is_empty()
        );
        assert!(propose_rebalance(&hosts, &p, &rules(selective)).is_empty());
    }

    #[test]
    fn an_even_spread_proposes_nothing() {
        let hosts = [host("h1"), host("h2")];
        let p = [
            placed("web-1", "h1"),
            placed("web-2", "h2"),
            placed("web-3", "h1"),
        ];
        assert!(propose_rebalance(&hosts, &p, &rules(GroupPlacement::default())).is_empty());
    }
}
