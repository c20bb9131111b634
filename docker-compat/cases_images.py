"""Images through the real docker CLI and docker-py: save | load (also into a real dockerd),
import, export | import, commit, tag, rmi, images with filters, history, diff, prune, and pull
and push through Debian's docker-registry on 127.0.0.1."""
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

import docker

from compat import Failed, case as register, check


def case(fn):
    """A case that removes the containers it made (later cases count containers)."""
    def run(b):
        before = set(b.out("ps", "-aq", "--no-trunc").split())
        try:
            fn(b)
        finally:
            made = set(b.out("ps", "-aq", "--no-trunc").split()) - before
            if made:
                b.docker("rm", "-f", *made)
    run.__name__ = fn.__name__
    return register(run)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    """`docker-registry serve` on 127.0.0.1:<free port>, storage in a temp dir."""

    def __init__(self, htpasswd=None):
        """`htpasswd`: a file of bcrypt logins the registry asks for (basic auth), or None."""
        self.htpasswd = htpasswd
        self.tmp = tempfile.mkdtemp(prefix="berth-compat-registry-")
        # A port found free may be taken before the registry binds it: then it exits, try another.
        for _ in range(5):
            if self.try_port(free_port()):
                return
        shutil.rmtree(self.tmp, ignore_errors=True)
        raise Failed("docker-registry did not come up")

    def try_port(self, port):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        cfg = os.path.join(self.tmp, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self.tmp}/storage\nhttp:\n  addr: {self.host}\n")
            if self.htpasswd:
                f.write(f"auth:\n  htpasswd:\n    realm: berth-compat\n    path: {self.htpasswd}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2) as r:
                    if r.headers.get("Docker-Distribution-Api-Version"):
                        return True
            except urllib.error.HTTPError as e:
                if e.headers.get("Docker-Distribution-Api-Version"):
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        return False

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def need_registry():
    if shutil.which("docker-registry") is None:
        raise Failed("docker-registry is not installed (scripts/install-deps.sh installs it)")
    return Registry()


def committed(b, name, script, target):
    """Run `script` in a busybox container `name`, then commit it as `target`."""
    b.out("run", "--name", name, "busybox", "sh", "-c", script)
    return b.out("commit", name, target)


def image_id(b, ref):
    return b.out("image", "inspect", "--format", "{{.Id}}", ref)


@case
def images_save_load_round_trip(b):
    committed(b, "sv1", "echo two > /two", "saved:1")
    want = image_id(b, "saved:1")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "saved.tar")
        b.out("save", "-o", path, "saved:1", "busybox:latest")
        with tarfile.open(path) as t:
            names = t.getnames()
            manifest = json.load(t.extractfile("manifest.json"))
        check("repositories" in names and "index.json" in names, f"archive files {names}")
        tags = sorted(tag for m in manifest for tag in m["RepoTags"])
        check(tags == ["busybox:latest", "saved:1"], f"RepoTags {tags}")
        b.out("rm", "sv1")
        b.out("rmi", "saved:1")
        out = b.out("load", "-i", path)
        check("Loaded image: saved:1" in out, out)
        check(image_id(b, "saved:1") == want, "the loaded image has another id")
        check(b.out("run", "--rm", "saved:1", "cat", "/two") == "two", "the layer's file")
        # save | load through pipes too
        data = b.docker("save", "saved:1", check_rc=0).stdout
        b.out("rmi", "saved:1")
        check("Loaded image: saved:1" in b.out("load", input=data), "load from stdin")


