#!/usr/bin/env bash
# Installs what the interop peers need, idempotently (a fresh Debian 12 machine, as root
# or with sudo): apt python3-aiortc, chromium, firefox-esr, GStreamer webrtcbin
# (plugins-bad, nice, gi bindings), nodejs/npm, and the pinned npm peers into
# interop/node_modules. Quiet when everything is there already.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
need=()
for p in python3-aiortc chromium firefox-esr iproute2 util-linux golang-go golang-github-pion-webrtc.v3-dev coturn \
         python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 \
         gir1.2-nice-0.1 gstreamer1.0-plugins-base gstreamer1.0-plugins-bad gstreamer1.0-nice; do
  have "$p" || need+=("$p")
done
# node/npm may come from elsewhere than Debian (e.g. a nodejs that bundles npm): check the
# commands, not the packages.
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "interop/install.sh: apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# npm peers, pinned (package.json + package-lock.json are committed beside this script).
if [ "${SLUICE_INTEROP_NO_NPM:-0}" != 1 ]; then
  if [ ! -d "$here/node_modules/node-datachannel" ] || [ ! -d "$here/node_modules/werift" ] ||
     [ ! -d "$here/node_modules/@roamhq/wrtc" ] || [ ! -d "$here/node_modules/playwright-core" ] ||
     [ ! -d "$here/node_modules/puppeteer-core" ]; then
    echo "interop/install.sh: npm install (node-datachannel, @roamhq/wrtc, werift, playwright-core, puppeteer-core)" >&2
    # The npm registry may be unreachable (or its TLS not trusted) where Debian's mirror
    # is: the npm peers and Chromium are then skipped by their tests, loudly.
    if ! (cd "$here" && npm install --no-audit --no-fund --loglevel=error); then
      if [ "${SLUICE_INTEROP_REQUIRE:-0}" = 1 ]; then
        echo "interop/install.sh: npm install failed and SLUICE_INTEROP_REQUIRE=1: every peer is required" >&2
        exit 1
      fi
      echo "interop/install.sh: SKIP: npm install failed: libdatachannel, libwebrtc, werift, Chromium and Firefox runs will be skipped" >&2
    fi
  fi
fi
# pion peer: built offline from Debian's Go sources.
bash "$here/peers/pion_peer/build.sh"
