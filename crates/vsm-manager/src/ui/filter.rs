//! Which servers of a unit one page of the console shows: the filter (group, state, name)
//! and the page, from the query string, and the selection of at most [`PAGE_SIZE`] rows out of
//! a unit of any size.

use serde::Deserialize;
use vsm_core::model::{LogicalStatus, ObservedStatus};

use crate::api::{GroupView, ServerView, UnitDetail};

/// The most server rows a page shows (and so the most in the browser's DOM).
pub(crate) const PAGE_SIZE: usize = 200;

/// The filter and page of a unit page (`?group=&state=&q=&page=`); `since` is the revision a
/// live stream starts after.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Filter {
    /// Only this group (empty: all).
    #[serde(default)]
    pub(crate) group: Option<String>,
    /// A logical state's word, or `problem` (empty: all).
    #[serde(default)]
    pub(crate) state: Option<String>,
    /// Servers whose name contains this (case-insensitive).
    #[serde(default)]
    pub(crate) q: Option<String>,
    /// The page, from 1.
    #[serde(default)]
    pub(crate) page: Option<usize>,
    /// For live streams: the revision the page showed.
    #[serde(default)]
    pub(crate) since: Option<u64>,
}

/// The state filter's choices besides "all": problems, then every logical state.
pub(crate) const STATES: [&str; 7] = [
    "problem",
    "working",
    "stopped",
    "started",
    "provisioning",
    "unhealthy",
    "failed",
];

/// One page of a unit's servers.
#[derive(Debug)]
pub(crate) struct Selection<'a> {
    /// The rows of the page, each with its group's name.
    pub(crate) rows: Vec<(&'a GroupView, &'a ServerView)>,
    /// How many servers match the filter in all.
    pub(crate) matching: usize,
    /// The page shown (from 1; the last one when asked for one past it).
    pub(crate) page: usize,
    /// How many pages the matching servers fill (at least 1).
    pub(crate) pages: usize,
}

/// Whether a server has a problem: a failure mark, a last error, a failed or unhealthy logical
/// state, or an observed failure.
pub(crate) fn is_problem(s: &ServerView) -> bool {
    s.mark.is_some()
        || s.last_error.is_some()
        || matches!(s.logical, LogicalStatus::Failed | LogicalStatus::Unhealthy)
        || s.observed == ObservedStatus::Failed
}

impl Filter {
    fn value(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The group filter, if any.
    pub(crate) fn group(&self) -> Option<&str> {
        Self::value(&self.group)
    }

    /// The state filter, if any.
    pub(crate) fn state(&self) -> Option<&str> {
        Self::value(&self.state)
    }

    /// The name filter, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        Self::value(&self.q)
    }

    fn matches(&self, g: &GroupView, s: &ServerView, needle: Option<&str>) -> bool {
        if self.group().is_some_and(|want| g.name.as_str() != want) {
            return false;
        }
        let state_ok = match self.state() {
            None => true,
            Some("problem") => is_problem(s),
            Some(word) => s.logical.as_str() == word,
        };
        if !state_ok {
            return false;
        }
        needle.is_none_or(|n| s.name.as_str().to_lowercase().contains(n))
    }