@case
def images_save_loads_into_dockerd(b):
    if shutil.which("dockerd") is None:
        # No silent skips in CI: there the dockerd half is required (install-deps installs it).
        check(os.environ.get("CI") != "true", "dockerd is not installed (scripts/install-deps.sh installs docker.io)")
        print("     (skipped: dockerd is not installed, so the archive cannot be tried on it)")
        return
    from bench import Dockerd
    committed(b, "sv2", "echo for dockerd > /f", "todockerd:1")
    want = image_id(b, "todockerd:1")
    data = b.docker("save", "todockerd:1", check_rc=0).stdout
    d = Dockerd()
    try:
        p = subprocess.run(["docker", "load"], env=d.env, input=data, capture_output=True, timeout=120)
        check(p.returncode == 0, f"dockerd refused the archive: {p.stderr.decode()}")
        check(b"Loaded image: todockerd:1" in p.stdout, p.stdout.decode())
        got = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", "todockerd:1"],
                             env=d.env, capture_output=True, text=True).stdout.strip()
        check(got == want, f"dockerd's id {got}, berth's {want}")
        p = subprocess.run(["docker", "run", "--rm", "--network", "none", "todockerd:1", "cat", "/f"],
                           env=d.env, capture_output=True, timeout=120)
        check(p.stdout == b"for dockerd\n", f"dockerd ran it: {p.stdout!r} {p.stderr!r}")
        # And back: dockerd's own save loads into berth.
        p = subprocess.run(["docker", "save", "todockerd:1"], env=d.env, capture_output=True, timeout=120)
        check(p.returncode == 0, p.stderr.decode())
        b.out("rmi", "-f", "todockerd:1")
        check("Loaded image: todockerd:1" in b.out("load", input=p.stdout), "dockerd's save into berth")
        check(image_id(b, "todockerd:1") == want, "dockerd's archive gave another id")
    finally:
        d.close()


@case
def images_import_with_changes(b):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"imported\n"
        ti = tarfile.TarInfo("hello")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    b.out("import", "-c", "ENV A=1", "-c", 'LABEL made=by-import', "-m", "from a tar", "-", "imp:1",
          input=buf.getvalue())
    cfg = json.loads(b.out("image", "inspect", "imp:1"))[0]
    check("A=1" in cfg["Config"]["Env"] and cfg["Config"]["Labels"] == {"made": "by-import"}, str(cfg["Config"]))
    check(cfg["Comment"] == "from a tar", cfg["Comment"])


@case
def images_export_import_diff(b):
    b.out("run", "--name", "ex1", "busybox", "sh", "-c", "echo x > /added; rm /etc/group; mkdir /dd")
    diff = b.out("diff", "ex1").splitlines()
    check(diff == ["A /added", "A /dd", "C /etc", "D /etc/group"], f"docker diff: {diff}")
    data = b.docker("export", "ex1", check_rc=0).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        names = set(t.getnames())
    check("added" in names and "bin/busybox" in names and "etc/group" not in names, "export content")
    b.out("import", "-", "exported:1", input=data)
    check(b.out("run", "--rm", "exported:1", "cat", "/added") == "x", "exported file")
    p = b.docker("run", "--rm", "exported:1", "ls", "/etc/group")
    check(p.returncode != 0, "a deleted file came back")


@case
def images_commit_run_history(b):
    b.out("run", "--name", "cm1", "busybox", "sh", "-c", "echo committed > /c")
    new_id = b.out("commit", "-m", "the message", "-a", "someone", "-c", "CMD [\"cat\", \"/c\"]", "cm1", "cmt:1")
    check(new_id.startswith("sha256:"), new_id)
    check(b.out("run", "--rm", "cmt:1") == "committed", "CMD from --change and the committed file")
    hist = b.out("history", "--no-trunc", "--format", "{{.Comment}}|{{.CreatedBy}}", "cmt:1").splitlines()
    check(hist[0].startswith("the message|"), f"history {hist}")
    insp = json.loads(b.out("image", "inspect", "cmt:1"))[0]
    check(insp["Author"] == "someone" and len(insp["RootFS"]["Layers"]) == 2, str(insp))
    # A running container is paused while committed, and runs on after.
    b.out("run", "-d", "--name", "cm2", "busybox", "sh", "-c", "echo live > /l; exec sleep 100")
    time.sleep(0.3)
    b.out("commit", "cm2", "cmt:2")
    check(b.out("inspect", "--format", "{{.State.Status}}", "cm2") == "running", "still running")
    check(b.out("run", "--rm", "cmt:2", "cat", "/l") == "live", "committed from a running container")
    b.out("rm", "-f", "cm2")


