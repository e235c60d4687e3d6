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
import random
import re
import shlex
import signal
import sys
import time

T0 = time.monotonic()


def stamp():
    return "%8.3f" % (time.monotonic() - T0)


class _Sock(asyncio.DatagramProtocol):
    def __init__(self, on_packet):
        self.on_packet = on_packet
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.on_packet(data, addr)


class LossyProxy:
    """A user-space impairment box: every advertised UDP candidate is replaced by a
    "front" port on 127.0.0.1; datagrams to it are forwarded to the real candidate from a
    per-source "back" port (peers learn it as peer-reflexive), both ways, with seeded
    random loss and delay. No kernel support (netem) needed."""

    def __init__(self, spec, note):
        self.loss = 0.0
        self.delay = 0.0
        self.jitter = 0.0
        for kv in spec.split(","):
            k, _, v = kv.partition("=")
            if k == "loss":
                self.loss = float(v) / 100.0
            elif k == "delay":
                self.delay = float(v) / 1000.0
            elif k == "jitter":
                self.jitter = float(v) / 1000.0
            elif k in ("seed", "log"):
                pass
            else:
                raise ValueError("--lossy: unknown key %r" % k)
        seed = int(dict(kv.partition("=")[::2] for kv in spec.split(",")).get("seed", "1"))
        self.rng = random.Random(seed)
        self.log_drops = "log" in [kv.partition("=")[0] for kv in spec.split(",")]
        self.fronts = {}  # (ip, port) of a real candidate -> front _Sock
        self.note = note
        self.stats = {"forwarded": 0, "dropped": 0}

    def _send(self, sock, data, addr):
        if self.rng.random() < self.loss:
            self.stats["dropped"] += 1
            if self.log_drops:
                self.note("lossy", "drop %d bytes (first byte %d) to %s:%d" % (
                    len(data), data[0] if data else -1, addr[0], addr[1]))
            return
        self.stats["forwarded"] += 1
        d = self.delay + (self.rng.random() * self.jitter if self.jitter else 0.0)
        if d <= 0:
            sock.transport.sendto(data, addr)
        else:
            asyncio.get_running_loop().call_later(d, sock.transport.sendto, data, addr)

    async def front_for(self, ip, port):
        key = (ip, port)
        if key in self.fronts:
            return self.fronts[key].transport.get_extra_info("sockname")[1]
        loop = asyncio.get_running_loop()
        backs = {}  # source addr -> back _Sock

        def from_source(data, src):
            back = backs.get(src)
            if back is None:
                # Created synchronously so no datagram is lost while it binds.
                back = _Sock(lambda d, a, src=src: self._send(front, d, src))
                backs[src] = back
                asyncio.ensure_future(loop.create_datagram_endpoint(
                    lambda: back, local_addr=("127.0.0.1", 0))).add_done_callback(
                        lambda f, data=data: self._send(back, data, key))
                return
            if back.transport is not None:
                self._send(back, data, key)

        front = _Sock(from_source)
        await loop.create_datagram_endpoint(lambda: front, local_addr=("127.0.0.1", 0))
        self.fronts[key] = front
        fport = front.transport.get_extra_info("sockname")[1]
        self.note("lossy", "front 127.0.0.1:%d -> %s:%d" % (fport, ip, port))
        return fport

    async def rewrite_candidate(self, line):
        """A candidate line (with or without a=) pointing at its front, or None to drop."""
        pre = "a=" if line.startswith("a=") else ""
        f = line[len(pre):].split()
        if len(f) < 8 or f[2].lower() != "udp" or ":" in f[4]:
            return None  # only UDP over IPv4 goes through the box
        f[5] = str(await self.front_for(f[4], int(f[5])))
        f[4] = "127.0.0.1"
        if "raddr" in f:  # related address: irrelevant to the path
            i = f.index("raddr")
            f[i + 1:i + 4] = ["0.0.0.0", "rport", "0"] if i + 3 <= len(f) else f[i + 1:i + 4]
        return pre + " ".join(f)


class Relay:
    def __init__(self, args):
        self.args = args
        self.log = open(os.path.join(args.logdir, "signaling.log"), "w", encoding="utf-8")
        self.procs = {}
        self.exit_codes = {}
        self.first_exit = None
        self.lossy = LossyProxy(args.lossy, self.note) if args.lossy else None

    def note(self, who, text):
        line = "%s %-6s %s" % (stamp(), who, text)
        self.log.write(line + "\n")
        self.log.flush()
        if self.args.verbose:
            print(line, file=sys.stderr, flush=True)

    async def impair(self, msg):
        """With --lossy: point every candidate at the impairment box."""
        if not self.lossy:
            return msg
        if msg.get("type") in ("offer", "answer"):
            out = []
            for l in re.split(r"\r?\n", msg.get("sdp", "")):
                if l.startswith("a=candidate:"):
                    l = await self.lossy.rewrite_candidate(l)
                    if l is None:
                        continue
                out.append(l)
            return dict(msg, sdp="\r\n".join(out))
        if msg.get("type") == "candidate" and msg.get("candidate"):
            c = await self.lossy.rewrite_candidate(msg["candidate"])
            return dict(msg, candidate=c) if c else None
        return msg

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
            if out is not None:
                out = await self.impair(out)
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
        if self.lossy:
            res["lossy"] = dict(self.lossy.stats, spec=a.lossy)
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
    ap.add_argument("--lossy", default="",
                    help="route all traffic through a user-space impairment box: "
                         "loss=PERCENT,delay=MS,jitter=MS,seed=N[,log] (e.g. loss=5,delay=10); "
                         "log: note every dropped datagram in signaling.log")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if a.candidates not in ("pass", "drop") and not re.fullmatch(r"delay=\d+", a.candidates):
        ap.error("--candidates: pass, drop or delay=MS")
    os.makedirs(a.logdir, exist_ok=True)
    sys.exit(asyncio.run(Relay(a).run()))


if __name__ == "__main__":
    main()
