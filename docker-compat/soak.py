"""The soak (issue 20, part 3; `bench.sh --only soak [--soak-seconds N]`): 16 clients at once,
each a process with a docker-py client of its own, for a set time, doing a mix of create,
start, exec, logs, attach, stop, kill, rm, inspect, list, events, volume and network
operations on one shared set of container, volume and network names (shared on purpose: one
client removes what another inspects). The same mix (the same seeds) runs against berth and
then against the reference dockerd, for the same time.

Afterwards, on each engine:
- every failure that is not a conflict (409) or a not-found (404) (or, for a network, dockerd's
  403 for removing one in use) is listed with its route;
- the clients' ledger (ids created, ids removed) against `ps -a`: none lost, none doubled,
  names unique;
- everything is removed, and then nothing may be left: mounts under the engine's directories,
  processes naming them (shims), and on berth its cgroups in every hierarchy, its veths and
  bridges, its nftables and iptables rules, run dirs and lock files;
- the events, streamed from before the mix to after the removal (and on berth read back from
  its log too): create, then (start, die)*, then destroy, for every container of the ledger;
- the API process's RSS and open fds, sampled every 10 s: first, last, max, and at rest.
Then ops/s and p50/p99 per operation, beside dockerd's, and the throughput ratio.
"""
import glob
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import threading
import time

CLIENTS = 16
SLOTS = 24  # container names
VOLUMES = 4
NETWORKS = 2
API = "1.41"  # the reference dockerd's (20.10): both engines speak the same version
PREFIX = "soak-"
COMMAND = ["sh", "-c", "echo up; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; echo tick; done"]
# Weights of the mix.
MIX = [("create", 10), ("start", 10), ("exec", 8), ("logs", 8), ("attach", 5), ("stop", 5),
       ("kill", 5), ("rm", 8), ("inspect", 12), ("list", 6), ("events", 3), ("volume", 6),
       ("network", 4)]
# The answers that are no failure: not found and conflict, and for the network operations
# dockerd's 403 for removing a network that has endpoints (the route documents it).
EXPECTED = {"network": (403, 404, 409)}
EXPECTED_ELSE = (404, 409)
HOST = re.compile(r"^http\+docker://[^/]*")
LIFECYCLE = ("create", "start", "die", "destroy")


def slot(rng):
    return f"{PREFIX}{rng.randrange(SLOTS)}"


