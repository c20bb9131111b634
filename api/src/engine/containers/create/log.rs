//! The log part of the spec: the driver and its options.

use super::invalid;
use crate::engine::sizes::parse_size;
use crate::engine::Result;
use berth_shim::spec::LogSpec;

/// The log driver and its options, as the shim writes the log.
pub(super) fn log_spec(
    kind: &str,
    config: &std::collections::BTreeMap<String, String>,
) -> Result<LogSpec> {
    let driver = match kind {
        "" | "json-file" => "json-file",
        "none" => "none",
        other => {
            return Err(invalid(format!(
                "failed to create task for container: logging driver {other:?} is not supported by berth (json-file, none)"
            )))
        }
    };
    let mut spec = LogSpec {
        driver: driver.to_string(),
        ..LogSpec::default()
    };
    for (k, v) in config {
        match k.as_str() {
            "max-size" => {
                spec.max_size =
                    parse_size(v).ok_or_else(|| invalid(format!("invalid max-size: {v}")))?
            }
            "max-file" => {
                spec.max_file = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| invalid(format!("invalid max-file: {v}")))?
            }
            "compress" | "labels" | "env" | "tag" | "mode" | "max-buffer-size" => {}
            other => {
                return Err(invalid(format!(
                    "unknown log opt '{other}' for json-file log driver"
                )))
            }
        }
    }
    // max-file without max-size is accepted, as dockerd accepts it: with no size to rotate
    // at, the one file grows and max-file has nothing to count.
    if spec.max_size == 0 {
        spec.max_file = LogSpec::default().max_file;
    }
    Ok(spec)
}
