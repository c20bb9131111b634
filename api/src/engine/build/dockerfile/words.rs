//! Words as the classic builder processes them at each step: quotes removed and `$v`, `${v}`,
//! `${v:-x}`, `${v:+x}` expanded from the variables in force, `escape` escaping.

/// A word that cannot be processed (an unclosed quote or `${`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WordError(pub String);

/// One word, quotes removed and variables expanded; `vars` answers a variable's value.
pub fn process(
    word: &str,
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<String, WordError> {
    let _ = (word, escape, vars);
    Err(WordError("not written yet".into()))
}

/// Like [`process`], then split into words at unquoted white space (EXPOSE, VOLUME's plain
/// form, and the sources of COPY and ADD).
pub fn process_words(
    text: &str,
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, WordError> {
    let _ = (text, escape, vars);
    Err(WordError("not written yet".into()))
}
