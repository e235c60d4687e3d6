#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crc.h"
#include "sctp/packet.h"

static size_t build_init(uint8_t *buf, size_t cap, const sluice_sctp_init *in, uint8_t type) {
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, cap, 5000, 5000, 0);
    size_t vl = sluice_sctp_init_size(in);
    uint8_t *v = sluice_sctp_pkt_chunk_begin(&p, type, 0, vl);
    assert_non_null(v);
    sluice_wr w = sluice_wr_make(v, vl);
    assert_int_equal(sluice_sctp_init_write(&w, in), 0);
    assert_int_equal(sluice_wr_len(&w), vl);
    return sluice_sctp_pkt_end(&p, false);
}

static void test_sctp_packet_crc_roundtrip_and_little_endian_storage(void **state) {
    (void)state;
    uint8_t buf[64];
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, sizeof buf, 5000, 5001, 0x01020304);
    assert_int_equal(sluice_sctp_pkt_chunk(&p, SLUICE_SCTP_CHUNK_COOKIE_ACK, 0, NULL, 0), 0);
    size_t n = sluice_sctp_pkt_end(&p, false);
    assert_int_equal(n, 16);
    assert_int_equal(sluice_sctp_packet_verify(buf, n, false), 0);
    /* Cross-check with a hand computation: CRC over the packet with the field zeroed,
     * stored least significant byte first (RFC 9260 App. A). */
    uint8_t copy[16];
    memcpy(copy, buf, 16);
    memset(copy + 8, 0, 4);
    uint32_t want = 0;
    want = sluice_crc32c(0, copy, 16);
    assert_int_equal(buf[8], (uint8_t)want);
    assert_int_equal(buf[11], (uint8_t)(want >> 24));
    buf[14] ^= 1;
    assert_int_equal(sluice_sctp_packet_verify(buf, n, false), SLUICE_ERR_INTEGRITY);
}

static void test_sctp_packet_zero_checksum_only_when_accepted(void **state) {
    (void)state;
    uint8_t buf[64];
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, sizeof buf, 5000, 5000, 7);
    assert_int_equal(sluice_sctp_pkt_chunk(&p, SLUICE_SCTP_CHUNK_COOKIE_ACK, 0, NULL, 0), 0);
    size_t n = sluice_sctp_pkt_end(&p, true);
    assert_int_equal(sluice_load_be32(buf + 8), 0);
    assert_int_equal(sluice_sctp_packet_verify(buf, n, false), SLUICE_ERR_INTEGRITY);
    assert_int_equal(sluice_sctp_packet_verify(buf, n, true), 0);
    /* A real CRC is still checked when zero checksum is accepted. */
    sluice_sctp_packet_seal(buf, n, false);
    assert_int_equal(sluice_sctp_packet_verify(buf, n, true), 0);
    buf[12] ^= 0x80;
    assert_int_equal(sluice_sctp_packet_verify(buf, n, true), SLUICE_ERR_INTEGRITY);
    assert_int_equal(sluice_sctp_packet_verify(buf, 11, true), SLUICE_ERR_MALFORMED);
}

static void test_sctp_packet_header_parse(void **state) {
    (void)state;
    uint8_t b[12] = {0x13, 0x88, 0x13, 0x89, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0};
    sluice_sctp_header h;
    assert_int_equal(sluice_sctp_header_parse(&h, b, 12), 0);
    assert_int_equal(h.src_port, 5000);
    assert_int_equal(h.dst_port, 5001);
    assert_int_equal(h.vtag, 0xdeadbeef);
    assert_int_equal(sluice_sctp_header_parse(&h, b, 11), SLUICE_ERR_MALFORMED);
}

static void test_sctp_packet_chunk_iteration_with_padding(void **state) {
    (void)state;
    uint8_t buf[128];
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, sizeof buf, 1, 2, 3);
    const uint8_t v5[5] = {1, 2, 3, 4, 5};
    assert_int_equal(sluice_sctp_pkt_chunk(&p, 0x99, 0xAB, v5, 5), 0);
    assert_int_equal(sluice_sctp_pkt_chunk(&p, SLUICE_SCTP_CHUNK_COOKIE_ACK, 0, NULL, 0), 0);
    size_t n = sluice_sctp_pkt_end(&p, false);
    assert_int_equal(n, 12 + 12 + 4);
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    sluice_sctp_chunk_iter_init(&it, buf, n);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), 1);
    assert_int_equal(c.type, 0x99);
    assert_int_equal(c.flags, 0xAB);
    assert_int_equal(c.length, 9);
    assert_int_equal(c.value_len, 5);
    assert_memory_equal(c.value, v5, 5);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), 1);
    assert_int_equal(c.type, SLUICE_SCTP_CHUNK_COOKIE_ACK);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), 0);
}

