//! Every page of the console, as `maud` templates: all of the console's HTML is here. A page is
//! a function of plain values (what the manager answered, the language, the CSRF token) to
//! markup, so a test can render one without a server.
//!
//! No inline script or style anywhere (the Content-Security-Policy forbids them): behaviour is
//! in `assets/console.js`, looks in `assets/console.css`. A live region is a `div` with
//! `data-live` = the URL of its stream; the script swaps in the fragments the stream sends,
//! which are rendered by the same functions as the first page.

pub(crate) mod actions;
pub(crate) mod admin;
pub(crate) mod definitions;

use maud::{DOCTYPE, Markup, html};
use vsm_core::Role;

use super::filter::{Filter, STATES, encode, is_problem};
use super::i18n::{Lang, Msg, no_page_sentence, servers_now_heading, t};
use super::security::CSRF_FIELD;
use crate::api::{GroupKindView, UnitDetail, UnitSummary};
use crate::http::ErrorBody;
use crate::operation::{OperationRecord, OperationState, StepStatus};

/// What every page around its content shows: the language and who is signed in.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    /// The page's language.
    pub(crate) lang: Lang,
    /// The signed-in account and role, and the session's CSRF token; `None` before login.
    pub(crate) user: Option<(String, Role, String)>,
}

impl Chrome {
    pub(crate) fn t(&self, m: Msg) -> &'static str {
        t(self.lang, m)
    }

    pub(crate) fn csrf(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.2.as_str())
    }

    fn is_admin(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| u.1 == Role::Administrator)
    }
}

/// A path segment of a URL (a unit's, group's, server's or account's name).
pub(crate) fn seg(name: &str) -> String {
    encode(name)
}

/// A hidden CSRF field.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// The page around `content`.
pub(crate) fn layout(c: &Chrome, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(c.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " — " (c.t(Msg::Title)) }
                link rel="stylesheet" href="/ui/assets/console.css";
                script src="/ui/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { (c.t(Msg::SkipToContent)) }
                header.top {
                    a.brand href="/ui/units" { (c.t(Msg::Title)) }
                    @if let Some((name, role, csrf)) = &c.user {
                        nav aria-label=(c.t(Msg::Navigation)) {
                            a href="/ui/units" { (c.t(Msg::Units)) }
                            a #nav-templates href="/ui/templates" { (c.t(Msg::Templates)) }
                            @if c.is_admin() {
                                a #nav-accounts href="/ui/accounts" { (c.t(Msg::Accounts)) }
                                a #nav-owners href="/ui/owners" { (c.t(Msg::Owners)) }
                                a #nav-hosts href="/ui/hosts" { (c.t(Msg::Hosts)) }
                                a #nav-audit href="/ui/audit" { (c.t(Msg::AuditLog)) }
                                a #nav-log href="/ui/log-settings" { (c.t(Msg::LogSettings)) }
                            }
                        }
                        span.who { (c.t(Msg::SignedInAs)) " " strong { (name) } " (" (role.as_str()) ")" }
                        form.inline method="post" action="/ui/logout" {
                            (csrf_field(csrf))
                            button type="submit" { (c.t(Msg::LogOut)) }
                        }
                    }
                }
                main #main tabindex="-1" { (content) }
            }
        }
    }
}

/// An error as the CLI prints it: the sentence, its details, and the hint.
pub(crate) fn error_box(lang: Lang, e: &ErrorBody) -> Markup {
    html! {
        div.error role="alert" {
            p { strong { (t(lang, Msg::Error)) ": " } span.message { (e.error.message) } }
            @if !e.error.details.is_empty() {
                ul.details { @for d in &e.error.details { li { (d) } } }
            }
            @if let Some(hint) = &e.error.hint {
                p.hint { strong { (t(lang, Msg::Hint)) ": " } (hint) }
            }
        }
    }
}

