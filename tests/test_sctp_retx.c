#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sctp/retx.h"
#include "sctp/serial.h"

#define T0 1000u  /* initial TSN */
#define MS 1000ull
#define FULL 1160u /* payload filling a 1179-byte packet (chunks padded to 4) */
#define FULLW 1176u

typedef struct h {
    sluice_sctp_tx *tx;
    sluice_sctp_retx *r;
    sluice_sctp_data chunks[16];
    size_t nchunks;
    uint8_t pkt[1200];
    bool have_fwd;
    sluice_sctp_fwd fwd;
} h;

static h *mk(bool idata, uint32_t rwnd) {
    h *x = test_calloc(1, sizeof *x);
    sluice_sctp_tx_settings ts;
    sluice_sctp_tx_settings_default(&ts);
    ts.idata = idata;
    assert_int_equal(sluice_sctp_tx_new(&x->tx, &ts, NULL), SLUICE_OK);
    sluice_sctp_retx_settings rs;
    sluice_sctp_retx_settings_default(&rs);
    rs.idata = idata;
    assert_int_equal(sluice_sctp_retx_new(&x->r, &rs, NULL, x->tx, T0, rwnd), SLUICE_OK);
    return x;
}

static void done(h *x) {
    sluice_sctp_retx_free(x->r);
    sluice_sctp_tx_free(x->tx);
    test_free(x);
}

static void push(h *x, uint16_t stream, size_t len, const sluice_sctp_send_options *o) {
    static uint8_t buf[8192];
    assert_true(len <= sizeof buf);
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)i;
    assert_int_equal(sluice_sctp_tx_push(x->tx, 0, stream, 53, buf, len, o), SLUICE_OK);
}

/* Build one packet (1191 bytes minus the 12-byte common header) and parse it back. */
static int send_pkt(h *x, sluice_time now) {
    sluice_wr w = sluice_wr_make(x->pkt, 1179);
    x->have_fwd = false;
    if (sluice_sctp_retx_fwd_tsn_pending(x->r)) assert_int_equal(sluice_sctp_retx_write_fwd_tsn(x->r, now, &w), SLUICE_OK);
    int n = sluice_sctp_retx_write_data(x->r, now, &w);
    x->nchunks = 0;
    sluice_rd rd = sluice_rd_make(x->pkt, sluice_wr_len(&w));
    while (sluice_rd_left(&rd) > 0) {
        uint8_t type = sluice_rd_u8(&rd), flags = sluice_rd_u8(&rd);
        uint16_t len = sluice_rd_u16(&rd);
        assert_true(len >= 4);
        const uint8_t *v = sluice_rd_bytes(&rd, len - 4u);
        assert_non_null(v);
        sluice_rd_skip(&rd, (4 - len % 4) % 4);
        if (type == SLUICE_SCTP_CHUNK_DATA)
            assert_int_equal(sluice_sctp_data_parse(flags, v, len - 4u, &x->chunks[x->nchunks++]), SLUICE_OK);
        else if (type == SLUICE_SCTP_CHUNK_IDATA)
            assert_int_equal(sluice_sctp_idata_parse(flags, v, len - 4u, &x->chunks[x->nchunks++]), SLUICE_OK);
        else if (type == SLUICE_SCTP_CHUNK_FORWARD_TSN) {
            assert_int_equal(sluice_sctp_fwd_parse(flags, v, len - 4u, &x->fwd), SLUICE_OK);
            x->have_fwd = true;
        } else if (type == SLUICE_SCTP_CHUNK_IFORWARD_TSN) {
            assert_int_equal(sluice_sctp_ifwd_parse(flags, v, len - 4u, &x->fwd), SLUICE_OK);
            x->have_fwd = true;
        } else
            fail_msg("unexpected chunk %u", type);
    }
    assert_int_equal((size_t)n, x->nchunks);
    return n;
}

/* Feed a SACK built through the codec (as the association would after parsing). */
static int sack(h *x, sluice_time now, uint32_t cum, const sluice_sctp_gap *gaps, size_t ng, uint32_t a_rwnd) {
    uint8_t buf[1200];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_sack_write(&w, cum, a_rwnd, gaps, ng, NULL, 0), SLUICE_OK);
    sluice_sctp_sack s;
    assert_int_equal(sluice_sctp_sack_parse(buf[1], buf + 4, sluice_wr_len(&w) - 4, &s), SLUICE_OK);
    return sluice_sctp_retx_handle_sack(x->r, now, &s);
}

