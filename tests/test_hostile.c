/* The hostile-peer suite: what an attacker on the other end of a connection (or a careless
 * application) does to sluice, one attack per test, with the memory of the victim counted
 * by tests/testkit_alloc.h. The rule checked everywhere: every buffer is bounded by a
 * setting (or a documented constant), and bad input never crashes, leaks, or corrupts other
 * state; the connection either survives or fails with a clear error.
 *
 * SCTP attacks use two of our associations wired back to back: the attacker's association
 * only performs the handshake (so the victim holds a real TCB), then the test writes raw
 * packets with the victim's verification tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sctp/assoc.h"
#include "sctp/data.h"
#include "sctp/packet.h"
#include "sctp/sctp.h"
#include "sctp/serial.h"
#include "testkit_alloc.h"
#include "util.h"

/* ================================================================== SCTP ============ */

typedef struct sx {
    testkit_alloc ta;        /* the victim's allocator: every byte it holds is counted */
    sluice_prng pa, pv;
    sluice_rng ra, rv;
    sluice_sctp *att, *vic;  /* attacker, victim */
    sluice_time now;
    uint32_t tsn;            /* attacker's next TSN */
    uint32_t req_seq;        /* attacker's next RE-CONFIG request sequence number */
    uint16_t ssn[8];         /* attacker's next SSN per low stream */
    size_t vic_packets;      /* packets the victim sent since the last flush */
} sx;

/* Move packets both ways until nothing moves. */
static void sx_exchange(sx *x) {
    uint8_t buf[2048];
    for (int guard = 0; guard < 1000; guard++) {
        bool moved = false;
        int n;
        while ((n = sluice_sctp_poll_packet(x->att, x->now, buf, sizeof buf)) > 0) {
            sluice_sctp_handle_packet(x->vic, x->now, buf, (size_t)n);
            moved = true;
        }
        while ((n = sluice_sctp_poll_packet(x->vic, x->now, buf, sizeof buf)) > 0) {
            sluice_sctp_handle_packet(x->att, x->now, buf, (size_t)n);
            moved = true;
        }
        if (!moved) return;
    }
    fail_msg("packets never stop");
}

static void sx_init(sx *x, const sluice_sctp_settings *vs, bool idata) {
    memset(x, 0, sizeof *x);
    testkit_alloc_init(&x->ta);
    sluice_prng_seed(&x->pa, 1);
    sluice_prng_seed(&x->pv, 2);
    x->ra = (sluice_rng){sluice_prng_random_fn, &x->pa};
    x->rv = (sluice_rng){sluice_prng_random_fn, &x->pv};
    sluice_sctp_settings as;
    sluice_sctp_settings_default(&as);
    as.enable_idata = idata;
    sluice_sctp_settings v;
    if (vs) v = *vs;
    else sluice_sctp_settings_default(&v);
    v.enable_idata = idata;
    assert_int_equal(sluice_sctp_new(&x->att, &as, NULL, &x->ra, NULL), SLUICE_OK);
    assert_int_equal(sluice_sctp_new(&x->vic, &v, &x->ta.a, &x->rv, NULL), SLUICE_OK);
    x->now = 1000000;
    assert_int_equal(sluice_sctp_connect(x->att, x->now), SLUICE_OK);
    sx_exchange(x);
    assert_int_equal(sluice_sctp_get_state(x->att), SLUICE_SCTP_ESTABLISHED);
    assert_int_equal(sluice_sctp_get_state(x->vic), SLUICE_SCTP_ESTABLISHED);
    assert_int_equal(x->vic->idata, idata);
    x->tsn = x->att->my_tsn;
    x->req_seq = x->att->my_tsn;
    sluice_sctp_event ev;
    while (sluice_sctp_poll_event(x->vic, &ev) == 1)
        if (ev.type == SLUICE_SCTP_EVENT_MESSAGE) sluice_mem_free(&x->ta.a, ev.message.data);
}

static void sx_free(sx *x) {
    sluice_sctp_free(x->att);
    sluice_sctp_free(x->vic);
    if (testkit_alloc_live(&x->ta)) {
        testkit_alloc_report(&x->ta, stderr);
        fail_msg("the victim leaked %zu blocks", testkit_alloc_live(&x->ta));
    }
}

/* Drop whatever the victim wants to send (the attacker does not answer). */
static void sx_flush(sx *x) {
    uint8_t buf[2048];
    while (sluice_sctp_poll_packet(x->vic, x->now, buf, sizeof buf) > 0) x->vic_packets++;
}

