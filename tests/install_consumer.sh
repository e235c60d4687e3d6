#!/bin/sh
# Installs the build into a temporary prefix, then builds and runs a consumer twice: with
# pkg-config (sluice.pc) and with CMake's find_package(sluice).
# Usage: install_consumer.sh BUILD_DIR SOURCE_DIR [extra CFLAGS, e.g. sanitizer flags]
set -eu
build=$1; src=$2; extra=${3:-}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -1); libdir=${libdir%/pkgconfig}
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc $extra "$src/tests/consumer/main.c" $(pkg-config --cflags --libs sluice) -Wl,-rpath,"$libdir" -o "$tmp/pc"
"$tmp/pc"
cmake -S "$src/tests/consumer" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_C_FLAGS="$extra" \
      -DCMAKE_BUILD_RPATH="$libdir" >/dev/null
cmake --build "$tmp/cm" >/dev/null
"$tmp/cm/consumer"
echo "install_consumer: 2 passed, 0 failed"
