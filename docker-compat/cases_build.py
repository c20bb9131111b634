"""Issue 18, docker build: the same Dockerfiles built by berth and by the reference dockerd's
classic builder (DOCKER_BUILDKIT=0), then compared: the images' config and their files (the
`docker export` of a container made from each, listed with modes, owners and sizes). dockerd
builds first, so a case's own mistakes show against dockerd before berth is judged."""
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import refdockerd
from compat import case, check

CONFIG_KEYS = ["Entrypoint", "Cmd", "Env", "User", "WorkingDir", "ExposedPorts", "Volumes", "Labels",
               "Healthcheck", "StopSignal", "OnBuild"]
# What a container's runtime adds to its export, not the build: compared apart from the image.
RUNTIME_PATHS = {".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab"}
RUNTIME_DIRS = ("dev/", "proc/", "sys/")


class Engine:
    def __init__(self, name, env):
        self.name = name
        self.env = dict(env, DOCKER_BUILDKIT="0", COMPOSE_DOCKER_CLI_BUILD="0", DOCKER_CLI_HINTS="false")
        self.made = []

    def docker(self, *args, input=None, cwd=None, timeout=240):
        return subprocess.run(["docker", *args], env=self.env, input=input, cwd=cwd,
                              capture_output=True, timeout=timeout)

    def ok(self, *args, **kw):
        p = self.docker(*args, **kw)
        check(p.returncode == 0, f"{self.name}: docker {' '.join(args)}: exit {p.returncode}\n"
              f"stdout: {p.stdout.decode(errors='replace')}\nstderr: {p.stderr.decode(errors='replace')}")
        return p.stdout.decode()

    def build(self, ctx, tag, *args, input=None):
        self.made.append(tag)
        return self.docker("build", "-t", tag, *args, ctx, input=input)

    def built(self, ctx, tag, *args, input=None):
        p = self.build(ctx, tag, *args, input=input)
        check(p.returncode == 0, f"{self.name}: build {tag}: exit {p.returncode}\n"
              f"stdout: {p.stdout.decode(errors='replace')}\nstderr: {p.stderr.decode(errors='replace')}")
        return p.stdout.decode()

    def image(self, ref):
        """The image's config (the compared keys) and files."""
        inspect = json.loads(self.ok("image", "inspect", ref))[0]
        config = {k: inspect["Config"].get(k) or None for k in CONFIG_KEYS}
        config["Author"] = inspect.get("Author") or None
        return {"config": config, "files": self.files(ref)}

    def files(self, ref):
        cid = self.ok("create", ref, "true").strip()
        try:
            data = subprocess.run(["docker", "export", cid], env=self.env, capture_output=True,
                                  timeout=120, check=True).stdout
        finally:
            self.docker("rm", "-f", cid)
        out = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            for m in t.getmembers():
                name = m.name.removeprefix("./").lstrip("/").rstrip("/")
                if not name or name in RUNTIME_PATHS or (name + "/").startswith(RUNTIME_DIRS):
                    continue
                kind = "d" if m.isdir() else "l" if m.issym() else "h" if m.islnk() else "f"
                out[name] = (kind, oct(m.mode), m.uid, m.gid, m.size if kind == "f" else 0,
                             m.linkname if kind in "lh" else "")
        return out

    def cleanup(self):
        for tag in reversed(self.made):
            self.docker("rmi", "-f", tag)
        self.docker("container", "prune", "-f")
        self.docker("image", "prune", "-f")


def engines(b):
    """dockerd (where installed) then berth."""
    out = []
    if refdockerd.docker() is not None:
        out.append(Engine("dockerd", refdockerd.env()))
    out.append(Engine("berth", b.env))
    return out