/* A packet under construction, addressed to the victim. */
typedef struct raw {
    uint8_t buf[2048];
    sluice_sctp_pkt p;
} raw;

static void raw_begin(sx *x, raw *r, size_t cap) {
    sluice_sctp_pkt_begin(&r->p, r->buf, cap ? cap : sizeof r->buf, 5000, 5000, x->vic->my_tag);
}

static bool raw_data(raw *r, uint32_t tsn, uint16_t stream, uint32_t mid, uint32_t fsn, bool b, bool e, bool u,
                     const uint8_t *payload, size_t len, bool idata) {
    sluice_sctp_data d;
    memset(&d, 0, sizeof d);
    d.tsn = tsn;
    d.stream = stream;
    d.mid = mid;
    d.fsn = fsn;
    d.ppid = b || !idata ? 53 : 0;
    d.beginning = b;
    d.ending = e;
    d.unordered = u;
    d.idata = idata;
    d.payload = payload;
    d.len = len;
    if (sluice_sctp_data_write(&r->p.w, &d) != SLUICE_OK) return false;
    r->p.nchunks++;
    return true;
}

static void raw_send(sx *x, raw *r) {
    size_t n = sluice_sctp_pkt_end(&r->p, false);
    assert_int_equal(sluice_sctp_handle_packet(x->vic, x->now, r->buf, n), SLUICE_OK);
}

static void send_chunk(sx *x, uint8_t type, uint8_t flags, const uint8_t *v, size_t vl) {
    raw r;
    raw_begin(x, &r, 0);
    assert_int_equal(sluice_sctp_pkt_chunk(&r.p, type, flags, v, vl), SLUICE_OK);
    raw_send(x, &r);
}

/* One whole DATA message in its own packet. */
static void send_msg(sx *x, uint32_t tsn, uint16_t stream, uint32_t ssn, size_t len) {
    static uint8_t payload[1100];
    raw r;
    raw_begin(x, &r, 0);
    assert_true(raw_data(&r, tsn, stream, ssn, 0, true, true, false, payload, len, x->vic->idata));
    raw_send(x, &r);
}

static void send_reset_request(sx *x, uint32_t last_tsn, const uint16_t *streams, size_t n) {
    uint8_t v[1024];
    sluice_wr w = sluice_wr_make(v, sizeof v);
    sluice_sctp_reconfig_write_out_reset(&w, x->req_seq++, x->att->rc.peer_next_seq - 1, last_tsn, streams, n);
    assert_false(w.err);
    send_chunk(x, SLUICE_SCTP_CHUNK_RECONFIG, 0, v, sluice_wr_len(&w));
}

static uint32_t vic_cum(const sx *x) { return sluice_sctp_rx_cum_tsn(x->vic->rx); }

static void drain_victim_events(sx *x, size_t *messages, int *closed_err) {
    sluice_sctp_event ev;
    while (sluice_sctp_poll_event(x->vic, &ev) == 1) {
        if (ev.type == SLUICE_SCTP_EVENT_MESSAGE) {
            if (messages) (*messages)++;
            sluice_mem_free(&x->ta.a, ev.message.data);
        }
        if (ev.type == SLUICE_SCTP_EVENT_CLOSED && closed_err) *closed_err = ev.error;
    }
}

static sluice_sctp_settings small_window(void) {
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.rwnd = 64 * 1024;
    s.max_message_size = 16 * 1024;
    s.max_send_buffer = 256 * 1024;
    return s;
}

/* Attack: fill the receive window with messages the application does not read yet, then
 * make the victim "deliver what came before the reset" with a stream reset request, and
 * repeat. The delivered messages wait for the application; they must keep counting
 * against the window, or each round adds a window of memory. */