static sluice_sctp_retx_stats stats(h *x) {
    sluice_sctp_retx_stats s;
    sluice_sctp_retx_get_stats(x->r, &s);
    return s;
}

static void test_retx_sends_new_data_within_initial_cwnd(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 10; i++) push(x, 1, FULL, NULL);
    int total = 0, n;
    uint32_t expect = T0;
    while ((n = send_pkt(x, 0)) > 0) {
        for (int i = 0; i < n; i++) assert_int_equal(x->chunks[i].tsn, expect++);
        total += n;
    }
    /* cwnd 4380 (RFC 9260 §7.2.1 with MTU 1191): full packets until >= cwnd in flight */
    assert_int_equal(total, 4);
    assert_int_equal(stats(x).bytes_in_flight, 4 * FULLW);
    assert_false(sluice_sctp_retx_wants_to_send(x->r));
    assert_true(sluice_sctp_retx_next_deadline(x->r) == 1000 * MS); /* T3 at initial RTO */
    done(x);
}

static void test_retx_initial_cwnd_setting_overrides_rfc_formula(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    sluice_sctp_retx_free(x->r);
    sluice_sctp_retx_settings rs;
    sluice_sctp_retx_settings_default(&rs);
    rs.initial_cwnd_mtus = 10;
    assert_int_equal(sluice_sctp_retx_new(&x->r, &rs, NULL, x->tx, T0, 1 << 20), SLUICE_OK);
    for (int i = 0; i < 20; i++) push(x, 1, FULL, NULL);
    int total = 0, n;
    while ((n = send_pkt(x, 0)) > 0) total += n;
    /* 10 x 1191 of cwnd: new data while less is in flight, so 10 full chunks (1176 bytes
     * each) leave room for an 11th */
    assert_int_equal(total, 11);
    assert_int_equal(stats(x).cwnd, 10 * 1191);
    done(x);
}

static void test_retx_sack_releases_grows_cwnd_and_measures_rtt(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 10; i++) push(x, 1, FULL, NULL);
    while (send_pkt(x, 0) > 0) {}
    assert_int_equal(sack(x, 50 * MS, T0 + 3, NULL, 0, 1 << 20), 1);
    sluice_sctp_retx_stats s = stats(x);
    assert_int_equal(s.bytes_in_flight, 0);
    assert_int_equal(s.cwnd, 4380 + 1191);          /* slow start: + min(acked, MTU) */
    assert_int_equal(s.srtt_us, 50000);
    assert_int_equal(s.rto_ms, 200);                 /* 50 + 4 * 25 = 150 < rto_min */
    assert_true(sluice_sctp_retx_is_idle(x->r));
    assert_true(sluice_sctp_retx_next_deadline(x->r) == SLUICE_TIME_NEVER);
    assert_true(sluice_sctp_retx_wants_to_send(x->r));
    done(x);
}

static void test_retx_rejects_sack_acking_unsent_tsns(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    push(x, 1, 100, NULL);
    assert_int_equal(send_pkt(x, 0), 1);
    sluice_sctp_retx_stats before = stats(x);
    assert_int_equal(sack(x, 10, T0 + 1, NULL, 0, 1 << 20), SLUICE_ERR_MALFORMED);
    sluice_sctp_gap g = {1, 5};
    assert_int_equal(sack(x, 10, T0 - 1, &g, 1, 1 << 20), SLUICE_ERR_MALFORMED);
    assert_int_equal(sack(x, 10, T0 + 0x7fffffffu, NULL, 0, 1 << 20), SLUICE_ERR_MALFORMED);
    /* exactly half the serial space away: neither before nor after, still refused */
    assert_int_equal(sack(x, 10, T0 - 1 + 0x80000000u, NULL, 0, 1 << 20), SLUICE_ERR_MALFORMED);
    sluice_sctp_retx_stats after = stats(x);
    assert_int_equal(after.bytes_in_flight, before.bytes_in_flight);
    assert_int_equal(after.cwnd, before.cwnd);
    assert_int_equal(after.bad_sacks, 4);
    assert_false(sluice_sctp_retx_is_idle(x->r));
    assert_int_equal(sack(x, 10, T0, NULL, 0, 1 << 20), 1);
    assert_true(sluice_sctp_retx_is_idle(x->r));
    done(x);
}

