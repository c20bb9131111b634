//! The API's and the CLI's log: `tracing`, at the level of `--log-level` / `BERTH_LOG`, to
//! stderr, or to the journal when systemd connected stderr to it (a `berth.service`), so
//! that its lines keep their level and fields there.

use berth_shim::log::level_filter;
pub use berth_shim::log::LogLevel;
use std::os::fd::AsFd;
use tracing_subscriber::layer::SubscriberExt;

/// Sets the process's subscriber. Called once, first thing in `cli::main`.
pub fn init(level: LogLevel) {
    if stderr_is_the_journal() {
        if let Ok(journald) = tracing_journald::layer() {
            let subscriber = tracing_subscriber::registry()
                .with(journald.with_syslog_identifier("berth".into()))
                .with(level_filter(level));
            if tracing::subscriber::set_global_default(subscriber).is_ok() {
                return;
            }
        }
    }
    berth_shim::log::init_stderr(level);
}

/// systemd says where it connected a service's stderr to the journal in `JOURNAL_STREAM`
/// (`<device>:<inode>`); stderr is the journal if it is still that stream (not redirected).
fn stderr_is_the_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(st) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    dev.parse() == Ok(st.st_dev) && ino.parse() == Ok(st.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_the_journal_only_when_journal_stream_names_it() {
        let st = nix::sys::stat::fstat(std::io::stderr().as_fd()).unwrap();
        // No other test reads JOURNAL_STREAM.
        std::env::set_var("JOURNAL_STREAM", format!("{}:{}", st.st_dev, st.st_ino));
        assert!(stderr_is_the_journal(), "JOURNAL_STREAM naming stderr");
        std::env::set_var("JOURNAL_STREAM", format!("{}:{}", st.st_dev, st.st_ino + 1));
        assert!(
            !stderr_is_the_journal(),
            "JOURNAL_STREAM naming another stream"
        );
        std::env::set_var("JOURNAL_STREAM", "garbage");
        assert!(
            !stderr_is_the_journal(),
            "a JOURNAL_STREAM that does not parse"
        );
        std::env::remove_var("JOURNAL_STREAM");
        assert!(!stderr_is_the_journal(), "no JOURNAL_STREAM");
    }
}