@case
def images_tag_rmi_filters_prune(b):
    b.out("tag", "busybox", "flt/one:1")
    b.out("import", "-c", "LABEL kind=test", "-", "flt/two:1", input=tarbytes())
    refs = b.out("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=flt/*").splitlines()
    check(sorted(refs) == ["flt/one:1", "flt/two:1"], f"reference filter {refs}")
    refs = b.out("images", "--format", "{{.Repository}}", "--filter", "label=kind=test").splitlines()
    check(refs == ["flt/two"], f"label filter {refs}")
    since = b.out("images", "--format", "{{.Repository}}", "--filter", "before=flt/two:1").splitlines()
    check("flt/two" not in since, f"before filter {since}")
    out = b.out("rmi", "flt/one:1")
    check("Untagged: flt/one:1" in out and "Deleted" not in out, out)
    b.out("import", "-", input=tarbytes(b"dangling"))
    dangling = b.out("images", "-q", "--filter", "dangling=true").split()
    check(len(dangling) >= 1, "a dangling image")
    out = b.out("image", "prune", "-f")
    check("Deleted" in out and "Total reclaimed space" in out, out)
    check(b.out("images", "-q", "--filter", "dangling=true") == "", "prune left dangling images")
    check(image_id(b, "flt/two:1").startswith("sha256:"), "prune removed a tagged image")
    out = b.out("image", "prune", "-af", "--filter", "label=kind=test")
    check("flt/two:1" in out, out)


def tarbytes(data=b"x"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("f")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@case
def images_push_pull_registry(b):
    reg = need_registry()
    try:
        ref = f"{reg.host}/compat/bb:1"
        b.out("tag", "busybox", ref)
        out = b.out("push", ref)
        check("digest: sha256:" in out, out)
        again = b.out("push", ref)
        check("Layer already exists" in again, again)
        b.out("rmi", ref)
        out = b.out("pull", ref)
        check(f"Status: Image is up to date for {ref}" in out or f"Downloaded newer image for {ref}" in out, out)
        b.out("rmi", "-f", ref)
        check(b.out("run", "--rm", ref, "echo", "pulled") == "pulled", "run the pulled image")
        digests = b.out("image", "inspect", "--format", "{{json .RepoDigests}}", ref)
        check(f"{reg.host}/compat/bb@sha256:" in digests, digests)
        p = b.docker("pull", f"{reg.host}/compat/nosuch:1")
        check(p.returncode != 0 and b"not found" in p.stderr, p.stderr.decode())
    finally:
        reg.close()


@case
def py_images_load_save_pull(b):
    c = docker.DockerClient(base_url="unix://" + b.sock, version="auto", timeout=60)
    img = c.images.get("busybox:latest")
    data = b"".join(img.save(named=True))
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        check("manifest.json" in t.getnames(), "docker-py save")
    c.images.get("busybox").tag("pyload", "1")
    # Image.save(named=True) names the image's first tag; the API call names exactly this one.
    data = b"".join(c.api.get_image("pyload:1"))
    c.images.remove("pyload:1")
    loaded = c.images.load(data)
    check(len(loaded) == 1 and "pyload:1" in loaded[0].tags, f"loaded {[i.tags for i in loaded]}")
    if shutil.which("docker-registry") is None:
        raise Failed("docker-registry is not installed (scripts/install-deps.sh installs it)")
    reg = Registry()
    try:
        repo = f"{reg.host}/py/bb"
        c.images.get("busybox").tag(repo, "2")
        lines = list(c.images.push(repo, tag="2", stream=True, decode=True))
        check(any("aux" in l for l in lines), f"push lines {lines[-3:]}")
        c.images.remove(f"{repo}:2")
        pulled = c.images.pull(repo, tag="2")
        check(f"{repo}:2" in pulled.tags, str(pulled.tags))
        check(pulled.id == img.id, f"{pulled.id} != {img.id}")
    finally:
        reg.close()
