/* Two of our SCTP associations over the simulated network, in virtual time: handshake,
 * INIT collisions, shutdown, abort, hostile input, and seeded stress runs with loss,
 * reordering, duplication, delay and bandwidth limits (SLUICE_SCTP_SEEDS runs, default
 * below). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sctp/assoc.h"
#include "sctp/packet.h"
#include "sctp/sctp.h"
#include "simnet.h"

#define DEFAULT_SEEDS 1000

/* ---- counting allocator (leaks and "no state kept" checks) ------------------------------ */

typedef struct counting {
    long live;
    long total;
    long fail_after; /* > 0: allocations after this many fail */
} counting;

static bool c_should_fail(counting *c) { return c->fail_after > 0 && c->total >= c->fail_after; }

static void *c_malloc(size_t n, void *u) {
    counting *c = u;
    if (c_should_fail(c)) return NULL;
    c->live++;
    c->total++;
    return malloc(n);
}
static void *c_realloc(void *p, size_t n, void *u) {
    counting *c = u;
    if (c_should_fail(c)) return NULL;
    if (!p) {
        c->live++;
        c->total++;
    }
    return realloc(p, n);
}
static void c_free(void *p, void *u) {
    counting *c = u;
    if (p) c->live--;
    free(p);
}

/* ---- a node of the simulation: one association plus what it received ------------------ */

#define MAX_MSGS 4096
#define MAX_STREAMS_T 16

typedef struct sent_msg {
    uint16_t stream;
    uint32_t len;
    uint32_t k;        /* index within its stream */
    bool unordered;
    bool reliable;
    sluice_time sent_at;
    uint32_t lifetime_ms;
} sent_msg;

typedef struct node {
    sluice_sctp *a;
    sluice_prng prng;
    sluice_rng rng;
    sluice_addr addr, peer;
    counting mem;
    sluice_allocator alloc;
    bool connected, closed;
    int close_err;
    char close_reason[128];
    uint16_t nout, nin;
    /* receive checks */
    uint32_t next_k[MAX_STREAMS_T];         /* ordered: next expected index */
    uint8_t *seen;                          /* per global message index: delivered count */
    size_t nseen;
    uint64_t msgs, bytes, reliable_msgs;
    bool reset_out[MAX_STREAMS_T];
    uint32_t stream_resets, reset_done, buffered_low;
    uint16_t last_reset_stream;
    bool failed, paused;
    sluice_time max_late_us; /* worst delivery time beyond a message's lifetime */
    char fail[160];
    struct test_run *run;
} node;

typedef struct test_run {
    sluice_simnet *sn;
    node n[2];
    sent_msg *msgs; /* sent from n[0] to n[1] */
    size_t nmsgs, cap;
    size_t expect_reliable; /* reliable messages that must all arrive */
} test_run;

static void fill_payload(uint8_t *p, size_t len, uint32_t gidx) {
    /* first 4 bytes: the global index (when it fits), then a pattern tied to it */
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(gidx * 131u + i * 7u + 3u);
    if (len >= 4) sluice_store_be32(p, gidx);
}

static void node_fail(node *nd, const char *what) {
    if (!nd->failed) {
        nd->failed = true;
        snprintf(nd->fail, sizeof nd->fail, "%s", what);
    }
}

static void check_message(node *nd, const sluice_sctp_message *m) {
    test_run *r = nd->run;
    nd->msgs++;
    nd->bytes += m->len;
    if (!r || !r->nmsgs) return;
    uint32_t gidx;
    if (m->len >= 4) {
        gidx = sluice_load_be32(m->data);
    } else {
        /* tiny messages only on ordered reliable streams: identify by position */
        if (m->stream >= MAX_STREAMS_T) { node_fail(nd, "tiny message on unknown stream"); return; }
        uint32_t k = nd->next_k[m->stream];
        gidx = UINT32_MAX;
        for (size_t i = 0; i < r->nmsgs; i++)
            if (r->msgs[i].stream == m->stream && r->msgs[i].k == k) { gidx = (uint32_t)i; break; }
    }
    if (gidx >= r->nmsgs) { node_fail(nd, "unknown message"); return; }
    const sent_msg *s = &r->msgs[gidx];
    if (s->stream != m->stream || s->len != m->len) { node_fail(nd, "stream or length mismatch"); return; }
    uint8_t tmp[16];
    size_t chk = SLUICE_MIN(m->len, sizeof tmp);
    /* fill_payload() for the first bytes only, written out: gcc 12 -O3 cannot see that
     * chk <= 16 through the inlined call (a false -Wstringop-overflow). */
    for (size_t i = 0; i < chk && i < sizeof tmp; i++) tmp[i] = (uint8_t)(gidx * 131u + i * 7u + 3u);
    if (chk >= 4) sluice_store_be32(tmp, gidx);
    if (memcmp(tmp, m->data, chk) != 0 ||
        (m->len > 16 && m->data[m->len - 1] != (uint8_t)(gidx * 131u + (m->len - 1) * 7u + 3u))) {
        node_fail(nd, "payload corrupted");
        return;
    }
    if (nd->seen[gidx]++) { node_fail(nd, "message delivered twice"); return; }
    if (s->lifetime_ms) {
        sluice_time limit = s->sent_at + (sluice_time)s->lifetime_ms * 1000u;
        sluice_time now = sluice_simnet_now(r->sn);
        if (now > limit && now - limit > nd->max_late_us) nd->max_late_us = now - limit;
        if (getenv("SLUICE_SCTP_TRACE") && now > limit + 110000)
            printf("late: gidx %u sent %llu delivered %llu\n", gidx, (unsigned long long)s->sent_at,
                   (unsigned long long)now);
    }
    if (s->reliable) nd->reliable_msgs++;
    if (!s->unordered) {
        if (s->reliable && s->k != nd->next_k[s->stream]) {
            char b[128];
            snprintf(b, sizeof b, "ordered stream %u: got #%u, expected #%u", s->stream, s->k, nd->next_k[s->stream]);
            node_fail(nd, b);
            return;
        }
        if (!s->reliable && s->k < nd->next_k[s->stream]) { node_fail(nd, "PR ordered went backwards"); return; }
        nd->next_k[s->stream] = s->k + 1;
    }
}

static void node_events(node *nd) {
    sluice_sctp_event ev;
    if (nd->paused) return;
    while (sluice_sctp_poll_event(nd->a, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_SCTP_EVENT_CONNECTED:
            nd->connected = true;
            nd->nout = ev.num_outbound;
            nd->nin = ev.num_inbound;
            break;
        case SLUICE_SCTP_EVENT_MESSAGE:
            check_message(nd, &ev.message);
            sluice_mem_free(&nd->alloc, ev.message.data);
            break;
        case SLUICE_SCTP_EVENT_CLOSED:
            nd->closed = true;
            nd->close_err = ev.error;
            snprintf(nd->close_reason, sizeof nd->close_reason, "%s", ev.reason);
            break;
        case SLUICE_SCTP_EVENT_STREAM_RESET:
            nd->stream_resets++;
            nd->last_reset_stream = ev.stream;
            if (ev.stream < MAX_STREAMS_T && !nd->reset_out[ev.stream] && !nd->closed) {
                /* RFC 8831 §6.7: reset our outgoing side in turn */
                uint16_t s = ev.stream;
                nd->reset_out[s] = true;
                (void)sluice_sctp_reset_streams(nd->a, 0, &s, 1);
            }
            break;
        case SLUICE_SCTP_EVENT_STREAM_RESET_DONE:
            nd->reset_done++;
            break;
        case SLUICE_SCTP_EVENT_BUFFERED_LOW:
            nd->buffered_low++;
            break;
        default:
            break;
        }
    }
}

