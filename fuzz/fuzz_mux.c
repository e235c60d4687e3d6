/* Stateful fuzzing of a sans-IO mux with three peers. The input is a program: raw datagrams
 * from a few remote addresses, Binding requests naming a peer's real ufrag (so routing by
 * USERNAME is reached), datagrams "sent" by a peer (teaching the address and transaction
 * tables), responses echoing a remembered transaction id, transmit drains, time jumps, and
 * peers freed and re-created (slot reuse). Sanitizers catch memory errors; nothing may
 * crash or loop, and the tables stay within their bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ice.h"
#include "mux.h"
#include "peer.h"
#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NPEERS 3

typedef struct prog {
    const uint8_t *p, *end;
} prog;

static uint8_t u8(prog *g) { return g->p < g->end ? *g->p++ : 0; }
static uint16_t u16(prog *g) { return (uint16_t)(u8(g) << 8 | u8(g)); }

static sluice_addr remote_addr(uint8_t i) {
    sluice_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    a.ip[0] = 10; a.ip[1] = 0; a.ip[2] = 1; a.ip[3] = (uint8_t)(2 + (i & 7));
    a.port = (uint16_t)(6000 + (i >> 3 & 3));
    return a;
}

static sluice_peer *make_peer(sluice_mux *m, sluice_prng *prng) {
    sluice_config cfg;
    sluice_config_default(&cfg);
    cfg.random_fn = sluice_prng_random_fn;
    cfg.random_user = prng;
    sluice_peer *pc = NULL;
    if (sluice_peer_new_on_mux(m, &pc, &cfg, NULL, NULL) != SLUICE_OK) return NULL;
    sluice_channel *ch;
    sluice_peer_create_channel(pc, "f", NULL, &ch);
    sluice_peer_create_offer(pc);
    return pc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    prog g = {data, data + size};
    sluice_mux_config mc;
    sluice_mux_config_default(&mc);
    mc.sans_io = true;
    mc.bind_address = "10.0.0.1";
    mc.port = 5000;
    mc.max_peers = NPEERS;
    mc.max_addresses = 2;
    mc.max_transactions = 2;
    sluice_mux *m = NULL;
    if (sluice_mux_new(&mc, &m) != SLUICE_OK) return 0;
    sluice_prng prng;
    sluice_prng_seed(&prng, 7);
    sluice_peer *pcs[NPEERS];
    for (int i = 0; i < NPEERS; i++) pcs[i] = make_peer(m, &prng);
    sluice_time now = 1000000;
    uint8_t tid[SLUICE_STUN_TID_LEN] = {0};
    uint8_t buf[2048];
    for (int steps = 0; steps < 256 && g.p < g.end; steps++) {
        uint8_t op = u8(&g) % 7, who = u8(&g);
        sluice_peer *pc = pcs[who % NPEERS];
        sluice_addr r = remote_addr(u8(&g));
        switch (op) {
        case 0: { /* raw datagram */
            size_t n = u16(&g) % 600;
            if (n > (size_t)(g.end - g.p)) n = (size_t)(g.end - g.p);
            sluice_mux_handle_datagram(m, now, &r, g.p, n);
            g.p += n;
            break;
        }
        case 1: { /* Binding request naming a peer's ufrag, with fuzzed attributes after it */
            if (!pc || !pc->ice) break;
            char user[300];
            snprintf(user, sizeof user, "%s:%c", sluice_ice_local_ufrag(pc->ice), 'a' + (u8(&g) % 26));
            uint8_t t[SLUICE_STUN_TID_LEN];
            for (int i = 0; i < SLUICE_STUN_TID_LEN; i++) t[i] = u8(&g);
            sluice_wr w = sluice_wr_make(buf, sizeof buf);
            sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, SLUICE_STUN_REQUEST, t);
            sluice_stun_add(&w, SLUICE_STUN_ATTR_USERNAME, user, strlen(user));
            size_t extra = u8(&g) % 64;
            uint16_t type = (uint16_t)(0x8000 | u8(&g));
            if (extra > (size_t)(g.end - g.p)) extra = (size_t)(g.end - g.p);
            sluice_stun_add(&w, type, g.p, extra);
            g.p += extra;
            if (!w.err) sluice_mux_handle_datagram(m, now, &r, buf, sluice_wr_len(&w));
            break;
        }
        case 2: { /* a peer "sends" fuzzed bytes: learning only */
            size_t n = u8(&g);
            if (n > (size_t)(g.end - g.p)) n = (size_t)(g.end - g.p);
            if (pc) sluice_mux_note_sent(m, pc, &r, g.p, n);
            if (n >= 20) memcpy(tid, g.p + 8, SLUICE_STUN_TID_LEN);
            g.p += n;
            break;
        }
        case 3: { /* a response to the last remembered transaction */
            sluice_wr w = sluice_wr_make(buf, sizeof buf);
            sluice_stun_build_begin(&w, SLUICE_STUN_BINDING, (uint8_t)(2 + (u8(&g) & 1)), tid);
            sluice_mux_handle_datagram(m, now, &r, buf, sluice_wr_len(&w));
            break;
        }
        case 4: { /* drain what the peers send */
            sluice_transmit tx;
            for (int i = 0; i < 64 && sluice_mux_poll_transmit(m, now, buf, sizeof buf, &tx) == 1; i++) continue;
            break;
        }
        case 5: /* time passes */
            now += (sluice_time)u16(&g) * 1000;
            if (sluice_mux_next_deadline(m) <= now) sluice_mux_handle_timeout(m, now);
            break;
        default: /* a peer goes, another comes in its slot */
            sluice_peer_free(pcs[who % NPEERS]);
            pcs[who % NPEERS] = make_peer(m, &prng);
            break;
        }
    }
    sluice_mux_stats st;
    sluice_mux_get_stats(m, &st);
    if (st.addresses > 16 || st.peers > NPEERS) abort();
    for (int i = 0; i < NPEERS; i++) sluice_peer_free(pcs[i]);
    if (sluice_mux_free(m) != SLUICE_OK) abort();
    return 0;
}
