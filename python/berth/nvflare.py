"""NVFlare drop-in: berth's Docker job launchers and job handle.

In a site's ``local/resources.json``, replace the class path of the Docker launcher
component::

    "path": "nvflare.app_opt.job_launcher.docker_launcher.ClientDockerJobLauncher"

with::

    "path": "berth.nvflare.ClientDockerJobLauncher"

(``ServerDockerJobLauncher`` for the server). The arguments stay the same; berth's extras
(``pull_missing_images``, ``keep_failed_containers_hours``, ``orphan_policy``,
``security_profile``, ``allowed_images``, ``runtime``) are optional.

Construction validates what upstream validates and contacts nothing: job containers load
the same ``resources.json`` and build this component too, so this module imports without
Docker access and without the native part, which is loaded on the first launch.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping

from nvflare.apis.event_type import EventType
from nvflare.apis.fl_constant import FLContextKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.job_launcher_spec import (
    JobHandleSpec,
    JobLauncherSpec,
    JobReturnCode,
    add_launcher,
)

__all__ = [
    "ClientDockerJobLauncher",
    "DockerJobHandle",
    "DockerJobLauncher",
    "DockerStatus",
    "ServerDockerJobLauncher",
]

# The contract constants come from berth's core (generated; a test fails on any drift).
from berth._contract import (  # noqa: E402
    CLIENT_MODULE_ARGS as _CLIENT_MODULE_ARGS,
    DEFAULT_NETWORK,
    DEFAULT_PYTHON_PATH,
    DEFAULT_START_TIMEOUT,
    ORPHAN_POLICIES,
    RESERVED_DOCKER_KWARGS,
    SERVER_MODULE_ARGS as _SERVER_MODULE_ARGS,
    STUDY_DATA_PATH_FILE,
    WORKSPACE_ENV,
    WORKSPACE_MOUNT,
)


class DockerStatus:
    """Container states as the Docker engine names them."""

    CREATED = "created"
    RESTARTING = "restarting"
    RUNNING = "running"
    PAUSED = "paused"
    EXITED = "exited"
    DEAD = "dead"


def _load_native():
    """The native part, imported on first use so that job containers never need it."""
    try:
        from berth import _native
    except ImportError as e:
        raise RuntimeError(
            f"berth's native part (berth._native) cannot be imported: {e}; "
            "install berth with pip into this parent's Python environment "
            "(job images need at most the pure-Python files)"
        ) from e
    return _native


def _json_default(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)


def _to_json(value) -> str:
    return json.dumps(value, default=_json_default)


def _module_args(job_args: dict, names) -> dict:
    """{flag: value} for the named args that are present and truthy, in order."""
    result = {}
    for name in names:
        entry = job_args.get(name)
        if not entry:
            continue
        flag, value = entry
        result[flag] = value
    return result


class DockerJobHandle(JobHandleSpec):
    """One job container launched by berth.

    Once the job has ended its return code is kept: ``poll()`` and ``wait()`` return it
    with no engine call. The exit code is read from the stopped container and recorded
    in berth's state store before the container is removed, so it is never lost.
    Return codes are NVFlare's ``JobReturnCode`` values.
    """

    def __init__(self, native_handle):
        super().__init__()
        self._native = native_handle
        # Upstream exposes its Docker SDK client here; berth talks to the engine itself.
        self.docker_client = None

    @property
    def container_id(self) -> str:
        return self._native.container_id

    @property
    def container_name(self) -> str:
        return self._native.container_name

    @property
    def job_id(self) -> str:
        return self._native.job_id

    @property
    def timeout(self):
        """Seconds a launch waits for ``running``; ``None`` waits for ever."""
        return self._native.timeout

    @property
    def terminal_state(self):
        """The job's return code once it has ended, else ``None``. No engine call."""
        return self._native.terminal_state

    @property
    def outcome(self):
        """How the job ended (return and exit codes, OOM flag, finish time), or ``None``."""
        return self._native.outcome

    def poll(self):
        """Non-blocking: the return code, or ``JobReturnCode.UNKNOWN`` while running."""
        return self._native.poll()

    def wait(self):
        """Block until the job ends; returns its return code."""
        return self._native.wait()

    def terminate(self):
        """Stop and remove the container. The state becomes ABORTED unless already set."""
        self._native.terminate()

    def enter_states(self, states_to_enter) -> bool:
        """Wait until the container is in one of ``states_to_enter``.

        False when the job ended first, or on timeout (the job is then terminated).
        """
        if isinstance(states_to_enter, str):
            states_to_enter = [states_to_enter]
        return self._native.enter_states([str(s) for s in states_to_enter])

    def __repr__(self) -> str:
        return f"DockerJobHandle({self._native!r})"


