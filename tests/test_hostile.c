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

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sctp/assoc.h"
#include "sctp/data.h"
#include "sctp/packet.h"
#include "sctp/sctp.h"
#include "sctp/serial.h"
#include "dcep.h"
#include "dtls.h"
#include "peer.h"
#include "simnet.h"
#include "stun.h"
#include "testkit_alloc.h"
#include "testkit_peer_node.h"
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
    uint8_t cookie_pkt[2048]; /* the attacker's COOKIE-ECHO packet of the handshake */
    size_t cookie_len;
} sx;

/* Move packets both ways until nothing moves. */
static void sx_exchange(sx *x) {
    uint8_t buf[2048];
    for (int guard = 0; guard < 1000; guard++) {
        bool moved = false;
        int n;
        while ((n = sluice_sctp_poll_packet(x->att, x->now, buf, sizeof buf)) > 0) {
            if (!x->cookie_len && n > 12 && buf[12] == SLUICE_SCTP_CHUNK_COOKIE_ECHO) {
                memcpy(x->cookie_pkt, buf, (size_t)n);
                x->cookie_len = (size_t)n;
            }
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

/* The other side of that rule: a peer that keeps SACKing with an open window but never takes
 * our data is not probing anything: Association.Max.Retrans still ends it (TIMEOUT). */
static void test_hostile_sctp_sacks_that_never_ack_still_time_out(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, false);
    static uint8_t msg[1000];
    assert_int_equal(sluice_sctp_send(x.vic, x.now, 1, 53, msg, sizeof msg, NULL), SLUICE_OK);
    uint8_t out[2048], v[64];
    uint32_t before = x.vic->my_tsn - 1;
    sluice_time end = x.now + 3600 * 1000000ull;
    while (x.now < end && sluice_sctp_get_state(x.vic) != SLUICE_SCTP_CLOSED) {
        int n;
        bool data = false;
        while ((n = sluice_sctp_poll_packet(x.vic, x.now, out, sizeof out)) > 0) {
            uint32_t t = 0;
            if (data_tsns(out, (size_t)n, &t)) data = true;
        }
        if (data) {
            size_t vl = sack_value(v, sizeof v, before, 1u << 20, NULL, 0, 0, 0);
            send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
        }
        sluice_time d = sluice_sctp_next_deadline(x.vic);
        assert_true(d > x.now);
        x.now = d == SLUICE_TIME_NEVER ? end : d;
        sluice_sctp_handle_timeout(x.vic, x.now);
    }
    int err = 0;
    drain_victim_events(&x, NULL, &err);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_CLOSED);
    assert_int_equal(err, SLUICE_ERR_TIMEOUT);
    sx_free(&x);
}

/* A receiver whose application stops reading: its window closes, the sender probes. RFC 9260
 * §6.2: a DATA chunk dropped for lack of room is answered with a SACK at once, so the sender
 * knows the receiver is alive (and does not count its probes, §6.1). Ten minutes of that
 * must not end the association; when the application reads again, everything arrives. */
static void test_hostile_sctp_reader_that_stops_reading_keeps_the_association(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    sx x;
    sx_init(&x, &s, false);
    static uint8_t msg[1000];
    int queued = 0;
    while (queued < 200 && sluice_sctp_send(x.att, x.now, 1, 53, msg, sizeof msg, NULL) == SLUICE_OK) queued++;
    sluice_time end = x.now + 600 * 1000000ull;
    while (x.now < end) {
        sx_exchange(&x);
        sluice_time d = sluice_time_min(sluice_sctp_next_deadline(x.att), sluice_sctp_next_deadline(x.vic));
        assert_true(d > x.now);
        x.now = d > end ? end : d;
        sluice_sctp_handle_timeout(x.att, x.now);
        sluice_sctp_handle_timeout(x.vic, x.now);
    }
    print_message("after 10 min of a closed window: sender state %d, receiver state %d\n",
                  (int)sluice_sctp_get_state(x.att), (int)sluice_sctp_get_state(x.vic));
    assert_int_equal(sluice_sctp_get_state(x.att), SLUICE_SCTP_ESTABLISHED);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    /* the application reads again: everything arrives */
    size_t got = 0;
    for (int round = 0; round < 2000 && got < (size_t)queued; round++) {
        drain_victim_events(&x, &got, NULL);
        sx_exchange(&x);
        x.now += 10000;
        sluice_sctp_handle_timeout(x.att, x.now);
        sluice_sctp_handle_timeout(x.vic, x.now);
    }
    assert_int_equal(got, (size_t)queued);
    sx_free(&x);
}

/* Attack (receiver side): never acknowledge the first TSN, but acknowledge everything after
 * it with one gap block and advertise a huge window. Gap-acknowledged data must still be
 * kept (the receiver may renege), so the sender must stop somewhere: what it keeps stays
 * bounded, and the stuck TSN ends the association once Association.Max.Retrans is reached
 * or at least keeps it from growing. */
static void test_hostile_sctp_receiver_that_never_acks_the_first_tsn(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    s.max_send_buffer = 1u << 20;
    sx x;
    sx_init(&x, &s, false);
    size_t base = x.ta.live_bytes, peak = 0;
    static uint8_t msg[1000];
    uint8_t out[2048], v[64];
    uint32_t first = x.vic->my_tsn, max_tsn = first;
    sluice_time end = x.now + 300 * 1000000ull;
    size_t packets = 0;
    while (x.now < end && sluice_sctp_get_state(x.vic) == SLUICE_SCTP_ESTABLISHED) {
        while (sluice_sctp_send(x.vic, x.now, 1, 53, msg, sizeof msg, NULL) == SLUICE_OK) {}
        for (;;) {
            int n;
            size_t nd = 0;
            while ((n = sluice_sctp_poll_packet(x.vic, x.now, out, sizeof out)) > 0) {
                packets++;
                nd += data_tsns(out, (size_t)n, &max_tsn);
            }
            if (!nd) break;
            uint32_t span = max_tsn - first;
            if (span > 65535) span = 65535;
            uint16_t gap[2] = {2, (uint16_t)(span + 1 > 65535 ? 65535 : span + 1)};
            size_t vl = sack_value(v, sizeof v, first - 1, 64u << 20, span >= 1 ? gap : NULL, span >= 1 ? 1 : 0, 0, 0);
            send_chunk(&x, SLUICE_SCTP_CHUNK_SACK, 0, v, vl);
            if (x.ta.live_bytes > base && x.ta.live_bytes - base > peak) peak = x.ta.live_bytes - base;
        }
        sluice_time d = sluice_sctp_next_deadline(x.vic);
        x.now = d == SLUICE_TIME_NEVER || d > end ? end : d;
        sluice_sctp_handle_timeout(x.vic, x.now);
    }
    int err = 0;
    drain_victim_events(&x, NULL, &err);
    print_message("stuck cum ack: %zu packets, TSNs up to first+%u, peak %zu bytes, state %d (err %d)\n", packets,
                  max_tsn - first, peak, (int)sluice_sctp_get_state(x.vic), err);
    assert_true(peak < 8 * s.max_send_buffer);
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

/* Attack: stream reset requests naming every stream (65535 of them, in requests of 16 000)
 * and "reset all" (no list), again and again with new sequence numbers, while the
 * application does not poll. One pending STREAM_RESET per stream at most. */
static void test_hostile_sctp_reset_of_every_stream_is_bounded(void **state) {
    (void)state;
    sx x;
    sx_init(&x, NULL, false);
    size_t base = x.ta.live_bytes;
    static uint16_t list[16000];
    uint8_t *v = malloc(65536);
    assert_non_null(v);
    for (int round = 0; round < 6; round++) {
        for (uint32_t first = 0; first < 65535; first += 16000) {
            size_t n = 0;
            for (uint32_t st = first; st < first + 16000 && st < 65535; st++) list[n++] = (uint16_t)st;
            sluice_wr w = sluice_wr_make(v, 65536);
            sluice_sctp_reconfig_write_out_reset(&w, x.req_seq++, x.att->rc.peer_next_seq - 1, x.tsn - 1, list, n);
            assert_false(w.err);
            raw r;
            raw_begin(&x, &r, 0);
            assert_int_equal(sluice_sctp_pkt_chunk(&r.p, SLUICE_SCTP_CHUNK_RECONFIG, 0, v, sluice_wr_len(&w)), 0);
            raw_send(&x, &r);
            sx_flush(&x);
        }
        send_reset_request(&x, x.tsn - 1, NULL, 0); /* all streams */
        sx_flush(&x);
    }
    free(v);
    size_t held = x.ta.live_bytes - base;
    print_message("6 rounds of resets of all 65535 streams: %zu events queued, victim holds %zu bytes\n",
                  x.vic->ev_n, held);
    assert_true(x.vic->ev_n <= 65535);
    assert_true(held < 4u * 1024 * 1024); /* 48-byte slots: was 11.5 MB with 176-byte events */
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    drain_victim_events(&x, NULL, NULL);
    sx_free(&x);
}

/* Attack: the handshake's COOKIE-ECHO replayed to the established association (same tags:
 * RFC 9260 §5.2.4 action D, nothing restarts), and to an association that was aborted (no
 * new association from a dead endpoint). */
static void test_hostile_sctp_cookie_echo_replays(void **state) {
    (void)state;
    sx x;
    sx_init(&x, NULL, false);
    assert_true(x.cookie_len > 0);
    send_msg(&x, x.tsn++, 1, 0, 100);
    uint32_t cum = vic_cum(&x);
    size_t got = 0;
    drain_victim_events(&x, &got, NULL);
    assert_int_equal(got, 1);
    for (int i = 0; i < 100; i++) {
        x.now += 1000;
        sluice_sctp_handle_packet(x.vic, x.now, x.cookie_pkt, x.cookie_len);
        sx_flush(&x);
    }
    sluice_sctp_event ev;
    while (sluice_sctp_poll_event(x.vic, &ev) == 1) assert_int_not_equal(ev.type, SLUICE_SCTP_EVENT_CONNECTED);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    assert_int_equal(vic_cum(&x), cum); /* the data path was not rebuilt */
    send_msg(&x, x.tsn++, 1, 1, 100);
    assert_int_equal(vic_cum(&x), cum + 1);
    /* now abort, and replay the cookie to the dead endpoint */
    sluice_sctp_abort(x.vic, x.now, "bye");
    drain_victim_events(&x, NULL, NULL);
    sx_flush(&x);
    for (int i = 0; i < 10; i++) sluice_sctp_handle_packet(x.vic, x.now, x.cookie_pkt, x.cookie_len);
    sx_flush(&x);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_CLOSED);
    assert_int_equal(sluice_sctp_poll_event(x.vic, &ev), 0);
    sx_free(&x);
}

/* Attack (CPU): reassembly state on every stream, then packets full of FORWARD-TSN chunks
 * (stale ones, and ones moving the cum ack by one each). A FORWARD-TSN must not walk every
 * stream the peer ever used. */
static void test_hostile_sctp_forward_tsn_bursts_stay_cheap(void **state) {
    (void)state;
    sx x;
    sx_init(&x, NULL, false);
    size_t base = x.ta.live_bytes;
    static const uint8_t one = 'x';
    /* one whole message on each of 65535 streams: each gets reassembly state */
    for (uint32_t st = 0; st < 65535;) {
        raw r;
        raw_begin(&x, &r, 1200);
        while (st < 65535 && raw_data(&r, x.tsn, (uint16_t)st, 0, 0, true, true, false, &one, 1, false)) {
            x.tsn++;
            st++;
        }
        raw_send(&x, &r);
        sx_flush(&x);
        drain_victim_events(&x, NULL, NULL);
    }
    size_t per_stream_state = x.ta.live_bytes - base;
    print_message("a message on each of 65535 streams: the victim keeps %zu bytes of stream state\n",
                  per_stream_state);
    assert_true(per_stream_state < 16u * 1024 * 1024); /* bounded by num_streams, not a setting */
    /* one partial message stays, so reassembly is never empty */
    raw r0;
    raw_begin(&x, &r0, 0);
    assert_true(raw_data(&r0, x.tsn++, 7, 1, 0, true, false, false, &one, 1, false));
    raw_send(&x, &r0);
    /* 300 packets x 140 FORWARD-TSN chunks */
    for (int pk = 0; pk < 300; pk++) {
        raw r;
        raw_begin(&x, &r, 1200);
        for (int k = 0; k < 140; k++) {
            uint8_t v[4];
            bool advance = pk % 2 == 1;
            uint32_t c = advance ? x.tsn - 1 + (uint32_t)pk * 140 + (uint32_t)k : x.tsn - 5;
            sluice_store_be32(v, c);
            if (sluice_sctp_pkt_chunk(&r.p, SLUICE_SCTP_CHUNK_FORWARD_TSN, 0, v, 4) < 0) break;
        }
        raw_send(&x, &r);
        sx_flush(&x);
    }
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    sx_free(&x);
}

/* Attack: control-chunk floods: HEARTBEATs with the largest info, ERROR chunks, unknown
 * chunk types asking to be reported (0x40 bit), tiny chunks bundled by the thousand. The
 * victim answers within its fixed buffers and stays up. */
static void test_hostile_sctp_control_chunk_floods(void **state) {
    (void)state;
    sx x;
    sx_init(&x, NULL, false);
    size_t base = x.ta.live_bytes;
    static uint8_t v[2048];
    /* HEARTBEAT: one Heartbeat Info parameter of 1400 bytes (more than we echo) and 1000 */
    for (int i = 0; i < 2000; i++) {
        size_t info = i % 2 ? 1400 : 1000;
        sluice_store_be16(v, 1);
        sluice_store_be16(v + 2, (uint16_t)(4 + info));
        memset(v + 4, i & 0xff, info);
        send_chunk(&x, SLUICE_SCTP_CHUNK_HEARTBEAT, 0, v, 4 + info);
        if (i % 10 == 0) sx_flush(&x);
    }
    /* ERROR chunks with odd causes, and unknown chunks to skip-and-report, bundled */
    for (int i = 0; i < 500; i++) {
        raw r;
        raw_begin(&x, &r, 1200);
        uint8_t cause[8] = {0, (uint8_t)(i & 0xff), 0, 8, 1, 2, 3, 4};
        sluice_sctp_pkt_chunk(&r.p, SLUICE_SCTP_CHUNK_ERROR, 0, cause, sizeof cause);
        while (sluice_sctp_pkt_chunk(&r.p, (uint8_t)(0x70 + (i % 8)), 0, NULL, 0) == SLUICE_OK) {}
        raw_send(&x, &r);
        if (i % 10 == 0) sx_flush(&x);
    }
    sx_flush(&x);
    size_t held = x.ta.live_bytes > base ? x.ta.live_bytes - base : 0;
    print_message("control floods: victim sent %zu packets, grew %zu bytes\n", x.vic_packets, held);
    assert_true(held < 16 * 1024);
    assert_int_equal(sluice_sctp_get_state(x.vic), SLUICE_SCTP_ESTABLISHED);
    send_msg(&x, x.tsn, 1, 0, 10);
    assert_int_equal(vic_cum(&x), x.tsn);
    sx_free(&x);
}

/* API: the application queues 1-byte messages until the send buffer says no. The memory they
 * take (message headers included) stays within a small multiple of max_send_buffer. */
static void test_hostile_api_tiny_messages_fill_the_send_buffer_boundedly(void **state) {
    (void)state;
    sluice_sctp_settings s = small_window();
    s.max_send_buffer = 256u * 1024;
    sx x;
    sx_init(&x, &s, false);
    size_t base = x.ta.live_bytes;
    static const uint8_t one = 'x';
    size_t n = 0;
    while (sluice_sctp_send(x.vic, x.now, (uint16_t)(n % 16), 53, &one, 1, NULL) == SLUICE_OK) n++;
    size_t held = x.ta.live_bytes - base;
    print_message("%zu one-byte messages queued; the victim holds %zu bytes for a %zu-byte send buffer\n", n, held,
                  s.max_send_buffer);
    assert_true(held <= 2 * s.max_send_buffer);
    assert_true(sluice_sctp_buffered_amount(x.vic, 0) <= s.max_send_buffer);
    sx_free(&x);
}

/* ================================================================== peers =========== */

/* Two sluice peers over the simulated network (as tests/test_peer.c). The attacker (A, the
 * offerer) is a normal peer whose SCTP association the test also drives directly, to send
 * what a hostile stack would; the victim (B) counts its memory with testkit_alloc. */

#define SEC 1000000ull

typedef struct side {
    sluice_peer *pc;
    sluice_prng prng;
    sluice_addr addr;
    struct side *other;
    testkit_alloc ta;
    bool counted;
    int data_channels, opened, closed, errors;
    char last_error[256];
    sluice_channel *last_channel;
    int cb_mode;      /* > 0: events come through a callback (see victim_cb), this re-entrancy mode */
    int cb_messages;
    bool freed;       /* the callback freed the peer */
} side;

typedef struct world {
    sluice_simnet *sn;
    side a, b;
} world;


static void on_event(side *s, const sluice_event *e) {
    sluice_event ev = *e;
    {
        switch (ev.type) {
        case SLUICE_EVENT_SESSION_DESCRIPTION:
            assert_int_equal(sluice_peer_set_local_description(s->pc, ev.sdp_type, ev.sdp), SLUICE_OK);
            assert_int_equal(sluice_peer_set_remote_description(s->other->pc, ev.sdp_type, ev.sdp), SLUICE_OK);
            break;
        case SLUICE_EVENT_ICE_CANDIDATE:
            assert_int_equal(sluice_peer_add_ice_candidate(s->other->pc, ev.mid, ev.mline_index, ev.candidate),
                             SLUICE_OK);
            break;
        case SLUICE_EVENT_DATA_CHANNEL:
            s->data_channels++;
            s->last_channel = ev.channel;
            break;
        case SLUICE_EVENT_CHANNEL_OPEN: s->opened++; break;
        case SLUICE_EVENT_CHANNEL_CLOSED: s->closed++; break;
        case SLUICE_EVENT_ERROR:
            s->errors++;
            snprintf(s->last_error, sizeof s->last_error, "%s", ev.reason);
            break;
        default: break;
        }
    }
}

/* Re-entrancy: what the application does from inside its callback when a message comes. */
static void victim_cb(sluice_peer *pc, const sluice_event *ev, void *user) {
    side *s = user;
    on_event(s, ev);
    if (ev->type != SLUICE_EVENT_CHANNEL_MESSAGE) return;
    s->cb_messages++;
    uint8_t buf[64];
    switch (s->cb_mode) {
    case 1: /* close the peer, then use everything that is closed now */
        sluice_peer_close(pc);
        sluice_peer_close(pc);
        assert_int_equal(sluice_channel_send(ev->channel, "x", 1, true), SLUICE_ERR_INVALID_STATE);
        (void)sluice_channel_recv(ev->channel, buf, sizeof buf, NULL);
        assert_int_equal(sluice_peer_poll(pc), SLUICE_ERR_INVALID_STATE); /* no re-entrant poll */
        break;
    case 2: /* close and free the peer from inside its own callback */
        sluice_peer_close(pc);
        sluice_peer_free(pc);
        sluice_peer_free(pc); /* twice: still deferred, still once */
        s->freed = true;
        break;
    case 4: { /* drive the sans-IO side from inside the callback, open a channel, send */
        sluice_time now = sluice_peer_next_deadline(pc);
        if (now == SLUICE_TIME_NEVER) now = 0;
        assert_true(sluice_peer_handle_timeout(pc, now) >= 0);
        uint8_t dg[2048];
        sluice_transmit tx;
        (void)sluice_peer_poll_transmit(pc, now, dg, sizeof dg, &tx); /* taken and lost */
        sluice_channel *nc;
        assert_int_equal(sluice_peer_create_channel(pc, "from-callback", NULL, &nc), SLUICE_OK);
        assert_int_equal(sluice_channel_send(ev->channel, "pong", 4, true), SLUICE_OK);
        sluice_event inner;
        while (sluice_peer_poll_event(pc, &inner) == 1) {} /* steals the queue: allowed */
        break;
    }
    case 3: /* answer, close the channel and release it, then initialize the peer again */
        assert_int_equal(sluice_channel_send(ev->channel, "pong", 4, true), SLUICE_OK);
        sluice_channel_close(ev->channel);
        sluice_channel_release(ev->channel);
        assert_int_equal(sluice_peer_initialize(pc, NULL), SLUICE_OK);
        break;
    default: break;
    }
}

static void pump(side *s) {
    if (!s->pc) return;
    if (s->cb_mode) {
        int rc = sluice_peer_poll(s->pc);
        if (s->freed) {
            assert_int_equal(rc, SLUICE_ERR_CLOSED);
            s->pc = NULL;
        }
        return;
    }
    sluice_event ev;
    while (sluice_peer_poll_event(s->pc, &ev) == 1) on_event(s, &ev);
}

static int g_victim_cb_mode;

static void side_init(side *s, side *other, uint64_t seed, sluice_addr addr, const sluice_config *base, bool count) {
    memset(s, 0, sizeof *s);
    sluice_prng_seed(&s->prng, seed);
    sluice_config cfg;
    if (base) cfg = *base;
    else sluice_config_default(&cfg);
    cfg.sans_io = true;
    cfg.random_fn = sluice_prng_random_fn;
    cfg.random_user = &s->prng;
    cfg.log_level = SLUICE_LOG_ERROR;
    if (getenv("SLUICE_TEST_LOG")) {
        cfg.log_fn = sluice_log_stderr;
        cfg.log_level = SLUICE_LOG_DEBUG;
    }
    if (count) {
        testkit_alloc_init(&s->ta);
        cfg.allocator = s->ta.a;
        s->counted = true;
    }
    static const sluice_callbacks cbs = {victim_cb};
    s->cb_mode = count ? g_victim_cb_mode : 0;
    assert_int_equal(sluice_peer_new(&s->pc, &cfg, s->cb_mode ? &cbs : NULL, s), SLUICE_OK);
    s->addr = addr;
    s->other = other;
    assert_int_equal(sluice_peer_add_local_address(s->pc, &addr), SLUICE_OK);
}

static void world_init(world *w, uint64_t seed, const sluice_config *victim_cfg) {
    w->sn = sluice_simnet_new(seed, 1 * SEC);
    assert_non_null(w->sn);
    side_init(&w->a, &w->b, seed * 2 + 1, sluice_sim_addr4(10, 0, 0, 1, 40001), NULL, false);
    side_init(&w->b, &w->a, seed * 2 + 2, sluice_sim_addr4(10, 0, 0, 2, 40002), victim_cfg, true);
    int na = sluice_simnet_add_node(w->sn, &peer_node_ops, &w->a.pc);
    int nb = sluice_simnet_add_node(w->sn, &peer_node_ops, &w->b.pc);
    sluice_simnet_bind(w->sn, na, &w->a.addr);
    sluice_simnet_bind(w->sn, nb, &w->b.addr);
    sluice_sim_path p;
    memset(&p, 0, sizeof p);
    p.delay_us = 2000;
    sluice_simnet_set_default_path(w->sn, &p);
}

static void world_free(world *w) {
    g_victim_cb_mode = 0;
    sluice_peer_free(w->a.pc);
    sluice_peer_free(w->b.pc);
    sluice_simnet_free(w->sn);
    if (w->b.counted && testkit_alloc_live(&w->b.ta)) {
        testkit_alloc_report(&w->b.ta, stderr);
        fail_msg("the victim peer leaked %zu blocks", testkit_alloc_live(&w->b.ta));
    }
}

static bool run_until(world *w, sluice_time limit, bool (*cond)(world *)) {
    sluice_time end = sluice_simnet_now(w->sn) + limit;
    for (;;) {
        pump(&w->a);
        pump(&w->b);
        if (cond && cond(w)) return true;
        if (sluice_simnet_now(w->sn) >= end) return false;
        sluice_time step = sluice_simnet_now(w->sn) + 10000;
        if (step > end) step = end;
        sluice_simnet_step(w->sn, step);
    }
}

static bool both_connected(world *w) {
    return sluice_peer_connection_state(w->a.pc) == SLUICE_CONNECTION_CONNECTED &&
           sluice_peer_connection_state(w->b.pc) == SLUICE_CONNECTION_CONNECTED;
}
static bool b_has_channel(world *w) { return w->b.data_channels > 0 && w->a.opened > 0; }

/* A connects to B with one in-band channel; returns A's channel. */
static sluice_channel *connect_pair(world *w) {
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(w->a.pc, "chat", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(w->a.pc), SLUICE_OK);
    assert_true(run_until(w, 20 * SEC, both_connected));
    assert_true(run_until(w, 10 * SEC, b_has_channel));
    return ch;
}

/* The attacker's raw DCEP OPEN on `stream`. */
static int attack_open(world *w, uint16_t stream, const char *label, size_t label_len, const char *proto,
                       size_t proto_len) {
    sluice_dcep_open o;
    memset(&o, 0, sizeof o);
    o.channel_type = SLUICE_DCEP_RELIABLE;
    o.priority = 256;
    o.label = label;
    o.label_len = label_len;
    o.protocol = proto;
    o.protocol_len = proto_len;
    size_t n = sluice_dcep_open_size(&o);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(sluice_dcep_write_open(&o, buf, n), (int)n);
    int rc = sluice_sctp_send(w->a.pc->sctp, sluice_simnet_now(w->sn), stream, SLUICE_PPID_DCEP, buf, n, NULL);
    free(buf);
    return rc;
}

static int attack_raw(world *w, uint16_t stream, uint32_t ppid, const void *data, size_t len) {
    return sluice_sctp_send(w->a.pc->sctp, sluice_simnet_now(w->sn), stream, ppid, data, len, NULL);
}

static size_t count_channels(sluice_peer *pc, bool remote_only) {
    size_t n = 0;
    for (sluice_channel *c = pc->channels; c; c = c->next)
        if (!remote_only || c->remote_created) n++;
    return n;
}

/* The attacker's own stream-id parity (RFC 8832 §6: DTLS client even, server odd). */
static uint16_t attacker_parity(world *w) { return w->a.pc->dtls_client ? 0 : 1; }

/* Attack: DATA_CHANNEL_OPEN on every stream id of the attacker's parity, with labels, and
 * the application never releases channels. The victim keeps at most its bounded number of
 * peer-opened channels; the rest are refused with an ERROR event and a stream reset. */
static void test_hostile_dcep_open_flood_is_bounded(void **state) {
    (void)state;
    world w;
    world_init(&w, 101, NULL);
    connect_pair(&w);
    size_t base = w.b.ta.live_bytes;
    static char label[200];
    memset(label, 'L', sizeof label);
    uint16_t par = attacker_parity(&w);
    int sent = 0;
    /* from the highest id down (sorted tables insert at the front), in large batches */
    for (int32_t id = 65533 + (int32_t)par - 1; id >= 100; id -= 2) {
        if (attack_open(&w, (uint16_t)id, label, sizeof label, "p", 1) != SLUICE_OK) break;
        sent++;
        if (sent % 8000 == 0) run_until(&w, 1 * SEC, NULL);
    }
    run_until(&w, 5 * SEC, NULL);
    size_t chans = count_channels(w.b.pc, true), held = w.b.ta.live_bytes - base;
    print_message("%d OPENs sent; victim keeps %zu peer-opened channels, %zu bytes, %d errors\n", sent, chans, held,
                  w.b.errors);
    assert_true(sent > 30000);
    assert_true(chans <= PEER_MAX_REMOTE_CHANNELS);
    assert_true(held < 24u * 1024 * 1024);
    assert_true(w.b.errors > 0);
    assert_int_equal(sluice_peer_connection_state(w.b.pc), SLUICE_CONNECTION_CONNECTED);
    world_free(&w);
}

static sluice_channel *g_rx;
static bool g_rx_has_one(world *w) {
    (void)w;
    return sluice_channel_available(g_rx) > 0;
}

/* Attack: DCEP messages that lie about their lengths, duplicate OPENs, OPENs on the
 * victim's own stream-id parity (RFC 8832 §6), ACKs without OPEN, data on unknown streams,
 * unknown PPIDs. None of it creates a channel or disturbs the open one. */
static void test_hostile_dcep_malformed_and_out_of_place_messages(void **state) {
    (void)state;
    world w;
    world_init(&w, 102, NULL);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.last_channel;
    uint16_t id = sluice_channel_id(a_ch);
    uint16_t par = attacker_parity(&w);
    size_t chans0 = count_channels(w.b.pc, false);
    int errors0 = w.b.errors;
    /* label length beyond the message, then protocol length beyond it */
    uint8_t bad1[] = {0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x03, 0xe8, 0x00, 0x00, 'a', 'b', 'c'};
    uint8_t bad2[] = {0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x00, 0x01, 0xff, 0xff, 'a', 'b'};
    uint8_t truncated[] = {0x03, 0x00, 0x01};
    uint8_t unknown[] = {0x07, 1, 2, 3};
    uint8_t ack[] = {0x02};
    assert_int_equal(attack_raw(&w, (uint16_t)(200 + par), SLUICE_PPID_DCEP, bad1, sizeof bad1), SLUICE_OK);
    assert_int_equal(attack_raw(&w, (uint16_t)(202 + par), SLUICE_PPID_DCEP, bad2, sizeof bad2), SLUICE_OK);
    assert_int_equal(attack_raw(&w, (uint16_t)(204 + par), SLUICE_PPID_DCEP, truncated, sizeof truncated), SLUICE_OK);
    assert_int_equal(attack_raw(&w, (uint16_t)(206 + par), SLUICE_PPID_DCEP, unknown, sizeof unknown), SLUICE_OK);
    assert_int_equal(attack_raw(&w, (uint16_t)(208 + par), SLUICE_PPID_DCEP, ack, sizeof ack), SLUICE_OK);
    /* a second OPEN for the channel that is open */
    assert_int_equal(attack_open(&w, id, "evil", 4, "", 0), SLUICE_OK);
    /* an OPEN on the victim's parity: only the victim may open those ids */
    assert_int_equal(attack_open(&w, (uint16_t)(300 + (1 - par)), "wrong-parity", 12, "", 0), SLUICE_OK);
    /* user data on a stream without a channel, an unknown PPID on the open one */
    assert_int_equal(attack_raw(&w, (uint16_t)(210 + par), SLUICE_PPID_STRING, "x", 1), SLUICE_OK);
    assert_int_equal(attack_raw(&w, id, 99, "y", 1), SLUICE_OK);
    run_until(&w, 2 * SEC, NULL);
    assert_int_equal(count_channels(w.b.pc, false), chans0);
    assert_int_equal(w.b.data_channels, 1);
    assert_true(w.b.errors >= errors0 + 4);
    assert_string_equal(sluice_channel_label(b_ch), "chat");
    assert_int_equal(sluice_channel_ready_state(b_ch), SLUICE_CHANNEL_OPEN);
    assert_int_equal(sluice_channel_available(b_ch), 0);
    /* the real channel still works */
    assert_int_equal(sluice_channel_send(a_ch, "hi", 2, true), SLUICE_OK);
    g_rx = b_ch;
    assert_true(run_until(&w, 5 * SEC, g_rx_has_one));
    char buf[8];
    assert_int_equal(sluice_channel_recv(b_ch, buf, sizeof buf, NULL), 2);
    world_free(&w);
}

/* Attack: OPEN, reset, OPEN again on the same stream, over and over, with a big label; the
 * application never releases the channels it is given. Closed channels stay valid for the
 * application, so they must count against the bound too. */
static void test_hostile_dcep_open_close_cycles_are_bounded(void **state) {
    (void)state;
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.max_receive_buffer = 1u << 20;
    cfg.max_message_size = 256u << 10;
    world w;
    world_init(&w, 103, &cfg);
    connect_pair(&w);
    size_t base = w.b.ta.live_bytes, budget0 = w.b.pc->remote_channel_bytes;
    static char label[60000];
    memset(label, 'B', sizeof label);
    uint16_t st = (uint16_t)(400 + attacker_parity(&w));
    int cycles = 0;
    for (; cycles < 120; cycles++) {
        assert_int_equal(attack_open(&w, st, label, sizeof label, "", 0), SLUICE_OK);
        run_until(&w, 200000, NULL);
        /* close it the way a stack does: reset the outgoing stream */
        assert_int_equal(sluice_sctp_reset_streams(w.a.pc->sctp, sluice_simnet_now(w.sn), &st, 1), SLUICE_OK);
        run_until(&w, 300000, NULL);
    }
    size_t held = w.b.ta.live_bytes - base;
    print_message("%d open/close cycles of 60 KB labels: victim keeps %zu channels, %zu bytes\n", cycles,
                  count_channels(w.b.pc, true), held);
    assert_true(held < 2 * cfg.max_receive_buffer);
    /* once the application releases the closed channels, the budget is whole again (labels
     * with a NUL byte inside are shorter once copied: the charge must come back exactly) */
    for (sluice_channel *c = w.b.pc->channels; c;) {
        sluice_channel *n = c->next;
        if (c->remote_created && c->state == SLUICE_CHANNEL_CLOSED) sluice_channel_release(c);
        c = n;
    }
    label[10] = '\0';
    assert_int_equal(attack_open(&w, (uint16_t)(st + 2), label, sizeof label, "", 0), SLUICE_OK);
    run_until(&w, 300000, NULL);
    for (sluice_channel *c = w.b.pc->channels; c; c = c->next)
        if (c->id == st + 2) assert_int_equal(strlen(sluice_channel_label(c)), 10);
    uint16_t st2 = (uint16_t)(st + 2);
    assert_int_equal(sluice_sctp_reset_streams(w.a.pc->sctp, sluice_simnet_now(w.sn), &st2, 1), SLUICE_OK);
    run_until(&w, 300000, NULL);
    for (sluice_channel *c = w.b.pc->channels; c;) {
        sluice_channel *n = c->next;
        if (c->remote_created && c->state == SLUICE_CHANNEL_CLOSED) sluice_channel_release(c);
        c = n;
    }
    assert_int_equal(w.b.pc->remote_channel_bytes, budget0); /* only "chat" is left */
    assert_int_equal(w.b.pc->remote_channels, 1);
    assert_int_equal(sluice_peer_connection_state(w.b.pc), SLUICE_CONNECTION_CONNECTED);
    world_free(&w);
}

static sluice_channel *g_wait;
static bool g_wait_closed(world *w) {
    (void)w;
    return sluice_channel_ready_state(g_wait) != SLUICE_CHANNEL_OPEN;
}

/* Attack: one stream reset request naming 16 000 streams (the open channel's last), so the
 * victim has far more SCTP events than it handles per turn (PEER_MAX_SCTP_EVENTS_PER_TURN):
 * the open channel still closes promptly. */
static void test_hostile_sctp_event_backlog_is_worked_off_at_once(void **state) {
    (void)state;
    world w;
    world_init(&w, 130, NULL);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.last_channel;
    uint16_t id = sluice_channel_id(a_ch);
    run_until(&w, 1 * SEC, NULL);
    static uint16_t list[16000];
    size_t n = 0;
    for (uint32_t st = 20000; n < 15999; st++)
        if (st != id) list[n++] = (uint16_t)st;
    list[n++] = id;
    sluice_sctp *as = w.a.pc->sctp;
    assert_int_equal(sluice_sctp_reset_streams(as, sluice_simnet_now(w.sn), list, n), SLUICE_OK);
    g_wait = b_ch;
    bool closed = run_until(&w, 300000, g_wait_closed); /* 300 ms: no timer of ours is that short */
    print_message("victim's channel state after 300 ms: %d\n", (int)sluice_channel_ready_state(b_ch));
    assert_true(closed);
    world_free(&w);
}

/* The same at the peer level: an application that stops reading for minutes while the other
 * side keeps sending. max_receive_buffer fills, SCTP's window closes, and the connection
 * stays up; once the application reads, every message arrives, in order. */
static void test_hostile_peer_that_stops_reading_stays_connected(void **state) {
    (void)state;
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.max_receive_buffer = 256u * 1024;
    cfg.sctp_receive_window = 128u * 1024;
    world w;
    world_init(&w, 131, &cfg);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.last_channel;
    static uint8_t msg[8192];
    uint32_t sent = 0;
    sluice_time end = sluice_simnet_now(w.sn) + 150 * SEC;
    while (sluice_simnet_now(w.sn) < end) {
        while (sent < 256) {
            sluice_store_be32(msg, sent);
            if (sluice_channel_send(a_ch, msg, sizeof msg, false) != SLUICE_OK) break;
            sent++;
        }
        run_until(&w, 1 * SEC, NULL);
    }
    print_message("after 150 s without reading: %u sent, %zu waiting at B, states A %d B %d\n", sent,
                  sluice_channel_available(b_ch), (int)sluice_peer_connection_state(w.a.pc),
                  (int)sluice_peer_connection_state(w.b.pc));
    assert_int_equal(sluice_peer_connection_state(w.a.pc), SLUICE_CONNECTION_CONNECTED);
    assert_int_equal(sluice_peer_connection_state(w.b.pc), SLUICE_CONNECTION_CONNECTED);
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_OPEN);
    /* B's memory for messages stays near its settings */
    assert_true(w.b.pc->rx_total_bytes <= cfg.max_receive_buffer + cfg.max_message_size);
    uint32_t got = 0;
    uint8_t buf[8192];
    for (int round = 0; round < 3000 && got < sent; round++) {
        int64_t n;
        while ((n = sluice_channel_recv(b_ch, buf, sizeof buf, NULL)) > 0) {
            assert_int_equal(sluice_load_be32(buf), got);
            got++;
        }
        run_until(&w, 20000, NULL);
    }
    assert_int_equal(got, sent);
    world_free(&w);
}