    /// The page of `detail`'s servers this filter selects, in the unit's order.
    pub(crate) fn select<'a>(&self, detail: &'a UnitDetail) -> Selection<'a> {
        let needle = self.name().map(str::to_lowercase);
        let wanted = self.page.unwrap_or(1).max(1);
        let mut matching = 0usize;
        let mut rows = Vec::new();
        let all = detail
            .groups
            .iter()
            .flat_map(|g| g.servers.iter().map(move |s| (g, s)));
        // Count every match; keep the rows of the wanted page (and of the last page, in
        // case the wanted one is past the end).
        let mut last_page_rows = Vec::new();
        for (g, s) in all {
            if !self.matches(g, s, needle.as_deref()) {
                continue;
            }
            let page_of = matching / PAGE_SIZE + 1;
            if page_of == wanted {
                rows.push((g, s));
            }
            if matching.is_multiple_of(PAGE_SIZE) {
                last_page_rows.clear();
            }
            last_page_rows.push((g, s));
            matching += 1;
        }
        let pages = matching.div_ceil(PAGE_SIZE).max(1);
        let page = wanted.min(pages);
        if page != wanted {
            rows = if matching == 0 {
                Vec::new()
            } else {
                last_page_rows
            };
        }
        Selection {
            rows,
            matching,
            page,
            pages,
        }
    }

    /// The query string of this filter at `page` (with `?`; empty values left out).
    pub(crate) fn query(&self, page: usize) -> String {
        let mut parts = Vec::new();
        if let Some(g) = self.group() {
            parts.push(format!("group={}", encode(g)));
        }
        if let Some(s) = self.state() {
            parts.push(format!("state={}", encode(s)));
        }
        if let Some(q) = self.name() {
            parts.push(format!("q={}", encode(q)));
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::GroupKindView;
    use vsm_core::model::UpdateScope;
    use vsm_core::{GroupName, ServerName, Timestamp, UnitName};

    fn server(name: &str, logical: LogicalStatus) -> ServerView {
        ServerView {
            name: ServerName::new(name).expect("name"),
            logical,
            observed: ObservedStatus::Unknown,
            observed_at: None,
            in_progress: None,
            update_scope: UpdateScope::None,
            address: None,
            host: None,
            epoch: 1,
            applied_version: None,
            generation: None,
            created_at: Timestamp::EPOCH,
            mark: None,
            last_error: None,
            load: None,
        }
    }

    fn unit(web: usize, app: usize) -> UnitDetail {
        let group = |name: &str, n: usize, logical| GroupView {
            name: GroupName::new(name).expect("name"),
            kind: GroupKindView::Registered,
            start_order: 1,
            servers: (1..=n)
                .map(|i| server(&format!("{name}-{i}"), logical))
                .collect(),
        };
        UnitDetail {
            name: UnitName::new("shop").expect("name"),
            owner: vsm_core::AccountName::new("bob").expect("name"),
            created_at: Timestamp::EPOCH,
            definition_status: vsm_core::model::DefinitionStatus::Unchanged,
            current_version: None,
            versions: Vec::new(),
            counts: Default::default(),
            groups: vec![
                group("web", web, LogicalStatus::Working),
                group("app", app, LogicalStatus::Stopped),
            ],
            busy_with: None,
            last_operations: Vec::new(),
        }
    }

    fn names(sel: &Selection<'_>) -> Vec<String> {
        sel.rows.iter().map(|(_, s)| s.name.to_string()).collect()
    }

    #[test]
    fn pages_hold_at_most_two_hundred_rows() {
        let u = unit(450, 10);
        let all = Filter::default().select(&u);
        assert_eq!((all.matching, all.page, all.pages), (460, 1, 3));
        assert_eq!(all.rows.len(), PAGE_SIZE);
        let third = Filter {
            page: Some(3),
            ..Filter::default()
        }
        .select(&u);
        assert_eq!(third.rows.len(), 60);
        assert_eq!(names(&third).first().map(String::as_str), Some("web-401"));
        assert_eq!(names(&third).last().map(String::as_str), Some("app-10"));
        // Past the end: the last page.
        let past = Filter {
            page: Some(9),
            ..Filter::default()
        }
        .select(&u);
        assert_eq!((past.page, past.rows.len()), (3, 60));
    }

    #[test]
    fn filters_by_group_state_and_name() {
        let mut u = unit(30, 5);
        u.groups[0].servers[3].mark = Some(vsm_core::model::FailureMark {
            comment: "disk".into(),
            at: Timestamp::EPOCH,
        });
        let f = |group: &str, state: &str, q: &str| Filter {
            group: Some(group.into()),
            state: Some(state.into()),
            q: Some(q.into()),
            page: None,
            since: None,
        };
        assert_eq!(f("app", "", "").select(&u).matching, 5);
        assert_eq!(f("", "stopped", "").select(&u).matching, 5);
        assert_eq!(f("", "working", "").select(&u).matching, 30);
        assert_eq!(names(&f("", "problem", "").select(&u)), vec!["web-4"]);
        assert_eq!(
            names(&f("web", "", "WEB-2").select(&u)),
            vec![
                "web-2", "web-20", "web-21", "web-22", "web-23", "web-24", "web-25", "web-26",
                "web-27", "web-28", "web-29"
            ]
        );
        let none = f("web", "stopped", "").select(&u);
        assert_eq!((none.matching, none.pages, none.rows.len()), (0, 1, 0));
        assert_eq!(
            f("web", "", "a b&c").query(2),
            "?group=web&q=a%20b%26c&page=2"
        );
        assert_eq!(Filter::default().query(1), "");
    }
}
