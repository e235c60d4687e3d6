#!/usr/bin/env python3
"""CTest cli_serve_limits: `sluice serve --max-sessions 1 --max-conns 8` under hostile and
excess clients stays up and bounded: an unmasked client frame, a 2^40-byte length, a bad
opcode and a header larger than 8 KiB are each refused (close code / HTTP status); a second
browser session beyond --max-sessions gets {"type":"error"} and close 1013; connections
beyond --max-conns get 503; after all that the page is still served and SIGTERM ends the
server with status 0 (ASan's leak check clean).

usage: cli_serve_limits.py path/to/sluice
"""
import base64
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time


def ws_connect(port, target="/ws"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (target, key)).encode())
    rsp = b""
    while b"\r\n\r\n" not in rsp:
        chunk = s.recv(4096)
        if not chunk:
            break
        rsp += chunk
    head, _, rest = rsp.partition(b"\r\n\r\n")
    return s, head, rest


def frame(op, payload, mask=True, fin=True):
    b = bytes([(0x80 if fin else 0) | op])
    n = len(payload)
    mb = 0x80 if mask else 0
    if n < 126:
        b += bytes([mb | n])
    elif n < 65536:
        b += bytes([mb | 126]) + struct.pack(">H", n)
    else:
        b += bytes([mb | 127]) + struct.pack(">Q", n)
    if mask:
        k = os.urandom(4)
        b += k + bytes(c ^ k[i % 4] for i, c in enumerate(payload))
    else:
        b += payload
    return b


def read_frames(s, rest, want_close=True, limit=10):
    """Frames from the server until a close frame (returns [(op, payload)])."""
    buf, out = rest, []
    s.settimeout(10)
    while len(out) < limit:
        while len(buf) >= 2:
            op, n = buf[0] & 0x0F, buf[1] & 0x7F
            h = 2
            if n == 126:
                n, h = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                n, h = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < h + n:
                break
            out.append((op, buf[h:h + n]))
            buf = buf[h + n:]
            if op == 8 and want_close:
                return out
        if len(out) >= limit:
            return out
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return out
        if not chunk:
            return out
        buf += chunk
    return out


def close_code(frames):
    for op, p in frames:
        if op == 8 and len(p) >= 2:
            return struct.unpack(">H", p[:2])[0]
    return None


def main():
    sluice = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as d:
        log = open(os.path.join(d, "serve.log"), "w")
        srv = subprocess.Popen([sluice, "serve", "--http", "127.0.0.1:0", "--max-sessions", "1",
                                "--max-conns", "8", "--max-message", "65536"],
                               stdout=subprocess.PIPE, stderr=log, text=True)
        ready, _, _ = select.select([srv.stdout], [], [], 30)
        line = srv.stdout.readline() if ready else ""
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            srv.kill()
            print("sluice serve did not start: %r" % line)
            return 1
        port = int(m.group(1))
        try:
            # Hostile frames: each gets the close code RFC 6455 asks for.
            for name, data, code in (
                    ("unmasked client frame", frame(1, b"hi", mask=False), 1002),
                    ("2^40-byte length", bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 40) + b"abcd", 1009),
                    ("over --max-message", frame(2, b"x" * 70000), 1009),
                    ("reserved opcode", frame(3, b""), 1002),
                    ("text that is not UTF-8", frame(1, b"\xc0\xaf"), 1007)):
                s, head, rest = ws_connect(port, "/ws?room=hostile")
                if not head.startswith(b"HTTP/1.1 101"):
                    failures.append("%s: no 101: %r" % (name, head[:40]))
                    continue
                s.sendall(data)
                got = close_code(read_frames(s, rest))
                if got != code:
                    failures.append("%s: close code %r, want %d" % (name, got, code))
                s.close()
            # A header that never ends is cut at 8 KiB with 431.
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 9000)
            rsp = s.recv(4096)
            if not rsp.startswith(b"HTTP/1.1 431"):
                failures.append("oversized header: %r" % rsp[:40])
            s.close()
            # Sessions: the first offer makes a peer (this SDP is refused: an error comes back),
            # the second connection is over --max-sessions 1.
            a, head, rest = ws_connect(port)
            a.sendall(frame(1, b'{"type":"offer","sdp":"v=0\\r\\n"}'))
            fa = read_frames(a, rest, want_close=False, limit=1)
            if not fa or b'"error"' not in fa[0][1]:
                failures.append("bad offer: no error message: %r" % fa)
            b, head, rest = ws_connect(port)
            b.sendall(frame(1, b'{"type":"offer","sdp":"v=0\\r\\n"}'))
            fb = read_frames(b, rest)
            if not any(op == 1 and b"too many sessions" in p for op, p in fb) or close_code(fb) != 1013:
                failures.append("second session not refused with 1013: %r" % fb)
            b.close()
            # --max-conns 8: a is open; 7 more fit, the next ones get 503.
            extra = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(9)]
            refused, pending, t_end = 0, list(extra), time.time() + 1.5
            while pending and time.time() < t_end:
                ready, _, _ = select.select(pending, [], [], max(0, t_end - time.time()))
                for s in ready:
                    pending.remove(s)
                    if s.recv(64).startswith(b"HTTP/1.1 503"):
                        refused += 1
            if refused != 2:
                failures.append("%d connections refused with 503 over --max-conns 8, want 2" % refused)
            for s in extra:
                s.close()
            a.close()
            # Still serving (once it noticed that the extra connections closed).
            page = b""
            for _ in range(50):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                page = b""
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        page += chunk
                except ConnectionResetError:
                    pass
                s.close()
                if page.startswith(b"HTTP/1.1 200"):
                    break
                time.sleep(0.1)
            if not page.startswith(b"HTTP/1.1 200"):
                failures.append("page not served after the abuse: %r" % page[:40])
        finally:
            srv.send_signal(signal.SIGTERM)
            try:
                rc = srv.wait(timeout=30)
            except subprocess.TimeoutExpired:
                srv.kill()
                rc = -9
            if rc != 0:
                failures.append("sluice serve exit status %d after SIGTERM" % rc)
            log.close()
        if failures:
            sys.stdout.write(open(os.path.join(d, "serve.log")).read()[-4000:])
            print("cli_serve_limits: FAILED:\n  " + "\n  ".join(failures))
            return 1
    print("cli_serve_limits: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
