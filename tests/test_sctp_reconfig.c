#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sctp/reconfig.h"

/* A fake association around the unit: which streams are drained, what got reset. */
typedef struct fake {
    bool busy[16];
    uint16_t in_reset[64];
    size_t n_in;
    uint16_t out_done[64];
    uint32_t out_result[64];
    size_t n_out;
    uint16_t asked[64]; /* peer asked us to reset these outgoing streams */
    size_t n_asked;
} fake;

static bool f_drained(void *ctx, uint16_t s) { return !((fake *)ctx)->busy[s % 16]; }
static void f_in(void *ctx, const uint16_t *streams, size_t n) {
    fake *f = ctx;
    for (size_t i = 0; i < n; i++) f->in_reset[f->n_in++] = streams[i];
}
static void f_out(void *ctx, uint16_t s, uint32_t r) {
    fake *f = ctx;
    f->out_done[f->n_out] = s;
    f->out_result[f->n_out++] = r;
}
static void f_asked(void *ctx, const uint16_t *streams, size_t n) {
    fake *f = ctx;
    for (size_t i = 0; i < n; i++, f->n_asked++)
        if (f->n_asked < 64) f->asked[f->n_asked] = streams[i];
}

static void setup_rc(sluice_sctp_reconfig *rc, fake *f, uint32_t local_tsn, uint32_t peer_tsn) {
    memset(f, 0, sizeof *f);
    sluice_sctp_reconfig_ops ops = {f_drained, f_in, f_out, f, f_asked};
    sluice_sctp_reconfig_init(rc, NULL, &ops, local_tsn, peer_tsn, 100, 1000);
    sluice_sctp_reconfig_set_num_outbound(rc, 50);
}

/* Write what the unit wants to send; returns the value length. */
static size_t take(sluice_sctp_reconfig *rc, sluice_time now, uint8_t *buf, size_t cap, uint32_t last_tsn) {
    sluice_wr w = sluice_wr_make(buf, cap);
    int n = sluice_sctp_reconfig_write(rc, now, &w, last_tsn, 1000000);
    assert_true(n >= 0);
    return (size_t)n;
}

static void test_sctp_reconfig_request_waits_for_drained_stream(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    setup_rc(&rc, &f, 1000, 5000);
    f.busy[3] = true;
    const uint16_t s[2] = {3, 4};
    assert_int_equal(sluice_sctp_reconfig_request(&rc, s, 2), 0);
    assert_true(sluice_sctp_reconfig_is_resetting(&rc, 3));
    /* stream 4 is drained: it goes alone */
    uint8_t buf[256];
    size_t n = take(&rc, 0, buf, sizeof buf, 77);
    sluice_sctp_reconfig_iter it;
    sluice_sctp_reconfig_param p;
    sluice_sctp_reconfig_iter_init(&it, buf, n);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 1);
    assert_int_equal(p.type, SLUICE_SCTP_PARAM_OUT_SSN_RESET);
    assert_int_equal(p.req_seq, 1000);
    assert_int_equal(p.resp_seq, 4999);
    assert_int_equal(p.last_tsn, 77);
    assert_int_equal(p.n_streams, 1);
    assert_int_equal(sluice_sctp_reconfig_stream(&p, 0), 4);
    /* one request at a time (§5.1.1): stream 3 waits even once drained */
    f.busy[3] = false;
    assert_false(sluice_sctp_reconfig_wants_to_send(&rc));
    /* performed: callback, then the next request goes */
    uint8_t resp[16];
    sluice_wr w = sluice_wr_make(resp, sizeof resp);
    sluice_sctp_reconfig_write_response(&w, 1000, SLUICE_SCTP_RESULT_PERFORMED);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, resp, 12, 0), 1);
    assert_int_equal(f.n_out, 1);
    assert_int_equal(f.out_done[0], 4);
    assert_true(sluice_sctp_reconfig_wants_to_send(&rc));
    n = take(&rc, 0, buf, sizeof buf, 80);
    sluice_sctp_reconfig_iter_init(&it, buf, n);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 1);
    assert_int_equal(p.req_seq, 1001);
    assert_int_equal(sluice_sctp_reconfig_stream(&p, 0), 3);
    sluice_sctp_reconfig_clear(&rc);
}

