"""Hardening cases (issue 16): what berth refuses or confines, checked through the real docker
CLI and, where dockerd is installed, the same on a dockerd of the suite's own. One block per area,
each under a comment header naming it."""
import contextlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

from compat import case, check


@contextlib.contextmanager
def dockerd_with_busybox():
    """The suite's reference dockerd (refdockerd), as a function that runs the docker CLI
    against it; None where dockerd is not installed (a failure in CI: no silent skips)."""
    import refdockerd
    yield refdockerd.docker()


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
        with dockerd_with_busybox() as docker:
            if docker is None:
                return
            p = docker("run", "--rm", "--network", "none", "busybox", "sh", "-c", disk.write_script("DMARK"))
            check(not disk.holds("DMARK"), f"dockerd's container wrote {disk.dev}")
            check(p.returncode == berth_rc and b"Operation not permitted" in p.stderr,
                  f"dockerd: exit {p.returncode}, {p.stderr!r}; berth: exit {berth_rc}")
    finally:
        disk.close()


# ---- The container boundary at creation (issue 16 items 3 and 5, inheritable capabilities) ----
# An image's symlinks at the mount targets stay inside its root, a /proc that is no directory is
# refused, a working directory through /proc/self/fd is refused, CapInh is empty.

def _crafted_busybox(change):
    """busybox's tar with `change(name)` giving a replacement TarInfo (or None to keep)."""
    import compat
    src = tarfile.open(fileobj=io.BytesIO(compat.busybox_tar()))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        replaced = set()
        for m in src.getmembers():
            new = change(m.name)
            if new is not None:
                replaced.add(m.name)
                t.addfile(new)
            else:
                t.addfile(m, src.extractfile(m) if m.isfile() else None)
        for name in ("etc/hostname",):
            if name not in replaced and (new := change(name)) is not None:
                t.addfile(new)
    return out.getvalue()


def _symlink(name, target):
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.SYMTYPE
    ti.linkname = target
    return ti


def _check_symlinked_hostname(docker, who):
    host_dir = tempfile.mkdtemp(prefix="berth-compat-hostside-")
    try:
        host_file = os.path.join(host_dir, "hostname")
        tar = _crafted_busybox(lambda n: _symlink(n, host_file) if n == "etc/hostname" else None)
        p = docker("import", "-", "hostlink:1", input=tar)
        check(p.returncode == 0, f"{who}: import: {p.stderr!r}")
        p = docker("run", "--rm", "--network", "none", "--hostname", "hh", "hostlink:1", "cat", "/etc/hostname")
        check((p.returncode, p.stdout) == (0, b"hh\n"),
              f"{who}: expected the hostname through the image's symlink, got {p.returncode} {p.stdout!r} {p.stderr!r}")
        check(not os.path.lexists(host_file), f"{who}: the run made {host_file} on the host")
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)


def _check_proc_symlink_refused(docker, who):
    tar = _crafted_busybox(lambda n: _symlink("proc", "/tmp") if n == "proc" else None)
    p = docker("import", "-", "proclink:1", input=tar)
    check(p.returncode == 0, f"{who}: import: {p.stderr!r}")
    p = docker("run", "--rm", "--network", "none", "proclink:1", "true")
    check(p.returncode != 0 and b"must be mounted on ordinary directory" in p.stderr,
          f"{who}: expected a /proc symlink refused, got {p.returncode} {p.stderr!r}")
    return p.returncode


def _check_workdir_through_fd_refused(docker, who):
    p = docker("run", "--rm", "--network", "none", "-w", "/proc/self/fd/9", "busybox", "ls")
    check(p.returncode != 0, f"{who}: expected -w /proc/self/fd/9 refused, it ran: {p.stdout!r}")
    check(b"/proc/self/fd/9" in p.stderr, f"{who}: expected the error to name the directory: {p.stderr!r}")
    return p.returncode


def _check_inheritable_caps_empty(docker, who):
    p = docker("run", "--rm", "--network", "none", "busybox", "grep", "^Cap", "/proc/self/status")
    fields = dict(line.split(":\t") for line in p.stdout.decode().splitlines())
    check(fields.get("CapInh") == "0000000000000000", f"{who}: CapInh {fields}")
    check(fields.get("CapEff") == "00000000a80425fb", f"{who}: CapEff {fields}")


@case
def boundary_symlinked_etc_hostname_stays_in_the_root(b):
    _check_symlinked_hostname(b.docker, "berth")


@case
def boundary_proc_symlink_is_refused(b):
    _check_proc_symlink_refused(b.docker, "berth")


@case
def boundary_workdir_through_proc_self_fd_is_refused(b):
    _check_workdir_through_fd_refused(b.docker, "berth")


@case
def boundary_inheritable_capabilities_are_empty(b):
    _check_inheritable_caps_empty(b.docker, "berth")


