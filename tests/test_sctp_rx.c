#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sctp/rx.h"

#define I0 0xfffffff0u /* peer's initial TSN: close to the wrap on purpose */
#define MS 1000ull

static sluice_sctp_rx *mk(void) {
    sluice_sctp_rx *rx = NULL;
    assert_int_equal(sluice_sctp_rx_new(&rx, NULL, NULL, I0), SLUICE_OK);
    return rx;
}

/* One packet carrying the given TSNs. */
static void pkt(sluice_sctp_rx *rx, sluice_time now, const uint32_t *tsns, size_t n) {
    for (size_t i = 0; i < n; i++) (void)sluice_sctp_rx_on_data(rx, now, tsns[i], false);
    sluice_sctp_rx_on_packet_end(rx, now);
}

static sluice_sctp_sack get_sack(sluice_sctp_rx *rx, uint8_t *buf, size_t cap, uint32_t a_rwnd) {
    sluice_wr w = sluice_wr_make(buf, cap);
    assert_int_equal(sluice_sctp_rx_write_sack(rx, 0, &w, a_rwnd), SLUICE_OK);
    sluice_sctp_sack s;
    assert_int_equal(buf[0], SLUICE_SCTP_CHUNK_SACK);
    assert_int_equal(sluice_sctp_sack_parse(buf[1], buf + 4, sluice_wr_len(&w) - 4, &s), SLUICE_OK);
    return s;
}

static void test_rx_in_order_data_delays_sack_until_second_packet(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    assert_int_equal(sluice_sctp_rx_cum_tsn(rx), I0 - 1);
    uint32_t t = I0;
    assert_int_equal(sluice_sctp_rx_check(rx, t), SLUICE_SCTP_RX_NEW_NEXT);
    pkt(rx, 0, &t, 1);
    assert_false(sluice_sctp_rx_sack_due(rx));
    assert_true(sluice_sctp_rx_has_unacked(rx));
    assert_true(sluice_sctp_rx_next_deadline(rx) == 200 * MS);
    t++;
    pkt(rx, 10, &t, 1);
    assert_true(sluice_sctp_rx_sack_due(rx));
    uint8_t buf[64];
    sluice_sctp_sack s = get_sack(rx, buf, sizeof buf, 12345);
    assert_int_equal(s.cum_tsn, I0 + 1);
    assert_int_equal(s.a_rwnd, 12345);
    assert_int_equal(s.num_gaps, 0);
    assert_false(sluice_sctp_rx_sack_due(rx));
    assert_false(sluice_sctp_rx_has_unacked(rx));
    assert_true(sluice_sctp_rx_next_deadline(rx) == SLUICE_TIME_NEVER);
    sluice_sctp_rx_free(rx);
}

static void test_rx_delayed_ack_timer_makes_sack_due(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    uint32_t t = I0;
    pkt(rx, 1000, &t, 1);
    sluice_sctp_rx_handle_timeout(rx, 1000 + 199 * MS);
    assert_false(sluice_sctp_rx_sack_due(rx));
    sluice_sctp_rx_handle_timeout(rx, 1000 + 200 * MS);
    assert_true(sluice_sctp_rx_sack_due(rx));
    sluice_sctp_rx_free(rx);
}

