/* Tests of the simulated network (src/simnet.c): impairments match their settings,
 * NAT behaviour, determinism, virtual-time deadlines, run/step semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "simnet.h"
#include "util.h"

/* ---- a sink node recording every delivery -------------------------------------- */

typedef struct rec {
    sluice_time at;
    sluice_addr from, to;
    uint32_t id; /* first 4 bytes of the payload */
    size_t len;
} rec;

typedef struct sink {
    rec *r;
    size_t n, cap;
    size_t stop_after; /* for done(): stop once n >= stop_after */
} sink;

static void sink_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                         const uint8_t *data, size_t len) {
    sink *s = obj;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        rec *nr = realloc(s->r, nc * sizeof *nr);
        assert_non_null(nr);
        s->r = nr;
        s->cap = nc;
    }
    rec *r = &s->r[s->n++];
    r->at = now;
    r->from = *from;
    r->to = *to;
    r->id = len >= 4 ? sluice_load_be32(data) : UINT32_MAX;
    r->len = len;
}

static const sluice_sim_node_ops sink_ops = {sink_deliver, NULL, NULL, NULL};

static void sink_free(sink *s) { free(s->r); }

static bool sink_done(void *user) {
    const sink *s = user;
    return s->n >= s->stop_after;
}

/* Send one datagram of `len` bytes whose first 4 bytes carry `id`. */
static void send_id(sluice_simnet *sn, const sluice_addr *from, const sluice_addr *to, uint32_t id, size_t len) {
    uint8_t buf[2048];
    assert_true(len >= 4 && len <= sizeof buf);
    memset(buf, 0xab, len);
    sluice_store_be32(buf, id);
    assert_int_equal(sluice_simnet_send(sn, from, to, buf, len), SLUICE_OK);
}

/* Drain everything in flight. */
static void drain(sluice_simnet *sn) { sluice_simnet_run(sn, SLUICE_TIME_NEVER, NULL, NULL); }

/* A two-host setup: A (10.0.0.1:1000) sends to B (10.0.0.2:2000), B is a sink. */
typedef struct two_hosts {
    sluice_simnet *sn;
    sluice_addr a, b;
    sink sb;
} two_hosts;

static void two_hosts_init(two_hosts *t, uint64_t seed, const sluice_sim_path *ab) {
    memset(t, 0, sizeof *t);
    t->sn = sluice_simnet_new(seed, 0);
    assert_non_null(t->sn);
    t->a = sluice_sim_addr4(10, 0, 0, 1, 1000);
    t->b = sluice_sim_addr4(10, 0, 0, 2, 2000);
    int nb = sluice_simnet_add_node(t->sn, &sink_ops, &t->sb);
    assert_true(nb >= 0);
    assert_int_equal(sluice_simnet_bind(t->sn, nb, &t->b), SLUICE_OK);
    if (ab) assert_int_equal(sluice_simnet_set_path(t->sn, &t->a, &t->b, ab), SLUICE_OK);
}

static void two_hosts_free(two_hosts *t) {
    sluice_simnet_free(t->sn);
    sink_free(&t->sb);
}

/* ---- impairments --------------------------------------------------------------------- */

static void test_simnet_perfect_path_delivers_instantly_in_order(void **state) {
    (void)state;
    two_hosts t;
    two_hosts_init(&t, 1, NULL);
    for (uint32_t i = 0; i < 100; i++) send_id(t.sn, &t.a, &t.b, i, 100);
    drain(t.sn);
    assert_int_equal(t.sb.n, 100);
    for (uint32_t i = 0; i < 100; i++) {
        assert_int_equal(t.sb.r[i].id, i);
        assert_true(t.sb.r[i].at == 0);
        assert_true(sluice_addr_equal(&t.sb.r[i].from, &t.a));
        assert_true(sluice_addr_equal(&t.sb.r[i].to, &t.b));
        assert_int_equal(t.sb.r[i].len, 100);
    }
    sluice_sim_counters c = sluice_simnet_counters(t.sn, NULL, NULL);
    assert_int_equal(c.sent, 100);
    assert_int_equal(c.delivered, 100);
    assert_int_equal(c.bytes_delivered, 10000);
    assert_int_equal(c.lost + c.duplicated + c.reordered + c.too_big + c.queue_drops + c.unroutable, 0);
    two_hosts_free(&t);
}

static void test_simnet_loss_rate_matches_setting(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.loss = 0.1;
    two_hosts t;
    two_hosts_init(&t, 2024, &p);
    enum { N = 20000 };
    for (uint32_t i = 0; i < N; i++) send_id(t.sn, &t.a, &t.b, i, 64);
    drain(t.sn);
    sluice_sim_counters c = sluice_simnet_counters(t.sn, &t.a, &t.b);
    assert_int_equal(c.sent, N);
    assert_int_equal(c.lost + c.delivered, N);
    assert_int_equal(t.sb.n, c.delivered);
    double rate = (double)c.lost / N;
    assert_true(rate > 0.09 && rate < 0.11);
    two_hosts_free(&t);
}

static void test_simnet_delay_is_exact_without_jitter(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.delay_us = 25000;
    two_hosts t;
    two_hosts_init(&t, 3, &p);
    static const sluice_time send_at[] = {0, 1, 10000, 10000, 24999, 25000, 90001};
    size_t k = 0;
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(send_at); i++) {
        sluice_simnet_run(t.sn, send_at[i], NULL, NULL);
        assert_true(sluice_simnet_now(t.sn) == send_at[i]);
        send_id(t.sn, &t.a, &t.b, (uint32_t)i, 32);
        k++;
    }
    drain(t.sn);
    assert_int_equal(t.sb.n, k);
    for (size_t i = 0; i < k; i++) {
        assert_int_equal(t.sb.r[i].id, i);
        assert_true(t.sb.r[i].at == send_at[i] + 25000);
    }
    two_hosts_free(&t);
}

