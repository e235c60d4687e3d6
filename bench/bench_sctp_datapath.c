/* CPU cost of the SCTP data-path units alone (no association, no DTLS, no sockets): a
 * sender (tx + retx) and a receiver (rx + reasm) exchange packets in memory on a perfect
 * link, SACKs as the receiver's delayed-ack rule dictates. Reports MB/s and messages/s of
 * user payload for a few message sizes and both DATA and I-DATA.
 *
 * Usage: bench_sctp_datapath [MiB per case] (default 256). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sctp/reasm.h"
#include "sctp/retx.h"
#include "sctp/rx.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int feed_receiver(sluice_sctp_rx *rx, sluice_sctp_reasm *q, sluice_time now, const uint8_t *p, size_t len) {
    sluice_rd rd = sluice_rd_make(p, len);
    while (sluice_rd_left(&rd) >= 4) {
        uint8_t type = sluice_rd_u8(&rd), flags = sluice_rd_u8(&rd);
        uint16_t clen = sluice_rd_u16(&rd);
        const uint8_t *v = sluice_rd_bytes(&rd, clen - 4u);
        sluice_rd_skip(&rd, (4 - clen % 4) % 4);
        sluice_sctp_data d;
        int rc = type == SLUICE_SCTP_CHUNK_DATA ? sluice_sctp_data_parse(flags, v, clen - 4u, &d)
                                                : sluice_sctp_idata_parse(flags, v, clen - 4u, &d);
        if (rc < 0) return -1;
        int c = sluice_sctp_rx_check(rx, d.tsn);
        if (c == SLUICE_SCTP_RX_NEW || c == SLUICE_SCTP_RX_NEW_NEXT) {
            if (sluice_sctp_reasm_add(q, &d, c == SLUICE_SCTP_RX_NEW_NEXT) < 0) return -1;
            sluice_sctp_rx_on_data(rx, now, d.tsn, false);
        }
    }
    sluice_sctp_rx_on_packet_end(rx, now);
    return 0;
}

static void run_case(size_t msg_size, bool idata, size_t total_mib) {
    sluice_sctp_tx *tx;
    sluice_sctp_retx *retx;
    sluice_sctp_rx *rx;
    sluice_sctp_reasm *q;
    sluice_sctp_tx_settings ts;
    sluice_sctp_tx_settings_default(&ts);
    ts.idata = idata;
    sluice_sctp_retx_settings rs;
    sluice_sctp_retx_settings_default(&rs);
    rs.idata = idata;
    sluice_sctp_reasm_settings qs;
    sluice_sctp_reasm_settings_default(&qs);
    qs.idata = idata;
    if (sluice_sctp_tx_new(&tx, &ts, NULL) || sluice_sctp_retx_new(&retx, &rs, NULL, tx, 1, 4u << 20) ||
        sluice_sctp_rx_new(&rx, NULL, NULL, 1) || sluice_sctp_reasm_new(&q, &qs, NULL)) {
        fprintf(stderr, "setup failed\n");
        exit(1);
    }
    uint8_t *msg = calloc(1, msg_size);
    size_t total = total_mib << 20, pushed = 0, received = 0, msgs = 0;
    uint8_t pkt[1200], sack[1200];
    sluice_time now = 1000000;
    double t0 = now_s();
    while (received < total) {
        while (pushed < total && sluice_sctp_tx_total_buffered(tx) < (1u << 20)) {
            if (sluice_sctp_tx_push(tx, now, (uint16_t)(msgs % 4), 53, msg, msg_size, NULL) < 0) break;
            pushed += msg_size;
            msgs++;
        }
        bool moved = false;
        for (;;) {
            sluice_wr w = sluice_wr_make(pkt, 1179);
            if (sluice_sctp_retx_write_data(retx, now, &w) <= 0) break;
            moved = true;
            if (feed_receiver(rx, q, now, pkt, sluice_wr_len(&w)) < 0) {
                fprintf(stderr, "receiver failed\n");
                exit(1);
            }
            sluice_sctp_message m;
            while (sluice_sctp_reasm_poll(q, &m) == 1) {
                received += m.len;
                sluice_mem_free(NULL, m.data);
            }
            if (sluice_sctp_rx_sack_due(rx)) {
                sluice_wr s = sluice_wr_make(sack, sizeof sack);
                size_t held = sluice_sctp_reasm_buffered(q);
                sluice_sctp_rx_write_sack(rx, now, &s, (uint32_t)((4u << 20) - held));
                sluice_sctp_sack sk;
                sluice_sctp_sack_parse(sack[1], sack + 4, sluice_wr_len(&s) - 4, &sk);
                sluice_sctp_retx_handle_sack(retx, now, &sk);
            }
        }
        now += 100; /* 0.1 ms per round */
        if (!moved) {
            sluice_sctp_rx_handle_timeout(rx, now + 1000000);
            if (sluice_sctp_rx_sack_due(rx)) {
                sluice_wr s = sluice_wr_make(sack, sizeof sack);
                sluice_sctp_rx_write_sack(rx, now, &s, 4u << 20);
                sluice_sctp_sack sk;
                sluice_sctp_sack_parse(sack[1], sack + 4, sluice_wr_len(&s) - 4, &sk);
                sluice_sctp_retx_handle_sack(retx, now, &sk);
            }
        }
    }
    double dt = now_s() - t0;
    printf("datapath %-6s msg %7zu B: %8.1f MB/s  %9.0f msgs/s\n", idata ? "I-DATA" : "DATA", msg_size,
           (double)received / dt / 1e6, (double)msgs / dt);
    free(msg);
    sluice_sctp_reasm_free(q);
    sluice_sctp_rx_free(rx);
    sluice_sctp_retx_free(retx);
    sluice_sctp_tx_free(tx);
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 256;
    size_t sizes[] = {100, 1000, 16384, 262144};
    const char *only = getenv("ONLY");
    for (int id = 0; id < 2; id++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            if (!only || (atoi(only) == (int)sizes[i] && (getenv("IDATA") != NULL) == (id == 1))) run_case(sizes[i], id == 1, sizes[i] == 100 ? mib / 8 : mib);
    return 0;
}
