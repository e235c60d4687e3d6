#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sctp/tx.h"

static sluice_sctp_tx *mk(size_t max_buffer, bool idata) {
    sluice_sctp_tx_settings s;
    sluice_sctp_tx_settings_default(&s);
    if (max_buffer) s.max_buffer = max_buffer;
    s.idata = idata;
    sluice_sctp_tx *tx = NULL;
    assert_int_equal(sluice_sctp_tx_new(&tx, &s, NULL), SLUICE_OK);
    return tx;
}

static void push(sluice_sctp_tx *tx, uint16_t stream, size_t len, const sluice_sctp_send_options *o) {
    uint8_t buf[4096];
    for (size_t i = 0; i < len && i < sizeof buf; i++) buf[i] = (uint8_t)(i + stream);
    assert_true(len <= sizeof buf);
    assert_int_equal(sluice_sctp_tx_push(tx, 0, stream, 53, buf, len, o), SLUICE_OK);
}

static void test_tx_fragments_message_to_max_payload(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    push(tx, 1, 2500, NULL);
    assert_int_equal(sluice_sctp_tx_buffered_amount(tx, 1), 2500);
    sluice_sctp_tx_chunk c[3];
    for (int i = 0; i < 3; i++) assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c[i]), 1);
    sluice_sctp_tx_chunk none;
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &none), 0);
    assert_true(c[0].beginning && !c[0].ending);
    assert_true(!c[1].beginning && !c[1].ending);
    assert_true(!c[2].beginning && c[2].ending);
    assert_int_equal(c[1].offset, 1000);
    assert_int_equal(c[2].len, 500);
    assert_ptr_equal(c[0].msg, c[2].msg);
    assert_int_equal(c[0].msg->data[1001], (uint8_t)(1001 + 1));
    assert_int_equal(sluice_sctp_tx_buffered_amount(tx, 1), 0);
    assert_false(sluice_sctp_tx_has_data(tx));
    sluice_sctp_tx_free(tx);
    /* chunks keep the message alive after the queue is gone */
    assert_int_equal(c[2].msg->data[2499], (uint8_t)(2499 + 1));
    for (int i = 0; i < 3; i++) sluice_sctp_msg_unref(NULL, c[i].msg);
}

static void test_tx_small_message_is_not_split_when_it_fits_a_fresh_packet(void **state) {
    (void)state;
    sluice_sctp_tx_settings s;
    sluice_sctp_tx_settings_default(&s);
    s.fresh_packet_payload = 1128;
    sluice_sctp_tx *tx = NULL;
    assert_int_equal(sluice_sctp_tx_new(&tx, &s, NULL), SLUICE_OK);
    push(tx, 1, 100, NULL);
    push(tx, 1, 3000, NULL);
    sluice_sctp_tx_chunk c;
    /* Only 60 bytes left in the current packet: the 100-byte message waits for the next. */
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 60, &c), 0);
    assert_int_equal(sluice_sctp_tx_buffered_amount(tx, 1), 3100);
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1128, &c), 1);
    assert_true(c.beginning && c.ending);
    assert_int_equal(c.len, 100);
    sluice_sctp_msg_unref(NULL, c.msg);
    /* A message larger than a fresh packet is still split wherever room is left. */
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 60, &c), 1);
    assert_true(c.beginning && !c.ending);
    assert_int_equal(c.len, 60);
    sluice_sctp_msg_unref(NULL, c.msg);
    sluice_sctp_tx_free(tx);
}

static void test_tx_round_robin_across_streams_per_message_with_data(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    push(tx, 5, 1500, NULL);
    push(tx, 5, 10, NULL);
    push(tx, 2, 10, NULL);
    push(tx, 9, 10, NULL);
    uint16_t order[8];
    int n = 0;
    sluice_sctp_tx_chunk c;
    while (sluice_sctp_tx_produce(tx, 0, 1000, &c) == 1) {
        order[n++] = c.msg->stream;
        sluice_sctp_msg_unref(NULL, c.msg);
    }
    /* streams take turns in the order they became busy: 5's first message in both fragments
     * (no interleaving without I-DATA), then 2, then 9, then 5 again */
    uint16_t want[] = {5, 5, 2, 9, 5};
    assert_int_equal(n, 5);
    assert_memory_equal(order, want, sizeof want);
    sluice_sctp_tx_free(tx);
}

