#!/usr/bin/env bash
# End-to-end: a real NVFlare federation whose Docker launchers are berth's.
#
# One server parent and one client parent, each a container on a Docker network, prepared
# with NVFlare's own `nvflare provision` and `nvflare deploy prepare --config` (Docker
# runtime) and started with the generated startup/start_docker.sh. Their
# local/resources.json names berth.nvflare.{Server,Client}DockerJobLauncher (the one-line
# switch). A small numpy FedAvg job (ScatterAndGather + NPTrainer, 2 rounds, no dataset, no
# GPU) must end FINISHED:COMPLETED, and both job containers must have been created by berth
# (label io.berth.managed=true), had their outcomes recorded in berth's state store, and
# been removed after that.
#
# No registry and no network inside containers: the images are built from a Debian root
# filesystem (debootstrap, then docker import) and Python packages are installed from
# wheels downloaded or built on the host. The job runs twice: first with a job image that
# has NVFlare but not berth and no berth files in any local/custom (job containers load
# resources.json through the Python files berth mounts read-only in every job), then with
# berth installed in the job image.
#
#   e2e/federation.sh           needs root, Docker, python3 (>= 3.10), debootstrap, cargo
#
# Environment: BERTH_E2E_CACHE (rootfs, wheels; default ~/.cache/berth-e2e),
# BERTH_E2E_KEEP=1 (keep the work dir), BERTH_E2E_TIMEOUT (seconds for the job, 900).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
timeout="${BERTH_E2E_TIMEOUT:-900}"
server="berth-e2e-server-$suffix"
client="berth-e2e-site-$suffix"
admin="admin@berth.example"
network="berth-e2e-net-$suffix"
work="$(mktemp -d /tmp/berth-e2e.XXXXXX)"

cleanup() {
    set +e
    [ -n "${events_pid:-}" ] && kill "$events_pid" 2>/dev/null
    remove_containers "$server" "$client" "berth-e2e-admin-$suffix"
    # Any job container berth left behind for these sites.
    for site in "$server" "$client"; do
        remove_labelled "io.berth.workspace=$work/sites/$site"
    done
    docker network rm "$network" >/dev/null 2>&1
    remove_images "${parent_image:-}" "${job_image:-}" "${base_image:-}"
    remove_work "$work"
}
trap cleanup EXIT

require_engine
require_commands debootstrap
mkdir -p "$cache"

# --- host tools: a venv with nvflare (for provision / deploy prepare) and maturin ---------
tools="$cache/tools-venv-$nvflare_version"
if [ ! -x "$tools/bin/nvflare" ] || [ ! -x "$tools/bin/maturin" ]; then
    log "creating the host tools venv ($tools)"
    "$python" -m venv "$tools"
    "$tools/bin/pip" install -q "nvflare==$nvflare_version" "maturin==$maturin_version"
fi

# --- root filesystem and wheels ----------------------------------------------------------
log "root filesystem"
rootfs="$("$repo/e2e/rootfs.sh")"
pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
wheel_key="$(printf '%s\n' "$nvflare_version" "$numpy_version" "$pyver" | sha256sum | cut -c1-16)"
wheels="$cache/wheels-$wheel_key"
if [ ! -f "$wheels/.complete" ]; then
    log "downloading / building wheels for nvflare $nvflare_version and numpy $numpy_version"
    rm -rf "$wheels"
    "$tools/bin/pip" wheel -q -w "$wheels" "nvflare==$nvflare_version" "numpy==$numpy_version"
    touch "$wheels/.complete"
fi
log "building berth's wheel (maturin build --release)"
dist="$work/dist"
(cd "$repo" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/python-build}" \
    "$tools/bin/maturin" build --release --compatibility linux -o "$dist" >"$work/maturin.log" 2>&1) \
    || { tail -20 "$work/maturin.log"; fail "maturin build"; }
berth_wheel="$(ls "$dist"/berth-*.whl)"

# --- images ------------------------------------------------------------------------------
rootfs_key="$(basename "$rootfs" .tar | sed 's/^rootfs-//')"
# Every image is this run's own (unique tags) and removed at the end; only the rootfs
# tarball and the wheels are cached between runs.
base_image="berth-e2e-base:$rootfs_key-$suffix"
job_image="berth-e2e-job:$wheel_key-$suffix"
parent_image="berth-e2e-parent:$suffix"
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
    log "docker import $rootfs -> $base_image"
    docker import "$rootfs" "$base_image" >/dev/null