static void test_retx_sack_half_serial_space_away_with_nothing_outstanding(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    /* nothing sent yet: cum ack T0 - 1; a SACK 2^31 away must not walk the empty table */
    assert_int_equal(sack(x, 10, T0 - 1 + 0x80000000u, NULL, 0, 1 << 20), SLUICE_ERR_MALFORMED);
    sluice_sctp_gap g = {1, 1};
    assert_int_equal(sack(x, 10, T0 - 1, &g, 1, 1 << 20), SLUICE_ERR_MALFORMED);
    assert_int_equal(sack(x, 10, T0 - 1, NULL, 0, 1 << 20), 0);
    assert_true(sluice_sctp_retx_is_idle(x->r));
    done(x);
}

static void test_retx_ignores_stale_sack(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 3; i++) push(x, 1, 100, NULL);
    assert_int_equal(send_pkt(x, 0), 3);
    assert_int_equal(sack(x, 10, T0 + 1, NULL, 0, 1 << 20), 1);
    assert_int_equal(sack(x, 11, T0, NULL, 0, 1 << 20), 0);
    assert_int_equal(stats(x).bytes_in_flight, 116);
    done(x);
}

static void test_retx_fast_retransmit_on_third_miss_indication(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 5; i++) push(x, 1, FULL, NULL);
    while (send_pkt(x, 0) > 0) {}
    /* T0 lost; T0+1.. arrive one by one */
    sluice_sctp_gap g = {2, 2};
    assert_int_equal(sack(x, 10 * MS, T0 - 1, &g, 1, 1 << 20), 1);
    g.end = 3;
    assert_int_equal(sack(x, 11 * MS, T0 - 1, &g, 1, 1 << 20), 1);
    assert_int_equal(stats(x).fast_retransmits, 0);
    g.end = 4;
    assert_int_equal(sack(x, 12 * MS, T0 - 1, &g, 1, 1 << 20), 1); /* T0+3 is the last sent */
    sluice_sctp_retx_stats s = stats(x);
    assert_int_equal(s.fast_retransmits, 1);
    assert_int_equal(s.ssthresh, 4 * 1191);   /* max(cwnd / 2, 4 MTU) */
    assert_int_equal(s.cwnd, 4 * 1191);
    assert_true(sluice_sctp_retx_wants_to_send(x->r));
    assert_int_equal(send_pkt(x, 13 * MS), 1);
    assert_int_equal(x->chunks[0].tsn, T0);
    assert_int_equal(stats(x).retransmissions, 1);
    /* the retransmission fills the hole: cum jumps, fast recovery ends */
    assert_int_equal(sack(x, 20 * MS, T0 + 3, NULL, 0, 1 << 20), 1);
    assert_true(sluice_sctp_retx_is_idle(x->r));
    done(x);
}

static void test_retx_gap_blocks_out_of_order_and_overlapping_equal_sorted(void **state) {
    (void)state;
    h *a = mk(false, 1 << 20), *b = mk(false, 1 << 20);
    for (int i = 0; i < 5; i++) { push(a, 1, FULL, NULL); push(b, 1, FULL, NULL); }
    while (send_pkt(a, 0) > 0) {}
    while (send_pkt(b, 0) > 0) {}
    sluice_sctp_gap sorted[] = {{2, 2}, {4, 4}};
    sluice_sctp_gap messy[] = {{4, 4}, {9, 3}, {0, 2}, {2, 2}, {4, 4}, {2, 2}};
    assert_int_equal(sack(a, 10 * MS, T0 - 1, sorted, 2, 1 << 20), 1);
    assert_int_equal(sack(b, 10 * MS, T0 - 1, messy, 6, 1 << 20), 1);
    assert_int_equal(stats(a).bytes_in_flight, 2 * FULLW);
    assert_int_equal(stats(b).bytes_in_flight, 2 * FULLW);
    done(a);
    done(b);
}

