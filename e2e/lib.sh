# What the end-to-end scripts share; each sources it right after `set -euo pipefail`:
# the repository and cache paths, a suffix that makes this run's Docker names unique, log
# lines timed from the start, and the pieces of each script's cleanup.
#
# Sets: started, repo, cache (exported as BERTH_E2E_CACHE), suffix, and the Python and
# pinned versions of scripts/versions.sh.

started=$(date +%s)
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/versions.sh"
cache="${BERTH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth-e2e}"
export BERTH_E2E_CACHE="$cache"
suffix="$(printf '%s' "$(date +%s)-$$" | sha256sum | cut -c1-6)"

log() { printf '[%4ds] %s\n' "$(( $(date +%s) - started ))" "$*"; }
fail() { log "FAIL: $*"; exit 1; }

# Cleanup pieces: each removes what it names, quietly, and never fails.
remove_containers() {
    local c
    for c in "$@"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
}
# Every container with label KEY=VALUE ($1), whoever created it.
remove_labelled() {
    local ids
    ids=$(docker ps -aq --filter "label=$1" 2>/dev/null) || return 0
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
}
remove_images() {
    local image
    for image in "$@"; do
        [ -z "$image" ] || docker rmi -f "$image" >/dev/null 2>&1 || true
    done
}
# The work folder $1, unless BERTH_E2E_KEEP=1.
remove_work() {
    if [ "${BERTH_E2E_KEEP:-}" = 1 ]; then
        echo "work dir kept: $1"
    else
        rm -rf "$1"
    fi
}

# Fails unless the docker CLI is there and an engine answers.
require_engine() {
    command -v docker >/dev/null || fail "docker CLI missing"
    docker info >/dev/null 2>&1 || fail "no Docker engine reachable"
}

# Installs from Debian's packages each named command that is missing (package = command).
require_commands() {
    local c missing=()
    for c in "$@"; do command -v "$c" >/dev/null || missing+=("$c"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]} from Debian's packages"
        apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
