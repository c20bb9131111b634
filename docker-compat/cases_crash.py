"""Crash-only behaviour: a SIGKILL of the API in the middle of a write leaves nothing half-made."""
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
import time

from compat import case, check


def save_archive(path, size_mb):
    """A `docker save` archive of one image whose single layer holds `size_mb` of random data."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        data = os.urandom(size_mb * 1024 * 1024)
        ti = tarfile.TarInfo("blob")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    layer = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/blob"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "test"}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["crashy:1"], "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, blob in [(config_name, config), ("layer/layer.tar", layer), ("manifest.json", manifest)]:
            ti = tarfile.TarInfo(name)
            ti.size = len(blob)
            t.addfile(ti, io.BytesIO(blob))


@case
def sigkill_mid_load_leaves_no_half_image(b):
    tmp = tempfile.mkdtemp(prefix="berth-crash-")
    try:
        archive = os.path.join(tmp, "a.tar")
        save_archive(archive, 64)
        layers = os.path.join(b.root, "layers")
        before = set(os.listdir(layers)) if os.path.isdir(layers) else set()
        # Upload slowly so that the kill lands in the middle of the load.
        p = subprocess.Popen(["curl", "-s", "--unix-socket", b.sock, "--limit-rate", "16M",
                              "-X", "POST", "-H", "Content-Type: application/x-tar",
                              "--data-binary", "@" + archive, "http://localhost/v1.47/images/load"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        check(p.poll() is None, "the upload ended before the kill: make it slower")
        b.sigkill()
        p.wait(timeout=30)
        check(b.docker("image", "inspect", "crashy:1").returncode != 0, "a half-loaded image is visible")
        after = set(os.listdir(layers)) if os.path.isdir(layers) else set()
        check(after == before, f"a half-unpacked layer is visible: {after - before}")
        # The next load succeeds.
        b.docker("load", "-i", archive, check_rc=0, timeout=120)
        img = json.loads(b.out("image", "inspect", "crashy:1"))[0]
        check(len(img["RootFS"]["Layers"]) == 1, str(img["RootFS"]))
        b.out("rmi", "crashy:1")
    finally:
        subprocess.run(["rm", "-rf", tmp])


@case
def two_api_processes_share_one_root(b):
    import signal
    import socket as sk
    sock2 = os.path.join(b.tmp, "second.sock")
    p = subprocess.Popen([b.binary, "serve", "--socket", sock2, "--root", b.root, "--run-root", b.run_root,
                          "--idle-timeout", "0"], env=b.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                s = sk.socket(sk.AF_UNIX)
                s.connect(sock2)
                s.close()
                break
            except OSError:
                time.sleep(0.02)
        env2 = dict(b.env, DOCKER_HOST="unix://" + sock2)
        cid = b.out("run", "-d", "--name", "shared", "busybox", "sleep", "1000")
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}} {{.Id}}", "shared"], env=env2,
                             capture_output=True, text=True)
        check(out.stdout.strip() == f"true {cid}", f"the second API sees it: {out.stdout!r} {out.stderr!r}")
        check(subprocess.run(["docker", "stop", "-t", "1", "shared"], env=env2, capture_output=True).returncode == 0,
              "stopped through the second API")
        check(json.loads(b.out("inspect", "shared"))[0]["State"]["Status"] == "exited", "the first API sees it stopped")
        b.out("rm", "shared")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
