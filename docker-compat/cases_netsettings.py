"""Network settings berth honours or refuses (issue 17), through the docker CLI and docker-py:
MAC addresses, link-local addresses, endpoint sysctls (DriverOpts), `--add-host
name:host-gateway`, network create options (bridge name, MTU, icc, masquerading), IPAM
auxiliary addresses (legacy links: cases_links). Where the suite's reference dockerd (20.10, API
1.41, `--iptables=false`, a bridge of its own) can answer, the same is run on it; where it cannot, the
case's docstring says why."""
import os

import docker

from compat import case, check


def client(b):
    return docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)


def ref():
    """The reference dockerd: (docker CLI function, docker-py client), or (None, None)."""
    import refdockerd
    d = refdockerd.docker()
    if d is None:
        return None, None
    return d, docker.DockerClient(base_url=refdockerd.env()["DOCKER_HOST"], version="auto", timeout=60)


def cli_mac_and_link_local(run):
    """`docker run --mac-address --link-local-ip` on a user-defined network: eth0's MAC and
    addresses, as the container sees them."""
    return run("run", "--rm", "--network", "nsmac", "--link-local-ip", "169.254.7.7",
               "busybox", "sh", "-c", "cat /sys/class/net/eth0/address; ip -4 -o addr show eth0")


@case
def netsettings_cli_mac_address_and_link_local_ip(b):
    """--mac-address and --link-local-ip through the docker CLI. The reference dockerd answers
    --link-local-ip; --mac-address it cannot (the CLI 28 sends the MAC per endpoint, which needs
    API 1.44, and the reference speaks 1.41)."""
    b.out("network", "create", "--subnet", "10.214.110.0/24", "nsmac")
    try:
        out = b.out("run", "--rm", "--network", "nsmac", "--mac-address", "02:ab:cd:00:00:07",
                    "busybox", "cat", "/sys/class/net/eth0/address")
        check(out == "02:ab:cd:00:00:07", f"--mac-address: eth0 has {out!r}")
        b.out("create", "--name", "nsmac1", "--network", "nsmac", "--mac-address",
              "02:ab:cd:00:00:08", "--link-local-ip", "169.254.7.8", "busybox", "true")
        got = b.out("inspect", "-f", "{{json .NetworkSettings.Networks.nsmac}}", "nsmac1")
        check('"MacAddress":"02:ab:cd:00:00:08"' in got, f"inspect: {got}")
        check('"IPAMConfig":{"LinkLocalIPs":["169.254.7.8"]}' in got, f"inspect: {got}")
        b.out("rm", "nsmac1")
        out = b.out("run", "--rm", "--network", "nsmac", "--link-local-ip", "169.254.7.7",
                    "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
        check("inet 169.254.7.7/16" in out, f"--link-local-ip: {out}")
        bad = b.docker("run", "--rm", "--network", "nsmac", "--mac-address", "zz:11", "busybox", "true")
        check(bad.returncode != 0, "a bad MAC was accepted")
    finally:
        b.docker("network", "rm", "nsmac")
    d, _ = ref()
    if d is None:
        return
    check(d("network", "create", "--subnet", "10.214.110.0/24", "nsmac").returncode == 0, "dockerd: network create")
    try:
        p = d("run", "--rm", "--network", "nsmac", "--link-local-ip", "169.254.7.7",
              "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
        check(b"inet 169.254.7.7/16" in p.stdout, f"dockerd: --link-local-ip: {p.stdout!r} {p.stderr!r}")
    finally:
        d("network", "rm", "nsmac")


@case
def netsettings_py_mac_link_local_and_sysctls(b):
    """docker-py: mac_address (Config.MacAddress), link_local_ips and driver_opt (the endpoint's
    sysctls) through create_endpoint_config; an endpoint option berth does not have is a 400.
    The same runs on the reference dockerd (API 1.41 takes Config.MacAddress and keeps
    DriverOpts), except the sysctl's effect: dockerd 20.10 predates endpoint sysctls (dockerd
    27), so there it is only shown back, not applied."""
    def run_on(c, what):
        c.networks.create("nspy", ipam=docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet="10.214.111.0/24")]))
        try:
            api = c.api
            ep = api.create_endpoint_config(link_local_ips=["169.254.9.9"], driver_opt={
                "com.docker.network.endpoint.sysctls": "net.ipv4.conf.IFNAME.log_martians=1"})
            cid = api.create_container(
                "busybox", ["sh", "-c", "cat /sys/class/net/eth0/address; ip -4 -o addr show eth0;"
                            " cat /proc/sys/net/ipv4/conf/eth0/log_martians"],
                mac_address="02:ab:cd:00:00:09",
                host_config=api.create_host_config(network_mode="nspy"),
                networking_config=api.create_networking_config({"nspy": ep}))["Id"]
            try:
                api.start(cid)
                check(api.wait(cid)["StatusCode"] == 0, f"{what}: exit")
                out = api.logs(cid).decode()
                lines = out.split("\n")
                check(lines[0] == "02:ab:cd:00:00:09", f"{what}: MAC: {out!r}")
                check("inet 169.254.9.9/16" in out, f"{what}: link-local: {out!r}")
                if what == "berth":
                    check(lines[-2] == "1", f"{what}: log_martians: {out!r}")
                net = api.inspect_container(cid)["NetworkSettings"]["Networks"]["nspy"]
                check(net["DriverOpts"] == {"com.docker.network.endpoint.sysctls":
                                            "net.ipv4.conf.IFNAME.log_martians=1"}, f"{what}: {net}")
            finally:
                api.remove_container(cid, force=True)
        finally:
            c.networks.get("nspy").remove()

    c = client(b)
    run_on(c, "berth")
    c.networks.create("nspy2")
    try:
        try:
            c.api.create_container("busybox", ["true"], host_config=c.api.create_host_config(network_mode="nspy2"),
                                   networking_config=c.api.create_networking_config(
                                       {"nspy2": c.api.create_endpoint_config(driver_opt={"com.example.x": "1"})}))
            check(False, "an unknown endpoint option was accepted")
        except docker.errors.APIError as e:
            check(e.status_code == 400 and "com.example.x" in str(e), f"want a 400 naming it: {e}")
    finally:
        c.networks.get("nspy2").remove()
    _, rc = ref()
    if rc is not None:
        run_on(rc, "dockerd")


