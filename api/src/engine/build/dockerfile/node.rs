//! One logical line to its keyword, its `--flags` and its arguments, split the way each keyword
//! splits them (the classic builder's line parsers): JSON arrays, whitespace-delimited lists,
//! key-value lists, or the rest as one string. Quotes are kept: they are removed when a step
//! expands its words.

/// A logical line, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    /// The keyword, lowercased.
    pub cmd: String,
    /// The keyword as written.
    pub keyword: String,
    /// The whole logical line, as dockerd keeps it (`Step N/M :` prints it trimmed).
    pub original: String,
    /// The `--name[=value]` words before the arguments, quotes removed.
    pub flags: Vec<String>,
    pub args: Vec<String>,
    /// The arguments were a JSON array.
    pub json: bool,
    /// ONBUILD's trigger, split in turn.
    pub child: Option<Box<Node>>,
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Go's `[\t\v\f\r ]` (the parser's `reWhitespace`).
fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// `reWhitespace.Split(s, -1)` on an already trimmed string.
fn split_ws(s: &str) -> Vec<String> {
    s.split(is_ws)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn from_line(line: &str, escape: char) -> Result<Node, String> {
    let trimmed = line.trim();
    let (keyword, rest) = match trimmed.find(is_ws) {
        Some(i) => (
            &trimmed[..i],
            trimmed[i..].trim_start_matches(is_ws).to_string(),
        ),
        None => (trimmed, String::new()),
    };
    let (rest, flags) = extract_flags(&rest);
    let rest = rest.trim();
    let cmd = keyword.to_lowercase();
    let mut node = Node {
        cmd: cmd.clone(),
        keyword: keyword.to_string(),
        original: line.to_string(),
        flags,
        args: Vec::new(),
        json: false,
        child: None,
    };
    match cmd.as_str() {
        "add" | "copy" | "volume" => {
            (node.args, node.json) = maybe_json_list(rest)?;
        }
        "cmd" | "entrypoint" | "run" | "shell" => {
            (node.args, node.json) = maybe_json(rest)?;
        }
        "arg" => node.args = parse_words(rest, escape),
        "env" | "label" => node.args = name_values(rest, &cmd.to_uppercase(), escape)?,
        "expose" | "from" => node.args = split_ws(rest),
        "healthcheck" => (node.args, node.json) = health_config(rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => {
            node.args = vec![rest.to_string()];
        }
        "onbuild" if !rest.is_empty() => {
            let child = from_line(rest, escape)?;
            node.args = std::iter::once(child.cmd.clone())
                .chain(child.args.iter().cloned())
                .collect();
            node.child = Some(Box::new(child));
        }
        // Unknown keywords are refused when the instructions are read, with their line; the
        // others here have no arguments.
        _ => {}
    }
    Ok(node)
}

/// The leading `--flag[=value]` words (quotes and `\` removed) and the rest of the line.
/// A word `--` ends the flags.
fn extract_flags(line: &str) -> (String, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i == chars.len() {
            return (String::new(), words);
        }
        let starts_flag = chars[i].1 == '-' && chars.get(i + 1).map(|c| c.1) == Some('-');
        if !starts_flag {
            return (line[chars[i].0..].to_string(), words);
        }
        let mut word = String::new();
        let mut blank_ok = false;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i].1;
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    if i + 1 < chars.len() {
                        i += 1;
                        word.push(chars[i].1);
                    } else if quote.is_some() {
                        quote = None;
                    }
                }
                _ => word.push(c),
            }
            i += 1;
        }
        if word == "--" {
            let rest = chars.get(i).map_or("", |&(at, _)| &line[at..]);
            return (rest.to_string(), words);
        }
        if blank_ok || !word.is_empty() {
            words.push(word);
        }
    }
}

/// Words split at unquoted white space, quotes and escapes kept (the parser's `parseWords`).
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None => {
                if c.is_whitespace() {
                    if in_word && (blank_ok || !word.is_empty()) {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    in_word = false;
                    blank_ok = false;
                    continue;
                }
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    let Some(next) = chars.next() else { continue };
                    word.push(c);
                    word.push(next);
                    continue;
                }
                word.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    let Some(next) = chars.next() else {
                        quote = None;
                        continue;
                    };
                    word.push(c);
                    word.push(next);
                    continue;
                }
                word.push(c);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV and LABEL: `KEY name value` (the legacy form: the rest is the value) or
/// `KEY n=v n2="v 2"`. Returns the keys and values in turn.
fn name_values(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        return match rest.find(is_ws) {
            Some(i) => Ok(vec![
                rest[..i].to_string(),
                rest[i..].trim_start_matches(is_ws).to_string(),
            ]),
            None => Err(format!("{key} must have two arguments")),
        };
    }
    let mut out = Vec::with_capacity(words.len() * 2);
    for word in &words {
        let Some((name, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                go_quote(word)
            ));
        };
        out.push(name.to_string());
        out.push(value.to_string());
    }
    Ok(out)
}

/// Go's `%q` of a string: double quotes, with `"` and `\` and control characters escaped.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

enum Json {
    Strings(Vec<String>),
    NotStrings,
    Other,
}

/// The first JSON value of `rest` (what follows it is ignored, as Go's decoder does), if it
/// is an array.
fn json_array(rest: &str) -> Json {
    if !rest.starts_with('[') {
        return Json::Other;
    }
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    match stream.next() {
        Some(Ok(serde_json::Value::Array(items))) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Json::NotStrings,
                }
            }
            Json::Strings(out)
        }
        _ => Json::Other,
    }
}

/// CMD, ENTRYPOINT, RUN, SHELL: a JSON array of strings, else the rest as one string.
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match json_array(rest) {
        Json::Strings(v) => Ok((v, true)),
        Json::NotStrings => Err(NOT_STRING_ARRAY.into()),
        Json::Other => Ok((vec![rest.to_string()], false)),
    }
}

/// ADD, COPY, VOLUME: a JSON array of strings, else the words between white space.
fn maybe_json_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match json_array(rest) {
        Json::Strings(v) => Ok((v, true)),
        Json::NotStrings => Err(NOT_STRING_ARRAY.into()),
        Json::Other => Ok((split_ws(rest), false)),
    }
}

/// HEALTHCHECK: a type word (CMD, NONE), then a command as for CMD.
fn health_config(rest: &str) -> Result<(Vec<String>, bool), String> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let (typ, cmd) = rest.split_at(sep);
    let (args, json) = maybe_json(cmd.trim_start())?;
    Ok((std::iter::once(typ.to_string()).chain(args).collect(), json))
}
