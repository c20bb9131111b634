//! What this binary says about itself: its version, the git commit it was built from and when
//! (set by `build.rs`), for `berth --version` and `GET /version`.

/// berth's own version, reported as the engine's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit, 7 hex digits ("unknown" when built without git or `BERTH_GIT_COMMIT`).
pub const GIT_COMMIT: &str = env!("BERTH_GIT_COMMIT");
/// When the build script ran (or `SOURCE_DATE_EPOCH`), as dockerd writes BuildTime; empty when
/// `date` was not there.
pub const BUILD_TIME: &str = env!("BERTH_BUILD_TIME");
/// `berth --version`, as `docker --version` words it: "berth version 0.1.0, build 1a2b3c4".
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    ", build ",
    env!("BERTH_GIT_COMMIT")
);
