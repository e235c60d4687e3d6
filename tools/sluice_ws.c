/* HTTP/1.1 + WebSocket codec (RFC 6455) for the `sluice` tool; see sluice_ws.h. */
#include "sluice_ws.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 6455 section 1.3: the GUID appended to the key before hashing. */
static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* One read of the caller may add this much beyond a pending frame or header. */
#define WS_FEED_SLACK 65536u
/* The largest frame header: 2 + 8 (length) + 4 (mask). */
#define WS_FRAME_HDR_MAX 14u

void ws_limits_default(ws_limits *l)
{
    l->max_header = 8192;
    l->max_message = 1u << 20;
    l->max_out = (4u << 20) + l->max_message;
}

int ws_init(ws_conn *ws, bool client, const ws_limits *lim)
{
    memset(ws, 0, sizeof *ws);
    ws->client = client;
    if (lim) {
        ws->lim = *lim;
    } else {
        ws_limits_default(&ws->lim);
    }
    if (ws->lim.max_header < 256 || ws->lim.max_message == 0 ||
        ws->lim.max_out < ws->lim.max_message + WS_FRAME_HDR_MAX) {
        return -1;
    }
    return 0;
}

void ws_free(ws_conn *ws)
{
    free(ws->in);
    free(ws->msg);
    free(ws->out);
    memset(ws, 0, sizeof *ws);
}

/* Grow `*buf` to hold `need` bytes, never above `limit`. */
static int grow(uint8_t **buf, size_t *cap, size_t need, size_t limit)
{
    if (need <= *cap) {
        return 0;
    }
    if (need > limit) {
        return -1;
    }
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < need) {
        ncap = ncap > limit / 2 ? limit : ncap * 2;
    }
    uint8_t *p = realloc(*buf, ncap);
    if (!p) {
        return -1;
    }
    *buf = p;
    *cap = ncap;
    return 0;
}

static size_t in_limit(const ws_conn *ws)
{
    size_t a = ws->lim.max_header, b = ws->lim.max_message + WS_FRAME_HDR_MAX;
    return (a > b ? a : b) + WS_FEED_SLACK;
}

int ws_feed(ws_conn *ws, const uint8_t *data, size_t len)
{
    if (ws->phase == WS_PHASE_DONE || len == 0) {
        return 0; /* nothing more is read after a close or a failure */
    }
    if (ws->in_len + len > in_limit(ws) ||
        grow(&ws->in, &ws->in_cap, ws->in_len + len, in_limit(ws)) != 0) {
        ws->overflow = true;
        return -1;
    }
    memcpy(ws->in + ws->in_len, data, len);
    ws->in_len += len;
    ws->bytes_in += len;
    return 0;
}

static void in_consume(ws_conn *ws, size_t n)
{
    memmove(ws->in, ws->in + n, ws->in_len - n);
    ws->in_len -= n;
}

/* Room for `len` more output bytes (compacting first); NULL beyond max_out. */
static uint8_t *out_reserve(ws_conn *ws, size_t len)
{
    if (ws->out_off > 0 && ws->out_len + len > ws->out_cap) {
        memmove(ws->out, ws->out + ws->out_off, ws->out_len - ws->out_off);
        ws->out_len -= ws->out_off;
        ws->out_off = 0;
    }
    if (grow(&ws->out, &ws->out_cap, ws->out_len + len, ws->lim.max_out) != 0) {
        return NULL;
    }
    return ws->out + ws->out_len;
}

static int out_append(ws_conn *ws, const void *data, size_t len)
{
    uint8_t *q = out_reserve(ws, len);
    if (!q) {
        return -1;
    }
    memcpy(q, data, len);
    ws->out_len += len;
    ws->bytes_out += len;
    return 0;
}

