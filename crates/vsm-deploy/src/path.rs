//! Relative paths inside a definition directory or under a server's target directory.
//!
//! A [`RelPath`] is the only path type the rest of the crate joins onto a root: it is
//! UTF-8, relative, normalized (`/`-separated, no `.`/`..`/empty components) and can therefore
//! never escape the root it is joined to. It does no IO; symlink checks live in `scan`.

use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

/// The directory on each server (under its target root) that belongs to vsm itself.
pub const RESERVED_DIR: &str = ".vsm";

/// Why a path string was refused as a [`RelPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathProblem {
    /// The string is empty.
    #[error("the path is empty")]
    Empty,
    /// It starts with `/` (or a Windows prefix).
    #[error("the path is absolute: write it relative to the directory")]
    Absolute,
    /// A `..` component.
    #[error("the path contains '..': paths must stay inside the directory")]
    ParentComponent,
    /// A NUL byte, backslash or control character.
    #[error("the path contains a NUL, backslash or control character")]
    BadCharacter,
    /// Longer than [`RelPath::MAX_LEN`] bytes or with a component longer than 255 bytes.
    #[error("the path is too long (at most 4096 bytes, 255 per component)")]
    TooLong,
    /// The first component is vsm's own `.vsm` directory.
    #[error("the path is inside '.vsm', which is reserved for vsm's own records")]
    Reserved,
}

/// A validated, normalized relative path (`a/b/c`), safe to join onto any root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

impl RelPath {
    /// The longest accepted path in bytes.
    pub const MAX_LEN: usize = 4096;

    /// Checks and normalizes `value`: `./a//b/` becomes `a/b`; `..`, absolute paths, NUL,
    /// backslashes and control characters are refused.
    pub fn new(value: &str) -> Result<Self, PathProblem> {
        if value.is_empty() {
            return Err(PathProblem::Empty);
        }
        if value.starts_with('/') {
            return Err(PathProblem::Absolute);
        }
        if value.len() > Self::MAX_LEN {
            return Err(PathProblem::TooLong);
        }
        if value.chars().any(|c| c == '\\' || c.is_control()) {
            return Err(PathProblem::BadCharacter);
        }
        // A Windows drive prefix such as `C:` is refused as absolute too.
        let bytes = value.as_bytes();
        if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
            return Err(PathProblem::Absolute);
        }
        let mut parts = Vec::new();
        for part in value.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(PathProblem::ParentComponent),
                p if p.len() > 255 => return Err(PathProblem::TooLong),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Err(PathProblem::Empty);
        }
        Ok(RelPath(parts.join("/")))
    }

    /// Like [`RelPath::new`], and also refuses paths inside [`RESERVED_DIR`] (for targets).
    pub fn new_target(value: &str) -> Result<Self, PathProblem> {
        let path = Self::new(value)?;
        if path.components().next() == Some(RESERVED_DIR) {
            return Err(PathProblem::Reserved);
        }
        Ok(path)
    }

    /// The path as text (`a/b/c`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path as a camino path.
    pub fn as_path(&self) -> &Utf8Path {
        Utf8Path::new(&self.0)
    }

    /// The components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// How many components.
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// `self/child`, where `child` is already a valid relative path.
    pub fn join(&self, child: &RelPath) -> RelPath {
        RelPath(format!("{}/{}", self.0, child.0))
    }

    /// The path with `prefix` removed, if it starts with it (component-wise).
    pub fn strip_prefix(&self, prefix: &RelPath) -> Option<RelPath> {
        let rest = self.0.strip_prefix(prefix.as_str())?;
        let rest = rest.strip_prefix('/')?;
        Some(RelPath(rest.to_owned()))
    }

    /// The parent directory, if not at the top.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rsplit_once('/').map(|(p, _)| RelPath(p.to_owned()))
    }

    /// Every ancestor directory, outermost first (`a`, `a/b` for `a/b/c`).
    pub fn ancestors(&self) -> Vec<RelPath> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let comps: Vec<&str> = self.components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(c);
            out.push(RelPath(cur.clone()));
        }
        out
    }

    /// The path joined onto `root`.
    pub fn under(&self, root: &Utf8Path) -> Utf8PathBuf {
        root.join(&self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RelPath {
    type Error = PathProblem;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RelPath::new(&value)
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalizes_and_refuses() {
        assert_eq!(RelPath::new("./a//b/").map(String::from), Ok("a/b".into()));
        assert_eq!(RelPath::new("/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(RelPath::new("a/../../b"), Err(PathProblem::ParentComponent));
        assert_eq!(RelPath::new("."), Err(PathProblem::Empty));
        assert_eq!(RelPath::new("a\\b"), Err(PathProblem::BadCharacter));
        assert_eq!(RelPath::new("C:/x"), Err(PathProblem::Absolute));
        assert_eq!(
            RelPath::new_target(".vsm/applied.json"),
            Err(PathProblem::Reserved)
        );
        assert!(RelPath::new_target("x/.vsm").is_ok());
    }

    #[test]
    fn ancestors_outermost_first() {
        let p = RelPath::new("a/b/c").expect("valid");
        let a: Vec<String> = p.ancestors().into_iter().map(String::from).collect();
        assert_eq!(a, vec!["a".to_owned(), "a/b".to_owned()]);
    }

    proptest! {
        /// Whatever string comes in, an accepted path joined onto a root stays under it.
        #[test]
        fn never_escapes(s in "[a-z./\\\\\u{0}:]{0,24}|(\\.\\./|/|\\./|[a-z]{1,3}/){0,6}[a-z.]{0,4}") {
            if let Ok(p) = RelPath::new(&s) {
                let root = Utf8Path::new("/srv/root");
                let joined = p.under(root);
                prop_assert!(joined.starts_with(root));
                prop_assert!(p.components().all(|c| c != ".." && c != "." && !c.is_empty()));
                prop_assert!(!p.as_str().starts_with('/'));
            }
        }
    }
}
