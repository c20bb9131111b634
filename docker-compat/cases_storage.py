"""Storage and sharing through the docker CLI and docker-py: volumes, mounts, docker cp."""
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time

import docker

from compat import REPO, Failed, case, check


def client(b):
    return docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)


@case
def volume_carries_a_file_from_one_container_to_the_next(b):
    b.out("volume", "create", "--label", "k=v", "stvol")
    b.out("run", "--rm", "-v", "stvol:/data", "busybox", "sh", "-c", "echo through > /data/f")
    got = b.out("run", "--rm", "--mount", "type=volume,src=stvol,dst=/d,readonly", "busybox", "cat", "/d/f")
    check(got == "through", f"read back {got!r}")
    ro = b.docker("run", "--rm", "--mount", "type=volume,src=stvol,dst=/d,readonly", "busybox",
                  "touch", "/d/x")
    check(ro.returncode != 0, "a readonly volume mount was writable")
    info = json.loads(b.out("volume", "inspect", "stvol"))[0]
    check(info["Driver"] == "local" and info["Labels"] == {"k": "v"}, f"inspect {info}")
    check(info["Mountpoint"].endswith("/volumes/stvol/_data"), f"mountpoint {info}")
    names = b.out("volume", "ls", "-q", "--filter", "label=k=v").split()
    check(names == ["stvol"], f"ls {names}")
    b.out("volume", "rm", "stvol")
    gone = b.docker("volume", "inspect", "stvol")
    check(gone.returncode != 0 and b"no such volume" in gone.stderr, gone.stderr)


@case
def volume_rm_refuses_a_volume_in_use(b):
    b.out("create", "--name", "stuser", "-v", "stbusy:/x", "busybox", "true")
    p = b.docker("volume", "rm", "stbusy")
    check(p.returncode != 0 and b"volume is in use" in p.stderr, p.stderr)
    b.out("rm", "stuser")
    b.out("volume", "rm", "stbusy")


@case
def image_content_appears_in_a_new_volume(b):
    b.out("run", "--name", "stmk", "busybox", "sh", "-c", "mkdir -p /app && echo seeded > /app/seed")
    b.out("commit", "-c", "VOLUME /app", "stmk", "stseeded")
    b.out("rm", "stmk")
    # An anonymous volume (the image's VOLUME) and a new named one both get the image's content.
    got = b.out("run", "--name", "stanon", "stseeded", "cat", "/app/seed")
    check(got == "seeded", f"anonymous volume: {got!r}")
    mounts = json.loads(b.out("inspect", "--format", "{{json .Mounts}}", "stanon"))
    check(len(mounts) == 1 and mounts[0]["Type"] == "volume" and mounts[0]["Destination"] == "/app",
          f"mounts {mounts}")
    anon = mounts[0]["Name"]
    got = b.out("run", "--rm", "-v", "stnamed:/app", "stseeded", "cat", "/app/seed")
    check(got == "seeded", f"named volume: {got!r}")
    b.out("rm", "-v", "stanon")
    check(b.docker("volume", "inspect", anon).returncode != 0, "rm -v left the anonymous volume")
    b.out("volume", "rm", "stnamed")
    b.out("rmi", "stseeded")


@case
def volumes_from_and_prune(b):
    b.out("create", "--name", "stsrc", "-v", "/shared", "busybox", "true")
    got = b.out("run", "--rm", "--volumes-from", "stsrc", "busybox", "sh", "-c",
                "echo a > /shared/a && cat /shared/a")
    check(got == "a", got)
    b.out("volume", "create", "stkeep")
    out = b.out("volume", "prune", "-f")
    check("stkeep" not in out, f"prune removed a named volume: {out}")
    b.out("rm", "-v", "stsrc")
    out = b.out("volume", "prune", "-af")
    check("stkeep" in out, f"prune -a kept a named volume: {out}")