static void test_hostile_sctp_reset_requests_cannot_grow_unread_messages(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, false);
    size_t base = x.ta.live_bytes;
    const uint16_t stream = 1;
    for (int round = 0; round < 60; round++) {
        /* Fill: one 1000-byte message per packet until the victim stops taking them. */
        uint16_t ssn = 0;
        for (int i = 0; i < 200; i++) {
            uint32_t before = vic_cum(&x);
            send_msg(&x, x.tsn, stream, ssn, 1000);
            if (vic_cum(&x) == before) break;
            x.tsn++;
            ssn++;
        }
        send_reset_request(&x, x.tsn - 1, &stream, 1);
        sx_flush(&x);
    }
    /* a full window plus what the victim may force in past it, and bookkeeping */
    size_t held = x.ta.live_bytes - base;
    print_message("victim holds %zu bytes after 60 rounds (window %u)\n", held, (unsigned)s.rwnd);
    assert_true(held < 4 * (size_t)s.rwnd);
    /* The association still works once the application reads. */
    size_t got = 0;
    drain_victim_events(&x, &got, NULL);
    assert_true(got > 0);
    send_msg(&x, x.tsn, 2, 0, 100);
    assert_int_equal(vic_cum(&x), x.tsn);
    x.tsn++;
    sx_free(&x);
}

/* Attack: DATA far ahead of the cumulative TSN, spread so each chunk needs its own gap
 * block; beyond the 16-bit gap offsets; half the serial space away. The tracker keeps at most
 * its bounded set of ranges, the rest is dropped (a real sender would retransmit), and once
 * the hole is filled the association carries on. */
static void test_hostile_sctp_data_far_ahead_is_bounded(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, false);
    size_t base = x.ta.live_bytes;
    uint32_t cum = vic_cum(&x);
    /* every other TSN above a hole at cum + 1, one message each, ordered on stream 1 */
    for (uint32_t i = 1; i <= 3000; i++) send_msg(&x, cum + 2 * i, 1, (uint16_t)i, 8);
    /* beyond what gap blocks can express, and far away in serial space */
    send_msg(&x, cum + 70000, 1, 7, 8);
    send_msg(&x, cum + 0x7fffffffu, 1, 7, 8);
    send_msg(&x, cum + 0x80000000u, 1, 7, 8);
    send_msg(&x, cum + 0x80000001u, 1, 7, 8);
    sx_flush(&x);
    assert_int_equal(vic_cum(&x), cum); /* the hole is still there */
    size_t held = x.ta.live_bytes - base;
    print_message("victim holds %zu bytes after 3000 scattered chunks\n", held);
    assert_true(held < 2 * (size_t)s.rwnd);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    /* Fill the hole: SSN 0 .. the held ones become deliverable. */
    send_msg(&x, cum + 1, 1, 0, 8);
    sx_flush(&x);
    size_t got = 0;
    drain_victim_events(&x, &got, NULL);
    assert_true(got >= 2);
    assert_true(sluice_sn32_gt(vic_cum(&x), cum + 1));
    sx_free(&x);
}

/* Attack: one message cut into 1-byte fragments that never ends. The message size cap
 * (max_message_size) ends it with an ABORT and CLOSED(TOO_LARGE); memory stays at about
 * the message cap meanwhile. */
static void test_hostile_sctp_endless_tiny_fragments_abort_cleanly(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, false);
    size_t base = x.ta.live_bytes, peak = 0;
    static const uint8_t one = 'x';
    bool first = true;
    int packets = 0;
    while (sluice_sctp_get_state(x.vic) == SLUICE_SCTP_ESTABLISHED && packets < 10000) {
        raw r;
        raw_begin(&x, &r, 1200);
        while (raw_data(&r, x.tsn, 1, 0, 0, first, false, false, &one, 1, false)) {
            x.tsn++;
            first = false;
        }
        raw_send(&x, &r);
        packets++;
        sx_flush(&x);
        if (x.ta.live_bytes > base && x.ta.live_bytes - base > peak) peak = x.ta.live_bytes - base;
    }
    int err = 0;
    drain_victim_events(&x, NULL, &err);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_CLOSED);
    assert_int_equal(err, SLUICE_ERR_TOO_LARGE);
    print_message("%d packets of 1-byte fragments; peak %zu bytes\n", packets, peak);
    assert_true(peak < 4 * s.max_message_size + 16384);
    sx_free(&x);
}

/* Attack: first fragments of messages on thousands of streams, never finished. Reassembly
 * refuses what is over its cap; the association keeps working for whole messages. */
