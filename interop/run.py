#!/usr/bin/env python3
"""Run the interop matrix: offerer peer x answerer peer x scenario, through relay.py.

Prints a table, writes interop/results.md, and on failure shows the tail of both peer
logs and of the signaling log. Exit status 0 when every run that was not skipped passed.
Standard library only. See README.md.
"""
import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The six of issue 8, then renegotiation with an ICE restart.
BASE_SCENARIOS = ["echo", "bulk", "unreliable", "negotiated", "maxsize", "close"]
SCENARIOS = BASE_SCENARIOS + ["restart"]
NODE_MODULES = os.path.join(HERE, "node_modules")
PION = os.path.join(HERE, "peers", "pion_peer", "pion_peer")
# A private network namespace with only lo up: traffic cannot leave 127.0.0.1.
NETNS = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def gst_available():
    """webrtcbin (gstreamer1.0-plugins-bad), libnice's plugin and their GObject bindings
    (gst_peer.py needs libnice's own, Nice-0.1, to gather 127.0.0.1)."""
    return os.path.isdir("/usr/lib/python3/dist-packages/gi") and all(
        glob.glob("/usr/lib/*/" + p) for p in (
            "gstreamer-1.0/libgstwebrtc.so", "gstreamer-1.0/libgstnice.so",
            "girepository-1.0/GstWebRTC-1.0.typelib", "girepository-1.0/Nice-0.1.typelib"))


def peers(build, cli=None):
    cli = cli or os.path.join(ROOT, build, "tools", "sluice-cli")
    node = "node " + shlex.quote(os.path.join(HERE, "peers", "node_peer.js"))
    return {
        # name: (command, available?, reason when not)
        "sluice": (shlex.quote(cli) + " --loopback --bind 127.0.0.1",
                   os.access(cli, os.X_OK), "no " + cli + " (build first)"),
        "aiortc": ("/usr/bin/python3 " + shlex.quote(os.path.join(HERE, "peers", "aiortc_peer.py")),
                   os.path.exists("/usr/lib/python3/dist-packages/aiortc"),
                   "python3-aiortc not installed (interop/install.sh)"),
        "ndc": (node + " --impl ndc", os.path.isdir(os.path.join(NODE_MODULES, "node-datachannel")),
                "node-datachannel not installed (interop/install.sh)"),
        "wrtc": (node + " --impl wrtc", os.path.isdir(os.path.join(NODE_MODULES, "@roamhq", "wrtc")),
                 "@roamhq/wrtc not installed (interop/install.sh)"),
        "chromium": ("node " + shlex.quote(os.path.join(HERE, "peers", "chromium_peer.js")),
                     os.access("/usr/bin/chromium", os.X_OK) and
                     os.path.isdir(os.path.join(NODE_MODULES, "playwright-core")),
                     "chromium or playwright-core not installed (interop/install.sh)"),
        "firefox": ("node " + shlex.quote(os.path.join(HERE, "peers", "firefox_peer.js")),
                    os.access("/usr/bin/firefox-esr", os.X_OK) and
                    os.path.isdir(os.path.join(NODE_MODULES, "puppeteer-core")),
                    "firefox-esr or puppeteer-core not installed (interop/install.sh)"),
        "pion": (shlex.quote(PION), os.access(PION, os.X_OK),
                 "no " + PION + " (interop/install.sh builds it)"),
        "gst": ("/usr/bin/python3 " + shlex.quote(os.path.join(HERE, "peers", "gst_peer.py")),
                gst_available(), "GStreamer webrtcbin not installed (interop/install.sh)"),
        "werift": (node + " --impl werift", os.path.isdir(os.path.join(NODE_MODULES, "werift")),
                   "werift not installed (interop/install.sh)"),
    }


# Per-peer limits on the shared scenario parameters (slow or quirky stacks). Empty: every
# peer moves the full 64 MiB of the bulk scenario.
LIMITS = {}

# SLUICE_INTEROP_REQUIRE=1 (set by .ci/run): a peer that is not installed is a failure,
# not a skip, so that a green CI run proves every stack really ran.
REQUIRE = os.environ.get("SLUICE_INTEROP_REQUIRE") == "1"


