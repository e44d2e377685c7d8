"""berth's NVFlare drop-in against NVFlare's own Docker job launcher, in one Python process.

Both arms are ``ClientDockerJobLauncher`` objects built with the same site args, launching
the same job meta, job process args and FLContext on the same engine, network, image and
workspace; their samples are interleaved in a seeded random order. Measured:

- ``launch_job`` until it returns (the container runs), and the process CPU it used;
- ``terminate()`` of that job until it returns, whether the container is gone then, and
  until the engine's ``destroy`` event for it (the container gone, for both arms alike);
- the job's exit (the engine's ``die`` event time) until ``wait()`` returns;
- N jobs launched at once from N threads: all running, all outcomes known, all correct;
- RSS and threads at 1/10/30 live jobs, each arm in a child process of its own.

It needs the Python suite's virtual environment (NVFlare, the Docker SDK, berth with its
native part) and a reachable engine. Every Docker object it creates is named
``berth-sbs-<pid>-<random>...`` and removed at the end, also after an error or Ctrl-C (a
second Ctrl-C abandons the cleanup and prints what is left).

    scripts/bench-side-by-side.sh --out bench-results/side-by-side

Output: ``<out>/results.json`` (every sample, summaries, machine, options, seed, command)
and ``<out>/results.md`` (tables; also printed). It judges issue 18's goals and never fails
on them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import logging
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The suite's fixtures: the job-stub image and an NVFlare site (workspace, args, FLContext).
sys.path.insert(0, str(REPO / "python" / "tests"))

import docker  # noqa: E402
import docker.errors  # noqa: E402
from conftest import Site, _stub_binary, _stub_rootfs  # noqa: E402
from nvflare.apis.job_launcher_spec import JobReturnCode  # noqa: E402

ARMS = ("nvflare", "berth")
ARM_TITLES = {"nvflare": "NVFlare 2.9 Docker launcher", "berth": "berth drop-in"}
LONG_SCRIPT = "sleep 3600\n"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_launcher(arm: str, site: Site, network: str, timeout: int):
    if arm == "nvflare":
        from nvflare.app_opt.job_launcher.docker_launcher import ClientDockerJobLauncher
    else:
        from berth.nvflare import ClientDockerJobLauncher
    return ClientDockerJobLauncher(workspace=str(site.root), network=network, timeout=timeout)


def job_meta(site: Site, image: str, job_id: str) -> dict:
    return {"job_id": job_id, "launcher_spec": {site.name: {"docker": {"image": image}}}}


def proc_status() -> dict:
    """VmRSS, VmHWM (KiB) and Threads of this process."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                out[key] = int(value.split()[0])
    return out


def return_code(handle) -> int:
    """The handle's return code once it has ended: upstream's ``wait()`` returns None."""
    return int(handle.poll())


class Engine:
    """Off-the-clock checks through a Docker client of the benchmark's own."""

    def __init__(self):
        self.api = docker.APIClient(base_url=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))

    def status(self, name: str) -> str | None:
        try:
            return self.api.inspect_container(name)["State"]["Status"]
        except docker.errors.NotFound:
            return None

    def wait_gone(self, name: str, limit: float = 30.0) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.status(name) is None:
                return True
            time.sleep(0.05)
        return False

    def names_with_prefix(self, prefix: str) -> list[str]:
        found = self.api.containers(all=True, filters={"name": prefix})
        return [n.lstrip("/") for c in found for n in c["Names"] if n.lstrip("/").startswith(prefix)]


class EngineEvents:
    """The engine's ``die`` and ``destroy`` events, recorded by a ``docker events`` process
    into a file, so that nothing in this process pays for watching them."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "w")
        self.proc = subprocess.Popen(
            ["docker", "events", "--filter", "type=container", "--filter", "event=die",
             "--filter", "event=destroy", "--format", "{{json .}}"],
            stdout=self.file,
            stderr=subprocess.DEVNULL,
        )

    def time_ns(self, name: str, action: str = "die", limit: float = 10.0) -> int | None:
        """The time of the container ``name``'s ``action`` event (engine clock, ns)."""
        deadline = time.monotonic() + limit
        while True:
            self.file.flush()
            with open(self.path) as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev.get("Action") == action and ev.get("Actor", {}).get("Attributes", {}).get("name") == name:
                        return int(ev["timeNano"])
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.file.close()