/// The login page.
pub(crate) fn login(c: &Chrome, csrf: &str, user: &str, error: Option<&ErrorBody>) -> Markup {
    layout(
        c,
        c.t(Msg::LogIn),
        html! {
            h1 { (c.t(Msg::LogIn)) }
            @if let Some(e) = error { (error_box(c.lang, e)) }
            form.login method="post" action="/ui/login" {
                (csrf_field(csrf))
                label for="user" { (c.t(Msg::Account)) }
                input #user name="user" type="text" autocomplete="username" required value=(user) autofocus;
                label for="password" { (c.t(Msg::Password)) }
                input #password name="password" type="password" autocomplete="current-password" required;
                button #login type="submit" { (c.t(Msg::LogIn)) }
            }
        },
    )
}

/// An error page (a refused or failed request).
pub(crate) fn error_page(c: &Chrome, e: &ErrorBody) -> Markup {
    layout(
        c,
        c.t(Msg::Error),
        html! {
            h1 { (c.t(Msg::Error)) }
            (error_box(c.lang, e))
            p { a href="/ui/units" { (c.t(Msg::Back)) } }
        },
    )
}

/// The page of a path under `/ui/` the console does not have (404).
pub(crate) fn not_found(c: &Chrome, path: &str) -> Markup {
    layout(
        c,
        c.t(Msg::PageNotFound),
        html! {
            h1 { (c.t(Msg::PageNotFound)) }
            p #not-found { (no_page_sentence(c.lang, path)) }
            p { a #to-units href="/ui/units" { (c.t(Msg::ToUnits)) } }
        },
    )
}

/// The units page: every unit the caller may see, with its state counts.
pub(crate) fn units(c: &Chrome, list: &[UnitSummary], show_owner: bool) -> Markup {
    layout(
        c,
        c.t(Msg::Units),
        html! {
            h1 { (c.t(Msg::Units)) }
            @if list.is_empty() {
                p #no-units { (c.t(Msg::NoUnits)) }
            } @else {
                table #units {
                    caption.sr { (c.t(Msg::Units)) }
                    thead { tr {
                        th scope="col" { (c.t(Msg::Unit)) }
                        @if show_owner { th scope="col" { (c.t(Msg::Owner)) } }
                        th scope="col" { (c.t(Msg::Definition)) }
                        th scope="col" { (c.t(Msg::Version)) }
                        th scope="col" .num { (c.t(Msg::Servers)) }
                        th scope="col" .num { (c.t(Msg::Active)) }
                        th scope="col" .num { (c.t(Msg::Invalid)) }
                        th scope="col" { (c.t(Msg::Busy)) }
                    } }
                    tbody {
                        @for u in list {
                            tr data-unit=(u.name.to_string()) {
                                th scope="row" { a href={ "/ui/units/" (u.name.to_string()) } { (u.name.to_string()) } }
                                @if show_owner { td.owner { (u.owner.to_string()) } }
                                td { (u.definition_status.to_string()) }
                                td { @if let Some(v) = u.current_version { (v.to_string()) } @else { "—" } }
                                td.num.all { (u.counts.all) }
                                td.num.active { (u.counts.active) }
                                td.num.invalid.bad[u.counts.invalid > 0] { (u.counts.invalid) }
                                td { @if let Some(op) = u.busy_with { a href={ "/ui/operations/" (op.to_string()) } { "#" (op.to_string()) } } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A unit's page: actions, the filter, and the live region.
pub(crate) fn unit(c: &Chrome, d: &UnitDetail, f: &Filter, rev: u64) -> Markup {
    let name = d.name.to_string();
    let live_url = {
        let q = f.query(f.page.unwrap_or(1));
        let sep = if q.is_empty() { '?' } else { '&' };
        format!("/ui/units/{name}/live{q}{sep}since={rev}")
    };
    layout(
        c,
        &name,
        html! {
            h1 { (c.t(Msg::Unit)) " " span #unit-name { (name) } }
            p.meta { (c.t(Msg::Owner)) ": " span #owner { (d.owner.to_string()) } }
            div.actions {
                a.button #start-unit href={ "/ui/units/" (seg(&name)) "/confirm/start" } { (c.t(Msg::StartUnit)) }
                a.button #stop-unit href={ "/ui/units/" (seg(&name)) "/confirm/stop" } { (c.t(Msg::StopUnit)) }
                a.button.secondary #definitions href={ "/ui/units/" (seg(&name)) "/definitions" } { (c.t(Msg::DefinitionsAndApply)) }
                a.button.secondary #rollback-unit href={ "/ui/units/" (seg(&name)) "/confirm/rollback" } { (c.t(Msg::Rollback)) }
                a.button.secondary #upgrade-unit href={ "/ui/units/" (seg(&name)) "/confirm/upgrade" } { (c.t(Msg::Upgrade)) }
                (live_status(c.lang))
            }
            form.filter method="get" action={ "/ui/units/" (name) } {
                label for="f-group" { (c.t(Msg::Group)) }
                select #f-group name="group" {
                    option value="" { (c.t(Msg::AllGroups)) }
                    @for g in &d.groups {
                        option value=(g.name.to_string()) selected[f.group() == Some(g.name.as_str())] { (g.name.to_string()) }
                    }
                }
                label for="f-state" { (c.t(Msg::State)) }
                select #f-state name="state" {
                    option value="" { (c.t(Msg::AllStates)) }
                    @for s in STATES {
                        option value=(s) selected[f.state() == Some(s)] {
                            @if s == "problem" { (c.t(Msg::Problems)) } @else { (s) }
                        }
                    }
                }
                label for="f-q" { (c.t(Msg::NameContains)) }
                input #f-q type="search" name="q" value=(f.name().unwrap_or(""));
                button #filter type="submit" { (c.t(Msg::Filter)) }
            }
            div #live data-live=(live_url) data-rev=(rev) aria-live="polite" {
                (unit_live(c.lang, d, f))
            }
        },
    )
}

/// The "live" indicator a page's script keeps up to date.
fn live_status(lang: Lang) -> Markup {
    html! {
        span #live-status .live role="status"
            data-live-text=(t(lang, Msg::Live))
            data-lost-text=(t(lang, Msg::Disconnected)) {}
    }
}

/// The live part of a unit's page: counts, groups, and one page of servers.
pub(crate) fn unit_live(lang: Lang, d: &UnitDetail, f: &Filter) -> Markup {
    let tt = |m| t(lang, m);
    let sel = f.select(d);
    let name = d.name.to_string();
    let first = (sel.page - 1) * super::filter::PAGE_SIZE + usize::from(sel.matching > 0);
    let last = first + sel.rows.len().saturating_sub(1);
    html! {
        dl.counts {
            dt { (tt(Msg::Servers)) } dd #count-all { (d.counts.all) }
            dt { (tt(Msg::Active)) } dd #count-active { (d.counts.active) }
            dt { (tt(Msg::Invalid)) } dd #count-invalid .bad[d.counts.invalid > 0] { (d.counts.invalid) }
            dt { (tt(Msg::Definition)) } dd #definition { (d.definition_status.to_string())
                @if let Some(v) = d.current_version { " (" (v.to_string()) ")" } }
            @if let Some(op) = d.busy_with {
                dt { (tt(Msg::Busy)) } dd { a #busy href={ "/ui/operations/" (op.to_string()) } { "#" (op.to_string()) } }
            }
        }
        h2 { (tt(Msg::Groups)) }
        table #groups {
            thead { tr {
                th scope="col" { (tt(Msg::Group)) }
                th scope="col" { (tt(Msg::Kind)) }
                th scope="col" { (tt(Msg::CountMinMax)) }
                th scope="col" .num { (tt(Msg::StartOrder)) }
                th scope="col" .num { (tt(Msg::Servers)) }
                th scope="col" { (tt(Msg::Actions)) }
            } }
            tbody {
                @for g in &d.groups {
                    @let group_url = format!("/ui/units/{}/groups/{}", seg(&name), seg(g.name.as_str()));
                    tr data-group=(g.name.to_string()) {
                        th scope="row" { (g.name.to_string()) }
                        @match &g.kind {
                            GroupKindView::Provisioned { template, count, min, max } => {
                                td { (tt(Msg::Template)) " " (template.to_string()) }
                                td { (count) " (" (min) "–" (max) ")" }
                            }
                            GroupKindView::Registered => {
                                td { (tt(Msg::Registered)) }
                                td { (g.servers.len()) }
                            }
                        }
                        td.num { (g.start_order) }
                        td.num { (g.servers.len()) }
                        td.group-actions {
                            a #{ "start-group-" (g.name.to_string()) } href={ (group_url) "/confirm/start" }
                                aria-label={ (tt(Msg::StartGroup)) " " (g.name.to_string()) } { (tt(Msg::Start)) }
                            a #{ "stop-group-" (g.name.to_string()) } href={ (group_url) "/confirm/stop" }
                                aria-label={ (tt(Msg::StopGroup)) " " (g.name.to_string()) } { (tt(Msg::Stop)) }
                            @if matches!(g.kind, GroupKindView::Provisioned { .. }) {
                                a #{ "scale-group-" (g.name.to_string()) } href={ (group_url) "/confirm/scale" }
                                    aria-label={ (tt(Msg::ScaleGroup)) " " (g.name.to_string()) } { (tt(Msg::Scale)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { (tt(Msg::Servers)) }
        @if sel.rows.is_empty() {
            p #no-servers { (tt(Msg::NoServers)) " (" span #matching { "0" } ")" }
        } @else {
            p #showing { (tt(Msg::Showing)) " " (first) "–" (last) " " (tt(Msg::Of)) " " span #matching { (sel.matching) } }
            table #servers {
                thead { tr {
                    th scope="col" { (tt(Msg::Server)) }
                    th scope="col" { (tt(Msg::Group)) }
                    th scope="col" { (tt(Msg::Logical)) }
                    th scope="col" { (tt(Msg::Observed)) }
                    th scope="col" { (tt(Msg::UpdateScope)) }
                    th scope="col" { (tt(Msg::Address)) }
                    th scope="col" { (tt(Msg::Host)) }
                    th scope="col" { (tt(Msg::Version)) }
                    th scope="col" { (tt(Msg::Mark)) }
                    th scope="col" { (tt(Msg::LastError)) }
                } }
                tbody {
                    @for (g, s) in &sel.rows {
                        tr data-server=(s.name.to_string()) .problem[is_problem(s)] {
                            th scope="row" { a href={ "/ui/units/" (seg(&name)) "/servers/" (seg(s.name.as_str())) } { (s.name.to_string()) } }
                            td { (g.name.to_string()) }
                            td.logical { (s.logical.as_str())
                                @if let Some(step) = s.in_progress { " … " (format!("{step:?}").to_lowercase()) } }
                            td.observed { (s.observed.as_str()) }
                            td { (s.update_scope.as_str()) }
                            td { (s.address.as_deref().unwrap_or("—")) }
                            td { (s.host.as_deref().unwrap_or("—")) }
                            td.version { @if let Some(v) = s.applied_version { (v.to_string()) } @else { "—" } }
                            td { @if let Some(m) = &s.mark { (m.comment) } }
                            td.last-error { @if let Some(e) = &s.last_error { (e) } }
                        }
                    }
                }
            }
        }
        @if sel.pages > 1 {
            nav.pager aria-label="pages" {
                @if sel.page > 1 {
                    a #prev-page href={ "/ui/units/" (name) (f.query(sel.page - 1)) } { (tt(Msg::Previous)) }
                }
                span { (sel.page) " / " (sel.pages) }
                @if sel.page < sel.pages {
                    a #next-page href={ "/ui/units/" (name) (f.query(sel.page + 1)) } { (tt(Msg::Next)) }
                }
            }
        }
        @if !d.last_operations.is_empty() {
            h2 { (tt(Msg::Operations)) }
            ul #last-operations {
                @for op in &d.last_operations {
                    li { a href={ "/ui/operations/" (op.id.to_string()) } { "#" (op.id.to_string()) " " (op.kind.as_str()) } " — " (op.state.as_str()) }
                }
            }
        }
    }
}

/// What a confirmation page shows and sends.
#[derive(Debug)]
pub(crate) struct Confirm {
    /// The page's heading.
    pub(crate) title: String,
    /// What will be touched, as a question.
    pub(crate) sentence: String,
    /// Where the form goes (`POST`).
    pub(crate) action: String,
    /// Hidden fields besides the CSRF token.
    pub(crate) hidden: Vec<(&'static str, String)>,
    /// Whether the action takes something away (a red button).
    pub(crate) danger: bool,
    /// Where "cancel" goes.
    pub(crate) back: String,
}

/// A confirmation: what will be touched, the button that does it, and the way back.
pub(crate) fn confirm(c: &Chrome, k: &Confirm) -> Markup {
    layout(
        c,
        &k.title,
        html! {
            h1 { (k.title) }
            form.confirm method="post" action=(k.action) {
                p #confirm-text { (k.sentence) }
                (csrf_field(c.csrf()))
                @for (name, value) in &k.hidden {
                    input type="hidden" name=(name) value=(value);
                }
                button #confirm type="submit" .danger[k.danger] autofocus { (c.t(Msg::Confirm)) }
                " "
                a.button.secondary #cancel href=(k.back) { (c.t(Msg::Cancel)) }
            }
        },
    )
}

/// An operation's page: what it is, and its live progress (`now`: its unit as it is now, whose
/// servers a running operation's page shows).
pub(crate) fn operation(
    c: &Chrome,
    r: &OperationRecord,
    rev: u64,
    now: Option<&UnitDetail>,
) -> Markup {
    let id = r.summary.id.to_string();
    let running = r.summary.state == OperationState::Running;
    layout(
        c,
        &format!("{} #{id}", c.t(Msg::Operation)),
        html! {
            h1 { (c.t(Msg::Operation)) " #" (id) " " span.kind { (r.summary.kind.as_str()) } }
            dl.meta {
                @if let Some(u) = &r.summary.unit {
                    dt { (c.t(Msg::Unit)) } dd { a #op-unit href={ "/ui/units/" (seg(u.as_str())) } { (u.to_string()) } }
                }
                @if let Some(who) = &r.summary.requested_by {
                    dt { (c.t(Msg::RequestedBy)) } dd { (who.to_string()) }
                }
                dt { (c.t(Msg::Created)) } dd { (r.summary.created_at.to_string()) }
            }
            div.actions {
                @if running {
                    form #cancel-form method="post" action={ "/ui/operations/" (id) "/cancel" } {
                        (csrf_field(c.csrf()))
                        button #cancel-op type="submit" .danger { (c.t(Msg::CancelOperation)) }
                    }
                }
                (live_status(c.lang))
            }
            @if running {
                div #live data-live={ "/ui/operations/" (id) "/live?since=" (rev) } data-rev=(rev) aria-live="polite" {
                    (operation_live(c.lang, r, now))
                }
            } @else {
                div #live data-rev=(rev) { (operation_live(c.lang, r, now)) }
            }
        },
    )
}

/// The live part of an operation's page. While the operation runs, the manager has its
/// per-server results only once it ends, so the page also shows the servers of its unit as
/// they are now (`now`): the step each one is in, its state, its version and, for a failed or
/// unhealthy server, its error — updated after every step.
pub(crate) fn operation_live(lang: Lang, r: &OperationRecord, now: Option<&UnitDetail>) -> Markup {
    let tt = |m| t(lang, m);
    let done = r
        .servers
        .iter()
        .filter(|s| s.status != StepStatus::Started)
        .count();
    let total = r.servers.len().max(done);
    // The manager counts a running operation's servers only when it ends: until then the bar
    // says "busy" rather than "0 of 0".
    let counted = total > 0 || r.summary.state.is_finished();
    let shown = r.servers.len().min(super::filter::PAGE_SIZE);
    html! {
        p { (tt(Msg::State)) ": " strong #op-state data-state=(r.summary.state.as_str()) { (r.summary.state.as_str()) }
            @if let Some(at) = r.summary.finished_at { " — " (tt(Msg::Finished)) " " (at.to_string()) } }
        p {
            label for="op-progress" { (tt(Msg::Progress)) }
            " "
            @if counted {
                progress #op-progress max=(total.max(1)) value=(done) { (done) " / " (total) }
                " " span #op-count { (done) " / " (total) }
            } @else {
                progress #op-progress { "…" }
                " " span #op-count { "…" }
            }
        }
        @if let Some(e) = &r.error { div.error role="alert" { p { strong { (tt(Msg::Error)) ": " } span.message #op-error { (e) } } } }
        @if !r.warnings.is_empty() {
            h2 { (tt(Msg::Warnings)) }
            ul { @for w in &r.warnings { li { (w) } } }
        }
        @if !r.servers.is_empty() {
            table #op-servers {
                thead { tr {
                    th scope="col" { (tt(Msg::Server)) }
                    th scope="col" { (tt(Msg::Group)) }
                    th scope="col" { (tt(Msg::Result)) }
                    th scope="col" { (tt(Msg::Details)) }
                } }
                tbody {
                    @for s in r.servers.iter().take(shown) {
                        tr data-server=(s.server.to_string()) .problem[s.status == StepStatus::Failed] {
                            th scope="row" { (s.server.to_string()) }
                            td { @if let Some(g) = &s.group { (g.to_string()) } }
                            td.status { (format!("{:?}", s.status).to_lowercase()) }
                            td.detail { @if let Some(e) = &s.error { (e) } @if s.marked { " (" (tt(Msg::Mark)) ")" } }
                        }
                    }
                }
            }
            @if r.servers.len() > shown {
                p { (r.servers.len() - shown) " " (tt(Msg::MoreServers)) }
            }
        }
        @if let (OperationState::Running, Some(d)) = (r.summary.state, now) {
            (servers_now(lang, d))
        }
    }
}

/// The servers of a running operation's unit as they are now (at most a page of them).
fn servers_now(lang: Lang, d: &UnitDetail) -> Markup {
    let tt = |m| t(lang, m);
    let all = d.groups.iter().map(|g| g.servers.len()).sum::<usize>();
    let shown = all.min(super::filter::PAGE_SIZE);
    let rows = d
        .groups
        .iter()
        .flat_map(|g| g.servers.iter().map(move |s| (g, s)))
        .take(shown);
    html! {
        @if all > 0 {
            h2 #op-now-heading { (servers_now_heading(lang, d.name.as_str())) }
            table #op-now aria-labelledby="op-now-heading" {
                thead { tr {
                    th scope="col" { (tt(Msg::Server)) }
                    th scope="col" { (tt(Msg::Group)) }
                    th scope="col" { (tt(Msg::Logical)) }
                    th scope="col" { (tt(Msg::Version)) }
                    th scope="col" { (tt(Msg::Error)) }
                } }
                tbody {
                    @for (g, s) in rows {
                        tr data-server=(s.name.to_string()) .problem[s.logical.is_invalid()] {
                            th scope="row" { (s.name.to_string()) }
                            td { (g.name.to_string()) }
                            td.logical { (s.logical.as_str())
                                @if let Some(step) = s.in_progress { " … " (format!("{step:?}").to_lowercase()) } }
                            td.version { @if let Some(v) = s.applied_version { (v.to_string()) } @else { "—" } }
                            td.last-error { @if let Some(e) = s.last_error.as_ref().filter(|_| s.logical.is_invalid()) { (e) } }
                        }
                    }
                }
            }
            @if all > shown {
                p { (all - shown) " " (tt(Msg::MoreServers)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_not_found_page_names_the_path_escaped_in_both_languages() {
        let en = Chrome {
            lang: Lang::En,
            user: None,
        };
        let html = not_found(&en, "/ui/<b>nosuch").into_string();
        assert!(html.contains(r#"<html lang="en">"#), "{html}");
        assert!(html.contains("<h1>Page not found</h1>"), "{html}");
        assert!(
            html.contains("There is no console page at /ui/&lt;b&gt;nosuch."),
            "{html}"
        );
        assert!(!html.contains("<b>nosuch"), "{html}");
        let ja = Chrome {
            lang: Lang::Ja,
            user: Some(("bob".into(), Role::Builder, "token".into())),
        };
        let html = not_found(&ja, "/ui/nosuch").into_string();
        assert!(html.contains(r#"<html lang="ja">"#), "{html}");
        assert!(html.contains("<h1>ページが見つかりません</h1>"), "{html}");
        assert!(
            html.contains("/ui/nosuch というコンソールのページはありません。"),
            "{html}"
        );
        assert!(html.contains("管理ユニットの一覧へ"), "{html}");
    }
}