static void test_hostile_sctp_unfinished_messages_on_many_streams_are_capped(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, false);
    size_t base = x.ta.live_bytes;
    static const uint8_t one = 'x';
    uint32_t cum0 = vic_cum(&x);
    for (uint32_t st = 0; st < 20000; st++) {
        raw r;
        raw_begin(&x, &r, 1200);
        for (int k = 0; k < 50 && st < 20000; k++, st++) {
            assert_true(raw_data(&r, x.tsn, (uint16_t)st, 0, 0, true, false, false, &one, 1, false));
            x.tsn++;
        }
        raw_send(&x, &r);
        sx_flush(&x);
    }
    uint32_t accepted = vic_cum(&x) - cum0;
    size_t held = x.ta.live_bytes - base;
    print_message("%u first fragments accepted of 20000; victim holds %zu bytes\n", accepted, held);
    assert_true(accepted < 20000);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    assert_true(held < 4 * (size_t)(s.rwnd + s.max_message_size));
    sx_free(&x);
}

/* Attack (CPU): fragments that never join, inserted so each lands in the middle of a long
 * list of partial runs of one stream, within the default 4 MiB window. */
static void test_hostile_sctp_scattered_fragments_stay_cheap(void **state) {
    (void)state;
    sx x;
    sx_init(&x, NULL, false);
    static const uint8_t one = 'x';
    uint32_t cum = vic_cum(&x);
    /* TSNs cum+2 .. cum+N+1, inserted from both ends inward; alternating SSNs keep
     * neighbours from joining; middle fragments (no B, no E) never complete. */
    const uint32_t n = 60000;
    uint32_t lo = 2, hi = n + 1;
    bool from_hi = true;
    while (lo <= hi) {
        raw r;
        raw_begin(&x, &r, 1200);
        for (;;) {
            if (lo > hi) break;
            uint32_t off = from_hi ? hi : lo;
            if (!raw_data(&r, cum + off, 1, off & 1, 0, false, false, false, &one, 1, false)) break;
            if (from_hi) hi--;
            else lo++;
            from_hi = !from_hi;
        }
        raw_send(&x, &r);
        sx_flush(&x);
    }
    print_message("reassembly holds %zu bytes\n", sluice_sctp_reasm_buffered(x.vic->reasm));
    /* what fits within max_sorted_walk (512) of both ends: about 2 x 512 runs of 1 byte */
    assert_true(sluice_sctp_reasm_buffered(x.vic->reasm) <= 2 * 1024 * (64 + 1));
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    sx_free(&x);
}

/* Attack (CPU): whole ordered messages behind a missing SSN, their SSNs inserted from both
 * ends inward, so each lands in the middle of the stream's list of waiting messages. */
static void test_hostile_sctp_scattered_ssns_stay_cheap(void **state) {
    (void)state;
    sx x;
    sx_init(&x, NULL, false);
    static const uint8_t one = 'x';
    /* SSN 0 never comes; SSNs 1 .. 30000 come zigzag, in TSN order (each is cum ack + 1). */
    uint32_t lo = 1, hi = 30000;
    bool from_hi = true;
    while (lo <= hi) {
        raw r;
        raw_begin(&x, &r, 1200);
        while (lo <= hi) {
            uint32_t ssn = from_hi ? hi : lo;
            if (!raw_data(&r, x.tsn, 1, ssn, 0, true, true, false, &one, 1, false)) break;
            x.tsn++;
            if (from_hi) hi--;
            else lo++;
            from_hi = !from_hi;
        }
        raw_send(&x, &r);
        sx_flush(&x);
    }
    size_t waiting = sluice_sctp_reasm_buffered(x.vic->reasm);
    print_message("reassembly holds %zu bytes of waiting messages\n", waiting);
    assert_true(waiting <= 2 * 1024 * (64 + 1));
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    /* refused chunks were not acknowledged: a real peer retransmits them */
    assert_true(sluice_sn32_lt(vic_cum(&x), x.tsn - 1));
    sx_free(&x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_sctp_reset_requests_cannot_grow_unread_messages),
        cmocka_unit_test(test_hostile_sctp_data_far_ahead_is_bounded),
        cmocka_unit_test(test_hostile_sctp_endless_tiny_fragments_abort_cleanly),
        cmocka_unit_test(test_hostile_sctp_unfinished_messages_on_many_streams_are_capped),
        cmocka_unit_test(test_hostile_sctp_scattered_fragments_stay_cheap),
        cmocka_unit_test(test_hostile_sctp_scattered_ssns_stay_cheap),
    };
    /* HOSTILE_FILTER=test_hostile_sctp_* runs a subset (cmocka glob). */
    if (getenv("HOSTILE_FILTER")) cmocka_set_test_filter(getenv("HOSTILE_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
