#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sctp/data.h"

/* A DATA chunk as usrsctp / libwebrtc send it: TSN 0x01020304, stream 1, SSN 2, PPID 51
 * (WebRTC string), payload "hello" (RFC 9260 §3.3.1 layout), padded to 24 bytes. */
static const uint8_t data_chunk[] = {
    0x00, 0x03, 0x00, 0x15, 0x01, 0x02, 0x03, 0x04, 0x00, 0x01, 0x00, 0x02,
    0x00, 0x00, 0x00, 0x33, 'h',  'e',  'l',  'l',  'o',  0x00, 0x00, 0x00,
};

static void test_data_parses_reference_chunk(void **state) {
    (void)state;
    sluice_sctp_data d;
    assert_int_equal(sluice_sctp_data_parse(data_chunk[1], data_chunk + 4, 0x15 - 4, &d), SLUICE_OK);
    assert_int_equal(d.tsn, 0x01020304);
    assert_int_equal(d.stream, 1);
    assert_int_equal(d.mid, 2);
    assert_int_equal(d.ppid, 51);
    assert_true(d.beginning && d.ending);
    assert_false(d.unordered || d.immediate || d.idata);
    assert_int_equal(d.len, 5);
    assert_memory_equal(d.payload, "hello", 5);
}

static void test_data_write_matches_reference_bytes(void **state) {
    (void)state;
    sluice_sctp_data d = {.tsn = 0x01020304, .stream = 1, .mid = 2, .ppid = 51, .beginning = true,
                          .ending = true, .payload = (const uint8_t *)"hello", .len = 5};
    uint8_t buf[64];
    memset(buf, 0xee, sizeof buf);
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_data_write(&w, &d), SLUICE_OK);
    assert_int_equal(sluice_wr_len(&w), sizeof data_chunk);
    assert_memory_equal(buf, data_chunk, sizeof data_chunk);
    assert_int_equal(sluice_sctp_data_wire_len(false, 5), 24);
}

static void test_data_rejects_empty_and_short(void **state) {
    (void)state;
    sluice_sctp_data d;
    assert_int_equal(sluice_sctp_data_parse(3, data_chunk + 4, 12, &d), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_data_parse(3, data_chunk + 4, 7, &d), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_data_parse(3, NULL, 0, &d), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_idata_parse(3, data_chunk + 4, 16, &d), SLUICE_ERR_MALFORMED);
    sluice_sctp_data e = {.len = 0};
    uint8_t buf[64];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_data_write(&w, &e), SLUICE_ERR_INVALID_ARGUMENT);
}

static void test_data_write_nobufs_leaves_writer_usable(void **state) {
    (void)state;
    uint8_t payload[100] = {0};
    sluice_sctp_data d = {.tsn = 1, .payload = payload, .len = sizeof payload, .beginning = true};
    uint8_t buf[64];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_data_write(&w, &d), SLUICE_ERR_NOBUFS);
    assert_false(w.err);
    assert_int_equal(sluice_wr_len(&w), 0);
    d.len = 48; /* 16 + 48 = 64: fits exactly */
    assert_int_equal(sluice_sctp_data_write(&w, &d), SLUICE_OK);
    assert_int_equal(sluice_wr_len(&w), 64);
}

static void test_idata_roundtrips_first_and_middle_fragments(void **state) {
    (void)state;
    uint8_t buf[128];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    sluice_sctp_data a = {.idata = true, .tsn = 77, .stream = 9, .mid = 0xdeadbeef, .ppid = 53, .beginning = true,
                          .unordered = true, .immediate = true, .payload = (const uint8_t *)"abc", .len = 3};
    sluice_sctp_data b = {.idata = true, .tsn = 78, .stream = 9, .mid = 0xdeadbeef, .fsn = 1, .ending = true,
                          .payload = (const uint8_t *)"defg", .len = 4};
    assert_int_equal(sluice_sctp_data_write(&w, &a), SLUICE_OK);
    assert_int_equal(sluice_wr_len(&w), 24);
    assert_int_equal(sluice_sctp_data_write(&w, &b), SLUICE_OK);
    assert_int_equal(sluice_wr_len(&w), 48);
    assert_int_equal(buf[0], SLUICE_SCTP_CHUNK_IDATA);
    assert_int_equal(buf[1], 0x0e);
    assert_int_equal(sluice_load_be16(buf + 2), 23);

    sluice_sctp_data p;
    assert_int_equal(sluice_sctp_idata_parse(buf[1], buf + 4, 19, &p), SLUICE_OK);
    assert_true(p.idata && p.beginning && p.unordered && p.immediate && !p.ending);
    assert_int_equal(p.mid, 0xdeadbeef);
    assert_int_equal(p.ppid, 53);
    assert_int_equal(p.fsn, 0);
    assert_memory_equal(p.payload, "abc", 3);
    assert_int_equal(sluice_sctp_idata_parse(buf[25], buf + 28, 20, &p), SLUICE_OK);
    assert_true(p.ending && !p.beginning);
    assert_int_equal(p.fsn, 1);
    assert_int_equal(p.ppid, 0);
    assert_int_equal(p.len, 4);
}

