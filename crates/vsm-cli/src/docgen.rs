//! Generated documentation of the command line: shell completions and man pages, rendered from
//! the same clap command tree the binary parses. `cargo xtask gen` writes them to `docs/cli/`;
//! a test fails when the checked-in files are stale.

use clap_complete::{Generator, Shell};

/// One generated file, relative to `docs/cli/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The path relative to `docs/cli/` (e.g. `completions/vsm.bash`, `man/vsm-unit-start.1`).
    pub path: String,
    /// The contents.
    pub contents: Vec<u8>,
}

/// The shells completions are generated for.
pub const SHELLS: [Shell; 4] = [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish];

/// The completion script of `vsm` for `shell`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut cmd = crate::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "vsm", &mut buf);
    buf
}

/// Every generated file: completions for [`SHELLS`] and one man page per command.
pub fn files() -> Vec<GeneratedFile> {
    let mut out: Vec<GeneratedFile> = SHELLS
        .iter()
        .map(|&shell| GeneratedFile {
            path: format!("completions/{}", shell.file_name("vsm")),
            contents: completion(shell),
        })
        .collect();
    let mut cmd = crate::command();
    cmd.build();
    man_pages(&cmd, "vsm", &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn man_pages(cmd: &clap::Command, name: &str, out: &mut Vec<GeneratedFile>) {
    let page = cmd
        .clone()
        .display_name(name.to_owned())
        .bin_name(name.replace('-', " "));
    let mut buf = Vec::new();
    let man = clap_mangen::Man::new(page)
        .title(name.to_uppercase())
        .section("1")
        .manual("vsm manual")
        .source(format!("vsm {}", env!("CARGO_PKG_VERSION")));
    // Rendering into a Vec cannot fail.
    let _ = man.render(&mut buf);
    out.push(GeneratedFile {
        path: format!("man/{name}.1"),
        contents: buf,
    });
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        man_pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in files in docs/cli/ must equal what the code generates.
    #[test]
    fn docs_cli_is_up_to_date() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli");
        let mut stale = Vec::new();
        for f in files() {
            let on_disk = std::fs::read(root.join(&f.path)).unwrap_or_default();
            if on_disk != f.contents {
                stale.push(f.path);
            }
        }
        assert!(
            stale.is_empty(),
            "docs/cli is stale ({}): run `cargo xtask gen`",
            stale.join(", ")
        );
    }

    #[test]
    fn there_is_a_man_page_per_command() {
        let names: Vec<String> = files().into_iter().map(|f| f.path).collect();
        for page in [
            "man/vsm.1",
            "man/vsm-unit-start.1",
            "man/vsm-manager-init.1",
        ] {
            assert!(names.iter().any(|n| n == page), "{page} missing");
        }
        assert!(names.iter().any(|n| n == "completions/vsm.bash"));
    }
}
