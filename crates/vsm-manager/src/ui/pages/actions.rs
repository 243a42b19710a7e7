//! The pages of a unit's groups and servers: what a start or stop touches, the scale form, a
//! server's page (its state, mark and unmark, recover) and its log.

use maud::{Markup, html};

use super::{Chrome, layout, live_status, seg};
use crate::api::{GroupKindView, GroupView, ServerView, UnitDetail};
use crate::ui::i18n::{Msg, t};

/// How many servers starting (or stopping) `groups` touches, and in how many groups: a start
/// provisions a provisioned group's missing servers too, so it touches the group's count.
pub(crate) fn touched<'a>(
    groups: impl IntoIterator<Item = &'a GroupView>,
    start: bool,
) -> (usize, usize) {
    let one = |g: &GroupView| match (&g.kind, start) {
        (GroupKindView::Provisioned { count, .. }, true) => g.servers.len().max(*count as usize),
        _ => g.servers.len(),
    };
    groups
        .into_iter()
        .map(one)
        .filter(|n| *n > 0)
        .fold((0, 0), |(servers, groups), n| (servers + n, groups + 1))
}

/// The scale form of a provisioned group: the new count, then the confirmation.
pub(crate) fn scale_form(c: &Chrome, d: &UnitDetail, g: &GroupView) -> Markup {
    let unit = d.name.to_string();
    let group = g.name.to_string();
    let (count, min, max) = match &g.kind {
        GroupKindView::Provisioned {
            count, min, max, ..
        } => (*count, *min, *max),
        GroupKindView::Registered => (g.servers.len() as u32, 0, 0),
    };
    let title = format!("{} {group}", c.t(Msg::ScaleGroup));
    layout(
        c,
        &title,
        html! {
            h1 { (title) }
            p.meta { (c.t(Msg::Unit)) " " a href={ "/ui/units/" (seg(&unit)) } { (unit) } }
            form.scale method="get" action={ "/ui/units/" (seg(&unit)) "/groups/" (seg(&group)) "/confirm/scale" } {
                label for="count" { (c.t(Msg::NewCount)) " (" (min) "–" (max) ")" }
                input #count name="count" type="number" min="0" value=(count) required autofocus;
                button #scale-next type="submit" { (c.t(Msg::Continue)) }
                " "
                a.button.secondary #cancel href={ "/ui/units/" (seg(&unit)) } { (c.t(Msg::Cancel)) }
            }
        },
    )
}

