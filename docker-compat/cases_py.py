"""The same engine through docker-py (7.1), the Python client."""
import docker

from compat import case, check


def client(b):
    return docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)


@case
def py_run_remove(b):
    c = client(b)
    before = {x.id for x in c.containers.list(all=True)}
    out = c.containers.run("busybox", "echo hello from py", remove=True)
    check(out == b"hello from py\n", repr(out))
    check({x.id for x in c.containers.list(all=True)} == before, "remove=True left a container")


@case
def py_detached_life_cycle(b):
    c = client(b)
    ctr = c.containers.run("busybox", ["sh", "-c", "echo ready; sleep 1000"], detach=True, name="pyc", labels={"a": "b"})
    ctr.reload()
    check(ctr.status == "running", ctr.status)
    check([x.name for x in c.containers.list(filters={"label": "a=b"})] == ["pyc"], "label filter")
    ctr.kill()
    res = ctr.wait(timeout=20)
    check(res["StatusCode"] == 137, str(res))
    check(b"ready" in ctr.logs(), repr(ctr.logs()))
    ctr.remove()
