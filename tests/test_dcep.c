#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dcep.h"
#include "util.h"

/* DATA_CHANNEL_OPEN for label "chat", protocol "json", reliable ordered, priority 256,
 * laid out by hand from RFC 8832 §5.1. */
static const uint8_t k_open_chat[] = {
    0x03,                   /* message type: OPEN */
    0x00,                   /* channel type: reliable */
    0x01, 0x00,             /* priority 256 */
    0x00, 0x00, 0x00, 0x00, /* reliability */
    0x00, 0x04,             /* label length */
    0x00, 0x04,             /* protocol length */
    'c',  'h',  'a',  't',  'j', 's', 'o', 'n',
};

static void test_dcep_parses_open_from_rfc_layout(void **state) {
    (void)state;
    sluice_dcep_open o;
    assert_int_equal(sluice_dcep_parse_open(k_open_chat, sizeof k_open_chat, &o), SLUICE_OK);
    assert_int_equal(o.channel_type, SLUICE_DCEP_RELIABLE);
    assert_int_equal(o.priority, 256);
    assert_int_equal(o.reliability, 0);
    assert_int_equal(o.label_len, 4);
    assert_memory_equal(o.label, "chat", 4);
    assert_int_equal(o.protocol_len, 4);
    assert_memory_equal(o.protocol, "json", 4);
    /* Pointers are into the input, not copies. */
    assert_ptr_equal(o.label, (const char *)k_open_chat + 12);
    assert_ptr_equal(o.protocol, (const char *)k_open_chat + 16);
}

static void test_dcep_message_type(void **state) {
    (void)state;
    uint8_t b[1];
    assert_int_equal(sluice_dcep_message_type(k_open_chat, sizeof k_open_chat), SLUICE_DCEP_OPEN);
    b[0] = 0x02;
    assert_int_equal(sluice_dcep_message_type(b, 1), SLUICE_DCEP_ACK);
    for (int t = 0; t < 256; t++) {
        if (t == 2 || t == 3) continue;
        b[0] = (uint8_t)t;
        assert_int_equal(sluice_dcep_message_type(b, 1), SLUICE_ERR_MALFORMED);
    }
    assert_int_equal(sluice_dcep_message_type(b, 0), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_dcep_message_type(NULL, 0), SLUICE_ERR_MALFORMED);
}

static void test_dcep_all_six_channel_types_round_trip(void **state) {
    (void)state;
    static const uint8_t types[] = {
        SLUICE_DCEP_RELIABLE,
        SLUICE_DCEP_RELIABLE_UNORDERED,
        SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT,
        SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED,
        SLUICE_DCEP_PARTIAL_RELIABLE_TIMED,
        SLUICE_DCEP_PARTIAL_RELIABLE_TIMED_UNORDERED,
    };
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(types); i++) {
        sluice_dcep_open o = {0}, p;
        o.channel_type = types[i];
        o.priority = (uint16_t)(128u << (i % 4));
        o.reliability = 0xdeadbeefu - (uint32_t)i;
        o.label = "label-é"; /* UTF-8 passes through untouched */
        o.label_len = strlen(o.label);
        o.protocol = "proto";
        o.protocol_len = 5;
        uint8_t buf[64];
        int n = sluice_dcep_write_open(&o, buf, sizeof buf);
        assert_int_equal(n, (int)sluice_dcep_open_size(&o));
        assert_int_equal(n, 12 + 8 + 5);
        assert_int_equal(buf[0], SLUICE_DCEP_OPEN);
        assert_int_equal(buf[1], types[i]);
        assert_int_equal(sluice_dcep_parse_open(buf, (size_t)n, &p), SLUICE_OK);
        assert_int_equal(p.channel_type, types[i]);
        assert_int_equal(p.priority, o.priority);
        /* RFC 8832 §5.1: reliable channels carry 0, partial ones the limit. */
        bool reliable = (types[i] & 0x7f) == 0;
        assert_int_equal(p.reliability, reliable ? 0 : o.reliability);
        assert_int_equal(p.label_len, o.label_len);
        assert_memory_equal(p.label, o.label, o.label_len);
        assert_int_equal(p.protocol_len, 5);
        assert_memory_equal(p.protocol, "proto", 5);
        assert_true(sluice_dcep_channel_type_valid(types[i]));
        assert_int_equal(sluice_dcep_channel_type_ordered(types[i]), (types[i] & 0x80) == 0);
    }
}

