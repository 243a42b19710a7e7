//! Human and machine output: aligned tables, relative times, state colours (only on a terminal,
//! never with NO_COLOR) and the JSON documents of `--output json`.
//!
//! Rendering functions return strings so they can be snapshot-tested; only [`Out`] writes to
//! standard output. Progress and errors go to standard error elsewhere.

use std::io::{IsTerminal, Write};

use serde_json::Value;

use crate::cli::{ColorChoice, GlobalArgs, OutputFormat};

/// Where and how results are printed.
#[derive(Debug, Clone)]
pub struct Out {
    /// Table or JSON.
    pub format: OutputFormat,
    /// Colour human output on standard output.
    pub color: bool,
    /// Colour on standard error (errors, progress).
    pub color_err: bool,
    /// Standard error is a terminal (live progress display).
    pub err_tty: bool,
    /// Standard input is a terminal (prompts).
    pub in_tty: bool,
}

impl Out {
    /// The output settings for `global`, looking at the terminal and NO_COLOR.
    pub fn new(global: &GlobalArgs) -> Out {
        let out_tty = std::io::stdout().is_terminal();
        let err_tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color_for = |tty: bool| match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color && std::env::var("TERM").as_deref() != Ok("dumb"),
        };
        Out {
            format: global.output.unwrap_or(if out_tty {
                OutputFormat::Table
            } else {
                OutputFormat::Json
            }),
            color: color_for(out_tty),
            color_err: color_for(err_tty),
            err_tty,
            in_tty: std::io::stdin().is_terminal(),
        }
    }

    /// JSON output was asked for.
    pub fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Prints `text` (plus a newline unless it ends with one) on standard output.
    pub fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// Prints one JSON document on standard output.
    pub fn json(&self, v: &Value) {
        let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
        self.print(&text);
    }

    /// Prints `v` as JSON in JSON mode, else the human text `human(v)`.
    pub fn emit(&self, v: &Value, human: impl FnOnce(&Value) -> String) {
        if self.is_json() {
            self.json(v);
        } else {
            let text = human(v);
            if !text.is_empty() {
                self.print(&text);
            }
        }
    }
}

impl Out {
    /// Prints an answer of the manager (any API type): its JSON form in JSON mode, else the
    /// human text `human` renders from that JSON form.
    pub fn show<T: serde::Serialize>(
        &self,
        value: &T,
        human: impl FnOnce(&Value) -> String,
    ) -> anyhow::Result<()> {
        let v = serde_json::to_value(value)?;
        self.emit(&v, human);
        Ok(())
    }
}

/// A table: headers and rows of cells, rendered with aligned columns.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text; `color` paints state words and dims the header.
    pub fn render(&self, color: bool) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], header: bool, out: &mut String| {
            let mut text = String::new();
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = w - width(cell);
                let painted = if header {
                    paint(cell, Paint::Bold, color)
                } else {
                    paint(cell, paint_for(cell), color)
                };
                text.push_str(&painted);
                if i + 1 < cols {
                    text.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.headers, true, &mut out);
        for row in &self.rows {
            line(row, false, &mut out);
        }
        out
    }
}

/// The display width of `s` (wide East Asian characters count two).
pub fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = (0x1100..=0x115F).contains(&c)
                || (0x2E80..=0xA4CF).contains(&c)
                || (0xAC00..=0xD7A3).contains(&c)
                || (0xF900..=0xFAFF).contains(&c)
                || (0xFF00..=0xFF60).contains(&c)
                || (0xFFE0..=0xFFE6).contains(&c);
            if wide { 2 } else { 1 }
        })
        .sum()
}

/// A colour for a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Unchanged.
    Plain,
    /// Good (green).
    Good,
    /// In progress or a warning (yellow).
    Busy,
    /// Bad (red).
    Bad,
    /// Unimportant (dim).
    Dim,
    /// Headers (bold).
    Bold,
}

/// The colour of a state word.
pub fn paint_for(word: &str) -> Paint {
    match word {
        "working" | "running" | "healthy" | "succeeded" | "ok" | "applied" | "up-to-date"
        | "up" => Paint::Good,
        "operating" | "starting" | "stopping" | "changed" | "partly_succeeded" | "pending"
        | "applying" | "marked" | "cancelled" | "interrupted" | "draining" | "maintenance" => {
            Paint::Busy
        }
        "failed" | "unknown" | "unhealthy" | "invalid" | "error" | "missing" | "down" => Paint::Bad,
        "stopped" | "-" | "none" => Paint::Dim,
        _ => Paint::Plain,
    }
}

