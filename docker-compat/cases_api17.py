"""Issue 17, points 2 and 3: what berth answers for swarm and plugins (as a dockerd outside a
swarm, with no plugin installed), `docker system df` and `docker system prune`, search, and the
API version, through the real docker CLI; each compared with the suite's reference dockerd."""
from compat import case, check

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 'to connect this node to swarm and try again.')


def both(b):
    """(name, run) for berth and, where dockerd is installed, the reference dockerd."""
    import refdockerd
    engines = [("berth", lambda *a: b.docker(*a))]
    d = refdockerd.docker()
    if d is not None:
        engines.append(("dockerd", d))
    return engines


@case
def api17_swarm_answers_as_outside_a_swarm(b):
    for name, docker in both(b):
        p = docker("swarm", "leave", "--force")
        err = p.stderr.decode()
        check(p.returncode == 1 and "This node is not part of a swarm" in err,
              f"{name}: swarm leave --force: exit {p.returncode}, {err!r}")
        for args in [("node", "ls"), ("service", "ls"), ("secret", "ls"), ("config", "ls")]:
            p = docker(*args)
            err = p.stderr.decode()
            check(p.returncode == 1 and NOT_A_MANAGER in err,
                  f"{name}: docker {' '.join(args)}: exit {p.returncode}, {err!r}")


@case
def api17_plugins_none_installed(b):
    for name, docker in both(b):
        p = docker("plugin", "ls")
        out = p.stdout.decode().split("\n")
        check(p.returncode == 0 and out[0].split() == ["ID", "NAME", "DESCRIPTION", "ENABLED"]
              and not any(line.strip() for line in out[1:]),
              f"{name}: plugin ls: exit {p.returncode}, {p.stdout!r} {p.stderr!r}")
        p = docker("plugin", "inspect", "foo")
        check(p.returncode == 1 and 'plugin "foo" not found' in p.stderr.decode(),
              f"{name}: plugin inspect foo: exit {p.returncode}, {p.stderr!r}")


@case
def api17_system_df_and_prune(b):
    for name, docker in both(b):
        p = docker("system", "df")
        rows = [line.split()[0] for line in p.stdout.decode().splitlines()[1:] if line.strip()]
        check(p.returncode == 0 and rows == ["Images", "Containers", "Local", "Build"],
              f"{name}: system df: exit {p.returncode}, {p.stdout!r} {p.stderr!r}")
        p = docker("system", "df", "-v")
        out = p.stdout.decode()
        check(p.returncode == 0 and "Images space usage:" in out and "Build cache usage: 0B" in out,
              f"{name}: system df -v: exit {p.returncode}, {out!r} {p.stderr!r}")
        p = docker("builder", "prune", "-f")
        check(p.returncode == 0 and "Total reclaimed space: 0B" in p.stdout.decode(),
              f"{name}: builder prune -f: exit {p.returncode}, {p.stdout!r} {p.stderr!r}")
    # berth's df counts what it has: one container more, and busybox in use. Earlier cases of
    # the run may have left images and containers, so the counts are compared with before.
    def df():
        out = b.out("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
        return {line.rsplit(" ", 2)[0]: tuple(int(n) for n in line.rsplit(" ", 2)[1:])
                for line in out.splitlines()}, out
    before, _ = df()
    b.out("create", "--name", "df17", "busybox", "true")
    try:
        after, out = df()
        check(after["Containers"][0] == before["Containers"][0] + 1
              and after["Images"][0] >= 1 and after["Images"][1] >= 1,
              f"berth system df before {before}, after a create: {out!r}")
        p = b.docker("system", "prune", "-f")
        check(p.returncode == 0 and "Total reclaimed space" in p.stdout.decode(),
              f"berth system prune -f: exit {p.returncode}, {p.stdout!r} {p.stderr!r}")
        check(b.out("ps", "-aq", "--filter", "name=df17") == "", "prune left the stopped container")
    finally:
        b.docker("rm", "-f", "df17")


@case
def api17_search_and_version(b):
    p = b.docker("search", "busybox")
    check(p.returncode == 1 and "berth has no registry index to search" in p.stderr.decode(),
          f"berth: search: exit {p.returncode}, {p.stderr!r}")
    # dockerd asks Docker Hub's index, unreachable here: it fails too (another message).
    out = b.out("version", "--format", "{{.Server.APIVersion}}")
    check(out == "1.50", f"berth's server API version: {out!r}")