/* Attack: a flood of 1-byte (and empty) messages to an application that does not read yet.
 * What the victim holds for them (message records included) stays within a small multiple
 * of max_receive_buffer plus the SCTP window. */
static void test_hostile_tiny_message_flood_to_a_paused_reader_is_bounded(void **state) {
    (void)state;
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.max_receive_buffer = 64u * 1024;
    cfg.max_message_size = 16u * 1024;
    cfg.sctp_receive_window = 64u * 1024;
    world w;
    world_init(&w, 132, &cfg);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.last_channel;
    size_t base = w.b.ta.live_bytes, peak = 0;
    uint32_t sent = 0;
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 500; k++) {
            if (sluice_channel_send(a_ch, "x", (sent & 7) ? 1 : 0, false) != SLUICE_OK) break;
            sent++;
        }
        run_until(&w, 50000, NULL);
        if (w.b.ta.live_bytes > base && w.b.ta.live_bytes - base > peak) peak = w.b.ta.live_bytes - base;
    }
    print_message("%u tiny messages sent, %zu waiting at B; B peak +%zu bytes (receive buffer %zu, window %u)\n",
                  sent, sluice_channel_available(b_ch), peak, cfg.max_receive_buffer, cfg.sctp_receive_window);
    /* plus DTLS's datagram slots, kept for reuse: 2 x 256 x 1200 bytes at most */
    assert_true(peak < 4 * (cfg.max_receive_buffer + cfg.sctp_receive_window) + 2 * 256 * 1200);
    assert_true(sluice_channel_available(b_ch) < 2000); /* was every message sent (75 000 of 100 000) */
    assert_int_equal(sluice_peer_connection_state(w.b.pc), SLUICE_CONNECTION_CONNECTED);
    world_free(&w);
}

