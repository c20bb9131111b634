//! From text to logical lines, as the classic builder's scanner reads them: the parser directives
//! at the top, comments dropped, continuation lines (the escape character last on a line)
//! joined, and empty lines inside a continuation skipped with a warning.

use super::ParseError;

/// One instruction's text, its continuation lines joined, and the lines it spans (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LogicalLine {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Lines {
    pub escape: char,
    pub syntax: Option<String>,
    pub lines: Vec<LogicalLine>,
    pub warnings: Vec<String>,
}

/// The directives' state: they are read only while every line so far was one.
struct Directives {
    escape: char,
    escape_seen: bool,
    syntax: Option<String>,
    done: bool,
}

impl Directives {
    /// `#\s*name\s*=\s*value\s*` with a known name: a directive; any other line ends them.
    fn possible_directive(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "escape" => {
                if self.escape_seen {
                    return Err("only one escape parser directive can be used".into());
                }
                self.escape_seen = true;
                self.escape = match value {
                    "`" => '`',
                    "\\" => '\\',
                    other => {
                        return Err(format!(
                            "invalid escape token '{other}' does not match ` or \\"
                        ))
                    }
                };
            }
            "syntax" => {
                if self.syntax.is_some() {
                    return Err("only one syntax parser directive can be used".into());
                }
                self.syntax = Some(value.to_string());
            }
            _ => self.done = true,
        }
        Ok(())
    }
}

/// Go's `\s` (RE2): tab, newline, form feed, carriage return, space.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// The name and value of `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches(is_re_space);
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest
        .trim_start_matches(is_re_space)
        .strip_prefix('=')?
        .trim_matches(is_re_space);
    (!value.is_empty()).then_some((name, value))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// A line ending (before trailing blanks) with the escape character not itself escaped
/// continues on the next line: the escape and the blanks are cut off.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(before) = trimmed.strip_suffix(escape) {
        if before.is_empty() || !before.ends_with(escape) {
            return (before.to_string(), false);
        }
    }
    (line.to_string(), true)
}

/// The physical lines as Go's `bufio.ScanLines` gives them: split at `\n`, one trailing `\r`
/// dropped, no last empty line.
fn physical_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.is_empty() || text.ends_with('\n') {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

pub(super) fn split(text: &str) -> Result<Lines, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut d = Directives {
        escape: '\\',
        escape_seen: false,
        syntax: None,
        done: false,
    };
    let physical = physical_lines(text);
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < physical.len() {
        let raw = physical[i].trim_start();
        d.possible_directive(raw).map_err(|message| ParseError {
            line: i + 1,
            message,
        })?;
        i += 1;
        let start = i;
        let uncommented = if raw.starts_with('#') { "" } else { raw };
        let (mut line, mut end_of_line) = trim_continuation(uncommented, d.escape);
        if end_of_line && line.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !end_of_line && i < physical.len() {
            let next = physical[i];
            i += 1;
            if is_comment(next) {
                continue;
            }
            if next.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, eol) = trim_continuation(next, d.escape);
            line.push_str(&part);
            end_of_line = eol;
        }
        if empty_continuation {
            warnings.push(format!(
                "[WARNING]: Empty continuation line found in:\n    {line}"
            ));
        }
        out.push(LogicalLine {
            start,
            end: i,
            text: line,
        });
    }
    if !warnings.is_empty() {
        warnings.push(
            "[WARNING]: Empty continuation lines will become errors in a future release.".into(),
        );
    }
    if out.is_empty() {
        return Err(ParseError {
            line: physical.len(),
            message: "file with no instructions".into(),
        });
    }
    Ok(Lines {
        escape: d.escape,
        syntax: d.syntax,
        lines: out,
        warnings,
    })
}