class Worker:
    """One client: runs the mix until the deadline, keeping latencies, outcomes and its part
    of the ledger."""

    def __init__(self, base_url, seed):
        import docker
        self.api = docker.APIClient(base_url=base_url, version=API, timeout=120)
        self.rng = random.Random(seed)
        self.lat = {}  # op -> [ms]
        self.outcomes = {}  # op -> {"ok": n, 404: n, 409: n, "error": n}
        self.errors = []  # (op, route, status, text)
        self.created = []  # (id, name)
        self.removed = []  # ids

    # The operations: each returns nothing; an APIError or another exception is its outcome.
    def op_create(self):
        name = slot(self.rng)
        binds = None
        if self.rng.random() < 0.3:
            binds = {f"{PREFIX}vol-{self.rng.randrange(VOLUMES)}": {"bind": "/data", "mode": "rw"}}
        hc = self.api.create_host_config(binds=binds)
        c = self.api.create_container("busybox:latest", COMMAND, name=name, host_config=hc,
                                      labels={"soak": "1"})
        self.created.append((c["Id"], name))

    def op_start(self):
        self.api.start(slot(self.rng))

    def op_exec(self):
        e = self.api.exec_create(slot(self.rng), ["echo", "exec"])
        self.api.exec_start(e["Id"])

    def op_logs(self):
        self.api.logs(slot(self.rng), tail=10)

    def op_attach(self):
        self.api.attach(slot(self.rng), stream=False, logs=True)

    def op_stop(self):
        self.api.stop(slot(self.rng), timeout=1)

    def op_kill(self):
        self.api.kill(slot(self.rng))

    def op_rm(self):
        # By id, as read a moment before: another client may remove or replace it meanwhile.
        cid = self.api.inspect_container(slot(self.rng))["Id"]
        self.api.remove_container(cid, force=self.rng.random() < 0.5)
        self.removed.append(cid)

    def op_inspect(self):
        self.api.inspect_container(slot(self.rng))

    def op_list(self):
        self.api.containers(all=True)

    def op_events(self):
        now = time.time()
        for _ in self.api.events(since=now - 2, until=now, decode=True):
            pass

    def op_volume(self):
        name = f"{PREFIX}vol-{self.rng.randrange(VOLUMES)}"
        step = self.rng.choice(["create", "inspect", "list", "rm"])
        if step == "create":
            self.api.create_volume(name)
        elif step == "inspect":
            self.api.inspect_volume(name)
        elif step == "list":
            self.api.volumes()
        else:
            self.api.remove_volume(name)

    def op_network(self):
        name = f"{PREFIX}net-{self.rng.randrange(NETWORKS)}"
        step = self.rng.choice(["create", "inspect", "list", "connect", "rm"])
        if step == "create":
            self.api.create_network(name, driver="bridge", check_duplicate=True)
        elif step == "inspect":
            self.api.inspect_network(name)
        elif step == "list":
            self.api.networks()
        elif step == "connect":
            c = slot(self.rng)
            self.api.connect_container_to_network(c, name)
            self.api.disconnect_container_from_network(c, name)
        else:
            self.api.remove_network(name)

    def run(self, deadline):
        import docker
        import requests
        ops = [op for op, w in MIX for _ in range(w)]
        while time.time() < deadline:
            op = self.rng.choice(ops)
            t = time.perf_counter()
            try:
                getattr(self, "op_" + op)()
                outcome = "ok"
            except docker.errors.APIError as e:
                status = e.response.status_code if e.response is not None else None
                outcome = status if status in EXPECTED.get(op, EXPECTED_ELSE) else "error"
                if outcome == "error":
                    req = e.response.request if e.response is not None else None
                    route = f"{req.method} {HOST.sub('', req.url)}" if req else "?"
                    self.errors.append((op, route, status, str(e.explanation)[:300]))
            except (requests.exceptions.RequestException, OSError) as e:
                outcome = "error"
                self.errors.append((op, "?", None, f"{type(e).__name__}: {e}"[:300]))
            ms = (time.perf_counter() - t) * 1000
            self.lat.setdefault(op, []).append(ms)
            counts = self.outcomes.setdefault(op, {})
            counts[outcome] = counts.get(outcome, 0) + 1
        return {"lat": self.lat, "outcomes": self.outcomes, "errors": self.errors,
                "created": self.created, "removed": self.removed}


def _work(args):
    base_url, seed, deadline = args
    return Worker(base_url, seed).run(deadline)


