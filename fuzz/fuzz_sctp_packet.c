/* Feeds fuzzed SCTP packets into a live, established association (our own two endpoints
 * joined in memory), and runs the control-chunk codecs over the raw input.
 *
 * Input: records of [flags:1][len:2 big-endian][packet bytes]. flags bit 0: overwrite the
 * verification tag with the victim's (so the packet passes the tag check), bit 1: write a
 * valid CRC32c, bits 2-7: advance virtual time by that many 50 ms steps first. Between
 * records both endpoints exchange whatever they want to send. The first byte also picks
 * I-DATA (bit 7) and whether the handshake is done before the records (bit 6 clear). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sctp/assoc.h"
#include "sctp/packet.h"
#include "sctp/sctp.h"

typedef struct pair {
    sluice_sctp *a, *b;
    sluice_prng pa, pb;
    sluice_rng ra, rb;
    sluice_time now;
} pair;

static void drain_events(sluice_sctp *s) {
    sluice_sctp_event ev;
    int guard = 0;
    while (sluice_sctp_poll_event(s, &ev) == 1 && guard++ < 100000) {
        if (ev.type == SLUICE_SCTP_EVENT_MESSAGE) sluice_mem_free(NULL, ev.message.data);
        if (ev.type == SLUICE_SCTP_EVENT_STREAM_RESET) {
            uint16_t st = ev.stream;
            (void)sluice_sctp_reset_streams(s, 0, &st, 1);
        }
    }
}

/* Move packets both ways a bounded number of times. */
static void pump(pair *p, int rounds) {
    uint8_t buf[2048];
    for (int i = 0; i < rounds; i++) {
        int moved = 0, n;
        for (int k = 0; k < 16 && (n = sluice_sctp_poll_packet(p->a, p->now, buf, sizeof buf)) > 0; k++, moved++)
            sluice_sctp_handle_packet(p->b, p->now, buf, (size_t)n);
        for (int k = 0; k < 16 && (n = sluice_sctp_poll_packet(p->b, p->now, buf, sizeof buf)) > 0; k++, moved++)
            sluice_sctp_handle_packet(p->a, p->now, buf, (size_t)n);
        drain_events(p->a);
        drain_events(p->b);
        if (!moved) break;
    }
}

static void advance(pair *p, sluice_time dt) {
    p->now += dt;
    if (sluice_sctp_next_deadline(p->a) <= p->now) sluice_sctp_handle_timeout(p->a, p->now);
    if (sluice_sctp_next_deadline(p->b) <= p->now) sluice_sctp_handle_timeout(p->b, p->now);
}

static void codecs(const uint8_t *d, size_t n) {
    sluice_sctp_init in;
    (void)sluice_sctp_init_parse(&in, d, n);
    sluice_sctp_cause_iter ci;
    sluice_sctp_cause c;
    sluice_sctp_cause_iter_init(&ci, d, n);
    while (sluice_sctp_cause_next(&ci, &c) == 1) {}
    char txt[128];
    sluice_sctp_cause_describe(d, n, txt, sizeof txt);
    sluice_sctp_reconfig_iter ri;
    sluice_sctp_reconfig_param rp;
    sluice_sctp_reconfig_iter_init(&ri, d, n);
    while (sluice_sctp_reconfig_next(&ri, &rp) == 1) {}
    if (n >= 12) {
        sluice_sctp_chunk_iter it;
        sluice_sctp_chunk ch;
        sluice_sctp_chunk_iter_init(&it, d, n);
        while (sluice_sctp_chunk_next(&it, &ch) == 1) {}
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    codecs(data, size);
    pair p;
    memset(&p, 0, sizeof p);
    p.now = 1000000;
    sluice_prng_seed(&p.pa, 1);
    sluice_prng_seed(&p.pb, 2);
    p.ra.fn = p.rb.fn = sluice_prng_random_fn;
    p.ra.user = &p.pa;
    p.rb.user = &p.pb;
    sluice_sctp_settings s;
    sluice_sctp_settings_default(&s);
    s.max_message_size = 100000;
    s.rwnd = 200000;
    s.heartbeat_interval_ms = 1000;
    s.enable_idata = size > 0 && (data[0] & 0x80);
    if (sluice_sctp_new(&p.a, &s, NULL, &p.ra, NULL) < 0) return 0;
    if (sluice_sctp_new(&p.b, &s, NULL, &p.rb, NULL) < 0) {
        sluice_sctp_free(p.a);
        return 0;
    }
    sluice_sctp_connect(p.a, p.now);
    /* first byte bit 6: leave the handshake to the fuzzer (B is fresh, A waits for it) */
    bool pre = size > 0 && (data[0] & 0x40);
    if (!pre) pump(&p, 20);
    /* something in flight both ways, and a stream being reset */
    static const uint8_t msg[3000] = {1, 2, 3};
    sluice_sctp_send_options pr = {true, true, 1, false, 0};
    sluice_sctp_send(p.a, p.now, 1, 53, msg, sizeof msg, NULL);
    sluice_sctp_send(p.b, p.now, 2, 51, msg, 100, &pr);
    uint16_t st = 3;
    sluice_sctp_send(p.b, p.now, 3, 51, msg, 10, NULL);
    sluice_sctp_reset_streams(p.b, p.now, &st, 1);
    size_t off = 0;
    uint8_t pkt[65536 + 16];
    while (off + 3 <= size) {
        uint8_t fl = data[off];
        size_t len = ((size_t)data[off + 1] << 8) | data[off + 2];
        off += 3;
        if (len > size - off) len = size - off;
        memcpy(pkt, data + off, len);
        off += len;
        if (fl >> 2) advance(&p, (sluice_time)(fl >> 2) * 50000);
        if ((fl & 1) && len >= 8) sluice_store_be32(pkt + 4, p.b->my_tag);
        if ((fl & 2) && len >= 12) sluice_sctp_packet_seal(pkt, len, false);
        sluice_sctp_handle_packet(p.b, p.now, pkt, len);
        pump(&p, 4);
    }
    for (int i = 0; i < 10; i++) {
        advance(&p, 300000);
        pump(&p, 4);
    }
    sluice_sctp_shutdown(p.a, p.now);
    pump(&p, 10);
    sluice_sctp_stats stats;
    sluice_sctp_get_stats(p.b, &stats);
    sluice_sctp_free(p.a);
    sluice_sctp_free(p.b);
    return 0;
}
