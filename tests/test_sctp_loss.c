/* Loss recovery of two of our SCTP associations over the simulated network, with losses
 * placed deterministically by TSN (not by chance): a burst of consecutive packets in the
 * middle of a large window, several separate holes in one window, lost retransmissions,
 * more holes than one SACK can report, and lost SACKs. The point of each test is that fast
 * retransmit and fast recovery repair the loss (RFC 9260 §7.2.4) and T3-rtx, the last
 * resort, never fires; plus the sender's burst limit after a stall (§6.1, Max.Burst) and
 * the guard that ends a shutdown the peer never completes (§9.2, T5-shutdown-guard). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sctp/packet.h"
#include "sctp/sctp.h"
#include "simnet.h"

#define MS 1000ull
#define MAX_TX 65536 /* TSN offsets tracked */

/* What to drop: the n-th transmission (0 = original) of the DATA chunk with TSN offset
 * `off` from the first TSN sent. */
typedef struct drop_rule {
    uint32_t first, count; /* offsets first .. first + count - 1 */
    uint32_t step;         /* every step-th offset in that range (0 or 1 = all) */
    uint8_t transmission;  /* which transmission of each to drop */
} drop_rule;

typedef struct lnode {
    sluice_sctp *a;
    sluice_prng prng;
    sluice_rng rng;
    sluice_addr addr, peer;
    bool connected, closed;
    int close_err;
    uint64_t bytes_rx, msgs_rx;
    uint32_t next_idx; /* receiver: next message index expected (one ordered stream) */
    bool corrupt;
    bool paused; /* receiver application not reading: its window closes */
    struct world *w;
} lnode;

typedef struct world {
    sluice_simnet *sn;
    lnode n[2];
    /* sender-side filter */
    bool have_tsn0;
    uint32_t tsn0;
    uint8_t *tx_count;   /* transmissions seen per TSN offset */
    const drop_rule *rules;
    size_t nrules;
    uint64_t dropped_data, dropped_sacks;
    uint32_t cwnd_at_first_drop, flight_at_first_drop;
    uint32_t drop_sacks_from, drop_sacks_n; /* receiver's SACK packets index range to drop */
    uint32_t sacks_seen;
    int drop_rx_chunk;      /* receiver's packets carrying this chunk type are lost (0: none) */
    uint64_t dropped_rx_chunk;
    /* burst measurement: most DATA packets the sender emitted at one instant */
    sluice_time burst_at;
    uint32_t burst_now, burst_max;
    bool measure_burst;
} world;

static void fill(uint8_t *p, size_t len, uint32_t idx) {
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(idx * 131u + i * 7u + 3u);
    sluice_store_be32(p, idx);
}

static void ln_events(lnode *nd) {
    sluice_sctp_event ev;
    if (nd->paused) return;
    while (sluice_sctp_poll_event(nd->a, &ev) == 1) {
        switch (ev.type) {
        case SLUICE_SCTP_EVENT_CONNECTED:
            nd->connected = true;
            break;
        case SLUICE_SCTP_EVENT_MESSAGE: {
            const sluice_sctp_message *m = &ev.message;
            if (m->len < 8 || sluice_load_be32(m->data) != nd->next_idx ||
                m->data[m->len - 1] != (uint8_t)(nd->next_idx * 131u + (m->len - 1) * 7u + 3u))
                nd->corrupt = true;
            nd->next_idx++;
            nd->msgs_rx++;
            nd->bytes_rx += m->len;
            sluice_mem_free(NULL, m->data);
            break;
        }
        case SLUICE_SCTP_EVENT_CLOSED:
            nd->closed = true;
            nd->close_err = ev.error;
            break;
        default:
            break;
        }
    }
}

static void ln_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                       const uint8_t *data, size_t len) {
    (void)from;
    (void)to;
    lnode *nd = obj;
    sluice_sctp_handle_packet(nd->a, now, data, len);
    ln_events(nd);
}