static void test_simnet_jitter_stays_within_delay_plus_jitter(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.delay_us = 10000;
    p.jitter_us = 5000;
    two_hosts t;
    two_hosts_init(&t, 4, &p);
    enum { N = 5000 };
    /* One packet every 100 us, each carrying its send time. */
    sluice_time *sent = malloc(N * sizeof *sent);
    assert_non_null(sent);
    for (uint32_t i = 0; i < N; i++) {
        sluice_simnet_run(t.sn, (sluice_time)i * 100, NULL, NULL);
        sent[i] = sluice_simnet_now(t.sn);
        send_id(t.sn, &t.a, &t.b, i, 32);
    }
    drain(t.sn);
    assert_int_equal(t.sb.n, N);
    sluice_time lo = SLUICE_TIME_NEVER, hi = 0;
    size_t inversions = 0;
    for (size_t i = 0; i < N; i++) {
        sluice_time d = t.sb.r[i].at - sent[t.sb.r[i].id];
        assert_true(d >= 10000 && d <= 15000);
        lo = SLUICE_MIN(lo, d);
        hi = SLUICE_MAX(hi, d);
        if (i && t.sb.r[i].id < t.sb.r[i - 1].id) inversions++;
    }
    /* Both ends of the range are reached: the extra delay really spans [0, jitter]. */
    assert_true(lo < 10050 && hi > 14950);
    /* Jitter larger than the send interval reorders. */
    assert_true(inversions > 0);
    free(sent);
    two_hosts_free(&t);
}

static void test_simnet_duplication_rate_matches_setting(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.duplicate = 0.05;
    two_hosts t;
    two_hosts_init(&t, 5, &p);
    enum { N = 20000 };
    for (uint32_t i = 0; i < N; i++) send_id(t.sn, &t.a, &t.b, i, 32);
    drain(t.sn);
    sluice_sim_counters c = sluice_simnet_counters(t.sn, &t.a, &t.b);
    double rate = (double)c.duplicated / N;
    assert_true(rate > 0.045 && rate < 0.055);
    assert_int_equal(t.sb.n, N + c.duplicated);
    assert_int_equal(c.delivered, N + c.duplicated);
    /* Every id arrives once or twice, and twice exactly `duplicated` times. */
    uint8_t *seen = calloc(N, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < t.sb.n; i++) seen[t.sb.r[i].id]++;
    size_t twice = 0;
    for (size_t i = 0; i < N; i++) {
        assert_true(seen[i] == 1 || seen[i] == 2);
        twice += seen[i] == 2;
    }
    assert_int_equal(twice, c.duplicated);
    free(seen);
    two_hosts_free(&t);
}

static size_t count_inversions(const sink *s) {
    size_t inv = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->r[i].id < s->r[i - 1].id) inv++;
    return inv;
}

static void test_simnet_reorder_happens_at_the_set_rate(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.delay_us = 2000;
    p.reorder = 0.1;
    p.reorder_delay_us = 5000;
    two_hosts t;
    two_hosts_init(&t, 6, &p);
    enum { N = 10000 };
    for (uint32_t i = 0; i < N; i++) {
        sluice_simnet_run(t.sn, (sluice_time)i * 1000, NULL, NULL);
        send_id(t.sn, &t.a, &t.b, i, 32);
    }
    drain(t.sn);
    assert_int_equal(t.sb.n, N);
    sluice_sim_counters c = sluice_simnet_counters(t.sn, &t.a, &t.b);
    double rate = (double)c.reordered / N;
    assert_true(rate > 0.09 && rate < 0.11);
    assert_true(count_inversions(&t.sb) > 0);
    /* A reordered packet arrives exactly reorder_delay_us late. */
    for (size_t i = 0; i < t.sb.n; i++) {
        sluice_time d = t.sb.r[i].at - (sluice_time)t.sb.r[i].id * 1000;
        assert_true(d == 2000 || d == 7000);
    }
    two_hosts_free(&t);
}

static void test_simnet_no_reorder_without_jitter_or_reorder(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.delay_us = 3000;
    p.loss = 0.2;
    p.duplicate = 0.2;
    two_hosts t;
    two_hosts_init(&t, 7, &p);
    for (uint32_t i = 0; i < 2000; i++) {
        sluice_simnet_run(t.sn, (sluice_time)i * 10, NULL, NULL);
        send_id(t.sn, &t.a, &t.b, i, 32);
    }
    drain(t.sn);
    assert_int_equal(count_inversions(&t.sb), 0); /* duplicates arrive together, in order */
    two_hosts_free(&t);
}

static void test_simnet_bandwidth_gives_expected_delivery_time(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.bandwidth_bps = 1000000; /* 1 Mbit/s: 1000 bytes take 8 ms */
    p.delay_us = 20000;
    two_hosts t;
    two_hosts_init(&t, 8, &p);
    for (uint32_t i = 0; i < 10; i++) send_id(t.sn, &t.a, &t.b, i, 1000);
    drain(t.sn);
    assert_int_equal(t.sb.n, 10);
    for (uint32_t i = 0; i < 10; i++) {
        assert_int_equal(t.sb.r[i].id, i);
        assert_true(t.sb.r[i].at == (sluice_time)(i + 1) * 8000 + 20000);
    }
    /* N bytes take N*8/bw seconds: 10 000 bytes at 1 Mbit/s = 80 ms (+ 20 ms delay). */
    assert_true(t.sb.r[9].at == 100000);

    /* After the link went idle, a new packet starts serialising at once. */
    sluice_simnet_run(t.sn, 500000, NULL, NULL);
    send_id(t.sn, &t.a, &t.b, 99, 125); /* 1 ms */
    drain(t.sn);
    assert_true(t.sb.r[10].at == 500000 + 1000 + 20000);
    two_hosts_free(&t);
}

