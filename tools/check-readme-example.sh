#!/bin/sh
# Checks that the C block after "<!-- example: examples/godot_flow.c -->" in the README is
# exactly examples/godot_flow.c, so the README's example is the one the build compiles.
readme=$1; src=$2
tmp=$(mktemp)
awk '/<!-- example: examples\/godot_flow.c -->/{f=1;next} f&&/^```c$/{g=1;next} g&&/^```$/{exit} g{print}' "$readme" > "$tmp"
if cmp -s "$tmp" "$src"; then echo "README example matches $src: 1 passed, 0 failed"; rm -f "$tmp"; exit 0; fi
echo "README example differs from $src:"; diff "$tmp" "$src"; rm -f "$tmp"; exit 1
