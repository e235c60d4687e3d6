#!/usr/bin/env python3
"""CTest cli_browser_demo (label interop): `sluice serve` on a free port, then headless
Chromium (npm playwright-core) opens the demo page, connects, gets a chat line back through
the server's broadcast (and one from a second tab), measures an echo RTT and uploads a 1 MiB
file whose SHA-256 the page sees matching; then two tabs meet in a room (chat, echo, a file
verified by the receiving tab), and a tab sends 1 MiB to `sluice recv` waiting in another
room, which stores it with the page's SHA-256 (tests/cli_browser_demo.js). Exit 77
(skipped) when /usr/bin/chromium, node or playwright-core is missing. playwright-core is looked up in $SLUICE_NODE_MODULES, then
interop/node_modules (`bash interop/install.sh` installs it).

usage: cli_browser_demo.py path/to/sluice
"""
import hashlib
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


def has_routable_ipv4():
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return True  # cannot tell: try as is
    return any(line.split()[1] != "lo" for line in out.splitlines() if len(line.split()) > 1)


def private_network():
    """Chromium never gathers 127.0.0.1: on a machine with only `lo` (or with
    SLUICE_DEMO_NETNS=1), run the whole test in a private network namespace with a dead-end
    veth 198.18.0.1/15 and a default route over it (as interop/peers/chromium_peer.js does),
    so that Chromium offers 198.18.0.1 and reaches 127.0.0.1 over lo. Nothing changes outside."""
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "link", "add", "peers0", "type", "veth", "peer", "name", "peers1"],
                ["ip", "addr", "add", "198.18.0.1/15", "dev", "peers0"],
                ["ip", "link", "set", "peers0", "up"],
                ["ip", "link", "set", "peers1", "up"],
                ["ip", "route", "add", "default", "dev", "peers0"]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=10)


def main():
    sluice = sys.argv[1]
    if os.environ.get("SLUICE_DEMO_IN_NETNS") == "1":
        private_network()
    elif os.environ.get("SLUICE_DEMO_NETNS") == "1" or not has_routable_ipv4():
        if os.geteuid() != 0 or not shutil.which("unshare"):
            print("cli_browser_demo: SKIP (only loopback here, and no root for a network namespace)")
            return 77
        env = dict(os.environ, SLUICE_DEMO_IN_NETNS="1")
        return subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
                              env=env).returncode
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
        # A native receiver waits in room "native"; the page (arriving second) offers to it.
        stored = os.path.join(d, "from-chromium.bin")
        rlog = open(os.path.join(d, "recv.log"), "w")
        recv = subprocess.Popen([sluice, "recv", "--signal", url.replace("http:", "ws:") + "ws?room=native",
                                 "--out", stored, "--timeout", "150"], stdout=rlog,
                                stderr=subprocess.STDOUT)
        try:
            p = subprocess.run([node, os.path.join(ROOT, "tests", "cli_browser_demo.js"), url, nm,
                                chromium, "native"], capture_output=True, text=True, timeout=180)
            out, err, rc = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, err, rc = e.stdout or "", e.stderr or "", 124
        try:
            recv_rc = recv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            recv.kill()
            recv_rc = -9
        rlog.close()
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
        native = res.get("native") or {}
        got = hashlib.sha256(open(stored, "rb").read()).hexdigest() if os.path.exists(stored) else ""
        if rc != 0 or srv_rc != 0 or recv_rc != 0 or not res.get("ok") or got != native.get("mine"):
            sys.stdout.write("--- browser stderr\n%s\n--- browser stdout\n%s\n--- serve.log\n%s\n"
                             "--- recv.log\n%s\n" %
                             (err[-4000:], out[-2000:], open(os.path.join(d, "serve.log")).read()[-4000:],
                              open(os.path.join(d, "recv.log")).read()[-2000:]))
            print("cli_browser_demo: FAILED (browser exit %d, serve exit %d, recv exit %d, "
                  "stored SHA-256 %s)" % (rc, srv_rc, recv_rc, got or "none"))
            return 1
        print("server session: chat %r, %s, file: %s" % (res.get("chat"), res.get("rtt_text"),
                                                        res.get("file_text")))
        print("room of two tabs: chat, echo (median %.2f ms), 256 KiB file verified on both sides"
              % res.get("room_rtt_ms", -1))
        print("tab -> sluice recv: 1 MiB stored, SHA-256 %s (recv exit 0)" % got)
        print("cli_browser_demo: 1 passed, 0 failed")
        return 0


if __name__ == "__main__":
    sys.exit(main())
