"""A parent killed without cleanup leaves its job running; the next parent's launcher
applies ``orphan_policy`` when NVFlare fires its system-start event, and records the
outcome in the same store the CLI reads (``berth status`` on the same workspace)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nvflare.apis.event_type import EventType
from nvflare.apis.job_launcher_spec import JobReturnCode

from berth.nvflare import ClientDockerJobLauncher

from conftest import REPO, docker

TESTS = Path(__file__).resolve().parent

# The first parent: launches one job, prints its container id, then waits to be killed.
PARENT = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import Site
from berth.nvflare import ClientDockerJobLauncher
root, name, network, image, job_id = sys.argv[1:6]
site = Site(Path(root), name, "client")
launcher = ClientDockerJobLauncher(workspace=root, network=network, timeout=60)
meta = {{"job_id": job_id, "launcher_spec": {{name: {{"docker": {{"image": image}}}}}}}}
handle = launcher.launch_job(meta, site.context(job_id))
print(handle.container_id, flush=True)
time.sleep(600)
"""


def berth_cli() -> str:
    """The berth command: $BERTH_CLI, else the workspace's debug build (built if missing)."""
    given = os.environ.get("BERTH_CLI")
    if given:
        return given
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = target / "debug" / "berth"
    if not binary.exists():
        subprocess.run(["cargo", "build", "--locked", "-p", "berth-cli"], cwd=REPO, check=True, timeout=1800)
    return str(binary)


def container_state(cid: str):
    r = docker("container", "inspect", "--format", "{{.State.Status}}", cid, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def until(what, cond, limit=90.0):
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def orphan(engine, client_site, stub_image, docker_objects, tmp_path):
    """Launch a job from a parent process, then SIGKILL that parent: returns the site, the
    network, the image, the job id, the container id and the CLI config file."""
    site = client_site
    network = docker_objects.network()
    docker_objects.site(site.name)

    def make(job_id: str, script: str):
        site.job(job_id, script=script)
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT.format(tests=str(TESTS)), str(site.root), site.name, network, stub_image, job_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            cid = parent.stdout.readline().strip()
            assert cid, f"the first parent launched nothing: {parent.stderr.read() if parent.poll() is not None else ''}"
        finally:
            parent.send_signal(signal.SIGKILL)
            parent.wait(timeout=30)
        assert container_state(cid) == "running", "the killed parent's job still runs"
        config = tmp_path / "launcher.json"
        config.write_text(json.dumps({"workspace": str(site.root), "network": network}))
        return site, network, job_id, cid, config

    return make


def status(site, config: Path, job_id: str) -> dict:
    r = subprocess.run(
        [berth_cli(), "status", job_id, "--config", str(config), "--site", site.name, "--role", "client",
         "--parent-root", str(site.root)],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def new_parent(site, network, policy):
    """The restarted parent: builds the launcher (no engine contact) and fires the
    system-start event NVFlare fires to its components."""
    launcher = ClientDockerJobLauncher(workspace=str(site.root), network=network, orphan_policy=policy)
    ctx = site.context()
    launcher.handle_event(EventType.SYSTEM_START, ctx)
    # Recovery runs once per parent: a second start does nothing.
    assert launcher.start(ctx) is None
    return launcher


def test_terminate_stops_the_orphan_and_records_aborted(orphan):
    site, network, job_id, cid, config = orphan("job-orphan-terminate", "print started\nsleep 120\nexit 0\n")
    launcher = new_parent(site, network, "terminate")
    until("the orphan's container is removed", lambda: container_state(cid) is None)
    seen = status(site, config, job_id)
    assert seen["state"] == "ended", seen
    assert seen["outcome"]["return_code"] == JobReturnCode.ABORTED, seen
    del launcher


def test_adopt_follows_the_orphan_to_its_real_end_and_keeps_its_output(orphan):
    site, network, job_id, cid, config = orphan(
        "job-orphan-adopt", "print adopted-job-output\nsleep 8\neprint finishing\nexit 3\n"
    )
    launcher = new_parent(site, network, "adopt")
    assert container_state(cid) == "running", "adopt leaves the job running"
    # The new parent follows it: its end is recorded and its container removed.
    until("the adopted job's container is removed", lambda: container_state(cid) is None)
    seen = status(site, config, job_id)
    assert seen["state"] == "ended", seen
    assert seen["outcome"]["exit_code"] == 3, seen
    assert seen["outcome"]["return_code"] == JobReturnCode.EXECUTION_ERROR, seen
    log = (site.root / job_id / "berth-job.log").read_text()
    assert "adopted-job-output" in log and "finishing" in log, log
    del launcher


def test_report_leaves_the_orphan_alone(orphan):
    site, network, job_id, cid, config = orphan("job-orphan-report", "sleep 120\nexit 0\n")
    launcher = new_parent(site, network, "report")
    time.sleep(1)
    assert container_state(cid) == "running"
    seen = status(site, config, job_id)
    assert seen["state"] == "running" and seen["outcome"] is None, seen
    del launcher
