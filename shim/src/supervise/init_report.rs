//! What the container's first process reports to its shim before it execs.

use crate::control::Response;
use crate::init::{fail, InitFailure};

/// What the container's first process said on its error pipe, read to its end (the pipe is
/// close-on-exec): first the root mode (a byte, once the root is entered), then an error if
/// any.
pub(super) enum InitReport {
    Execed(crate::state::RootMode),
    Failed(InitFailure),
}

pub(super) fn init_report(err_r: std::os::fd::OwnedFd) -> InitReport {
    let mut report = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(err_r), &mut report);
    let root_mode = match report.first() {
        Some(b'C') => Some(crate::state::RootMode::Chroot),
        Some(b'P') => Some(crate::state::RootMode::PivotRoot),
        _ => None,
    };
    let failure = &report[usize::from(root_mode.is_some())..];
    match root_mode {
        Some(mode) if failure.is_empty() => InitReport::Execed(mode),
        _ => InitReport::Failed(match serde_json::from_slice::<Response>(failure) {
            Ok(Response::Error {
                message, exit_code, ..
            }) => InitFailure {
                message,
                exit_code: exit_code.unwrap_or(127),
            },
            _ => fail(
                "starting the container",
                format!(
                    "the container's first process died: {}",
                    String::from_utf8_lossy(failure)
                ),
            ),
        }),
    }
}
