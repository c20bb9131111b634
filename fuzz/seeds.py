#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/seed-*): a few valid inputs and a
few edge ones each. Run again to rewrite them; the seeds are committed."""
import gzip
import hashlib
import io
import json
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def tar_of(entries):
    """entries: (name, kind, data_or_target, extra headers)"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data, pax in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.pax_headers = pax
            if kind == "file":
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
                continue
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            t.addfile(ti)
    return buf.getvalue()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


# Layers.
layer = tar_of([("etc", "dir", None, {}), ("etc/hello", "file", b"hello\n", {}),
                ("bin", "dir", None, {}), ("bin/sh", "symlink", "busybox", {}),
                ("bin/busybox", "file", b"\x7fELF", {"SCHILY.xattr.user.x": "1"}),
                ("bin/ash", "link", "bin/busybox", {})])
put("unpack_layer", "plain", layer)
put("unpack_layer", "gzip", gzip.compress(layer))
put("unpack_layer", "whiteouts", tar_of([("a", "dir", None, {}), ("a/.wh..wh..opq", "file", b"", {}),
                                         (".wh.gone", "file", b"", {}), ("p", "fifo", None, {})]))
put("unpack_layer", "climbs", tar_of([("../out", "file", b"x", {}), ("/abs", "file", b"x", {})]))
put("unpack_layer", "link-then-write", tar_of([("l", "symlink", "/tmp", {}), ("l/x", "file", b"x", {})]))
put("unpack_layer", "empty", b"")

# Load archives.
def save_archive(created, tags=("a:1",)):
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": created,
                         "config": {"Cmd": ["sh"]},
                         "history": [{"created": created, "created_by": "seed"}],
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    manifest = json.dumps([{"Config": "c.json", "RepoTags": list(tags), "Layers": ["l/layer.tar"]}])
    return tar_of([("manifest.json", "file", manifest.encode(), {}), ("c.json", "file", config, {}),
                   ("l/layer.tar", "file", layer, {})])


put("load_archive", "save", save_archive("2024-01-02T03:04:05Z"))
put("load_archive", "created-euro", save_archive("€é€", ()))
put("load_archive", "save-gzip", gzip.compress(save_archive("2024-01-02T04:04:05+01:00")))
cfg = json.dumps({"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                             "digest": sha(cfg), "size": len(cfg)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                              "digest": sha(layer), "size": len(layer)}]}).encode()
index = json.dumps({"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(man), "size": len(man),
     "annotations": {"io.containerd.image.name": "docker.io/library/oci:1"}}]}).encode()
blob = lambda b: "blobs/sha256/" + hashlib.sha256(b).hexdigest()
put("load_archive", "oci", tar_of([("oci-layout", "file", b'{"imageLayoutVersion":"1.0.0"}', {}),
                                   ("index.json", "file", index, {}), (blob(man), "file", man, {}),
                                   (blob(cfg), "file", cfg, {}), (blob(layer), "file", layer, {})]))
put("load_archive", "manifest-link", tar_of([("manifest.json", "symlink", "manifest.json", {})]))

# References.
for i, r in enumerate(["busybox", "busybox:latest", "localhost:5000/a/b:tag",
                       "docker.io/library/x@sha256:" + "a" * 64, "[::1]:5000/x:y", "UPPER",
                       "a:b:c", "sha256:" + "0" * 64, "linux/arm64/v8", ""]):
    put("image_reference", str(i), r)

# Filters and times.
for i, f in enumerate(['{"label":["a=1","b"]}', '{"until":["24h"],"label!":["x"]}',
                       '{"dangling":{"true":true}}', '{"name":["*web?"]}', "1700000000.5",
                       "2024-01-02T03:04:05Z", "{}", '{"a":[1]}']):
    put("filters", str(i), f)

# Create bodies.
put("create_body", "run", json.dumps({"Image": "busybox", "Cmd": ["sh", "-c", "echo hi"], "Tty": True,
    "Env": ["A=1"], "Labels": {"l": "v"}, "ExposedPorts": {"8080/tcp": {}},
    "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2000000000, "Retries": 3},
    "HostConfig": {"Memory": 67108864, "CpuShares": 512, "PidsLimit": 100,
                   "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]},
                   "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                   "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                   "CapAdd": ["NET_ADMIN"], "CapDrop": ["ALL"],
                   "DeviceCgroupRules": ["c 1:3 rwm"], "SecurityOpt": ["no-new-privileges"],
                   "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3",
                                                                  "tag": "{{.Name}}/{{.ID}}"}}}}))
put("create_body", "seccomp", json.dumps({"Image": "busybox", "HostConfig": {"SecurityOpt": [
    "seccomp=" + json.dumps({"defaultAction": "SCMP_ACT_ERRNO",
                             "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]})]}}))
put("create_body", "empty", "{}")
put("create_body", "edge", json.dumps({"Image": "x", "Entrypoint": "", "StopSignal": "SIGRTMAX+1",
    "HostConfig": {"Memory": -1, "NanoCpus": 9223372036854775807, "CpuQuota": -9223372036854775808,
                   "ShmSize": -1, "OomScoreAdj": 1001, "CgroupParent": "../x",
                   "PortBindings": {"99999/tcp": [{"HostPort": "1-65536"}]}}}))

# Control messages: a kind byte, then the message.
for i, m in enumerate([b"\x00" + b'{"op":"stop","timeout":3,"signal":"SIGTERM"}',
                       b"\x00" + b'{"op":"resize","rows":24,"cols":80}',
                       b"\x01" + b'{"result":"error","message":"m","exit_code":127,"conflict":false}',
                       b"\x01" + b'{"result":"started","pid":42}',
                       b"\x02" + b'{"stdin":true,"stdout":true,"raw":null}',
                       b"\x03" + b"\x01\x00\x00\x00\x00\x00\x00\x02hi\x02\x00\x00\x00\xff\xff\xff\xffab"]):
    put("control", str(i), m)

# json-file logs.
put("json_log", "lines", '{"log":"hello\\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}\n'
    '{"log":"part","stream":"stderr","time":"2024-01-02T03:04:05Z","attrs":{"tag":"t x"}}\n')
put("json_log", "torn", '{"log":"a\\n","stream":"stdout","time":"2024-01-02T03:04:05.1Z"}\n{"log":"b')
put("json_log", "odd-time", '{"log":"\\u00e9\\n","stream":"stdout","time":"€é€"}\n'
    '{"log":"x","stream":"stdin","time":""}\n')

# mountinfo: the path, then the table.
put("mountinfo", "table", "/mnt/x/y\n22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "30 22 0:5 / /mnt/x rw master:3 - tmpfs tmpfs rw\n"
    "31 22 0:6 / /mnt/with\\040space rw - tmpfs tmpfs rw\n")
put("mountinfo", "short", "/\n1 2\n\n- - - - - -\n")

# Dockerfiles.
put("dockerfile", "simple", "# syntax=docker/dockerfile:1\nFROM busybox AS base\nARG X=1\n"
    "ENV A=$X B=\"two words\"\nRUN echo hi && \\\n    echo there\nCOPY --chown=1:1 a b /dst/\n"
    "CMD [\"sh\", \"-c\", \"echo $A\"]\n")
put("dockerfile", "escape-heredoc", "# escape=`\nFROM busybox\nRUN <<EOF\necho a\nEOF\n"
    "WORKDIR C:`\nHEALTHCHECK --interval=5s CMD true\n")
put("dockerfile", "ignore", "*.md\n!README.md\n**/target\n../x\n")
