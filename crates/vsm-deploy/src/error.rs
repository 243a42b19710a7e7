//! The validation report of a definition directory: every problem at once, each naming the
//! file, the line or field, and what to do.
//!
//! Only data and rendering live here; the checks are in `manifest` and `scan`.

use std::fmt;

/// What kind of problem a [`DefinitionError`] is (for programs; people read the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The manifest is not valid YAML or does not match the schema (including unknown keys).
    Syntax,
    /// An unsupported or missing `format:` version.
    Format,
    /// YAML anchors or aliases, which are not allowed.
    Alias,
    /// A value that is out of range or malformed (mode, duration, port, name, ...).
    Value,
    /// A path that is absolute, contains `..`, or is otherwise not allowed.
    Path,
    /// A symbolic link (inside the directory or pointing outside it).
    Symlink,
    /// A `source` that does not exist in the directory.
    MissingFile,
    /// Two rules put different content at the same target.
    DuplicateTarget,
    /// A template uses a variable that is not defined, or has a syntax error.
    Template,
    /// A file or directory name that is not UTF-8.
    NonUtf8Name,
    /// A device file, FIFO or socket.
    SpecialFile,
    /// A file or the whole directory is larger than the configured limit.
    TooLarge,
    /// The tree is nested deeper than the configured limit.
    TooDeep,
    /// The tree holds more entries than the configured limit.
    TooMany,
    /// The file could not be read.
    Io,
}

/// One problem in a definition directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct DefinitionError {
    /// The kind of problem.
    pub kind: ProblemKind,
    /// The file concerned, relative to the definition directory (the manifest for its own
    /// problems).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The manifest field, such as `groups[web].files[2].source`, when the problem is about one.
    pub field: Option<String>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl DefinitionError {
    /// A problem with `file`.
    pub fn new(kind: ProblemKind, file: impl Into<String>, message: impl Into<String>) -> Self {
        DefinitionError {
            kind,
            file: file.into(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    /// Adds the line.
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// Adds the line and column.
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// Adds the field.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a definition directory; rendered one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct DefinitionErrors {
    /// The problems, in the order found (manifest first, then files in path order).
    pub errors: Vec<DefinitionError>,
}

impl DefinitionErrors {
    /// Wraps a list (callers only build this with at least one problem).
    pub fn new(errors: Vec<DefinitionError>) -> Self {
        DefinitionErrors { errors }
    }

    /// The problems.
    pub fn iter(&self) -> impl Iterator<Item = &DefinitionError> {
        self.errors.iter()
    }

    /// Whether some problem has this kind.
    pub fn has(&self, kind: ProblemKind) -> bool {
        self.errors.iter().any(|e| e.kind == kind)
    }
}

impl fmt::Display for DefinitionErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "the definition directory has {n} problem{}; nothing was changed",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}
