"""Published ports, bandwidth limits and network counters through the docker CLI, docker-py and
curl. Traffic goes only to loopback, to this machine's own address and to the containers' own
addresses."""
import json
import os
import re
import socket
import subprocess
import time

import docker

from compat import Failed, HERE, case, check
from cases_net import host_address

HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"
# busybox 1.35's `wget -T` crashes: bound each fetch with `timeout` instead.
FETCH = "for i in $(seq 1 25); do timeout 3 wget -q -O - http://{host}/ && exit 0; sleep 0.2; done; exit 1"


def free_port(kind=socket.SOCK_STREAM):
    """A port nothing holds right now (TCP and UDP both free)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
        s.close()
        other = socket.socket(socket.AF_INET,
                              socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM)
        try:
            other.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
        finally:
            other.close()
    raise Failed("no free port")


def fetch(host, port, tries=25):
    """curl from this machine; the page or None."""
    for _ in range(tries):
        p = subprocess.run(["curl", "-s", "-m", "3", f"http://{host}:{port}/"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout
        time.sleep(0.2)
    return None


def table_name(b):
    """The root's ports table (berth_shim::net::ports::Table::for_root: FNV-1a of the root)."""
    h = 0x811C9DC5
    for c in b.root.encode():
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return f"berthp_{h:08x}"


def rules_of(b, cid):
    out = subprocess.run(["nft", "list", "table", "ip", table_name(b)], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if cid in line]