/* ================================================================== ICE / SDP ======= */

/* Attack (signaling): 10 000 trickled candidates. The agent's table is bounded; once it is
 * full add_ice_candidate says so (EXHAUSTED) and nothing grows. */
static void test_hostile_ice_trickle_flood_is_bounded(void **state) {
    (void)state;
    world w;
    world_init(&w, 104, NULL);
    connect_pair(&w);
    size_t base = w.b.ta.live_bytes;
    int ok = 0, exhausted = 0, other = 0;
    for (int i = 0; i < 10000; i++) {
        char line[160];
        snprintf(line, sizeof line, "candidate:%d 1 udp %u 10.%d.%d.%d %d typ host", i, 2122260223u - (unsigned)i,
                 1 + i / 60000, (i / 250) % 250, i % 250 + 1, 1024 + i % 50000);
        int rc = sluice_peer_add_ice_candidate(w.b.pc, "0", 0, line);
        if (rc == SLUICE_OK) ok++;
        else if (rc == SLUICE_ERR_EXHAUSTED) exhausted++;
        else other++;
    }
    run_until(&w, 2 * SEC, NULL);
    size_t held = w.b.ta.live_bytes > base ? w.b.ta.live_bytes - base : 0;
    print_message("10000 candidates: %d taken, %d EXHAUSTED, %d other; victim grew %zu bytes\n", ok, exhausted,
                  other, held);
    assert_int_equal(other, 0);
    assert_true(ok <= 64);
    assert_true(exhausted >= 10000 - 64);
    assert_true(held < 64 * 1024);
    assert_int_equal(sluice_peer_connection_state(w.b.pc), SLUICE_CONNECTION_CONNECTED);
    world_free(&w);
}

