"""Names through DNS (issue 22): on a user-defined network a container's /etc/resolv.conf names
the embedded server 127.0.0.11, which answers the network's container names, aliases and short
ids, and forwards the rest to the host's resolvers or the `--dns` servers. Through the docker
CLI, docker-py and docker-compose, with busybox's nslookup inside the containers; each case runs
on berth and on the reference dockerd (20.10, `--iptables=false`: its embedded DNS works there,
its resolver's NAT rules live in the container's namespace)."""
import os
import shutil
import socket
import subprocess
import tempfile
import threading

import refdockerd
from compat import Failed, case, check


def nslookup_address(out, name):
    """The address busybox's nslookup printed for `name`, or None."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.split() == ["Name:", name] and i + 1 < len(lines):
            parts = lines[i + 1].split()
            if parts[:1] == ["Address:"]:
                return parts[1]
    return None


def ip_on(run, container, network):
    p = run("inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network, container)
    return p.stdout.decode().strip()


def cli_names(run):
    """Failures of the name/alias/short-id lookups through the docker CLI on one engine."""
    bad = []
    run("network", "create", "dnsn")
    try:
        p = run("run", "-d", "--name", "dnsweb", "--network", "dnsn", "--network-alias", "dnswww",
                "busybox", "sleep", "60")
        cid = p.stdout.decode().strip()
        ip = ip_on(run, "dnsweb", "dnsn")
        p = run("run", "--rm", "--network", "dnsn", "busybox", "sh", "-c",
                f"cat /etc/resolv.conf; nslookup dnsweb; nslookup dnswww; nslookup {cid[:12]}")
        out = p.stdout.decode() + p.stderr.decode()
        if "nameserver 127.0.0.11" not in out.splitlines():
            bad.append(f"resolv.conf does not name 127.0.0.11:\n{out}")
        for name in ["dnsweb", "dnswww", cid[:12]]:
            got = nslookup_address(out, name)
            if got != ip:
                bad.append(f"{name}: expected {ip}, got {got}:\n{out}")
        # The default bridge keeps the host's resolvers and resolves no names.
        p = run("run", "--rm", "busybox", "cat", "/etc/resolv.conf")
        if "127.0.0.11" in p.stdout.decode():
            bad.append(f"the default bridge got the embedded server:\n{p.stdout.decode()}")
    finally:
        run("rm", "-f", "dnsweb")
        run("network", "rm", "dnsn")
    return bad


@case
def dns_cli_name_alias_and_short_id(b):
    """`nslookup` by name, `--network-alias` and short id on a user-defined network; the default
    bridge keeps the host's resolvers. Same on both engines."""
    for name, run, _ in refdockerd.engines(b):
        bad = cli_names(run)
        check(not bad, f"{name}: " + "\n".join(bad))


class Resolver:
    """A tiny DNS responder on `addr`:53 (UDP): `ext.example` is 192.0.2.55, anything else
    NXDOMAIN. Counts the questions it gets."""

    def __init__(self, addr):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 53))
        self.sock.settimeout(0.2)
        self.addr, self.count, self.stop = addr, 0, False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                q, peer = self.sock.recvfrom(1500)
            except OSError:
                continue
            self.count += 1
            at, labels = 12, []
            while at < len(q) and q[at] != 0:
                labels.append(q[at + 1:at + 1 + q[at]].decode(errors="replace").lower())
                at += 1 + q[at]
            end = at + 5
            if end > len(q):
                continue
            head = bytearray(q[:end])
            head[2], head[3] = 0x81, 0x80
            head[6:12] = bytes(6)
            if ".".join(labels) == "ext.example":
                if q[end - 4:end - 2] == b"\x00\x01":
                    head[7] = 1
                    head += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 55])
            else:
                head[3] |= 3
            self.sock.sendto(bytes(head), peer)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def resolver_address(name):
    """An address of the host where the engine's forwarding reaches a resolver of ours: berth
    forwards from the host's namespace (a loopback address of its own is reachable); the
    reference dockerd (20.10) forwards from the container's, so its bridge's host address."""
    if name == "berth":
        return f"127.53.{os.getpid() % 250}.{os.getpid() // 250 % 250}"
    bridge = refdockerd._dockerd.bridge
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", bridge], capture_output=True, text=True).stdout
    return out.split()[3].split("/")[0]