static void test_simnet_queue_tail_drops_beyond_backlog(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.bandwidth_bps = 1000000;
    p.queue_bytes = 5000;
    two_hosts t;
    two_hosts_init(&t, 9, &p);
    for (uint32_t i = 0; i < 10; i++) send_id(t.sn, &t.a, &t.b, i, 1000);
    sluice_sim_counters c = sluice_simnet_counters(t.sn, &t.a, &t.b);
    assert_int_equal(c.queue_drops, 5);
    /* Once 2 packets have left (16 ms), room for exactly 2 more. */
    sluice_simnet_run(t.sn, 16000, NULL, NULL);
    for (uint32_t i = 10; i < 13; i++) send_id(t.sn, &t.a, &t.b, i, 1000);
    drain(t.sn);
    c = sluice_simnet_counters(t.sn, &t.a, &t.b);
    assert_int_equal(c.queue_drops, 6);
    assert_int_equal(c.delivered, 7);
    static const uint32_t want[] = {0, 1, 2, 3, 4, 10, 11}; /* tail drop: the newest are lost */
    assert_int_equal(t.sb.n, 7);
    for (size_t i = 0; i < 7; i++) assert_int_equal(t.sb.r[i].id, want[i]);
    two_hosts_free(&t);
}

static void test_simnet_default_queue_is_256_kib(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.bandwidth_bps = 8000; /* 1000 bytes/s: nothing drains during the burst */
    two_hosts t;
    two_hosts_init(&t, 10, &p);
    for (uint32_t i = 0; i < 300; i++) send_id(t.sn, &t.a, &t.b, i, 1024);
    sluice_sim_counters c = sluice_simnet_counters(t.sn, &t.a, &t.b);
    assert_int_equal(c.queue_drops, 300 - 256);
    two_hosts_free(&t);
}

static void test_simnet_mtu_drops_larger_datagrams(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.mtu = 1200;
    two_hosts t;
    two_hosts_init(&t, 11, &p);
    send_id(t.sn, &t.a, &t.b, 1, 1200);
    send_id(t.sn, &t.a, &t.b, 2, 1201);
    send_id(t.sn, &t.a, &t.b, 3, 4);
    drain(t.sn);
    assert_int_equal(t.sb.n, 2);
    assert_int_equal(t.sb.r[0].id, 1);
    assert_int_equal(t.sb.r[1].id, 3);
    sluice_sim_counters c = sluice_simnet_counters(t.sn, &t.a, &t.b);
    assert_int_equal(c.too_big, 1);
    assert_int_equal(c.lost, 0);
    two_hosts_free(&t);
}

static void test_simnet_path_down_drops_one_direction_until_up(void **state) {
    (void)state;
    sluice_sim_path down = {0};
    down.down = true;
    two_hosts t;
    two_hosts_init(&t, 12, &down);
    sink sa = {0};
    int na = sluice_simnet_add_node(t.sn, &sink_ops, &sa);
    assert_int_equal(sluice_simnet_bind(t.sn, na, &t.a), SLUICE_OK);
    for (uint32_t i = 0; i < 10; i++) send_id(t.sn, &t.a, &t.b, i, 32);
    send_id(t.sn, &t.b, &t.a, 100, 32); /* the reverse direction is not cut */
    drain(t.sn);
    assert_int_equal(t.sb.n, 0);
    assert_int_equal(sa.n, 1);
    assert_int_equal(sluice_simnet_counters(t.sn, &t.a, &t.b).lost, 10);

    sluice_sim_path up = {0};
    assert_int_equal(sluice_simnet_set_path(t.sn, &t.a, &t.b, &up), SLUICE_OK);
    send_id(t.sn, &t.a, &t.b, 11, 32);
    drain(t.sn);
    assert_int_equal(t.sb.n, 1);
    assert_int_equal(t.sb.r[0].id, 11);
    sink_free(&sa);
    two_hosts_free(&t);
}

static void test_simnet_default_path_applies_to_unlisted_pairs(void **state) {
    (void)state;
    two_hosts t;
    two_hosts_init(&t, 13, NULL);
    sluice_sim_path def = {0};
    def.delay_us = 7000;
    sluice_simnet_set_default_path(t.sn, &def);
    sluice_addr c = sluice_sim_addr4(10, 0, 0, 3, 3000);
    sluice_sim_path fast = {0};
    fast.delay_us = 1000;
    assert_int_equal(sluice_simnet_set_path(t.sn, &c, &t.b, &fast), SLUICE_OK);
    send_id(t.sn, &t.a, &t.b, 1, 32);
    send_id(t.sn, &c, &t.b, 2, 32);
    drain(t.sn);
    assert_int_equal(t.sb.n, 2);
    assert_int_equal(t.sb.r[0].id, 2);
    assert_true(t.sb.r[0].at == 1000);
    assert_int_equal(t.sb.r[1].id, 1);
    assert_true(t.sb.r[1].at == 7000);
    two_hosts_free(&t);
}

static void test_simnet_default_path_bandwidth_is_per_direction(void **state) {
    (void)state;
    /* Two flows in opposite directions over the default path must not share one queue:
     * each direction of a link serialises on its own. */
    two_hosts t;
    two_hosts_init(&t, 14, NULL);
    sink sa = {0};
    int na = sluice_simnet_add_node(t.sn, &sink_ops, &sa);
    assert_int_equal(sluice_simnet_bind(t.sn, na, &t.a), SLUICE_OK);
    sluice_sim_path def = {0};
    def.bandwidth_bps = 1000000;
    sluice_simnet_set_default_path(t.sn, &def);
    for (uint32_t i = 0; i < 5; i++) send_id(t.sn, &t.a, &t.b, i, 1000);
    send_id(t.sn, &t.b, &t.a, 100, 1000);
    drain(t.sn);
    assert_int_equal(sa.n, 1);
    assert_true(sa.r[0].at == 8000);
    assert_int_equal(t.sb.n, 5);
    assert_true(t.sb.r[4].at == 40000);
    /* ...and its own counters. */
    assert_int_equal(sluice_simnet_counters(t.sn, &t.a, &t.b).delivered, 5);
    assert_int_equal(sluice_simnet_counters(t.sn, &t.b, &t.a).delivered, 1);
    sink_free(&sa);
    two_hosts_free(&t);
}

