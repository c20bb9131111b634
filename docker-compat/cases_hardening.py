"""Hardening of the container boundary (issue 16) through the real docker CLI."""
import json
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


# --- Identifiers, /etc/hosts inputs, update's keys, security options (issue 16, API side) ------

def api(b, method, path, body=None):
    """One raw API request to berth's socket (what the docker CLI cannot send): status, body."""
    import http.client
    import socket as socket_mod

    class Unix(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket_mod.socket(socket_mod.AF_UNIX)
            self.sock.connect(b.sock)

    c = Unix("docker")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    r = c.getresponse()
    return r.status, r.read()


@case
def a_reference_walking_out_of_the_root_is_no_container(b):
    import urllib.parse
    # <root>/containers/../../victim is <tmp>/victim: the berth's own temporary directory.
    victim = os.path.join(b.tmp, "victim")
    os.makedirs(os.path.join(victim, "upper"), exist_ok=True)
    with open(os.path.join(victim, "keep"), "w") as f:
        f.write("mine")
    os.makedirs(os.path.join(b.root, "containers"), exist_ok=True)
    ref = "../../" + "/" * 52 + "victim"
    check(len(ref) == 64, f"the reference must look like an id: {ref!r}")
    before = sorted(os.listdir(victim))
    # The docker CLI sends the slashes as they are (no route matches); a raw client encodes them.
    for args in (["rm", ref], ["rm", "-f", ref], ["inspect", ref], ["start", ref]):
        b.docker(*args)
        check(sorted(os.listdir(victim)) == before,
              f"docker {' '.join(args)} changed {victim}: {sorted(os.listdir(victim))}")
    enc = urllib.parse.quote(ref, safe="")
    for method, path in (("DELETE", f"/containers/{enc}"), ("DELETE", f"/containers/{enc}?force=1"),
                         ("GET", f"/containers/{enc}/json")):
        status, body = api(b, method, path)
        check(status == 404 and json.loads(body)["message"] == f"No such container: {ref}",
              f"{method} {path}: {status} {body!r}")
        check(sorted(os.listdir(victim)) == before, f"{method} {path} changed {victim}")


@case
def names_with_slashes_are_refused_as_dockerd_refuses_them(b):
    p = b.docker("create", "--name", "../x", "busybox", "true")
    check(p.returncode == 1 and b"Invalid container name (../x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in p.stderr,
          f"create --name ../x: exit {p.returncode}, {p.stderr!r}")
    p = b.docker("volume", "create", "../v")
    check(p.returncode == 1 and b'"../v" includes invalid characters for a local volume name' in p.stderr,
          f"volume create ../v: exit {p.returncode}, {p.stderr!r}")


@case
def update_keeps_the_namespaces_it_may_not_change(b):
    cid = b.out("create", "busybox", "cat", "/proc/1/comm")
    # The docker CLI has no flag for PidMode: the raw API, as a hostile client would send it.
    status, body = api(b, "POST", f"/containers/{cid}/update", {"PidMode": "host", "Memory": 64 << 20})
    check(status == 200, f"update: {status} {body!r}")
    hc = json.loads(b.out("inspect", cid))[0]["HostConfig"]
    check(hc["PidMode"] == "" and hc["Memory"] == 64 << 20, f"HostConfig after update: {hc}")
    b.out("start", cid)
    b.out("wait", cid)
    check(b.out("logs", cid) == "cat", "a start after the update left the container's PID namespace")
    b.out("rm", cid)


@case
def newlines_for_etc_hosts_and_unnamespaced_sysctls_are_refused(b):
    for args, text in (
        (["--hostname", "web\n6.6.6.6 evil"], b"invalid hostname format"),
        (["--add-host", "a\nb:10.0.0.1"], b"bad format for add-host"),
        (["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"], b"not allowed in host network namespace"),
        (["--security-opt", "label=disable"], b"SELinux is not enabled"),
    ):
        p = b.docker("create", *args, "busybox", "true")
        check(p.returncode == 1 and text in p.stderr, f"create {args}: exit {p.returncode}, {p.stderr!r}")
    # The docker CLI refuses these itself: the raw API.
    for hc, text in (({"Sysctls": {"vm.swappiness": "10"}}, 'sysctl "vm.swappiness" is not in a separate kernel namespace'),
                     ({"UsernsMode": "private"}, "invalid USER mode: private: berth does not support user namespaces")):
        status, body = api(b, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": hc})
        check(status == 400 and json.loads(body)["message"] == text, f"create with {hc}: {status} {body!r}")
    out = b.out("run", "--rm", "--sysctl", "kernel.shmmax=1048576", "--sysctl", "net.ipv4.ip_unprivileged_port_start=80",
                "--security-opt", "apparmor=unconfined", "busybox",
                "cat", "/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_unprivileged_port_start")
    check(out.split() == ["1048576", "80"], f"sysctls read back in the container: {out!r}")
