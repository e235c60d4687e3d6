/* Shared pieces of the `sluice` command-line tool (tools/sluice.c): options, a TCP
 * WebSocket endpoint driven by poll(), the signaling JSON (the interop protocol:
 * {"type":"offer"|"answer","sdp"}, {"type":"candidate","candidate","mid","index"}) and the
 * file-transfer protocol on the "file" channel. Not part of the library. */
#ifndef SLUICE_TOOL_H
#define SLUICE_TOOL_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli_json.h"
#include "sluice.h"
#include "sluice_ws.h"

#define TOOL_MAX_ICE_URLS 8

/* The demo page, embedded at build time from tools/web/index.html (sluice_web.c). */
extern const unsigned char sluice_web_index[];
extern const size_t sluice_web_index_len;

typedef struct tool_opts {
    /* serve */
    const char *http;     /* "127.0.0.1:8080" */
    const char *udp;      /* "127.0.0.1:0" */
    size_t max_sessions;  /* browser sessions with a sluice peer */
    size_t max_conns;     /* TCP connections in all */
    size_t max_message;   /* WebSocket messages and data-channel messages */
    /* send / recv */
    const char *signal;   /* ws://host:port/ws?room=NAME */
    const char *file;     /* send: the file */
    const char *out;      /* recv: where to store it */
    const char *bind;     /* gather only this local IP */
    double timeout_s;
    /* both */
    const char *ice_urls[TOOL_MAX_ICE_URLS];
    size_t nice;
    const char *turn_user, *turn_pass;
    bool relay_only;      /* send/recv: ICE policy relay (only TURN candidates) */
    bool verbose;
} tool_opts;

/* The subcommands (sluice_serve.c, sluice_xfer.c). Return the exit status. */
int tool_serve(const tool_opts *o);
int tool_xfer(const tool_opts *o, bool sender);

/* A sluice_config from the options; `servers` must outlive the config's use. */
void tool_config(const tool_opts *o, sluice_config *cfg, sluice_ice_server *servers);

sluice_time tool_now_us(void);
void tool_log(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lowercase hex of a SHA-256 digest (65 bytes with the NUL). */
void tool_sha256_hex(EVP_MD_CTX *ctx, char out[65]);

/* Split "host:port" / "[v6]:port" into `host` (no brackets) and `port`. 0 or -1. */
int tool_split_hostport(const char *s, char *host, size_t cap, uint16_t *port);

/* Parse "ws://host[:port]/path" (no TLS). 0 or -1. */
int tool_parse_ws_url(const char *url, char *host, size_t hcap, uint16_t *port, char *target,
                      size_t tcap, char *hosthdr, size_t hhcap);

/* A listening TCP socket on host:port (non-blocking). Returns the fd or -1. */
int tool_tcp_listen(const char *host, uint16_t port, uint16_t *bound_port);
/* A connected TCP socket (blocking connect, then non-blocking). Returns the fd or -1. */
int tool_tcp_connect(const char *host, uint16_t port);

/* Read what the socket has (bounded per call) into the codec. Returns 0, or -1 on EOF
 * or an error (the caller closes). */
int tool_ws_read(int fd, ws_conn *ws);
/* Write what the codec has queued. Returns 0 or -1 (error). */
int tool_ws_write(int fd, ws_conn *ws);

/* Signaling messages as JSON text (cli_str; check .failed). */
void tool_sig_description(cli_str *s, const char *type, const char *sdp);
void tool_sig_candidate(cli_str *s, const char *mid, int index, const char *cand);
/* Apply an "offer"/"answer"/"candidate" message to `pc`. Returns 1 when applied, 0 when
 * the type is not a signaling one (the caller may handle it), or a negative sluice_err. */
int tool_sig_apply(sluice_peer *pc, const cli_json *m, const char *who);

/*
 * The "file" channel protocol (native send/recv and the demo page alike):
 *   sender -> text {"type":"file","name":"x.bin","size":N}
 *   sender -> binary chunks
 *   sender -> text {"type":"end","bytes":N,"sha256":"<hex>"}
 *   receiver -> text {"type":"result","ok":true|false,"bytes":N,"sha256":"<hex>","error":"..."}
 * The receiver hashes what it got; ok means its count and SHA-256 equal the sender's.
 */
typedef struct xfer_rx {
    EVP_MD_CTX *sha;
    uint64_t bytes, size;
    bool active;
    char name[256];           /* from the header, sanitized to a base name */
    void (*on_data)(void *user, const uint8_t *p, size_t n); /* NULL: only hash */
    void *user;
} xfer_rx;

void xfer_rx_free(xfer_rx *x);
/* Feed one message of the "file" channel. Returns 0 (more expected), 1 when a transfer
 * ended (`reply` holds the result message, `*ok` whether it verified, `peer_sha` the
 * sender's hash), or -1 (protocol error, `reply` holds a failed result). */
int xfer_rx_message(xfer_rx *x, const uint8_t *p, size_t n, bool text, cli_str *reply, bool *ok,
                    char mine[65]);

#endif
