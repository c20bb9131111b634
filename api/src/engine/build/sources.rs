//! What COPY and ADD read: their sources found in a tree (globs matched as Go's
//! `filepath.Match`, a path leaving the context refused), and the owner `--chown` names,
//! looked up in the image's `/etc/passwd` and `/etc/group`.

use super::tree::{split, Tree};
use crate::engine::{EngineError, Result};

/// Whether `s` has glob characters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Go's `filepath.Match` for one path component: `*`, `?`, `[a-z]`, `[^x]`, `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p starts after '['; returns (matched, chars consumed including ']').
        let mut i = 0;
        let negate = matches!(p.first(), Some('^') | Some('!'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        while i < p.len() {
            if p[i] == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            let mut lo = p[i];
            if lo == '\\' {
                i += 1;
                lo = *p.get(i)?;
            }
            i += 1;
            let mut hi = lo;
            if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
                hi = p[i + 1];
                if hi == '\\' {
                    hi = *p.get(i + 2)?;
                    i += 1;
                }
                i += 2;
            }
            if lo <= c && c <= hi {
                matched = true;
            }
        }
        None
    }
    // `failed` remembers the (pattern left, name left) pairs that do not match: each pair is
    // tried once, so a run of stars costs the product of the lengths, not an exponential.
    fn go(p: &[char], n: &[char], failed: &mut std::collections::HashSet<(usize, usize)>) -> bool {
        if failed.contains(&(p.len(), n.len())) {
            return false;
        }
        let matched = match p.first() {
            None => n.is_empty(),
            Some('*') => {
                // The star takes k characters, none of them a '/'.
                let mut k = 0;
                loop {
                    if go(&p[1..], &n[k..], failed) {
                        break true;
                    }
                    if k == n.len() || n[k] == '/' {
                        break false;
                    }
                    k += 1;
                }
            }
            Some('?') => !n.is_empty() && n[0] != '/' && go(&p[1..], &n[1..], failed),
            Some('[') => match (n.first(), class(&p[1..], *n.first().unwrap_or(&'\0'))) {
                (Some(_), Some((true, used))) => go(&p[1 + used..], &n[1..], failed),
                _ => false,
            },
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..], failed),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..], failed),
        };
        if !matched {
            failed.insert((p.len(), n.len()));
        }
        matched
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n, &mut Default::default())
}

/// The components of a source path inside the context; `..` past its root is refused with
/// dockerd's words.
pub fn context_path(src: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in split(src) {
        if c == ".." {
            if out.pop().is_none() {
                return Err(EngineError::invalid_parameter(format!(
                    "Forbidden path outside the build context: {src} ()"
                )));
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Every path of `tree` matching the pattern components, resolved, sorted.
pub fn glob(tree: &Tree, pattern: &[String]) -> Vec<Vec<String>> {
    let mut found = vec![Vec::new()];
    for p in pattern {
        let mut next = Vec::new();
        for dir in found {
            if !has_glob(p) {
                let mut d = dir.clone();
                d.push(p.clone());
                if tree.lstat(&d).is_some() {
                    next.push(d);
                }
                continue;
            }
            for name in tree.read_dir(&dir) {
                if glob_match(p, &name) {
                    let mut d = dir.clone();
                    d.push(name);
                    next.push(d);
                }
            }
        }
        found = next;
    }
    found
}

/// `--chown=user[:group]` as uid and gid: numbers as they are, names looked up in the image.
/// A user alone names the group too, as dockerd reads it.
pub fn chown_ids(spec: &str, image: &Tree) -> Result<(u32, u32)> {
    let (user, group) = spec.split_once(':').unwrap_or((spec, spec));
    let lookup = |file: &str, name: &str, what: &str| -> Result<u32> {
        if let Ok(n) = name.parse::<u32>() {
            return Ok(n);
        }
        let comps = image.resolve(file, true)?;
        let text = image
            .lstat(&comps)
            .and_then(|n| std::fs::read_to_string(n.host).ok())
            .unwrap_or_default();
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| f.get(2).and_then(|id| id.parse().ok()))
            .ok_or_else(|| {
                EngineError::invalid_parameter(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find {what} for {}: no such {}: {name}",
                    if what == "uid" { "user" } else { "group" },
                    if what == "uid" { "user" } else { "group" },
                ))
            })
    };
    Ok((
        lookup("/etc/passwd", user, "uid")?,
        lookup("/etc/group", group, "gid")?,
    ))
}

/// `--chmod=0755`: octal permission bits.
pub fn chmod_bits(spec: &str) -> Result<u32> {
    u32::from_str_radix(spec, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| EngineError::invalid_parameter(format!("invalid chmod parameter: {spec}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_stars_takes_bounded_time() {
        let pat = format!("{}ewb?dagli*zn", "*".repeat(31));
        let started = std::time::Instant::now();
        assert!(!glob_match(&pat, &"some-name_1.2".repeat(50)));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the match took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn globs_as_go_matches() {
        for (p, n, want) in [
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
            ("a?c", "abc", true),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[!a-c]x", "dx", true),
            ("\\*", "*", true),
            ("*", "", true),
            ("f*o*", "foo", true),
        ] {
            assert_eq!(glob_match(p, n), want, "pattern {p:?} on {n:?}");
        }
    }

    #[test]
    fn sources_stay_in_the_context() {
        assert_eq!(context_path("./a/../b").unwrap(), ["b"]);
        assert_eq!(context_path("/x/y").unwrap(), ["x", "y"]);
        let e = context_path("../secret").expect_err("a path leaving the context");
        assert!(
            e.to_string()
                .contains("Forbidden path outside the build context"),
            "got {e}"
        );
    }

    #[test]
    fn chown_names_from_the_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let t = Tree::Dir(d.path().to_path_buf());
        assert_eq!(chown_ids("bob:staff", &t).unwrap(), (1000, 50));
        assert_eq!(chown_ids("7", &t).unwrap(), (7, 7));
        assert_eq!(chown_ids("bob:9", &t).unwrap(), (1000, 9));
        assert!(
            chown_ids("nobody", &t).is_err(),
            "an unknown user is refused"
        );
    }
}
