#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sctp/reasm.h"

#define OV 128 /* bookkeeping charged per held message or partial run */

static uint8_t pattern[300000];

static void fill_pattern(void) {
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (uint8_t)(i * 131 + (i >> 8));
}

static sluice_sctp_reasm *mk(bool idata, size_t max_bytes, size_t max_msg) {
    sluice_sctp_reasm_settings s;
    sluice_sctp_reasm_settings_default(&s);
    s.idata = idata;
    if (max_bytes) s.max_bytes = max_bytes;
    if (max_msg) s.max_message_size = max_msg;
    sluice_sctp_reasm *q = NULL;
    assert_int_equal(sluice_sctp_reasm_new(&q, &s, NULL), SLUICE_OK);
    return q;
}

static sluice_sctp_data chunk(uint32_t tsn, uint16_t stream, uint32_t mid, bool b, bool e, size_t off, size_t len) {
    sluice_sctp_data d = {.tsn = tsn, .stream = stream, .mid = mid, .ppid = 53, .beginning = b, .ending = e,
                          .payload = pattern + off, .len = len};
    return d;
}

/* Poll one message and check it is pattern[off .. off+len) on `stream`. */
static void expect_msg(sluice_sctp_reasm *q, uint16_t stream, size_t off, size_t len) {
    sluice_sctp_message m;
    assert_int_equal(sluice_sctp_reasm_poll(q, &m), 1);
    assert_int_equal(m.stream, stream);
    assert_int_equal(m.len, len);
    assert_memory_equal(m.data, pattern + off, len);
    sluice_mem_free(NULL, m.data);
}

static void expect_none(sluice_sctp_reasm *q) {
    sluice_sctp_message m;
    assert_int_equal(sluice_sctp_reasm_poll(q, &m), 0);
}

static void test_reasm_ordered_waits_for_earlier_ssn(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 0, 0);
    sluice_sctp_data a = chunk(11, 1, 1, true, true, 100, 10);
    sluice_sctp_data b = chunk(10, 1, 0, true, true, 0, 10);
    assert_int_equal(sluice_sctp_reasm_add(q, &a, false), SLUICE_OK);
    expect_none(q);
    assert_int_equal(sluice_sctp_reasm_buffered(q), 10 + OV);
    assert_int_equal(sluice_sctp_reasm_add(q, &b, false), SLUICE_OK);
    expect_msg(q, 1, 0, 10);
    expect_msg(q, 1, 100, 10);
    expect_none(q);
    assert_int_equal(sluice_sctp_reasm_buffered(q), 0);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_unordered_delivered_at_once(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 0, 0);
    sluice_sctp_data a = chunk(11, 1, 0, true, true, 5, 10);
    a.unordered = true;
    sluice_sctp_data b = chunk(12, 1, 1, true, true, 0, 10); /* ordered SSN 1: waits for SSN 0 */
    assert_int_equal(sluice_sctp_reasm_add(q, &b, false), SLUICE_OK);
    assert_int_equal(sluice_sctp_reasm_add(q, &a, false), SLUICE_OK);
    sluice_sctp_message m;
    assert_int_equal(sluice_sctp_reasm_poll(q, &m), 1);
    assert_true(m.unordered);
    assert_memory_equal(m.data, pattern + 5, 10);
    sluice_mem_free(NULL, m.data);
    expect_none(q);
    sluice_sctp_reasm_free(q); /* frees the waiting message too */
}

static void shuffle(uint32_t *v, size_t n, sluice_prng *p) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(sluice_prng_next(p) % i);
        uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static void test_reasm_fragments_in_any_order_rebuild_the_message(void **state) {
    (void)state;
    sluice_prng p;
    sluice_prng_seed(&p, 11);
    for (int round = 0; round < 10; round++) {
        sluice_sctp_reasm *q = mk(false, 0, 0);
        const size_t total = 250000, frag = 1160;
        size_t n = (total + frag - 1) / frag;
        uint32_t order[256];
        for (uint32_t i = 0; i < n; i++) order[i] = i;
        if (round > 0) shuffle(order, n, &p);
        for (size_t k = 0; k < n; k++) {
            uint32_t i = order[k];
            size_t off = i * frag, len = SLUICE_MIN(frag, total - off);
            sluice_sctp_data d = chunk(0xffffff00u + i, 3, 0, i == 0, i == n - 1, off, len); /* TSN wraps */
            assert_int_equal(sluice_sctp_reasm_add(q, &d, false), SLUICE_OK);
            if (k + 1 < n) expect_none(q);
        }
        expect_msg(q, 3, 0, total);
        assert_int_equal(sluice_sctp_reasm_buffered(q), 0);
        sluice_sctp_reasm_free(q);
    }
}

