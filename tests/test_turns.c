/* TURN over TLS (turns:, RFC 8656 §3.1) against a real coturn on 127.0.0.1 with a
 * certificate from a private CA made by the test: the I/O layer's TLS streams with the TURN
 * client (allocation, channel, data both ways), refusal of a wrong host name and of an
 * unknown CA, and two sluice peers connecting through the relay only (ice_policy RELAY).
 * Skipped, visibly, when coturn is not installed. Real sockets and wall-clock time: the
 * loops wait on conditions, with generous bounds, never on fixed sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../src/ice.h"
#include "../src/io.h"
#include "../src/stun.h"
#include "../src/turn.h"
#include "sluice.h"
#include "testkit_coturn.h"
#include "testkit_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

typedef struct fixture {
    coturn_proc *proc;
    tk_cert ca, other_ca, server;
    char *ca_pem, *other_ca_pem, *cert_pem, *key_pem;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    void *p = NULL;
    if (coturn_setup(&p) != 0) return -1;
    f->proc = p;
    if (!tk_make_cert(&f->ca, "sluice test CA", NULL, NULL, 1) ||
        !tk_make_cert(&f->other_ca, "another CA", NULL, NULL, 2) ||
        !tk_make_cert(&f->server, "turn.test", &f->ca, "DNS:turn.test,DNS:localhost,IP:127.0.0.1", 3))
        return -1;
    f->ca_pem = tk_pem(&f->ca, false);
    f->other_ca_pem = tk_pem(&f->other_ca, false);
    f->cert_pem = tk_pem(&f->server, false);
    f->key_pem = tk_pem(&f->server, true);
    *state = f;
    return f->ca_pem && f->other_ca_pem && f->cert_pem && f->key_pem ? 0 : -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    void *p = f->proc;
    coturn_teardown(&p);
    tk_free_cert(&f->ca);
    tk_free_cert(&f->other_ca);
    tk_free_cert(&f->server);
    free(f->ca_pem);
    free(f->other_ca_pem);
    free(f->cert_pem);
    free(f->key_pem);
    free(f);
    return 0;
}

static sluice_time wall_us(void) { return sluice_clock_monotonic_us(); }

/* Start coturn with TLS and wait (up to ~5 s) until its TLS port accepts connections, so
 * that a refused connection later means refused by us. Returns false: skip. */
static bool start_tls_coturn(fixture *f, const char *test) {
    if (!start_coturn_tls(f->proc, test, f->cert_pem, f->key_pem)) return false;
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->proc->tls_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        close(fd);
        if (rc == 0) return true;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("coturn did not open its TLS port %u", (unsigned)f->proc->tls_port);
    return false;
}

/* Log lines are kept for assertions (and shown with SLUICE_TEST_LOG set). */
typedef struct logbuf {
    char text[16384];
} logbuf;

static void log_capture(void *user, sluice_log_level level, const char *module, const char *msg) {
    logbuf *b = user;
    size_t n = strlen(b->text);
    snprintf(b->text + n, sizeof b->text - n, "%s: %s\n", module, msg);
    if (getenv("SLUICE_TEST_LOG")) fprintf(stderr, "[%d] %s: %s\n", (int)level, module, msg);
}

/* ---- the TURN client over sluice_io's TLS stream ------------------------------------------ */

typedef struct tls_client {
    sluice_io *io;
    sluice_addr local, server;
    const char *name;
    sluice_turn_client t;
    sluice_prng prng;
    sluice_rng rng;
    logbuf lb;
    sluice_logger log;
    int rx;
    uint8_t last[64];
    size_t last_len;
} tls_client;

