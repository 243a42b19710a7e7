//! The `{{ variable }}` template language of definition files.
//!
//! Deliberately tiny: text with `{{ name }}` placeholders (whitespace inside the braces is
//! optional) and `{{ "text" }}` string literals (to write a literal `{{`). No logic, no filters,
//! no includes. An undefined variable is an error, never an empty string. No IO here.

use std::collections::BTreeMap;

/// A template that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
#[non_exhaustive]
pub struct TemplateSyntaxError {
    /// 1-based line of the problem.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// A placeholder whose variable has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: variable '{name}' is not defined")]
#[non_exhaustive]
pub struct UndefinedVariable {
    /// The variable.
    pub name: String,
    /// 1-based line of the placeholder.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Var { name: String, line: usize },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

fn valid_var(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !name.ends_with('.')
        && !name.contains("..")
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateSyntaxError> {
        let mut segments = Vec::new();
        let mut rest = text;
        let mut line = 1;
        let mut text_buf = String::new();
        while let Some(start) = rest.find("{{") {
            let (before, after_open) = rest.split_at(start);
            text_buf.push_str(before);
            line += before.matches('\n').count();
            let after_open = &after_open[2..];
            let Some(end) = after_open.find("}}") else {
                return Err(TemplateSyntaxError {
                    line,
                    message: "'{{' is not closed by '}}': close it, or write a literal '{{' as {{ \"{{\" }}"
                        .into(),
                });
            };
            let inner = &after_open[..end];
            if inner.contains('\n') {
                return Err(TemplateSyntaxError {
                    line,
                    message: "a placeholder must fit on one line".into(),
                });
            }
            let expr = inner.trim();
            if let Some(lit) = expr.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
                if lit.contains('"') {
                    return Err(TemplateSyntaxError {
                        line,
                        message: format!("string literal {expr} contains a '\"'"),
                    });
                }
                text_buf.push_str(lit);
            } else if valid_var(expr) {
                if !text_buf.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text_buf)));
                }
                segments.push(Segment::Var {
                    name: expr.to_owned(),
                    line,
                });
            } else {
                return Err(TemplateSyntaxError {
                    line,
                    message: format!(
                        "'{{{{{inner}}}}}' is not a variable name (letters, digits, '_', '-', '.') or a \"string\""
                    ),
                });
            }
            rest = &after_open[end + 2..];
        }
        text_buf.push_str(rest);
        if !text_buf.is_empty() {
            segments.push(Segment::Text(text_buf));
        }
        Ok(Template { segments })
    }

    /// The variables used, with the line of each use.
    pub fn variables(&self) -> impl Iterator<Item = (&str, usize)> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var { name, line } => Some((name.as_str(), *line)),
            Segment::Text(_) => None,
        })
    }

    /// Renders with the given variables.
    pub fn render(&self, vars: &Variables) -> Result<String, UndefinedVariable> {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Var { name, line } => match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(UndefinedVariable {
                            name: name.clone(),
                            line: *line,
                        });
                    }
                },
            }
        }
        Ok(out)
    }
}

/// A set of template variables (`name` → value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables(BTreeMap<String, String>);

impl Variables {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every variable, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        let mut v = Variables::new();
        v.set("server.name", "web-1");
        v.set("params.port", "8080");
        v
    }

    #[test]
    fn renders_variables_and_literals() {
        let t = Template::parse("a {{server.name}} b {{ params.port }}\n{{ \"{{\" }} x }}")
            .expect("parses");
        assert_eq!(
            t.render(&vars()).expect("renders"),
            "a web-1 b 8080\n{{ x }}"
        );
    }

    #[test]
    fn undefined_variable_names_line() {
        let t = Template::parse("one\ntwo {{ nope }}\n").expect("parses");
        let err = t.render(&vars()).expect_err("undefined");
        assert_eq!((err.name.as_str(), err.line), ("nope", 2));
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            Template::parse("x\n{{ a").map(|_| ()).map_err(|e| e.line),
            Err(2)
        );
        assert!(Template::parse("{{ a b }}").is_err());
        assert!(Template::parse("{{ }}").is_err());
        assert!(Template::parse("{{ a. }}").is_err());
        assert!(Template::parse("no braces } here {").is_ok());
    }
}
