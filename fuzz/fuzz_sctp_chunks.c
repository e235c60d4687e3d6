/* Fuzz the SCTP data-path chunk codecs (parse, then write back and parse again: the same
 * fields must come out) and the units that consume them: DATA / I-DATA and (I-)FORWARD-TSN
 * into the receive tracker + reassembly, SACKs into the retransmission queue of a sender
 * with data outstanding.
 *
 * Input: byte 0 = options (bit 0: I-DATA), then chunks as on the wire (type, flags, 16-bit
 * length, value, padding). Chunk type 0xFF is a pseudo-chunk: advance the clock by its
 * flags * 10 ms, fire timers, and let the sender write a packet. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sctp/reasm.h"
#include "sctp/retx.h"
#include "sctp/rx.h"

#define CHECK(c) \
    do {         \
        if (!(c)) abort(); \
    } while (0)

static void check_data_roundtrip(const sluice_sctp_data *d) {
    uint8_t buf[65536 + 32];
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    if (sluice_sctp_data_write(&w, d) < 0) return; /* too long to re-encode with the header */
    sluice_sctp_data e;
    uint16_t len = sluice_load_be16(buf + 2);
    int rc = d->idata ? sluice_sctp_idata_parse(buf[1], buf + 4, len - 4u, &e)
                      : sluice_sctp_data_parse(buf[1], buf + 4, len - 4u, &e);
    CHECK(rc == SLUICE_OK);
    CHECK(e.tsn == d->tsn && e.stream == d->stream && e.mid == d->mid && e.ppid == d->ppid);
    CHECK(e.fsn == d->fsn && e.len == d->len && memcmp(e.payload, d->payload, d->len) == 0);
    CHECK(e.beginning == d->beginning && e.ending == d->ending && e.unordered == d->unordered);
}

static void check_sack_roundtrip(const sluice_sctp_sack *s) {
    static sluice_sctp_gap gaps[65535];
    static uint32_t dups[65535];
    static uint8_t buf[16 + 4 * 2 * 65535];
    for (size_t i = 0; i < s->num_gaps; i++) gaps[i] = sluice_sctp_sack_gap(s, i);
    for (size_t i = 0; i < s->num_dups; i++) dups[i] = sluice_sctp_sack_dup(s, i);
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    if (sluice_sctp_sack_write(&w, s->cum_tsn, s->a_rwnd, gaps, s->num_gaps, dups, s->num_dups) < 0) return;
    sluice_sctp_sack e;
    CHECK(sluice_sctp_sack_parse(buf[1], buf + 4, sluice_wr_len(&w) - 4, &e) == SLUICE_OK);
    CHECK(e.cum_tsn == s->cum_tsn && e.a_rwnd == s->a_rwnd && e.num_gaps == s->num_gaps && e.num_dups == s->num_dups);
    CHECK(memcmp(e.gaps_raw, s->gaps_raw, 4u * s->num_gaps) == 0);
    CHECK(memcmp(e.dups_raw, s->dups_raw, 4u * s->num_dups) == 0);
}

