//! The device controller: a container's [`Policy`] written to v1's devices.deny and
//! devices.allow, or, where no v1 devices hierarchy is mounted, a cgroup device program
//! (monitor/bpf/devices.bpf.c) attached to the group's v2 directory. The kernel consults
//! both where both exist, so the v2 program works on a hybrid machine too.

use super::{write_file, CgroupError, Result};
use crate::devices::{DeviceKind, DeviceRule, Policy};
use berth_monitor::abi::{DevRule, DEV_ANY, DEV_BLOCK, DEV_CHAR};
use berth_monitor::devices::DeviceFilter;
use std::os::fd::AsFd;
use std::path::Path;

/// v1: deny everything, then allow each rule; or allow everything.
pub(super) fn set_v1(dir: &Path, policy: &Policy) -> Result<()> {
    match policy {
        Policy::AllowAll => write_file(&dir.join("devices.allow"), "a"),
        Policy::AllowOnly(rules) => {
            write_file(&dir.join("devices.deny"), "a")?;
            for rule in rules {
                write_file(&dir.join("devices.allow"), &rule.v1_line())?;
            }
            Ok(())
        }
    }
}

/// v2: load a filter with the rules and attach it to `dir` with no flags, so that nothing can
/// be attached below it (a container cannot add a filter of its own) and a later attach here
/// replaces it. Allowing everything attaches nothing.
pub fn attach_filter(dir: &Path, policy: &Policy) -> Result<()> {
    let Policy::AllowOnly(rules) = policy else {
        return Ok(());
    };
    let filter_error = |source| CgroupError::DeviceFilter {
        path: dir.to_path_buf(),
        source,
    };
    // 1. Load a copy of the program with the rules baked in.
    let bpf: Vec<DevRule> = rules.iter().filter_map(bpf_rule).collect();
    let filter = DeviceFilter::load(&bpf).map_err(filter_error)?;
    // 2. Open the cgroup directory.
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    // 3. Attach: from here the cgroup holds the program; the loaded copy can go.
    let prog = filter.program_fd().map_err(filter_error)?;
    crate::sys::bpf_prog_attach(cgroup.as_fd(), prog, crate::sys::BPF_CGROUP_DEVICE).map_err(
        |source| CgroupError::DeviceAttach {
            path: dir.to_path_buf(),
            source,
        },
    )
}

/// A rule as the filter holds it; `a` rules never reach here (they make [`Policy::AllowAll`]).
fn bpf_rule(rule: &DeviceRule) -> Option<DevRule> {
    let kind = match rule.kind {
        DeviceKind::Block => DEV_BLOCK,
        DeviceKind::Char => DEV_CHAR,
        DeviceKind::All => return None,
    };
    Some(DevRule {
        kind,
        major: rule.major.unwrap_or(DEV_ANY),
        minor: rule.minor.unwrap_or(DEV_ANY),
        access: rule.access.bpf_bits(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::{detect, Layout};
    use std::path::PathBuf;
    use std::process::Command;

    /// A cgroup2 directory of the test's own, removed on drop (its shell has exited by then).
    struct V2Dir(PathBuf);

    impl V2Dir {
        fn new(name: &str) -> V2Dir {
            assert!(
                nix::unistd::geteuid().is_root(),
                "the device filter test needs root (it attaches a cgroup program)"
            );
            let root = match detect().expect("detecting the cgroup layout") {
                Layout::Unified { root } => root,
                Layout::Hybrid { v2: Some(root), .. } => root,
                Layout::Hybrid { v2: None, .. } => panic!("no cgroup2 tree is mounted"),
            };
            let dir = root.join(format!("berth-test-{name}-{}", std::process::id()));
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            V2Dir(dir)
        }

        /// `script` run by a shell that first moves itself into the directory; its exit
        /// status and what it printed (stdout then stderr).
        fn run(&self, script: &str) -> (bool, String) {
            let procs = self.0.join("cgroup.procs");
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("echo $$ > {} && {script}", procs.display()))
                .output()
                .expect("running sh");
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text)
        }
    }

    impl Drop for V2Dir {
        fn drop(&mut self) {
            if let Err(e) = std::fs::remove_dir(&self.0) {
                crate::cleanup::log_cleanup(format_args!("rmdir {}", self.0.display()), &e);
            }
        }
    }

    /// /dev/kmsg (c 1:11) is in no default rule; /dev/null is. mknod of any node is allowed,
    /// opening the node made is not.
    #[test]
    fn the_v2_filter_refuses_what_it_does_not_allow() {
        let scratch = tempfile::tempdir().unwrap();
        let node = scratch.path().join("kmsg");
        let script = format!(
            ": < /dev/null && echo null-ok && mknod {node} c 1 11 && echo mknod-ok && : < {node} && echo kmsg-ok",
            node = node.display()
        );

        let dir = V2Dir::new("devfilter-default");
        attach_filter(&dir.0, &crate::devices::policy(false, &[], &[])).unwrap();
        let (ok, out) = dir.run(&script);
        assert!(
            !ok && out.contains("null-ok\nmknod-ok\n") && !out.contains("kmsg-ok"),
            "expected /dev/null to open and mknod to work, then the open of c 1:11 to fail: {out:?}"
        );
        assert!(
            out.contains("Operation not permitted"),
            "expected EPERM for c 1:11, got {out:?}"
        );
        std::fs::remove_file(&node).unwrap();

        let rule = crate::devices::DeviceRule::parse("c 1:11 r").unwrap();
        let dir = V2Dir::new("devfilter-rule");
        attach_filter(&dir.0, &crate::devices::policy(false, &[], &[rule])).unwrap();
        let (ok, out) = dir.run(&script);
        assert!(
            ok && out.ends_with("kmsg-ok\n"),
            "with c 1:11 r the read open should work: {out:?}"
        );
        let (ok, out) = dir.run(&format!(": > {}", node.display()));
        assert!(
            !ok && out.contains("Operation not permitted"),
            "c 1:11 r does not allow writing: {out:?}"
        );
    }
}
