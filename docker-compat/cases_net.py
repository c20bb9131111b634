"""Networks through the docker CLI, docker-py and docker-compose v1: user-defined bridge
networks, names and aliases, isolation, connect and disconnect, addresses and veths freed.
Traffic goes only to the containers' own addresses and to this machine's own address."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import http.server

import docker

from compat import Failed, case, check

HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"
# busybox 1.35's `wget -T` crashes: bound each fetch with `timeout` instead, never as the
# shell's last command (sh would exec it as pid 1, which ignores timeout's SIGTERM).
FETCH = "for i in $(seq 1 25); do timeout 3 wget -q -O - http://{host}/ && exit 0; sleep 0.2; done; exit 1"


def client(b):
    return docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)


def veth(container_id, network_id):
    """The host end of a container's veth on a network (berth_shim::net::host_veth_name)."""
    return "vb" + container_id[:7] + network_id[:6]


def link_exists(name):
    return os.path.exists(os.path.join("/sys/class/net", name))


def host_address():
    """This machine's own address: the source it uses for its default route."""
    out = subprocess.run(["ip", "-4", "-o", "route", "get", "192.0.2.123"], capture_output=True,
                         text=True).stdout.split()
    if "src" not in out:
        raise Failed(f"no source address in {out}")
    return out[out.index("src") + 1]


@case
def net_containers_reach_each_other_by_name_and_alias(b):
    b.out("network", "create", "nfront")
    try:
        b.out("run", "-d", "--name", "nweb", "--network", "nfront", "--network-alias", "www",
              "busybox", "sh", "-c", HTTPD.format(text="from-nweb"))
        got = b.out("run", "--rm", "--network", "nfront", "busybox", "sh", "-c",
                    "(" + FETCH.format(host="nweb") + "); (" + FETCH.format(host="www") + ")")
        check(got.count("from-nweb") == 2, f"by name and by alias: {got!r}")
        short = b.out("inspect", "-f", "{{.Id}}", "nweb")[:12]
        got = b.out("run", "--rm", "--network", "nfront", "busybox", "sh", "-c",
                    FETCH.format(host=short))
        check("from-nweb" in got, f"by short id: {got!r}")
        # The default bridge resolves no names, as with dockerd.
        other = b.docker("run", "--rm", "busybox", "sh", "-c", "timeout 3 wget -q -O - http://nweb/; exit $?")
        check(other.returncode != 0, "a container on the default bridge resolved nweb")
    finally:
        b.docker("rm", "-f", "nweb")
        b.docker("network", "rm", "nfront")


@case
def net_two_networks_are_isolated_and_internal_reaches_no_host_address(b):
    # A server on this machine's own address, for the containers to try.
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Quiet)
    port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    hostip = host_address()
    try:
        b.out("network", "create", "nisoa")
        b.out("network", "create", "nisob")
        b.out("network", "create", "--internal", "nclosed")
        b.out("run", "-d", "--name", "nsrv", "--network", "nisoa", "busybox", "sh", "-c",
              HTTPD.format(text="isolated"))
        ip = b.out("inspect", "-f", "{{.NetworkSettings.Networks.nisoa.IPAddress}}", "nsrv")
        same = b.docker("run", "--rm", "--network", "nisoa", "busybox", "sh", "-c", FETCH.format(host=ip))
        check(same.returncode == 0 and b"isolated" in same.stdout, f"same network: {same}")
        far = b.docker("run", "--rm", "--network", "nisob", "busybox", "sh", "-c",
                       f"timeout 3 wget -q -O - http://{ip}/; exit $?")
        check(far.returncode != 0 and b"isolated" not in far.stdout, f"nisob reached nisoa: {far}")
        # A bridge network reaches the host's address; an internal one does not.
        out = b.docker("run", "--rm", "--network", "nisob", "busybox", "sh", "-c",
                       FETCH.format(host=f"{hostip}:{port}"))
        check(out.returncode == 0, f"a bridge network could not reach the host at {hostip}: {out}")
        closed = b.docker("run", "--rm", "--network", "nclosed", "busybox", "sh", "-c",
                          f"ip route; timeout 3 wget -q -O - http://{hostip}:{port}/ && echo REACHED;"
                          f"gw=$(ip -4 -o addr show eth0 | sed 's/.*inet \\([0-9.]*\\).*/\\1/' | sed 's/[0-9]*$/1/');"
                          f"timeout 3 wget -q -O - http://$gw:{port}/ && echo REACHED; true")
        text = closed.stdout.decode()
        check("REACHED" not in text and "default" not in text, f"the internal network got out: {text}")
    finally:
        srv.shutdown()
        b.docker("rm", "-f", "nsrv")
        for n in ["nisoa", "nisob", "nclosed"]:
            b.docker("network", "rm", n)


