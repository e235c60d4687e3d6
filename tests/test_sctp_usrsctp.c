/* Conformance of our SCTP against usrsctp in the same process (AF_CONN, no sockets), in
 * virtual time: both handshake roles, INIT collision, reliable and PR-SCTP data with
 * simulated loss, stream reset both ways. See PEERS.md for the determinism tricks:
 * usrsctp's clock is ours because this executable defines gettimeofday(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <arpa/inet.h>

#ifdef SLUICE_HAVE_USRSCTP
#include <usrsctp.h>

#include "sctp/sctp.h"

/* ---- virtual clock shared with usrsctp ------------------------------------------------ */

static sluice_time g_now = 1000000; /* microseconds */

/* usrsctp reads gettimeofday() for RTT, cookie life and PR-SCTP lifetimes: make it ours. */
int gettimeofday(struct timeval *tv, void *tz) {
    (void)tz;
    tv->tv_sec = (time_t)(1700000000 + g_now / 1000000);
    tv->tv_usec = (suseconds_t)(g_now % 1000000);
    return 0;
}

/* ---- a lossy, delayed link between the two stacks ---------------------------------------- */

#define QCAP 4096

typedef struct pkt {
    sluice_time at;
    size_t len;
    uint8_t data[1500];
} pkt;

typedef struct link {
    pkt *q;
    size_t n;
} link;

typedef struct world {
    link to_us, to_them;
    sluice_prng prng;
    double loss;
    uint32_t delay_us;
    /* ours */
    sluice_sctp *a;
    sluice_prng arng_state;
    sluice_rng arng;
    bool up, closed;
    int close_err;
    uint64_t msgs, bytes;
    uint32_t next_k[64];
    bool ooo, allow_gaps;
    uint32_t resets_in, resets_done, resets_requested;
    /* theirs */
    struct socket *ls, *s;
    bool them_up;
    uint64_t their_msgs;
    uint32_t their_next_k[64];
    bool their_ooo;
    uint32_t their_resets_in, their_resets_out, their_reset_failures;
    bool their_out_reset[1024], our_out_reset[1024];
    bool answer_resets; /* we reset our side when the peer resets its (RFC 8831 §6.7) */
    bool graceful_closed_them;
    uint8_t rbuf[300000];
    size_t rlen;
} world;

static world *g_w;
/* Each test uses its own port: usrsctp may keep a closed endpoint around for a while. */
static uint16_t g_port = 5000;
/* Settings tweak for the next world_init (tests only). */
static bool g_zero_checksum;

static void link_push(link *l, const void *data, size_t len, sluice_time at) {
    if (l->n == QCAP || len > 1500) return;
    pkt *p = &l->q[l->n++];
    p->at = at;
    p->len = len;
    memcpy(p->data, data, len);
}

static int conn_output(void *addr, void *buf, size_t len, uint8_t tos, uint8_t set_df) {
    (void)addr;
    (void)tos;
    (void)set_df;
    /* Never call back into usrsctp from here: queue and deliver from the loop. */
    world *w = g_w;
    if (w && sluice_prng_unit(&w->prng) >= w->loss) link_push(&w->to_us, buf, len, g_now + w->delay_us);
    return 0;
}

/* ---- message payloads ------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t len, uint32_t k, uint16_t stream) {
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(k * 7u + i * 13u + stream);
    if (len >= 4) sluice_store_be32(p, k);
}

static bool check(const uint8_t *p, size_t len, uint32_t *k, uint16_t stream) {
    if (len < 4) return false;
    *k = sluice_load_be32(p);
    for (size_t i = 4; i < len; i++)
        if (p[i] != (uint8_t)(*k * 7u + i * 13u + stream)) return false;
    return true;
}

/* ---- usrsctp side ------------------------------------------------------------------------ */

