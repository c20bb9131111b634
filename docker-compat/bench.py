#!/usr/bin/env python3
"""Benchmarks, side by side with dockerd in the same run when `docker.io` is installed.
Prints figures and ratios; never fails on a speed goal (these are not tests).

  shim: spawn to the container's first instruction (median), shim memory (berth-bench-shim)
  run:  `docker run --rm busybox true` through the docker CLI, median of N (berth with and
        without its default bridge and monitor label, and dockerd, runs alternating)
  userns: `docker run --rm` of busybox and of an image of 10,000 files more, in a private user
        namespace and with --userns=host, and dockerd (--only userns)
  ps:   `docker ps -a` with 1000 containers, median of N (berth and dockerd runs alternate), and
        where the time goes: the CLI with one row, the server alone (one request on an open
        connection), the response's size
  ports: a published port (nftables DNAT) against the container's own address, and the start
        cost of publishing (berth only: the bench's dockerd runs without networking, which
        would rewrite the host's iptables)
  dns:  a peer's name resolved at 127.0.0.11 from inside a container, berth and dockerd
        alternating (bench_dns.py), and berth's shim's RSS after answering
  monitor: a million getppid in a container with the eBPF monitor counting vs off, and with
        only an empty program on counting's hook (the floor of counting every call), the same
        loop outside containers with the all-syscalls hooks attached vs not, and security
        events at 100,000/s for 10 s with what was delivered and what was counted as dropped
  soak: 16 clients for 10 minutes (--soak-seconds) on berth, then on dockerd, and what held
        afterwards (soak.py; --only soak, not part of the full run)
"""
import argparse
import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import compat  # noqa: E402
import bench_dns  # noqa: E402
import soak  # noqa: E402


def timed(env, args, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["docker", *args], env=env, check=True, capture_output=True)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