/* A binding request to the victim as the attacker would send it (right or wrong key). */
static size_t binding_request(world *w, uint8_t *buf, size_t cap, bool right_key, uint32_t n) {
    const char *vu = sluice_ice_local_ufrag(w->b.pc->ice), *vp = sluice_ice_local_pwd(w->b.pc->ice);
    const char *au = sluice_ice_local_ufrag(w->a.pc->ice);
    char user[600];
    snprintf(user, sizeof user, "%s:%s", vu, au);
    uint8_t tid[12] = {0};
    memcpy(tid, &n, sizeof n);
    sluice_wr wr = sluice_wr_make(buf, cap);
    sluice_stun_build_begin(&wr, SLUICE_STUN_BINDING, SLUICE_STUN_REQUEST, tid);
    sluice_stun_add_str(&wr, SLUICE_STUN_ATTR_USERNAME, user);
    sluice_stun_add_u32(&wr, SLUICE_STUN_ATTR_PRIORITY, 1000 + n);
    sluice_stun_add_u64(&wr, SLUICE_STUN_ATTR_ICE_CONTROLLING, 42);
    const char *key = right_key ? vp : "not-the-password-at-all";
    sluice_stun_add_integrity(&wr, (const uint8_t *)key, strlen(key));
    sluice_stun_add_fingerprint(&wr);
    int len = sluice_stun_build_end(&wr);
    assert_true(len > 0);
    return (size_t)len;
}