static void test_simnet_unbound_destination_is_unroutable(void **state) {
    (void)state;
    two_hosts t;
    two_hosts_init(&t, 15, NULL);
    sluice_addr nowhere = sluice_sim_addr4(192, 0, 2, 99, 9);
    sluice_addr other_port = t.b;
    other_port.port = 2001;
    send_id(t.sn, &t.a, &nowhere, 1, 32);
    send_id(t.sn, &t.a, &other_port, 2, 32);
    drain(t.sn);
    assert_int_equal(t.sb.n, 0);
    assert_int_equal(sluice_simnet_counters(t.sn, NULL, NULL).unroutable, 2);
    two_hosts_free(&t);
}

static void test_simnet_port_zero_binding_catches_every_port_exact_wins(void **state) {
    (void)state;
    sluice_simnet *sn = sluice_simnet_new(16, 0);
    sink any = {0}, exact = {0};
    int n1 = sluice_simnet_add_node(sn, &sink_ops, &any);
    int n2 = sluice_simnet_add_node(sn, &sink_ops, &exact);
    sluice_addr host_any = sluice_sim_addr4(10, 0, 0, 9, 0);
    sluice_addr host_5000 = sluice_sim_addr4(10, 0, 0, 9, 5000);
    sluice_addr host_6000 = sluice_sim_addr4(10, 0, 0, 9, 6000);
    sluice_addr src = sluice_sim_addr4(10, 0, 0, 1, 1);
    assert_int_equal(sluice_simnet_bind(sn, n1, &host_any), SLUICE_OK);
    assert_int_equal(sluice_simnet_bind(sn, n2, &host_5000), SLUICE_OK);
    send_id(sn, &src, &host_5000, 1, 8);
    send_id(sn, &src, &host_6000, 2, 8);
    drain(sn);
    assert_int_equal(exact.n, 1);
    assert_int_equal(exact.r[0].id, 1);
    assert_int_equal(any.n, 1);
    assert_int_equal(any.r[0].id, 2);
    assert_int_equal(any.r[0].to.port, 6000);
    sluice_simnet_free(sn);
    sink_free(&any);
    sink_free(&exact);
}

static void test_simnet_rejects_bad_arguments(void **state) {
    (void)state;
    sluice_simnet *sn = sluice_simnet_new(17, 0);
    sluice_addr a = sluice_sim_addr4(1, 1, 1, 1, 1);
    sluice_sim_path p = {0};
    assert_int_equal(sluice_simnet_add_node(sn, NULL, NULL), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_simnet_bind(sn, 0, &a), SLUICE_ERR_INVALID_ARGUMENT); /* no node 0 yet */
    assert_int_equal(sluice_simnet_bind(sn, -1, &a), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_simnet_set_path(sn, &a, NULL, &p), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_simnet_send(sn, &a, &a, NULL, 5), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_simnet_add_nat(sn, NULL, &a, false), SLUICE_ERR_INVALID_ARGUMENT);
    sluice_simnet_free(sn);
    sluice_simnet_free(NULL);
}

static void test_simnet_ipv6_paths_are_distinct_from_ipv4(void **state) {
    (void)state;
    sluice_simnet *sn = sluice_simnet_new(23, 0);
    sink s6 = {0}, s4 = {0};
    sluice_addr a6, b6, a4, b4;
    assert_int_equal(sluice_addr_parse(&a6, "2001:db8::1", 1), SLUICE_OK);
    assert_int_equal(sluice_addr_parse(&b6, "2001:db8::2", 2), SLUICE_OK);
    /* IPv4 hosts whose bytes equal the start of the IPv6 ones. */
    a4 = sluice_sim_addr4(0x20, 0x01, 0x0d, 0xb8, 1);
    b4 = sluice_sim_addr4(0x20, 0x01, 0x0d, 0xb8, 2);
    int n6 = sluice_simnet_add_node(sn, &sink_ops, &s6);
    int n4 = sluice_simnet_add_node(sn, &sink_ops, &s4);
    assert_int_equal(sluice_simnet_bind(sn, n6, &b6), SLUICE_OK);
    assert_int_equal(sluice_simnet_bind(sn, n4, &b4), SLUICE_OK);
    sluice_sim_path slow = {0};
    slow.delay_us = 50000;
    assert_int_equal(sluice_simnet_set_path(sn, &a6, &b6, &slow), SLUICE_OK);
    send_id(sn, &a6, &b6, 6, 40);
    send_id(sn, &a4, &b4, 4, 40);
    drain(sn);
    assert_int_equal(s6.n, 1);
    assert_true(s6.r[0].at == 50000);
    assert_true(sluice_addr_equal(&s6.r[0].from, &a6));
    assert_int_equal(s4.n, 1);
    assert_true(s4.r[0].at == 0); /* the IPv6 path does not apply to IPv4 */
    sluice_simnet_free(sn);
    sink_free(&s6);
    sink_free(&s4);
}