static void test_rx_sack_reports_gap_after_loss_across_tsn_wrap(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    /* I0 .. I0+15 wraps through 0; lose I0+2, I0+3 and I0+17 */
    uint32_t a[] = {I0, I0 + 1, I0 + 4, I0 + 5};
    pkt(rx, 0, a, 4);
    assert_true(sluice_sctp_rx_sack_due(rx)); /* gap: immediate */
    uint32_t b[] = {I0 + 16, I0 + 18, I0 + 6};
    pkt(rx, 0, b, 3);
    assert_true(sluice_sctp_rx_has_gaps(rx));
    uint8_t buf[128];
    sluice_sctp_sack s = get_sack(rx, buf, sizeof buf, 1000);
    assert_int_equal(s.cum_tsn, I0 + 1);
    assert_int_equal(s.num_gaps, 3);
    assert_int_equal(sluice_sctp_sack_gap(&s, 0).start, 3);
    assert_int_equal(sluice_sctp_sack_gap(&s, 0).end, 5);
    assert_int_equal(sluice_sctp_sack_gap(&s, 1).start, 15);
    assert_int_equal(sluice_sctp_sack_gap(&s, 1).end, 15);
    assert_int_equal(sluice_sctp_sack_gap(&s, 2).start, 17);
    assert_int_equal(sluice_sctp_sack_gap(&s, 2).end, 17);
    /* fill the holes: cum jumps over the first block, and the filling packet is SACKed at once */
    uint32_t c[] = {I0 + 3, I0 + 2};
    pkt(rx, 0, c, 2);
    assert_int_equal(sluice_sctp_rx_cum_tsn(rx), I0 + 6);
    assert_true(sluice_sctp_rx_sack_due(rx));
    s = get_sack(rx, buf, sizeof buf, 1000);
    assert_int_equal(s.num_gaps, 2);
    assert_int_equal(sluice_sctp_sack_gap(&s, 0).start, 10);
    sluice_sctp_rx_free(rx);
}

static void test_rx_reports_duplicates_and_sacks_immediately(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    uint32_t a[] = {I0, I0 + 1};
    pkt(rx, 0, a, 2);
    uint8_t buf[128];
    (void)get_sack(rx, buf, sizeof buf, 1000);
    uint32_t d[] = {I0 + 1, I0 - 5};
    assert_int_equal(sluice_sctp_rx_check(rx, I0 + 1), SLUICE_SCTP_RX_DUPLICATE);
    pkt(rx, 0, d, 2);
    assert_true(sluice_sctp_rx_sack_due(rx));
    sluice_sctp_sack s = get_sack(rx, buf, sizeof buf, 1000);
    assert_int_equal(s.num_dups, 2);
    assert_int_equal(sluice_sctp_sack_dup(&s, 0), I0 + 1);
    assert_int_equal(sluice_sctp_sack_dup(&s, 1), I0 - 5);
    /* reported once only */
    s = get_sack(rx, buf, sizeof buf, 1000);
    assert_int_equal(s.num_dups, 0);
    sluice_sctp_rx_stats st;
    sluice_sctp_rx_get_stats(rx, &st);
    assert_int_equal(st.duplicates, 2);
    sluice_sctp_rx_free(rx);
}

static void test_rx_immediate_bit_forces_sack(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    assert_int_equal(sluice_sctp_rx_on_data(rx, 0, I0, true), SLUICE_SCTP_RX_NEW_NEXT);
    sluice_sctp_rx_on_packet_end(rx, 0);
    assert_true(sluice_sctp_rx_sack_due(rx));
    sluice_sctp_rx_free(rx);
}