static void n_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                      const uint8_t *data, size_t len) {
    (void)from;
    (void)to;
    node *nd = obj;
    sluice_sctp_handle_packet(nd->a, now, data, len);
    node_events(nd);
}
static size_t n_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    node *nd = obj;
    int n = sluice_sctp_poll_packet(nd->a, now, buf, cap);
    if (n <= 0) return 0;
    if (getenv("SLUICE_SCTP_TRACE") && nd == &nd->run->n[0]) {
        sluice_sctp_chunk_iter it;
        sluice_sctp_chunk c;
        sluice_sctp_chunk_iter_init(&it, buf, (size_t)n);
        while (sluice_sctp_chunk_next(&it, &c) == 1) {
            if (c.type == SLUICE_SCTP_CHUNK_IDATA && c.value_len >= 20)
                printf("t=%llu tx I-DATA tsn %u flags %x gidx %u\n", (unsigned long long)now, sluice_load_be32(c.value),
                       c.flags, sluice_load_be32(c.value + 16));
            else if (c.type == SLUICE_SCTP_CHUNK_DATA && c.value_len >= 16)
                printf("t=%llu tx DATA tsn %u gidx %u\n", (unsigned long long)now, sluice_load_be32(c.value),
                       sluice_load_be32(c.value + 12));
            else
                printf("t=%llu tx chunk %u\n", (unsigned long long)now, c.type);
        }
    }
    *from = nd->addr;
    *to = nd->peer;
    return (size_t)n;
}
static sluice_time n_deadline(void *obj) { return sluice_sctp_next_deadline(((node *)obj)->a); }
static void n_timeout(void *obj, sluice_time now) {
    node *nd = obj;
    sluice_sctp_handle_timeout(nd->a, now);
    node_events(nd);
}

static const sluice_sim_node_ops node_ops = {n_deliver, n_poll, n_deadline, n_timeout};

static void run_init(test_run *r, uint64_t seed, const sluice_sctp_settings *s0, const sluice_sctp_settings *s1) {
    memset(r, 0, sizeof *r);
    r->sn = sluice_simnet_new(seed, 1000000);
    assert_non_null(r->sn);
    for (int i = 0; i < 2; i++) {
        node *nd = &r->n[i];
        nd->run = r;
        sluice_prng_seed(&nd->prng, seed * 2 + (uint64_t)i + 1);
        nd->rng.fn = sluice_prng_random_fn;
        nd->rng.user = &nd->prng;
        nd->alloc.malloc = c_malloc;
        nd->alloc.realloc = c_realloc;
        nd->alloc.free = c_free;
        nd->alloc.user = &nd->mem;
        nd->addr = sluice_sim_addr4(10, 0, 0, (uint8_t)(i + 1), 5000);
        nd->peer = sluice_sim_addr4(10, 0, 0, (uint8_t)(2 - i), 5000);
        sluice_sctp_settings st;
        const sluice_sctp_settings *sp = i == 0 ? s0 : s1;
        if (!sp) {
            sluice_sctp_settings_default(&st);
            sp = &st;
        }
        static const sluice_logger lg = {sluice_log_stderr, NULL, SLUICE_LOG_TRACE};
        assert_int_equal(sluice_sctp_new(&nd->a, sp, &nd->alloc, &nd->rng, getenv("SLUICE_SCTP_LOG") ? &lg : NULL), 0);
        int id = sluice_simnet_add_node(r->sn, &node_ops, nd);
        assert_true(id >= 0);
        assert_int_equal(sluice_simnet_bind(r->sn, id, &nd->addr), 0);
    }
}

static void run_free(test_run *r) {
    for (int i = 0; i < 2; i++) {
        sluice_sctp_free(r->n[i].a);
        assert_int_equal(r->n[i].mem.live, 0);
        free(r->n[i].seen);
    }
    free(r->msgs);
    sluice_simnet_free(r->sn);
}

static void set_paths(test_run *r, const sluice_sim_path *p) {
    assert_int_equal(sluice_simnet_set_path(r->sn, &r->n[0].addr, &r->n[1].addr, p), 0);
    assert_int_equal(sluice_simnet_set_path(r->sn, &r->n[1].addr, &r->n[0].addr, p), 0);
}

static bool both_connected(void *u) {
    test_run *r = u;
    return r->n[0].connected && r->n[1].connected;
}
static bool both_closed(void *u) {
    test_run *r = u;
    return r->n[0].closed && r->n[1].closed;
}
static bool all_delivered(void *u) {
    test_run *r = u;
    return r->n[1].reliable_msgs >= r->expect_reliable || r->n[1].failed || r->n[0].closed || r->n[1].closed;
}

static sluice_time now_of(test_run *r) { return sluice_simnet_now(r->sn); }

/* Queue a message from n[0] on `stream`, recording it for the checks. */
static int send_msg(test_run *r, uint16_t stream, size_t len, const sluice_sctp_send_options *opt) {
    if (r->nmsgs == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->msgs = realloc(r->msgs, r->cap * sizeof *r->msgs);
    }
    uint32_t k = 0;
    for (size_t i = 0; i < r->nmsgs; i++)
        if (r->msgs[i].stream == stream) k++;
    uint8_t *buf = malloc(len);
    fill_payload(buf, len, (uint32_t)r->nmsgs);
    int rc = sluice_sctp_send(r->n[0].a, now_of(r), stream, 53, buf, len, opt);
    free(buf);
    if (rc == 0) {
        sent_msg *m = &r->msgs[r->nmsgs++];
        m->stream = stream;
        m->len = (uint32_t)len;
        m->k = k;
        m->unordered = opt && opt->unordered;
        m->reliable = !(opt && (opt->has_max_retransmits || opt->has_lifetime));
        m->sent_at = now_of(r);
        m->lifetime_ms = opt && opt->has_lifetime ? opt->lifetime_ms : 0;
        if (m->reliable) r->expect_reliable++;
        node *rx = &r->n[1];
        rx->seen = realloc(rx->seen, r->cap);
        memset(rx->seen + rx->nseen, 0, r->cap - rx->nseen);
        rx->nseen = r->cap;
    }
    return rc;
}

static void connect_pair(test_run *r, bool collide) {
    assert_int_equal(sluice_sctp_connect(r->n[0].a, now_of(r)), 0);
    if (collide) assert_int_equal(sluice_sctp_connect(r->n[1].a, now_of(r)), 0);
    if (!sluice_simnet_run(r->sn, now_of(r) + 900000000ull, both_connected, r))
    {
        sluice_sim_counters c = sluice_simnet_counters(r->sn, NULL, NULL);
        fail_msg("no connection: states %d/%d closed %d/%d (%s) sent %llu delivered %llu lost %llu; "
                 "n1: rx %llu dropped %llu tx %llu",
                 sluice_sctp_get_state(r->n[0].a), sluice_sctp_get_state(r->n[1].a), r->n[0].closed,
                 r->n[1].closed, r->n[0].close_reason, (unsigned long long)c.sent,
                 (unsigned long long)c.delivered, (unsigned long long)c.lost,
                 (unsigned long long)r->n[1].a->st.packets_received, (unsigned long long)r->n[1].a->st.packets_dropped,
                 (unsigned long long)r->n[1].a->st.packets_sent);
    }
    assert_int_equal(sluice_sctp_get_state(r->n[0].a), SLUICE_SCTP_ESTABLISHED);
    assert_int_equal(sluice_sctp_get_state(r->n[1].a), SLUICE_SCTP_ESTABLISHED);
}

/* ---- handshake ------------------------------------------------------------------------ */

static void test_sctp_assoc_handshake_connects_both_sides(void **state) {
    (void)state;
    test_run r;
    sluice_sctp_settings s1;
    sluice_sctp_settings_default(&s1);
    s1.num_streams = 300;
    run_init(&r, 1, NULL, &s1);
    connect_pair(&r, false);
    assert_int_equal(r.n[0].nout, 300);
    assert_int_equal(r.n[0].nin, 300);
    assert_int_equal(r.n[1].nout, 300);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(r.n[0].a, &st);
    assert_true(st.idata); /* on by default when both offer it */
    assert_false(st.zero_checksum);
    run_free(&r);
    /* I-DATA only when both offer it */
    sluice_sctp_settings si;
    sluice_sctp_settings_default(&si);
    si.enable_idata = true;
    run_init(&r, 2, &si, &si);
    connect_pair(&r, false);
    sluice_sctp_get_stats(r.n[1].a, &st);
    assert_true(st.idata);
    run_free(&r);
    sluice_sctp_settings no_idata;
    sluice_sctp_settings_default(&no_idata);
    no_idata.enable_idata = false;
    run_init(&r, 3, &si, &no_idata);
    connect_pair(&r, true);
    sluice_sctp_get_stats(r.n[0].a, &st);
    assert_false(st.idata);
    run_free(&r);
}