static void their_socket_options(struct socket *s) {
    struct sctp_assoc_value av = {SCTP_ALL_ASSOC, SCTP_ENABLE_RESET_STREAM_REQ};
    assert_int_equal(usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av, sizeof av), 0);
    const int on = 1;
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on);
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on);
    struct sctp_initmsg im;
    memset(&im, 0, sizeof im);
    im.sinit_num_ostreams = 1024;
    im.sinit_max_instreams = 1024;
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof im);
    const uint16_t evs[] = {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT};
    for (size_t i = 0; i < 2; i++) {
        struct sctp_event e;
        memset(&e, 0, sizeof e);
        e.se_assoc_id = SCTP_ALL_ASSOC;
        e.se_type = evs[i];
        e.se_on = 1;
        usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_EVENT, &e, sizeof e);
    }
    usrsctp_set_non_blocking(s, 1);
}

static struct socket *their_new_socket(world *w) {
    struct socket *s = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
    assert_non_null(s);
    their_socket_options(s);
    struct sockaddr_conn sc;
    memset(&sc, 0, sizeof sc);
    sc.sconn_family = AF_CONN;
    sc.sconn_port = htons(g_port);
    sc.sconn_addr = w;
    assert_int_equal(usrsctp_bind(s, (struct sockaddr *)&sc, sizeof sc), 0);
    return s;
}

static void their_connect(world *w) {
    struct sockaddr_conn sc;
    memset(&sc, 0, sizeof sc);
    sc.sconn_family = AF_CONN;
    sc.sconn_port = htons(g_port);
    sc.sconn_addr = w; /* the link handle: usrsctp uses it as source and destination */
    int rc = usrsctp_connect(w->s, (struct sockaddr *)&sc, sizeof sc);
    assert_true(rc == 0 || errno == EINPROGRESS);
}

static void their_read(world *w) {
    if (!w->s) return;
    for (;;) {
        struct sctp_rcvinfo info;
        socklen_t il = sizeof info;
        unsigned int infotype = 0;
        int flags = 0;
        ssize_t n = usrsctp_recvv(w->s, w->rbuf + w->rlen, sizeof w->rbuf - w->rlen, NULL, NULL, &info, &il,
                                  &infotype, &flags);
        if (n <= 0) return;
        if (flags & MSG_NOTIFICATION) {
            union sctp_notification nt;
            memcpy(&nt, w->rbuf + w->rlen, SLUICE_MIN((size_t)n, sizeof nt));
            if (nt.sn_header.sn_type == SCTP_ASSOC_CHANGE && nt.sn_assoc_change.sac_state == SCTP_COMM_UP)
                w->them_up = true;
            if (nt.sn_header.sn_type == SCTP_ASSOC_CHANGE && nt.sn_assoc_change.sac_state == SCTP_SHUTDOWN_COMP)
                w->graceful_closed_them = true;
            if (nt.sn_header.sn_type == SCTP_STREAM_RESET_EVENT &&
                (nt.sn_strreset_event.strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)))
                w->their_reset_failures++;
            else if (nt.sn_header.sn_type == SCTP_STREAM_RESET_EVENT &&
                     (nt.sn_strreset_event.strreset_flags & SCTP_STREAM_RESET_OUTGOING_SSN))
                w->their_resets_out++;
            if (nt.sn_header.sn_type == SCTP_STREAM_RESET_EVENT &&
                (nt.sn_strreset_event.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN)) {
                w->their_resets_in++;
                /* RFC 8831 §6.7 as a browser does it: reset our outgoing side in turn. */
                size_t ns = (nt.sn_strreset_event.strreset_length - sizeof(struct sctp_stream_reset_event)) / 2;
                const uint16_t *l16 = (const uint16_t *)(const void *)(w->rbuf + w->rlen + sizeof(struct sctp_stream_reset_event));
                bool all_done = true;
                for (size_t i = 0; i < ns; i++) {
                    uint16_t sid;
                    memcpy(&sid, l16 + i, 2);
                    if (sid < 1024 && !w->their_out_reset[sid]) all_done = false;
                    if (sid < 1024) w->their_out_reset[sid] = true;
                }
                if (all_done) continue;
                uint8_t raw[sizeof(struct sctp_reset_streams) + 2 * 16];
                struct sctp_reset_streams *rs = (struct sctp_reset_streams *)raw;
                memset(raw, 0, sizeof raw);
                rs->srs_assoc_id = SCTP_ALL_ASSOC;
                rs->srs_flags = SCTP_STREAM_RESET_OUTGOING;
                rs->srs_number_streams = (uint16_t)SLUICE_MIN(ns, 16);
                const uint8_t *list = w->rbuf + w->rlen + sizeof(struct sctp_stream_reset_event);
                memcpy(raw + sizeof(struct sctp_reset_streams), list, 2u * rs->srs_number_streams);
                usrsctp_setsockopt(w->s, IPPROTO_SCTP, SCTP_RESET_STREAMS, rs,
                                   (socklen_t)(sizeof *rs + 2u * rs->srs_number_streams));
            }
            continue;
        }
        w->rlen += (size_t)n;
        if (!(flags & MSG_EOR)) continue;
        uint32_t k = 0;
        uint16_t st = info.rcv_sid;
        assert_int_equal(ntohl(info.rcv_ppid), 53);
        assert_true(check(w->rbuf, w->rlen, &k, st));
        if (st < 64) {
            if (w->allow_gaps ? k < w->their_next_k[st] : k != w->their_next_k[st]) w->their_ooo = true;
            w->their_next_k[st] = k + 1;
        }
        w->their_msgs++;
        w->rlen = 0;
    }
}

