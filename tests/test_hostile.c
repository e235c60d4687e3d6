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
    uint8_t buf[65536 + 64];
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

static void send_fwd(sx *x, bool idata, uint32_t new_cum, const sluice_sctp_skip *sk, size_t n) {
    static uint8_t buf[65536];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_fwd_write(&w, idata, new_cum, sk, n), SLUICE_OK);
    static uint8_t pkt[65536 + 16];
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, pkt, sizeof pkt, 5000, 5000, x->vic->my_tag);
    memcpy(p.w.p, buf, sluice_wr_len(&w));
    p.w.p += sluice_wr_len(&w);
    p.nchunks++;
    size_t len = sluice_sctp_pkt_end(&p, false);
    assert_int_equal(sluice_sctp_handle_packet(x->vic, x->now, pkt, len), SLUICE_OK);
}

/* Attack: FORWARD-TSN backwards, to the far future, on streams that do not exist, with the
 * largest skip list a chunk holds, and the kind that was not negotiated. */
static void test_hostile_sctp_forward_tsn_abuse(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    s.num_streams = 100;
    sx x;
    sx_init(&x, &s, false);
    size_t base = x.ta.live_bytes;
    uint32_t cum = vic_cum(&x);
    static sluice_sctp_skip sk[16000];
    for (size_t i = 0; i < 16000; i++) sk[i] = (sluice_sctp_skip){(uint16_t)(65535 - i % 4000), false, (uint32_t)i};
    send_fwd(&x, false, cum - 1000, sk, 16000);          /* backwards: a stale one */
    assert_int_equal(vic_cum(&x), cum);
    send_fwd(&x, false, cum + (1u << 24) + 1, sk, 10); /* too far: refused */
    assert_int_equal(vic_cum(&x), cum);
    send_fwd(&x, false, cum + 0x80000000u, sk, 10);     /* half the serial space: stale */
    assert_int_equal(vic_cum(&x), cum);
    send_fwd(&x, true, cum + 5, sk, 10);                /* I-FORWARD-TSN without I-DATA */
    assert_int_equal(vic_cum(&x), cum);
    send_fwd(&x, false, cum + 5, sk, 16000);            /* unknown streams, repeated */
    assert_int_equal(vic_cum(&x), cum + 5);
    sx_flush(&x);
    size_t held = x.ta.live_bytes - base;
    print_message("victim holds %zu bytes after FORWARD-TSNs naming 4000 unknown streams\n", held);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    /* Only streams below the negotiated count get reassembly state. */
    assert_true(held < 64 * 1024);
    /* The association carries on after the jump. */
    send_msg(&x, cum + 6, 1, 0, 100);
    size_t got = 0;
    drain_victim_events(&x, &got, NULL);
    assert_int_equal(got, 1);
    sx_free(&x);
}

/* Attack: I-DATA first fragments of many messages in progress on many streams, ordered and
 * unordered, never finished. */
static void test_hostile_sctp_idata_many_messages_in_progress_are_capped(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, true);
    size_t base = x.ta.live_bytes;
    static uint8_t payload[200];
    uint32_t cum0 = vic_cum(&x);
    for (uint32_t m = 0; m < 20000;) {
        raw r;
        raw_begin(&x, &r, 1200);
        for (int k = 0; k < 4; k++, m++)
            assert_true(raw_data(&r, x.tsn++, (uint16_t)(m % 500), m / 500, 0, true, false, m & 1, payload,
                                 sizeof payload, true));
        raw_send(&x, &r);
        sx_flush(&x);
    }
    size_t held = x.ta.live_bytes - base;
    print_message("%u of 20000 first fragments taken; victim holds %zu bytes\n", vic_cum(&x) - cum0, held);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    assert_true(held < 4 * (size_t)(s.rwnd + s.max_message_size));
    sx_free(&x);
}

/* A SACK chunk value. */
static size_t sack_value(uint8_t *v, size_t cap, uint32_t cum, uint32_t rwnd, const uint16_t *gaps, size_t ng,
                         size_t ndups, uint32_t dup) {
    sluice_wr w = sluice_wr_make(v, cap);
    sluice_wr_u32(&w, cum);
    sluice_wr_u32(&w, rwnd);
    sluice_wr_u16(&w, (uint16_t)ng);
    sluice_wr_u16(&w, (uint16_t)ndups);
    for (size_t i = 0; i < ng; i++) {
        sluice_wr_u16(&w, gaps[2 * i]);
        sluice_wr_u16(&w, gaps[2 * i + 1]);
    }
    for (size_t i = 0; i < ndups; i++) sluice_wr_u32(&w, dup + (uint32_t)i);
    assert_false(w.err);
    return sluice_wr_len(&w);
}

