"""The eBPF monitor through the real clients: `docker events` with container= and type= filters
shows a container's process and security events (ls, mount, nc), and docker-py's events() too;
syscall counts asked for by label, and a seccomp profile made from them used by `docker run`; from a fresh host, and a monitor that cannot work named by `docker info` and a 503."""
import json
import shutil
import tempfile
import time

import docker

from compat import case, check

WORKLOAD = ("ls / >/dev/null; mount -t tmpfs berth-src /tmp; "
            "nc 127.0.0.1 9 </dev/null 2>/dev/null; exit 0")


def now():
    return f"{time.time():.9f}"


def cli_events(b, since, until, *filters):
    args = ["events", "--since", since, "--until", until, "--format", "{{json .}}"]
    for f in filters:
        args += ["--filter", f]
    return [json.loads(line) for line in b.out(*args).splitlines() if line.strip()]


@case
def docker_events_show_a_containers_process_and_security_events(b):
    since = now()
    b.out("run", "--name", "monweb", "--cap-add", "SYS_ADMIN", "-l", "berth.monitor=all",
          "busybox", "sh", "-c", WORKLOAD)
    cid = b.out("inspect", "-f", "{{.Id}}", "monweb")
    time.sleep(0.3)
    until = now()
    procs = cli_events(b, since, until, "container=monweb", "type=process")
    check(procs, "no process events")
    check(all(e["Type"] == "process" and e["Actor"]["ID"] == cid for e in procs), f"{procs}")
    execs = [e["Actor"]["Attributes"].get("args") for e in procs if e["Action"] == "exec"]
    check("nc 127.0.0.1 9" in execs, f"exec events: {execs}")
    exits = [e["Actor"]["Attributes"].get("comm") for e in procs if e["Action"] == "exit"]
    check("ls" in exits, f"exit events: {exits}")
    calls = cli_events(b, since, until, "container=monweb", "type=syscall")
    mounts = [e for e in calls if e["Action"] == "mount"]
    check(mounts and mounts[0]["Actor"]["Attributes"]["source"] == "berth-src", f"{calls}")
    check(mounts[0]["Actor"]["Attributes"]["ret"] == "0", f"{mounts}")
    connects = [e for e in calls if e["Action"] == "connect"]
    check(connects and connects[0]["Actor"]["Attributes"]["port"] == "9", f"{calls}")
    check(connects[0]["Actor"]["Attributes"]["comm"] == "nc", f"{connects}")
    # event= selects one action; another container's filter shows none of them.
    only = cli_events(b, since, until, "container=monweb", "event=mount")
    check([e["Action"] for e in only] == ["mount"], f"{only}")
    b.out("run", "--name", "monother", "busybox", "true")
    other = cli_events(b, since, now(), "container=monother", "type=syscall")
    check(other == [], f"another container's events: {other}")
    # The plain `docker events` line names type, action and the container.
    text = b.out("events", "--since", since, "--until", until, "--filter", "container=monweb",
                 "--filter", "event=mount")
    check("syscall mount " + cid in text and "name=monweb" in text, text)
    # docker-py reads the same events.
    client = docker.DockerClient(base_url="unix://" + b.sock, version="1.41")
    try:
        evs = list(client.events(since=float(since), until=float(until), decode=True,
                                 filters={"container": "monweb", "type": "syscall"}))
    finally:
        client.close()
    check(any(e["Action"] == "mount" for e in evs), f"docker-py: {evs}")
    check(all(e["Type"] == "syscall" for e in evs), f"docker-py: {evs}")
    b.out("rm", "-f", "monweb", "monother")


PROFILE_WORK = "ls / >/dev/null; cat /etc/hostname >/dev/null; echo hi > /tmp/x; cat /tmp/x"


