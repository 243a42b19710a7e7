//! A unit's definitions: its imported versions, the import of a directory packed as a tar
//! (or only what it would change), and the apply form with its version picker, batch size and
//! the choice of no automatic rollback (`vsm unit apply --no-rollback`).

use maud::{Markup, html};

use super::{Chrome, csrf_field, layout, seg};
use crate::api::{ChangeKind, DefinitionDiff, ImportResult, UnitDetail};
use crate::ui::i18n::{Msg, import_sentence};

/// The definitions page.
pub(crate) fn definitions(c: &Chrome, d: &UnitDetail) -> Markup {
    let unit = d.name.to_string();
    let base = format!("/ui/units/{}", seg(&unit));
    let title = format!("{} {unit}", c.t(Msg::DefinitionsOf));
    layout(
        c,
        &title,
        html! {
            h1 { (c.t(Msg::DefinitionsOf)) " " a #defs-unit href=(base) { (unit) } }
            p.meta { (c.t(Msg::Definition)) ": " span #definition { (d.definition_status.to_string()) } }
            h2 #versions-heading { (c.t(Msg::Versions)) }
            @if d.versions.is_empty() {
                p #no-versions { (c.t(Msg::NoVersions)) }
            } @else {
                table #versions aria-labelledby="versions-heading" {
                    thead { tr {
                        th scope="col" { (c.t(Msg::Version)) }
                        th scope="col" { (c.t(Msg::Digest)) }
                        th scope="col" { (c.t(Msg::Imported)) }
                        th scope="col" { (c.t(Msg::Current)) }
                    } }
                    tbody {
                        @for v in d.versions.iter().rev() {
                            tr data-version=(v.version.0) {
                                th scope="row" { (v.version.to_string()) }
                                td { code { (v.digest.short()) } }
                                td { (v.created_at.to_string()) }
                                td { @if d.current_version == Some(v.version) { (c.t(Msg::Current)) } }
                            }
                        }
                    }
                }
            }
            h2 { (c.t(Msg::Import)) }
            form.upload method="post" enctype="multipart/form-data" action={ (base) "/definitions/import" } {
                (csrf_field(c.csrf()))
                p.help #import-help { (c.t(Msg::ImportHelp)) " " code { "tar -C DIR -cf defs.tar ." } }
                label for="archive" { (c.t(Msg::Archive)) }
                " "
                input #archive name="archive" type="file" accept=".tar,application/x-tar" required aria-describedby="import-help";
                " "
                button #diff type="submit" .secondary formaction={ (base) "/definitions/diff" } { (c.t(Msg::ShowDiff)) }
                " "
                button #import type="submit" { (c.t(Msg::Import)) }
            }
            h2 { (c.t(Msg::Apply)) }
            @if d.versions.is_empty() {
                p { (c.t(Msg::NoVersions)) }
            } @else {
                form.filter method="get" action={ (base) "/confirm/apply" } {
                    label for="version" { (c.t(Msg::Version)) }
                    select #version name="version" {
                        @for v in d.versions.iter().rev() {
                            option value=(v.version.0) selected[d.current_version == Some(v.version)] {
                                (v.version.to_string())
                                @if d.current_version == Some(v.version) { " (" (c.t(Msg::Current)) ")" }
                            }
                        }
                    }
                    label for="batch" { (c.t(Msg::BatchSize)) }
                    input #batch name="batch" type="text" size="6" placeholder="1, 20%";
                    span.check {
                        input #no-rollback name="no_rollback" type="checkbox" value="on";
                        " "
                        label for="no-rollback" { (c.t(Msg::NoRollback)) }
                    }
                    button #apply type="submit" { (c.t(Msg::ApplyEllipsis)) }
                }
            }
        },
    )
}

/// The table of a diff's files.
fn diff_table(c: &Chrome, diff: &DefinitionDiff) -> Markup {
    html! {
        @if diff.is_empty() {
            p #no-changes { (c.t(Msg::NoChanges)) }
        } @else {
            table #diff {
                caption.sr { (c.t(Msg::Changes)) }
                thead { tr {
                    th scope="col" { (c.t(Msg::Group)) }
                    th scope="col" { (c.t(Msg::File)) }
                    th scope="col" { (c.t(Msg::Change)) }
                } }
                tbody {
                    @for f in &diff.files {
                        tr data-path=(f.path) {
                            td { @if let Some(g) = &f.group { (g) } @else { (c.t(Msg::EveryGroup)) } }
                            th scope="row" { code { (f.path) } }
                            td.change { (match f.change {
                                ChangeKind::Added => c.t(Msg::Added),
                                ChangeKind::Removed => c.t(Msg::Removed),
                                ChangeKind::Modified => c.t(Msg::Modified),
                            }) }
                        }
                    }
                }
            }
        }
    }
}

/// What importing an archive would change (nothing was stored).
pub(crate) fn diff(c: &Chrome, unit: &str, file: &str, diff: &DefinitionDiff) -> Markup {
    let base = format!("/ui/units/{}", seg(unit));
    let title = c.t(Msg::WhatWouldChange);
    layout(
        c,
        title,
        html! {
            h1 { (title) }
            p #diff-base {
                code { (file) } " — "
                @match diff.base {
                    Some(v) => { (c.t(Msg::ComparedWith)) " " (v.to_string()) }
                    None => { (c.t(Msg::NothingImportedYet)) }
                }
                " · " (c.t(Msg::NothingStored))
            }
            (diff_table(c, diff))
            p { a #back href={ (base) "/definitions" } { (c.t(Msg::Back)) } }
        },
    )
}

/// What an import did.
pub(crate) fn imported(c: &Chrome, unit: &str, file: &str, r: &ImportResult) -> Markup {
    let base = format!("/ui/units/{}", seg(unit));
    let title = c.t(Msg::Imported);
    layout(
        c,
        title,
        html! {
            h1 { (title) }
            p #import-result { (import_sentence(c.lang, file, &r.version.to_string(), r.created)) }
            (diff_table(c, &r.diff))
            div.actions {
                a.button #apply-imported href={ (base) "/confirm/apply?version=" (r.version.0) } { (c.t(Msg::ApplyEllipsis)) " " (r.version.to_string()) }
                a.button.secondary #back href={ (base) "/definitions" } { (c.t(Msg::Back)) }
            }
        },
    )
}
