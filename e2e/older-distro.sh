#!/usr/bin/env bash
# berth's portable artifacts on an older distribution: Debian 11 (bullseye, glibc 2.31).
#
# Builds the manylinux2014 abi3 wheel (scripts/build-wheel.sh, checked with auditwheel) and
# the static CLI (scripts/build-static-cli.sh, checked with file and ldd), then, in an image
# made from a bullseye root filesystem (debootstrap, then docker import):
#   1. the wheel installs with `pip install --no-index` and its native part loads;
#   2. berth.nvflare launches a job on the host's engine through the mounted socket, and the
#      job's return code, outcome and output are checked;
#   3. the static CLI runs `berth doctor`, then `berth launch` and `berth wait` of a job.
# Job containers use the static job stub as their python, in an image based on the same
# bullseye root filesystem.
#
# bullseye's own python3 is 3.9, older than the wheel's floor (abi3, CPython >= 3.10), so the
# image gets CPython 3.11.2 built inside it from the source tarball of Debian's python3.11
# package (checksum pinned), against bullseye's glibc. NVFlare and its dependencies come from
# PyPI as binary wheels that accept glibc 2.31 (`pip download` for manylinux_2_31 and older
# tags), downloaded on the host; no container has network access.
#
#   e2e/older-distro.sh          needs root, Docker, python3, debootstrap, cargo, curl
#
# Time (docs/install.md has the breakdown): 213 s with warm caches. Cold, the two release
# builds, debootstrap and the CPython build dominate: 6 to 36 min each measured on a shared,
# heavily loaded machine.
#
# Environment: BERTH_E2E_CACHE (rootfs, CPython build, wheels, build tools; default
# ~/.cache/berth-e2e), BERTH_E2E_KEEP=1 (keep the work dir).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
suite="bullseye"
glibc_expected="2.31"
cpython_version="3.11.2"
cpython_source="python3.11_${cpython_version}.orig.tar.gz"
cpython_sha256="2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849"
cpython_url="http://deb.debian.org/debian/pool/main/p/python3.11/$cpython_source"
# debootstrap minbase plus what CPython's build needs (the image keeps them: it is a test
# image, and pip below installs binary wheels only).
packages="ca-certificates,procps,gcc,make,libc6-dev,zlib1g-dev,libffi-dev,libssl-dev,libbz2-dev,liblzma-dev,libsqlite3-dev,uuid-dev"
work="$(mktemp -d /tmp/berth-older-distro.XXXXXX)"
network="berth-older-net-$suffix"
site="berth-older-site-$suffix"
socket=/var/run/docker.sock

cleanup() {
    set +e
    remove_containers "berth-older-pybuild-$suffix" "berth-older-run-$suffix"
    remove_labelled "io.berth.site=$site"
    docker network rm "$network" >/dev/null 2>&1
    remove_images "${test_image:-}" "${job_image:-}" "${base_image:-}"
    remove_work "$work"
}
trap cleanup EXIT

require_engine
[ -S "$socket" ] || fail "no engine socket at $socket to mount into the test container"
require_commands debootstrap file curl
mkdir -p "$cache"

# --- the artifacts under test --------------------------------------------------------------
log "building the manylinux wheel (scripts/build-wheel.sh)"
wheel="$("$repo/scripts/build-wheel.sh" "$work/dist" 2>"$work/wheel.log")" \
    || { tail -30 "$work/wheel.log"; fail "building the wheel"; }
grep -A1 'is consistent with' "$work/wheel.log" | sed 's/^/    /' || true
log "wheel: $(basename "$wheel")"
log "building the static CLI (scripts/build-static-cli.sh)"
cli="$("$repo/scripts/build-static-cli.sh" "$work/bin" 2>"$work/static.log")" \
    || { tail -30 "$work/static.log"; fail "building the static CLI"; }
log "$(tail -1 "$work/static.log")"
log "building the job stub (static, std only)"
"${RUSTC:-rustc}" --edition 2021 --crate-name job_stub --target x86_64-unknown-linux-gnu \
    -C target-feature=+crt-static -C opt-level=s -C strip=symbols -C panic=abort \
    -o "$work/job-stub" "$repo/crates/job-stub/src/main.rs"