static void test_simnet_largest_datagram_is_delivered_intact(void **state) {
    (void)state;
    two_hosts t;
    two_hosts_init(&t, 24, NULL);
    uint8_t *big = malloc(65507);
    assert_non_null(big);
    for (size_t i = 0; i < 65507; i++) big[i] = (uint8_t)(i * 7);
    sluice_store_be32(big, 77);
    assert_int_equal(sluice_simnet_send(t.sn, &t.a, &t.b, big, 65507), SLUICE_OK);
    assert_int_equal(sluice_simnet_send(t.sn, &t.a, &t.b, NULL, 0), SLUICE_OK); /* empty is fine */
    drain(t.sn);
    assert_int_equal(t.sb.n, 2);
    assert_int_equal(t.sb.r[0].len, 65507);
    assert_int_equal(t.sb.r[0].id, 77);
    assert_int_equal(t.sb.r[1].len, 0);
    free(big);
    two_hosts_free(&t);
}

/* ---- NAT ------------------------------------------------------------------------------- */

typedef struct nat_world {
    sluice_simnet *sn;
    sluice_addr inside, pub_host, s1, s2;
    sink in, k1, k2;
} nat_world;

/* inside 10.0.0.2:5000 behind 203.0.113.1; servers s1 198.51.100.1:3478, s2 198.51.100.2:3478. */
static void nat_world_init(nat_world *w, bool symmetric) {
    memset(w, 0, sizeof *w);
    w->sn = sluice_simnet_new(18, 0);
    w->inside = sluice_sim_addr4(10, 0, 0, 2, 5000);
    w->pub_host = sluice_sim_addr4(203, 0, 113, 1, 0);
    w->s1 = sluice_sim_addr4(198, 51, 100, 1, 3478);
    w->s2 = sluice_sim_addr4(198, 51, 100, 2, 3478);
    int ni = sluice_simnet_add_node(w->sn, &sink_ops, &w->in);
    int n1 = sluice_simnet_add_node(w->sn, &sink_ops, &w->k1);
    int n2 = sluice_simnet_add_node(w->sn, &sink_ops, &w->k2);
    assert_int_equal(sluice_simnet_bind(w->sn, ni, &w->inside), SLUICE_OK);
    sluice_addr s1any = w->s1, s2any = w->s2;
    s1any.port = 0;
    s2any.port = 0;
    assert_int_equal(sluice_simnet_bind(w->sn, n1, &s1any), SLUICE_OK);
    assert_int_equal(sluice_simnet_bind(w->sn, n2, &s2any), SLUICE_OK);
    assert_int_equal(sluice_simnet_add_nat(w->sn, &w->inside, &w->pub_host, symmetric), SLUICE_OK);
}

static void nat_world_free(nat_world *w) {
    sluice_simnet_free(w->sn);
    sink_free(&w->in);
    sink_free(&w->k1);
    sink_free(&w->k2);
}

static sluice_addr pub(const nat_world *w, uint16_t port) {
    sluice_addr a = w->pub_host;
    a.port = port;
    return a;
}

static void test_simnet_full_cone_nat_maps_once_and_admits_anyone(void **state) {
    (void)state;
    nat_world w;
    nat_world_init(&w, false);
    send_id(w.sn, &w.inside, &w.s1, 1, 20);
    send_id(w.sn, &w.inside, &w.s2, 2, 20);
    drain(w.sn);
    /* Endpoint-independent mapping: both servers see the same public address. */
    assert_int_equal(w.k1.n, 1);
    assert_int_equal(w.k2.n, 1);
    sluice_addr mapped = w.k1.r[0].from;
    assert_true(mapped.family == 4 && memcmp(mapped.ip, w.pub_host.ip, 4) == 0);
    assert_true(sluice_addr_equal(&w.k2.r[0].from, &mapped));

    /* The reply comes back to the inside address. */
    send_id(w.sn, &w.s1, &mapped, 3, 20);
    /* Full cone: a host never contacted may send to the mapping, from any port. */
    sluice_addr stranger = sluice_sim_addr4(192, 0, 2, 50, 999);
    send_id(w.sn, &stranger, &mapped, 4, 20);
    /* A port with no mapping is refused. */
    sluice_addr unmapped = pub(&w, (uint16_t)(mapped.port + 1));
    send_id(w.sn, &w.s1, &unmapped, 5, 20);
    drain(w.sn);
    assert_int_equal(w.in.n, 2);
    assert_int_equal(w.in.r[0].id, 3);
    assert_true(sluice_addr_equal(&w.in.r[0].to, &w.inside));
    assert_true(sluice_addr_equal(&w.in.r[0].from, &w.s1));
    assert_int_equal(w.in.r[1].id, 4);
    assert_int_equal(sluice_simnet_counters(w.sn, NULL, NULL).unroutable, 1);
    nat_world_free(&w);
}

static void test_simnet_symmetric_nat_maps_per_destination_and_filters(void **state) {
    (void)state;
    nat_world w;
    nat_world_init(&w, true);
    send_id(w.sn, &w.inside, &w.s1, 1, 20);
    send_id(w.sn, &w.inside, &w.s2, 2, 20);
    send_id(w.sn, &w.inside, &w.s1, 3, 20);
    drain(w.sn);
    assert_int_equal(w.k1.n, 2);
    assert_int_equal(w.k2.n, 1);
    sluice_addr m1 = w.k1.r[0].from, m2 = w.k2.r[0].from;
    /* Endpoint-dependent mapping: a new destination gets a new port; the same one reuses it. */
    assert_int_not_equal(m1.port, m2.port);
    assert_true(sluice_addr_equal(&w.k1.r[1].from, &m1));

    send_id(w.sn, &w.s1, &m1, 10, 20); /* the right server to its own mapping: admitted */
    send_id(w.sn, &w.s2, &m1, 11, 20); /* another server to s1's mapping: refused */
    sluice_addr s1_other_port = w.s1;
    s1_other_port.port = 3479;
    send_id(w.sn, &s1_other_port, &m1, 12, 20); /* same host, other port: refused */
    send_id(w.sn, &w.s2, &m2, 13, 20); /* s2 to its mapping: admitted */
    drain(w.sn);
    assert_int_equal(w.in.n, 2);
    assert_int_equal(w.in.r[0].id, 10);
    assert_int_equal(w.in.r[1].id, 13);
    assert_true(sluice_addr_equal(&w.in.r[1].to, &w.inside));
    assert_int_equal(sluice_simnet_counters(w.sn, NULL, NULL).unroutable, 2);
    nat_world_free(&w);
}

