"""Client and server jobs on the real engine, with the job-stub image: return codes,
terminate, the handle cases that apply, labels, recorded outcomes and removal."""

import json
import logging
import sqlite3
import subprocess
import time

import pytest
from nvflare.apis.job_launcher_spec import JobReturnCode

from berth.nvflare import ClientDockerJobLauncher, DockerJobHandle, DockerStatus, ServerDockerJobLauncher

from conftest import docker


def meta(site, image, job_id, **extra):
    m = {"job_id": job_id, "launcher_spec": {site.name: {"docker": {"image": image}}}}
    m.update(extra)
    return m


def container_exists(name_or_id: str) -> bool:
    return docker("container", "inspect", name_or_id, check=False).returncode == 0


def recorded_outcome(site, job_id):
    db = site.root / ".berth" / "state.db"
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "outcomes" in tables, tables
        rows = conn.execute("SELECT * FROM outcomes WHERE job_id = ?", (job_id,)).fetchall()
    return rows


@pytest.fixture
def client_env(engine, client_site, stub_image, docker_objects):
    network = docker_objects.network()
    docker_objects.site(client_site.name)
    launcher = ClientDockerJobLauncher(workspace=str(client_site.root), network=network, timeout=30)
    return client_site, launcher, stub_image


@pytest.mark.parametrize("exit_code, expected", [
    (0, JobReturnCode.SUCCESS),
    (1, JobReturnCode.EXECUTION_ERROR),
    (9, JobReturnCode.ABORTED),
    (3, JobReturnCode.EXECUTION_ERROR),
])
def test_client_job_return_codes(client_env, exit_code, expected):
    site, launcher, image = client_env
    job_id = f"job-exit-{exit_code}"
    site.job(job_id, script=f"sleep 0.5\nexit {exit_code}\n")
    handle = launcher.launch_job(meta(site, image, job_id), site.context(job_id))
    assert isinstance(handle, DockerJobHandle)
    assert handle.container_name == f"{site.name}-{job_id}"
    assert handle.wait() == expected
    assert handle.poll() == expected
    assert handle.terminal_state == expected
    outcome = handle.outcome
    assert outcome["exit_code"] == exit_code and outcome["return_code"] == expected
    # The outcome is recorded before the container is removed.
    assert recorded_outcome(site, job_id)
    deadline = time.monotonic() + 10
    while container_exists(handle.container_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not container_exists(handle.container_id)


def test_server_job_succeeds_with_labels_and_parent_url(engine, server_site, stub_image, docker_objects):
    site = server_site
    network = docker_objects.network()
    docker_objects.site(site.name)
    launcher = ServerDockerJobLauncher(workspace=str(site.root), network=network)
    job_id = "job-server"
    site.job(job_id, script="sleep 2\nexit 0\n")
    ctx = site.context(job_id, set_options=["secure_train=false", "print_conf=False"])
    handle = launcher.launch_job(meta(site, stub_image, job_id), ctx)
    info = json.loads(docker("container", "inspect", handle.container_id).stdout)[0]
    labels = info["Config"]["Labels"]
    assert labels["io.berth.managed"] == "true"
    assert labels["io.berth.site"] == site.name
    assert labels["io.berth.role"] == "server"
    assert labels["io.berth.job-id"] == job_id
    cmd = info["Config"]["Cmd"]
    assert cmd[:4] == ["/usr/local/bin/python", "-u", "-m", "nvflare.private.fed.app.server.runner_process"]
    assert f"tcp://{site.name}:8004" in cmd and "localhost" not in " ".join(cmd)
    assert cmd[-3:] == ["--set", "secure_train=false", "print_conf=False"]
    env = info["Config"]["Env"]
    assert "NVFLARE_JOB_TOKEN_SIGNATURE=sig-abc" in env
    assert not any("sig-abc" in c for c in cmd)
    assert info["HostConfig"]["AutoRemove"] is False
    # The default security profile, as the engine holds it.
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert info["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
    assert info["HostConfig"]["PidsLimit"] == 4096
    assert handle.wait() == JobReturnCode.SUCCESS


# C029: terminate a running job.
def test_terminate_running_job(client_env):
    site, launcher, image = client_env
    job_id = "job-long"
    site.job(job_id, script="sleep 300\n")
    handle = launcher.launch_job(meta(site, image, job_id), site.context(job_id))
    assert handle.poll() == JobReturnCode.UNKNOWN
    assert handle.terminal_state is None
    started = time.monotonic()
    handle.terminate()
    assert time.monotonic() - started < 20
    assert handle.terminal_state == JobReturnCode.ABORTED
    assert handle.poll() == JobReturnCode.ABORTED
    assert handle.wait() == JobReturnCode.ABORTED
    assert not container_exists(handle.container_id)


# C032: terminate after the job ended keeps its state.
def test_terminate_after_success_keeps_success(client_env):
    site, launcher, image = client_env
    site.job("job-done", script="exit 0\n")
    handle = launcher.launch_job(meta(site, image, "job-done"), site.context("job-done"))
    assert handle.wait() == JobReturnCode.SUCCESS
    handle.terminate()
    assert handle.terminal_state == JobReturnCode.SUCCESS
    assert handle.poll() == JobReturnCode.SUCCESS


# C035, C036, C038: enter_states on the real engine.
def test_enter_states(client_env):
    site, launcher, image = client_env
    site.job("job-run", script="sleep 300\n")
    handle = launcher.launch_job(meta(site, image, "job-run"), site.context("job-run"))
    assert handle.enter_states([DockerStatus.RUNNING]) is True
    assert handle.enter_states(DockerStatus.RUNNING) is True
    handle.terminate()
    assert handle.enter_states([DockerStatus.RUNNING]) is False

    site.job("job-fail", script="exit 1\n")
    failed = launcher.launch_job(meta(site, image, "job-fail"), site.context("job-fail"))
    failed.wait()
    assert failed.enter_states([DockerStatus.RUNNING]) is False
    assert failed.terminal_state == JobReturnCode.EXECUTION_ERROR


# C064: a container that ends before running is seen still gives a handle.
def test_launch_returns_a_handle_for_a_job_that_ends_at_once(client_env):
    site, launcher, image = client_env
    site.job("job-quick", script="exit 1\n")
    handle = launcher.launch_job(meta(site, image, "job-quick"), site.context("job-quick"))
    assert handle is not None
    assert handle.wait() == JobReturnCode.EXECUTION_ERROR


def test_job_without_workspace_object_and_parent_reads(client_env):
    site, launcher, image = client_env
    site.job("job-nows", script="exit 0\n")
    ctx = site.context("job-nows", workspace_object=False)
    plan = launcher.plan_job(meta(site, image, "job-nows"), ctx)
    assert plan["name"] == f"{site.name}-job-nows"
    assert not any(e.startswith("PYTHONPATH=") for e in plan["create"]["Env"])


def test_relaunch_of_a_finished_job_id(client_env):
    site, launcher, image = client_env
    site.job("job-again", script="exit 0\n")
    first = launcher.launch_job(meta(site, image, "job-again"), site.context("job-again"))
    assert first.wait() == JobReturnCode.SUCCESS
    second = launcher.launch_job(meta(site, image, "job-again"), site.context("job-again"))
    assert second.wait() == JobReturnCode.SUCCESS
    assert second.container_id != first.container_id


def test_rust_logs_reach_python_logging(client_env, caplog):
    site, launcher, image = client_env
    site.job("job-log", script="exit 0\n")
    with caplog.at_level(logging.DEBUG):
        handle = launcher.launch_job(meta(site, image, "job-log"), site.context("job-log"))
        handle.wait()
    berth_records = [r for r in caplog.records if r.name.startswith("berth_")]
    assert berth_records, [r.name for r in caplog.records]
    assert any("job-log" in r.getMessage() for r in berth_records)


def test_blocking_calls_release_the_gil(client_env):
    """A Python thread keeps running while another waits on a job."""
    import threading

    site, launcher, image = client_env
    site.job("job-gil", script="sleep 2\nexit 0\n")
    handle = launcher.launch_job(meta(site, image, "job-gil"), site.context("job-gil"))
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.05)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        assert handle.wait() == JobReturnCode.SUCCESS
    finally:
        stop.set()
        t.join()
    assert len(ticks) >= 10