static void tc_open(tls_client *c, const char *ca_pem, uint16_t tls_port, const char *name, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->log = (sluice_logger){log_capture, &c->lb, SLUICE_LOG_DEBUG};
    sluice_io_settings s;
    memset(&s, 0, sizeof s);
    s.bind_address = "127.0.0.1";
    s.loopback = true;
    s.tls_ca_pem = ca_pem;
    assert_int_equal(sluice_io_open(&c->io, &s, NULL, &c->log), SLUICE_OK);
    assert_int_equal(sluice_io_local_addresses(c->io, &c->local, 1), 1);
    sluice_addr_parse(&c->server, "127.0.0.1", tls_port);
    c->name = name;
    sluice_prng_seed(&c->prng, seed);
    c->rng = (sluice_rng){sluice_prng_random_fn, &c->prng};
    sluice_turn_settings ts;
    sluice_turn_settings_default(&ts);
    ts.tcp = true; /* a stream: no retransmissions */
    assert_int_equal(sluice_turn_init(&c->t, &ts, &c->server, &c->local, "u", "p", &c->rng, &c->log), SLUICE_OK);
}

static void tc_on_recv(void *user, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data,
                       size_t len) {
    tls_client *c = user;
    (void)local;
    if (!sluice_addr_equal(remote, &c->server)) return;
    sluice_addr peer;
    const uint8_t *pl;
    size_t pn;
    if (sluice_turn_handle(&c->t, wall_us(), data, len, &peer, &pl, &pn) == 1) {
        c->rx++;
        c->last_len = pn < sizeof c->last ? pn : sizeof c->last;
        memcpy(c->last, pl, c->last_len);
    }
}

static void tc_wait_io(tls_client *c) {
    int fds[SLUICE_IO_MAX_SOCKETS + SLUICE_IO_MAX_TCP + 1];
    int n = sluice_io_fds(c->io, fds, SLUICE_ARRAY_LEN(fds));
    struct pollfd p[SLUICE_ARRAY_LEN(fds)];
    for (int i = 0; i < n && i < (int)SLUICE_ARRAY_LEN(fds); i++) p[i] = (struct pollfd){fds[i], POLLIN, 0};
    poll(p, (nfds_t)n, sluice_io_tcp_pending(c->io) ? 5 : 20);
    sluice_io_recv(c->io, tc_on_recv, c, 64);
}

static bool tc_drive(tls_client *c, int ms, bool (*cond)(tls_client *)) {
    sluice_time end = wall_us() + (sluice_time)ms * 1000;
    while (wall_us() < end) {
        sluice_time now = wall_us();
        sluice_turn_handle_timeout(&c->t, now);
        uint8_t buf[1500];
        int n;
        while ((n = sluice_turn_poll_transmit(&c->t, now, buf, sizeof buf)) > 0)
            sluice_io_send_tls(c->io, &c->local, &c->server, c->name, buf, (size_t)n);
        sluice_io_flush(c->io);
        if (cond && cond(c)) return true;
        tc_wait_io(c);
    }
    return cond ? cond(c) : false;
}

static void tc_close(tls_client *c) { sluice_io_close(c->io); }

static bool tc_settled(tls_client *c) { return c->t.state != SLUICE_TURN_ALLOCATING; }
static bool tc_bound(tls_client *c) { return c->t.peer_count && c->t.peers[0].channel_bound; }
static bool tc_got_data(tls_client *c) { return c->rx > 0; }
static bool tc_tls_refused(tls_client *c) { return strstr(c->lb.text, "TLS connection to TURN server") != NULL; }

static int udp_socket(sluice_addr *bound) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    memset(bound, 0, sizeof *bound);
    bound->family = 4;
    memcpy(bound->ip, &sa.sin_addr, 4);
    bound->port = ntohs(sa.sin_port);
    return fd;
}

