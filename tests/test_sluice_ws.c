/* The HTTP/WebSocket codec of the `sluice` tool (tools/sluice_ws.c): handshake, frame
 * codec both ways, and hostile input (oversized lengths, unmasked client frames, bad
 * opcodes, bad UTF-8, slowloris-style partial headers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../tools/sluice_ws.c"

static const char REQ[] = "GET /ws?room=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                          "Connection: keep-alive, Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";

/* Move everything `from` has queued into `to`. */
static void pipe_bytes(ws_conn *from, ws_conn *to)
{
    size_t len;
    const uint8_t *p = ws_out(from, &len);
    if (len) {
        assert_int_equal(ws_feed(to, p, len), 0);
        ws_out_consume(from, len);
    }
}

static size_t mkframe(uint8_t *out, bool fin, uint8_t op, bool masked, const void *payload,
                      size_t len)
{
    size_t h = 0;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | op);
    uint8_t mb = masked ? 0x80 : 0;
    if (len < 126) {
        out[h++] = (uint8_t)(mb | len);
    } else if (len < 65536) {
        out[h++] = mb | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = mb | 127;
        for (int i = 7; i >= 0; i--) {
            out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
        }
    }
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    if (masked) {
        memcpy(out + h, mask, 4);
        h += 4;
    }
    for (size_t i = 0; i < len; i++) {
        out[h + i] = ((const uint8_t *)payload)[i] ^ (masked ? mask[i & 3] : 0);
    }
    return h + len;
}

/* A server that accepted REQ. */
static void open_server(ws_conn *s, const ws_limits *lim)
{
    assert_int_equal(ws_init(s, false, lim), 0);
    assert_int_equal(ws_feed(s, (const uint8_t *)REQ, sizeof REQ - 1), 0);
    ws_event ev;
    assert_int_equal(ws_next_event(s, &ev), 1);
    assert_int_equal(ev.type, WS_EV_UPGRADE);
    assert_string_equal(ev.target, "/ws?room=a");
    assert_int_equal(ws_accept(s), 0);
    size_t len;
    ws_out(s, &len);
    ws_out_consume(s, len);
}

static void expect_error(ws_conn *s, uint16_t code)
{
    ws_event ev;
    assert_int_equal(ws_next_event(s, &ev), 1);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.code, code);
    assert_int_equal(s->phase, WS_PHASE_DONE);
    assert_int_equal(ws_next_event(s, &ev), 0);
}

/* The close frame the server queued carries `code`. */
static void expect_close_frame(ws_conn *s, uint16_t code)
{
    size_t len;
    const uint8_t *p = ws_out(s, &len);
    assert_true(len >= 4);
    assert_int_equal(p[0], 0x88);
    assert_int_equal((p[2] << 8) | p[3], code);
}

static void test_ws_accept_value_matches_rfc6455_example(void **state)
{
    (void)state;
    char out[29];
    assert_int_equal(ws_accept_value("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 section 1.3 */
}

static void test_ws_client_and_server_exchange_messages_of_every_length_class(void **state)
{
    (void)state;
    ws_conn c, s;
    assert_int_equal(ws_init(&c, true, NULL), 0);
    assert_int_equal(ws_init(&s, false, NULL), 0);
    const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    assert_int_equal(ws_client_start(&c, "127.0.0.1:8080", "/ws", key), 0);
    pipe_bytes(&c, &s);
    ws_event ev;
    assert_int_equal(ws_next_event(&s, &ev), 1);
    assert_int_equal(ev.type, WS_EV_UPGRADE);
    assert_string_equal(ev.target, "/ws");
    assert_int_equal(ws_send(&c, "x", 1, true), -1); /* not open yet */
    assert_int_equal(ws_accept(&s), 0);
    pipe_bytes(&s, &c);
    assert_int_equal(ws_next_event(&c, &ev), 1);
    assert_int_equal(ev.type, WS_EV_OPEN);

    static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 100000};
    uint8_t *buf = malloc(100000);
    for (size_t i = 0; i < 100000; i++) {
        buf[i] = (uint8_t)(i * 7 + 3);
    }
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        bool text = k % 2 == 0;
        if (text) {
            memset(buf, 'a' + (int)k, sizes[k]);
        }
        /* client -> server (masked) */
        assert_int_equal(ws_send(&c, buf, sizes[k], text), 0);
        size_t ol;
        const uint8_t *o = ws_out(&c, &ol);
        assert_true(o[1] & 0x80); /* masked */
        pipe_bytes(&c, &s);
        assert_int_equal(ws_next_event(&s, &ev), 1);
        assert_int_equal(ev.type, WS_EV_MESSAGE);
        assert_int_equal(ev.len, sizes[k]);
        assert_int_equal(ev.is_text, text);
        assert_memory_equal(ev.data, buf, sizes[k]);
        /* server -> client (not masked) */
        assert_int_equal(ws_send(&s, buf, sizes[k], text), 0);
        o = ws_out(&s, &ol);
        assert_false(o[1] & 0x80);
        pipe_bytes(&s, &c);
        assert_int_equal(ws_next_event(&c, &ev), 1);
        assert_int_equal(ev.type, WS_EV_MESSAGE);
        assert_int_equal(ev.len, sizes[k]);
        if (sizes[k]) {
            assert_memory_equal(ev.data, buf, sizes[k]);
        }
    }
    free(buf);
    assert_int_equal(ws_next_event(&s, &ev), 0);
    ws_free(&c);
    ws_free(&s);
}

