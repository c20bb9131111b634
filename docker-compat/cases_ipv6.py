"""IPv6 networks (issue 22) through the docker CLI and docker-py: `--ipv6` with an IPv4 and an
IPv6 subnet, `--ip6`, peers reaching each other by IPv6 and by AAAA, inspect's IPv6 fields,
published ports on both families, and `host_binding_ipv4`. Each is run on berth and on the
suite's reference dockerd (20.10, API 1.41, `--iptables=false`, a bridge of its own), one after
the other (both would take the same subnets); differences are stated in the docstrings."""
import json

import docker

import refdockerd
from compat import case, check

SCRIPT = ("ping6 -c1 -W3 fd00:b6:b1::99 >/dev/null && echo ping-ok; "
          "nslookup -type=AAAA c6a 127.0.0.11")


def engines_cli(b):
    """(name, docker CLI function) for berth and, where installed, the reference dockerd."""
    out = [("berth", lambda *a, input=None: b.docker(*a, input=input))]
    d = refdockerd.docker()
    if d is not None:
        out.append(("dockerd", d))
    return out


@case
def ipv6_cli_network_peers_and_inspect(b):
    """docker network create --ipv6 with two subnets, run --ip6, ping6 and AAAA from a peer,
    inspect's GlobalIPv6Address/GlobalIPv6PrefixLen/IPv6Gateway and the network's two configs;
    --ipv6 without an IPv6 subnet fails on both with dockerd 20.10's words (no default IPv6
    pool). Difference: for a subnet given without a gateway, dockerd 20.10's IPAM.Config shows no
    Gateway and berth shows the one it chose (as it does for IPv4); only subnets are compared."""
    for name, run in engines_cli(b):
        p = run("network", "create", "--ipv6", "--subnet", "10.214.181.0/24", "--subnet",
                "fd00:b6:b1::/64", "c6")
        check(p.returncode == 0, f"{name}: network create --ipv6: {p.stderr!r}")
        try:
            p = run("run", "-d", "--name", "c6a", "--network", "c6", "--ip6", "fd00:b6:b1::99",
                    "busybox", "sleep", "60")
            check(p.returncode == 0, f"{name}: run --ip6: {p.stderr!r}")
            p = run("run", "--rm", "--network", "c6", "busybox", "sh", "-c", SCRIPT)
            out = p.stdout.decode()
            check("ping-ok" in out and "Address: fd00:b6:b1::99" in out,
                  f"{name}: ping6 and AAAA from a peer: {out!r} {p.stderr!r}")
            p = run("inspect", "-f", "{{json .NetworkSettings.Networks.c6}}", "c6a")
            ep = json.loads(p.stdout)
            got = (ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"], ep["IPv6Gateway"],
                   ep["IPAMConfig"])
            check(got == ("fd00:b6:b1::99", 64, "fd00:b6:b1::1", {"IPv6Address": "fd00:b6:b1::99"}),
                  f"{name}: the endpoint: {ep}")
            p = run("network", "inspect", "-f", "{{json .EnableIPv6}} {{json .IPAM.Config}}", "c6")
            enabled, configs = p.stdout.decode().split(" ", 1)
            subnets = [c["Subnet"] for c in json.loads(configs)]
            check(enabled == "true" and subnets == ["10.214.181.0/24", "fd00:b6:b1::/64"],
                  f"{name}: network inspect: {p.stdout!r}")
        finally:
            run("rm", "-f", "c6a")
            run("network", "rm", "c6")
        p = run("network", "create", "--ipv6", "c6none")
        check(p.returncode != 0 and b"could not find an available, non-overlapping IPv6 address pool"
              in p.stderr, f"{name}: --ipv6 without an IPv6 subnet: {p.returncode} {p.stderr!r}")
        run("network", "rm", "c6none")


