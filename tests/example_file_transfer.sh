#!/bin/sh
# Two processes exchange SDP through files, send a 3 MiB file and echo chat lines.
set -eu
bin=$1
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
head -c 3145728 /dev/urandom > "$dir/in.bin"
timeout 60 "$bin" recv "$dir" "$dir/out.bin" > "$dir/recv.log" 2>&1 &
rpid=$!
if ! timeout 60 "$bin" send "$dir" "$dir/in.bin" > "$dir/send.log" 2>&1; then
  echo "sender failed:"; cat "$dir/send.log"; echo "receiver:"; cat "$dir/recv.log"; exit 1
fi
wait $rpid || { echo "receiver failed:"; cat "$dir/recv.log"; exit 1; }
cat "$dir/send.log" "$dir/recv.log"
cmp "$dir/in.bin" "$dir/out.bin"
grep -q 'echo "this is sluice"' "$dir/send.log"
echo "example_file_transfer: 1 passed, 0 failed"