static void test_retx_t3_expiry_backs_off_and_retransmits_one_packet(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 5; i++) push(x, 1, FULL, NULL);
    while (send_pkt(x, 0) > 0) {}
    sluice_time d = sluice_sctp_retx_next_deadline(x->r);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, d - 1), 0);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, d), 1);
    sluice_sctp_retx_stats s = stats(x);
    assert_int_equal(s.t3_expirations, 1);
    assert_int_equal(s.cwnd, 1191);
    assert_int_equal(s.rto_ms, 2000);
    assert_int_equal(s.bytes_in_flight, 0);
    assert_int_equal(send_pkt(x, d), 1);
    assert_int_equal(x->chunks[0].tsn, T0);
    assert_int_equal(send_pkt(x, d), 0); /* cwnd = 1 MTU */
    assert_true(sluice_sctp_retx_next_deadline(x->r) == d + 2000 * MS);
    /* second expiry doubles again, capped at rto_max */
    for (int i = 0; i < 5; i++) {
        d = sluice_sctp_retx_next_deadline(x->r);
        assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, d), 1);
        assert_int_equal(send_pkt(x, d), 1);
    }
    assert_int_equal(stats(x).rto_ms, 10000);
    done(x);
}

/* After a T3 the chunk at the cum ack point goes out again; SACKs that newly ack original
 * transmissions above it (they left the peer before the retransmission could arrive) are
 * no miss indications for the retransmission: no spurious fast retransmit, no second cwnd
 * cut. A TSN sent after the retransmission, once acked, does count. */
static void test_retx_retransmission_not_nacked_by_older_transmissions(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 8; i++) push(x, 1, FULL, NULL);
    while (send_pkt(x, 0) > 0) {}
    sluice_time d = sluice_sctp_retx_next_deadline(x->r);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, d), 1);
    assert_int_equal(send_pkt(x, d), 1);
    assert_int_equal(x->chunks[0].tsn, T0);
    for (uint16_t e = 2; e <= 4; e++) {
        sluice_sctp_gap g = {2, e};
        assert_int_equal(sack(x, d + e * MS, T0 - 1, &g, 1, 1 << 20), 1);
    }
    assert_int_equal(stats(x).fast_retransmits, 0);
    /* the retransmission is lost too: each TSN sent after it and acked is a real miss
     * indication, and the third one fast-retransmits it */
    for (uint16_t k = 0; k < 3; k++) {
        assert_int_equal(send_pkt(x, d + (10 + k) * MS), 1);
        assert_int_equal(x->chunks[0].tsn, T0 + 4 + k);
        sluice_sctp_gap g = {2, (uint16_t)(5 + k)};
        assert_int_equal(sack(x, d + (20 + k) * MS, T0 - 1, &g, 1, 1 << 20), 1);
    }
    assert_int_equal(stats(x).fast_retransmits, 1);
    done(x);
}

static void test_retx_lost_fast_retransmission_is_fast_retransmitted_again(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 12; i++) push(x, 1, FULL, NULL);
    while (send_pkt(x, 0) > 0) {}
    /* T0 lost; T0+1..T0+3 arrive: three miss indications, fast retransmit */
    for (uint16_t e = 1; e <= 3; e++) {
        sluice_sctp_gap g = {2, (uint16_t)(e + 1)};
        assert_int_equal(sack(x, (10 + e) * MS, T0 - 1, &g, 1, 1 << 20), 1);
    }
    assert_int_equal(stats(x).fast_retransmits, 1);
    sluice_time t = 20 * MS;
    assert_true(send_pkt(x, t) >= 1);
    assert_int_equal(x->chunks[0].tsn, T0);
    /* the first outstanding chunk went again: T3-rtx restarted (§7.2.4 (4)) */
    assert_true(sluice_sctp_retx_next_deadline(x->r) == t + 1000 * MS);
    /* its retransmission is lost as well: a repeated SACK says nothing new about it */
    sluice_sctp_gap g = {2, 4};
    assert_int_equal(sack(x, 21 * MS, T0 - 1, &g, 1, 1 << 20), 0);
    assert_int_equal(stats(x).fast_retransmits, 1);
    /* three SACKs each acking new data sent after it: marked and sent again, no T3 */
    uint32_t high = 4;
    for (int k = 0; k < 3; k++) {
        sluice_time tk = (30 + (sluice_time)k) * MS;
        int n = send_pkt(x, tk);
        assert_true(n >= 1);
        assert_true(sluice_sn32_gt(x->chunks[n - 1].tsn, T0 + 3));
        high = x->chunks[n - 1].tsn - T0 + 1;
        sluice_sctp_gap g2 = {2, (uint16_t)high};
        assert_int_equal(sack(x, tk + MS, T0 - 1, &g2, 1, 1 << 20), 1);
    }
    assert_int_equal(stats(x).fast_retransmits, 2);
    assert_int_equal(stats(x).t3_expirations, 0);
    assert_true(send_pkt(x, 40 * MS) >= 1);
    assert_int_equal(x->chunks[0].tsn, T0);
    assert_int_equal(sack(x, 50 * MS, T0 + high - 1, NULL, 0, 1 << 20), 1);
    done(x);
}

