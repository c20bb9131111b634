//! `.dockerignore`: its patterns, and whether a path of the context is left out, as dockerd's
//! matching decides (moby's patternmatcher): patterns cleaned like paths (`/` and `./` in front
//! removed), `*` and `?` within one path element, `[...]` classes, `**` across elements, `\`
//! escaping, `!` exceptions, the last matching pattern winning. A path is left out when it or
//! one of its parent directories matches.

use regex::Regex;

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Regex(Regex),
    /// A pattern whose expression does not compile: it matches nothing (see [`Ignore::error`]).
    Never,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without its `!`.
    text: String,
    exception: bool,
    matcher: Matcher,
}

#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
    error: Option<String>,
}

impl PartialEq for Ignore {
    fn eq(&self, other: &Ignore) -> bool {
        self.error == other.error
            && self.patterns.len() == other.patterns.len()
            && self
                .patterns
                .iter()
                .zip(&other.patterns)
                .all(|(a, b)| a.text == b.text && a.exception == b.exception)
    }
}

impl Eq for Ignore {}

impl Ignore {
    /// The patterns of a `.dockerignore` file's text (comments and blank lines dropped).
    pub fn parse(text: &str) -> Ignore {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut ignore = Ignore::default();
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            // A comment is a line starting with `#`, before any trimming.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if pattern.is_empty() {
                ignore
                    .error
                    .get_or_insert_with(|| "illegal exclusion pattern: \"!\"".into());
                continue;
            }
            let mut pattern = clean(pattern);
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
            let matcher = compile(&pattern);
            if matches!(matcher, Matcher::Never) {
                ignore
                    .error
                    .get_or_insert_with(|| "syntax error in pattern".into());
            }
            ignore.patterns.push(Pattern {
                text: pattern,
                exception,
                matcher,
            });
        }
        ignore
    }

    /// dockerd's error for this file, if a pattern is malformed (`[` unclosed, a lone `!`):
    /// dockerd fails the build with it.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        if path == "." || self.patterns.is_empty() {
            return false;
        }
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i]
                .match_indices('/')
                .map(|(at, _)| &path[..at])
                .chain(std::iter::once(&path[..i]))
                .collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for pattern in &self.patterns {
            // An exception matters only to an excluded path, a pattern only to a kept one.
            if pattern.exception != excluded {
                continue;
            }
            if pattern.matches(&path) || parents.iter().any(|p| pattern.matches(p)) {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether an excluded directory must still be walked into, because an exception may
    /// re-include something under it. dockerd's rule: an exception whose pattern starts with
    /// `dir/` (so `!dir/keep` walks into `dir`, `!*/keep` does not).
    pub fn must_walk(&self, dir: &str) -> bool {
        let dir_slash = format!("{}/", clean(dir));
        self.patterns
            .iter()
            .any(|p| p.exception && format!("{}/", p.text).starts_with(&dir_slash))
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(p) => path == p,
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
            Matcher::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Matcher::Regex(re) => re.is_match(path),
            Matcher::Never => false,
        }
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// The pattern as patternmatcher compiles it: a plain string compare when it has no wildcard,
/// a prefix for `dir/**`, a suffix for `**/name`, else a regular expression.
fn compile(pattern: &str) -> Matcher {
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(c);
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    re.push('\\');
                    re.push(next);
                    kind = Kind::Regex;
                }
                None => re.push_str("\\\\"),
            },
            '[' | ']' => {
                re.push(c);
                kind = Kind::Regex;
            }
            c => re.push(c),
        }
        first = false;
    }
    match kind {
        Kind::Exact => Matcher::Exact(pattern.to_string()),
        Kind::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Kind::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Kind::Regex => {
            re.push('$');
            Regex::new(&re).map_or(Matcher::Never, Matcher::Regex)
        }
    }
}

/// Go's `filepath.Clean` for `/`-separated paths: repeated `/`, `.` elements and `..` after an
/// element removed; `..` above the root dropped; `.` for nothing.
pub(super) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(patterns: &str, cases: &[(&str, bool)]) {
        let ignore = Ignore::parse(patterns);
        assert_eq!(ignore.error(), None, "patterns {patterns:?}");
        for &(path, want) in cases {
            assert_eq!(ignore.excludes(path), want, "{path:?} against {patterns:?}");
        }
    }

    #[test]
    fn the_references_example() {
        // The .dockerignore example of the Dockerfile reference.
        check(
            "# comment\n*/temp*\n*/*/temp*\ntemp?\n",
            &[
                ("somedir/temporary.txt", true),
                ("somedir/temp", true),
                ("somedir/subdir/temporary.txt", true),
                ("tempa", true),
                ("tempb/x", true),
                ("temp", false),
                ("temporary.txt", false),
                ("a/b/c/temp", false),
                ("# comment", false),
            ],
        );
    }

    #[test]
    fn double_star_and_exceptions() {
        check(
            "**/*.go\n",
            &[("a.go", true), ("x/y/z.go", true), ("x/y/z.gox", false)],
        );
        check(
            "*.md\n!README*.md\nREADME-secret.md\n",
            &[
                ("a.md", true),
                ("README.md", false),
                ("README-secret.md", true),
            ],
        );
        check(
            "*.md\nREADME-secret.md\n!README*.md\n",
            &[("README-secret.md", false)],
        );
        check(
            "docs/**\n",
            &[
                ("docs/a", true),
                ("docs/a/b", true),
                ("docs", false),
                ("docsx/a", false),
            ],
        );
        check(
            "**\n!keep\n",
            &[("a", true), ("a/b", true), ("keep", false)],
        );
        check(
            "**/node_modules\n",
            &[("node_modules", true), ("a/b/node_modules/x/y", true)],
        );
        check(
            "a/**/b\n",
            &[
                ("a/b", true),
                ("a/x/y/b", true),
                ("a/x/y/b/c", true),
                ("a/xb", false),
            ],
        );
    }

    #[test]
    fn paths_cleaned_and_directories_cover_their_contents() {
        check(
            "/build\n./tmp/\n  spaced  \n# not/a/pattern\nx/../y\n",
            &[
                ("build", true),
                ("build/out/a.o", true),
                ("tmp/x", true),
                ("spaced", true),
                ("y", true),
                ("x", false),
                ("./build", true),
                ("#", false),
            ],
        );
    }

    #[test]
    fn classes_escapes_and_question_marks() {
        check(
            "[a-c]?.txt\n\\*star\nfile[!x]\n",
            &[
                ("a1.txt", true),
                ("d1.txt", false),
                ("b/.txt", false),
                ("*star", true),
                ("xstar", false),
                ("file!", true),
            ],
        );
    }

    #[test]
    fn excluded_directories_walked_only_for_an_exception_under_them() {
        let i = Ignore::parse("dir\n!dir/keep\n");
        assert!(i.excludes("dir") && i.excludes("dir/other") && !i.excludes("dir/keep"));
        assert!(i.must_walk("dir"), "dir holds an exception");
        assert!(!i.must_walk("other"), "no exception under other");
        let i = Ignore::parse("dir\n!*/keep\n");
        assert!(
            !i.must_walk("dir"),
            "dockerd does not walk for a wildcard exception"
        );
    }

    #[test]
    fn malformed_patterns_give_dockerds_error() {
        assert_eq!(
            Ignore::parse("a[\n").error(),
            Some("syntax error in pattern")
        );
        assert_eq!(
            Ignore::parse("!\n").error(),
            Some("illegal exclusion pattern: \"!\"")
        );
        assert_eq!(Ignore::parse("a\n\n").error(), None);
        assert_eq!(clean("a//b/./../c/"), "a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean(""), ".");
    }
}
