"""berth beside a running dockerd with its iptables rules on (issue 22): a compose project's
containers reach each other, the outside and are reached through a published port. The host is a
network namespace made here ("host", with `bridge-nf-call-iptables=1`), linked to an "outside"
namespace with a test server; a dockerd with iptables on (its defaults: FORWARD policy DROP,
DOCKER-USER, DOCKER-ISOLATION-STAGE-*) and a berth of their own both run in the host namespace.
The same project runs on that dockerd too, as the reference. The machine's own namespace, rules,
sysctls and bridges are never touched: deleting the namespaces deletes what was made in them."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import compat
from compat import Berth, Failed, case, check

HOST_IP = "192.0.2.1"
OUTSIDE_IP = "192.0.2.2"

COMPOSE = """version: "2.4"
services:
  web:
    image: busybox
    stop_grace_period: 1s
    ports: ["80"]
    command: ["sh", "-c", "mkdir -p /www && echo coexist-web > /www/index.html && exec httpd -f -p 80 -h /www"]
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "for i in $$(seq 1 20); do timeout 2 wget -q -O - http://web/ && break; sleep 0.2; done; timeout 4 wget -q -O - http://%s:8080/; echo"]
""" % OUTSIDE_IP


def sh(*args, **kw):
    p = subprocess.run(list(args), capture_output=True, timeout=60, **kw)
    if p.returncode != 0:
        raise Failed(f"{' '.join(args)}: exit {p.returncode}: {p.stderr.decode(errors='replace')}")
    return p.stdout.decode()


class Namespaces:
    """The host and outside namespaces, the veth between them, the outside's test server."""

    def __init__(self, tmp):
        tag = f"bc{os.getpid() % 100000}"
        self.host, self.outside = tag + "h", tag + "o"
        self.made = []
        self.server = None
        for ns in (self.host, self.outside):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.host, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0",
           "netns", self.outside)
        sh("ip", "-n", self.host, "addr", "add", HOST_IP + "/24", "dev", "uplink")
        sh("ip", "-n", self.host, "link", "set", "uplink", "up")
        sh("ip", "-n", self.outside, "addr", "add", OUTSIDE_IP + "/24", "dev", "eth0")
        sh("ip", "-n", self.outside, "link", "set", "eth0", "up")
        # Per namespace: the machine's own values stay. ip_forward 0 (a new namespace copies the
        # machine's), so that dockerd turns it on and closes FORWARD with policy DROP, as on a
        # fresh host.
        self.run_in(self.host, "sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1")
        self.run_in(self.host, "sysctl", "-w", "net.ipv4.ip_forward=0")
        www = os.path.join(tmp, "outside-www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("hello-from-outside\n")
        self.server = subprocess.Popen(self.enter(self.outside) + [
            compat.BUSYBOX, "httpd", "-f", "-p", OUTSIDE_IP + ":8080", "-h", www])

    def enter(self, ns):
        """A command prefix entering only the network namespace (mounts, cgroups stay)."""
        return ["nsenter", "--net=/run/netns/" + ns]

    def run_in(self, ns, *args):
        return sh(*self.enter(ns), *args)

    def close(self):
        if self.server is not None:
            self.server.kill()
            self.server.wait()
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class DockerdIn:
    """A dockerd with iptables on (its defaults), in namespace `ns`, with busybox imported."""

    def __init__(self, spaces, tmp):
        self.tmp = os.path.join(tmp, "dockerd")
        os.makedirs(self.tmp)
        self.sock = os.path.join(self.tmp, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock)
        self.env.pop("DOCKER_CONTEXT", None)
        self.proc = subprocess.Popen(spaces.enter(spaces.host) + [
            "dockerd", "--data-root", os.path.join(self.tmp, "data"), "--exec-root",
            os.path.join(self.tmp, "exec"), "--pidfile", os.path.join(self.tmp, "d.pid"),
            "-H", "unix://" + self.sock, "--storage-driver=overlay2"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "dockerd.log"), "wb"))
        deadline = time.time() + 60
        while subprocess.run(["docker", "version"], env=self.env, capture_output=True).returncode != 0:
            check(time.time() < deadline and self.proc.poll() is None,
                  "dockerd did not start: " + open(os.path.join(self.tmp, "dockerd.log")).read()[-2000:])
            time.sleep(0.2)
        p = subprocess.run(["docker", "import", "-", "busybox:latest"], env=self.env,
                           input=compat.busybox_tar(), capture_output=True, timeout=120)
        check(p.returncode == 0, f"dockerd: import: {p.stderr!r}")

    def close(self):
        ids = subprocess.run(["docker", "ps", "-aq"], env=self.env, capture_output=True,
                             text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], env=self.env, capture_output=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def berth_in(spaces, tmp, binary):
    """A berth of its own whose every command (serve, and the teardown at close) runs in the host
    namespace, through a wrapper script."""
    wrapper = os.path.join(tmp, "berth-in-host")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec %s %s \"$@\"\n" % (" ".join(spaces.enter(spaces.host)), binary))
    os.chmod(wrapper, 0o755)
    b = Berth(wrapper)
    b.docker("import", "-", "busybox:latest", input=compat.busybox_tar(), check_rc=0)
    return b


