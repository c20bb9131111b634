"""The API against its own description (issue 20): schemathesis generates requests from
openapi.yaml for every documented route (queries, paths, bodies) and checks each answer:
- no 5xx, except the ones the document declares for a real fault and listed in SERVER_FAULTS;
- the status is one the document declares for the route, with its content type, headers and
  body schema;
- no dropped connection and no request left unanswered (REQUEST_TIMEOUT);
- the API process is alive and answers /_ping afterwards.
The container routes get, besides generated ids, the id of a running container, so that start,
stop, kill, pause, resize, restart and the rest act on a real one.

Not against the reference dockerd: the document describes berth (its extensions, its refusals);
dockerd answers the same routes from its own description. The 5xx let through are dockerd's
own (swarm's 503, /auth's 500 on a body it cannot decode, a registry out of reach).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from compat import HERE, REPO, case, check

EXAMPLES = 12  # per operation and phase: ~100 operations in about a minute on 2 shared cores
REQUEST_TIMEOUT = 15
# Streams that end only when the client goes, left out: attach (and its websocket), followed
# logs, events, exec start (a hijack), export, stats (streams by default), wait (until exit).
STREAMING = r"(/attach(/ws)?$|/logs$|^/events$|^/exec/\{id\}/start$|/export$|/stats$|/wait$)"
# Operations (path regex) whose documented 5xx is a fault outside the request, as dockerd has it.
SERVER_FAULTS = [
    # No swarm: dockerd's 503 "This node is not a swarm manager"; none made or joined (501).
    (r"^/(swarm|services|nodes|tasks|secrets|configs)(/|$)", ["501", "503"]),
    # ... nor a cluster volume updated: dockerd's 503 outside a swarm.
    (r"^/volumes/\{name\}$", ["503"]),
    # Plugins cannot be installed, nor an index searched (501).
    (r"^/plugins/(pull|create|privileges)$", ["501"]),
    (r"^/images/search$", ["501"]),
    # The registry (out of reach on this machine), or a login body dockerd cannot decode
    # ("EOF", dockerd's 500); an import from a URL is not supported (501).
    (r"^/(auth|distribution/\{name\}/json|images/\{name\}/push)$", ["500"]),
    (r"^/images/create$", ["500", "501"]),
    # dockerd's own 500 for `rm --link` of a container's own name (checked in cases_links).
    (r"^/containers/\{id\}$", ["500"]),
]
# Container routes given, besides generated ids, the id of a running container: one for the
# verbs that end it, another for those that leave it running (remove and rename are left to
# generated ids, so that both stay for the others).
ENDING = r"^/containers/\{id\}/(start|stop|restart|kill)$"
LIVE = r"^/containers/\{id\}/(pause|unpause|resize|json|changes|update|exec|archive|syscalls|seccomp-profile)$"
TOP = r"^/containers/\{id\}/top$"
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])


class Forwarder:
    """127.0.0.1:<port> to the API's unix socket, one unix connection per TCP connection: a
    close on either side is passed on, so that a connection the server drops is seen dropped."""

    def __init__(self, sock_path):
        self.sock_path = sock_path
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(self.sock_path)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    s.shutdown(how)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.listener.close()


def toml_str(s):
    return "'" + s + "'"  # literal strings: the regexes' backslashes stay as they are


def config(ending_id, live_id):
    lines = [f"request-timeout = {REQUEST_TIMEOUT}", ""]
    for regex, statuses in SERVER_FAULTS:
        lines += ["[[operations]]", f"include-path-regex = {toml_str(regex)}",
                  "[operations.checks.not_a_server_error]",
                  "expected-statuses = [" + ", ".join(f'"{s}"' for s in ["2xx", "3xx", "4xx", *statuses]) + "]", ""]
    # top, on the live container; dockerd's 500 "Error running ps: ..." for arguments ps refuses.
    # (One entry per operation: schemathesis takes the first that matches.)
    lines += ["[[operations]]", f"include-path-regex = {toml_str(TOP)}",
              "[operations.checks.not_a_server_error]", 'expected-statuses = ["2xx", "3xx", "4xx", "500"]',
              "[operations.parameters]", f'"path.id" = "{live_id}"', ""]
    for regex, cid in ((ENDING, ending_id), (LIVE, live_id)):
        lines += ["[[operations]]", f"include-path-regex = {toml_str(regex)}",
                  "[operations.parameters]", f'"path.id" = "{cid}"', ""]
    return "\n".join(lines)


def inventory(b):
    """What the run may leave: containers, images, volumes and networks by id or name."""
    def ids(*args):
        return set(b.out(*args).split())
    return {
        "containers": ids("ps", "-aq", "--no-trunc"),
        "images": ids("images", "-aq", "--no-trunc"),
        "volumes": ids("volume", "ls", "-q"),
        "networks": ids("network", "ls", "-q", "--no-trunc"),
    }


def remove_new(b, before):
    """Removes what the run made (generated creates), so that later cases start as before."""
    after = inventory(b)
    for kind, rm in (("containers", ["rm", "-f"]), ("volumes", ["volume", "rm", "-f"]),
                     ("networks", ["network", "rm"]), ("images", ["rmi", "-f"])):
        new = sorted(after[kind] - before[kind])
        if new:
            b.docker(*rm, *new)


def digest(out, width=300):
    """schemathesis's failure report, each failure's heading, check, status and first lines,
    cut to `width` columns (generated bodies run to megabytes), then its summary."""
    keep, body_next = [], False
    for line in out.splitlines():
        t = line.strip()
        if body_next and t:
            keep.append(line[:width])
            body_next = False
        elif t.startswith(("___", "- ST", "Received:", "Documented:", "curl ", "Actual:", "Network Error",
                           "Server error", "Unsupported", "Response timed out", "Read timed out")) \
                or (t.startswith("[") and t.endswith(":")):
            keep.append(line[:width])
            body_next = t.startswith("[")
        if t.startswith("=") and "WARNINGS" in t:
            break
    summary = out[out.rfind("SUMMARY"):] if "SUMMARY" in out else out[-3000:]
    return "\n".join(keep) + "\n" + summary


def schemathesis_missing():
    try:
        import schemathesis  # noqa: F401
        return None
    except ImportError:
        return "schemathesis is not installed: scripts/install-deps.sh installs it (PyPI, pinned)"


@case(timeout=420)
def schemathesis_against_openapi(b):
    missing = schemathesis_missing()
    check(missing is None, missing)  # no silent skip, in CI or out
    before = inventory(b)
    since = b.out("version", "--format", "{{.Server.Version}}") and str(int(time.time()) - 1)
    ending = b.out("run", "-d", "--name", "schema-ending", "busybox", "sleep", "100000")
    live = b.out("run", "-d", "--name", "schema-live", "busybox", "sleep", "100000")
    work = tempfile.mkdtemp(prefix="berth-schema-")
    fwd = Forwarder(b.sock)
    try:
        cfg = os.path.join(work, "schemathesis.toml")
        with open(cfg, "w") as f:
            f.write(config(ending, live))
        env = dict(os.environ, SCHEMATHESIS_HOOKS="schema_hooks",
                   PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", cfg, "run",
               os.path.join(REPO, "openapi.yaml"), "--url", f"http://127.0.0.1:{fwd.port}",
               "--checks", CHECKS, "--phases", "examples,coverage,fuzzing",
               "--max-examples", str(EXAMPLES), "--workers", "2", "--seed", str(os.getpid()),
               "--exclude-path-regex", STREAMING, "--no-color", "--suppress-health-check", "all",
               "--report", "ndjson", "--report-dir", work]
        if os.environ.get("BERTH_SCHEMA_KEEP"):
            cmd += ["--report-ndjson-path", os.environ["BERTH_SCHEMA_KEEP"] + ".ndjson"]
        p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=400)
        out = p.stdout + p.stderr
        summary = out[out.rfind("SUMMARY"):] if "SUMMARY" in out else out[-3000:]
        print("\n".join("     " + line for line in summary.strip().splitlines()), flush=True)
        if os.environ.get("BERTH_SCHEMA_KEEP"):  # a copy of the whole report, for a closer look
            with open(os.environ["BERTH_SCHEMA_KEEP"], "w") as f:
                f.write(out)
        check(b.proc.poll() is None, f"the API process died (exit {b.proc.poll()}) during the run:\n{out[-20000:]}")
        pong = b.docker("version", "--format", "{{.Server.APIVersion}}", timeout=15)
        check(pong.returncode == 0, f"the API answers no more after the run: {pong.stderr.decode()}")
        # The lifecycle verbs reached the running containers, not only generated ids.
        for cid, wanted in ((ending, {"kill", "restart", "stop"}), (live, {"pause", "resize"})):
            acted = set(b.out("events", "--since", since, "--until", str(int(time.time()) + 1),
                              "--filter", f"container={cid}", "--format", "{{.Action}}").split())
            print(f"     on {cid[:12]}: {' '.join(sorted(acted))}", flush=True)
            check(wanted <= acted, f"the generated calls did not reach container {cid[:12]}: "
                  f"its events are {sorted(acted)}, wanted {sorted(wanted)} among them")
        check(p.returncode == 0, f"schemathesis found failures (exit {p.returncode}):\n{digest(out)}")
    finally:
        fwd.close()
        shutil.rmtree(work, ignore_errors=True)
        remove_new(b, before)
