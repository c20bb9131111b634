"""Issue 17, images: inspect --size, create --platform, rmi --no-prune and parent pruning, the image
list's until and shared-size. Each case runs on berth and on the reference dockerd (20.10, API
1.41) where it can answer; differences that come from that dockerd's older API are stated."""
import json

import docker as dockerpy

import refdockerd
from compat import case, check


def engines(b):
    return refdockerd.engines(b)


def out(p):
    return p.stdout.decode().strip()


@case
def i17_inspect_size_shows_size_rw_and_root_fs(b):
    for name, docker, _ in engines(b):
        cid = out(docker("run", "-d", "--network", "none", "busybox", "sh", "-c", "head -c 7000 /dev/zero > /f"))
        try:
            docker("wait", cid)
            plain = json.loads(out(docker("container", "inspect", cid)))[0]
            check("SizeRw" not in plain, f"{name}: SizeRw without --size: {plain.get('SizeRw')!r}")
            v = json.loads(out(docker("container", "inspect", "--size", cid)))[0]
            image = json.loads(out(docker("image", "inspect", "busybox")))[0]["Size"]
            check(v.get("SizeRw", 0) >= 7000, f"{name}: SizeRw: {v.get('SizeRw')!r}")
            check(v.get("SizeRootFs") == v["SizeRw"] + image,
                  f"{name}: SizeRootFs {v.get('SizeRootFs')!r}: expected {v['SizeRw']} + {image}")
        finally:
            docker("rm", "-f", cid)


@case
def i17_create_platform_is_checked_against_the_image(b):
    for name, docker, client in engines(b):
        p = docker("create", "--platform", "linux/amd64", "busybox", "true")
        check(p.returncode == 0, f"{name}: create --platform linux/amd64: {p.stderr!r}")
        docker("rm", out(p))
        # The CLI takes the 404 for a missing image and tries a pull, which fails here (no Docker
        # Hub): the daemon's words are seen through docker-py.
        p = docker("create", "--platform", "linux/arm64", "busybox", "true")
        check(p.returncode != 0 and b"Unable to find image" in p.stderr,
              f"{name}: create --platform linux/arm64: {p.returncode} {p.stderr!r}")
        try:
            c = client.api.create_container("busybox", ["true"], platform="linux/arm64")
            client.api.remove_container(c["Id"])
            check(False, f"{name}: create for linux/arm64 of an amd64 image went through")
        except dockerpy.errors.NotFound as e:
            # dockerd 20.10: "image with reference busybox was found but does not match the
            # specified platform: wanted linux/arm64, actual: linux/amd64"; berth as moby now:
            # "... was found but its platform (linux/amd64) does not match the specified platform
            # (linux/arm64)".
            msg = str(e.explanation)
            check("image with reference busybox was found but" in msg and "linux/arm64" in msg,
                  f"{name}: create --platform linux/arm64: {msg!r}")


@case(timeout=120)
def i17_rmi_no_prune_keeps_the_untagged_parent(b):
    for name, docker, _ in engines(b):
        made = []

        def commit_child(image, repo):
            cid = out(docker("run", "-d", "--network", "none", image, "sh", "-c", "echo x > /f"))
            docker("wait", cid)
            img = out(docker("commit", cid, repo))
            docker("rm", cid)
            made.append(img)
            return img

        try:
            parent = commit_child("busybox", "p17")
            commit_child("p17", "c17")
            p = docker("rmi", "p17")
            check(p.returncode == 0 and "Deleted" not in out(p),
                  f"{name}: rmi of a parent: untagged only, got {p.returncode} {out(p)!r} {p.stderr!r}")
            p = docker("rmi", "--no-prune", "c17")
            check(p.returncode == 0 and parent not in out(p), f"{name}: rmi --no-prune: {out(p)!r} {p.stderr!r}")
            check(docker("image", "inspect", parent).returncode == 0, f"{name}: --no-prune removed the parent")
            commit_child(parent, "c17b")
            p = docker("rmi", "c17b")
            check(p.returncode == 0 and parent in out(p), f"{name}: rmi prunes the parent: {out(p)!r} {p.stderr!r}")
            check(docker("image", "inspect", parent).returncode != 0, f"{name}: the untagged parent stayed")
        finally:
            for img in reversed(made):
                docker("rmi", "-f", img)


@case
def i17_image_list_until_and_shared_size(b):
    for name, docker, client in engines(b):
        p = docker("images", "-q", "--filter", "until=24h")
        if name == "dockerd":
            # dockerd 20.10 has no `until` for the image list (later moby added it): it refuses it.
            check(p.returncode != 0, f"{name}: until on 20.10: {p.returncode} {out(p)!r}")
        else:
            check(p.returncode == 0, f"{name}: images --filter until=24h: {p.stderr!r}")
            ids = out(p).split()
            bb = out(docker("images", "-q", "busybox"))
            # busybox is imported by the suite just now: created within the last 24 hours.
            check(bb not in ids, f"{name}: until=24h listed busybox made now: {ids}")
        api = client.api
        rows = api._result(api._get(api._url("/images/json"), params={"shared-size": 1}), True)
        shared = [r["SharedSize"] for r in rows]
        if api._version >= "1.42":
            check(all(s >= 0 for s in shared), f"{name}: shared-size=1 on {api._version}: {shared}")
        else:
            check(all(s == -1 for s in shared), f"{name}: shared-size before 1.42: {shared}")
