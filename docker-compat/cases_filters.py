"""Issue 17: the prunes' filters, the list and event filters that were dropped, and behaviours
found wrong against dockerd (State.Health before the first probe, wait on a container with a
restart policy, commit's config and Parent, volume prune's list). Each case runs the same steps
on berth and on the reference dockerd (refdockerd) where that dockerd can answer."""
import json
import time

import docker as dockerpy

import refdockerd
from compat import case, check


def engines(b):
    return refdockerd.engines(b)


def out(p):
    return p.stdout.decode().strip()


@case
def i17_prune_filters_until_label_not_and_unknown_keys(b):
    for name, docker, _ in engines(b):
        ids = [out(docker("create", "--label", f"k17={v}", "busybox", "true")) for v in ("keep", "go")]
        try:
            p = docker("container", "prune", "-f", "--filter", "until=24h")
            check(p.returncode == 0, f"{name}: prune until: {p.stderr!r}")
            left = out(docker("ps", "-aq", "--no-trunc", "--filter", "label=k17"))
            check(all(i in left for i in ids), f"{name}: until=24h removed a new container: {left!r}")
            p = docker("container", "prune", "-f", "--filter", "label!=k17=keep", "--filter", "label=k17")
            check(p.returncode == 0, f"{name}: prune label!: {p.stderr!r}")
            left = out(docker("ps", "-aq", "--no-trunc", "--filter", "label=k17")).split()
            check(left == [ids[0]], f"{name}: label!=k17=keep: expected only {ids[0]} left, got {left}")
            for what in ("container", "image", "volume", "network"):
                p = docker(what, "prune", "-f", "--filter", "foo=x")
                # The reference dockerd (20.10) writes "Invalid filter"; moby now (and berth) lowercase.
                check(p.returncode != 0 and b"invalid filter 'foo'" in p.stderr.lower(),
                      f"{name}: {what} prune foo=x: {p.returncode} {p.stderr!r}")
        finally:
            docker("rm", "-f", *ids)


@case
def i17_volume_prune_lists_nothing_as_an_empty_list(b):
    for name, _, client in engines(b):
        r = client.volumes.prune(filters={"label": "nothing17"})
        check(r.get("VolumesDeleted") == [], f"{name}: VolumesDeleted: {r!r}")


@case
def i17_health_is_starting_before_the_first_probe(b):
    for name, docker, _ in engines(b):
        cid = out(docker("run", "-d", "--network", "none", "--health-cmd", "sleep 30", "--health-interval", "60s",
                         "--health-timeout", "50s", "busybox", "sleep", "60"))
        try:
            health = json.loads(out(docker("inspect", "-f", "{{json .State.Health}}", cid)))
            check(health == {"Status": "starting", "FailingStreak": 0, "Log": []},
                  f"{name}: State.Health right after start: {health!r}")
        finally:
            docker("rm", "-f", cid)


@case(timeout=90)
def i17_py_restart_policy_create_start_wait_remove(b):
    for name, _, client in engines(b):
        api = client.api
        c = api.create_container("busybox", ["sleep", "1"], host_config=api.create_host_config(
            restart_policy={"Name": "always", "MaximumRetryCount": 0}, network_mode="none"))
        try:
            api.start(c["Id"])
            t = time.time()
            res = api.wait(c["Id"], timeout=20)
            check(res["StatusCode"] == 0 and time.time() - t < 15, f"{name}: wait: {res!r}")
            policy = api.inspect_container(c["Id"])["HostConfig"]["RestartPolicy"]
            check(policy["Name"] == "always", f"{name}: policy {policy!r}")
            try:
                api.remove_container(c["Id"])
                check(False, f"{name}: remove of a restarting container succeeded")
            except dockerpy.errors.APIError as e:
                check("stop the container before" in str(e.explanation).lower(), f"{name}: {e}")
        finally:
            api.remove_container(c["Id"], force=True)


@case
def i17_py_commit_with_conf(b):
    for name, docker, client in engines(b):
        ctr = client.containers.run("busybox", ["sh", "-c", "echo hi > /f"], detach=True,
                                    environment=["FROM_CONTAINER=1"], network_mode="none")
        try:
            ctr.wait(timeout=20)
            img = ctr.commit(repository="commit17", tag="t", conf={"Cmd": ["cat", "/f"], "Env": ["FROM_CONF=1"]})
            cfg = img.attrs["Config"]
            check(cfg["Cmd"] == ["cat", "/f"], f"{name}: Cmd {cfg['Cmd']!r}")
            check("FROM_CONF=1" in cfg["Env"] and "FROM_CONTAINER=1" in cfg["Env"], f"{name}: Env {cfg['Env']!r}")
            out_ = client.containers.run("commit17:t", remove=True, network_mode="none")
            check(out_ == b"hi\n", f"{name}: the committed image's run: {out_!r}")
            parent = img.attrs.get("Parent", "")
            if name == "berth":
                check(parent == client.images.get("busybox").id, f"{name}: Parent {parent!r}")
        finally:
            ctr.remove(force=True)
            docker("rmi", "commit17:t")


@case
def i17_ps_filter_volume_and_events_until(b):
    for name, docker, _ in engines(b):
        cid = out(docker("create", "--network", "none", "-v", "v17:/data", "busybox", "true"))
        other = out(docker("create", "--network", "none", "busybox", "true"))
        try:
            for f in ("volume=v17", "volume=/data"):
                got = out(docker("ps", "-aq", "--no-trunc", "--filter", f)).split()
                check(got == [cid], f"{name}: ps --filter {f}: {got}")
            p = docker("events", "--until", str(int(time.time()) + 1), "--filter", f"container={cid}",
                       "--format", "{{.Action}}")
            check("create" in out(p).split(), f"{name}: events --until without --since: {out(p)!r} {p.stderr!r}")
        finally:
            docker("rm", "-f", cid, other)
            docker("volume", "rm", "v17")


@case
def i17_ps_filter_publish_expose(b):
    # Berth only: the reference dockerd runs with --iptables=false, so it publishes no port.
    cid = b.out("run", "-d", "-p", "127.0.0.1:18117:80", "--expose", "9090/udp", "busybox", "sleep", "60")
    try:
        for f, want in [("publish=18117", [cid]), ("publish=80", []), ("expose=80", [cid]),
                        ("expose=9000-9100/udp", [cid]), ("expose=9090", [])]:
            got = b.out("ps", "-q", "--no-trunc", "--filter", f).split()
            check(got == want, f"ps --filter {f}: expected {want}, got {got}")
    finally:
        b.docker("rm", "-f", cid)


@case
def i17_py_sparse_list_entry_kill_and_remove(b):
    """docker-py's sequence: a container from a sparse list entry (`list(sparse=True)`), killed
    and removed at once. The removal used to meet a 409, as kill answered before the exit was
    recorded; kill with SIGKILL now answers once it is."""
    for name, docker, client in engines(b):
        cid = out(docker("run", "-d", "--label", "sparse17=1", "busybox", "sleep", "100"))
        try:
            entries = client.containers.list(sparse=True, filters={"label": "sparse17=1"})
            check(len(entries) == 1 and entries[0].id == cid, f"{name}: sparse list: {entries}")
            entries[0].kill()
            entries[0].remove()
            left = out(docker("ps", "-aq", "--no-trunc", "--filter", "label=sparse17=1"))
            check(left == "", f"{name}: the container is still there: {left!r}")
        finally:
            docker("rm", "-f", cid)
            client.close()