def bound(port, kind=socket.SOCK_STREAM):
    """Whether someone holds the host port."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("0.0.0.0", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


@case
def ports_published_port_answers_on_loopback_host_address_and_from_containers(b):
    port = free_port()
    hostip = host_address()
    try:
        cid = b.out("run", "-d", "--name", "pweb", "-p", f"{port}:80", "busybox", "sh", "-c",
                    HTTPD.format(text="from-pweb"))
        check(fetch("127.0.0.1", port) == "from-pweb\n", "curl on 127.0.0.1")
        check(fetch(hostip, port) == "from-pweb\n", f"curl on the host's address {hostip}")
        got = b.out("run", "--rm", "busybox", "sh", "-c", FETCH.format(host=f"{hostip}:{port}"))
        check("from-pweb" in got, f"another container through the host's address: {got!r}")
        got = b.out("exec", "pweb", "sh", "-c", FETCH.format(host=f"{hostip}:{port}"))
        check("from-pweb" in got, f"the container itself through the host's address: {got!r}")
        b.out("network", "create", "pother")
        got = b.out("run", "--rm", "--network", "pother", "busybox", "sh", "-c",
                    FETCH.format(host=f"{hostip}:{port}"))
        check("from-pweb" in got, f"a container of another network through the host's address: {got!r}")
        check(b.out("port", "pweb") == f"80/tcp -> 0.0.0.0:{port}", b.out("port", "pweb"))
        check(b.out("port", "pweb", "80") == f"0.0.0.0:{port}", b.out("port", "pweb", "80"))
        info = json.loads(b.out("inspect", "pweb"))[0]
        check(info["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]},
              f"NetworkSettings.Ports: {info['NetworkSettings']['Ports']}")
        check(info["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]},
              f"HostConfig.PortBindings: {info['HostConfig']['PortBindings']}")
        ps = b.out("ps", "--format", "{{.Ports}}", "--filter", "name=pweb")
        check(ps == f"0.0.0.0:{port}->80/tcp", f"docker ps Ports: {ps!r}")
        # A restart plugs a new veth in: the rules follow it.
        b.out("restart", "-t", "0", "pweb")
        check(fetch("127.0.0.1", port) == "from-pweb\n", "curl after a restart")
        check(len(rules_of(b, cid)) == 2, f"one forward and one masquerade: {rules_of(b, cid)}")
    finally:
        b.docker("rm", "-f", "pweb")
        b.docker("network", "rm", "pother")
    check(rules_of(b, cid) == [], f"rules left after rm: {rules_of(b, cid)}")
    check(not bound(port), f"port {port} still held after rm")
    check(fetch("127.0.0.1", port, tries=1) is None, "the port still answers after rm")


@case
def ports_random_host_port_ip_binding_and_publish_all(b):
    hostip = host_address()
    try:
        b.out("run", "-d", "--name", "prand", "-p", "80", "--expose", "81", "busybox", "sh", "-c",
              HTTPD.format(text="from-prand"))
        line = b.out("port", "prand", "80/tcp")
        m = re.fullmatch(r"0\.0\.0\.0:(\d+)", line)
        check(m is not None, f"docker port: {line!r}")
        check(fetch("127.0.0.1", m.group(1)) == "from-prand\n", "the random port answers")
        ports = json.loads(b.out("inspect", "prand"))[0]["NetworkSettings"]["Ports"]
        check(ports.get("81/tcp", "missing") is None, f"exposed but not published: {ports}")

        # docker-py's ports= and Container.ports; a stopped container holds no port.
        c = docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)
        py = c.containers.run("busybox", ["sh", "-c", HTTPD.format(text="from-py")], name="ppy",
                              ports={"80/tcp": None}, detach=True)
        py.reload()
        py_port = py.ports["80/tcp"][0]["HostPort"]
        check(fetch("127.0.0.1", py_port) == "from-py\n", f"docker-py's published port {py.ports}")
        py.stop(timeout=0)
        py.reload()
        check(py.ports == {}, f"a stopped container shows no ports: {py.ports}")
        check(not bound(int(py_port)), "a stopped container's port is given back")

        lo = free_port()
        b.out("run", "-d", "--name", "plo", "-p", f"127.0.0.1:{lo}:80", "busybox", "sh", "-c",
              HTTPD.format(text="from-plo"))
        check(fetch("127.0.0.1", lo) == "from-plo\n", "127.0.0.1 binding on loopback")
        check(fetch(hostip, lo, tries=1) is None, "a 127.0.0.1 binding answered on the host's address")
        check(b.out("port", "plo") == f"80/tcp -> 127.0.0.1:{lo}", b.out("port", "plo"))

        # -P publishes the image's ExposedPorts (and --expose's) on random ports.
        b.out("commit", "-c", "EXPOSE 80 9999/udp", "prand", "busybox-web:exposed")
        b.out("run", "-d", "--name", "pall", "-P", "--expose", "7000", "busybox-web:exposed", "sh", "-c",
              HTTPD.format(text="from-pall"))
        out = b.out("port", "pall").splitlines()
        got = dict(line.split(" -> ") for line in out)
        # 81 came with the committed container's config.
        check(set(got) == {"80/tcp", "81/tcp", "7000/tcp", "9999/udp"}, f"-P published {out}")
        check(fetch("127.0.0.1", got["80/tcp"].split(":")[1]) == "from-pall\n", "-P's port for 80")
        ps = b.out("ps", "--format", "{{.Ports}}", "--filter", "name=pall")
        check("->80/tcp" in ps and "->9999/udp" in ps, f"docker ps Ports: {ps!r}")
    finally:
        b.docker("rm", "-f", "prand", "plo", "pall", "ppy")
        b.docker("rmi", "busybox-web:exposed")


@case
def ports_udp_is_forwarded(b):
    echo = os.path.join(b.tmp, "udp_echo")
    subprocess.run(["gcc", "-static", "-O2", "-o", echo, os.path.join(HERE, "udp_echo.c")], check=True)
    port = free_port(socket.SOCK_DGRAM)
    try:
        b.out("run", "-d", "--name", "pudp", "-p", f"{port}:5353/udp", "-v", f"{echo}:/udp_echo:ro",
              "busybox", "/udp_echo", "5353")
        check(b.out("port", "pudp") == f"5353/udp -> 0.0.0.0:{port}", b.out("port", "pudp"))
        for host in ["127.0.0.1", host_address()]:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.5)
            got = None
            for _ in range(20):
                s.sendto(b"ping", (host, port))
                try:
                    got = s.recvfrom(1500)[0]
                    break
                except socket.timeout:
                    continue
            s.close()
            check(got == b"echo:ping", f"udp answer through {host}:{port}: {got!r}")
    finally:
        b.docker("rm", "-f", "pudp")


@case
def ports_conflict_is_dockerds_error_and_kill_leaves_nothing(b):
    port = free_port()
    try:
        cid = b.out("run", "-d", "--name", "pfirst", "-p", f"{port}:80", "busybox", "sh", "-c",
                    HTTPD.format(text="first"))
        p = b.docker("run", "-d", "--name", "psecond", "-p", f"{port}:80", "busybox", "sleep", "60")
        err = p.stderr.decode()
        check(p.returncode == 125, f"exit {p.returncode}")
        check(f"Bind for 0.0.0.0:{port} failed: port is already allocated" in err, err)
        check("driver failed programming external connectivity on endpoint psecond" in err, err)
        check(b.out("inspect", "-f", "{{.State.Status}}", "psecond") == "created", "psecond stays created")
        # docker-py sees dockerd's status code.
        c = docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)
        try:
            c.containers.get("psecond").start()
            raise Failed("a second start on a taken port succeeded")
        except docker.errors.APIError as e:
            check(e.status_code == 500, f"status {e.status_code}")
        # The shim dies by SIGKILL (its container's process too, so that nothing answers on the
        # address it had): the port is free at once, the rules go with the container.
        state = json.load(open(os.path.join(b.root, "containers", cid, "state.json")))
        os.kill(int(state["shim_pid"]), 9)
        os.kill(int(state["pid"]), 9)
        deadline = time.time() + 10
        while bound(port) and time.time() < deadline:
            time.sleep(0.1)
        check(not bound(port), "the dead shim's port is free")
        check(rules_of(b, cid) != [], "the dead shim's rules stay until someone cleans up")
        b.out("start", "psecond")
        left = [r for r in rules_of(b, cid) if "dnat" in r]
        check(left == [], f"psecond took the port and swept pfirst's forward: {left}")
        check(fetch("127.0.0.1", port, tries=1) is None, "the port forwards to psecond's sleep")
        b.out("rm", "-f", "pfirst")
        check(rules_of(b, cid) == [], f"rules left after rm: {rules_of(b, cid)}")
    finally:
        b.docker("rm", "-f", "pfirst", "psecond")


def timed_fetch(b, ip, extra=()):
    """Seconds a container takes to fetch /big from ip (busybox time, 10 ms resolution)."""
    out = b.out("run", "--rm", *extra, "busybox", "sh", "-c",
                f"(time wget -q -O /dev/null http://{ip}/big) 2>&1")
    m = re.search(r"real\s+(\d+)m\s*([\d.]+)s", out)
    if not m:
        raise Failed(f"no time in {out!r}")
    return int(m.group(1)) * 60 + float(m.group(2))


@case
def ports_bandwidth_limits_hold_within_ten_percent(b):
    size = 3_000_000
    limit = 8_000_000
    serve = (f"mkdir -p /www && dd if=/dev/zero of=/www/big bs=1000 count={size // 1000} 2>/dev/null "
             "&& exec httpd -f -p 80 -h /www")
    try:
        b.out("run", "-d", "--name", "pslow", "--label", "berth.net.egress=8mbit", "busybox", "sh", "-c", serve)
        b.out("run", "-d", "--name", "pfast", "busybox", "sh", "-c", serve)
        ip = lambda n: b.out("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", n)
        slow, fast = ip("pslow"), ip("pfast")
        b.out("run", "--rm", "busybox", "sh", "-c",
              f"for i in $(seq 1 25); do timeout 9 wget -q -O /dev/null http://{slow}/big && exit 0; sleep 0.2; done; exit 1")
        for what, secs in [
            ("egress of the server", timed_fetch(b, slow)),
            ("ingress of the client", timed_fetch(b, fast, ["--label", "berth.net.ingress=8mbit"])),
        ]:
            rate = size * 8 / secs
            check(0.9 <= rate / limit <= 1.1,
                  f"{what}: {rate:.0f} bit/s of payload against {limit} ({rate / limit:.1%})")
            print(f"     {what}: {rate / limit:.1%} of the limit", flush=True)
        secs = timed_fetch(b, fast)
        check(secs < size * 8 / limit / 2, f"with no label the transfer is not limited: {secs} s")
        p = b.docker("run", "--rm", "--label", "berth.net.egress=fast", "busybox", "true")
        check(p.returncode == 125 and "berth.net.egress" in p.stderr.decode(), p.stderr.decode())
    finally:
        b.docker("rm", "-f", "pslow", "pfast")


@case
def ports_stats_show_network_io(b):
    size = 2_000_000
    try:
        b.out("run", "-d", "--name", "pstat", "busybox", "sh", "-c",
              f"mkdir -p /www && dd if=/dev/zero of=/www/big bs=1000 count={size // 1000} 2>/dev/null "
              "&& exec httpd -f -p 80 -h /www")
        ip = b.out("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "pstat")
        b.out("run", "--rm", "busybox", "sh", "-c",
              f"for i in $(seq 1 25); do timeout 5 wget -q -O /dev/null http://{ip}/big && exit 0; sleep 0.2; done; exit 1")
        out = subprocess.run(["curl", "-s", "--unix-socket", b.sock,
                              "http://x/containers/pstat/stats?stream=false"], capture_output=True, text=True)
        eth0 = json.loads(out.stdout)["networks"]["eth0"]
        check(eth0["tx_bytes"] > size and eth0["rx_packets"] > 0, f"counters: {eth0}")
        for k in ["rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"]:
            check(k in eth0, f"{k} missing from {eth0}")
        netio = b.out("stats", "--no-stream", "--format", "{{.NetIO}}", "pstat")
        m = re.fullmatch(r"([\d.]+)(\w+) / ([\d.]+)(MB|kB)", netio)
        check(m is not None and (m.group(4) == "MB" and float(m.group(3)) >= 2), f"docker stats NET I/O: {netio!r}")
    finally:
        b.docker("rm", "-f", "pstat")


@case
def ports_follow_a_restart_by_policy(b):
    port = free_port()
    try:
        # httpd in the background, then the container fails: its policy starts it again, on a
        # new veth, while the shim keeps the host port.
        b.out("run", "-d", "--name", "prestart", "--restart", "on-failure", "-p", f"{port}:80", "busybox",
              "sh", "-c", "mkdir -p /www && echo again > /www/index.html && httpd -p 80 -h /www && sleep 1 && exit 3")
        deadline = time.time() + 20
        while time.time() < deadline and b.out("inspect", "-f", "{{.RestartCount}}", "prestart") in ("", "0"):
            time.sleep(0.2)
        check(b.out("inspect", "-f", "{{.RestartCount}}", "prestart") not in ("", "0"), "no restart")
        check(fetch("127.0.0.1", port) == "again\n", "the port answers after a restart by policy")
        check(bound(port), "the shim holds the port across restarts")
    finally:
        b.docker("rm", "-f", "prestart")
    check(not bound(port), "the port is given back at rm")