/* The TSNs of DATA chunks in one victim packet. */
static size_t data_tsns(const uint8_t *pkt, size_t len, uint32_t *max_tsn) {
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    size_t n = 0;
    sluice_sctp_chunk_iter_init(&it, pkt, len);
    while (sluice_sctp_chunk_next(&it, &c) == 1) {
        if (c.type != SLUICE_SCTP_CHUNK_DATA && c.type != SLUICE_SCTP_CHUNK_IDATA) continue;
        uint32_t tsn = sluice_load_be32(c.value);
        if (!n && !*max_tsn) *max_tsn = tsn;
        if (sluice_sn32_gt(tsn, *max_tsn)) *max_tsn = tsn;
        n++;
    }
    return n;
}

/* Attack: SACKs acknowledging TSNs never sent, gap blocks out of range or reversed, and the
 * largest duplicate-TSN list a chunk holds. The sender's state must not move; real acks
 * still work afterwards. */
static void test_hostile_sctp_bogus_sacks_change_nothing(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, false);
    static uint8_t msg[1000];
    for (int i = 0; i < 10; i++) assert_int_equal(sluice_sctp_send(x.vic, x.now, 1, 53, msg, sizeof msg, NULL), 0);
    uint8_t out[2048];
    uint32_t max_tsn = 0;
    size_t ndata = 0;
    int n;
    while ((n = sluice_sctp_poll_packet(x.vic, x.now, out, sizeof out)) > 0) ndata += data_tsns(out, (size_t)n, &max_tsn);
    assert_true(ndata > 0);
    sluice_sctp_stats st0, st1;
    sluice_sctp_get_stats(x.vic, &st0);
    uint32_t first = x.vic->my_tsn;
    static uint8_t v[65536];
    uint16_t g_far[2] = {1, 60000}, g_rev[4] = {5, 2, 0, 0}, g_many[2 * 1000];
    for (int i = 0; i < 1000; i++) {
        g_many[2 * i] = (uint16_t)(1 + i % 7);
        g_many[2 * i + 1] = (uint16_t)(1 + i % 7);
    }
    size_t vl;
    vl = sack_value(v, sizeof v, max_tsn + 1000, 1 << 20, NULL, 0, 0, 0); /* acks the future */
    send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
    vl = sack_value(v, sizeof v, first - 1, 1 << 20, g_far, 1, 0, 0); /* gap past what was sent */
    send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
    vl = sack_value(v, sizeof v, first - 1, 1 << 20, g_rev, 2, 0, 0); /* reversed / zero blocks */
    send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
    vl = sack_value(v, sizeof v, first - 1, 1 << 20, g_many, 1000, 15000, 12345); /* huge lists */
    send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
    vl = sack_value(v, sizeof v, first - 0x80000000u, 1 << 20, NULL, 0, 0, 0); /* half the space away */
    send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
    sluice_sctp_get_stats(x.vic, &st1);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    assert_true(st1.bytes_in_flight <= st0.bytes_in_flight);
    assert_true(st1.bytes_in_flight > 0); /* nothing acknowledged by the junk */
    /* a true SACK of everything sent releases it */
    vl = sack_value(v, sizeof v, max_tsn, 1 << 20, NULL, 0, 0, 0);
    send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
    sluice_sctp_get_stats(x.vic, &st1);
    assert_int_equal(st1.bytes_in_flight, 0);
    sx_free(&x);
}

/* Attack: the peer advertises a zero window forever, acknowledging only the window probes.
 * The send queue stays within max_send_buffer (BUFFER_FULL to the application), and the
 * victim sends about one probe per RTO: no busy loop. */
static void test_hostile_sctp_zero_window_forever_is_bounded(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, false);
    size_t base = x.ta.live_bytes;
    static uint8_t msg[4096];
    int rc;
    size_t queued = 0;
    while ((rc = sluice_sctp_send(x.vic, x.now, 1, 53, msg, sizeof msg, NULL)) == SLUICE_OK) queued += sizeof msg;
    assert_int_equal(rc, SLUICE_ERR_BUFFER_FULL);
    assert_true(queued <= s.max_send_buffer);
    uint8_t out[2048], v[64];
    uint32_t acked = x.vic->my_tsn - 1;
    size_t packets = 0, polls = 0;
    bool first_burst = true;
    sluice_time end = x.now + 600 * 1000000ull; /* ten minutes */
    while (x.now < end) {
        int n;
        for (;;) { /* answer what the victim sends until it is quiet */
            uint32_t max_tsn = 0;
            size_t nd = 0;
            while ((n = sluice_sctp_poll_packet(x.vic, x.now, out, sizeof out)) > 0) {
                packets++;
                nd += data_tsns(out, (size_t)n, &max_tsn);
                assert_true(packets < 100000);
            }
            if (!nd) break;
            /* acknowledge the first burst; then answer every probe without taking it,
             * window 0 (a live peer that never reads) */
            if (first_burst && sluice_sn32_gt(max_tsn, acked)) acked = max_tsn;
            first_burst = false;
            size_t vl = sack_value(v, sizeof v, acked, 0, NULL, 0, 0, 0);
            send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
        }
        polls++;
        sluice_time d = sluice_sctp_next_deadline(x.vic);
        assert_true(d > x.now); /* never a deadline that is already due: no busy loop */
        x.now = d == SLUICE_TIME_NEVER || d > end ? end : d;
        sluice_sctp_handle_timeout(x.vic, x.now);
        assert_true(x.ta.live_bytes - base <= 2 * s.max_send_buffer);
        /* the application keeps the queue full: refused at the cap, never beyond */
        while (sluice_sctp_send(x.vic, x.now, 1, 53, msg, sizeof msg, NULL) == SLUICE_OK) {}
        assert_true(sluice_sctp_buffered_amount(x.vic, 1) <= s.max_send_buffer);
        if (sluice_sctp_get_state(x.vic) == SLUICE_SCTP_CLOSED) break;
    }
    print_message("10 min of zero window: %zu packets, %zu wake-ups, state %d\n", packets, polls,
                  (int)sluice_sctp_get_state(x.vic));
    assert_true(packets < 2000);
    /* RFC 9260 §6.1: probes that a live peer answers do not count as errors */
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    sx_free(&x);
}