static void test_sctp_reconfig_retransmits_same_request_on_timeout(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    setup_rc(&rc, &f, 10, 20);
    const uint16_t s[1] = {7};
    assert_int_equal(sluice_sctp_reconfig_request(&rc, s, 1), 0);
    uint8_t a[64], b[64];
    size_t na = take(&rc, 0, a, sizeof a, 50);
    assert_int_equal(sluice_sctp_reconfig_next_deadline(&rc), 1000000);
    assert_int_equal(sluice_sctp_reconfig_handle_timeout(&rc, 999999), 0);
    assert_int_equal(sluice_sctp_reconfig_handle_timeout(&rc, 1000000), 1);
    size_t nb = take(&rc, 1000000, b, sizeof b, 99 /* ignored: the original is repeated */);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    /* "in progress" keeps it in flight; its timer expiry is not an error */
    uint8_t resp[16];
    sluice_wr w = sluice_wr_make(resp, sizeof resp);
    sluice_sctp_reconfig_write_response(&w, 10, SLUICE_SCTP_RESULT_IN_PROGRESS);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, resp, 12, 0), 1);
    assert_int_equal(f.n_out, 0);
    assert_int_equal(sluice_sctp_reconfig_handle_timeout(&rc, 3000000), 0);
    assert_true(sluice_sctp_reconfig_wants_to_send(&rc));
    sluice_sctp_reconfig_clear(&rc);
}

static size_t peer_request(uint8_t *buf, uint32_t seq, uint32_t last_tsn, const uint16_t *s, size_t n) {
    sluice_wr w = sluice_wr_make(buf, 128);
    sluice_sctp_reconfig_write_out_reset(&w, seq, 0, last_tsn, s, n);
    return sluice_wr_len(&w);
}

static uint32_t only_response(sluice_sctp_reconfig *rc, uint32_t *seq) {
    uint8_t buf[64];
    size_t n = take(rc, 0, buf, sizeof buf, 0);
    sluice_sctp_reconfig_iter it;
    sluice_sctp_reconfig_param p;
    sluice_sctp_reconfig_iter_init(&it, buf, n);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 1);
    assert_int_equal(p.type, SLUICE_SCTP_PARAM_RECONFIG_RESPONSE);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p + 0) , 0);
    sluice_sctp_reconfig_iter_init(&it, buf, n);
    sluice_sctp_reconfig_next(&it, &p);
    if (seq) *seq = p.req_seq;
    return p.result;
}

static void test_sctp_reconfig_incoming_reset_performed_and_repeated(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    setup_rc(&rc, &f, 1, 500);
    uint8_t req[128];
    const uint16_t s[2] = {5, 9};
    size_t n = peer_request(req, 500, 1000, s, 2);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 1000), 0);
    assert_int_equal(f.n_in, 2);
    assert_int_equal(f.in_reset[1], 9);
    uint32_t seq;
    assert_int_equal(only_response(&rc, &seq), SLUICE_SCTP_RESULT_PERFORMED);
    assert_int_equal(seq, 500);
    /* the same request again (our response lost): same answer, no second reset */
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 1000), 0);
    assert_int_equal(f.n_in, 2);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_PERFORMED);
    /* a sequence number from nowhere */
    n = peer_request(req, 777, 1000, s, 2);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 1000), 0);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_ERROR_BAD_SEQ);
    sluice_sctp_reconfig_clear(&rc);
}

static void test_sctp_reconfig_incoming_reset_in_progress_until_data_arrived(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    setup_rc(&rc, &f, 1, 0xFFFFFFF0u);
    uint8_t req[128];
    const uint16_t s[1] = {2};
    /* last TSN 0x10 is past the wrap, our cum ack still behind it */
    size_t n = peer_request(req, 0xFFFFFFF0u, 0x10, s, 1);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0xFFFFFFFFu), 0);
    assert_int_equal(f.n_in, 0);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_IN_PROGRESS);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0x10), 0);
    assert_int_equal(f.n_in, 1);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_PERFORMED);
    sluice_sctp_reconfig_clear(&rc);
}

