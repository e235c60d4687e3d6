#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sctp/cookie.h"

static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static sluice_sctp_cookie sample(void) {
    sluice_sctp_cookie c;
    memset(&c, 0, sizeof c);
    c.created = 1000000;
    c.lifetime_ms = 60000;
    c.local_tag = 0xA1A2A3A4;
    c.peer_tag = 0xB1B2B3B4;
    c.local_tsn = 7;
    c.peer_tsn = 0xFFFFFFFF;
    c.peer_rwnd = 131072;
    c.local_port = 5000;
    c.peer_port = 5001;
    c.peer_os = 1024;
    c.peer_mis = 65535;
    c.local_tie_tag = 5;
    c.peer_tie_tag = 6;
    c.peer_feat.reconfig = true;
    c.peer_feat.zero_checksum = true;
    return c;
}

static void test_sctp_cookie_roundtrip(void **state) {
    (void)state;
    sluice_sctp_cookie c = sample(), out;
    uint8_t buf[SLUICE_SCTP_COOKIE_LEN];
    assert_int_equal(sluice_sctp_cookie_write(key, &c, buf, sizeof buf), SLUICE_SCTP_COOKIE_LEN);
    assert_int_equal(sluice_sctp_cookie_read(key, buf, sizeof buf, 1000000 + 5000, &out, NULL), 0);
    assert_int_equal(out.local_tag, c.local_tag);
    assert_int_equal(out.peer_tag, c.peer_tag);
    assert_int_equal(out.peer_tsn, c.peer_tsn);
    assert_int_equal(out.peer_rwnd, c.peer_rwnd);
    assert_int_equal(out.peer_os, 1024);
    assert_int_equal(out.peer_port, 5001);
    assert_int_equal(out.local_tie_tag, 5);
    assert_int_equal(out.peer_tie_tag, 6);
    assert_true(out.peer_feat.reconfig);
    assert_false(out.peer_feat.forward_tsn);
    assert_true(out.peer_feat.zero_checksum);
}

static void test_sctp_cookie_rejects_any_flipped_bit(void **state) {
    (void)state;
    sluice_sctp_cookie c = sample(), out;
    uint8_t buf[SLUICE_SCTP_COOKIE_LEN];
    assert_int_equal(sluice_sctp_cookie_write(key, &c, buf, sizeof buf), SLUICE_SCTP_COOKIE_LEN);
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] ^= 0x10;
        assert_int_equal(sluice_sctp_cookie_read(key, buf, sizeof buf, 1000000, &out, NULL),
                         SLUICE_ERR_INTEGRITY);
        buf[i] ^= 0x10;
    }
}

static void test_sctp_cookie_rejects_other_secret_and_sizes(void **state) {
    (void)state;
    sluice_sctp_cookie c = sample(), out;
    uint8_t buf[SLUICE_SCTP_COOKIE_LEN + 1];
    assert_int_equal(sluice_sctp_cookie_write(key, &c, buf, sizeof buf), SLUICE_SCTP_COOKIE_LEN);
    uint8_t other[32] = {9};
    assert_int_equal(sluice_sctp_cookie_read(other, buf, SLUICE_SCTP_COOKIE_LEN, 1000000, &out, NULL),
                     SLUICE_ERR_INTEGRITY);
    assert_int_equal(sluice_sctp_cookie_read(key, buf, SLUICE_SCTP_COOKIE_LEN - 1, 1000000, &out, NULL),
                     SLUICE_ERR_INTEGRITY);
    assert_int_equal(sluice_sctp_cookie_read(key, buf, SLUICE_SCTP_COOKIE_LEN + 1, 1000000, &out, NULL),
                     SLUICE_ERR_INTEGRITY);
    assert_int_equal(sluice_sctp_cookie_read(key, NULL, 0, 1000000, &out, NULL), SLUICE_ERR_INTEGRITY);
    assert_int_equal(sluice_sctp_cookie_write(key, &c, buf, SLUICE_SCTP_COOKIE_LEN - 1), SLUICE_ERR_NOBUFS);
}

static void test_sctp_cookie_expires_and_reports_staleness(void **state) {
    (void)state;
    sluice_sctp_cookie c = sample(), out;
    uint8_t buf[SLUICE_SCTP_COOKIE_LEN];
    assert_int_equal(sluice_sctp_cookie_write(key, &c, buf, sizeof buf), SLUICE_SCTP_COOKIE_LEN);
    uint64_t stale = 1;
    sluice_time end = 1000000 + 60000ull * 1000;
    assert_int_equal(sluice_sctp_cookie_read(key, buf, sizeof buf, end, &out, &stale), 0);
    assert_int_equal(stale, 0);
    assert_int_equal(sluice_sctp_cookie_read(key, buf, sizeof buf, end + 2500, &out, &stale),
                     SLUICE_ERR_TIMEOUT);
    assert_int_equal(stale, 2500);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sctp_cookie_roundtrip),
        cmocka_unit_test(test_sctp_cookie_rejects_any_flipped_bit),
        cmocka_unit_test(test_sctp_cookie_rejects_other_secret_and_sizes),
        cmocka_unit_test(test_sctp_cookie_expires_and_reports_staleness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
