//! berth's one structured log: `tracing` events, written one line each to stderr (for a shim,
//! its container's `shim.log`; for the API under systemd, the journal: see the api's
//! `logging`). The level comes from `--log-level` or `BERTH_LOG` in the API, and from the
//! container's spec in a shim.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How much is logged: this level and the more severe ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub const NAMES: [&'static str; 5] = ["error", "warn", "info", "debug", "trace"];

    fn filter(self) -> tracing::level_filters::LevelFilter {
        use tracing::level_filters::LevelFilter;
        match self {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            _ => Err(format!(
                "unknown log level {s:?}: one of {}",
                LogLevel::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(LogLevel::NAMES[*self as usize])
    }
}

/// The level of the stderr subscriber, changed by [`set_level`].
static STDERR_LEVEL: std::sync::OnceLock<
    tracing_subscriber::reload::Handle<
        tracing::level_filters::LevelFilter,
        tracing_subscriber::Registry,
    >,
> = std::sync::OnceLock::new();

/// The stderr subscriber of berth's processes, at `level`: a line per event, with the time,
/// the level, the spans it happened in (`container{id=..}`, `request{method=.. path=..}`) and
/// its fields. A second call (a test, or the API after a fork) keeps the first subscriber.
pub fn init_stderr(level: LogLevel) {
    use tracing_subscriber::layer::SubscriberExt;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(level.filter());
    let subscriber = tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false),
    );
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        let _ = STDERR_LEVEL.set(handle);
    }
}

/// Log at `level` from now on (a shim, once it has read its container's settings). Without
/// the stderr subscriber of [`init_stderr`], nothing changes.
pub fn set_level(level: LogLevel) {
    if let Some(handle) = STDERR_LEVEL.get() {
        if let Err(e) = handle.reload(level.filter()) {
            tracing::warn!("setting the log level to {level}: {e}");
        }
    }
}

/// The filter for a level, for subscribers built elsewhere (the API's journald one).
pub fn level_filter(level: LogLevel) -> tracing::level_filters::LevelFilter {
    level.filter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_print_and_order() {
        for name in LogLevel::NAMES {
            let level: LogLevel = name.parse().unwrap();
            assert_eq!(level.to_string(), name);
            assert_eq!(
                serde_json::to_string(&level).unwrap(),
                format!("\"{name}\"")
            );
        }
        assert_eq!("WARNING".parse::<LogLevel>(), Ok(LogLevel::Warn));
        assert!("loud"
            .parse::<LogLevel>()
            .unwrap_err()
            .contains("one of error, warn"));
        assert!(LogLevel::Error < LogLevel::Trace);
        assert_eq!(LogLevel::default(), LogLevel::Info);
    }
}
