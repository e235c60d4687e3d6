#!/usr/bin/env python3
"""Two interop cases beside run.py's matrix: Chromium's mDNS host candidates, and TURN.

mdns (Chromium; Firefox with --mdns-peers firefox): the browser keeps its host candidate
  hidden behind `<uuid>.local`. Chromium: no
  --disable-features=WebRtcHideLocalIpsWithMdns). sluice's own trickled candidates are
  dropped by the relay (relay.py --candidates drop --candidates-from <sluice's role>), so
  Chromium cannot reach sluice first: the connection only forms when sluice resolves the
  name with its one-shot mDNS query (answered by Chromium's responder, by multicast, inside
  the namespace) and sends its checks to 198.18.0.1. Pass = scenario passed on both sides
  and sluice logged "mDNS: <name>.local is 198.18.x.x".
turn: coturn on 127.0.0.1 inside the pair's namespace; both peers get the TURN server and
  relay-only policy (sluice-cli --ice-server turn:127.0.0.1:3478 --turn-user u --turn-pass p
  --relay-only; Chromium and node peers: iceServers + iceTransportPolicy 'relay'). Pass =
  scenario passed, sluice's selected local address is a relayed one (coturn's relay port
  range) and coturn logged the allocations.

Every run is in its own network namespace (unshare -n, as root), like run.py --netns on.
Writes interop/results-extra.md. Exit 0 when every run that was not skipped passed.
Standard library only. See README.md ("mDNS and TURN runs").
"""
import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (peers(), tail(), brief(), NETNS)

TURN_PORT = 3478
RELAY_PORTS = (40000, 40999)
TURN_USER, TURN_PASS, TURN_REALM = "u", "p", "r"
TURNSERVER = "/usr/bin/turnserver"
MDNS_LINE = re.compile(r"mDNS: (\S+\.local) is (198\.18\.\d+\.\d+)")