static void test_sctp_packet_rejects_chunks_with_bad_lengths(void **state) {
    (void)state;
    uint8_t buf[32] = {0};
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    /* length 3 < header */
    buf[12] = 1; buf[14] = 0; buf[15] = 3;
    sluice_sctp_chunk_iter_init(&it, buf, 20);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), SLUICE_ERR_MALFORMED);
    /* length past the end */
    buf[15] = 40;
    sluice_sctp_chunk_iter_init(&it, buf, 32);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), SLUICE_ERR_MALFORMED);
    /* 2 trailing bytes after a chunk */
    buf[15] = 4;
    sluice_sctp_chunk_iter_init(&it, buf, 18);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), 1);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), SLUICE_ERR_MALFORMED);
    /* last chunk without its padding is tolerated */
    buf[15] = 5;
    sluice_sctp_chunk_iter_init(&it, buf, 17);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), 1);
    assert_int_equal(c.value_len, 1);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), 0);
}

static void test_sctp_packet_writer_refuses_overflow(void **state) {
    (void)state;
    uint8_t buf[20];
    sluice_sctp_pkt p;
    sluice_sctp_pkt_begin(&p, buf, sizeof buf, 1, 2, 3);
    uint8_t v[8] = {0};
    assert_int_equal(sluice_sctp_pkt_chunk(&p, 0, 0, v, 5), SLUICE_ERR_NOBUFS);
    assert_int_equal(sluice_sctp_pkt_chunk(&p, 0, 0, v, 4), 0);
    assert_int_equal(sluice_sctp_pkt_room(&p), 0);
}

static void test_sctp_packet_init_roundtrip_webrtc_params(void **state) {
    (void)state;
    sluice_sctp_init in;
    memset(&in, 0, sizeof in);
    in.init_tag = 0x11223344;
    in.a_rwnd = 4 << 20;
    in.os = in.mis = 65535;
    in.initial_tsn = 0xfffffff0;
    in.feat.reconfig = in.feat.forward_tsn = in.feat.idata = in.feat.zero_checksum = true;
    uint8_t buf[256];
    size_t n = build_init(buf, sizeof buf, &in, SLUICE_SCTP_CHUNK_INIT);
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    sluice_sctp_chunk_iter_init(&it, buf, n);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), 1);
    sluice_sctp_init out;
    assert_int_equal(sluice_sctp_init_parse(&out, c.value, c.value_len), 0);
    assert_int_equal(out.init_tag, in.init_tag);
    assert_int_equal(out.a_rwnd, in.a_rwnd);
    assert_int_equal(out.os, 65535);
    assert_int_equal(out.mis, 65535);
    assert_int_equal(out.initial_tsn, in.initial_tsn);
    assert_true(out.feat.reconfig && out.feat.forward_tsn && out.feat.idata && out.feat.zero_checksum);
    assert_null(out.cookie);
    assert_int_equal(out.n_unrec, 0);

    /* Without the optional ones: no 0x8001 on the wire (old pion rejects it). */
    in.feat.zero_checksum = in.feat.idata = false;
    n = build_init(buf, sizeof buf, &in, SLUICE_SCTP_CHUNK_INIT);
    bool seen8001 = false;
    for (size_t i = 32; i + 1 < n; i += 4)
        if (sluice_load_be16(buf + i) == 0x8001) seen8001 = true;
    assert_false(seen8001);
}

