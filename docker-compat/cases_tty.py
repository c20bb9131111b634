"""Interactive use through a real terminal: the docker CLI runs under a pty driven from here."""
import fcntl
import json
import os
import pty
import select
import signal
import struct
import termios
import time

from compat import Failed, case, check


class Terminal:
    """The docker CLI on a pseudo-terminal of its own."""

    def __init__(self, b, args, rows=24, cols=80):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe("docker", ["docker", *args], b.env)
        self.resize(rows, cols)
        self.buf = b""

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        try:
            os.kill(self.pid, signal.SIGWINCH)
        except ProcessLookupError:
            pass

    def send(self, data):
        os.write(self.fd, data)

    def expect(self, needle, timeout=15):
        deadline = time.time() + timeout
        while needle not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise Failed(f"waited for {needle!r}, got {self.buf[-400:]!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise Failed(f"terminal closed waiting for {needle!r}: {self.buf[-400:]!r}")
                self.buf += chunk
        return self.buf

    def drain(self):
        """Read what the terminal still holds (the CLI's last words)."""
        while True:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if not r:
                    return
                chunk = os.read(self.fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.buf += chunk

    def wait(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.drain()
                return os.waitstatus_to_exitcode(status)
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if r:
                    self.buf += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise Failed("the docker CLI did not exit")


@case
def run_it_resize_and_detach_keys(b):
    t = Terminal(b, ["run", "-it", "--name", "it1", "busybox", "sh"], rows=30, cols=100)
    t.expect(b"# ")
    t.send(b"stty size; echo mark$((40+2))\r")
    t.expect(b"30 100")
    t.expect(b"mark42")
    t.resize(40, 120)
    time.sleep(0.5)
    t.send(b"stty size\r")
    t.expect(b"40 120")
    # Ctrl-P Ctrl-Q: the CLI detaches and the container goes on.
    t.send(b"\x10\x11")
    code = t.wait()
    check(code == 0, f"detach exit code {code}")
    st = json.loads(b.out("inspect", "it1"))[0]["State"]
    check(st["Running"], f"the container stopped on detach: {st}")
    b.out("rm", "-f", "it1")


@case
def exec_it_reads_a_line_and_sees_a_resize(b):
    b.out("run", "-d", "--name", "it2", "busybox", "sleep", "1000")
    t = Terminal(b, ["exec", "-it", "it2", "sh", "-c", "read x; echo got-$x; stty size; read y; stty size"], rows=25, cols=90)
    time.sleep(0.5)
    t.send(b"hello\r")
    t.expect(b"got-hello")
    t.expect(b"25 90")
    t.resize(33, 111)
    time.sleep(0.5)
    t.send(b"\r")
    t.expect(b"33 111")
    code = t.wait()
    check(code == 0, f"exit {code}: {t.buf!r}")
    b.out("rm", "-f", "it2")


@case
def pause_stops_a_counter_and_unpause_resumes_it(b):
    # The counter is written to a temporary file and renamed over /tmp/c, so a reader (or the
    # freeze) never finds it truncated and not yet rewritten.
    b.out("run", "-d", "--name", "cnt", "busybox", "sh", "-c",
          "i=0; while :; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/c; sleep 0.05; done")
    time.sleep(0.5)
    b.out("pause", "cnt")
    check(json.loads(b.out("inspect", "cnt"))[0]["State"]["Status"] == "paused", "paused")
    p = b.docker("pause", "cnt")
    check(p.returncode != 0 and b"already paused" in p.stderr, p.stderr.decode())
    b.out("unpause", "cnt")
    v1 = int(b.out("exec", "cnt", "cat", "/tmp/c"))
    b.out("pause", "cnt")
    time.sleep(0.2)
    # Read the counter from the host's side of the overlay while frozen: it must not move.
    upper = json.loads(b.out("inspect", "cnt"))[0]["GraphDriver"]["Data"]["UpperDir"]
    with open(os.path.join(upper, "tmp/c")) as f:
        frozen = int(f.read().strip())
    time.sleep(0.6)
    with open(os.path.join(upper, "tmp/c")) as f:
        still = int(f.read().strip())
    check(frozen == still and frozen >= v1, f"moved while paused: {frozen} -> {still}")
    b.out("unpause", "cnt")
    time.sleep(0.5)
    after = int(b.out("exec", "cnt", "cat", "/tmp/c"))
    check(still < after < still + 100, f"resumed from where it stopped: {still} -> {after}")
    b.out("rm", "-f", "cnt")


@case
def start_ai_and_attach_interactive(b):
    b.out("create", "-it", "--name", "it3", "busybox", "sh")
    t = Terminal(b, ["start", "-ai", "it3"])
    t.expect(b"# ")
    t.send(b"echo in-$((2+3))\r")
    t.expect(b"in-5")
    t.send(b"exit 5\r")
    code = t.wait()
    check(code == 5, f"start -ai exit code {code}")
    b.out("run", "-dit", "--name", "it4", "busybox", "sh")
    t = Terminal(b, ["attach", "it4"])
    time.sleep(0.3)
    t.send(b"echo att-$((6*7))\r")
    t.expect(b"att-42")
    t.send(b"\x10\x11")
    code = t.wait()
    # The docker CLI ends a detached `attach` with "read escape sequence" and status 1.
    check(code == 1 and b"read escape sequence" in t.buf, f"attach detach: {code} {t.buf[-200:]!r}")
    check(json.loads(b.out("inspect", "it4"))[0]["State"]["Running"], "still running after detach")
    b.out("rm", "-f", "it3", "it4")