# Per-peer bugs worked around so the rest of a scenario is still tested (FINDINGS.md).
QUIRKS = {
    # werift sends empty messages without user data, and is slow to send thousands of
    # small unreliable messages (about 700/s here).
    "werift": {"echo": ["--echo-min", "1"], "unreliable": ["--count", "5000"],
               # After its own ICE restart werift 0.25.2 checks only remote candidates it
               # has not seen before (connect() returns early while DTLS is up), so with
               # an answerer that keeps its ports (sluice; libwebrtc gathers new ones)
               # no pair is ever checked or nominated again and its data stops.
               "restart:driver": "skip: werift 0.25.2 never re-checks a known remote "
                                 "candidate after its own ICE restart (FINDINGS.md)"},
    # @roamhq/wrtc 0.10.0 (libwebrtc in a node binding) loses the messages that reach it
    # before its RTCDataChannel object exists: the echo driver waits for the validator's
    # "ready" (like close does). Only sluice-cli and node_peer.js know --echo-ready.
    "wrtc": {"echo": ["--echo-ready"]},
    # pion 3.1.56 cannot receive a 65536-byte message although it advertises no limit,
    # and refuses to send more than 65535 bytes: maxsize cannot pass with it.
    # GStreamer 1.22 webrtcbin hands an empty text message (PPID 56) to on-message-data
    # (as binary) and cannot send an empty message of either type (the channel stalls).
    # It also keeps its own 65536-byte send limit whatever the remote advertises, so it
    # cannot drive maxsize against a peer advertising more (sluice: 262144).
    "gst": {"echo": ["--echo-min", "1"],
            "maxsize:driver": "skip: GStreamer 1.22 cannot send above 65536 bytes "
                              "whatever the remote max-message-size"},
    # Firefox advertises a=max-message-size:1073741823 (1 GiB - 1): the maxsize driver
    # would have to send a 1 GiB message (sluice refuses: above its 16 MiB send buffer,
    # TOO_LARGE). Firefox as driver (it sends the partner's limit) is tested.
    "firefox": {"maxsize:validator": "skip: Firefox advertises max-message-size 1073741823 "
                                     "(1 GiB - 1); no driver sends that"},
    "pion": {"echo": ["--echo-max", "65535"],
             "maxsize": "skip: pion 3.1.56 cannot send or receive messages above 65535 bytes"},
}


# The restart scenario (renegotiation with an ICE restart) needs the peer's program to
# implement it and its stack to support ICE restarts; the others skip it, with this reason.
RESTART_PEERS = {"sluice", "wrtc", "werift", "chromium", "firefox", "pion"}
RESTART_MISSING = {
    "aiortc": "aiortc 1.4 has no ICE restart (no iceRestart option, aioice cannot restart)",
    "ndc": "libdatachannel 0.24 has no ICE restart: an offer with a new ice-ufrag fails "
           "with 'Invalid ICE settings from remote SDP', and createOffer({iceRestart}) keeps "
           "its credentials",
}


# Peers whose programs implement --echo-ready.
ECHO_READY = {"sluice", "ndc", "wrtc", "werift"}


def scenario_args(sc, a, off, ans, trickle):
    args = ["--scenario", sc, "--trickle", str(trickle), "--driver", a.driver]
    drv = off if a.driver == "offer" else ans
    if sc == "restart":
        for p in (off, ans):
            if p not in RESTART_PEERS:
                return "skip: " + RESTART_MISSING.get(p, "restart not implemented in %s's program" % p)
    for p in sorted({off, ans}):
        q = QUIRKS.get(p, {}).get(sc, [])
        # "scenario:driver" / "scenario:validator": only when that peer has that part
        q = QUIRKS.get(p, {}).get(sc + (":driver" if p == drv else ":validator"), q)
        if isinstance(q, str):
            return q  # a reason to skip this run
        if "--echo-ready" in q and not {off, ans} <= ECHO_READY:
            q = [x for x in q if x != "--echo-ready"]
        args += q
    if sc == "bulk":
        n = a.bytes
        for p in (off, ans):
            n = min(n, LIMITS.get(p, {}).get("bytes", n)) if not a.bytes_forced else n
        args += ["--bytes", str(n)]
    return args