static void test_sctp_packet_init_ack_carries_cookie_and_unrecognized(void **state) {
    (void)state;
    const uint8_t unk[] = {0xC1, 0x23, 0x00, 0x06, 0xAA, 0xBB};
    sluice_sctp_init in;
    memset(&in, 0, sizeof in);
    in.init_tag = 1;
    in.a_rwnd = 1000;
    in.os = 10;
    in.mis = 20;
    in.initial_tsn = 5;
    const uint8_t ck[7] = {1, 2, 3, 4, 5, 6, 7};
    in.cookie = ck;
    in.cookie_len = 7;
    in.n_unrec = 1;
    in.unrec[0] = unk;
    in.unrec_len[0] = sizeof unk;
    uint8_t buf[256];
    size_t n = build_init(buf, sizeof buf, &in, SLUICE_SCTP_CHUNK_INIT_ACK);
    sluice_sctp_chunk_iter it;
    sluice_sctp_chunk c;
    sluice_sctp_chunk_iter_init(&it, buf, n);
    assert_int_equal(sluice_sctp_chunk_next(&it, &c), 1);
    sluice_sctp_init out;
    assert_int_equal(sluice_sctp_init_parse(&out, c.value, c.value_len), 0);
    assert_int_equal(out.cookie_len, 7);
    assert_memory_equal(out.cookie, ck, 7);
    /* the Unrecognized Parameter (8) wrapper is known: nothing to report back */
    assert_int_equal(out.n_unrec, 0);
    /* find the wrapper and check it holds the original TLV */
    const uint8_t *v = c.value + 16;
    bool found = false;
    while (v + 4 <= c.value + c.value_len) {
        uint16_t t = sluice_load_be16(v), l = sluice_load_be16(v + 2);
        if (t == SLUICE_SCTP_PARAM_UNRECOGNIZED) {
            assert_memory_equal(v + 4, unk, sizeof unk);
            found = true;
        }
        v += sluice_sctp_pad4(l);
    }
    assert_true(found);
}

/* An INIT value with the given trailing parameter bytes. */
static size_t init_value_with(uint8_t *v, const uint8_t *params, size_t plen) {
    memset(v, 0, 16);
    sluice_store_be32(v, 99);
    sluice_store_be32(v + 4, 100000);
    sluice_store_be16(v + 8, 1);
    sluice_store_be16(v + 10, 1);
    memcpy(v + 16, params, plen);
    return 16 + plen;
}

static void test_sctp_packet_unknown_params_follow_upper_two_bits(void **state) {
    (void)state;
    uint8_t v[128];
    sluice_sctp_init out;
    /* 11: skip + report, then FORWARD-TSN-supported still parsed */
    const uint8_t p11[] = {0xC1, 0x00, 0x00, 0x05, 0x01, 0, 0, 0, 0xC0, 0x00, 0x00, 0x04};
    assert_int_equal(sluice_sctp_init_parse(&out, v, init_value_with(v, p11, sizeof p11)), 0);
    assert_int_equal(out.n_unrec, 1);
    assert_int_equal(out.unrec_len[0], 5);
    assert_true(out.feat.forward_tsn);
    /* 10: skip silently */
    const uint8_t p10[] = {0x81, 0x00, 0x00, 0x04, 0xC0, 0x00, 0x00, 0x04};
    assert_int_equal(sluice_sctp_init_parse(&out, v, init_value_with(v, p10, sizeof p10)), 0);
    assert_int_equal(out.n_unrec, 0);
    assert_true(out.feat.forward_tsn);
    /* 01: stop + report: the following parameter is not processed */
    const uint8_t p01[] = {0x41, 0x00, 0x00, 0x04, 0xC0, 0x00, 0x00, 0x04};
    assert_int_equal(sluice_sctp_init_parse(&out, v, init_value_with(v, p01, sizeof p01)), 0);
    assert_int_equal(out.n_unrec, 1);
    assert_false(out.feat.forward_tsn);
    /* 00: stop silently */
    const uint8_t p00[] = {0x01, 0x23, 0x00, 0x04, 0xC0, 0x00, 0x00, 0x04};
    assert_int_equal(sluice_sctp_init_parse(&out, v, init_value_with(v, p00, sizeof p00)), 0);
    assert_int_equal(out.n_unrec, 0);
    assert_false(out.feat.forward_tsn);
    /* zero checksum with another EDMID means nothing */
    const uint8_t pzc[] = {0x80, 0x01, 0x00, 0x08, 0, 0, 0, 2};
    assert_int_equal(sluice_sctp_init_parse(&out, v, init_value_with(v, pzc, sizeof pzc)), 0);
    assert_false(out.feat.zero_checksum);
}