static void test_sctp_reconfig_denies_unknown_streams_and_other_requests(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    setup_rc(&rc, &f, 1, 40);
    uint8_t req[128];
    const uint16_t s[2] = {1, 100}; /* 100 >= num_inbound */
    size_t n = peer_request(req, 40, 0, s, 2);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0), 0);
    assert_int_equal(f.n_in, 0);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_DENIED);
    sluice_wr w = sluice_wr_make(req, sizeof req);
    sluice_sctp_reconfig_write_add_streams(&w, SLUICE_SCTP_PARAM_ADD_OUT_STREAMS, 41, 10);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, sluice_wr_len(&w), 0), 0);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_DENIED);
    /* malformed values do nothing */
    const uint8_t bad[] = {0, 13, 0, 3};
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, bad, sizeof bad, 0), SLUICE_ERR_MALFORMED);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, bad, 0, 0), SLUICE_ERR_MALFORMED);
    assert_false(sluice_sctp_reconfig_wants_to_send(&rc));
    /* a response to nothing is ignored */
    w = sluice_wr_make(req, sizeof req);
    sluice_sctp_reconfig_write_response(&w, 12345, SLUICE_SCTP_RESULT_PERFORMED);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, 12, 0), 0);
    assert_int_equal(f.n_out, 0);
    sluice_sctp_reconfig_clear(&rc);
}

/* RFC 6525 §5.2.3: the peer asks us to reset our outgoing streams. */
static size_t in_request(uint8_t *buf, size_t cap, uint32_t seq, const uint16_t *s, size_t n) {
    sluice_wr w = sluice_wr_make(buf, cap);
    sluice_sctp_reconfig_write_in_reset(&w, seq, s, n);
    return sluice_wr_len(&w);
}

static void test_sctp_reconfig_incoming_ssn_reset_request_is_performed_by_our_own_request(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    setup_rc(&rc, &f, 1000, 500);
    f.busy[4] = true; /* stream 4 still has data queued */
    uint8_t req[128], buf[256];
    const uint16_t s[2] = {3, 4};
    size_t n = in_request(req, sizeof req, 500, s, 2);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0), 0);
    /* the association was told, the streams are ours to reset now */
    assert_int_equal(f.n_asked, 2);
    assert_true(sluice_sctp_reconfig_is_resetting(&rc, 3));
    assert_true(sluice_sctp_reconfig_is_resetting(&rc, 4));
    /* no response: our Outgoing SSN Reset Request answers it, its Response Sequence Number
     * being the peer's request (stream 4 follows once drained) */
    size_t k = take(&rc, 0, buf, sizeof buf, 1234);
    sluice_sctp_reconfig_iter it;
    sluice_sctp_reconfig_param p;
    sluice_sctp_reconfig_iter_init(&it, buf, k);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 1);
    assert_int_equal(p.type, SLUICE_SCTP_PARAM_OUT_SSN_RESET);
    assert_int_equal(p.req_seq, 1000);
    assert_int_equal(p.resp_seq, 500);
    assert_int_equal(p.last_tsn, 1234);
    assert_int_equal(p.n_streams, 1);
    assert_int_equal(sluice_sctp_reconfig_stream(&p, 0), 3);
    assert_int_equal(sluice_sctp_reconfig_next(&it, &p), 0);
    /* the peer's retransmission of its request: answered "performed", nothing new */
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0), 0);
    assert_int_equal(f.n_asked, 2);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_PERFORMED);
    /* the peer performs ours: done, like a reset we asked for ourselves */
    sluice_wr w = sluice_wr_make(req, sizeof req);
    sluice_sctp_reconfig_write_response(&w, 1000, SLUICE_SCTP_RESULT_PERFORMED);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, sluice_wr_len(&w), 0), 1);
    assert_int_equal(f.n_out, 1);
    assert_int_equal(f.out_done[0], 3);
    sluice_sctp_reconfig_clear(&rc);
}

