"""The suite's reference dockerd: one per run, started at the first case that asks for it
(`docker = refdockerd.docker()`), with busybox:latest imported, and stopped when the run ends
(`close()`, called by compat.main). A case compares berth's answer with this dockerd's. Each
case removes what it made on it. Where dockerd is not installed the case fails in CI (no silent
skips) and is skipped elsewhere (`docker()` returns None)."""
import os
import shutil
import subprocess

from compat import check

_dockerd = None


def docker():
    """A function running the docker CLI against the reference dockerd: docker(*args,
    input=None) -> CompletedProcess (bytes); None where dockerd is not installed outside CI."""
    global _dockerd
    if shutil.which("dockerd") is None:
        check(os.environ.get("CI") != "true", "dockerd is not installed (scripts/install-deps.sh installs docker.io)")
        return None
    if _dockerd is None:
        from bench import Dockerd
        import compat
        d = Dockerd()
        _dockerd = d
        p = run(d, "import", "-", "busybox:latest", input=compat.busybox_tar())
        check(p.returncode == 0, f"dockerd: import: {p.stderr!r}")
    return lambda *args, input=None: run(_dockerd, *args, input=input)


def env():
    """The environment (DOCKER_HOST) of the reference dockerd, for docker-py or compose; start it
    with docker() first."""
    return _dockerd.env


def engines(b):
    """(name, docker CLI function, docker-py client) for berth and, where installed, the
    reference dockerd: the same steps run on each."""
    import docker as dockerpy
    out = [("berth", lambda *a, input=None: b.docker(*a, input=input),
            dockerpy.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60))]
    ref = docker()
    if ref is not None:
        out.append(("dockerd", ref, dockerpy.DockerClient(
            base_url=env()["DOCKER_HOST"], version="auto", timeout=60)))
    return out


def run(d, *args, input=None):
    return subprocess.run(["docker", *args], env=d.env, input=input, capture_output=True, timeout=120)


def close():
    global _dockerd
    if _dockerd is not None:
        _dockerd.close()
        _dockerd = None