void ws_out_consume(ws_conn *ws, size_t n)
{
    size_t pending = ws->out_len - ws->out_off;
    ws->out_off += n < pending ? n : pending;
    if (ws->out_off == ws->out_len) {
        ws->out_off = ws->out_len = 0;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Frames                                                                               */
/* ------------------------------------------------------------------------------------ */

static void next_mask(ws_conn *ws, uint8_t mask[4])
{
    if (RAND_bytes(mask, 4) != 1) {
        /* Masking protects proxies from crafted payloads (RFC 6455 section 10.3); a
         * predictable key only weakens that, it does not break the protocol. */
        uint32_t v = ++ws->mask_counter * 2654435761u;
        memcpy(mask, &v, 4);
    }
}

/* Queue one frame (FIN set: we never fragment what we send). */
static int put_frame(ws_conn *ws, uint8_t opcode, const uint8_t *p, size_t len)
{
    uint8_t hdr[WS_FRAME_HDR_MAX];
    size_t h = 0;
    hdr[h++] = (uint8_t)(0x80 | opcode);
    uint8_t maskbit = ws->client ? 0x80 : 0;
    if (len < 126) {
        hdr[h++] = (uint8_t)(maskbit | len);
    } else if (len <= 0xFFFF) {
        hdr[h++] = (uint8_t)(maskbit | 126);
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = (uint8_t)(maskbit | 127);
        for (int i = 7; i >= 0; i--) {
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
        }
    }
    uint8_t mask[4] = {0};
    if (ws->client) {
        next_mask(ws, mask);
        memcpy(hdr + h, mask, 4);
        h += 4;
    }
    uint8_t *q = out_reserve(ws, h + len);
    if (!q) {
        return -1;
    }
    memcpy(q, hdr, h);
    if (len) {
        memcpy(q + h, p, len);
    }
    if (ws->client) {
        for (size_t i = 0; i < len; i++) {
            q[h + i] ^= mask[i & 3];
        }
    }
    ws->out_len += h + len;
    ws->bytes_out += h + len;
    return 0;
}

int ws_send(ws_conn *ws, const void *data, size_t len, bool is_text)
{
    if (ws->phase != WS_PHASE_OPEN || ws->close_sent || len > ws->lim.max_message) {
        return -1;
    }
    if (put_frame(ws, is_text ? 1 : 2, data, len) != 0) {
        return -1;
    }
    ws->messages_out++;
    return 0;
}

int ws_close(ws_conn *ws, uint16_t code, const char *reason)
{
    if (ws->close_sent) {
        return -1;
    }
    if (ws->phase == WS_PHASE_OPEN) {
        uint8_t p[125];
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof p - 2) {
            rl = sizeof p - 2;
        }
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        if (rl) {
            memcpy(p + 2, reason, rl);
        }
        /* 1005/1006/1015 must not be sent (RFC 6455 section 7.4.1): send an empty body. */
        size_t n = (code == 1005 || code == 1006 || code == 1015) ? 0 : 2 + rl;
        put_frame(ws, 8, p, n);
        ws->close_sent = true;
    }
    ws->phase = WS_PHASE_DONE;
    return 0;
}

/* Fail the connection: a close frame with `code` when open, an HTTP status while reading
 * the header (server), and the ERROR event. */
static int ws_fail(ws_conn *ws, ws_event *ev, uint16_t code, const char *reason)
{
    snprintf(ws->reason, sizeof ws->reason, "%s", reason);
    if (ws->phase == WS_PHASE_OPEN) {
        ws_close(ws, code, reason);
    } else if (ws->phase == WS_PHASE_HEADER && !ws->client) {
        char body[160];
        int n = snprintf(body, sizeof body, "%s\n", reason);
        ws->phase = WS_PHASE_DECIDE;
        ws_http_respond(ws, code, "text/plain", body, (size_t)n);
    }
    ws->phase = WS_PHASE_DONE;
    ws->in_len = 0;
    memset(ev, 0, sizeof *ev);
    ev->type = WS_EV_ERROR;
    ev->code = code;
    ev->reason = ws->reason;
    return 1;
}

bool ws_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i <= n) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