/* Sender: true when the packet must be dropped (any DATA chunk in it matches a rule). */
static bool drop_data_packet(world *w, const uint8_t *buf, size_t n) {
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    bool drop = false, any = false;
    sluice_sctp_chunk_iter_init(&it, buf, n);
    while (sluice_sctp_chunk_next(&it, &c) == 1) {
        if ((c.type != SLUICE_SCTP_CHUNK_DATA && c.type != SLUICE_SCTP_CHUNK_IDATA) || c.value_len < 4) continue;
        uint32_t tsn = sluice_load_be32(c.value);
        if (!w->have_tsn0) {
            w->have_tsn0 = true;
            w->tsn0 = tsn;
        }
        uint32_t off = tsn - w->tsn0;
        any = true;
        if (off >= MAX_TX) continue;
        uint8_t k = w->tx_count[off];
        if (w->tx_count[off] < 255) w->tx_count[off]++;
        for (size_t i = 0; i < w->nrules; i++) {
            const drop_rule *r = &w->rules[i];
            uint32_t step = r->step ? r->step : 1;
            if (off >= r->first && off - r->first < r->count && (off - r->first) % step == 0 && k == r->transmission)
                drop = true;
        }
    }
    if (any && w->measure_burst) {
        sluice_time now = sluice_simnet_now(w->sn);
        if (now != w->burst_at) {
            w->burst_at = now;
            w->burst_now = 0;
        }
        if (++w->burst_now > w->burst_max) w->burst_max = w->burst_now;
    }
    return drop;
}

static bool has_chunk(const uint8_t *buf, size_t n, int type) {
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    sluice_sctp_chunk_iter_init(&it, buf, n);
    while (sluice_sctp_chunk_next(&it, &c) == 1)
        if (c.type == type) return true;
    return false;
}

static size_t ln_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    lnode *nd = obj;
    world *w = nd->w;
    for (;;) {
        int n = sluice_sctp_poll_packet(nd->a, now, buf, cap);
        if (n <= 0) return 0;
        if (nd == &w->n[0] && drop_data_packet(w, buf, (size_t)n)) {
            if (!w->dropped_data++) {
                sluice_sctp_stats st;
                sluice_sctp_get_stats(nd->a, &st);
                w->cwnd_at_first_drop = st.cwnd;
                w->flight_at_first_drop = st.bytes_in_flight;
            }
            continue;
        }
        if (nd == &w->n[1] && w->drop_rx_chunk && has_chunk(buf, (size_t)n, w->drop_rx_chunk)) {
            w->dropped_rx_chunk++;
            continue;
        }
        if (nd == &w->n[1] && w->drop_sacks_n && has_chunk(buf, (size_t)n, SLUICE_SCTP_CHUNK_SACK)) {
            uint32_t k = w->sacks_seen++;
            if (k >= w->drop_sacks_from && k - w->drop_sacks_from < w->drop_sacks_n) {
                w->dropped_sacks++;
                continue;
            }
        }
        *from = nd->addr;
        *to = nd->peer;
        return (size_t)n;
    }
}

static sluice_time ln_deadline(void *obj) { return sluice_sctp_next_deadline(((lnode *)obj)->a); }
static void ln_timeout(void *obj, sluice_time now) {
    lnode *nd = obj;
    sluice_sctp_handle_timeout(nd->a, now);
    ln_events(nd);
}

static const sluice_sim_node_ops ln_ops = {ln_deliver, ln_poll, ln_deadline, ln_timeout};

static void world_init2(world *w, const sluice_sim_path *p, const drop_rule *rules, size_t nrules,
                        const sluice_sctp_settings *rs, const sluice_sctp_settings *ss);

static void world_init(world *w, const sluice_sim_path *p, const drop_rule *rules, size_t nrules) {
    world_init2(w, p, rules, nrules, NULL, NULL);
}