static void test_retx_karn_no_rtt_from_retransmitted_chunk(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    push(x, 1, 100, NULL);
    assert_int_equal(send_pkt(x, 0), 1);
    sluice_time d = sluice_sctp_retx_next_deadline(x->r);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, d), 1);
    assert_int_equal(send_pkt(x, d), 1);
    assert_int_equal(sack(x, d + 5 * MS, T0, NULL, 0, 1 << 20), 1);
    assert_int_equal(stats(x).srtt_us, 0); /* no sample */
    assert_int_equal(stats(x).rto_ms, 2000); /* back-off kept until a valid sample */
    done(x);
}

static void test_retx_respects_peer_rwnd_and_probes_zero_window(void **state) {
    (void)state;
    h *x = mk(false, 2000);
    for (int i = 0; i < 5; i++) push(x, 1, FULL, NULL);
    while (send_pkt(x, 0) > 0) {}
    assert_true(stats(x).bytes_in_flight <= 2000);
    assert_int_equal(stats(x).peer_rwnd, 0);
    /* the peer acks everything but advertises a closed window */
    uint32_t last = sluice_sctp_retx_next_tsn(x->r) - 1;
    assert_int_equal(sack(x, 10 * MS, last, NULL, 0, 0), 1);
    assert_true(sluice_sctp_retx_wants_to_send(x->r));
    assert_int_equal(send_pkt(x, 10 * MS), 1); /* zero window probe */
    assert_int_equal(send_pkt(x, 10 * MS), 0);
    assert_false(sluice_sctp_retx_wants_to_send(x->r));
    done(x);
}

static void test_retx_abandons_after_max_retransmits_and_forwards_ssn(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    sluice_sctp_send_options o = {.has_max_retransmits = true, .max_retransmits = 0};
    push(x, 3, 100, NULL);     /* SSN 0, reliable */
    push(x, 5, 100, &o);       /* SSN 0 on stream 5 */
    push(x, 5, 100, &o);       /* SSN 1 on stream 5 */
    assert_int_equal(send_pkt(x, 0), 3);
    assert_int_equal(sack(x, 10 * MS, T0, NULL, 0, 1 << 20), 1);
    sluice_time d = sluice_sctp_retx_next_deadline(x->r);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, d), 1);
    assert_int_equal(stats(x).messages_abandoned, 2);
    assert_true(sluice_sctp_retx_fwd_tsn_pending(x->r));
    assert_int_equal(send_pkt(x, d), 0);
    assert_true(x->have_fwd);
    assert_int_equal(x->fwd.new_cum_tsn, T0 + 2);
    assert_int_equal(x->fwd.num_skips, 1);
    sluice_sctp_skip sk = sluice_sctp_fwd_skip(&x->fwd, 0);
    assert_int_equal(sk.stream, 5);
    assert_int_equal(sk.mid, 1);
    assert_false(sluice_sctp_retx_fwd_tsn_pending(x->r));
    /* FORWARD-TSN lost: T3 sends it again */
    d = sluice_sctp_retx_next_deadline(x->r);
    assert_true(d != SLUICE_TIME_NEVER);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, d), 1);
    assert_true(sluice_sctp_retx_fwd_tsn_pending(x->r));
    assert_int_equal(send_pkt(x, d), 0);
    assert_true(x->have_fwd);
    /* the peer's SACK now covers the forwarded TSNs */
    assert_int_equal(sack(x, d + 10 * MS, T0 + 2, NULL, 0, 1 << 20), 1);
    assert_true(sluice_sctp_retx_is_idle(x->r));
    assert_false(sluice_sctp_retx_fwd_tsn_pending(x->r));
    done(x);
}