static void test_turns_allocates_and_relays_data_through_coturn(void **state) {
    fixture *f = *state;
    if (!start_tls_coturn(f, "test_turns_allocates_and_relays_data_through_coturn")) skip();
    tls_client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    tc_open(c, f->ca_pem, f->proc->tls_port, "turn.test", 400);
    sluice_turn_start(&c->t, wall_us());
    tc_drive(c, 5000, tc_settled);
    if (c->t.state != SLUICE_TURN_READY) {
        fprintf(stderr, "%s", c->lb.text);
        fail_msg("allocation over TLS failed: state %d error %u", (int)c->t.state, (unsigned)c->t.error_code);
    }
    assert_non_null(strstr(c->lb.text, "TLS to TURN server turn.test verified"));
    assert_int_equal(c->t.relayed.ip[0], 127);

    sluice_addr peer_addr;
    int peer_fd = udp_socket(&peer_addr);
    sluice_turn_add_peer(&c->t, wall_us(), &peer_addr);
    assert_true(tc_drive(c, 3000, tc_bound));

    /* Client → relay → peer as ChannelData inside TLS (odd length: padded on the stream). */
    uint8_t buf[256];
    int n = sluice_turn_wrap(&c->t, &peer_addr, (const uint8_t *)"tls ping", 7, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(sluice_io_send_tls(c->io, &c->local, &c->server, "turn.test", buf, (size_t)n), SLUICE_OK);
    sluice_io_flush(c->io);
    struct pollfd pfd = {peer_fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 3000), 1);
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    uint8_t rbuf[256];
    assert_int_equal(recvfrom(peer_fd, rbuf, sizeof rbuf, 0, (struct sockaddr *)&from, &fl), 7);
    assert_memory_equal(rbuf, "tls pin", 7);

    /* Peer → relay → client. */
    assert_int_equal(sendto(peer_fd, "pong over tls", 13, 0, (struct sockaddr *)&from, fl), 13);
    assert_true(tc_drive(c, 3000, tc_got_data));
    assert_int_equal(c->last_len, 13);
    assert_memory_equal(c->last, "pong over tls", 13);

    close(peer_fd);
    tc_close(c);
    free(c);
}

static void test_turns_refuses_wrong_host_name_and_unknown_ca(void **state) {
    fixture *f = *state;
    if (!start_tls_coturn(f, "test_turns_refuses_wrong_host_name_and_unknown_ca")) skip();
    tls_client *c = calloc(1, sizeof *c);
    assert_non_null(c);

    /* The right CA, but the certificate does not name "wrong.test". */
    tc_open(c, f->ca_pem, f->proc->tls_port, "wrong.test", 401);
    sluice_turn_start(&c->t, wall_us());
    assert_true(tc_drive(c, 5000, tc_tls_refused));
    print_message("%s", c->lb.text);
    assert_non_null(strstr(c->lb.text, "certificate verification failed: hostname mismatch"));
    assert_int_equal(c->t.state, SLUICE_TURN_ALLOCATING); /* nothing reached the server */
    /* The loss is reported (the peer fails that TURN allocation at once). */
    sluice_addr l, r;
    assert_true(sluice_io_poll_stream_closed(c->io, &l, &r));
    assert_true(sluice_addr_equal(&l, &c->local) && sluice_addr_equal(&r, &c->server));
    assert_false(sluice_io_poll_stream_closed(c->io, &l, &r));
    tc_close(c);

    /* The right name, but only an unrelated private CA (and the system store) trusted. */
    tc_open(c, f->other_ca_pem, f->proc->tls_port, "turn.test", 402);
    sluice_turn_start(&c->t, wall_us());
    assert_true(tc_drive(c, 5000, tc_tls_refused));
    print_message("%s", c->lb.text);
    assert_non_null(strstr(c->lb.text, "certificate verification failed: unable to get local issuer certificate"));
    assert_int_equal(c->t.state, SLUICE_TURN_ALLOCATING);
    tc_close(c);

    /* Without turn_ca_pem: the system store does not know the test CA either. */
    tc_open(c, NULL, f->proc->tls_port, "turn.test", 403);
    sluice_turn_start(&c->t, wall_us());
    assert_true(tc_drive(c, 5000, tc_tls_refused));
    assert_non_null(strstr(c->lb.text, "certificate verification failed"));
    tc_close(c);
    free(c);
}