static void test_simnet_nat_hides_inside_host_until_outbound_traffic(void **state) {
    (void)state;
    nat_world w;
    nat_world_init(&w, false);
    sluice_addr guess = pub(&w, 40000);
    send_id(w.sn, &w.s1, &guess, 1, 20);    /* no mapping yet */
    send_id(w.sn, &w.s1, &w.inside, 2, 20); /* the private address is never reachable from outside */
    drain(w.sn);
    assert_int_equal(w.in.n, 0);
    assert_int_equal(sluice_simnet_counters(w.sn, NULL, NULL).unroutable, 2);
    send_id(w.sn, &w.inside, &w.s1, 3, 20);
    send_id(w.sn, &w.s1, &w.inside, 4, 20); /* still not, even with a mapping */
    drain(w.sn);
    assert_int_equal(w.in.n, 0);
    nat_world_free(&w);
}

static void test_simnet_hosts_behind_one_public_address_share_a_lan(void **state) {
    (void)state;
    nat_world w;
    nat_world_init(&w, false);
    /* A second inside host behind the same public address. */
    sink in2 = {0};
    sluice_addr inside2 = sluice_sim_addr4(10, 0, 0, 3, 6000);
    int n2 = sluice_simnet_add_node(w.sn, &sink_ops, &in2);
    assert_int_equal(sluice_simnet_bind(w.sn, n2, &inside2), SLUICE_OK);
    assert_int_equal(sluice_simnet_add_nat(w.sn, &inside2, &w.pub_host, false), SLUICE_OK);
    /* LAN neighbours talk directly, with their private addresses. */
    send_id(w.sn, &w.inside, &inside2, 1, 20);
    send_id(w.sn, &inside2, &w.inside, 2, 20);
    drain(w.sn);
    assert_int_equal(in2.n, 1);
    assert_true(sluice_addr_equal(&in2.r[0].from, &w.inside));
    assert_int_equal(w.in.n, 1);
    assert_true(sluice_addr_equal(&w.in.r[0].from, &inside2));
    /* Both go out through distinct public ports, and replies reach the right host. */
    send_id(w.sn, &w.inside, &w.s1, 3, 20);
    send_id(w.sn, &inside2, &w.s1, 4, 20);
    drain(w.sn);
    assert_int_equal(w.k1.n, 2);
    sluice_addr m1 = w.k1.r[0].from, m2 = w.k1.r[1].from;
    assert_int_not_equal(m1.port, m2.port);
    send_id(w.sn, &w.s1, &m2, 5, 20);
    send_id(w.sn, &w.s1, &m1, 6, 20);
    drain(w.sn);
    assert_int_equal(in2.n, 2);
    assert_int_equal(in2.r[1].id, 5);
    assert_int_equal(w.in.n, 2);
    assert_int_equal(w.in.r[1].id, 6);
    sink_free(&in2);
    nat_world_free(&w);
}

static void test_simnet_counters_follow_the_senders_path_through_nat(void **state) {
    (void)state;
    nat_world w;
    nat_world_init(&w, false);
    for (uint32_t i = 0; i < 3; i++) send_id(w.sn, &w.inside, &w.s1, i, 20);
    drain(w.sn);
    sluice_sim_counters c = sluice_simnet_counters(w.sn, &w.inside, &w.s1);
    assert_int_equal(c.sent, 3);
    assert_int_equal(c.delivered, 3);
    assert_int_equal(c.bytes_delivered, 60);
    /* The reply direction, addressed to the public mapping, has its own counters. */
    sluice_addr m = w.k1.r[0].from;
    send_id(w.sn, &w.s1, &m, 9, 20);
    drain(w.sn);
    c = sluice_simnet_counters(w.sn, &w.s1, &m);
    assert_int_equal(c.sent, 1);
    assert_int_equal(c.delivered, 1);
    assert_int_equal(sluice_simnet_counters(w.sn, &w.inside, &w.s1).delivered, 3);
    nat_world_free(&w);
}

/* ---- determinism ----------------------------------------------------------------------- */

static void run_trace(uint64_t seed, sink *out) {
    sluice_sim_path p = {0};
    p.loss = 0.05;
    p.duplicate = 0.05;
    p.reorder = 0.05;
    p.delay_us = 10000;
    p.jitter_us = 3000;
    p.bandwidth_bps = 10000000;
    two_hosts t;
    two_hosts_init(&t, seed, &p);
    for (uint32_t i = 0; i < 2000; i++) {
        sluice_simnet_run(t.sn, (sluice_time)i * 1000, NULL, NULL);
        send_id(t.sn, &t.a, &t.b, i, 100 + (i % 900));
    }
    drain(t.sn);
    *out = t.sb;
    t.sb.r = NULL;
    two_hosts_free(&t);
}

static bool same_trace(const sink *x, const sink *y) {
    if (x->n != y->n) return false;
    for (size_t i = 0; i < x->n; i++)
        if (x->r[i].at != y->r[i].at || x->r[i].id != y->r[i].id || x->r[i].len != y->r[i].len) return false;
    return true;
}

static void test_simnet_same_seed_same_trace_different_seed_differs(void **state) {
    (void)state;
    sink a, b, c;
    run_trace(77, &a);
    run_trace(77, &b);
    run_trace(78, &c);
    assert_true(a.n > 1800);
    assert_true(same_trace(&a, &b));
    assert_false(same_trace(&a, &c));
    sink_free(&a);
    sink_free(&b);
    sink_free(&c);
}