static void test_retx_lifetime_expiry_abandons_instead_of_retransmitting(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    sluice_sctp_send_options o = {.has_lifetime = true, .lifetime_ms = 100, .unordered = true};
    push(x, 2, 100, &o);
    push(x, 2, 100, NULL);
    assert_int_equal(send_pkt(x, 0), 2);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, 1000 * MS), 1);
    assert_int_equal(send_pkt(x, 1000 * MS), 1);      /* only the reliable one */
    assert_true(x->have_fwd);
    assert_int_equal(x->fwd.new_cum_tsn, T0);
    assert_int_equal(x->fwd.num_skips, 0);             /* unordered: no stream/SSN pair */
    assert_int_equal(x->chunks[0].tsn, T0 + 1);
    done(x);
}

static void test_retx_abandoned_partial_message_stops_sending_its_rest(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    sluice_sctp_send_options o = {.has_max_retransmits = true, .max_retransmits = 0};
    push(x, 1, 8000, &o);
    push(x, 1, 10, NULL);
    /* one packet, then loss */
    assert_int_equal(send_pkt(x, 0), 1);
    assert_true(x->chunks[0].beginning && !x->chunks[0].ending);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, 1000 * MS), 1);
    assert_int_equal(send_pkt(x, 1000 * MS), 1);
    assert_true(x->have_fwd);
    assert_int_equal(x->fwd.new_cum_tsn, T0);
    assert_int_equal(sluice_sctp_fwd_skip(&x->fwd, 0).mid, 0);
    /* the next thing sent is the following message (SSN 1), not the abandoned rest */
    assert_int_equal(x->chunks[0].tsn, T0 + 1);
    assert_int_equal(x->chunks[0].mid, 1);
    assert_int_equal(x->chunks[0].len, 10);
    assert_int_equal(sluice_sctp_tx_buffered_amount(x->tx, 1), 0);
    done(x);
}

static void test_retx_idata_forward_carries_unordered_mid(void **state) {
    (void)state;
    h *x = mk(true, 1 << 20);
    sluice_sctp_send_options o = {.has_max_retransmits = true, .max_retransmits = 0, .unordered = true};
    push(x, 7, 100, &o);
    push(x, 7, 100, &o);
    assert_int_equal(send_pkt(x, 0), 2);
    assert_true(x->chunks[1].idata);
    assert_int_equal(x->chunks[1].mid, 1);
    assert_int_equal(sluice_sctp_retx_handle_timeout(x->r, 1000 * MS), 1);
    assert_int_equal(send_pkt(x, 1000 * MS), 0);
    assert_true(x->have_fwd && x->fwd.idata);
    assert_int_equal(x->fwd.new_cum_tsn, T0 + 1);
    assert_int_equal(x->fwd.num_skips, 1);
    sluice_sctp_skip sk = sluice_sctp_fwd_skip(&x->fwd, 0);
    assert_true(sk.unordered);
    assert_int_equal(sk.stream, 7);
    assert_int_equal(sk.mid, 1);
    done(x);
}

static void test_retx_congestion_avoidance_grows_by_mtu_per_cwnd(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 200; i++) push(x, 1, FULL, NULL);
    sluice_time now = 0;
    /* force CA: a T3 sets ssthresh = 4 MTU */
    while (send_pkt(x, now) > 0) {}
    now = sluice_sctp_retx_next_deadline(x->r);
    sluice_sctp_retx_handle_timeout(x->r, now);
    uint32_t prev_cwnd = 0;
    for (int round = 0; round < 12; round++) {
        while (send_pkt(x, now) > 0) {}
        now += 20 * MS;
        assert_true(sack(x, now, sluice_sctp_retx_next_tsn(x->r) - 1, NULL, 0, 1 << 20) >= 0);
        sluice_sctp_retx_stats s = stats(x);
        if (s.cwnd > s.ssthresh && prev_cwnd > s.ssthresh) assert_true(s.cwnd <= prev_cwnd + 1191);
        prev_cwnd = s.cwnd;
    }
    assert_true(prev_cwnd > 4 * 1191);
    done(x);
}

