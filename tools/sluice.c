/*
 * sluice: WebRTC data channels from the command line (see `sluice --help`).
 *
 *   sluice serve  the demo page, WebSocket signaling, rooms (sluice_serve.c)
 *   sluice send   a file to `sluice recv` through a room (sluice_xfer.c)
 *   sluice recv
 *
 * Uses only the public API (include/sluice.h) and OpenSSL (SHA-1 for the WebSocket
 * handshake, SHA-256 for files). The interop harness peer is the other binary,
 * sluice-cli (tools/sluice_cli.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice_tool.h"

static const char HELP[] =
    "usage: sluice serve [--http IP:PORT] [--udp IP:PORT] [--max-sessions N]\n"
    "                    [--max-conns N] [--max-message BYTES] [ICE options] [--verbose]\n"
    "       sluice send FILE --signal ws://HOST:PORT/ws?room=NAME [options]\n"
    "       sluice recv --signal ws://HOST:PORT/ws?room=NAME [--out PATH] [options]\n"
    "       sluice --help | --version\n"
    "\n"
    "WebRTC data channels (library sluice " SLUICE_VERSION_STRING ").\n"
    "\n"
    "serve: an HTTP server with a demo page at / and WebSocket signaling at /ws.\n"
    "  Every browser that opens the page gets its own sluice peer; all of them share\n"
    "  ONE UDP port (--udp). The page shows a chat (broadcast to every browser), an\n"
    "  echo RTT and a file upload whose SHA-256 the server computes and the page checks.\n"
    "  /ws?room=NAME relays signaling between the two members of a room: two programs\n"
    "  (send/recv) or browsers (the page at /?room=NAME) meet peer-to-peer.\n"
    "  --http IP:PORT        HTTP and WebSocket (default 127.0.0.1:8080; port 0 = any)\n"
    "  --udp IP:PORT         the UDP port of every browser session (default 127.0.0.1:0).\n"
    "                        It is the one host candidate: an IP literal, no wildcard.\n"
    "                        A browser on this machine reaches 127.0.0.1; for browsers on\n"
    "                        the LAN use this machine's LAN address (and --http on it\n"
    "                        or 0.0.0.0:8080).\n"
    "  --max-sessions N      browser sessions at a time (default 16)\n"
    "  --max-conns N         TCP connections at a time (default 64)\n"
    "  --max-message BYTES   largest WebSocket or data-channel message (default 262144)\n"
    "\n"
    "send FILE / recv: a file between two programs over one reliable ordered channel.\n"
    "  Start both with the same room, in any order (the other side may also be the page\n"
    "  at /?room=NAME in a browser). The receiver stores the file\n"
    "  (as PATH.part, renamed to PATH once verified) and both check its SHA-256; the\n"
    "  exit status is 0 only when the receiver's count and SHA-256 equal the sender's.\n"
    "  --signal URL          ws://HOST:PORT/ws?room=NAME of a `sluice serve` (no wss://).\n"
    "                        send to ws://HOST:PORT/ws (no room): the server itself\n"
    "                        receives, hashes and answers (a check of a server)\n"
    "  --out PATH            recv: where to store (default: the sender's file name in\n"
    "                        the current directory, never over an existing file)\n"
    "  --bind IP             gather candidates on this address only (127.0.0.1: loopback)\n"
    "  --timeout S           give up after S seconds (default 120)\n"
    "\n"
    "ICE options (serve, send, recv):\n"
    "  --stun URL            stun:HOST[:PORT] (repeatable)\n"
    "  --turn URL            turn:HOST[:PORT][?transport=udp|tcp] or turns:... (repeatable;\n"
    "                        not used by serve's sessions: a TURN allocation cannot be\n"
    "                        shared on one port)\n"
    "  --turn-user U, --turn-pass P   TURN credentials\n"
    "  --relay-only          send/recv: use only TURN relay candidates\n"
    "  --verbose             more logging\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 bad usage.\n";

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "sluice: %s%s%s\n(see sluice --help)\n", msg, arg ? ": " : "", arg ? arg : "");
    return 2;
}

static int parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("sluice %s\n", sluice_version());
        return 0;
    }
    const char *cmd = argv[1];
    bool serve = strcmp(cmd, "serve") == 0, send = strcmp(cmd, "send") == 0,
         recv = strcmp(cmd, "recv") == 0;
    if (!serve && !send && !recv) {
        return usage_error("unknown command", cmd);
    }
    tool_opts o;
    memset(&o, 0, sizeof o);
    o.http = "127.0.0.1:8080";
    o.udp = "127.0.0.1:0";
    o.max_sessions = 16;
    o.max_conns = 64;
    o.max_message = 262144;
    o.timeout_s = 120;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strncmp(a, "--", 2) == 0 && strcmp(a, "--verbose") != 0 &&
                     strcmp(a, "--relay-only") != 0;
        if (takes && !v) {
            return usage_error("missing value for", a);
        }
        if (strcmp(a, "--verbose") == 0) {
            o.verbose = true;
        } else if (!serve && strcmp(a, "--relay-only") == 0) {
            o.relay_only = true;
        } else if (serve && strcmp(a, "--http") == 0) {
            o.http = v, i++;
        } else if (serve && strcmp(a, "--udp") == 0) {
            o.udp = v, i++;
        } else if (serve && strcmp(a, "--max-sessions") == 0) {
            if (parse_size(v, 1, 4096, &o.max_sessions) != 0) {
                return usage_error("--max-sessions wants 1..4096", v);
            }
            i++;
        } else if (serve && strcmp(a, "--max-conns") == 0) {
            if (parse_size(v, 2, 65536, &o.max_conns) != 0) {
                return usage_error("--max-conns wants 2..65536", v);
            }
            i++;
        } else if (strcmp(a, "--max-message") == 0) {
            if (parse_size(v, 1024, 16u << 20, &o.max_message) != 0) {
                return usage_error("--max-message wants 1024..16777216", v);
            }
            i++;
        } else if (!serve && strcmp(a, "--signal") == 0) {
            o.signal = v, i++;
        } else if (recv && strcmp(a, "--out") == 0) {
            o.out = v, i++;
        } else if (!serve && strcmp(a, "--bind") == 0) {
            o.bind = v, i++;
        } else if (!serve && strcmp(a, "--timeout") == 0) {
            o.timeout_s = atof(v);
            if (!(o.timeout_s > 0)) {
                return usage_error("--timeout wants seconds > 0", v);
            }
            i++;
        } else if (strcmp(a, "--stun") == 0 || strcmp(a, "--turn") == 0) {
            if (o.nice >= TOOL_MAX_ICE_URLS) {
                return usage_error("too many ICE servers", v);
            }
            sluice_ice_url u;
            if (sluice_ice_url_parse(v, &u) != 0 ||
                ((u.scheme == SLUICE_ICE_SCHEME_TURN || u.scheme == SLUICE_ICE_SCHEME_TURNS) !=
                 (strcmp(a, "--turn") == 0))) {
                return usage_error("bad ICE server URL", v);
            }
            o.ice_urls[o.nice++] = v, i++;
        } else if (strcmp(a, "--turn-user") == 0) {
            o.turn_user = v, i++;
        } else if (strcmp(a, "--turn-pass") == 0) {
            o.turn_pass = v, i++;
        } else if (send && !o.file && a[0] != '-') {
            o.file = a;
        } else {
            return usage_error("unexpected argument", a);
        }
    }
    if (o.relay_only && o.nice == 0) {
        return usage_error("--relay-only needs a --turn server", NULL);
    }
    if (send && !o.file) {
        return usage_error("send needs a FILE", NULL);
    }
    if (!serve && !o.signal) {
        return usage_error("--signal ws://HOST:PORT/ws?room=NAME is required", NULL);
    }
    if (!serve) {
        char host[256], target[1024], hosthdr[300];
        uint16_t port;
        if (tool_parse_ws_url(o.signal, host, sizeof host, &port, target, sizeof target, hosthdr,
                              sizeof hosthdr) != 0) {
            return usage_error("--signal wants ws://HOST[:PORT]/ws?room=NAME", o.signal);
        }
        if (recv && !strstr(target, "room=")) {
            return usage_error("recv needs a room: ws://HOST[:PORT]/ws?room=NAME", o.signal);
        }
    }
    sluice_config cfg;
    sluice_ice_server servers[TOOL_MAX_ICE_URLS];
    tool_config(&o, &cfg, servers);
    if (sluice_config_validate(&cfg) != 0) {
        return usage_error("bad ICE configuration (turn: needs --turn-user and --turn-pass)",
                           NULL);
    }
    if (serve) {
        return tool_serve(&o);
    }
    return tool_xfer(&o, send);
}