@case
def net_connect_and_disconnect_a_running_container(b):
    b.out("network", "create", "nconn")
    try:
        b.out("run", "-d", "--name", "napp", "busybox", "sleep", "1000")
        b.out("run", "-d", "--name", "ndb", "--network", "nconn", "busybox", "sh", "-c",
              HTTPD.format(text="from-ndb"))
        before = b.out("exec", "napp", "ip", "-o", "link")
        check("eth1" not in before, f"eth1 before connect: {before}")
        b.out("network", "connect", "--alias", "api", "nconn", "napp")
        got = b.out("exec", "napp", "sh", "-c", FETCH.format(host="ndb"))
        check("from-ndb" in got, f"after connect: {got!r}")
        got = b.out("exec", "ndb", "sh", "-c", "grep -w api /etc/hosts")
        check("napp" in got, f"the peer does not know the alias: {got!r}")
        nets = json.loads(b.out("inspect", "-f", "{{json .NetworkSettings.Networks}}", "napp"))
        check(set(nets) == {"bridge", "nconn"} and nets["nconn"]["Aliases"] == ["api"], f"{nets}")
        b.out("network", "disconnect", "nconn", "napp")
        after = b.out("exec", "napp", "ip", "-o", "link")
        check("eth1" not in after, f"eth1 after disconnect: {after}")
        gone = b.docker("exec", "napp", "sh", "-c", "timeout 3 wget -q -O - http://ndb/; exit $?")
        check(gone.returncode != 0, "ndb still reachable after disconnect")
        hosts = b.out("exec", "ndb", "cat", "/etc/hosts")
        check("napp" not in hosts, f"the peer still names napp after it left: {hosts}")
        nets = json.loads(b.out("inspect", "-f", "{{json .NetworkSettings.Networks}}", "napp"))
        check(set(nets) == {"bridge"}, f"{nets}")
        # A stopped container connects too, and has the interface when it starts.
        b.out("create", "--name", "nlate", "busybox", "ip", "-o", "-4", "addr")
        b.out("network", "connect", "nconn", "nlate")
        b.out("start", "nlate")
        b.out("wait", "nlate")
        logs = b.out("logs", "nlate")
        check("eth1" in logs, f"a connect while stopped is lost: {logs}")
    finally:
        b.docker("rm", "-f", "napp", "ndb", "nlate")
        b.docker("network", "rm", "nconn")


@case
def net_removing_a_container_frees_its_address_and_veth(b):
    netid = b.out("network", "create", "--subnet", "10.214.77.0/24", "nfree")
    try:
        cid = b.out("run", "-d", "--network", "nfree", "--ip", "10.214.77.50", "busybox", "sleep", "1000")
        ip = b.out("inspect", "-f", "{{.NetworkSettings.Networks.nfree.IPAddress}}", cid)
        check(ip == "10.214.77.50", f"--ip: {ip}")
        check(link_exists(veth(cid, netid)), f"veth {veth(cid, netid)} missing")
        taken = b.docker("run", "-d", "--network", "nfree", "--ip", "10.214.77.50", "busybox", "true")
        check(taken.returncode != 0 and b"in use" in taken.stderr, f"a second --ip: {taken}")
        inuse = b.docker("network", "rm", "nfree")
        check(inuse.returncode != 0 and b"has active endpoints" in inuse.stderr, f"{inuse}")
        b.out("rm", "-f", cid)
        check(not link_exists(veth(cid, netid)), "the veth outlived the container")
        cid2 = b.out("run", "-d", "--network", "nfree", "--ip", "10.214.77.50", "busybox", "sleep", "1000")
        b.out("rm", "-f", cid2)
        info = json.loads(b.out("network", "inspect", "nfree"))[0]
        check(info["Containers"] == {}, f"{info['Containers']}")
        # --rm: the shim frees the address with no API process involved.
        b.out("run", "--rm", "--network", "nfree", "--ip", "10.214.77.60", "busybox", "true")
        cid3 = b.out("run", "-d", "--network", "nfree", "--ip", "10.214.77.60", "busybox", "true")
        b.out("rm", "-f", cid3)
    finally:
        b.docker("network", "rm", "nfree")