static void test_tx_idata_interleaves_fragments_across_streams(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, true);
    push(tx, 1, 3000, NULL);
    push(tx, 2, 3000, NULL);
    uint16_t order[8];
    uint32_t fsn[8];
    int n = 0;
    sluice_sctp_tx_chunk c;
    while (sluice_sctp_tx_produce(tx, 0, 1000, &c) == 1) {
        order[n] = c.msg->stream;
        fsn[n++] = c.fsn;
        sluice_sctp_msg_unref(NULL, c.msg);
    }
    uint16_t want[] = {1, 2, 1, 2, 1, 2};
    assert_int_equal(n, 6);
    assert_memory_equal(order, want, sizeof want);
    assert_int_equal(fsn[0], 0);
    assert_int_equal(fsn[4], 2);
    sluice_sctp_tx_free(tx);
}

static void test_tx_assigns_ssn_per_stream_and_unordered_gets_none(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    sluice_sctp_send_options un = {.unordered = true};
    push(tx, 3, 10, NULL);
    push(tx, 3, 10, &un);
    push(tx, 3, 10, NULL);
    sluice_sctp_tx_chunk c[3];
    for (int i = 0; i < 3; i++) assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c[i]), 1);
    assert_int_equal(c[0].msg->mid, 0);
    assert_true(c[1].msg->unordered);
    assert_int_equal(c[2].msg->mid, 1);
    for (int i = 0; i < 3; i++) sluice_sctp_msg_unref(NULL, c[i].msg);
    sluice_sctp_tx_free(tx);
}

static void test_tx_idata_unordered_has_own_mid_sequence(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, true);
    sluice_sctp_send_options un = {.unordered = true};
    push(tx, 3, 10, NULL);
    push(tx, 3, 10, &un);
    push(tx, 3, 10, &un);
    push(tx, 3, 10, NULL);
    uint32_t mids[4];
    sluice_sctp_tx_chunk c;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1);
        mids[i] = c.msg->mid;
        sluice_sctp_msg_unref(NULL, c.msg);
    }
    assert_int_equal(mids[0], 0);
    assert_int_equal(mids[1], 0);
    assert_int_equal(mids[2], 1);
    assert_int_equal(mids[3], 1);
    sluice_sctp_tx_free(tx);
}

static void test_tx_refuses_push_beyond_buffer_cap(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(1000, false);
    uint8_t b[1001] = {0};
    /* Larger than the whole buffer: can never fit, so not back-pressure. */
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 1, 51, b, 1001, NULL), SLUICE_ERR_TOO_LARGE);
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 1, 51, b, 600, NULL), SLUICE_OK);
    /* each queued message also counts its header (so tiny messages stay bounded in memory) */
    size_t ovh = sizeof(sluice_sctp_msg) + 16;
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 2, 51, b, 401 - ovh, NULL), SLUICE_ERR_BUFFER_FULL);
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 2, 51, b, 400 - ovh, NULL), SLUICE_OK);
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 2, 51, b, 0, NULL), SLUICE_ERR_INVALID_ARGUMENT);
    assert_int_equal(sluice_sctp_tx_total_buffered(tx), 1000 - ovh);
    sluice_sctp_tx_chunk c;
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1200, &c), 1);
    sluice_sctp_msg_unref(NULL, c.msg);
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 2, 51, b, 600, NULL), SLUICE_OK);
    sluice_sctp_tx_free(tx);
}