static void test_sctp_assoc_init_collision_connects(void **state) {
    (void)state;
    /* Both sides send INIT at once (libwebrtc, pion), with and without delays and loss. */
    for (uint64_t seed = 1; seed <= 12; seed++) {
        test_run r;
        run_init(&r, seed, NULL, NULL);
        sluice_sim_path p;
        memset(&p, 0, sizeof p);
        p.delay_us = (uint32_t)(seed * 7000);
        p.jitter_us = (uint32_t)(seed % 3) * 5000;
        p.loss = seed > 6 ? 0.2 : 0;
        set_paths(&r, &p);
        connect_pair(&r, true);
        /* the tags agree both ways */
        assert_int_equal(r.n[0].a->peer_tag, r.n[1].a->my_tag);
        assert_int_equal(r.n[1].a->peer_tag, r.n[0].a->my_tag);
        run_free(&r);
    }
}

static void test_sctp_assoc_late_connect_after_stateless_init_ack(void **state) {
    (void)state;
    /* n[1] calls connect at every moment of n[0]'s handshake: before the INIT arrives,
     * after its stateless INIT-ACK went out, after the COOKIE-ECHO, ... (§5.2 tables) */
    for (uint32_t off_ms = 0; off_ms <= 200; off_ms += 10) {
        test_run r;
        run_init(&r, 30 + off_ms, NULL, NULL);
        sluice_sim_path p;
        memset(&p, 0, sizeof p);
        p.delay_us = 30000;
        set_paths(&r, &p);
        assert_int_equal(sluice_sctp_connect(r.n[0].a, now_of(&r)), 0);
        sluice_simnet_run(r.sn, now_of(&r) + (sluice_time)off_ms * 1000, NULL, NULL);
        int rc = sluice_sctp_connect(r.n[1].a, now_of(&r));
        assert_true(rc == 0 || rc == SLUICE_ERR_INVALID_STATE);
        sluice_time t0 = now_of(&r);
        assert_true(sluice_simnet_run(r.sn, now_of(&r) + 60000000ull, both_connected, &r));
        if (getenv("SLUICE_SCTP_VERBOSE")) printf("offset %u ms: up after %.3f s\n", off_ms, (double)(now_of(&r) - t0) / 1e6);
        assert_int_equal(r.n[0].a->peer_tag, r.n[1].a->my_tag);
        assert_int_equal(r.n[1].a->peer_tag, r.n[0].a->my_tag);
        assert_int_equal(send_msg(&r, 1, 100, NULL), 0);
        assert_true(sluice_simnet_run(r.sn, now_of(&r) + 30000000ull, all_delivered, &r));
        if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
        run_free(&r);
    }
}

static void test_sctp_assoc_messages_queued_before_connect_are_sent_once_up(void **state) {
    (void)state;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.num_streams = 16;
    test_run r;
    run_init(&r, 40, &s, NULL);
    for (int i = 0; i < 10; i++) assert_int_equal(send_msg(&r, (uint16_t)(i % 4), 50, NULL), 0);
    assert_int_equal(sluice_sctp_send(r.n[0].a, now_of(&r), 16, 51, (const uint8_t *)"x", 1, NULL),
                     SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_sctp_buffered_amount(r.n[0].a, 0), 150);
    connect_pair(&r, false);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 30000000ull, all_delivered, &r));
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    assert_int_equal(r.n[1].msgs, 10);
    assert_int_equal(sluice_sctp_buffered_amount(r.n[0].a, 0), 0);
    run_free(&r);
}

static void test_sctp_assoc_buffered_low_fires_when_queue_drains(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 41, NULL, NULL);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 20000;
    p.bandwidth_bps = 2000000;
    set_paths(&r, &p);
    connect_pair(&r, false);
    sluice_sctp_set_buffered_low_threshold(r.n[0].a, 3, 10000);
    for (int i = 0; i < 40; i++) assert_int_equal(send_msg(&r, 3, 1000, NULL), 0);
    assert_true(sluice_sctp_buffered_amount(r.n[0].a, 3) > 10000);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 30000000ull, all_delivered, &r));
    node_events(&r.n[0]);
    assert_int_equal(r.n[0].buffered_low, 1);
    assert_int_equal(sluice_sctp_buffered_amount(r.n[0].a, 3), 0);
    run_free(&r);
}

static bool both_reset_done(void *u) {
    test_run *r = u;
    return r->n[0].reset_done && r->n[1].reset_done && r->n[0].stream_resets && r->n[1].stream_resets;
}

static void test_sctp_assoc_both_sides_reset_the_same_stream_at_once(void **state) {
    (void)state;
    /* WebRTC: both applications close the channel at the same moment */
    for (uint64_t seed = 60; seed < 66; seed++) {
        test_run r;
        run_init(&r, seed, NULL, NULL);
        sluice_sim_path p;
        memset(&p, 0, sizeof p);
        p.delay_us = 20000;
        p.loss = seed > 62 ? 0.2 : 0;
        set_paths(&r, &p);
        connect_pair(&r, false);
        for (int i = 0; i < 5; i++) assert_int_equal(send_msg(&r, 6, 500, NULL), 0);
        uint8_t m[4] = {1, 2, 3, 4};
        assert_int_equal(sluice_sctp_send(r.n[1].a, now_of(&r), 6, 51, m, 4, NULL), 0);
        uint16_t st = 6;
        r.n[0].reset_out[6] = r.n[1].reset_out[6] = true;
        assert_int_equal(sluice_sctp_reset_streams(r.n[0].a, now_of(&r), &st, 1), 0);
        assert_int_equal(sluice_sctp_reset_streams(r.n[1].a, now_of(&r), &st, 1), 0);
        assert_true(sluice_simnet_run(r.sn, now_of(&r) + 120000000ull, both_reset_done, &r));
        if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
        assert_int_equal(r.n[1].msgs, 5);
        assert_int_equal(r.n[0].msgs, 1);
        assert_int_equal(r.n[0].stream_resets, 1);
        assert_int_equal(r.n[1].stream_resets, 1);
        assert_int_equal(r.n[0].reset_done, 1);
        assert_int_equal(r.n[1].reset_done, 1);
        run_free(&r);
    }
}

static void test_sctp_assoc_zero_checksum_when_both_announce(void **state) {
    (void)state;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.zero_checksum = true;
    test_run r;
    run_init(&r, 3, &s, &s);
    connect_pair(&r, false);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(r.n[0].a, &st);
    assert_true(st.zero_checksum);
    uint8_t msg[100] = {1};
    assert_int_equal(send_msg(&r, 1, sizeof msg, NULL), 0);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 10000000ull, all_delivered, &r));
    assert_false(r.n[1].failed);
    run_free(&r);
    /* only one side: both keep the CRC */
    run_init(&r, 3, &s, NULL);
    connect_pair(&r, false);
    sluice_sctp_get_stats(r.n[0].a, &st);
    assert_false(st.zero_checksum);
    run_free(&r);
}

static void test_sctp_assoc_init_times_out_without_peer(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 4, NULL, NULL);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.down = true;
    set_paths(&r, &p);
    assert_int_equal(sluice_sctp_connect(r.n[0].a, now_of(&r)), 0);
    sluice_simnet_run(r.sn, now_of(&r) + 600000000ull, both_closed, &r);
    assert_true(r.n[0].closed);
    assert_int_equal(r.n[0].close_err, SLUICE_ERR_TIMEOUT);
    assert_int_equal(sluice_sctp_connect(r.n[0].a, now_of(&r)), SLUICE_ERR_INVALID_STATE);
    run_free(&r);
}

/* ---- shutdown and abort ------------------------------------------------------------------ */

static void test_sctp_assoc_shutdown_delivers_data_in_flight(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 5, NULL, NULL);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 40000;
    p.loss = 0.1;
    set_paths(&r, &p);
    connect_pair(&r, false);
    for (int i = 0; i < 60; i++) assert_int_equal(send_msg(&r, (uint16_t)(i % 3), 3000, NULL), 0);
    sluice_sctp_shutdown(r.n[0].a, now_of(&r));
    assert_int_equal(sluice_sctp_send(r.n[0].a, now_of(&r), 0, 51, (const uint8_t *)"x", 1, NULL),
                     SLUICE_ERR_INVALID_STATE);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 300000000ull, both_closed, &r));
    assert_false(r.n[1].failed);
    assert_int_equal(r.n[1].msgs, 60);
    assert_int_equal(r.n[0].close_err, 0);
    assert_int_equal(r.n[1].close_err, 0);
    run_free(&r);
}

