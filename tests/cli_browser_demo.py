#!/usr/bin/env python3
"""CTest cli_browser_demo (label interop): `sluice serve` on a free port, then headless
Chromium (npm playwright-core) opens the demo page, connects, gets a chat line back through
the server's broadcast (and one from a second tab), measures an echo RTT and uploads a 1 MiB file whose SHA-256 the page
sees matching (tests/cli_browser_demo.js). Exit 77 (skipped) when /usr/bin/chromium, node
or playwright-core is missing. playwright-core is looked up in $SLUICE_NODE_MODULES, then
interop/node_modules (`bash interop/install.sh` installs it).

usage: cli_browser_demo.py path/to/sluice
"""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_node_modules():
    for d in (os.environ.get("SLUICE_NODE_MODULES"), os.path.join(ROOT, "interop", "node_modules")):
        if d and os.path.isfile(os.path.join(d, "playwright-core", "package.json")):
            return d
    return None


def main():
    sluice = sys.argv[1]
    chromium = os.environ.get("SLUICE_CHROMIUM", "/usr/bin/chromium")
    nm = find_node_modules()
    node = shutil.which("node")
    if not os.access(chromium, os.X_OK) or not nm or not node:
        print("cli_browser_demo: SKIP (needs %s, node and playwright-core: bash interop/install.sh)"
              % chromium)
        return 77
    with tempfile.TemporaryDirectory() as d:
        log = open(os.path.join(d, "serve.log"), "w")
        srv = subprocess.Popen([sluice, "serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0",
                                "--verbose"], stdout=subprocess.PIPE, stderr=log, text=True)
        ready, _, _ = select.select([srv.stdout], [], [], 30)
        line = srv.stdout.readline() if ready else ""
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if not m:
            srv.kill()
            print("sluice serve did not start: %r" % line)
            return 1
        url = m.group(1)
        try:
            p = subprocess.run([node, os.path.join(ROOT, "tests", "cli_browser_demo.js"), url, nm,
                                chromium], capture_output=True, text=True, timeout=180)
            out, err, rc = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, err, rc = e.stdout or "", e.stderr or "", 124
        srv.send_signal(signal.SIGTERM)
        try:
            srv_rc = srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv_rc = -9
        log.close()
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {}
        if rc != 0 or srv_rc != 0 or not res.get("ok"):
            sys.stdout.write("--- browser stderr\n%s\n--- browser stdout\n%s\n--- serve.log\n%s\n" %
                             (err[-4000:], out[-2000:], open(os.path.join(d, "serve.log")).read()[-4000:]))
            print("cli_browser_demo: FAILED (browser exit %d, serve exit %d)" % (rc, srv_rc))
            return 1
        print("chat: %s | echo: %s | file: %s" % (res.get("chat"), res.get("rtt_text"),
                                                 res.get("file_text")))
        print("cli_browser_demo: 1 passed, 0 failed")
        return 0


if __name__ == "__main__":
    sys.exit(main())
