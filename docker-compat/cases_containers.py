"""Container life cycle through the real docker CLI."""
import json
import os
import re
import shutil
import subprocess
import time

from compat import Failed, case, check


def wait_until(what, fn, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise Failed(f"timed out waiting for {what}")


@case
def run_rm_output_and_exit_code(b):
    p = b.docker("run", "--rm", "busybox", "sh", "-c", "echo hello; echo oops >&2; exit 3")
    check(p.returncode == 3, f"exit code {p.returncode}, wanted 3; stderr {p.stderr!r}")
    check(p.stdout == b"hello\n", f"stdout {p.stdout!r}")
    check(b"oops\n" in p.stderr, f"stderr {p.stderr!r}")
    check(b.out("ps", "-aq") == "", "--rm left a container")


@case
def run_missing_command_is_127(b):
    p = b.docker("run", "--rm", "busybox", "nosuchcommand")
    check(p.returncode == 127, f"exit {p.returncode}: {p.stderr!r}")
    check(b"executable file not found in $PATH" in p.stderr, p.stderr.decode())


@case
def run_unknown_image_is_an_error(b):
    p = b.docker("run", "--rm", "--pull", "never", "nosuchimage:1")
    check(p.returncode == 125, f"exit {p.returncode}")
    check(b"No such image" in p.stderr, p.stderr.decode())


@case
def run_i_with_stdin(b):
    p = b.docker("run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z; echo done", input=b"hello\nworld\n")
    check(p.returncode == 0, p.stderr.decode())
    check(p.stdout == b"HELLO\nWORLD\ndone\n", f"stdout {p.stdout!r}")


@case
def run_detached_then_logs_stop_start_restart(b):
    cid = b.out("run", "-d", "--name", "lc1", "busybox", "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done")
    check(len(cid) == 64, f"id {cid!r}")
    wait_until("the log line", lambda: "started" in b.out("logs", "lc1"))
    state = json.loads(b.out("inspect", "lc1"))[0]["State"]
    check(state["Running"] and state["Status"] == "running" and state["Pid"] > 0, str(state))
    b.out("stop", "-t", "5", "lc1")
    st = json.loads(b.out("inspect", "lc1"))[0]["State"]
    check(st["Status"] == "exited" and st["ExitCode"] == 0, str(st))
    check("bye" in b.out("logs", "lc1"), "the TERM trap ran")
    # stop of a stopped container succeeds (304)
    b.out("stop", "lc1")
    b.out("start", "lc1")
    check(json.loads(b.out("inspect", "lc1"))[0]["State"]["Running"], "running after start")
    # start of a running container succeeds too (304)
    b.out("start", "lc1")
    b.out("restart", "-t", "5", "lc1")
    check(json.loads(b.out("inspect", "lc1"))[0]["State"]["Running"], "running after restart")
    check(b.out("logs", "lc1").count("started") == 3, "three runs logged")
    b.out("rm", "-f", "lc1")


@case
def kill_and_wait(b):
    b.out("run", "-d", "--name", "k1", "busybox", "sleep", "1000")
    p = subprocess.Popen(["docker", "wait", "k1"], env=b.env, stdout=subprocess.PIPE)
    time.sleep(0.3)
    b.out("kill", "k1")
    out, _ = p.communicate(timeout=20)
    check(out.strip() == b"137", f"wait printed {out!r}")
    p = b.docker("kill", "k1")
    check(p.returncode != 0 and b"is not running" in p.stderr, p.stderr.decode())
    b.out("rm", "k1")


@case
def ps_filters(b):
    b.out("run", "-d", "--name", "pf_run", "--label", "tier=web", "busybox", "sleep", "1000")
    b.docker("run", "--name", "pf_exit", "--label", "tier=db", "busybox", "sh", "-c", "exit 4", check_rc=4)
    names = lambda *a: set(b.out("ps", *a, "--format", "{{.Names}}").split())
    check(names() >= {"pf_run"} and "pf_exit" not in names(), "running only by default")
    check({"pf_run", "pf_exit"} <= names("-a"), "ps -a")
    check(names("-a", "--filter", "label=tier=db") == {"pf_exit"}, "label filter")
    check(names("-a", "--filter", "status=exited", "--filter", "name=pf_") == {"pf_exit"}, "status filter")
    check(names("-a", "--filter", "exited=4") == {"pf_exit"}, "exited filter")
    check({"pf_run", "pf_exit"} <= names("-a", "--filter", "ancestor=busybox"), "ancestor filter")
    check(names("-a", "--filter", "name=pf_run") == {"pf_run"}, "name filter")
    status = b.out("ps", "-a", "--filter", "name=pf_exit", "--format", "{{.Status}}")
    check(status.startswith("Exited (4)"), status)
    b.out("rm", "-f", "pf_run", "pf_exit")


@case
def logs_follow_until_exit(b):
    b.out("run", "-d", "--name", "lf", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done")
    p = b.docker("logs", "-f", "lf", timeout=30)
    check(p.stdout == b"line1\nline2\nline3\n", f"logs -f: {p.stdout!r}")
    p = b.docker("logs", "--tail", "1", "lf")
    check(p.stdout == b"line3\n", f"tail: {p.stdout!r}")
    p = b.docker("logs", "-t", "lf")
    first = p.stdout.decode().splitlines()[0]
    check(first.endswith(" line1") and "T" in first.split()[0], first)
    b.out("rm", "lf")


@case
def log_file_is_encoded_as_dockerd_writes_it(b):
    # docker logs gives the bytes back; the json-file holds them escaped as dockerd's writer does
    # (<, >, & and tabs as \u00XX, an invalid byte as \ufffd), with Go's RFC 3339 time.
    p = b.docker("run", "--name", "le", "busybox", "printf", "<a href=\"x\">&\\t\\377</a>\\n", check_rc=0)
    check(p.stdout == b"<a href=\"x\">&\t\xff</a>\n", f"attached output, raw: {p.stdout!r}")
    p = b.docker("logs", "le")
    check(p.stdout == "<a href=\"x\">&\t\ufffd</a>\n".encode(), f"logs: {p.stdout!r}")
    with open(b.out("inspect", "-f", "{{.LogPath}}", "le"), "rb") as f:
        line = f.read().decode().splitlines()[0]
    entry = json.loads(line)
    want = '{"log":"\\u003ca href=\\"x\\"\\u003e\\u0026\\u0009\\ufffd\\u003c/a\\u003e\\n","stream":"stdout","time":'
    check(line.startswith(want), f"stored line: {line}")
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z", entry["time"]) is not None,
          f"time as Go writes it: {entry['time']}")
    # The same container on a real dockerd stores the same line but for its time.
    if shutil.which("dockerd") is None:
        check(os.environ.get("CI") != "true", "dockerd is not installed (scripts/install-deps.sh installs docker.io)")
    else:
        from bench import Dockerd
        import compat
        d = Dockerd()
        try:
            subprocess.run(["docker", "import", "-", "busybox:latest"], env=d.env, input=compat.busybox_tar(),
                           check=True, capture_output=True)
            p = subprocess.run(["docker", "run", "--name", "le", "--network", "none", "busybox", "printf",
                                "<a href=\"x\">&\\t\\377</a>\\n"], env=d.env, capture_output=True, timeout=120)
            check(p.returncode == 0, f"dockerd's run: {p.stderr!r}")
            path = subprocess.run(["docker", "inspect", "-f", "{{.LogPath}}", "le"], env=d.env,
                                  capture_output=True, text=True, check=True).stdout.strip()
            with open(path, "rb") as f:
                theirs = f.read().decode().splitlines()[0]
            check(theirs.split('"time":')[0] == line.split('"time":')[0], f"dockerd stored {theirs}, berth {line}")
        finally:
            d.close()
    stamp = b.out("logs", "-t", "le").split()[0]
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp) is not None,
          f"docker logs -t prints nine digits: {stamp}")
    b.out("rm", "le")