static void world_init2(world *w, const sluice_sim_path *p, const drop_rule *rules, size_t nrules,
                        const sluice_sctp_settings *rs, const sluice_sctp_settings *ss) {
    memset(w, 0, sizeof *w);
    w->sn = sluice_simnet_new(7, 1000000);
    assert_non_null(w->sn);
    w->tx_count = calloc(MAX_TX, 1);
    w->rules = rules;
    w->nrules = nrules;
    for (int i = 0; i < 2; i++) {
        lnode *nd = &w->n[i];
        nd->w = w;
        sluice_prng_seed(&nd->prng, 100 + (uint64_t)i);
        nd->rng.fn = sluice_prng_random_fn;
        nd->rng.user = &nd->prng;
        nd->addr = sluice_sim_addr4(10, 0, 0, (uint8_t)(i + 1), 5000);
        nd->peer = sluice_sim_addr4(10, 0, 0, (uint8_t)(2 - i), 5000);
        sluice_sctp_settings s;
        sluice_sctp_settings_default(&s);
        if (i == 1 && rs) s = *rs;
        if (i == 0 && ss) s = *ss;
        s.max_send_buffer = 64u << 20;
        assert_int_equal(sluice_sctp_new(&nd->a, &s, NULL, &nd->rng, NULL), SLUICE_OK);
        int id = sluice_simnet_add_node(w->sn, &ln_ops, nd);
        assert_true(id >= 0);
        assert_int_equal(sluice_simnet_bind(w->sn, id, &nd->addr), SLUICE_OK);
    }
    assert_int_equal(sluice_simnet_set_path(w->sn, &w->n[0].addr, &w->n[1].addr, p), SLUICE_OK);
    assert_int_equal(sluice_simnet_set_path(w->sn, &w->n[1].addr, &w->n[0].addr, p), SLUICE_OK);
}

static void world_free(world *w) {
    for (int i = 0; i < 2; i++) sluice_sctp_free(w->n[i].a);
    sluice_simnet_free(w->sn);
    free(w->tx_count);
}

static bool connected(void *u) {
    world *w = u;
    return w->n[0].connected && w->n[1].connected;
}

typedef struct goal {
    world *w;
    uint64_t msgs;
} goal;

static bool all_received(void *u) {
    goal *g = u;
    return g->w->n[1].msgs_rx >= g->msgs || g->w->n[1].corrupt || g->w->n[0].closed || g->w->n[1].closed;
}

/* Connect, send `nmsgs` messages of `size` bytes on stream 0 (all queued at once), run
 * until all arrived. Returns the sender's stats. */
static sluice_sctp_stats transfer(world *w, size_t nmsgs, size_t size) {
    assert_int_equal(sluice_sctp_connect(w->n[0].a, sluice_simnet_now(w->sn)), SLUICE_OK);
    assert_true(sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + 10000 * MS, connected, w));
    uint8_t *buf = malloc(size);
    for (size_t i = 0; i < nmsgs; i++) {
        fill(buf, size, (uint32_t)i);
        assert_int_equal(sluice_sctp_send(w->n[0].a, sluice_simnet_now(w->sn), 0, 53, buf, size, NULL), SLUICE_OK);
    }
    free(buf);
    goal g = {w, nmsgs};
    bool ok = sluice_simnet_run(w->sn, sluice_simnet_now(w->sn) + 600000 * MS, all_received, &g);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(w->n[0].a, &st);
    if (!ok || getenv("SLUICE_TEST_VERBOSE"))
        print_message("at first drop: cwnd %u flight %u; t=%.3fs received %llu/%zu dropped %llu data "
                      "%llu sacks; retx %llu fast %llu t3 %llu cwnd %u ssthresh %u flight %u rto %u ms\n",
                      w->cwnd_at_first_drop, w->flight_at_first_drop,
                      (double)(sluice_simnet_now(w->sn) - 1000000) / 1e6, (unsigned long long)w->n[1].msgs_rx, nmsgs,
                      (unsigned long long)w->dropped_data, (unsigned long long)w->dropped_sacks,
                      (unsigned long long)st.retransmissions, (unsigned long long)st.fast_retransmits,
                      (unsigned long long)st.t3_expirations, st.cwnd, st.ssthresh, st.bytes_in_flight, st.rto_ms);
    if (!ok || getenv("SLUICE_TEST_VERBOSE")) {
        sluice_sim_counters c = sluice_simnet_counters(w->sn, NULL, NULL);
        print_message("net: sent %llu lost %llu queue drops %llu\n", (unsigned long long)c.sent,
                      (unsigned long long)c.lost, (unsigned long long)c.queue_drops);
    }
    assert_true(ok);
    assert_false(w->n[1].corrupt);
    assert_false(w->n[0].closed || w->n[1].closed);
    assert_int_equal(w->n[1].msgs_rx, nmsgs);
    return st;
}

