/* Delivery latency of sparse reliable messages ("game traffic": Godot's reliable channel
 * sends a few small ordered messages now and then) between two of our SCTP associations
 * over the simulated network with random loss. When such a message is lost, no later
 * packet may come soon enough to produce the three miss indications of fast retransmit,
 * so recovery waits for T3-rtx (RTO >= rto_min, 200 ms) unless the sender probes the tail
 * (RFC 8985 §7). Virtual time, seeded: the numbers are deterministic. Prints one row per
 * scenario: latency percentiles from send() to the receiver's MESSAGE event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sctp/sctp.h"
#include "simnet.h"

#define MS 1000ull
#define SEEDS 3

typedef struct tnode {
    sluice_sctp *a;
    sluice_prng prng;
    sluice_rng rng;
    sluice_addr addr, peer;
    bool connected, closed;
    struct tworld *w;
} tnode;

typedef struct tworld {
    sluice_simnet *sn;
    tnode n[2];
    sluice_time *sent_at;  /* per message index */
    uint64_t *lat;         /* delivery latency per message, us */
    size_t nmsgs, received;
    bool bad;
} tworld;

static void t_events(tnode *nd) {
    sluice_sctp_event ev;
    tworld *w = nd->w;
    while (sluice_sctp_poll_event(nd->a, &ev) == 1) {
        if (ev.type == SLUICE_SCTP_EVENT_CONNECTED) nd->connected = true;
        if (ev.type == SLUICE_SCTP_EVENT_CLOSED) nd->closed = true;
        if (ev.type == SLUICE_SCTP_EVENT_MESSAGE) {
            uint32_t idx = ev.message.len >= 4 ? sluice_load_be32(ev.message.data) : UINT32_MAX;
            if (idx != w->received || idx >= w->nmsgs) w->bad = true; /* ordered channel */
            else w->lat[idx] = sluice_simnet_now(w->sn) - w->sent_at[idx];
            w->received++;
            sluice_mem_free(NULL, ev.message.data);
        }
    }
}

static void t_deliver(void *obj, sluice_time now, const sluice_addr *from, const sluice_addr *to,
                      const uint8_t *data, size_t len) {
    (void)from;
    (void)to;
    tnode *nd = obj;
    sluice_sctp_handle_packet(nd->a, now, data, len);
    t_events(nd);
}

static size_t t_poll(void *obj, sluice_time now, sluice_addr *from, sluice_addr *to, uint8_t *buf, size_t cap) {
    tnode *nd = obj;
    int n = sluice_sctp_poll_packet(nd->a, now, buf, cap);
    if (n <= 0) return 0;
    *from = nd->addr;
    *to = nd->peer;
    return (size_t)n;
}

static sluice_time t_deadline(void *obj) { return sluice_sctp_next_deadline(((tnode *)obj)->a); }
static void t_timeout(void *obj, sluice_time now) {
    tnode *nd = obj;
    sluice_sctp_handle_timeout(nd->a, now);
    t_events(nd);
}

static const sluice_sim_node_ops t_ops = {t_deliver, t_poll, t_deadline, t_timeout};

