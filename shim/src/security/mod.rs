//! What the container's process may do: its capabilities, its seccomp filter, its resource
//! limits and the user it runs as. Each module has its own error enum.
//!
//! The shim applies them inside the container, after pivot_root, in this order (runc's):
//! 1. [`user::resolve`] from the container's `/etc/passwd` and `/etc/group`;
//! 2. [`caps::resolve`] and [`seccomp::build`] (the filter is built while the process is
//!    still root, before anything is dropped);
//! 3. [`apparmor::change_onexec`] when the spec names a profile (runc applies it before
//!    seccomp), then [`rlimits::apply`];
//! 4. without no_new_privileges: [`seccomp::load`] now, since loading a filter without
//!    no_new_privs needs CAP_SYS_ADMIN, which the container usually lacks (the default profile
//!    allows the calls of steps 5 and 6);
//! 5. [`caps::drop_bounding`] (needs CAP_SETPCAP, so still as root);
//! 6. `PR_SET_KEEPCAPS`, [`user::apply`], then [`caps::apply`];
//! 7. with no_new_privileges: `PR_SET_NO_NEW_PRIVS`, then [`seccomp::load`] as the last step
//!    before execve.

pub mod apparmor;
pub mod caps;
pub mod rlimits;
pub mod seccomp;
pub mod sysctl;
pub mod user;

pub use self::caps::{CapError, CapSet};
pub use self::rlimits::RlimitError;
pub use self::seccomp::{Filter, SeccompError};
pub use self::user::{User, UserError};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SeccompSpec;

    fn status_field(name: &str) -> Result<String, String> {
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .ok_or(format!("no {name} in /proc/self/status"))
    }

    /// The whole sequence, as the shim runs it, for a non-root user with dockerd's defaults,
    /// with and without no_new_privileges.
    fn documented_order(no_new_privs: bool) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "app:x:1000:\nvideo:x:27:app\n",
        )
        .unwrap();

        let user = user::resolve(dir.path(), "app", &[]).unwrap();
        let set = caps::resolve(false, &[], &[]).unwrap();
        let filter = seccomp::build(&SeccompSpec::Default, &set, seccomp::Arches::Profile)
            .unwrap()
            .unwrap();
        let limits = [crate::spec::Rlimit {
            name: "nofile".into(),
            soft: 1024,
            hard: u64::MAX,
        }];
        crate::sys::in_child(move || {
            let s = |e: &dyn std::fmt::Display| e.to_string();
            rlimits::apply(&limits).map_err(|e| s(&e))?;
            let mut filter = Some(filter);
            if !no_new_privs {
                seccomp::load(filter.take().unwrap()).map_err(|e| s(&e))?;
            }
            caps::drop_bounding(&set).map_err(|e| s(&e))?;
            nix::sys::prctl::set_keepcaps(true).map_err(|e| s(&e))?;
            user::apply(&user).map_err(|e| s(&e))?;
            caps::apply(&set).map_err(|e| s(&e))?;
            if let Some(filter) = filter {
                nix::sys::prctl::set_no_new_privs().map_err(|e| s(&e))?;
                seccomp::load(filter).map_err(|e| s(&e))?;
            }
            let nnp = if no_new_privs { "1" } else { "0" };
            for (field, want) in [
                ("CapEff:", "00000000a80425fb"),
                ("CapPrm:", "00000000a80425fb"),
                ("CapBnd:", "00000000a80425fb"),
                ("CapInh:", "0000000000000000"),
                ("Uid:", "1000\t1000\t1000\t1000"),
                ("Gid:", "1000\t1000\t1000\t1000"),
                ("Groups:", "27"),
                ("Seccomp:", "2"),
                ("NoNewPrivs:", nnp),
            ] {
                let got = status_field(field)?;
                if got != want {
                    return Err(format!("{field} expected {want:?}, got {got:?}"));
                }
            }
            Ok(())
        })
    }

    #[test]
    fn the_documented_order_works_without_no_new_privs() {
        documented_order(false).unwrap();
    }

    #[test]
    fn the_documented_order_works_with_no_new_privs() {
        documented_order(true).unwrap();
    }
}
