#!/usr/bin/env bash
# Runs one headless Godot 3 test scene against the sluice plugin.
#   run-godot-test.sh PLUGIN.so SCENE [PEER_NAME PEER_COMMAND...]
# With a peer, the peer program is started first; it prints "PORT n" (its loopback
# signaling port, handed to the scene as SLUICE_TEST_PORT) and must exit 0 too.
# Installs godot3-server (Debian 12) when missing; exits 77 (CTest: skipped) with a visible
# SKIP line only when it cannot be installed. The scene prints "N passed, N failed" and
# exits non-zero on failure; everything runs under a timeout.
set -uo pipefail
plugin=$1 scene=$2 peer=${3:-}
shift 2; [ $# -gt 0 ] && shift
name=$scene${peer:+_$peer}
here=$(cd "$(dirname "$0")" && pwd)
addon=$here/../addons/sluice
GODOT=${GODOT:-godot3-server}

if ! command -v "$GODOT" >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  echo "godot test: installing godot3-server" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends godot3-server >/dev/null 2>&1 ||
  { DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends godot3-server >/dev/null 2>&1; }
  if ! command -v "$GODOT" >/dev/null 2>&1; then
    echo "SKIP: godot_$name: godot3-server is not installed and could not be installed"
    exit 77
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-godot-$name.XXXXXX")
cleanup() {
  [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "$here/project/." "$work/"
mkdir -p "$work/addons/sluice" "$work/xdg"
cp "$addon/sluice.gdnlib" "$work/addons/sluice/"
cp "$plugin" "$work/addons/sluice/libsluice_godot.so"

export LANG=en_US.UTF-8 XDG_DATA_HOME=$work/xdg XDG_CONFIG_HOME=$work/xdg XDG_CACHE_HOME=$work/xdg
export SLUICE_GODOT_LOOPBACK=1
# Sanitizer builds: the plugin is instrumented and Godot runs with the ASan runtime
# preloaded (Godot's own exit-time leaks are not ours: leak detection off there).
genv=(env -u LD_PRELOAD)
if [ -n "${SLUICE_GODOT_PRELOAD:-}" ]; then
  genv=(env LD_PRELOAD="$SLUICE_GODOT_PRELOAD"
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
fi

if [ "$peer" = aiortc ] && ! /usr/bin/python3 -c 'import aiortc' 2>/dev/null; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends python3-aiortc >/dev/null 2>&1
  if ! /usr/bin/python3 -c 'import aiortc' 2>/dev/null; then
    echo "SKIP: godot_$name: python3-aiortc is not installed and could not be installed"
    exit 77
  fi
fi
if [ -n "$peer" ]; then
  # The peer listens on an ephemeral loopback port and prints it first.
  "$@" > "$work/peer.out" 2> "$work/peer.err" &
  cpid=$!
  for _ in $(seq 300); do grep -q '^PORT ' "$work/peer.out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/^PORT //p' "$work/peer.out" | head -1)
  [ -n "$port" ] || { echo "$peer peer did not start"; cat "$work/peer.err"; exit 1; }
  export SLUICE_TEST_PORT=$port SLUICE_TEST_PEER=$peer
fi

timeout -k 5 120 "${genv[@]}" "$GODOT" --path "$work" -s "res://tests/$scene.gd" > "$work/godot.log" 2>&1
rc=$?
cat "$work/godot.log"
if [ -n "${cpid:-}" ]; then
  wait "$cpid"; crc=$?; cpid=
  echo "--- $peer peer (exit $crc) ---"; cat "$work/peer.out" "$work/peer.err"
  [ $rc -eq 0 ] && [ $crc -ne 0 ] && rc=$crc
fi
[ $rc -eq 124 ] && echo "godot_$name: TIMEOUT"
grep -Eq '^[0-9]+ passed, 0 failed$' "$work/godot.log" || { [ $rc -eq 0 ] && rc=1; }
if grep 'still alive at exit' "$work/godot.log" | grep -vq ' 0 peer connection(s) and 0 channel(s)'; then
  echo "godot_$name: the plugin kept objects Godot had freed"; [ $rc -eq 0 ] && rc=1
fi
if grep -Eq 'ERROR: AddressSanitizer|runtime error:' "$work/godot.log"; then
  echo "godot_$name: sanitizer report"; [ $rc -eq 0 ] && rc=1
fi
if grep -q 'SCRIPT ERROR' "$work/godot.log"; then echo "godot_$name: script error"; [ $rc -eq 0 ] && rc=1; fi
exit $rc
