"""Legacy links (issue 17), through the docker CLI and docker-py: `--link` on the default bridge
gives /etc/hosts lines and moby's variables, inspect shows `/db:/web/alias`, `docker rm --link`
removes one, a link to no container and a container's own name are refused with dockerd's
words. What needs the default bridge (the hosts lines and variables) runs on berth only (the
reference dockerd's default bridge was absent when these were written: not compared yet); the rest (create, inspect, rm --link and
the errors, with `--network none`, where dockerd registers links too) runs on both."""
import subprocess

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


def check_link_effects(out, ip, web, what):
    for want in [f"DATABASE_PORT=tcp://{ip}:6379", f"DATABASE_PORT_6379_TCP_ADDR={ip}",
                 "DATABASE_PORT_6379_TCP_PROTO=tcp", f"DATABASE_NAME=/{web}/database",
                 "DATABASE_ENV_PASSWORD=secret", f"{ip}\tdatabase dbhost lkdb"]:
        check(want in out.splitlines(), f"{what}: {want!r} missing in:\n{out}")
    check("DATABASE_ENV_PATH=" not in out, f"{what}: PATH passed on:\n{out}")


@case
def links_cli_default_bridge(b):
    """`docker run --link lkdb:database` on the default bridge: the variables and the hosts
    line, from inside the container. Berth only (not compared with the reference dockerd yet)."""
    b.out("run", "-d", "--name", "lkdb", "--hostname", "dbhost", "-e", "PASSWORD=secret",
          "--expose", "6379", "busybox", "sleep", "60")
    try:
        ip = b.out("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "lkdb")
        out = b.out("run", "--rm", "--name", "lkweb", "--link", "lkdb:database", "busybox",
                    "sh", "-c", "env; cat /etc/hosts")
        check_link_effects(out, ip, "lkweb", "docker run --link")
        # The link is there while the container runs: exec sees the variables too.
        b.out("run", "-d", "--name", "lkweb2", "--link", "lkdb:database", "busybox", "sleep", "60")
        out = b.out("exec", "lkweb2", "env")
        check(f"DATABASE_PORT=tcp://{ip}:6379" in out.splitlines(), f"exec env: {out}")
        b.out("rm", "--link", "/lkweb2/database")
        hosts = b.out("exec", "lkweb2", "cat", "/etc/hosts")
        check("database" not in hosts, f"rm --link left the hosts line:\n{hosts}")
    finally:
        b.docker("rm", "-f", "lkweb2", "lkdb")


def links_registry(run, what):
    """create, inspect, rm --link and the refusals, with `--network none`: (a list of
    failures)."""
    bad = []
    run("create", "--name", "lkrdb", "busybox", "true")
    try:
        p = run("create", "--name", "lkrweb", "--network", "none", "--link", "lkrdb:db",
                "busybox", "true")
        if p.returncode != 0:
            return [f"{what}: create --link: {p.stderr!r}"]
        links = run("inspect", "-f", "{{json .HostConfig.Links}}", "lkrweb").stdout.strip()
        if links != b'["/lkrdb:/lkrweb/db"]':
            bad.append(f"{what}: inspect Links {links!r}")
        p = run("rm", "--link", "/lkrweb/db")
        if p.returncode != 0:
            bad.append(f"{what}: rm --link: {p.stderr!r}")
        links = run("inspect", "-f", "{{json .HostConfig.Links}}", "lkrweb").stdout.strip()
        if links != b"null":
            bad.append(f"{what}: inspect Links after rm --link {links!r}")
        if run("inspect", "-f", "{{.Name}}", "lkrdb").stdout.strip() != b"/lkrdb":
            bad.append(f"{what}: rm --link removed the linked container")
        p = run("create", "--link", "lknope:x", "busybox", "true")
        if b"could not get container for lknope" not in p.stderr:
            bad.append(f"{what}: link to no container: {p.stderr!r}")
        p = run("rm", "--link", "lkrdb")
        if b"Conflict, cannot remove the default link name of the container" not in p.stderr:
            bad.append(f"{what}: rm --link of a name: {p.stderr!r}")
    finally:
        run("rm", "-f", "lkrweb", "lkrdb")
    return bad


@case
def links_cli_inspect_and_rm_link(b):
    """HostConfig.Links in inspect, `docker rm --link` and dockerd's errors, the same on berth
    and on the reference dockerd."""
    bad = links_registry(b.docker, "berth")
    d, _ = ref()
    if d is not None:
        bad += links_registry(d, "dockerd")
    check(not bad, "\n".join(bad))


@case
def links_py(b):
    """docker-py: `links={"lkpdb": "database"}` gives the variables and hosts line (berth only); `remove_container("/web/alias", link=True)` removes
    the link (both, on containers made with `network_mode="none"`)."""
    c = client(b)
    db = c.containers.run("busybox", ["sleep", "60"], name="lkdb", hostname="dbhost",
                          environment=["PASSWORD=secret"], ports={"6379/tcp": None},
                          publish_all_ports=False, detach=True)
    try:
        db.reload()
        ip = db.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        out = c.containers.run("busybox", ["sh", "-c", "env; cat /etc/hosts"], name="lkpweb",
                               links={"lkdb": "database"}, remove=True).decode()
        check_link_effects(out, ip, "lkpweb", "docker-py links=")
    finally:
        db.remove(force=True)

    def rm_link(c, what):
        c.containers.create("busybox", ["true"], name="lkpdb")
        try:
            web = c.containers.create("busybox", ["true"], name="lkpweb2", network_mode="none",
                                      links={"lkpdb": "db"})
            web.reload()
            check(web.attrs["HostConfig"]["Links"] == ["/lkpdb:/lkpweb2/db"],
                  f"{what}: Links {web.attrs['HostConfig']['Links']}")
            c.api.remove_container("/lkpweb2/db", link=True)
            web.reload()
            check(web.attrs["HostConfig"]["Links"] is None,
                  f"{what}: Links after the removal {web.attrs['HostConfig']['Links']}")
        finally:
            for n in ("lkpweb2", "lkpdb"):
                try:
                    c.containers.get(n).remove(force=True)
                except docker.errors.NotFound:
                    pass

    rm_link(c, "berth")
    _, rc = ref()
    if rc is not None:
        rm_link(rc, "dockerd")


@case
def links_cli_ps_shows_link_names(b):
    """`docker ps` lists a linked container's link name beside its own: `lkpsdb` by default (the
    CLI keeps the name without a slash), `lkpsdb,lkpsweb/database` with --no-trunc, on berth
    and on the reference dockerd; gone once the linking container is removed."""
    d, _ = ref()
    engines = [("berth", lambda *a: subprocess.run(["docker", *a], env=b.env, capture_output=True))]
    if d is not None:
        engines.append(("dockerd", d))
    for who, run in engines:
        def out(*a):
            p = run(*a)
            check(p.returncode == 0, f"{who}: docker {' '.join(a)}: {p.stderr!r}")
            return p.stdout.decode().strip()
        out("run", "-d", "--name", "lkpsdb", "busybox", "sleep", "60")
        try:
            out("create", "--name", "lkpsweb", "--link", "lkpsdb:database", "busybox", "true")
            names = lambda *flags: out("ps", "-a", *flags, "--filter", "name=lkpsdb", "--format", "{{.Names}}")
            check(names() == "lkpsdb", f"{who}: default listing: {names()!r}")
            full = names("--no-trunc")
            check(sorted(full.split(",")) == ["lkpsdb", "lkpsweb/database"], f"{who}: --no-trunc: {full!r}")
            out("rm", "lkpsweb")
            check(names("--no-trunc") == "lkpsdb", f"{who}: after rm of the linking container")
        finally:
            run("rm", "-f", "lkpsweb", "lkpsdb")
