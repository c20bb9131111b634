"""Create fields berth honours since issue 17, each through the docker CLI and through docker-py,
checked from inside the container, in its cgroups or in inspect: CgroupParent, OomScoreAdj,
MemorySwappiness (cgroup v1, as this machine), Runtime runc, VolumeOptions.Subpath,
TmpfsOptions.Options, log max-file without max-size; and a refused field's 400 through
docker-py. Each runs on the reference dockerd (20.10, API 1.41; every container here is
`--network none`) too where it can answer; where it cannot, the case's
docstring says why."""
import os

import docker

from compat import case, check


def client(b):
    return docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)


def ref():
    """The reference dockerd: (docker CLI function, docker-py client), or (None, None)."""
    import refdockerd
    d = refdockerd.docker()
    if d is None:
        return None, None
    return d, docker.DockerClient(base_url=refdockerd.env()["DOCKER_HOST"], version="auto", timeout=60)


def both_cli(b):
    """(name, docker CLI function) of berth and, where there is one, the reference dockerd."""
    d, _ = ref()
    return [("berth", b.docker)] + ([("dockerd", d)] if d is not None else [])


def both_py(b):
    _, rc = ref()
    return [("berth", client(b))] + ([("dockerd", rc)] if rc is not None else [])


def out(p, what):
    check(p.returncode == 0, f"{what}: exit {p.returncode}: {p.stderr!r}")
    return p.stdout.decode().strip()


def v1_cgroup(pid, controller):
    """The v1 `controller` cgroup of process `pid`, as the host sees it."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctls, path = line.rstrip("\n").split(":", 2)
            if controller in ctls.split(","):
                return path
    raise AssertionError(f"no {controller} cgroup for {pid}")


def remove_cgroup_parent(parent):
    """The parent cgroup an engine made and left behind (dockerd leaves it too), in every
    hierarchy."""
    for h in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", h, parent)
        if os.path.isdir(d):
            os.rmdir(d)


def cgroup_parent_check(what, pid, cid, parent):
    path = v1_cgroup(pid, "memory")
    check(path == f"/{parent}/{cid}", f"{what}: memory cgroup {path}, wanted /{parent}/{cid}")


@case
def createfields_cli_cgroup_parent(b):
    """`--cgroup-parent`: the container's cgroups are under it, the same on berth and dockerd
    (cgroupfs driver: `/<parent>/<id>`)."""
    parent = f"berth-compat-cgp-{os.getpid()}"
    for what, run in both_cli(b):
        cid = out(run("run", "-d", "--network", "none", "--cgroup-parent", "/" + parent,
                      "busybox", "sleep", "30"), f"{what}: run")
        try:
            pid = int(out(run("inspect", "-f", "{{.State.Pid}}", cid), what))
            cgroup_parent_check(what, pid, cid, parent)
        finally:
            run("rm", "-f", cid)
    remove_cgroup_parent(parent)


@case
def createfields_py_cgroup_parent(b):
    """docker-py `cgroup_parent=`: as the CLI case, on berth and dockerd."""
    parent = f"berth-compat-cgpy-{os.getpid()}"
    for what, c in both_py(b):
        ctr = c.containers.run("busybox", ["sleep", "30"], network_mode="none",
                               cgroup_parent="/" + parent, detach=True)
        try:
            ctr.reload()
            cgroup_parent_check(what, ctr.attrs["State"]["Pid"], ctr.id, parent)
        finally:
            ctr.remove(force=True)
    remove_cgroup_parent(parent)


@case
def createfields_cli_oom_score_adj(b):
    """`--oom-score-adj 500`: the container's process has it, on berth and dockerd."""
    for what, run in both_cli(b):
        got = out(run("run", "--rm", "--network", "none", "--oom-score-adj", "500", "busybox",
                      "cat", "/proc/self/oom_score_adj"), what)
        check(got == "500", f"{what}: oom_score_adj {got!r}")


