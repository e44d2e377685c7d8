#!/usr/bin/env bash
# Runs the README's "From source" install commands exactly as printed, into a temporary
# install root (CARGO_INSTALL_ROOT, so nothing lands in ~/.cargo/bin), and checks the binary
# they installed. A release build of berth-cli: a few minutes on a fresh 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

block=$(awk '
  /^### From source$/ { section = 1; next }
  section && /^##/ { exit }
  section && /^```sh$/ { inside = 1; next }
  inside && /^```$/ { exit }
  inside { print }
' README.md)
if [ -z "$block" ]; then
  echo "README.md has no sh block under '### From source'" >&2
  exit 1
fi
grep -q 'cargo install' <<<"$block" || { echo "the install block has no cargo install" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
export CARGO_INSTALL_ROOT="$root"
export PATH="$root/bin:$PATH"
printf 'running:\n%s\n' "$block"
bash -euo pipefail -c "$block"

test -x "$root/bin/berth" || { echo "no berth in $root/bin" >&2; exit 1; }
version=$("$root/bin/berth" --version)
case "$version" in
  "berth "*) echo "installed: $version" ;;
  *) echo "unexpected --version output: $version" >&2; exit 1 ;;
esac
