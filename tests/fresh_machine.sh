#!/usr/bin/env bash
# The README's quick start as a new user meets it: a fresh clone of this checkout's HEAD in a
# temporary directory, then `make demo` and `make test` there with an empty HOME, CARGO_HOME
# and cargo target dir (and so an empty Maven repository and pip cache). RUSTUP_HOME and the
# Python interpreter stay as installed. Prints each command's wall time; exits non-zero if
# either fails. For people (`make fresh-check`), not for every CI run: it downloads and
# builds everything from nothing (about 10 minutes on 2 cores).
#   FRESH_KEEP=1 keeps the temporary directory; FRESH_REF=<commit> checks out another ref.
set -euo pipefail
src=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
ref=${FRESH_REF:-HEAD}
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
  echo "fresh-check: uncommitted changes are not part of the clone; checking $(git -C "$src" rev-parse --short "$ref")" >&2
fi
root=$(mktemp -d /tmp/ferrolake-fresh-XXXXXX)
cleanup() { if [ "${FRESH_KEEP:-0}" = 1 ]; then echo "fresh-check: kept $root"; else rm -rf "$root"; fi; }
trap cleanup EXIT

# Resolved before HOME changes: rustup's proxies and pyenv's shims find their homes from it.
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
python_dir=$(dirname "$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')")
cargo_dir=$(dirname "$(command -v cargo)")

git clone --quiet --no-local "$src" "$root/ferrolake"
git -C "$root/ferrolake" checkout --quiet "$(git -C "$src" rev-parse "$ref")"
mkdir -p "$root/home" "$root/cargo-home"

run() {
  local name=$1; shift
  local start end status=0
  start=$(date +%s)
  env -i \
    HOME="$root/home" CARGO_HOME="$root/cargo-home" CARGO_TARGET_DIR="$root/target" \
    RUSTUP_HOME="$rustup_home" RUSTUP_AUTO_INSTALL=0 \
    PATH="$python_dir:$cargo_dir:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    LANG=C.UTF-8 TERM=dumb ${SSL_CERT_FILE:+SSL_CERT_FILE=$SSL_CERT_FILE} \
    ${PIP_CERT:+PIP_CERT=$PIP_CERT} ${JAVA_HOME:+JAVA_HOME=$JAVA_HOME} \
    make -C "$root/ferrolake" "$@" >"$root/$name.log" 2>&1 || status=$?
  end=$(date +%s)
  printf 'fresh-check: make %-5s %s  %dm%02ds\n' "$name" "$([ $status = 0 ] && echo ok || echo FAILED)" \
    $(((end - start) / 60)) $(((end - start) % 60))
  if [ $status != 0 ]; then
    tail -40 "$root/$name.log"
    FRESH_KEEP=1
    return $status
  fi
}

echo "fresh-check: $(git -C "$root/ferrolake" log -1 --format='%h %s' | cut -c1-80)"
echo "fresh-check: HOME, CARGO_HOME and target dir under $root (all empty)"
run demo demo
grep -E '^(summary|  )' "$root/demo.log" | tail -25 || true
run test test
grep -E 'test result:|passed, [0-9]+ failed|Tests run:' "$root/test.log" |
  awk '/test result:/ {p += $4; f += $6} /Tests run:/ {print} END {print "fresh-check: cargo tests " p " passed, " f " failed"}'