@case
def syscall_counts_on_request_make_a_seccomp_profile_for_docker_run(b):
    """Counts only for a container labelled berth.monitor=counts (the default label does not
    tax the machine); the profile made from them, passed as `docker run --security-opt
    seccomp=<file>`, runs the same workload and stops a mkdir."""
    b.out("run", "--name", "counted", "-l", "berth.monitor=counts", "busybox", "sh", "-c", PROFILE_WORK)
    b.out("run", "--name", "uncounted", "busybox", "sh", "-c", PROFILE_WORK)
    api = docker.APIClient(base_url="unix://" + b.sock, version="1.41")
    try:
        def get(path, name):
            return api._get(api._url(path, name))
        counts = get("/containers/{0}/syscalls", "counted").json()
        calls = {r["Name"]: r["Calls"] for r in counts["Syscalls"]}
        check(calls.get("execve", 0) >= 1 and calls.get("write", 0) >= 1, f"counts: {calls}")
        none = get("/containers/{0}/syscalls", "uncounted").json()
        check(none["Syscalls"] == [], f"counted without the label: {none}")
        r = get("/containers/{0}/seccomp-profile", "uncounted")
        check(r.status_code == 409 and "berth.monitor=counts" in r.json()["message"],
              f"{r.status_code} {r.text}")
        r = get("/containers/{0}/seccomp-profile", "counted")
        check(r.status_code == 200, f"{r.status_code} {r.text}")
        profile = r.json()
    finally:
        api.close()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(profile, f)
        f.flush()
        out = b.out("run", "--rm", "--security-opt", f"seccomp={f.name}", "busybox", "sh", "-c",
                    PROFILE_WORK)
        check(out == "hi", f"the workload under its own profile: {out!r}")
        r = b.docker("run", "--rm", "--security-opt", f"seccomp={f.name}", "busybox", "mkdir", "/tmp/d")
        text = (r.stdout + r.stderr).decode()
        check(r.returncode != 0 and "Operation not permitted" in text, f"mkdir: {r.returncode} {text}")
    b.out("rm", "counted", "uncounted")


@case
def docker_info_is_silent_about_a_working_monitor_and_counts_work_from_a_fresh_host(b):
    """The suite runs from a new machine's state (scripts/fresh-host.sh: bpffs never mounted):
    berth mounted it in the host's namespace, so counts of a container whose shim is gone are
    there and `docker info` warns of nothing about the monitor."""
    b.out("run", "--name", "fresh", "-l", "berth.monitor=counts", "busybox", "ls", "/")
    api = docker.APIClient(base_url="unix://" + b.sock, version="1.41")
    try:
        r = api._get(api._url("/containers/{0}/syscalls", "fresh"))
        check(r.status_code == 200, f"{r.status_code} {r.text}")
        calls = {row["Name"]: row["Calls"] for row in r.json()["Syscalls"]}
        check(calls.get("execve", 0) >= 1, f"counts: {calls}")
    finally:
        api.close()
    info = b.out("info")
    check("eBPF monitor" not in info and "bpffs" not in info, f"docker info warns: {info}")
    b.out("rm", "fresh")


@case
def a_monitor_that_cannot_work_is_named_by_docker_info_and_the_counts_endpoint(b):
    """A berth whose pins are asked for off bpffs (as on a host where bpffs cannot be mounted):
    containers still run; `docker info` prints the cause among its warnings, and the counts
    endpoint answers 503 with it instead of empty counts."""
    from compat import Berth, busybox_tar
    other = None
    tmp = tempfile.mkdtemp(prefix="berth-compat-nobpf-")
    try:
        other = Berth(b.binary, extra_env={"BERTH_BPF_DIR": tmp + "/pins"})
        other.docker("import", "-", "busybox:latest", input=busybox_tar(), check_rc=0)
        out = other.out("run", "--name", "unwatched", "-l", "berth.monitor=counts", "busybox", "echo", "ran")
        check(out == "ran", f"the container without a monitor: {out!r}")
        cause = f"{tmp}/pins is not on a bpffs mount"
        r = other.docker("info")
        text = (r.stdout + r.stderr).decode()
        check(f"WARNING: eBPF monitor: {cause}" in text, f"docker info: {text}")
        api = docker.APIClient(base_url="unix://" + other.sock, version="1.41")
        try:
            r = api._get(api._url("/containers/{0}/syscalls", "unwatched"))
            check(r.status_code == 503 and cause in r.json()["message"], f"{r.status_code} {r.text}")
        finally:
            api.close()
    finally:
        if other:
            other.close()
        shutil.rmtree(tmp, ignore_errors=True)