/* A fast path with a deep queue: slow start grows cwnd to the whole 4 MiB receive window
 * before the losses, which then all fall into one window. */
static const sluice_sim_path deep = {.delay_us = 20000, .bandwidth_bps = 200000000, .queue_bytes = 16u << 20};

static void test_sctp_loss_burst_of_20_packets_in_4mib_window_recovers_without_t3(void **state) {
    (void)state;
    world w;
    /* TSN offset 9000 is sent when about 10 MB have gone: cwnd is at the window by then */
    static const drop_rule rules[] = {{9000, 20, 1, 0}};
    world_init(&w, &deep, rules, 1);
    sluice_sctp_stats st = transfer(&w, 256, 65536); /* 16 MiB */
    assert_true(st.idata);
    assert_int_equal(w.dropped_data, 20);
    assert_int_equal(st.t3_expirations, 0);
    assert_true(st.fast_retransmits >= 20);
    world_free(&w);
}

static void test_sctp_loss_burst_with_data_chunks_recovers_without_t3(void **state) {
    (void)state;
    world w;
    /* the same burst with DATA instead of I-DATA (both sides default to I-DATA) */
    static const drop_rule rules[] = {{9000, 20, 1, 0}, {9005, 2, 1, 1}};
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.enable_idata = false;
    world_init2(&w, &deep, rules, 2, &s, &s);
    sluice_sctp_stats st = transfer(&w, 256, 65536);
    assert_false(st.idata);
    assert_int_equal(w.dropped_data, 22);
    assert_int_equal(st.t3_expirations, 0);
    world_free(&w);
}

static void test_sctp_loss_separate_holes_in_one_window_recover_without_t3(void **state) {
    (void)state;
    world w;
    /* 40 single losses, 25 packets apart, plus two small bursts: all within one window */
    static const drop_rule rules[] = {{9000, 1000, 25, 0}, {9510, 5, 1, 0}, {9800, 3, 1, 0}};
    world_init(&w, &deep, rules, 3);
    sluice_sctp_stats st = transfer(&w, 256, 65536);
    assert_true(w.dropped_data >= 45);
    assert_int_equal(st.t3_expirations, 0);
    world_free(&w);
}

static void test_sctp_loss_lost_fast_retransmissions_recover_without_t3(void **state) {
    (void)state;
    world w;
    /* a burst and separate holes whose first retransmission is lost as well */
    static const drop_rule rules[] = {
        {9000, 20, 1, 0}, {9003, 3, 1, 1}, {9100, 400, 50, 0}, {9100, 400, 100, 1},
        {9700, 1, 1, 0}, {9700, 1, 1, 1}, {9700, 1, 1, 2}, /* lost three times */
    };
    world_init(&w, &deep, rules, 7);
    sluice_sctp_stats st = transfer(&w, 256, 65536);
    assert_true(w.dropped_data >= 20 + 3 + 8 + 4 + 3);
    assert_int_equal(st.t3_expirations, 0);
    world_free(&w);
}

static void test_sctp_loss_more_holes_than_one_sack_reports_recover_without_t3(void **state) {
    (void)state;
    world w;
    /* every other packet of 800 lost: 400 holes, more gap blocks than fit in one SACK */
    static const drop_rule rules[] = {{9000, 800, 2, 0}};
    world_init(&w, &deep, rules, 1);
    sluice_sctp_stats st = transfer(&w, 256, 65536);
    assert_int_equal(w.dropped_data, 400);
    assert_int_equal(st.t3_expirations, 0);
    world_free(&w);
}

static void test_sctp_loss_lost_sacks_during_recovery_recover_without_t3(void **state) {
    (void)state;
    world w;
    static const drop_rule rules[] = {{9000, 20, 1, 0}};
    world_init(&w, &deep, rules, 1);
    /* a run of the receiver's SACKs lost around the time the burst is reported */
    w.drop_sacks_from = 2200;
    w.drop_sacks_n = 30;
    sluice_sctp_stats st = transfer(&w, 256, 65536);
    assert_int_equal(st.t3_expirations, 0);
    world_free(&w);
}