static void test_simnet_rand_is_seeded(void **state) {
    (void)state;
    sluice_simnet *x = sluice_simnet_new(5, 0), *y = sluice_simnet_new(5, 0), *z = sluice_simnet_new(6, 0);
    uint64_t vx = sluice_simnet_rand(x);
    assert_true(vx == sluice_simnet_rand(y));
    assert_true(vx != sluice_simnet_rand(z));
    sluice_simnet_free(x);
    sluice_simnet_free(y);
    sluice_simnet_free(z);
}

/* ---- nodes with deadlines and output ---------------------------------------------------- */

/* A node with a scripted list of deadlines; on each it sends a datagram to `peer`. */
typedef struct timer_node {
    const sluice_time *deadlines;
    size_t n, next;
    sluice_time fired[16];
    size_t nfired;
    sluice_addr self, peer;
    int pending; /* datagrams to emit */
    uint32_t seq;
} timer_node;

static sluice_time timer_next_deadline(void *obj) {
    timer_node *t = obj;
    return t->next < t->n ? t->deadlines[t->next] : SLUICE_TIME_NEVER;
}

static void timer_handle_timeout(void *obj, sluice_time now) {
    timer_node *t = obj;
    assert_true(t->next < t->n);
    assert_true(now >= t->deadlines[t->next]);
    t->fired[t->nfired++] = now;
    t->next++;
    t->pending++;
}

static size_t timer_poll_transmit(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to,
                                  uint8_t *buf, size_t cap) {
    timer_node *t = obj;
    (void)now;
    if (!t->pending) return 0;
    assert_true(cap >= 1500); /* the simulator offers a full-size buffer */
    t->pending--;
    *from = t->self;
    *to = t->peer;
    sluice_store_be32(buf, t->seq++);
    return 4;
}

static const sluice_sim_node_ops timer_ops = {NULL, timer_poll_transmit, timer_next_deadline,
                                              timer_handle_timeout};

static void test_simnet_node_deadlines_fire_at_their_virtual_time(void **state) {
    (void)state;
    static const sluice_time dl[] = {1000, 5000, 5000, 12345, 1000000};
    sluice_simnet *sn = sluice_simnet_new(19, 500);
    assert_true(sluice_simnet_now(sn) == 500);
    timer_node tn;
    memset(&tn, 0, sizeof tn);
    tn.deadlines = dl;
    tn.n = SLUICE_ARRAY_LEN(dl);
    tn.self = sluice_sim_addr4(10, 0, 0, 1, 1);
    tn.peer = sluice_sim_addr4(10, 0, 0, 2, 2);
    sink s = {0};
    int nt = sluice_simnet_add_node(sn, &timer_ops, &tn);
    int ns = sluice_simnet_add_node(sn, &sink_ops, &s);
    assert_int_equal(sluice_simnet_bind(sn, nt, &tn.self), SLUICE_OK);
    assert_int_equal(sluice_simnet_bind(sn, ns, &tn.peer), SLUICE_OK);
    sluice_sim_path p = {0};
    p.delay_us = 300;
    assert_int_equal(sluice_simnet_set_path(sn, &tn.self, &tn.peer, &p), SLUICE_OK);

    /* Stop before the last deadline: the clock stands at the limit. */
    sluice_simnet_run(sn, 500000, NULL, NULL);
    assert_true(sluice_simnet_now(sn) == 500000);
    assert_int_equal(tn.nfired, 4);
    for (size_t i = 0; i < 4; i++) assert_true(tn.fired[i] == dl[i]);
    drain(sn);
    assert_int_equal(tn.nfired, 5);
    assert_true(tn.fired[4] == 1000000);
    /* Output produced in a timeout leaves at that virtual time. */
    assert_int_equal(s.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(s.r[i].id, i);
        assert_true(s.r[i].at == dl[i] + 300);
    }
    assert_false(sluice_simnet_step(sn, SLUICE_TIME_NEVER)); /* idle forever */
    sluice_simnet_free(sn);
    sink_free(&s);
}

static void test_simnet_step_moves_clock_to_finite_limit_when_idle(void **state) {
    (void)state;
    sluice_simnet *sn = sluice_simnet_new(20, 0);
    assert_false(sluice_simnet_step(sn, SLUICE_TIME_NEVER));
    assert_true(sluice_simnet_now(sn) == 0);
    assert_true(sluice_simnet_step(sn, 777));
    assert_true(sluice_simnet_now(sn) == 777);
    assert_false(sluice_simnet_step(sn, 777));
    assert_false(sluice_simnet_step(sn, 100)); /* the clock never goes back */
    assert_true(sluice_simnet_now(sn) == 777);
    sluice_simnet_free(sn);
}

static void test_simnet_run_stops_when_done(void **state) {
    (void)state;
    sluice_sim_path p = {0};
    p.delay_us = 1000;
    two_hosts t;
    two_hosts_init(&t, 21, &p);
    for (uint32_t i = 0; i < 10; i++) {
        sluice_simnet_run(t.sn, (sluice_time)i * 100, NULL, NULL);
        send_id(t.sn, &t.a, &t.b, i, 16);
    }
    t.sb.stop_after = 3;
    assert_true(sluice_simnet_run(t.sn, 10000000, sink_done, &t.sb));
    assert_int_equal(t.sb.n, 3);
    assert_true(sluice_simnet_now(t.sn) == 1200); /* the third arrival, not the limit */
    /* done() already true: run returns at once without stepping. */
    assert_true(sluice_simnet_run(t.sn, 10000000, sink_done, &t.sb));
    assert_true(sluice_simnet_now(t.sn) == 1200);
    /* Not reachable before `until`: returns false with the clock at `until`. */
    t.sb.stop_after = 100;
    assert_false(sluice_simnet_run(t.sn, 50000, sink_done, &t.sb));
    assert_true(sluice_simnet_now(t.sn) == 50000);
    assert_int_equal(t.sb.n, 10);
    two_hosts_free(&t);
}