def tail(path, n):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
        return "".join(lines[-n:])
    except OSError:
        return "(no %s)\n" % path


def brief(summary):
    """One short cell from both peers' details and errors."""
    parts = []
    for who in ("offer", "answer"):
        r = (summary.get(who) or {}).get("result") or {}
        if r.get("error"):
            parts.append("%s: %s" % (who, r["error"]))
        d = r.get("details") or {}
        for k in ("bytes", "mbit_s", "lost", "received", "too_large_refused", "verified", "peer_close_noticed"):
            if k in d and (k != "bytes" or "mbit_s" in d):  # bulk: what the validator got
                parts.append("%s=%s" % (k, d[k]))
    if summary.get("timed_out"):
        parts.insert(0, "TIMEOUT")
    s = "; ".join(parts)
    return s.replace("|", "/")[:160]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default="build", help="build directory with tools/sluice-cli")
    ap.add_argument("--cli", help="path of sluice-cli (default: BUILD/tools/sluice-cli)")
    ap.add_argument("--skip-code", type=int, default=0,
                    help="exit with this code when every run was skipped (ctest: 77)")
    ap.add_argument("--peers", default="sluice,aiortc,ndc,wrtc,werift,chromium,firefox,pion,gst")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--roles", default="both", choices=("both", "offer", "answer"),
                    help="the role(s) of --focus")
    ap.add_argument("--focus", default="sluice",
                    help="only pairs that include this peer ('' or 'all': every pair)")
    ap.add_argument("--candidates", default="pass",
                    help="relay.py --candidates: pass | drop | delay=MS (trickled candidates)")
    ap.add_argument("--lossy", default="",
                    help="relay.py --lossy: loss=PERCENT,delay=MS,jitter=MS,seed=N")
    ap.add_argument("--no-self", action="store_true",
                    help="leave out the pair of --focus with itself")
    ap.add_argument("--trickle", type=int, default=1, choices=(0, 1))
    ap.add_argument("--also-no-trickle", default="",
                    help="these scenarios (comma list, or 'all') run a second time with "
                         "--trickle 0: every candidate in the SDP, none sent alone")
    ap.add_argument("--driver", default="offer", choices=("offer", "answer"))
    ap.add_argument("--bytes", type=int, default=64 << 20)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--logs", default=os.path.join(HERE, "logs"))
    ap.add_argument("--results", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--tail", type=int, default=25)
    ap.add_argument("--netns", default="auto", choices=("auto", "on", "off"),
                    help="run each pair in its own network namespace with only lo "
                         "(unshare -n; needs root): libwebrtc then gathers 127.0.0.1")
    a = ap.parse_args()
    a.bytes_forced = "--bytes" in sys.argv

    if a.netns == "auto":
        a.netns = "on" if subprocess.run(NETNS + ["true"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL).returncode == 0 else "off"
    table = peers(a.build, a.cli)
    names = [p for p in a.peers.split(",") if p]
    for p in names:
        if p not in table:
            ap.error("unknown peer %s (known: %s)" % (p, ", ".join(table)))
    scen = [s for s in a.scenarios.split(",") if s]
    focus = "" if a.focus in ("", "all") else a.focus
    runs = []
    for off in names:
        for ans in names:
            if focus:
                if focus not in (off, ans):
                    continue
                if a.roles == "offer" and off != focus:
                    continue
                if a.roles == "answer" and ans != focus:
                    continue
                if a.no_self and off == ans == focus:
                    continue
            for sc in scen:
                runs.append((off, ans, sc, a.trickle))
    nt = [s for s in a.also_no_trickle.split(",") if s]
    if nt == ["all"]:
        nt = scen
    if a.trickle == 1 and nt:
        runs += [(off, ans, sc, 0) for off, ans, sc, _ in list(runs) if sc in nt]

    rows = []
    failed = 0
    fmt = "%-8s %-8s %-11s %-7s %-5s %7s  %s"
    print(fmt % ("offer", "answer", "scenario", "trickle", "res", "time", "details"))
    for off, ans, sc, trickle in runs:
        tr = "yes" if trickle else "no"
        missing = [table[p][2] for p in (off, ans) if not table[p][1]]
        if missing:
            res = "FAIL" if REQUIRE else "skip"
            why = missing[0] + (" (SLUICE_INTEROP_REQUIRE=1: required)" if REQUIRE else "")
            failed += res == "FAIL"
            rows.append((off, ans, sc, tr, res, "", why))
            print(fmt % (off, ans, sc, tr, res, "", why), flush=True)
            continue
        extra = scenario_args(sc, a, off, ans, trickle)
        if isinstance(extra, str):
            rows.append((off, ans, sc, tr, "skip", "", extra))
            print(fmt % (off, ans, sc, tr, "skip", "", extra), flush=True)
            continue
        logdir = os.path.join(a.logs, "%s-%s-%s%s" % (off, ans, sc, "" if trickle else "-notrickle"))
        os.makedirs(logdir, exist_ok=True)
        timeout = a.timeout * (3 if sc == "bulk" else 1)
        extra = extra + ["--timeout", str(timeout - 10)]
        cmd = [sys.executable, os.path.join(HERE, "relay.py"), "--offer", table[off][0],
               "--answer", table[ans][0], "--extra", " ".join(shlex.quote(x) for x in extra),
               "--logdir", logdir, "--timeout", str(timeout), "--candidates", a.candidates]
        if a.lossy:
            cmd += ["--lossy", a.lossy]
        if a.netns == "on":
            cmd = NETNS + cmd
        t = time.monotonic()
        env = dict(os.environ, SLUICE_INTEROP_NETNS="1" if a.netns == "on" else "0")
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        dt = time.monotonic() - t
        try:
            with open(os.path.join(logdir, "summary.json"), encoding="utf-8") as f:
                summary = json.load(f)
        except (OSError, ValueError):
            summary = {"ok": False}
        res = "PASS" if summary.get("ok") else "FAIL"
        info = brief(summary)
        rows.append((off, ans, sc, tr, res, "%.1fs" % dt, info))
        print(fmt.replace("%7s", "%6.1fs") % (off, ans, sc, tr, res, dt, info), flush=True)
        if res == "FAIL":
            failed += 1
            for who in ("offer", "answer"):
                print("---- %s (%s) stderr, last %d lines: %s" % (
                    who, off if who == "offer" else ans, a.tail, os.path.join(logdir, who + ".log")))
                sys.stdout.write(tail(os.path.join(logdir, who + ".log"), a.tail))
            print("---- signaling, last 8 lines")
            sys.stdout.write(tail(os.path.join(logdir, "signaling.log"), 8)[-4000:])
            print("----", flush=True)

    with open(a.results, "w", encoding="utf-8") as f:
        f.write("# Interop results\n\n")
        f.write("Generated by `interop/run.py` on %s UTC (trickle=%d, also without trickle: %s, "
                "driver=%s, candidates=%s, lossy=%s, netns=%s. Logs: "
                "`interop/logs/<offerer>-<answerer>-<scenario>[-notrickle]/`.\n\n" % (
                    time.strftime("%Y-%m-%d %H:%M", time.gmtime()), a.trickle,
                    a.also_no_trickle or "none", a.driver, a.candidates, a.lossy or "no", a.netns))
        f.write("| offerer | answerer | scenario | trickle | result | time | details |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| %s | %s | %s | %s | %s | %s | %s |\n" % r)
        passed = sum(1 for r in rows if r[4] == "PASS")
        skipped = sum(1 for r in rows if r[4] == "skip")
        f.write("\n%d passed, %d failed, %d skipped.\n" % (passed, failed, skipped))
    print("%d passed, %d failed, %d skipped; %s" % (
        sum(1 for r in rows if r[4] == "PASS"), failed,
        sum(1 for r in rows if r[4] == "skip"), a.results))
    if rows and all(r[4] == "skip" for r in rows):
        return a.skip_code
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
