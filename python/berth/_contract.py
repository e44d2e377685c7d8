"""Contract constants shared with berth's core, generated from it: do not edit.

`cargo test -p berth-launcher` fails when this file differs from the core; rewrite it
with `BERTH_WRITE_CONTRACT=1 cargo test -p berth-launcher contract`.
"""

WORKSPACE_MOUNT = "/var/tmp/nvflare/workspace"
WORKSPACE_ENV = "NVFL_DOCKER_WORKSPACE"
DEFAULT_NETWORK = "nvflare-network"
DEFAULT_PYTHON_PATH = "/usr/local/bin/python"
DEFAULT_START_TIMEOUT = 30
STUDY_DATA_PATH_FILE = "local/study_data.yaml"
BERTH_PYTHON_TARGET = "/opt/berth/python"
ORPHAN_POLICIES = (
    "adopt",
    "terminate",
    "report",
)
BERTH_ARGS = (
    "pull_missing_images",
    "keep_failed_containers_hours",
    "orphan_policy",
    "engine_timeout",
    "engine_outage_limit",
    "security_profile",
    "allowed_images",
    "runtime",
)
# Docker SDK run kwargs the launcher sets itself; a site default may not name them.
RESERVED_DOCKER_KWARGS = frozenset((
    "auto_remove",
    "command",
    "detach",
    "environment",
    "image",
    "mounts",
    "name",
    "network",
    "user",
    "volumes",
    "working_dir",
))
# Job process args that become module arguments, in order.
CLIENT_MODULE_ARGS = (
    "workspace",
    "startup_dir",
    "job_id",
    "client_name",
    "parent_url",
    "parent_conn_sec",
    "target",
    "scheme",
    "startup_config_file",
)
SERVER_MODULE_ARGS = (
    "workspace",
    "startup_config_file",
    "app_root",
    "job_id",
    "parent_url",
    "parent_conn_sec",
    "root_url",
    "service_host",
    "service_port",
)