/// A server's page: its state, its mark (set or remove it), recover, and its log.
pub(crate) fn server(c: &Chrome, d: &UnitDetail, g: &GroupView, s: &ServerView) -> Markup {
    let unit = d.name.to_string();
    let name = s.name.to_string();
    let base = format!("/ui/units/{}/servers/{}", seg(&unit), seg(&name));
    let dash = || html! { "—" };
    layout(
        c,
        &name,
        html! {
            h1 { (c.t(Msg::Server)) " " span #server-name { (name) } }
            dl.meta #server-facts {
                dt { (c.t(Msg::Unit)) } dd { a #server-unit href={ "/ui/units/" (seg(&unit)) } { (unit) } }
                dt { (c.t(Msg::Group)) } dd { (g.name.to_string()) }
                dt { (c.t(Msg::Logical)) } dd #server-logical { (s.logical.as_str()) }
                dt { (c.t(Msg::Observed)) } dd #server-observed { (s.observed.as_str()) }
                dt { (c.t(Msg::UpdateScope)) } dd { (s.update_scope.as_str()) }
                dt { (c.t(Msg::Address)) } dd { @if let Some(a) = &s.address { (a) } @else { (dash()) } }
                dt { (c.t(Msg::Host)) } dd { @if let Some(h) = &s.host { (h) } @else { (dash()) } }
                dt { (c.t(Msg::Version)) } dd { @if let Some(v) = s.applied_version { (v.to_string()) } @else { (dash()) } }
                dt { (c.t(Msg::Generation)) } dd { @if let Some(v) = s.generation { (v.to_string()) } @else { (dash()) } }
                dt { (c.t(Msg::CreatedAt)) } dd { (s.created_at.to_string()) }
            }
            @if let Some(e) = &s.last_error {
                div.error role="alert" { p { strong { (c.t(Msg::LastError)) ": " } span #server-error { (e) } } }
            }
            div.actions {
                a.button #server-logs href={ (base) "/logs" } { (c.t(Msg::Log)) }
                a.button.secondary #recover-server href={ (base) "/confirm/recover" } { (c.t(Msg::Recover)) }
            }
            h2 { (c.t(Msg::Mark)) }
            @match &s.mark {
                Some(m) => {
                    p #mark-text { (c.t(Msg::MarkedWith)) " " strong #mark-comment-shown { (m.comment) } " (" (m.at.to_string()) ")" }
                    form.inline method="post" action={ (base) "/unmark" } {
                        (super::csrf_field(c.csrf()))
                        button #unmark type="submit" { (c.t(Msg::Unmark)) }
                    }
                }
                None => {
                    p #mark-text { (c.t(Msg::NotMarked)) }
                    form.mark method="post" action={ (base) "/mark" } {
                        (super::csrf_field(c.csrf()))
                        label for="mark-comment" { (c.t(Msg::MarkComment)) }
                        " "
                        input #mark-comment name="comment" type="text" required maxlength="500";
                        " "
                        button #mark type="submit" .danger { (c.t(Msg::MarkServer)) }
                    }
                }
            }
        },
    )
}

/// What the log page asked for: how many lines, and whether it follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogView {
    /// The last lines shown.
    pub(crate) tail: usize,
    /// Whether the page follows the log.
    pub(crate) follow: bool,
}

/// A server's log page: the last lines, and (when following) the live region that keeps them
/// up to date.
pub(crate) fn logs(c: &Chrome, unit: &str, server: &str, v: LogView, text: &str) -> Markup {
    let base = format!("/ui/units/{}/servers/{}", seg(unit), seg(server));
    let title = format!("{} {server}", c.t(Msg::LogOf));
    layout(
        c,
        &title,
        html! {
            h1 { (c.t(Msg::LogOf)) " " span #log-server { (server) } }
            p.meta { (c.t(Msg::Unit)) " " a href={ "/ui/units/" (seg(unit)) } { (unit) } " · "
                a #log-back href=(base) { (c.t(Msg::Server)) " " (server) } }
            form.filter method="get" action={ (base) "/logs" } {
                label for="tail" { (c.t(Msg::LastLines)) }
                input #tail name="tail" type="number" min="1" max=(MAX_TAIL) value=(v.tail);
                @if v.follow { input type="hidden" name="follow" value="1"; }
                button #show-log type="submit" { (c.t(Msg::Show)) }
            }
            div.actions {
                @if v.follow {
                    a.button.secondary #unfollow href={ (base) "/logs?tail=" (v.tail) } { (c.t(Msg::StopFollowing)) }
                    (live_status(c.lang))
                } @else {
                    a.button #follow href={ (base) "/logs?tail=" (v.tail) "&follow=1" } { (c.t(Msg::Follow)) }
                }
            }
            @if v.follow {
                div #live .log data-live={ (base) "/logs/live?tail=" (v.tail) } data-follow="1" aria-live="polite" {
                    (log_live(c.lang, text))
                }
            } @else {
                div #live .log { (log_live(c.lang, text)) }
            }
        },
    )
}

/// The most lines a log page shows.
pub(crate) const MAX_TAIL: usize = 5000;

/// The live part of a log page: the lines.
pub(crate) fn log_live(lang: crate::ui::i18n::Lang, text: &str) -> Markup {
    html! {
        @if text.is_empty() {
            p #no-log { (t(lang, Msg::NoLog)) }
        } @else {
            pre #log-text tabindex="0" { (text) }
        }
    }
}