static void test_rx_drops_tsn_too_far_ahead(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    assert_int_equal(sluice_sctp_rx_check(rx, I0 + 65534), SLUICE_SCTP_RX_NEW);
    assert_int_equal(sluice_sctp_rx_check(rx, I0 + 65535), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(sluice_sctp_rx_on_data(rx, 0, I0 + 0x40000000u, false), SLUICE_ERR_BUFFER_FULL);
    assert_false(sluice_sctp_rx_has_gaps(rx));
    sluice_sctp_rx_free(rx);
}

/* Ranges are allocated on demand: a window of scattered losses keeps every chunk that did
 * arrive (up to max_gap_blocks), and the SACK reports as many blocks as fit. */
static void test_rx_grows_gap_blocks_on_demand(void **state) {
    (void)state;
    sluice_sctp_rx_settings s;
    sluice_sctp_rx_settings_default(&s);
    s.max_gap_blocks = 1000;
    sluice_sctp_rx *rx = NULL;
    assert_int_equal(sluice_sctp_rx_new(&rx, &s, NULL, 100), SLUICE_OK);
    for (uint32_t i = 0; i < 1000; i++) assert_int_equal(sluice_sctp_rx_on_data(rx, 0, 101 + 2 * i, false), 1);
    assert_int_equal(sluice_sctp_rx_on_data(rx, 0, 101 + 2 * 1000, false), SLUICE_ERR_BUFFER_FULL);
    uint8_t buf[1200];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_rx_write_sack(rx, 0, &w, 4096), SLUICE_OK);
    assert_int_equal(sluice_load_be16(buf + 12), (sizeof buf - 16) / 4); /* gap blocks that fit */
    /* filling the holes absorbs every range */
    for (uint32_t i = 0; i < 1000; i++) assert_int_equal(sluice_sctp_rx_on_data(rx, 0, 100 + 2 * i, false), 2);
    assert_int_equal(sluice_sctp_rx_cum_tsn(rx), 100 + 2 * 999 + 1);
    assert_false(sluice_sctp_rx_has_gaps(rx));
    sluice_sctp_rx_free(rx);
}

static void test_rx_bounds_gap_blocks(void **state) {
    (void)state;
    sluice_sctp_rx_settings s;
    sluice_sctp_rx_settings_default(&s);
    s.max_gap_blocks = 4;
    sluice_sctp_rx *rx = NULL;
    assert_int_equal(sluice_sctp_rx_new(&rx, &s, NULL, 100), SLUICE_OK);
    for (uint32_t i = 0; i < 4; i++) assert_int_equal(sluice_sctp_rx_on_data(rx, 0, 102 + 2 * i, false), 1);
    assert_int_equal(sluice_sctp_rx_on_data(rx, 0, 120, false), SLUICE_ERR_BUFFER_FULL);
    /* extending a block or filling the front still works */
    assert_int_equal(sluice_sctp_rx_on_data(rx, 0, 109, false), SLUICE_SCTP_RX_NEW);
    assert_int_equal(sluice_sctp_rx_on_data(rx, 0, 100, false), SLUICE_SCTP_RX_NEW_NEXT);
    assert_int_equal(sluice_sctp_rx_on_data(rx, 0, 101, false), SLUICE_SCTP_RX_NEW_NEXT);
    assert_int_equal(sluice_sctp_rx_cum_tsn(rx), 102);
    sluice_sctp_rx_free(rx);
}

static void test_rx_sack_truncates_gap_blocks_to_writer_room(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    for (uint32_t i = 0; i < 20; i++) (void)sluice_sctp_rx_on_data(rx, 0, I0 + 1 + 2 * i, false);
    uint32_t d = I0 + 1;
    (void)sluice_sctp_rx_on_data(rx, 0, d, false);
    uint8_t buf[40];
    sluice_sctp_sack s = get_sack(rx, buf, sizeof buf, 1);
    assert_int_equal(s.num_gaps, 6);
    assert_int_equal(s.num_dups, 0);
    uint8_t small[8];
    sluice_wr w = sluice_wr_make(small, sizeof small);
    assert_int_equal(sluice_sctp_rx_write_sack(rx, 0, &w, 1), SLUICE_ERR_NOBUFS);
    sluice_sctp_rx_free(rx);
}

static void test_rx_forward_tsn_moves_cum_and_merges_blocks(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    uint32_t a[] = {I0 + 3, I0 + 4, I0 + 10};
    pkt(rx, 0, a, 3);
    uint8_t buf[64];
    (void)get_sack(rx, buf, sizeof buf, 1);
    assert_int_equal(sluice_sctp_rx_handle_forward_tsn(rx, 0, I0 + 2), 1);
    assert_int_equal(sluice_sctp_rx_cum_tsn(rx), I0 + 4);
    assert_true(sluice_sctp_rx_sack_due(rx));
    assert_int_equal(sluice_sctp_rx_handle_forward_tsn(rx, 0, I0 + 1), 0); /* stale */
    assert_int_equal(sluice_sctp_rx_handle_forward_tsn(rx, 0, I0 + 12), 1);
    assert_int_equal(sluice_sctp_rx_cum_tsn(rx), I0 + 12);
    assert_false(sluice_sctp_rx_has_gaps(rx));
    assert_int_equal(sluice_sctp_rx_check(rx, I0 + 10), SLUICE_SCTP_RX_DUPLICATE);
    sluice_sctp_rx_free(rx);
}

