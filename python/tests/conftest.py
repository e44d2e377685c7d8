"""Fixtures for berth's Python tests: real NVFlare contexts, a site workspace, the job-stub
image, and a registry of Docker objects removed after each test (also on failure).

Tests that need an engine use the ``engine`` fixture: they skip when none is reachable,
unless ``BERTH_REQUIRE_DOCKER=1``, which turns a missing engine into a failure.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
from nvflare.apis.fl_constant import FLContextKey, ReservedKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "BERTH_REQUIRE_DOCKER"
CLIENT_MODULE = "nvflare.private.fed.app.client.worker_process"
SERVER_MODULE = "nvflare.private.fed.app.server.runner_process"
TEST_PREFIX = "berth-pytest-"


def unique_name(kind: str = "") -> str:
    return f"{TEST_PREFIX}{kind}{os.getpid()}-{uuid.uuid4().hex[:10]}"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout)


def _engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        r = docker("version", "--format", "{{.Server.APIVersion}}", check=False, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker version failed: {e}"
    if r.returncode != 0:
        return f"no engine reachable: {r.stderr.strip()}"
    return None


@pytest.fixture(scope="session")
def engine():
    problem = _engine_problem()
    if problem:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {problem}")
        pytest.skip(f"{problem}; set {REQUIRE_ENV}=1 to fail instead")
    return True


class DockerObjects:
    """Names of containers and networks a test created; all removed at teardown."""

    def __init__(self):
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.labels: list[str] = []

    def container(self, name: str) -> str:
        self.containers.append(name)
        return name

    def network(self, name: str | None = None) -> str:
        name = name or unique_name("net-")
        docker("network", "create", name)
        self.networks.append(name)
        return name

    def site(self, site: str) -> str:
        """Remove every berth container of this site at teardown (by berth's labels)."""
        self.labels.append(f"io.berth.site={site}")
        return site

    def cleanup(self):
        ids = []
        for label in self.labels:
            r = docker("ps", "-aq", "--filter", f"label={label}", check=False)
            ids.extend(r.stdout.split())
        for target in ids + self.containers:
            docker("rm", "-f", target, check=False)
        for net in self.networks:
            docker("network", "rm", net, check=False)


@pytest.fixture
def docker_objects():
    objects = DockerObjects()
    yield objects
    objects.cleanup()


def _stub_binary() -> Path:
    """The static job stub: $BERTH_JOB_STUB, else built from crates/job-stub with rustc."""
    given = os.environ.get("BERTH_JOB_STUB")
    if given:
        return Path(given)
    out_dir = Path(os.environ.get("BERTH_PYTEST_CACHE", REPO / "target" / "python-tests"))
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / "job-stub"
    source = REPO / "crates" / "job-stub" / "src" / "main.rs"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        rustc = os.environ.get("RUSTC", "rustc")
        subprocess.run(
            [
                rustc,
                "--edition", "2021",
                "--crate-name", "job_stub",
                "--target", _host_target(rustc),
                "-C", "target-feature=+crt-static",
                "-C", "opt-level=s",
                "-C", "strip=symbols",
                "-C", "panic=abort",
                "-o", str(binary),
                str(source),
            ],
            check=True,
        )
    return binary


def _host_target(rustc: str) -> str:
    """The target triple rustc builds for by default (the host's), from `rustc -vV`."""
    info = subprocess.run([rustc, "-vV"], check=True, capture_output=True, text=True).stdout
    for line in info.splitlines():
        if line.startswith("host: "):
            return line[len("host: "):].strip()
    raise RuntimeError(f"{rustc} -vV names no host target:\n{info}")


def _stub_rootfs(binary: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, mode in [
            ("etc", 0o755), ("tmp", 0o1777), ("usr", 0o755), ("usr/local", 0o755),
            ("usr/local/bin", 0o755), ("var", 0o755), ("var/tmp", 0o1777),
        ]:
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        info = tarfile.TarInfo("usr/local/bin/python")
        info.mode = 0o755
        info.size = len(binary)
        tar.addfile(info, io.BytesIO(binary))
    return buf.getvalue()


@pytest.fixture(scope="session")
def stub_image(engine):
    """A FROM-scratch image whose /usr/local/bin/python is the job stub, unique to this test
    session and removed at its end."""
    binary = _stub_binary().read_bytes()
    tag = f"berth-pytest-stub:{hashlib.sha256(binary).hexdigest()[:12]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["docker", "import", "-", tag], input=_stub_rootfs(binary), check=True, capture_output=True)
    try:
        yield tag
    finally:
        docker("rmi", "-f", tag, check=False)


class Site:
    """A site workspace on the host: startup/, local/ and job folders."""

    def __init__(self, root: Path, name: str, role: str):
        self.root = root
        self.name = name
        self.role = role
        for d in ("startup", "local"):
            (root / d).mkdir(parents=True, exist_ok=True)

    def job(self, job_id: str, script: str | None = None) -> Path:
        app = "app_server" if self.role == "server" else f"app_{self.name}"
        job_dir = self.root / job_id
        (job_dir / app / "custom").mkdir(parents=True, exist_ok=True)
        if script is not None:
            (job_dir / "stub.script").write_text(script)
        # The job runs as this process's uid; let it write its own folder.
        for p in [job_dir, *job_dir.rglob("*")]:
            p.chmod(0o777 if p.is_dir() else 0o666)
        return job_dir

    def local(self, name: str, text: str) -> Path:
        p = self.root / "local" / name
        p.write_text(text)
        return p

    def job_args(self, job_id: str, port: int = 8004, **extra) -> dict:
        ws = "/var/tmp/nvflare/workspace"
        if self.role == "client":
            args = {
                "exe_module": ("-m", CLIENT_MODULE),
                "workspace": ("-m", ws),
                "startup_dir": ("-w", f"{ws}/startup"),
                "job_id": ("-n", job_id),
                "client_name": ("-c", self.name),
                "auth_token": ("-t", "token-abc"),
                "auth_signature": ("-ts", "sig-abc"),
                "ssid": ("-d", "ssid-abc"),
                "parent_url": ("-p", f"tcp://localhost:{port}"),
                "target": ("-g", "server:8002"),
                "scheme": ("-scheme", "grpc"),
                "startup_config_file": ("-s", "fed_client.json"),
            }
        else:
            args = {
                "exe_module": ("-m", SERVER_MODULE),
                "workspace": ("-m", ws),
                "startup_config_file": ("-s", "fed_server.json"),
                "app_root": ("-r", f"{ws}/{job_id}/app_server"),
                "job_id": ("-n", job_id),
                "auth_token": ("-t", job_id),
                "auth_signature": ("-ts", "sig-abc"),
                "ssid": ("--ssid", "ssid-abc"),
                "parent_url": ("-p", f"tcp://localhost:{port}"),
                "root_url": ("-u", "grpc://server:8002"),
                "service_host": ("--host", "server"),
                "service_port": ("--port", "8002"),
            }
        args.update(extra)
        return args

    def context(self, job_id: str | None = None, job_args=..., workspace_object: bool = True, set_options=None):
        """A real NVFlare FLContext as the parent builds it for a launch."""
        ctx = FLContext()
        ctx.set_prop(ReservedKey.IDENTITY_NAME, self.name, private=True, sticky=False)
        if job_args is ...:
            job_args = self.job_args(job_id or "job-1")
        if job_args is not None:
            ctx.set_prop(FLContextKey.JOB_PROCESS_ARGS, job_args, private=True, sticky=False)
        if workspace_object:
            ctx.set_prop(FLContextKey.WORKSPACE_OBJECT, Workspace(str(self.root), self.name), private=True, sticky=True)
        if set_options is not None:
            ctx.set_prop(FLContextKey.ARGS, argparse.Namespace(set=set_options), private=True, sticky=True)
        return ctx


def _make_site(tmp_path: Path, role: str) -> Site:
    name = unique_name("client-" if role == "client" else "server-")
    root = tmp_path / name
    root.mkdir()
    root.chmod(0o755)
    return Site(root, name, role)


@pytest.fixture
def client_site(tmp_path) -> Site:
    return _make_site(tmp_path, "client")


@pytest.fixture
def server_site(tmp_path) -> Site:
    return _make_site(tmp_path, "server")
