"""The embedded DNS benchmark (bench.py --only dns, and part of the full run): the time from a
question for a peer's name to its answer at 127.0.0.11:53, asked from inside a container's
network namespace (a thread of this process that entered it), berth and dockerd alternating,
medians and the ratio. Not a test: it never fails on a figure."""
import ctypes
import os
import socket
import statistics
import struct
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000


def query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


class Asker:
    """A thread inside the network namespace of `pid`, timing questions to 127.0.0.11:53."""

    def __init__(self, pid):
        self.pid = pid
        self.ns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        self.sock = None
        t = threading.Thread(target=self.enter)
        t.start()
        t.join()
        if self.sock is None:
            raise RuntimeError(f"could not enter the network namespace of {pid}")

    def enter(self):
        libc = ctypes.CDLL(None, use_errno=True)
        # The calling thread only; the socket made here stays in that namespace.
        if libc.setns(self.ns, CLONE_NEWNET) != 0:
            return
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2)
        self.sock.connect(("127.0.0.11", 53))

    def ask_ms(self, name, qid):
        t = time.perf_counter()
        self.sock.send(query(qid, name))
        while True:
            answer = self.sock.recv(4096)
            if answer[:2] == struct.pack(">H", qid):
                break
        ms = (time.perf_counter() - t) * 1000
        if struct.unpack(">H", answer[6:8])[0] < 1:
            raise RuntimeError(f"no answer for {name}: {answer!r}")
        return ms

    def close(self):
        self.sock.close()
        os.close(self.ns)


def shim_rss_kib(container_pid):
    """VmRSS of the parent of a container's process (berth's shim)."""
    with open(f"/proc/{container_pid}/status") as f:
        ppid = next(int(x.split()[1]) for x in f if x.startswith("PPid:"))
    with open(f"/proc/{ppid}/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:"))


def engine_setup(env, tag):
    """A network, a peer and a container to ask from, on one engine: (Asker, cleanup)."""
    def docker(*args):
        return subprocess.run(["docker", *args], env=env, check=True, capture_output=True,
                              text=True).stdout.strip()
    docker("network", "create", f"dnsbench{tag}")
    docker("run", "-d", "--name", f"dnspeer{tag}", "--network", f"dnsbench{tag}", "busybox", "sleep", "600")
    docker("run", "-d", "--name", f"dnsask{tag}", "--network", f"dnsbench{tag}", "busybox", "sleep", "600")
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", f"dnsask{tag}"))

    def cleanup():
        subprocess.run(["docker", "rm", "-f", f"dnspeer{tag}", f"dnsask{tag}"], env=env, capture_output=True)
        subprocess.run(["docker", "network", "rm", f"dnsbench{tag}"], env=env, capture_output=True)
    return Asker(pid), cleanup


def dns_benchmark(b, d, runs):
    """Median time to resolve a peer's name at 127.0.0.11, berth and dockerd alternating."""
    n = max(runs, 20) * 10
    print(f"== resolve a peer's name at 127.0.0.11 from inside a container (median of {n}, alternating)")
    engines = [("berth", b.env, "b")] + ([("dockerd", d.env, "d")] if d else [])
    made = []
    try:
        for name, env, tag in engines:
            asker, cleanup = engine_setup(env, tag)
            made.append((name, asker, cleanup, f"dnspeer{tag}"))
        times = {name: [] for name, *_ in made}
        # The first question of each warms its caches (and berth's shim's pages).
        for name, asker, _, peer in made:
            asker.ask_ms(peer, 1)
        for i in range(n):
            for name, asker, _, peer in made:
                times[name].append(asker.ask_ms(peer, (i + 2) & 0xFFFF))
        med = {name: statistics.median(v) for name, v in times.items()}
        print(f"berth   {med['berth']:8.3f} ms")
        if "dockerd" in med:
            print(f"dockerd {med['dockerd']:8.3f} ms   berth/dockerd = {med['berth'] / med['dockerd']:.2f}")
        # berth's shim after answering them all, once it has given the answers' memory back:
        # the container's process is the shim's child.
        time.sleep(1.5)
        berth_asker = made[0][1]
        print(f"berth-shim RSS after {n + 1} answers {shim_rss_kib(berth_asker.pid)} KiB (goal <= 1024 KiB)")
        return med
    finally:
        for _, asker, cleanup, _ in made:
            asker.close()
            cleanup()
