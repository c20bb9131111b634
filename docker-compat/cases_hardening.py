"""Hardening of the container boundary (issue 16) through the real docker CLI."""
import os
import shutil
import subprocess
import tempfile

from compat import case, check


# --- The device controller (issue 16, item 1) ------------------------------------------------

class LoopDevice:
    """A loop device over a 4 MiB scratch file of the case's own; detached by close()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="berth-compat-loop-")
        self.file = os.path.join(self.dir, "disk")
        with open(self.file, "wb") as f:
            f.truncate(4 << 20)
        p = subprocess.run(["losetup", "-f", "--show", self.file], capture_output=True, text=True)
        check(p.returncode == 0, f"losetup -f --show: {p.stderr}")
        self.dev = p.stdout.strip()
        self.minor = os.minor(os.stat(self.dev).st_rdev)

    def holds(self, mark):
        with open(self.file, "rb") as f:
            return mark.encode() in f.read()

    def write_script(self, mark):
        return f"mknod /tmp/l b 7 {self.minor} && echo {mark} | dd of=/tmp/l conv=notrunc,fsync"

    def close(self):
        p = subprocess.run(["losetup", "-d", self.dev], capture_output=True, text=True)
        if p.returncode != 0:
            print(f"cleanup: losetup -d {self.dev}: {p.stderr}")
        shutil.rmtree(self.dir, ignore_errors=True)


@case
def device_controller_refuses_host_block_devices_as_dockerd(b):
    disk = LoopDevice()
    try:
        # The command: mknod is allowed, the open of the node is not.
        p = b.docker("run", "--rm", "busybox", "sh", "-c", disk.write_script("MARK"))
        check(not disk.holds("MARK"), f"a default container wrote {disk.dev}: {p.stderr!r}")
        check(p.returncode != 0 and b"Operation not permitted" in p.stderr,
              f"expected the write to fail with EPERM: exit {p.returncode}, {p.stderr!r}")
        berth_rc = p.returncode
        # docker exec's helpers are in the same cgroup.
        b.out("run", "-d", "--name", "devx", "busybox", "sleep", "300")
        p = b.docker("exec", "devx", "sh", "-c", disk.write_script("EXECMARK"))
        check(not disk.holds("EXECMARK") and p.returncode != 0 and b"Operation not permitted" in p.stderr,
              f"docker exec wrote {disk.dev} or failed otherwise: exit {p.returncode}, {p.stderr!r}")
        b.out("rm", "-f", "devx")
        # What opens it: --device (default permissions rwm), a rule, --privileged.
        b.out("run", "--rm", "--device", f"{disk.dev}:/dev/xvdc", "busybox", "sh", "-c",
              "echo DEVMARK | dd of=/dev/xvdc conv=notrunc,fsync")
        check(disk.holds("DEVMARK"), "--device did not reach the file")
        p = b.docker("run", "--rm", "--device", f"{disk.dev}:/dev/xvdc:r", "busybox", "sh", "-c",
                     "echo ROMARK | dd of=/dev/xvdc conv=notrunc,fsync")
        check(not disk.holds("ROMARK") and p.returncode != 0, f"--device ...:r was written: {p.stderr!r}")
        b.out("run", "--rm", "--device-cgroup-rule", "b 7:* rwm", "busybox", "sh", "-c",
              disk.write_script("RULEMARK"))
        check(disk.holds("RULEMARK"), "--device-cgroup-rule 'b 7:* rwm' did not open the device")
        b.out("run", "--rm", "--privileged", "busybox", "sh", "-c", disk.write_script("PRIVMARK"))
        check(disk.holds("PRIVMARK"), "--privileged could not write the device")
        # dockerd, given the same command, refuses it the same way.
        if shutil.which("dockerd") is None:
            check(os.environ.get("CI") != "true", "dockerd is not installed (scripts/install-deps.sh installs docker.io)")
            return
        from bench import Dockerd
        import compat
        d = Dockerd()
        try:
            subprocess.run(["docker", "import", "-", "busybox:latest"], env=d.env, input=compat.busybox_tar(),
                           check=True, capture_output=True)
            p = subprocess.run(["docker", "run", "--rm", "--network", "none", "busybox", "sh", "-c",
                                disk.write_script("DMARK")], env=d.env, capture_output=True, timeout=120)
            check(not disk.holds("DMARK"), f"dockerd's container wrote {disk.dev}")
            check(p.returncode == berth_rc and b"Operation not permitted" in p.stderr,
                  f"dockerd: exit {p.returncode}, {p.stderr!r}; berth: exit {berth_rc}")
        finally:
            d.close()
    finally:
        disk.close()
