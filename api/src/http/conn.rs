//! What a hijacked stream needs to know about its client's connection: how much of what was sent
//! the client has not read yet.
//!
//! docker-py reads a hijacked stream (exec_run, attach) straight from the socket under its
//! HTTP reader, so stream bytes that reach it together with the `101` head sit in that reader's
//! buffer and are lost (docker/docker-py#3332: exec_run's output comes back empty). The stream
//! therefore starts only once the client has read the head.

use std::os::fd::RawFd;
use std::time::Duration;

/// The raw descriptor of the connection a request came on (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct ConnFd(pub RawFd);

/// Longest wait for a client to read the head: a client that reads nothing still gets its
/// stream after this.
const HEAD_READ_LIMIT: Duration = Duration::from_secs(2);

/// Bytes sent on `fd` that the peer has not read yet.
fn unread(fd: RawFd) -> std::io::Result<usize> {
    crate::sys::unread_output(fd)
}

/// Wait until the client of `conn` has read all that was sent to it (the `101` head), at most
/// [`HEAD_READ_LIMIT`]. Call with the upgraded stream held, before writing to it.
pub async fn head_read(conn: Option<ConnFd>) {
    let Some(ConnFd(fd)) = conn else { return };
    let deadline = tokio::time::Instant::now() + HEAD_READ_LIMIT;
    while matches!(unread(fd), Ok(n) if n > 0) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