@case
def docker_py_volumes_create_and_list(b):
    c = client(b)
    v = c.volumes.create(name="stpy", driver="local", labels={"via": "py"})
    check(v.name == "stpy" and v.attrs["Labels"] == {"via": "py"}, v.attrs)
    names = [x.name for x in c.volumes.list(filters={"label": "via=py"})]
    check(names == ["stpy"], names)
    v.remove()
    check([x.name for x in c.volumes.list(filters={"name": "stpy"})] == [], "removed volume listed")


@case
def tmpfs_volume_and_mount_sizes(b):
    b.out("volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs",
          "--opt", "o=size=3m", "sttmp")
    df = b.out("run", "--rm", "-v", "sttmp:/v", "--mount", "type=tmpfs,dst=/t,tmpfs-size=2m",
               "busybox", "df", "-k", "/v", "/t")
    sizes = [line.split()[1] for line in df.splitlines()[1:]]
    check(sizes == ["3072", "2048"], f"df {df}")
    b.out("volume", "rm", "sttmp")


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def wait_for(what, fn, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise Failed(f"timed out waiting for {what}")


@case
def rshared_bind_carries_mounts_both_ways(b):
    base = tempfile.mkdtemp(prefix="berth-prop-")
    src, plain = os.path.join(base, "src"), os.path.join(base, "plain")
    for d in (src + "/fromc", src + "/fromh", plain):
        os.makedirs(d)
    sh("mount", "--bind", src, src)
    sh("mount", "--make-shared", src)
    sh("mount", "--bind", plain, plain)
    sh("mount", "--make-private", plain)
    try:
        p = b.docker("run", "--rm", "-v", f"{plain}:/m:rshared", "busybox", "true")
        want = f"path {plain} is mounted on {plain} but it is not a shared mount"
        check(p.returncode != 0 and want.encode() in p.stderr, p.stderr)
        # A mount made inside a privileged container under the rshared bind appears on the host.
        writer = b.out("run", "-d", "--privileged", "-v", f"{src}:/m:rshared", "busybox", "sh", "-c",
                       "mount -t tmpfs tmpfs /m/fromc && echo c > /m/fromc/f && sleep 1000")
        wait_for("the container's mount on the host", lambda: os.path.exists(src + "/fromc/f"))
        # A second container with the same path rslave sees it; a host mount appears in both.
        reader = b.out("run", "-d", "-v", f"{src}:/m:rslave", "busybox", "sleep", "1000")
        got = b.out("exec", reader, "cat", "/m/fromc/f")
        check(got == "c", f"rslave container read {got!r}")
        sh("mount", "-t", "tmpfs", "tmpfs", src + "/fromh")
        with open(src + "/fromh/g", "w") as f:
            f.write("h")
        for c in (writer, reader):
            got = b.out("exec", c, "cat", "/m/fromh/g")
            check(got == "h", f"host mount in {c[:12]}: {got!r}")
        prop = json.loads(b.out("inspect", "--format", "{{json .Mounts}}", writer))[0]["Propagation"]
        check(prop == "rshared", f"propagation {prop}")
    finally:
        for c in ("writer", "reader"):
            if c in locals():
                b.docker("rm", "-f", locals()[c])
        subprocess.run(["umount", "-R", "-l", src], capture_output=True)
        subprocess.run(["umount", "-l", plain], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def tar_of(files):
    """A tar (bytes) of {name: content}; content None is a directory, ("->", t) a symlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            if content is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif isinstance(content, tuple):
                ti.type, ti.linkname = tarfile.SYMTYPE, content[1]
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(content), 0o644
                t.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


@case
def cp_both_ways_on_stopped_and_running_containers(b):
    base = tempfile.mkdtemp(prefix="berth-cp-")
    try:
        os.makedirs(base + "/d/sub")
        with open(base + "/d/sub/f", "w") as f:
            f.write("deep")
        with open(base + "/file", "w") as f:
            f.write("flat")
        b.out("create", "--name", "stcp", "busybox", "sleep", "1000")
        b.out("cp", base + "/file", "stcp:/file")
        b.out("cp", base + "/d", "stcp:/d")
        b.out("start", "stcp")
        got = b.out("exec", "stcp", "cat", "/file", "/d/sub/f")
        check(got == "flatdeep", f"in the container: {got!r}")
        b.out("exec", "stcp", "sh", "-c", "mkdir -p /made/in && echo c > /made/in/g")
        b.out("cp", "stcp:/made", base + "/made")
        with open(base + "/made/in/g") as f:
            check(f.read() == "c\n", "copied out of a running container")
        b.out("cp", base + "/file", "stcp:/tmp/")
        check(b.out("exec", "stcp", "cat", "/tmp/file") == "flat", "cp into a running container")
        b.out("stop", "-t", "0", "stcp")
        b.out("cp", "stcp:/tmp/file", base + "/again")
        with open(base + "/again") as f:
            check(f.read() == "flat", "copied out of a stopped container")
        p = b.docker("cp", "stcp:/nope", base + "/x")
        check(p.returncode != 0 and b"Could not find the file /nope" in p.stderr, p.stderr)
    finally:
        b.docker("rm", "-f", "stcp")
        shutil.rmtree(base, ignore_errors=True)


@case
def cp_symlink_escape_is_contained(b):
    base = tempfile.mkdtemp(prefix="berth-cpesc-")
    try:
        host_secret = base + "/secret"
        with open(host_secret, "w") as f:
            f.write("host")
        cid = b.out("run", "-d", "--name", "stesc", "busybox", "sh", "-c",
                    f"echo container > /etc/shadow; ln -s /etc/shadow /sl; "
                    f"ln -s ../../../../../../../.. /up; ln -s {base} /hostdir; sleep 1000")
        wait_for("the symlinks", lambda: b.docker("exec", cid, "test", "-L", "/hostdir").returncode == 0)
        # Reads through the symlinks stay in the container.
        got = b.docker("cp", "stesc:/up/etc/shadow", "-", check_rc=0).stdout
        with tarfile.open(fileobj=io.BytesIO(got)) as t:
            data = t.extractfile("shadow").read()
        check(data == b"container\n", f"read {data!r}")
        p = b.docker("cp", f"stesc:/hostdir/secret", "-")
        check(p.returncode != 0, "read the host's file through a symlink")
        # Writes too: the host's file is untouched, the container's path gets the file.
        with open(base + "/payload", "w") as f:
            f.write("pwned")
        b.docker("cp", base + "/payload", "stesc:/hostdir/")
        b.docker("cp", base + "/payload", "stesc:/up" + base + "/")
        check(sorted(os.listdir(base)) == ["payload", "secret"], f"host dir {os.listdir(base)}")
        with open(host_secret) as f:
            check(f.read() == "host", "the host's file changed")
        c = client(b)
        ctr = c.containers.get("stesc")
        try:
            ctr.put_archive("/hostdir", tar_of({"secret": b"pwned"}))
            raise Failed("put_archive into a dangling symlink (a host path) succeeded")
        except docker.errors.NotFound:
            pass
        with open(host_secret) as f:
            check(f.read() == "host", "put_archive through a symlink reached the host")
    finally:
        b.docker("rm", "-f", "stesc")
        shutil.rmtree(base, ignore_errors=True)


@case
def docker_py_put_and_get_archive(b):
    c = client(b)
    ctr = c.containers.run("busybox", "sleep 1000", detach=True, name="starch")
    try:
        ok = ctr.put_archive("/tmp", tar_of({"pydir": None, "pydir/a": b"alpha", "pydir/l": ("->", "a")}))
        check(ok is True, f"put_archive {ok}")
        check(b.out("exec", "starch", "cat", "/tmp/pydir/l") == "alpha", "put_archive content")
        chunks, stat = ctr.get_archive("/tmp/pydir")
        check(stat["name"] == "pydir" and stat["mode"] & (1 << 31), f"stat {stat}")
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
            names = sorted(t.getnames())
            check(names == ["pydir", "pydir/a", "pydir/l"], names)
            check(t.extractfile("pydir/a").read() == b"alpha", "get_archive content")
            check(t.getmember("pydir/l").linkname == "a", "symlink kept")
        r = c.api.head(c.api._url("/containers/starch/archive"), params={"path": "/nope"})
        check(r.status_code == 404 and r.content == b"", f"HEAD 404 {r.status_code} {r.content!r}")
        # noOverwriteDirNonDir: a file may not replace a directory.
        r = c.api._put(c.api._url("/containers/starch/archive"),
                       params={"path": "/tmp", "noOverwriteDirNonDir": "true"},
                       data=tar_of({"pydir": b"file"}))
        check(r.status_code == 400 and "cannot overwrite directory" in r.text,
              f"noOverwriteDirNonDir {r.status_code} {r.text}")
    finally:
        ctr.remove(force=True)


def sysvipc_tool():
    """tests/sysvipc.c built static (busybox has no ipcmk/ipcs): make|look|rm KEY [TEXT]."""
    out = os.path.join(tempfile.mkdtemp(prefix="berth-sysvipc-"), "sysvipc")
    subprocess.run(["gcc", "-static", "-O2", "-o", out, os.path.join(REPO, "tests", "sysvipc.c")],
                   check=True, capture_output=True)
    return out


@case
def ipc_shareable_shares_sysv_objects_dev_shm_and_its_size(b):
    tool = sysvipc_tool()
    bind = f"{tool}:/sysvipc:ro"
    key = str(0x50000000 | (os.getpid() & 0xffff) << 8)
    try:
        b.out("run", "-d", "--name", "stipc", "--ipc", "shareable", "--shm-size", "4m", "-v", bind, "busybox",
              "sh", "-c", f"/sysvipc make {key} from-donor && echo shared > /dev/shm/f; sleep 1000")
        wait_for("the donor's file", lambda: b.docker("exec", "stipc", "test", "-f", "/dev/shm/f").returncode == 0)
        got = b.out("run", "--rm", "--ipc", "container:stipc", "-v", bind, "busybox", "sh", "-c",
                    f"/sysvipc look {key}; cat /dev/shm/f; df -k /dev/shm | tail -1")
        lines = got.splitlines()
        check(lines[0] == "shm=from-donor sem=7", f"the donor's SysV segment and semaphore: {got}")
        check(lines[1] == "shared", f"joined /dev/shm: {got}")
        check(lines[2].split()[1] == "4096", f"shm size {lines[2]}")
        # A private IPC namespace sees none of it.
        p = b.docker("run", "--rm", "-v", bind, "busybox", "sh", "-c",
                     f"/sysvipc look {key} || echo none; test -e /dev/shm/f && echo LEAK; true")
        check(p.stdout.decode().split() == ["none"], f"private IPC: {p.stdout} {p.stderr}")
        size = b.out("run", "--rm", "--shm-size", "8m", "busybox", "df", "-k", "/dev/shm").splitlines()[1].split()[1]
        check(size == "8192", f"--shm-size 8m: {size}")
        b.out("run", "-d", "--name", "stpriv", "busybox", "sleep", "1000")
        p = b.docker("run", "--rm", "--ipc", "container:stpriv", "busybox", "true")
        check(p.returncode != 0, "joined a private IPC namespace")
    finally:
        b.docker("rm", "-f", "stipc", "stpriv")
        shutil.rmtree(os.path.dirname(tool), ignore_errors=True)


@case
def ipc_host_shares_the_hosts_sysv_objects_and_dev_shm(b):
    tool = sysvipc_tool()
    key = str(0x51000000 | (os.getpid() & 0xffff) << 8)
    name = f"berth-compat-{key}"
    try:
        b.out("run", "--rm", "--ipc", "host", "-v", f"{tool}:/sysvipc:ro", "busybox", "sh", "-c",
              f"/sysvipc make {key} from-container && echo host > /dev/shm/{name}")
        got = subprocess.run([tool, "look", key], capture_output=True, text=True).stdout
        check(got == "shm=from-container sem=7\n", f"the host's view: {got!r}")
        with open(f"/dev/shm/{name}") as f:
            check(f.read() == "host\n", "the host's /dev/shm")
    finally:
        subprocess.run([tool, "rm", key], capture_output=True)
        if os.path.exists(f"/dev/shm/{name}"):
            os.remove(f"/dev/shm/{name}")
        shutil.rmtree(os.path.dirname(tool), ignore_errors=True)


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


@case
def nothing_stays_mounted_after_any_removal(b):
    # Attached with --rm: the shim spawned for the attach needs the shareable /dev/shm already.
    got = b.out("run", "--rm", "--ipc", "shareable", "--shm-size", "2m", "-v", "/anon", "--tmpfs", "/t",
                "busybox", "sh", "-c", "echo x > /dev/shm/f && df -k /dev/shm | tail -1")
    check(got.split()[1] == "2048", f"attached run --ipc shareable: {got}")
    check(mounts_under(b.tmp) == [], f"left mounted after run --rm: {mounts_under(b.tmp)}")
    cid = b.out("run", "-d", "--ipc", "shareable", "-v", "stmnt:/named", "busybox", "sleep", "1000")
    check(any(m.endswith("/shm") for m in mounts_under(b.tmp)), "a shareable /dev/shm is not on the host")
    b.out("rm", "-f", "-v", cid)
    check(mounts_under(b.tmp) == [], f"left mounted after rm -f: {mounts_under(b.tmp)}")
    b.out("volume", "rm", "stmnt")


@case
def pid_uts_and_network_sharing(b):
    b.out("run", "-d", "--name", "stpid", "busybox", "sleep", "1001")
    ps = b.out("run", "--rm", "--pid", "container:stpid", "busybox", "ps", "-o", "args")
    check("sleep 1001" in ps, f"--pid container: {ps}")
    host_ps = b.out("run", "--rm", "--pid", "host", "busybox", "ps", "-o", "pid")
    check(len(host_ps.splitlines()) > 5, "--pid host shows few processes")
    check(b.out("run", "--rm", "--uts", "host", "busybox", "hostname") == socket.gethostname(), "--uts host")
    net = b.out("run", "--rm", "--network", "container:stpid", "busybox", "readlink", "/proc/self/ns/net")
    check(net == b.out("exec", "stpid", "readlink", "/proc/self/ns/net"), "--network container:")
    links = b.out("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    check(links.split() == ["lo"], f"--network none: {links}")
    b.out("rm", "-f", "stpid")


@case
def run_rm_removes_its_anonymous_volumes(b):
    before = set(b.out("volume", "ls", "-q").split())
    b.out("volume", "create", "stnamedrm")
    # --since is whole seconds: start on a fresh second so that no earlier case's volume events
    # (one made and removed a moment ago) fall in the window.
    time.sleep(1.01 - time.time() % 1)
    since = str(int(time.time()))
    b.out("run", "--rm", "-v", "/anon", "-v", "stnamedrm:/named", "busybox", "touch", "/anon/x")
    after = set(b.out("volume", "ls", "-q").split())
    check(after - before == {"stnamedrm"}, f"left behind: {after - before}")
    # The shim removed it, and said so on /events as dockerd does.
    evs = b.out("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "type=volume",
                "--filter", "event=destroy", "--format", "{{.Actor.ID}}").split()
    check(len(evs) == 1 and evs[0] not in after and len(evs[0]) == 64, f"volume destroy events: {evs}")
    b.out("volume", "rm", "stnamedrm")


@case
def cp_reaches_a_stopped_containers_volumes_and_binds(b):
    base = tempfile.mkdtemp(prefix="berth-cpvol-")
    try:
        os.makedirs(base + "/bind")
        with open(base + "/bind/b", "w") as f:
            f.write("bound")
        with open(base + "/file", "w") as f:
            f.write("in")
        b.out("run", "--name", "stcpvol", "-v", "stcpdata:/v", "-v", f"{base}/bind:/b", "-v", f"{base}/bind:/ro:ro",
              "busybox", "sh", "-c", "printf vol > /v/f")
        b.out("cp", "stcpvol:/v/f", base + "/got")
        b.out("cp", "stcpvol:/b/b", base + "/gotb")
        with open(base + "/got") as f, open(base + "/gotb") as g:
            check((f.read(), g.read()) == ("vol", "bound"), "copied out of a stopped container's mounts")
        b.out("cp", base + "/file", "stcpvol:/v/new")
        got = b.out("run", "--rm", "-v", "stcpdata:/v", "busybox", "cat", "/v/new")
        check(got == "in", f"copied into the stopped container's volume: {got!r}")
        p = b.docker("cp", base + "/file", "stcpvol:/ro/new")
        check(p.returncode != 0 and b"mounted volume is marked read-only" in p.stderr, p.stderr)
    finally:
        b.docker("rm", "-f", "stcpvol")
        b.docker("volume", "rm", "stcpdata")
        shutil.rmtree(base, ignore_errors=True)


@case
def a_mount_destination_symlink_stays_in_the_container(b):
    base = tempfile.mkdtemp(prefix="berth-mntesc-")
    try:
        b.out("run", "--name", "stlinkmk", "busybox", "sh", "-c",
              f"mkdir -p /inside{base} && ln -s {base} /m && ln -s /inside{base} /ok")
        b.out("commit", "stlinkmk", "stlinked")
        # /m points at a path missing in the container: as runc does, the link is followed
        # inside the container's root and its target made there, never on the host; /ok
        # resolves inside it.
        got = b.out("run", "--rm", "-v", "stmvol:/m", "stlinked", "sh", "-c",
                    f"echo y > /m/g && cat {base}/g")
        check(got == "y", f"through the dangling /m: {got!r}")
        check(os.listdir(base) == [], f"the host dir got {os.listdir(base)} through /m")
        got = b.out("run", "--rm", "-v", "stmvol:/ok", "stlinked", "sh", "-c",
                    f"echo x > /ok/f && cat /inside{base}/f")
        check(got == "x", f"through /ok: {got!r}")
        check(os.listdir(base) == [], f"the host dir got {os.listdir(base)}")
    finally:
        b.docker("rm", "-f", "stlinkmk")
        b.docker("rmi", "stlinked")
        b.docker("volume", "rm", "stmvol")
        shutil.rmtree(base, ignore_errors=True)


@case
def cp_stays_inside_while_the_container_swaps_a_dir_for_a_symlink(b):
    """The CVE-2018-15664 race: the container keeps swapping /data between a directory and a
    symlink to a host path while `docker cp` reads and writes through it."""
    import tempfile
    host_dir = tempfile.mkdtemp(prefix="berth-escape-")
    try:
        with open(os.path.join(host_dir, "secret"), "w") as f:
            f.write("HOST-SECRET\n")
        b.out("run", "-d", "--name", "swap", "busybox", "sh", "-c",
              f"while :; do rm -rf /data; mkdir /data; echo inside > /data/secret; usleep 2000; "
              f"rm -rf /data; ln -s {host_dir} /data; usleep 2000; done")
        payload = os.path.join(host_dir + "-src")
        os.makedirs(payload, exist_ok=True)
        with open(os.path.join(payload, "dropped"), "w") as f:
            f.write("from the host\n")
        leaks = []
        inside = 0
        for _ in range(60):
            p = b.docker("cp", "swap:/data/secret", "-", timeout=30)
            if b"HOST-SECRET" in p.stdout:
                leaks.append("read")
            if b"inside" in p.stdout:
                inside += 1
            b.docker("cp", os.path.join(payload, "dropped"), "swap:/data/", timeout=30)
        written = sorted(os.listdir(host_dir))
        check(not leaks, f"docker cp read the host's file {len(leaks)} times")
        # The race was really run: some copies met the directory, not only the symlink.
        check(inside > 0, "no copy ever met the directory: the race was not exercised")
        check(written == ["secret"], f"docker cp wrote into the host directory: {written}")
        with open(os.path.join(host_dir, "secret")) as f:
            check(f.read() == "HOST-SECRET\n", "the host's file was changed")
        b.out("rm", "-f", "swap")
    finally:
        subprocess.run(["rm", "-rf", host_dir, host_dir + "-src"])
