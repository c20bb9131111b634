//! Query parameters the way dockerd reads them: booleans and the `filters` JSON.

use crate::engine::EngineError;
use serde::{Deserialize, Deserializer};

pub use crate::engine::filters::{parse as parse_filters, Filters};

/// moby's rule for a boolean query value: true unless "", "0", "no", "false" or "none", in any
/// case. docker-py sends `True`/`False`; the CLI sends `1` or `true`.
pub fn truthy(value: &str) -> bool {
    !matches!(
        value.to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}

/// For `#[serde(default, deserialize_with = "query::de_bool")]` on a `Query` struct field.
pub fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(truthy(&s))
}

/// The `h` and `w` of a resize request.
pub fn terminal_size(
    q: &std::collections::HashMap<String, String>,
) -> Result<(u16, u16), EngineError> {
    let num = |k: &str| -> Result<u16, EngineError> {
        q.get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| EngineError::invalid_parameter(format!("invalid {k}")))
    };
    Ok((num("h")?, num("w")?))
}

/// Query pairs in order, percent- and '+'-decoded; repeated keys kept (`changes`).
#[derive(Debug, Default)]
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    pub fn parse(q: Option<&str>) -> QueryPairs {
        let dec = |s: &str| -> String {
            let b = s.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < b.len() => {
                        match std::str::from_utf8(&b[i + 1..i + 3])
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                        {
                            Some(v) => {
                                out.push(v);
                                i += 2;
                            }
                            None => out.push(b'%'),
                        }
                    }
                    c => out.push(c),
                }
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        };
        QueryPairs(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (dec(k), dec(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// dockerd's boolean query values: "1", "true", "True".
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | "True" | "TRUE"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthy_follows_moby() {
        for v in ["1", "true", "True", "TRUE", "yes", "anything"] {
            assert!(truthy(v), "{v:?} should be true");
        }
        for v in [
            "", "0", "no", "No", "false", "False", "FALSE", "none", "NONE",
        ] {
            assert!(!truthy(v), "{v:?} should be false");
        }
    }

    #[test]
    fn de_bool_reads_query_strings() {
        #[derive(Deserialize)]
        struct Q {
            #[serde(default, deserialize_with = "de_bool")]
            all: bool,
            #[serde(default, deserialize_with = "de_bool")]
            size: bool,
        }
        let q: Q = serde_json::from_str(r#"{"all":"True"}"#).unwrap();
        assert!(q.all && !q.size);
        let q: Q = serde_json::from_str(r#"{"all":"0","size":"1"}"#).unwrap();
        assert!(!q.all && q.size);
    }
}