static void test_reasm_unordered_fragments_of_two_messages_by_tsn(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 0, 0);
    /* message A: TSN 20-21, message B: TSN 22-23, all unordered, B completes first */
    sluice_sctp_data c[4] = {chunk(20, 1, 0, true, false, 0, 50), chunk(21, 1, 0, false, true, 50, 50),
                             chunk(22, 1, 0, true, false, 1000, 50), chunk(23, 1, 0, false, true, 1050, 50)};
    for (int i = 0; i < 4; i++) c[i].unordered = true;
    assert_int_equal(sluice_sctp_reasm_add(q, &c[1], false), SLUICE_OK);
    assert_int_equal(sluice_sctp_reasm_add(q, &c[2], false), SLUICE_OK);
    assert_int_equal(sluice_sctp_reasm_add(q, &c[3], false), SLUICE_OK);
    expect_msg(q, 1, 1000, 100);
    expect_none(q);
    assert_int_equal(sluice_sctp_reasm_add(q, &c[0], false), SLUICE_OK);
    expect_msg(q, 1, 0, 100);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_idata_interleaved_messages_on_one_stream(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(true, 0, 0);
    /* MID 0 (3 fragments) and MID 1 (2 fragments) interleaved; MID 1 completes first */
    sluice_sctp_data c[5] = {
        chunk(1, 4, 0, true, false, 0, 100),   chunk(2, 4, 1, true, false, 500, 100),
        chunk(3, 4, 1, false, true, 600, 100), chunk(4, 4, 0, false, false, 100, 100),
        chunk(5, 4, 0, false, true, 200, 100),
    };
    uint32_t fsn[5] = {0, 0, 1, 1, 2};
    for (int i = 0; i < 5; i++) {
        c[i].idata = true;
        c[i].fsn = fsn[i];
    }
    for (int i = 0; i < 3; i++) assert_int_equal(sluice_sctp_reasm_add(q, &c[i], false), SLUICE_OK);
    expect_none(q); /* MID 1 complete but ordered behind MID 0 */
    assert_int_equal(sluice_sctp_reasm_add(q, &c[4], false), SLUICE_OK);
    expect_none(q);
    assert_int_equal(sluice_sctp_reasm_add(q, &c[3], false), SLUICE_OK);
    expect_msg(q, 4, 0, 300);
    expect_msg(q, 4, 500, 200);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_rejects_gigantic_fragmented_message(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 0, 64 * 1024);
    int rc = SLUICE_OK;
    uint32_t i;
    for (i = 0; i < 1000 && rc == SLUICE_OK; i++) {
        sluice_sctp_data d = chunk(100 + i, 2, 0, i == 0, false, 0, 1000);
        rc = sluice_sctp_reasm_add(q, &d, false);
    }
    assert_int_equal(rc, SLUICE_ERR_TOO_LARGE);
    assert_int_equal(i, 66); /* the 66th kilobyte crosses 64 KiB */
    assert_int_equal(sluice_sctp_reasm_buffered(q), 0);
    sluice_sctp_reasm_stats st;
    sluice_sctp_reasm_get_stats(q, &st);
    assert_int_equal(st.messages_too_large, 1);
    /* a single chunk over the limit too */
    sluice_sctp_data big = chunk(5000, 2, 0, true, true, 0, 65537);
    assert_int_equal(sluice_sctp_reasm_add(q, &big, false), SLUICE_ERR_TOO_LARGE);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_caps_held_bytes_but_force_admits_next_tsn(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 3 * (1000 + OV), 0);
    /* ordered SSNs 1..3 wait for SSN 0 */
    for (uint32_t i = 1; i <= 3; i++) {
        sluice_sctp_data d = chunk(10 + i, 1, i, true, true, 0, 1000);
        assert_int_equal(sluice_sctp_reasm_add(q, &d, false), SLUICE_OK);
    }
    sluice_sctp_data more = chunk(20, 1, 9, true, true, 0, 1000);
    assert_int_equal(sluice_sctp_reasm_add(q, &more, false), SLUICE_ERR_BUFFER_FULL);
    sluice_sctp_data first = chunk(10, 1, 0, true, true, 0, 1000);
    assert_int_equal(sluice_sctp_reasm_add(q, &first, true), SLUICE_OK);
    for (int i = 0; i < 4; i++) expect_msg(q, 1, 0, 1000);
    /* the hard limit holds even when forced */
    sluice_sctp_reasm *r = mk(false, 1200, 0);
    for (uint32_t i = 1; i <= 2; i++) {
        sluice_sctp_data d = chunk(10 + i, 1, i, true, true, 0, 1000);
        assert_int_equal(sluice_sctp_reasm_add(r, &d, true), SLUICE_OK);
    }
    sluice_sctp_data d3 = chunk(13, 1, 3, true, true, 0, 1000);
    assert_int_equal(sluice_sctp_reasm_add(r, &d3, true), SLUICE_ERR_BUFFER_FULL);
    sluice_sctp_reasm_free(r);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_forward_tsn_drops_partial_and_skips_ssn(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 0, 0);
    /* SSN 0 partial (TSN 10-11 of 3, 12 lost), SSN 1 complete at TSN 13 */
    sluice_sctp_data a = chunk(10, 6, 0, true, false, 0, 100);
    sluice_sctp_data b = chunk(11, 6, 0, false, false, 100, 100);
    sluice_sctp_data c = chunk(13, 6, 1, true, true, 700, 10);
    assert_int_equal(sluice_sctp_reasm_add(q, &a, false), SLUICE_OK);
    assert_int_equal(sluice_sctp_reasm_add(q, &b, false), SLUICE_OK);
    assert_int_equal(sluice_sctp_reasm_add(q, &c, false), SLUICE_OK);
    expect_none(q);
    uint8_t buf[32];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    sluice_sctp_skip sk = {6, false, 0};
    assert_int_equal(sluice_sctp_fwd_write(&w, false, 12, &sk, 1), SLUICE_OK);
    sluice_sctp_fwd f;
    assert_int_equal(sluice_sctp_fwd_parse(0, buf + 4, sluice_wr_len(&w) - 4, &f), SLUICE_OK);
    sluice_sctp_reasm_handle_forward_tsn(q, &f);
    expect_msg(q, 6, 700, 10);
    assert_int_equal(sluice_sctp_reasm_buffered(q), 0);
    /* a late repeat of the skipped SSN is discarded */
    sluice_sctp_data late = chunk(14, 6, 0, true, true, 0, 5);
    assert_int_equal(sluice_sctp_reasm_add(q, &late, false), SLUICE_OK);
    expect_none(q);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_iforward_tsn_drops_unordered_partial_by_mid(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(true, 0, 0);
    sluice_sctp_data a = chunk(10, 2, 7, true, false, 0, 100);
    a.idata = true;
    a.unordered = true;
    sluice_sctp_data o = chunk(11, 2, 0, true, false, 0, 100); /* ordered MID 0 partial: kept */
    o.idata = true;
    assert_int_equal(sluice_sctp_reasm_add(q, &a, false), SLUICE_OK);
    assert_int_equal(sluice_sctp_reasm_add(q, &o, false), SLUICE_OK);
    uint8_t buf[32];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    sluice_sctp_skip sk = {2, true, 7};
    assert_int_equal(sluice_sctp_fwd_write(&w, true, 10, &sk, 1), SLUICE_OK);
    sluice_sctp_fwd f;
    assert_int_equal(sluice_sctp_ifwd_parse(0, buf + 4, sluice_wr_len(&w) - 4, &f), SLUICE_OK);
    sluice_sctp_reasm_handle_forward_tsn(q, &f);
    assert_int_equal(sluice_sctp_reasm_buffered(q), 100 + OV);
    sluice_sctp_data o2 = chunk(12, 2, 0, false, true, 100, 50);
    o2.idata = true;
    o2.fsn = 1;
    assert_int_equal(sluice_sctp_reasm_add(q, &o2, false), SLUICE_OK);
    expect_msg(q, 2, 0, 150);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_stream_reset_restarts_ssn(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 0, 0);
    sluice_sctp_data a = chunk(1, 9, 0, true, true, 0, 10);
    sluice_sctp_data b = chunk(2, 9, 1, true, true, 10, 10);
    assert_int_equal(sluice_sctp_reasm_add(q, &a, false), SLUICE_OK);
    assert_int_equal(sluice_sctp_reasm_add(q, &b, false), SLUICE_OK);
    expect_msg(q, 9, 0, 10);
    expect_msg(q, 9, 10, 10);
    uint16_t s = 9;
    sluice_sctp_reasm_reset_streams(q, &s, 1);
    sluice_sctp_data c = chunk(3, 9, 0, true, true, 20, 10);
    assert_int_equal(sluice_sctp_reasm_add(q, &c, false), SLUICE_OK);
    expect_msg(q, 9, 20, 10);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_flood_of_tiny_messages_is_bounded_with_overhead(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 64 * 1024, 0);
    /* 1-byte ordered messages that all wait for a missing SSN 0 */
    uint32_t i;
    int rc = SLUICE_OK;
    for (i = 1; i < 60000 && rc == SLUICE_OK; i++) {
        sluice_sctp_data d = chunk(i, 1, i, true, true, 0, 1);
        rc = sluice_sctp_reasm_add(q, &d, false);
    }
    assert_int_equal(rc, SLUICE_ERR_BUFFER_FULL);
    assert_true(i < 64 * 1024 / OV + 2);
    assert_true(sluice_sctp_reasm_buffered(q) <= 64 * 1024);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_iforward_with_thousands_of_skips(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(true, 0, 0);
    for (uint32_t m = 0; m < 2000; m++) {
        sluice_sctp_data d = chunk(m, 5, m, true, false, m, 10); /* first fragments only */
        d.idata = true;
        d.unordered = true;
        assert_int_equal(sluice_sctp_reasm_add(q, &d, false), SLUICE_OK);
    }
    assert_int_equal(sluice_sctp_reasm_buffered(q), 2000 * (10 + OV));
    /* 4000 entries for stream 5 (unordered, repeated) and 2000 for other streams */
    static sluice_sctp_skip sk[6000];
    for (uint32_t i = 0; i < 4000; i++) sk[i] = (sluice_sctp_skip){5, true, i % 2000};
    for (uint32_t i = 0; i < 2000; i++) sk[4000 + i] = (sluice_sctp_skip){(uint16_t)(100 + i), false, 10};
    static uint8_t buf[8 + 6000 * 8];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    /* more than one chunk can carry: split in two */
    assert_int_equal(sluice_sctp_fwd_write(&w, true, 5000, sk, 4000), SLUICE_OK);
    sluice_sctp_fwd f;
    assert_int_equal(sluice_sctp_ifwd_parse(0, buf + 4, sluice_wr_len(&w) - 4, &f), SLUICE_OK);
    sluice_sctp_reasm_handle_forward_tsn(q, &f);
    assert_int_equal(sluice_sctp_reasm_buffered(q), 0);
    w = sluice_wr_make(buf, sizeof buf);
    assert_int_equal(sluice_sctp_fwd_write(&w, true, 5000, sk + 4000, 2000), SLUICE_OK);
    assert_int_equal(sluice_sctp_ifwd_parse(0, buf + 4, sluice_wr_len(&w) - 4, &f), SLUICE_OK);
    sluice_sctp_reasm_handle_forward_tsn(q, &f);
    sluice_sctp_data next = chunk(5001, 777, 11, true, true, 0, 4);
    next.idata = true;
    assert_int_equal(sluice_sctp_reasm_add(q, &next, false), SLUICE_OK);
    expect_msg(q, 777, 0, 4);
    uint16_t all[3] = {777, 5, 60000};
    sluice_sctp_reasm_reset_streams(q, all, 3);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_many_messages_waiting_for_a_lost_one_stay_linear(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 0, 0);
    /* SSN 0 lost; 30000 later ones queue up in order (appended at the tail), then it comes */
    for (uint32_t i = 1; i <= 30000; i++) {
        sluice_sctp_data d = chunk(i, 2, i, true, true, i % 1000, 2);
        assert_int_equal(sluice_sctp_reasm_add(q, &d, false), SLUICE_OK);
    }
    expect_none(q);
    sluice_sctp_data first = chunk(0, 2, 0, true, true, 0, 2);
    assert_int_equal(sluice_sctp_reasm_add(q, &first, true), SLUICE_OK);
    for (uint32_t i = 0; i <= 30000; i++) expect_msg(q, 2, i % 1000, 2);
    expect_none(q);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_ssn_wraps(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(false, 0, 0);
    for (uint32_t i = 0; i < 65538; i++) {
        sluice_sctp_data d = chunk(i, 1, i & 0xffff, true, true, i % 1000, 3);
        assert_int_equal(sluice_sctp_reasm_add(q, &d, false), SLUICE_OK);
        expect_msg(q, 1, i % 1000, 3);
    }
    sluice_sctp_reasm_free(q);
}

static void test_reasm_rejects_hostile_idata(void **state) {
    (void)state;
    sluice_sctp_reasm *q = mk(true, 0, 0);
    sluice_sctp_data d = chunk(1, 1, 0, false, false, 0, 10); /* middle fragment claiming FSN 0 */
    d.idata = true;
    assert_int_equal(sluice_sctp_reasm_add(q, &d, false), SLUICE_ERR_MALFORMED);
    sluice_sctp_data plain = chunk(2, 1, 0, true, true, 0, 10); /* DATA while I-DATA negotiated */
    assert_int_equal(sluice_sctp_reasm_add(q, &plain, false), SLUICE_ERR_MALFORMED);
    sluice_sctp_data x = chunk(3, 1, 5, false, false, 0, 10);
    x.idata = true;
    x.fsn = 4;
    sluice_sctp_data y = x;
    y.tsn = 4; /* same MID/FSN under another TSN */
    assert_int_equal(sluice_sctp_reasm_add(q, &x, false), SLUICE_OK);
    assert_int_equal(sluice_sctp_reasm_add(q, &y, false), SLUICE_OK); /* ignored */
    assert_int_equal(sluice_sctp_reasm_buffered(q), 10 + OV);
    sluice_sctp_reasm_free(q);
}

static void test_reasm_random_mix_of_streams_delivers_each_in_order(void **state) {
    (void)state;
    /* 4 streams x 20 ordered messages of random sizes, fragmented to 300 bytes, all chunks
     * shuffled: each stream must come out in SSN order with the right bytes. */
    sluice_prng p;
    sluice_prng_seed(&p, 99);
    sluice_sctp_reasm *q = mk(false, 0, 0);
    sluice_sctp_data all[2000];
    size_t n = 0;
    size_t sizes[4][20], offs[4][20];
    uint32_t tsn = 1;
    for (uint16_t s = 0; s < 4; s++)
        for (uint32_t m = 0; m < 20; m++) {
            size_t len = 1 + (size_t)(sluice_prng_next(&p) % 2000);
            size_t off = (size_t)(sluice_prng_next(&p) % 100000);
            sizes[s][m] = len;
            offs[s][m] = off;
            for (size_t o = 0; o < len; o += 300) {
                size_t l = SLUICE_MIN((size_t)300, len - o);
                all[n++] = chunk(tsn++, s, m, o == 0, o + l == len, off + o, l);
            }
        }
    uint32_t idx[2000];
    for (uint32_t i = 0; i < n; i++) idx[i] = i;
    shuffle(idx, n, &p);
    for (size_t i = 0; i < n; i++) assert_int_equal(sluice_sctp_reasm_add(q, &all[idx[i]], false), SLUICE_OK);
    uint32_t next[4] = {0};
    sluice_sctp_message m;
    int got = 0;
    while (sluice_sctp_reasm_poll(q, &m) == 1) {
        uint32_t k = next[m.stream]++;
        assert_int_equal(m.len, sizes[m.stream][k]);
        assert_memory_equal(m.data, pattern + offs[m.stream][k], m.len);
        sluice_mem_free(NULL, m.data);
        got++;
    }
    assert_int_equal(got, 80);
    sluice_sctp_reasm_free(q);
}

int main(void) {
    fill_pattern();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasm_ordered_waits_for_earlier_ssn),
        cmocka_unit_test(test_reasm_unordered_delivered_at_once),
        cmocka_unit_test(test_reasm_fragments_in_any_order_rebuild_the_message),
        cmocka_unit_test(test_reasm_unordered_fragments_of_two_messages_by_tsn),
        cmocka_unit_test(test_reasm_idata_interleaved_messages_on_one_stream),
        cmocka_unit_test(test_reasm_rejects_gigantic_fragmented_message),
        cmocka_unit_test(test_reasm_caps_held_bytes_but_force_admits_next_tsn),
        cmocka_unit_test(test_reasm_forward_tsn_drops_partial_and_skips_ssn),
        cmocka_unit_test(test_reasm_iforward_tsn_drops_unordered_partial_by_mid),
        cmocka_unit_test(test_reasm_stream_reset_restarts_ssn),
        cmocka_unit_test(test_reasm_ssn_wraps),
        cmocka_unit_test(test_reasm_many_messages_waiting_for_a_lost_one_stay_linear),
        cmocka_unit_test(test_reasm_iforward_with_thousands_of_skips),
        cmocka_unit_test(test_reasm_flood_of_tiny_messages_is_bounded_with_overhead),
        cmocka_unit_test(test_reasm_rejects_hostile_idata),
        cmocka_unit_test(test_reasm_random_mix_of_streams_delivers_each_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