/* RFC 6455 section 7.4: codes a peer may send. */
static bool close_code_valid(uint16_t c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

static int parse_frame(ws_conn *ws, ws_event *ev)
{
    if (ws->in_len < 2) {
        return 0;
    }
    const uint8_t *p = ws->in;
    bool fin = p[0] & 0x80;
    uint8_t op = p[0] & 0x0F;
    bool masked = p[1] & 0x80;
    uint64_t plen = p[1] & 0x7F;
    size_t h = 2;
    if (p[0] & 0x70) {
        return ws_fail(ws, ev, 1002, "reserved bits set (no extension was negotiated)");
    }
    if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10) {
        return ws_fail(ws, ev, 1002, "unknown opcode");
    }
    if (masked == ws->client) {
        /* RFC 6455 section 5.1: client frames are masked, server frames are not. */
        return ws_fail(ws, ev, 1002, ws->client ? "masked frame from the server"
                                             : "unmasked frame from the client");
    }
    bool control = op >= 8;
    if (control && (!fin || plen > 125)) {
        return ws_fail(ws, ev, 1002, "fragmented or oversized control frame");
    }
    if (!control && op == 0 && !ws->in_message) {
        return ws_fail(ws, ev, 1002, "continuation frame without a message");
    }
    if (!control && op != 0 && ws->in_message) {
        return ws_fail(ws, ev, 1002, "new message inside a fragmented one");
    }
    if (plen == 126) {
        if (ws->in_len < 4) {
            return 0;
        }
        plen = ((uint64_t)p[2] << 8) | p[3];
        h = 4;
    } else if (plen == 127) {
        if (ws->in_len < 10) {
            return 0;
        }
        if (p[2] & 0x80) {
            return ws_fail(ws, ev, 1002, "64-bit length with the top bit set");
        }
        plen = 0;
        for (int i = 0; i < 8; i++) {
            plen = (plen << 8) | p[2 + i];
        }
        h = 10;
    }
    size_t already = ws->in_message ? ws->msg_len : 0;
    if (!control && plen > ws->lim.max_message - already) {
        return ws_fail(ws, ev, 1009, "message too big");
    }
    size_t mh = masked ? 4 : 0;
    if (ws->in_len < h + mh + plen) {
        return 0; /* bounded: plen <= max_message, and ws_feed() bounds in_len */
    }
    uint8_t *payload = ws->in + h + mh;
    if (masked) {
        const uint8_t *mask = ws->in + h;
        for (size_t i = 0; i < plen; i++) {
            payload[i] ^= mask[i & 3];
        }
    }
    size_t n = (size_t)plen, total = h + mh + n;
    ws->frames_in++;
    if (op == 9) { /* ping: answer with the same payload (section 5.5.2) */
        if (!ws->close_sent && put_frame(ws, 10, payload, n) != 0) {
            return ws_fail(ws, ev, 1008, "output buffer full");
        }
        in_consume(ws, total);
        return -1; /* no event: go on */
    }
    if (op == 10) {
        in_consume(ws, total);
        return -1;
    }
    if (op == 8) {
        uint16_t code = 1005;
        if (n == 1) {
            return ws_fail(ws, ev, 1002, "close frame with a 1-byte body");
        }
        if (n >= 2) {
            code = (uint16_t)((payload[0] << 8) | payload[1]);
            if (!close_code_valid(code)) {
                return ws_fail(ws, ev, 1002, "invalid close code");
            }
            if (!ws_utf8_valid(payload + 2, n - 2)) {
                return ws_fail(ws, ev, 1007, "close reason is not UTF-8");
            }
        }
        size_t rl = n >= 2 ? n - 2 : 0;
        if (rl >= sizeof ws->reason) {
            rl = sizeof ws->reason - 1;
        }
        memcpy(ws->reason, payload + (n >= 2 ? 2 : 0), rl);
        ws->reason[rl] = '\0';
        ws->close_received = true;
        /* Echo the status code (section 5.5.1). */
        ws_close(ws, code == 1005 ? 1000 : code, "");
        ws->in_len = 0;
        memset(ev, 0, sizeof *ev);
        ev->type = WS_EV_CLOSE;
        ev->code = code;
        ev->reason = ws->reason;
        return 1;
    }
    /* data frame */
    if (op != 0) {
        ws->in_message = true;
        ws->msg_text = op == 1;
        ws->msg_len = 0;
    }
    if (grow(&ws->msg, &ws->msg_cap, ws->msg_len + n + 1, ws->lim.max_message + 1) != 0) {
        return ws_fail(ws, ev, 1009, "out of memory for the message");
    }
    memcpy(ws->msg + ws->msg_len, payload, n);
    ws->msg_len += n;
    in_consume(ws, total);
    if (!fin) {
        return -1;
    }
    ws->in_message = false;
    if (ws->msg_text && !ws_utf8_valid(ws->msg, ws->msg_len)) {
        return ws_fail(ws, ev, 1007, "text message is not UTF-8");
    }
    ws->msg[ws->msg_len] = '\0'; /* convenience for text; not counted in len */
    ws->msg_ready = true;
    ws->messages_in++;
    memset(ev, 0, sizeof *ev);
    ev->type = WS_EV_MESSAGE;
    ev->data = ws->msg;
    ev->len = ws->msg_len;
    ev->is_text = ws->msg_text;
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* HTTP header                                                                          */
/* ------------------------------------------------------------------------------------ */

int ws_accept_value(const char *key, size_t key_len, char out[29])
{
    uint8_t md[20];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, key, key_len) == 1 &&
             EVP_DigestUpdate(ctx, WS_GUID, sizeof WS_GUID - 1) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        return -1;
    }
    return EVP_EncodeBlock((unsigned char *)out, md, 20) == 28 ? 0 : -1;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
    size_t bl = strlen(b);
    if (alen != bl) {
        return false;
    }
    for (size_t i = 0; i < bl; i++) {
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) {
            return false;
        }
    }
    return true;
}

