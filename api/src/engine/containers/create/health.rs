//! The healthcheck part of the spec.

use super::invalid;
use crate::engine::Result;
use berth_shim::spec::HealthSpec;

/// Docker's Healthcheck object ({Test, Interval, Timeout, StartPeriod, StartInterval, Retries},
/// durations in ns) as the shim runs it; None for none or `["NONE"]`.
pub(super) fn health_spec(v: Option<&serde_json::Value>) -> Result<Option<HealthSpec>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let test: Vec<String> = v
        .get("Test")
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .unwrap_or_default();
    let command = match test.split_first() {
        None => return Ok(None),
        Some((kind, _)) if kind == "NONE" => return Ok(None),
        Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
        }
        Some((other, _)) => return Err(invalid(format!("invalid healthcheck type {other:?}"))),
    };
    if command.is_empty() {
        return Err(invalid("the healthcheck has no command"));
    }
    let mut h = HealthSpec {
        test: command,
        ..Default::default()
    };
    let duration = |k: &str| -> Result<Option<u64>> {
        match v.get(k).and_then(|d| d.as_i64()) {
            None | Some(0) => Ok(None),
            Some(d) if d < 1_000_000 => Err(invalid(format!(
                "{k} in Healthcheck cannot be less than 1ms"
            ))),
            Some(d) => Ok(Some(d as u64)),
        }
    };
    if let Some(d) = duration("Interval")? {
        h.interval_ns = d;
    }
    if let Some(d) = duration("Timeout")? {
        h.timeout_ns = d;
    }
    if let Some(d) = duration("StartPeriod")? {
        h.start_period_ns = d;
    }
    if let Some(d) = duration("StartInterval")? {
        h.start_interval_ns = d;
    }
    match v.get("Retries").and_then(|r| r.as_i64()) {
        Some(r) if r < 0 => return Err(invalid("Retries in Healthcheck cannot be negative")),
        Some(r) if r > 0 => h.retries = r as u32,
        _ => {}
    }
    Ok(Some(h))
}