static void test_sctp_reconfig_incoming_ssn_reset_request_denied_for_unknown_or_all_streams(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    setup_rc(&rc, &f, 1, 70);
    uint8_t req[128];
    const uint16_t bad[2] = {1, 50}; /* 50 >= our 50 outgoing streams */
    size_t n = in_request(req, sizeof req, 70, bad, 2);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0), 0);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_DENIED);
    /* an empty list means every stream: every channel at once, denied */
    n = in_request(req, sizeof req, 71, NULL, 0);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0), 0);
    assert_int_equal(only_response(&rc, NULL), SLUICE_SCTP_RESULT_DENIED);
    assert_int_equal(f.n_asked, 0);
    assert_false(sluice_sctp_reconfig_is_resetting(&rc, 1));
    sluice_sctp_reconfig_clear(&rc);
}

static void test_sctp_reconfig_incoming_ssn_reset_request_for_thousands_of_streams(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    setup_rc(&rc, &f, 1, 9);
    sluice_sctp_reconfig_set_num_outbound(&rc, 65535);
    rc.max_pending = 65535;
    /* a RE-CONFIG chunk near its 64 KiB limit: 30000 streams, each listed twice */
    static uint16_t s[30000];
    static uint8_t req[8 + 2 * 30000];
    for (size_t i = 0; i < 30000; i++) s[i] = (uint16_t)(i % 15000);
    size_t n = in_request(req, sizeof req, 9, s, 30000);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0), 0);
    assert_int_equal(rc.n_pending, 15000);
    assert_int_equal(f.n_asked, 15000);
    /* the same streams again in a new request: nothing new */
    n = in_request(req, sizeof req, 10, s, 15000);
    assert_int_equal(sluice_sctp_reconfig_handle(&rc, 0, req, n, 0), 0);
    assert_int_equal(f.n_asked, 15000);
    assert_int_equal(rc.n_pending, 15000);
    sluice_sctp_reconfig_clear(&rc);
}

static void test_sctp_reconfig_request_bounded_and_deduplicated(void **state) {
    (void)state;
    sluice_sctp_reconfig rc;
    fake f;
    memset(&f, 0, sizeof f);
    sluice_sctp_reconfig_ops ops = {f_drained, f_in, f_out, &f, NULL};
    sluice_sctp_reconfig_init(&rc, NULL, &ops, 1, 1, 100, 3);
    const uint16_t s[4] = {1, 1, 2, 3};
    assert_int_equal(sluice_sctp_reconfig_request(&rc, s, 4), 0);
    assert_int_equal(rc.n_pending, 3);
    const uint16_t more[1] = {4};
    assert_int_equal(sluice_sctp_reconfig_request(&rc, more, 1), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(sluice_sctp_reconfig_request(&rc, s, 2), 0);
    uint8_t small[8];
    sluice_wr w = sluice_wr_make(small, sizeof small);
    assert_int_equal(sluice_sctp_reconfig_write(&rc, 0, &w, 0, 1000), SLUICE_ERR_NOBUFS);
    assert_int_equal(rc.n_pending, 3);
    sluice_sctp_reconfig_clear(&rc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sctp_reconfig_request_waits_for_drained_stream),
        cmocka_unit_test(test_sctp_reconfig_retransmits_same_request_on_timeout),
        cmocka_unit_test(test_sctp_reconfig_incoming_reset_performed_and_repeated),
        cmocka_unit_test(test_sctp_reconfig_incoming_reset_in_progress_until_data_arrived),
        cmocka_unit_test(test_sctp_reconfig_denies_unknown_streams_and_other_requests),
        cmocka_unit_test(test_sctp_reconfig_incoming_ssn_reset_request_is_performed_by_our_own_request),
        cmocka_unit_test(test_sctp_reconfig_incoming_ssn_reset_request_denied_for_unknown_or_all_streams),
        cmocka_unit_test(test_sctp_reconfig_incoming_ssn_reset_request_for_thousands_of_streams),
        cmocka_unit_test(test_sctp_reconfig_request_bounded_and_deduplicated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
