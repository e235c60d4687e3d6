#!/usr/bin/env bash
# Installs the build and test dependencies that are missing (Debian 12). Idempotent and
# quiet when everything is there already.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
# Test-only: coturn (a real TURN server), libusrsctp-dev (SCTP conformance peer),
# python3-aiortc (the first real WebRTC peer in make check).
for p in build-essential cmake pkg-config libssl-dev libcmocka-dev clang libclang-rt-14-dev openssl \
         coturn libusrsctp-dev python3-aiortc ${SLUICE_EXTRA_DEPS:-}; do
  have "$p" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
