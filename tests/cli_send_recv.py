#!/usr/bin/env python3
"""CTest cli_send_recv: `sluice serve` on a free port, then `sluice recv` and `sluice send`
of an 8 MiB random file through a room, in both orders of arrival; both must exit 0 and the
stored file must have the sent SHA-256. A receiver that cannot write makes both exit
non-zero. The same through a TURN relay only (--turn ... --relay-only, a real coturn;
skipped when it is not installed). `sluice send` without a room: the server's own mux peer receives and verifies
(the path browsers use). Also: a third member of a full room is refused (409), the server
answers the page at / and stops cleanly on SIGTERM (exit 0, so ASan's leak check ran clean).

usage: cli_send_recv.py path/to/sluice
"""
import hashlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time


def start_server(sluice, logdir):
    err = open(os.path.join(logdir, "serve.log"), "w")
    srv = subprocess.Popen([sluice, "serve", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"],
                           stdout=subprocess.PIPE, stderr=err, text=True)
    ready, _, _ = select.select([srv.stdout], [], [], 30)
    line = srv.stdout.readline() if ready else ""
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        srv.kill()
        raise SystemExit("sluice serve did not start: %r" % line)
    return srv, int(m.group(1))


def http_get(port, request):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(request.encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def turn_test(sluice, d, port, src, want, rlog, slog):
    """send/recv with --turn ... --relay-only through coturn. Returns an error or None."""
    bin_ = next((p for p in ("/usr/bin/turnserver", "/usr/sbin/turnserver") if os.access(p, os.X_OK)), None)
    if not bin_:
        print("TURN relay: SKIP (turnserver from Debian coturn not installed)")
        return None
    tport = free_port()
    tlog = os.path.join(d, "coturn.log")
    turn = subprocess.Popen([bin_, "-n", "--listening-port", str(tport), "--listening-ip", "127.0.0.1",
                             "--relay-ip", "127.0.0.1", "--user", "u:p", "--realm", "r",
                             "--lt-cred-mech", "--allow-loopback-peers", "--no-cli", "--no-dtls",
                             "--no-tls", "--pidfile", os.path.join(d, "coturn.pid"), "--log-file",
                             tlog, "--simple-log", "--no-rfc5780", "--min-port", "40000",
                             "--max-port", "60000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # wait until it listens (UDP: ask with a STUN Binding request)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.1)
            s.sendto(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12), ("127.0.0.1", tport))
            try:
                s.recv(1500)
                s.close()
                break
            except OSError:
                s.close()
        out = os.path.join(d, "out-turn.bin")
        url = "ws://127.0.0.1:%d/ws?room=turn" % port
        common = ["--signal", url, "--bind", "127.0.0.1", "--timeout", "120", "--turn",
                  "turn:127.0.0.1:%d" % tport, "--turn-user", "u", "--turn-pass", "p", "--relay-only"]
        t0 = time.time()
        recv = subprocess.Popen([sluice, "recv", "--out", out] + common, stdout=rlog, stderr=subprocess.STDOUT)
        time.sleep(0.3)
        send_rc = subprocess.run([sluice, "send", src] + common, stdout=slog, stderr=subprocess.STDOUT,
                                 timeout=200).returncode
        recv_rc = recv.wait(timeout=60)
        got = hashlib.sha256(open(out, "rb").read()).hexdigest() if os.path.exists(out) else ""
        print("8 MiB through a room, relay only via coturn, in %.2f s: send %d, recv %d, sha256 %s" %
              (time.time() - t0, send_rc, recv_rc, "matches" if got == want else "DIFFERS"))
        if send_rc != 0 or recv_rc != 0 or got != want:
            show(tlog)
            return "TURN relay-only: send exit %d, recv exit %d, sha256 %s" % (send_rc, recv_rc, got)
        return None
    finally:
        turn.terminate()
        try:
            turn.wait(timeout=10)
        except subprocess.TimeoutExpired:
            turn.kill()


def show(path):
    try:
        with open(path) as f:
            sys.stdout.write("--- %s\n%s" % (os.path.basename(path), f.read()[-4000:]))
    except OSError:
        pass


def main():
    sluice = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        srv, port = start_server(sluice, d)
        failures = []
        try:
            page = http_get(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            if not page.startswith(b"HTTP/1.1 200") or b"RTCPeerConnection" not in page:
                failures.append("GET / did not return the demo page")

            src = os.path.join(d, "in.bin")
            data = os.urandom(8 << 20)
            with open(src, "wb") as f:
                f.write(data)
            want = hashlib.sha256(data).hexdigest()
            rlog = open(os.path.join(d, "recv.log"), "w")
            slog = open(os.path.join(d, "send.log"), "w")
            # Both orders: whoever arrives second in the room offers and makes the channel.
            for order in ("recv-first", "send-first"):
                out = os.path.join(d, "out-%s.bin" % order)
                url = "ws://127.0.0.1:%d/ws?room=%s" % (port, order)
                common = ["--signal", url, "--bind", "127.0.0.1", "--timeout", "120"]
                rcmd = [sluice, "recv", "--out", out] + common
                scmd = [sluice, "send", src] + common
                first, second = (rcmd, scmd) if order == "recv-first" else (scmd, rcmd)
                for log in (rlog, slog):
                    log.write("=== %s\n" % order)
                    log.flush()
                p1 = subprocess.Popen(first, stdout=rlog if first is rcmd else slog,
                                      stderr=subprocess.STDOUT)
                time.sleep(0.3)
                p2 = subprocess.Popen(second, stdout=rlog if second is rcmd else slog,
                                      stderr=subprocess.STDOUT)
                send, recv = (p2, p1) if order == "recv-first" else (p1, p2)
                t0 = time.time()
                src_rc = send.wait(timeout=200)
                rcv_rc = recv.wait(timeout=60)
                secs = time.time() - t0
                if src_rc != 0 or rcv_rc != 0:
                    failures.append("%s: send exit %d, recv exit %d" % (order, src_rc, rcv_rc))
                got = hashlib.sha256(open(out, "rb").read()).hexdigest() if os.path.exists(out) else ""
                if got != want:
                    failures.append("%s: stored file SHA-256 %s != sent %s" % (order, got, want))
                if os.path.exists(out + ".part"):
                    failures.append("%s: a .part file was left behind" % order)
                print("8 MiB through a room (%s) in %.2f s: send %d, recv %d, sha256 %s" %
                      (order, secs, src_rc, rcv_rc, "matches" if got == want else "DIFFERS"))

            # A receiver that cannot store the file: both exit non-zero, quickly.
            url = "ws://127.0.0.1:%d/ws?room=unwritable" % port
            common = ["--signal", url, "--bind", "127.0.0.1", "--timeout", "60"]
            recv = subprocess.Popen([sluice, "recv", "--out", os.path.join(d, "no", "such", "dir")] + common,
                                    stdout=rlog, stderr=subprocess.STDOUT)
            time.sleep(0.3)
            send_rc = subprocess.run([sluice, "send", src] + common, stdout=slog,
                                     stderr=subprocess.STDOUT, timeout=100).returncode
            recv_rc = recv.wait(timeout=60)
            if send_rc == 0 or recv_rc == 0:
                failures.append("unwritable --out: send exit %d, recv exit %d (want both non-zero)"
                                % (send_rc, recv_rc))
            print("unwritable --out: send exit %d, recv exit %d" % (send_rc, recv_rc))

            # Through a TURN relay only (a real coturn on 127.0.0.1, when installed).
            turn = turn_test(sluice, d, port, src, want, rlog, slog)
            if turn:
                failures.append(turn)

            # Without a room the server's own peer (on its sluice_mux port) receives: the
            # session path that browsers use, driven by a native client.
            t0 = time.time()
            direct = subprocess.run([sluice, "send", src, "--signal", "ws://127.0.0.1:%d/ws" % port,
                                     "--bind", "127.0.0.1", "--timeout", "120"],
                                    stdout=slog, stderr=subprocess.STDOUT, timeout=200)
            if direct.returncode != 0:
                failures.append("send to the server's own session: exit %d" % direct.returncode)
            print("8 MiB to the server's session (mux port) in %.2f s: exit %d" %
                  (time.time() - t0, direct.returncode))

            # The room is free again: two members join, a third is refused with 409.
            key = "dGhlIHNhbXBsZSBub25jZQ=="
            up = ("GET /ws?room=full HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n" % key)
            members = []
            for _ in range(2):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(up.encode())
                rsp = s.recv(4096)
                if not rsp.startswith(b"HTTP/1.1 101") or \
                        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" not in rsp:
                    failures.append("room member not accepted: %r" % rsp[:80])
                members.append(s)
            third = http_get(port, up)
            if not third.startswith(b"HTTP/1.1 409"):
                failures.append("third member of a room not refused: %r" % third[:80])
            for s in members:
                s.close()
        finally:
            srv.send_signal(signal.SIGTERM)
            try:
                srv_rc = srv.wait(timeout=30)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv_rc = -9
            if srv_rc != 0:
                failures.append("sluice serve exit status %d after SIGTERM" % srv_rc)
        if failures:
            for name in ("serve.log", "send.log", "recv.log"):
                show(os.path.join(d, name))
            print("cli_send_recv: FAILED:\n  " + "\n  ".join(failures))
            return 1
        print("cli_send_recv: 1 passed, 0 failed")
        return 0


if __name__ == "__main__":
    sys.exit(main())