/* Attack: Binding requests from 5000 source addresses, first with a wrong key (no state at
 * all), then with the right one (peer-reflexive candidates: bounded table). The answers the
 * victim owes are bounded too, and the selected pair stays. */
static void test_hostile_stun_floods_from_many_addresses(void **state) {
    (void)state;
    world w;
    world_init(&w, 105, NULL);
    connect_pair(&w);
    sluice_peer_stats st0, st1;
    assert_int_equal(sluice_peer_get_stats(w.b.pc, &st0), SLUICE_OK);
    assert_true(st0.has_selected_pair);
    uint8_t pkt[512], out[2048];
    for (int pass = 0; pass < 2; pass++) {
        size_t base = w.b.ta.live_bytes, answers = 0;
        for (uint32_t i = 0; i < 5000; i++) {
            sluice_addr from = sluice_sim_addr4(172, 16, (uint8_t)(i / 250), (uint8_t)(i % 250 + 1), (uint16_t)(2000 + i));
            size_t n = binding_request(&w, pkt, sizeof pkt, pass == 1, i);
            sluice_time now = sluice_simnet_now(w.sn);
            assert_int_equal(sluice_peer_handle_datagram(w.b.pc, now, &w.b.addr, &from, pkt, n), SLUICE_OK);
            sluice_transmit tx;
            if (i % 100 == 99)
                while (sluice_peer_poll_transmit(w.b.pc, now, out, sizeof out, &tx) == 1) answers++;
        }
        size_t held = w.b.ta.live_bytes > base ? w.b.ta.live_bytes - base : 0;
        print_message("%s key: 5000 requests, %zu answers sent, victim grew %zu bytes\n", pass ? "right" : "wrong",
                      answers, held);
        assert_true(held < 64 * 1024);
        run_until(&w, 1 * SEC, NULL);
    }
    assert_int_equal(sluice_peer_get_stats(w.b.pc, &st1), SLUICE_OK);
    assert_true(st1.datagrams_dropped > st0.datagrams_dropped);
    assert_true(sluice_addr_equal(&st0.selected_remote, &st1.selected_remote));
    assert_int_equal(sluice_peer_connection_state(w.b.pc), SLUICE_CONNECTION_CONNECTED);
    world_free(&w);
}

/* The attacker's real offer, for a fresh victim (no signaling pump on A). */
static char *take_offer(world *w) {
    sluice_channel *ch;
    assert_int_equal(sluice_peer_create_channel(w->a.pc, "x", NULL, &ch), SLUICE_OK);
    assert_int_equal(sluice_peer_create_offer(w->a.pc), SLUICE_OK);
    sluice_event ev;
    while (sluice_peer_poll_event(w->a.pc, &ev) == 1)
        if (ev.type == SLUICE_EVENT_SESSION_DESCRIPTION) return strdup(ev.sdp);
    fail_msg("no offer");
    return NULL;
}

/* Attack (signaling): remote descriptions with 10 000 candidate lines, 100 000 unknown
 * attribute lines, a 1 MB line, a thousand m= sections. Each is taken (bounded) or refused
 * with SDP; the victim holds nothing extra afterwards and can still take a good one. */