def shuffled_arms(rng: random.Random, samples: int) -> list[str]:
    """Each arm `samples` times, in random order (so neither arm always runs first)."""
    order = [arm for arm in ARMS for _ in range(samples)]
    rng.shuffle(order)
    return order


@dataclasses.dataclass
class Bench:
    opts: argparse.Namespace
    site: Site
    network: str
    image: str
    engine: Engine
    events: EngineEvents

    def __post_init__(self):
        self.launchers = {arm: make_launcher(arm, self.site, self.network, self.opts.timeout) for arm in ARMS}
        self.seq = 0
        self.samples = {
            arm: {k: [] for k in ("launch_ms", "launch_cpu_ms", "terminate_ms", "terminate_cpu_ms",
                                  "terminate_gone_on_return", "terminate_to_destroy_ms",
                                  "exit_to_wait_ms", "wait_cpu_ms", "failures")}
            for arm in ARMS
        }
        self.failures: list[str] = []
        self.concurrency: list[dict] = []

    def new_job(self, arm: str, script: str) -> tuple[str, str]:
        self.seq += 1
        job_id = f"{arm}-{self.seq:04d}-{uuid.uuid4().hex[:6]}"
        self.site.job(job_id, script=script)
        return job_id, f"{self.site.name}-{job_id}"

    def launch(self, arm: str, script: str):
        job_id, name = self.new_job(arm, script)
        meta, ctx = job_meta(self.site, self.image, job_id), self.site.context(job_id)
        c0, t0 = time.process_time(), time.perf_counter()
        handle = self.launchers[arm].launch_job(meta, ctx)
        t1, c1 = time.perf_counter(), time.process_time()
        return handle, name, (t1 - t0) * 1e3, (c1 - c0) * 1e3

    def fail(self, arm: str, what: str):
        self.failures.append(f"{arm}: {what}")
        self.samples[arm]["failures"].append(what)
        log(f"   failure ({arm}): {what}")

    def launch_terminate(self, arm: str, record: bool):
        handle, name, ms, cpu = self.launch(arm, LONG_SCRIPT)
        status = self.engine.status(name)
        if status != "running":
            self.fail(arm, f"{name} is {status!r} after launch_job, expected running")
        called_ns = time.time_ns()
        c0, t0 = time.process_time(), time.perf_counter()
        handle.terminate()
        t1, c1 = time.perf_counter(), time.process_time()
        gone_on_return = self.engine.status(name) is None
        rc = return_code(handle)
        if rc != JobReturnCode.ABORTED:
            self.fail(arm, f"{name}: return code {rc} after terminate, expected ABORTED ({JobReturnCode.ABORTED})")
        if not self.engine.wait_gone(name):
            self.fail(arm, f"{name} still exists 30 s after terminate")
        destroyed_ns = self.events.time_ns(name, "destroy")
        if destroyed_ns is None:
            self.fail(arm, f"{name}: no destroy event seen after terminate")
        if record and status == "running":
            s = self.samples[arm]
            s["launch_ms"].append(ms)
            s["launch_cpu_ms"].append(cpu)
            s["terminate_ms"].append((t1 - t0) * 1e3)
            s["terminate_cpu_ms"].append((c1 - c0) * 1e3)
            s["terminate_gone_on_return"].append(gone_on_return)
            if destroyed_ns is not None:
                s["terminate_to_destroy_ms"].append((destroyed_ns - called_ns) / 1e6)

    def exit_detection(self, arm: str):
        handle, name, _, _ = self.launch(arm, f"sleep {self.opts.exit_sleep}\nexit 3\n")
        c0 = time.process_time()
        handle.wait()
        done_ns = time.time_ns()
        c1 = time.process_time()
        rc = return_code(handle)
        died_ns = self.events.time_ns(name)
        if not self.engine.wait_gone(name):
            self.fail(arm, f"{name} still exists 30 s after its end")
        if rc != JobReturnCode.EXECUTION_ERROR:
            self.fail(arm, f"{name}: return code {rc} for exit 3, expected EXECUTION_ERROR")
            return
        if died_ns is None:
            self.fail(arm, f"{name}: no die event seen")
            return
        self.samples[arm]["exit_to_wait_ms"].append((done_ns - died_ns) / 1e6)
        self.samples[arm]["wait_cpu_ms"].append((c1 - c0) * 1e3)

    def concurrent(self, arm: str, n: int, round_no: int):
        jobs = [self.new_job(arm, f"sleep {self.opts.concurrent_sleep}\nexit 0\n") for _ in range(n)]
        inputs = [(job_meta(self.site, self.image, j), self.site.context(j), name) for j, name in jobs]
        launcher = self.launchers[arm]
        barrier = threading.Barrier(n + 1)

        def launch_one(meta, ctx):
            barrier.wait()
            handle = launcher.launch_job(meta, ctx)
            return handle, time.perf_counter()

        def wait_one(handle):
            handle.wait()
            return return_code(handle), time.perf_counter()

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=n)
        try:
            futures = [pool.submit(launch_one, meta, ctx) for meta, ctx, _ in inputs]
            barrier.wait()
            t0 = time.perf_counter()
            launched = []
            errors = 0
            for (_, _, name), f in zip(inputs, futures):
                try:
                    launched.append((name, *f.result()))
                except Exception as e:  # noqa: BLE001 - counted and reported
                    errors += 1
                    self.fail(arm, f"concurrent launch of {name}: {e}")
            all_running = max((t for _, _, t in launched), default=t0) - t0
            waits = [pool.submit(wait_one, h) for _, h, _ in launched]
            ends = [w.result() for w in waits]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        all_done = max((t for _, t in ends), default=t0) - t0
        correct = sum(1 for rc, _ in ends if rc == JobReturnCode.SUCCESS)
        gone = sum(1 for name, _, _ in launched if self.engine.wait_gone(name))
        if correct != n:
            self.fail(arm, f"concurrency round {round_no}: {correct}/{n} ended SUCCESS")
        if gone != len(launched):
            self.fail(arm, f"concurrency round {round_no}: {len(launched) - gone} containers left")
        self.concurrency.append({
            "round": round_no, "arm": arm, "jobs": n, "launch_errors": errors,
            "all_running_s": all_running, "all_outcomes_s": all_done, "correct": correct, "removed": gone,
        })
        log(f"   round {round_no} {arm}: {n} running in {all_running:.2f} s, outcomes {all_done:.2f} s, "
            f"{correct}/{n} correct")