@case
def createfields_py_oom_score_adj(b):
    """docker-py `oom_score_adj=`: as the CLI case, on berth and dockerd. A negative value needs
    CAP_SYS_RESOURCE, which this machine's bounding set lacks: berth refuses it at create with a
    400 that says so (dockerd accepts it and fails at every start, in runc, with EACCES; not
    compared)."""
    import docker as dockerpy
    for what, c in both_py(b):
        got = c.containers.run("busybox", ["cat", "/proc/self/oom_score_adj"], network_mode="none",
                               oom_score_adj=300, remove=True).decode().strip()
        check(got == "300", f"{what}: oom_score_adj {got!r}")
    with open("/proc/self/status") as f:
        bnd = next(int(l.split()[1], 16) for l in f if l.startswith("CapBnd:"))
    c = client(b)
    try:
        if bnd & (1 << 24):
            got = c.containers.run("busybox", ["cat", "/proc/self/oom_score_adj"],
                                   network_mode="none", oom_score_adj=-300, remove=True)
            check(got.decode().strip() == "-300", f"berth: oom_score_adj {got!r}")
        else:
            try:
                c.containers.create("busybox", ["true"], oom_score_adj=-300)
                check(False, "berth: a negative oom_score_adj without CAP_SYS_RESOURCE was accepted")
            except dockerpy.errors.APIError as e:
                check(e.status_code == 400 and "needs CAP_SYS_RESOURCE" in str(e.explanation),
                      f"berth: {e.status_code} {e.explanation!r}")
    finally:
        c.close()


def swappiness_of(pid):
    path = v1_cgroup(pid, "memory")
    with open(f"/sys/fs/cgroup/memory{path}/memory.swappiness") as f:
        return f.read().strip()


@case
def createfields_cli_memory_swappiness(b):
    """`--memory-swappiness 13` on this cgroup v1 host: memory.swappiness of the container's
    cgroup, and inspect, on berth and dockerd."""
    for what, run in both_cli(b):
        cid = out(run("run", "-d", "--network", "none", "--memory-swappiness", "13",
                      "busybox", "sleep", "30"), f"{what}: run")
        try:
            pid = int(out(run("inspect", "-f", "{{.State.Pid}}", cid), what))
            check(swappiness_of(pid) == "13", f"{what}: memory.swappiness {swappiness_of(pid)}")
            shown = out(run("inspect", "-f", "{{.HostConfig.MemorySwappiness}}", cid), what)
            check(shown == "13", f"{what}: inspect MemorySwappiness {shown}")
        finally:
            run("rm", "-f", cid)


@case
def createfields_py_memory_swappiness(b):
    """docker-py `mem_swappiness=`: as the CLI case, on berth and dockerd."""
    for what, c in both_py(b):
        ctr = c.containers.run("busybox", ["sleep", "30"], network_mode="none",
                               mem_swappiness=7, detach=True)
        try:
            ctr.reload()
            got = swappiness_of(ctr.attrs["State"]["Pid"])
            check(got == "7", f"{what}: memory.swappiness {got}")
        finally:
            ctr.remove(force=True)


@case
def createfields_cli_runtime(b):
    """`--runtime runc` is shown back, another runtime refused, on berth and dockerd. The words
    differ: berth has today's dockerd's ("unknown or invalid runtime name: kata"), the
    reference 20.10 its own ("Unknown runtime specified kata")."""
    for what, run in both_cli(b):
        cid = out(run("create", "--network", "none", "--runtime", "runc", "busybox", "true"), what)
        try:
            got = out(run("inspect", "-f", "{{.HostConfig.Runtime}}", cid), what)
            check(got == "runc", f"{what}: Runtime {got!r}")
        finally:
            run("rm", "-f", cid)
        p = run("create", "--network", "none", "--runtime", "kata", "busybox", "true")
        words = {"berth": b"unknown or invalid runtime name: kata",
                 "dockerd": b"Unknown runtime specified kata"}[what]
        check(p.returncode != 0 and words in p.stderr, f"{what}: --runtime kata: {p.stderr!r}")


