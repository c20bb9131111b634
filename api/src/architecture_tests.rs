//! The house rules of the api crate, checked on its own source: the faces (`http`, `cli`) reach
//! containers only through the engine, the CLI does not go through the HTTP face, and the
//! engine's modules import one another downward only (no circle), and so do the shim's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its text up to its unit-test module (`#[cfg(test)]` then
/// `mod`) and without `//` comments (a doc link is not an import). Other `#[cfg(test)]` items
/// stay in: an import they make is counted, which can only find more circles, not hide one.
pub(crate) fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = until_test_module(&text);
                let code: String = code
                    .lines()
                    .map(|l| l.split("//").next().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push((path, code));
            }
        }
    }
    out.sort();
    out
}

/// The text before the unit-test module: the first `#[cfg(test)]` whose item is a `mod`.
fn until_test_module(text: &str) -> &str {
    let mut from = 0;
    while let Some(i) = text[from..].find("#[cfg(test)]") {
        let at = from + i;
        let after = text[at + "#[cfg(test)]".len()..].trim_start();
        if after.starts_with("mod ") || after.starts_with("pub(crate) mod ") {
            return &text[..at];
        }
        from = at + 1;
    }
    text
}

/// A module name's length at the start of `s` (`[a-z0-9_]`).
fn name_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(s.len())
}

/// The words after each occurrence of `prefix` (module names: `[a-z0-9_]`), and in a group
/// after it (`prefix{a, b::c, d}` names a, b and d).
pub(crate) fn names_after<'a>(code: &'a str, prefix: &str) -> BTreeSet<&'a str> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The group's items at its own depth: each one's first name.
            let (mut depth, mut item_start) = (0usize, true);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        item_start = false;
                        let n = name_len(&group[j..]);
                        if n > 0 {
                            names.insert(&group[j..j + n]);
                        }
                    }
                    _ => {}
                }
            }
            continue;
        }
        let end = name_len(rest);
        if end > 0 {
            names.insert(&rest[..end]);
        }
    }
    names
}

/// The modules of a graph that lie on a circle, or None.
pub(crate) fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Remove what imports nothing left in the graph until nothing changes; what remains lies
    // on a circle or leads into one.
    let mut left: BTreeMap<&String, BTreeSet<&String>> = graph
        .iter()
        .map(|(k, v)| (k, v.iter().filter(|d| graph.contains_key(*d)).collect()))
        .collect();
    loop {
        let leaves: Vec<&String> = left
            .iter()
            .filter(|(_, deps)| deps.is_empty())
            .map(|(k, _)| *k)
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in &leaves {
            left.remove(leaf);
        }
        for deps in left.values_mut() {
            for leaf in &leaves {
                deps.remove(leaf);
            }
        }
    }
    (!left.is_empty()).then(|| left.keys().map(|k| k.to_string()).collect())
}

#[test]
fn the_faces_reach_the_shim_and_the_monitor_only_through_the_engine() {
    let mut offenders = Vec::new();
    for face in ["http", "cli"] {
        for (path, code) in sources(&src().join(face)) {
            for krate in ["berth_shim", "berth_monitor"] {
                if code.contains(krate) {
                    offenders.push(format!("{} uses {krate}", path.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the faces must go through the engine: {offenders:#?}"
    );
}

#[test]
fn the_command_line_does_not_go_through_the_http_face() {
    let offenders: Vec<String> = sources(&src().join("cli"))
        .into_iter()
        .filter(|(path, code)| code.contains("crate::http") && !path.ends_with("serve.rs"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "only `berth serve` may start the HTTP server; these import crate::http: {offenders:?}"
    );
}

#[test]
fn the_engines_modules_import_one_another_downward() {
    let root = src().join("engine");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in sources(&root) {
        let rel = path.strip_prefix(&root).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.len() == 1 && parts[0] == "mod" {
            continue;
        }
        // `super::x` names a module of the engine in a file at its top level (engine/a.rs or
        // engine/a/mod.rs); deeper, it names a sibling inside the same module.
        let top_level = parts.len() == 1 || (parts.len() == 2 && parts[1] == "mod");
        let mut deps: BTreeSet<String> = names_after(&code, "crate::engine::")
            .into_iter()
            .map(str::to_string)
            .collect();
        if top_level {
            deps.extend(
                names_after(&code, "super::")
                    .into_iter()
                    .map(str::to_string),
            );
        }
        deps.remove(&parts[0]);
        graph.entry(parts[0].clone()).or_default().extend(deps);
    }
    assert!(
        graph.len() > 10,
        "only {} engine modules found",
        graph.len()
    );
    if let Some(on_circle) = circle(&graph) {
        let edges: BTreeMap<&String, Vec<&String>> = on_circle
            .iter()
            .map(|m| {
                let to: Vec<&String> = graph[m].iter().filter(|d| on_circle.contains(d)).collect();
                (m, to)
            })
            .collect();
        panic!("the engine's modules import in a circle: {edges:#?}");
    }
}

#[test]
fn the_shims_modules_import_one_another_downward() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shim/src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in sources(&root) {
        let rel = path.strip_prefix(&root).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let mut deps: BTreeSet<String> = names_after(&code, "crate::")
            .into_iter()
            .map(str::to_string)
            .collect();
        deps.remove(&top);
        graph.entry(top).or_default().extend(deps);
    }
    assert!(graph.len() > 20, "only {} shim modules found", graph.len());
    if let Some(on_circle) = circle(&graph) {
        let edges: BTreeMap<&String, Vec<&String>> = on_circle
            .iter()
            .map(|m| {
                let to: Vec<&String> = graph[m].iter().filter(|d| on_circle.contains(d)).collect();
                (m, to)
            })
            .collect();
        panic!("the shim's modules import in a circle: {edges:#?}");
    }
}

#[test]
fn a_circle_is_found() {
    let g = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            graph
                .entry(a.to_string())
                .or_default()
                .insert(b.to_string());
            graph.entry(b.to_string()).or_default();
        }
        graph
    };
    assert_eq!(circle(&g(&[("a", "b"), ("b", "c")])), None);
    assert_eq!(
        circle(&g(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "d".into()])
    );
    assert_eq!(
        names_after(
            "use crate::engine::wire::X; x_crate::engine::no",
            "crate::engine::"
        ),
        BTreeSet::from(["wire"])
    );
    assert_eq!(
        names_after(
            "use crate::{restart, signals::{self, x}, sys::y};",
            "crate::"
        ),
        BTreeSet::from(["restart", "signals", "sys"]),
        "a group names each of its items' first module"
    );
    assert_eq!(
        until_test_module("a\n#[cfg(test)]\nfn f() {}\nb\n#[cfg(test)]\nmod tests {}"),
        "a\n#[cfg(test)]\nfn f() {}\nb\n",
        "only the test module is cut"
    );
}
