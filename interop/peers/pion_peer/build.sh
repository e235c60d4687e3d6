#!/usr/bin/env bash
# Builds interop/peers/pion_peer/pion_peer offline from Debian's pion sources
# (golang-go, golang-github-pion-webrtc.v3-dev; installed by interop/install.sh).
# Debian ships pion/webrtc without the /v3 path: a symlink in a private GOPATH adds it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/pion_peer"
if [ -x "$out" ] && [ "$out" -nt "$here/main.go" ]; then exit 0; fi
gp=$(mktemp -d)
trap 'rm -rf "$gp"' EXIT
mkdir -p "$gp/src/github.com/pion/webrtc" "$gp/src/sluice-interop/pion_peer"
ln -s /usr/share/gocode/src/github.com/pion/webrtc "$gp/src/github.com/pion/webrtc/v3"
cp "$here/main.go" "$gp/src/sluice-interop/pion_peer/"
cd "$gp/src/sluice-interop/pion_peer"
GO111MODULE=off GOPATH="$gp:/usr/share/gocode" GOPROXY=off \
  go build -o "$out.tmp" .
mv "$out.tmp" "$out"
