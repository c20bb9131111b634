"""docker exec through the real CLI and docker-py."""
import json
import time
import subprocess

from compat import case, check


@case
def exec_output_exit_codes_and_errors(b):
    b.out("run", "-d", "--name", "ex", "busybox", "sleep", "1000")
    check(b.out("exec", "ex", "echo", "hi") == "hi", "exec output")
    p = b.docker("exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 7")
    check(p.returncode == 7 and p.stdout == b"out\n" and p.stderr == b"err\n", f"{p.returncode} {p.stdout!r} {p.stderr!r}")
    p = b.docker("exec", "ex", "nosuchcmd")
    check(p.returncode == 127 and b"executable file not found in $PATH" in p.stderr, f"{p.returncode} {p.stderr!r}")
    p = b.docker("exec", "-i", "ex", "sh", "-c", "tr a-z A-Z", input=b"hello\n")
    check(p.returncode == 0 and p.stdout == b"HELLO\n", f"{p.returncode} {p.stdout!r}")
    out = b.out("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "65534", "ex", "sh", "-c",
                "echo $FOO; pwd; id -u; grep -E '^(CapEff|Seccomp):' /proc/self/status")
    check(out.split("\n")[:3] == ["bar", "/tmp", "65534"], out)
    check("Seccomp:\t2" in out, "the container's seccomp profile applies: " + out)
    out = b.out("exec", "ex", "grep", "CapEff", "/proc/self/status")
    check("00000000a80425fb" in out, "the container's capabilities: " + out)
    # The exec runs in the container's namespaces: it sees the container's processes.
    out = b.out("exec", "ex", "ps", "-o", "pid,comm")
    check("sleep" in out and " 1 " in f" {out} ", out)
    b.out("exec", "-d", "ex", "sh", "-c", "echo detached > /tmp/d")
    check(b.out("exec", "ex", "cat", "/tmp/d") == "detached", "exec -d ran")
    time.sleep(1.1)  # `--until 0s` is whole seconds
    ev = b.out("events", "--since", "0", "--until", "0s", "--filter", "container=ex", "--format", "{{.Action}}")
    check("exec_create: echo hi" in ev and "exec_start: echo hi" in ev and "exec_die" in ev, ev)
    b.out("rm", "-f", "ex")


@case
def exec_tty_and_refusals(b):
    b.out("run", "-d", "--name", "ext", "busybox", "sleep", "1000")
    p = b.docker("exec", "-t", "ext", "tty")
    check(p.returncode == 0 and p.stdout.strip().startswith(b"/dev/pts/"), f"tty: {p.stdout!r}")
    b.out("pause", "ext")
    p = b.docker("exec", "ext", "true")
    check(p.returncode != 0 and b"is paused" in p.stderr, p.stderr.decode())
    b.out("unpause", "ext")
    b.out("stop", "-t", "0", "ext")
    p = b.docker("exec", "ext", "true")
    check(p.returncode != 0 and b"is not running" in p.stderr, p.stderr.decode())
    b.out("rm", "ext")


@case
def py_exec_run(b):
    import docker
    c = docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)
    ctr = c.containers.run("busybox", ["sleep", "1000"], detach=True, name="pyex")
    res = ctr.exec_run(["sh", "-c", "echo py; exit 3"])
    check(res.exit_code == 3 and res.output == b"py\n", str(res))
    res = ctr.exec_run("echo tty", tty=True)
    check(res.exit_code == 0 and res.output == b"tty\r\n", str(res))
    ctr.remove(force=True)


@case
def health_check_goes_healthy_then_unhealthy(b):
    import time
    b.out("run", "-d", "--name", "hc", "--health-cmd", "cat /tmp/ok", "--health-interval", "300ms",
          "--health-retries", "2", "--health-timeout", "2s", "busybox", "sh", "-c",
          "touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 1000")

    def health():
        return json.loads(b.out("inspect", "hc"))[0]["State"].get("Health", {})

    deadline = time.time() + 20
    while time.time() < deadline and health().get("Status") != "healthy":
        time.sleep(0.1)
    check(health().get("Status") == "healthy", f"never healthy: {health()}")
    check("(healthy)" in b.out("ps", "--filter", "name=hc", "--format", "{{.Status}}"), "ps shows health")
    check(b.out("ps", "-q", "--filter", "health=healthy") != "", "health filter")
    deadline = time.time() + 20
    while time.time() < deadline and health().get("Status") != "unhealthy":
        time.sleep(0.1)
    h = health()
    check(h.get("Status") == "unhealthy" and h["FailingStreak"] >= 2, f"never unhealthy: {h}")
    last = h["Log"][-1]
    check(last["ExitCode"] == 1 and "No such file" in last["Output"], str(last))
    check(len(h["Log"]) <= 5, "Docker keeps five results")
    # `--until 0s` reaches the server as whole seconds (as with dockerd): let this second end.
    time.sleep(1.1)
    ev = b.out("events", "--since", "0", "--until", "0s", "--filter", "container=hc", "--format", "{{.Action}}")
    check("health_status: healthy" in ev and "health_status: unhealthy" in ev, "\n".join(l for l in ev.splitlines() if not l.startswith("exec_")) + f" ({len(ev.splitlines())} lines)")
    b.out("rm", "-f", "hc")
