#!/usr/bin/python3
"""A third-party WebRTC peer (aiortc, Debian python3-aiortc) for the Godot test.

Same contract as c_peer.c: TCP signaling on 127.0.0.1 (the port printed first as "PORT n"),
one message per line, tab-separated fields with \\ \n \r \t escaped:
    sdp <type> <sdp>        cand <mid> <index> <candidate>        done
Godot offers; this peer echoes every message on "chat" and the negotiated "neg" (id 7),
opens its own channel "from-peer" and sends a text and a binary message on it.
Exit 0 after "done" when it echoed at least 3 messages and sent its own; 1 otherwise,
2 on timeout.
"""
import asyncio
import sys

import aioice.ice

# aioice skips loopback addresses when gathering; this test runs on 127.0.0.1 only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402

ESC = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
UNESC = {"n": "\n", "r": "\r", "t": "\t"}


def escape(s):
    return "".join(ESC.get(c, c) for c in s)


def split_fields(line):
    fields, cur, i = [], [], 0
    while i < len(line):
        c = line[i]
        if c == "\t":
            fields.append("".join(cur))
            cur = []
        elif c == "\\" and i + 1 < len(line):
            i += 1
            cur.append(UNESC.get(line[i], line[i]))
        else:
            cur.append(c)
        i += 1
    fields.append("".join(cur))
    return fields


def log(text):
    print("aiortc_peer: " + text, file=sys.stderr, flush=True)


class Peer:
    def __init__(self, writer):
        self.w = writer
        self.pc = RTCPeerConnection()
        self.echoed = 0
        self.sent_own = False
        self.done = asyncio.get_running_loop().create_future()
        self.offer = None
        self.cands = []
        self.neg = self.pc.createDataChannel("neg", negotiated=True, id=7)
        self.echo(self.neg)

        @self.pc.on("datachannel")
        def on_dc(ch):
            log("channel %r received" % ch.label)
            self.echo(ch)

        @self.pc.on("connectionstatechange")
        def on_state():
            log("connection state %s" % self.pc.connectionState)

    def send(self, *fields):
        self.w.write(("\t".join(escape(str(f)) for f in fields) + "\n").encode())

    def echo(self, ch):
        @ch.on("message")
        def on_msg(m):
            ch.send(m)
            self.echoed += 1

    async def answer(self):
        # aiortc 1.4 starts ICE as soon as the remote description is set: give it the
        # candidates Godot trickles right after its offer inside that description.
        await asyncio.sleep(0.5)
        sdp = self.offer
        if not sdp.endswith("\r\n"):
            sdp += "\r\n"
        for c in self.cands:
            sdp += "a=" + c + "\r\n"
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.send("sdp", "answer", self.pc.localDescription.sdp)
        own = self.pc.createDataChannel("from-peer")

        @own.on("open")
        def on_open():
            own.send("hello from the peer")
            own.send(bytes([0xC0, 0xFF, 0xEE]))
            self.sent_own = True

    def line(self, text):
        f = split_fields(text)
        if f[0] == "sdp" and len(f) >= 3 and f[1] == "offer":
            self.offer = f[2]
            asyncio.ensure_future(self.answer())
        elif f[0] == "cand" and len(f) >= 4:
            c = f[3][2:] if f[3].startswith("a=") else f[3]
            if c:
                self.cands.append(c)
        elif f[0] == "done" and not self.done.done():
            self.done.set_result(True)


async def main():
    conn = asyncio.get_running_loop().create_future()

    async def on_client(reader, writer):
        if not conn.done():
            conn.set_result((reader, writer))

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    try:
        reader, writer = await asyncio.wait_for(conn, 30)
    except asyncio.TimeoutError:
        log("nobody connected")
        return 2
    peer = Peer(writer)

    async def read_lines():
        while True:
            line = await reader.readline()
            if not line:
                if not peer.done.done():
                    peer.done.set_result(False)
                return
            peer.line(line.decode().rstrip("\n"))

    asyncio.ensure_future(read_lines())
    try:
        said_done = await asyncio.wait_for(peer.done, 60)
    except asyncio.TimeoutError:
        log("timeout")
        return 2
    rc = 0 if said_done and peer.echoed >= 3 and peer.sent_own else 1
    log("echoed %d messages, own channel sent: %s, exit %d" % (peer.echoed, peer.sent_own, rc))
    await peer.pc.close()
    server.close()
    return rc


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