static void test_retx_sets_immediate_bit_on_last_chunk_before_waiting(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    for (int i = 0; i < 2; i++) push(x, 1, FULL, NULL);
    assert_int_equal(send_pkt(x, 0), 1);
    assert_false(x->chunks[0].immediate); /* more to send, window open */
    assert_int_equal(send_pkt(x, 0), 1);
    assert_true(x->chunks[0].immediate);  /* nothing left queued */
    for (int i = 0; i < 10; i++) push(x, 1, FULL, NULL);
    int n = 0;
    while (send_pkt(x, 0) > 0) n++;
    assert_true(x->chunks[0].immediate);  /* the last one filled cwnd */
    done(x);
}

static void test_retx_cwnd_decays_after_idle_longer_than_rto(void **state) {
    (void)state;
    h *x = mk(false, 1 << 20);
    sluice_time now = 1;
    /* grow cwnd well above 4 MTU: keep it full, ack one packet at a time */
    for (int i = 0; i < 60; i++) push(x, 1, FULL, NULL);
    uint32_t cum = T0 - 1;
    for (int round = 0; round < 20; round++) {
        while (send_pkt(x, now) > 0) {}
        now += 1 * MS;
        assert_int_equal(sack(x, now, ++cum, NULL, 0, 1 << 20), 1);
    }
    uint32_t big = stats(x).cwnd;
    assert_true(big >= 16 * 1191);
    /* flush what is still queued, then stay silent for 3 RTOs */
    while (sluice_sctp_tx_has_data(x->tx)) {
        while (send_pkt(x, now) > 0) {}
        now += 10 * MS;
        assert_true(sack(x, now, sluice_sctp_retx_next_tsn(x->r) - 1, NULL, 0, 1 << 20) >= 0);
    }
    big = stats(x).cwnd;
    now += 3 * sluice_sctp_retx_rto_us(x->r) + 1;
    push(x, 1, 10, NULL);
    assert_int_equal(send_pkt(x, now), 1);
    uint32_t after = stats(x).cwnd;
    assert_true(after < big);
    assert_true(after >= 4 * 1191);
    assert_true(after <= SLUICE_MAX(big / 8, 4u * 1191));
    done(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retx_sends_new_data_within_initial_cwnd),
        cmocka_unit_test(test_retx_initial_cwnd_setting_overrides_rfc_formula),
        cmocka_unit_test(test_retx_sack_releases_grows_cwnd_and_measures_rtt),
        cmocka_unit_test(test_retx_rejects_sack_acking_unsent_tsns),
        cmocka_unit_test(test_retx_ignores_stale_sack),
        cmocka_unit_test(test_retx_sack_half_serial_space_away_with_nothing_outstanding),
        cmocka_unit_test(test_retx_fast_retransmit_on_third_miss_indication),
        cmocka_unit_test(test_retx_gap_blocks_out_of_order_and_overlapping_equal_sorted),
        cmocka_unit_test(test_retx_t3_expiry_backs_off_and_retransmits_one_packet),
        cmocka_unit_test(test_retx_retransmission_not_nacked_by_older_transmissions),
        cmocka_unit_test(test_retx_lost_fast_retransmission_is_fast_retransmitted_again),
        cmocka_unit_test(test_retx_karn_no_rtt_from_retransmitted_chunk),
        cmocka_unit_test(test_retx_respects_peer_rwnd_and_probes_zero_window),
        cmocka_unit_test(test_retx_abandons_after_max_retransmits_and_forwards_ssn),
        cmocka_unit_test(test_retx_lifetime_expiry_abandons_instead_of_retransmitting),
        cmocka_unit_test(test_retx_abandoned_partial_message_stops_sending_its_rest),
        cmocka_unit_test(test_retx_idata_forward_carries_unordered_mid),
        cmocka_unit_test(test_retx_congestion_avoidance_grows_by_mtu_per_cwnd),
        cmocka_unit_test(test_retx_sets_immediate_bit_on_last_chunk_before_waiting),
        cmocka_unit_test(test_retx_cwnd_decays_after_idle_longer_than_rto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