static void test_sctp_assoc_abort_reports_reason_to_peer(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 6, NULL, NULL);
    connect_pair(&r, false);
    sluice_sctp_abort(r.n[0].a, now_of(&r), "going away");
    node_events(&r.n[0]);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 10000000ull, both_closed, &r));
    assert_int_equal(r.n[1].close_err, SLUICE_ERR_ABORTED);
    assert_non_null(strstr(r.n[1].close_reason, "going away"));
    assert_int_equal(r.n[0].close_err, SLUICE_ERR_ABORTED);
    run_free(&r);
}

static void test_sctp_assoc_peer_gone_hits_max_retrans(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 7, NULL, NULL);
    connect_pair(&r, false);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.down = true;
    set_paths(&r, &p);
    assert_int_equal(send_msg(&r, 0, 100, NULL), 0);
    sluice_simnet_run(r.sn, now_of(&r) + 600000000ull, both_closed, &r);
    assert_true(r.n[0].closed);
    assert_int_equal(r.n[0].close_err, SLUICE_ERR_TIMEOUT);
    run_free(&r);
}

/* ---- hostile input ------------------------------------------------------------------------ */

static size_t raw_packet(uint8_t *buf, size_t cap, uint32_t vtag, uint8_t type, uint8_t flags,
                         const uint8_t *v, size_t vl) {
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, cap, 5000, 5000, vtag);
    assert_int_equal(sluice_sctp_pkt_chunk(&p, type, flags, v, vl), 0);
    return sluice_sctp_pkt_end(&p, false);
}

static size_t raw_init(uint8_t *buf, size_t cap, uint32_t tag) {
    sluice_sctp_init in;
    memset(&in, 0, sizeof in);
    in.init_tag = tag;
    in.a_rwnd = 100000;
    in.os = in.mis = 10;
    in.initial_tsn = tag * 3;
    uint8_t v[64];
    sluice_wr w = sluice_wr_make(v, sizeof v);
    sluice_sctp_init_write(&w, &in);
    return raw_packet(buf, cap, 0, SLUICE_SCTP_CHUNK_INIT, 0, v, sluice_wr_len(&w));
}

static void test_sctp_assoc_init_flood_keeps_no_state(void **state) {
    (void)state;
    sluice_prng pr;
    sluice_prng_seed(&pr, 9);
    sluice_rng rng = {sluice_prng_random_fn, &pr};
    counting mem = {0, 0, 0};
    sluice_allocator al = {c_malloc, c_realloc, c_free, &mem};
    sluice_sctp *a;
    assert_int_equal(sluice_sctp_new(&a, NULL, &al, &rng, NULL), 0);
    long base = mem.live;
    uint8_t pkt[256], out[1500];
    size_t answered = 0;
    for (uint32_t i = 1; i <= 5000; i++) {
        size_t n = raw_init(pkt, sizeof pkt, i);
        sluice_sctp_handle_packet(a, i, pkt, n);
        if (i % 3 == 0) {
            int k;
            while ((k = sluice_sctp_poll_packet(a, i, out, sizeof out)) > 0) {
                answered++;
                assert_int_equal(out[12], SLUICE_SCTP_CHUNK_INIT_ACK);
            }
        }
        assert_int_equal(mem.live, base);
    }
    assert_true(answered > 1000);
    assert_int_equal(sluice_sctp_get_state(a), SLUICE_SCTP_CLOSED);
    sluice_sctp_event ev;
    assert_int_equal(sluice_sctp_poll_event(a, &ev), 0);
    sluice_sctp_free(a);
    assert_int_equal(mem.live, 0);
}

static void test_sctp_assoc_wrong_verification_tags_are_ignored(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 10, NULL, NULL);
    connect_pair(&r, false);
    sluice_sctp *b = r.n[1].a;
    uint8_t pkt[256];
    size_t n;
    uint64_t dropped0 = b->st.packets_dropped;
    /* ABORT with a wrong tag, with the T bit but our own tag, SHUTDOWN with a wrong tag */
    n = raw_packet(pkt, sizeof pkt, b->my_tag ^ 1, SLUICE_SCTP_CHUNK_ABORT, 0, NULL, 0);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    n = raw_packet(pkt, sizeof pkt, b->my_tag, SLUICE_SCTP_CHUNK_ABORT, SLUICE_SCTP_FLAG_T, NULL, 0);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    uint8_t cum[4] = {0};
    n = raw_packet(pkt, sizeof pkt, 12345, SLUICE_SCTP_CHUNK_SHUTDOWN, 0, cum, 4);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    n = raw_packet(pkt, sizeof pkt, b->peer_tag, SLUICE_SCTP_CHUNK_SHUTDOWN_COMPLETE, 0, NULL, 0);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    /* INIT with a non-zero tag */
    n = raw_init(pkt, sizeof pkt, 77);
    sluice_store_be32(pkt + 4, 5);
    sluice_sctp_packet_seal(pkt, n, false);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    assert_int_equal(sluice_sctp_get_state(b), SLUICE_SCTP_ESTABLISHED);
    assert_true(b->st.packets_dropped >= dropped0 + 5);
    /* the right tag with the T bit (our tag is the peer's "peer tag") does abort */
    n = raw_packet(pkt, sizeof pkt, b->peer_tag, SLUICE_SCTP_CHUNK_ABORT, SLUICE_SCTP_FLAG_T, NULL, 0);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    assert_int_equal(sluice_sctp_get_state(b), SLUICE_SCTP_CLOSED);
    run_free(&r);
}

static void test_sctp_assoc_bad_chunk_lengths_and_checksums_dropped(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 11, NULL, NULL);
    connect_pair(&r, false);
    sluice_sctp *b = r.n[1].a;
    uint8_t pkt[64];
    size_t n = raw_packet(pkt, sizeof pkt, b->my_tag, SLUICE_SCTP_CHUNK_HEARTBEAT, 0,
                          (const uint8_t *)"\x00\x01\x00\x08" "abcd", 8);
    uint64_t d0 = b->st.packets_dropped;
    pkt[15] = 200; /* chunk length past the end */
    sluice_sctp_packet_seal(pkt, n, false);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    pkt[15] = 2; /* below the header size */
    sluice_sctp_packet_seal(pkt, n, false);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    pkt[15] = 12;
    pkt[20] ^= 1; /* bad CRC */
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, 11);
    sluice_sctp_handle_packet(b, now_of(&r), NULL, 0);
    assert_int_equal(b->st.packets_dropped, d0 + 5);
    assert_int_equal(sluice_sctp_get_state(b), SLUICE_SCTP_ESTABLISHED);
    /* unknown chunk 0x7f (stop + report) yields an ERROR chunk; 0xbf is skipped silently */
    n = raw_packet(pkt, sizeof pkt, b->my_tag, 0x7f, 0, (const uint8_t *)"zz", 2);
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    assert_true(b->err_len > 0);
    run_free(&r);
}