/* ---- two peers through the relay only -------------------------------------------------- */

typedef struct peer_side {
    sluice_peer *pc;
    struct peer_side *other;
    logbuf lb;
    sluice_channel *ch, *received;
    int opened, candidates, non_relay_candidates, connected;
    char msg[64];
    int msg_len;
} peer_side;

static void side_events(peer_side *s) {
    sluice_event ev;
    while (sluice_peer_poll_event(s->pc, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_EVENT_SESSION_DESCRIPTION:
            assert_int_equal(sluice_peer_set_local_description(s->pc, ev.sdp_type, ev.sdp), SLUICE_OK);
            assert_int_equal(sluice_peer_set_remote_description(s->other->pc, ev.sdp_type, ev.sdp), SLUICE_OK);
            break;
        case SLUICE_EVENT_ICE_CANDIDATE:
            if (ev.candidate[0]) {
                s->candidates++;
                if (!strstr(ev.candidate, "typ relay")) s->non_relay_candidates++;
            }
            assert_int_equal(sluice_peer_add_ice_candidate(s->other->pc, ev.mid, ev.mline_index, ev.candidate),
                             SLUICE_OK);
            break;
        case SLUICE_EVENT_CONNECTION_STATE:
            if (ev.state == SLUICE_CONNECTION_CONNECTED) s->connected++;
            break;
        case SLUICE_EVENT_DATA_CHANNEL: s->received = ev.channel; break;
        case SLUICE_EVENT_CHANNEL_OPEN: s->opened++; break;
        case SLUICE_EVENT_CHANNEL_MESSAGE: {
            bool text;
            sluice_channel *ch = ev.channel;
            s->msg_len = sluice_channel_recv(ch, s->msg, sizeof s->msg, &text);
            break;
        }
        default: break;
        }
    }
}

static void side_init(peer_side *s, peer_side *other, const sluice_ice_server *srv, const char *ca_pem) {
    memset(s, 0, sizeof *s);
    s->other = other;
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.ice_servers = srv;
    cfg.ice_servers_count = 1;
    cfg.ice_policy = SLUICE_ICE_POLICY_RELAY;
    cfg.bind_address = "127.0.0.1";
    cfg.ice_loopback = true;
    cfg.ice_ipv6 = false;
    cfg.turn_ca_pem = ca_pem;
    cfg.log_fn = log_capture;
    cfg.log_user = &s->lb;
    cfg.log_level = SLUICE_LOG_DEBUG;
    assert_int_equal(sluice_peer_new(&s->pc, &cfg, NULL, s), SLUICE_OK);
}

static void sides_run(peer_side *a, peer_side *b, int ms, bool (*cond)(peer_side *, peer_side *)) {
    sluice_time end = wall_us() + (sluice_time)ms * 1000;
    while (wall_us() < end && !cond(a, b)) {
        peer_side *sides[2] = {a, b};
        struct pollfd p[64];
        nfds_t np = 0;
        int timeout = 20;
        for (int k = 0; k < 2; k++) {
            assert_int_equal(sluice_peer_poll(sides[k]->pc), SLUICE_OK);
            side_events(sides[k]);
            int fds[32];
            int n = sluice_peer_fds(sides[k]->pc, fds, 32);
            for (int i = 0; i < n && i < 32 && np < 64; i++) p[np++] = (struct pollfd){fds[i], POLLIN, 0};
            int t = sluice_peer_timeout_ms(sides[k]->pc);
            if (t >= 0 && t < timeout) timeout = t;
        }
        poll(p, np, timeout);
    }
}

static bool both_open(peer_side *a, peer_side *b) { return a->opened && b->opened && b->received; }
static bool b_got_msg(peer_side *a, peer_side *b) { (void)a; return b->msg_len > 0; }

