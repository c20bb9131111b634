//! A user namespace with a container's maps, for the host's side of a stopped container
//! (`docker cp` into it): its layers are idmapped into a namespace like the one it runs in, as
//! the shim idmaps them at a start. A namespace is made by a process: `berth-shim hold-userns`
//! unshares one, says so, and holds it until its stdin closes; the caller writes the maps,
//! keeps a descriptor of the namespace, and lets the holder go. No fork from the caller (a
//! threaded server): the holder is an ordinary child process.

use crate::spec::{IdMap, UserNamespace};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

/// The verb of `berth-shim` that holds a new user namespace.
pub const VERB: &str = "hold-userns";

#[derive(Debug, thiserror::Error)]
pub enum HolderError {
    #[error("starting {binary} {VERB}: {source}")]
    Spawn {
        binary: std::path::PathBuf,
        source: io::Error,
    },
    #[error("the user namespace holder did not make its namespace: {said:?}")]
    NotReady { said: String },
    #[error("writing {path}: {source}")]
    Map { path: String, source: io::Error },
    #[error("opening {path}: {source}")]
    Open { path: String, source: io::Error },
}

/// The holder's side (the binary's verb): unshare a user namespace, say "ready", hold it until
/// stdin closes. Returns the exit code.
pub fn hold() -> i32 {
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
        println!("unshare: {e}");
        return 1;
    }
    println!("ready");
    let _ = io::stdout().flush();
    let mut rest = Vec::new();
    let _ = io::stdin().read_to_end(&mut rest);
    0
}

fn map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// The caller's side: a descriptor of a new user namespace with `ns`'s maps, made by `shim`
/// (the `berth-shim` binary).
pub fn namespace_with(shim: &Path, ns: &UserNamespace) -> Result<OwnedFd, HolderError> {
    let mut child = Command::new(shim)
        .arg(VERB)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| HolderError::Spawn {
            binary: shim.to_path_buf(),
            source,
        })?;
    let opened = open_with_maps(&mut child, ns);
    // Closing its stdin lets it go; it is our child, so its pid was not reused meanwhile.
    drop(child.stdin.take());
    let _ = child.wait();
    opened
}

fn open_with_maps(
    child: &mut std::process::Child,
    ns: &UserNamespace,
) -> Result<OwnedFd, HolderError> {
    let mut said = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = io::BufReader::new(out).read_line(&mut said);
    }
    if said.trim() != "ready" {
        return Err(HolderError::NotReady { said });
    }
    let pid = child.id();
    for (file, maps) in [("uid_map", &ns.uid_map), ("gid_map", &ns.gid_map)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, map_text(maps))
            .map_err(|source| HolderError::Map { path, source })?;
    }
    let path = format!("/proc/{pid}/ns/user");
    std::fs::File::open(&path)
        .map(OwnedFd::from)
        .map_err(|source| HolderError::Open { path, source })
}