@case
def createfields_py_runtime(b):
    """docker-py `runtime=`: as the CLI case (the same difference of words), on berth and
    dockerd."""
    for what, c in both_py(b):
        ctr = c.containers.create("busybox", ["true"], network_mode="none", runtime="runc")
        try:
            check(ctr.attrs["HostConfig"]["Runtime"] == "runc", f"{what}: {ctr.attrs['HostConfig']}")
        finally:
            ctr.remove(force=True)
        try:
            c.containers.create("busybox", ["true"], network_mode="none", runtime="kata")
            check(False, f"{what}: runtime kata was accepted")
        except docker.errors.APIError as e:
            words = {"berth": "unknown or invalid runtime name: kata",
                     "dockerd": "Unknown runtime specified kata"}[what]
            check(e.status_code == 400 and words in str(e), f"{what}: {e}")


# Fills the volume mounted at /v: `sub/f` ("inside") and `top`.
FILL_VOLUME = ["sh", "-c", "mkdir -p /v/sub && echo inside > /v/sub/f && echo top > /v/top"]


@case
def createfields_cli_volume_subpath(b):
    """`--mount type=volume,...,volume-subpath=sub`: only the subdirectory is mounted. Berth
    only: subpaths came with API 1.45 (dockerd 26); the reference dockerd 20.10 does not know
    the field."""
    b.out("run", "--rm", "-v", "cfsub:/v", "busybox", *FILL_VOLUME)
    try:
        got = b.out("run", "--rm", "--mount", "type=volume,src=cfsub,dst=/m,volume-subpath=sub",
                    "busybox", "sh", "-c", "ls /m; cat /m/f")
        check(got == "f\ninside", f"subpath mount: {got!r}")
    finally:
        b.docker("volume", "rm", "cfsub")


@case
def createfields_py_volume_subpath(b):
    """docker-py: a Mount with VolumeOptions.Subpath (docker-py 7.1 has no parameter for it, so
    the field is set on its Mount dict). Berth only, as the CLI case."""
    c = client(b)
    c.containers.run("busybox", FILL_VOLUME, volumes=["cfsubpy:/v"], remove=True)
    try:
        m = docker.types.Mount("/m", "cfsubpy", type="volume")
        m["VolumeOptions"] = {"Subpath": "sub"}
        got = c.containers.run("busybox", ["sh", "-c", "ls /m; cat /m/f"], mounts=[m],
                               remove=True).decode().strip()
        check(got == "f\ninside", f"subpath mount: {got!r}")
    finally:
        c.volumes.get("cfsubpy").remove()