# --- the bullseye root filesystem, CPython built in it, NVFlare's wheels --------------------
log "$suite root filesystem"
rootfs="$(DEBIAN_SUITE="$suite" DEBIAN_PACKAGES="$packages" "$repo/e2e/rootfs.sh")"
rootfs_key="$(basename "$rootfs" .tar | sed 's/^rootfs-//')"
base_image="berth-older-base:$rootfs_key-$suffix"
docker import "$rootfs" "$base_image" >/dev/null
# The whole answer first: `| head -1` straight on docker would close the pipe early, and
# docker then fails with "write /dev/stdout: broken pipe", which pipefail makes fatal.
ldd_version="$(docker run --rm --network none "$base_image" ldd --version)"
ldd_first_line="${ldd_version%%$'\n'*}"
glibc="${ldd_first_line##* }"
[ "$glibc" = "$glibc_expected" ] || fail "the $suite image has glibc $glibc, expected $glibc_expected"
log "$suite image: glibc $glibc"

source_tarball="$cache/$cpython_source"
if ! echo "$cpython_sha256  $source_tarball" | sha256sum -c --quiet 2>/dev/null; then
    log "downloading $cpython_source (Debian's python3.11 source package)"
    curl -fsS -o "$source_tarball.part" "$cpython_url"
    echo "$cpython_sha256  $source_tarball.part" | sha256sum -c --quiet || fail "checksum of $cpython_source"
    mv "$source_tarball.part" "$source_tarball"
fi
# Keyed by the rootfs (its inputs), the source and this recipe (bump recipe when it changes).
recipe=1
cpython_key="$(printf '%s\n' "$recipe" "$rootfs_key" "$cpython_sha256" | sha256sum | cut -c1-16)"
cpython_tar="$cache/cpython-$cpython_version-$suite-$cpython_key.tar"
if [ ! -s "$cpython_tar" ]; then
    log "building CPython $cpython_version inside the $suite image (cached as $cpython_tar)"
    mkdir -p "$work/pybuild"
    docker run --rm --name "berth-older-pybuild-$suffix" --network none \
        -v "$source_tarball:/src/python.tar.gz:ro" -v "$work/pybuild:/out" "$base_image" sh -ec '
            mkdir /build && tar -xzf /src/python.tar.gz -C /build && cd /build/Python-*
            ./configure --prefix=/opt/python3.11 --with-ensurepip=install >/out/configure.log 2>&1
            make -j"$(nproc)" >/out/make.log 2>&1
            make install >/out/install.log 2>&1
            /opt/python3.11/bin/python3 -c "import ssl, zlib, ctypes, sqlite3, lzma, bz2"
            tar -C / -cf /out/cpython.tar opt/python3.11' \
        || { tail -20 "$work"/pybuild/*.log 2>/dev/null; fail "building CPython in the $suite image"; }
    mv "$work/pybuild/cpython.tar" "$cpython_tar"
fi

wheels="$cache/wheels-nvflare-$nvflare_version-cp311-manylinux_2_31"
if [ ! -f "$wheels/.complete" ]; then
    log "downloading NVFlare $nvflare_version and its dependencies as cp311 wheels for glibc <= 2.31"
    rm -rf "$wheels"
    # pip does not widen an explicit --platform to older tags: list each one glibc 2.31 accepts.
    platforms=()
    for tag in 2_31 2_28 2_27 2_26 2_24 2_17 2_12 2_5; do platforms+=(--platform "manylinux_${tag}_x86_64"); done
    "$python" -m pip download -q --only-binary=:all: "${platforms[@]}" --python-version 3.11 \
        --implementation cp --abi cp311 --abi abi3 --abi none -d "$wheels" "nvflare==$nvflare_version"
    touch "$wheels/.complete"
fi

