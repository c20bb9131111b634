//! Bytes: sizes in Docker's units, and bytes on disk (what `docker system df`, `docker ps
//! --size` and the prunes report).

use std::path::Path;

/// Bytes in the files under `dir`, not following symlinks (a link counts as its own length).
pub fn dir_size(dir: &Path) -> u64 {
    dir_size_below(dir, 0)
}

/// Counted no deeper than [`MAX_TREE_DEPTH`](super::tree_depth::MAX_TREE_DEPTH) levels.
fn dir_size_below(dir: &Path, depth: usize) -> u64 {
    if depth > super::tree_depth::MAX_TREE_DEPTH {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size_below(&e.path(), depth + 1),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// "10m", "1g", "512k", "100" (bytes), as Docker's units.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_dockers_units() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn files_under_a_directory_are_summed_and_links_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        std::fs::write(tmp.path().join("a"), [0u8; 100]).unwrap();
        std::fs::write(tmp.path().join("sub/b"), [0u8; 20]).unwrap();
        std::os::unix::fs::symlink("/usr", tmp.path().join("l")).unwrap();
        assert_eq!(
            dir_size(tmp.path()),
            100 + 20 + "/usr".len() as u64,
            "expected the two files and the link's own length"
        );
        assert_eq!(dir_size(&tmp.path().join("missing")), 0);
    }
}
