//! Docker's list filters: the one [`Filters`] type, read from the API's `filters` JSON
//! ([`parse`]) or from the command line's `--filter key=value` ([`parse_pairs`]), and the
//! matching every listing shares: `label`/`label!` and `*` globs.

use super::{EngineError, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `filters` after parsing: each key with its values (from the API sorted and without
/// duplicates; from the command line in the order given).
pub type Filters = BTreeMap<String, Vec<String>>;

/// Parse the `filters` parameter. Accepts `{"k":["v",...]}` and the legacy
/// `{"k":{"v":true}}`; in the legacy form every listed value counts, whatever its boolean (as in
/// moby, which only checks presence). Absent or empty means no filters.
pub fn parse(raw: Option<&str>) -> Result<Filters> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Values {
        List(Vec<String>),
        Legacy(BTreeMap<String, bool>),
    }

    let raw = raw.unwrap_or("").trim();
    if raw.is_empty() {
        return Ok(Filters::new());
    }
    let parsed: BTreeMap<String, Values> = serde_json::from_str(raw)
        .map_err(|e| EngineError::invalid_parameter(format!("invalid filters {raw:?}: {e}")))?;
    Ok(parsed
        .into_iter()
        .map(|(key, values)| {
            let mut values = match values {
                Values::List(v) => v,
                Values::Legacy(m) => m.into_keys().collect(),
            };
            values.sort();
            values.dedup();
            (key, values)
        })
        .collect())
}

/// `--filter key=value` flags, repeatable; the error names the flag that has no '='.
pub fn parse_pairs(list: &[String]) -> std::result::Result<Filters, String> {
    let mut out = Filters::new();
    for f in list {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("bad format of filter (expected name=value): {f}"))?;
        out.entry(k.to_string()).or_default().push(v.to_string());
    }
    Ok(out)
}

/// `label` filters: each "key" or "key=value" must hold.
pub fn labels_match(have: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| label_holds(have, w))
}

/// One "key" or "key=value" label filter against `have`.
fn label_holds(have: &BTreeMap<String, String>, wanted: &str) -> bool {
    match wanted.split_once('=') {
        Some((k, v)) => have.get(k).is_some_and(|x| x == v),
        None => have.contains_key(wanted),
    }
}

/// The `label` (key or key=value, all must hold) and `label!` (none may hold) filters.
pub fn labels_pass(filters: &Filters, labels: &BTreeMap<String, String>) -> bool {
    filters
        .get("label")
        .is_none_or(|vals| labels_match(labels, vals))
        && filters
            .get("label!")
            .is_none_or(|vals| !vals.iter().any(|l| label_holds(labels, l)))
}

/// Refuse a key that `accepted` does not list, with dockerd's words ("invalid filter 'k'").
pub fn validate(filters: &Filters, accepted: &[&str]) -> Result<()> {
    match filters.keys().find(|k| !accepted.contains(&k.as_str())) {
        Some(k) => Err(EngineError::invalid_parameter(format!(
            "invalid filter '{k}'"
        ))),
        None => Ok(()),
    }
}

/// The label filters of the prunes, as dockerd's `matchLabels`: every `label` must hold, and
/// the object is kept when every `label!` holds (moby's MatchKVList on `label!`).
pub fn prune_labels_pass(filters: &Filters, labels: &BTreeMap<String, String>) -> bool {
    let all_hold = |vals: &[String]| !labels.is_empty() && labels_match(labels, vals);
    let label_ok = filters
        .get("label")
        .is_none_or(|v| v.is_empty() || all_hold(v));
    let not_ok = filters
        .get("label!")
        .is_none_or(|v| v.is_empty() || !all_hold(v));
    label_ok && not_ok
}

/// The `until` filter of the prunes: one value, a Go duration ago ("24h") or a timestamp, as
/// unix seconds; None without the filter. dockerd's errors for two values and for nonsense.
pub fn prune_until(filters: &Filters) -> Result<Option<i64>> {
    let Some(vals) = filters.get("until") else {
        return Ok(None);
    };
    match vals.as_slice() {
        [] => Ok(None),
        [v] => super::time::parse_until(v).map(Some).ok_or_else(|| {
            EngineError::invalid_parameter(format!(
                "failed to parse value as time or duration: {v:?}"
            ))
        }),
        _ => Err(EngineError::invalid_parameter(
            "more than one until filter specified".into(),
        )),
    }
}