static void test_sctp_loss_many_holes_at_the_end_of_a_transfer_recover_without_t3(void **state) {
    (void)state;
    world w;
    /* the last ~1000 packets: every other one lost (no new data keeps SACKs coming) */
    static const drop_rule rules[] = {{13400, 1000, 2, 0}};
    world_init(&w, &deep, rules, 1);
    sluice_sctp_stats st = transfer(&w, 256, 65536);
    assert_int_equal(st.t3_expirations, 0);
    world_free(&w);
}

static void test_sctp_loss_many_holes_small_messages_recover_without_t3(void **state) {
    (void)state;
    world w;
    static const drop_rule rules[] = {{40000, 6000, 11, 0}};
    world_init(&w, &deep, rules, 1);
    sluice_sctp_stats st = transfer(&w, 60000, 200);
    assert_int_equal(st.t3_expirations, 0);
    world_free(&w);
}

/* The receiving application stops reading for 3 s: the window closes, the sender probes.
 * When it reads again, the window update must not release cwnd at once (RFC 9260 §6.1 D
 * Max.Burst): a few packets per SACK, growing. */
static void test_sctp_loss_window_reopening_after_stall_is_burst_limited(void **state) {
    (void)state;
    world w;
    sluice_sctp_settings rs;
    sluice_sctp_settings_default(&rs);
    rs.rwnd = 1u << 20;
    world_init2(&w, &deep, NULL, 0, &rs, NULL);
    assert_int_equal(sluice_sctp_connect(w.n[0].a, sluice_simnet_now(w.sn)), SLUICE_OK);
    assert_true(sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 10000 * MS, connected, &w));
    size_t nmsgs = 192, size = 65536; /* 12 MiB */
    uint8_t *buf = malloc(size);
    for (size_t i = 0; i < nmsgs; i++) {
        fill(buf, size, (uint32_t)i);
        assert_int_equal(sluice_sctp_send(w.n[0].a, sluice_simnet_now(w.sn), 0, 53, buf, size, NULL), SLUICE_OK);
    }
    free(buf);
    /* let cwnd grow to the window, then stop reading */
    sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 600 * MS, NULL, NULL);
    sluice_sctp_stats st;
    sluice_sctp_get_stats(w.n[0].a, &st);
    uint32_t cwnd_before = st.cwnd;
    w.n[1].paused = true;
    sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 3000 * MS, NULL, NULL);
    sluice_sctp_get_stats(w.n[0].a, &st);
    assert_true(st.peer_rwnd == 0 || st.bytes_in_flight < 2 * 1191);
    w.n[1].paused = false;
    w.measure_burst = true;
    ln_events(&w.n[1]); /* reads everything: the window update goes out */
    goal g = {&w, nmsgs};
    bool ok = sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 600000 * MS, all_received, &g);
    sluice_sctp_get_stats(w.n[0].a, &st);
    if (!ok || getenv("SLUICE_TEST_VERBOSE"))
        print_message("cwnd before the stall %u; largest burst after it %u packets; t3 %llu\n", cwnd_before,
                      w.burst_max, (unsigned long long)st.t3_expirations);
    assert_true(ok);
    assert_false(w.n[1].corrupt);
    assert_true(cwnd_before > 500000);
    /* one SACK frees the 2 packets it acknowledges plus Max.Burst = 4 (a message's short
     * last fragment can make that one packet more); without the limit: ~880 packets */
    assert_true(w.burst_max <= 8);
    assert_true(st.burst_limited > 0);
    assert_int_equal(st.t3_expirations, 0);
    world_free(&w);
}

static bool sender_idle(void *u) {
    sluice_sctp_stats st;
    sluice_sctp_get_stats(((world *)u)->n[0].a, &st);
    return st.bytes_in_flight == 0;
}

/* Max.Burst bounds what a SACK ending a stall releases, not what the application queues
 * while the path is idle (within an RTO of the last send, so cwnd is not decayed yet):
 * a 64 KiB message after a drained flight goes out at once, as before. */