def proc_sample(pid):
    """(VmRSS KiB, open fds) of a process; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


def children(pid):
    out = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        with open(task) as f:
            out += [int(p) for p in f.read().split()]
    return out


class Sampler(threading.Thread):
    """Every `every` s, RSS and fds of the serving processes (name -> pid)."""

    def __init__(self, pids, every=10.0):
        super().__init__(daemon=True)
        self.pids, self.every, self.stop = pids, every, threading.Event()
        self.samples = {name: [] for name in pids}

    def run(self):
        while True:
            for name, pid in self.pids.items():
                s = proc_sample(pid)
                if s:
                    self.samples[name].append(s)
            if self.stop.wait(self.every):
                break

    def report(self, rest):
        """`rest`: name -> a sample taken after the clients have gone and all is removed."""
        lines = []
        for name, s in self.samples.items():
            if not s:
                lines.append(f"  {name}: no samples (process gone?)")
                continue
            rss = [x[0] for x in s]
            fds = [x[1] for x in s]
            after = rest.get(name) or ("?", "?")
            lines.append(f"  {name}: RSS KiB first {rss[0]} last {rss[-1]} max {max(rss)}; "
                         f"fds first {fds[0]} last {fds[-1]} max {max(fds)} ({len(s)} samples); "
                         f"at rest afterwards RSS {after[0]} KiB, fds {after[1]}")
            lines.append(f"    RSS MiB every {self.every:.0f} s: {' '.join(str(x // 1024) for x in rss)}")
            lines.append(f"    fds every {self.every:.0f} s: {' '.join(str(x) for x in fds)}")
        return lines


class Listener(threading.Thread):
    """`docker events` streaming from before the mix until after the removal: the container
    lifecycle events as they were delivered, per container."""

    def __init__(self, api, since):
        super().__init__(daemon=True)
        self.stream = api.events(since=since, filters={"type": "container"}, decode=True)
        self.seqs, self.error = {}, None

    def run(self):
        try:
            for ev in self.stream:
                action = ev.get("Action") or ev.get("status")
                if action in LIFECYCLE:
                    self.seqs.setdefault(ev["Actor"]["ID"], []).append(action)
        except Exception as e:  # noqa: BLE001 (a stream closed by close() ends here too)
            self.error = e

    def close(self):
        self.stream.close()
        self.join(10)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run_mix(pool, base_url, seconds):
    """The mix from CLIENTS processes until `seconds` have passed; merged results."""
    deadline = time.time() + seconds
    jobs = [(base_url, 1000 + i, deadline) for i in range(CLIENTS)]
    results = pool.map_async(_work, jobs).get(seconds + 600)
    merged = {"lat": {}, "outcomes": {}, "errors": [], "created": [], "removed": [], "seconds": seconds}
    for r in results:
        for op, xs in r["lat"].items():
            merged["lat"].setdefault(op, []).extend(xs)
        for op, counts in r["outcomes"].items():
            m = merged["outcomes"].setdefault(op, {})
            for k, v in counts.items():
                m[k] = m.get(k, 0) + v
        for k in ("errors", "created", "removed"):
            merged[k] += r[k]
    return merged


def check_ledger(api, res):
    """Problems of the ledger against `ps -a` (lost, doubled, unknown, names not unique)."""
    problems = []
    rows = api.containers(all=True, filters={"label": "soak=1"})
    ids = [r["Id"] for r in rows]
    names = [n for r in rows for n in r["Names"]]
    created = {cid for cid, _ in res["created"]}
    removed = set(res["removed"])
    if len(ids) != len(set(ids)):
        problems.append(f"ps -a lists an id twice: {sorted(ids)}")
    if len(names) != len(set(names)):
        problems.append(f"ps -a lists a name twice: {sorted(names)}")
    if len(created) != len(res["created"]):
        problems.append("one id was returned by two creates")
    if len(removed) != len(res["removed"]):
        problems.append("one id was removed by two successful rm")
    if removed - created:
        problems.append(f"removed but never created: {sorted(removed - created)}")
    lost = created - removed - set(ids)
    if lost:
        problems.append(f"lost (created, never removed, not listed): {sorted(lost)}")
    back = removed & set(ids)
    if back:
        problems.append(f"removed but still listed: {sorted(back)}")
    unknown = set(ids) - created
    if unknown:
        problems.append(f"listed but created by no client: {sorted(unknown)}")
    return problems, ids


def remove_all(api):
    """Everything of the soak removed; the failures, as text."""
    out = []
    for r in api.containers(all=True, filters={"label": "soak=1"}):
        try:
            api.remove_container(r["Id"], force=True)
        except Exception as e:  # noqa: BLE001 (listed in the report)
            out.append(f"rm -f {r['Id'][:12]}: {e}")
    for v in (api.volumes().get("Volumes") or []):
        if v["Name"].startswith(PREFIX):
            try:
                api.remove_volume(v["Name"])
            except Exception as e:  # noqa: BLE001
                out.append(f"volume rm {v['Name']}: {e}")
    for n in api.networks():
        if n["Name"].startswith(PREFIX):
            try:
                api.remove_network(n["Id"])
            except Exception as e:  # noqa: BLE001
                out.append(f"network rm {n['Name']}: {e}")
    return out


def check_events(seqs, res):
    """Per container of the ledger, its lifecycle events (`seqs`: id -> actions) must read
    create (start die)* destroy (everything is removed by now)."""
    problems = []
    pattern = re.compile(r"^cr(stdi)*de$")
    created = {cid for cid, _ in res["created"]}
    for cid in sorted(created):
        seq = "".join(a[:2] for a in seqs.get(cid, []))  # cr st di de
        if not pattern.match(seq):
            problems.append(f"{cid[:12]}: {' '.join(seqs.get(cid, [])) or '(none)'}")
    for cid in sorted(set(seqs) - created):
        problems.append(f"{cid[:12]}: events of a container no client created: {' '.join(seqs[cid])}")
    return problems, sum(len(v) for v in seqs.values())


def replayed(api, since, until):
    """The lifecycle events read back afterwards (`since`/`until`), per container."""
    seqs = {}
    for ev in api.events(since=since, until=until, filters={"type": "container"}, decode=True):
        action = ev.get("Action") or ev.get("status")
        if action in LIFECYCLE:
            seqs.setdefault(ev["Actor"]["ID"], []).append(action)
    return seqs


def leftovers_common(dirs, own_pids):
    """Mounts under `dirs` and processes naming them (other than the engine's own)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if any(point.startswith(d) for d in dirs):
                out.append(f"mount {point}")
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        pid = int(p.split("/")[2])
        if pid in own_pids or pid == os.getpid():
            continue
        try:
            with open(p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(d in cmd for d in dirs):
            out.append(f"process {pid}: {cmd[:160]}")
    return out


def leftovers_berth(b, ids, network_ids):
    """What berth keeps per container and per network, for the soak's ids."""
    out = leftovers_common([b.root, b.run_root], {b.proc.pid})
    for h in glob.glob("/sys/fs/cgroup/*"):
        for cid in ids:
            for path in glob.glob(f"{h}/**/{cid}*", recursive=True):
                out.append(f"cgroup {path}")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for cid in ids:
        if f" vb{cid[:7]}" in links:
            out.append(f"veth vb{cid[:7]}*")
    for nid in network_ids:
        if f" br-{nid[:12]}" in links:
            out.append(f"bridge br-{nid[:12]}")
    rules = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    rules += subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    for nid in network_ids:
        if f"br-{nid[:12]}" in rules:
            out.append(f"firewall rules naming br-{nid[:12]}")
    for cid in ids:
        if f"vb{cid[:7]}" in rules:
            out.append(f"firewall rules naming vb{cid[:7]}")
    for d in (os.path.join(b.run_root, "containers"), os.path.join(b.root, "containers")):
        if os.path.isdir(d) and os.listdir(d):
            out.append(f"dirs left in {d}: {sorted(os.listdir(d))[:5]}")
    locks = glob.glob(os.path.join(b.root, "**", "*.lock"), recursive=True)
    locks += glob.glob(os.path.join(b.run_root, "**", "*.lock"), recursive=True)
    for path in locks:
        if any(cid in path for cid in ids):
            out.append(f"lock file {path}")
    return out


def soak_engine(name, api, base_url, seconds, pids, leftovers, replay):
    """The mix on one engine, then its checks; the results. `replay`: whether the events read
    back afterwards are checked too (dockerd keeps only its last 256 events for that)."""
    t0 = time.time()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(CLIENTS) as pool:  # forked before any thread of ours exists
        listener = Listener(api, t0)
        listener.start()
        sampler = Sampler(pids)
        sampler.start()
        try:
            res = run_mix(pool, base_url, seconds)
        finally:
            sampler.stop.set()
            sampler.join()
    ledger, _ = check_ledger(api, res)
    removal = remove_all(api)
    time.sleep(2)
    until = time.time()
    listener.close()
    events, n_events = check_events(listener.seqs, res)
    if listener.error is not None and not listener.seqs:
        events.append(f"the events stream failed: {listener.error}")
    replay_events = check_events(replayed(api, t0 - 1, until), res) if replay else None
    rest = {n: proc_sample(p) for n, p in pids.items()}
    ids = {cid for cid, _ in res["created"]}
    res.update(name=name, ledger=ledger, removal=removal, events=events, n_events=n_events,
               replay=replay_events, rss=sampler.report(rest), leftovers=leftovers(ids))
    return res


def report(res):
    secs = res["seconds"]
    done = sum(sum(c.values()) - c.get("error", 0) for c in res["outcomes"].values())
    print(f"-- {res['name']}: {secs} s, {CLIENTS} clients: {done} operations answered as documented "
          f"({done / secs:.1f}/s), {len(res['errors'])} other failures")
    print(f"  {'op':8} {'n':>6} {'ok':>6} {'403':>4} {'404':>5} {'409':>5} {'err':>4} {'ops/s':>7} "
          f"{'p50 ms':>8} {'p99 ms':>8}")
    for op, _ in MIX:
        xs = res["lat"].get(op, [])
        c = res["outcomes"].get(op, {})
        if not xs:
            continue
        print(f"  {op:8} {len(xs):6} {c.get('ok', 0):6} {c.get(403, 0):4} {c.get(404, 0):5} {c.get(409, 0):5} "
              f"{c.get('error', 0):4} {len(xs) / secs:7.2f} {statistics.median(xs):8.1f} {pct(xs, 99):8.1f}")
    shown = {}
    for op, route, status, text in res["errors"]:
        key = (op, re.sub(r"[0-9a-f]{64}", "<id>", route), status, re.sub(r"[0-9a-f]{12,64}", "<id>", text))
        shown[key] = shown.get(key, 0) + 1
    for (op, route, status, text), n in sorted(shown.items(), key=lambda kv: -kv[1]):
        print(f"  FAILED x{n} {op}: {route} -> {status}: {text}")
    print(f"  ledger: {len(res['created'])} created, {len(res['removed'])} removed by the clients; "
          f"{'held' if not res['ledger'] else 'PROBLEMS'}")
    for p in res["ledger"]:
        print(f"    {p}")
    for p in res["removal"]:
        print(f"  removal failed: {p}")
    verdict = (f"{len(res['events'])} containers out of order" if res["events"]
               else "every container: create (start die)* destroy")
    print(f"  events (streamed live): {res['n_events']} lifecycle events; {verdict}")
    for p in res["events"][:20]:
        print(f"    {p}")
    if res["replay"] is not None:
        problems, n = res["replay"]
        verdict = f"{len(problems)} containers out of order" if problems else "in order"
        print(f"  events (read back from the log afterwards): {n} lifecycle events; {verdict}")
        for p in problems[:20]:
            print(f"    {p}")
    print(f"  leftovers after removing everything: {len(res['leftovers']) or 'none'}")
    for p in res["leftovers"][:30]:
        print(f"    {p}")
    print("  serving process(es), every 10 s:")
    for line in res["rss"]:
        print(line)
    return done / secs


def soak_benchmark(berth_bin, seconds):
    import shutil
    import compat
    import docker
    from bench import Dockerd
    tar = compat.busybox_tar()
    print(f"== soak: {CLIENTS} clients, {seconds} s on each engine (berth, then dockerd), "
          f"API {API}, {SLOTS} shared container names, {VOLUMES} volumes, {NETWORKS} networks")
    b = compat.Berth(berth_bin)
    network_ids = set()  # the networks made during the soak (from the events)
    try:
        b.docker("import", "-", "busybox:latest", input=tar, check_rc=0)
        api = docker.APIClient(base_url="unix://" + b.sock, version=API, timeout=120)
        start = time.time()

        def berth_leftovers(ids):
            network_ids.update(ev["Actor"]["ID"] for ev in api.events(
                since=start, until=time.time(), filters={"type": "network"}, decode=True)
                if ev.get("Action") == "create")
            return leftovers_berth(b, ids, network_ids)
        res_b = soak_engine("berth", api, "unix://" + b.sock, seconds, {"berth serve": b.proc.pid},
                            berth_leftovers, replay=True)
    finally:
        b.close()
    after_close = leftovers_common([b.tmp], set())
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    after_close += [f"bridge br-{n[:12]}" for n in network_ids if f" br-{n[:12]}" in links]
    res_d = None
    if shutil.which("dockerd"):
        d = Dockerd()
        try:
            subprocess.run(["docker", "import", "-", "busybox:latest"], env=d.env, input=tar, check=True,
                           capture_output=True)
            api = docker.APIClient(base_url="unix://" + d.sock, version=API, timeout=120)
            pids = {"dockerd": d.proc.pid}
            for c in children(d.proc.pid):
                pids[f"containerd ({c})"] = c
            own = os.path.join(d.tmp, "data")  # dockerd's own data-root mount stays while it runs

            def dockerd_leftovers(ids):
                found = leftovers_common([d.tmp], {d.proc.pid, *children(d.proc.pid)})
                return [x for x in found if x != f"mount {own}"]
            res_d = soak_engine("dockerd", api, "unix://" + d.sock, seconds, pids, dockerd_leftovers,
                                replay=False)
        finally:
            d.close()
    rate_b = report(res_b)
    print(f"  after berth's close (network teardown): {'; '.join(after_close) or 'nothing left'}")
    if res_d:
        rate_d = report(res_d)
        print(f"soak throughput berth/dockerd = {rate_b / rate_d:.2f} (goal >= 1.5)")
    else:
        print("(dockerd not installed: apt-get install docker.io for the side-by-side figures)")
