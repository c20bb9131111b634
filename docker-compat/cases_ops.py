"""Operating running containers: events, stats and top through the docker CLI and docker-py."""
import json
import subprocess
import threading
import time

import docker

from compat import Failed, case, check


def now():
    return f"{time.time():.9f}"


def wait_until(what, fn, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise Failed(f"timed out waiting for {what}")


def events_of(b, since, until, cid):
    out = b.out("events", "--since", since, "--until", until, "--format", "{{json .}}")
    evs = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in evs if e.get("Actor", {}).get("ID") == cid]


@case
def events_since_until_list_a_life_in_order(b):
    since = now()
    cid = b.out("create", "--name", "evlife", "busybox", "sh", "-c", "exit 7")
    b.docker("start", "-a", "evlife")
    b.out("rm", "evlife")
    until = now()
    evs = events_of(b, since, until, cid)
    actions = [e["Action"] for e in evs]
    check(actions == ["create", "attach", "start", "die", "destroy"], f"actions {actions}")
    die = evs[3]
    check(die["Actor"]["Attributes"].get("exitCode") == "7", f"die {die}")
    check(die["Actor"]["Attributes"].get("name") == "evlife", f"die {die}")
    check(die.get("status") == "die" and die.get("from") == "busybox", f"legacy fields {die}")
    # The CLI's own format: time, type, action, id, attributes.
    text = b.out("events", "--since", since, "--until", until, "--filter", "event=die")
    check(f"container die {cid}" in text and "exitCode=7" in text, text)


@case
def events_die_written_with_no_api_alive(b):
    since = now()
    cid = b.out("run", "-d", "busybox", "sleep", "1")
    b.sigkill()
    # The API is dead while the container exits; b.sigkill() started a new one.
    b.proc.kill()
    b.proc.wait()
    time.sleep(2)
    b.start()
    until = now()
    actions = [e["Action"] for e in events_of(b, since, until, cid)]
    check(actions == ["create", "start", "die"], f"actions {actions}")
    b.out("rm", cid)


@case
def events_two_concurrent_readers(b):
    procs = [subprocess.Popen(["docker", "events", "--filter", "event=create", "--format", "{{.Actor.ID}}"],
                              env=b.env, stdout=subprocess.PIPE) for _ in range(2)]
    time.sleep(1)
    cid = b.out("create", "busybox", "true")
    for p in procs:
        line = [None]

        def read(p=p):
            line[0] = p.stdout.readline().decode().strip()
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(15)
        p.kill()
        p.wait()
        check(line[0] == cid, f"a reader got {line[0]!r}, wanted {cid}")
    b.out("rm", cid)


@case
def py_events_decode(b):
    c = docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)
    since = int(time.time()) - 1
    ctr = c.containers.run("busybox", "true", detach=True, name="pyev")
    ctr.wait(timeout=20)
    ctr.remove()
    until = int(time.time()) + 1
    evs = list(c.api.events(since=since, until=until, decode=True, filters={"container": "pyev"}))
    actions = [e["Action"] for e in evs]
    check(actions == ["create", "start", "die", "destroy"], f"actions {actions}")
    check(all(e["id"] == ctr.id for e in evs), str(evs))


@case
def stats_no_stream_moves_under_load(b):
    b.out("run", "-d", "--name", "stbusy", "busybox", "sh", "-c", "while :; do :; done")
    b.out("run", "-d", "--name", "stidle", "--memory", "64m", "busybox", "sleep", "1000")
    out = b.out("stats", "--no-stream", "--format", "{{json .}}", "stbusy", "stidle")
    rows = {r["Name"]: r for r in (json.loads(line) for line in out.splitlines())}
    busy = float(rows["stbusy"]["CPUPerc"].rstrip("%"))
    check(busy > 10, f"busy loop at {busy}% CPU: {rows['stbusy']}")
    idle = float(rows["stidle"]["CPUPerc"].rstrip("%"))
    check(idle < 5, f"sleeping container at {idle}% CPU")
    check(rows["stidle"]["MemUsage"].endswith("/ 64MiB"), f"memory {rows['stidle']['MemUsage']}")
    check(not rows["stbusy"]["MemUsage"].startswith("0B"), f"memory {rows['stbusy']['MemUsage']}")
    check(rows["stbusy"]["PIDs"] == "1", f"pids {rows['stbusy']['PIDs']}")
    b.out("rm", "-f", "stbusy", "stidle")


@case
def top_lists_container_processes(b):
    b.out("run", "-d", "--name", "topc", "busybox", "sh", "-c", "sleep 1000 & sleep 999")
    wait_until("two processes", lambda: len(b.out("top", "topc").splitlines()) == 3)
    out = b.out("top", "topc")
    lines = out.splitlines()
    check(lines[0].split()[:3] == ["UID", "PID", "PPID"], out)
    check(any(line.endswith("sleep 1000") for line in lines) and any(line.endswith("sleep 999") for line in lines), out)
    out = b.out("top", "topc", "-o", "pid,comm")
    check(out.splitlines()[0].split() == ["PID", "COMMAND"], out)
    b.out("rm", "-f", "topc")
    p = b.docker("top", "topc")
    check(p.returncode != 0 and b"No such container" in p.stderr, p.stderr.decode())


@case
def py_stats_and_top(b):
    c = docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)
    ctr = c.containers.run("busybox", ["sh", "-c", "while :; do :; done"], detach=True, name="pystat")
    try:
        s = ctr.stats(stream=False)
        cpu = s["cpu_stats"]["cpu_usage"]["total_usage"] - s["precpu_stats"]["cpu_usage"]["total_usage"]
        system = s["cpu_stats"]["system_cpu_usage"] - s["precpu_stats"]["system_cpu_usage"]
        pct = cpu / system * s["cpu_stats"]["online_cpus"] * 100 if system else 0
        check(pct > 10, f"{pct:.1f}% CPU: {s}")
        check(s["memory_stats"]["usage"] > 0 and s["name"] == "/pystat", str(s))
        t = ctr.top()
        check("PID" in t["Titles"] and len(t["Processes"]) == 1, str(t))
        check(t["Processes"][0][-1] == "sh -c while :; do :; done", str(t))
    finally:
        ctr.remove(force=True)