static void test_sctp_loss_application_burst_after_drained_flight_is_not_capped(void **state) {
    (void)state;
    world w;
    world_init(&w, &deep, NULL, 0);
    transfer(&w, 64, 65536);
    assert_true(sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 10000 * MS, sender_idle, &w));
    w.measure_burst = true;
    uint8_t *buf = malloc(65536);
    fill(buf, 65536, 64);
    assert_int_equal(sluice_sctp_send(w.n[0].a, sluice_simnet_now(w.sn), 0, 53, buf, 65536, NULL), SLUICE_OK);
    free(buf);
    goal g = {&w, 65};
    assert_true(sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 10000 * MS, all_received, &g));
    assert_true(w.burst_max >= 50);
    world_free(&w);
}

static bool sender_closed(void *u) { return ((world *)u)->n[0].closed; }

/* A peer that answers heartbeats (resetting the error counter) but whose SHUTDOWN-ACK
 * never arrives: T2-shutdown alone would retransmit SHUTDOWN forever; T5-shutdown-guard
 * (RFC 9260 §9.2, 5 x RTO.Max) ends it with an ABORT. */
static void test_sctp_shutdown_guard_ends_a_shutdown_the_peer_never_completes(void **state) {
    (void)state;
    world w;
    sluice_sctp_settings ss;
    sluice_sctp_settings_default(&ss);
    ss.rto_max_ms = 2000;
    ss.heartbeat_interval_ms = 500;
    ss.max_assoc_retransmits = 4; /* guard = max(5, 4 + 1) x RTO.Max */
    sluice_sim_path p = {.delay_us = 20000};
    world_init2(&w, &p, NULL, 0, NULL, &ss);
    w.drop_rx_chunk = SLUICE_SCTP_CHUNK_SHUTDOWN_ACK;
    assert_int_equal(sluice_sctp_connect(w.n[0].a, sluice_simnet_now(w.sn)), SLUICE_OK);
    assert_true(sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 10000 * MS, connected, &w));
    uint8_t msg[100] = {0};
    assert_int_equal(sluice_sctp_send(w.n[0].a, sluice_simnet_now(w.sn), 0, 53, msg, sizeof msg, NULL), SLUICE_OK);
    sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 1000 * MS, NULL, NULL);
    sluice_time t0 = sluice_simnet_now(w.sn);
    sluice_sctp_shutdown(w.n[0].a, t0);
    assert_true(sluice_simnet_run(w.sn, t0 + 60000 * MS, sender_closed, &w));
    sluice_time took = sluice_simnet_now(w.sn) - t0;
    assert_int_equal(w.n[0].close_err, SLUICE_ERR_TIMEOUT);
    assert_true(w.dropped_rx_chunk > 3);
    /* 5 x RTO.Max = 10 s after the first SHUTDOWN (the T2 expiries never add up to
     * Association.Max.Retrans: heartbeats reset the counter) */
    assert_true(took >= 10000 * MS && took < 10500 * MS);
    world_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sctp_loss_burst_of_20_packets_in_4mib_window_recovers_without_t3),
        cmocka_unit_test(test_sctp_loss_burst_with_data_chunks_recovers_without_t3),
        cmocka_unit_test(test_sctp_loss_separate_holes_in_one_window_recover_without_t3),
        cmocka_unit_test(test_sctp_loss_lost_fast_retransmissions_recover_without_t3),
        cmocka_unit_test(test_sctp_loss_more_holes_than_one_sack_reports_recover_without_t3),
        cmocka_unit_test(test_sctp_loss_lost_sacks_during_recovery_recover_without_t3),
        cmocka_unit_test(test_sctp_loss_many_holes_at_the_end_of_a_transfer_recover_without_t3),
        cmocka_unit_test(test_sctp_loss_many_holes_small_messages_recover_without_t3),
        cmocka_unit_test(test_sctp_loss_window_reopening_after_stall_is_burst_limited),
        cmocka_unit_test(test_sctp_loss_application_burst_after_drained_flight_is_not_capped),
        cmocka_unit_test(test_sctp_shutdown_guard_ends_a_shutdown_the_peer_never_completes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