/* Does the comma-separated header value contain `token` (case-insensitive)? */
static bool has_token(const char *v, size_t len, const char *token)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && v[j] != ',') {
            j++;
        }
        size_t a = i, b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t')) {
            a++;
        }
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) {
            b--;
        }
        if (ieq(v + a, b - a, token)) {
            return true;
        }
        i = j + 1;
    }
    return false;
}

static bool is_b64(char c)
{
    return isalnum((unsigned char)c) || c == '+' || c == '/';
}

typedef struct hdrs {
    bool upgrade_ws, conn_upgrade, version13, has_version, has_ext;
    const char *key, *accept;
    size_t key_len, accept_len;
} hdrs;

/* Parse the header lines after the first line. Returns 0 or -1 (malformed). */
static int parse_headers(const char *p, const char *end, hdrs *h)
{
    memset(h, 0, sizeof *h);
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol + 1 >= end || eol[1] != '\n') {
            return -1;
        }
        if (eol == p) {
            break; /* the empty line */
        }
        if (*p == ' ' || *p == '\t') {
            return -1; /* obsolete line folding: refused (RFC 9112 section 5.2) */
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p) {
            return -1;
        }
        for (const char *q = p; q < colon; q++) {
            if (*q <= ' ' || *q >= 127) {
                return -1;
            }
        }
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t')) {
            v++;
        }
        const char *ve = eol;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
            ve--;
        }
        size_t nl = (size_t)(colon - p), vl = (size_t)(ve - v);
        if (ieq(p, nl, "upgrade")) {
            h->upgrade_ws = h->upgrade_ws || has_token(v, vl, "websocket");
        } else if (ieq(p, nl, "connection")) {
            h->conn_upgrade = h->conn_upgrade || has_token(v, vl, "upgrade");
        } else if (ieq(p, nl, "sec-websocket-key")) {
            h->key = v, h->key_len = vl;
        } else if (ieq(p, nl, "sec-websocket-accept")) {
            h->accept = v, h->accept_len = vl;
        } else if (ieq(p, nl, "sec-websocket-version")) {
            h->has_version = true;
            h->version13 = vl == 2 && v[0] == '1' && v[1] == '3';
        } else if (ieq(p, nl, "sec-websocket-extensions")) {
            h->has_ext = true;
        }
        p = eol + 2;
    }
    return 0;
}