/// `s` with ANSI colour `p` when `color`.
pub fn paint(s: &str, p: Paint, color: bool) -> String {
    if !color || s.is_empty() {
        return s.to_owned();
    }
    let code = match p {
        Paint::Plain => return s.to_owned(),
        Paint::Good => "32",
        Paint::Busy => "33",
        Paint::Bad => "31",
        Paint::Dim => "2",
        Paint::Bold => "1",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `then` relative to `now` (both ms since the epoch): `just now`, `5s ago`, `3m ago`, `2h ago`,
/// `4d ago`, `in 5m`; older than 60 days: the date.
pub fn relative_time(now: i64, then: i64) -> String {
    let delta = now - then;
    let (secs, future) = if delta >= 0 {
        (delta / 1000, false)
    } else {
        (-delta / 1000, true)
    };
    if secs < 2 {
        return "just now".into();
    }
    let amount = match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 60 * 86_400 => format!("{}d", s / 86_400),
        _ => return vsm_core::Timestamp::from_millis(then).to_string()[..10].to_owned(),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A duration in ms as `1.2s`, `3m04s`, `2h05m`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let s = ms / 1000;
    if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s / 60) % 60)
    }
}

/// A field of a JSON object as display text (`-` when absent or null).
pub fn text(v: &Value, key: &str) -> String {
    cell(v.get(key).unwrap_or(&Value::Null))
}

/// The first present field among `keys`, as display text.
pub fn text_any(v: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| v.get(*k).filter(|x| !x.is_null()))
        .map_or_else(|| "-".into(), cell)
}

/// A JSON value as a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("id"))
            .map_or_else(|| v.to_string(), cell),
    }
}

/// A time field (ms since the epoch) relative to `now`, or `-`.
pub fn time_field(v: &Value, key: &str, now: i64) -> String {
    v.get(key)
        .and_then(Value::as_i64)
        .map_or_else(|| "-".into(), |t| relative_time(now, t))
}

/// The array at `key` (empty when absent).
pub fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The list in an answer: the answer itself when it is an array, else the array under the
/// first of `keys` that holds one.
pub fn list<'a>(v: &'a Value, keys: &[&str]) -> &'a [Value] {
    if let Some(a) = v.as_array() {
        return a;
    }
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_array))
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut t = Table::new(&["NAME", "STATE", "NOTE"]);
        t.row(vec!["web-1".into(), "working".into(), "".into()]);
        t.row(vec![
            "a-much-longer-name".into(),
            "stopped".into(),
            "x".into(),
        ]);
        insta::assert_snapshot!(t.render(false), @r"
        NAME                STATE    NOTE
        web-1               working
        a-much-longer-name  stopped  x
        ");
        assert!(t.render(true).contains("\x1b[32mworking\x1b[0m"));
    }

    #[test]
    fn relative_times_read_naturally() {
        let now = 1_000_000_000_000;
        assert_eq!(relative_time(now, now), "just now");
        assert_eq!(relative_time(now, now - 5_000), "5s ago");
        assert_eq!(relative_time(now, now - 3 * 60_000), "3m ago");
        assert_eq!(relative_time(now, now - 2 * 3_600_000), "2h ago");
        assert_eq!(relative_time(now, now - 4 * 86_400_000), "4d ago");
        assert_eq!(relative_time(now, now + 5 * 60_000), "in 5m");
        assert_eq!(relative_time(now, 0), "1970-01-01");
        assert_eq!(duration(1234), "1.2s");
        assert_eq!(duration(184_000), "3m04s");
    }

    #[test]
    fn cells_render_json_values() {
        let v = serde_json::json!({"a": null, "b": "x", "c": 3, "d": true, "e": ["p", "q"]});
        assert_eq!(text(&v, "a"), "-");
        assert_eq!(text(&v, "b"), "x");
        assert_eq!(text(&v, "c"), "3");
        assert_eq!(text(&v, "d"), "yes");
        assert_eq!(text(&v, "e"), "p,q");
        assert_eq!(text(&v, "zz"), "-");
        assert_eq!(text_any(&v, &["a", "b"]), "x");
        assert_eq!(width("サーバ"), 6);
    }
}