static void test_sctp_assoc_ootb_packets_get_t_bit_replies(void **state) {
    (void)state;
    sluice_prng pr;
    sluice_prng_seed(&pr, 12);
    sluice_rng rng = {sluice_prng_random_fn, &pr};
    sluice_sctp *a;
    assert_int_equal(sluice_sctp_new(&a, NULL, NULL, &rng, NULL), 0);
    uint8_t pkt[64], out[1500];
    /* SHUTDOWN-ACK from nowhere → SHUTDOWN-COMPLETE with T and the same tag (§8.4 (5)) */
    size_t n = raw_packet(pkt, sizeof pkt, 0xabcdef, SLUICE_SCTP_CHUNK_SHUTDOWN_ACK, 0, NULL, 0);
    sluice_sctp_handle_packet(a, 1, pkt, n);
    int k = sluice_sctp_poll_packet(a, 1, out, sizeof out);
    assert_int_equal(k, 16);
    assert_int_equal(sluice_load_be32(out + 4), 0xabcdef);
    assert_int_equal(out[12], SLUICE_SCTP_CHUNK_SHUTDOWN_COMPLETE);
    assert_int_equal(out[13], SLUICE_SCTP_FLAG_T);
    /* DATA from nowhere → ABORT with T (§8.4 (8)); ABORT from nowhere → nothing */
    uint8_t d[16] = {0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 'x'};
    n = raw_packet(pkt, sizeof pkt, 0x1234, SLUICE_SCTP_CHUNK_DATA, 3, d, 13);
    sluice_sctp_handle_packet(a, 1, pkt, n);
    k = sluice_sctp_poll_packet(a, 1, out, sizeof out);
    assert_int_equal(out[12], SLUICE_SCTP_CHUNK_ABORT);
    assert_int_equal(out[13], SLUICE_SCTP_FLAG_T);
    n = raw_packet(pkt, sizeof pkt, 0x1234, SLUICE_SCTP_CHUNK_ABORT, 0, NULL, 0);
    sluice_sctp_handle_packet(a, 1, pkt, n);
    assert_int_equal(sluice_sctp_poll_packet(a, 1, out, sizeof out), 0);
    /* a forged COOKIE-ECHO makes no association */
    uint8_t junk[SLUICE_SCTP_COOKIE_LEN] = {1};
    n = raw_packet(pkt, sizeof pkt, 0, SLUICE_SCTP_CHUNK_COOKIE_ECHO, 0, junk, sizeof junk - 40);
    sluice_sctp_handle_packet(a, 1, pkt, n);
    assert_int_equal(sluice_sctp_get_state(a), SLUICE_SCTP_CLOSED);
    /* ... nor does an ABORT bundled behind it close the endpoint for good */
    {
        sluice_sctp_pkt pp;
        uint8_t big[256];
        sluice_sctp_pkt_begin(&pp, big, sizeof big, 5000, 5000, 0);
        assert_int_equal(sluice_sctp_pkt_chunk(&pp, SLUICE_SCTP_CHUNK_COOKIE_ECHO, 0, junk, sizeof junk), 0);
        assert_int_equal(sluice_sctp_pkt_chunk(&pp, SLUICE_SCTP_CHUNK_ABORT, 0, NULL, 0), 0);
        n = sluice_sctp_pkt_end(&pp, false);
        sluice_sctp_handle_packet(a, 1, big, n);
        sluice_sctp_event ev;
        assert_int_equal(sluice_sctp_poll_event(a, &ev), 0);
        n = raw_init(big, sizeof big, 42);
        sluice_sctp_handle_packet(a, 2, big, n);
        k = sluice_sctp_poll_packet(a, 2, out, sizeof out);
        assert_true(k > 16);
        assert_int_equal(out[12], SLUICE_SCTP_CHUNK_INIT_ACK);
        assert_int_equal(sluice_load_be32(out + 4), 42);
    }
    sluice_sctp_free(a);
}

static bool has_param(const uint8_t *v, size_t len, uint16_t type, const uint8_t **pv, size_t *pl) {
    size_t off = 16;
    while (off + 4 <= len) {
        uint16_t t = sluice_load_be16(v + off), l = sluice_load_be16(v + off + 2);
        if (l < 4 || off + l > len) return false;
        if (t == type) {
            if (pv) *pv = v + off + 4;
            if (pl) *pl = (size_t)l - 4;
            return true;
        }
        off += sluice_sctp_pad4(l);
    }
    return false;
}

static void test_sctp_assoc_unrecognized_init_params_are_reported(void **state) {
    (void)state;
    sluice_prng pr;
    sluice_prng_seed(&pr, 23);
    sluice_rng rng = {sluice_prng_random_fn, &pr};
    sluice_sctp *a;
    assert_int_equal(sluice_sctp_new(&a, NULL, NULL, &rng, NULL), 0);
    /* INIT with a skip-and-report (11) parameter and a zero-checksum one (0x8001) */
    uint8_t v[64], pkt[128], out[1500];
    memset(v, 0, sizeof v);
    sluice_store_be32(v, 0x01020304);
    sluice_store_be32(v + 4, 131072);
    sluice_store_be16(v + 8, 100);
    sluice_store_be16(v + 10, 100);
    sluice_store_be32(v + 12, 1);
    const uint8_t extra[] = {0xC1, 0x23, 0x00, 0x06, 0xAB, 0xCD, 0, 0, 0x80, 0x01, 0x00, 0x08, 0, 0, 0, 1};
    memcpy(v + 16, extra, sizeof extra);
    size_t n = raw_packet(pkt, sizeof pkt, 0, SLUICE_SCTP_CHUNK_INIT, 0, v, 16 + sizeof extra);
    sluice_sctp_handle_packet(a, 1, pkt, n);
    int k = sluice_sctp_poll_packet(a, 1, out, sizeof out);
    assert_true(k > 16);
    assert_int_equal(out[12], SLUICE_SCTP_CHUNK_INIT_ACK);
    const uint8_t *pv;
    size_t pl;
    size_t vl = sluice_load_be16(out + 14) - 4;
    assert_true(has_param(out + 16, vl, SLUICE_SCTP_PARAM_UNRECOGNIZED, &pv, &pl));
    assert_int_equal(pl, 8);
    assert_memory_equal(pv, extra, 6);
    /* we did not announce zero checksum (setting off): no 0x8001 in the answer */
    assert_false(has_param(out + 16, vl, SLUICE_SCTP_PARAM_ZERO_CHECKSUM, NULL, NULL));
    assert_true(has_param(out + 16, vl, SLUICE_SCTP_PARAM_STATE_COOKIE, NULL, NULL));
    sluice_sctp_free(a);
}

static void test_sctp_assoc_reset_request_flood_keeps_events_bounded(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 24, NULL, NULL);
    connect_pair(&r, false);
    sluice_sctp *b = r.n[1].a;
    r.n[1].paused = true;
    uint8_t v[64], pkt[128], out[1500];
    const uint16_t st[2] = {3, 4};
    for (uint32_t i = 0; i < 2000; i++) {
        sluice_wr w = sluice_wr_make(v, sizeof v);
        sluice_sctp_reconfig_write_out_reset(&w, r.n[0].a->my_tsn + i, 0, r.n[0].a->my_tsn - 1, st, 2);
        size_t n = raw_packet(pkt, sizeof pkt, b->my_tag, SLUICE_SCTP_CHUNK_RECONFIG, 0, v, sluice_wr_len(&w));
        sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
        while (sluice_sctp_poll_packet(b, now_of(&r), out, sizeof out) > 0) {}
    }
    assert_true(b->ev_n <= 4);
    assert_int_equal(b->rc.peer_next_seq, r.n[0].a->my_tsn + 2000);
    r.n[1].paused = false;
    node_events(&r.n[1]);
    assert_int_equal(r.n[1].stream_resets, 2);
    run_free(&r);
}

static void test_sctp_assoc_reconfig_for_unknown_streams_denied(void **state) {
    (void)state;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.num_streams = 10;
    test_run r;
    run_init(&r, 13, &s, &s);
    connect_pair(&r, false);
    sluice_sctp *b = r.n[1].a;
    uint8_t v[64], pkt[128];
    sluice_wr w = sluice_wr_make(v, sizeof v);
    const uint16_t streams[2] = {3, 5000};
    sluice_sctp_reconfig_write_out_reset(&w, r.n[0].a->my_tsn, 0, r.n[0].a->my_tsn - 1, streams, 2);
    size_t n = raw_packet(pkt, sizeof pkt, b->my_tag, SLUICE_SCTP_CHUNK_RECONFIG, 0, v, sluice_wr_len(&w));
    sluice_sctp_handle_packet(b, now_of(&r), pkt, n);
    node_events(&r.n[1]);
    assert_int_equal(r.n[1].stream_resets, 0);
    assert_int_equal(b->rc.denied, 1);
    assert_int_equal(sluice_sctp_get_state(b), SLUICE_SCTP_ESTABLISHED);
    run_free(&r);
}

/* ---- data over the simulated network -------------------------------------------------------- */

static void test_sctp_assoc_one_byte_and_max_size_messages(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 14, NULL, NULL);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 20000;
    p.loss = 0.05;
    set_paths(&r, &p);
    connect_pair(&r, false);
    for (int i = 0; i < 20; i++) assert_int_equal(send_msg(&r, 1, 1, NULL), 0);
    assert_int_equal(send_msg(&r, 2, 256 * 1024, NULL), 0);
    assert_int_equal(send_msg(&r, 2, 1, NULL), 0);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 300000000ull, all_delivered, &r));
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    assert_int_equal(r.n[1].msgs, 22);
    run_free(&r);
}

static void test_sctp_assoc_oversized_message_aborts(void **state) {
    (void)state;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.max_message_size = 10000;
    test_run r;
    run_init(&r, 15, NULL, &s);
    connect_pair(&r, false);
    assert_int_equal(send_msg(&r, 1, 20000, NULL), 0);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 60000000ull, both_closed, &r));
    assert_int_equal(r.n[1].close_err, SLUICE_ERR_TOO_LARGE);
    run_free(&r);
}

