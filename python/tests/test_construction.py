"""Construction, event hook and module args: pure Python, no engine, no native part."""

import pytest
from nvflare.apis.event_type import EventType
from nvflare.apis.fl_constant import FLContextKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.job_launcher_spec import JobHandleSpec, JobLauncherSpec, JobReturnCode

from berth.nvflare import (
    ClientDockerJobLauncher,
    DockerJobHandle,
    DockerJobLauncher,
    DockerStatus,
    ServerDockerJobLauncher,
)

RESERVED = [
    "volumes", "mounts", "network", "environment", "command", "name",
    "detach", "auto_remove", "user", "working_dir", "image",
]


def test_classes_are_nvflare_specs():
    assert issubclass(ClientDockerJobLauncher, JobLauncherSpec)
    assert issubclass(ServerDockerJobLauncher, JobLauncherSpec)
    assert issubclass(ClientDockerJobLauncher, DockerJobLauncher)
    assert issubclass(DockerJobHandle, JobHandleSpec)


def test_defaults_match_the_seed(monkeypatch):
    monkeypatch.delenv("NVFL_DOCKER_WORKSPACE", raising=False)
    launcher = ClientDockerJobLauncher()
    assert launcher.workspace is None
    assert launcher.network == "nvflare-network"
    assert launcher.timeout == 30
    assert launcher.default_python_path == "/usr/local/bin/python"
    assert launcher.default_job_container_kwargs == {}
    assert launcher.default_job_env == {}
    assert DockerJobLauncher.WORKSPACE_MOUNT == "/var/tmp/nvflare/workspace"
    assert DockerJobLauncher.STUDY_DATA_PATH_FILE == "local/study_data.yaml"
    assert DockerJobLauncher.DEFAULT_PYTHON_PATH == "/usr/local/bin/python"


def test_docker_status_constants():
    assert (DockerStatus.CREATED, DockerStatus.RESTARTING, DockerStatus.RUNNING) == ("created", "restarting", "running")
    assert (DockerStatus.PAUSED, DockerStatus.EXITED, DockerStatus.DEAD) == ("paused", "exited", "dead")


# C041
def test_workspace_read_from_env_if_not_provided(monkeypatch):
    monkeypatch.setenv("NVFL_DOCKER_WORKSPACE", "/host/ws")
    assert ServerDockerJobLauncher().workspace == "/host/ws"
    assert ServerDockerJobLauncher(workspace="/given").workspace == "/given"


# C039 (I1)
@pytest.mark.parametrize("kwargs", [
    {"default_python_path": "   "},
    {"default_python_path": ""},
    {"default_python_path": "", "python_path": "/usr/bin/python3"},
    {"python_path": " "},
    {"default_python_path": 5},
])
def test_rejects_blank_default_python_path(kwargs):
    with pytest.raises(ValueError, match="default_python_path must be a non-empty string"):
        ClientDockerJobLauncher(**kwargs)


def test_python_path_alias_and_precedence():
    assert ClientDockerJobLauncher(python_path="/opt/py").default_python_path == "/opt/py"
    assert ClientDockerJobLauncher(python_path="/opt/py", default_python_path="/usr/py").default_python_path == "/usr/py"


# C042 (I2)
@pytest.mark.parametrize("key", RESERVED)
def test_rejects_reserved_default_job_container_kwargs(key):
    with pytest.raises(ValueError, match="must not contain reserved keys"):
        ClientDockerJobLauncher(default_job_container_kwargs={key: "x", "shm_size": "1g"})


# C043, C044
def test_site_defaults_are_stored_unchanged():
    kwargs = {"shm_size": "2g", "ipc_mode": "host"}
    env = {"NCCL_P2P_DISABLE": "1"}
    launcher = ServerDockerJobLauncher(default_job_container_kwargs=kwargs, default_job_env=env)
    assert launcher.default_job_container_kwargs == kwargs
    assert launcher.default_job_env == env


def test_construction_contacts_nothing(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    ClientDockerJobLauncher(workspace="/w", network="no-such-network")


def test_berth_extras_are_optional_keywords():
    launcher = ClientDockerJobLauncher(
        workspace="/w", pull_missing_images=True, keep_failed_containers_hours=2, orphan_policy="report"
    )
    assert (launcher.pull_missing_images, launcher.keep_failed_containers_hours, launcher.orphan_policy) == (
        True, 2, "report",
    )
    with pytest.raises(TypeError):
        ClientDockerJobLauncher("/w", "net", None, 30, None, None, None, True)


@pytest.mark.parametrize("kwargs, phrase", [
    ({"pull_missing_images": "yes"}, "pull_missing_images"),
    ({"keep_failed_containers_hours": -1}, "keep_failed_containers_hours"),
    ({"keep_failed_containers_hours": True}, "keep_failed_containers_hours"),
    ({"orphan_policy": "ignore"}, "orphan_policy"),
])
def test_berth_extras_are_validated(kwargs, phrase):
    with pytest.raises(ValueError, match=phrase):
        ClientDockerJobLauncher(**kwargs)


# C131
def test_handle_event_registers_on_before_job_launch_only():
    launcher = ClientDockerJobLauncher(workspace="/w")
    ctx = FLContext()
    for event in (EventType.START_RUN, EventType.END_RUN, EventType.SYSTEM_START):
        launcher.handle_event(event, ctx)
    assert ctx.get_prop(FLContextKey.JOB_LAUNCHER) is None
    launcher.handle_event(EventType.BEFORE_JOB_LAUNCH, ctx)
    assert ctx.get_prop(FLContextKey.JOB_LAUNCHER) == [launcher]
    other = ServerDockerJobLauncher(workspace="/w")
    other.handle_event(EventType.BEFORE_JOB_LAUNCH, ctx)
    assert ctx.get_prop(FLContextKey.JOB_LAUNCHER) == [launcher, other]


# C132, C133
def test_module_args():
    assert ClientDockerJobLauncher().get_module_args({}) == {}
    assert ServerDockerJobLauncher().get_module_args({}) == {}
    job_args = {
        "exe_module": ("-m", "mod"),
        "workspace": ("-m", "/ws"),
        "startup_dir": ("-w", "/ws/startup"),
        "job_id": ("-n", "job-1"),
        "client_name": ("-c", "site-1"),
        "auth_token": ("-t", "secret"),
        "parent_url": ("-p", "tcp://site-1:8004"),
        "scheme": None,
        "startup_config_file": ("-s", "fed_client.json"),
        "options": ("--set", "a=1"),
        "app_root": ("-r", "/ws/job-1/app_server"),
        "service_port": ("--port", 8002),
    }
    client = ClientDockerJobLauncher().get_module_args(job_args)
    assert list(client.items()) == [
        ("-m", "/ws"), ("-w", "/ws/startup"), ("-n", "job-1"), ("-c", "site-1"),
        ("-p", "tcp://site-1:8004"), ("-s", "fed_client.json"),
    ]
    server = ServerDockerJobLauncher().get_module_args(job_args)
    assert list(server.items()) == [
        ("-m", "/ws"), ("-s", "fed_client.json"), ("-r", "/ws/job-1/app_server"), ("-n", "job-1"),
        ("-p", "tcp://site-1:8004"), ("--port", 8002),
    ]


def test_return_codes_are_nvflare_values():
    assert (JobReturnCode.SUCCESS, JobReturnCode.EXECUTION_ERROR, JobReturnCode.ABORTED, JobReturnCode.UNKNOWN) == (
        0, 1, 9, 127,
    )