@case
def net_cli_create_ls_inspect_rm_prune(b):
    nid = b.out("network", "create", "--subnet", "10.214.80.0/24", "--gateway", "10.214.80.254",
                "--ip-range", "10.214.80.128/25", "--label", "tier=x", "--internal", "ncli")
    try:
        info = json.loads(b.out("network", "inspect", "ncli"))[0]
        check(info["Id"] == nid and info["Driver"] == "bridge" and info["Internal"] is True, f"{info}")
        check(info["IPAM"]["Config"] == [{"Subnet": "10.214.80.0/24", "IPRange": "10.214.80.128/25",
                                          "Gateway": "10.214.80.254"}], f"{info['IPAM']}")
        check(info["Labels"] == {"tier": "x"}, f"{info['Labels']}")
        ip = b.out("run", "--rm", "--network", "ncli", "busybox", "sh", "-c",
                   "ip -4 -o addr show eth0 | sed 's/.*inet \\([0-9.]*\\).*/\\1/'")
        check(ip == "10.214.80.128" or ip.startswith("10.214.80.1"), f"address outside the range: {ip}")
        dup = b.docker("network", "create", "ncli")
        check(dup.returncode != 0 and b"already exists" in dup.stderr, f"{dup}")
        names = b.out("network", "ls", "--format", "{{.Name}}").split()
        check({"bridge", "host", "none", "ncli"} <= set(names), f"{names}")
        names = b.out("network", "ls", "-q", "--filter", "label=tier=x").split()
        check(names == [nid[:12]], f"label filter: {names}")
        names = b.out("network", "ls", "--format", "{{.Name}}", "--filter", "type=builtin").split()
        check(sorted(names) == ["bridge", "host", "none"], f"type filter: {names}")
        for pre in ["bridge", "host", "none"]:
            r = b.docker("network", "rm", pre)
            check(r.returncode != 0 and b"pre-defined network and cannot be removed" in r.stderr, f"{r}")
        missing = b.docker("network", "inspect", "nosuchnet")
        check(missing.returncode != 0 and b"not found" in missing.stderr, f"{missing}")
        b.out("network", "rm", "ncli")
        b.out("network", "create", "--label", "p=1", "nprune1")
        b.out("network", "create", "nprune2")
        out = b.out("network", "prune", "-f", "--filter", "label=p=1")
        check("nprune1" in out and "nprune2" not in out, f"prune: {out}")
        out = b.out("network", "prune", "-f")
        check("nprune2" in out, f"prune: {out}")
        names = b.out("network", "ls", "--format", "{{.Name}}").split()
        check(sorted(names) == ["bridge", "host", "none"], f"after prune: {names}")
    finally:
        for n in ["ncli", "nprune1", "nprune2"]:
            b.docker("network", "rm", n)


@case
def net_docker_py_networks(b):
    c = client(b)
    n = c.networks.create("npy", driver="bridge", labels={"a": "b"})
    try:
        check(n.name == "npy" and n.attrs["Labels"] == {"a": "b"}, f"{n.attrs}")
        check("npy" in [x.name for x in c.networks.list()], "list")
        web = c.containers.run("busybox", ["sh", "-c", HTTPD.format(text="py-web")], detach=True,
                               name="npyweb", network="npy")
        n.reload()
        check(web.id in n.attrs["Containers"], f"{n.attrs['Containers']}")
        app = c.containers.run("busybox", ["sleep", "1000"], detach=True, name="npyapp")
        n.connect(app, aliases=["pyalias"])
        code, out = app.exec_run(["sh", "-c", FETCH.format(host="npyweb")])
        check(code == 0 and b"py-web" in out, f"{code} {out}")
        app.reload()
        check("npy" in app.attrs["NetworkSettings"]["Networks"], f"{app.attrs['NetworkSettings']}")
        n.disconnect(app)
        app.reload()
        check("npy" not in app.attrs["NetworkSettings"]["Networks"], "still connected")
        try:
            n.remove()
            raise Failed("a network in use was removed")
        except docker.errors.APIError as e:
            check(e.status_code == 403, f"{e}")
        web.remove(force=True)
        app.remove(force=True)
        n.remove()
        check("npy" not in [x.name for x in c.networks.list()], "not removed")
    finally:
        for name in ["npyweb", "npyapp"]:
            b.docker("rm", "-f", name)
        b.docker("network", "rm", "npy")


COMPOSE = """version: "2.4"
services:
  web:
    image: busybox
    stop_grace_period: 1s
    command: ["sh", "-c", "mkdir -p /www && echo compose-web > /www/index.html && exec httpd -f -p 80 -h /www"]
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "for i in $$(seq 1 50); do timeout 3 wget -q -O - http://web/ && exit 0; sleep 0.2; done; exit 1"]
"""