static void test_sctp_assoc_stream_reset_with_data_in_flight(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 16, NULL, NULL);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 30000;
    p.loss = 0.1;
    set_paths(&r, &p);
    connect_pair(&r, false);
    for (int i = 0; i < 30; i++) assert_int_equal(send_msg(&r, 4, 2000, NULL), 0);
    uint16_t s = 4;
    r.n[0].reset_out[4] = true;
    assert_int_equal(sluice_sctp_reset_streams(r.n[0].a, now_of(&r), &s, 1), 0);
    assert_int_equal(sluice_sctp_send(r.n[0].a, now_of(&r), 4, 51, (const uint8_t *)"x", 1, NULL), SLUICE_ERR_CLOSED);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 120000000ull, all_delivered, &r));
    /* wait for the reset to complete */
    for (int i = 0; i < 2000 && !(r.n[0].reset_done && r.n[1].reset_done && r.n[0].stream_resets); i++)
        sluice_simnet_step(r.sn, now_of(&r) + 1000000);
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    assert_int_equal(r.n[1].msgs, 30);
    assert_int_equal(r.n[1].stream_resets, 1);
    assert_int_equal(r.n[1].last_reset_stream, 4);
    assert_int_equal(r.n[0].reset_done, 1);
    /* the peer reset its side in turn (RFC 8831 §6.7) */
    assert_int_equal(r.n[1].reset_done, 1);
    assert_int_equal(r.n[0].stream_resets, 1);
    /* the stream is usable again, from SSN 0 */
    assert_int_equal(send_msg(&r, 4, 10, NULL), 0);
    r.n[1].next_k[4] = 30;
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 60000000ull, all_delivered, &r));
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    assert_int_equal(r.n[1].msgs, 31);
    run_free(&r);
}

static void test_sctp_assoc_many_streams_at_once(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 17, NULL, NULL);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 25000;
    p.loss = 0.05;
    p.reorder = 0.05;
    p.reorder_delay_us = 10000;
    set_paths(&r, &p);
    connect_pair(&r, true);
    /* 500 streams, 4 messages each, interleaved; indices tracked per stream id modulo the
     * checker's table, so use unordered for the high ones */
    sluice_sctp_send_options un;
    memset(&un, 0, sizeof un);
    un.unordered = true;
    for (int k = 0; k < 4; k++)
        for (uint16_t st = 0; st < 500; st++)
            assert_int_equal(send_msg(&r, st, 20 + st % 50, st < MAX_STREAMS_T ? NULL : &un), 0);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 300000000ull, all_delivered, &r));
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    assert_int_equal(r.n[1].msgs, 2000);
    run_free(&r);
}

/* I-DATA interleaves fragments of messages on different streams. With every started
 * message interleaved, sixty 256 KiB messages filled the receiver's reassembly space with
 * partial messages that could never complete, and the association died. */
static void test_sctp_assoc_idata_many_large_messages_complete(void **state) {
    (void)state;
    sluice_sctp_settings si;
    sluice_sctp_settings_default(&si);
    si.enable_idata = true;
    si.rwnd = 1u << 20;
    test_run r;
    run_init(&r, 23, &si, &si);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 5000;
    p.bandwidth_bps = 200000000;
    set_paths(&r, &p);
    connect_pair(&r, false);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(r.n[0].a, &st);
    assert_true(st.idata);
    sluice_sctp_send_options un;
    memset(&un, 0, sizeof un);
    un.unordered = true;
    for (uint16_t k = 0; k < 60; k++) assert_int_equal(send_msg(&r, (uint16_t)(100 + k), 256 * 1024, &un), 0);
    /* and small ones on other streams, which must not wait behind the big ones */
    for (uint16_t k = 0; k < 20; k++) assert_int_equal(send_msg(&r, (uint16_t)(200 + k), 100, &un), 0);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 120000000ull, all_delivered, &r));
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    assert_int_equal(r.n[1].msgs, 80);
    run_free(&r);
}

static void test_sctp_assoc_pr_max_retransmits_zero_never_retransmits(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 18, NULL, NULL);
    connect_pair(&r, false);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 50000;
    p.loss = 0.25;
    set_paths(&r, &p);
    sluice_sctp_send_options o;
    memset(&o, 0, sizeof o);
    o.has_max_retransmits = true;
    o.max_retransmits = 0;
    for (int i = 0; i < 300; i++) {
        o.unordered = i % 2;
        assert_int_equal(send_msg(&r, (uint16_t)(i % 2), 100 + (size_t)i, &o), 0);
    }
    sluice_simnet_run(r.sn, now_of(&r) + 60000000ull, NULL, NULL);
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(r.n[0].a, &st);
    assert_int_equal(st.retransmissions, 0);
    assert_true(st.messages_abandoned > 0);
    assert_true(r.n[1].msgs < 300 && r.n[1].msgs > 100);
    /* a chunk given up after a T3 expiry may still have arrived: both may count it */
    assert_true(r.n[1].msgs + st.messages_abandoned >= 300);
    /* the association is fine afterwards: a reliable message still arrives */
    p.loss = 0;
    set_paths(&r, &p);
    r.expect_reliable = 0;
    assert_int_equal(send_msg(&r, 5, 10, NULL), 0);
    uint64_t before = r.n[1].reliable_msgs;
    r.expect_reliable = before + 1;
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 30000000ull, all_delivered, &r));
    run_free(&r);
}

static void test_sctp_assoc_pr_lifetime_is_respected(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 19, NULL, NULL);
    connect_pair(&r, false);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 100000;
    p.loss = 0.2;
    set_paths(&r, &p);
    sluice_sctp_send_options o;
    memset(&o, 0, sizeof o);
    o.has_lifetime = true;
    o.lifetime_ms = 300;
    /* unordered: delivery time is arrival time (no head-of-line wait for a FORWARD-TSN),
     * so it shows when the last transmission happened */
    o.unordered = true;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(send_msg(&r, 1, 500, &o), 0);
        sluice_simnet_run(r.sn, now_of(&r) + 20000, NULL, NULL);
    }
    sluice_simnet_run(r.sn, now_of(&r) + 30000000ull, NULL, NULL);
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    /* A transmission may start just before expiry and then needs one one-way delay. tx
     * fills packets, so a message may be split; once its first fragment went out, the
     * rest is still sent after expiry (tx.h: lifetime applies to unstarted messages), which
     * can add a round of waiting for cwnd: allow two one-way delays. */
    if (r.n[1].max_late_us > 2 * p.delay_us + 1000) fail_msg("delivered %llu us after its lifetime", (unsigned long long)r.n[1].max_late_us);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(r.n[0].a, &st);
    assert_true(st.messages_abandoned > 0);
    run_free(&r);
}

static void test_sctp_assoc_heartbeat_measures_rtt(void **state) {
    (void)state;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.heartbeat_interval_ms = 1000;
    test_run r;
    run_init(&r, 20, &s, NULL);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 40000;
    set_paths(&r, &p);
    connect_pair(&r, false);
    sluice_simnet_run(r.sn, now_of(&r) + 10000000ull, NULL, NULL);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(r.n[0].a, &st);
    assert_true(st.srtt_us >= 70000 && st.srtt_us <= 90000);
    assert_int_equal(sluice_sctp_get_state(r.n[0].a), SLUICE_SCTP_ESTABLISHED);
    /* peer silent: heartbeats run out Association.Max.Retrans */
    p.down = true;
    set_paths(&r, &p);
    sluice_simnet_run(r.sn, now_of(&r) + 600000000ull, both_closed, &r);
    assert_true(r.n[0].closed);
    assert_int_equal(r.n[0].close_err, SLUICE_ERR_TIMEOUT);
    run_free(&r);
}

static void test_sctp_assoc_peer_restart_is_detected(void **state) {
    (void)state;
    test_run r;
    run_init(&r, 21, NULL, NULL);
    connect_pair(&r, false);
    uint32_t old_peer_tag = r.n[0].a->peer_tag;
    /* n[1] loses everything and starts over with a new association object */
    sluice_sctp_free(r.n[1].a);
    assert_int_equal(r.n[1].mem.live, 0);
    assert_int_equal(sluice_sctp_new(&r.n[1].a, NULL, &r.n[1].alloc, &r.n[1].rng, NULL), 0);
    r.n[0].connected = r.n[1].connected = false;
    assert_int_equal(sluice_sctp_connect(r.n[1].a, now_of(&r)), 0);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 30000000ull, both_connected, &r));
    assert_int_not_equal(r.n[0].a->peer_tag, old_peer_tag);
    assert_int_equal(r.n[0].a->peer_tag, r.n[1].a->my_tag);
    assert_int_equal(send_msg(&r, 1, 100, NULL), 0);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 30000000ull, all_delivered, &r));
    run_free(&r);
}

