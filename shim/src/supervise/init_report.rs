//! What the container's first process reports to its shim before it execs.

use crate::process::{self, Report, Said};
use crate::process::{fail, InitFailure};
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
    of(process::read_report(err_r))
}

/// What the container's process's words mean: an unknown exit code is 127's.
fn of(report: Report) -> InitReport {
    match (report.root_mode, report.said) {
        (Some(mode), Said::Nothing) => InitReport::Execed(mode),
        (_, Said::Failure { message, exit_code }) => InitReport::Failed(InitFailure {
            message,
            exit_code: exit_code.unwrap_or(127),
        }),
        (_, said) => InitReport::Died(fail(
            "starting the container",
            format!("the container's first process died: {}", said.text()),
        )),
    }
}

#[cfg(test)]
fn parse(report: &[u8]) -> InitReport {
    of(process::parse_report(report))
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