@case
def ipv6_py_create_network_with_ipam_v6(b):
    """docker-py: create_network(enable_ipv6=True) with an IPv4 and an IPv6 IPAMPool, a container
    with ipv6_address through create_endpoint_config, its attrs, and connect with an
    ipv6_address; the same on the reference dockerd."""
    for name, _, c in refdockerd.engines(b):
        ipam = docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet="10.214.182.0/24"),
            docker.types.IPAMPool(subnet="fd00:b6:b2::/64", gateway="fd00:b6:b2::fe")])
        n = c.api.create_network("py6", driver="bridge", ipam=ipam, enable_ipv6=True)
        made = []
        try:
            nc = c.api.create_networking_config(
                {"py6": c.api.create_endpoint_config(ipv6_address="fd00:b6:b2::10")})
            ctr = c.api.create_container("busybox", ["sleep", "60"], networking_config=nc,
                                         host_config=c.api.create_host_config(network_mode="py6"))
            made.append(ctr["Id"])
            c.api.start(ctr["Id"])
            ep = c.api.inspect_container(ctr["Id"])["NetworkSettings"]["Networks"]["py6"]
            check((ep["GlobalIPv6Address"], ep["IPv6Gateway"]) == ("fd00:b6:b2::10", "fd00:b6:b2::fe"),
                  f"{name}: the endpoint: {ep}")
            other = c.api.create_container("busybox", ["sleep", "60"])
            made.append(other["Id"])
            c.api.connect_container_to_network(other["Id"], n["Id"], ipv6_address="fd00:b6:b2::11")
            ep = c.api.inspect_container(other["Id"])["NetworkSettings"]["Networks"]["py6"]
            check(ep["IPAMConfig"] == {"IPv6Address": "fd00:b6:b2::11"},
                  f"{name}: connect with ipv6_address: {ep}")
            net = c.api.inspect_network(n["Id"])
            check(net["EnableIPv6"] is True and net["IPAM"]["Config"][1]["Gateway"] == "fd00:b6:b2::fe",
                  f"{name}: network inspect: {net}")
        finally:
            for cid in made:
                c.api.remove_container(cid, force=True)
            c.api.remove_network(n["Id"])


@case
def ipv6_published_ports_on_both_families(b):
    """`-p 18680:80` on an IPv6 network: docker port shows 0.0.0.0 and [::], on berth and on
    dockerd. Difference: `-p [::1]:...` dockerd serves with its userland proxy; berth, which has
    none, refuses it with a 400 that says why (the kernel routes no ::1 packet off lo)."""
    for name, run in engines_cli(b):
        p = run("network", "create", "--ipv6", "--subnet", "10.214.183.0/24", "--subnet",
                "fd00:b6:b3::/64", "p6")
        check(p.returncode == 0, f"{name}: network create: {p.stderr!r}")
        try:
            p = run("run", "-d", "--name", "p6a", "--network", "p6", "-p", "18680:80", "busybox",
                    "sleep", "60")
            check(p.returncode == 0, f"{name}: run -p: {p.stderr!r}")
            lines = set(run("port", "p6a").stdout.decode().split("\n")) - {""}
            check(lines == {"80/tcp -> 0.0.0.0:18680", "80/tcp -> [::]:18680"},
                  f"{name}: docker port: {lines}")
        finally:
            run("rm", "-f", "p6a")
            run("network", "rm", "p6")
    p = b.docker("run", "--rm", "-p", "[::1]:18681:80", "busybox", "true")
    check(p.returncode == 125 and b"cannot forward the IPv6 loopback address" in p.stderr,
          f"berth: [::1]: {p.returncode} {p.stderr!r}")


@case
def ipv6_host_binding_ipv4(b):
    """-o com.docker.network.bridge.host_binding_ipv4=127.0.0.1: a `-p 18682:80` binding shows
    127.0.0.1 and PortBindings stay as sent, on berth and dockerd; a value that is no address
    fails with dockerd's words on both."""
    for name, run in engines_cli(b):
        p = run("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
                "--subnet", "10.214.184.0/24", "hb4")
        check(p.returncode == 0, f"{name}: network create: {p.stderr!r}")
        try:
            p = run("run", "-d", "--name", "hb4a", "--network", "hb4", "-p", "18682:80", "busybox",
                    "sleep", "60")
            check(p.returncode == 0, f"{name}: run -p: {p.stderr!r}")
            p = run("inspect", "-f", "{{json .NetworkSettings.Ports}} {{json .HostConfig.PortBindings}}",
                    "hb4a")
            ports, bindings = (json.loads(x) for x in p.stdout.decode().split(" ", 1))
            check(ports["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "18682"}]
                  and bindings["80/tcp"] == [{"HostIp": "", "HostPort": "18682"}],
                  f"{name}: {p.stdout!r}")
        finally:
            run("rm", "-f", "hb4a")
            run("network", "rm", "hb4")
        p = run("network", "create", "-o", "com.docker.network.bridge.host_binding_ipv4=bogus", "hb4bad")
        check(p.returncode != 0 and
              b"failed to parse com.docker.network.bridge.host_binding_ipv4 value: bogus (nil ip)" in p.stderr,
              f"{name}: a bogus value: {p.returncode} {p.stderr!r}")
        run("network", "rm", "hb4bad")
