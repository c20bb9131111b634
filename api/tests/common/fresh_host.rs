//! A new machine's mount state, made for one test: a mount namespace of the test's own, held
//! by a sleeping process, in which bpffs (/sys/fs/bpf), tracefs and debugfs are unmounted, as
//! on a machine nobody prepared. Its mounts are private, as on a host without systemd, so a
//! mount made there by berth stays there, and one made in a namespace of berth's own (a shim's)
//! never reaches it. Nothing outside the namespace changes: unmounting inside a private copy
//! leaves the real host's mounts alone. Servers and CLI runs enter it through `nsenter`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct FreshHost {
    holder: Child,
}

impl FreshHost {
    pub fn new() -> FreshHost {
        let script = "for m in /sys/fs/bpf /sys/kernel/tracing /sys/kernel/debug; do \
                        while umount -l $m 2>/dev/null; do :; done; \
                      done; echo ready; exec sleep 3600";
        let mut holder = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) for a mount namespace of the test's own");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("reading the namespace holder");
        assert_eq!(line.trim(), "ready", "the namespace holder did not start");
        let host = FreshHost { holder };
        for (path, magic, fs) in [
            ("/sys/fs/bpf", 0xcafe4a11, "bpffs"),
            ("/sys/kernel/tracing", 0x74726163, "tracefs"),
        ] {
            let st = nix::sys::statfs::statfs(&host.path(path)).expect("statfs in the namespace");
            assert_ne!(
                st.filesystem_type().0,
                magic,
                "{fs} is still mounted on {path} in the fresh namespace"
            );
        }
        host
    }

    /// `program` run inside the namespace (`nsenter` execs it: its pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-m", "--"])
            .arg(program);
        c
    }

    /// `path` as seen inside the namespace (through the holder's root).
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        let rel = path.as_ref().strip_prefix("/").unwrap_or(path.as_ref());
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(rel)
    }
}

impl Drop for FreshHost {
    fn drop(&mut self) {
        // The namespace goes with its last process, and with it the bpffs mount made in it:
        // the pins, and the programs their links held.
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