static int their_send_ex(world *w, uint16_t stream, uint32_t k, size_t len, uint16_t policy, uint32_t value,
                         bool unordered) {
    uint8_t *buf = malloc(len);
    fill(buf, len, k, stream);
    struct sctp_sendv_spa spa;
    memset(&spa, 0, sizeof spa);
    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID | SCTP_SEND_PRINFO_VALID;
    spa.sendv_sndinfo.snd_sid = stream;
    spa.sendv_sndinfo.snd_ppid = htonl(53);
    spa.sendv_sndinfo.snd_flags = unordered ? SCTP_UNORDERED : 0;
    spa.sendv_prinfo.pr_policy = policy;
    spa.sendv_prinfo.pr_value = value;
    ssize_t n = usrsctp_sendv(w->s, buf, len, NULL, 0, &spa, sizeof spa, SCTP_SENDV_SPA, 0);
    free(buf);
    if (n != (ssize_t)len && getenv("SLUICE_SCTP_VERBOSE")) printf("sendv k=%u: %zd errno %d\n", k, n, errno);
    return n == (ssize_t)len ? 0 : -1;
}

static int their_send(world *w, uint16_t stream, uint32_t k, size_t len, bool pr_rtx0) {
    uint8_t *buf = malloc(len);
    fill(buf, len, k, stream);
    struct sctp_sendv_spa spa;
    memset(&spa, 0, sizeof spa);
    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    spa.sendv_sndinfo.snd_sid = stream;
    spa.sendv_sndinfo.snd_ppid = htonl(53);
    if (pr_rtx0) {
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = SCTP_PR_SCTP_RTX;
        spa.sendv_prinfo.pr_value = 0;
    }
    ssize_t n = usrsctp_sendv(w->s, buf, len, NULL, 0, &spa, sizeof spa, SCTP_SENDV_SPA, 0);
    free(buf);
    return n == (ssize_t)len ? 0 : -1;
}

/* ---- our side ---------------------------------------------------------------------------- */

static void our_events(world *w) {
    sluice_sctp_event ev;
    while (sluice_sctp_poll_event(w->a, &ev) == 1) {
        if (ev.type == SLUICE_SCTP_EVENT_CONNECTED) w->up = true;
        if (ev.type == SLUICE_SCTP_EVENT_CLOSED) {
            w->closed = true;
            w->close_err = ev.error;
        }
        if (ev.type == SLUICE_SCTP_EVENT_STREAM_RESET) {
            w->resets_in++;
            if (w->answer_resets && ev.stream < 1024 && !w->our_out_reset[ev.stream]) {
                uint16_t st = ev.stream;
                w->our_out_reset[st] = true;
                assert_int_equal(sluice_sctp_reset_streams(w->a, g_now, &st, 1), 0);
            }
        }
        if (ev.type == SLUICE_SCTP_EVENT_STREAM_RESET_DONE) w->resets_done++;
        if (ev.type == SLUICE_SCTP_EVENT_STREAM_RESET_REQUESTED) {
            w->resets_requested++;
            if (ev.stream < 1024) w->our_out_reset[ev.stream] = true; /* being reset already */
        }
        if (ev.type == SLUICE_SCTP_EVENT_MESSAGE) {
            uint32_t k = 0;
            assert_int_equal(ev.message.ppid, 53);
            assert_true(check(ev.message.data, ev.message.len, &k, ev.message.stream));
            if (ev.message.stream < 64 && !ev.message.unordered) {
                if (w->allow_gaps ? k < w->next_k[ev.message.stream] : k != w->next_k[ev.message.stream])
                    w->ooo = true;
                w->next_k[ev.message.stream] = k + 1;
            }
            w->msgs++;
            w->bytes += ev.message.len;
            free(ev.message.data);
        }
    }
}

