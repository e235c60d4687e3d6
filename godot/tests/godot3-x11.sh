#!/bin/sh
# The desktop (X11) Godot 3 under a virtual display, for the X11.64 library entry:
#   GODOT=godot/tests/godot3-x11.sh bash godot/tests/run-godot-test.sh PLUGIN.so two_peers
# Needs the Debian packages godot3 and xvfb (not installed by make check).
exec xvfb-run -a godot3 --audio-driver Dummy "$@"
