"""Shared by the Python peers (aiortc_peer.py, gst_peer.py): the scenario constants and
message generators of interop/README.md "Scenarios", and the common command line.
Standard library only."""
import argparse
import re

SCENARIOS = ("echo", "bulk", "unreliable", "negotiated", "maxsize", "close")

ECHO_COUNT = 200
ECHO_SIZES = [0, 1, 2, 3, 7, 15, 16, 100, 255, 256, 1000, 1023, 1024, 1199, 1200,
              1500, 2048, 4096, 8191, 16384, 16385, 32768, 65000, 65535, 65536]
ECHO_WINDOW = 16
UNREL_SIZE = 100
BULK_CHUNK = 65535


class Failure(Exception):
    pass


def echo_message(i, cap, floor=0):
    """Message i of the echo scenario: even i text, odd i binary."""
    n = min(max(ECHO_SIZES[i % len(ECHO_SIZES)], floor), cap)
    if i % 2 == 0:
        return "".join(chr(0x21 + ((i * 7 + j) % 94)) for j in range(n))
    return bytes(((i * 31 + j * 7) & 0xFF) for j in range(n))


def unrel_message(seq):
    return seq.to_bytes(4, "big") + bytes(((seq * 7 + j * 13 + 5) & 0xFF) for j in range(UNREL_SIZE - 4))


def maxsize_message(n):
    return bytes(((j * 7 + 3) & 0xFF) for j in range(n))


def max_message_size(sdp):
    """RFC 8841 §6: absent means 65536; 0 means no limit (None)."""
    m = re.search(r"^a=max-message-size:(\d+)", sdp or "", re.M)
    if not m:
        return 65536
    v = int(m.group(1))
    return None if v == 0 else v


def arg_parser(trickle_default):
    """The options every peer program takes (interop/README.md "Command line")."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=("offer", "answer"), required=True)
    ap.add_argument("--scenario", choices=SCENARIOS, required=True)
    ap.add_argument("--driver", choices=("offer", "answer"), default="offer")
    ap.add_argument("--trickle", type=int, choices=(0, 1), default=trickle_default)
    ap.add_argument("--result", help="write the one-line JSON result here (default stderr)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--bytes", type=int, default=64 << 20, help="bulk: bytes to send")
    ap.add_argument("--count", type=int, default=20000, help="unreliable: messages")
    ap.add_argument("--echo-min", type=int, default=0, help="echo: smallest message")
    ap.add_argument("--echo-max", type=int, default=65536, help="echo: largest message")
    ap.add_argument("--loopback", action="store_true", help="accepted; always loopback")
    ap.add_argument("--bind", default="127.0.0.1", help="accepted; always 127.0.0.1")
    ap.add_argument("--verbose", action="store_true")
    return ap