@case
def restart_keeps_an_auto_removed_container(b):
    # dockerd keeps a --rm container across `docker restart`; the next exit removes it.
    b.out("run", "-d", "--rm", "--name", "rr", "busybox", "sleep", "100")
    b.out("restart", "-t", "1", "rr")
    state = json.loads(b.out("inspect", "rr"))[0]["State"]
    check(state["Running"], f"not running after restart: {state}")
    b.out("stop", "-t", "1", "rr")
    deadline = time.time() + 10
    while b.docker("inspect", "rr").returncode == 0 and time.time() < deadline:
        time.sleep(0.05)
    check(b.docker("inspect", "rr").returncode != 0, "a --rm container survived its stop")


@case
def rename_and_name_conflict(b):
    b.out("create", "--name", "rn1", "busybox", "true")
    b.out("create", "--name", "rn2", "busybox", "true")
    p = b.docker("create", "--name", "rn1", "busybox", "true")
    check(p.returncode == 1 and b'The container name "/rn1" is already in use' in p.stderr, p.stderr.decode())
    p = b.docker("rename", "rn1", "rn2")
    check(p.returncode != 0 and b"already in use" in p.stderr, p.stderr.decode())
    b.out("rename", "rn1", "rn3")
    check(json.loads(b.out("inspect", "rn3"))[0]["Name"] == "/rn3", "renamed")
    check(b.docker("inspect", "rn1").returncode != 0, "old name gone")
    b.out("create", "--name", "rn1", "busybox", "true")
    b.out("rm", "rn1", "rn2", "rn3")