static void test_hostile_sdp_huge_remote_descriptions(void **state) {
    (void)state;
    world w;
    world_init(&w, 106, NULL);
    char *offer = take_offer(&w);
    size_t olen = strlen(offer);
    size_t cap = olen + 12u * 1024 * 1024;
    char *big = malloc(cap);
    assert_non_null(big);
    size_t base = w.b.ta.live_bytes;
    for (int kind = 0; kind < 4; kind++) {
        memcpy(big, offer, olen);
        size_t n = olen;
        if (kind == 0)
            for (int i = 0; i < 10000; i++)
                n += (size_t)snprintf(big + n, cap - n, "a=candidate:%d 1 udp %d 10.9.%d.%d %d typ host\r\n", i, 1000 + i,
                                      i / 250, i % 250 + 1, 1000 + i);
        if (kind == 1)
            for (int i = 0; i < 100000; i++) n += (size_t)snprintf(big + n, cap - n, "a=x-junk-%d:%d\r\n", i, i);
        if (kind == 2) {
            n += (size_t)snprintf(big + n, cap - n, "a=x-long:");
            memset(big + n, 'z', 1u << 20);
            n += 1u << 20;
            n += (size_t)snprintf(big + n, cap - n, "\r\n");
        }
        if (kind == 3)
            for (int i = 0; i < 1000; i++)
                n += (size_t)snprintf(big + n, cap - n, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:%d\r\n", i + 10);
        big[n] = '\0';
        int rc = sluice_peer_set_remote_description(w.b.pc, "offer", big);
        print_message("remote offer kind %d (%zu bytes): %s\n", kind, n, sluice_strerror(rc));
        assert_true(rc == SLUICE_OK || rc == SLUICE_ERR_SDP);
        if (rc == SLUICE_OK) {
            assert_int_equal(sluice_peer_initialize(w.b.pc, NULL), SLUICE_OK);
        }
        sluice_event ev;
        while (sluice_peer_poll_event(w.b.pc, &ev) == 1) {}
        /* events (the answer, errors) drained: nothing is kept for the junk */
        size_t held = w.b.ta.live_bytes > base ? w.b.ta.live_bytes - base : 0;
        assert_true(held < 256 * 1024);
    }
    free(big);
    free(offer);
    sluice_peer_free(w.a.pc);
    w.a.pc = NULL;
    sluice_peer_free(w.b.pc);
    w.b.pc = NULL;
    sluice_simnet_free(w.sn);
    assert_int_equal(testkit_alloc_live(&w.b.ta), 0);
}

/* ================================================================== API misuse ====== */

/* Every public function with NULL, and with a closed peer and its closed channels. */
static void test_hostile_api_null_and_closed_objects(void **state) {
    (void)state;
    uint8_t buf[64];
    sluice_event ev;
    sluice_peer_stats st;
    sluice_transmit tx;
    sluice_addr ad;
    memset(&ad, 0, sizeof ad);
    int fds[4];
    const char *type;
    /* NULL */
    assert_int_equal(sluice_peer_new(NULL, NULL, NULL, NULL), SLUICE_ERR_INVALID_ARGUMENT);
    sluice_peer_free(NULL);
    assert_null(sluice_peer_user(NULL));
    assert_int_equal(sluice_peer_initialize(NULL, NULL), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_peer_create_channel(NULL, "x", NULL, NULL), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_peer_create_offer(NULL), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_peer_set_local_description(NULL, "offer", "v=0"), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_peer_set_remote_description(NULL, "offer", "v=0"), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_peer_add_ice_candidate(NULL, "0", 0, "x"), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_peer_poll(NULL), SLUICE_ERR_INVALID_ARGUMENT);
    assert_true(sluice_peer_poll_event(NULL, &ev) <= 0);
    sluice_peer_close(NULL);
    assert_int_equal(sluice_peer_connection_state(NULL), SLUICE_CONNECTION_CLOSED);
    (void)sluice_peer_gathering_state(NULL);
    (void)sluice_peer_signaling_state(NULL);
    assert_true(sluice_peer_local_description(NULL, (char *)buf, sizeof buf, &type) < 0);
    (void)sluice_peer_remote_max_message_size(NULL);
    assert_true(sluice_peer_local_fingerprint(NULL, (char *)buf, sizeof buf) < 0);
    assert_true(sluice_peer_fds(NULL, fds, 4) < 0);
    assert_int_equal(sluice_peer_timeout_ms(NULL), -1);
    assert_true(sluice_peer_add_local_address(NULL, &ad) < 0);
    assert_true(sluice_peer_handle_datagram(NULL, 0, &ad, &ad, buf, 1) < 0);
    assert_true(sluice_peer_poll_transmit(NULL, 0, buf, sizeof buf, &tx) <= 0);
    assert_int_equal(sluice_peer_next_deadline(NULL), SLUICE_TIME_NEVER);
    assert_true(sluice_peer_handle_timeout(NULL, 0) < 0);
    assert_true(sluice_peer_get_stats(NULL, &st) < 0);
    assert_true(sluice_channel_send(NULL, "x", 1, true) < 0);
    assert_int_equal(sluice_channel_available(NULL), 0);
    assert_true(sluice_channel_next_size(NULL) < 0);
    assert_true(sluice_channel_recv(NULL, buf, sizeof buf, NULL) < 0);
    assert_false(sluice_channel_was_string(NULL));
    assert_int_equal(sluice_channel_buffered_amount(NULL), 0);
    sluice_channel_set_buffered_amount_low_threshold(NULL, 5);
    assert_int_equal(sluice_channel_ready_state(NULL), SLUICE_CHANNEL_CLOSED);
    assert_int_equal(sluice_channel_id(NULL), SLUICE_UNSET);
    assert_non_null(sluice_channel_label(NULL));
    assert_non_null(sluice_channel_protocol(NULL));
    (void)sluice_channel_ordered(NULL);
    (void)sluice_channel_negotiated(NULL);
    (void)sluice_channel_max_retransmits(NULL);
    (void)sluice_channel_max_packet_life_time(NULL);
    sluice_channel_close(NULL);
    assert_null(sluice_channel_peer(NULL));
    sluice_channel_set_user(NULL, NULL);
    assert_null(sluice_channel_user(NULL));
    sluice_channel_release(NULL);

    /* closed peer, closed channels: everything refuses cleanly, repeatedly */
    world w;
    world_init(&w, 107, NULL);
    sluice_channel *a_ch = connect_pair(&w);
    sluice_channel *b_ch = w.b.last_channel;
    sluice_peer *pc = w.b.pc;
    sluice_peer_close(pc);
    sluice_peer_close(pc);
    assert_int_equal(sluice_peer_connection_state(pc), SLUICE_CONNECTION_CLOSED);
    assert_int_equal(sluice_channel_ready_state(b_ch), SLUICE_CHANNEL_CLOSED);
    sluice_channel *nc = (sluice_channel *)1;
    assert_int_equal(sluice_peer_create_channel(pc, "late", NULL, &nc), SLUICE_ERR_INVALID_STATE);
    assert_null(nc);
    assert_true(sluice_peer_create_offer(pc) < 0);
    assert_int_equal(sluice_peer_set_remote_description(pc, "offer", "v=0\r\n"), SLUICE_ERR_INVALID_STATE);
    assert_int_equal(sluice_peer_add_ice_candidate(pc, "0", 0, "candidate:1 1 udp 1 1.2.3.4 5 typ host"),
                     SLUICE_ERR_INVALID_STATE);
    assert_int_equal(sluice_channel_send(b_ch, "x", 1, true), SLUICE_ERR_INVALID_STATE);
    assert_int_equal(sluice_channel_recv(b_ch, buf, sizeof buf, NULL), SLUICE_ERR_AGAIN);
    sluice_channel_close(b_ch);
    sluice_channel_close(b_ch);
    sluice_channel_set_buffered_amount_low_threshold(b_ch, 10);
    assert_int_equal(sluice_peer_handle_datagram(pc, sluice_simnet_now(w.sn), &w.b.addr, &w.a.addr, buf, 8),
                     SLUICE_OK);
    assert_true(sluice_peer_handle_timeout(pc, sluice_simnet_now(w.sn)) >= 0);
    run_until(&w, 2 * SEC, NULL);
    /* the other side sees the close, and its channel refuses sends */
    assert_int_equal(sluice_channel_ready_state(a_ch), SLUICE_CHANNEL_CLOSED);
    assert_int_equal(sluice_channel_send(a_ch, "x", 1, true), SLUICE_ERR_INVALID_STATE);
    sluice_channel_release(b_ch); /* reclaimed now; never used again */
    /* initialize brings the peer back: a new connection works */
    assert_int_equal(sluice_peer_initialize(pc, NULL), SLUICE_OK);
    assert_int_equal(sluice_peer_connection_state(pc), SLUICE_CONNECTION_NEW);
    world_free(&w);
}

static bool b_got_message(world *w) { return w->b.cb_messages > 0 || w->b.pc == NULL; }

/* Re-entrancy: closing, freeing and re-initializing the peer from inside its own callback. */
static void test_hostile_api_close_and_free_from_callbacks(void **state) {
    (void)state;
    for (int mode = 1; mode <= 4; mode++) {
        g_victim_cb_mode = mode;
        world w;
        world_init(&w, 108 + (uint64_t)mode, NULL);
        sluice_channel *a_ch = connect_pair(&w);
        assert_int_equal(sluice_channel_send(a_ch, "ping", 4, true), SLUICE_OK);
        assert_int_equal(sluice_channel_send(a_ch, "ping2", 5, true), SLUICE_OK);
        assert_true(run_until(&w, 5 * SEC, b_got_message));
        run_until(&w, 2 * SEC, NULL);
        if (mode == 2) {
            assert_null(w.b.pc); /* freed by the callback, once */
            assert_int_equal(testkit_alloc_live(&w.b.ta), 0);
        } else {
            assert_non_null(w.b.pc);
            assert_int_equal(sluice_peer_poll(w.b.pc), SLUICE_OK);
        }
        print_message("mode %d: %d message callbacks, victim %s\n", mode, w.b.cb_messages,
                      w.b.pc ? "alive" : "freed");
        world_free(&w);
    }
}

/* ================================================================== DTLS ============ */

/* OpenSSL does not allocate through sluice's hooks: count its heap here (installed in main
 * before OpenSSL allocates anything). */
static size_t g_ossl_live;
static void *ossl_malloc(size_t n, const char *f, int l) {
    (void)f; (void)l;
    size_t *p = malloc(n + 16);
    if (!p) return NULL;
    p[0] = n;
    g_ossl_live += n;
    return (uint8_t *)p + 16;
}
static void ossl_free(void *q, const char *f, int l) {
    (void)f; (void)l;
    if (!q) return;
    size_t *p = (size_t *)(void *)((uint8_t *)q - 16);
    g_ossl_live -= p[0];
    free(p);
}
static void *ossl_realloc(void *q, size_t n, const char *f, int l) {
    if (!q) return ossl_malloc(n, f, l);
    if (!n) {
        ossl_free(q, f, l);
        return NULL;
    }
    size_t *p = (size_t *)(void *)((uint8_t *)q - 16);
    size_t old = p[0];
    size_t *np = realloc(p, n + 16);
    if (!np) return NULL;
    np[0] = n;
    g_ossl_live = g_ossl_live - old + n;
    return (uint8_t *)np + 16;
}

typedef struct dpair {
    sluice_dtls_cert *cc, *cs;
    sluice_dtls *c, *s;
    sluice_time now;
    uint8_t first_c[2048]; /* the client's first datagram (ClientHello) */
    size_t first_c_len;
    uint8_t data_c[2048];  /* an application-data datagram of the client */
    size_t data_c_len;
} dpair;

static void dp_fp(sluice_dtls *d, const sluice_dtls_cert *c) {
    char fp[128];
    assert_true(sluice_dtls_cert_fingerprint(c, "sha-256", fp, sizeof fp) > 0);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(d, "sha-256", fp), SLUICE_OK);
}

static void dp_move(dpair *p) {
    uint8_t buf[2048];
    for (int round = 0; round < 200; round++) {
        bool moved = false;
        int n;
        while ((n = sluice_dtls_poll_datagram(p->c, buf, sizeof buf)) > 0) {
            if (!p->first_c_len) {
                memcpy(p->first_c, buf, (size_t)n);
                p->first_c_len = (size_t)n;
            }
            sluice_dtls_handle_datagram(p->s, p->now, buf, (size_t)n);
            moved = true;
        }
        while ((n = sluice_dtls_poll_datagram(p->s, buf, sizeof buf)) > 0) {
            sluice_dtls_handle_datagram(p->c, p->now, buf, (size_t)n);
            moved = true;
        }
        if (!moved) {
            sluice_time d = sluice_time_min(sluice_dtls_next_deadline(p->c), sluice_dtls_next_deadline(p->s));
            if (d == SLUICE_TIME_NEVER || sluice_dtls_get_state(p->s) == SLUICE_DTLS_CONNECTED) return;
            p->now = d;
            sluice_dtls_handle_timeout(p->c, p->now);
            sluice_dtls_handle_timeout(p->s, p->now);
        }
    }
}