@case
def netsettings_host_gateway(b):
    """--add-host name:host-gateway is the gateway's address, never the word, through the
    docker CLI and docker-py. Not compared with the reference dockerd yet."""
    b.out("network", "create", "--subnet", "10.214.112.0/24", "--gateway", "10.214.112.254", "nsgw")
    try:
        out = b.out("run", "--rm", "--network", "nsgw", "--add-host", "host.docker.internal:host-gateway",
                    "busybox", "cat", "/etc/hosts")
        check("10.214.112.254\thost.docker.internal" in out, f"user network: {out}")
        gw = b.out("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge")
        out = client(b).containers.run("busybox", ["cat", "/etc/hosts"], remove=True,
                                       extra_hosts={"gw": "host-gateway"}).decode()
        check(f"{gw}\tgw" in out and "host-gateway" not in out, f"default bridge ({gw}): {out}")
    finally:
        b.docker("network", "rm", "nsgw")


def create_options_net(run, bridge):
    return run("network", "create", "--subnet", "10.214.113.0/24", "--aux-address", "router=10.214.113.2",
               "-o", "com.docker.network.driver.mtu=1400", "-o", f"com.docker.network.bridge.name={bridge}",
               "nsopt")


@case
def netsettings_network_create_options(b):
    """docker network create -o (bridge name, MTU) and --aux-address through the docker CLI,
    then docker-py's options and aux_addresses; the same on the reference dockerd. An option
    berth does not act on is refused by name (dockerd accepts
    com.docker.network.bridge.inhibit_ipv4: the difference is berth's, stated)."""
    bridge = f"bnc{os.getpid() % 100000}"
    script = "cat /sys/class/net/eth0/mtu; ip -4 -o addr show eth0"

    def check_on(run, what):
        p = create_options_net(run, bridge)
        check(p.returncode == 0, f"{what}: network create: {p.stderr!r}")
        try:
            check(os.path.exists(f"/sys/class/net/{bridge}"), f"{what}: no bridge {bridge}")
            p = run("run", "--rm", "--network", "nsopt", "busybox", "sh", "-c", script)
            out = p.stdout.decode()
            check(out.startswith("1400\n") and "inet 10.214.113.3/24" in out, f"{what}: {out!r} {p.stderr!r}")
            p = run("network", "inspect", "-f", "{{json .IPAM.Config}}", "nsopt")
            check(b'"AuxiliaryAddresses":{"router":"10.214.113.2"}' in p.stdout, f"{what}: {p.stdout!r}")
        finally:
            run("network", "rm", "nsopt")

    check_on(b.docker, "berth")
    d, rc = ref()
    if d is not None:
        check_on(d, "dockerd")
    p = b.docker("network", "create", "-o", "com.docker.network.bridge.inhibit_ipv4=true", "nsbad")
    check(p.returncode != 0 and b"inhibit_ipv4: berth does not support it" in p.stderr,
          f"an option berth does not act on: {p.returncode} {p.stderr!r}")

    def py_on(c, what):
        n = c.networks.create("nspyopt", options={"com.docker.network.driver.mtu": "1400"},
                              ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
                                  subnet="10.214.114.0/24", aux_addresses={"r": "10.214.114.2"})]))
        try:
            out = c.containers.run("busybox", ["sh", "-c", script], network="nspyopt", remove=True).decode()
            check(out.startswith("1400\n") and "inet 10.214.114.3/24" in out, f"{what}: {out!r}")
        finally:
            n.remove()

    py_on(client(b), "berth")
    if rc is not None:
        py_on(rc, "dockerd")