@case
def rm_running_needs_force(b):
    b.out("run", "-d", "--name", "rmf", "busybox", "sleep", "1000")
    p = b.docker("rm", "rmf")
    check(p.returncode != 0 and b"stop the container before removing or force remove" in p.stderr, p.stderr.decode())
    b.out("rm", "-f", "rmf")
    check(b.docker("inspect", "rmf").returncode != 0, "removed")
    p = b.docker("rm", "-f", "nosuchcontainer")
    check(p.returncode == 0, "rm -f of a missing container succeeds")


@case
def inspect_shape(b):
    b.out("create", "--name", "ins", "-e", "A=1", "--label", "x=y", "--memory", "64m", "busybox", "echo", "hi")
    c = json.loads(b.out("inspect", "ins"))[0]
    check(c["Name"] == "/ins" and c["Path"] == "echo" and c["Args"] == ["hi"], str(c)[:300])
    check(c["State"]["Status"] == "created", str(c["State"]))
    check(c["HostConfig"]["LogConfig"]["Type"] == "json-file", "LogConfig")
    check(c["HostConfig"]["Memory"] == 64 * 1024 * 1024, "Memory")
    check("A=1" in c["Config"]["Env"] and c["Config"]["Labels"]["x"] == "y", "Env/Labels")
    check(c["Image"].startswith("sha256:") and c["Config"]["Image"] == "busybox", "Image")
    b.out("rm", "ins")


@case
def container_prune(b):
    b.out("run", "--name", "pr1", "busybox", "true")
    b.out("run", "-d", "--name", "pr2", "busybox", "sleep", "1000")
    out = b.out("container", "prune", "-f")
    check("Deleted Containers" in out, out)
    names = set(b.out("ps", "-a", "--format", "{{.Names}}").split())
    check("pr1" not in names and "pr2" in names, str(names))
    b.out("rm", "-f", "pr2")


@case
def invalid_input_is_refused_cleanly(b):
    p = b.docker("run", "--rm", "--memory", "1k", "busybox", "true")
    check(p.returncode == 125 and b"Minimum memory limit allowed is 6MB" in p.stderr, p.stderr.decode())
    p = b.docker("run", "--rm", "--cap-add", "NOPE", "busybox", "true")
    check(p.returncode == 125 and b"unknown capability" in p.stderr, p.stderr.decode())
    p = b.docker("create", "--name", "bad name", "busybox", "true")
    check(p.returncode == 1 and b"Invalid container name" in p.stderr, p.stderr.decode())
    check(b.out("ps", "-aq") == "", "nothing left behind")