static void test_turns_two_peers_connect_through_coturn_relay_only(void **state) {
    fixture *f = *state;
    if (!start_tls_coturn(f, "test_turns_two_peers_connect_through_coturn_relay_only")) skip();
    /* A host name: resolved by the peer, verified as "localhost" (a DNS SAN). */
    char url[64];
    snprintf(url, sizeof url, "turns:localhost:%u", (unsigned)f->proc->tls_port);
    const char *urls[] = {url};
    sluice_ice_server srv = {urls, 1, "u", "p"};
    peer_side *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_true(a && b);
    side_init(a, b, &srv, f->ca_pem);
    side_init(b, a, &srv, f->ca_pem);
    assert_int_equal(sluice_peer_create_channel(a->pc, "relayed", NULL, &a->ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(a->pc), SLUICE_OK);
    sides_run(a, b, 15000, both_open);
    if (!both_open(a, b)) {
        fprintf(stderr, "--- a ---\n%s--- b ---\n%s", a->lb.text, b->lb.text);
        fail_msg("the channel did not open through the TLS relay");
    }
    assert_true(a->candidates > 0 && b->candidates > 0);
    assert_int_equal(a->non_relay_candidates, 0);
    assert_int_equal(b->non_relay_candidates, 0);
    assert_non_null(strstr(a->lb.text, "TLS to TURN server localhost verified"));
    assert_non_null(strstr(b->lb.text, "TLS to TURN server localhost verified"));

    assert_int_equal(sluice_channel_send(a->ch, "through turns", 13, true), SLUICE_OK);
    sides_run(a, b, 5000, b_got_msg);
    assert_int_equal(b->msg_len, 13);
    assert_memory_equal(b->msg, "through turns", 13);

    sluice_peer_free(a->pc);
    sluice_peer_free(b->pc);
    free(a);
    free(b);
}

/* ---- the I/O layer's TLS stream against an in-process OpenSSL server (no coturn needed) -- */

typedef struct frames {
    int count;
    size_t sizes[8];
    uint8_t last[64];
} frames;

static void collect_frame(void *user, const sluice_addr *local, const sluice_addr *remote, const uint8_t *data,
                          size_t len) {
    (void)local;
    (void)remote;
    frames *fr = user;
    if (fr->count < 8) fr->sizes[fr->count] = len;
    fr->count++;
    memcpy(fr->last, data, len < sizeof fr->last ? len : sizeof fr->last);
}

static void test_turns_io_tls_stream_frames_messages_and_reports_close(void **state) {
    fixture *f = *state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 1), 0);
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);

    tls_client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    tc_open(c, f->ca_pem, ntohs(sa.sin_port), "turn.test", 500);
    /* A STUN Binding request: 20 bytes, self-delimiting on the stream. */
    static const uint8_t req[20] = {0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    assert_int_equal(sluice_io_send_tls(c->io, &c->local, &c->server, "turn.test", req, sizeof req), SLUICE_OK);
    assert_int_equal(sluice_io_send_tls(c->io, &c->local, &c->server, NULL, req, sizeof req),
                     SLUICE_ERR_INVALID_ARGUMENT);
    /* One connection, one verified name; never plain bytes on it either. */
    assert_int_equal(sluice_io_send_tls(c->io, &c->local, &c->server, "other.test", req, sizeof req),
                     SLUICE_ERR_INVALID_STATE);
    assert_int_equal(sluice_io_send_tcp(c->io, &c->local, &c->server, req, sizeof req), SLUICE_ERR_INVALID_STATE);
    sluice_io_flush(c->io);

    struct pollfd lp = {lfd, POLLIN, 0};
    assert_int_equal(poll(&lp, 1, 3000), 1);
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    fcntl(afd, F_SETFL, fcntl(afd, F_GETFL) | O_NONBLOCK);
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(sctx);
    assert_int_equal(SSL_CTX_use_certificate(sctx, f->server.cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(sctx, f->server.key), 1);
    SSL *ssl = SSL_new(sctx);
    SSL_set_fd(ssl, afd);
    SSL_set_accept_state(ssl);

    uint8_t got[64];
    size_t got_len = 0;
    frames fr;
    memset(&fr, 0, sizeof fr);
    bool replied = false;
    sluice_time end = wall_us() + 5000000;
    while (wall_us() < end && fr.count < 2) {
        sluice_io_flush(c->io);
        int fds[8];
        int n = sluice_io_fds(c->io, fds, 8);
        struct pollfd p[9];
        for (int i = 0; i < n; i++) p[i] = (struct pollfd){fds[i], POLLIN, 0};
        p[n] = (struct pollfd){afd, POLLIN, 0};
        poll(p, (nfds_t)n + 1, 10);
        sluice_io_recv(c->io, collect_frame, &fr, 64);
        int r = SSL_read(ssl, got + got_len, (int)(sizeof got - got_len));
        if (r > 0) got_len += (size_t)r;
        ERR_clear_error();
        if (got_len == sizeof req && !replied) {
            /* Two messages in one record: a STUN header and an odd ChannelData, padded. */
            uint8_t two[32] = {1, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                               0x40, 0x00, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};
            assert_int_equal(SSL_write(ssl, two, sizeof two), (int)sizeof two);
            replied = true;
        }
    }
    assert_int_equal(got_len, sizeof req);
    assert_memory_equal(got, req, sizeof req);
    assert_int_equal(fr.count, 2);
    assert_int_equal(fr.sizes[0], 20);
    assert_int_equal(fr.sizes[1], 12);
    assert_memory_equal(fr.last + 4, "hello", 5);
    sluice_addr l, r;
    assert_false(sluice_io_poll_stream_closed(c->io, &l, &r));

    /* The server closes: the stream is reported lost. */
    SSL_shutdown(ssl);
    close(afd);
    end = wall_us() + 3000000;
    bool closed = false;
    while (wall_us() < end && !closed) {
        tc_wait_io(c);
        closed = sluice_io_poll_stream_closed(c->io, &l, &r);
    }
    assert_true(closed);
    assert_true(sluice_addr_equal(&r, &c->server));
    SSL_free(ssl);
    SSL_CTX_free(sctx);
    close(lfd);
    tc_close(c);
    free(c);
}

/* A peer whose turns: server is not trusted: the allocation fails as soon as the TLS
 * handshake does (not after the 39.5 s STUN timeout), gathering completes without relay. */
static bool a_gathered(peer_side *a, peer_side *b) {
    (void)b;
    return sluice_peer_gathering_state(a->pc) == SLUICE_GATHERING_COMPLETE;
}

static void test_turns_untrusted_server_fails_fast_and_gathering_completes(void **state) {
    fixture *f = *state;
    if (!start_tls_coturn(f, "test_turns_untrusted_server_fails_fast_and_gathering_completes")) skip();
    char url[64];
    snprintf(url, sizeof url, "turns:127.0.0.1:%u", (unsigned)f->proc->tls_port);
    const char *urls[] = {url};
    sluice_ice_server srv = {urls, 1, "u", "p"};
    peer_side *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_true(a && b);
    side_init(a, b, &srv, f->other_ca_pem);
    side_init(b, a, &srv, f->ca_pem);
    assert_int_equal(sluice_peer_create_channel(a->pc, "x", NULL, &a->ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(a->pc), SLUICE_OK);
    sluice_time t0 = wall_us();
    sides_run(a, b, 10000, a_gathered);
    assert_true(a_gathered(a, b));
    print_message("gathering complete after %u ms\n", (unsigned)((wall_us() - t0) / 1000));
    assert_int_equal(a->candidates, 0);
    assert_non_null(strstr(a->lb.text, "certificate verification failed: unable to get local issuer certificate"));
    assert_non_null(strstr(a->lb.text, "connection to the server lost"));
    sluice_peer_free(a->pc);
    sluice_peer_free(b->pc);
    free(a);
    free(b);
}

static void test_turns_bad_turn_ca_pem_is_a_config_error(void **state) {
    (void)state;
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.sans_io = true;
    cfg.turn_ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    sluice_peer *pc = NULL;
    assert_int_equal(sluice_peer_new(&pc, &cfg, NULL, NULL), SLUICE_ERR_CONFIG);
    assert_null(pc);
}

/* sans_io peers cannot mark datagrams for a stream: TCP/TLS TURN servers are skipped. */
static void test_turns_sans_io_peer_skips_stream_turn_servers(void **state) {
    (void)state;
    const char *urls[] = {"turns:192.0.2.1", "turn:192.0.2.3?transport=tcp", "turn:192.0.2.4"};
    sluice_ice_server srv = {urls, 3, "u", "p"};
    logbuf *lb = calloc(1, sizeof *lb);
    assert_non_null(lb);
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.sans_io = true;
    cfg.ice_servers = &srv;
    cfg.ice_servers_count = 1;
    cfg.log_fn = log_capture;
    cfg.log_user = lb;
    cfg.log_level = SLUICE_LOG_DEBUG;
    sluice_peer *pc;
    assert_int_equal(sluice_peer_new(&pc, &cfg, NULL, NULL), SLUICE_OK);
    sluice_addr local;
    sluice_addr_parse(&local, "10.0.0.1", 5000);
    assert_int_equal(sluice_peer_add_local_address(pc, &local), SLUICE_OK);
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(pc, "x", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(pc), SLUICE_OK);
    assert_non_null(strstr(lb->text, "TURN server 192.0.2.1 over TLS skipped"));
    assert_non_null(strstr(lb->text, "TURN server 192.0.2.3 over TCP skipped"));
    sluice_event ev;
    while (sluice_peer_poll_event(pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION)
            assert_int_equal(sluice_peer_set_local_description(pc, ev.sdp_type, ev.sdp), SLUICE_OK);
    uint8_t buf[1500];
    sluice_transmit tx;
    int udp_turn = 0;
    while (sluice_peer_poll_transmit(pc, 0, buf, sizeof buf, &tx) == 1) {
        char a[64];
        sluice_addr_format(&tx.remote, a, sizeof a);
        assert_string_equal(a, "192.0.2.4:3478");
        udp_turn++;
    }
    assert_true(udp_turn >= 1);
    sluice_peer_free(pc);
    free(lb);
}

/* The agent, sans-IO: turns: paths are TLS with the configured name, turn:?transport=tcp
 * paths plain TCP, stuns: is skipped; a lost stream fails its allocation at once. */
static void test_turns_agent_marks_tls_paths_and_fails_fast_on_lost_stream(void **state) {
    (void)state;
    sluice_ice_url stun_url, turn_urls[2];
    assert_int_equal(sluice_ice_url_parse("stuns:192.0.2.2", &stun_url), SLUICE_OK);
    assert_int_equal(sluice_ice_url_parse("turns:192.0.2.1", &turn_urls[0]), SLUICE_OK);
    snprintf(turn_urls[0].server_name, sizeof turn_urls[0].server_name, "turn.example.org");
    assert_int_equal(sluice_ice_url_parse("turn:192.0.2.3:3478?transport=tcp", &turn_urls[1]), SLUICE_OK);
    logbuf *lb = calloc(1, sizeof *lb);
    assert_non_null(lb);
    sluice_logger log = {log_capture, lb, SLUICE_LOG_DEBUG};
    sluice_prng prng;
    sluice_prng_seed(&prng, 9);
    sluice_rng rng = {sluice_prng_random_fn, &prng};
    sluice_ice_settings s;
    sluice_ice_settings_default(&s);
    s.stun_servers = &stun_url;
    s.stun_servers_count = 1;
    s.turn_servers = turn_urls;
    s.turn_servers_count = 2;
    s.turn_username = "u";
    s.turn_password = "p";
    sluice_ice_agent *a;
    assert_int_equal(sluice_ice_new(&a, &s, NULL, &rng, &log), SLUICE_OK);
    sluice_addr local, tls_srv, tcp_srv, other;
    sluice_addr_parse(&local, "10.0.0.1", 5000);
    sluice_addr_parse(&tls_srv, "192.0.2.1", 5349);
    sluice_addr_parse(&tcp_srv, "192.0.2.3", 3478);
    sluice_addr_parse(&other, "192.0.2.2", 5349);
    assert_int_equal(sluice_ice_add_local_address(a, &local), SLUICE_OK);
    assert_int_equal(sluice_ice_gather(a, 0), SLUICE_OK);
    assert_non_null(strstr(lb->text, "stuns: is not supported"));

    int to_tls = 0, to_tcp = 0, to_other = 0;
    uint8_t buf[1500];
    sluice_addr l, r;
    int n;
    while ((n = sluice_ice_poll_transmit(a, 0, &l, &r, buf, sizeof buf)) > 0) {
        if (sluice_addr_equal(&r, &tls_srv)) to_tls++;
        else if (sluice_addr_equal(&r, &tcp_srv)) to_tcp++;
        else to_other++;
    }
    assert_int_equal(to_tls, 1);
    assert_int_equal(to_tcp, 1);
    assert_int_equal(to_other, 0);

    assert_int_equal(sluice_ice_path_transport_of(a, &local, &tls_srv), SLUICE_ICE_PATH_TLS);
    assert_true(sluice_ice_is_tcp_path(a, &local, &tls_srv));
    assert_string_equal(sluice_ice_path_server_name(a, &local, &tls_srv), "turn.example.org");
    assert_int_equal(sluice_ice_path_transport_of(a, &local, &tcp_srv), SLUICE_ICE_PATH_TCP);
    assert_string_equal(sluice_ice_path_server_name(a, &local, &tcp_srv), "192.0.2.3");
    assert_int_equal(sluice_ice_path_transport_of(a, &local, &other), SLUICE_ICE_PATH_UDP);
    assert_null(sluice_ice_path_server_name(a, &local, &other));

    /* Both streams lost: gathering completes now, without relay candidates. */
    sluice_ice_path_closed(a, &local, &other); /* not a stream: ignored */
    sluice_ice_path_closed(a, &local, &tls_srv);
    assert_int_equal(sluice_ice_next_deadline(a), 0);
    sluice_ice_handle_timeout(a, 1000);
    sluice_ice_path_closed(a, &local, &tcp_srv);
    sluice_ice_handle_timeout(a, 2000);
    int done = 0, relay = 0;
    sluice_ice_event ev;
    while (sluice_ice_poll_event(a, &ev) == 1) {
        if (ev.type == SLUICE_ICE_EVENT_GATHERING_DONE) done++;
        if (ev.type == SLUICE_ICE_EVENT_LOCAL_CANDIDATE && ev.candidate.type == SLUICE_ICE_CAND_RELAY) relay++;
    }
    assert_int_equal(done, 1);
    assert_int_equal(relay, 0);
    sluice_ice_free(a);
    free(lb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_turns_allocates_and_relays_data_through_coturn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turns_refuses_wrong_host_name_and_unknown_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turns_two_peers_connect_through_coturn_relay_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_turns_untrusted_server_fails_fast_and_gathering_completes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_turns_io_tls_stream_frames_messages_and_reports_close, setup,
                                        teardown),
        cmocka_unit_test(test_turns_bad_turn_ca_pem_is_a_config_error),
        cmocka_unit_test(test_turns_sans_io_peer_skips_stream_turn_servers),
        cmocka_unit_test(test_turns_agent_marks_tls_paths_and_fails_fast_on_lost_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
