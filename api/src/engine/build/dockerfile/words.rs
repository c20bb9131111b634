//! Words as the classic builder processes them at each step (its shell lexer): quotes removed,
//! `$v`, `${v}`, `${v:-x}`, `${v-x}`, `${v:+x}`, `${v+x}`, `${v:?msg}`, `${v?msg}` expanded
//! from the variables in force, the escape character escaping the next character outside
//! quotes (and `"`, `$` and itself inside double quotes). Single quotes are literal; unknown
//! variables expand to nothing.

use super::node::go_quote;

/// A word that cannot be processed (an unclosed quote or `${`, a bad substitution).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WordError(pub String);

/// One word, quotes removed and variables expanded; `vars` answers a variable's value.
pub fn process(
    word: &str,
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<String, WordError> {
    run(word, escape, vars).map(|(w, _)| w)
}

/// Like [`process`], then split into words at unquoted white space (EXPOSE, VOLUME's plain
/// form, and the sources of COPY and ADD). White space a variable expands to splits too.
pub fn process_words(
    text: &str,
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, WordError> {
    run(text, escape, vars).map(|(_, ws)| ws)
}

fn run(
    source: &str,
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), WordError> {
    let mut lexer = Lexer {
        chars: source.chars().collect(),
        at: 0,
        escape,
        vars,
    };
    lexer
        .until(None)
        .map_err(|e| WordError(format!("failed to process {}: {e}", go_quote(source))))
}

/// The words being built: characters from variables split at white space; quoted text and
/// escaped characters never do.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    at: usize,
    escape: char,
    vars: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.at += 1;
        }
        c
    }

    /// Process up to `stop` (consumed) or the end; with a `stop`, the end is an error.
    fn until(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match c {
                '\'' => {
                    let s = self.single_quoted()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.next();
                    if c == self.escape {
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.next();
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.next();
                                out.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn var(&self, name: &str) -> Option<String> {
        (self.vars)(name)
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.var(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let mut modifier = self.next();
        let null_is_unset = modifier == Some(':');
        if null_is_unset {
            modifier = self.next();
        }
        match modifier {
            Some('}') if !null_is_unset => return Ok(self.var(&name).unwrap_or_default()),
            Some('-' | '+' | '?') => {}
            Some(other) if null_is_unset => {
                return Err(format!("unsupported modifier ({other}) in substitution"))
            }
            None if null_is_unset => return Err("syntax error: missing '}'".into()),
            _ => return Err("missing ':' in substitution".into()),
        }
        let (word, _) = self.until(Some('}')).map_err(|e| {
            if self.peek().is_none() {
                "syntax error: missing '}'".to_string()
            } else {
                e
            }
        })?;
        let value = self.var(&name);
        let unset = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match modifier {
            Some('-') if unset => Ok(word),
            Some('+') if unset => Ok(String::new()),
            Some('+') => Ok(word),
            Some('?') if unset => {
                let default = if value.is_none() {
                    "is not allowed to be unset"
                } else {
                    "is not allowed to be empty"
                };
                let message = if word.is_empty() { default } else { &word };
                Err(format!("{name}: {message}"))
            }
            _ => Ok(value.unwrap_or_default()),
        }
    }

    /// A variable's name: digits (positional), one special character, or letters, digits and
    /// underscores.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                name.push(c);
                return name;
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            self.next();
            name.push(c);
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PWD" => Some("/home".into()),
            "SHELL" => Some("bash".into()),
            "NULL" => Some(String::new()),
            "SPACED" => Some("a  b".into()),
            _ => None,
        }
    }

    fn check(escape: char, cases: &[(&str, Option<&str>)]) {
        for &(word, want) in cases {
            let got = process(word, escape, &env);
            match want {
                Some(w) => assert_eq!(got, Ok(w.to_string()), "processing {word:?}"),
                None => assert!(got.is_err(), "expected {word:?} to fail, got {got:?}"),
            }
        }
    }

    #[test]
    fn quotes_and_escapes_as_dockerds_lexer() {
        check(
            '\\',
            &[
                ("hello", Some("hello")),
                ("he'll'o", Some("hello")),
                ("he'llo", None),
                ("he\\'llo", Some("he'llo")),
                ("he\\\\'llo", None),
                ("abc\\tdef", Some("abctdef")),
                ("\"abc\\tdef\"", Some("abc\\tdef")),
                ("\"abc\\\\tdef\"", Some("abc\\tdef")),
                ("'abc\\tdef'", Some("abc\\tdef")),
                ("hello\\", Some("hello")),
                ("hello\\\\", Some("hello\\")),
                ("\"hello", None),
                ("\"hello\\\"", None),
                ("\"hel'lo\"", Some("hel'lo")),
                ("'hello\\'", Some("hello\\")),
                ("\"''\"", Some("''")),
                ("안'녕'하세요", Some("안녕하세요")),
            ],
        );
    }

    #[test]
    fn substitution_as_dockerds_lexer() {
        check(
            '\\',
            &[
                ("$.", Some("$.")),
                ("he$1x", Some("hex")),
                ("he$PWD", Some("he/home")),
                ("he\\$PWD", Some("he$PWD")),
                ("he\\\\$PWD", Some("he\\/home")),
                ("\"he\\$PWD\"", Some("he$PWD")),
                ("'$PWD'", Some("$PWD")),
                ("\\${}", Some("${}")),
                ("${}", None),
                ("he${hi}xx", Some("hexx")),
                ("he${PWD}", Some("he/home")),
                ("he${.}", None),
                ("he${XXX:-000}xx", Some("he000xx")),
                ("he${PWD:-000}xx", Some("he/homexx")),
                ("he${XXX:-${PWD:-yyy}}xx", Some("he/homexx")),
                ("he${XXX:-${YYY:-yyy}}xx", Some("heyyyxx")),
                ("he${NULL:-x}", Some("hex")),
                ("he${NULL-x}", Some("he")),
                ("he${XXX-x}", Some("hex")),
                ("he${XXX:YYY}", None),
                ("he${XXX?}", None),
                ("he${PWD:?}", Some("he/home")),
                ("he${NULL?}", Some("he")),
                ("he${NULL:?}", None),
                ("he${XXX:+${PWD}}xx", Some("hexx")),
                ("he${PWD:+${SHELL}}xx", Some("hebashxx")),
                ("he${NULL:+x}", Some("he")),
                ("he${NULL+x}", Some("hex")),
                ("he${PWD", None),
                ("he${PWD:=000}xx", None),
                ("he${PWD:+${PWD}:}xx", Some("he/home:xx")),
                ("he${XXX:-\\$PWD:}xx", Some("he$PWD:xx")),
                ("he${XXX:-\\${PWD}z}xx", Some("he${PWDz}xx")),
            ],
        );
        assert_eq!(
            process("he${XXX:?must be set}", '\\', &env),
            Err(WordError(
                "failed to process \"he${XXX:?must be set}\": XXX: must be set".into()
            ))
        );
        assert_eq!(
            process("${PWD", '\\', &env),
            Err(WordError(
                "failed to process \"${PWD\": missing ':' in substitution".into()
            ))
        );
        assert_eq!(
            process("${PWD:-x", '\\', &env),
            Err(WordError(
                "failed to process \"${PWD:-x\": syntax error: missing '}'".into()
            ))
        );
    }

    #[test]
    fn backtick_escape() {
        check(
            '`',
            &[
                ("c:\\", Some("c:\\")),
                ("a`$PWD", Some("a$PWD")),
                ("\"a`\"b\"", Some("a\"b")),
            ],
        );
    }

    #[test]
    fn words_split_at_unquoted_white_space() {
        let w = |text: &str| {
            process_words(text, '\\', &env).unwrap_or_else(|e| panic!("{text:?}: {e}"))
        };
        assert_eq!(w("a b  c"), ["a", "b", "c"]);
        assert_eq!(w("\"a b\" 'c d' e\\ f"), ["a b", "c d", "e f"]);
        // A variable's white space splits, a quoted variable's does not.
        assert_eq!(w("$SPACED \"$SPACED\""), ["a", "b", "a  b"]);
        assert_eq!(w("x${SPACED}y"), ["xa", "by"]);
        assert_eq!(w("\"\" a"), ["a"]);
        assert!(w("").is_empty());
    }
}
