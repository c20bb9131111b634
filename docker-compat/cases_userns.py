"""User namespaces (issue 23) through the docker CLI and docker-py: a berth whose default is a
private user namespace (`BERTH_USERNS_REMAP=auto`), `--userns=host` opting out, `docker info`'s
`name=userns`, dockerd's refusal of --privileged, and `docker cp` / `docker commit` round trips
that keep the container's own ids. The reference dockerd runs without --userns-remap: the
opt-out is compared with it; the private default has no counterpart there."""
import io
import os
import shutil
import tarfile
import tempfile
import time

import docker

import refdockerd
from compat import case, check


def private_berth(b):
    """Another berth whose containers get a user namespace of their own by default."""
    from compat import Berth, busybox_tar
    other = Berth(b.binary, extra_env={"BERTH_USERNS_REMAP": "auto"})
    other.docker("import", "-", "busybox:latest", input=busybox_tar(), check_rc=0)
    return other


def words(s):
    return s.split()


@case
def userns_private_by_default_and_host_opts_out(b):
    other = private_berth(b)
    try:
        out = other.out("run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map")
        lines = out.splitlines()
        check(lines[0] == "0", f"root inside: {out!r}")
        m = words(lines[1])
        check(m[0] == "0" and int(m[1]) >= 100000 and m[2] == "65536",
              f"expected root mapped to a range of 65536 ids from 100000 up: {out!r}")
        host = other.out("run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map")
        check(words(host) == ["0", "0", "4294967295"], f"--userns=host: {host!r}")
        d = refdockerd.docker()
        if d is not None:
            p = d("run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map")
            check(p.returncode == 0 and words(p.stdout.decode()) == words(host),
                  f"dockerd --userns=host: {p.stdout!r} {p.stderr!r}")
        sec = other.out("info", "--format", "{{json .SecurityOptions}}")
        check("name=userns" in sec, f"docker info's security options: {sec}")
        p = other.docker("run", "--rm", "--privileged", "busybox", "true")
        err = p.stderr.decode()
        check(p.returncode == 125 and "privileged mode is incompatible with user namespaces.  "
              "You must run the container in the host namespace when running privileged mode" in err,
              f"--privileged with the private default: exit {p.returncode}, {err!r}")
        out = other.out("run", "--rm", "--privileged", "--userns=host", "busybox", "echo", "ok")
        check(out == "ok", f"--privileged --userns=host: {out!r}")
        # The docker CLI itself refuses any other value, for dockerd and berth alike.
        p = other.docker("run", "--rm", "--userns=private", "busybox", "true")
        check(p.returncode != 0 and "invalid USER mode" in p.stderr.decode(), f"{p.stderr!r}")
    finally:
        other.close()


@case
def userns_cp_and_commit_round_trips_keep_the_containers_ids(b):
    other = private_berth(b)
    tmp = tempfile.mkdtemp(prefix="berth-compat-userns-")
    try:
        other.out("run", "-d", "--name", "ids", "busybox", "sh", "-c",
                  "echo a > /f && chown 1000:1000 /f && touch /ready && sleep 1000")
        for _ in range(200):
            if other.docker("exec", "ids", "test", "-f", "/ready").returncode == 0:
                break
        # `docker cp ... -` writes the tar itself (a copy to a host path is owned by the caller).
        engines = [("berth", other.docker)]
        d = refdockerd.docker()
        if d is not None:
            engines.append(("dockerd", d))
            d("run", "-d", "--name", "berth-compat-ids", "busybox", "sh", "-c",
              "echo a > /f && chown 1000:1000 /f && sleep 1000")
        try:
            for name, run in engines:
                ctr = "ids" if name == "berth" else "berth-compat-ids"
                owner = None
                for _ in range(100):
                    p = run("cp", f"{ctr}:/f", "-")
                    if p.returncode == 0:
                        with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
                            m = t.getmember("f")
                            owner = (m.uid, m.gid)
                        if owner == (1000, 1000):
                            break
                    time.sleep(0.05)
                check(owner == (1000, 1000), f"{name}: docker cp out: the container's 1000, got {owner}")
        finally:
            if d is not None:
                d("rm", "-f", "berth-compat-ids")
        with open(os.path.join(tmp, "g"), "w") as f:
            f.write("g\n")
        os.chown(os.path.join(tmp, "g"), 4321, 4321)
        other.out("cp", os.path.join(tmp, "g"), "ids:/g")
        owner = other.out("exec", "ids", "stat", "-c", "%u:%g", "/g")
        check(owner == "0:0", f"docker cp in: owned by the container's root, got {owner}")
        other.out("commit", "ids", "userns-committed")
        out = other.out("run", "--rm", "--userns=host", "userns-committed",
                        "stat", "-c", "%u:%g", "/f", "/g")
        check(out.splitlines() == ["1000:1000", "0:0"],
              f"the committed image without a user namespace: {out!r}")
    finally:
        other.close()
        shutil.rmtree(tmp, ignore_errors=True)


@case
def userns_docker_py_userns_mode(b):
    """docker-py's `userns_mode` ("host", the only value it sends) on the private berth, and the
    raw HostConfig.UsernsMode "private" on the suite's berth, whose default is the host's."""
    other = private_berth(b)
    try:
        c = docker.DockerClient(base_url="unix://" + other.sock, version="1.41")
        try:
            out = c.containers.run("busybox", ["cat", "/proc/self/uid_map"], userns_mode="host",
                                   remove=True).decode()
            check(words(out) == ["0", "0", "4294967295"], f"userns_mode=host: {out!r}")
            ctr = c.containers.create("busybox", ["true"], userns_mode="host")
            check(ctr.attrs["HostConfig"]["UsernsMode"] == "host", f"{ctr.attrs['HostConfig']}")
            ctr.remove()
        finally:
            c.close()
    finally:
        other.close()
    api = docker.APIClient(base_url="unix://" + b.sock, version="1.41")
    try:
        r = api._post_json(api._url("/containers/create"), data={
            "Image": "busybox", "Cmd": ["cat", "/proc/self/uid_map"],
            "HostConfig": {"UsernsMode": "private"}})
        check(r.status_code == 201, f"{r.status_code} {r.text}")
        cid = r.json()["Id"]
        api.start(cid)
        api.wait(cid)
        out = api.logs(cid).decode()
        api.remove_container(cid)
        m = words(out)
        check(m[0] == "0" and int(m[1]) >= 100000 and m[2] == "65536",
              f"UsernsMode private on a berth whose default is the host's: {out!r}")
    finally:
        api.close()


@case
def userns_boundary_battery_in_a_private_namespace(b):
    """The container-boundary cases of cases_hardening, on a berth whose containers are private
    (the same checks; the reference dockerd runs them in boundary_dockerd_does_the_same)."""
    import cases_hardening as h
    other = private_berth(b)
    try:
        h._check_symlinked_hostname(other.docker, "berth (userns)")
        h._check_proc_symlink_refused(other.docker, "berth (userns)")
        h._check_workdir_through_fd_refused(other.docker, "berth (userns)")
        h._check_inheritable_caps_empty(other.docker, "berth (userns)")
    finally:
        other.close()