class DockerJobLauncher(JobLauncherSpec):
    """Launches NVFlare job processes as Docker containers, through berth.

    Same arguments, defaults and validation as NVFlare's Docker job launcher; berth's
    extras are keyword-only:

    - ``pull_missing_images``: pull an image the host lacks (default ``False``: a missing
      image is an error naming it).
    - ``keep_failed_containers_hours``: keep a failed job's container this long for
      debugging (default 0: removed once its outcome is recorded).
    - ``orphan_policy``: what recovery does with a running berth container this process
      did not start: ``"adopt"`` (default), ``"terminate"`` or ``"report"``.
    - ``security_profile``: ``"restricted"`` (default: no-new-privileges, every capability
      dropped, a process limit) or ``"baseline"`` (the engine's defaults, as upstream).
    - ``allowed_images``: a list of image patterns jobs may run (default: any image).
    - ``runtime``: the engine's OCI runtime for job containers (e.g. ``"runsc"``).

    The last three are checked by berth's native part with every other launcher argument,
    when the site's launcher is first created (at system start or the first launch); a
    bad value is a ``ValueError`` naming it. A job's ``byoc`` marker comes from the job
    meta the parent passes, as upstream.
    """

    WORKSPACE_MOUNT = WORKSPACE_MOUNT
    STUDY_DATA_PATH_FILE = STUDY_DATA_PATH_FILE
    DEFAULT_PYTHON_PATH = DEFAULT_PYTHON_PATH

    _ROLE = None
    _MODULE_ARGS = ()

    def __init__(
        self,
        workspace: str = None,
        network: str = DEFAULT_NETWORK,
        python_path: str = None,
        timeout: int = DEFAULT_START_TIMEOUT,
        default_job_container_kwargs: dict = None,
        default_job_env: dict = None,
        default_python_path: str = None,
        *,
        pull_missing_images: bool = False,
        keep_failed_containers_hours: float = 0,
        orphan_policy: str = "adopt",
        engine_timeout: float = 30,
        engine_outage_limit: float = 120,
        security_profile: str = None,
        allowed_images: list = None,
        runtime: str = None,
    ):
        super().__init__()
        if not workspace:
            workspace = os.environ.get(WORKSPACE_ENV)
        self.workspace = workspace
        self.network = network

        python = default_python_path if default_python_path is not None else python_path
        if python is None:
            python = self.DEFAULT_PYTHON_PATH
        if not isinstance(python, str) or not python.strip():
            raise ValueError("default_python_path must be a non-empty string")
        self.default_python_path = python
        self.timeout = timeout

        kwargs = default_job_container_kwargs or {}
        if not isinstance(kwargs, Mapping):
            raise ValueError(
                f"default_job_container_kwargs must be a dict of Docker SDK run kwargs, got {type(kwargs).__name__}"
            )
        reserved = sorted(RESERVED_DOCKER_KWARGS & set(kwargs))
        if reserved:
            raise ValueError(
                f"default_job_container_kwargs must not contain reserved keys: {reserved}. "
                "These are controlled by the launcher."
            )
        self.default_job_container_kwargs = kwargs
        self.default_job_env = default_job_env or {}

        if not isinstance(pull_missing_images, bool):
            raise ValueError(f"pull_missing_images must be True or False, got {pull_missing_images!r}")
        if (
            isinstance(keep_failed_containers_hours, bool)
            or not isinstance(keep_failed_containers_hours, (int, float))
            or not keep_failed_containers_hours >= 0
        ):
            raise ValueError(
                f"keep_failed_containers_hours must be a non-negative number, got {keep_failed_containers_hours!r}"
            )
        if orphan_policy not in ORPHAN_POLICIES:
            raise ValueError(f"orphan_policy must be one of {', '.join(ORPHAN_POLICIES)}, got {orphan_policy!r}")
        self.pull_missing_images = pull_missing_images
        self.keep_failed_containers_hours = keep_failed_containers_hours
        self.orphan_policy = orphan_policy
        # Checked with the other args by berth's core on first use (the one place the rule
        # lives); a job container constructs this class without the native part.
        self.engine_timeout = engine_timeout
        self.engine_outage_limit = engine_outage_limit
        # Left to the native part, which holds the rules (one place); None means its default.
        self.security_profile = security_profile
        self.allowed_images = allowed_images
        self.runtime = runtime

        self._sites_lock = threading.Lock()
        self._sites = {}

    def _launcher_args(self) -> dict:
        args = {
            "workspace": self.workspace,
            "network": self.network,
            "timeout": self.timeout,
            "default_job_container_kwargs": dict(self.default_job_container_kwargs),
            "default_job_env": dict(self.default_job_env),
            "default_python_path": self.default_python_path,
            "pull_missing_images": self.pull_missing_images,
            "keep_failed_containers_hours": self.keep_failed_containers_hours,
            "orphan_policy": self.orphan_policy,
            "engine_timeout": self.engine_timeout,
            "engine_outage_limit": self.engine_outage_limit,
        }
        for name in ("security_profile", "allowed_images", "runtime"):
            value = getattr(self, name)
            if value is not None:
                args[name] = value
        return args

    def _site_launcher(self, site: str, parent_root: str):
        """The native launcher of this site, created on first use and then kept (it holds
        the engine connection and follows every job's end)."""
        key = (site, parent_root)
        with self._sites_lock:
            launcher = self._sites.get(key)
            if launcher is None:
                native = _load_native()
                launcher = native.SiteLauncher(_to_json(self._launcher_args()), site, self._ROLE, parent_root)
                self._sites[key] = launcher
            return launcher

    @staticmethod
    def _parent_root(fl_ctx: FLContext) -> str:
        """Where the parent's workspace is: its workspace object's root (the server sets it
        before the system starts; a client sets only the root path then)."""
        workspace_object = fl_ctx.get_prop(FLContextKey.WORKSPACE_OBJECT)
        if workspace_object is not None:
            return os.path.abspath(workspace_object.get_root_dir())
        root = fl_ctx.get_prop(FLContextKey.WORKSPACE_ROOT)
        return os.path.abspath(root) if root else WORKSPACE_MOUNT

    def start(self, fl_ctx: FLContext):
        """The parent has started: recover this site's jobs with ``orphan_policy`` (runs
        once; the first launch runs it at the latest). Returns the recovery report as a
        dict, or ``None`` when recovery had already run. Failures are logged, not raised:
        the parent goes on starting."""
        site = fl_ctx.get_identity_name()
        try:
            report = self._site_launcher(site, self._parent_root(fl_ctx)).start()
        except (RuntimeError, ValueError) as e:
            self.log_error(fl_ctx, f"berth: recovery at start failed: {e}")
            return None
        if report is None:
            return None
        report = json.loads(report)
        self.log_info(fl_ctx, f"berth: recovery at start ({report['policy']}): {report['summary']}")
        for error in report["errors"]:
            self.log_warning(fl_ctx, f"berth: recovery: {error}")
        return report

    def recover(self, fl_ctx: FLContext, policy: str = None) -> dict:
        """Recover this site's jobs now with ``policy`` (default: ``orphan_policy``); the
        report as a dict."""
        site = fl_ctx.get_identity_name()
        return json.loads(self._site_launcher(site, self._parent_root(fl_ctx)).recover(policy))

    @classmethod
    def _launch_inputs(cls, job_meta, fl_ctx: FLContext):
        job_args = fl_ctx.get_prop(FLContextKey.JOB_PROCESS_ARGS)
        workspace_object = fl_ctx.get_prop(FLContextKey.WORKSPACE_OBJECT)
        parent_root = cls._parent_root(fl_ctx)
        parent_args = fl_ctx.get_prop(FLContextKey.ARGS)
        set_list = getattr(parent_args, "set", None) if parent_args is not None else None
        set_options = [str(item) for item in set_list] if set_list else []
        return (
            _to_json(job_meta),
            _to_json(job_args) if job_args else None,
            set_options,
            workspace_object is not None,
            parent_root,
        )

    def launch_job(self, job_meta: dict, fl_ctx: FLContext) -> JobHandleSpec:
        """Launch the job's container and return its handle once it runs.

        Raises ``ValueError`` / ``RuntimeError`` as upstream does. Always returns a handle
        when it returns: a container that did not reach ``running`` in time has been
        terminated, and its handle polls ABORTED.
        """
        site = fl_ctx.get_identity_name()
        meta_json, args_json, set_options, has_workspace, parent_root = self._launch_inputs(job_meta, fl_ctx)
        launcher = self._site_launcher(site, parent_root)
        native_handle = launcher.launch(meta_json, args_json, set_options, has_workspace)
        return DockerJobHandle(native_handle)

    def plan_job(self, job_meta: dict, fl_ctx: FLContext) -> dict:
        """The container berth would create for this job, as ``{"name", "create"}`` (the
        Docker Engine API create body). Validates like ``launch_job``; contacts no engine."""
        site = fl_ctx.get_identity_name()
        meta_json, args_json, set_options, has_workspace, parent_root = self._launch_inputs(job_meta, fl_ctx)
        launcher = self._site_launcher(site, parent_root)
        return json.loads(launcher.plan(meta_json, args_json, set_options, has_workspace))

    def handle_event(self, event_type: str, fl_ctx: FLContext):
        if event_type == EventType.BEFORE_JOB_LAUNCH:
            add_launcher(self, fl_ctx)
        elif event_type == EventType.SYSTEM_START:
            # Fired in the parent only, never in job processes (which build this component
            # too, and must not touch the engine or the store).
            self.start(fl_ctx)

    def get_module_args(self, job_args: dict) -> dict:
        """Return a {flag: value} dict of args to pass to the job module.

        Args:
            job_args: JOB_PROCESS_ARGS dict from FLContext (with PARENT_URL already overridden).

        Returns:
            dict of {flag: value} pairs to append after '-u -m <module>' in the container command.
        """
        return _module_args(job_args, self._MODULE_ARGS)


class ClientDockerJobLauncher(DockerJobLauncher):
    """The client's launcher: CJ containers for client jobs."""

    _ROLE = "client"
    _MODULE_ARGS = _CLIENT_MODULE_ARGS


class ServerDockerJobLauncher(DockerJobLauncher):
    """The server's launcher: SJ containers for server jobs."""

    _ROLE = "server"
    _MODULE_ARGS = _SERVER_MODULE_ARGS