static int parse_request(ws_conn *ws, ws_event *ev, const char *req, size_t hlen)
{
    const char *end = req + hlen; /* includes the final CRLF CRLF */
    const char *eol = memchr(req, '\r', hlen);
    const char *sp1 = memchr(req, ' ', (size_t)(eol - req));
    if (!sp1) {
        return ws_fail(ws, ev, 400, "bad request line");
    }
    const char *tgt = sp1 + 1;
    const char *sp2 = memchr(tgt, ' ', (size_t)(eol - tgt));
    if (!sp2 || sp2 == tgt) {
        return ws_fail(ws, ev, 400, "bad request line");
    }
    if (!ieq(sp2 + 1, (size_t)(eol - sp2 - 1), "HTTP/1.1") &&
        !ieq(sp2 + 1, (size_t)(eol - sp2 - 1), "HTTP/1.0")) {
        return ws_fail(ws, ev, 400, "unsupported HTTP version");
    }
    if ((size_t)(sp1 - req) != 3 || memcmp(req, "GET", 3) != 0) {
        return ws_fail(ws, ev, 405, "only GET is served");
    }
    size_t tl = (size_t)(sp2 - tgt);
    if (tl >= sizeof ws->target) {
        return ws_fail(ws, ev, 414, "request target too long");
    }
    for (size_t i = 0; i < tl; i++) {
        if (tgt[i] <= ' ' || tgt[i] >= 127) {
            return ws_fail(ws, ev, 400, "bad character in the request target");
        }
    }
    if (tgt[0] != '/') {
        return ws_fail(ws, ev, 400, "request target must start with /");
    }
    memcpy(ws->target, tgt, tl);
    ws->target[tl] = '\0';
    hdrs h;
    if (parse_headers(eol + 2, end, &h) != 0) {
        return ws_fail(ws, ev, 400, "malformed header line");
    }
    memset(ev, 0, sizeof *ev);
    ev->target = ws->target;
    ws->phase = WS_PHASE_DECIDE;
    if (!h.upgrade_ws) {
        ev->type = WS_EV_HTTP_GET;
        return 1;
    }
    /* RFC 6455 section 4.2.1: the handshake's requirements. */
    if (!h.conn_upgrade) {
        ws->phase = WS_PHASE_HEADER;
        return ws_fail(ws, ev, 400, "Upgrade without Connection: Upgrade");
    }
    if (!h.has_version || !h.version13) {
        ws->phase = WS_PHASE_HEADER;
        return ws_fail(ws, ev, 426, "Sec-WebSocket-Version must be 13");
    }
    bool key_ok = h.key && h.key_len == 24 && h.key[22] == '=' && h.key[23] == '=';
    for (size_t i = 0; key_ok && i < 22; i++) {
        key_ok = is_b64(h.key[i]);
    }
    if (!key_ok) {
        ws->phase = WS_PHASE_HEADER;
        return ws_fail(ws, ev, 400, "bad Sec-WebSocket-Key");
    }
    if (ws_accept_value(h.key, h.key_len, ws->accept) != 0) {
        ws->phase = WS_PHASE_HEADER;
        return ws_fail(ws, ev, 500, "SHA-1 failed");
    }
    ev->type = WS_EV_UPGRADE;
    return 1;
}

static int parse_response(ws_conn *ws, ws_event *ev, const char *rsp, size_t hlen)
{
    const char *end = rsp + hlen;
    const char *eol = memchr(rsp, '\r', hlen);
    size_t l1 = (size_t)(eol - rsp);
    if (l1 < 12 || memcmp(rsp, "HTTP/1.1 ", 9) != 0) {
        return ws_fail(ws, ev, 1002, "not an HTTP/1.1 response");
    }
    if (memcmp(rsp + 9, "101", 3) != 0) {
        char r[96];
        snprintf(r, sizeof r, "server refused the upgrade: %.*s", (int)(l1 > 60 ? 60 : l1), rsp);
        return ws_fail(ws, ev, 1002, r);
    }
    hdrs h;
    if (parse_headers(eol + 2, end, &h) != 0) {
        return ws_fail(ws, ev, 1002, "malformed header line in the response");
    }
    if (!h.upgrade_ws || !h.conn_upgrade) {
        return ws_fail(ws, ev, 1002, "101 without Upgrade: websocket / Connection: Upgrade");
    }
    if (!h.accept || h.accept_len != 28 || memcmp(h.accept, ws->accept, 28) != 0) {
        return ws_fail(ws, ev, 1002, "wrong Sec-WebSocket-Accept");
    }
    if (h.has_ext) {
        return ws_fail(ws, ev, 1002, "server chose an extension we did not offer");
    }
    ws->phase = WS_PHASE_OPEN;
    memset(ev, 0, sizeof *ev);
    ev->type = WS_EV_OPEN;
    return 1;
}