@case
def net_compose_two_services_up_ps_down(b):
    if shutil.which("docker-compose") is None:
        check(os.environ.get("CI") != "true", "docker-compose is not installed (scripts/install-deps.sh)")
        raise Failed("docker-compose is not installed (apt-get install docker-compose)")
    d = tempfile.mkdtemp(prefix="berth-compose-")
    env = dict(b.env, COMPOSE_PROJECT_NAME="nproj")

    def compose(*args, check_rc=0):
        p = subprocess.run(["docker-compose", *args], cwd=d, env=env, capture_output=True, timeout=120)
        if check_rc is not None and p.returncode != check_rc:
            raise Failed(f"docker-compose {' '.join(args)}: exit {p.returncode}\n"
                         f"stdout: {p.stdout.decode(errors='replace')}\nstderr: {p.stderr.decode(errors='replace')}")
        return p.stdout.decode()

    try:
        with open(os.path.join(d, "docker-compose.yml"), "w") as f:
            f.write(COMPOSE)
        compose("up", "-d")
        netid = b.out("network", "inspect", "-f", "{{.Id}}", "nproj_default")
        ids = b.out("ps", "-aq", "--no-trunc", "--filter", "label=com.docker.compose.project=nproj").split()
        check(len(ids) == 2, f"containers: {ids}")
        cid = b.out("ps", "-aq", "--no-trunc", "--filter", "name=nproj_client_1")
        code = b.out("wait", cid)
        logs = b.out("logs", cid)
        check(code == "0" and "compose-web" in logs, f"client exit {code}: {logs!r}")
        ps = compose("ps")
        check("nproj_web_1" in ps and "Up" in ps and "nproj_client_1" in ps, f"ps: {ps}")
        compose("down")
        left = b.out("ps", "-aq", "--filter", "label=com.docker.compose.project=nproj")
        check(left == "", f"containers left: {left}")
        nets = b.out("network", "ls", "--format", "{{.Name}}").split()
        check("nproj_default" not in nets, f"network left: {nets}")
        check(not link_exists("br-" + netid[:12]), "bridge left")
        left_veths = [x for x in os.listdir("/sys/class/net") if x.startswith("vb") and x.endswith(netid[:6])]
        check(left_veths == [], f"veths left: {left_veths}")
    finally:
        subprocess.run(["docker-compose", "down"], cwd=d, env=env, capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)


@case
def net_ps_lists_networks_and_filters_by_network(b):
    b.out("network", "create", "npsa")
    b.out("network", "create", "npsb")
    try:
        b.out("run", "-d", "--name", "npsone", "--network", "npsa", "busybox", "sleep", "300")
        b.out("run", "-d", "--name", "npstwo", "--network", "npsb", "busybox", "sleep", "300")
        b.out("network", "connect", "--alias", "two", "npsa", "npstwo")
        got = sorted(b.out("ps", "--filter", "network=npsa", "--format", "{{.Names}}").split())
        check(got == ["npsone", "npstwo"], f"ps --filter network=npsa: {got}")
        bid = b.out("network", "inspect", "-f", "{{.Id}}", "npsb")
        got = b.out("ps", "--filter", "network=" + bid[:8], "--format", "{{.Names}}").split()
        check(got == ["npstwo"], f"ps --filter network=<id prefix>: {got}")
        nets = b.out("ps", "--filter", "name=npstwo", "--format", "{{.Networks}}")
        check(sorted(nets.split(",")) == ["npsa", "npsb"], f"{{{{.Networks}}}}: {nets!r}")
        # docker-py's sparse list is /containers/json as it is: dockerd's endpoint fields.
        c = client(b)
        rows = c.containers.list(sparse=True, filters={"network": "npsa"})
        check(len(rows) == 2, f"docker-py list by network: {rows}")
        two = [r for r in rows if r.attrs["Names"] == ["/npstwo"]][0].attrs
        listed = two["NetworkSettings"]["Networks"]["npsa"]
        inspected = c.api.inspect_container("npstwo")["NetworkSettings"]["Networks"]["npsa"]
        for k in ("NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress", "Aliases"):
            check(listed.get(k) == inspected.get(k), f"{k}: list {listed.get(k)!r}, inspect {inspected.get(k)!r}")
        check(listed["Aliases"] == ["two"] and listed["IPAddress"], f"{listed}")
        b.out("network", "disconnect", "npsa", "npstwo")
        got = b.out("ps", "--filter", "network=npsa", "--format", "{{.Names}}").split()
        check(got == ["npsone"], f"after disconnect: {got}")
    finally:
        b.docker("rm", "-f", "npsone", "npstwo")
        b.docker("network", "rm", "npsa", "npsb")
