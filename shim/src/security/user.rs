//! The user the container's process runs as, from Docker's `User` and `GroupAdd`, resolved the
//! way runc does it: from the container's own `/etc/passwd` and `/etc/group`, read as files.
//! This runs inside the container after pivot_root, so NSS (getpwnam) must not be consulted:
//! it would load the host's libraries against the container's files.

use nix::errno::Errno;
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// runc's wording, which Docker shows.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoSuchUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoSuchGroup(String),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("setting the supplementary groups to {gids:?}: {source}")]
    SetGroups {
        gids: Vec<u32>,
        #[source]
        source: Errno,
    },
    #[error("setting the group id to {gid}: {source}")]
    SetGid {
        gid: u32,
        #[source]
        source: Errno,
    },
    #[error("setting the user id to {uid}: {source}")]
    SetUid {
        uid: u32,
        #[source]
        source: Errno,
    },
}

pub type Result<T> = std::result::Result<T, UserError>;

/// Who the process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, in order, without duplicates and without `gid`.
    pub additional_gids: Vec<u32>,
    /// From passwd; "/" when the user has no entry.
    pub home: String,
}

/// One line of /etc/passwd.
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One line of /etc/group.
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolve Docker's `User` ("", "name", "uid", "user:group" with either part a name or a number)
/// and `GroupAdd` (names or numbers) against `<root>/etc/passwd` and `<root>/etc/group`; either
/// file may be missing.
///
/// As runc does: "" is root; a number is a uid whether or not passwd has it (group 0 and home
/// "/" when it does not); a name must be in passwd. An explicit group replaces the user's
/// primary group and then /etc/group memberships are not added; otherwise every group that
/// lists the user's name is a supplementary group. `groups` are added after them.
pub fn resolve(root: &Path, user: &str, groups: &[String]) -> Result<User> {
    let passwd = read_optional(&root.join("etc/passwd"))?;
    let group = read_optional(&root.join("etc/group"))?;
    let users = parse_passwd(passwd.as_deref().unwrap_or(""));
    let all_groups = parse_group(group.as_deref().unwrap_or(""));

    let mut parts = user.split(':');
    let user_arg = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_arg = user_arg.parse::<u32>().ok();

    let found = users.iter().find(|u| match uid_arg {
        _ if user_arg.is_empty() => u.uid == 0,
        Some(uid) => u.uid == uid,
        None => u.name == user_arg,
    });
    let mut resolved = User {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".to_string(),
    };
    let mut supplementary = Vec::new();
    if let Some(entry) = found {
        resolved.uid = entry.uid;
        resolved.gid = entry.gid;
        resolved.home = entry.home.clone();
    } else if !user_arg.is_empty() {
        resolved.uid = uid_arg.ok_or_else(|| UserError::NoSuchUser(user_arg.to_string()))?;
    }

    if !group_arg.is_empty() {
        resolved.gid = find_group(&all_groups, group_arg)?;
    } else if let Some(entry) = found {
        supplementary.extend(
            all_groups
                .iter()
                .filter(|g| g.members.contains(&entry.name))
                .map(|g| g.gid),
        );
    }
    for extra in groups {
        supplementary.push(find_group(&all_groups, extra)?);
    }
    for gid in supplementary {
        if gid != resolved.gid && !resolved.additional_gids.contains(&gid) {
            resolved.additional_gids.push(gid);
        }
    }
    Ok(resolved)
}