static void test_sack_roundtrips_gaps_and_dups(void **state) {
    (void)state;
    sluice_sctp_gap gaps[] = {{2, 3}, {6, 9}};
    uint32_t dups[] = {100, 0xffffffffu};
    uint8_t buf[64];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_sack_write(&w, 1000, 65536, gaps, 2, dups, 2), SLUICE_OK);
    assert_int_equal(sluice_wr_len(&w), 32);
    assert_int_equal(buf[0], SLUICE_SCTP_CHUNK_SACK);
    assert_int_equal(sluice_load_be16(buf + 2), 32);
    sluice_sctp_sack s;
    assert_int_equal(sluice_sctp_sack_parse(buf[1], buf + 4, 28, &s), SLUICE_OK);
    assert_int_equal(s.cum_tsn, 1000);
    assert_int_equal(s.a_rwnd, 65536);
    assert_int_equal(s.num_gaps, 2);
    assert_int_equal(s.num_dups, 2);
    assert_int_equal(sluice_sctp_sack_gap(&s, 1).start, 6);
    assert_int_equal(sluice_sctp_sack_gap(&s, 1).end, 9);
    assert_int_equal(sluice_sctp_sack_dup(&s, 1), 0xffffffffu);
}

static void test_sack_rejects_counts_beyond_length(void **state) {
    (void)state;
    uint8_t v[16] = {0, 0, 0, 1, 0, 0, 0x10, 0, 0, 5, 0, 0, 0, 1, 0, 2};
    sluice_sctp_sack s;
    /* claims 5 gap blocks but carries one */
    assert_int_equal(sluice_sctp_sack_parse(0, v, sizeof v, &s), SLUICE_ERR_MALFORMED);
    v[9] = 1;
    assert_int_equal(sluice_sctp_sack_parse(0, v, sizeof v, &s), SLUICE_OK);
    v[11] = 0xff; /* 255 dups */
    assert_int_equal(sluice_sctp_sack_parse(0, v, sizeof v, &s), SLUICE_ERR_MALFORMED);
    v[11] = 0;
    assert_int_equal(sluice_sctp_sack_parse(0, v, sizeof v - 1, &s), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_sack_parse(0, v, 11, &s), SLUICE_ERR_MALFORMED);
}

static void test_sack_parse_keeps_out_of_order_gap_blocks_for_the_consumer(void **state) {
    (void)state;
    uint8_t v[20] = {0, 0, 0, 9, 0, 1, 0, 0, 0, 2, 0, 0, 0, 8, 0, 5, 0, 2, 0, 3};
    sluice_sctp_sack s;
    assert_int_equal(sluice_sctp_sack_parse(0, v, sizeof v, &s), SLUICE_OK);
    assert_int_equal(sluice_sctp_sack_gap(&s, 0).start, 8);
    assert_int_equal(sluice_sctp_sack_gap(&s, 0).end, 5);
    assert_int_equal(sluice_sctp_sack_gap(&s, 1).start, 2);
}