def context(files):
    """A temporary context directory holding `files` (name -> bytes or str)."""
    d = tempfile.mkdtemp(prefix="berth-build-ctx-")
    for name, data in files.items():
        path = os.path.join(d, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return d


def same(results, what):
    """Every engine's result equals the first's (dockerd's where it runs)."""
    (first, ref), rest = results[0], results[1:]
    for name, got in rest:
        if got != ref:
            if isinstance(ref, dict) and isinstance(got, dict):
                diff = {k: (ref.get(k), got.get(k)) for k in set(ref) | set(got) if ref.get(k) != got.get(k)}
            else:
                diff = (ref, got)
            check(False, f"{what}: {name} differs from {first}: {diff}")


def on_each(b, ctx_files, body):
    """Runs body(engine, ctx) on each engine with a fresh context; returns [(name, result)]."""
    results = []
    for e in engines(b):
        ctx = context(ctx_files)
        try:
            results.append((e.name, body(e, ctx)))
        finally:
            e.cleanup()
            shutil.rmtree(ctx, ignore_errors=True)
    return results


def tar_of(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o640
            ti.uid, ti.gid = 7, 8
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


EVERY = r"""# escape=\
ARG BASE=busybox
FROM ${BASE}:latest AS base
MAINTAINER someone <someone@example.com>
LABEL "com.example.vendor"="ACME Inc" version=1.0 multi="a \
b"
ENV LEGACY value with  spaces
ENV A=1 B="two words" C=${A}x D=$NOPE E=${NOPE:-dflt} F=${A:+set}
ARG GREETING=hello
ARG FROMCLI
RUN echo "$GREETING $FROMCLI $B" > /greeting && \
    # a comment inside the continuation
    mkdir -p /data/sub && echo data > /data/sub/f
RUN ["/bin/sh", "-c", "echo exec-form > /exec"]
SHELL ["/bin/sh", "-e", "-c"]
# C was set from the A of before its ENV line (empty): the reference's rule.
RUN test "$C" = x && echo shell-ok > /shell
WORKDIR /work/dir
WORKDIR rel
COPY --chown=1:2 a.txt ./
COPY ["b c.txt", "/json copy/"]
COPY dir/ /copied/
ADD layer.tar /unpacked/
ADD a.txt /added
USER 1000:1000
RUN id -u > /tmp/uid; echo $HOME > /tmp/home
EXPOSE 80 53/udp 8080/tcp
VOLUME /v1 /v2
VOLUME ["/v3", "/v4"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=1m30s --timeout=5s --start-period=2s --retries=4 CMD ["true"]
ONBUILD RUN echo triggered > /tmp/onbuild
ENTRYPOINT ["/bin/echo", "ep"]
CMD echo "$A" 'single $A'
"""


def every_context():
    return {"Dockerfile": EVERY, "a.txt": "aaa\n", "b c.txt": "bc\n", "dir/x": "x\n",
            "dir/sub/y": "yy\n", "layer.tar": tar_of({"in/tar.txt": b"from the tar\n"})}


@case(timeout=900)
def build_every_instruction(b):
    def body(e, ctx):
        e.built(ctx, "bt-every:1", "--build-arg", "FROMCLI=cli")
        image = e.image("bt-every:1")
        child = context({"Dockerfile": "FROM bt-every:1\nRUN echo child > /tmp/child\n"})
        try:
            out = e.built(child, "bt-every-child:1")
        finally:
            shutil.rmtree(child, ignore_errors=True)
        check("# Executing 1 build trigger" in out, f"{e.name}: the ONBUILD trigger did not run: {out}")
        child_image = e.image("bt-every-child:1")
        return {"image": image, "child": child_image}
    results = on_each(b, every_context(), body)
    same([(n, r["image"]["config"]) for n, r in results], "config")
    same([(n, r["image"]["files"]) for n, r in results], "files")
    same([(n, r["child"]["config"]) for n, r in results], "ONBUILD child's config")
    same([(n, r["child"]["files"]) for n, r in results], "ONBUILD child's files")


MULTI = """FROM busybox AS first
RUN echo one > /one && echo big > /big
FROM busybox AS Second
COPY --from=first /one /from-first
RUN echo two > /two
FROM busybox
COPY --from=0 /one /from-index
COPY --from=second /two /from-second
COPY --from=busybox /bin/busybox /copied-busybox
CMD ["cat", "/from-second"]
"""


@case(timeout=600)
def build_multi_stage_target_and_copy_from(b):
    def body(e, ctx):
        e.built(ctx, "bt-multi:final")
        e.built(ctx, "bt-multi:second", "--target", "second")
        p = e.build(ctx, "bt-multi:none", "--target", "nope")
        check(p.returncode != 0 and b"failed to reach build target nope in Dockerfile" in p.stderr,
              f"{e.name}: --target nope: {p.returncode} {p.stderr!r}")
        return {"final": e.image("bt-multi:final"), "second": e.image("bt-multi:second")}
    results = on_each(b, {"Dockerfile": MULTI}, body)
    for n, r in results:
        check("big" not in r["final"]["files"] and "from-second" in r["final"]["files"],
              f"{n}: the final stage's files: {sorted(r['final']['files'])[:20]}")
    same([(n, r["final"]) for n, r in results], "final stage")
    same([(n, r["second"]) for n, r in results], "--target second")


CACHED = "FROM busybox\nRUN echo a > /a\nCOPY src /src\nRUN cat /src > /copy\nENV X=1\n"


@case(timeout=600)
def build_cache_hits_and_misses(b):
    def body(e, ctx):
        first = e.built(ctx, "bt-cache:1", "-q").strip()
        out = e.built(ctx, "bt-cache:2")
        again = e.ok("image", "inspect", "-f", "{{.Id}}", "bt-cache:2").strip()
        check(again == first, f"{e.name}: an unchanged rebuild gave {again}, not {first}")
        check(out.count(" ---> Using cache") == 4, f"{e.name}: expected 4 steps from cache:\n{out}")
        with open(os.path.join(ctx, "src"), "w") as f:
            f.write("changed\n")
        out = e.built(ctx, "bt-cache:3")
        changed = e.ok("image", "inspect", "-f", "{{.Id}}", "bt-cache:3").strip()
        check(changed != first, f"{e.name}: a changed COPY source gave the same image")
        check(out.count(" ---> Using cache") == 1, f"{e.name}: only RUN echo a should hit:\n{out}")
        out = e.built(ctx, "bt-cache:4", "--no-cache")
        check(" ---> Using cache" not in out, f"{e.name}: --no-cache used the cache:\n{out}")
        return [line for line in e.built(ctx, "bt-cache:5").splitlines() if line.startswith("Step ")]
    same(on_each(b, {"Dockerfile": CACHED, "src": "one\n"}, body), "the steps printed")


@case(timeout=600)
def build_failures_in_dockerds_words(b):
    def body(e, ctx):
        p = e.build(ctx, "bt-fail:1")
        err = p.stderr.decode(errors="replace")
        out = p.stdout.decode(errors="replace")
        check("The command '/bin/sh -c echo before-fail && exit 7' returned a non-zero code: 7" in err,
              f"{e.name}: failing RUN: {err!r}")
        check("before-fail" in out, f"{e.name}: the RUN's output before the failure: {out!r}")
        bad = context({"Dockerfile": "FROM busybox\nRUN true\n\nFOO bar\n"})
        try:
            q = e.build(bad, "bt-fail:2")
        finally:
            shutil.rmtree(bad, ignore_errors=True)
        qerr = q.stderr.decode(errors="replace")
        # dockerd 20.10: "dockerfile parse error line 4: ..."; newer: "... on line 4: ...".
        check("line 4: unknown instruction: FOO" in qerr, f"{e.name}: unknown instruction: {qerr!r}")
        return (p.returncode, q.returncode)
    same(on_each(b, {"Dockerfile": "FROM busybox\nRUN echo before-fail && exit 7\n"}, body), "exit codes")


@case(timeout=600)
def build_dockerfile_from_elsewhere_and_stdin(b):
    text = "FROM busybox\nCOPY f /f\nLABEL from=elsewhere\nCMD [\"cat\", \"/f\"]\n"

    def body(e, ctx):
        other = tempfile.mkdtemp(prefix="berth-build-df-")
        try:
            path = os.path.join(other, "Other.dockerfile")
            with open(path, "w") as f:
                f.write(text)
            e.built(ctx, "bt-f:1", "-f", path)
            e.built(ctx, "bt-f:2", "-f", "-", input=text.encode())
        finally:
            shutil.rmtree(other, ignore_errors=True)
        e.built("-", "bt-f:3", input=b"FROM busybox\nRUN echo stdin > /s\n")
        return [e.image("bt-f:1"), e.image("bt-f:2"), e.image("bt-f:3")]
    same(on_each(b, {"f": "file\n"}, body), "images")


@case(timeout=600)
def build_dockerignore(b):
    files = {"Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
             ".dockerignore": "# comment\n*.log\n!keep.log\n/build\n**/tmp\ndocs/**/*.md\n!docs/README.md\nDockerfile\n",
             "a.txt": "a", "x.log": "x", "keep.log": "k", "build/out": "o", "sub/tmp/t": "t",
             "sub/ok": "ok", "docs/a.md": "a", "docs/deep/b.md": "b", "docs/README.md": "r",
             "docs/c.txt": "c"}

    def body(e, ctx):
        e.built(ctx, "bt-ignore:1")
        return sorted(n for n in e.image("bt-ignore:1")["files"] if n.startswith("ctx"))
    results = on_each(b, files, body)
    for n, listing in results:
        check("ctx/keep.log" in listing and "ctx/x.log" not in listing, f"{n}: {listing}")
    same(results, "the context copied")


@case(timeout=600)
def build_with_docker_py(b):
    import docker as dockerpy

    def body(e, ctx):
        client = dockerpy.DockerClient(base_url=e.env["DOCKER_HOST"], version="auto", timeout=120)
        image, logs = client.images.build(path=ctx, tag="bt-py:1", buildargs={"V": "py"}, rm=True)
        e.made.append("bt-py:1")
        streamed = "".join(c.get("stream", "") for c in logs)
        check("Successfully built" in streamed, f"{e.name}: docker-py build log: {streamed!r}")
        try:
            client.images.build(path=ctx, dockerfile="Bad.dockerfile", tag="bt-py:bad")
            check(False, f"{e.name}: a failing build did not raise")
        except dockerpy.errors.BuildError as err:
            msg = str(err)
        e.made.append("bt-py:bad")
        check("returned a non-zero code: 3" in msg, f"{e.name}: BuildError: {msg!r}")
        return e.image("bt-py:1")
    files = {"Dockerfile": "FROM busybox\nARG V\nENV V=$V\nRUN echo $V > /v\n",
             "Bad.dockerfile": "FROM busybox\nRUN exit 3\n"}
    same(on_each(b, files, body), "docker-py image")


@case(timeout=600)
def build_with_docker_compose(b):
    compose = ("version: '3'\nservices:\n  app:\n    build:\n      context: .\n"
               "      dockerfile: app.Dockerfile\n      args:\n        WHO: compose\n"
               "    image: bt-compose-app:1\n")

    def body(e, ctx):
        e.made.append("bt-compose-app:1")
        p = subprocess.run(["docker-compose", "-p", "btcompose", "build"], cwd=ctx, env=e.env,
                           capture_output=True, timeout=300)
        check(p.returncode == 0, f"{e.name}: docker-compose build: {p.returncode}\n"
              f"{p.stdout.decode(errors='replace')}\n{p.stderr.decode(errors='replace')}")
        return e.image("bt-compose-app:1")
    files = {"docker-compose.yml": compose,
             "app.Dockerfile": "FROM busybox\nARG WHO\nLABEL who=$WHO\nRUN echo $WHO > /who\nCMD [\"cat\", \"/who\"]\n"}
    same(on_each(b, files, body), "docker-compose image")