static bool t_connected(void *u) {
    tworld *w = u;
    return w->n[0].connected && w->n[1].connected;
}
static bool t_all(void *u) {
    tworld *w = u;
    return w->received >= w->nmsgs || w->bad;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

typedef struct result {
    uint64_t t3, probes, fast, rtx, sent_pkts;
    bool ok;
} result;

/* One run: `nmsgs` messages of 100 bytes, one every `interval_ms`, over a path with
 * `rtt_ms` round trip and `loss` in both directions. Latencies appended to `lat`. */
static result run(uint64_t seed, uint32_t rtt_ms, double loss, uint32_t interval_ms, size_t nmsgs, uint64_t *lat) {
    result res;
    memset(&res, 0, sizeof res);
    tworld w;
    memset(&w, 0, sizeof w);
    w.sn = sluice_simnet_new(seed, 1000000);
    w.sent_at = calloc(nmsgs, sizeof *w.sent_at);
    w.lat = lat;
    w.nmsgs = nmsgs;
    for (int i = 0; i < 2; i++) {
        tnode *nd = &w.n[i];
        nd->w = &w;
        sluice_prng_seed(&nd->prng, seed * 10 + (uint64_t)i);
        nd->rng.fn = sluice_prng_random_fn;
        nd->rng.user = &nd->prng;
        nd->addr = sluice_sim_addr4(10, 0, 0, (uint8_t)(i + 1), 5000);
        nd->peer = sluice_sim_addr4(10, 0, 0, (uint8_t)(2 - i), 5000);
        if (sluice_sctp_new(&nd->a, NULL, NULL, &nd->rng, NULL) != SLUICE_OK) exit(1);
        int id = sluice_simnet_add_node(w.sn, &t_ops, nd);
        if (id < 0 || sluice_simnet_bind(w.sn, id, &nd->addr) != SLUICE_OK) exit(1);
    }
    /* the handshake over a clean path, then the lossy one */
    sluice_sim_path p = {.delay_us = rtt_ms * 500u, .jitter_us = 1000};
    sluice_simnet_set_path(w.sn, &w.n[0].addr, &w.n[1].addr, &p);
    sluice_simnet_set_path(w.sn, &w.n[1].addr, &w.n[0].addr, &p);
    sluice_sctp_connect(w.n[0].a, sluice_simnet_now(w.sn));
    if (!sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 10000 * MS, t_connected, &w)) exit(1);
    p.loss = loss;
    sluice_simnet_set_path(w.sn, &w.n[0].addr, &w.n[1].addr, &p);
    sluice_simnet_set_path(w.sn, &w.n[1].addr, &w.n[0].addr, &p);
    uint8_t msg[100];
    sluice_time t0 = sluice_simnet_now(w.sn);
    for (size_t i = 0; i < nmsgs && !w.bad; i++) {
        sluice_time at = t0 + (sluice_time)i * interval_ms * MS;
        sluice_simnet_run(w.sn, at, NULL, NULL);
        memset(msg, (int)i, sizeof msg);
        sluice_store_be32(msg, (uint32_t)i);
        w.sent_at[i] = sluice_simnet_now(w.sn);
        /* the simulator polls the sender for its packet at once (its next step) */
        if (sluice_sctp_send(w.n[0].a, w.sent_at[i], 0, 53, msg, sizeof msg, NULL) != SLUICE_OK) w.bad = true;
    }
    res.ok = !w.bad && sluice_simnet_run(w.sn, sluice_simnet_now(w.sn) + 120000 * MS, t_all, &w) && !w.bad;
    sluice_sctp_stats st;
    sluice_sctp_get_stats(w.n[0].a, &st);
    res.t3 = st.t3_expirations;
    res.probes = st.tail_probes;
    res.fast = st.fast_retransmits;
    res.rtx = st.retransmissions;
    res.sent_pkts = st.packets_sent;
    for (int i = 0; i < 2; i++) sluice_sctp_free(w.n[i].a);
    sluice_simnet_free(w.sn);
    free(w.sent_at);
    return res;
}

int main(void) {
    static const uint32_t rtts[] = {20, 50, 100};
    static const double losses[] = {0.02, 0.05};
    static const uint32_t intervals[] = {50, 200};
    printf("SCTP sparse reliable messages: 100 B, ordered, loss both ways, %d seeds x 100 s virtual time\n", SEEDS);
    printf("%-8s %-6s %-9s %8s %8s %8s %8s %8s | %6s %6s %6s %6s %7s\n", "rtt_ms", "loss", "every_ms", "p50_ms",
           "p90_ms", "p99_ms", "p999_ms", "max_ms", "t3", "probes", "fast", "rtx", "pkts");
    for (size_t a = 0; a < sizeof rtts / sizeof rtts[0]; a++)
        for (size_t b = 0; b < sizeof losses / sizeof losses[0]; b++)
            for (size_t c = 0; c < sizeof intervals / sizeof intervals[0]; c++) {
                size_t per = 100000 / intervals[c];
                uint64_t *lat = calloc(per * SEEDS, sizeof *lat);
                result tot;
                memset(&tot, 0, sizeof tot);
                bool ok = true;
                for (int s = 0; s < SEEDS; s++) {
                    result r = run(1000 + (uint64_t)s, rtts[a], losses[b], intervals[c], per, lat + per * (size_t)s);
                    ok = ok && r.ok;
                    tot.t3 += r.t3;
                    tot.probes += r.probes;
                    tot.fast += r.fast;
                    tot.rtx += r.rtx;
                    tot.sent_pkts += r.sent_pkts;
                }
                size_t n = per * SEEDS;
                qsort(lat, n, sizeof *lat, cmp_u64);
#define PCT(q) ((double)lat[(size_t)((double)(n - 1) * (q))] / 1000.0)
                printf("%-8u %-6.2f %-9u %8.1f %8.1f %8.1f %8.1f %8.1f | %6llu %6llu %6llu %6llu %7llu%s\n", rtts[a],
                       losses[b], intervals[c], PCT(0.5), PCT(0.9), PCT(0.99), PCT(0.999), PCT(1.0),
                       (unsigned long long)tot.t3, (unsigned long long)tot.probes, (unsigned long long)tot.fast,
                       (unsigned long long)tot.rtx, (unsigned long long)tot.sent_pkts, ok ? "" : "  FAILED");
                free(lat);
            }
    return 0;
}