def tmpfs_opts(text):
    """The mount options of /t in a mountinfo listing."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[4] == "/t":
            return fields[5].split(",")
    raise AssertionError(f"/t is not mounted:\n{text}")


@case
def createfields_cli_tmpfs_options(b):
    """The docker CLI (28) cannot spell TmpfsOptions.Options (`--mount` has no key for it);
    what it can: `--mount type=tmpfs,tmpfs-mode=1770` (TmpfsOptions.Mode) and `--tmpfs /t:exec`
    (HostConfig.Tmpfs), each checked inside, on berth and dockerd."""
    for what, run in both_cli(b):
        got = out(run("run", "--rm", "--network", "none", "--mount",
                      "type=tmpfs,dst=/t,tmpfs-mode=1770", "busybox", "stat", "-c", "%a", "/t"), what)
        check(got == "1770", f"{what}: tmpfs-mode: {got!r}")
        info = out(run("run", "--rm", "--network", "none", "--tmpfs", "/t:exec", "busybox",
                       "cat", "/proc/self/mountinfo"), what)
        check("noexec" not in tmpfs_opts(info), f"{what}: --tmpfs /t:exec: {tmpfs_opts(info)}")


@case
def createfields_py_tmpfs_options(b):
    """docker-py: a tmpfs Mount with TmpfsOptions.Options [["exec"]] (set on the Mount dict)
    is mounted exec; without it, noexec. Berth only: TmpfsOptions.Options came with API 1.46
    (dockerd 27); the reference dockerd 20.10 does not know the field."""
    c = client(b)
    for opts, noexec in ([["exec"]], False), (None, True):
        m = docker.types.Mount("/t", "", type="tmpfs")
        if opts is not None:
            m["TmpfsOptions"] = {"Options": opts}
        info = c.containers.run("busybox", ["cat", "/proc/self/mountinfo"], mounts=[m],
                                network_mode="none", remove=True).decode()
        check(("noexec" in tmpfs_opts(info)) == noexec, f"Options {opts}: {tmpfs_opts(info)}")


@case
def createfields_cli_max_file_alone(b):
    """`--log-opt max-file=3` without max-size is accepted and the logs work, on berth and
    dockerd."""
    for what, run in both_cli(b):
        cid = out(run("run", "-d", "--network", "none", "--log-opt", "max-file=3", "busybox",
                      "echo", "hi"), what)
        try:
            run("wait", cid)
            got = out(run("logs", cid), what)
            check(got == "hi", f"{what}: logs {got!r}")
            cfg = out(run("inspect", "-f", "{{json .HostConfig.LogConfig.Config}}", cid), what)
            check(cfg == '{"max-file":"3"}', f"{what}: LogConfig {cfg}")
        finally:
            run("rm", "-f", cid)


@case
def createfields_py_max_file_alone(b):
    """docker-py `log_config=LogConfig(config={"max-file": "3"})`: as the CLI case, on berth
    and dockerd."""
    for what, c in both_py(b):
        ctr = c.containers.run("busybox", ["echo", "hi"], network_mode="none", detach=True,
                               log_config=docker.types.LogConfig(type="json-file",
                                                                 config={"max-file": "3"}))
        try:
            ctr.wait()
            check(ctr.logs() == b"hi\n", f"{what}: logs {ctr.logs()!r}")
        finally:
            ctr.remove(force=True)


@case
def createfields_py_refused_field(b):
    """A field berth refuses (`cpu_rt_runtime`, which docker-py spells
    HostConfig.CPURealtimeRuntime and dockerd reads as CpuRealtimeRuntime) is a 400 that names
    it with the field's reason. The difference: dockerd accepts it at create (this kernel has
    real-time group scheduling) and its start fails in runc (`cpu.rt_runtime_us: invalid
    argument`: the daemon was given no real-time budget to share out); berth refuses at create."""
    api = client(b).api
    try:
        api.create_container("busybox", ["true"], host_config=api.create_host_config(
            network_mode="none", cpu_rt_runtime=950000))
        check(False, "berth: cpu_rt_runtime was accepted")
    except docker.errors.APIError as e:
        check(e.status_code == 400 and "HostConfig.CPURealtimeRuntime: berth does not support it "
              "(real-time CPU scheduling)" in str(e), f"berth: {e}")
    _, rc = ref()
    if rc is None:
        return
    api = rc.api
    made = api.create_container("busybox", ["true"], host_config=api.create_host_config(
        network_mode="none", cpu_rt_runtime=950000))
    try:
        shown = api.inspect_container(made["Id"])["HostConfig"]["CpuRealtimeRuntime"]
        check(shown == 950000, f"dockerd: CpuRealtimeRuntime {shown}")
        try:
            api.start(made["Id"])
            check(False, "dockerd: the start with cpu_rt_runtime succeeded")
        except docker.errors.APIError as e:
            check(e.status_code == 500 and "cpu.rt_runtime_us" in str(e), f"dockerd: start: {e}")
    finally:
        api.remove_container(made["Id"], force=True)