static int parse_header(ws_conn *ws, ws_event *ev)
{
    size_t n = ws->in_len;
    const uint8_t *end = NULL;
    for (size_t i = 0; i + 3 < n; i++) {
        if (ws->in[i] == '\r' && ws->in[i + 1] == '\n' && ws->in[i + 2] == '\r' &&
            ws->in[i + 3] == '\n') {
            end = ws->in + i + 4;
            break;
        }
    }
    if (!end) {
        if (n >= ws->lim.max_header) {
            return ws_fail(ws, ev, ws->client ? 1009 : 431, "HTTP header too large");
        }
        return 0;
    }
    size_t hlen = (size_t)(end - ws->in);
    if (hlen > ws->lim.max_header) {
        return ws_fail(ws, ev, ws->client ? 1009 : 431, "HTTP header too large");
    }
    for (size_t i = 0; i < hlen; i++) {
        if (ws->in[i] == 0) {
            return ws_fail(ws, ev, 400, "NUL in the HTTP header");
        }
    }
    /* Work on a private copy so that the rest (frames) can move. */
    char *copy = malloc(hlen);
    if (!copy) {
        return ws_fail(ws, ev, 500, "out of memory");
    }
    memcpy(copy, ws->in, hlen);
    in_consume(ws, hlen);
    int r = ws->client ? parse_response(ws, ev, copy, hlen) : parse_request(ws, ev, copy, hlen);
    free(copy);
    return r;
}

int ws_next_event(ws_conn *ws, ws_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (ws->msg_ready) {
        ws->msg_ready = false;
        ws->msg_len = 0;
    }
    if (ws->overflow) {
        ws->overflow = false;
        if (ws->phase == WS_PHASE_HEADER) {
            return ws_fail(ws, ev, ws->client ? 1009 : 431, "HTTP header too large");
        }
        if (ws->phase != WS_PHASE_DONE) {
            return ws_fail(ws, ev, 1009, "input bound exceeded");
        }
    }
    for (;;) {
        switch (ws->phase) {
        case WS_PHASE_HEADER:
            return parse_header(ws, ev);
        case WS_PHASE_OPEN: {
            int r = parse_frame(ws, ev);
            if (r >= 0) {
                return r;
            }
            break; /* a control frame was handled: look for the next frame */
        }
        case WS_PHASE_DECIDE:
        case WS_PHASE_DONE:
        default:
            return 0;
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* Handshake output                                                                     */
/* ------------------------------------------------------------------------------------ */

int ws_client_start(ws_conn *ws, const char *host, const char *target, const uint8_t key16[16])
{
    if (!ws->client || ws->phase != WS_PHASE_HEADER || ws->out_len) {
        return -1;
    }
    char key[25];
    if (EVP_EncodeBlock((unsigned char *)key, key16, 16) != 24 ||
        ws_accept_value(key, 24, ws->accept) != 0) {
        return -1;
    }
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     target, host, key);
    if (n < 0 || (size_t)n >= sizeof req) {
        return -1;
    }
    return out_append(ws, req, (size_t)n);
}

int ws_accept(ws_conn *ws)
{
    if (ws->client || ws->phase != WS_PHASE_DECIDE || !ws->accept[0]) {
        return -1;
    }
    char rsp[256];
    int n = snprintf(rsp, sizeof rsp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     ws->accept);
    if (out_append(ws, rsp, (size_t)n) != 0) {
        return -1;
    }
    ws->phase = WS_PHASE_OPEN;
    return 0;
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

int ws_http_respond(ws_conn *ws, int status, const char *content_type, const void *body,
                    size_t len)
{
    if (ws->client || ws->phase != WS_PHASE_DECIDE) {
        return -1;
    }
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                     status, status_text(status), content_type, len,
                     status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "");
    ws->phase = WS_PHASE_DONE;
    if (out_append(ws, hdr, (size_t)n) != 0 || (len && out_append(ws, body, len) != 0)) {
        return -1;
    }
    return 0;
}