static void test_sctp_packet_init_rejects_bad_values(void **state) {
    (void)state;
    uint8_t v[64];
    sluice_sctp_init out;
    const uint8_t none[1] = {0};
    size_t n = init_value_with(v, none, 0);
    assert_int_equal(sluice_sctp_init_parse(&out, v, n), 0);
    assert_int_equal(sluice_sctp_init_parse(&out, v, 15), SLUICE_ERR_MALFORMED);
    sluice_store_be32(v, 0); /* zero tag */
    assert_int_equal(sluice_sctp_init_parse(&out, v, n), SLUICE_ERR_MALFORMED);
    n = init_value_with(v, none, 0);
    sluice_store_be16(v + 8, 0); /* zero OS */
    assert_int_equal(sluice_sctp_init_parse(&out, v, n), SLUICE_ERR_MALFORMED);
    const uint8_t badlen[] = {0xC0, 0x00, 0x00, 0x02};
    assert_int_equal(sluice_sctp_init_parse(&out, v, init_value_with(v, badlen, sizeof badlen)), SLUICE_ERR_MALFORMED);
    const uint8_t toolong[] = {0x80, 0x08, 0x00, 0x20, 0x82};
    assert_int_equal(sluice_sctp_init_parse(&out, v, init_value_with(v, toolong, sizeof toolong)), SLUICE_ERR_MALFORMED);
    const uint8_t stub[] = {0x80, 0x08};
    assert_int_equal(sluice_sctp_init_parse(&out, v, init_value_with(v, stub, sizeof stub)), SLUICE_ERR_MALFORMED);
}

static void test_sctp_packet_causes_roundtrip_and_describe(void **state) {
    (void)state;
    uint8_t buf[64];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    sluice_sctp_cause_write(&w, SLUICE_SCTP_CAUSE_USER_ABORT, (const uint8_t *)"bye", 3);
    const uint8_t stale[4] = {0, 0, 1, 0};
    sluice_sctp_cause_write(&w, SLUICE_SCTP_CAUSE_STALE_COOKIE, stale, 4);
    assert_false(w.err);
    assert_int_equal(sluice_wr_len(&w), 8 + 8);
    sluice_sctp_cause_iter it;
    sluice_sctp_cause c;
    sluice_sctp_cause_iter_init(&it, buf, sluice_wr_len(&w));
    assert_int_equal(sluice_sctp_cause_next(&it, &c), 1);
    assert_int_equal(c.code, SLUICE_SCTP_CAUSE_USER_ABORT);
    assert_int_equal(c.info_len, 3);
    assert_int_equal(sluice_sctp_cause_next(&it, &c), 1);
    assert_int_equal(c.code, SLUICE_SCTP_CAUSE_STALE_COOKIE);
    assert_int_equal(sluice_sctp_cause_next(&it, &c), 0);
    char txt[64];
    sluice_sctp_cause_describe(buf, sluice_wr_len(&w), txt, sizeof txt);
    assert_string_equal(txt, "user abort: bye");
    sluice_sctp_cause_describe(buf + 8, 8, txt, sizeof txt);
    assert_string_equal(txt, "stale cookie (3)");
    sluice_sctp_cause_describe(buf, 0, txt, sizeof txt);
    assert_string_equal(txt, "no cause given");
    const uint8_t bad[] = {0, 1, 0, 9, 0};
    sluice_sctp_cause_iter_init(&it, bad, sizeof bad);
    assert_int_equal(sluice_sctp_cause_next(&it, &c), SLUICE_ERR_MALFORMED);
}