static void test_tx_drops_expired_unsent_messages_without_ssn(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    sluice_sctp_send_options ttl = {.has_lifetime = true, .lifetime_ms = 100};
    uint8_t b[10] = {0};
    assert_int_equal(sluice_sctp_tx_push(tx, 1000, 4, 51, b, 10, &ttl), SLUICE_OK);
    assert_int_equal(sluice_sctp_tx_push(tx, 1000, 4, 51, b, 10, NULL), SLUICE_OK);
    assert_true(sluice_sctp_tx_next_expiry(tx) == 1000 + 100001);
    sluice_sctp_tx_chunk c;
    assert_int_equal(sluice_sctp_tx_produce(tx, 1000 + 100001, 1000, &c), 1);
    assert_int_equal(c.msg->mid, 0); /* the expired one took no SSN */
    assert_false(c.msg->expires != SLUICE_TIME_NEVER);
    sluice_sctp_msg_unref(NULL, c.msg);
    sluice_sctp_tx_stats st;
    sluice_sctp_tx_get_stats(tx, &st);
    assert_int_equal(st.messages_abandoned_unsent, 1);
    assert_true(sluice_sctp_tx_next_expiry(tx) == SLUICE_TIME_NEVER);
    sluice_sctp_tx_free(tx);
}

static void test_tx_lifetime_zero_still_sends_once_when_sent_at_once(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    sluice_sctp_send_options ttl = {.has_lifetime = true, .lifetime_ms = 0};
    uint8_t b[10] = {0};
    assert_int_equal(sluice_sctp_tx_push(tx, 500, 4, 51, b, 10, &ttl), SLUICE_OK);
    assert_int_equal(sluice_sctp_tx_push(tx, 500, 4, 51, b, 10, &ttl), SLUICE_OK);
    sluice_sctp_tx_chunk c;
    assert_int_equal(sluice_sctp_tx_produce(tx, 500, 1000, &c), 1);
    sluice_sctp_msg_unref(NULL, c.msg);
    assert_int_equal(sluice_sctp_tx_produce(tx, 501, 1000, &c), 0); /* the second waited: gone */
    sluice_sctp_tx_free(tx);
}

static void test_tx_expire_removes_queued_messages_mid_queue(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    sluice_sctp_send_options ttl = {.has_lifetime = true, .lifetime_ms = 1};
    uint8_t b[10] = {0};
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 4, 51, b, 10, NULL), SLUICE_OK);
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 4, 51, b, 7, &ttl), SLUICE_OK);
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 4, 51, b, 5, NULL), SLUICE_OK);
    sluice_sctp_tx_expire(tx, 5000);
    assert_int_equal(sluice_sctp_tx_buffered_amount(tx, 4), 15);
    sluice_sctp_tx_chunk c;
    int n = 0;
    while (sluice_sctp_tx_produce(tx, 5000, 100, &c) == 1) {
        assert_int_equal(c.msg->mid, (uint32_t)n);
        n++;
        sluice_sctp_msg_unref(NULL, c.msg);
    }
    assert_int_equal(n, 2);
    sluice_sctp_tx_free(tx);
}

static void test_tx_abandoned_message_rest_is_dropped(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    push(tx, 1, 3000, NULL);
    push(tx, 1, 100, NULL);
    sluice_sctp_tx_chunk c;
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1);
    c.msg->abandoned = true; /* as retx would do (PR-SCTP) */
    sluice_sctp_msg_unref(NULL, c.msg);
    sluice_sctp_tx_expire(tx, 0);
    assert_int_equal(sluice_sctp_tx_buffered_amount(tx, 1), 100);
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1);
    assert_int_equal(c.len, 100);
    assert_int_equal(c.msg->mid, 1);
    sluice_sctp_msg_unref(NULL, c.msg);
    sluice_sctp_tx_free(tx);
}

static void test_tx_buffered_low_fires_once_when_crossing(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    assert_int_equal(sluice_sctp_tx_set_buffered_low_threshold(tx, 7, 1500), SLUICE_OK);
    push(tx, 7, 2000, NULL);
    push(tx, 7, 1000, NULL);
    uint16_t s;
    sluice_sctp_tx_chunk c;
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1); /* 2000 left */
    sluice_sctp_msg_unref(NULL, c.msg);
    assert_int_equal(sluice_sctp_tx_poll_buffered_low(tx, &s), 0);
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1); /* 1000 left: crossed */
    sluice_sctp_msg_unref(NULL, c.msg);
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 500, &c), 1);  /* 500 left: no new event */
    sluice_sctp_msg_unref(NULL, c.msg);
    assert_int_equal(sluice_sctp_tx_poll_buffered_low(tx, &s), 1);
    assert_int_equal(s, 7);
    assert_int_equal(sluice_sctp_tx_poll_buffered_low(tx, &s), 0);
    sluice_sctp_tx_free(tx);
}