static void dp_init(dpair *p) {
    memset(p, 0, sizeof *p);
    assert_int_equal(sluice_dtls_cert_generate(&p->cc), SLUICE_OK);
    assert_int_equal(sluice_dtls_cert_generate(&p->cs), SLUICE_OK);
    sluice_dtls_settings a, b;
    sluice_dtls_settings_default(&a);
    sluice_dtls_settings_default(&b);
    a.is_client = true;
    b.is_client = false;
    assert_int_equal(sluice_dtls_new(&p->c, &a, p->cc, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_dtls_new(&p->s, &b, p->cs, NULL, NULL), SLUICE_OK);
    dp_fp(p->c, p->cs);
    dp_fp(p->s, p->cc);
    p->now = 1000000;
    assert_int_equal(sluice_dtls_start(p->s, p->now), SLUICE_OK);
    assert_int_equal(sluice_dtls_start(p->c, p->now), SLUICE_OK);
}

static void dp_free(dpair *p) {
    sluice_dtls_free(p->c);
    sluice_dtls_free(p->s);
    sluice_dtls_cert_free(p->cc);
    sluice_dtls_cert_free(p->cs);
}

/* Client -> server one message; returns what the server read (or an error). */
static int dp_echo(dpair *p, const char *msg) {
    assert_int_equal(sluice_dtls_write(p->c, (const uint8_t *)msg, strlen(msg)), SLUICE_OK);
    uint8_t buf[2048];
    int n = sluice_dtls_poll_datagram(p->c, buf, sizeof buf);
    assert_true(n > 0);
    memcpy(p->data_c, buf, (size_t)n);
    p->data_c_len = (size_t)n;
    sluice_dtls_handle_datagram(p->s, p->now, buf, (size_t)n);
    return sluice_dtls_read(p->s, buf, sizeof buf);
}

/* Attack: the ClientHello again after the handshake (a replay, or a renegotiation attempt:
 * renegotiation is off), application records replayed, and records after close_notify. */
static void test_hostile_dtls_replays_and_records_after_close(void **state) {
    (void)state;
    dpair p;
    dp_init(&p);
    dp_move(&p);
    assert_int_equal(sluice_dtls_get_state(p.c), SLUICE_DTLS_CONNECTED);
    assert_int_equal(sluice_dtls_get_state(p.s), SLUICE_DTLS_CONNECTED);
    assert_int_equal(dp_echo(&p, "hello"), 5);
    for (int i = 0; i < 50; i++) {
        sluice_dtls_handle_datagram(p.s, p.now, p.first_c, p.first_c_len); /* ClientHello again */
        sluice_dtls_handle_datagram(p.s, p.now, p.data_c, p.data_c_len);   /* a replayed record */
    }
    uint8_t buf[2048];
    assert_int_equal(sluice_dtls_read(p.s, buf, sizeof buf), SLUICE_ERR_AGAIN); /* replays: not delivered */
    dp_move(&p);
    assert_int_equal(sluice_dtls_get_state(p.s), SLUICE_DTLS_CONNECTED);
    assert_int_equal(dp_echo(&p, "still here"), 10);
    /* close_notify from the client, then its old records again */
    uint8_t rec[2048];
    memcpy(rec, p.data_c, p.data_c_len);
    size_t rec_len = p.data_c_len;
    sluice_dtls_close(p.c);
    dp_move(&p);
    assert_int_equal(sluice_dtls_get_state(p.s), SLUICE_DTLS_CLOSED);
    for (int i = 0; i < 50; i++) {
        sluice_dtls_handle_datagram(p.s, p.now, rec, rec_len);
        sluice_dtls_handle_datagram(p.s, p.now, p.first_c, p.first_c_len);
    }
    assert_true(sluice_dtls_read(p.s, buf, sizeof buf) < 0);
    assert_true(sluice_dtls_write(p.s, (const uint8_t *)"x", 1) < 0);
    assert_int_equal(sluice_dtls_get_state(p.s), SLUICE_DTLS_CLOSED);
    assert_int_equal(sluice_dtls_next_deadline(p.s), SLUICE_TIME_NEVER);
    dp_free(&p);
}

/* A DTLS 1.2 handshake record carrying one fragment (RFC 6347 §4.2.2). */
static size_t hs_fragment(uint8_t *buf, uint64_t rec_seq, uint8_t msg_type, uint32_t msg_len, uint16_t msg_seq,
                          uint32_t frag_off, uint32_t frag_len) {
    sluice_wr w = sluice_wr_make(buf, 13 + 12 + frag_len);
    sluice_wr_u8(&w, 22);
    sluice_wr_u16(&w, 0xfefd);
    sluice_wr_u16(&w, 0);                          /* epoch */
    sluice_wr_u16(&w, (uint16_t)(rec_seq >> 32));
    sluice_wr_u32(&w, (uint32_t)rec_seq);
    sluice_wr_u16(&w, (uint16_t)(12 + frag_len));
    sluice_wr_u8(&w, msg_type);
    sluice_wr_u8(&w, (uint8_t)(msg_len >> 16));
    sluice_wr_u16(&w, (uint16_t)msg_len);
    sluice_wr_u16(&w, msg_seq);
    sluice_wr_u8(&w, (uint8_t)(frag_off >> 16));
    sluice_wr_u16(&w, (uint16_t)frag_off);
    sluice_wr_u8(&w, (uint8_t)(frag_len >> 16));
    sluice_wr_u16(&w, (uint16_t)frag_len);
    for (uint32_t i = 0; i < frag_len; i++) sluice_wr_u8(&w, (uint8_t)(i * 7));
    assert_false(w.err);
    return sluice_wr_len(&w);
}

/* Attack: handshake fragments of a ClientHello that claims 16 MB, from many offsets and
 * message sequence numbers, to a server waiting for its first flight. OpenSSL's buffering
 * must stay bounded; the endpoint then fails (or keeps waiting) cleanly. */
static void test_hostile_dtls_huge_handshake_fragments_are_bounded(void **state) {
    (void)state;
    sluice_dtls_cert *cs;
    assert_int_equal(sluice_dtls_cert_generate(&cs), SLUICE_OK);
    for (int phase = 0; phase < 2; phase++) {
        sluice_dtls_settings b;
        sluice_dtls_settings_default(&b);
        b.is_client = false;
        sluice_dtls *s;
        assert_int_equal(sluice_dtls_new(&s, &b, cs, NULL, NULL), SLUICE_OK);
        assert_int_equal(sluice_dtls_start(s, 1000000), SLUICE_OK);
        size_t base = g_ossl_live, peak = 0;
        assert_true(base > 0); /* the counting allocator is in place */
        uint8_t rec[2048];
        /* phase 0: a 16 MB claim; phase 1: 60 KB ClientHellos in fragments at many offsets
         * and message sequence numbers (the most buffering OpenSSL may do) */
        for (uint32_t i = 0; i < 6000; i++) {
            uint32_t len = phase == 0 ? 0xffffff : 60000;
            uint16_t mseq = (uint16_t)(i % 60);
            uint32_t off = ((i / 60) * 1100) % 58000;
            size_t n = hs_fragment(rec, i, 1, len, mseq, off, 1100);
            sluice_dtls_handle_datagram(s, 1000000 + i, rec, n);
            while (sluice_dtls_poll_datagram(s, rec, sizeof rec) > 0) {}
            if (g_ossl_live > base && g_ossl_live - base > peak) peak = g_ossl_live - base;
        }
        print_message("phase %d: 6000 fragments of a %s ClientHello: OpenSSL peak +%zu bytes, state %d (%s)\n",
                      phase, phase ? "60 KB" : "16 MB", peak, (int)sluice_dtls_get_state(s), sluice_dtls_reason(s));
        assert_true(peak < 4u * 1024 * 1024);
        assert_true(sluice_dtls_get_state(s) != SLUICE_DTLS_CONNECTED);
        sluice_dtls_free(s);
    }
    sluice_dtls_cert_free(cs);
}

/* A plaintext DTLS record (epoch 0). */
static size_t plain_record(uint8_t *buf, uint8_t type, uint64_t seq, const uint8_t *body, size_t len) {
    sluice_wr w = sluice_wr_make(buf, 13 + len);
    sluice_wr_u8(&w, type);
    sluice_wr_u16(&w, 0xfefd);
    sluice_wr_u16(&w, 0);
    sluice_wr_u16(&w, (uint16_t)(seq >> 32));
    sluice_wr_u32(&w, (uint32_t)seq);
    sluice_wr_u16(&w, (uint16_t)len);
    for (size_t i = 0; i < len; i++) sluice_wr_u8(&w, body[i]);
    return sluice_wr_len(&w);
}

static bool dtls_started_somewhere(world *w) {
    return w->a.pc->dtls_started || w->b.pc->dtls_started || both_connected(w);
}

/* Attack (off-path): someone who is not the peer, from an address ICE never validated,
 * sends DTLS records to the victim's port: fatal alerts and ClientHellos, during the
 * handshake and after it. Only the ICE-selected path may carry DTLS. */
static void test_hostile_dtls_from_unvalidated_addresses_is_ignored(void **state) {
    (void)state;
    uint8_t alert_body[2] = {2, 40}; /* fatal handshake_failure */
    uint8_t rec[2048];
    for (int phase = 0; phase < 2; phase++) {
        world w;
        world_init(&w, 120 + (uint64_t)phase, NULL);
        sluice_channel *ch;
        assert_int_equal(sluice_peer_create_channel(w.a.pc, "chat", NULL, &ch), SLUICE_OK);
        assert_int_equal(sluice_peer_create_offer(w.a.pc), SLUICE_OK);
        if (phase == 0) assert_true(run_until(&w, 20 * SEC, dtls_started_somewhere));
        else assert_true(run_until(&w, 20 * SEC, both_connected));
        sluice_addr evil = sluice_sim_addr4(203, 0, 113, 7, 4444);
        sluice_time now = sluice_simnet_now(w.sn);
        for (uint64_t i = 0; i < 20; i++) {
            size_t n = plain_record(rec, 21, 1000 + i, alert_body, sizeof alert_body);
            sluice_peer_handle_datagram(w.a.pc, now, &w.a.addr, &evil, rec, n);
            sluice_peer_handle_datagram(w.b.pc, now, &w.b.addr, &evil, rec, n);
            n = hs_fragment(rec, 2000 + i, 1, 100, 0, 0, 100); /* a (bogus) ClientHello */
            sluice_peer_handle_datagram(w.a.pc, now, &w.a.addr, &evil, rec, n);
            sluice_peer_handle_datagram(w.b.pc, now, &w.b.addr, &evil, rec, n);
        }
        if (phase == 1) {
            /* after the handshake, even from the peer's own (spoofed) address: a plaintext
             * epoch-0 alert is not part of the session */
            size_t n = plain_record(rec, 21, 5000, alert_body, sizeof alert_body);
            sluice_peer_handle_datagram(w.b.pc, now, &w.b.addr, &w.a.addr, rec, n);
            sluice_peer_handle_datagram(w.a.pc, now, &w.a.addr, &w.b.addr, rec, n);
        }
        bool ok = run_until(&w, 20 * SEC, both_connected);
        run_until(&w, 1 * SEC, NULL);
        ok = ok && both_connected(&w);
        print_message("phase %d (%s): A %d, B %d%s%s\n", phase, phase ? "after the handshake" : "during it",
                      (int)sluice_peer_connection_state(w.a.pc), (int)sluice_peer_connection_state(w.b.pc),
                      w.b.last_error[0] ? ", B error: " : "", w.b.last_error);
        assert_true(ok);
        /* and nothing was sent to the stranger */
        world_free(&w);
    }
}

/* A hostile DTLS client made with OpenSSL directly (memory BIOs), so it can renegotiate. */
typedef struct evil_client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out; /* in: what the server sent; out: what the client wrote */
    EVP_PKEY *key;
    X509 *cert;
    unsigned long last_err; /* the client's last OpenSSL error (the server's calls clear the queue) */
} evil_client;

