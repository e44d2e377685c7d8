#!/usr/bin/env bash
# A rootful Podman Docker-compatible service of its own, for the real-engine tests.
#
#   scripts/podman-service.sh start DIR   installs podman (Debian) when missing, starts the
#                                         service on unix://DIR/podman.sock, prints DOCKER_HOST
#   scripts/podman-service.sh check DIR   fails when a container, image or network is left
#   scripts/podman-service.sh stop DIR    stops the service and removes DIR's storage
#
# Everything lives under DIR: the config, the image and container storage, the socket. The
# service uses runc (crun fails on cgroup v1 hosts), cgroupfs (no systemd) and file events
# (no journald). Podman sets every container's open-files and process limits to 1048576 and
# 4194304 unless told otherwise, and a host that cannot raise its own limits that far
# (containers, sandboxes) then fails every start with "error setting rlimit type 7"; the
# service is told to give containers its own hard limits instead, which is what Docker does.
set -euo pipefail

cmd=${1:?usage: podman-service.sh start|check|stop DIR}
dir=${2:?usage: podman-service.sh start|check|stop DIR}
# Absolute: the service starts inside it (start_service), and the paths must still hold.
dir=$(realpath -m "$dir")
conf="$dir/containers.conf"

podman_here() {
  CONTAINERS_CONF="$conf" podman --root "$dir/storage" --runroot "$dir/run" "$@"
}

hard_limit() { # $1: the line's name in /proc/PID/limits; prints the hard value
  awk -v name="$1" 'index($0, name) == 1 { print $(NF - 1) }' "/proc/$2/limits"
}

write_conf() { # $1: extra [containers] lines
  cat >"$conf" <<EOF
[containers]
$1
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}

start_service() {
  # From the service's own folder: conmon creates an empty `oom` file in its working
  # directory when a container is OOM-killed (containers/conmon#504), and Podman 4 starts
  # it in the service's.
  (cd "$dir" && CONTAINERS_CONF="$conf" exec nohup podman --root "$dir/storage" --runroot "$dir/run" \
    system service --time=0 "unix://$dir/podman.sock" >"$dir/service.log" 2>&1) &
  echo $! >"$dir/service.pid"
  for _ in $(seq 1 60); do
    if curl -sf --unix-socket "$dir/podman.sock" http://podman/_ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "the podman service did not answer on $dir/podman.sock:" >&2
  cat "$dir/service.log" >&2
  return 1
}

stop_service() {
  if [[ -f "$dir/service.pid" ]]; then
    kill "$(cat "$dir/service.pid")" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 "$(cat "$dir/service.pid")" 2>/dev/null || break
      sleep 0.5
    done
    rm -f "$dir/service.pid"
  fi
}

case "$cmd" in
  start)
    if ! command -v podman >/dev/null; then
      echo "installing podman" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >&2
    fi
    mkdir -p "$dir"
    # First without limits, to read the limits the service process itself runs with.
    write_conf ""
    start_service
    pid=$(cat "$dir/service.pid")
    nofile=$(hard_limit "Max open files" "$pid")
    nproc=$(hard_limit "Max processes" "$pid")
    stop_service
    write_conf "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
    start_service
    podman --version >&2
    echo "unix://$dir/podman.sock"
    ;;
  check)
    left=0
    containers=$(podman_here ps -aq)
    images=$(podman_here images -aq)
    networks=$(podman_here network ls --format '{{.Name}}' | grep -vx podman || true)
    for what in containers images networks; do
      if [[ -n "${!what}" ]]; then
        echo "left behind on podman: $what: $(echo ${!what})" >&2
        left=1
      fi
    done
    exit "$left"
    ;;
  stop)
    stop_service
    # The storage driver may leave its own mounts under DIR.
    findmnt -rn -o TARGET | grep -F "$dir/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: podman-service.sh start|check|stop DIR" >&2
    exit 2
    ;;
esac
