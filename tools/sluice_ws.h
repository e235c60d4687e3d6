/*
 * sluice_ws: a small HTTP/1.1 + WebSocket (RFC 6455) codec for the `sluice` tool.
 *
 * Sans-IO: the caller feeds bytes read from a TCP socket with ws_feed(), takes events
 * with ws_next_event(), and writes the bytes of ws_out() to the socket, then calls
 * ws_out_consume(). No socket, no clock, no globals. Every buffer is bounded by the
 * limits given to ws_init(): a request header larger than max_header, a message larger
 * than max_message or output beyond max_out makes the connection fail (WS_EV_ERROR)
 * instead of growing.
 *
 * Server side: the first event is WS_EV_HTTP_GET (plain GET) or WS_EV_UPGRADE (a valid
 * WebSocket upgrade request). The caller answers with ws_http_respond() (then the
 * connection is done once the output is written) or ws_accept() (101 Switching
 * Protocols; then messages flow). Client side: ws_client_start() writes the request;
 * WS_EV_OPEN follows once the server's 101 with the right Sec-WebSocket-Accept arrived.
 *
 * Supported: text and binary messages, fragmentation (reassembled), masking (clients
 * mask, servers require it: RFC 6455 section 5.1), ping (answered with pong), pong
 * (ignored), close (answered, RFC 6455 section 5.5.1). Not supported: extensions
 * (permessage-deflate is simply not negotiated), subprotocols, HTTP keep-alive for
 * plain GETs (each plain GET gets "Connection: close").
 */
#ifndef SLUICE_TOOLS_WS_H
#define SLUICE_TOOLS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ws_event_type {
    WS_EV_NONE = 0,
    WS_EV_HTTP_GET,  /**< server: a plain GET for `target`: answer with ws_http_respond() */
    WS_EV_UPGRADE,   /**< server: a WebSocket upgrade for `target`: ws_accept() or ws_http_respond() */
    WS_EV_OPEN,      /**< client: the server accepted the upgrade */
    WS_EV_MESSAGE,   /**< a whole message: `data`/`len`, `is_text` */
    WS_EV_CLOSE,     /**< the peer sent a close frame (`code`, `reason`); our close is queued */
    WS_EV_ERROR,     /**< protocol violation or a bound exceeded: `reason`; a close is queued
                          when the connection was open; stop reading, flush, then close */
} ws_event_type;

typedef struct ws_event {
    ws_event_type type;
    const char *target;  /**< HTTP_GET / UPGRADE: request target ("/ws?room=a") */
    const uint8_t *data; /**< MESSAGE: payload (valid until the next call on the codec) */
    size_t len;
    bool is_text;
    uint16_t code;       /**< CLOSE: the peer's status code (1005 when none); ERROR: the
                              close code we sent (1002 protocol, 1007 bad UTF-8, 1009 too big)
                              or the HTTP status we answered (400, 405, 431, ...) */
    const char *reason;  /**< CLOSE / ERROR: readable text ("" when none) */
} ws_event;

typedef enum ws_phase {
    WS_PHASE_HEADER = 0, /**< reading the HTTP request (server) or response (client) */
    WS_PHASE_DECIDE,     /**< server: request read, waiting for ws_accept()/ws_http_respond() */
    WS_PHASE_OPEN,       /**< WebSocket frames flow */
    WS_PHASE_DONE,       /**< nothing more is read: flush the output, then close the socket */
} ws_phase;

typedef struct ws_limits {
    size_t max_header;  /**< bytes of HTTP header (default 8192) */
    size_t max_message; /**< bytes of one (reassembled) message (default 1 MiB) */
    size_t max_out;     /**< bytes waiting in the output buffer (default 4 MiB + max_message) */
} ws_limits;

typedef struct ws_conn {
    bool client;
    ws_phase phase;
    ws_limits lim;
    /* input: bytes fed and not yet parsed */
    uint8_t *in;
    size_t in_len, in_cap;
    /* message being reassembled from fragments */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    bool in_message, msg_text;
    /* output: bytes to write to the socket */
    uint8_t *out;
    size_t out_len, out_cap, out_off;
    bool close_sent, close_received;
    /* header results */
    char target[1024];
    char accept[32];     /**< client: the Sec-WebSocket-Accept we expect */
    char reason[128];
    bool overflow;       /**< ws_feed() refused bytes: fail at the next event */
    bool msg_ready;      /**< a MESSAGE event was handed out: reset msg at the next call */
    uint32_t mask_counter; /**< client masks when RAND_bytes fails */
    /* counters */
    uint64_t frames_in, messages_in, messages_out, bytes_in, bytes_out;
} ws_conn;

void ws_limits_default(ws_limits *l);

/** Initialise `ws` (server when `client` is false). `lim` NULL = defaults. Returns 0 or -1. */
int ws_init(ws_conn *ws, bool client, const ws_limits *lim);
void ws_free(ws_conn *ws);

/** Feed bytes read from the socket. Returns 0, or -1 when they do not fit (the header or
 *  a frame would exceed its bound: the connection fails at the next ws_next_event()). */
int ws_feed(ws_conn *ws, const uint8_t *data, size_t len);

/** Take the next event; returns 1 with `ev` filled, 0 when more bytes are needed. */
int ws_next_event(ws_conn *ws, ws_event *ev);

/** Client: queue the upgrade request. `key16` are 16 random bytes (RFC 6455 section 4.1).
 *  Returns 0 or -1 (too long). */
int ws_client_start(ws_conn *ws, const char *host, const char *target, const uint8_t key16[16]);

/** Server: accept the pending upgrade (101). Returns 0 or -1 (not in DECIDE phase). */
int ws_accept(ws_conn *ws);

/** Server: answer the pending request with `status` and a body, then the connection is
 *  done (Connection: close). Returns 0 or -1. */
int ws_http_respond(ws_conn *ws, int status, const char *content_type, const void *body,
                    size_t len);

/** Queue one message (text or binary). A client masks it with a fresh random key
 *  (OpenSSL RAND_bytes). Returns 0, or -1 (not open, too large, or output bound reached). */
int ws_send(ws_conn *ws, const void *data, size_t len, bool is_text);

/** Queue a close frame with `code` and `reason` (once); nothing more is read or sent
 *  (phase DONE). Returns 0 or -1. */
int ws_close(ws_conn *ws, uint16_t code, const char *reason);

/** The bytes waiting to be written. */
static inline const uint8_t *ws_out(const ws_conn *ws, size_t *len)
{
    *len = ws->out_len - ws->out_off;
    return ws->out + ws->out_off;
}
/** `n` bytes of ws_out() were written. */
void ws_out_consume(ws_conn *ws, size_t n);
/** Bytes waiting in the output buffer. */
static inline size_t ws_out_pending(const ws_conn *ws)
{
    return ws->out_len - ws->out_off;
}

/** Sec-WebSocket-Accept for `key` (RFC 6455 section 4.2.2): base64(SHA-1(key + GUID)).
 *  `out` gets 28 characters and a NUL. Returns 0 or -1. */
int ws_accept_value(const char *key, size_t key_len, char out[29]);

/** True when `s` (len bytes) is valid UTF-8 (RFC 3629: no overlongs, no surrogates). */
bool ws_utf8_valid(const uint8_t *s, size_t len);

#endif
