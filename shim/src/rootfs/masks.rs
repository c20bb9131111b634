//! Step 7 of the root, after pivot_root: Docker's masked paths, then its read-only paths.

use super::devices::NullDevice;
use super::{do_mount, existing, Result, RootfsError};
use nix::mount::MsFlags;
use std::path::Path;

/// Make a path read-only in place: a recursive bind of it onto itself, then the bind and every
/// mount under it (the masks made before among them) read-only, so that no mount under a
/// read-only path is a writable window into it.
pub(super) fn readonly(path: &str) -> Result<()> {
    let Some(at) = existing(Path::new("/"), path)? else {
        return Ok(());
    };
    let at = at.path();
    do_mount(
        at.to_str(),
        &at,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    // The fd held names what is under the new bind: address the bind itself.
    let Some(top) = existing(Path::new("/"), path)? else {
        return Ok(());
    };
    crate::sys::make_tree_readonly(top.fd()).map_err(|source| RootfsError::Readonly {
        path: path.to_string(),
        source,
    })
}

/// Hide a path: berth's null device over a file, an empty read-only tmpfs over a directory.
pub(super) fn mask(path: &str, null: &NullDevice) -> Result<()> {
    let Some(at) = existing(Path::new("/"), path)? else {
        return Ok(());
    };
    let is_dir = at
        .stat()
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .map_err(|source| RootfsError::Resolve {
            destination: path.to_string(),
            source,
        })?;
    if is_dir {
        do_mount(
            Some("tmpfs"),
            &at.path(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
    } else {
        do_mount(
            null.path().to_str(),
            &at.path(),
            None,
            MsFlags::MS_BIND,
            None,
        )
    }
}