# ---- scale: one arm per child process -------------------------------------------------


def scale_child(opts) -> None:
    """Launch up to each level of live jobs with one arm; print one JSON line per level."""
    site = Site(Path(opts.site_root), opts.site_name, "client")
    launcher = make_launcher(opts.child_arm, site, opts.network, opts.timeout)
    handles = []
    levels = [0] + [int(x) for x in opts.scale_levels.split(",")]
    cpu_launching = 0.0
    try:
        for level in levels:
            while len(handles) < level:
                job_id = f"scale-{opts.child_arm}-{len(handles):03d}-{uuid.uuid4().hex[:6]}"
                site.job(job_id, script=LONG_SCRIPT)
                c0 = time.process_time()
                handles.append(launcher.launch_job(job_meta(site, opts.image, job_id), site.context(job_id)))
                cpu_launching += time.process_time() - c0
            time.sleep(2)
            st = proc_status()
            print(json.dumps({"level": level, "rss_kib": st["VmRSS"], "hwm_kib": st["VmHWM"],
                              "threads": st["Threads"], "python_threads": threading.active_count(),
                              "cpu_per_launch_ms": cpu_launching * 1e3 / len(handles) if handles else None}),
                  flush=True)
    finally:
        for h in handles:
            h.terminate()


def run_scale(opts, site: Site, network: str, image: str, arm: str) -> list[dict]:
    cmd = [sys.executable, __file__, "--scale-child", arm, "--site-root", str(site.root), "--site-name",
           site.name, "--network", network, "--image", image, "--scale-levels", opts.scale_levels,
           "--timeout", str(opts.timeout)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"scale child ({arm}) failed ({r.returncode}): {r.stderr[-2000:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


# ---- summaries and report ---------------------------------------------------------------


def summary(xs: list[float]) -> dict | None:
    if not xs:
        return None
    s = sorted(xs)
    p95 = s[min(len(s) - 1, max(0, round(0.95 * (len(s) - 1))))]
    return {"n": len(s), "median": statistics.median(s), "p95": p95, "mean": statistics.fmean(s),
            "min": s[0], "max": s[-1]}


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(x, digits=1, unit=""):
    return "–" if x is None else f"{x:.{digits}f}{unit}"


def machine() -> dict:
    info = {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            info["mem_mib"] = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    try:
        v = docker.APIClient().version()
        info["engine"] = f"Docker Engine {v.get('Version')} (API {v.get('ApiVersion')})"
    except Exception as e:  # noqa: BLE001 - informational
        info["engine"] = f"unknown ({e})"
    import nvflare

    import berth

    info["nvflare"] = nvflare.__version__
    info["berth"] = berth.__version__
    return info


def med(results, arm, key):
    s = results["summaries"][arm].get(key)
    return s["median"] if s else None


def report_md(results: dict) -> str:
    m = results["machine"]
    opts = results["options"]
    lines = [
        "# berth drop-in vs NVFlare's Docker job launcher (one process, interleaved)",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {m.get('cpus')} CPUs ({m.get('cpu_model')}), {m.get('mem_mib')} MiB RAM, kernel {m.get('kernel')}, "
        f"{m.get('engine')}; Python {m.get('python')}, NVFlare {m.get('nvflare')}, berth {m.get('berth')}. "
        f"Load average at start / end: {results['load_start']} / {results['load_end']} (the machine was shared "
        f"with other work; absolute times are inflated, the ratios compare arms of the same run). "
        f"Run took {results['elapsed_s']:.0f} s; seed {results['seed']}.",
        "",
        "## Goals (medians, same run)",
        "",
        "| measure | goal | nvflare | berth | berth / nvflare | met |",
        "|---|---|---|---|---|---|",
    ]
    for key, title, goal, digits in [
        ("launch_ms", "`launch_job` -> running (ms)", 1.02, 1),
        ("terminate_ms", "`terminate()` (ms)", 1.0, 1),
        ("launch_cpu_ms", "CPU per launch (ms)", 0.35, 2),
        ("exit_to_wait_ms", "job exit -> `wait()` returns (ms)", 0.4, 1),
    ]:
        a, b = med(results, "nvflare", key), med(results, "berth", key)
        r = ratio(b, a)
        met = "–" if r is None else ("yes" if r <= goal else "**no**")
        lines.append(f"| {title} | <= {goal}x | {fmt(a, digits)} | {fmt(b, digits)} | {fmt(r, 3, 'x')} | {met} |")
    lines += [
        "",
        f"## Sequential samples ({opts['samples']} per arm, arms interleaved at random)",
        "",
        "| metric | nvflare | berth | berth / nvflare |",
        "|---|---|---|---|",
    ]
    for key, title, digits in [
        ("launch_ms", "`launch_job` -> running", 1),
        ("launch_cpu_ms", "CPU per launch", 2),
        ("terminate_ms", "`terminate()` returns", 1),
        ("terminate_cpu_ms", "CPU per terminate", 2),
        ("terminate_to_destroy_ms", "`terminate()` called -> `destroy` event", 1),
        ("exit_to_wait_ms", "die event -> `wait()` returns", 1),
        ("wait_cpu_ms", "CPU in `wait()` (job lifetime)", 2),
    ]:
        for stat in ("median", "p95"):
            sa, sb = results["summaries"]["nvflare"].get(key), results["summaries"]["berth"].get(key)
            a, b = (sa or {}).get(stat), (sb or {}).get(stat)
            lines.append(f"| {title}, {stat} (ms) | {fmt(a, digits)} | {fmt(b, digits)} | {fmt(ratio(b, a), 3, 'x')} |")
    gone = {arm: results["samples"][arm]["terminate_gone_on_return"] for arm in ARMS}
    lines.append("| container already gone when `terminate()` returns | "
                 + " | ".join(f"{sum(gone[a])}/{len(gone[a])}" for a in ARMS) + " | |")
    lines.append("| failures | " + " | ".join(str(len(results["samples"][a]["failures"])) for a in ARMS) + " | |")
    lines += [
        "",
        "`terminate()` called -> `destroy` event: from the call to the engine's event for the "
        "container's removal, the same end point for both arms (NVFlare's terminate can return "
        "before its container is removed).",
        "",
        "Exit detection is measured from the engine's `die` event time (recorded by a separate "
        "`docker events` process) to the moment `wait()` returns in this process; the job sleeps "
        f"{opts['exit_sleep']} s and exits 3 (checked: EXECUTION_ERROR).",
        "",
        f"## {opts['concurrency']} jobs launched at once (one thread each)",
        "",
        "| round | arm | all running (s) | all outcomes known (s) | correct | removed |",
        "|---|---|---|---|---|---|",
    ]
    for c in results["concurrency"]:
        lines.append(f"| {c['round']} | {c['arm']} | {c['all_running_s']:.2f} | {c['all_outcomes_s']:.2f} | "
                     f"{c['correct']}/{c['jobs']} | {c['removed']}/{c['jobs']} |")
    cr = results.get("concurrency_ratio")
    if cr:
        lines += ["", f"berth / nvflare, all running: median {fmt(cr['median'], 3, 'x')} "
                      f"(rounds: {', '.join(fmt(x, 3, 'x') for x in cr['rounds'])})."]
    if results.get("scale"):
        lines += [
            "",
            "## Live jobs (each arm alone in a child process)",
            "",
            "| live jobs | nvflare RSS (MiB) | berth RSS (MiB) | nvflare threads | berth threads |",
            "|---|---|---|---|---|",
        ]
        sc = results["scale"]
        for i, row in enumerate(sc.get("nvflare", [])):
            other = sc.get("berth", [])[i] if i < len(sc.get("berth", [])) else {}
            lines.append(f"| {row['level']} | {row['rss_kib'] / 1024:.1f} | {fmt((other.get('rss_kib') or 0) / 1024)} | "
                         f"{row['threads']} | {other.get('threads', '–')} |")
        lines += ["", "Level 0: the launcher is built and has launched nothing. RSS and threads from "
                      "`/proc/self/status` of the child, 2 s after the last launch of the level."]
    if results["failures"]:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in results["failures"]]
    return "\n".join(lines) + "\n"


# ---- main -------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="bench-results/side-by-side", help="output folder")
    p.add_argument("--samples", type=int, default=20, help="samples per arm for launch/terminate and exit")
    p.add_argument("--warmup", type=int, default=2, help="unrecorded launches per arm first")
    p.add_argument("--concurrency", type=int, default=20, help="jobs launched at once")
    p.add_argument("--concurrency-rounds", type=int, default=3)
    p.add_argument("--concurrent-sleep", type=float, default=3.0, help="seconds each concurrent job sleeps")
    p.add_argument("--exit-sleep", type=float, default=0.5, help="seconds each exit-detection job sleeps")
    p.add_argument("--scale-levels", default="1,10,30", help="live-job levels of the scale scenario")
    p.add_argument("--skip", default="", help="comma list of launch,exit,concurrency,scale")
    p.add_argument("--timeout", type=int, default=30, help="the launchers' start timeout (s)")
    p.add_argument("--seed", type=int, default=None)
    # Internal: the scale child.
    p.add_argument("--scale-child", dest="child_arm", choices=ARMS, help=argparse.SUPPRESS)
    p.add_argument("--site-root", help=argparse.SUPPRESS)
    p.add_argument("--site-name", help=argparse.SUPPRESS)
    p.add_argument("--network", help=argparse.SUPPRESS)
    p.add_argument("--image", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def cleanup(engine: Engine, prefix: str, network: str | None, image: str | None, root: Path | None):
    """Remove every container whose name starts with the run's prefix, the network, the image
    and the workspace. A second Ctrl-C abandons it."""
    left = []

    def remove(what: str, call, *args, **kwargs):
        try:
            call(*args, **kwargs)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            left.append(f"{what}: {e}")

    try:
        for name in engine.names_with_prefix(prefix):
            remove(f"container {name}", engine.api.remove_container, name, force=True)
        if network:
            remove(f"network {network}", engine.api.remove_network, network)
        if image:
            remove(f"image {image}", engine.api.remove_image, image, force=True)
        if root:
            shutil.rmtree(root, ignore_errors=True)
    except KeyboardInterrupt:
        log(f"cleanup abandoned; remove by hand: containers named {prefix}*, network {network}, image {image}")
        return
    for item in left:
        log(f"cleanup: cannot remove {item}")


def main(argv=None) -> int:
    opts = parse_args(argv)
    if opts.child_arm:
        scale_child(opts)
        return 0
    signal.signal(signal.SIGTERM, raise_interrupt)
    skip = {s for s in opts.skip.split(",") if s}
    seed = opts.seed if opts.seed is not None else time.time_ns() % 2**32
    rng = random.Random(seed)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, filename=out / "launchers.log", filemode="w")
    started = time.monotonic()
    load_start = os.getloadavg()

    prefix = f"berth-sbs-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    engine = Engine()
    root = Path(tempfile.mkdtemp(prefix=f"{prefix}-ws-"))
    root.chmod(0o755)
    network = image = events = None
    try:
        network = f"{prefix}-net"
        engine.api.create_network(network)
        image = f"{prefix}-stub:latest"
        subprocess.run(["docker", "import", "-", image], input=_stub_rootfs(_stub_binary().read_bytes()),
                       check=True, capture_output=True)
        site = Site(root, f"{prefix}-site", "client")
        events = EngineEvents(out / "engine-events.jsonl")
        bench = Bench(opts, site, network, image, engine, events)
        log(f"== site {site.name}, network {network}, image {image}, seed {seed}")

        for _ in range(opts.warmup):
            for arm in ARMS:
                bench.launch_terminate(arm, record=False)
        if "launch" not in skip:
            log(f"== launch + terminate: {opts.samples} per arm")
            for arm in shuffled_arms(rng, opts.samples):
                bench.launch_terminate(arm, record=True)
        if "exit" not in skip:
            log(f"== exit -> wait(): {opts.samples} per arm")
            for arm in shuffled_arms(rng, opts.samples):
                bench.exit_detection(arm)
        if "concurrency" not in skip:
            log(f"== {opts.concurrency} at once, {opts.concurrency_rounds} rounds")
            for r in range(1, opts.concurrency_rounds + 1):
                for arm in rng.sample(ARMS, len(ARMS)):
                    bench.concurrent(arm, opts.concurrency, r)
        scale = {}
        if "scale" not in skip:
            for arm in rng.sample(ARMS, len(ARMS)):
                log(f"== scale ({arm}): levels {opts.scale_levels}")
                scale[arm] = run_scale(opts, site, network, image, arm)
                # NVFlare's containers are removed by the engine (auto-remove), which may
                # still be at it when the child exits.
                left = [n for n in engine.names_with_prefix(f"{site.name}-scale-{arm}") if not engine.wait_gone(n)]
                if left:
                    bench.fail(arm, f"scale child left {len(left)} containers (still there after 30 s)")

        results = {
            "command": " ".join(["python/bench/nvflare_side_by_side.py", *(argv if argv is not None else sys.argv[1:])]),
            "seed": seed,
            "options": vars(opts),
            "machine": machine(),
            "load_start": " ".join(f"{x:.2f}" for x in load_start),
            "load_end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "elapsed_s": time.monotonic() - started,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "samples": bench.samples,
            "summaries": {arm: {k: summary(v) for k, v in bench.samples[arm].items()
                                if k not in ("failures", "terminate_gone_on_return")} for arm in ARMS},
            "concurrency": bench.concurrency,
            "scale": scale,
            "failures": bench.failures,
        }
        rounds = []
        for r in range(1, opts.concurrency_rounds + 1):
            by_arm = {c["arm"]: c["all_running_s"] for c in bench.concurrency if c["round"] == r}
            if len(by_arm) == 2:
                rounds.append(by_arm["berth"] / by_arm["nvflare"])
        if rounds:
            results["concurrency_ratio"] = {"median": statistics.median(rounds), "rounds": rounds}
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        md = report_md(results)
        (out / "results.md").write_text(md)
        print(md)
        return 1 if bench.failures else 0
    except KeyboardInterrupt:
        log("interrupted; cleaning up (Ctrl-C again to abandon)")
        return 130
    finally:
        # The launchers' own objects go first: berth's runtime stops following the jobs.
        if events:
            events.close()
        cleanup(engine, prefix, network, image, root)


if __name__ == "__main__":
    sys.exit(main())
