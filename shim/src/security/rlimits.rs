//! Resource limits from Docker's `--ulimit`, never above what this process may set: the shim
//! may run without CAP_SYS_RESOURCE, so a limit above the current hard limit is lowered to it.

use crate::spec::Rlimit;
use nix::errno::Errno;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    /// Docker's wording.
    #[error("invalid ulimit type: {0}")]
    UnknownName(String),
    #[error("reading the {name} limit: {source}")]
    Get {
        name: String,
        #[source]
        source: Errno,
    },
    #[error("setting the {name} limit to soft {soft}, hard {hard}: {source}")]
    Set {
        name: String,
        soft: u64,
        hard: u64,
        #[source]
        source: Errno,
    },
}

pub type Result<T> = std::result::Result<T, RlimitError>;

/// Docker's ulimit names and their resources.
const NAMES: [(&str, Resource); 16] = [
    ("as", Resource::RLIMIT_AS),
    ("core", Resource::RLIMIT_CORE),
    ("cpu", Resource::RLIMIT_CPU),
    ("data", Resource::RLIMIT_DATA),
    ("fsize", Resource::RLIMIT_FSIZE),
    ("locks", Resource::RLIMIT_LOCKS),
    ("memlock", Resource::RLIMIT_MEMLOCK),
    ("msgqueue", Resource::RLIMIT_MSGQUEUE),
    ("nice", Resource::RLIMIT_NICE),
    ("nofile", Resource::RLIMIT_NOFILE),
    ("nproc", Resource::RLIMIT_NPROC),
    ("rss", Resource::RLIMIT_RSS),
    ("rtprio", Resource::RLIMIT_RTPRIO),
    ("rttime", Resource::RLIMIT_RTTIME),
    ("sigpending", Resource::RLIMIT_SIGPENDING),
    ("stack", Resource::RLIMIT_STACK),
];

/// The resource for a Docker ulimit name: "nofile", "NOFILE" or "RLIMIT_NOFILE".
pub fn parse_name(name: &str) -> Result<Resource> {
    let lower = name.to_ascii_lowercase();
    let short = lower.strip_prefix("rlimit_").unwrap_or(&lower);
    NAMES
        .iter()
        .find(|(n, _)| *n == short)
        .map(|&(_, r)| r)
        .ok_or_else(|| RlimitError::UnknownName(name.to_string()))
}

/// The limits to set for a request of (`soft`, `hard`) when the current hard limit is
/// `current_hard`: neither above `current_hard`, and soft not above hard.
pub fn clamp(soft: u64, hard: u64, current_hard: u64) -> (u64, u64) {
    let hard = hard.min(current_hard);
    (soft.min(hard), hard)
}

/// Set each limit for this process (its children inherit them), clamped by [`clamp`]. Every
/// name is checked before any limit changes.
pub fn apply(limits: &[Rlimit]) -> Result<()> {
    let resources = limits
        .iter()
        .map(|l| parse_name(&l.name))
        .collect::<Result<Vec<_>>>()?;
    for (limit, resource) in limits.iter().zip(resources) {
        let (_, current_hard) = getrlimit(resource).map_err(|source| RlimitError::Get {
            name: limit.name.clone(),
            source,
        })?;
        let (soft, hard) = clamp(limit.soft, limit.hard, current_hard);
        setrlimit(resource, soft, hard).map_err(|source| RlimitError::Set {
            name: limit.name.clone(),
            soft,
            hard,
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_any_case_with_or_without_prefix() {
        assert_eq!(parse_name("nofile").unwrap(), Resource::RLIMIT_NOFILE);
        assert_eq!(parse_name("NOFILE").unwrap(), Resource::RLIMIT_NOFILE);
        assert_eq!(
            parse_name("RLIMIT_NOFILE").unwrap(),
            Resource::RLIMIT_NOFILE
        );
        assert_eq!(parse_name("rlimit_nproc").unwrap(), Resource::RLIMIT_NPROC);
        assert_eq!(parse_name("as").unwrap(), Resource::RLIMIT_AS);
        assert_eq!(parse_name("rttime").unwrap(), Resource::RLIMIT_RTTIME);
        for (name, resource) in NAMES {
            assert_eq!(parse_name(name).unwrap(), resource, "name {name}");
        }
    }

    #[test]
    fn unknown_names_use_docker_wording() {
        for name in ["foo", "RLIMIT_", "", "rlimit_foo"] {
            let err = parse_name(name).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid ulimit type: {name}"));
        }
    }

    #[test]
    fn clamp_never_exceeds_the_current_hard_limit() {
        assert_eq!(clamp(1024, 2048, 4096), (1024, 2048));
        assert_eq!(clamp(u64::MAX, u64::MAX, 4096), (4096, 4096));
        assert_eq!(clamp(8192, 8192, 4096), (4096, 4096));
        assert_eq!(clamp(100, 8192, 4096), (100, 4096));
        // A soft limit above the hard one comes down to it.
        assert_eq!(clamp(300, 200, 4096), (200, 200));
    }

    #[test]
    fn a_bad_name_changes_nothing() {
        let limits = [
            Rlimit {
                name: "core".into(),
                soft: 0,
                hard: 0,
            },
            Rlimit {
                name: "bogus".into(),
                soft: 1,
                hard: 1,
            },
        ];
        let before = getrlimit(Resource::RLIMIT_CORE).unwrap();
        assert!(matches!(apply(&limits), Err(RlimitError::UnknownName(n)) if n == "bogus"));
        assert_eq!(getrlimit(Resource::RLIMIT_CORE).unwrap(), before);
    }

    #[test]
    fn huge_values_are_clamped_not_refused() {
        crate::sys::in_child(|| {
            let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
            let (_, nproc_hard) = getrlimit(Resource::RLIMIT_NPROC).map_err(|e| e.to_string())?;
            let limits = [
                Rlimit {
                    name: "nofile".into(),
                    soft: u64::MAX,
                    hard: u64::MAX,
                },
                Rlimit {
                    name: "RLIMIT_NPROC".into(),
                    soft: 100,
                    hard: 200,
                },
            ];
            apply(&limits).map_err(|e| e.to_string())?;
            let got = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
            if got != (hard, hard) {
                return Err(format!("nofile: expected ({hard}, {hard}), got {got:?}"));
            }
            let got = getrlimit(Resource::RLIMIT_NPROC).map_err(|e| e.to_string())?;
            let want = clamp(100, 200, nproc_hard);
            if got != want {
                return Err(format!("nproc: expected {want:?}, got {got:?}"));
            }
            Ok(())
        })
        .unwrap();
    }
}
