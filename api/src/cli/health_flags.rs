//! The `run` and `create` health check flags, put into Config.Healthcheck as the docker CLI
//! puts them: `--health-cmd` as CMD-SHELL, durations in Go's syntax as nanoseconds,
//! `--no-healthcheck` as `["NONE"]`.

use super::{CliError, Result};
use crate::engine::wire::HealthConfigJson;
use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct HealthFlags {
    /// Command to run to check health (through /bin/sh -c).
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h), 0s for the default.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h), 0s for the default.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before failures count (ms|s|m|h).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub health_start_period: Option<String>,
    /// Time between checks during the start period (ms|s|m|h).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub health_start_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long, value_name = "INT", allow_negative_numbers = true)]
    pub health_retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    pub no_healthcheck: bool,
}

/// A Go duration ("1m30s", "500ms", "2h") in nanoseconds.
pub fn go_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

/// Config.Healthcheck for these flags; None when no flag is given (the image's applies).
pub fn healthcheck(f: &HealthFlags) -> Result<Option<HealthConfigJson>> {
    let duration = |v: &Option<String>, flag: &str| -> Result<i64> {
        let Some(v) = v else { return Ok(0) };
        let ns = go_duration(v).ok_or_else(|| {
            CliError::Usage(format!(
                "invalid argument \"{v}\" for \"{flag}\" flag: time: invalid duration \"{v}\""
            ))
        })?;
        if ns < 0 {
            return Err(CliError::Usage(format!("{flag} cannot be negative")));
        }
        Ok(ns)
    };
    let interval = duration(&f.health_interval, "--health-interval")?;
    let timeout = duration(&f.health_timeout, "--health-timeout")?;
    let start_period = duration(&f.health_start_period, "--health-start-period")?;
    let start_interval = duration(&f.health_start_interval, "--health-start-interval")?;
    let retries = f.health_retries.unwrap_or(0);
    if retries < 0 {
        return Err(CliError::Usage(
            "--health-retries cannot be negative".into(),
        ));
    }
    let any = f.health_cmd.is_some()
        || f.health_interval.is_some()
        || f.health_timeout.is_some()
        || f.health_start_period.is_some()
        || f.health_start_interval.is_some()
        || f.health_retries.is_some();
    if f.no_healthcheck {
        if any {
            return Err(CliError::Usage(
                "--no-healthcheck conflicts with --health-* options".into(),
            ));
        }
        return Ok(Some(HealthConfigJson {
            test: Some(vec!["NONE".into()]),
            ..HealthConfigJson::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    let test = match f.health_cmd.as_deref() {
        Some(cmd) if !cmd.is_empty() => Some(vec!["CMD-SHELL".into(), cmd.to_string()]),
        _ => None,
    };
    Ok(Some(HealthConfigJson {
        test,
        interval: Some(interval),
        timeout: Some(timeout),
        start_period: Some(start_period),
        start_interval: Some(start_interval),
        retries: Some(retries),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1s"), Some(1_000_000_000));
        assert_eq!(go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration("500ms"), Some(500_000_000));
        assert_eq!(go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration("0"), Some(0));
        assert_eq!(go_duration("-2s"), Some(-2_000_000_000));
        assert_eq!(go_duration("10"), None, "a number needs a unit");
        assert_eq!(go_duration("1d"), None);
        assert_eq!(go_duration(""), None);
    }

    #[test]
    fn flags_become_the_docker_clis_healthcheck() {
        assert_eq!(healthcheck(&HealthFlags::default()).unwrap(), None);
        let f = HealthFlags {
            health_cmd: Some("test -e /tmp/ok".into()),
            health_interval: Some("1s".into()),
            health_retries: Some(2),
            ..HealthFlags::default()
        };
        assert_eq!(
            json!(healthcheck(&f).unwrap().unwrap()),
            json!({"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 1_000_000_000i64,
                   "Timeout": 0, "StartPeriod": 0, "StartInterval": 0, "Retries": 2})
        );
        let none = HealthFlags {
            no_healthcheck: true,
            ..HealthFlags::default()
        };
        assert_eq!(
            json!(healthcheck(&none).unwrap().unwrap()),
            json!({"Test": ["NONE"]})
        );
        let both = HealthFlags {
            health_cmd: Some("true".into()),
            ..none
        };
        assert!(healthcheck(&both).is_err());
        let neg = HealthFlags {
            health_interval: Some("-1s".into()),
            ..HealthFlags::default()
        };
        assert_eq!(
            healthcheck(&neg).unwrap_err().to_string(),
            "--health-interval cannot be negative"
        );
        let bad = HealthFlags {
            health_timeout: Some("soon".into()),
            ..HealthFlags::default()
        };
        assert!(healthcheck(&bad).is_err());
    }
}