/// A group by name or number: the first entry with that name or gid, else the number itself.
fn find_group(groups: &[GroupEntry], arg: &str) -> Result<u32> {
    let numeric = arg.parse::<u32>().ok();
    groups
        .iter()
        .find(|g| g.name == arg || Some(g.gid) == numeric)
        .map(|g| g.gid)
        .or(numeric)
        .ok_or_else(|| UserError::NoSuchGroup(arg.to_string()))
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UserError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The lines of a colon-separated file worth reading: not blank, not comments.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

/// name:password:uid:gid:gecos:home:shell; lines without numeric ids are skipped.
fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    records(text)
        .filter_map(|f| {
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).copied().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// name:password:gid:member,member,...; lines without a numeric gid are skipped.
fn parse_group(text: &str) -> Vec<GroupEntry> {
    records(text)
        .filter_map(|f| {
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Become `user`: supplementary groups, then the gid, then the uid (each step needs the
/// privilege the next one gives up). The caller sets PR_SET_KEEPCAPS first and applies the
/// capabilities again after.
pub fn apply(user: &User) -> Result<()> {
    let gids: Vec<Gid> = user
        .additional_gids
        .iter()
        .copied()
        .map(Gid::from_raw)
        .collect();
    setgroups(&gids).map_err(|source| UserError::SetGroups {
        gids: user.additional_gids.clone(),
        source,
    })?;
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid).map_err(|source| UserError::SetGid {
        gid: user.gid,
        source,
    })?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid).map_err(|source| UserError::SetUid {
        uid: user.uid,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
bin:x:1:1:bin:/bin:/sbin/nologin
# a comment
daemon:x:2:2:daemon:/sbin:/sbin/nologin

broken:x:notanumber:1::/:/bin/sh
nobody:x:65534:65534:nobody:/:/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
";

    const GROUP: &str = "\
root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
wheel:x:10:root
video:x:27:root,app
nogroup:x:65533:
nobody:x:65534:
app:x:1000:
";

    fn rootfs(passwd: Option<&str>, group: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        if let Some(p) = passwd {
            std::fs::write(dir.path().join("etc/passwd"), p).unwrap();
        }
        if let Some(g) = group {
            std::fs::write(dir.path().join("etc/group"), g).unwrap();
        }
        dir
    }

    fn user(uid: u32, gid: u32, additional_gids: &[u32], home: &str) -> User {
        User {
            uid,
            gid,
            additional_gids: additional_gids.to_vec(),
            home: home.to_string(),
        }
    }

    fn check(dir: &tempfile::TempDir, spec: &str, groups: &[&str], want: User) {
        let groups: Vec<String> = groups.iter().map(|s| s.to_string()).collect();
        let got = resolve(dir.path(), spec, &groups)
            .unwrap_or_else(|e| panic!("user {spec:?}: expected {want:?}, got error {e}"));
        assert_eq!(got, want, "user {spec:?} groups {groups:?}");
    }

    #[test]
    fn names_and_numbers() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        check(&dir, "", &[], user(0, 0, &[1, 2, 10, 27], "/root"));
        check(&dir, "root", &[], user(0, 0, &[1, 2, 10, 27], "/root"));
        check(&dir, "app", &[], user(1000, 1000, &[27], "/home/app"));
        check(&dir, "1000", &[], user(1000, 1000, &[27], "/home/app"));
        check(&dir, "nobody", &[], user(65534, 65534, &[], "/"));
        check(&dir, "4242", &[], user(4242, 0, &[], "/"));
    }

    #[test]
    fn explicit_groups_replace_the_primary_and_skip_memberships() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        check(&dir, "app:video", &[], user(1000, 27, &[], "/home/app"));
        check(
            &dir,
            "app:nogroup",
            &[],
            user(1000, 65533, &[], "/home/app"),
        );
        check(&dir, "0:bin", &[], user(0, 1, &[], "/root"));
        check(&dir, "4242:4343", &[], user(4242, 4343, &[], "/"));
        check(&dir, "app:65533", &[], user(1000, 65533, &[], "/home/app"));
    }

    #[test]
    fn group_add_by_name_or_number_without_duplicates() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        check(
            &dir,
            "app",
            &["video", "65533", "12345", "wheel", "video", "app"],
            user(1000, 1000, &[27, 65533, 12345, 10], "/home/app"),
        );
        check(&dir, "4242:7", &["nobody"], user(4242, 7, &[65534], "/"));
    }

    #[test]
    fn unknown_names_use_runc_wording() {
        let dir = rootfs(Some(PASSWD), Some(GROUP));
        let err = resolve(dir.path(), "foo", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user foo: no matching entries in passwd file"
        );
        let err = resolve(dir.path(), "app:bar", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group bar: no matching entries in group file"
        );
        let err = resolve(dir.path(), "app", &["staff".to_string()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group staff: no matching entries in group file"
        );
        assert!(matches!(
            resolve(dir.path(), "broken", &[]),
            Err(UserError::NoSuchUser(_))
        ));
    }

    #[test]
    fn missing_files() {
        let dir = rootfs(None, None);
        check(&dir, "", &[], user(0, 0, &[], "/"));
        check(&dir, "123", &[], user(123, 0, &[], "/"));
        check(&dir, "0:5", &["6"], user(0, 5, &[6], "/"));
        assert!(matches!(
            resolve(dir.path(), "app", &[]),
            Err(UserError::NoSuchUser(u)) if u == "app"
        ));
        assert!(matches!(
            resolve(dir.path(), "0:staff", &[]),
            Err(UserError::NoSuchGroup(g)) if g == "staff"
        ));
        let only_passwd = rootfs(Some(PASSWD), None);
        check(&only_passwd, "app", &[], user(1000, 1000, &[], "/home/app"));
    }

    #[test]
    fn apply_sets_groups_then_gid_then_uid() {
        let want = user(65534, 65533, &[27, 10], "/");
        crate::sys::in_child(move || {
            apply(&want).map_err(|e| e.to_string())?;
            let uid = nix::unistd::getresuid().map_err(|e| e.to_string())?;
            let gid = nix::unistd::getresgid().map_err(|e| e.to_string())?;
            let ids = [
                uid.real.as_raw(),
                uid.effective.as_raw(),
                uid.saved.as_raw(),
            ];
            if ids != [65534; 3] {
                return Err(format!("uids: expected 65534 thrice, got {ids:?}"));
            }
            let ids = [
                gid.real.as_raw(),
                gid.effective.as_raw(),
                gid.saved.as_raw(),
            ];
            if ids != [65533; 3] {
                return Err(format!("gids: expected 65533 thrice, got {ids:?}"));
            }
            // The kernel keeps the list sorted.
            let groups: Vec<u32> = nix::unistd::getgroups()
                .map_err(|e| e.to_string())?
                .iter()
                .map(|g| g.as_raw())
                .collect();
            if groups != [10, 27] {
                return Err(format!("groups: expected [10, 27], got {groups:?}"));
            }
            Ok(())
        })
        .unwrap();
    }
}
