//! The bound on how deep berth walks a directory tree. A container's or an image's files are
//! hostile, and every walk (export, commit, cp, diff, copy-up) recurses once per level: without
//! a bound a tree made 100k levels deep (with `mkdirat` relative to the deepest fd) overflows
//! the walking thread's stack and aborts the API process.
//!
//! dockerd walks with full paths, so it fails near PATH_MAX (about 2,000 levels of one-letter
//! names) with "file name too long"; berth walks by fds and stops at [`MAX_TREE_DEPTH`] with
//! [`TooDeep`].

/// Directory levels below the top of a walk.
pub const MAX_TREE_DEPTH: usize = 1024;

/// The stack of a thread that walks a tree: enough for [`MAX_TREE_DEPTH`] levels of the debug
/// build's frames (tokio's and std's threads have 2 MiB). Only the pages touched are used.
pub const WALK_STACK: usize = 8 << 20;

/// A walk met a directory deeper than [`MAX_TREE_DEPTH`].
#[derive(Debug, thiserror::Error)]
#[error("{path}: the directory tree is deeper than {MAX_TREE_DEPTH} levels")]
pub struct TooDeep {
    /// The start of the directory's path (cut: it is at least 2,048 bytes long).
    pub path: String,
}

/// Ok while a directory at `depth` (the top is 0) may be entered; `path` names it.
pub fn check(depth: usize, path: &str) -> Result<(), TooDeep> {
    if depth <= MAX_TREE_DEPTH {
        return Ok(());
    }
    let mut end = path.len().min(120);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    Err(TooDeep {
        path: format!("{}...", &path[..end]),
    })
}

/// The same as an `io::Error` (for the tar writers).
pub fn check_io(depth: usize, path: &str) -> std::io::Result<()> {
    check(depth, path).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_inclusive_and_the_path_cut_at_a_character() {
        assert!(check(MAX_TREE_DEPTH, "a").is_ok());
        let long = "é/".repeat(2000);
        let e = check(MAX_TREE_DEPTH + 1, &long).unwrap_err();
        assert!(
            e.path.len() <= 123 && e.path.ends_with("..."),
            "cut: {}",
            e.path
        );
        assert!(
            e.to_string().contains("deeper than 1024 levels"),
            "the message names the bound: {e}"
        );
    }
}
