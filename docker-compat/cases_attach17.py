"""Issue 17: log options (tag, labels, env, compress, max-file alone), detach keys (CLI through a
pty and raw API), exec framing by the start's Tty, exec users by name, and kill waiting for the
exit; through the docker CLI and docker-py, each compared with the suite's reference dockerd.

Differences from dockerd 20.10, on purpose: berth refuses tag templates
beyond {{.Field}} (400 naming them), names an unknown driver as "logger: no log driver named
'x' is registered" (20.10 looks it up as a plugin first), and an exec whose client detaches
goes on (20.10 wraps the escape error and ends the exec with "exec attach failed"; later
dockerd lets it run)."""
import json
import os
import socket
import time

import docker as dockerpy

from compat import case, check
from cases_tty import Terminal


def engines(b):
    """(name, docker CLI runner, DOCKER_HOST socket path) for berth and, where dockerd is
    installed, the reference dockerd."""
    import refdockerd
    out = [("berth", lambda *a, input=None: b.docker(*a, input=input), b.sock)]
    d = refdockerd.docker()
    if d is not None:
        out.append(("dockerd", d, refdockerd.env()["DOCKER_HOST"][len("unix://"):]))
    return out


def ok(name, p, what):
    check(p.returncode == 0, f"{name}: {what}: exit {p.returncode}, {p.stderr!r}")
    return p.stdout.decode()


@case
def attach17_log_tag_labels_env_and_details(b):
    for name, docker, _ in engines(b):
        docker("rm", "-f", "lg17")
        ok(name, docker("run", "--name", "lg17", "-l", "a=1", "-l", "com.b=2", "-e", "FOO=bar baz",
                        "-e", "APP_X=y", "--log-opt", "tag={{.Name}}/{{.ImageName}}",
                        "--log-opt", "labels=a", "--log-opt", "labels-regex=^com",
                        "--log-opt", "env=FOO", "--log-opt", "env-regex=^APP_",
                        "busybox", "echo", "hi"), "run with log opts")
        out = ok(name, docker("logs", "--details", "lg17"), "logs --details")
        want = "APP_X=y,FOO=bar+baz,a=1,com.b=2,tag=lg17%2Fbusybox hi\n"
        check(out == want, f"{name}: logs --details: {out!r}, wanted {want!r}")
        path = ok(name, docker("inspect", "-f", "{{.LogPath}}", "lg17"), "inspect").strip()
        with open(path) as f:
            line = json.loads(f.readline())
        check(line["attrs"] == {"APP_X": "y", "FOO": "bar baz", "a": "1", "com.b": "2",
                                "tag": "lg17/busybox"}, f"{name}: attrs {line}")
        docker("rm", "-f", "lg17")


@case
def attach17_log_compress_and_max_file_alone(b):
    for name, docker, _ in engines(b):
        docker("rm", "-f", "gz17")
        ok(name, docker("run", "--name", "gz17", "--log-opt", "max-size=4k", "--log-opt", "max-file=3",
                        "--log-opt", "compress=true", "busybox", "seq", "1", "2000"), "run compress")
        path = ok(name, docker("inspect", "-f", "{{.LogPath}}", "gz17"), "inspect").strip()
        time.sleep(0.5)  # dockerd gzips in the background
        base = os.path.basename(path)
        names = sorted(n for n in os.listdir(os.path.dirname(path)) if n.startswith(base))
        check(names == [base, base + ".1.gz", base + ".2.gz"], f"{name}: log files {names}")
        nums = [int(x) for x in ok(name, docker("logs", "gz17"), "logs").split()]
        check(nums and nums[-1] == 2000 and nums == list(range(nums[0], 2001)),
              f"{name}: logs through the gzipped files: {nums[:3]}...{nums[-3:]}")
        docker("rm", "-f", "gz17")
        p = docker("create", "--log-opt", "max-file=3", "busybox", "true")
        cid = ok(name, p, "max-file without max-size").strip()
        docker("rm", "-f", cid)


@case
def attach17_log_refusals(b):
    for name, docker, _ in engines(b):
        for args, want in [
            (["--log-opt", "foo=1"], "unknown log opt 'foo' for json-file log driver"),
            (["--log-opt", "max-buffer-size=4m"],
             "logger: max-buffer-size option is only supported with 'mode=non-blocking'"),
            (["--log-opt", "compress=true", "--log-opt", "max-size=1m"],
             "compress cannot be true when max-file is less than 2 or max-size is not set"),
        ]:
            p = docker("run", "--rm", *args, "busybox", "true")
            check(p.returncode != 0 and want in p.stderr.decode(), f"{name}: {args}: {p.stderr!r}")
    p = b.docker("run", "--rm", "--log-driver", "bogus", "busybox", "true")
    check(p.returncode == 125 and "logger: no log driver named 'bogus' is registered" in p.stderr.decode(),
          f"berth: unknown driver: {p.stderr!r}")