/* ---- the loop ------------------------------------------------------------------------------- */

static void deliver_due(world *w) {
    /* to us */
    size_t keep = 0;
    for (size_t i = 0; i < w->to_us.n; i++) {
        pkt *p = &w->to_us.q[i];
        if (p->at <= g_now) sluice_sctp_handle_packet(w->a, g_now, p->data, p->len);
        else w->to_us.q[keep++] = *p;
    }
    w->to_us.n = keep;
    our_events(w);
    keep = 0;
    size_t n = w->to_them.n;
    pkt *due = malloc(sizeof(pkt) * (n ? n : 1));
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        pkt *p = &w->to_them.q[i];
        if (p->at <= g_now) due[nd++] = *p;
        else w->to_them.q[keep++] = *p;
    }
    w->to_them.n = keep;
    for (size_t i = 0; i < nd; i++) usrsctp_conninput(w, due[i].data, due[i].len, 0);
    free(due);
    their_read(w);
}

static void collect_ours(world *w) {
    uint8_t buf[1500];
    int n;
    while ((n = sluice_sctp_poll_packet(w->a, g_now, buf, sizeof buf)) > 0)
        if (sluice_prng_unit(&w->prng) >= w->loss) link_push(&w->to_them, buf, (size_t)n, g_now + w->delay_us);
}

/* Advance virtual time by at most 10 ms (usrsctp has no deadline API). */
static void step(world *w) {
    collect_ours(w);
    deliver_due(w);
    collect_ours(w);
    sluice_time next = g_now + 10000;
    next = sluice_time_min(next, sluice_sctp_next_deadline(w->a));
    for (size_t i = 0; i < w->to_us.n; i++) next = sluice_time_min(next, w->to_us.q[i].at);
    for (size_t i = 0; i < w->to_them.n; i++) next = sluice_time_min(next, w->to_them.q[i].at);
    if (next <= g_now) next = g_now + 1;
    sluice_time before = g_now;
    g_now = next;
    /* usrsctp timers tick in whole milliseconds */
    uint32_t ms = (uint32_t)(g_now / 1000 - before / 1000);
    if (ms) usrsctp_handle_timers(ms);
    if (sluice_sctp_next_deadline(w->a) <= g_now) sluice_sctp_handle_timeout(w->a, g_now);
    our_events(w);
    their_read(w);
}

static bool run_until(world *w, sluice_time limit, bool (*done)(world *)) {
    sluice_time end = g_now + limit;
    while (g_now < end) {
        if (done(w)) return true;
        step(w);
        if (w->ls && !w->s) {
            struct socket *s = usrsctp_accept(w->ls, NULL, NULL);
            if (s) {
                w->s = s;
                their_socket_options(s);
            }
        }
    }
    return done(w);
}

static bool both_up(world *w) {
    if (getenv("SLUICE_SCTP_LOG") && g_now % 1000000 < 10000)
        fprintf(stderr, "t=%.2f our state %d up %d them_up %d\n", (double)g_now / 1e6, sluice_sctp_get_state(w->a),
                w->up, w->them_up);
    return w->up && w->them_up && w->s;
}