static void test_rx_refuses_forward_tsn_beyond_sensible(void **state) {
    (void)state;
    sluice_sctp_rx *rx = mk();
    assert_int_equal(sluice_sctp_rx_handle_forward_tsn(rx, 0, I0 + 0x7fffffffu), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_rx_handle_forward_tsn(rx, 0, I0 + (1u << 24) + 5), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_rx_cum_tsn(rx), I0 - 1);
    /* 2^31 ahead reads as "behind": stale, not a jump */
    assert_int_equal(sluice_sctp_rx_handle_forward_tsn(rx, 0, I0 - 1 + 0x80000001u), 0);
    assert_int_equal(sluice_sctp_rx_cum_tsn(rx), I0 - 1);
    sluice_sctp_rx_free(rx);
}

static void test_rx_random_arrival_matches_reference_set(void **state) {
    (void)state;
    sluice_prng p;
    sluice_prng_seed(&p, 7);
    for (int round = 0; round < 20; round++) {
        sluice_sctp_rx *rx = mk();
        uint8_t seen[300] = {0};
        for (int k = 0; k < 400; k++) {
            uint32_t o = (uint32_t)(sluice_prng_next(&p) % 300);
            (void)sluice_sctp_rx_on_data(rx, 0, I0 + o, false);
            seen[o] = 1;
            if (k % 7 == 0) sluice_sctp_rx_on_packet_end(rx, 0);
        }
        uint32_t cum = 0;
        while (cum < 300 && seen[cum]) cum++;
        assert_int_equal(sluice_sctp_rx_cum_tsn(rx), I0 + cum - 1);
        uint8_t buf[1200];
        sluice_sctp_sack s = get_sack(rx, buf, sizeof buf, 1);
        uint8_t got[300] = {0};
        for (uint32_t i = 0; i < cum; i++) got[i] = 1;
        uint32_t prev_end = 0;
        for (size_t g = 0; g < s.num_gaps; g++) {
            sluice_sctp_gap gb = sluice_sctp_sack_gap(&s, g);
            assert_true(gb.start > prev_end + 1); /* sorted, disjoint, non-adjacent */
            assert_true(gb.start <= gb.end);
            for (uint32_t o = gb.start; o <= gb.end; o++) got[cum - 1 + o] = 1;
            prev_end = gb.end;
        }
        assert_memory_equal(got, seen, sizeof seen);
        sluice_sctp_rx_free(rx);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rx_in_order_data_delays_sack_until_second_packet),
        cmocka_unit_test(test_rx_delayed_ack_timer_makes_sack_due),
        cmocka_unit_test(test_rx_sack_reports_gap_after_loss_across_tsn_wrap),
        cmocka_unit_test(test_rx_reports_duplicates_and_sacks_immediately),
        cmocka_unit_test(test_rx_immediate_bit_forces_sack),
        cmocka_unit_test(test_rx_drops_tsn_too_far_ahead),
        cmocka_unit_test(test_rx_bounds_gap_blocks),
        cmocka_unit_test(test_rx_grows_gap_blocks_on_demand),
        cmocka_unit_test(test_rx_sack_truncates_gap_blocks_to_writer_room),
        cmocka_unit_test(test_rx_forward_tsn_moves_cum_and_merges_blocks),
        cmocka_unit_test(test_rx_refuses_forward_tsn_beyond_sensible),
        cmocka_unit_test(test_rx_random_arrival_matches_reference_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
