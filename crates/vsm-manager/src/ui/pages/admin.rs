//! The templates page (everyone) and the administrators' pages: accounts, units' owners, the
//! audit log and the host pool.

use maud::{Markup, html};
use vsm_core::{AccountName, Role};

use super::{Chrome, csrf_field, layout, seg};
use crate::api::{AccountInfo, HostInfo, LogSettings, TemplateInfo, UnitSummary};
use crate::store::AuditEntry;
use crate::ui::i18n::Msg;

/// Every template with its generations.
pub(crate) fn templates(c: &Chrome, list: &[TemplateInfo]) -> Markup {
    layout(
        c,
        c.t(Msg::Templates),
        html! {
            h1 { (c.t(Msg::Templates)) }
            @if list.is_empty() {
                p #no-templates { (c.t(Msg::NoTemplates)) }
            } @else {
                table #templates {
                    caption.sr { (c.t(Msg::Templates)) }
                    thead { tr {
                        th scope="col" { (c.t(Msg::Template)) }
                        th scope="col" { (c.t(Msg::Owner)) }
                        th scope="col" { (c.t(Msg::Driver)) }
                        th scope="col" { (c.t(Msg::Latest)) }
                        th scope="col" { (c.t(Msg::UsedBy)) }
                    } }
                    tbody {
                        @for tpl in list {
                            tr data-template=(tpl.name.to_string()) {
                                th scope="row" { a href={ "#gen-" (tpl.name.to_string()) } { (tpl.name.to_string()) } }
                                td { (tpl.owner.to_string()) }
                                td { (tpl.driver.as_str()) }
                                td.latest { (tpl.latest.to_string()) }
                                td { @for (i, u) in tpl.used_by.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    a href={ "/ui/units/" (seg(u.as_str())) } { (u.to_string()) }
                                } }
                            }
                        }
                    }
                }
                @for tpl in list {
                    section.generations aria-labelledby={ "gen-" (tpl.name.to_string()) } {
                        h2 #{ "gen-" (tpl.name.to_string()) } { (c.t(Msg::GenerationsOf)) " " (tpl.name.to_string()) }
                        table data-generations=(tpl.name.to_string()) {
                            thead { tr {
                                th scope="col" { (c.t(Msg::Generation)) }
                                th scope="col" { (c.t(Msg::Source)) }
                                th scope="col" { (c.t(Msg::RegisteredAt)) }
                                th scope="col" .num { (c.t(Msg::Cpus)) }
                                th scope="col" .num { (c.t(Msg::MemoryMib)) }
                            } }
                            tbody {
                                @for g in tpl.generations.iter().rev() {
                                    tr data-generation=(g.generation.0) {
                                        th scope="row" { (g.generation.to_string())
                                            @if g.generation == tpl.latest { " (" (c.t(Msg::Latest)) ")" } }
                                        td { code { (g.source) } }
                                        td { (g.created_at.to_string()) }
                                        td.num { (g.size.vcpus) }
                                        td.num { (g.size.memory_mib) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn role_word(c: &Chrome, r: Role) -> &'static str {
    match r {
        Role::Administrator => c.t(Msg::Administrator),
        Role::Builder => c.t(Msg::Builder),
    }
}

/// The accounts, with the form that adds one.
pub(crate) fn accounts(c: &Chrome, list: &[AccountInfo], me: &str) -> Markup {
    layout(
        c,
        c.t(Msg::Accounts),
        html! {
            h1 { (c.t(Msg::Accounts)) }
            table #accounts {
                caption.sr { (c.t(Msg::Accounts)) }
                thead { tr {
                    th scope="col" { (c.t(Msg::Account)) }
                    th scope="col" { (c.t(Msg::Role)) }
                    th scope="col" { (c.t(Msg::CreatedAt)) }
                    th scope="col" { (c.t(Msg::Units)) }
                    th scope="col" { (c.t(Msg::Actions)) }
                } }
                tbody {
                    @for a in list {
                        @let name = a.name.to_string();
                        tr data-account=(name) {
                            th scope="row" { (name) }
                            td.role { (role_word(c, a.role)) }
                            td { (a.created_at.to_string()) }
                            td { @for (i, u) in a.units.iter().enumerate() {
                                @if i > 0 { ", " }
                                a href={ "/ui/units/" (seg(u.as_str())) } { (u.to_string()) }
                            } }
                            td.row-actions {
                                a #{ "passwd-" (name) } href={ "/ui/accounts/" (seg(&name)) "/password" }
                                    aria-label={ (c.t(Msg::SetPassword)) " " (name) } { (c.t(Msg::SetPassword)) }
                                @if name != me {
                                    a #{ "delete-" (name) } href={ "/ui/accounts/" (seg(&name)) "/delete" }
                                        aria-label={ (c.t(Msg::Delete)) " " (name) } { (c.t(Msg::Delete)) }
                                }
                            }
                        }
                    }
                }
            }
            h2 { (c.t(Msg::AddAccount)) }
            form.grid method="post" action="/ui/accounts" {
                (csrf_field(c.csrf()))
                label for="new-name" { (c.t(Msg::Account)) }
                input #new-name name="name" type="text" required autocomplete="off";
                label for="new-role" { (c.t(Msg::Role)) }
                select #new-role name="role" {
                    option value="builder" selected { (c.t(Msg::Builder)) }
                    option value="administrator" { (c.t(Msg::Administrator)) }
                }
                label for="new-password" { (c.t(Msg::Password)) }
                input #new-password name="password" type="password" required autocomplete="new-password";
                button #add-account type="submit" { (c.t(Msg::AddAccount)) }
            }
        },
    )
}

/// The form that sets an account's password.
pub(crate) fn password_form(c: &Chrome, account: &AccountName) -> Markup {
    let name = account.to_string();
    let title = format!("{} {name}", c.t(Msg::SetPasswordOf));
    layout(
        c,
        &title,
        html! {
            h1 { (title) }
            p.help { (c.t(Msg::PasswordEndsSessions)) }
            form.grid method="post" action={ "/ui/accounts/" (seg(&name)) "/password" } {
                (csrf_field(c.csrf()))
                // The account's name, for password managers.
                input type="hidden" name="user" value=(name) autocomplete="username";
                label for="password" { (c.t(Msg::NewPassword)) }
                input #password name="password" type="password" required autocomplete="new-password" autofocus;
                button #set-password type="submit" { (c.t(Msg::SetPassword)) }
                a.button.secondary #cancel href="/ui/accounts" { (c.t(Msg::Cancel)) }
            }
        },
    )
}

/// Every unit with its owner, and a form per unit that gives it to another account.
pub(crate) fn owners(c: &Chrome, units: &[UnitSummary], accounts: &[AccountInfo]) -> Markup {
    layout(
        c,
        c.t(Msg::Owners),
        html! {
            h1 { (c.t(Msg::Owners)) }
            @if units.is_empty() {
                p #no-units { (c.t(Msg::NoUnits)) }
            } @else {
                table #owners {
                    caption.sr { (c.t(Msg::Owners)) }
                    thead { tr {
                        th scope="col" { (c.t(Msg::Unit)) }
                        th scope="col" { (c.t(Msg::Owner)) }
                        th scope="col" { (c.t(Msg::ChangeOwner)) }
                    } }
                    tbody {
                        @for u in units {
                            @let unit = u.name.to_string();
                            tr data-unit=(unit) {
                                th scope="row" { a href={ "/ui/units/" (seg(&unit)) } { (unit) } }
                                td.owner { (u.owner.to_string()) }
                                td {
                                    form.inline method="post" action={ "/ui/owners/" (seg(&unit)) } {
                                        (csrf_field(c.csrf()))
                                        label.sr for={ "to-" (unit) } { (c.t(Msg::NewOwnerOf)) " " (unit) }
                                        select #{ "to-" (unit) } name="to" {
                                            @for a in accounts {
                                                option value=(a.name.to_string()) selected[a.name == u.owner] { (a.name.to_string()) }
                                            }
                                        }
                                        " "
                                        button #{ "chown-" (unit) } type="submit" { (c.t(Msg::ChangeOwner)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The newest entries of the audit log.
pub(crate) fn audit(c: &Chrome, entries: &[AuditEntry], limit: usize) -> Markup {
    layout(
        c,
        c.t(Msg::AuditLog),
        html! {
            h1 { (c.t(Msg::AuditLog)) }
            p #audit-count { (c.t(Msg::NewestFirst)) " · " (entries.len()) " / " (limit) }
            table #audit {
                caption.sr { (c.t(Msg::AuditLog)) }
                thead { tr {
                    th scope="col" { (c.t(Msg::When)) }
                    th scope="col" { (c.t(Msg::Account)) }
                    th scope="col" { (c.t(Msg::Action)) }
                    th scope="col" { (c.t(Msg::Target)) }
                    th scope="col" { (c.t(Msg::Result)) }
                } }
                tbody {
                    @for e in entries {
                        tr {
                            td { (e.at.to_string()) }
                            td { @if let Some(a) = &e.actor { (a.to_string()) } @else { "(manager)" } }
                            td.action { (e.action) }
                            td.target { (e.target) }
                            td.bad[e.result.starts_with("refused") || e.result.starts_with("denied") || e.result.starts_with("failed")] { (e.result) }
                        }
                    }
                }
            }
        },
    )
}

/// The host pool with each host's state.
pub(crate) fn hosts(c: &Chrome, list: &[HostInfo]) -> Markup {
    layout(
        c,
        c.t(Msg::Hosts),
        html! {
            h1 { (c.t(Msg::Hosts)) }
            table #hosts {
                caption.sr { (c.t(Msg::Hosts)) }
                thead { tr {
                    th scope="col" { (c.t(Msg::Host)) }
                    th scope="col" { (c.t(Msg::Driver)) }
                    th scope="col" { (c.t(Msg::State)) }
                    th scope="col" { (c.t(Msg::Connected)) }
                    th scope="col" .num { (c.t(Msg::Servers)) }
                    th scope="col" { (c.t(Msg::Cpus)) }
                    th scope="col" { (c.t(Msg::MemoryMib)) }
                    th scope="col" { (c.t(Msg::Labels)) }
                    th scope="col" { (c.t(Msg::LastSeen)) }
                    th scope="col" { (c.t(Msg::LastError)) }
                } }
                tbody {
                    @for h in list {
                        @let r = &h.host;
                        tr data-host=(r.connection.name.to_string()) .problem[r.last_error.is_some()] {
                            th scope="row" { (r.connection.name.to_string())
                                @if r.builtin { " (" (c.t(Msg::BuiltIn)) ")" } }
                            td { (r.connection.driver.as_str())
                                @if let Some(e) = &r.endpoint { br; small { (e) } } }
                            td.state .bad[r.state == vsm_core::HostState::Down] { (r.state.to_string())
                                @if r.down_confirmed { " (" (c.t(Msg::ConfirmedDown)) ")" } }
                            td { @if h.connected { (c.t(Msg::Yes)) } @else { (c.t(Msg::No)) } }
                            td.num { (h.servers) }
                            td { (h.used.vcpus) " / " (h.allocatable.vcpus) }
                            td { (h.used.memory_mib) " / " (h.allocatable.memory_mib) }
                            td { @for (i, (k, v)) in r.labels.iter().enumerate() {
                                @if i > 0 { ", " } code { (k) "=" (v) }
                            } }
                            td { @if let Some(at) = r.last_seen { (at.to_string()) } @else { "—" } }
                            td.last-error { @if let Some(e) = &r.last_error { (e) } }
                        }
                    }
                }
            }
            p.help { (c.t(Msg::HostsHelp)) }
        },
    )
}

/// The manager's log settings, as a form that changes them.
pub(crate) fn log_settings(c: &Chrome, l: &LogSettings) -> Markup {
    layout(
        c,
        c.t(Msg::LogSettings),
        html! {
            h1 { (c.t(Msg::LogSettings)) }
            p.help { (c.t(Msg::LogSettingsHelp)) }
            form.grid method="post" action="/ui/log-settings" {
                (csrf_field(c.csrf()))
                label for="log-dir" { (c.t(Msg::LogDir)) }
                input #log-dir name="dir" type="text" value=(l.dir) required;
                label for="log-files" { (c.t(Msg::LogFiles)) }
                input #log-files name="files" type="number" value=(l.files) required;
                label for="log-size" { (c.t(Msg::LogSizeMb)) }
                input #log-size name="size_mb" type="number" value=(l.size_mb) required;
                label for="log-level" { (c.t(Msg::LogLevel)) }
                input #log-level name="level" type="text" value=(l.level) required;
                button #save-log type="submit" { (c.t(Msg::Save)) }
            }
        },
    )
}
