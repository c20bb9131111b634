//! POSIX ACLs, for one use: letting a user namespace's root search the directories that lead to
//! its container's files. berth's roots are root's alone (0710 and 0700: see `paths`), but the
//! first process of a container in a user namespace is an unprivileged id on the host, and it
//! mounts the container's root itself, by paths that pass through them. An ACL entry grants that
//! one id search (`x`) and nothing else: it cannot list the directory or read what is in it, and
//! no other user gains anything. Written as the kernel's `system.posix_acl_access` attribute.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const XATTR: &str = "system.posix_acl_access";
const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const UNDEFINED_ID: u32 = u32::MAX;
const SEARCH: u16 = 1;

/// One entry: (tag, permissions, id).
type Entry = (u16, u16, u32);

/// Grants `uid` search permission on `dir`, keeping every other entry.
pub fn grant_search(dir: &Path, uid: u32) -> io::Result<()> {
    let mode = std::fs::symlink_metadata(dir)?.mode();
    let mut entries = match crate::sys::lgetxattr(dir, XATTR)? {
        Some(bytes) => decode(&bytes)?,
        None => from_mode(mode),
    };
    if !add_search(&mut entries, uid) {
        return Ok(());
    }
    crate::sys::lsetxattr(dir, XATTR, &encode(&entries))
}

/// The entries that a directory of `mode` without an ACL has.
fn from_mode(mode: u32) -> Vec<Entry> {
    let perm = |shift: u32| ((mode >> shift) & 7) as u16;
    vec![
        (USER_OBJ, perm(6), UNDEFINED_ID),
        (GROUP_OBJ, perm(3), UNDEFINED_ID),
        (OTHER, perm(0), UNDEFINED_ID),
    ]
}

/// Adds search for `uid` (and to the mask, which bounds named users); false when it had it.
fn add_search(entries: &mut Vec<Entry>, uid: u32) -> bool {
    let has = |e: &[Entry], tag: u16, id: u32| {
        e.iter()
            .any(|&(t, p, i)| t == tag && i == id && p & SEARCH != 0)
    };
    if has(entries, USER, uid) && has(entries, MASK, UNDEFINED_ID) {
        return false;
    }
    match entries.iter_mut().find(|(t, _, i)| *t == USER && *i == uid) {
        Some(e) => e.1 |= SEARCH,
        None => entries.push((USER, SEARCH, uid)),
    }
    let group = entries
        .iter()
        .find(|(t, _, _)| *t == GROUP_OBJ)
        .map_or(0, |e| e.1);
    match entries.iter_mut().find(|(t, _, _)| *t == MASK) {
        Some(e) => e.1 |= SEARCH,
        None => entries.push((MASK, group | SEARCH, UNDEFINED_ID)),
    }
    // The kernel wants them in tag order, named entries by id.
    entries.sort_by_key(|&(t, _, i)| (t, i));
    true
}

fn decode(bytes: &[u8]) -> io::Result<Vec<Entry>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed POSIX ACL");
    let (head, rest) = bytes.split_at_checked(4).ok_or_else(bad)?;
    if u32::from_le_bytes(head.try_into().map_err(|_| bad())?) != VERSION || rest.len() % 8 != 0 {
        return Err(bad());
    }
    Ok(rest
        .chunks_exact(8)
        .map(|c| {
            (
                u16::from_le_bytes([c[0], c[1]]),
                u16::from_le_bytes([c[2], c[3]]),
                u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect())
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = VERSION.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_granted_id_may_search_and_nothing_else_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        grant_search(&dir, 100_000).unwrap();
        grant_search(&dir, 200_000).unwrap();
        grant_search(&dir, 100_000).unwrap();
        let acl = decode(&crate::sys::lgetxattr(&dir, XATTR).unwrap().unwrap()).unwrap();
        assert_eq!(
            acl,
            vec![
                (USER_OBJ, 7, UNDEFINED_ID),
                (USER, 1, 100_000),
                (USER, 1, 200_000),
                (GROUP_OBJ, 0, UNDEFINED_ID),
                (MASK, 1, UNDEFINED_ID),
                (OTHER, 0, UNDEFINED_ID),
            ]
        );
        // The mode's group bits show the mask: search only.
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o710);
        assert_eq!(decode(&encode(&acl)).unwrap(), acl);
    }
}
