"""docker login (POST /auth) against Debian's docker-registry behind htpasswd, through the
docker CLI, on berth and on the reference dockerd: a good password logs in, a wrong one is
refused with the registry's 401, and the credentials the CLI keeps then push and pull a private
image. The CLI's credentials go to a config directory of the case's own (DOCKER_CONFIG), never
the host's."""
import os
import shutil
import subprocess
import tempfile

from cases_images import Registry
from compat import Failed, case, check


def htpasswd_registry(tmp):
    try:
        import bcrypt
    except ImportError:
        raise Failed("python bcrypt is not installed (scripts/install-deps.sh installs it)")
    if shutil.which("docker-registry") is None:
        raise Failed("docker-registry is not installed (scripts/install-deps.sh installs it)")
    path = os.path.join(tmp, "htpasswd")
    with open(path, "w") as f:
        f.write("alice:" + bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode() + "\n")
    return Registry(htpasswd=path)


@case
def login_push_pull_private_image(b):
    import refdockerd
    tmp = tempfile.mkdtemp(prefix="berth-compat-login-")
    reg = htpasswd_registry(tmp)
    try:
        engines = []
        if refdockerd.docker() is not None:
            engines.append(("dockerd", refdockerd.env()))
        engines.append(("berth", b.env))
        for who, env in engines:
            env = dict(env, DOCKER_CONFIG=os.path.join(tmp, "config-" + who))

            def docker(*args, input=None):
                return subprocess.run(["docker", *args], env=env, input=input, capture_output=True)

            p = docker("login", "-u", "alice", "--password-stdin", reg.host, input=b"wrong\n")
            check(p.returncode == 1 and b"401 Unauthorized" in p.stderr,
                  f"{who}: a wrong password: expected the registry's 401, got {p!r}")
            p = docker("login", "-u", "alice", "--password-stdin", reg.host, input=b"s3cret\n")
            check(p.returncode == 0 and b"Login Succeeded" in p.stdout, f"{who}: login: {p!r}")
            ref = f"{reg.host}/private/{who}:1"
            check(docker("tag", "busybox", ref).returncode == 0, f"{who}: tag")
            try:
                p = docker("push", ref)
                check(p.returncode == 0 and b"digest: sha256:" in p.stdout, f"{who}: push after login: {p!r}")
                docker("rmi", ref)
                p = docker("pull", ref)
                check(p.returncode == 0, f"{who}: pull after login: {p!r}")
                p = docker("logout", reg.host)
                check(p.returncode == 0, f"{who}: logout: {p!r}")
                docker("rmi", ref)
                p = docker("pull", ref)
                check(p.returncode != 0 and b"no basic auth credentials" in p.stderr,
                      f"{who}: pull after logout: expected the registry's refusal, got {p!r}")
            finally:
                docker("rmi", "-f", ref)
    finally:
        reg.close()
        shutil.rmtree(tmp, ignore_errors=True)