@case
def attach17_log_non_blocking_mode(b):
    """mode=non-blocking with max-buffer-size is honoured (a disk that stalls is the Rust suite's
    tests/log_modes.rs): on a quick disk nothing is dropped, and inspect shows the options."""
    for name, docker, _ in engines(b):
        docker("rm", "-f", "nb17")
        ok(name, docker("run", "--name", "nb17", "--log-opt", "mode=non-blocking",
                        "--log-opt", "max-buffer-size=4m", "busybox", "seq", "1", "1000"), "run")
        cfg = json.loads(ok(name, docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", "nb17"), "inspect"))
        check(cfg == {"Type": "json-file", "Config": {"mode": "non-blocking", "max-buffer-size": "4m"}},
              f"{name}: LogConfig {cfg}")
        nums = [int(x) for x in ok(name, docker("logs", "nb17"), "logs").split()]
        check(nums == list(range(1, 1001)), f"{name}: logs {nums[:3]}...{nums[-3:]} ({len(nums)})")
        docker("rm", "-f", "nb17")
        p = docker("run", "--rm", "--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=lots",
                   "busybox", "true")
        check(p.returncode == 125 and "max-buffer-size" in p.stderr.decode() and "lots" in p.stderr.decode(),
              f"{name}: a bad max-buffer-size: {p.stderr!r}")


def attach_raw(sock, path, body=b""):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            break
        head += c
    return s, head.split(b"\r\n")[0].decode()


def ended(s, wait=5.0):
    """True when the server closes the stream within `wait`."""
    s.settimeout(wait)
    deadline = time.time() + wait
    try:
        while time.time() < deadline:
            if not s.recv(4096):
                return True
    except socket.timeout:
        return False
    return False


@case
def attach17_detach_keys_raw_api(b):
    for name, docker, sock in engines(b):
        cid = ok(name, docker("run", "-dit", "busybox", "cat"), "run -dit").strip()
        for query, keys in [("", [b"\x10", b"\x11"]), ("&detachKeys=ctrl-a,x", [b"\x01", b"x"])]:
            s, status = attach_raw(sock, f"/containers/{cid}/attach?stream=1&stdin=1&stdout=1{query}")
            check("101" in status, f"{name}: attach: {status}")
            for k in keys:
                s.sendall(k)
                time.sleep(0.2)
            check(ended(s), f"{name}: keys {keys} did not detach")
            s.close()
        st = json.loads(ok(name, docker("inspect", cid), "inspect"))[0]["State"]
        check(st["Running"], f"{name}: the container stopped on detach: {st}")
        s, status = attach_raw(sock, f"/containers/{cid}/attach?stream=1&stdin=1&detachKeys=ctrl-")
        check("400" in status, f"{name}: invalid detachKeys: {status}")
        s.close()
        # Without a TTY the keys go to the container.
        cid2 = ok(name, docker("run", "-di", "busybox", "cat"), "run -di").strip()
        s, _ = attach_raw(sock, f"/containers/{cid2}/attach?stream=1&stdin=1&stdout=1")
        s.sendall(b"\x10")
        time.sleep(0.2)
        s.sendall(b"\x11\n")
        check(not ended(s, 1.0), f"{name}: a session without a TTY detached")
        s.close()
        # An exec with a TTY and its own keys.
        api = dockerpy.APIClient(base_url="unix://" + sock, version="auto")
        ex = api.exec_create(cid, ["cat"], stdin=True, tty=True, detach_keys="ctrl-a,x")
        check(api.exec_inspect(ex["Id"])["DetachKeys"] == "AXg=", f"{name}: exec DetachKeys")
        s, status = attach_raw(sock, f"/exec/{ex['Id']}/start", b'{"Detach":false,"Tty":true}')
        for k in [b"\x01", b"x"]:
            s.sendall(k)
            time.sleep(0.2)
        check(ended(s), f"{name}: exec keys did not detach")
        s.close()
        if name == "berth":
            time.sleep(0.3)
            check(api.exec_inspect(ex["Id"])["Running"], "berth: the exec goes on after detach")
        docker("rm", "-f", cid, cid2)


@case
def attach17_detach_keys_cli_pty(b):
    """docker run -it / attach with --detach-keys and the config file's detachKeys."""
    cfg = os.path.join(b.tmp, "cfg17")
    os.makedirs(cfg, exist_ok=True)
    with open(os.path.join(cfg, "config.json"), "w") as f:
        json.dump({"detachKeys": "ctrl-e,e"}, f)
    for name, docker, sock in engines(b):
        class E:
            env = dict(os.environ, DOCKER_HOST="unix://" + sock)
        docker("rm", "-f", "dk17")
        t = Terminal(E, ["run", "-it", "--name", "dk17", "--detach-keys", "ctrl-a,x", "busybox", "sh"])
        t.expect(b"# ")
        t.send(b"\x01")
        time.sleep(0.2)
        t.send(b"x")
        code = t.wait()
        check(code == 0, f"{name}: run -it --detach-keys exit {code}: {t.buf[-200:]!r}")
        E.env = dict(E.env, DOCKER_CONFIG=cfg)
        t = Terminal(E, ["attach", "dk17"])
        time.sleep(0.3)
        t.send(b"\x05")
        time.sleep(0.2)
        t.send(b"e")
        code = t.wait()
        check(code == 1 and b"read escape sequence" in t.buf, f"{name}: attach with config keys: {code} {t.buf[-200:]!r}")
        st = json.loads(ok(name, docker("inspect", "dk17"), "inspect"))[0]["State"]
        check(st["Running"], f"{name}: still running after detach: {st}")
        docker("rm", "-f", "dk17")


@case
def attach17_exec_framing_user_and_kill(b):
    for name, docker, sock in engines(b):
        api = dockerpy.APIClient(base_url="unix://" + sock, version="auto")
        c = api.create_container("busybox", "cat", detach=True, stdin_open=True)
        api.start(c["Id"])
        cmd = 'sh -c "echo hello out; sleep 0.3; echo hello err >&2"'
        # docker-py's own exec tests: created with a TTY, started with exec_start's tty=False.
        out = api.exec_start(api.exec_create(c["Id"], cmd, tty=True))
        check(out == b"hello out\r\nhello err\r\n", f"{name}: tty exec, plain start: {out!r}")
        out = api.exec_start(api.exec_create(c["Id"], cmd, tty=True), demux=True)
        check(out == (b"hello out\r\nhello err\r\n", None), f"{name}: tty exec, demux: {out!r}")
        p = docker("exec", "-t", c["Id"], "sh", "-c", "echo hello out")
        check(p.stdout == b"hello out\r\n", f"{name}: docker exec -t: {p.stdout!r}")
        api.exec_start(api.exec_create(c["Id"], ["sh", "-c", "echo app:x:1000:1000::/home/app:/bin/sh >> /etc/passwd;"
                                                 " echo staff:x:50:app >> /etc/group"]))
        for user, want in [("app", "1000 1000"), ("app:staff", "1000 50"), ("1000:50", "1000 50")]:
            out = api.exec_start(api.exec_create(c["Id"], "sh -c 'echo $(id -u) $(id -g)'", user=user))
            check(out == (want + "\n").encode(), f"{name}: exec as {user}: {out!r}")
        # dockerd 20.10 fails the start (exit 126), later dockerd and berth the create (exit 1).
        p = docker("exec", "-u", "bogus", c["Id"], "id")
        check(p.returncode in (1, 126) and b"unable to find user bogus: no matching entries in passwd file"
              in p.stdout + p.stderr, f"{name}: exec -u bogus: {p.returncode} {p.stdout!r} {p.stderr!r}")
        api.kill(c["Id"])
        st = api.inspect_container(c["Id"])["State"]
        check(st["Status"] == "exited" and st["ExitCode"] == 137, f"{name}: inspect right after kill: {st}")
        api.remove_container(c["Id"], force=True)


def http_get(sock, path):
    """GET over a unix socket: (status, body)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@case
def attach17_logs_since_until_bounds(b):
    """A logs bound that cannot be read is refused, never read as "no bound"; the docker CLI's
    durations (--since 10m) and timestamps bound the output on both engines."""
    for name, docker, sock in engines(b):
        docker("rm", "-f", "sb17")
        ok(name, docker("run", "--name", "sb17", "busybox", "echo", "hello"), "run")
        status, body = http_get(sock, "/containers/sb17/logs?stdout=1&since=garbage")
        check(status in (400, 500) and b"garbage" in body,
              f"{name}: since=garbage: {status} {body[:200]!r}")
        print(f"     {name}: since=garbage -> {status} {body[:120]!r}")
        out = ok(name, docker("logs", "--since", "10m", "sb17"), "logs --since 10m")
        check(out.strip() == "hello", f"{name}: --since 10m: {out!r}")
        out = ok(name, docker("logs", "--until", "1h", "sb17"), "logs --until 1h")
        check(out.strip() == "", f"{name}: --until 1h (before it ran): {out!r}")
        docker("rm", "-f", "sb17")