/* Two echo nodes: each datagram received is sent back until a hop count is exhausted. */
typedef struct echo_node {
    sluice_addr self;
    uint8_t out[64];
    size_t outlen;
    sluice_addr out_to;
    int received;
    sluice_time last;
} echo_node;

static void echo_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                         const uint8_t *data, size_t len) {
    echo_node *e = obj;
    (void)to;
    e->received++;
    e->last = now;
    uint32_t hops = sluice_load_be32(data);
    if (hops == 0 || len > sizeof e->out) return;
    memcpy(e->out, data, len);
    sluice_store_be32(e->out, hops - 1);
    e->outlen = len;
    e->out_to = *from;
}

static size_t echo_poll_transmit(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to,
                                 uint8_t *buf, size_t cap) {
    echo_node *e = obj;
    (void)now;
    if (!e->outlen || e->outlen > cap) return 0;
    size_t n = e->outlen;
    memcpy(buf, e->out, n);
    *from = e->self;
    *to = e->out_to;
    e->outlen = 0;
    return n;
}

static const sluice_sim_node_ops echo_ops = {echo_deliver, echo_poll_transmit, NULL, NULL};

static void test_simnet_ping_pong_takes_round_trip_times(void **state) {
    (void)state;
    sluice_simnet *sn = sluice_simnet_new(22, 0);
    echo_node x = {0}, y = {0};
    x.self = sluice_sim_addr4(10, 0, 0, 1, 1);
    y.self = sluice_sim_addr4(10, 0, 0, 2, 2);
    int nx = sluice_simnet_add_node(sn, &echo_ops, &x);
    int ny = sluice_simnet_add_node(sn, &echo_ops, &y);
    assert_int_equal(sluice_simnet_bind(sn, nx, &x.self), SLUICE_OK);
    assert_int_equal(sluice_simnet_bind(sn, ny, &y.self), SLUICE_OK);
    sluice_sim_path xy = {0}, yx = {0};
    xy.delay_us = 10000;
    yx.delay_us = 30000;
    assert_int_equal(sluice_simnet_set_path(sn, &x.self, &y.self, &xy), SLUICE_OK);
    assert_int_equal(sluice_simnet_set_path(sn, &y.self, &x.self, &yx), SLUICE_OK);
    uint8_t ping[8] = {0, 0, 0, 9};
    assert_int_equal(sluice_simnet_send(sn, &x.self, &y.self, ping, sizeof ping), SLUICE_OK);
    drain(sn);
    /* 10 one-way trips: y receives 5 (at 10, 50, 90, 130, 170 ms), x receives 5 (last at 200 ms). */
    assert_int_equal(y.received, 5);
    assert_int_equal(x.received, 5);
    assert_true(y.last == 170000);
    assert_true(x.last == 200000);
    assert_true(sluice_simnet_now(sn) == 200000);
    sluice_simnet_free(sn);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simnet_perfect_path_delivers_instantly_in_order),
        cmocka_unit_test(test_simnet_loss_rate_matches_setting),
        cmocka_unit_test(test_simnet_delay_is_exact_without_jitter),
        cmocka_unit_test(test_simnet_jitter_stays_within_delay_plus_jitter),
        cmocka_unit_test(test_simnet_duplication_rate_matches_setting),
        cmocka_unit_test(test_simnet_reorder_happens_at_the_set_rate),
        cmocka_unit_test(test_simnet_no_reorder_without_jitter_or_reorder),
        cmocka_unit_test(test_simnet_bandwidth_gives_expected_delivery_time),
        cmocka_unit_test(test_simnet_queue_tail_drops_beyond_backlog),
        cmocka_unit_test(test_simnet_default_queue_is_256_kib),
        cmocka_unit_test(test_simnet_mtu_drops_larger_datagrams),
        cmocka_unit_test(test_simnet_path_down_drops_one_direction_until_up),
        cmocka_unit_test(test_simnet_default_path_applies_to_unlisted_pairs),
        cmocka_unit_test(test_simnet_default_path_bandwidth_is_per_direction),
        cmocka_unit_test(test_simnet_unbound_destination_is_unroutable),
        cmocka_unit_test(test_simnet_port_zero_binding_catches_every_port_exact_wins),
        cmocka_unit_test(test_simnet_rejects_bad_arguments),
        cmocka_unit_test(test_simnet_ipv6_paths_are_distinct_from_ipv4),
        cmocka_unit_test(test_simnet_largest_datagram_is_delivered_intact),
        cmocka_unit_test(test_simnet_full_cone_nat_maps_once_and_admits_anyone),
        cmocka_unit_test(test_simnet_symmetric_nat_maps_per_destination_and_filters),
        cmocka_unit_test(test_simnet_nat_hides_inside_host_until_outbound_traffic),
        cmocka_unit_test(test_simnet_hosts_behind_one_public_address_share_a_lan),
        cmocka_unit_test(test_simnet_counters_follow_the_senders_path_through_nat),
        cmocka_unit_test(test_simnet_same_seed_same_trace_different_seed_differs),
        cmocka_unit_test(test_simnet_rand_is_seeded),
        cmocka_unit_test(test_simnet_node_deadlines_fire_at_their_virtual_time),
        cmocka_unit_test(test_simnet_step_moves_clock_to_finite_limit_when_idle),
        cmocka_unit_test(test_simnet_run_stops_when_done),
        cmocka_unit_test(test_simnet_ping_pong_takes_round_trip_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
