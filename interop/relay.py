#!/usr/bin/env python3
"""Signaling relay for the sluice interop harness.

Starts two peer programs (offerer and answerer), pipes each one's stdout (JSON lines,
see README.md) into the other's stdin, logs every line with a timestamp, enforces a
timeout, and can filter or delay ICE candidates to exercise the non-trickle path.

Exit status: 0 when both peers exited 0 and wrote an ok result; 1 otherwise; 2 on
timeout. Standard library only (any python3 >= 3.7).
"""
import argparse
import asyncio
import json
import os
import re
import shlex
import signal
import sys
import time

T0 = time.monotonic()


def stamp():
    return "%8.3f" % (time.monotonic() - T0)


class Relay:
    def __init__(self, args):
        self.args = args
        self.log = open(os.path.join(args.logdir, "signaling.log"), "w", encoding="utf-8")
        self.procs = {}
        self.exit_codes = {}
        self.first_exit = None

    def note(self, who, text):
        line = "%s %-6s %s" % (stamp(), who, text)
        self.log.write(line + "\n")
        self.log.flush()
        if self.args.verbose:
            print(line, file=sys.stderr, flush=True)

    def filter(self, msg):
        """Returns (msg or None, delay seconds)."""
        a = self.args
        if msg.get("type") in ("offer", "answer") and a.strip_sdp_candidates:
            sdp = msg.get("sdp", "")
            lines = [l for l in re.split(r"\r?\n", sdp)
                     if not l.startswith("a=candidate:") and l != "a=end-of-candidates"]
            msg = dict(msg, sdp="\r\n".join(lines))
        who = getattr(self, "reading_from", None)  # set by pump(); no await in between
        if msg.get("type") == "candidate" and a.candidates_from in ("both", who):
            if a.candidates == "drop":
                return None, 0.0
            if a.candidates.startswith("delay="):
                return msg, float(a.candidates[6:]) / 1000.0
        return msg, 0.0

    async def pump(self, src, dst):
        """Forward src's stdout lines to dst's stdin, in order (delays keep order)."""
        p = self.procs[src]
        q = self.procs[dst]
        while True:
            raw = await p.stdout.readline()
            self.reading_from = src
            if not raw:
                self.note(src, "<stdout closed>")
                break
            text = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                msg = json.loads(text)
                if not isinstance(msg, dict):
                    raise ValueError("not an object")
            except ValueError as e:
                self.note(src, "NOT JSON (%s): %s" % (e, text[:300]))
                continue
            out, delay = self.filter(msg)
            if out is None:
                self.note(src, "DROPPED %s" % text)
                continue
            if delay > 0:
                await asyncio.sleep(delay)
            data = json.dumps(out, separators=(",", ":")) + "\n"
            self.note(src + ">", data.rstrip("\n"))
            try:
                q.stdin.write(data.encode("utf-8"))
                await q.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                self.note(dst, "<stdin closed, message lost>")
        try:
            q.stdin.close()
        except Exception:
            pass

    async def watch(self, who):
        p = self.procs[who]
        rc = await p.wait()
        self.exit_codes[who] = rc
        self.note(who, "<exited %d>" % rc)
        if self.first_exit is None:
            self.first_exit = time.monotonic()

    async def run(self):
        a = self.args
        for who, cmd in (("offer", a.offer), ("answer", a.answer)):
            result = os.path.join(a.logdir, who + ".result.json")
            if os.path.exists(result):
                os.unlink(result)
            argv = shlex.split(cmd) + ["--role", who, "--result", result] + shlex.split(a.extra)
            self.note(who, "START " + " ".join(shlex.quote(x) for x in argv))
            err = open(os.path.join(a.logdir, who + ".log"), "wb")
            self.procs[who] = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=err, start_new_session=True, limit=64 * 1024 * 1024)
        tasks = [asyncio.ensure_future(self.pump("offer", "answer")),
                 asyncio.ensure_future(self.pump("answer", "offer")),
                 asyncio.ensure_future(self.watch("offer")),
                 asyncio.ensure_future(self.watch("answer"))]
        deadline = time.monotonic() + a.timeout
        timed_out = False
        while len(self.exit_codes) < 2:
            now = time.monotonic()
            if now > deadline:
                timed_out = True
                break
            # One side is gone: give the other a grace period, then stop it.
            if self.first_exit is not None and now > self.first_exit + a.grace:
                break
            await asyncio.sleep(0.05)
        for who, p in self.procs.items():
            if who not in self.exit_codes:
                self.note(who, "KILL (%s)" % ("timeout" if timed_out else "peer exited"))
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        await asyncio.gather(*tasks, return_exceptions=True)
        return self.summary(timed_out)

    def summary(self, timed_out):
        a = self.args
        res = {"timed_out": timed_out, "elapsed_s": round(time.monotonic() - T0, 3)}
        ok = not timed_out
        for who in ("offer", "answer"):
            path = os.path.join(a.logdir, who + ".result.json")
            r = None
            try:
                with open(path, encoding="utf-8") as f:
                    r = json.loads(f.read())
            except (OSError, ValueError):
                pass
            rc = self.exit_codes.get(who)
            res[who] = {"exit": rc, "result": r}
            if rc != 0 or not r or not r.get("ok"):
                ok = False
        res["ok"] = ok
        with open(os.path.join(a.logdir, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
        self.note("relay", "SUMMARY " + json.dumps(res))
        return 0 if ok else (2 if timed_out else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--offer", required=True, help="offerer command line (without --role)")
    ap.add_argument("--answer", required=True, help="answerer command line (without --role)")
    ap.add_argument("--extra", default="", help="arguments appended to both command lines")
    ap.add_argument("--logdir", required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--grace", type=float, default=5.0,
                    help="seconds the second peer may run after the first exited")
    ap.add_argument("--candidates", default="pass",
                    help="pass | drop | delay=MS: what to do with trickled candidates")
    ap.add_argument("--candidates-from", default="both", choices=("both", "offer", "answer"),
                    help="whose trickled candidates --candidates applies to (default both)")
    ap.add_argument("--strip-sdp-candidates", action="store_true",
                    help="remove a=candidate lines from SDPs (forces trickle)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if a.candidates not in ("pass", "drop") and not re.fullmatch(r"delay=\d+", a.candidates):
        ap.error("--candidates: pass, drop or delay=MS")
    os.makedirs(a.logdir, exist_ok=True)
    sys.exit(asyncio.run(Relay(a).run()))


if __name__ == "__main__":
    main()