@case
def dns_cli_forwards_to_dns_servers(b):
    """`--dns` with the embedded server: the server is a forwarder (resolv.conf keeps
    127.0.0.11, with `--dns-search` and `--dns-option`), names not on the network get its
    answers. Same on both engines, each with a resolver where it forwards from."""
    for name, run, _ in refdockerd.engines(b):
        r = Resolver(resolver_address(name))
        run("network", "create", "dnsf")
        try:
            p = run("run", "--rm", "--network", "dnsf", "--dns", r.addr, "--dns-search", "corp.example",
                    "--dns-option", "timeout:2", "busybox", "sh", "-c",
                    "cat /etc/resolv.conf; nslookup ext.example")
            out = p.stdout.decode() + p.stderr.decode()
            lines = out.splitlines()
            check(lines[:3] == ["search corp.example", "nameserver 127.0.0.11", "options timeout:2 ndots:0"],
                  f"{name}: resolv.conf:\n{out}")
            got = nslookup_address(out, "ext.example")
            check(got == "192.0.2.55" and r.count >= 1, f"{name}: ext.example gave {got} ({r.count} questions):\n{out}")
        finally:
            run("network", "rm", "dnsf")
            r.close()


@case
def dns_py_aliases_and_a_peer_recreated(b):
    """docker-py: a container with aliases in its networking config is found by them; removed and
    created again at another address, it is found there at once by a container that was already
    running (the records are read at each question). Same on both engines."""
    for name, run, c in refdockerd.engines(b):
        n = c.networks.create("dnspy", driver="bridge")
        made = []
        try:
            def web():
                cfg = c.api.create_networking_config({"dnspy": c.api.create_endpoint_config(aliases=["pyalias"])})
                h = c.api.create_container("busybox", ["sleep", "60"], name="dnspyweb",
                                           networking_config=cfg,
                                           host_config=c.api.create_host_config(network_mode="dnspy"))
                c.api.start(h["Id"])
                made.append(h["Id"])
                return c.containers.get(h["Id"]).attrs["NetworkSettings"]["Networks"]["dnspy"]["IPAddress"]
            first = web()
            asker = c.containers.run("busybox", ["sleep", "60"], network="dnspy", detach=True, name="dnspyask")
            made.append(asker.id)
            code, out = asker.exec_run(["nslookup", "pyalias"])
            got = nslookup_address(out.decode(), "pyalias")
            check(got == first, f"{name}: pyalias: expected {first}, got {got}:\n{out.decode()}")
            # Another container takes web's address; web comes back at a new one.
            c.containers.get("dnspyweb").remove(force=True)
            blocker = c.containers.run("busybox", ["sleep", "60"], network="dnspy", detach=True, name="dnspyblock")
            made.append(blocker.id)
            second = web()
            check(second != first, f"{name}: web came back at the same address {first}")
            code, out = asker.exec_run(["nslookup", "dnspyweb"])
            got = nslookup_address(out.decode(), "dnspyweb")
            check(got == second, f"{name}: after the recreate: expected {second}, got {got}:\n{out.decode()}")
        finally:
            for x in made:
                run("rm", "-f", x)
            n.remove()


COMPOSE = """version: "2.4"
services:
  db:
    image: busybox
    stop_grace_period: 1s
    command: ["sleep", "60"]
  app:
    image: busybox
    depends_on: [db]
    command: ["sh", "-c", "for i in $$(seq 1 20); do nslookup db && exit 0; sleep 0.3; done; exit 1"]
"""


@case
def dns_compose_service_resolves_another(b):
    """docker-compose: a service resolves another by its service name through DNS (busybox's
    nslookup reads no /etc/hosts). Same on both engines."""
    if shutil.which("docker-compose") is None:
        check(os.environ.get("CI") != "true", "docker-compose is not installed (scripts/install-deps.sh)")
        raise Failed("docker-compose is not installed (apt-get install docker-compose)")
    engines = [("berth", b.env, lambda *a: b.docker(*a))]
    if refdockerd.docker() is not None:
        engines.append(("dockerd", dict(os.environ, **refdockerd.env()), refdockerd.docker()))
    for name, env, run in engines:
        d = tempfile.mkdtemp(prefix="berth-compose-dns-")
        env = dict(env, COMPOSE_PROJECT_NAME="dnsproj")
        try:
            with open(os.path.join(d, "docker-compose.yml"), "w") as f:
                f.write(COMPOSE)
            p = subprocess.run(["docker-compose", "up", "-d"], cwd=d, env=env, capture_output=True, timeout=120)
            check(p.returncode == 0, f"{name}: up: {p.stderr.decode(errors='replace')}")
            code = run("wait", "dnsproj_app_1").stdout.decode().strip()
            logs = run("logs", "dnsproj_app_1")
            out = logs.stdout.decode() + logs.stderr.decode()
            ip = ip_on(run, "dnsproj_db_1", "dnsproj_default")
            check(code == "0" and nslookup_address(out, "db") == ip, f"{name}: app exit {code}, db at {ip}:\n{out}")
        finally:
            subprocess.run(["docker-compose", "down", "-t", "1"], cwd=d, env=env, capture_output=True, timeout=120)
            shutil.rmtree(d, ignore_errors=True)
