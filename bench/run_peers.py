#!/usr/bin/env python3
"""Full-stack benchmark: sluice <-> sluice beside each other stack <-> itself, in one run.

Every pair runs through interop/relay.py with the interop peers (interop/README.md), each
pair in its own network namespace with only lo (as interop/run.py does), and measures:

  connect ms      the answerer's time from the offer's arrival to its first open data
                  channel (ICE + DTLS + SCTP + DCEP), median (and max) of --connects runs
  reliable MB/s   the validator's receive rate of --bytes (64 MiB) sent in 16 KiB messages
                  (bufferedAmount kept <= 4 MiB by the sender); median of --repeat runs
  CPU s           user+system CPU of both processes for those --bytes, minus the median CPU
                  of the short connect runs (start-up, handshake, 1 MiB), scaled to --bytes
  unreliable      100-byte unordered maxRetransmits=0 messages (20 000; werift 5 000 as in
                  interop/run.py; sender keeps bufferedAmount <= 64 KiB): receive rate
                  (first to last arrival) and loss, medians of --repeat runs
  RSS MB          idle: the offerer alone 2 s after start (one PeerConnection with its channel
                  created, candidates gathered, no partner); 1 conn: the larger peak RSS of
                  the two processes of the connect runs

Ratios are sluice's advantage (x > 1: sluice better): peer/sluice for costs (ms, CPU, MB),
sluice/peer for rates. Absolute numbers drift with the machine's load; compare ratios of one
run only (shared/design/BENCHMARKS.md). Never used by tests.

  python3 bench/run_peers.py --build build            # sluice-cli from build/tools/sluice-cli
  python3 bench/run_peers.py --peers sluice,ndc,pion --connects 3 --bytes 16777216
  make bench-peers                                    # the same, after a release build

Standard library only. The peers need `bash interop/install.sh`; missing ones are skipped.
"""
import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "interop"))
import run as interop  # noqa: E402  (interop/run.py: peer table, namespace wrapper, quirks)

NAMES = {"sluice": "sluice", "ndc": "libdatachannel", "pion": "pion", "wrtc": "libwebrtc",
         "aiortc": "aiortc", "werift": "werift", "chromium": "Chromium"}


# ---- wrapper mode: run one peer, report its CPU and peak RSS --------------------------------