/// A pattern where '*' stands for any run of characters. In time the product of the two
/// lengths at most: a mismatch goes back only to the last '*' (a run of stars tried at every
/// split, as before, took exponential time: the fuzzer's `***...*ewb?dagli*zn` ran for minutes).
pub fn glob(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // The last '*' seen, and where in `t` its run now ends.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if p.get(pi) == Some(&'*') {
            star = Some((pi, ti));
            pi += 1;
        } else if p.get(pi) == Some(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // The last star takes one more character; the rest is matched again after it.
            star = Some((sp, st + 1));
            pi = sp + 1;
            ti = st + 1;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_before_and_in_bounded_time() {
        for (pat, s, want) in [
            ("a*b?c", "a*b?c", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("web*", "web-1", true),
            ("*-1", "web-1", true),
            ("w*b*1", "web-1", true),
            ("w*z", "web-1", false),
            ("*é*", "caféine", true),
            ("a*a*a", "aaa", true),
            ("a*a*a", "aa", false),
            ("*ab", "aab", true),
        ] {
            assert_eq!(glob(pat, s), want, "glob({pat:?}, {s:?})");
        }
        // The fuzzer's input (libFuzzer's timeout): 31 stars, then text that never matches.
        let pat = format!("{}ewb?dagli*zn", "*".repeat(31));
        let started = std::time::Instant::now();
        assert!(!glob(&pat, &"some-name_1.2".repeat(50)));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the match took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn filters_in_both_forms() {
        let want: Filters = [
            (
                "label".to_string(),
                vec!["a=b".to_string(), "c".to_string()],
            ),
            ("status".to_string(), vec!["running".to_string()]),
        ]
        .into_iter()
        .collect();
        let mut sorted = want.clone();
        sorted.values_mut().for_each(|v| v.sort());
        let new = parse(Some(r#"{"label":["c","a=b"],"status":["running"]}"#)).unwrap();
        assert_eq!(new, sorted);
        let legacy = parse(Some(
            r#"{"label":{"a=b":true,"c":true},"status":{"running":true}}"#,
        ))
        .unwrap();
        assert_eq!(legacy, sorted);
    }

    #[test]
    fn empty_filters_are_no_filters() {
        assert!(parse(None).unwrap().is_empty());
        assert!(parse(Some("")).unwrap().is_empty());
        assert!(parse(Some("{}")).unwrap().is_empty());
    }

    #[test]
    fn bad_filters_are_invalid_parameter() {
        for raw in ["{", "[]", r#"{"a":"b"}"#, r#"{"a":[1]}"#] {
            match parse(Some(raw)) {
                Err(e) if e.is(crate::engine::ErrorKind::InvalidParameter) => {}
                other => panic!("{raw:?}: expected InvalidParameter, got {other:?}"),
            }
        }
    }

    #[test]
    fn command_line_pairs() {
        let f = parse_pairs(&["status=exited".into(), "status=created".into()]).unwrap();
        assert_eq!(
            f["status"],
            ["exited", "created"],
            "values in the order given"
        );
        let err = parse_pairs(&["status".into()]).unwrap_err();
        assert_eq!(err, "bad format of filter (expected name=value): status");
    }

    #[test]
    fn prune_filters_as_dockerd() {
        let labels: BTreeMap<String, String> = [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]
        .into();
        let f = |raw: &str| parse(Some(raw)).unwrap();
        assert!(prune_labels_pass(&f(r#"{"label":["a=1","b"]}"#), &labels));
        assert!(!prune_labels_pass(&f(r#"{"label":["a=2"]}"#), &labels));
        assert!(!prune_labels_pass(&f(r#"{"label!":["a"]}"#), &labels));
        assert!(
            prune_labels_pass(&f(r#"{"label!":["a","c"]}"#), &labels),
            "label! keeps only what holds every value, as moby's MatchKVList"
        );
        assert!(prune_labels_pass(
            &f(r#"{"label!":["a"]}"#),
            &BTreeMap::new()
        ));
        let err = validate(&f(r#"{"label":["a"],"foo":["x"]}"#), &["label"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'foo'");
        assert!(prune_until(&f(r#"{"until":["24h"]}"#)).unwrap().is_some());
        assert!(prune_until(&f("{}")).unwrap().is_none());
        let two = prune_until(&f(r#"{"until":["1h","2h"]}"#)).unwrap_err();
        assert_eq!(two.to_string(), "more than one until filter specified");
        assert!(prune_until(&f(r#"{"until":["soon"]}"#)).is_err());
    }
}