static void test_sctp_packet_reconfig_params_roundtrip(void **state) {
    (void)state;
    uint8_t buf[128];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    const uint16_t s3[3] = {1, 3, 5};
    sluice_sctp_reconfig_write_out_reset(&w, 10, 20, 30, s3, 3);
    sluice_sctp_reconfig_write_in_reset(&w, 11, s3, 1);
    sluice_sctp_reconfig_write_response(&w, 12, SLUICE_SCTP_RESULT_IN_PROGRESS);
    sluice_sctp_reconfig_write_add_streams(&w, SLUICE_SCTP_PARAM_ADD_OUT_STREAMS, 13, 7);
    assert_false(w.err);
    sluice_sctp_reconfig_iter it;
    sluice_sctp_reconfig_param p;
    sluice_sctp_reconfig_iter_init(&it, buf, sluice_wr_len(&w));
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 1);
    assert_int_equal(p.type, SLUICE_SCTP_PARAM_OUT_SSN_RESET);
    assert_int_equal(p.req_seq, 10);
    assert_int_equal(p.resp_seq, 20);
    assert_int_equal(p.last_tsn, 30);
    assert_int_equal(p.n_streams, 3);
    assert_int_equal(sluice_sctp_reconfig_stream(&p, 2), 5);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 1);
    assert_int_equal(p.type, SLUICE_SCTP_PARAM_IN_SSN_RESET);
    assert_int_equal(p.n_streams, 1);
    assert_int_equal(sluice_sctp_reconfig_stream(&p, 0), 1);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 1);
    assert_int_equal(p.type, SLUICE_SCTP_PARAM_RECONFIG_RESPONSE);
    assert_int_equal(p.req_seq, 12);
    assert_int_equal(p.result, SLUICE_SCTP_RESULT_IN_PROGRESS);
    assert_false(p.has_tsns);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 1);
    assert_int_equal(p.type, SLUICE_SCTP_PARAM_ADD_OUT_STREAMS);
    assert_int_equal(p.new_streams, 7);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 0);
}

static void test_sctp_packet_reconfig_rejects_odd_stream_list(void **state) {
    (void)state;
    uint8_t buf[32] = {0, 13, 0, 17};
    sluice_sctp_reconfig_iter it;
    sluice_sctp_reconfig_param p;
    sluice_sctp_reconfig_iter_init(&it, buf, 20);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), SLUICE_ERR_MALFORMED);
    const uint8_t shortresp[] = {0, 16, 0, 8, 0, 0, 0, 1};
    sluice_sctp_reconfig_iter_init(&it, shortresp, sizeof shortresp);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), SLUICE_ERR_MALFORMED);
}

static void test_sctp_packet_heartbeat_and_shutdown(void **state) {
    (void)state;
    const uint8_t hb[] = {0, 1, 0, 7, 9, 8, 7, 0};
    const uint8_t *info;
    size_t il;
    assert_int_equal(sluice_sctp_heartbeat_parse(hb, sizeof hb, &info, &il), 0);
    assert_int_equal(il, 3);
    assert_int_equal(info[0], 9);
    const uint8_t bad[] = {0, 2, 0, 4};
    assert_int_equal(sluice_sctp_heartbeat_parse(bad, sizeof bad, &info, &il), SLUICE_ERR_MALFORMED);
    uint32_t cum;
    const uint8_t sd[] = {0, 0, 1, 2};
    assert_int_equal(sluice_sctp_shutdown_parse(sd, 4, &cum), 0);
    assert_int_equal(cum, 258);
    assert_int_equal(sluice_sctp_shutdown_parse(sd, 3, &cum), SLUICE_ERR_MALFORMED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sctp_packet_crc_roundtrip_and_little_endian_storage),
        cmocka_unit_test(test_sctp_packet_zero_checksum_only_when_accepted),
        cmocka_unit_test(test_sctp_packet_header_parse),
        cmocka_unit_test(test_sctp_packet_chunk_iteration_with_padding),
        cmocka_unit_test(test_sctp_packet_rejects_chunks_with_bad_lengths),
        cmocka_unit_test(test_sctp_packet_writer_refuses_overflow),
        cmocka_unit_test(test_sctp_packet_init_roundtrip_webrtc_params),
        cmocka_unit_test(test_sctp_packet_init_ack_carries_cookie_and_unrecognized),
        cmocka_unit_test(test_sctp_packet_unknown_params_follow_upper_two_bits),
        cmocka_unit_test(test_sctp_packet_init_rejects_bad_values),
        cmocka_unit_test(test_sctp_packet_causes_roundtrip_and_describe),
        cmocka_unit_test(test_sctp_packet_reconfig_params_roundtrip),
        cmocka_unit_test(test_sctp_packet_reconfig_rejects_odd_stream_list),
        cmocka_unit_test(test_sctp_packet_heartbeat_and_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