static void check_fwd_roundtrip(const sluice_sctp_fwd *f) {
    static sluice_sctp_skip skips[16384];
    static uint8_t buf[65536 + 16];
    size_t n = f->num_skips < 16384 ? f->num_skips : 16384;
    for (size_t i = 0; i < n; i++) skips[i] = sluice_sctp_fwd_skip(f, i);
    sluice_wr w = sluice_wr_make(buf, sizeof buf);
    if (sluice_sctp_fwd_write(&w, f->idata, f->new_cum_tsn, skips, n) < 0) return;
    sluice_sctp_fwd e;
    uint16_t len = sluice_load_be16(buf + 2);
    int rc = f->idata ? sluice_sctp_ifwd_parse(0, buf + 4, len - 4u, &e) : sluice_sctp_fwd_parse(0, buf + 4, len - 4u, &e);
    CHECK(rc == SLUICE_OK && e.new_cum_tsn == f->new_cum_tsn);
    if (f->idata) {
        CHECK(e.num_skips == n);
        for (size_t i = 0; i < n; i++) {
            sluice_sctp_skip a = sluice_sctp_fwd_skip(&e, i);
            CHECK(a.stream == skips[i].stream && a.mid == skips[i].mid && a.unordered == skips[i].unordered);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    bool idata = data[0] & 1;
    sluice_time now = 1000000;

    sluice_sctp_tx_settings ts;
    sluice_sctp_tx_settings_default(&ts);
    ts.idata = idata;
    sluice_sctp_tx *tx = NULL;
    sluice_sctp_retx *retx = NULL;
    sluice_sctp_rx *rx = NULL;
    sluice_sctp_reasm *q = NULL;
    sluice_sctp_retx_settings rs;
    sluice_sctp_retx_settings_default(&rs);
    rs.idata = idata;
    sluice_sctp_reasm_settings qs;
    sluice_sctp_reasm_settings_default(&qs);
    qs.idata = idata;
    qs.max_bytes = 256 * 1024;
    qs.max_message_size = 64 * 1024;
    if (sluice_sctp_tx_new(&tx, &ts, NULL) < 0 || sluice_sctp_retx_new(&retx, &rs, NULL, tx, 100, 1 << 20) < 0 ||
        sluice_sctp_rx_new(&rx, NULL, NULL, 100) < 0 || sluice_sctp_reasm_new(&q, &qs, NULL) < 0)
        abort();

    /* Something outstanding for SACKs to act on: 6 messages, some partially reliable. */
    static uint8_t payload[3000];
    for (int i = 0; i < 6; i++) {
        sluice_sctp_send_options o = {.unordered = i == 2, .has_max_retransmits = i >= 3, .max_retransmits = 1};
        (void)sluice_sctp_tx_push(tx, now, (uint16_t)(i % 3), 53, payload, 500 + 500u * (unsigned)i, &o);
    }
    uint8_t pkt[1200];
    for (int i = 0; i < 4; i++) {
        sluice_wr w = sluice_wr_make(pkt, 1179);
        (void)sluice_sctp_retx_write_data(retx, now, &w);
    }

    sluice_rd rd = sluice_rd_make(data + 1, size - 1);
    while (sluice_rd_left(&rd) >= 4) {
        uint8_t type = sluice_rd_u8(&rd), flags = sluice_rd_u8(&rd);
        uint16_t clen = sluice_rd_u16(&rd);
        size_t vlen = clen >= 4 ? clen - 4u : 0;
        if (vlen > sluice_rd_left(&rd)) vlen = sluice_rd_left(&rd);
        const uint8_t *v = sluice_rd_bytes(&rd, vlen);
        sluice_rd_skip(&rd, SLUICE_MIN((size_t)((4 - vlen % 4) % 4), sluice_rd_left(&rd)));
        if (type == 0xFF) {
            now += (sluice_time)flags * 10000u;
            (void)sluice_sctp_retx_handle_timeout(retx, now);
            sluice_sctp_rx_handle_timeout(rx, now);
            sluice_wr w = sluice_wr_make(pkt, 1179);
            if (sluice_sctp_retx_fwd_tsn_pending(retx)) (void)sluice_sctp_retx_write_fwd_tsn(retx, now, &w);
            (void)sluice_sctp_retx_write_data(retx, now, &w);
            if (sluice_sctp_rx_sack_due(rx)) {
                sluice_wr s = sluice_wr_make(pkt, sizeof pkt);
                CHECK(sluice_sctp_rx_write_sack(rx, now, &s, 1000) == SLUICE_OK);
            }
            continue;
        }
        if (type == SLUICE_SCTP_CHUNK_DATA || type == SLUICE_SCTP_CHUNK_IDATA) {
            sluice_sctp_data d;
            int rc = type == SLUICE_SCTP_CHUNK_DATA ? sluice_sctp_data_parse(flags, v, vlen, &d)
                                                    : sluice_sctp_idata_parse(flags, v, vlen, &d);
            if (rc < 0) continue;
            check_data_roundtrip(&d);
            int c = sluice_sctp_rx_check(rx, d.tsn);
            if (c == SLUICE_SCTP_RX_NEW || c == SLUICE_SCTP_RX_NEW_NEXT) {
                if (sluice_sctp_reasm_add(q, &d, c == SLUICE_SCTP_RX_NEW_NEXT) >= 0)
                    CHECK(sluice_sctp_rx_on_data(rx, now, d.tsn, d.immediate) == c);
            } else if (c == SLUICE_SCTP_RX_DUPLICATE) {
                (void)sluice_sctp_rx_on_data(rx, now, d.tsn, d.immediate);
            }
            sluice_sctp_rx_on_packet_end(rx, now);
        } else if (type == SLUICE_SCTP_CHUNK_SACK) {
            sluice_sctp_sack s;
            if (sluice_sctp_sack_parse(flags, v, vlen, &s) < 0) continue;
            check_sack_roundtrip(&s);
            (void)sluice_sctp_retx_handle_sack(retx, now, &s);
        } else if (type == SLUICE_SCTP_CHUNK_FORWARD_TSN || type == SLUICE_SCTP_CHUNK_IFORWARD_TSN) {
            sluice_sctp_fwd f;
            int rc = type == SLUICE_SCTP_CHUNK_FORWARD_TSN ? sluice_sctp_fwd_parse(flags, v, vlen, &f)
                                                           : sluice_sctp_ifwd_parse(flags, v, vlen, &f);
            if (rc < 0) continue;
            check_fwd_roundtrip(&f);
            if (sluice_sctp_rx_handle_forward_tsn(rx, now, f.new_cum_tsn) >= 0) sluice_sctp_reasm_handle_forward_tsn(q, &f);
        }
        sluice_sctp_message m;
        while (sluice_sctp_reasm_poll(q, &m) == 1) sluice_mem_free(NULL, m.data);
        CHECK(sluice_sctp_reasm_buffered(q) <= 2 * qs.max_bytes);
    }

    sluice_sctp_reasm_free(q);
    sluice_sctp_rx_free(rx);
    sluice_sctp_retx_free(retx);
    sluice_sctp_tx_free(tx);
    return 0;
}
