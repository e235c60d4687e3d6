#!/usr/bin/python3
"""aiortc peer for the sluice interop harness (aiortc 1.4, Debian python3-aiortc).

Same command-line contract and scenarios as tools/sluice_cli.c; see interop/README.md.
Run with /usr/bin/python3 (Debian's python, where python3-aiortc lives).
"""
import asyncio
import hashlib
import json
import logging
import re
import sys
import time

import aioice.ice

# aioice skips loopback addresses when gathering: the harness runs on 127.0.0.1 only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc import __version__ as AIORTC_VERSION  # noqa: E402
from aiortc.sdp import candidate_from_sdp  # noqa: E402

from scenario_common import (BULK_CHUNK, ECHO_COUNT, ECHO_WINDOW, UNREL_SIZE,  # noqa: E402
                             Failure, arg_parser, echo_message, max_message_size,
                             maxsize_message, unrel_message)

LOCAL_MAX_MESSAGE_SIZE = 65536  # what aiortc 1.4 advertises in a=max-message-size


class Peer:
    def __init__(self, args):
        self.a = args
        self.t0 = time.monotonic()
        self.pc = RTCPeerConnection()
        self.driver = args.role == args.driver
        self.remote_set = False
        self.pending_cands = []
        self.peer_bye = asyncio.get_running_loop().create_future()
        self.queues = {}
        self.channels = {}
        self.channel_waiters = {}
        self.details = {}
        self.stdin_eof = False
        self.held = None

        @self.pc.on("datachannel")
        def on_dc(ch):
            self.log("datachannel %r id=%s negotiated=%s" % (ch.label, ch.id, ch.negotiated))
            self.track(ch)

        @self.pc.on("connectionstatechange")
        def on_state():
            self.log("connection state %s" % self.pc.connectionState)

    # --- plumbing --------------------------------------------------------------------
    def log(self, text):
        print("%8.3f aiortc[%s] %s" % (time.monotonic() - self.t0, self.a.role, text),
              file=sys.stderr, flush=True)

    def send_sig(self, obj):
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def mark_open(self, ch):
        """bench: ms from the offer's arrival (answerer; offerer: its start) to the first
        open channel, for bench/run_peers.py."""
        def done():
            if "connect_ms" not in self.details:
                t = getattr(self, "t_offer", None) or self.t0
                self.details["connect_ms"] = round((time.monotonic() - t) * 1000)
        if ch.readyState == "open":
            done()
        else:
            ch.on("open", done)

    def track(self, ch):
        """Queue every message of `ch`; wake whoever waits for a channel of this label."""
        self.mark_open(ch)
        q = asyncio.Queue()
        self.queues[ch.label] = q
        self.channels[ch.label] = ch

        @ch.on("message")
        def on_msg(m):
            q.put_nowait(m)

        w = self.channel_waiters.pop(ch.label, None)
        if w and not w.done():
            w.set_result(ch)
        return ch

    async def channel(self, label, timeout=20.0, states=("open",)):
        """The channel `label` once it exists and its readyState is one of `states`."""
        if label not in self.channels:
            fut = self.channel_waiters.setdefault(label, asyncio.get_running_loop().create_future())
            try:
                await asyncio.wait_for(asyncio.shield(fut), timeout)
            except asyncio.TimeoutError:
                raise Failure("channel %r did not arrive within %gs" % (label, timeout))
        ch = self.channels[label]
        end = time.monotonic() + timeout
        while ch.readyState not in states:
            if time.monotonic() > end:
                raise Failure("channel %r not %s within %gs (state %s)" %
                              (label, "/".join(states), timeout, ch.readyState))
            await asyncio.sleep(0.01)
        return ch

    async def closed(self, ch, timeout=20.0):
        end = time.monotonic() + timeout
        while ch.readyState != "closed":
            if time.monotonic() > end:
                raise Failure("channel %r not CLOSED after %gs (state %s)" %
                              (ch.label, timeout, ch.readyState))
            await asyncio.sleep(0.02)

    async def drain(self, ch, below):
        while ch.bufferedAmount > below:
            await asyncio.sleep(0.002)

    async def signaling(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                self.stdin_eof = True
                if not self.peer_bye.done():
                    self.peer_bye.set_exception(Failure("signaling closed before bye"))
                return
            msg = json.loads(line)
            t = msg.get("type")
            if t in ("offer", "answer") and "a=candidate:" not in msg.get("sdp", ""):
                # aioice fails at once when the remote description has no candidates and
                # cannot wait for trickled ones: hold the description until the partner's
                # end-of-candidates (or 5 s) and apply it with the candidates inside.
                self.held = msg
                self.held_cands = []
                early, self.pending_cands = self.pending_cands, []  # trickled before the SDP
                if not any(self.hold_candidate(m) for m in early):
                    self.held_task = asyncio.ensure_future(self.release_held(5.0))
                    continue
                msg = self.take_held()
            elif t == "candidate" and self.held is not None:
                if not self.hold_candidate(msg):
                    continue
                self.held_task.cancel()
                msg = self.take_held()
            await self.handle(msg)

    def hold_candidate(self, msg):
        """Keep a candidate for the held description; True at end-of-candidates."""
        cand = msg.get("candidate") or ""
        if cand.startswith("a="):
            cand = cand[2:]
        if cand and cand != "end-of-candidates":
            self.held_cands.append(cand)
            return False
        return True

    async def handle(self, msg):
        t = msg.get("type")
        if t == "offer":
            self.t_offer = time.monotonic()
            await self.pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
            self.remote_sdp = msg["sdp"]
            await self.flush_candidates()
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            self.send_description()
        elif t == "answer":
            await self.pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))
            self.remote_sdp = msg["sdp"]
            await self.flush_candidates()
        elif t == "candidate":
            self.pending_cands.append(msg)
            if self.remote_set:
                await self.flush_candidates()
        elif t == "bye":
            self.log("peer bye: %s" % json.dumps(msg))
            if not self.peer_bye.done():
                self.peer_bye.set_result(msg)
        else:
            self.log("ignoring signaling message %r" % t)

    def take_held(self):
        msg = self.held
        self.held = None
        sdp = msg["sdp"].rstrip("\r\n")
        lines = "".join("\r\na=" + c for c in self.held_cands)
        self.log("applying the remote %s with %d trickled candidates" % (msg["type"], len(self.held_cands)))
        return dict(msg, sdp=sdp + lines + "\r\na=end-of-candidates\r\n")

    async def release_held(self, delay):
        await asyncio.sleep(delay)
        if self.held is not None:
            self.log("no end-of-candidates after %gs" % delay)
            await self.handle(self.take_held())

    async def flush_candidates(self):
        self.remote_set = True
        ice = self.pc.sctp.transport.transport
        for msg in self.pending_cands:
            line = msg.get("candidate") or ""
            if line.startswith("a="):
                line = line[2:]
            if line in ("", "end-of-candidates"):
                await ice.addRemoteCandidate(None)
                continue
            if line.startswith("candidate:"):
                line = line[len("candidate:"):]
            c = candidate_from_sdp(line)
            c.sdpMid = msg.get("mid")
            c.sdpMLineIndex = msg.get("index")
            await self.pc.addIceCandidate(c)
        self.pending_cands = []

    def send_description(self):
        d = self.pc.localDescription
        sdp = d.sdp
        if self.a.trickle:
            # aiortc gathers inside setLocalDescription; to exercise the remote's trickle
            # path we move the candidates out of the SDP into candidate messages.
            lines = re.split(r"\r?\n", sdp)
            cands = [l[2:] for l in lines if l.startswith("a=candidate:")]
            sdp = "\r\n".join(l for l in lines if not l.startswith("a=candidate:")
                              and l != "a=end-of-candidates")
            self.send_sig({"type": d.type, "sdp": sdp})
            for c in cands:
                self.send_sig({"type": "candidate", "mid": "0", "index": 0, "candidate": c})
            self.send_sig({"type": "candidate", "mid": "0", "index": 0, "candidate": ""})
        else:
            self.send_sig({"type": d.type, "sdp": sdp})

    # --- scenarios -------------------------------------------------------------------
    def create_channels(self):
        s = self.a.scenario
        pc = self.pc
        if s == "echo":
            self.track(pc.createDataChannel("echo"))
        elif s == "bulk":
            self.track(pc.createDataChannel("bulk"))
        elif s == "unreliable":
            self.track(pc.createDataChannel("unreliable", ordered=False, maxRetransmits=0))
        elif s == "maxsize":
            self.track(pc.createDataChannel("maxsize"))
        elif s == "close":
            for label in ("close-a", "close-b", "close-c"):
                self.track(pc.createDataChannel(label))

    def create_negotiated(self):
        # Godot's WebRTCMultiplayerPeer channels: ids 1, 2, 3 negotiated out of band.
        pc = self.pc
        self.track(pc.createDataChannel("reliable", negotiated=True, id=1))
        self.track(pc.createDataChannel("ordered", negotiated=True, id=2, maxPacketLifeTime=1))
        self.track(pc.createDataChannel("unreliable", negotiated=True, id=3, ordered=False,
                                        maxPacketLifeTime=1))

    async def sc_echo(self):
        ch = await self.channel("echo")
        q = self.queues["echo"]
        cap = self.a.echo_max
        if not self.driver:
            n = 0
            while n < ECHO_COUNT:
                m = await q.get()
                await self.drain(ch, 1 << 20)
                ch.send(m)
                n += 1
            self.details["echoed"] = n
            return
        sent = recv = 0
        while recv < ECHO_COUNT:
            while sent < ECHO_COUNT and sent - recv < ECHO_WINDOW:
                ch.send(echo_message(sent, cap, self.a.echo_min))
                sent += 1
            m = await q.get()
            want = echo_message(recv, cap, self.a.echo_min)
            if type(m) is not type(want) or m != want:
                raise Failure("echo %d: got %s %d bytes, want %s %d bytes" % (
                    recv, type(m).__name__, len(m), type(want).__name__, len(want)))
            recv += 1
        self.details["verified"] = recv

    async def sc_bulk(self):
        ch = await self.channel("bulk")
        total = self.a.bytes
        h = hashlib.sha256()
        if self.driver:
            base = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest()
                            for i in range((1 << 20) // 32 + BULK_CHUNK // 32 + 2))
            sent = k = 0
            t = time.monotonic()
            while sent < total:
                off = (k * 7919) % (1 << 20)
                chunk = base[off:off + min(self.a.msg_size, total - sent)]
                await self.drain(ch, 4 << 20)
                ch.send(chunk)
                h.update(chunk)
                sent += len(chunk)
                k += 1
            await self.drain(ch, 0)
            self.details.update(bytes=sent, sha256=h.hexdigest(),
                                send_s=round(time.monotonic() - t, 3))
            return
        q = self.queues["bulk"]
        got = 0
        t = None
        while got < total:
            m = await q.get()
            t = t or time.monotonic()
            if not isinstance(m, bytes):
                raise Failure("bulk: text message at offset %d" % got)
            h.update(m)
            got += len(m)
        dt = max(time.monotonic() - t, 1e-6)
        self.details.update(bytes=got, sha256=h.hexdigest(),
                            mbit_s=round(got * 8 / dt / 1e6, 1))

    async def sc_unreliable(self):
        ch = await self.channel("unreliable")
        count = self.a.count
        if self.driver:
            for seq in range(count):
                await self.drain(ch, 64 * 1024)
                ch.send(unrel_message(seq))
            await self.drain(ch, 0)
            self.details["sent"] = count
            return
        q = self.queues["unreliable"]
        seen = bytearray(count)
        got = dups = corrupt = 0
        t_first = t_last = 0.0

        def bad(m):
            nonlocal corrupt
            if corrupt == 0:
                head = m[:16].hex() if isinstance(m, bytes) else m[:16]
                self.details["first_corrupted"] = "%s %d bytes, starts %s" % (
                    "binary" if isinstance(m, bytes) else "text", len(m), head)
                self.log("unreliable: corrupted message: " + self.details["first_corrupted"])
            corrupt += 1

        def take(m):
            nonlocal got, dups, t_first, t_last
            if not isinstance(m, bytes) or len(m) != UNREL_SIZE:
                bad(m)
                return
            seq = int.from_bytes(m[:4], "big")
            if seq >= count or m != unrel_message(seq):
                bad(m)
            elif seen[seq]:
                dups += 1
            else:
                seen[seq] = 1
                got += 1
                t_last = time.monotonic()
                t_first = t_first or t_last

        bye = None
        while bye is None:
            try:
                take(await asyncio.wait_for(q.get(), 0.2))
            except asyncio.TimeoutError:
                pass
            if self.peer_bye.done():
                bye = self.peer_bye.result()
        end = time.monotonic() + 0.5  # datagrams still in flight after the bye
        while time.monotonic() < end:
            try:
                take(await asyncio.wait_for(q.get(), 0.1))
            except asyncio.TimeoutError:
                pass
        sent = (bye.get("result") or {}).get("details", {}).get("sent", count)
        self.details.update(received=got, lost=sent - got, duplicated=dups, corrupted=corrupt,
                            msgs_s=round(got / max(t_last - t_first, 1e-3)) if got > 1 else 0)
        if dups or corrupt:
            raise Failure("unreliable: %d duplicated, %d corrupted" % (dups, corrupt))
        if got == 0:
            raise Failure("unreliable: nothing arrived")

    async def sc_negotiated(self):
        await self.channel("reliable")
        mine = "inband-" + self.a.role
        other = "inband-" + ("answer" if self.a.role == "offer" else "offer")
        self.track(self.pc.createDataChannel(mine))
        labels = ["reliable", "ordered", "unreliable", mine, other]
        got = {}

        async def hello(label):
            ch = await self.channel(label)
            q = self.queues[label]

            async def rx():
                while True:
                    m = await q.get()
                    got[label] = m
                    if isinstance(m, str) and m.startswith("hello "):
                        ch.send("ack %s %s" % (label, self.a.role))
            task = asyncio.ensure_future(rx())
            while label not in got:
                ch.send("hello %s %s" % (label, self.a.role))
                await asyncio.sleep(0.1)
            return task

        try:
            tasks = await asyncio.wait_for(asyncio.gather(*(hello(lb) for lb in labels)), 20)
        except asyncio.TimeoutError:
            raise Failure("negotiated: nothing arrived within 20 s on %s" %
                          [lb for lb in labels if lb not in got])
        self.rx_tasks = tasks  # keep acking until the peer says bye
        ids = {lb: self.channels[lb].id for lb in labels}
        self.details["ids"] = ids
        for i, lb in enumerate(("reliable", "ordered", "unreliable")):
            if ids[lb] != i + 1 or not self.channels[lb].negotiated:
                raise Failure("negotiated channel %s has id %s" % (lb, ids[lb]))
        if ids[mine] in (1, 2, 3) or ids[other] in (1, 2, 3) or ids[mine] == ids[other]:
            raise Failure("in-band ids collide: %s" % ids)

    async def sc_maxsize(self):
        ch = await self.channel("maxsize")
        if self.driver:
            mms = max_message_size(self.remote_sdp)
            n = mms if mms is not None else 262144
            ch.send(maxsize_message(n))
            await self.drain(ch, 0)
            self.details["sent"] = n
            # aiortc 1.4 does not enforce the remote max-message-size at send time.
            self.details["too_large_refused"] = "not-enforced-by-aiortc"
            return
        m = await asyncio.wait_for(self.queues["maxsize"].get(), 30)
        self.details["received"] = len(m)
        if not isinstance(m, bytes) or m != maxsize_message(LOCAL_MAX_MESSAGE_SIZE):
            raise Failure("maxsize: got %d bytes, want %d (our max-message-size)" %
                          (len(m), LOCAL_MAX_MESSAGE_SIZE))
        try:
            extra = await asyncio.wait_for(self.queues["maxsize"].get(), 0.5)
            raise Failure("maxsize: a second message of %d bytes arrived" % len(extra))
        except asyncio.TimeoutError:
            pass

    async def sc_close(self):
        a = await self.channel("close-a")
        b = await self.channel("close-b")
        c = await self.channel("close-c")
        # The validator says "ready" on close-c when it sees all three open: a stream reset
        # racing the DCEP OPEN leaves some stacks' channel in "connecting" forever.
        if not self.driver:
            c.send("ready")
        else:
            m = await asyncio.wait_for(self.queues["close-c"].get(), 20)
            if m != "ready":
                raise Failure("close: expected 'ready' on close-c, got %r" % (m,))
        if self.driver:
            a.close()
            await self.closed(a)
            await self.closed(b)  # the validator closes close-b when it saw close-a CLOSED
            self.details["closed"] = ["close-a", "close-b"]
            return
        await self.closed(a)
        b.close()
        await self.closed(b)
        # The driver closes its peer connection after its bye: notice it.
        end = time.monotonic() + 15
        while c.readyState != "closed" and self.pc.connectionState not in ("closed", "failed"):
            if time.monotonic() > end:
                raise Failure("peer close not noticed in 15 s (close-c %s, connection %s)" %
                              (c.readyState, self.pc.connectionState))
            await asyncio.sleep(0.05)
        self.details["peer_close_noticed"] = "close-c %s, connection %s" % (
            c.readyState, self.pc.connectionState)

    def cross_check(self, peer):
        """Compare our details with the peer's bye; returns an error or None."""
        pd = (peer.get("result") or {}).get("details") or {}
        if self.a.scenario == "bulk":
            if pd.get("sha256") != self.details.get("sha256") or pd.get("bytes") != self.details.get("bytes"):
                return "bulk: sha256/bytes differ: ours %s/%s, peer %s/%s" % (
                    self.details.get("sha256"), self.details.get("bytes"),
                    pd.get("sha256"), pd.get("bytes"))
        return None

    # --- main ------------------------------------------------------------------------
    async def run(self):
        sig = asyncio.ensure_future(self.signaling())
        if self.a.scenario == "negotiated":
            self.create_negotiated()
        if self.a.role == "offer":
            self.create_channels()
            await self.pc.setLocalDescription(await self.pc.createOffer())
            self.send_description()
        ok, err = True, None
        try:
            await asyncio.wait_for(getattr(self, "sc_" + self.a.scenario)(), self.a.timeout)
        except asyncio.TimeoutError:
            ok, err = False, "scenario timed out after %gs" % self.a.timeout
        except Failure as e:
            ok, err = False, str(e)
        elapsed = round((time.monotonic() - self.t0) * 1000)
        mine = {"peer": "aiortc", "version": AIORTC_VERSION, "role": self.a.role,
                "scenario": self.a.scenario, "driver": self.driver, "ok": ok, "error": err,
                "elapsed_ms": elapsed, "details": self.details}
        self.send_sig({"type": "bye", "ok": ok, "result": mine})
        self.log("own part done: %s" % json.dumps(mine))
        if self.a.scenario == "close" and self.driver:
            await self.pc.close()
        try:
            peer = await asyncio.wait_for(asyncio.shield(self.peer_bye), 20)
            if ok:
                err = self.cross_check(peer)
                ok = err is None
            if not peer.get("ok"):
                ok = False
                err = err or "peer failed: %s" % ((peer.get("result") or {}).get("error"))
            mine["peer_result"] = peer.get("result")
        except (asyncio.TimeoutError, Failure) as e:
            ok, err = False, err or "no bye from the peer (%s)" % (str(e) or "timeout")
        mine.update(ok=ok, error=err)
        with open(self.a.result, "w") if self.a.result else sys.stderr as f:
            f.write(json.dumps(mine) + "\n")
        sig.cancel()
        await self.pc.close()
        return 0 if ok else 1


def main():
    ap = arg_parser(trickle_default=0)
    ap.add_argument("--msg-size", type=int, default=BULK_CHUNK, help="bulk: message size (bench)")
    a = ap.parse_args()
    a.msg_size = max(1, min(BULK_CHUNK, a.msg_size))
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.WARNING,
                        stream=sys.stderr)
    async def amain():
        return await Peer(a).run()
    return asyncio.run(amain())


if __name__ == "__main__":
    sys.exit(main())