@case
def boundary_dockerd_does_the_same(b):
    with dockerd_with_busybox() as docker:
        if docker is None:
            return
        _check_symlinked_hostname(docker, "dockerd")
        _check_inheritable_caps_empty(docker, "dockerd")
        # dockerd (runc) replaces an image's /proc symlink with a directory and mounts proc
        # there; berth refuses the image (the brief's choice, in runc's words for a /proc that is
        # a file). Neither mounts proc where the link leads.
        docker("import", "-", "proclink:1", input=_crafted_busybox(
            lambda n: _symlink("proc", "/tmp") if n == "proc" else None))
        p = docker("run", "--rm", "--network", "none", "proclink:1", "sh", "-c",
                   "test -d /proc && ! test -L /proc && ls /tmp | grep -c '^self$'")
        check((p.returncode, p.stdout) == (1, b"0\n"), f"dockerd: proc on a real /proc only, got {p!r}")
        # Both refuse -w /proc/self/fd/9 and name it; dockerd's run exits 125 ("mkdir
        # /proc/self/fd/9: not a directory"), berth's 127 ("... no such file or directory").
        _check_workdir_through_fd_refused(docker, "dockerd")
# ---- end of the container boundary ----


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
                     ({"UsernsMode": "remap"}, 'invalid USER mode: remap: berth\'s modes are "host" and "private"')):
        status, body = api(b, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": hc})
        check(status == 400 and json.loads(body)["message"] == text, f"create with {hc}: {status} {body!r}")
    out = b.out("run", "--rm", "--sysctl", "kernel.shmmax=1048576", "--sysctl", "net.ipv4.ip_unprivileged_port_start=80",
                "--security-opt", "apparmor=unconfined", "busybox",
                "cat", "/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_unprivileged_port_start")
    check(out.split() == ["1048576", "80"], f"sysctls read back in the container: {out!r}")


# ---- Mounts: read-only binds over their submounts, a source's flags kept (issue 16) ----
# `-v tree:/host:ro` is read-only down through every mount under `tree` (dockerd 25's default);
# `bind-recursive=writable` (ReadOnlyNonRecursive) leaves the submounts as they are,
# `bind-recursive=readonly` (ReadOnlyForceRecursive) makes them read-only or fails; and a bind of
# a nosuid,nodev,noexec source keeps those flags.

_RO_PROBE = "touch /host/top 2>/dev/null; t=$?; touch /host/sub/x 2>/dev/null; echo top=$t sub=$?"


class _RoTree:
    """A directory with a tmpfs mounted under it (sub), and a nosuid,nodev,noexec tmpfs
    (flagged), all of the case's own; taken down by close()."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="berth-compat-rotree-")
        self.tree = os.path.join(self.dir, "tree")
        self.flagged = os.path.join(self.dir, "flagged")
        self.mounted = []
        for at, opts in ((os.path.join(self.tree, "sub"), "size=1m"),
                         (self.flagged, "size=1m,nosuid,nodev,noexec")):
            os.makedirs(at)
            p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", at], capture_output=True, text=True)
            check(p.returncode == 0, f"mount tmpfs on {at}: {p.stderr}")
            self.mounted.append(at)

    def close(self):
        for at in reversed(self.mounted):
            p = subprocess.run(["umount", "-l", at], capture_output=True, text=True)
            if p.returncode != 0:
                print(f"cleanup: umount {at}: {p.stderr}")
        shutil.rmtree(self.dir, ignore_errors=True)


def _check_ro_binds(docker, who, t, api_1_44=True):
    """`api_1_44`: the daemon has BindOptions' read-only knobs (dockerd 25+); an older one makes
    `ro` read-only on the top mount only, which is berth's `bind-recursive=writable`, and is
    only checked for that."""
    def probe(*mount):
        p = docker("run", "--rm", "--network", "none", *mount, "busybox", "sh", "-c", _RO_PROBE)
        check(p.returncode == 0, f"{who}: run {mount}: exit {p.returncode}, {p.stderr!r}")
        return p.stdout.decode().strip()
    got = probe("-v", f"{t.tree}:/host:ro")
    want = "top=1 sub=1" if api_1_44 else "top=1 sub=0"
    check(got == want, f"{who}: -v tree:/host:ro: expected {want}, got {got}")
    if api_1_44:
        got = probe("--mount", f"type=bind,src={t.tree},dst=/host,readonly,bind-recursive=writable")
        check(got == "top=1 sub=0", f"{who}: bind-recursive=writable: expected the submount writable, got {got}")
        got = probe("--mount", f"type=bind,src={t.tree},dst=/host,readonly,bind-recursive=readonly,"
                    "bind-propagation=rprivate")
        check(got == "top=1 sub=1", f"{who}: bind-recursive=readonly: expected nothing writable, got {got}")
    check(not os.path.exists(os.path.join(t.tree, "top")), f"{who}: a write reached the host")
    if not api_1_44:
        # Debian's dockerd 20.10 with runc 1.1.5 drops the source's nosuid,nodev,noexec on an
        # `ro` bind (mountinfo shows `ro,relatime`): the other half of the hole berth closes.
        return
    p = docker("run", "--rm", "--network", "none", "-v", f"{t.flagged}:/flagged:ro", "busybox",
               "grep", " /flagged ", "/proc/self/mountinfo")
    fields = p.stdout.decode().split()
    flags = fields[5].split(",") if len(fields) > 5 else []
    check(all(f in flags for f in ("ro", "nosuid", "nodev", "noexec")),
          f"{who}: -v <nosuid,nodev,noexec tmpfs>:/flagged:ro: mount flags {flags}, {p.stderr!r}")


@case
def mounts_ro_bind_covers_its_submounts_and_keeps_source_flags(b):
    t = _RoTree()
    try:
        _check_ro_binds(b.docker, "berth", t)
    finally:
        t.close()


@case
def mounts_ro_bind_dockerd_does_the_same(b):
    t = _RoTree()
    try:
        with dockerd_with_busybox() as docker:
            if docker is None:
                return
            p = docker("version", "--format", "{{.Server.APIVersion}}")
            api = tuple(int(x) for x in p.stdout.decode().strip().split("."))
            # Debian's dockerd 20.10 speaks API 1.41: plain `ro` is its top mount only there.
            _check_ro_binds(docker, f"dockerd (API {api})", t, api_1_44=api >= (1, 44))
    finally:
        t.close()
# ---- end of mounts ----


# --- Deny policies and the 32-bit entry (issue 16, compat syscalls) ------------------------------

MKDIR32_ASM = """    .section .rodata
path: .asciz "/tmp/x32"
    .text
    .globl _start
_start:
    movl $39, %eax
    movl $path, %ebx
    movl $0755, %ecx
    int $0x80
    movl $1, %eax
    xorl %ebx, %ebx
    int $0x80
"""


@case
def a_deny_policy_kills_32_bit_system_calls(b):
    tmp = tempfile.mkdtemp(prefix="berth-compat-x32-")
    try:
        src, obj, prog = (os.path.join(tmp, n) for n in ("m.s", "m.o", "mkdir32"))
        with open(src, "w") as f:
            f.write(MKDIR32_ASM)
        subprocess.run(["as", "--32", "-o", obj, src], check=True)
        subprocess.run(["ld", "-m", "elf_i386", "-static", "-o", prog, obj], check=True)
        script = "/mkdir32; echo rc=$?; test -d /tmp/x32 && echo made; true"
        run = ["run", "--rm", "--network", "none", "-v", f"{prog}:/mkdir32:ro"]
        out = b.out(*run, "-l", "berth.policy.deny-syscalls=mkdir", "busybox", "sh", "-c", script)
        check(out == "rc=159", f"expected the 32-bit mkdir killed by seccomp (rc=159, no dir), got {out!r}")
        out = b.out(*run, "busybox", "sh", "-c", script)
        check(out == "rc=0\nmade", f"expected the 32-bit mkdir to work without a policy, got {out!r}")
        b.out("run", "-d", "--name", "x32sleeper", "--network", "none", "busybox", "sleep", "300")
        status, body = api(b, "POST", "/containers/x32sleeper/policy", {"DenySyscalls": ["mkdir"]})
        check(status == 409 and b"32-bit system calls" in body,
              f"expected a 409 for rules on a running container without a policy: {status} {body!r}")
    finally:
        b.docker("rm", "-f", "x32sleeper")
        shutil.rmtree(tmp, ignore_errors=True)
# ---- end of deny policies and the 32-bit entry ----


# --- Deny-connect and raw sockets (issue 16, raw sockets) ----------------------------------------

@case
def deny_connect_refuses_raw_sockets(b):
    tmp = tempfile.mkdtemp(prefix="berth-compat-raw-")
    try:
        prog = os.path.join(tmp, "rawsock")
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "rawsock.c")
        subprocess.run(["gcc", "-static", "-O2", "-Wall", "-o", prog, src], check=True)
        run = ["run", "--rm", "-v", f"{prog}:/rawsock:ro"]
        script = "/rawsock; echo rc=$?; ping -c1 -W2 127.0.0.1 >/dev/null 2>&1; echo ping=$?"
        out = b.out(*run, "-l", "berth.policy.deny-connect=127.0.0.1/32", "busybox", "sh", "-c", script)
        check("raw4: Operation not permitted" in out and "raw6: Operation not permitted" in out
              and "packet: Operation not permitted" in out and "rc=1" in out and "ping=1" in out,
              f"expected raw sockets (and so busybox ping) refused under deny-connect 127.0.0.1/32, got {out!r}")
        out = b.out(*run, "busybox", "sh", "-c", script)
        check("raw4 sent" in out and "packet open" in out and "rc=0" in out and "ping=0" in out,
              f"expected raw sockets and ping to work without a deny-connect rule, got {out!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
# ---- end of deny-connect and raw sockets ----