def compose_project(name, env, spaces, tmp):
    """Up the project on the engine at `env`: the client's output (its peer's page, then the
    outside's) and what the outside reads from the web service's published port."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    env = dict(env, COMPOSE_PROJECT_NAME=name)

    def compose(*args):
        p = subprocess.run(["docker-compose", *args], cwd=d, env=env, capture_output=True, timeout=120)
        if p.returncode != 0:
            raise Failed(f"docker-compose {' '.join(args)} ({name}): exit {p.returncode}\n"
                         f"stderr: {p.stderr.decode(errors='replace')}")
        return p.stdout.decode()

    def docker(*args):
        return sh("docker", *args, env=env).strip()

    with open(os.path.join(d, "docker-compose.yml"), "w") as f:
        f.write(COMPOSE)
    try:
        compose("up", "-d")
        client = docker("ps", "-aq", "--no-trunc", "--filter", f"name={name}_client_1")
        docker("wait", client)
        logs = docker("logs", client)
        web = docker("ps", "-q", "--no-trunc", "--filter", f"name={name}_web_1")
        port = docker("port", web, "80/tcp").splitlines()[0].rsplit(":", 1)[1]
        p = subprocess.run(spaces.enter(spaces.outside) + [
            "timeout", "5", compat.BUSYBOX, "wget", "-q", "-O", "-", f"http://{HOST_IP}:{port}/"],
            capture_output=True, timeout=30)
        return logs, f"exit {p.returncode} from {HOST_IP}:{port}: {p.stdout.decode()}{p.stderr.decode()}"
    finally:
        subprocess.run(["docker-compose", "down"], cwd=d, env=env, capture_output=True, timeout=120)


def dockerd_rules(spaces):
    """dockerd's own chains and the FORWARD policy, as `iptables -S` lists them in the host."""
    lines = spaces.run_in(spaces.host, "iptables", "-S").splitlines()
    return [x for x in lines if x.startswith(("-A DOCKER", "-N DOCKER", "-P FORWARD"))]


@case(timeout=300)
def coexist_compose_beside_a_dockerd_with_iptables(b):
    for tool in ("dockerd", "docker-compose", "iptables", "nsenter"):
        if shutil.which(tool) is None:
            check(os.environ.get("CI") != "true", f"{tool} is not installed (scripts/install-deps.sh)")
            raise Failed(f"{tool} is not installed")
    tmp = tempfile.mkdtemp(prefix="berth-coexist-")
    os.chmod(tmp, 0o755)
    spaces = dockerd = ours = None
    try:
        spaces = Namespaces(tmp)
        dockerd = DockerdIn(spaces, tmp)
        before = dockerd_rules(spaces)
        check("-P FORWARD DROP" in before and "-N DOCKER-USER" in before,
              f"expected dockerd's FORWARD policy DROP and DOCKER-USER in the host, got {before}")
        ours = berth_in(spaces, tmp, b.binary)
        for engine, env in (("berth", ours.env), ("dockerd", dockerd.env)):
            logs, published = compose_project("co" + engine, env, spaces, tmp)
            check("coexist-web" in logs,
                  f"{engine}: expected the client to reach web by name beside dockerd, got {logs!r}")
            check("hello-from-outside" in logs,
                  f"{engine}: expected the client to reach the outside server, got {logs!r}")
            check("coexist-web" in published,
                  f"{engine}: expected the published port to answer the outside, got {published!r}")
            if engine == "berth":
                after = dockerd_rules(spaces)
                check(after == before, f"expected dockerd's chains unchanged by berth:\n{before}\n{after}")
        ours.close()
        ours = None
        left = [x for x in spaces.run_in(spaces.host, "iptables", "-S").splitlines() if "BERTH-" in x]
        check(left == [], f"expected berth's iptables chain gone with its networks, got {left}")
    finally:
        if ours is not None:
            ours.close()
        if dockerd is not None:
            dockerd.close()
        if spaces is not None:
            spaces.close()
        shutil.rmtree(tmp, ignore_errors=True)