static void test_forward_tsn_roundtrips_and_drops_unordered_pairs(void **state) {
    (void)state;
    sluice_sctp_skip skips[] = {{1, false, 7}, {2, true, 9}, {65535, false, 65535}};
    uint8_t buf[64];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_fwd_write(&w, false, 0xabcdef01u, skips, 3), SLUICE_OK);
    assert_int_equal(buf[0], SLUICE_SCTP_CHUNK_FORWARD_TSN);
    assert_int_equal(sluice_load_be16(buf + 2), 16);
    sluice_sctp_fwd f;
    assert_int_equal(sluice_sctp_fwd_parse(0, buf + 4, 12, &f), SLUICE_OK);
    assert_int_equal(f.new_cum_tsn, 0xabcdef01u);
    assert_int_equal(f.num_skips, 2);
    sluice_sctp_skip s = sluice_sctp_fwd_skip(&f, 1);
    assert_int_equal(s.stream, 65535);
    assert_int_equal(s.mid, 65535);
    assert_false(s.unordered);
    assert_int_equal(sluice_sctp_fwd_parse(0, buf + 4, 10, &f), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_fwd_parse(0, buf + 4, 3, &f), SLUICE_ERR_MALFORMED);
}

static void test_iforward_tsn_roundtrips_u_flag_and_mid(void **state) {
    (void)state;
    sluice_sctp_skip skips[] = {{4, true, 0x01000000u}, {5, false, 3}};
    uint8_t buf[64];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_fwd_write(&w, true, 42, skips, 2), SLUICE_OK);
    assert_int_equal(buf[0], SLUICE_SCTP_CHUNK_IFORWARD_TSN);
    assert_int_equal(sluice_wr_len(&w), 24);
    sluice_sctp_fwd f;
    assert_int_equal(sluice_sctp_ifwd_parse(0, buf + 4, 20, &f), SLUICE_OK);
    assert_int_equal(f.num_skips, 2);
    sluice_sctp_skip s = sluice_sctp_fwd_skip(&f, 0);
    assert_true(s.unordered);
    assert_int_equal(s.stream, 4);
    assert_int_equal(s.mid, 0x01000000u);
    assert_false(sluice_sctp_fwd_skip(&f, 1).unordered);
    assert_int_equal(sluice_sctp_ifwd_parse(0, buf + 4, 16, &f), SLUICE_ERR_MALFORMED);
}

static void test_codecs_never_read_out_of_bounds_on_truncation(void **state) {
    (void)state;
    uint8_t big[256];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 37 + 1);
    for (size_t n = 0; n < 64; n++) {
        /* heap copies so ASan sees any overread */
        uint8_t *p = test_malloc(n ? n : 1);
        memcpy(p, big, n);
        sluice_sctp_data d;
        sluice_sctp_sack s;
        sluice_sctp_fwd f;
        (void)sluice_sctp_data_parse(0xff, p, n, &d);
        (void)sluice_sctp_idata_parse(0x0f, p, n, &d);
        if (sluice_sctp_sack_parse(0, p, n, &s) == SLUICE_OK) {
            for (size_t i = 0; i < s.num_gaps; i++) (void)sluice_sctp_sack_gap(&s, i);
            for (size_t i = 0; i < s.num_dups; i++) (void)sluice_sctp_sack_dup(&s, i);
        }
        if (sluice_sctp_fwd_parse(0, p, n, &f) == SLUICE_OK)
            for (size_t i = 0; i < f.num_skips; i++) (void)sluice_sctp_fwd_skip(&f, i);
        if (sluice_sctp_ifwd_parse(0, p, n, &f) == SLUICE_OK)
            for (size_t i = 0; i < f.num_skips; i++) (void)sluice_sctp_fwd_skip(&f, i);
        test_free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_parses_reference_chunk),
        cmocka_unit_test(test_data_write_matches_reference_bytes),
        cmocka_unit_test(test_data_rejects_empty_and_short),
        cmocka_unit_test(test_data_write_nobufs_leaves_writer_usable),
        cmocka_unit_test(test_idata_roundtrips_first_and_middle_fragments),
        cmocka_unit_test(test_sack_roundtrips_gaps_and_dups),
        cmocka_unit_test(test_sack_rejects_counts_beyond_length),
        cmocka_unit_test(test_sack_parse_keeps_out_of_order_gap_blocks_for_the_consumer),
        cmocka_unit_test(test_forward_tsn_roundtrips_and_drops_unordered_pairs),
        cmocka_unit_test(test_iforward_tsn_roundtrips_u_flag_and_mid),
        cmocka_unit_test(test_codecs_never_read_out_of_bounds_on_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
