//! The listening socket: inherited from systemd (socket activation), or bound at the configured
//! path.

use nix::sys::socket::{getsockopt, sockopt};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Longest path `sockaddr_un` holds, with its terminating NUL.
const SUN_PATH_MAX: usize = 107;
/// The group that may use the socket when it exists, as for /var/run/docker.sock.
const SOCKET_GROUP: &str = "docker";

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("LISTEN_FDS is set for this process but fd 3 is not a listening unix socket: {0}")]
    NotAListener(io::Error),
    #[error("another server answers on {path}")]
    Busy { path: PathBuf },
    #[error("{path} exists and is not a socket")]
    NotASocket { path: PathBuf },
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

pub type Result<T> = std::result::Result<T, ListenError>;

/// The listening socket systemd passed, when `LISTEN_PID` names this process and `LISTEN_FDS`
/// is at least 1 (sd_listen_fds(3)); only the first fd is used ([`crate::sys`] adopts it).
pub fn from_systemd() -> Result<Option<UnixListener>> {
    let Some(fd) = crate::sys::take_systemd_listen_fd() else {
        return Ok(None);
    };
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|e| ListenError::NotAListener(e.into()))?;
    let listening =
        getsockopt(&fd, sockopt::AcceptConn).map_err(|e| ListenError::NotAListener(e.into()))?;
    if !listening {
        return Err(ListenError::NotAListener(io::Error::other(
            "the socket does not accept connections",
        )));
    }
    let listener = UnixListener::from(fd);
    // Fails unless the socket is AF_UNIX.
    listener.local_addr().map_err(ListenError::NotAListener)?;
    listener
        .set_nonblocking(true)
        .map_err(ListenError::NotAListener)?;
    Ok(Some(listener))
}

/// Bind `path`: make its directory, replace a stale socket (one nobody answers on), then mode
/// 0660 and group `docker` when that group exists.
pub fn bind(path: &Path) -> Result<UnixListener> {
    let io_err = |step, source| ListenError::Io {
        step,
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).map_err(|e| io_err("creating the directory of", e))?;
    let (addr, _dir) = addressable(path).map_err(|e| io_err("opening the directory of", e))?;
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(ListenError::NotASocket {
                path: path.to_path_buf(),
            })
        }
        Ok(_) => {
            if UnixStream::connect(&addr).is_ok() {
                return Err(ListenError::Busy {
                    path: path.to_path_buf(),
                });
            }
            fs::remove_file(path).map_err(|e| io_err("removing the stale socket", e))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("checking", e)),
    }
    // Bound aside, in a directory only root enters, given its mode and group there, then
    // renamed into place: never, even for a moment, a socket with the umask's mode where
    // others can reach it.
    let aside = dir.join(format!(".{}.bind.{}", file_name(path), std::process::id()));
    // One left by a process killed here, with the same pid.
    crate::engine::cleanup(
        format!("removing {}", aside.display()),
        fs::remove_dir_all(&aside),
    );
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&aside)
        .map_err(|e| io_err("creating the directory aside of", e))?;
    let bound = aside.join("s");
    let listener = (|| {
        let (addr, _dir) =
            addressable(&bound).map_err(|e| io_err("opening the directory of", e))?;
        let listener = UnixListener::bind(&addr).map_err(|e| io_err("binding", e))?;
        fs::set_permissions(&bound, fs::Permissions::from_mode(0o660))
            .map_err(|e| io_err("setting the mode of", e))?;
        if let Ok(Some(group)) = nix::unistd::Group::from_name(SOCKET_GROUP) {
            nix::unistd::chown(&bound, None, Some(group.gid))
                .map_err(|e| io_err("setting the group of", e.into()))?;
        }
        fs::rename(&bound, path).map_err(|e| io_err("moving into place", e))?;
        Ok(listener)
    })();
    crate::engine::cleanup(
        format!("removing {}", aside.display()),
        fs::remove_dir_all(&aside),
    );
    let listener = listener?;
    listener
        .set_nonblocking(true)
        .map_err(|e| io_err("configuring", e))?;
    Ok(listener)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "socket".into(), |n| n.to_string_lossy().into_owned())
}

/// A path to `path` that fits in `sockaddr_un`: itself when short enough, else
/// `/proc/self/fd/<dir fd>/<name>` with the directory held open (the returned File) meanwhile.
fn addressable(path: &Path) -> io::Result<(PathBuf, Option<File>)> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return Ok((path.to_path_buf(), None));
    }
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "socket path has no name"))?;
    let dir = File::open(path.parent().unwrap_or(Path::new("/")))?;
    let short = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    ))
    .join(name);
    Ok((short, Some(dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_replaces_a_stale_socket_and_refuses_a_live_one() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub/b.sock");
        let live = bind(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660, "socket mode");
        match bind(&path) {
            Err(ListenError::Busy { .. }) => {}
            other => panic!("binding over a live socket: expected Busy, got {other:?}"),
        }
        drop(live);
        // The file remains and nothing answers: stale, so it is replaced.
        assert!(path.exists());
        bind(&path).expect("rebinding over a stale socket");
    }

    #[test]
    fn refuses_to_replace_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("b.sock");
        fs::write(&path, "x").unwrap();
        match bind(&path) {
            Err(ListenError::NotASocket { .. }) => {}
            other => panic!("expected NotASocket, got {other:?}"),
        }
    }

    #[test]
    fn binds_a_path_longer_than_sun_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d".repeat(100));
        let path = dir.join("berth.sock");
        assert!(path.as_os_str().len() > SUN_PATH_MAX);
        let _l = bind(&path).unwrap();
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
    }
}