static void test_dcep_rejects_unknown_channel_types(void **state) {
    (void)state;
    uint8_t buf[sizeof k_open_chat];
    int valid = 0;
    for (int t = 0; t < 256; t++) {
        memcpy(buf, k_open_chat, sizeof buf);
        buf[1] = (uint8_t)t;
        sluice_dcep_open o;
        int rc = sluice_dcep_parse_open(buf, sizeof buf, &o);
        if (sluice_dcep_channel_type_valid((uint8_t)t)) {
            assert_int_equal(rc, SLUICE_OK);
            valid++;
        } else {
            assert_int_equal(rc, SLUICE_ERR_MALFORMED);
        }
    }
    assert_int_equal(valid, 6);
}

static void test_dcep_truncated_open_is_malformed_at_every_length(void **state) {
    (void)state;
    for (size_t len = 0; len < sizeof k_open_chat; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        assert_non_null(copy);
        memcpy(copy, k_open_chat, len);
        sluice_dcep_open o;
        memset(&o, 0x77, sizeof o);
        assert_int_equal(sluice_dcep_parse_open(copy, len, &o), SLUICE_ERR_MALFORMED);
        assert_int_equal(o.channel_type, 0x77); /* untouched on error */
        free(copy);
    }
}

static void test_dcep_hostile_lengths_are_malformed(void **state) {
    (void)state;
    uint8_t buf[sizeof k_open_chat];
    sluice_dcep_open o;
    static const struct {
        uint16_t label_len, protocol_len;
    } cases[] = {{0xffff, 0}, {0, 0xffff}, {0xffff, 0xffff}, {9, 0}, {4, 5}, {0, 9}, {5, 4}, {0x8000, 0x8000}};
    for (size_t i = 0; i < SLUICE_ARRAY_LEN(cases); i++) {
        memcpy(buf, k_open_chat, sizeof buf);
        sluice_store_be16(buf + 8, cases[i].label_len);
        sluice_store_be16(buf + 10, cases[i].protocol_len);
        assert_int_equal(sluice_dcep_parse_open(buf, sizeof buf, &o), SLUICE_ERR_MALFORMED);
    }
    /* Lengths that fit, in any split, are fine. */
    for (uint16_t l = 0; l <= 8; l++) {
        memcpy(buf, k_open_chat, sizeof buf);
        sluice_store_be16(buf + 8, l);
        sluice_store_be16(buf + 10, (uint16_t)(8 - l));
        assert_int_equal(sluice_dcep_parse_open(buf, sizeof buf, &o), SLUICE_OK);
        assert_int_equal(o.label_len + o.protocol_len, 8);
        assert_ptr_equal(o.protocol, o.label + l);
    }
}

static void test_dcep_empty_label_and_protocol(void **state) {
    (void)state;
    uint8_t buf[12];
    sluice_dcep_open o = {0}, p;
    o.channel_type = SLUICE_DCEP_RELIABLE_UNORDERED;
    o.priority = SLUICE_DCEP_PRIORITY_LOW;
    assert_int_equal(sluice_dcep_write_open(&o, buf, sizeof buf), 12);
    assert_int_equal(sluice_dcep_parse_open(buf, sizeof buf, &p), SLUICE_OK);
    assert_int_equal(p.label_len, 0);
    assert_int_equal(p.protocol_len, 0);
    assert_non_null(p.label);
    assert_non_null(p.protocol);
    assert_int_equal(p.channel_type, SLUICE_DCEP_RELIABLE_UNORDERED);
}

static void test_dcep_trailing_bytes_are_ignored(void **state) {
    (void)state;
    uint8_t buf[sizeof k_open_chat + 3];
    memcpy(buf, k_open_chat, sizeof k_open_chat);
    memcpy(buf + sizeof k_open_chat, "xyz", 3);
    sluice_dcep_open o;
    assert_int_equal(sluice_dcep_parse_open(buf, sizeof buf, &o), SLUICE_OK);
    assert_int_equal(o.protocol_len, 4);
    assert_memory_equal(o.protocol, "json", 4);
}