static void test_tx_closed_stream_refuses_then_reset_restarts_ssn(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    push(tx, 2, 10, NULL);
    sluice_sctp_tx_close_stream(tx, 2);
    uint8_t b[4] = {0};
    assert_int_equal(sluice_sctp_tx_push(tx, 0, 2, 51, b, 4, NULL), SLUICE_ERR_CLOSED);
    assert_false(sluice_sctp_tx_stream_drained(tx, 2));
    sluice_sctp_tx_chunk c;
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1);
    assert_int_equal(c.msg->mid, 0);
    sluice_sctp_msg_unref(NULL, c.msg);
    assert_true(sluice_sctp_tx_stream_drained(tx, 2));
    sluice_sctp_tx_reset_stream(tx, 2);
    push(tx, 2, 10, NULL);
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1);
    assert_int_equal(c.msg->mid, 0);
    sluice_sctp_msg_unref(NULL, c.msg);
    sluice_sctp_tx_free(tx);
}

static void test_tx_ssn_wraps_at_16_bits(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, false);
    sluice_sctp_tx_chunk c;
    uint8_t b[1] = {0};
    for (uint32_t i = 0; i < 65537; i++) {
        assert_int_equal(sluice_sctp_tx_push(tx, 0, 1, 51, b, 1, NULL), SLUICE_OK);
        assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1);
        assert_int_equal(c.msg->mid, i & 0xffff);
        sluice_sctp_msg_unref(NULL, c.msg);
    }
    sluice_sctp_tx_free(tx);
}

static void test_tx_many_idle_streams_do_not_slow_or_starve_busy_ones(void **state) {
    (void)state;
    sluice_sctp_tx *tx = mk(0, true);
    for (uint16_t s = 0; s < 2000; s++) assert_int_equal(sluice_sctp_tx_set_buffered_low_threshold(tx, s, 10), SLUICE_OK);
    push(tx, 1999, 100, NULL);
    push(tx, 3, 100, NULL);
    push(tx, 1999, 100, NULL);
    sluice_sctp_tx_chunk c;
    uint16_t order[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1);
        order[i] = c.msg->stream;
        sluice_sctp_msg_unref(NULL, c.msg);
    }
    assert_int_equal(order[0], 1999);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 1999);
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 0);
    /* a stream that empties and refills rejoins the rotation */
    push(tx, 3, 10, NULL);
    assert_int_equal(sluice_sctp_tx_produce(tx, 0, 1000, &c), 1);
    assert_int_equal(c.msg->stream, 3);
    sluice_sctp_msg_unref(NULL, c.msg);
    sluice_sctp_tx_free(tx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_fragments_message_to_max_payload),
        cmocka_unit_test(test_tx_small_message_is_not_split_when_it_fits_a_fresh_packet),
        cmocka_unit_test(test_tx_round_robin_across_streams_per_message_with_data),
        cmocka_unit_test(test_tx_idata_interleaves_fragments_across_streams),
        cmocka_unit_test(test_tx_assigns_ssn_per_stream_and_unordered_gets_none),
        cmocka_unit_test(test_tx_idata_unordered_has_own_mid_sequence),
        cmocka_unit_test(test_tx_refuses_push_beyond_buffer_cap),
        cmocka_unit_test(test_tx_drops_expired_unsent_messages_without_ssn),
        cmocka_unit_test(test_tx_expire_removes_queued_messages_mid_queue),
        cmocka_unit_test(test_tx_lifetime_zero_still_sends_once_when_sent_at_once),
        cmocka_unit_test(test_tx_abandoned_message_rest_is_dropped),
        cmocka_unit_test(test_tx_buffered_low_fires_once_when_crossing),
        cmocka_unit_test(test_tx_closed_stream_refuses_then_reset_restarts_ssn),
        cmocka_unit_test(test_tx_ssn_wraps_at_16_bits),
        cmocka_unit_test(test_tx_many_idle_streams_do_not_slow_or_starve_busy_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