class Dockerd:
    """A dockerd of its own (data root, socket), touching nothing of the host's: no iptables
    rules, no ip_forward, and a default bridge of its own, made here and removed at close. (A
    dockerd started with `--bridge=none` deletes the host's `docker0`, which a dockerd already
    running on the host owns.)"""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="berth-bench-dockerd-")
        self.sock = os.path.join(self.tmp, "docker.sock")
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock)
        self.containerd = None
        self.bridge = f"bref{os.getpid() % 100000}"
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", "10.213.0.1/24", "dev", self.bridge], check=True)
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(self.tmp, "data"), "--exec-root",
             os.path.join(self.tmp, "exec"), "--pidfile", os.path.join(self.tmp, "d.pid"),
             "-H", "unix://" + self.sock, "--iptables=false", "--ip-forward=false",
             "--bridge=" + self.bridge, "--storage-driver=overlay2"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "dockerd.log"), "wb"))
        deadline = time.time() + 60
        while time.time() < deadline:
            if subprocess.run(["docker", "version"], env=self.env, capture_output=True).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("dockerd did not start: see " + self.tmp)

    def close(self):
        subprocess.run(["docker", "rm", "-f", *subprocess.run(["docker", "ps", "-aq"], env=self.env,
                        capture_output=True, text=True).stdout.split()], env=self.env, capture_output=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cold_and_warm(berth_bin, runs):
    """`docker version` right after socket activation starts berth (cold) and again (warm)."""
    cold, warm = [], []
    for _ in range(runs):
        tmp = tempfile.mkdtemp(prefix="berth-bench-act-")
        sock = os.path.join(tmp, "b.sock")
        env = dict(os.environ, DOCKER_HOST="unix://" + sock)
        p = subprocess.Popen(["systemd-socket-activate", "-l", sock, berth_bin, "serve",
                              "--root", os.path.join(tmp, "root"), "--run-root", os.path.join(tmp, "run"),
                              "--idle-timeout", "5"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(sock):
            time.sleep(0.005)
        for bucket in (cold, warm):
            t = time.perf_counter()
            subprocess.run(["docker", "version"], env=env, check=True, capture_output=True)
            bucket.append((time.perf_counter() - t) * 1000)
        p.kill()
        p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return statistics.median(cold), statistics.median(warm)


def load_benchmark(b, d):
    """`docker load` of a ~200 MB image into each engine; then an image sharing its layer."""
    tmp = tempfile.mkdtemp(prefix="berth-bench-load-")
    try:
        rootfs = os.path.join(tmp, "big.tar")
        with open(os.path.join(tmp, "blob"), "wb") as f:
            f.write(os.urandom(200 * 1024 * 1024))
        subprocess.run(["tar", "-cf", rootfs, "-C", tmp, "blob"], check=True)
        subprocess.run(["docker", "import", rootfs, "big:1"], env=d.env, check=True, capture_output=True)
        subprocess.run(["docker", "create", "--name", "bigc", "big:1", "x"], env=d.env, check=True, capture_output=True)
        subprocess.run(["docker", "cp", "/etc/hostname", "bigc:/h"], env=d.env, check=True, capture_output=True)
        subprocess.run(["docker", "commit", "bigc", "big:2"], env=d.env, check=True, capture_output=True)
        a = os.path.join(tmp, "a.tar")
        both = os.path.join(tmp, "b.tar")
        subprocess.run(["docker", "save", "-o", a, "big:1"], env=d.env, check=True)
        subprocess.run(["docker", "save", "-o", both, "big:2"], env=d.env, check=True)
        subprocess.run(["docker", "rm", "-f", "bigc"], env=d.env, capture_output=True)
        subprocess.run(["docker", "rmi", "big:1", "big:2"], env=d.env, capture_output=True)
        size_mb = os.path.getsize(a) / 1e6
        print(f"== docker load of a {size_mb:.0f} MB image")
        out = {}
        for env, who in [(b.env, "berth"), (d.env, "dockerd")]:
            t = time.perf_counter()
            subprocess.run(["docker", "load", "-i", a], env=env, check=True, capture_output=True)
            secs = time.perf_counter() - t
            out[who] = size_mb / secs
            print(f"{who:7s} {secs * 1000:8.0f} ms  {out[who]:6.1f} MB/s")
        print(f"berth/dockerd throughput = {out['berth'] / out['dockerd']:.2f} (goal >= 1)")
        layers = os.path.join(b.root, "layers")
        before = len(os.listdir(layers))
        t = time.perf_counter()
        b.docker("load", "-i", both, check_rc=0)
        secs = time.perf_counter() - t
        added = len(os.listdir(layers)) - before
        print(f"second image sharing the layer: {secs * 1000:.0f} ms, layers unpacked: {added} (the shared one not again)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ports_benchmark(b, runs):
    """Throughput through a published port on 127.0.0.1 and straight to the container's address;
    `docker run -d` with and without `-p`."""
    print("== published port (berth): curl of 200 MB, and docker run -d with -p 80 (median of %d)" % runs)
    b.out("run", "-d", "--name", "pweb", "-p", "80", "busybox", "sh", "-c",
          "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1M count=200 2>/dev/null && exec httpd -f -p 80 -h /www")
    port = b.out("port", "pweb", "80").rsplit(":", 1)[1]
    ip = b.out("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "pweb")
    rates = {}
    for what, url in [("published 127.0.0.1", f"http://127.0.0.1:{port}/big"), ("container address", f"http://{ip}/big")]:
        best = 0.0
        for _ in range(3):
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "--retry", "20", "--retry-connrefused",
                                  "--retry-delay", "0", "-w", "%{speed_download}", url],
                                 capture_output=True, text=True, check=True).stdout
            best = max(best, float(out) / 1e6)
        rates[what] = best
        print(f"{what:20s} {best:8.0f} MB/s")
    print(f"published/direct = {rates['published 127.0.0.1'] / rates['container address']:.2f}")
    b.out("rm", "-f", "pweb")
    plain = timed(b.env, ["run", "-d", "busybox", "true"], runs)
    published = timed(b.env, ["run", "-d", "-p", "80", "busybox", "true"], runs)
    print(f"docker run -d: {plain:.1f} ms, with -p 80: {published:.1f} ms (+{published - plain:.1f} ms)")
    ids = b.out("ps", "-aq").split()
    if ids:
        b.docker("rm", "-f", *ids)


def unix_get(sock, path):
    """One GET over the unix socket; the JSON body."""
    return json.loads(unix_get_raw(sock, path))


def unix_get_raw(sock, path):
    """One GET over the unix socket; the body's bytes (de-chunked)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return body


def server_ms(sock, path, n):
    """Median time of `n` GETs of `path`, each on a fresh connection (as the CLI makes them)."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        unix_get_raw(sock, path)
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def ps_benchmark(b, d, containers, runs):
    """`docker ps -a` with `containers` containers in each engine, and where its time goes."""
    print(f"== docker ps -a with {containers} containers (median of {runs}, berth and dockerd alternating)")
    engines = [(b.env, "berth", b.sock, "/v1.47")] + ([(d.env, "dockerd", d.sock, "/v1.41")] if d else [])
    for env, _, _, _ in engines:
        subprocess.run(["sh", "-c", f"seq 1 {containers} | xargs -P 2 -n 1 sh -c 'docker create busybox true >/dev/null'"],
                       env=env, check=True)
    figures = {who: {"ps": [], "one": []} for _, who, _, _ in engines}
    for env, _, _, _ in engines:  # the first listing fills berth's row cache: not timed
        subprocess.run(["docker", "ps", "-a"], env=env, check=True, capture_output=True)
    for _ in range(runs):
        for env, who, _, _ in engines:
            figures[who]["ps"].append(timed(env, ["ps", "-a"], 1))
            figures[who]["one"].append(timed(env, ["ps", "-a", "-n", "1"], 1))
    for env, who, sock, prefix in engines:
        ps, one = statistics.median(figures[who]["ps"]), statistics.median(figures[who]["one"])
        path = prefix + "/containers/json?all=1"
        server = server_ms(sock, path, runs)
        size = len(unix_get_raw(sock, path))
        figures[who]["median"] = ps
        print(f"{who:7s} {ps:8.1f} ms   with one row {one:5.1f} ms, server alone {server:5.1f} ms, "
              f"response {size / 1000:.0f} kB")
    if d:
        ratio = figures["berth"]["median"] / figures["dockerd"]["median"]
        print(f"berth/dockerd = {ratio:.2f} (goal <= 0.5)")
    else:
        print("(dockerd not installed: apt-get install docker.io for the side-by-side figures)")


class LogCounter(threading.Thread):
    """Counts the lines of the events log holding `needle` as they are written, following the
    file across rotations (it holds the old file until it has read it to the end)."""

    def __init__(self, path, needle):
        super().__init__(daemon=True)
        self.path, self.needle, self.count, self.done = path, needle, 0, False

    def run(self):
        f, ino, tail = None, None, b""
        keep = len(self.needle) - 1
        while True:
            if f is None:
                try:
                    f = open(self.path, "rb")
                    ino = os.fstat(f.fileno()).st_ino
                except FileNotFoundError:
                    time.sleep(0.001)
                    continue
            chunk = f.read(1 << 22)
            if chunk:
                data = tail + chunk
                self.count += data.count(self.needle)
                # A needle cut by the chunk's end is counted with the next chunk.
                tail = data[-keep:] if self.needle not in data[-keep:] else b""
                continue
            try:
                rotated = os.stat(self.path).st_ino != ino
            except FileNotFoundError:
                rotated = False
            if rotated:
                f.close()
                f, tail = None, b""
                continue
            if self.done:
                return
            time.sleep(0.001)


def monitor_benchmark(berth_bin, runs):
    """The eBPF monitor's cost, on a berth of its own (no other container counting)."""
    tmp = tempfile.mkdtemp(prefix="berth-bench-mon-")
    prog = os.path.join(tmp, "bench")
    subprocess.run(["gcc", "-O2", "-static", "-o", prog, os.path.join(HERE, "monitor_bench.c")], check=True)
    image = os.path.join(tmp, "image.tar")
    subprocess.run(["tar", "-cf", image, "-C", tmp, "bench"], check=True)
    b = compat.Berth(berth_bin)
    n = 1_000_000
    reps = max(5, runs // 4)
    try:
        b.docker("import", image, "monbench:1", check_rc=0)

        def in_container(label, work="loop"):
            out = [float(b.out("run", "--rm", "-l", label, "monbench:1", "/bench", work, str(n)))
                   for _ in range(reps)]
            return statistics.median(out)

        floor_obj = os.path.join(tmp, "floor.bpf.o")
        floor_bin = os.path.join(tmp, "floor")
        arch = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True, check=True).stdout.strip()
        subprocess.run(["clang-19", "-O2", "-g", "-target", "bpf", f"-I/usr/include/{arch}",
                        "-c", os.path.join(HERE, "floor.bpf.c"), "-o", floor_obj], check=True)
        subprocess.run(["gcc", "-O2", "-o", floor_bin, os.path.join(HERE, "floor.c"), "-lbpf"], check=True)

        def with_empty_hook(measure):
            """`measure()` while an empty program is attached where counting attaches its own."""
            holder = subprocess.Popen([floor_bin, floor_obj], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            try:
                if holder.stdout.readline() != b"attached\n":
                    raise SystemExit("the empty eBPF program did not attach")
                return measure()
            finally:
                holder.stdin.close()
                holder.wait()

        def on_host():
            out = [float(subprocess.run([prog, "loop", str(n)], capture_output=True, text=True,
                                        check=True).stdout) for _ in range(reps)]
            return statistics.median(out)

        print(f"== eBPF monitor: {n} getppid, ns per call (median of {reps})")
        others = [p for p in glob.glob("/sys/fs/bpf/*/v*/links/sys_e*")
                  if not p.startswith(b.bpf_dir + "/")]
        if others:
            print(f"note: other berth roots have the all-syscalls hooks attached ({', '.join(others)}):"
                  " every figure below pays for them too")
        off = in_container("berth.monitor=none")
        on = in_container("berth.monitor=counts")
        print(f"in a container, monitor off       {off:7.1f}")
        print(f"in a container, counting          {on:7.1f}   +{(on / off - 1) * 100:.1f}% (goal <= 5%)")
        floor = with_empty_hook(lambda: in_container("berth.monitor=none"))
        print(f"in a container, an empty program on counting's hook (tp_btf sys_exit), monitor off "
              f"{floor:7.1f}   +{(floor / off - 1) * 100:.1f}%: the floor of any count of every call")
        default = in_container("berth.monitor=security")
        print(f"in a container, the default label {default:7.1f}   +{(default / off - 1) * 100:.1f}%"
              " (security events: no all-syscalls hook)")
        print(f"== eBPF monitor: {n} one-byte read+write (dd bs=1), ns per byte (median of {reps})")
        off = in_container("berth.monitor=none", "copy")
        on = in_container("berth.monitor=counts", "copy")
        floor = with_empty_hook(lambda: in_container("berth.monitor=none", "copy"))
        print(f"in a container, monitor off       {off:7.1f}")
        print(f"in a container, counting          {on:7.1f}   +{(on / off - 1) * 100:.1f}% (goal <= 5%)")
        print(f"in a container, empty program    {floor:7.1f}   +{(floor / off - 1) * 100:.1f}% (the floor)")
        host_off = on_host()
        b.out("run", "-d", "--name", "counting", "-l", "berth.monitor=counts", "monbench:1", "/bench",
              "sleep", "1000")
        host_on = on_host()
        b.out("rm", "-f", "counting")
        host_after = on_host()
        print(f"outside, hooks detached           {host_off:7.1f}")
        print(f"outside, a container counting     {host_on:7.1f}   +{(host_on / host_off - 1) * 100:.1f}%"
              " (goal: no measurable change)")
        print(f"outside, after it is gone         {host_after:7.1f}")

        rate, secs = 100_000, 10
        print(f"== eBPF monitor: security events at {rate}/s for {secs} s")
        counter = LogCounter(os.path.join(b.root, "events", "events.log"), b'"path":"/etc/shadow"')
        counter.start()
        made = b.out("run", "--name", "events", "monbench:1", "/bench", "events", str(rate), str(secs))
        cid = b.out("inspect", "-f", "{{.Id}}", "events")
        time.sleep(0.5)
        counter.done = True
        counter.join(30)
        dropped = unix_get(b.sock, f"/containers/{cid}/syscalls")["DroppedEvents"]
        attempts, took = made.split()
        attempts = int(attempts)
        lost = attempts - counter.count - dropped
        print(f"made {attempts} in {float(took):.1f} s ({attempts / float(took):.0f}/s): "
              f"delivered {counter.count}, dropped and counted {dropped}, lost uncounted {lost} (goal 0)")
        b.out("rm", "-f", "events")
    finally:
        b.close()
        shutil.rmtree(tmp, ignore_errors=True)


def timed_alternating(variants, n):
    """Each of `variants` ((env, docker args) pairs) run once in turn, n rounds: the medians, in
    the same order. Alternating keeps a drift of the machine's speed out of the ratios."""
    out = [[] for _ in variants]
    for _ in range(n):
        for i, (env, args) in enumerate(variants):
            t = time.perf_counter()
            subprocess.run(["docker", *args], env=env, check=True, capture_output=True)
            out[i].append((time.perf_counter() - t) * 1000)
    return [statistics.median(o) for o in out]


def run_rm_benchmark(b, d, runs):
    """`docker run --rm busybox true`: berth (default, --network none, monitor off for the
    container) and dockerd, alternating."""
    print("== docker run --rm busybox true (median of %d, berth and dockerd alternating)" % runs)
    variants = [(b.env, ["run", "--rm", "busybox", "true"]),
                (b.env, ["run", "--rm", "--network", "none", "busybox", "true"]),
                (b.env, ["run", "--rm", "-l", "berth.monitor=none", "busybox", "true"])]
    if d:
        variants.append((d.env, ["run", "--rm", "busybox", "true"]))
    medians = timed_alternating(variants, runs)
    berth_run, berth_none, berth_nomon = medians[:3]
    print(f"berth   {berth_run:8.1f} ms")
    # Both engines' figures above include their default bridge (a veth, an address); this one
    # is berth's run without a network.
    print(f"berth --network none {berth_none:8.1f} ms   the default bridge costs {berth_run - berth_none:+.1f} ms")
    print(f"berth -l berth.monitor=none {berth_nomon:8.1f} ms   the monitor's default costs {berth_run - berth_nomon:+.1f} ms")
    if d:
        dockerd_run = medians[3]
        print(f"dockerd {dockerd_run:8.1f} ms   berth/dockerd = {berth_run / dockerd_run:.2f} (goal <= 0.2)")


def many_files_tar(n):
    """busybox plus `n` small files (/many/<i>): an image whose size a chown would feel."""
    import io
    import tarfile
    buf = io.BytesIO(compat.busybox_tar())
    out = io.BytesIO()
    with tarfile.open(fileobj=buf) as src, tarfile.open(fileobj=out, mode="w") as t:
        for m in src.getmembers():
            t.addfile(m, src.extractfile(m) if m.isfile() else None)
        d = tarfile.TarInfo("many")
        d.type = tarfile.DIRTYPE
        d.mode = 0o755
        t.addfile(d)
        for i in range(n):
            data = f"{i}\n".encode()
            ti = tarfile.TarInfo(f"many/{i}")
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def userns_benchmark(berth_bin, runs):
    """`docker run --rm IMAGE true` on a berth whose containers get a private user namespace
    (`BERTH_USERNS_REMAP=auto`) beside the same berth's `--userns=host`, and dockerd, for busybox
    and for an image of 10,000 files more (idmapped layers: no time should grow with the image)."""
    print("== user namespaces: docker run --rm IMAGE true (median of %d, alternating)" % runs)
    b = compat.Berth(berth_bin, extra_env={"BERTH_USERNS_REMAP": "auto"})
    d = Dockerd() if shutil.which("dockerd") else None
    try:
        images = [("busybox", compat.busybox_tar()), ("many", many_files_tar(10_000))]
        for name, tar in images:
            b.docker("import", "-", name, input=tar, check_rc=0)
            if d:
                subprocess.run(["docker", "import", "-", name], env=d.env, input=tar, check=True,
                               capture_output=True)
        for name, _ in images:
            variants = [(b.env, ["run", "--rm", name, "true"]),
                        (b.env, ["run", "--rm", "--userns=host", name, "true"])]
            if d:
                variants.append((d.env, ["run", "--rm", name, "true"]))
            medians = timed_alternating(variants, runs)
            private, host = medians[:2]
            line = (f"{name:8} private {private:7.1f} ms  host {host:7.1f} ms  "
                    f"private - host = {private - host:+.1f} ms (goal <= 5 ms)")
            if d:
                line += f"  dockerd {medians[2]:7.1f} ms  private/dockerd = {private / medians[2]:.2f}"
            print(line)
    finally:
        b.close()
        if d:
            d.close()


def run_benchmark(berth_bin, runs):
    """`docker run --rm busybox true` alone (bench.sh --only run)."""
    tar = compat.busybox_tar()
    b = compat.Berth(berth_bin)
    d = Dockerd() if shutil.which("dockerd") else None
    try:
        b.docker("import", "-", "busybox:latest", input=tar, check_rc=0)
        if d:
            subprocess.run(["docker", "import", "-", "busybox:latest"], env=d.env, input=tar, check=True,
                           capture_output=True)
        run_rm_benchmark(b, d, runs)
    finally:
        b.close()
        if d:
            d.close()


def build_context(tmp, big_mib=0):
    """A build context: busybox + 5 RUN + 2 COPY (and, for the memory case, a file of big_mib)."""
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /two\n"
                "RUN mkdir -p /app && echo three > /app/three\nCOPY dir /app/dir\n"
                "RUN ls -R /app > /four\nRUN sync\n")
    with open(os.path.join(tmp, "a.txt"), "w") as f:
        f.write("a" * 4096)
    os.makedirs(os.path.join(tmp, "dir"), exist_ok=True)
    for i in range(20):
        with open(os.path.join(tmp, "dir", f"f{i}"), "w") as f:
            f.write(str(i) * 1000)
    if big_mib:
        with open(os.path.join(tmp, "big.bin"), "wb") as f:
            f.write(os.urandom(big_mib * 1024 * 1024))
    return tmp


def build_benchmark(b, d, runs):
    """docker build with the classic builder (DOCKER_BUILDKIT=0), berth and dockerd alternating:
    --no-cache, an unchanged rebuild (all from cache), and the API's memory over a 100 MiB context."""
    tmp = tempfile.mkdtemp(prefix="berth-bench-build-")
    try:
        ctx = build_context(os.path.join(tmp, "ctx"))
        benv = dict(b.env, DOCKER_BUILDKIT="0")
        variants = [(benv, ["build", "--no-cache", "-t", "bench:1", ctx])]
        if d:
            variants.append((dict(d.env, DOCKER_BUILDKIT="0"), ["build", "--no-cache", "-t", "bench:1", ctx]))
        print("== docker build --no-cache: busybox + 5 RUN + 2 COPY (median of %d, alternating)" % runs)
        med = timed_alternating(variants, runs)
        print(f"berth   {med[0]:8.1f} ms")
        if d:
            print(f"dockerd {med[1]:8.1f} ms   berth/dockerd = {med[0] / med[1]:.2f} (goal <= 0.5)")
        print("== docker build, unchanged: every step from the cache (median of %d, alternating)" % runs)
        variants = [(e, ["build", "-t", "bench:1", ctx]) for e, _ in variants]
        med = timed_alternating(variants, runs)
        print(f"berth   {med[0]:8.1f} ms")
        if d:
            print(f"dockerd {med[1]:8.1f} ms   berth/dockerd = {med[0] / med[1]:.2f} (goal <= 1)")
        print("== docker build of a 100 MiB context: the API process's peak RSS against its RSS at rest")
        big = build_context(os.path.join(tmp, "big"), big_mib=100)
        rest = rss_kib(b.proc.pid)
        peak = [rest]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(b.proc.pid))
                time.sleep(0.01)
        t = threading.Thread(target=sample)
        t.start()
        try:
            subprocess.run(["docker", "build", "-t", "bench:big", big], env=benv, check=True, capture_output=True)
        finally:
            done.set()
            t.join()
        print(f"berth API RSS at rest {rest} KiB, peak {peak[0]} KiB: {peak[0] / rest:.2f}x (goal <= 1.5)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_only(berth_bin, runs):
    tar = compat.busybox_tar()
    b = compat.Berth(berth_bin)
    d = Dockerd() if shutil.which("dockerd") else None
    try:
        b.docker("import", "-", "busybox:latest", input=tar, check_rc=0)
        if d:
            subprocess.run(["docker", "import", "-", "busybox:latest"], env=d.env, input=tar, check=True,
                           capture_output=True)
        build_benchmark(b, d, runs)
    finally:
        b.close()
        if d:
            d.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--containers", type=int, default=1000)
    ap.add_argument("--only", choices=["build", "dns", "monitor", "ports", "ps", "run", "soak", "userns"],
                    help="run one benchmark alone")
    ap.add_argument("--soak-seconds", type=int, default=600, help="the soak's time on each engine")
    args = ap.parse_args()
    release = os.path.join(REPO, "target", "release")
    subprocess.run(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=REPO, check=True)
    if args.only == "soak":
        soak.soak_benchmark(os.path.join(release, "berth"), args.soak_seconds)
        return
    if args.only == "monitor":
        monitor_benchmark(os.path.join(release, "berth"), args.runs)
        return
    if args.only == "ps":
        b = compat.Berth(os.path.join(release, "berth"))
        d = Dockerd() if shutil.which("dockerd") else None
        try:
            tar = compat.busybox_tar()
            b.docker("import", "-", "busybox:latest", input=tar, check_rc=0)
            if d:
                subprocess.run(["docker", "import", "-", "busybox:latest"], env=d.env, input=tar, check=True,
                               capture_output=True)
            ps_benchmark(b, d, args.containers, args.runs)
        finally:
            b.close()
            if d:
                d.close()
        return
    if args.only == "ports":
        b = compat.Berth(os.path.join(release, "berth"))
        try:
            b.docker("import", "-", "busybox:latest", input=compat.busybox_tar(), check_rc=0)
            ports_benchmark(b, args.runs)
        finally:
            b.close()
        return
    if args.only == "run":
        run_benchmark(os.path.join(release, "berth"), args.runs)
        return
    if args.only == "dns":
        b = compat.Berth(os.path.join(release, "berth"))
        d = Dockerd() if shutil.which("dockerd") else None
        try:
            tar = compat.busybox_tar()
            b.docker("import", "-", "busybox:latest", input=tar, check_rc=0)
            if d:
                subprocess.run(["docker", "import", "-", "busybox:latest"], env=d.env, input=tar, check=True,
                               capture_output=True)
            bench_dns.dns_benchmark(b, d, args.runs)
        finally:
            b.close()
            if d:
                d.close()
        return
    if args.only == "userns":
        userns_benchmark(os.path.join(release, "berth"), args.runs)
        return
    if args.only == "build":
        build_only(os.path.join(release, "berth"), args.runs)
        return
    stamp = os.path.join(tempfile.mkdtemp(), "stamp")
    subprocess.run(["gcc", "-O2", "-static", "-o", stamp, os.path.join(REPO, "tests", "stamp.c")], check=True)

    print("== shim (berth-bench-shim)")
    shim = subprocess.run([os.path.join(release, "berth-bench-shim"), str(max(args.runs, 30)), stamp],
                          capture_output=True, text=True, check=True).stdout
    print(shim, end="")
    figures = dict(line.split() for line in shim.splitlines())

    print("== socket activation: first `docker version` after start (cold) and the next (warm)")
    cold, warm = cold_and_warm(os.path.join(release, "berth"), args.runs)
    print(f"cold {cold:6.1f} ms  warm {warm:6.1f} ms  cold - warm = {cold - warm:5.1f} ms (goal <= 5 ms)")

    have_dockerd = shutil.which("dockerd") is not None
    tar = compat.busybox_tar()
    b = compat.Berth(os.path.join(release, "berth"))
    d = Dockerd() if have_dockerd else None
    try:
        b.docker("import", "-", "busybox:latest", input=tar, check_rc=0)
        if d:
            subprocess.run(["docker", "import", "-", "busybox:latest"], env=d.env, input=tar, check=True,
                           capture_output=True)
        run_rm_benchmark(b, d, args.runs)

        print("== shim memory while a container runs")
        b.out("run", "-d", "--name", "mem", "busybox", "sleep", "1000")
        print(f"berth-shim RSS {figures.get('shim_rss_kib')} KiB (file-backed {figures.get('shim_rss_file_kib')}, "
              f"anonymous {figures.get('shim_rss_anon_kib')}), PSS {figures.get('shim_pss_kib')} KiB, "
              f"private {figures.get('shim_private_kib')} KiB; anonymous is what each further shim costs")
        print(f"berth-shim RSS with its container logging 50 lines/s {figures.get('shim_logging_rss_kib')} KiB "
              f"(file-backed {figures.get('shim_logging_rss_file_kib')}, anonymous {figures.get('shim_logging_rss_anon_kib')})")
        print(f"first shim of a fresh root (its seccomp profile compiled): RSS {figures.get('shim_cold_cache_rss_kib')} KiB, "
              f"anonymous {figures.get('shim_cold_cache_rss_anon_kib')} KiB")
        if d:
            subprocess.run(["docker", "run", "-d", "--name", "mem", "busybox", "sleep", "1000"], env=d.env,
                           check=True, capture_output=True)
            pids = subprocess.run(["pgrep", "-f", "containerd-shim"], capture_output=True, text=True).stdout.split()
            if pids:
                shim_rss = max(rss_kib(int(p)) for p in pids)
                print(f"containerd-shim RSS {shim_rss} KiB   berth/containerd-shim = "
                      f"{int(figures.get('shim_rss_kib', 0)) / shim_rss:.2f} idle, "
                      f"{int(figures.get('shim_logging_rss_kib', 0)) / shim_rss:.2f} logging (goal: berth <= 1024 KiB)")

        print("== docker exec c true (median of %d)" % args.runs)
        b.out("run", "-d", "--name", "ex", "busybox", "sleep", "1000")
        berth_exec = timed(b.env, ["exec", "ex", "true"], args.runs)
        print(f"berth   {berth_exec:8.1f} ms")
        if d:
            subprocess.run(["docker", "run", "-d", "--name", "ex", "busybox", "sleep", "1000"], env=d.env,
                           check=True, capture_output=True)
            dockerd_exec = timed(d.env, ["exec", "ex", "true"], args.runs)
            print(f"dockerd {dockerd_exec:8.1f} ms   berth/dockerd = {berth_exec / dockerd_exec:.2f} (goal <= 1)")

        if d:
            load_benchmark(b, d)

        ports_benchmark(b, args.runs)
        bench_dns.dns_benchmark(b, d, args.runs)
        monitor_benchmark(os.path.join(release, "berth"), args.runs)

        ps_benchmark(b, d, args.containers, args.runs)
        build_benchmark(b, d, args.runs)
    finally:
        b.close()
        if d:
            d.close()


if __name__ == "__main__":
    sys.modules.setdefault("compat", compat)
    main()