static void test_sctp_assoc_window_update_after_slow_reader(void **state) {
    (void)state;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.rwnd = 16000;
    s.max_message_size = 2000; /* reassembly cap = 18000 */
    test_run r;
    run_init(&r, 22, NULL, &s);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 10000;
    set_paths(&r, &p);
    connect_pair(&r, false);
    r.n[1].paused = true;
    for (int i = 0; i < 40; i++) assert_int_equal(send_msg(&r, 1, 1000, NULL), 0);
    sluice_simnet_run(r.sn, now_of(&r) + 2000000ull, NULL, NULL);
    /* held data stays within the reassembly cap (window + one max-size message), doubled
     * for the in-sequence chunks reasm always takes (zero-window probes, reasm.h) */
    assert_true(sluice_sctp_reasm_buffered(r.n[1].a->reasm) <= 2 * (16000 + s.max_message_size));
    assert_true(sluice_sctp_buffered_amount(r.n[0].a, 1) > 0);
    r.n[1].paused = false;
    node_events(&r.n[1]);
    /* the window reopens without waiting for a zero-window probe cycle */
    sluice_time t0 = now_of(&r);
    assert_true(sluice_simnet_run(r.sn, now_of(&r) + 60000000ull, all_delivered, &r));
    assert_int_equal(r.n[1].msgs, 40);
    assert_true(now_of(&r) - t0 < 5000000);
    run_free(&r);
}

static void test_sctp_assoc_allocation_failures_are_survived(void **state) {
    (void)state;
    /* The receiving side runs out of memory at every point of a short session in turn:
     * nothing may crash or leak; the session either works or ends cleanly. */
    for (long fail_at = 1; fail_at <= 100; fail_at++) { /* a whole session takes ~80 */
        test_run r;
        memset(&r, 0, sizeof r);
        r.sn = sluice_simnet_new((uint64_t)fail_at, 1000000);
        for (int i = 0; i < 2; i++) {
            node *nd = &r.n[i];
            nd->run = &r;
            sluice_prng_seed(&nd->prng, (uint64_t)i + 7);
            nd->rng.fn = sluice_prng_random_fn;
            nd->rng.user = &nd->prng;
            nd->alloc.malloc = c_malloc;
            nd->alloc.realloc = c_realloc;
            nd->alloc.free = c_free;
            nd->alloc.user = &nd->mem;
            nd->addr = sluice_sim_addr4(10, 0, 0, (uint8_t)(i + 1), 5000);
            nd->peer = sluice_sim_addr4(10, 0, 0, (uint8_t)(2 - i), 5000);
            if (i == 1) nd->mem.fail_after = fail_at;
            int rc = sluice_sctp_new(&nd->a, NULL, &nd->alloc, &nd->rng, NULL);
            if (rc < 0) {
                assert_int_equal(rc, SLUICE_ERR_NOMEM);
                assert_int_equal(nd->mem.live, 0);
                break;
            }
            int id = sluice_simnet_add_node(r.sn, &node_ops, nd);
            sluice_simnet_bind(r.sn, id, &nd->addr);
        }
        if (!r.n[1].a) {
            sluice_sctp_free(r.n[0].a);
            sluice_simnet_free(r.sn);
            continue;
        }
        sluice_sctp_connect(r.n[0].a, now_of(&r));
        for (int i = 0; i < 30; i++) send_msg(&r, (uint16_t)(i % 3), 100 + (size_t)i * 300, NULL);
        const uint16_t st = 2;
        sluice_simnet_run(r.sn, now_of(&r) + 2000000ull, all_delivered, &r);
        (void)sluice_sctp_reset_streams(r.n[0].a, now_of(&r), &st, 1);
        sluice_simnet_run(r.sn, now_of(&r) + 20000000ull, all_delivered, &r);
        assert_false(r.n[1].failed && strstr(r.n[1].fail, "twice"));
        sluice_sctp_shutdown(r.n[0].a, now_of(&r));
        sluice_simnet_run(r.sn, now_of(&r) + 60000000ull, both_closed, &r);
        if (getenv("SLUICE_SCTP_VERBOSE"))
            printf("fail_at %ld: total allocs %ld, connected %d, delivered %llu\n", fail_at, r.n[1].mem.total,
                   r.n[1].connected, (unsigned long long)r.n[1].msgs);
        run_free(&r); /* asserts nothing leaked */
    }
}

/* Goodput of one bulk transfer over a long fat path (virtual time): the window and cwnd
 * must let it approach the link rate. */
static double bulk_goodput(uint64_t seed, uint64_t bps, uint32_t one_way_us, double loss, size_t total) {
    test_run r;
    run_init(&r, seed, NULL, NULL);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = one_way_us;
    p.bandwidth_bps = bps;
    p.queue_bytes = (size_t)(bps / 8 * one_way_us * 2 / 1000000); /* one BDP of buffer */
    p.loss = loss;
    set_paths(&r, &p);
    connect_pair(&r, false);
    sluice_time t0 = now_of(&r);
    size_t queued = 0;
    while (r.n[1].bytes < total) {
        while (queued < total && send_msg(&r, 1, 16384, NULL) == 0) queued += 16384;
        if (!sluice_simnet_step(r.sn, now_of(&r) + 1000000)) break;
        if (now_of(&r) - t0 > 600000000ull) break;
    }
    double secs = (double)(now_of(&r) - t0) / 1e6;
    double mbps = (double)r.n[1].bytes * 8 / secs / 1e6;
    if (getenv("SLUICE_SCTP_VERBOSE")) {
        sluice_sctp_stats st;
        sluice_sctp_get_stats(r.n[0].a, &st);
        printf("bulk %.0f Mbit/s, %u ms RTT, loss %.3f: %.1f Mbit/s (%.1f s, cwnd %u, retx %llu, fast %llu, t3 %llu)\n",
               (double)bps / 1e6, one_way_us / 500, loss, mbps, secs, st.cwnd, (unsigned long long)st.retransmissions,
               (unsigned long long)st.fast_retransmits, (unsigned long long)st.t3_expirations);
    }
    if (r.n[1].failed) fail_msg("%s", r.n[1].fail);
    run_free(&r);
    return mbps;
}

static void test_sctp_assoc_bulk_transfer_fills_long_fat_path(void **state) {
    (void)state;
    /* 50 Mbit/s, 100 ms RTT: BDP 625 KB, well inside the 4 MiB window */
    /* (Reno-style slow start overshoots a one-BDP queue once: ~60 % of the link over 16 MB) */
    double m = bulk_goodput(50, 50000000, 50000, 0, 16u << 20);
    assert_true(m > 20);
    /* random loss on a long path: Reno's bound (Mathis: MSS/RTT * 1.22/sqrt(p)) is about
     * 0.8 Mbit/s at 200 ms and 0.5 %; stay near it */
    m = bulk_goodput(51, 20000000, 100000, 0.005, 2u << 20);
    assert_true(m > 0.4);
}

