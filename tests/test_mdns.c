#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mdns.h"
#include "util.h"

static const char *NAME = "6a0d3e0c-8a7b-4c1e-9d2f-1b2c3d4e5f60.local";

static void test_mdns_local_name_validation(void **state) {
    (void)state;
    assert_true(sluice_mdns_is_local_name(NAME));
    assert_true(sluice_mdns_is_local_name("host.LOCAL"));
    assert_true(sluice_mdns_is_local_name("a.b.local."));
    assert_false(sluice_mdns_is_local_name(".local"));
    assert_false(sluice_mdns_is_local_name("local"));
    assert_false(sluice_mdns_is_local_name("example.com"));
    assert_false(sluice_mdns_is_local_name("a..local"));
    assert_false(sluice_mdns_is_local_name("bad name.local"));
    assert_false(sluice_mdns_is_local_name(NULL));
    char long_label[80];
    memset(long_label, 'x', 64);
    snprintf(long_label + 64, sizeof long_label - 64, ".local");
    assert_false(sluice_mdns_is_local_name(long_label));
}

static void test_mdns_query_has_rfc6762_one_shot_shape(void **state) {
    (void)state;
    uint8_t buf[512];
    int n = sluice_mdns_build_query("abc.local", true, true, true, 0, buf, sizeof buf);
    static const uint8_t want[] = {
        0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,           /* id 0, flags 0, 2 questions */
        3, 'a', 'b', 'c', 5, 'l', 'o', 'c', 'a', 'l', 0, /* abc.local */
        0, 1, 0x80, 1,                                /* A, IN with QU */
        0xC0, 12, 0, 28, 0x80, 1,                     /* pointer, AAAA, IN with QU */
    };
    assert_int_equal(n, (int)sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    char name[300];
    uint16_t qt;
    assert_int_equal(sluice_mdns_parse_query(buf, (size_t)n, name, sizeof name, &qt), SLUICE_OK);
    assert_string_equal(name, "abc.local");
    assert_int_equal(qt, SLUICE_MDNS_TYPE_A);
    /* AAAA only, no QU. */
    n = sluice_mdns_build_query(NAME, false, true, false, 0, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(sluice_mdns_parse_query(buf, (size_t)n, name, sizeof name, &qt), SLUICE_OK);
    assert_string_equal(name, NAME);
    assert_int_equal(qt, SLUICE_MDNS_TYPE_AAAA);
    assert_int_equal(sluice_load_be16(buf + (size_t)n - 2), 1);
    /* Errors. */
    assert_int_equal(sluice_mdns_build_query("example.com", true, false, false, 0, buf, sizeof buf),
                     SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_mdns_build_query(NAME, false, false, false, 0, buf, sizeof buf), SLUICE_ERR_INVALID_ARGUMENT);
    for (size_t cap = 0; cap < 20; cap++)
        assert_int_equal(sluice_mdns_build_query(NAME, true, true, false, 0, buf, cap), SLUICE_ERR_NOBUFS);
}

static void test_mdns_response_roundtrip_v4_and_v6(void **state) {
    (void)state;
    uint8_t buf[512];
    sluice_addr v4, v6, out[4];
    sluice_addr_parse(&v4, "192.168.1.20", 0);
    sluice_addr_parse(&v6, "fe80::1234", 0);
    int n = sluice_mdns_build_response(NAME, &v4, 120, buf, sizeof buf);
    assert_true(n > 0);
    uint32_t ttl = 0;
    assert_int_equal(sluice_mdns_parse_response(buf, (size_t)n, NAME, out, 4, &ttl), 1);
    assert_true(sluice_addr_equal(&out[0], &v4));
    assert_int_equal(ttl, 120);
    /* Case-insensitive owner name match. */
    assert_int_equal(sluice_mdns_parse_response(buf, (size_t)n, "6A0D3E0C-8A7B-4C1E-9D2F-1B2C3D4E5F60.LOCAL", out, 4, NULL), 1);
    /* Other names do not match. */
    assert_int_equal(sluice_mdns_parse_response(buf, (size_t)n, "other.local", out, 4, NULL), 0);
    n = sluice_mdns_build_response(NAME, &v6, 10, buf, sizeof buf);
    assert_int_equal(sluice_mdns_parse_response(buf, (size_t)n, NAME, out, 4, &ttl), 1);
    assert_true(sluice_addr_equal(&out[0], &v6));
    /* A query is not a response. */
    n = sluice_mdns_build_query(NAME, true, false, false, 0, buf, sizeof buf);
    assert_int_equal(sluice_mdns_parse_response(buf, (size_t)n, NAME, out, 4, NULL), 0);
}

/* A response as a real responder writes it: question echoed, answers with compression
 * pointers to it, a TXT record to skip, and the address in the additional section. */
static void test_mdns_response_with_compression_and_other_records(void **state) {
    (void)state;
    uint8_t m[] = {
        0, 0, 0x84, 0, 0, 1, 0, 2, 0, 0, 0, 1,
        4, 'h', 'o', 's', 't', 5, 'l', 'o', 'c', 'a', 'l', 0, 0, 1, 0, 1, /* question at 12 */
        0xC0, 12, 0, 16, 0x80, 1, 0, 0, 0, 60, 0, 3, 2, 'h', 'i',          /* TXT, skipped */
        0xC0, 12, 0, 1, 0x80, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 7,          /* A 10.0.0.7 */
        0xC0, 12, 0, 28, 0x80, 1, 0, 0, 0, 90, 0, 16,                     /* AAAA in additional */
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,
    };
    sluice_addr out[4];
    uint32_t ttl;
    assert_int_equal(sluice_mdns_parse_response(m, sizeof m, "host.local", out, 4, &ttl), 2);
    assert_int_equal(out[0].family, 4);
    assert_int_equal(out[0].ip[3], 7);
    assert_int_equal(out[1].family, 6);
    assert_int_equal(out[1].ip[15], 9);
    assert_int_equal(ttl, 30);
    /* Only `max` addresses are written. */
    assert_int_equal(sluice_mdns_parse_response(m, sizeof m, "host.local", out, 1, NULL), 1);
    /* Every truncation fails cleanly or finds fewer answers. */
    for (size_t cut = 0; cut < sizeof m; cut++) {
        int rc = sluice_mdns_parse_response(m, cut, "host.local", out, 4, NULL);
        assert_true(rc == SLUICE_ERR_MALFORMED || (rc >= 0 && rc < 2));
    }
}

static void test_mdns_rejects_pointer_loops_and_bad_labels(void **state) {
    (void)state;
    uint8_t loop[] = {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
    sluice_addr out[2];
    assert_int_equal(sluice_mdns_parse_response(loop, sizeof loop, "x.local", out, 2, NULL), SLUICE_ERR_MALFORMED);
    uint8_t far[] = {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 200, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
    assert_int_equal(sluice_mdns_parse_response(far, sizeof far, "x.local", out, 2, NULL), SLUICE_ERR_MALFORMED);
    uint8_t reserved[] = {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x41, 'a', 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
    assert_int_equal(sluice_mdns_parse_response(reserved, sizeof reserved, "x.local", out, 2, NULL), SLUICE_ERR_MALFORMED);
    /* An A record with a wrong RDLENGTH is skipped, not read. */
    uint8_t badlen[] = {0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 'x', 5, 'l', 'o', 'c', 'a', 'l', 0,
                        0, 1, 0, 1, 0, 0, 0, 1, 0, 3, 1, 2, 3};
    assert_int_equal(sluice_mdns_parse_response(badlen, sizeof badlen, "x.local", out, 2, NULL), 0);
    /* Non-zero RCODE: ignored. */
    uint8_t buf[256];
    sluice_addr v4;
    sluice_addr_parse(&v4, "10.1.2.3", 0);
    int n = sluice_mdns_build_response("x.local", &v4, 5, buf, sizeof buf);
    buf[3] |= 3;
    assert_int_equal(sluice_mdns_parse_response(buf, (size_t)n, "x.local", out, 2, NULL), 0);
    assert_int_equal(sluice_mdns_parse_response(buf, 5, "x.local", out, 2, NULL), SLUICE_ERR_MALFORMED);
}

/* Captured from Chromium 156's mDNS responder (interop/run_extra.py, network namespace):
 * our QM query (class IN, no QU bit: Chromium ignores QU questions) and its answer, sent by
 * multicast to 224.0.0.251:5353 although the query came from an ephemeral port (RFC 6762
 * §6.7 asks for unicast): cache-flush A record plus an NSEC in the additional section whose
 * next-domain name is a compression pointer. */
static const uint8_t CHROMIUM_QUERY[] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x61, 0x39, 0x30,
    0x63, 0x35, 0x37, 0x62, 0x30, 0x2d, 0x34, 0x30, 0x31, 0x32, 0x2d, 0x34, 0x30, 0x32, 0x30, 0x2d,
    0x39, 0x31, 0x32, 0x30, 0x2d, 0x31, 0x62, 0x37, 0x37, 0x36, 0x63, 0x64, 0x32, 0x61, 0x64, 0x38,
    0x37, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0x01, 0x00, 0x01,
};
static const uint8_t CHROMIUM_ANSWER[] = {
    0x00, 0x00, 0x84, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x24, 0x61, 0x39, 0x30,
    0x63, 0x35, 0x37, 0x62, 0x30, 0x2d, 0x34, 0x30, 0x31, 0x32, 0x2d, 0x34, 0x30, 0x32, 0x30, 0x2d,
    0x39, 0x31, 0x32, 0x30, 0x2d, 0x31, 0x62, 0x37, 0x37, 0x36, 0x63, 0x64, 0x32, 0x61, 0x64, 0x38,
    0x37, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0x01, 0x80, 0x01, 0x00, 0x00, 0x00, 0x78,
    0x00, 0x04, 0xc6, 0x12, 0x00, 0x01, 0x24, 0x61, 0x39, 0x30, 0x63, 0x35, 0x37, 0x62, 0x30, 0x2d,
    0x34, 0x30, 0x31, 0x32, 0x2d, 0x34, 0x30, 0x32, 0x30, 0x2d, 0x39, 0x31, 0x32, 0x30, 0x2d, 0x31,
    0x62, 0x37, 0x37, 0x36, 0x63, 0x64, 0x32, 0x61, 0x64, 0x38, 0x37, 0x05, 0x6c, 0x6f, 0x63, 0x61,
    0x6c, 0x00, 0x00, 0x2f, 0x80, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x05, 0xc0, 0x46, 0x00, 0x01,
    0x40,
};
#define CHROMIUM_NAME "a90c57b0-4012-4020-9120-1b776cd2ad87.local"

static void test_mdns_parses_chromium_answer_with_nsec(void **state) {
    (void)state;
    uint8_t q[300];
    int n = sluice_mdns_build_query(CHROMIUM_NAME, true, false, false, 0, q, sizeof q);
    assert_int_equal(n, (int)sizeof CHROMIUM_QUERY);
    assert_memory_equal(q, CHROMIUM_QUERY, sizeof CHROMIUM_QUERY);
    sluice_addr out[4];
    uint32_t ttl = 0;
    assert_int_equal(sluice_mdns_parse_response(CHROMIUM_ANSWER, sizeof CHROMIUM_ANSWER, CHROMIUM_NAME, out, 4, &ttl),
                     1);
    char text[64];
    sluice_addr_format(&out[0], text, sizeof text);
    assert_string_equal(text, "198.18.0.1:0");
    assert_int_equal(ttl, 120);
    /* Case-insensitive owner match; another name gets nothing. */
    assert_int_equal(sluice_mdns_parse_response(CHROMIUM_ANSWER, sizeof CHROMIUM_ANSWER,
                                                "A90C57B0-4012-4020-9120-1B776CD2AD87.LOCAL", out, 4, NULL), 1);
    assert_int_equal(sluice_mdns_parse_response(CHROMIUM_ANSWER, sizeof CHROMIUM_ANSWER, NAME, out, 4, NULL), 0);
    /* Every truncation is reported as malformed, never read past. */
    for (size_t len = 0; len < sizeof CHROMIUM_ANSWER; len++) {
        int rc = sluice_mdns_parse_response(CHROMIUM_ANSWER, len, CHROMIUM_NAME, out, 4, NULL);
        assert_int_equal(rc, SLUICE_ERR_MALFORMED);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mdns_local_name_validation),
        cmocka_unit_test(test_mdns_query_has_rfc6762_one_shot_shape),
        cmocka_unit_test(test_mdns_response_roundtrip_v4_and_v6),
        cmocka_unit_test(test_mdns_response_with_compression_and_other_records),
        cmocka_unit_test(test_mdns_rejects_pointer_loops_and_bad_labels),
        cmocka_unit_test(test_mdns_parses_chromium_answer_with_nsec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