@case
def api_sigkill_between_steps(b):
    """Kill the API process with SIGKILL between every step: nothing is lost."""
    b.out("run", "-d", "--name", "sk", "busybox", "sh", "-c", "echo up; sleep 1000")
    b.sigkill()
    check(json.loads(b.out("inspect", "sk"))[0]["State"]["Running"], "still running after the API died")
    wait_until("the log", lambda: "up" in b.out("logs", "sk"))
    b.sigkill()
    b.out("stop", "-t", "1", "sk")
    b.sigkill()
    st = json.loads(b.out("inspect", "sk"))[0]["State"]
    check(st["Status"] == "exited", str(st))
    b.out("start", "sk")
    b.sigkill()
    check(json.loads(b.out("inspect", "sk"))[0]["State"]["Running"], "running after start")
    b.out("rm", "-f", "sk")
    b.sigkill()
    check(b.docker("inspect", "sk").returncode != 0, "removed")


@case
def sixteen_concurrent_runs(b):
    procs = [subprocess.Popen(["docker", "run", "-d", "busybox", "sleep", "1000"], env=b.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(16)]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        check(p.returncode == 0, err.decode())
        ids.append(out.decode().strip())
    check(len(set(ids)) == 16, "16 distinct ids")
    rows = b.out("ps", "--format", "{{.ID}} {{.Names}}").splitlines()
    names = [r.split()[1] for r in rows]
    check(len(rows) >= 16 and len(set(names)) == len(names), f"names: {names}")
    b.out("rm", "-f", *ids)


def cgroup_file(cid, controller, name):
    with open(f"/sys/fs/cgroup/{controller}/berth/{cid}/{name}") as f:
        return f.read().strip()


@case
def update_resources_and_restart_policy(b):
    cid = b.out("run", "-d", "--name", "up", "--memory", "64m", "busybox", "sleep", "1000")
    check(cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(64 << 20), "initial limit")
    b.out("update", "--memory", "96m", "--memory-swap", "192m", "--cpus", "0.5", "--restart", "on-failure:2", "up")
    check(cgroup_file(cid, "memory", "memory.limit_in_bytes") == str(96 << 20), "new limit in the cgroup")
    check(cgroup_file(cid, "cpu", "cpu.cfs_quota_us") == "50000", "cpu quota")
    hc = json.loads(b.out("inspect", "up"))[0]["HostConfig"]
    check(hc["Memory"] == 96 << 20 and hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}, str(hc)[:300])
    b.out("update", "--memory", "128m", "up")
    hc = json.loads(b.out("inspect", "up"))[0]["HostConfig"]
    check(hc["RestartPolicy"]["Name"] == "on-failure", f"an update without --restart keeps the policy: {hc['RestartPolicy']}")
    p = b.docker("update", "--memory", "1k", "up")
    check(p.returncode != 0 and b"Minimum memory limit" in p.stderr, p.stderr.decode())
    b.out("rm", "-f", "up")


@case
def start_attached_and_attach(b):
    b.out("create", "--name", "sa", "busybox", "sh", "-c", "echo one; sleep 0.5; echo two")
    p = b.docker("start", "-a", "sa", timeout=30)
    check(p.returncode == 0 and p.stdout == b"one\ntwo\n", f"start -a: {p.returncode} {p.stdout!r}")
    b.out("run", "-d", "--name", "at", "busybox", "sh", "-c", "sleep 1; echo late; exit 6")
    p = b.docker("attach", "at", timeout=30)
    check(p.returncode == 6 and b"late\n" in p.stdout, f"attach: {p.returncode} {p.stdout!r}")
    b.out("rm", "sa", "at")


@case
def dropped_clients_do_not_disturb_the_container(b):
    b.out("run", "-d", "--name", "drop", "busybox", "sh", "-c", "while :; do echo tick; sleep 0.1; done")
    for args in (["logs", "-f", "drop"], ["attach", "drop"], ["wait", "drop"]):
        p = subprocess.Popen(["docker", *args], env=b.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        p.kill()
        p.wait()
    time.sleep(0.3)
    st = json.loads(b.out("inspect", "drop"))[0]["State"]
    check(st["Running"], f"the container stopped when a client went away: {st}")
    before = b.out("logs", "drop").count("tick")
    time.sleep(0.5)
    check(b.out("logs", "drop").count("tick") > before, "output goes on")
    b.out("rm", "-f", "drop")