static void world_init(world *w, uint64_t seed, double loss, bool we_connect, bool they_connect,
                       bool they_listen) {
    memset(w, 0, sizeof *w);
    g_w = w;
    w->to_us.q = calloc(QCAP, sizeof(pkt));
    w->to_them.q = calloc(QCAP, sizeof(pkt));
    sluice_prng_seed(&w->prng, seed);
    sluice_prng_seed(&w->arng_state, seed + 100);
    w->arng.fn = sluice_prng_random_fn;
    w->arng.user = &w->arng_state;
    w->loss = loss;
    w->delay_us = 15000;
    usrsctp_register_address(w);
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    g_port++;
    s.local_port = s.remote_port = g_port;
    s.zero_checksum = g_zero_checksum;
    static const sluice_logger lg = {sluice_log_stderr, NULL, SLUICE_LOG_TRACE};
    assert_int_equal(sluice_sctp_new(&w->a, &s, NULL, &w->arng, getenv("SLUICE_SCTP_LOG") ? &lg : NULL), 0);
    if (they_listen) {
        w->ls = their_new_socket(w);
        assert_int_equal(usrsctp_listen(w->ls, 1), 0);
    } else {
        w->s = their_new_socket(w);
    }
    if (they_connect) their_connect(w);
    if (we_connect) assert_int_equal(sluice_sctp_connect(w->a, g_now), 0);
}

static bool all_closed(world *w) { return w->closed; }