def netns_works():
    return subprocess.run(run.NETNS + ["true"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def relay_cmd(off_cmd, ans_cmd, sc, logdir, timeout, extra=(), bulk_bytes=8 << 20, quirks=()):
    args = ["--scenario", sc, "--timeout", str(timeout - 10)] + list(quirks)
    if sc == "bulk":
        args += ["--bytes", str(bulk_bytes)]
    return [sys.executable, os.path.join(HERE, "relay.py"), "--offer", off_cmd, "--answer", ans_cmd,
            "--extra", " ".join(shlex.quote(x) for x in args), "--logdir", logdir,
            "--timeout", str(timeout)] + list(extra)


def inner_turn(argv):
    """Inside the namespace: start coturn, run the relay command, stop coturn."""
    logfile, cmd = argv[0], argv[1:]
    turn = subprocess.Popen(
        [TURNSERVER, "-n", "--listening-port", str(TURN_PORT), "--listening-ip", "127.0.0.1",
         "--relay-ip", "127.0.0.1", "--min-port", str(RELAY_PORTS[0]), "--max-port", str(RELAY_PORTS[1]),
         "--user", "%s:%s" % (TURN_USER, TURN_PASS), "--realm", TURN_REALM, "--lt-cred-mech",
         "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--no-rfc5780",
         "--pidfile", logfile + ".pid", "--log-file", "stdout", "--simple-log", "-v"],
        stdout=open(logfile, "wb"), stderr=subprocess.STDOUT)
    try:
        # Ready when its TCP listener accepts (it opens UDP and TCP on the same port).
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", TURN_PORT), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        return subprocess.run(cmd).returncode
    finally:
        turn.send_signal(signal.SIGTERM)
        try:
            turn.wait(5)
        except subprocess.TimeoutExpired:
            turn.kill()


def check_mdns(logdir, sluice_role):
    """(ok, proof): sluice's mDNS resolution line, and Chromium's .local candidate."""
    names = []
    try:
        with open(os.path.join(logdir, sluice_role + ".log"), encoding="utf-8", errors="replace") as f:
            names = MDNS_LINE.findall(f.read())
    except OSError:
        pass
    if not names:
        return False, "no 'mDNS: <name>.local is 198.18.x.x' line in sluice's log"
    return True, "mDNS: %s is %s" % names[0]


def check_turn(logdir, sluice_role, coturn_log):
    r = read_json(os.path.join(logdir, sluice_role + ".result.json")) or {}
    d = r.get("details") or {}
    local = d.get("selected_local", "")
    m = re.fullmatch(r"127\.0\.0\.1:(\d+)", local)
    try:
        with open(coturn_log, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    allocs = len(re.findall(r"ALLOCATE processed, success", text))
    usage = len(re.findall(r"peer usage:", text))
    remote = d.get("selected_remote", "")
    mr = re.fullmatch(r"127\.0\.0\.1:(\d+)", remote)
    # The partner's side is relayed too when its address is one of coturn's relay ports;
    # libdatachannel (libjuice) answers from its own socket, seen through our allocation.
    far = "relayed" if mr and RELAY_PORTS[0] <= int(mr.group(1)) <= RELAY_PORTS[1] else "direct to our relay"
    proof = "sluice pair %s -> %s (partner %s); coturn: %d allocations, %d peer-usage lines" % (
        local or "?", remote or "?", far, allocs, usage)
    if not m or not RELAY_PORTS[0] <= int(m.group(1)) <= RELAY_PORTS[1]:
        return False, "sluice's selected local address is not relayed: " + proof
    if allocs < 1 or usage < 1:
        return False, "coturn saw no relayed traffic: " + proof
    return True, proof


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inner-turn":
        return inner_turn(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory with tools/sluice-cli")
    ap.add_argument("--cli", help="path of sluice-cli (default: BUILD/tools/sluice-cli)")
    ap.add_argument("--cases", default="mdns,turn", help="mdns, turn or both")
    ap.add_argument("--mdns-scenarios", default=",".join(run.BASE_SCENARIOS))
    ap.add_argument("--mdns-peers", default="chromium",
                    help="browsers hiding their host address behind .local (also: firefox)")
    # wrtc passes too but is left out by default: with sluice as offerer its first echo
    # messages are sometimes lost before its ondatachannel handler runs (about 1 run in 6,
    # with or without TURN; see run.py's interop_libwebrtc), which would make ctest flaky.
    ap.add_argument("--turn-peers", default="chromium,ndc,werift",
                    help="partners of sluice through TURN (also possible: wrtc, firefox)")
    ap.add_argument("--turn-scenarios", default=",".join(run.BASE_SCENARIOS))
    ap.add_argument("--roles", default="both", choices=("both", "offer", "answer"), help="sluice's role(s)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--bytes", type=int, default=8 << 20, help="bulk scenario: bytes to send")
    ap.add_argument("--skip-code", type=int, default=0,
                    help="exit with this code when every run was skipped (ctest: 77)")
    ap.add_argument("--logs", default=os.path.join(HERE, "logs", "extra"))
    ap.add_argument("--results", default=os.path.join(HERE, "results-extra.md"))
    ap.add_argument("--tail", type=int, default=25)
    a = ap.parse_args()

    table = run.peers(a.build, a.cli)
    cases = [c for c in a.cases.split(",") if c]
    for c in cases:
        if c not in ("mdns", "turn"):
            ap.error("unknown case %s" % c)
    roles = ["offer", "answer"] if a.roles == "both" else [a.roles]
    have_netns = netns_works()
    env = dict(os.environ, SLUICE_INTEROP_NETNS="1")

    runs = []  # (case, partner, sluice role, scenario)
    for c in cases:
        partners = [p for p in (a.mdns_peers if c == "mdns" else a.turn_peers).split(",") if p]
        scen = a.mdns_scenarios if c == "mdns" else a.turn_scenarios
        for p in partners:
            if p not in table or p == "sluice":
                ap.error("unknown partner %s" % p)
            for role in roles:
                for sc in [s for s in scen.split(",") if s]:
                    runs.append((c, p, role, sc))

    rows, failed = [], 0
    fmt = "%-5s %-8s %-8s %-11s %-5s %7s  %s"
    print(fmt % ("case", "offer", "answer", "scenario", "res", "time", "details"))
    for c, p, role, sc in runs:
        off, ans = ("sluice", p) if role == "offer" else (p, "sluice")
        why = None
        if not have_netns:
            why = "no network namespace (unshare -n needs root)"
        elif not table["sluice"][1]:
            why = table["sluice"][2]
        elif not table[p][1]:
            why = table[p][2]
        elif c == "turn" and not os.access(TURNSERVER, os.X_OK):
            why = "turnserver not installed (Debian coturn; interop/install.sh)"
        if why and run.REQUIRE:  # SLUICE_INTEROP_REQUIRE=1: a missing peer is a failure
            failed += 1
            why += " (SLUICE_INTEROP_REQUIRE=1: required)"
            rows.append((c, off, ans, sc, "FAIL", "", why))
            print(fmt % (c, off, ans, sc, "FAIL", "", why), flush=True)
            continue
        # the partner's known bugs, as in run.py (the offerer drives here)
        quirks = run.QUIRKS.get(p, {}).get(sc, [])
        quirks = run.QUIRKS.get(p, {}).get(sc + (":driver" if p == off else ":validator"), quirks)
        if not why and isinstance(quirks, str):
            why = quirks
        if why:
            rows.append((c, off, ans, sc, "skip", "", why))
            print(fmt % (c, off, ans, sc, "skip", "", why), flush=True)
            continue
        logdir = os.path.join(a.logs, "%s-%s-%s-%s" % (c, off, ans, sc))
        os.makedirs(logdir, exist_ok=True)
        sluice_cmd = table["sluice"][0]
        peer_cmd = table[p][0]
        if c == "mdns":
            peer_cmd += " --mdns"
            cmd = run.NETNS + relay_cmd(
                sluice_cmd if role == "offer" else peer_cmd, peer_cmd if role == "offer" else sluice_cmd,
                sc, logdir, a.timeout, ["--candidates", "drop", "--candidates-from", role], a.bytes, quirks)
        else:
            ice = " --ice-server turn:127.0.0.1:%d --turn-user %s --turn-pass %s --relay-only" % (
                TURN_PORT, TURN_USER, TURN_PASS)
            sluice_cmd += ice
            peer_cmd += ice
            coturn_log = os.path.join(logdir, "coturn.log")
            cmd = run.NETNS + [sys.executable, os.path.abspath(__file__), "--inner-turn", coturn_log] + relay_cmd(
                sluice_cmd if role == "offer" else peer_cmd, peer_cmd if role == "offer" else sluice_cmd,
                sc, logdir, a.timeout, (), a.bytes, quirks)
        t = time.monotonic()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        dt = time.monotonic() - t
        summary = read_json(os.path.join(logdir, "summary.json")) or {"ok": False}
        ok = bool(summary.get("ok"))
        info = run.brief(summary)
        if ok:
            ok, proof = check_mdns(logdir, role) if c == "mdns" else check_turn(logdir, role, coturn_log)
            info = proof + ("; " + info if info else "")
        res = "PASS" if ok else "FAIL"
        info = info.replace("|", "/")[:220]
        rows.append((c, off, ans, sc, res, "%.1fs" % dt, info))
        print(fmt % (c, off, ans, sc, res, "%.1fs" % dt, info), flush=True)
        if not ok:
            failed += 1
            for who in ("offer", "answer"):
                path = os.path.join(logdir, who + ".log")
                print("---- %s stderr, last %d lines: %s" % (who, a.tail, path))
                sys.stdout.write(run.tail(path, a.tail))
            print("---- signaling, last 8 lines")
            sys.stdout.write(run.tail(os.path.join(logdir, "signaling.log"), 8)[-4000:])
            print("----", flush=True)

    os.makedirs(os.path.dirname(os.path.abspath(a.results)), exist_ok=True)
    with open(a.results, "w", encoding="utf-8") as f:
        f.write("# Interop results: Chromium mDNS candidates and TURN relay\n\n")
        f.write("Generated by `interop/run_extra.py` on %s UTC (netns=%s). mdns: Chromium's host "
                "candidate is `<uuid>.local`, sluice's own candidates are dropped by the relay, so the "
                "pair forms only through sluice's mDNS resolution. turn: coturn on 127.0.0.1:%d, both "
                "peers relay-only. Logs: `interop/logs/extra/<case>-<offerer>-<answerer>-<scenario>/`.\n\n"
                % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "on" if have_netns else "off", TURN_PORT))
        f.write("| case | offerer | answerer | scenario | result | time | proof / details |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write("| %s | %s | %s | %s | %s | %s | %s |\n" % r)
        passed = sum(1 for r in rows if r[4] == "PASS")
        skipped = sum(1 for r in rows if r[4] == "skip")
        f.write("\n%d passed, %d failed, %d skipped.\n" % (passed, failed, skipped))
    print("%d passed, %d failed, %d skipped; %s" % (
        sum(1 for r in rows if r[4] == "PASS"), failed, sum(1 for r in rows if r[4] == "skip"), a.results))
    if rows and all(r[4] == "skip" for r in rows):
        return a.skip_code
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