# --- images ---------------------------------------------------------------------------------
test_image="berth-older-test:$suffix"
job_image="berth-older-job:$suffix"
ctx="$work/test-image"
mkdir -p "$ctx"
cp "$cpython_tar" "$ctx/cpython.tar"
cp -r "$wheels" "$ctx/wheels"
cp "$wheel" "$ctx/"
cp "$cli" "$ctx/berth"
cp "$repo/e2e/dropin_launch.py" "$ctx/"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base_image
ADD cpython.tar /
COPY wheels /tmp/wheels
COPY $(basename "$wheel") /tmp/
# The site's Python environment: NVFlare, then berth's wheel, from files only.
RUN /opt/python3.11/bin/python3 -m venv /opt/site \
 && /opt/site/bin/pip install -q --no-index --find-links /tmp/wheels "nvflare==$nvflare_version" \
 && /opt/site/bin/pip install --no-index /tmp/$(basename "$wheel") \
 && rm -rf /tmp/wheels /tmp/*.whl /root/.cache
COPY berth /usr/local/bin/berth
COPY dropin_launch.py /opt/
DOCKERFILE
log "building $test_image (CPython, NVFlare, berth's wheel and static CLI on $suite)"
docker build -q --network none --force-rm -t "$test_image" "$ctx" >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; fail "building the test image"; }
ctx="$work/job-image"
mkdir -p "$ctx"
cp "$work/job-stub" "$ctx/python"
printf 'FROM %s\nCOPY python /usr/local/bin/python\n' "$base_image" >"$ctx/Dockerfile"
docker build -q --network none --force-rm -t "$job_image" "$ctx" >/dev/null
docker network create "$network" >/dev/null

# --- the checks -----------------------------------------------------------------------------
# The host's workspace is mounted at the same path, as berth expects when it runs on the
# host; the engine's socket is mounted as a site mounts it into its parent container.
ws="$work/ws"
mkdir -p "$ws/startup" "$ws/local"
run() {
    docker run --rm --name "berth-older-run-$suffix" --network none \
        -v "$socket:/var/run/docker.sock" -v "$ws:$ws" "$test_image" "$@"
}
new_job() {
    mkdir -p "$ws/$1/app_$site/custom"
    printf 'print berth job %s on %s\nwrite proof.txt %s\nexit 0\n' "$1" "$suite" "$1" >"$ws/$1/stub.script"
}
job_finished() {
    [ "$(cat "$ws/$1/proof.txt" 2>/dev/null)" = "$1" ] || fail "job $1 did not write its proof file"
    [ -z "$(docker ps -aq --filter "label=io.berth.site=$site" --filter "label=io.berth.job-id=$1")" ] \
        || fail "the container of job $1 was not removed"
}

log "1. wheel: installed from files, native part loads"
run /opt/site/bin/python -c '
import importlib.metadata as m, platform, berth
assert berth.native_available(), "native part did not load"
wheel = m.distribution("berth").read_text("WHEEL")
tags = [l.split(": ")[1] for l in wheel.splitlines() if l.startswith("Tag: ")]
print("    berth", berth.__version__, "tags", tags, "python", platform.python_version(), "libc", " ".join(platform.libc_ver()))
' || fail "the wheel does not load on $suite"

log "2. drop-in: berth.nvflare launches a job through the mounted socket"
new_job dropin-1
run /opt/site/bin/python /opt/dropin_launch.py "$ws" "$site" "$network" "$job_image" dropin-1 \
    | sed 's/^/    /' || fail "launch through berth.nvflare"
job_finished dropin-1

log "3. static CLI: berth doctor, berth launch, berth wait"
printf '{"workspace": "%s", "network": "%s", "timeout": 60}\n' "$ws" "$network" >"$ws/local/berth-site.json"
site_args=(--config "$ws/local/berth-site.json" --site "$site" --role client)
run berth doctor "${site_args[@]}" >"$work/doctor.txt" 2>&1 || { cat "$work/doctor.txt"; fail "berth doctor"; }
sed 's/^/    /' "$work/doctor.txt"
new_job cli-1
printf '{"job_id": "cli-1", "launcher_spec": {"default": {"docker": {"image": "%s"}}}}\n' "$job_image" >"$work/meta.json"
cp "$work/meta.json" "$ws/cli-1/meta.json"
cat >"$ws/cli-1/args.json" <<JSON
{"exe_module": ["-m", "nvflare.private.fed.app.client.worker_process"],
 "workspace": ["-m", "/var/tmp/nvflare/workspace"], "job_id": ["-n", "cli-1"],
 "client_name": ["-c", "$site"], "parent_url": ["-p", "tcp://localhost:8004"]}
JSON
run berth launch "${site_args[@]}" --job "$ws/cli-1/meta.json" --args "$ws/cli-1/args.json" \
    | sed 's/^/    /' || fail "berth launch"
# The exit status of `berth wait` is the job's return code: 0 only for SUCCESS.
run berth wait "${site_args[@]}" cli-1 | sed 's/^/    /' || fail "berth wait: the job did not succeed"
deadline=$(( $(date +%s) + 60 ))
while [ -n "$(docker ps -aq --filter "label=io.berth.site=$site" --filter "label=io.berth.job-id=cli-1")" ] \
    && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
job_finished cli-1

log "4. static CLI: a tcp:// engine named in /etc/hosts is looked up without the host's NSS modules"
out="$(docker run --rm --network none -v "$ws:$ws" -e DOCKER_HOST=tcp://localhost:9 "$test_image" berth doctor "${site_args[@]}" 2>&1 || true)"
grep -q 'tcp connect error' <<<"$out" || { echo "$out"; fail "tcp://localhost did not get as far as connecting"; }
grep -m1 'tcp connect error' <<<"$out" | sed 's/^ */    /'

log "PASS on Debian $suite (glibc $glibc): wheel $(basename "$wheel"), static CLI, drop-in and CLI launches"
