"""One job through berth's NVFlare drop-in, from an installed berth (no source tree).

    python dropin_launch.py SITE_ROOT SITE_NAME NETWORK IMAGE JOB_ID

Builds the launcher the way NVFlare's parent does (a real FLContext with the workspace
object and the job process args), launches a job whose image runs the job stub, waits for
it, and checks the return code and the recorded outcome, then asks the engine (over its
socket) until the job's container is gone: berth removes it once the outcome is recorded.
Prints one JSON line with what it saw; exits non-zero on any mismatch.
"""

import http.client
import json
import socket
import sys
import time

from nvflare.apis.fl_constant import FLContextKey, ReservedKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.job_launcher_spec import JobReturnCode
from nvflare.apis.workspace import Workspace

import berth
from berth.nvflare import ClientDockerJobLauncher

WS = "/var/tmp/nvflare/workspace"
ENGINE_SOCKET = "/var/run/docker.sock"
REMOVAL_DEADLINE_S = 60


class EngineConnection(http.client.HTTPConnection):
    """HTTP to the engine's unix socket; the test's own look, apart from berth's client."""

    def __init__(self):
        super().__init__("localhost", timeout=10)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(ENGINE_SOCKET)


def container_exists(container_id: str) -> bool:
    conn = EngineConnection()
    try:
        conn.request("GET", f"/containers/{container_id}/json")
        status = conn.getresponse().status
    finally:
        conn.close()
    if status not in (200, 404):
        raise RuntimeError(f"the engine answered {status} to inspect {container_id}")
    return status == 200


def main() -> int:
    site_root, site, network, image, job_id = sys.argv[1:6]
    if not berth.native_available():
        print("berth's native part did not load", file=sys.stderr)
        return 1
    ctx = FLContext()
    ctx.set_prop(ReservedKey.IDENTITY_NAME, site, private=True, sticky=False)
    ctx.set_prop(FLContextKey.WORKSPACE_OBJECT, Workspace(site_root, site), private=True, sticky=True)
    args = {
        "exe_module": ("-m", "nvflare.private.fed.app.client.worker_process"),
        "workspace": ("-m", WS),
        "startup_dir": ("-w", f"{WS}/startup"),
        "job_id": ("-n", job_id),
        "client_name": ("-c", site),
        "auth_token": ("-t", "token"),
        "auth_signature": ("-ts", "signature"),
        "ssid": ("-d", "ssid"),
        "parent_url": ("-p", "tcp://localhost:8004"),
        "target": ("-g", "server:8002"),
        "scheme": ("-scheme", "grpc"),
        "startup_config_file": ("-s", "fed_client.json"),
    }
    ctx.set_prop(FLContextKey.JOB_PROCESS_ARGS, args, private=True, sticky=False)
    meta = {"job_id": job_id, "launcher_spec": {site: {"docker": {"image": image}}}}

    launcher = ClientDockerJobLauncher(workspace=site_root, network=network, timeout=60)
    handle = launcher.launch_job(meta, ctx)
    code = handle.wait()
    outcome = handle.outcome
    deadline = time.monotonic() + REMOVAL_DEADLINE_S
    while container_exists(handle.container_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    removed = not container_exists(handle.container_id)
    print(json.dumps({"return_code": code, "outcome": outcome, "container": handle.container_name, "removed": removed}))
    if code != JobReturnCode.SUCCESS or outcome.get("exit_code") != 0:
        print(f"expected success with exit code 0, got {code} / {outcome}", file=sys.stderr)
        return 1
    if not removed:
        print(f"container {handle.container_name} still exists {REMOVAL_DEADLINE_S}s after the job ended", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