/* Attack: INIT with absurd stream counts, COOKIE-ECHO replays after the association is up. */
static void test_hostile_sctp_init_and_cookie_replays(void **state) {
    (void)state;
    sx x;
    sx_init(&x, NULL, false);
    uint32_t tag = x.vic->my_tag, ptag = x.vic->peer_tag;
    sluice_sctp_free(x.att);
    x.att = NULL;
    /* A fresh INIT with MIS 0 / OS 0 to an established association: answered or dropped,
     * never a change of the TCB. */
    for (int k = 0; k < 3; k++) {
        sluice_sctp_init in;
        memset(&in, 0, sizeof in);
        in.init_tag = 0x1234 + (uint32_t)k;
        in.a_rwnd = 1500;
        in.os = k == 0 ? 0 : 65535;
        in.mis = k == 1 ? 0 : 65535;
        in.initial_tsn = 77;
        uint8_t v[128];
        sluice_wr w = sluice_wr_make(v, sizeof v);
        assert_int_equal(sluice_sctp_init_write(&w, &in), SLUICE_OK);
        raw r;
        sluice_sctp_pkt_begin(&r.p, r.buf, sizeof r.buf, 5000, 5000, 0);
        assert_int_equal(sluice_sctp_pkt_chunk(&r.p, SLUICE_SCTP_CHUNK_INIT, 0, v, sluice_wr_len(&w)), SLUICE_OK);
        raw_send(&x, &r);
        sx_flush(&x);
    }
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    assert_int_equal(x.vic->my_tag, tag);
    assert_int_equal(x.vic->peer_tag, ptag);
    sluice_sctp_free(x.vic);
    x.vic = NULL;
    /* A closed endpoint given INITs with zero stream counts keeps no state. */
    assert_int_equal(sluice_sctp_new(&x.vic, NULL, &x.ta.a, &x.rv, NULL), SLUICE_OK);
    size_t base = x.ta.live_bytes;
    for (int k = 0; k < 2; k++) {
        sluice_sctp_init in;
        memset(&in, 0, sizeof in);
        in.init_tag = 0x99;
        in.a_rwnd = 1500;
        in.os = k == 0 ? 0 : 10;
        in.mis = k == 1 ? 0 : 10;
        in.initial_tsn = 1;
        uint8_t v[128];
        sluice_wr w = sluice_wr_make(v, sizeof v);
        assert_int_equal(sluice_sctp_init_write(&w, &in), SLUICE_OK);
        raw r;
        sluice_sctp_pkt_begin(&r.p, r.buf, sizeof r.buf, 5000, 5000, 0);
        assert_int_equal(sluice_sctp_pkt_chunk(&r.p, SLUICE_SCTP_CHUNK_INIT, 0, v, sluice_wr_len(&w)), SLUICE_OK);
        size_t len = sluice_sctp_pkt_end(&r.p, false);
        sluice_sctp_handle_packet(x.vic, x.now, r.buf, len);
        uint8_t out[2048];
        int n = sluice_sctp_poll_packet(x.vic, x.now, out, sizeof out);
        /* RFC 9260 §3.3.2: zero streams is invalid: ABORT (or silence), never an INIT-ACK */
        assert_true(n <= 0 || out[12] == SLUICE_SCTP_CHUNK_ABORT);
        assert_int_equal(x.ta.live_bytes, base);
    }
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_CLOSED);
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
        cmocka_unit_test(test_hostile_sctp_forward_tsn_abuse),
        cmocka_unit_test(test_hostile_sctp_idata_many_messages_in_progress_are_capped),
        cmocka_unit_test(test_hostile_sctp_bogus_sacks_change_nothing),
        cmocka_unit_test(test_hostile_sctp_zero_window_forever_is_bounded),
        cmocka_unit_test(test_hostile_sctp_init_and_cookie_replays),
    };
    /* HOSTILE_FILTER=test_hostile_sctp_* runs a subset (cmocka glob). */
    if (getenv("HOSTILE_FILTER")) cmocka_set_test_filter(getenv("HOSTILE_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