static void evil_init(evil_client *e, char *fp, size_t cap) {
    memset(e, 0, sizeof *e);
    e->key = EVP_EC_gen("P-256");
    assert_non_null(e->key);
    e->cert = X509_new();
    assert_non_null(e->cert);
    ASN1_INTEGER_set(X509_get_serialNumber(e->cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(e->cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(e->cert), 3600);
    X509_set_pubkey(e->cert, e->key);
    X509_NAME *nm = X509_get_subject_name(e->cert);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"evil", -1, -1, 0);
    X509_set_issuer_name(e->cert, nm);
    assert_true(X509_sign(e->cert, e->key, EVP_sha256()) > 0);
    uint8_t md[32];
    unsigned mdlen = 0;
    assert_int_equal(X509_digest(e->cert, EVP_sha256(), md, &mdlen), 1);
    size_t n = 0;
    for (unsigned i = 0; i < mdlen; i++) n += (size_t)snprintf(fp + n, cap - n, i ? ":%02X" : "%02X", md[i]);
    e->ctx = SSL_CTX_new(DTLS_client_method());
    assert_non_null(e->ctx);
    SSL_CTX_set_min_proto_version(e->ctx, DTLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(e->ctx, DTLS1_2_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(e->ctx, e->cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(e->ctx, e->key), 1);
    SSL_CTX_set_verify(e->ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_options(e->ctx, SSL_OP_NO_QUERY_MTU);
    e->ssl = SSL_new(e->ctx);
    e->in = BIO_new(BIO_s_mem());
    e->out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(e->in, -1);
    SSL_set_bio(e->ssl, e->in, e->out);
    SSL_set_mtu(e->ssl, 1100);
    SSL_set_connect_state(e->ssl);
}

static void evil_free(evil_client *e) {
    SSL_free(e->ssl);
    SSL_CTX_free(e->ctx);
    X509_free(e->cert);
    EVP_PKEY_free(e->key);
}

/* Move datagrams between the evil client and a sluice server until quiet. */
static void evil_pump(evil_client *e, sluice_dtls *s, sluice_time now) {
    uint8_t buf[4096];
    for (int round = 0; round < 50; round++) {
        bool moved = false;
        SSL_do_handshake(e->ssl);
        if (ERR_peek_last_error()) e->last_err = ERR_peek_last_error();
        int n;
        while ((n = BIO_read(e->out, buf, sizeof buf)) > 0) {
            sluice_dtls_handle_datagram(s, now, buf, (size_t)n);
            moved = true;
        }
        while ((n = sluice_dtls_poll_datagram(s, buf, sizeof buf)) > 0) {
            BIO_write(e->in, buf, n);
            moved = true;
        }
        uint8_t app[256];
        while (SSL_read(e->ssl, app, sizeof app) > 0) moved = true;
        if (ERR_peek_last_error()) e->last_err = ERR_peek_last_error();
        if (!moved) return;
    }
}

/* Attack: a real renegotiation (an encrypted ClientHello after the handshake) from the
 * authenticated peer. Renegotiation is off: the connection carries on, data still flows. */
static void test_hostile_dtls_renegotiation_is_refused(void **state) {
    (void)state;
    evil_client e;
    char fp[128];
    evil_init(&e, fp, sizeof fp);
    sluice_dtls_cert *cs;
    assert_int_equal(sluice_dtls_cert_generate(&cs), SLUICE_OK);
    sluice_dtls_settings b;
    sluice_dtls_settings_default(&b);
    b.is_client = false;
    sluice_dtls *s;
    assert_int_equal(sluice_dtls_new(&s, &b, cs, NULL, NULL), SLUICE_OK);
    assert_int_equal(sluice_dtls_add_remote_fingerprint(s, "sha-256", fp), SLUICE_OK);
    assert_int_equal(sluice_dtls_start(s, 1000000), SLUICE_OK);
    evil_pump(&e, s, 1000000);
    assert_int_equal(SSL_is_init_finished(e.ssl), 1);
    assert_int_equal(sluice_dtls_get_state(s), SLUICE_DTLS_CONNECTED);
    /* renegotiate: the server refuses (a no_renegotiation warning alert); OpenSSL's client
     * answers that with a fatal handshake_failure, which ends the connection cleanly */
    ERR_clear_error();
    assert_int_equal(SSL_renegotiate(e.ssl), 1);
    evil_pump(&e, s, 1001000);
    unsigned long err = e.last_err;
    print_message("renegotiation attempted: client error '%s'; server state %d (%s)\n",
                  ERR_reason_error_string(err) ? ERR_reason_error_string(err) : "-", (int)sluice_dtls_get_state(s),
                  sluice_dtls_reason(s));
    assert_int_equal(ERR_GET_REASON(err), SSL_R_NO_RENEGOTIATION); /* the server said no */
    sluice_dtls_state st = sluice_dtls_get_state(s);
    assert_true(st == SLUICE_DTLS_CONNECTED || (st == SLUICE_DTLS_FAILED && strstr(sluice_dtls_reason(s), "alert")));
    assert_int_equal(sluice_dtls_next_deadline(s), SLUICE_TIME_NEVER); /* no timer left running */
    sluice_dtls_free(s);
    sluice_dtls_cert_free(cs);
    evil_free(&e);
}

int main(void) {
    /* before anything makes OpenSSL allocate */
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) fprintf(stderr, "OpenSSL heap not counted\n");
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
        cmocka_unit_test(test_hostile_sctp_sacks_that_never_ack_still_time_out),
        cmocka_unit_test(test_hostile_sctp_reader_that_stops_reading_keeps_the_association),
        cmocka_unit_test(test_hostile_sctp_receiver_that_never_acks_the_first_tsn),
        cmocka_unit_test(test_hostile_sctp_init_and_cookie_replays),
        cmocka_unit_test(test_hostile_sctp_reset_of_every_stream_is_bounded),
        cmocka_unit_test(test_hostile_sctp_cookie_echo_replays),
        cmocka_unit_test(test_hostile_sctp_forward_tsn_bursts_stay_cheap),
        cmocka_unit_test(test_hostile_sctp_control_chunk_floods),
        cmocka_unit_test(test_hostile_api_tiny_messages_fill_the_send_buffer_boundedly),
        cmocka_unit_test(test_hostile_dcep_open_flood_is_bounded),
        cmocka_unit_test(test_hostile_dcep_malformed_and_out_of_place_messages),
        cmocka_unit_test(test_hostile_dcep_open_close_cycles_are_bounded),
        cmocka_unit_test(test_hostile_sctp_event_backlog_is_worked_off_at_once),
        cmocka_unit_test(test_hostile_peer_that_stops_reading_stays_connected),
        cmocka_unit_test(test_hostile_tiny_message_flood_to_a_paused_reader_is_bounded),
        cmocka_unit_test(test_hostile_ice_trickle_flood_is_bounded),
        cmocka_unit_test(test_hostile_stun_floods_from_many_addresses),
        cmocka_unit_test(test_hostile_sdp_huge_remote_descriptions),
        cmocka_unit_test(test_hostile_api_null_and_closed_objects),
        cmocka_unit_test(test_hostile_api_close_and_free_from_callbacks),
        cmocka_unit_test(test_hostile_dtls_replays_and_records_after_close),
        cmocka_unit_test(test_hostile_dtls_huge_handshake_fragments_are_bounded),
        cmocka_unit_test(test_hostile_dtls_from_unvalidated_addresses_is_ignored),
        cmocka_unit_test(test_hostile_dtls_renegotiation_is_refused),
    };
    /* HOSTILE_FILTER=test_hostile_sctp_* runs a subset (cmocka glob). */
    if (getenv("HOSTILE_FILTER")) cmocka_set_test_filter(getenv("HOSTILE_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