/* One seeded run of the stress test: random path, random workload. */
static void stress_one(uint64_t seed, bool idata) {
    if (getenv("SLUICE_SCTP_VERBOSE")) printf("stress seed %llu\n", (unsigned long long)seed);
    test_run r;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.enable_idata = idata;
    /* At 30 % loss each way a handshake or a retransmission succeeds with p = 0.49: the
     * default limits (8 INIT, 10 assoc retransmits) would legitimately give up now and
     * then over 1000 runs; this test is about data, so be patient. */
    s.max_init_retransmits = 40;
    s.max_assoc_retransmits = 40;
    sluice_prng w;
    sluice_prng_seed(&w, seed ^ 0x5eed);
    /* vary the receiver too: its I-DATA offer, packet size (bundling/fragmentation) and
     * window (every fifth run a small one, to exercise the window rules) */
    sluice_sctp_settings s1 = s;
    if (sluice_prng_unit(&w) < 0.2) s1.enable_idata = !idata;
    s.mtu = s1.mtu = 300 + (size_t)(sluice_prng_unit(&w) * 1200);
    if (sluice_prng_unit(&w) < 0.2) s1.rwnd = 8000 + (uint32_t)(sluice_prng_unit(&w) * 60000);
    run_init(&r, seed, &s, &s1);
    if (getenv("SLUICE_SCTP_VERBOSE"))
        printf("  mtu %zu rwnd %u idata %d/%d\n", s.mtu, s1.rwnd, s.enable_idata, s1.enable_idata);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.loss = sluice_prng_unit(&w) * 0.3;
    p.duplicate = sluice_prng_unit(&w) * 0.05;
    p.reorder = sluice_prng_unit(&w) * 0.1;
    p.reorder_delay_us = 20000;
    p.delay_us = (uint32_t)(sluice_prng_unit(&w) * 250000);
    p.jitter_us = (uint32_t)(sluice_prng_unit(&w) * 10000);
    if (sluice_prng_unit(&w) < 0.5) p.bandwidth_bps = 1000000 + (uint64_t)(sluice_prng_unit(&w) * 9000000);
    set_paths(&r, &p);
    connect_pair(&r, sluice_prng_unit(&w) < 0.3);
    unsigned nstreams = 1 + (unsigned)(sluice_prng_unit(&w) * 8);
    sluice_sctp_send_options opts[MAX_STREAMS_T];
    memset(opts, 0, sizeof opts);
    for (unsigned i = 0; i < nstreams; i++) {
        double k = sluice_prng_unit(&w);
        opts[i].unordered = sluice_prng_unit(&w) < 0.3;
        if (k < 0.2) {
            opts[i].has_max_retransmits = true;
            opts[i].max_retransmits = (uint16_t)(sluice_prng_unit(&w) * 3);
        } else if (k < 0.3) {
            opts[i].has_lifetime = true;
            opts[i].lifetime_ms = 100 + (uint32_t)(sluice_prng_unit(&w) * 2000);
        }
    }
    size_t total = 0, budget = 60000 + (size_t)(sluice_prng_unit(&w) * 150000);
    while (total < budget) {
        uint16_t st = (uint16_t)(sluice_prng_unit(&w) * nstreams);
        double z = sluice_prng_unit(&w);
        size_t len = z < 0.6 ? 8 + (size_t)(sluice_prng_unit(&w) * 200)
                   : z < 0.95 ? 8 + (size_t)(sluice_prng_unit(&w) * 3000)
                              : 8 + (size_t)(sluice_prng_unit(&w) * 40000);
        assert_int_equal(send_msg(&r, st, len, &opts[st]), 0);
        total += len;
    }
    /* Every third run: graceful shutdown right away, with everything still in flight (by
     * either side); the others shut down once all arrived. Both must end with error 0. */
    int mode = (int)(seed % 3);
    if (mode == 1) sluice_sctp_shutdown(r.n[0].a, now_of(&r));
    bool ok = sluice_simnet_run(r.sn, now_of(&r) + 3600000000ull, all_delivered, &r);
    /* let PR-SCTP stragglers and duplicates settle */
    sluice_simnet_run(r.sn, now_of(&r) + 5000000ull, NULL, NULL);
    if (mode != 1) sluice_sctp_shutdown(r.n[mode == 0 ? 0 : 1].a, now_of(&r));
    bool closed = sluice_simnet_run(r.sn, now_of(&r) + 3600000000ull, both_closed, &r);
    if (!closed || r.n[0].close_err || r.n[1].close_err)
        fail_msg("seed %llu: shutdown (mode %d) did not end cleanly: %d/%d %s / %s", (unsigned long long)seed, mode,
                 r.n[0].close_err, r.n[1].close_err, r.n[0].close_reason, r.n[1].close_reason);
    if (r.n[1].failed || !ok)
        fail_msg("seed %llu idata %d: %s (delivered %llu of %zu reliable, loss %.2f delay %u bw %llu) %s",
                 (unsigned long long)seed, idata, r.n[1].failed ? r.n[1].fail : "stalled",
                 (unsigned long long)r.n[1].msgs, r.expect_reliable, p.loss, p.delay_us,
                 (unsigned long long)p.bandwidth_bps, r.n[0].close_reason);
    size_t reliable_seen = 0;
    for (size_t i = 0; i < r.nmsgs; i++)
        if (r.msgs[i].reliable && r.n[1].seen[i]) reliable_seen++;
    assert_int_equal(reliable_seen, r.expect_reliable);
    if (getenv("SLUICE_SCTP_VERBOSE")) {
        sluice_sctp_stats st;
        sluice_sctp_get_stats(r.n[0].a, &st);
        printf("seed %llu: %zu msgs (%zu reliable), delivered %llu, loss %.2f delay %u bw %llu, "
               "%llu pkts, %llu retx, t=%.1fs\n",
               (unsigned long long)seed, r.nmsgs, r.expect_reliable, (unsigned long long)r.n[1].msgs, p.loss,
               p.delay_us, (unsigned long long)p.bandwidth_bps, (unsigned long long)st.packets_sent,
               (unsigned long long)st.retransmissions, (double)(now_of(&r) - 1000000) / 1e6);
    }
    run_free(&r);
}

static unsigned seeds_from_env(void) {
    const char *e = getenv("SLUICE_SCTP_SEEDS");
    if (e && *e) {
        long v = strtol(e, NULL, 10);
        if (v > 0 && v < 1000000) return (unsigned)v;
    }
    return DEFAULT_SEEDS;
}

static void test_sctp_assoc_stress_seeded_impaired_paths(void **state) {
    (void)state;
    unsigned n = seeds_from_env();
    const char *st = getenv("SLUICE_SCTP_SEED_START");
    unsigned first = st ? (unsigned)strtoul(st, NULL, 10) : 0;
    for (unsigned i = first; i < first + n; i++) stress_one(1000 + i, (i & 1) != 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sctp_assoc_handshake_connects_both_sides),
        cmocka_unit_test(test_sctp_assoc_init_collision_connects),
        cmocka_unit_test(test_sctp_assoc_late_connect_after_stateless_init_ack),
        cmocka_unit_test(test_sctp_assoc_messages_queued_before_connect_are_sent_once_up),
        cmocka_unit_test(test_sctp_assoc_buffered_low_fires_when_queue_drains),
        cmocka_unit_test(test_sctp_assoc_zero_checksum_when_both_announce),
        cmocka_unit_test(test_sctp_assoc_init_times_out_without_peer),
        cmocka_unit_test(test_sctp_assoc_shutdown_delivers_data_in_flight),
        cmocka_unit_test(test_sctp_assoc_abort_reports_reason_to_peer),
        cmocka_unit_test(test_sctp_assoc_peer_gone_hits_max_retrans),
        cmocka_unit_test(test_sctp_assoc_init_flood_keeps_no_state),
        cmocka_unit_test(test_sctp_assoc_wrong_verification_tags_are_ignored),
        cmocka_unit_test(test_sctp_assoc_bad_chunk_lengths_and_checksums_dropped),
        cmocka_unit_test(test_sctp_assoc_ootb_packets_get_t_bit_replies),
        cmocka_unit_test(test_sctp_assoc_unrecognized_init_params_are_reported),
        cmocka_unit_test(test_sctp_assoc_reset_request_flood_keeps_events_bounded),
        cmocka_unit_test(test_sctp_assoc_reconfig_for_unknown_streams_denied),
        cmocka_unit_test(test_sctp_assoc_one_byte_and_max_size_messages),
        cmocka_unit_test(test_sctp_assoc_oversized_message_aborts),
        cmocka_unit_test(test_sctp_assoc_stream_reset_with_data_in_flight),
        cmocka_unit_test(test_sctp_assoc_many_streams_at_once),
        cmocka_unit_test(test_sctp_assoc_idata_many_large_messages_complete),
        cmocka_unit_test(test_sctp_assoc_pr_max_retransmits_zero_never_retransmits),
        cmocka_unit_test(test_sctp_assoc_pr_lifetime_is_respected),
        cmocka_unit_test(test_sctp_assoc_heartbeat_measures_rtt),
        cmocka_unit_test(test_sctp_assoc_peer_restart_is_detected),
        cmocka_unit_test(test_sctp_assoc_window_update_after_slow_reader),
        cmocka_unit_test(test_sctp_assoc_allocation_failures_are_survived),
        cmocka_unit_test(test_sctp_assoc_bulk_transfer_fills_long_fat_path),
        cmocka_unit_test(test_sctp_assoc_both_sides_reset_the_same_stream_at_once),
        cmocka_unit_test(test_sctp_assoc_stress_seeded_impaired_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