static void test_ws_handshake_and_frames_fed_one_byte_at_a_time(void **state)
{
    (void)state;
    ws_conn s;
    ws_event ev;
    assert_int_equal(ws_init(&s, false, NULL), 0);
    uint8_t all[512];
    size_t n = sizeof REQ - 1;
    memcpy(all, REQ, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ws_feed(&s, all + i, 1), 0);
        int r = ws_next_event(&s, &ev);
        assert_int_equal(r, i + 1 == n ? 1 : 0);
    }
    assert_int_equal(ev.type, WS_EV_UPGRADE);
    assert_int_equal(ws_accept(&s), 0);
    n = mkframe(all, true, 1, true, "hello", 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ws_feed(&s, all + i, 1), 0);
        int r = ws_next_event(&s, &ev);
        assert_int_equal(r, i + 1 == n ? 1 : 0);
    }
    assert_int_equal(ev.type, WS_EV_MESSAGE);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "hello", 5);
    ws_free(&s);
}

static void test_ws_plain_get_is_answered_and_the_connection_is_done(void **state)
{
    (void)state;
    ws_conn s;
    ws_event ev;
    assert_int_equal(ws_init(&s, false, NULL), 0);
    const char req[] = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
    ws_feed(&s, (const uint8_t *)req, sizeof req - 1);
    assert_int_equal(ws_next_event(&s, &ev), 1);
    assert_int_equal(ev.type, WS_EV_HTTP_GET);
    assert_string_equal(ev.target, "/index.html");
    assert_int_equal(ws_accept(&s), -1); /* not an upgrade */
    assert_int_equal(ws_http_respond(&s, 200, "text/html", "<p>hi</p>", 9), 0);
    size_t len;
    const uint8_t *p = ws_out(&s, &len);
    assert_true(len > 20 && memcmp(p, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(memmem(p, len, "Content-Length: 9\r\n", 19));
    assert_int_equal(s.phase, WS_PHASE_DONE);
    assert_int_equal(ws_feed(&s, (const uint8_t *)req, sizeof req - 1), 0); /* ignored */
    assert_int_equal(ws_next_event(&s, &ev), 0);
    ws_free(&s);
}

static void test_ws_reassembles_fragments_and_answers_a_ping_between_them(void **state)
{
    (void)state;
    ws_conn s;
    ws_event ev;
    open_server(&s, NULL);
    uint8_t f[64];
    size_t n = mkframe(f, false, 1, true, "Hel", 3);
    n += mkframe(f + n, true, 9, true, "x", 1);
    n += mkframe(f + n, false, 0, true, "l", 1);
    n += mkframe(f + n, true, 0, true, "o", 1);
    ws_feed(&s, f, n);
    assert_int_equal(ws_next_event(&s, &ev), 1);
    assert_int_equal(ev.type, WS_EV_MESSAGE);
    assert_true(ev.is_text);
    assert_int_equal(ev.len, 5);
    assert_memory_equal(ev.data, "Hello", 5);
    size_t len;
    const uint8_t *p = ws_out(&s, &len);
    assert_int_equal(len, 3); /* the pong: FIN|10, length 1, "x" */
    assert_int_equal(p[0], 0x8A);
    assert_int_equal(p[1], 1);
    assert_int_equal(p[2], 'x');
    ws_free(&s);
}

static void test_ws_server_fails_on_an_unmasked_client_frame(void **state)
{
    (void)state;
    ws_conn s;
    open_server(&s, NULL);
    uint8_t f[32];
    size_t n = mkframe(f, true, 1, false, "hi", 2);
    ws_feed(&s, f, n);
    expect_error(&s, 1002);
    expect_close_frame(&s, 1002);
    assert_int_equal(ws_send(&s, "x", 1, true), -1);
    ws_free(&s);
}

static void test_ws_client_fails_on_a_masked_server_frame(void **state)
{
    (void)state;
    ws_conn c;
    assert_int_equal(ws_init(&c, true, NULL), 0);
    c.phase = WS_PHASE_OPEN;
    uint8_t f[32];
    ws_feed(&c, f, mkframe(f, true, 1, true, "hi", 2));
    expect_error(&c, 1002);
    ws_free(&c);
}

static void test_ws_fails_on_oversized_lengths_before_the_payload_arrives(void **state)
{
    (void)state;
    ws_limits lim;
    ws_limits_default(&lim);
    lim.max_message = 1000;
    lim.max_out = 100000;
    ws_conn s;
    /* 64-bit length with the top bit set */
    open_server(&s, &lim);
    const uint8_t huge[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0};
    ws_feed(&s, huge, sizeof huge);
    expect_error(&s, 1002);
    ws_free(&s);
    /* 2^40 bytes announced: refused at once (1009), nothing buffered for it */
    open_server(&s, &lim);
    const uint8_t big[] = {0x82, 0xFF, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    ws_feed(&s, big, sizeof big);
    expect_error(&s, 1009);
    expect_close_frame(&s, 1009);
    ws_free(&s);
    /* 1001 bytes: one over the bound */
    open_server(&s, &lim);
    const uint8_t over[] = {0x82, 0xFE, 0x03, 0xE9, 1, 2, 3, 4};
    ws_feed(&s, over, sizeof over);
    expect_error(&s, 1009);
    ws_free(&s);
    /* fragments that add up to more than the bound */
    open_server(&s, &lim);
    uint8_t *f = malloc(4000), *payload = calloc(1, 600);
    size_t n = mkframe(f, false, 2, true, payload, 600);
    n += mkframe(f + n, true, 0, true, payload, 600);
    ws_feed(&s, f, n);
    expect_error(&s, 1009);
    free(f);
    free(payload);
    ws_free(&s);
}

static void test_ws_fails_on_bad_opcodes_reserved_bits_and_bad_control_frames(void **state)
{
    (void)state;
    static const struct {
        uint8_t b0;
        uint8_t len;
    } cases[] = {
        {0x83, 0},  /* opcode 3 (reserved data) */
        {0x8B, 0},  /* opcode 11 (reserved control) */
        {0xC1, 0},  /* RSV1 (compression not negotiated) */
        {0x09, 0},  /* fragmented ping */
        {0x89, 126}, /* ping longer than 125 */
        {0x80, 1},  /* continuation without a message */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ws_conn s;
        open_server(&s, NULL);
        uint8_t f[8] = {cases[i].b0, (uint8_t)(0x80 | cases[i].len), 0, 200, 0, 0, 0, 0};
        ws_feed(&s, f, sizeof f);
        expect_error(&s, 1002);
        ws_free(&s);
    }
    /* a new message inside a fragmented one */
    ws_conn s;
    open_server(&s, NULL);
    uint8_t f[32];
    size_t n = mkframe(f, false, 1, true, "a", 1);
    n += mkframe(f + n, true, 1, true, "b", 1);
    ws_feed(&s, f, n);
    expect_error(&s, 1002);
    ws_free(&s);
}

static void test_ws_fails_on_text_that_is_not_utf8(void **state)
{
    (void)state;
    ws_conn s;
    open_server(&s, NULL);
    uint8_t f[32];
    const uint8_t bad[] = {'o', 'k', 0xC0, 0xAF}; /* overlong '/' */
    ws_feed(&s, f, mkframe(f, true, 1, true, bad, sizeof bad));
    expect_error(&s, 1007);
    ws_free(&s);
    /* binary may hold anything */
    open_server(&s, NULL);
    ws_feed(&s, f, mkframe(f, true, 2, true, bad, sizeof bad));
    ws_event ev;
    assert_int_equal(ws_next_event(&s, &ev), 1);
    assert_int_equal(ev.type, WS_EV_MESSAGE);
    ws_free(&s);
    const uint8_t surrogate[] = {0xED, 0xA0, 0x80};
    const uint8_t four[] = {0xF0, 0x9F, 0x98, 0x80};
    const uint8_t toobig[] = {0xF4, 0x90, 0x80, 0x80};
    const uint8_t cut[] = {0xE2, 0x82};
    assert_false(ws_utf8_valid(surrogate, sizeof surrogate));
    assert_true(ws_utf8_valid(four, sizeof four));
    assert_false(ws_utf8_valid(toobig, sizeof toobig));
    assert_false(ws_utf8_valid(cut, sizeof cut));
}

static void test_ws_close_is_answered_with_the_same_code(void **state)
{
    (void)state;
    ws_conn s;
    ws_event ev;
    open_server(&s, NULL);
    uint8_t f[32];
    const uint8_t body[] = {0x03, 0xE8, 'b', 'y', 'e'};
    ws_feed(&s, f, mkframe(f, true, 8, true, body, sizeof body));
    assert_int_equal(ws_next_event(&s, &ev), 1);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.code, 1000);
    assert_string_equal(ev.reason, "bye");
    expect_close_frame(&s, 1000);
    assert_int_equal(s.phase, WS_PHASE_DONE);
    ws_free(&s);
    /* a close code nobody may send */
    open_server(&s, NULL);
    const uint8_t bad[] = {0x03, 0xED}; /* 1005 */
    ws_feed(&s, f, mkframe(f, true, 8, true, bad, sizeof bad));
    expect_error(&s, 1002);
    ws_free(&s);
}

static void test_ws_slowloris_header_is_bounded(void **state)
{
    (void)state;
    ws_limits lim;
    ws_limits_default(&lim);
    lim.max_header = 1024;
    ws_conn s;
    ws_event ev;
    assert_int_equal(ws_init(&s, false, &lim), 0);
    const char *start = "GET / HTTP/1.1\r\nX: ";
    ws_feed(&s, (const uint8_t *)start, strlen(start));
    size_t fed = strlen(start);
    int r = 0;
    while (r == 0 && fed < 100000) {
        ws_feed(&s, (const uint8_t *)"a", 1);
        fed++;
        r = ws_next_event(&s, &ev);
    }
    assert_int_equal(r, 1);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.code, 431);
    assert_true(fed <= 1024);
    size_t len;
    const uint8_t *p = ws_out(&s, &len);
    assert_true(len > 12 && memcmp(p, "HTTP/1.1 431", 12) == 0);
    assert_true(s.in_cap <= 1024 + WS_FEED_SLACK + lim.max_message + WS_FRAME_HDR_MAX);
    ws_free(&s);
    /* one big feed larger than every bound is refused outright */
    assert_int_equal(ws_init(&s, false, &lim), 0);
    size_t big = in_limit(&s) + 1;
    uint8_t *junk = calloc(1, big);
    assert_int_equal(ws_feed(&s, junk, big), -1);
    expect_error(&s, 431);
    free(junk);
    ws_free(&s);
}

static void test_ws_refuses_bad_upgrade_requests_with_http_status(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        uint16_t status;
    } cases[] = {
        {"POST /ws HTTP/1.1\r\nHost: x\r\n\r\n", 405},
        {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n", 400},                       /* no key */
        {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
        {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 426},
        {"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
        {"GET /ws HTTP/1.1\r\n folded: line\r\n\r\n", 400},
        {"GET /ws HTTP/1.1\r\nno colon here\r\n\r\n", 400},
        {"GET ws HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/2\r\n\r\n", 400},
        {"GET\r\n\r\n", 400},
        {"\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ws_conn s;
        assert_int_equal(ws_init(&s, false, NULL), 0);
        ws_feed(&s, (const uint8_t *)cases[i].req, strlen(cases[i].req));
        expect_error(&s, cases[i].status);
        char want[16];
        snprintf(want, sizeof want, "HTTP/1.1 %u", cases[i].status);
        size_t len;
        const uint8_t *p = ws_out(&s, &len);
        assert_true(len > 12 && memcmp(p, want, 12) == 0);
        ws_free(&s);
    }
    /* a NUL inside the header */
    ws_conn s;
    assert_int_equal(ws_init(&s, false, NULL), 0);
    const uint8_t nul[] = "GET / HTTP/1.1\r\nA: \0b\r\n\r\n";
    ws_feed(&s, nul, sizeof nul - 1);
    expect_error(&s, 400);
    ws_free(&s);
}

static void test_ws_client_refuses_a_wrong_accept_or_a_refusal(void **state)
{
    (void)state;
    const uint8_t key[16] = {0};
    static const char *const rsps[] = {
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"), /* another key's */
        "HTTP/1.1 409 Conflict\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
    };
    for (size_t i = 0; i < 3; i++) {
        ws_conn c;
        assert_int_equal(ws_init(&c, true, NULL), 0);
        assert_int_equal(ws_client_start(&c, "h", "/ws", key), 0);
        ws_feed(&c, (const uint8_t *)rsps[i], strlen(rsps[i]));
        ws_event ev;
        assert_int_equal(ws_next_event(&c, &ev), 1);
        assert_int_equal(ev.type, WS_EV_ERROR);
        ws_free(&c);
    }
    /* the right accept value for the all-zero key, with a first frame in the same read */
    ws_conn c;
    assert_int_equal(ws_init(&c, true, NULL), 0);
    assert_int_equal(ws_client_start(&c, "h", "/ws", key), 0);
    uint8_t buf[256];
    const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
                      "Connection: upgrade\r\nSec-WebSocket-Accept: ICX+Yqv66kxgM0FcWaLWlFLwTAI=\r\n\r\n";
    memcpy(buf, ok, sizeof ok - 1);
    size_t n = sizeof ok - 1 + mkframe(buf + sizeof ok - 1, true, 1, false, "hi", 2);
    ws_feed(&c, buf, n);
    ws_event ev;
    assert_int_equal(ws_next_event(&c, &ev), 1);
    assert_int_equal(ev.type, WS_EV_OPEN);
    assert_int_equal(ws_next_event(&c, &ev), 1);
    assert_int_equal(ev.type, WS_EV_MESSAGE);
    assert_int_equal(ev.len, 2);
    ws_free(&c);
}

static void test_ws_output_is_bounded(void **state)
{
    (void)state;
    ws_limits lim;
    ws_limits_default(&lim);
    lim.max_message = 1000;
    lim.max_out = 5000;
    ws_conn s;
    open_server(&s, &lim);
    uint8_t msg[1001] = {0}; /* 1000 bytes, and one more for the refused send */
    int ok = 0;
    while (ws_send(&s, msg, 1000, false) == 0) {
        ok++;
        assert_true(ok < 100);
    }
    assert_int_equal(ok, 4); /* 4 x 1004 bytes fit, a fifth does not */
    assert_int_equal(ws_send(&s, msg, 1001, false), -1); /* above max_message */
    assert_true(ws_out_pending(&s) <= 5000);
    size_t len;
    ws_out(&s, &len);
    ws_out_consume(&s, 1004); /* the socket took one frame: room again */
    assert_int_equal(ws_send(&s, msg, 1000, false), 0);
    /* pings are answered only while the output has room */
    uint8_t f[16];
    ws_feed(&s, f, mkframe(f, true, 9, true, "p", 1));
    ws_feed(&s, f, mkframe(f, true, 9, true, "p", 1));
    ws_event ev;
    int r = ws_next_event(&s, &ev);
    assert_true(r == 0 || (r == 1 && ev.type == WS_EV_ERROR));
    ws_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws_accept_value_matches_rfc6455_example),
        cmocka_unit_test(test_ws_client_and_server_exchange_messages_of_every_length_class),
        cmocka_unit_test(test_ws_handshake_and_frames_fed_one_byte_at_a_time),
        cmocka_unit_test(test_ws_plain_get_is_answered_and_the_connection_is_done),
        cmocka_unit_test(test_ws_reassembles_fragments_and_answers_a_ping_between_them),
        cmocka_unit_test(test_ws_server_fails_on_an_unmasked_client_frame),
        cmocka_unit_test(test_ws_client_fails_on_a_masked_server_frame),
        cmocka_unit_test(test_ws_fails_on_oversized_lengths_before_the_payload_arrives),
        cmocka_unit_test(test_ws_fails_on_bad_opcodes_reserved_bits_and_bad_control_frames),
        cmocka_unit_test(test_ws_fails_on_text_that_is_not_utf8),
        cmocka_unit_test(test_ws_close_is_answered_with_the_same_code),
        cmocka_unit_test(test_ws_slowloris_header_is_bounded),
        cmocka_unit_test(test_ws_refuses_bad_upgrade_requests_with_http_status),
        cmocka_unit_test(test_ws_client_refuses_a_wrong_accept_or_a_refusal),
        cmocka_unit_test(test_ws_output_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
