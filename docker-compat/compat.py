#!/usr/bin/env python3
"""berth's compatibility suite: the real docker CLI and docker-py against a berth it starts
itself, on a private root and socket. One line per case, then `N passed, N failed`, always
last. A case that runs longer than its timeout fails ("timed out after N s") and the run goes
on.

Usage: compat.py [--berth PATH] [-k SUBSTRING] [--timeout SECONDS]
"""
import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUSYBOX = "/bin/busybox"
CASES = []


def case(fn=None, *, timeout=None):
    """Registers a case: `@case`, or `@case(timeout=SECONDS)` for one known to take longer than
    the suite's --timeout."""
    def register(f):
        f.timeout = timeout
        CASES.append(f)
        return f
    return register(fn) if fn is not None else register


class Failed(Exception):
    pass


class TimedOut(Exception):
    pass


def run_case(fn, b, seconds):
    """Runs one case, interrupted (TimedOut, raised in it by SIGALRM) after `seconds`: a
    subprocess.run it was waiting for is killed, a socket read or a sleep ends."""
    def expire(_signum, _frame):
        raise TimedOut(f"timed out after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        fn(b)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check(cond, what):
    if not cond:
        raise Failed(what)


def busybox_tar():
    """A busybox root filesystem as a tar stream (Debian's busybox-static)."""
    if not os.path.exists(BUSYBOX):
        raise SystemExit(f"{BUSYBOX} missing: install busybox-static (scripts/install-deps.sh)")
    buf = io.BytesIO()
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(fileobj=buf, mode="w") as t:
        def add_dir(name, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.DIRTYPE
            ti.mode = mode
            t.addfile(ti)
        for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev", "home", "var", "var/www"]:
            add_dir(d, 0o1777 if d == "tmp" else 0o755)
        t.add(BUSYBOX, arcname="bin/busybox")
        for a in applets:
            if a == "busybox":
                continue
            ti = tarfile.TarInfo("bin/" + a)
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            t.addfile(ti)
        for name, text in [
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
            ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ]:
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Berth:
    """A `berth serve` on its own root, run root and socket."""

    def __init__(self, binary, extra_env=None):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="berth-compat-")
        os.chmod(self.tmp, 0o755)
        self.root = os.path.join(self.tmp, "root")
        self.run_root = os.path.join(self.tmp, "run")
        self.sock = os.path.join(self.tmp, "berth.sock")
        # The eBPF monitor's pins of this run, apart from any other berth's (a shared
        # /sys/fs/bpf/berth could be replaced under it by another checkout's programs).
        self.bpf_dir = "/sys/fs/bpf/" + os.path.basename(self.tmp).replace(".", "-")  # bpffs refuses dots
        self.env = dict(os.environ, DOCKER_HOST="unix://" + self.sock, DOCKER_CLI_HINTS="false",
                        BERTH_BPF_DIR=self.bpf_dir)
        self.env.update(extra_env or {})
        self.env.pop("DOCKER_CONTEXT", None)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--socket", self.sock, "--root", self.root,
             "--run-root", self.run_root, "--idle-timeout", "0"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "serve.log"), "ab"))
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                s.close()
                return
            except OSError:
                time.sleep(0.02)
        raise SystemExit("berth serve did not come up")

    def sigkill(self):
        """Kill the API process at once, as a crash would, and start another."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.start()

    def docker(self, *args, input=None, timeout=60, check_rc=None):
        p = subprocess.run(["docker", *args], env=self.env, input=input, capture_output=True, timeout=timeout)
        if check_rc is not None and p.returncode != check_rc:
            raise Failed(f"docker {' '.join(args)}: exit {p.returncode}, wanted {check_rc}\n"
                         f"stdout: {p.stdout.decode(errors='replace')}\nstderr: {p.stderr.decode(errors='replace')}")
        return p

    def out(self, *args, **kw):
        return self.docker(*args, check_rc=0, **kw).stdout.decode().strip()

    def close(self):
        # Remove every container (their shims run detached), then stop the API.
        try:
            ids = self.out("ps", "-aq").split()
            if ids:
                self.docker("rm", "-f", *ids)
            self.docker("network", "prune", "-f")
        except Exception:
            pass
        # The root's bridges and nftables table (the default bridge is made on first use).
        subprocess.run([self.binary, "--root", self.root, "--run-root", self.run_root,
                        "network", "teardown"], env=self.env, stdout=subprocess.DEVNULL)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.bpf_dir, ignore_errors=True)
        # The cgroup parent every container of ours lived under, when nothing else uses it.
        for h in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", h, "berth"))
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--berth", default=os.path.join(REPO, "target", "debug", "berth"))
    ap.add_argument("-k", default="")
    ap.add_argument("--timeout", type=int, default=300, help="seconds a case may take")
    args = ap.parse_args()
    if shutil.which("docker") is None:
        print("docker CLI missing: the compat suite needs it", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    b = None
    try:
        import cases_containers  # noqa: F401  (registers cases)
        import cases_exec  # noqa: F401
        import cases_tty  # noqa: F401
        import cases_images  # noqa: F401
        import cases_py  # noqa: F401
        import cases_ops  # noqa: F401
        import cases_crash  # noqa: F401
        import cases_storage  # noqa: F401
        import cases_net  # noqa: F401
        import cases_monitor  # noqa: F401
        import cases_ports  # noqa: F401
        import cases_hardening  # noqa: F401
        import cases_api17  # noqa: F401
        import cases_netsettings  # noqa: F401
        import cases_filters  # noqa: F401
        import cases_images17  # noqa: F401
        import cases_links  # noqa: F401
        import cases_createfields  # noqa: F401
        import cases_attach17  # noqa: F401
        import cases_build  # noqa: F401
        import cases_build18  # noqa: F401
        import cases_login  # noqa: F401
        import cases_schema  # noqa: F401
        import cases_coexist  # noqa: F401
        import cases_dns  # noqa: F401
        import cases_userns  # noqa: F401
        import cases_ipv6  # noqa: F401
        b = Berth(args.berth)
        b.docker("import", "-", "busybox:latest", input=busybox_tar(), check_rc=0)
        for fn in CASES:
            if args.k and args.k not in fn.__name__:
                continue
            t0 = time.time()
            try:
                run_case(fn, b, fn.timeout or args.timeout)
                passed += 1
                print(f"ok   {fn.__name__} ({time.time() - t0:.1f}s)", flush=True)
            except KeyboardInterrupt:
                raise
            except BaseException as e:  # noqa: BLE001  (SystemExit too: a case, not the run)
                failed += 1
                known = isinstance(e, (Failed, TimedOut))
                detail = str(e) if known else traceback.format_exc()
                print(f"FAIL {fn.__name__}: {detail}", flush=True)
                # A failed case may leave containers behind: the next cases start clean.
                ids = b.docker("ps", "-aq").stdout.decode().split()
                if ids:
                    b.docker("rm", "-f", *ids)
    except Exception:  # noqa: BLE001  (the suite itself, not a case: one failure more)
        failed += 1
        print(f"FAIL the suite: {traceback.format_exc()}", flush=True)
    finally:
        try:
            if b is not None:
                b.close()
            import refdockerd
            refdockerd.close()
        finally:
            print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.modules.setdefault("compat", sys.modules[__name__])
    sys.exit(main())