def tree_rss_kb(pid):
    """VmRSS of pid and its descendants, in KiB (0 when gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            pass
    return total


def wrap(out, argv):
    """Run argv (stdin/stdout/stderr inherited), then write {cpu_s, peak_rss_kb} to out."""
    child = subprocess.Popen(argv)
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.02):
            peak[0] = max(peak[0], tree_rss_kb(child.pid))
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    rc = child.wait()
    stop.set()
    th.join()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({"rc": rc, "cpu_s": ru.ru_utime + ru.ru_stime,
                   "peak_rss_kb": max(peak[0], ru.ru_maxrss)}, f)
    return rc


# ---- one pair, one scenario ------------------------------------------------------------------

class Runner:
    def __init__(self, a, table):
        self.a = a
        self.table = table
        self.n = 0

    def run(self, peer, scenario, extra, timeout):
        """One peer<->peer run; returns (summary, [offer usage, answer usage])."""
        self.n += 1
        logdir = os.path.join(self.a.logs, "%s-%s-%d" % (peer, scenario, self.n))
        os.makedirs(logdir, exist_ok=True)
        me = shlex.quote(sys.executable) + " " + shlex.quote(os.path.abspath(__file__))
        cmds, usage = {}, {}
        for who in ("offer", "answer"):
            usage[who] = os.path.join(logdir, who + ".usage.json")
            if os.path.exists(usage[who]):
                os.unlink(usage[who])
            cmds[who] = "%s --wrap %s -- %s" % (me, shlex.quote(usage[who]), self.table[peer][0])
        args = ["--scenario", scenario, "--timeout", str(max(timeout - 10, 5))] + extra
        cmd = [sys.executable, os.path.join(ROOT, "interop", "relay.py"), "--offer", cmds["offer"],
               "--answer", cmds["answer"], "--extra", " ".join(shlex.quote(x) for x in args),
               "--logdir", logdir, "--timeout", str(timeout)]
        if self.a.netns == "on":
            cmd = interop.NETNS + cmd
        env = dict(os.environ, SLUICE_INTEROP_NETNS="1" if self.a.netns == "on" else "0")
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        summary = load(os.path.join(logdir, "summary.json")) or {"ok": False}
        return summary, [load(usage["offer"]), load(usage["answer"])], logdir

    def idle_rss_mb(self, peer):
        """The offerer alone, 2 s after start (no partner: it waits for an answer)."""
        argv = shlex.split(self.table[peer][0]) + ["--role", "offer", "--scenario", "bulk",
                                                   "--result", os.devnull]
        if self.a.netns == "on":
            argv = interop.NETNS + argv
        env = dict(os.environ, SLUICE_INTEROP_NETNS="1" if self.a.netns == "on" else "0")
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, env=env)
        time.sleep(2.0)
        kb = tree_rss_kb(p.pid)
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass
        p.wait()
        return kb / 1024.0 if kb else None


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def details(summary, who):
    r = (summary.get(who) or {}).get("result") or {}
    return r.get("details") or {}, r


def measure(r, peer, a, log):
    """Every figure for peer <-> peer."""
    m = {"peer": peer, "errors": []}
    quirks = interop.QUIRKS.get(peer, {})
    # connect runs: 1 MiB bulk in 16 KiB messages
    conn, cpu0, rss = [], [], []
    for i in range(a.connects):
        s, use, logdir = r.run(peer, "bulk", ["--bytes", str(1 << 20), "--msg-size", "16384"], 60)
        d, res = details(s, "answer")
        if s.get("ok") and "connect_ms" in d:
            conn.append(d["connect_ms"])
            m["version"] = res.get("version")
            if all(use):
                cpu0.append(sum(u["cpu_s"] for u in use))
                rss.append(max(u["peak_rss_kb"] for u in use) / 1024.0)
        else:
            m["errors"].append("connect run %d failed (%s)" % (i + 1, logdir))
        log("  %s connect %d/%d: %s ms" % (peer, i + 1, a.connects, d.get("connect_ms")))
    m["connect"] = conn
    m["rss_conn"] = max(rss) if rss else None
    base_cpu = statistics.median(cpu0) if cpu0 else 0.0
    # bulk
    mbps, cpu = [], []
    for i in range(a.repeat):
        s, use, logdir = r.run(peer, "bulk", ["--bytes", str(a.bytes), "--msg-size", "16384"],
                               max(120, a.bytes / 2e6))
        d, res = details(s, "answer")
        if s.get("ok") and "mbit_s" in d:
            mbps.append(d["mbit_s"] / 8.0)
            if all(use):
                total = sum(u["cpu_s"] for u in use)
                cpu.append(max(total - base_cpu, 0.0) * a.bytes / max(a.bytes - (1 << 20), 1))
        else:
            m["errors"].append("bulk run %d failed (%s)" % (i + 1, logdir))
        log("  %s bulk %d/%d: %s MB/s, CPU %s s" % (peer, i + 1, a.repeat, mbps[-1:] or None, cpu[-1:] or None))
    m["mbps"] = statistics.median(mbps) if mbps else None
    m["cpu"] = statistics.median(cpu) if cpu else None
    # unreliable
    extra = list(quirks.get("unreliable", [])) if isinstance(quirks.get("unreliable"), list) else []
    if "--count" not in extra:
        extra += ["--count", str(a.count)]
    rates, losses = [], []
    for i in range(a.repeat):
        s, use, logdir = r.run(peer, "unreliable", extra, 60)
        d, res = details(s, "answer")
        if s.get("ok") and "received" in d and d.get("msgs_s") is not None:
            sent = d["received"] + d.get("lost", 0)
            rates.append(d["msgs_s"])
            losses.append(100.0 * d.get("lost", 0) / sent if sent else 0.0)
        else:
            m["errors"].append("unreliable run %d failed (%s)" % (i + 1, logdir))
        log("  %s unreliable %d/%d: %s msgs/s, %s %% lost" % (peer, i + 1, a.repeat, rates[-1:] or None,
                                                             losses[-1:] or None))
    m["msgs_s"] = statistics.median(rates) if rates else None
    m["loss"] = statistics.median(losses) if losses else None
    m["rss_idle"] = r.idle_rss_mb(peer)
    log("  %s idle RSS: %s MB" % (peer, m["rss_idle"]))
    return m


# ---- the table -------------------------------------------------------------------------------

def ratio(x, y, higher_better):
    if not x or not y:
        return ""
    v = (x / y) if higher_better else (y / x)
    return (" (%.2fx)" if v < 10 else " (%.0fx)") % v


def fmt(v, f):
    return f % v if v is not None else "n/a"


def table(rows, a):
    ref = next((m for m in rows if m["peer"] == "sluice"), None)

    def cell(m, key, f, higher_better):
        v = m.get(key)
        s = fmt(v, f)
        if ref is not None and m is not ref and v is not None:
            s += ratio(ref.get(key), v, higher_better)
        return s

    out = []
    out.append("| implementation (version) | connect ms median (max) of %d | reliable MB/s, 16 KiB msgs "
               "| CPU s for %d MiB | 100-byte unreliable msgs/s (loss) | RSS MB idle / 1 conn |" % (
                   a.connects, a.bytes >> 20))
    out.append("|---|---|---|---|---|---|")
    for m in rows:
        c = m.get("connect") or []
        med = statistics.median(c) if c else None
        m["connect_med"] = med
    for m in rows:
        c = m.get("connect") or []
        conn = fmt(m.get("connect_med"), "%.0f")
        if ref is not None and m is not ref:
            conn += ratio(ref.get("connect_med"), m.get("connect_med"), False)
        if c:
            slow = sum(1 for x in c if x > 500)
            conn += " (max %d%s)" % (max(c), ", %d of %d > 500 ms" % (slow, len(c)) if slow else "")
        unrel = cell(m, "msgs_s", "%.0f", True)
        if m.get("loss") is not None:
            unrel += ", %.1f %% lost" % m["loss"]
        rss = "%s / %s" % (cell(m, "rss_idle", "%.0f", False), cell(m, "rss_conn", "%.0f", False))
        name = "%s %s" % (NAMES.get(m["peer"], m["peer"]), m.get("version") or "")
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            name.strip(), conn, cell(m, "mbps", "%.1f", True), cell(m, "cpu", "%.2f", False), unrel, rss))
    return "\n".join(out)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--wrap":
        if "--" not in sys.argv:
            sys.exit("usage: run_peers.py --wrap OUT -- command...")
        argv = sys.argv[sys.argv.index("--") + 1:]
        sys.exit(wrap(sys.argv[2], argv))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory with tools/sluice-cli")
    ap.add_argument("--cli", help="path of sluice-cli (default: BUILD/tools/sluice-cli)")
    ap.add_argument("--peers", default="sluice,ndc,pion,wrtc,aiortc,werift",
                    help="comma-separated (also: chromium, but its processes are not all measured)")
    ap.add_argument("--connects", type=int, default=5, help="connect runs per peer (median)")
    ap.add_argument("--bytes", type=int, default=64 << 20, help="bulk bytes (16 KiB messages)")
    ap.add_argument("--count", type=int, default=20000, help="unreliable messages")
    ap.add_argument("--repeat", type=int, default=3, help="bulk and unreliable runs per peer (median)")
    ap.add_argument("--logs", help="log directory (default: BUILD/bench-peer-logs)")
    ap.add_argument("--out", help="also write the table (markdown) here")
    ap.add_argument("--netns", default="auto", choices=("auto", "on", "off"))
    a = ap.parse_args()
    a.logs = a.logs or os.path.join(ROOT, a.build, "bench-peer-logs")
    if a.netns == "auto":
        a.netns = "on" if subprocess.run(interop.NETNS + ["true"], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL).returncode == 0 else "off"
    tbl = interop.peers(a.build, a.cli)
    names = [p for p in a.peers.split(",") if p]
    for p in names:
        if p not in tbl:
            ap.error("unknown peer %s (known: %s)" % (p, ", ".join(tbl)))

    def log(s):
        print(s, file=sys.stderr, flush=True)

    r = Runner(a, tbl)
    rows = []
    t0 = time.monotonic()
    for p in names:
        if not tbl[p][1]:
            log("skip %s: %s" % (p, tbl[p][2]))
            continue
        log("%s <-> %s" % (p, p))
        rows.append(measure(r, p, a, log))
    head = ("Full-stack benchmark, %s UTC, %s (%d cores, load %.1f), netns=%s, %.0f s. Each row: "
            "the implementation with itself over loopback UDP, one run. (x) = sluice's advantage." % (
                time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.uname().release, os.cpu_count(),
                os.getloadavg()[0], a.netns, time.monotonic() - t0))
    text = head + "\n\n" + table(rows, a) + "\n"
    errs = [(m["peer"], e) for m in rows for e in m["errors"]]
    if errs:
        text += "\n" + "\n".join("- %s: %s" % pe for pe in errs) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0 if rows else 77


if __name__ == "__main__":
    sys.exit(main())
