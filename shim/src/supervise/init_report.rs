//! What the container's first process reports to its shim before it execs.

use crate::control::Response;
use crate::init::{fail, InitFailure};
use crate::state::RootMode;

/// What the container's first process said on its error pipe, read to its end (the pipe is
/// close-on-exec): first the root mode (a byte, once the root is entered), then an error if
/// any.
#[derive(Debug)]
pub(super) enum InitReport {
    /// It entered its root and exec'd.
    Execed(RootMode),
    /// It failed and said why.
    Failed(InitFailure),
    /// It died without saying why (killed, or before its root was entered).
    Died(InitFailure),
}

pub(super) fn init_report(err_r: std::os::fd::OwnedFd) -> InitReport {
    let mut report = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(err_r), &mut report);
    parse(&report)
}

fn parse(report: &[u8]) -> InitReport {
    let root_mode = match report.first() {
        Some(b'C') => Some(RootMode::Chroot),
        Some(b'P') => Some(RootMode::PivotRoot),
        _ => None,
    };
    let failure = &report[usize::from(root_mode.is_some())..];
    match (root_mode, serde_json::from_slice::<Response>(failure)) {
        (Some(mode), _) if failure.is_empty() => InitReport::Execed(mode),
        (
            _,
            Ok(Response::Error {
                message, exit_code, ..
            }),
        ) => InitReport::Failed(InitFailure {
            message,
            exit_code: exit_code.unwrap_or(127),
        }),
        _ => InitReport::Died(fail(
            "starting the container",
            format!(
                "the container's first process died: {}",
                String::from_utf8_lossy(failure)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_an_exec_a_failure_or_a_silent_death() {
        assert!(matches!(
            parse(b"P"),
            InitReport::Execed(RootMode::PivotRoot)
        ));
        assert!(matches!(parse(b"C"), InitReport::Execed(RootMode::Chroot)));
        let said =
            br#"P{"result":"error","message":"no such file","exit_code":127,"conflict":false}"#;
        match parse(said) {
            InitReport::Failed(f) => {
                assert_eq!((f.message.as_str(), f.exit_code), ("no such file", 127))
            }
            other => panic!("a reported failure read as {other:?}"),
        }
        assert!(
            matches!(parse(b""), InitReport::Died(_)),
            "nothing said is a silent death"
        );
        assert!(matches!(parse(b"Pgarbage"), InitReport::Died(_)));
    }
}