static void test_dcep_parse_open_rejects_ack_and_null(void **state) {
    (void)state;
    uint8_t buf[sizeof k_open_chat];
    memcpy(buf, k_open_chat, sizeof buf);
    buf[0] = SLUICE_DCEP_ACK;
    sluice_dcep_open o;
    assert_int_equal(sluice_dcep_parse_open(buf, sizeof buf, &o), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_dcep_parse_open(k_open_chat, sizeof k_open_chat, NULL), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_dcep_parse_open(NULL, 12, &o), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_dcep_parse_open(NULL, 0, &o), SLUICE_ERR_MALFORMED);
}

static void test_dcep_write_open_checks_arguments_and_room(void **state) {
    (void)state;
    uint8_t buf[64];
    sluice_dcep_open o = {0};
    o.label = "chat";
    o.label_len = 4;
    o.protocol = "json";
    o.protocol_len = 4;
    o.priority = 256;
    /* The exact bytes of the hand-built message. */
    assert_int_equal(sluice_dcep_write_open(&o, buf, sizeof buf), (int)sizeof k_open_chat);
    assert_memory_equal(buf, k_open_chat, sizeof k_open_chat);
    /* One byte short: NOBUFS, nothing written. */
    memset(buf, 0xee, sizeof buf);
    assert_int_equal(sluice_dcep_write_open(&o, buf, sizeof k_open_chat - 1), SLUICE_ERR_NOBUFS);
    assert_int_equal(buf[0], 0xee);
    assert_int_equal(sluice_dcep_write_open(&o, NULL, 0), SLUICE_ERR_NOBUFS);
    sluice_dcep_open bad = o;
    bad.label_len = 65536;
    assert_int_equal(sluice_dcep_write_open(&bad, buf, sizeof buf), SLUICE_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.protocol_len = 70000;
    assert_int_equal(sluice_dcep_write_open(&bad, buf, sizeof buf), SLUICE_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.label = NULL;
    assert_int_equal(sluice_dcep_write_open(&bad, buf, sizeof buf), SLUICE_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.protocol = NULL;
    assert_int_equal(sluice_dcep_write_open(&bad, buf, sizeof buf), SLUICE_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.channel_type = 0x03;
    assert_int_equal(sluice_dcep_write_open(&bad, buf, sizeof buf), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_dcep_write_open(NULL, buf, sizeof buf), SLUICE_ERR_INVALID_ARGUMENT);
}

static void test_dcep_maximum_label_and_protocol(void **state) {
    (void)state;
    size_t cap = 12 + 65535 + 65535;
    uint8_t *buf = malloc(cap);
    char *text = malloc(65535);
    assert_non_null(buf);
    assert_non_null(text);
    memset(text, 'L', 65535);
    sluice_dcep_open o = {0}, p;
    o.channel_type = SLUICE_DCEP_PARTIAL_RELIABLE_TIMED;
    o.reliability = 3000;
    o.label = text;
    o.label_len = 65535;
    o.protocol = text;
    o.protocol_len = 65535;
    assert_int_equal(sluice_dcep_open_size(&o), cap);
    assert_int_equal(sluice_dcep_write_open(&o, buf, cap), (int)cap);
    assert_int_equal(sluice_dcep_parse_open(buf, cap, &p), SLUICE_OK);
    assert_int_equal(p.label_len, 65535);
    assert_int_equal(p.protocol_len, 65535);
    assert_int_equal(p.reliability, 3000);
    assert_int_equal(sluice_dcep_parse_open(buf, cap - 1, &p), SLUICE_ERR_MALFORMED);
    free(text);
    free(buf);
}

static void test_dcep_write_ack(void **state) {
    (void)state;
    uint8_t b[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(sluice_dcep_write_ack(b, 0), SLUICE_ERR_NOBUFS);
    assert_int_equal(b[0], 0xff);
    assert_int_equal(sluice_dcep_write_ack(NULL, 4), SLUICE_ERR_NOBUFS);
    assert_int_equal(sluice_dcep_write_ack(b, sizeof b), 1);
    assert_int_equal(b[0], 0x02);
    assert_int_equal(b[1], 0xff);
    assert_int_equal(sluice_dcep_message_type(b, 1), SLUICE_DCEP_ACK);
}

static void test_dcep_channel_type_from_options(void **state) {
    (void)state;
    assert_int_equal(sluice_dcep_channel_type(true, false, false), SLUICE_DCEP_RELIABLE);
    assert_int_equal(sluice_dcep_channel_type(false, false, false), SLUICE_DCEP_RELIABLE_UNORDERED);
    assert_int_equal(sluice_dcep_channel_type(true, true, false), SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT);
    assert_int_equal(sluice_dcep_channel_type(false, true, false), SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED);
    assert_int_equal(sluice_dcep_channel_type(true, false, true), SLUICE_DCEP_PARTIAL_RELIABLE_TIMED);
    assert_int_equal(sluice_dcep_channel_type(false, false, true), SLUICE_DCEP_PARTIAL_RELIABLE_TIMED_UNORDERED);
    assert_int_equal(sluice_dcep_channel_type(true, true, true), SLUICE_DCEP_PARTIAL_RELIABLE_REXMIT);
}

static void test_dcep_ppids_match_rfc8831(void **state) {
    (void)state;
    /* RFC 8831 §8 */
    assert_int_equal(SLUICE_PPID_DCEP, 50);
    assert_int_equal(SLUICE_PPID_STRING, 51);
    assert_int_equal(SLUICE_PPID_BINARY_PARTIAL, 52);
    assert_int_equal(SLUICE_PPID_BINARY, 53);
    assert_int_equal(SLUICE_PPID_STRING_PARTIAL, 54);
    assert_int_equal(SLUICE_PPID_STRING_EMPTY, 56);
    assert_int_equal(SLUICE_PPID_BINARY_EMPTY, 57);
}

/* Seeded random input: never a crash or an overread; a success always stays in bounds. */
static void test_dcep_random_input_never_escapes_bounds(void **state) {
    (void)state;
    sluice_prng prng;
    sluice_prng_seed(&prng, 8832);
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(sluice_prng_next(&prng) % 40);
        uint8_t *buf = malloc(len ? len : 1);
        assert_non_null(buf);
        sluice_prng_random_fn(&prng, buf, len);
        if (len && (i & 1)) buf[0] = SLUICE_DCEP_OPEN;
        if (len > 1 && (i & 2)) buf[1] = (uint8_t)(sluice_prng_next(&prng) % 3);
        if (len > 11 && (i & 4)) { /* small lengths so some parse */
            sluice_store_be16(buf + 8, (uint16_t)(sluice_prng_next(&prng) % 20));
            sluice_store_be16(buf + 10, (uint16_t)(sluice_prng_next(&prng) % 20));
        }
        sluice_dcep_open o;
        if (sluice_dcep_parse_open(buf, len, &o) == SLUICE_OK) {
            assert_true((const uint8_t *)o.label >= buf + 12);
            assert_true((const uint8_t *)o.protocol + o.protocol_len <= buf + len);
        }
        free(buf);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dcep_parses_open_from_rfc_layout),
        cmocka_unit_test(test_dcep_message_type),
        cmocka_unit_test(test_dcep_all_six_channel_types_round_trip),
        cmocka_unit_test(test_dcep_rejects_unknown_channel_types),
        cmocka_unit_test(test_dcep_truncated_open_is_malformed_at_every_length),
        cmocka_unit_test(test_dcep_hostile_lengths_are_malformed),
        cmocka_unit_test(test_dcep_empty_label_and_protocol),
        cmocka_unit_test(test_dcep_trailing_bytes_are_ignored),
        cmocka_unit_test(test_dcep_parse_open_rejects_ack_and_null),
        cmocka_unit_test(test_dcep_write_open_checks_arguments_and_room),
        cmocka_unit_test(test_dcep_maximum_label_and_protocol),
        cmocka_unit_test(test_dcep_write_ack),
        cmocka_unit_test(test_dcep_channel_type_from_options),
        cmocka_unit_test(test_dcep_ppids_match_rfc8831),
        cmocka_unit_test(test_dcep_random_input_never_escapes_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