fi
if ! docker image inspect "$job_image" >/dev/null 2>&1; then
    log "building $job_image (nvflare + numpy from host wheels, no network)"
    ctx="$work/job-image"
    mkdir -p "$ctx"
    cp -r "$wheels" "$ctx/wheels"
    cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base_image
COPY wheels /tmp/wheels
# A venv rooted at /usr/local: /usr/local/bin/python (the launcher's default python_path)
# and /usr/local/bin/python3 (start_docker.sh's parent command) are its interpreters.
RUN python3 -m venv /usr/local \
 && /usr/local/bin/pip install --no-index --find-links /tmp/wheels "nvflare==$nvflare_version" "numpy==$numpy_version" \
 && /usr/local/bin/python3 -c "import nvflare, numpy" \
 && rm -rf /tmp/wheels /root/.cache
CMD ["/usr/local/bin/python"]
DOCKERFILE
    docker build -q --network none --force-rm -t "$job_image" "$ctx" >/dev/null
fi
log "building $parent_image (job image + berth's wheel)"
ctx="$work/parent-image"
mkdir -p "$ctx"
cp "$berth_wheel" "$ctx/"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $job_image
COPY $(basename "$berth_wheel") /tmp/
RUN /usr/local/bin/pip install --no-index --no-deps /tmp/$(basename "$berth_wheel") && rm -f /tmp/*.whl \
 && /usr/local/bin/python3 -c "import berth, berth.nvflare; assert berth.native_available()"
DOCKERFILE
docker build -q --network none --force-rm -t "$parent_image" "$ctx" >/dev/null
docker run --rm --network none "$job_image" python -c "import importlib.util as u; assert u.find_spec('berth') is None" \
    || fail "the job image must not contain berth"

# --- provision and prepare ---------------------------------------------------------------
ports="$("$python" - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)"
read -r fl_port admin_port <<<"$ports"
log "provisioning (server $server, client $client, ports $fl_port/$admin_port)"
cat >"$work/project.yml" <<YAML
api_version: 3
name: berth_e2e
description: berth end-to-end federation
participants:
  - name: $server
    type: server
    org: berth
    fed_learn_port: $fl_port
    admin_port: $admin_port
  - name: $client
    type: client
    org: berth
  - name: $admin
    type: admin
    org: berth
    role: project_admin
builders:
  - path: nvflare.lighter.impl.workspace.WorkspaceBuilder
  - path: nvflare.lighter.impl.static_file.StaticFileBuilder
    args:
      config_folder: config
  - path: nvflare.lighter.impl.cert.CertBuilder
  - path: nvflare.lighter.impl.signature.SignatureBuilder
YAML
(cd "$work" && "$tools/bin/nvflare" provision -p project.yml -w "$work/prov" >"$work/provision.log" 2>&1) \
    || { tail -20 "$work/provision.log"; fail "nvflare provision"; }
prod="$(ls -d "$work"/prov/berth_e2e/prod_* | tail -1)"

cat >"$work/docker.yaml" <<YAML
runtime: docker
parent:
  docker_image: $parent_image
  network: $network
job_launcher:
  default_python_path: /usr/local/bin/python
YAML
for site in "$server" "$client"; do
    "$tools/bin/nvflare" deploy prepare "$prod/$site" --config "$work/docker.yaml" --output "$work/sites/$site" \
        >"$work/prepare-$site.log" 2>&1 || { cat "$work/prepare-$site.log"; fail "nvflare deploy prepare $site"; }
    kit="$work/sites/$site"
    # The switch: berth's class in place of NVFlare's, same arguments.
    sed -i 's/nvflare\.app_opt\.job_launcher\.docker_launcher\./berth.nvflare./' "$kit/local/resources.json.default"
    grep -q '"berth.nvflare.' "$kit/local/resources.json.default" || fail "the launcher switch did not apply for $site"
    # Nothing else: job containers build the launcher component too, and berth makes its
    # own Python files importable in them (DESIGN decision 15); no copy into local/custom.
    [ ! -e "$kit/local/custom/berth" ] || fail "berth files in $site's local/custom"
done
grep -n 'berth.nvflare' "$work/sites/$server/local/resources.json.default" "$work/sites/$client/local/resources.json.default"

# --- run -----------------------------------------------------------------------------------
docker network inspect "$network" >/dev/null 2>&1 || docker network create "$network" >/dev/null
events="$work/berth-events.jsonl"
docker events --filter "label=io.berth.managed=true" --filter type=container --format '{{json .}}' >"$events" &
events_pid=$!

log "starting the server and client parents (start_docker.sh)"
(cd "$work/sites/$server" && ./startup/start_docker.sh >"$work/server.log" 2>&1 &)
sleep 3
(cd "$work/sites/$client" && ./startup/start_docker.sh >"$work/client.log" 2>&1 &)

# One job run with the job image given: submit, wait for FINISHED:COMPLETED, then check
# what berth did (labels, outcomes recorded before removal, nothing left).
run_job() {
image="$1"
rm -rf "$work/job"
job_dir="$work/job/numpy-fedavg"
mkdir -p "$work/job"
cp -r "$repo/e2e/jobs/numpy-fedavg" "$job_dir"
sed -i "s|@JOB_IMAGE@|$image|" "$job_dir/meta.json"
log "submitting the numpy FedAvg job as $admin (job image $image)"
fed_started=$(date +%s)
set +e
docker run --rm --name "berth-e2e-admin-$suffix" --network "$network" \
    -v "$prod/$admin:/admin:ro" -v "$work/job:/job" -v "$repo/e2e/submit_job.py:/submit_job.py:ro" \
    "$job_image" python /submit_job.py /admin "$admin" "$client" /job/numpy-fedavg "$timeout" | tee "$work/submit.log"
submit_rc=${PIPESTATUS[0]}
set -e
fed_seconds=$(( $(date +%s) - fed_started ))
job_id="$(sed -n 's/^JOB_ID=//p' "$work/submit.log")"
if [ "$submit_rc" != 0 ]; then
    log "server parent log (tail):"; docker logs --tail 40 "$server" 2>&1 || tail -40 "$work/server.log"
    log "client parent log (tail):"; docker logs --tail 40 "$client" 2>&1 || tail -40 "$work/client.log"
    fail "the job did not finish FINISHED:COMPLETED"
fi

# --- what berth did ------------------------------------------------------------------------
sleep 3
log "checking berth's labels, outcomes and removals for job $job_id"
"$python" - "$events" "$job_id" "$server" "$client" "$work/sites/$server/.berth/state.db" "$work/sites/$client/.berth/state.db" <<'PY'
import json
import sqlite3
import sys

events_file, job_id, server, client, server_db, client_db = sys.argv[1:7]
events = [json.loads(line) for line in open(events_file) if line.strip()]
ok = True
# NVFlare's server parent calls itself "server" (its identity name), whatever the kit is
# called: its job container is "server-<job_id>" and reaches the parent through the
# "server" network alias that start_docker.sh sets.
for role, kit, db in (("server", server, server_db), ("client", client, client_db)):
    mine = [e for e in events if e["Actor"]["Attributes"].get("io.berth.role") == role
            and e["Actor"]["Attributes"].get("io.berth.job-id") == job_id]
    site = f"{kit} ({role})"
    created = [e for e in mine if e["Action"] == "create"]
    destroyed = [e for e in mine if e["Action"] == "destroy"]
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT return_code, exit_code, observed_by, recorded_at_ms FROM outcomes WHERE job_id = ?", (job_id,)
        ).fetchall()
    attrs = created[0]["Actor"]["Attributes"] if created else {}
    print(f"{site}: container {attrs.get('name')} created={len(created)} destroyed={len(destroyed)} "
          f"labels io.berth.managed={attrs.get('io.berth.managed')} io.berth.site={attrs.get('io.berth.site')} "
          f"outcome (return_code, exit_code, observed_by, recorded_at_ms)={rows}")
    if not (created and destroyed and rows):
        ok = False
        continue
    recorded_ms = max(r[3] for r in rows)
    destroyed_ms = min(e["timeNano"] for e in destroyed) / 1e6
    print(f"  outcome recorded {destroyed_ms - recorded_ms:.0f} ms before the container was removed")
    if attrs.get("io.berth.managed") != "true" or recorded_ms > destroyed_ms or rows[0][0] != 0:
        ok = False
sys.exit(0 if ok else 1)
PY
leftover="$(docker ps -aq --filter label=io.berth.managed=true --filter "label=io.berth.job-id=$job_id")"
[ -z "$leftover" ] || fail "job containers still present: $leftover"
}

# 1. The job image has NVFlare but not berth, and no site has berth files in local/custom:
#    job containers import the launcher class from the folder berth mounts (DESIGN 15).
run_job "$job_image"
first_seconds=$fed_seconds
# 2. The same federation, the job image with berth installed: the image's copy comes first.
run_job "$parent_image"
kill "$events_pid" 2>/dev/null || true
events_pid=""

total=$(( $(date +%s) - started ))
log "PASS: two jobs FINISHED:COMPLETED (job image without berth: ${first_seconds}s, with berth: ${fed_seconds}s, submit to completion), total ${total}s"