static void world_free(world *w) {
    if (w->s) usrsctp_close(w->s);
    if (w->ls) usrsctp_close(w->ls);
    w->s = w->ls = NULL;
    /* let the association go (ABORT from usrsctp's close reaches us) */
    run_until(w, 2000000, all_closed);
    usrsctp_deregister_address(w);
    sluice_sctp_free(w->a);
    free(w->to_us.q);
    free(w->to_them.q);
    g_w = NULL;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static bool got_all(world *w) { return w->msgs >= 50 && w->their_msgs >= 50; }

static void exchange(world *w, bool pr) {
    for (uint32_t k = 0; k < 50; k++) {
        uint16_t st = (uint16_t)(k % 3);
        size_t len = 4 + (k * 977) % 5000;
        assert_int_equal(sluice_sctp_send(w->a, g_now, st, 53, NULL, 0, NULL), SLUICE_ERR_INVALID_ARGUMENT);
        uint8_t *buf = malloc(len);
        fill(buf, len, k / 3, st);
        sluice_sctp_send_options o;
        memset(&o, 0, sizeof o);
        if (pr) {
            o.has_max_retransmits = true;
            o.max_retransmits = 0;
        }
        assert_int_equal(sluice_sctp_send(w->a, g_now, st, 53, buf, len, &o), 0);
        free(buf);
        assert_int_equal(their_send(w, st, k / 3, len, pr), 0);
    }
}

static void test_sctp_usrsctp_they_connect_we_accept(void **state) {
    (void)state;
    world w;
    world_init(&w, 1, 0, false, true, false);
    assert_true(run_until(&w, 30000000, both_up));
    exchange(&w, false);
    assert_true(run_until(&w, 60000000, got_all));
    assert_false(w.ooo);
    assert_false(w.their_ooo);
    world_free(&w);
}

static void test_sctp_usrsctp_we_connect_they_accept(void **state) {
    (void)state;
    world w;
    world_init(&w, 2, 0, true, false, true);
    assert_true(run_until(&w, 30000000, both_up));
    exchange(&w, false);
    assert_true(run_until(&w, 60000000, got_all));
    assert_false(w.ooo);
    world_free(&w);
}

static void test_sctp_usrsctp_init_collision(void **state) {
    (void)state;
    world w;
    world_init(&w, 3, 0, true, true, false);
    assert_true(run_until(&w, 30000000, both_up));
    exchange(&w, false);
    assert_true(run_until(&w, 60000000, got_all));
    world_free(&w);
}

static void test_sctp_usrsctp_reliable_with_loss(void **state) {
    (void)state;
    for (uint64_t seed = 10; seed < 16; seed++) {
        world w;
        /* 10-13: one side opens (alternating), 14-15: both at once (collision) */
        bool both = seed >= 14;
        world_init(&w, seed, 0.15, both || (seed & 1), both || !(seed & 1), !both && (seed & 1));
        assert_true(run_until(&w, 60000000, both_up));
        exchange(&w, false);
        assert_true(run_until(&w, 600000000, got_all));
        assert_int_equal(w.msgs, 50);
        assert_int_equal(w.their_msgs, 50);
        assert_false(w.ooo);
        assert_false(w.their_ooo);
        world_free(&w);
    }
}

static bool never(world *w) {
    (void)w;
    return false;
}

static void test_sctp_usrsctp_partial_reliability_with_loss(void **state) {
    (void)state;
    world w;
    world_init(&w, 20, 0.2, true, false, true);
    assert_true(run_until(&w, 60000000, both_up));
    exchange(&w, true);
    w.allow_gaps = true;
    run_until(&w, 30000000, never);
    /* Never more than sent, never out of order, and the association survived. */
    assert_true(w.msgs <= 50 && w.their_msgs <= 50);
    assert_false(w.ooo);
    assert_false(w.their_ooo);
    assert_false(w.closed);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(w.a, &st);
    assert_true(st.messages_abandoned > 0 || w.their_msgs == 50);
    /* still usable: a reliable message gets through */
    w.loss = 0;
    uint8_t m[8];
    fill(m, 8, 999, 5);
    assert_int_equal(sluice_sctp_send(w.a, g_now, 5, 53, m, 8, NULL), 0);
    uint64_t before = w.their_msgs;
    for (int i = 0; i < 2000 && w.their_msgs == before; i++) step(&w);
    assert_int_equal(w.their_msgs, before + 1);
    world_free(&w);
}

static bool resets_done(world *w) { return w->resets_done >= 1 && w->resets_in >= 1 && w->their_resets_in >= 1; }

static void test_sctp_usrsctp_stream_reset_both_ways(void **state) {
    (void)state;
    world w;
    world_init(&w, 30, 0.05, true, false, true);
    assert_true(run_until(&w, 60000000, both_up));
    exchange(&w, false);
    uint16_t s = 1;
    w.our_out_reset[1] = true;
    assert_int_equal(sluice_sctp_reset_streams(w.a, g_now, &s, 1), 0);
    assert_true(run_until(&w, 120000000, resets_done));
    assert_true(run_until(&w, 120000000, got_all));
    /* stream 1 restarts at SSN 0 both ways */
    uint8_t m[8];
    fill(m, 8, 17, 1);
    w.their_next_k[1] = 17;
    assert_int_equal(sluice_sctp_send(w.a, g_now, 1, 53, m, 8, NULL), 0);
    uint64_t before = w.their_msgs;
    for (int i = 0; i < 3000 && w.their_msgs == before; i++) step(&w);
    assert_int_equal(w.their_msgs, before + 1);
    assert_false(w.their_ooo);
    world_free(&w);
}

static void test_sctp_usrsctp_they_abort_we_report(void **state) {
    (void)state;
    world w;
    world_init(&w, 40, 0, false, true, false);
    assert_true(run_until(&w, 30000000, both_up));
    struct linger l = {1, 0};
    usrsctp_setsockopt(w.s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    usrsctp_close(w.s);
    w.s = NULL;
    assert_true(run_until(&w, 10000000, all_closed));
    assert_int_equal(w.close_err, SLUICE_ERR_ABORTED);
    world_free(&w);
}

/* usrsctp asks for a reset of one stream (SCTP_STREAM_RESET_OUTGOING: its own outgoing
 * stream; _INCOMING: ours). */
static void usrsctp_reset_stream(world *w, uint16_t stream, uint16_t flags) {
    uint8_t raw[sizeof(struct sctp_reset_streams) + 2];
    struct sctp_reset_streams *rs = (struct sctp_reset_streams *)raw;
    memset(raw, 0, sizeof raw);
    rs->srs_assoc_id = SCTP_ALL_ASSOC;
    rs->srs_flags = flags;
    rs->srs_number_streams = 1;
    memcpy(raw + sizeof *rs, &stream, 2);
    assert_int_equal(usrsctp_setsockopt(w->s, IPPROTO_SCTP, SCTP_RESET_STREAMS, rs, sizeof raw), 0);
}

/* After a reset, both directions of `stream` start again at SSN 0: one message each way. */
static void check_stream_restarts_both_ways(world *w, uint16_t stream) {
    uint8_t m[8];
    fill(m, 8, 0, stream);
    w->their_next_k[stream] = 0;
    w->next_k[stream] = 0;
    assert_int_equal(sluice_sctp_send(w->a, g_now, stream, 53, m, 8, NULL), 0);
    assert_int_equal(their_send(w, stream, 0, 8, false), 0);
    uint64_t b1 = w->their_msgs, b2 = w->msgs;
    for (int i = 0; i < 3000 && (w->their_msgs == b1 || w->msgs == b2); i++) step(w);
    assert_int_equal(w->their_msgs, b1 + 1);
    assert_int_equal(w->msgs, b2 + 1);
    assert_false(w->ooo);
    assert_false(w->their_ooo);
}

static bool their_reset_answered(world *w) { return w->resets_in >= 1 && w->resets_done >= 1 && w->their_resets_in >= 1; }

static void test_sctp_usrsctp_they_reset_we_answer(void **state) {
    (void)state;
    world w;
    world_init(&w, 50, 0.05, false, true, false);
    w.answer_resets = true;
    assert_true(run_until(&w, 60000000, both_up));
    exchange(&w, false);
    assert_true(run_until(&w, 120000000, got_all));
    w.their_out_reset[2] = true;
    usrsctp_reset_stream(&w, 2, SCTP_STREAM_RESET_OUTGOING);
    assert_true(run_until(&w, 120000000, their_reset_answered));
    check_stream_restarts_both_ways(&w, 2);
    world_free(&w);
}

static bool asked_reset_done(world *w) {
    return w->resets_requested >= 1 && w->resets_done >= 1 && w->their_resets_in >= 1 && w->resets_in >= 1 &&
           w->their_resets_out >= 1;
}

/* usrsctp asks us to reset our outgoing stream (RFC 6525 Incoming SSN Reset Request): we
 * do, answering with our own Outgoing SSN Reset Request; it resets its side in turn, as a
 * browser does when it sees a remote reset (RFC 8831 §6.7). */
static void test_sctp_usrsctp_they_ask_us_to_reset_our_stream(void **state) {
    (void)state;
    world w;
    world_init(&w, 55, 0.05, false, true, false);
    w.answer_resets = true;
    assert_true(run_until(&w, 60000000, both_up));
    exchange(&w, false);
    assert_true(run_until(&w, 120000000, got_all));
    usrsctp_reset_stream(&w, 3, SCTP_STREAM_RESET_INCOMING);
    assert_true(run_until(&w, 120000000, asked_reset_done));
    assert_int_equal(w.their_reset_failures, 0);
    /* stream 3 is closed for sending until the reset is done, then reusable from SSN 0
     * both ways */
    check_stream_restarts_both_ways(&w, 3);
    world_free(&w);
}

static bool big_done(world *w) { return w->msgs >= 1 && w->their_msgs >= 1; }

static void test_sctp_usrsctp_large_messages_both_ways(void **state) {
    (void)state;
    world w;
    world_init(&w, 60, 0.05, true, false, true);
    assert_true(run_until(&w, 60000000, both_up));
    size_t len = 100000;
    uint8_t *buf = malloc(len);
    fill(buf, len, 0, 7);
    assert_int_equal(sluice_sctp_send(w.a, g_now, 7, 53, buf, len, NULL), 0);
    free(buf);
    assert_int_equal(their_send(&w, 7, 0, len, false), 0);
    assert_true(run_until(&w, 300000000, big_done));
    assert_int_equal(w.bytes, len);
    world_free(&w);
}

static bool them_closed(world *w) { return w->graceful_closed_them && w->closed; }

static void test_sctp_usrsctp_graceful_shutdown_both_ways(void **state) {
    (void)state;
    /* we shut down */
    world w;
    world_init(&w, 70, 0.05, true, false, true);
    assert_true(run_until(&w, 60000000, both_up));
    exchange(&w, false);
    sluice_sctp_shutdown(w.a, g_now);
    assert_true(run_until(&w, 300000000, them_closed));
    assert_int_equal(w.close_err, 0);
    assert_int_equal(w.their_msgs, 50);
    world_free(&w);
    /* they shut down (usrsctp_close without linger = SHUTDOWN) */
    world_init(&w, 71, 0.05, false, true, false);
    assert_true(run_until(&w, 60000000, both_up));
    usrsctp_shutdown(w.s, SHUT_WR);
    assert_true(run_until(&w, 300000000, all_closed));
    assert_int_equal(w.close_err, 0);
    world_free(&w);
}

static void test_sctp_usrsctp_zero_checksum_offer_is_ignored_by_peer(void **state) {
    (void)state;
    /* usrsctp does not know 0x8001: it must skip it (upper bits 10) and we keep the CRC */
    g_zero_checksum = true;
    world w;
    world_init(&w, 80, 0, true, false, true);
    g_zero_checksum = false;
    assert_true(run_until(&w, 30000000, both_up));
    sluice_sctp_stats st;
    sluice_sctp_get_stats(w.a, &st);
    assert_false(st.zero_checksum);
    exchange(&w, false);
    assert_true(run_until(&w, 60000000, got_all));
    world_free(&w);
}

static void test_sctp_usrsctp_their_timed_pr_sctp_over_loss(void **state) {
    (void)state;
    /* usrsctp abandons by lifetime and sends FORWARD-TSN with stream/SSN pairs for the
     * ordered stream: we skip exactly those, never deliver twice or out of order */
    world w;
    world_init(&w, 90, 0.2, false, true, false);
    assert_true(run_until(&w, 60000000, both_up));
    w.allow_gaps = true;
    uint32_t sent = 0;
    for (uint32_t k = 0; k < 200; k++) {
        /* their send buffer may fill up (EAGAIN): skip, the index just has a gap */
        if (their_send_ex(&w, 3, k, 300 + (k % 7) * 400, SCTP_PR_SCTP_TTL, 150, false) == 0) sent++;
        if (their_send_ex(&w, 4, k, 200, SCTP_PR_SCTP_TTL, 150, true) == 0) sent++;
        for (int i = 0; i < 2; i++) step(&w);
    }
    assert_true(sent > 300);
    run_until(&w, 20000000, never);
    assert_false(w.ooo);
    assert_false(w.closed);
    assert_true(w.msgs < sent && w.msgs > 100);
    /* and afterwards a reliable message on the same ordered stream still arrives */
    w.loss = 0;
    int tries = 0;
    while (their_send_ex(&w, 3, 1000, 50, SCTP_PR_SCTP_NONE, 0, false) != 0 && tries++ < 1000) step(&w);
    for (int i = 0; i < 6000 && w.next_k[3] != 1001; i++) step(&w);
    assert_int_equal(w.next_k[3], 1001);
    assert_false(w.ooo);
    world_free(&w);
}

static int setup(void **state) {
    (void)state;
    usrsctp_init_nothreads(0, conn_output, NULL);
    /* a WebRTC-like INIT (PEERS.md): no ECN, no ASCONF/AUTH */
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_asconf_enable(0);
    usrsctp_sysctl_set_sctp_auth_enable(0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < 3000 && usrsctp_finish() != 0; i++) {
        g_now += 10000;
        usrsctp_handle_timers(10);
    }
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sctp_usrsctp_they_connect_we_accept),
        cmocka_unit_test(test_sctp_usrsctp_we_connect_they_accept),
        cmocka_unit_test(test_sctp_usrsctp_init_collision),
        cmocka_unit_test(test_sctp_usrsctp_reliable_with_loss),
        cmocka_unit_test(test_sctp_usrsctp_partial_reliability_with_loss),
        cmocka_unit_test(test_sctp_usrsctp_stream_reset_both_ways),
        cmocka_unit_test(test_sctp_usrsctp_they_abort_we_report),
        cmocka_unit_test(test_sctp_usrsctp_they_reset_we_answer),
        cmocka_unit_test(test_sctp_usrsctp_they_ask_us_to_reset_our_stream),
        cmocka_unit_test(test_sctp_usrsctp_large_messages_both_ways),
        cmocka_unit_test(test_sctp_usrsctp_graceful_shutdown_both_ways),
        cmocka_unit_test(test_sctp_usrsctp_zero_checksum_offer_is_ignored_by_peer),
        cmocka_unit_test(test_sctp_usrsctp_their_timed_pr_sctp_over_loss),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
#else
int main(void) {
    printf("usrsctp not found at configure time: skipped\n");
    return 77;
}
#endif
